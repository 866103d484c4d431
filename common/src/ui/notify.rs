//! Desktop notifications of new messages, as a service each window owns
//! (like the clipboard), so tests can see what would be shown.
//!
//! The real one speaks to the desktop's notification service (on Linux the
//! freedesktop service over D-Bus, through `notify-rust` in pure Rust) on a
//! thread of its own: the window hands a notification over and goes on,
//! however slow the service is to answer. Where there is no service (no
//! session bus, as under Xvfb or in CI) the first failure is said in one
//! line on stderr and nothing more is tried for the rest of the run.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use crate::text::for_window;

/// The most characters of a sender's name in a notification.
pub const SENDER_CHARS: usize = 32;
/// The most characters of the message's first line in a notification.
pub const LINE_CHARS: usize = 120;
/// Notifications waiting for the service, at most; more are dropped (a
/// flood of messages is one glance at the window, not a hundred pop-ups).
pub const WAITING_MAX: usize = 4;

/// What a notification says: who wrote, and the start of what they wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

impl Notice {
    /// A notice of a message `text` from `from`: the name and the first
    /// line, made safe to show ([`for_window`]) and cut short.
    pub fn message(from: &str, text: &str) -> Notice {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let more = text.trim_end().contains('\n');
        let mut body = cut(&for_window(first.trim()), LINE_CHARS);
        if more && !body.ends_with('…') {
            body.push('…');
        }
        Notice {
            title: cut(&for_window(from), SENDER_CHARS),
            body,
        }
    }
}

/// `text` cut to `max` characters, with "…" if it was longer.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

pub trait Notifier: Send {
    /// Shows `notice` (or hands it to whatever shows it); never blocks.
    fn notify(&self, notice: Notice);
}

/// The desktop's notification service, reached from a thread started on
/// the first notification.
#[derive(Debug, Default)]
pub struct DesktopNotifier {
    queue: OnceLock<SyncSender<Notice>>,
}

impl Notifier for DesktopNotifier {
    fn notify(&self, notice: Notice) {
        // Full: the service is behind, and this one is not worth waiting
        // for. Disconnected: the thread gave up (no service).
        let _ = self.queue.get_or_init(start).try_send(notice);
    }
}

/// Starts the thread that talks to the service.
fn start() -> SyncSender<Notice> {
    let (tx, rx) = mpsc::sync_channel(WAITING_MAX);
    let spawned = std::thread::Builder::new()
        .name("notifications".into())
        .spawn(move || {
            if let Err(e) = show_all(rx, show) {
                eprintln!("desktop notifications are off: {e}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("desktop notifications are off: {e}");
    }
    tx
}

/// Shows each notice until the service fails once, and returns that
/// failure (said in one line); the receiver is dropped with it, so later
/// notices go nowhere and nothing more is tried.
fn show_all<E>(
    notices: Receiver<Notice>,
    mut show: impl FnMut(&Notice) -> Result<(), E>,
) -> Result<(), E> {
    for notice in notices {
        show(&notice)?;
    }
    Ok(())
}

/// One notice, through the desktop's notification service.
fn show(notice: &Notice) -> Result<(), notify_rust::error::Error> {
    notify_rust::Notification::new()
        .appname("fernet-chat")
        .summary(&notice.title)
        .body(&escape_markup(&notice.body))
        .show()
        .map(drop)
}

/// Services may read a body as a small subset of HTML (the freedesktop
/// "body-markup"): a message's `<`, `>` and `&` are shown, not obeyed.
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A notifier that keeps what it was asked to show, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryNotifier(Arc<Mutex<Vec<Notice>>>);

impl MemoryNotifier {
    pub fn shown(&self) -> Vec<Notice> {
        self.0.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

impl Notifier for MemoryNotifier {
    fn notify(&self, notice: Notice) {
        if let Ok(mut shown) = self.0.lock() {
            shown.push(notice);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_the_sender_and_the_first_line_made_safe_and_cut() {
        let notice = Notice::message("alice", "hello\nsecond line");
        assert_eq!(notice.title, "alice");
        assert_eq!(notice.body, "hello…");
        let notice = Notice::message("mallory\u{202e}gnp.exe", &"x".repeat(500));
        assert_eq!(notice.title, r"mallory\u{202e}gnp.exe");
        assert_eq!(notice.body.chars().count(), LINE_CHARS + 1);
        assert!(notice.body.ends_with('…'));
        let notice = Notice::message(&"n".repeat(100), "\u{1b}[2J");
        assert_eq!(notice.title.chars().count(), SENDER_CHARS + 1);
        assert_eq!(notice.body, r"\u{1b}[2J");
    }

    #[test]
    fn the_first_failure_stops_all_trying() {
        let (tx, rx) = mpsc::sync_channel(WAITING_MAX);
        for n in 0..3 {
            tx.send(Notice::message("alice", &format!("m{n}"))).unwrap();
        }
        drop(tx);
        let mut tries = 0;
        let result = show_all(rx, |_| {
            tries += 1;
            Err("no notification service")
        });
        // Tried once, not once per notice (the receiver, and with it every
        // later notice, went with the failure).
        assert_eq!((result, tries), (Err("no notification service"), 1));
    }

    #[test]
    fn markup_in_a_body_is_shown_not_obeyed() {
        assert_eq!(
            escape_markup("<a href=\"x\">&</a>"),
            "&lt;a href=\"x\"&gt;&amp;&lt;/a&gt;"
        );
    }
}
