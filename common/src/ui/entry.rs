//! The chat history: messages and system lines, with delivery state.

use chrono::{Local, TimeZone};

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

/// A chat message, ours or the peer's.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub id: String,
    pub from: String,
    pub mine: bool,
    pub text: String,
    /// Unix ms: when it was written (by the sender's clock).
    pub at: u64,
    /// The Fernet token it travelled in (latest, for our re-sent messages).
    pub token: Option<String>,
    /// Only meaningful for our own messages.
    pub delivery: Delivery,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Message(ChatMessage),
    System { text: String, tone: Tone, at: u64 },
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

    #[test]
    fn clock_time_is_hours_and_minutes() {
        let text = clock_time(1_700_000_000_000);
        assert_eq!(text.len(), 5);
        assert_eq!(&text[2..3], ":");
        assert_eq!(clock_time(u64::MAX), "");
    }
}
