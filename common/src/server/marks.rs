//! Delivery marks on their way to the senders, gathered while the hub
//! works through what is waiting for it: a message that reached 49
//! members at about the same time costs its sender one `delivered` frame
//! naming the 49, not 49 frames (each sealed by the server and opened by
//! the sender).

use super::mailbox::Control;
use crate::payload::{MAX_BATCH, MAX_ROSTER};

/// Marks gathered for the senders, in the order they came.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    /// Per sender (member id), in the order they came.
    senders: Vec<(String, Received)>,
}

/// Per member that received some of a sender's messages (member id), the
/// ids it received, in order.
type Received = Vec<(String, Vec<String>)>;

impl Marks {
    /// Member `by` received message `id`, which `sender` sent.
    pub fn add(&mut self, sender: &str, by: &str, id: String) {
        let at = match self.senders.iter().position(|(s, _)| s == sender) {
            Some(at) => at,
            None => {
                self.senders.push((sender.to_owned(), Vec::new()));
                self.senders.len() - 1
            }
        };
        let received = &mut self.senders[at].1;
        match received.iter_mut().find(|(b, _)| b == by) {
            Some((_, ids)) => ids.push(id),
            None => received.push((by.to_owned(), vec![id])),
        }
    }

    /// The frames for each sender: the members that received the same
    /// messages named together, within the frame's limits. Empties the
    /// gathering.
    pub fn take(&mut self) -> Vec<(String, Control)> {
        let mut frames = Vec::new();
        for (sender, received) in self.senders.drain(..) {
            // The same ids (one message that went to everyone) are
            // received by many: one entry for all of them.
            let mut same: Vec<(Vec<String>, Vec<String>)> = Vec::new();
            for (by, ids) in received {
                match same.iter_mut().find(|(i, _)| *i == ids) {
                    Some((_, bys)) => bys.push(by),
                    None => same.push((ids, vec![by])),
                }
            }
            for (ids, bys) in same {
                for ids in ids.chunks(MAX_BATCH) {
                    for by in bys.chunks(MAX_ROSTER) {
                        let frame = Control::Delivered {
                            ids: ids.to_vec(),
                            by: by.to_vec(),
                        };
                        frames.push((sender.clone(), frame));
                    }
                }
            }
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(ids: &[&str], by: &[&str]) -> Control {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Control::Delivered {
            ids: strings(ids),
            by: strings(by),
        }
    }

    #[test]
    fn members_that_received_the_same_messages_share_a_frame() {
        let mut marks = Marks::default();
        for by in ["b", "c", "d"] {
            marks.add("a", by, "x".into());
        }
        marks.add("a", "e", "x".into());
        marks.add("a", "e", "y".into());
        marks.add("b", "a", "z".into());
        assert_eq!(
            marks.take(),
            [
                ("a".to_string(), delivered(&["x"], &["b", "c", "d"])),
                ("a".to_string(), delivered(&["x", "y"], &["e"])),
                ("b".to_string(), delivered(&["z"], &["a"])),
            ]
        );
        assert!(marks.take().is_empty(), "taken once");
    }

    #[test]
    fn frames_keep_within_the_limits_of_ids_and_members() {
        let mut marks = Marks::default();
        let members = MAX_ROSTER + 1;
        for m in 0..members {
            for i in 0..=MAX_BATCH {
                marks.add("a", &format!("m{m}"), format!("id{i}"));
            }
        }
        let frames = marks.take();
        assert_eq!(frames.len(), 4, "ids and members each over by one");
        let mut pairs = 0;
        for (_, frame) in &frames {
            let Control::Delivered { ids, by } = frame else {
                panic!("{frame:?}")
            };
            assert!(ids.len() <= MAX_BATCH && by.len() <= MAX_ROSTER);
            pairs += ids.len() * by.len();
        }
        assert_eq!(pairs, members * (MAX_BATCH + 1), "every mark once");
    }
}
