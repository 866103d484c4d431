//! One member's queue on the server: what the room has for it and its
//! connection has not yet had acknowledged.
//!
//! The hub puts relayed messages and control frames in; the member's own
//! connection task takes them out as its socket drains, seals them in its
//! session and writes them. The hub never waits on a member: it only
//! locks this queue for a moment. It relays a message only when the
//! queue has room for it ([`super::limits::MEMBER_QUEUE_BYTES`]), and
//! checks the bound on other frames ([`super::limits::CONTROL_MAX`])
//! after each push. The queue outlives a connection while the
//! member's place is held, so a reconnect catches up from it: messages
//! are sent again, delivery marks not yet sent are kept (at most
//! [`super::limits::HELD_MARKS`] while it is away), other frames are
//! dropped (the roster replaces them).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::limits::HELD_MARKS;
use crate::outbox::Pending;
use crate::payload::{RosterEntry, weight};

/// A frame other than a message, for one connection (only delivery
/// marks are worth keeping for the next one: the roster replaces the
/// rest).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Control {
    /// The server holds these messages of the member's (`to`: how many
    /// members they go to; protocol 3 only).
    Acks {
        ids: Vec<String>,
        to: Option<u32>,
    },
    /// Someone started or stopped typing (`from`: protocol 3 only).
    Typing {
        active: bool,
        from: Option<String>,
    },
    Joined(RosterEntry),
    Left {
        member: String,
        why: &'static str,
    },
    /// Each member in `by` received each of these messages of the
    /// member's.
    Delivered {
        ids: Vec<String>,
        by: Vec<String>,
    },
}

impl Control {
    /// What it counts for against [`super::limits::CONTROL_MAX`]: one,
    /// and one per id and name it carries, so that frames of many ids
    /// cannot pass the bound in memory while few in number.
    fn weight(&self) -> usize {
        1 + match self {
            Control::Acks { ids, .. } => ids.len(),
            Control::Delivered { ids, by } => ids.len() + by.len(),
            Control::Typing { .. } | Control::Joined(_) | Control::Left { .. } => 0,
        }
    }
}

/// One connection serving a member: the hub wakes it when there is
/// something to send, and tells it when to say `bye`.
#[derive(Debug)]
pub(crate) struct Conn {
    pub id: u64,
    wake: Notify,
    bye: Mutex<Option<&'static str>>,
}

impl Conn {
    pub fn new(id: u64) -> Arc<Conn> {
        Arc::new(Conn {
            id,
            wake: Notify::new(),
            bye: Mutex::new(None),
        })
    }

    /// Something was queued for it (a wake while it is busy is kept).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves at the next [`Conn::wake`] (or at once if one came since
    /// the last).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// The connection is to say `bye` with `reason` and close.
    pub fn end(&self, reason: &'static str) {
        let mut bye = self.bye.lock().unwrap_or_else(|e| e.into_inner());
        bye.get_or_insert(reason);
        drop(bye);
        self.wake();
    }

    /// Why it is to close, if it is.
    pub fn ending(&self) -> Option<&'static str> {
        *self.bye.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A member's queue; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Mailbox(Mutex<Inbox>);

#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// Relayed messages not yet acknowledged, by the order they were
    /// queued in (shared with every other member they went to)...
    messages: BTreeMap<u64, Arc<Pending>>,
    /// ...and where each is, by id: an ack (of any id, in any order) finds
    /// its message without a search.
    ids: HashMap<String, u64>,
    /// The number of the next message queued.
    next: u64,
    /// The current connection has sent the messages numbered below this.
    unsent: u64,
    /// What `messages` weigh ([`weight`]: text and overhead).
    pub bytes: usize,
    /// Frames for the current connection but typing states...
    frames: Vec<Control>,
    /// What `frames` weigh ([`Control::weight`]).
    frames_weight: usize,
    /// ...which are kept apart, the latest of each member's (its id;
    /// `None` for the server's user), sent after them: at most one per
    /// member whatever others send.
    typing: Vec<(Option<String>, bool)>,
    /// The connection serving the member now, if any.
    pub conn: Option<Arc<Conn>>,
}

impl Inbox {
    /// Whether connection `id` is the one serving the member.
    pub fn serves(&self, id: u64) -> bool {
        self.conn.as_ref().is_some_and(|c| c.id == id)
    }

    /// Between connections: of the frames not yet sent, the delivery
    /// marks are kept for the next (the oldest, up to [`HELD_MARKS`]).
    fn keep_marks(&mut self) {
        self.frames
            .retain(|frame| matches!(frame, Control::Delivered { .. }));
        let mut weight = 0;
        let keep = self
            .frames
            .iter()
            .take_while(|frame| {
                weight += frame.weight();
                weight <= HELD_MARKS
            })
            .count();
        self.frames.truncate(keep);
        self.frames_weight = self.frames.iter().map(Control::weight).sum();
        self.typing.clear();
    }

    /// The current connection's next batch of messages, oldest first: at
    /// most `most`, and past the first no more than `text_max` bytes of
    /// text; they count as sent.
    pub fn take_unsent(&mut self, most: usize, text_max: usize) -> Vec<Arc<Pending>> {
        let mut batch: Vec<Arc<Pending>> = Vec::new();
        let mut text = 0;
        for (&seq, m) in self.messages.range(self.unsent..).take(most) {
            text += m.text.len();
            if !batch.is_empty() && text > text_max {
                break;
            }
            batch.push(m.clone());
            self.unsent = seq + 1;
        }
        batch
    }

    /// Messages are waiting to be sent on the current connection.
    pub fn has_unsent(&self) -> bool {
        self.messages.range(self.unsent..).next().is_some()
    }

    /// Frames are waiting to be sent.
    pub fn has_frames(&self) -> bool {
        !self.frames.is_empty() || !self.typing.is_empty()
    }

    /// The frames to send now, typing states last.
    pub fn take_frames(&mut self) -> Vec<Control> {
        let mut frames = std::mem::take(&mut self.frames);
        self.frames_weight = 0;
        frames.extend(
            self.typing
                .drain(..)
                .map(|(from, active)| Control::Typing { active, from }),
        );
        frames
    }

    /// Frames waiting, as counted against [`super::limits::CONTROL_MAX`].
    fn queued(&self) -> usize {
        self.frames_weight + self.typing.len()
    }

    fn push_frame(&mut self, frame: Control) {
        self.frames_weight += frame.weight();
        self.frames.push(frame);
    }
}

impl Mailbox {
    pub fn lock(&self) -> MutexGuard<'_, Inbox> {
        // The lock is never held across a panic that could poison it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a relayed message (unless it is queued already); what the
    /// queue weighs now.
    pub fn push(&self, message: Arc<Pending>) -> usize {
        let mut inbox = self.lock();
        if inbox.ids.contains_key(&message.id) {
            return inbox.bytes;
        }
        let seq = inbox.next;
        inbox.next += 1;
        inbox.bytes += weight(message.text.len());
        inbox.ids.insert(message.id.clone(), seq);
        inbox.messages.insert(seq, message);
        if let Some(conn) = &inbox.conn {
            conn.wake();
        }
        inbox.bytes
    }

    /// Queues a delivery mark for the current connection, or, while the
    /// member is away, for the next one (newer ones are dropped past
    /// [`HELD_MARKS`]); the frames queued now.
    pub fn mark(&self, frame: Control) -> usize {
        let mut inbox = self.lock();
        match inbox.conn.clone() {
            Some(conn) => {
                inbox.push_frame(frame);
                conn.wake();
            }
            None if inbox.frames_weight + frame.weight() <= HELD_MARKS => inbox.push_frame(frame),
            None => {}
        }
        inbox.queued()
    }

    /// Queues a frame for the current connection (dropped if there is
    /// none); the frames queued now. What others do cannot fill a
    /// member's queue (and get it disconnected as slow) while its socket
    /// does not keep up: a typing state replaces the same member's not
    /// yet sent (only the latest matters), and a member that leaves
    /// before its `joined` was sent is not announced at all.
    pub fn control(&self, frame: Control) -> usize {
        let mut inbox = self.lock();
        let Some(conn) = inbox.conn.clone() else {
            return 0;
        };
        match frame {
            Control::Typing { active, from } => {
                match inbox.typing.iter_mut().find(|(other, _)| *other == from) {
                    Some((_, state)) => *state = active,
                    None => inbox.typing.push((from, active)),
                }
            }
            Control::Left { ref member, .. } => {
                // Its typing state, sent after the other frames, would
                // come after it left.
                inbox
                    .typing
                    .retain(|(from, _)| from.as_ref() != Some(member));
                let unseen = inbox
                    .frames
                    .iter()
                    .position(|f| matches!(f, Control::Joined(e) if e.member == *member));
                match unseen {
                    Some(at) => {
                        let joined = inbox.frames.remove(at);
                        inbox.frames_weight -= joined.weight();
                    }
                    None => inbox.push_frame(frame),
                }
            }
            frame => inbox.push_frame(frame),
        }
        conn.wake();
        inbox.queued()
    }

    /// `conn` serves the member from now on: everything unacknowledged
    /// goes out again. The connection it replaces, if any.
    pub fn attach(&self, conn: Arc<Conn>) -> Option<Arc<Conn>> {
        let mut inbox = self.lock();
        inbox.unsent = 0;
        inbox.keep_marks();
        inbox.conn.replace(conn)
    }

    /// Connection `id` no longer serves the member (if it still did).
    pub fn detach(&self, id: u64) -> Option<Arc<Conn>> {
        let mut inbox = self.lock();
        if inbox.serves(id) {
            inbox.keep_marks();
            inbox.conn.take()
        } else {
            None
        }
    }

    /// The member acknowledged `ids` on connection `conn`: they leave the
    /// queue. The messages that were there (a re-sent copy is
    /// acknowledged twice), for their senders' delivery marks.
    pub fn acked(&self, conn: u64, ids: &[String]) -> Vec<Arc<Pending>> {
        let mut inbox = self.lock();
        if !inbox.serves(conn) {
            return Vec::new();
        }
        let mut done = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(seq) = inbox.ids.remove(id) else {
                continue;
            };
            if let Some(message) = inbox.messages.remove(&seq) {
                inbox.bytes -= weight(message.text.len());
                done.push(message);
            }
        }
        done
    }

    /// What the messages waiting weigh ([`weight`]: text and overhead).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether every message was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.lock().messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{MAX_BATCH, random_id};
    use crate::server::limits::CONTROL_MAX;

    fn message(text: &str) -> Arc<Pending> {
        Arc::new(Pending {
            id: random_id(),
            text: text.into(),
            sent_at: 0,
            from: None,
        })
    }

    #[test]
    fn acks_take_messages_out_and_a_reconnect_sends_the_rest_again() {
        let mailbox = Mailbox::default();
        let (a, b, c) = (message("aa"), message("bbb"), message("c"));
        for m in [&a, &b, &c] {
            mailbox.push(m.clone());
        }
        // Queued once, however often it is relayed.
        mailbox.push(c.clone());
        assert_eq!(mailbox.bytes(), weight(2) + weight(3) + weight(1));
        let first = Conn::new(1);
        assert!(mailbox.attach(first.clone()).is_none());
        let sent = mailbox.lock().take_unsent(2, usize::MAX);
        assert_eq!(sent, [a.clone(), b.clone()]);
        // Acks of any id, in any order; one of an id not queued is ignored.
        let done = mailbox.acked(1, &[b.id.clone(), random_id(), b.id.clone()]);
        assert_eq!(
            done,
            std::slice::from_ref(&b),
            "a second ack of the same id finds nothing"
        );
        assert_eq!(mailbox.bytes(), weight(2) + weight(1));
        assert_eq!(
            mailbox.lock().take_unsent(8, usize::MAX),
            std::slice::from_ref(&c)
        );
        assert!(!mailbox.lock().has_unsent());
        assert!(
            mailbox.acked(2, std::slice::from_ref(&a.id)).is_empty(),
            "another conn"
        );
        let second = Conn::new(2);
        let replaced = mailbox.attach(second).unwrap();
        assert_eq!(replaced.id, 1);
        assert_eq!(
            mailbox.lock().take_unsent(8, usize::MAX),
            [a.clone(), c.clone()],
            "everything goes out again"
        );
        assert!(mailbox.detach(1).is_none(), "no longer the one serving");
        assert_eq!(mailbox.detach(2).unwrap().id, 2);
        assert_eq!(
            mailbox.control(Control::Typing {
                active: true,
                from: None
            }),
            0
        );
    }

    #[test]
    fn a_typing_state_not_yet_sent_gives_way_to_the_newer_one() {
        let mailbox = Mailbox::default();
        mailbox.attach(Conn::new(1));
        let typing = |active: bool, from: Option<&str>| Control::Typing {
            active,
            from: from.map(str::to_owned),
        };
        let left = Control::Left {
            member: "m".into(),
            why: "bye",
        };
        mailbox.control(typing(true, Some("alice")));
        mailbox.control(left.clone());
        for i in 0..2 * CONTROL_MAX {
            mailbox.control(typing(i % 2 == 0, Some("mallory")));
        }
        mailbox.control(typing(true, None));
        mailbox.control(typing(false, Some("alice")));
        assert_eq!(
            mailbox.lock().take_frames(),
            [
                left,
                typing(false, Some("alice")),
                typing(false, Some("mallory")),
                typing(true, None),
            ]
        );
    }

    #[test]
    fn frames_count_the_ids_they_carry_against_the_bound() {
        let mailbox = Mailbox::default();
        mailbox.attach(Conn::new(1));
        let acks = || Control::Acks {
            ids: (0..MAX_BATCH).map(|_| random_id()).collect(),
            to: None,
        };
        // Few frames, but as many ids as the bound allows frames.
        let frames = CONTROL_MAX / MAX_BATCH;
        let mut queued = 0;
        for _ in 0..frames {
            queued = mailbox.control(acks());
        }
        assert_eq!(queued, frames * (MAX_BATCH + 1));
        assert!(queued > CONTROL_MAX);
        // Sent, they count no more.
        assert_eq!(mailbox.lock().take_frames().len(), frames);
        assert_eq!(mailbox.control(acks()), MAX_BATCH + 1);
    }

    #[test]
    fn a_member_that_came_and_went_unseen_is_not_announced() {
        let mailbox = Mailbox::default();
        mailbox.attach(Conn::new(1));
        let joined = |member: &str| {
            Control::Joined(RosterEntry {
                member: member.into(),
                name: "passer".into(),
                addr: None,
                since: 0,
            })
        };
        let left = |member: &str| Control::Left {
            member: member.into(),
            why: "bye",
        };
        let typing = |from: &str| Control::Typing {
            active: true,
            from: Some(from.into()),
        };
        // Typing, then gone: its left is the last word.
        mailbox.control(typing("earlier"));
        mailbox.control(left("earlier"));
        mailbox.control(joined("stays"));
        // Members coming and going as fast as handshakes allow, while
        // this one's socket takes nothing.
        for i in 0..CONTROL_MAX {
            let member = format!("passer{i}");
            mailbox.control(joined(&member));
            mailbox.control(typing(&member));
            mailbox.control(left(&member));
        }
        mailbox.lock().push_frame(Control::Acks {
            ids: Vec::new(),
            to: None,
        });
        mailbox.control(left("stays"));
        assert_eq!(
            mailbox.lock().take_frames(),
            [
                left("earlier"),
                Control::Acks {
                    ids: Vec::new(),
                    to: None
                }
            ]
        );
    }

    #[test]
    fn delivery_marks_wait_for_the_next_connection_and_the_rest_does_not() {
        let mailbox = Mailbox::default();
        let mark = |i: usize| Control::Delivered {
            ids: vec![format!("id{i}")],
            by: vec!["m".into()],
        };
        let typing = Control::Typing {
            active: true,
            from: None,
        };
        mailbox.attach(Conn::new(1));
        mailbox.control(typing.clone());
        mailbox.mark(mark(0));
        mailbox.detach(1);
        assert_eq!(mailbox.lock().frames, [mark(0)], "unsent: kept");
        // Away: marks wait, up to the bound; nothing else does.
        assert_eq!(mailbox.control(typing.clone()), 0);
        // Each mark counts 3: the frame, an id and a name.
        for i in 1..HELD_MARKS / 3 + 10 {
            mailbox.mark(mark(i));
        }
        let held: Vec<Control> = (0..HELD_MARKS / 3).map(mark).collect();
        assert_eq!(mailbox.lock().frames, held, "the oldest, up to the bound");
        // Back: the new connection sends them.
        mailbox.attach(Conn::new(2));
        assert_eq!(mailbox.lock().frames, held);
        mailbox.control(typing.clone());
        mailbox.attach(Conn::new(3));
        assert_eq!(mailbox.lock().frames, held, "replaced: marks still kept");
    }

    #[test]
    fn marks_held_while_away_leave_a_member_coming_back_under_the_bound() {
        let mailbox = Mailbox::default();
        mailbox.attach(Conn::new(1));
        mailbox.detach(1);
        let marks = || Control::Delivered {
            ids: (0..MAX_BATCH).map(|_| random_id()).collect(),
            by: vec!["m".into()],
        };
        for _ in 0..1000 {
            mailbox.mark(marks());
        }
        mailbox.attach(Conn::new(2));
        let queued = mailbox.control(Control::Typing {
            active: true,
            from: None,
        });
        assert!(queued <= HELD_MARKS + 1, "{queued}");
        assert!(queued < CONTROL_MAX);
    }

    #[test]
    fn a_conn_keeps_the_first_reason_to_end() {
        let conn = Conn::new(1);
        assert_eq!(conn.ending(), None);
        conn.end("slow");
        conn.end("closed");
        assert_eq!(conn.ending(), Some("slow"));
    }
}
