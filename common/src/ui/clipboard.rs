//! The clipboard behind a trait, so tests can observe what a Copy button
//! copied, and so the system clipboard is one long-lived instance (on X11,
//! arboard serves copied text only while its `Clipboard` value lives).

use std::fmt;
use std::sync::{Arc, Mutex};

pub trait Clipboard: Send {
    /// Puts `text` on the clipboard; the error says why not.
    fn write(&mut self, text: &str) -> Result<(), String>;
    /// The clipboard's text, if any.
    fn read(&mut self) -> Result<String, String>;
}

/// The system clipboard (arboard), opened on first use so that a machine
/// without one (CI) only fails when the user actually copies or pastes.
#[derive(Default)]
pub struct SystemClipboard(Option<arboard::Clipboard>);

impl SystemClipboard {
    fn open(&mut self) -> Result<&mut arboard::Clipboard, String> {
        if self.0.is_none() {
            self.0 = Some(arboard::Clipboard::new().map_err(|e| e.to_string())?);
        }
        self.0.as_mut().ok_or_else(|| "no clipboard".to_owned())
    }
}

impl Clipboard for SystemClipboard {
    fn write(&mut self, text: &str) -> Result<(), String> {
        self.open()?.set_text(text).map_err(|e| e.to_string())
    }

    fn read(&mut self) -> Result<String, String> {
        self.open()?.get_text().map_err(|e| e.to_string())
    }
}

/// An in-memory clipboard whose contents tests can read.
#[derive(Clone, Default)]
pub struct MemoryClipboard(Arc<Mutex<Option<String>>>);

impl MemoryClipboard {
    pub fn contents(&self) -> Option<String> {
        self.0.lock().ok().and_then(|c| c.clone())
    }
}

impl Clipboard for MemoryClipboard {
    fn write(&mut self, text: &str) -> Result<(), String> {
        *self.0.lock().map_err(|e| e.to_string())? = Some(text.to_owned());
        Ok(())
    }

    fn read(&mut self) -> Result<String, String> {
        self.contents()
            .ok_or_else(|| "the clipboard is empty".to_owned())
    }
}

impl fmt::Debug for dyn Clipboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clipboard")
    }
}
