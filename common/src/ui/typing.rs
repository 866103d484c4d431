//! Who is typing, for the line above the message box: "alice is typing…",
//! "alice and bob are typing…" (past three names, "and 3 others"). At most [`MAX_ROSTER`] names are kept
//! (a room holds no more), so a server sending `typing` for ever-new names
//! cannot grow it.

use crate::payload::MAX_ROSTER;
use crate::text::for_window;

#[derive(Debug, Clone, Default)]
pub struct Typing {
    /// In the order they started.
    names: Vec<String>,
}

impl Typing {
    /// `name` started (`active`) or stopped typing.
    pub fn set(&mut self, name: &str, active: bool) {
        let known = self.names.iter().position(|n| n == name);
        match (active, known) {
            (true, None) if self.names.len() < MAX_ROSTER => self.names.push(name.to_owned()),
            (false, Some(at)) => {
                self.names.remove(at);
            }
            _ => {}
        }
    }

    pub fn clear(&mut self) {
        self.names.clear();
    }

    /// The line, if anyone is typing.
    pub fn line(&self) -> Option<String> {
        let names: Vec<_> = self.names.iter().map(|n| for_window(n)).collect();
        Some(match names.as_slice() {
            [] => return None,
            [one] => format!("{one} is typing…"),
            [first, second] => format!("{first} and {second} are typing…"),
            [first, second, third] => format!("{first}, {second} and {third} are typing…"),
            [first, second, rest @ ..] => {
                format!("{first}, {second} and {} others are typing…", rest.len())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_three_and_many_typing_read_as_a_sentence() {
        let mut typing = Typing::default();
        assert_eq!(typing.line(), None);
        typing.set("alice", true);
        assert_eq!(typing.line().as_deref(), Some("alice is typing…"));
        typing.set("bob", true);
        typing.set("bob", true);
        assert_eq!(typing.line().as_deref(), Some("alice and bob are typing…"));
        typing.set("carol", true);
        assert_eq!(
            typing.line().as_deref(),
            Some("alice, bob and carol are typing…")
        );
        typing.set("dave", true);
        typing.set("erin", true);
        assert_eq!(
            typing.line().as_deref(),
            Some("alice, bob and 3 others are typing…")
        );
        typing.set("alice", false);
        typing.set("bob", false);
        typing.set("dave", false);
        assert_eq!(typing.line().as_deref(), Some("carol and erin are typing…"));
    }

    #[test]
    fn the_names_kept_are_bounded() {
        let mut typing = Typing::default();
        for n in 0..MAX_ROSTER * 4 {
            typing.set(&format!("n{n}"), true);
        }
        assert_eq!(typing.names.len(), MAX_ROSTER);
    }
}
