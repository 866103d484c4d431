//! The lines typed and not yet delivered, and when a line counts as
//! delivered: at the peer's ack in a two-person chat; in a room, for a
//! client once the server holds it (it delivers it to each member from
//! there), for the server once every member it went to has it.

use std::collections::{HashMap, VecDeque};

use crate::payload::weight;

/// Which program the terminal is: what "delivered" means in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A line is delivered once the server acknowledges it.
    Client,
    /// A line is delivered once every member it went to acknowledged it.
    Server,
}

/// Sent and not yet delivered.
#[derive(Debug)]
pub(super) struct Undelivered {
    side: Side,
    /// Id and length, in the order sent: the order the engine reports
    /// them delivered, nearly always.
    lines: VecDeque<(String, usize)>,
    /// What `lines` weigh ([`weight`]: text and overhead).
    bytes: usize,
    /// The server in a room: for lines relayed, how many members each
    /// went to and which (names) have it. Only ids in `lines`.
    marks: HashMap<String, (usize, Vec<String>)>,
}

impl Undelivered {
    pub fn new(side: Side) -> Undelivered {
        Undelivered {
            side,
            lines: VecDeque::new(),
            bytes: 0,
            marks: HashMap::new(),
        }
    }

    /// Lines not delivered.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// What the lines not delivered weigh ([`weight`]: text and overhead,
    /// so that a file of short lines is not read ahead without end).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn sent(&mut self, id: String, len: usize) {
        self.lines.push_back((id, len));
        self.bytes += weight(len);
    }

    /// The peer acknowledged `id` (a two-person chat): delivered.
    pub fn acked(&mut self, id: &str) {
        let at = self.lines.iter().position(|(sent, _)| sent == id);
        if let Some((_, len)) = at.and_then(|at| self.lines.remove(at)) {
            self.bytes -= weight(len);
            self.marks.remove(id);
        }
    }

    /// The room took `id` for `to` members.
    pub fn relayed(&mut self, id: &str, to: usize) {
        match self.side {
            Side::Client => self.acked(id),
            Side::Server if to == 0 => self.acked(id),
            Side::Server => {
                if self.lines.iter().any(|(sent, _)| sent == id) {
                    self.marks.insert(id.to_owned(), (to, Vec::new()));
                }
            }
        }
    }

    /// Member `by` has `id`: the server's line is delivered once all the
    /// members it went to have it.
    pub fn delivered(&mut self, id: &str, by: &str) {
        let Some((to, by_all)) = self.marks.get_mut(id) else {
            return;
        };
        if !by_all.iter().any(|b| b == by) {
            by_all.push(by.to_owned());
        }
        if by_all.len() >= *to {
            self.acked(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_line_is_delivered_when_the_server_holds_it() {
        let mut lines = Undelivered::new(Side::Client);
        lines.sent("a".into(), 3);
        lines.relayed("a", 2);
        assert_eq!((lines.len(), lines.bytes()), (0, 0));
    }

    #[test]
    fn the_servers_line_is_delivered_when_every_member_has_it() {
        let mut lines = Undelivered::new(Side::Server);
        lines.sent("a".into(), 3);
        lines.sent("b".into(), 4);
        lines.delivered("a", "alice");
        lines.relayed("a", 2);
        lines.delivered("a", "alice");
        lines.delivered("a", "alice");
        assert_eq!(lines.len(), 2, "one member of two, counted once");
        lines.delivered("a", "carol");
        assert_eq!((lines.len(), lines.bytes()), (1, weight(4)));
        lines.relayed("unknown", 1);
        assert!(lines.marks.is_empty(), "only lines of ours are tracked");
        lines.acked("b");
        assert_eq!((lines.len(), lines.bytes()), (0, 0));
    }
}
