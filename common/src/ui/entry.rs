//! The chat history: messages and system lines, with delivery state.

use std::borrow::Cow;

use chrono::{Local, TimeZone};

use crate::text::for_window;

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
}

impl Delivery {
    pub fn label(self) -> &'static str {
        match self {
            Delivery::Waiting => "waiting to send",
            Delivery::Sent => "sent",
            Delivery::Delivered => "delivered",
            Delivery::NotDelivered => "not delivered",
        }
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
/// user asks for all of it: iced shapes every character of a text it lays
/// out, and one 700 KB message cost about 300 MB and a second of CPU.
pub const LONG_BYTES: usize = 4 * 1024;
/// A message with more lines than this is cut too, however short.
pub const LONG_LINES: usize = 40;
/// What is shown of a long message: its first lines, at most this many...
const PREVIEW_LINES: usize = 12;
/// ...and at most this many bytes of them.
const PREVIEW_BYTES: usize = 1024;

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
    pub token: Option<String>,
    /// Only meaningful for our own messages.
    pub delivery: Delivery,
    /// What the history lays out instead of `text`, when that differs:
    /// `text` made safe to show ([`crate::text::for_window`]), cut to its
    /// first lines while `cut`. Worked out once here, not in every frame.
    shown: Option<String>,
    /// Only the first lines are shown; the rest waits for "Show all".
    cut: bool,
}

impl ChatMessage {
    pub fn new(id: String, from: String, mine: bool, text: String, at: u64) -> ChatMessage {
        // Counting lines is bounded: only a short text gets that far.
        let cut = text.len() > LONG_BYTES || text.lines().count() > LONG_LINES;
        let shown = if cut {
            Some(for_window(preview(&text)).into_owned() + "…")
        } else {
            owned_if_changed(&text)
        };
        ChatMessage {
            id,
            from,
            mine,
            text,
            at,
            token: None,
            delivery: Delivery::Waiting,
            shown,
            cut,
        }
    }

    /// The text the history lays out.
    pub fn shown(&self) -> &str {
        self.shown.as_deref().unwrap_or(&self.text)
    }

    /// What the button under a cut message says (`None`: nothing is cut).
    pub fn show_all_label(&self) -> Option<String> {
        self.cut.then(|| match self.text.len() {
            len if len >= 1024 => format!("Show all ({} KB)", (len + 512) / 1024),
            _ => format!("Show all ({} lines)", self.text.lines().count()),
        })
    }

    /// The user asked for all of it: lay out the whole text.
    pub fn show_all(&mut self) {
        if self.cut {
            self.shown = owned_if_changed(&self.text);
            self.cut = false;
        }
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
    let mut end = text.len().min(PREVIEW_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    match head.match_indices('\n').nth(PREVIEW_LINES - 1) {
        Some((newline, _)) => &head[..newline],
        None => head,
    }
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Message(ChatMessage),
    System { text: String, tone: Tone, at: u64 },
}

impl Entry {
    /// About how many bytes of text the entry keeps (what the history's
    /// bound counts).
    pub fn bytes(&self) -> usize {
        match self {
            Entry::Message(m) => {
                m.id.len()
                    + m.from.len()
                    + m.text.len()
                    + m.token.as_ref().map_or(0, String::len)
                    + m.shown.as_ref().map_or(0, String::len)
            }
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
        assert_eq!(m.show_all_label().as_deref(), Some("Show all (293 KB)"));
        m.show_all();
        assert_eq!((m.shown(), m.show_all_label()), (long.as_str(), None));
        assert_eq!(m.text, long, "Copy still gets all of it");
    }

    #[test]
    fn many_short_lines_are_cut_after_the_first_few() {
        let lines: String = (0..100).map(|i| format!("{i}\n")).collect();
        let m = message(&lines);
        assert_eq!(m.shown(), "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11…");
        assert_eq!(m.show_all_label().as_deref(), Some("Show all (100 lines)"));
    }

    #[test]
    fn a_short_message_is_shown_whole_without_a_copy() {
        let m = message("hello\nthere");
        assert_eq!((m.shown(), m.show_all_label()), ("hello\nthere", None));
        assert_eq!(m.shown, None, "plain text is not stored twice");
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
    fn clock_time_is_hours_and_minutes() {
        let text = clock_time(1_700_000_000_000);
        assert_eq!(text.len(), 5);
        assert_eq!(&text[2..3], ":");
        assert_eq!(clock_time(u64::MAX), "");
    }
}
