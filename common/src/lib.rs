//! fernet-chat's engine: everything but the windows.
//!
//! Two people on one LAN share a Fernet key; the server listens, the client
//! connects, and every line on the wire is a Fernet token (see PROTOCOL.md).
//! The windows and the terminal mode talk to this crate only through a
//! handle and a stream of events, each program its own: the client a
//! [`Handle`] (send, typing, close) and [`ClientEvent`]s, the server a
//! [`ServerHandle`] (the same, plus a new key and removing members) and
//! [`ServerEvent`]s, with what happens in the chat itself ([`ChatEvent`])
//! common to both.
//!
//! # Layout
//! - [`key`]: generating and parsing keys.
//! - [`codec`]: LF line framing with size limits.
//! - [`token`]: Fernet tokens with the protocol's time rules.
//! - [`payload`]: the JSON inside tokens.
//! - [`handshake`]: hello / welcome / ready and `ERR` lines.
//! - [`place`]: a member's place in a room and how a reconnect proves it.
//! - [`session`]: sealing and checking session frames (sid, dir, seq, age).
//! - [`server`], [`client`]: the tokio tasks that listen or connect;
//!   [`admission`]: how many connections may be mid-handshake.
//! - [`event`]: the handles and the events the windows use; `typed`: how
//!   much of what the user typed they keep.
//! - [`addr`]: typed server addresses and this machine's LAN addresses.
//! - [`discovery`]: finding the server on the LAN with the key alone (UDP).
//! - [`terminal`]: the `--headless` mode both binaries share; `signals`:
//!   Ctrl+C and SIGTERM, for it and the windows.
//! - [`text`]: text from the network made safe to show (terminal and window).
//! - [`wording`]: the words for joins, leaves and delivery, for both.
//! - `settings` (feature `ui`): what the windows remember between runs.
//! - `ui` (feature `ui`): the chat view and engine subscription both windows
//!   share.

pub mod addr;
pub mod admission;
mod bucket;
pub mod client;
pub mod clock;
pub mod codec;
mod commands;
pub mod config;
pub mod discovery;
pub mod error;
pub mod event;
pub mod handshake;
pub mod key;
mod link;
mod outbox;
pub mod payload;
pub mod place;
#[cfg(test)]
mod protocol_doc;
pub mod server;
pub mod session;
#[cfg(feature = "ui")]
pub mod settings;
mod signals;
pub mod terminal;
pub mod text;
pub mod token;
mod typed;
#[cfg(feature = "ui")]
pub mod ui;
pub mod wording;

pub use addr::{DEFAULT_PORT, ServerAddr};
pub use clock::Clock;
pub use config::{ClientConfig, Config, DEFAULT_MAX_MEMBERS, ServerConfig, Timing};
pub use error::{BindError, ConnectError, Rejection};
pub use event::{
    ChatEvent, Ciphertext, ClientEvent, Ended, Handle, Member, Peer, SendError, ServerEvent,
    ServerHandle, Why,
};
pub use key::{Key, KeyError};
pub use link::SEND_WINDOW;
pub use server::Server;
pub use session::Alert;
pub use typed::TYPED_QUEUE_BYTES;
