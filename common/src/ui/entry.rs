//! The chat history: messages and system lines, with delivery state.

use std::borrow::Cow;

use chrono::{Local, TimeZone};

use crate::event::Ciphertext;
use crate::payload::MAX_ROSTER;
use crate::text::for_window;
use crate::wording;

/// Where one of our messages is on its way to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// In the outbox, not on the wire yet (typed while offline).
    Waiting,
    /// Encrypted and sent; no `ack` yet.
    Sent,
    /// The peer acknowledged it.
    Delivered,
    /// The connection was lost before the ack; it is re-sent on reconnect.
    NotDelivered,
    /// Rooms: the server holds it and relays it to `to` members (who has
    /// it is [`ChatMessage::delivered_by`]).
    Relayed { to: usize },
}

impl Delivery {
    /// Whether the other side (the peer, or in a room the server) holds it:
    /// nothing is left to send.
    pub fn is_handed_over(self) -> bool {
        matches!(self, Delivery::Delivered | Delivery::Relayed { .. })
    }
}

/// How a system line is styled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Connected, disconnected, ...
    Info,
    /// Worth noticing: clock offset, a rejected connection.
    Notice,
    /// A security alert.
    Alert,
}

/// A message longer than this many bytes is laid out only in part until the
/// user asks for more: iced shapes every character of a text it lays out,
/// and one 700 KB message cost about 300 MB and a second of CPU.
pub const LONG_BYTES: usize = 4 * 1024;
/// A message with more lines than this is cut too, however short.
pub const LONG_LINES: usize = 40;
/// What is shown of a long message: its first lines, at most this many...
const PREVIEW_LINES: usize = 12;
/// ...and at most this many bytes of them.
const PREVIEW_BYTES: usize = 1024;
/// The most of a message laid out at once (of its text made safe to show):
/// a longer one is read a part at a time. All of a maximal message laid out
/// at once took about 100 MB; a part takes a sixteenth of that.
pub const PART_BYTES: usize = 16 * 1024;

/// How much of a message the history lays out.
#[derive(Debug, Clone, PartialEq)]
enum Shown {
    /// All of it: short enough, or asked for and no longer than a part.
    Whole,
    /// Its first lines and "…", until the user asks for more.
    Preview(String),
    /// Part `index` (from 0) of a text longer than [`PART_BYTES`].
    Part(usize),
}

/// What the user can ask of a long message, under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum More {
    /// Shown in part: "Show all (N KB)" lays out the rest (in parts if long).
    ShowAll(String),
    /// Read in parts: which part this is, and whether there is one before
    /// and after it.
    Parts {
        label: String,
        previous: bool,
        next: bool,
    },
}

/// A chat message, ours or the peer's.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub id: String,
    pub from: String,
    pub mine: bool,
    /// The text as it was sent, for Copy.
    pub text: String,
    /// Unix ms: when it was written (by the sender's clock).
    pub at: u64,
    /// The Fernet token it travelled in (latest, for our re-sent messages).
    pub token: Option<Ciphertext>,
    /// Only meaningful for our own messages.
    pub delivery: Delivery,
    /// Rooms: the members that have it, by name, each once (at most
    /// [`MAX_ROSTER`]: a room holds no more).
    pub delivered_by: Vec<String>,
    /// `text` made safe to show ([`crate::text::for_window`]) when that
    /// differs from it. Worked out once here, not in every frame.
    safe: Option<String>,
    shown: Shown,
}

impl ChatMessage {
    pub fn new(id: String, from: String, mine: bool, text: String, at: u64) -> ChatMessage {
        // Counting lines is bounded: only a short text gets that far.
        let cut = text.len() > LONG_BYTES || text.lines().count() > LONG_LINES;
        let shown = if cut {
            Shown::Preview(for_window(preview(&text)).into_owned() + "…")
        } else {
            Shown::Whole
        };
        ChatMessage {
            id,
            from,
            mine,
            safe: owned_if_changed(&text),
            text,
            at,
            token: None,
            delivery: Delivery::Waiting,
            delivered_by: Vec::new(),
            shown,
        }
    }

    /// The text made safe to show, all of it.
    fn safe(&self) -> &str {
        self.safe.as_deref().unwrap_or(&self.text)
    }

    /// The text the history lays out.
    pub fn shown(&self) -> &str {
        match &self.shown {
            Shown::Whole => self.safe(),
            Shown::Preview(preview) => preview,
            Shown::Part(index) => part(self.safe(), *index),
        }
    }

    /// What the buttons under the message offer (`None`: all of it shows).
    pub fn more(&self) -> Option<More> {
        match self.shown {
            Shown::Whole => None,
            Shown::Preview(_) => Some(More::ShowAll(match self.text.len() {
                len if len >= 1024 => format!("Show all ({} KB)", (len + 512) / 1024),
                _ => format!("Show all ({} lines)", self.text.lines().count()),
            })),
            Shown::Part(index) => {
                let parts = self.safe().len().div_ceil(PART_BYTES);
                Some(More::Parts {
                    label: format!("Part {} of {parts}", index + 1),
                    previous: index > 0,
                    next: index + 1 < parts,
                })
            }
        }
    }

    /// Rooms: member `by` has it.
    pub fn delivered_to(&mut self, by: &str) {
        if self.delivered_by.len() < MAX_ROSTER && !self.delivered_by.iter().any(|n| n == by) {
            self.delivered_by.push(by.to_owned());
        }
    }

    /// Where it is, under the message: "sent", "delivered", "delivered to
    /// 2 of 3" ([`wording::delivery`]).
    pub fn delivery_label(&self) -> Cow<'static, str> {
        match self.delivery {
            Delivery::Waiting => "waiting to send".into(),
            Delivery::Sent => "sent".into(),
            Delivery::Delivered => "delivered".into(),
            Delivery::NotDelivered => "not delivered".into(),
            Delivery::Relayed { to } => wording::delivery(self.delivered_by.len(), to).into(),
        }
    }

    /// Rooms: who has it, while some of the room does not yet ("has it:
    /// alice, carol").
    pub fn delivery_detail(&self) -> Option<String> {
        let Delivery::Relayed { to } = self.delivery else {
            return None;
        };
        let by = self.delivered_by.len();
        (by > 0 && by < to).then(|| {
            let names: Vec<_> = self.delivered_by.iter().map(|n| for_window(n)).collect();
            format!("has it: {}", names.join(", "))
        })
    }

    /// The user asked for all of it: all of it if it fits in a part, else
    /// its first part.
    pub fn show_all(&mut self) {
        if let Shown::Preview(_) = self.shown {
            self.shown = if self.safe().len() <= PART_BYTES {
                Shown::Whole
            } else {
                Shown::Part(0)
            };
        }
    }

    /// The part `step` away from the one shown (-1: the one before), if
    /// there is one.
    pub fn turn(&mut self, step: isize) {
        if let Shown::Part(index) = self.shown {
            let parts = self.safe().len().div_ceil(PART_BYTES);
            if let Some(to) = index.checked_add_signed(step).filter(|&to| to < parts) {
                self.shown = Shown::Part(to);
            }
        }
    }

    /// About how many bytes of text it keeps.
    fn bytes(&self) -> usize {
        let preview = match &self.shown {
            Shown::Preview(preview) => preview.len(),
            Shown::Whole | Shown::Part(_) => 0,
        };
        self.id.len()
            + self.from.len()
            + self.text.len()
            + self.token.as_ref().map_or(0, Ciphertext::bytes)
            + self.safe.as_ref().map_or(0, String::len)
            + self.delivered_by.iter().map(String::len).sum::<usize>()
            + preview
    }
}

/// `text` made safe to show, if that changed it.
fn owned_if_changed(text: &str) -> Option<String> {
    match for_window(text) {
        Cow::Borrowed(_) => None,
        Cow::Owned(safe) => Some(safe),
    }
}

/// The first [`PREVIEW_LINES`] lines of `text`, cut at [`PREVIEW_BYTES`].
fn preview(text: &str) -> &str {
    let head = &text[..floor_boundary(text, PREVIEW_BYTES)];
    match head.match_indices('\n').nth(PREVIEW_LINES - 1) {
        Some((newline, _)) => &head[..newline],
        None => head,
    }
}

/// Part `index` of `text`: [`PART_BYTES`] from `index` times that, each end
/// moved back to a character boundary (so parts follow on exactly).
fn part(text: &str, index: usize) -> &str {
    let at = |n: usize| floor_boundary(text, n.saturating_mul(PART_BYTES));
    &text[at(index)..at(index + 1)]
}

/// The largest character boundary of `text` at or before `n`.
fn floor_boundary(text: &str, n: usize) -> usize {
    let mut end = n.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Message(ChatMessage),
    System { text: String, tone: Tone, at: u64 },
}

impl Entry {
    /// About how many bytes the entry keeps (what the history's bound
    /// counts): itself and its text, so that a flood of short lines (a
    /// server announcing joins without end) is bounded as well as long
    /// ones.
    pub fn bytes(&self) -> usize {
        size_of::<Entry>()
            + match self {
                Entry::Message(m) => m.bytes(),
                Entry::System { text, .. } => text.len(),
            }
    }
}

/// `HH:MM` in local time for a Unix time in ms.
pub fn clock_time(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Local.timestamp_millis_opt(ms).single())
        .map_or_else(String::new, |t| t.format("%H:%M").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> ChatMessage {
        ChatMessage::new("id".into(), "bob".into(), false, text.into(), 0)
    }

    #[test]
    fn a_long_message_shows_its_first_lines_until_all_is_asked_for() {
        let long = "word ".repeat(60_000);
        let mut m = message(&long);
        assert!(
            m.shown().len() <= PREVIEW_BYTES + "…".len(),
            "{}",
            m.shown().len()
        );
        assert!(long.starts_with(m.shown().trim_end_matches('…')));
        assert_eq!(m.more(), Some(More::ShowAll("Show all (293 KB)".into())));
        m.show_all();
        // Read a part at a time; the parts follow on exactly.
        let parts = long.len().div_ceil(PART_BYTES);
        let mut read = String::new();
        for n in 0..parts {
            assert!(m.shown().len() <= PART_BYTES);
            let more = More::Parts {
                label: format!("Part {} of {parts}", n + 1),
                previous: n > 0,
                next: n + 1 < parts,
            };
            assert_eq!(m.more(), Some(more));
            read += m.shown();
            m.turn(1);
        }
        assert_eq!(read, long);
        assert_eq!(m.shown(), part(&long, parts - 1), "nothing after the last");
        m.turn(-1);
        assert_eq!(m.shown(), part(&long, parts - 2));
        assert_eq!(m.text, long, "Copy still gets all of it");
    }

    #[test]
    fn a_long_message_that_fits_in_a_part_is_shown_whole() {
        let long = "word ".repeat(PART_BYTES / 5);
        let mut m = message(&long);
        assert!(matches!(m.more(), Some(More::ShowAll(_))));
        m.show_all();
        assert_eq!((m.shown(), m.more()), (long.as_str(), None));
    }

    #[test]
    fn parts_are_cut_from_the_text_made_safe_and_never_split_a_character() {
        // Each control character is shown as 6 to 8 bytes: the parts are
        // counted in what is laid out, not in what was sent.
        let long = "\u{1}é".repeat(LONG_BYTES);
        let mut m = message(&long);
        m.show_all();
        let safe = for_window(&long);
        let mut read = String::new();
        while let Some(More::Parts { next, .. }) = m.more() {
            assert!(m.shown().len() <= PART_BYTES);
            read += m.shown();
            if !next {
                break;
            }
            m.turn(1);
        }
        assert_eq!(read, safe);
    }

    #[test]
    fn many_short_lines_are_cut_after_the_first_few() {
        let lines: String = (0..100).map(|i| format!("{i}\n")).collect();
        let m = message(&lines);
        assert_eq!(m.shown(), "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11…");
        assert_eq!(m.more(), Some(More::ShowAll("Show all (100 lines)".into())));
    }

    #[test]
    fn a_short_message_is_shown_whole_without_a_copy() {
        let m = message("hello\nthere");
        assert_eq!((m.shown(), m.more()), ("hello\nthere", None));
        assert_eq!(m.safe, None, "plain text is not stored twice");
        // A cut never splits a character.
        let m = message(&format!("a{}", "é".repeat(LONG_BYTES)));
        let shown = m.shown().trim_end_matches('…');
        assert!(shown.len() < PREVIEW_BYTES && shown[1..].chars().all(|c| c == 'é'));
    }

    #[test]
    fn bidi_controls_in_a_message_are_shown_not_obeyed() {
        let mut m = message("see mallory\u{202e}gnp.exe");
        assert_eq!(m.shown(), r"see mallory\u{202e}gnp.exe");
        assert_eq!(
            m.text, "see mallory\u{202e}gnp.exe",
            "Copy gets what was sent"
        );
        let long = format!("\u{2067}{}", "x".repeat(LONG_BYTES));
        m = message(&long);
        assert!(m.shown().starts_with(r"\u{2067}x"));
        m.show_all();
        assert!(m.shown().starts_with(r"\u{2067}x"));
    }

    #[test]
    fn in_a_room_delivery_counts_who_has_it_each_once() {
        let mut m = ChatMessage::new("id".into(), "You".into(), true, "hi".into(), 0);
        assert_eq!(m.delivery_label(), "waiting to send");
        m.delivery = Delivery::Relayed { to: 3 };
        assert_eq!(m.delivery_label(), "sent");
        assert_eq!(m.delivery_detail(), None);
        m.delivered_to("alice");
        m.delivered_to("carol");
        m.delivered_to("alice");
        assert_eq!(m.delivery_label(), "delivered to 2 of 3");
        assert_eq!(m.delivery_detail().as_deref(), Some("has it: alice, carol"));
        m.delivered_to("dave");
        assert_eq!(m.delivery_label(), "delivered to all 3");
        assert_eq!(m.delivery_detail(), None);
        for n in 0..MAX_ROSTER * 2 {
            m.delivered_to(&format!("n{n}"));
        }
        assert_eq!(m.delivered_by.len(), MAX_ROSTER);
    }

    #[test]
    fn clock_time_is_hours_and_minutes() {
        let text = clock_time(1_700_000_000_000);
        assert_eq!(text.len(), 5);
        assert_eq!(&text[2..3], ":");
        assert_eq!(clock_time(u64::MAX), "");
    }
}
