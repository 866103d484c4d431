//! Key-encrypted LAN discovery: the client finds the server with the key
//! alone, and only someone holding the key can find it (PROTOCOL.md,
//! "Discovery (UDP)").
//!
//! A probe and its answer are Fernet tokens under the chat key, sent over
//! UDP on the TCP port: to IPv4 directed broadcast on every usable
//! interface, an administratively scoped IPv4 multicast group and an IPv6
//! link-local one. A stranger sees fixed-size random datagrams go by. The
//! server answers only a probe that decrypts, is current and new, at a
//! bounded rate and never with more bytes than it was sent.
//!
//! # Layout
//! - `limits`: every bound and constant.
//! - `wire`: the probe and answer datagrams.
//! - `gate`: the server's replay memory and rate limits.
//! - `interfaces`: which interfaces are probed and announced.
//! - `responder`: the server's UDP side.
//! - `search`: the client's search ([`search()`], [`search_with`]).
//! - `roam`: reconnecting to a server that moved.
//! - `udp`: sockets both sides open.

mod gate;
mod interfaces;
pub mod limits;
pub(crate) mod responder;
pub(crate) mod roam;
mod search;
mod udp;
mod wire;

pub use interfaces::{VIRTUAL_PREFIXES, is_virtual};
pub use responder::ResponderError;
pub use search::{Found, Reach, SearchConfig, SearchError, search, search_with};
pub use wire::VERSION;
