//! Notice of new messages while the window is not looked at: a count of
//! them in the window's title ("(3) fernet-chat …"), reset when the window
//! gets the focus back, and a desktop notification for each (unless turned
//! off).

use iced::{Subscription, event, window};

use super::notify::{Notice, Notifier};

/// Whether the window has the keyboard focus, as the window system says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Gained,
    Lost,
}

/// The window's focus changes.
pub fn focus_changes() -> Subscription<Focus> {
    event::listen_with(|event, _status, _window| match event {
        iced::Event::Window(window::Event::Focused) => Some(Focus::Gained),
        iced::Event::Window(window::Event::Unfocused) => Some(Focus::Lost),
        _ => None,
    })
}

pub struct Attention {
    /// A window opens focused; the window system says when it is not.
    focused: bool,
    /// Messages received since the focus was lost.
    unread: usize,
    /// Desktop notifications are on (the setting).
    notifications: bool,
    /// Where notifications go (`None`: nowhere, as in most tests).
    notifier: Option<Box<dyn Notifier>>,
}

impl Default for Attention {
    fn default() -> Attention {
        Attention {
            focused: true,
            unread: 0,
            notifications: true,
            notifier: None,
        }
    }
}

impl Attention {
    pub fn set_notifier(&mut self, notifier: Box<dyn Notifier>) {
        self.notifier = Some(notifier);
    }

    pub fn set_notifications(&mut self, on: bool) {
        self.notifications = on;
    }

    pub fn notifications(&self) -> bool {
        self.notifications
    }

    pub fn unread(&self) -> usize {
        self.unread
    }

    pub fn focus(&mut self, focus: Focus) {
        self.focused = focus == Focus::Gained;
        if self.focused {
            self.unread = 0;
        }
    }

    /// A message from `from` arrived: counted and notified if nobody is
    /// looking.
    pub fn received(&mut self, from: &str, text: &str) {
        if self.focused {
            return;
        }
        self.unread = self.unread.saturating_add(1);
        if self.notifications
            && let Some(notifier) = &self.notifier
        {
            notifier.notify(Notice::message(from, text));
        }
    }

    /// The window's `title` with the unread count in front, if any.
    pub fn title(&self, title: String) -> String {
        match self.unread {
            0 => title,
            n => format!("({n}) {title}"),
        }
    }
}
