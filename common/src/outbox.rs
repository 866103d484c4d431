//! What outlives a connection: messages not yet acknowledged, and the ids of
//! messages already shown. This is what lets a reconnect lose nothing and show
//! nothing twice.

use std::collections::{HashSet, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A message of ours waiting for its `ack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub id: String,
    pub text: String,
    pub sent_at: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pending: VecDeque<Pending>,
    /// Ids in the form fernet-chat makes them (16 random bytes), as numbers:
    /// no allocation per message, which showed up in the throughput profile.
    shown: HashSet<u128>,
    /// Any other id a peer may use.
    shown_other: HashSet<String>,
}

impl Outbox {
    pub fn push(&mut self, message: Pending) {
        self.pending.push_back(message);
    }

    /// Removes an acknowledged message; `false` if it was not pending (an ack
    /// for a re-sent copy that was already acknowledged).
    pub fn ack(&mut self, id: &str) -> bool {
        // Acks arrive in send order, so the match is almost always in front.
        match self.pending.iter().position(|p| p.id == id) {
            Some(i) => self.pending.remove(i).is_some(),
            None => false,
        }
    }

    /// Unacknowledged messages, oldest first.
    pub fn pending(&self) -> impl ExactSizeIterator<Item = &Pending> {
        self.pending.iter()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records a received message id; `false` if it was already shown.
    pub fn first_sight(&mut self, id: &str) -> bool {
        let mut bytes = [0u8; 16];
        match URL_SAFE_NO_PAD.decode_slice(id, &mut bytes) {
            Ok(16) => self.shown.insert(u128::from_le_bytes(bytes)),
            _ => !self.shown_other.contains(id) && self.shown_other.insert(id.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str) -> Pending {
        Pending {
            id: id.into(),
            text: id.into(),
            sent_at: 0,
        }
    }

    #[test]
    fn keeps_order_until_acked() {
        let mut outbox = Outbox::default();
        for id in ["a", "b", "c"] {
            outbox.push(pending(id));
        }
        assert!(outbox.ack("b"));
        assert!(!outbox.ack("b"));
        let ids: Vec<_> = outbox.pending().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
    }

    #[test]
    fn shows_an_id_once() {
        let mut outbox = Outbox::default();
        assert!(outbox.first_sight("x"));
        assert!(!outbox.first_sight("x"));
        assert!(outbox.first_sight("y"));
        let ours = crate::payload::random_id();
        assert!(outbox.first_sight(&ours));
        assert!(!outbox.first_sight(&ours));
        assert!(outbox.first_sight(&crate::payload::random_id()));
        assert_eq!((outbox.shown.len(), outbox.shown_other.len()), (2, 2));
        // Another id, even one character off, is another message.
        let mut twin = ours.clone();
        twin.pop();
        twin.push(if ours.ends_with('A') { 'B' } else { 'A' });
        assert!(outbox.first_sight(&twin));
    }
}
