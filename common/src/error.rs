//! Errors at the engine's boundary, each worded for the person at the window.
//! They are `Clone` (iced messages must be), so I/O errors are kept as text.

use std::io;
use std::net::SocketAddr;

use crate::admission;
use crate::codec::HANDSHAKE_LINE_MAX;
use crate::event::Ended;
use crate::handshake::ErrCode;
use crate::session::Alert;

/// Why the client could not (re)connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("could not find the computer \"{host}\": check the address")]
    Unresolvable { host: String },
    #[error("looking up \"{host}\" took too long: check the address and this computer's network")]
    LookupTimedOut { host: String },
    #[error("{addr} refused the connection: is the server window open, and the port right?")]
    Refused { addr: SocketAddr },
    #[error("{addr} cannot be reached from this network")]
    Unreachable { addr: SocketAddr },
    #[error("{addr} did not answer in time: check the address and the server's firewall")]
    TimedOut { addr: SocketAddr },
    #[error("the server uses a different key: paste the key its window shows")]
    KeyMismatch,
    #[error("the server could not prove it holds the key: wrong key, or not the server you think")]
    ServerUnproven,
    #[error("the server speaks another version of the protocol ({0})")]
    Version(String),
    #[error("the server refused the connection: {0}")]
    ServerSaid(String),
    #[error(
        "the room is full: someone has to leave first, or the server can allow more \
         members (--max-members)"
    )]
    RoomFull,
    #[error("the server removed you from this room")]
    Removed,
    /// `ERR place` even as a new member: the client renews its member id
    /// once per attempt, so this is what a second refusal reads.
    #[error("the server would not let this window into the room, even as a new member: {0}")]
    Place(String),
    #[error("{addr} is not a fernet-chat server")]
    NotFernetChat { addr: SocketAddr },
    #[error("the server closed the connection during the handshake")]
    ClosedEarly,
    #[error(
        "the server answered \"{0}\", but that answer is not authenticated and the key \
         worked before"
    )]
    Unauthenticated(String),
    #[error("the last session ended right after it started ({0})")]
    ShortSession(Ended),
    #[error("network error: {0}")]
    Io(String),
}

impl ConnectError {
    /// Classifies an I/O error from connecting to `addr`.
    pub(crate) fn from_io(addr: SocketAddr, e: &io::Error) -> ConnectError {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => ConnectError::Refused { addr },
            io::ErrorKind::TimedOut => ConnectError::TimedOut { addr },
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                ConnectError::Unreachable { addr }
            }
            io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => {
                ConnectError::ClosedEarly
            }
            _ => ConnectError::Io(e.to_string()),
        }
    }
}

/// Why the server turned a connection away before it became a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("tried a different key")]
    KeyMismatch,
    #[error("speaks another protocol version")]
    Version,
    #[error("sent a line over the {HANDSHAKE_LINE_MAX}-byte handshake limit")]
    TooLarge,
    #[error("said nothing valid within the time limit")]
    Timeout,
    #[error("got a welcome but never confirmed it (no `ready` in time)")]
    NoReady,
    #[error(
        "was dropped unfinished to make room ({} handshakes from one address, {} in all)",
        admission::PER_SOURCE,
        admission::TOTAL
    )]
    Crowded,
    #[error("sent something that is not fernet-chat")]
    Garbage,
    #[error(
        "sent a hello that was sent before (a recording replayed: someone may be \
         recording this network)"
    )]
    Replayed,
    #[error("could not join: the room is full")]
    RoomFull,
    #[error("was removed from the room and tried to come back")]
    Removed,
    #[error("claimed another member's place without its proof")]
    Place,
    #[error("disconnected before finishing the handshake")]
    ClosedEarly,
    #[error("failed the handshake: {0}")]
    Handshake(Alert),
    #[error("sent a UDP datagram that is not a discovery probe with this key")]
    BadProbe,
    #[error(
        "looked for this server with a probe {off_secs} s off this computer's clock \
         (a recording replayed, or a wrong clock)"
    )]
    StaleProbe { off_secs: u64 },
}

impl Rejection {
    pub(crate) fn from_code(code: ErrCode) -> Rejection {
        match code {
            ErrCode::KeyMismatch => Rejection::KeyMismatch,
            ErrCode::Version => Rejection::Version,
            ErrCode::TooLarge => Rejection::TooLarge,
            ErrCode::Timeout => Rejection::Timeout,
            ErrCode::BadHello => Rejection::Garbage,
            ErrCode::RoomFull => Rejection::RoomFull,
            ErrCode::Removed => Rejection::Removed,
            ErrCode::Place => Rejection::Place,
        }
    }
}

/// Why the server could not start listening.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("port {port} is already in use by another program: pick another port")]
    InUse { port: u16 },
    #[error("no permission to listen on port {port}: ports below 1024 need administrator rights")]
    Permission { port: u16 },
    #[error("{addr} is not an address of this computer")]
    NotLocal { addr: String },
    #[error("could not listen on port {port}: {reason}")]
    Other { port: u16, reason: String },
}

impl BindError {
    pub(crate) fn from_io(addr: SocketAddr, e: &io::Error) -> BindError {
        let port = addr.port();
        match e.kind() {
            io::ErrorKind::AddrInUse => BindError::InUse { port },
            io::ErrorKind::PermissionDenied => BindError::Permission { port },
            io::ErrorKind::AddrNotAvailable => BindError::NotLocal {
                addr: addr.ip().to_string(),
            },
            _ => BindError::Other {
                port,
                reason: e.to_string(),
            },
        }
    }
}
