//! The clipboard as a service each window owns, so tests can see what a Copy
//! button copied and give Paste something to read. The real one is iced's
//! clipboard (X11 and Wayland), the same one Ctrl+C and Ctrl+V in the
//! window's text fields use, so there is one clipboard path. Both answer
//! with tasks, as iced's does: the window handles a paste when its task
//! delivers the text.

use std::sync::{Arc, Mutex};

use iced::Task;

pub trait Clipboard: Send {
    /// Puts `text` on the clipboard.
    fn write(&self, text: String) -> Task<()>;
    /// The clipboard's text; `None` if it holds none (or there is no
    /// clipboard).
    fn read(&self) -> Task<Option<String>>;
}

/// The system clipboard, through iced's runtime (which holds it for the
/// window's lifetime, so copied text stays available on X11).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClipboard;

impl Clipboard for SystemClipboard {
    fn write(&self, text: String) -> Task<()> {
        iced::clipboard::write(text)
    }

    fn read(&self) -> Task<Option<String>> {
        iced::clipboard::read()
    }
}

/// An in-memory clipboard whose contents tests can read and set. A read is
/// a task that delivers the contents at once.
#[derive(Debug, Clone, Default)]
pub struct MemoryClipboard(Arc<Mutex<Option<String>>>);

impl MemoryClipboard {
    pub fn contents(&self) -> Option<String> {
        self.0.lock().ok().and_then(|c| c.clone())
    }

    /// Puts `text` on the clipboard, as another program would.
    pub fn set(&self, text: impl Into<String>) {
        if let Ok(mut contents) = self.0.lock() {
            *contents = Some(text.into());
        }
    }
}

impl Clipboard for MemoryClipboard {
    fn write(&self, text: String) -> Task<()> {
        self.set(text);
        Task::none()
    }

    fn read(&self) -> Task<Option<String>> {
        Task::done(self.contents())
    }
}
