//! What outlives a connection: messages not yet acknowledged, and the ids of
//! messages already shown. This is what lets a reconnect lose nothing and show
//! nothing twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::payload::parse_id;
use crate::typed::Hold;

/// How many received ids are remembered for de-duplication. A copy comes
/// back only when its ack was lost with a connection, and the sender re-sends
/// its oldest unacknowledged message first, so only the ids of about one
/// connection's worth of messages in flight need remembering; this many
/// (about 3 MB) is far more, and keeps a peer from growing the set forever.
pub const REMEMBERED_IDS: usize = 65_536;

/// A message waiting for its `ack`: ours, or (the server, protocol 3)
/// one relayed from another member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub id: String,
    pub text: String,
    pub sent_at: u64,
    /// Who sent it, when it is relayed; `None` for our own.
    pub from: Option<Arc<Sender>>,
}

impl Pending {
    /// Our own message, as typed.
    pub fn ours(id: String, text: String, sent_at: u64) -> Pending {
        Pending {
            id,
            text,
            sent_at,
            from: None,
        }
    }
}

/// The member a relayed message is from, as the receiver is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sender {
    pub member: String,
    pub name: String,
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Our messages, each with its share of the typed queue...
    pending: VecDeque<(Pending, Hold)>,
    /// ...and their ids: an ack of an id that is not ours is dropped at
    /// once, not after a search of the outbox (a server can send acks of
    /// any ids, 256 to a frame).
    ids: HashSet<String>,
    shown: Seen,
}

/// The ids of messages received, the newest [`REMEMBERED_IDS`]: a
/// receiver's, and the server's for the whole room.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Received ids (16 bytes, as numbers: no allocation per message, which
    /// showed up in the throughput profile)...
    ids: HashSet<u128>,
    /// ...and the order they came in, to forget the oldest.
    order: VecDeque<u128>,
}

impl Outbox {
    pub fn push(&mut self, message: Pending, hold: Hold) {
        self.ids.insert(message.id.clone());
        self.pending.push_back((message, hold));
    }

    /// Removes an acknowledged message and says where it was and how long
    /// its text; `None` if it was not pending (an ack for a re-sent copy
    /// already acknowledged).
    pub fn ack(&mut self, id: &str) -> Option<(usize, usize)> {
        // Acks arrive in send order, so the match is almost always in front.
        if !self.ids.remove(id) {
            return None;
        }
        let at = self.pending.iter().position(|(p, _)| p.id == id)?;
        let (message, _) = self.pending.remove(at)?;
        Some((at, message.text.len()))
    }

    /// The message at `index` (oldest first).
    pub fn get(&self, index: usize) -> Option<&Pending> {
        self.pending.get(index).map(|(message, _)| message)
    }

    /// Unacknowledged messages, oldest first.
    #[cfg(test)]
    pub fn pending(&self) -> impl ExactSizeIterator<Item = &Pending> {
        self.pending.iter().map(|(message, _)| message)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records a received message id (already checked to be one); `false`
    /// if it was already shown.
    pub fn first_sight(&mut self, id: &str) -> bool {
        self.shown.first_sight(id)
    }
}

impl Seen {
    /// Records a received message id (already checked to be one); `false`
    /// if it was already seen.
    pub fn first_sight(&mut self, id: &str) -> bool {
        let Some(id) = parse_id(id) else {
            return false;
        };
        if !self.ids.insert(id) {
            return false;
        }
        if self.order.len() == REMEMBERED_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.order.push_back(id);
        true
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::random_id;
    use crate::typed::TypedQueue;

    fn pending(id: &str) -> Pending {
        Pending {
            id: id.into(),
            text: id.into(),
            sent_at: 0,
            from: None,
        }
    }

    #[test]
    fn keeps_order_until_acked() {
        let mut outbox = Outbox::default();
        for id in ["a", "b", "c"] {
            outbox.push(pending(id), TypedQueue::new().hold(id.len()).unwrap());
        }
        assert_eq!(outbox.ack("b"), Some((1, "b".len())));
        assert_eq!(outbox.ack("b"), None);
        let ids: Vec<_> = outbox.pending().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
    }

    #[test]
    fn shows_an_id_once() {
        let mut outbox = Outbox::default();
        let ours = random_id();
        assert!(outbox.first_sight(&ours));
        assert!(!outbox.first_sight(&ours));
        assert!(outbox.first_sight(&random_id()));
        assert_eq!(outbox.shown.len(), 2);
        // Another id, even one character off, is another message (the last
        // character carries only 4 bits: change one that carries 6).
        let mut twin = ours.clone().into_bytes();
        twin[0] = if twin[0] == b'A' { b'B' } else { b'A' };
        assert!(outbox.first_sight(&String::from_utf8(twin).unwrap()));
    }

    #[test]
    fn remembers_a_bounded_number_of_ids_forgetting_the_oldest() {
        let mut outbox = Outbox::default();
        let first = random_id();
        assert!(outbox.first_sight(&first));
        let second = random_id();
        assert!(outbox.first_sight(&second));
        for _ in 2..REMEMBERED_IDS {
            assert!(outbox.first_sight(&random_id()));
        }
        assert_eq!(outbox.shown.len(), REMEMBERED_IDS);
        assert!(!outbox.first_sight(&first), "still remembered at the limit");
        assert!(outbox.first_sight(&random_id()));
        assert_eq!(outbox.shown.len(), REMEMBERED_IDS);
        assert!(outbox.first_sight(&first), "the oldest was forgotten");
        assert!(outbox.first_sight(&second), "then the next oldest");
        assert_eq!(outbox.shown.len(), REMEMBERED_IDS);
    }
}
