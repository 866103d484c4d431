//! What both windows share (feature `ui`): the chat view, the clipboard, and
//! the engine as an iced subscription. Kept here, behind a feature, so the
//! two window crates stay thin and the engine itself builds without iced.

pub mod attention;
pub mod chat;
pub mod clipboard;
pub mod desktop;
pub mod engine;
pub mod entry;
pub mod focus;
pub mod notify;
pub mod roster;
pub mod style;
pub mod typing;

pub use clipboard::{Clipboard, MemoryClipboard, SystemClipboard};
pub use notify::{DesktopNotifier, MemoryNotifier, Notice, Notifier};
