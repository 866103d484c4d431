//! The words for what happens in a room, written once: the terminal's
//! stderr lines and the windows' chat lines both read them, so the two
//! cannot drift apart. Names and reasons come from the network already
//! cleaned ([`crate::payload::clean_name`]); the caller still makes the
//! whole line safe for where it goes.

use crate::event::{Member, Why};

/// "alice joined (10.0.0.5:51234)".
pub fn joined(member: &Member) -> String {
    match member.addr {
        Some(addr) => format!("{} joined ({addr})", member.name),
        None => format!("{} joined", member.name),
    }
}

/// "alice left", "alice lost connection", ...
pub fn left(member: &Member, why: &Why) -> String {
    let name = &member.name;
    match why {
        Why::Bye => format!("{name} left"),
        Why::Lost => format!("{name} lost connection"),
        Why::Removed => format!("{name} was removed from the room"),
        Why::Slow => format!("{name} fell behind reading and was disconnected"),
        Why::Other(code) => format!("{name} left ({code})"),
    }
}

impl Why {
    /// The `why` code of a `left` frame (PROTOCOL.md, "Rooms").
    pub fn code(&self) -> &str {
        match self {
            Why::Bye => "bye",
            Why::Lost => "lost",
            Why::Removed => "removed",
            Why::Slow => "slow",
            Why::Other(code) => code,
        }
    }

    /// The reason a `left` frame's `why` code stands for.
    pub fn from_code(code: &str) -> Why {
        match code {
            "bye" => Why::Bye,
            "lost" => Why::Lost,
            "removed" => Why::Removed,
            "slow" => Why::Slow,
            other => Why::Other(other.to_owned()),
        }
    }
}

/// A message's delivery in a room: `by` members of `to` have it.
/// "sent", "delivered to 1 of 3", "delivered to all 3" (or "delivered"
/// when it went to one member).
pub fn delivery(by: usize, to: usize) -> String {
    match (by, to) {
        (0, _) => "sent".to_owned(),
        (by, to) if by >= to && to <= 1 => "delivered".to_owned(),
        (by, to) if by >= to => format!("delivered to all {to}"),
        (by, to) => format!("delivered to {by} of {to}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Member {
        Member {
            id: crate::payload::random_id(),
            name: "alice".into(),
            addr: Some("10.0.0.5:51234".parse().unwrap()),
            since: 0,
            you: false,
        }
    }

    #[test]
    fn joins_and_leaves_read_as_sentences() {
        assert_eq!(joined(&alice()), "alice joined (10.0.0.5:51234)");
        assert_eq!(left(&alice(), &Why::Bye), "alice left");
        assert_eq!(left(&alice(), &Why::Lost), "alice lost connection");
        assert_eq!(
            left(&alice(), &Why::Other("moved".into())),
            "alice left (moved)"
        );
    }

    #[test]
    fn why_codes_round_trip() {
        for why in [Why::Bye, Why::Lost, Why::Removed, Why::Slow] {
            assert_eq!(Why::from_code(why.code()), why);
        }
        assert_eq!(Why::from_code("gone"), Why::Other("gone".into()));
    }

    #[test]
    fn delivery_counts_read_naturally() {
        assert_eq!(delivery(0, 3), "sent");
        assert_eq!(delivery(1, 3), "delivered to 1 of 3");
        assert_eq!(delivery(3, 3), "delivered to all 3");
        assert_eq!(delivery(1, 1), "delivered");
    }
}
