//! What the engine tells the window (events) and what the window asks of the
//! engine (a [`Handle`], or for the server a [`ServerHandle`]). The window
//! holds no sockets, only these.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::error::{ConnectError, Rejection};
use crate::key::Key;
use crate::payload::{MAX_TEXT_BYTES, random_id, weight};
use crate::session::Alert;
use crate::typed::{Hold, TypedQueue};

/// Who is on the other end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub addr: SocketAddr,
}

/// A member of a room (protocol 3; see PROTOCOL.md, "Rooms"). The server
/// is a member too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member id (22 characters), stable for the life of its window.
    pub id: String,
    /// Unique in the room, cleaned.
    pub name: String,
    /// Where it connects from; `None` for the server itself.
    pub addr: Option<SocketAddr>,
    /// When it joined (or came back), Unix ms.
    pub since: u64,
    /// Whether this member is the one reading the event.
    pub you: bool,
}

/// Why a member is no longer in the room (the `why` of a `left` frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It said `bye` (closed its window, or ended terminal mode).
    Bye,
    /// Its connection was lost; its place is kept for a while.
    Lost,
    /// The server removed it.
    Removed,
    /// It fell too far behind reading; its place is kept.
    Slow,
    /// A code this version does not know (cleaned, short).
    Other(String),
}

/// Why a live session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    #[error("{name} left ({reason})")]
    PeerLeft { name: String, reason: String },
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("the session was closed for security: {0}")]
    Alert(Alert),
    #[error("another connection with the key took over")]
    Replaced,
    /// Rooms: the server's user made a new key; this one no longer works.
    #[error("{name} changed the key: ask for the new key and paste it to chat again")]
    NewKey { name: String },
    /// Rooms: the server's user removed us; reconnecting is refused.
    #[error("the server removed you from this room")]
    Removed,
    /// Rooms: we fell too far behind reading; a reconnect catches up.
    #[error("the server disconnected this computer for falling behind reading; catching up")]
    Slow,
    #[error("you closed the chat")]
    Closed,
}

/// The Fernet token a message came or went in, for "Show ciphertext".
/// The messages of one frame share it: it is held once, and counted once,
/// by the first of them reported ([`Ciphertext::again`] for the others),
/// so a batch of 256 weighs what its token does, not 256 times that, even
/// when only some of its messages are reported (the others seen before).
/// Empty where the app shows no ciphertext ([`crate::Config::tokens`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ciphertext {
    token: Option<Arc<str>>,
    share: usize,
}

impl Ciphertext {
    /// `token`, counting all its bytes.
    pub fn of(token: Arc<str>) -> Ciphertext {
        Ciphertext {
            share: token.len(),
            token: Some(token),
        }
    }

    /// The same token for another message of its frame: counted already.
    pub fn again(&self) -> Ciphertext {
        Ciphertext {
            token: self.token.clone(),
            share: 0,
        }
    }

    /// The copy for the next message reported of its frame: the first
    /// taken counts the token, the rest ([`Ciphertext::again`]) nothing.
    pub fn take(&mut self) -> Ciphertext {
        let again = self.again();
        std::mem::replace(self, again)
    }

    /// Whether `other` is the same frame's token.
    pub fn same_frame(&self, other: &Ciphertext) -> bool {
        match (&self.token, &other.token) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub fn as_str(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }

    /// The bytes it counts for: the token's, or nothing for
    /// [`Ciphertext::again`].
    pub fn bytes(&self) -> usize {
        self.share
    }
}

impl From<&str> for Ciphertext {
    /// A token of one message.
    fn from(token: &str) -> Ciphertext {
        Ciphertext::of(token.into())
    }
}

/// What happens in the chat itself: both programs report it, and the chat
/// view and terminal mode show it the same way for either.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The peer's clock differs from ours by more than a minute: not an
    /// error (the protocol corrects for it), but worth telling the user.
    ClockOffset { secs: i64 },
    /// A message from the peer, shown once (a re-sent copy is acked but not
    /// reported again). `token` is the Fernet token it arrived in.
    Received {
        id: String,
        from: String,
        text: String,
        sent_at: u64,
        token: Ciphertext,
    },
    /// One of our messages went out in `token`.
    Sent { id: String, token: Ciphertext },
    /// Rooms: the server took our message `id` and relays it to `to`
    /// members; [`ChatEvent::Delivered`] follows for each that receives it.
    Relayed { id: String, to: usize },
    /// Rooms: member `by` (a name) received our message `id`.
    Delivered { id: String, by: String },
    /// Rooms: a member joined, or came back to its place.
    Joined(Member),
    /// Rooms: a member left the room, and why.
    Left { member: Member, why: Why },
    /// `from` (a name) started or stopped typing.
    Typing { from: String, active: bool },
}

/// Everything the server engine reports, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// What happens in the room.
    Chat(ChatEvent),
    /// A connection that never became a session, or a discovery datagram
    /// that was not answered, and why.
    Rejected { addr: SocketAddr, reason: Rejection },
    /// A discovery probe under the key from `from` was answered.
    Probed { from: SocketAddr },
    /// New connections must now use this key (after [`ServerHandle::set_key`]).
    KeyChanged(Key),
    /// The engine stopped after [`ServerHandle::close`] or
    /// [`ServerHandle::quit`]. The stream ends after it.
    Closed,
}

/// Everything the client engine reports, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// What happens in the chat.
    Chat(ChatEvent),
    /// Trying to reach the server (attempt 1 is the first connect).
    Connecting { attempt: u32, server: String },
    /// The connection was lost; the next attempt starts in `delay`.
    Retrying {
        attempt: u32,
        delay: Duration,
        error: ConnectError,
    },
    /// The handshake completed: chatting with `peer`. `resent` messages
    /// waiting in the outbox (typed while offline, or not acknowledged before
    /// a lost connection) went out first, in order.
    Connected { peer: Peer, resent: usize },
    /// The peer confirmed it decrypted our message `id` (a two-person
    /// chat: protocol 1 or 2).
    Acked { id: String },
    /// Rooms: who is in the room now (at the start of each session;
    /// against a protocol-1 or 2 server, the server and us).
    Roster(Vec<Member>),
    /// The session ended; see [`Ended`]. An [`Ended::Alert`] is a security alert.
    Disconnected(Ended),
    /// While reconnecting, the server (`name`) answered a probe from
    /// another address; the client connects to `to` from now on.
    Moved { name: String, to: SocketAddr },
    /// Could not connect and will not retry (wrong key, refused at the
    /// first attempt, ...). The event stream ends after it.
    Failed(ConnectError),
    /// The engine stopped after [`Handle::close`] or [`Handle::quit`]. The
    /// stream ends after it.
    Closed,
}

impl From<ChatEvent> for ServerEvent {
    fn from(event: ChatEvent) -> ServerEvent {
        ServerEvent::Chat(event)
    }
}

impl From<ChatEvent> for ClientEvent {
    fn from(event: ChatEvent) -> ClientEvent {
        ClientEvent::Chat(event)
    }
}

/// Roughly the memory an event holds, for the bound on the engine's event
/// queue ([`crate::link::EVENT_QUEUE_BYTES`]): the texts a peer chooses
/// the size of, and the event itself.
pub(crate) trait Weight {
    fn weight(&self) -> usize;
}

impl ChatEvent {
    /// The bytes of the texts a peer chooses the size of.
    fn held(&self) -> usize {
        match self {
            ChatEvent::Received {
                id,
                from,
                text,
                token,
                ..
            } => id.len() + from.len() + text.len() + token.bytes(),
            ChatEvent::Sent { id, token } => id.len() + token.bytes(),
            _ => 0,
        }
    }
}

impl Weight for ServerEvent {
    fn weight(&self) -> usize {
        let held = match self {
            ServerEvent::Chat(chat) => chat.held(),
            ServerEvent::Rejected { .. }
            | ServerEvent::Probed { .. }
            | ServerEvent::KeyChanged(_)
            | ServerEvent::Closed => 0,
        };
        size_of::<ServerEvent>() + held
    }
}

impl Weight for ClientEvent {
    fn weight(&self) -> usize {
        let held = match self {
            ClientEvent::Chat(chat) => chat.held(),
            ClientEvent::Connecting { .. }
            | ClientEvent::Retrying { .. }
            | ClientEvent::Connected { .. }
            | ClientEvent::Acked { .. }
            | ClientEvent::Roster(_)
            | ClientEvent::Disconnected(_)
            | ClientEvent::Moved { .. }
            | ClientEvent::Failed(_)
            | ClientEvent::Closed => 0,
        };
        size_of::<ClientEvent>() + held
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the message is {len} bytes; the limit is {max} bytes", max = MAX_TEXT_BYTES)]
    TooLong { len: usize },
    #[error("the message is empty")]
    Empty,
    #[error("the chat engine has stopped")]
    Stopped,
    /// The messages sent before it still wait to go out, as many as the
    /// engine keeps ([`crate::TYPED_QUEUE_BYTES`]).
    #[error(
        "{max} MiB of earlier messages are still waiting to go out; send this once some are delivered",
        max = crate::TYPED_QUEUE_BYTES / (1024 * 1024)
    )]
    QueueFull,
}

/// What either program's window asks of its engine.
#[derive(Debug)]
pub(crate) enum Command {
    Send {
        id: String,
        text: String,
        sent_at: u64,
        /// Its share of the typed queue, for as long as the engine holds it.
        hold: Hold,
    },
    Typing(bool),
    HangUp,
    Close,
    Quit,
}

/// What the server's window asks of its engine: the shared commands, and
/// those only a room's host can give.
#[derive(Debug)]
pub(crate) enum ServerCommand {
    Chat(Command),
    SetKey(Key),
    /// Remove a member and refuse it until [`ServerCommand::Allow`].
    Remove(String),
    Allow(String),
}

impl From<Command> for ServerCommand {
    fn from(cmd: Command) -> ServerCommand {
        ServerCommand::Chat(cmd)
    }
}

/// Where a [`Handle`]'s commands go: each engine reads one channel, so the
/// server's shared commands stay in order with its own.
#[derive(Debug, Clone)]
enum CommandTx {
    Client(mpsc::UnboundedSender<Command>),
    Server(mpsc::UnboundedSender<ServerCommand>),
}

impl CommandTx {
    /// `false` once the engine has stopped.
    fn send(&self, cmd: Command) -> bool {
        match self {
            CommandTx::Client(tx) => tx.send(cmd).is_ok(),
            CommandTx::Server(tx) => tx.send(cmd.into()).is_ok(),
        }
    }
}

/// What both windows can ask of their engine: cheap to clone, never blocks.
/// Dropping every handle closes the chat like [`Handle::close`]. The server
/// engine hands out a [`ServerHandle`], which can do more; a `Handle` (all
/// the client gets) cannot even be asked to:
///
/// ```compile_fail,E0599
/// fn new_key(client: &common::Handle, key: common::Key) {
///     client.set_key(key);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Handle {
    tx: CommandTx,
    clock: Clock,
    typed: TypedQueue,
}

impl Handle {
    /// A client engine's handle and the commands it reads.
    pub(crate) fn new(clock: Clock) -> (Handle, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Handle {
            tx: CommandTx::Client(tx),
            clock,
            typed: TypedQueue::new(),
        };
        (handle, rx)
    }

    /// Queues a message; it stays in the outbox until the peer acks it, and is
    /// sent as soon as a session is up. Returns its id.
    pub fn send(&self, text: impl Into<String>) -> Result<String, SendError> {
        let text = text.into();
        if text.is_empty() {
            return Err(SendError::Empty);
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(SendError::TooLong { len: text.len() });
        }
        let Some(hold) = self.typed.hold(weight(text.len())) else {
            return Err(SendError::QueueFull);
        };
        let id = random_id();
        let sent_at = self.clock.now_ms();
        let queued = self.tx.send(Command::Send {
            id: id.clone(),
            text,
            sent_at,
            hold,
        });
        if !queued {
            return Err(SendError::Stopped);
        }
        Ok(id)
    }

    /// Tells the peer we started or stopped typing (dropped when offline).
    pub fn typing(&self, active: bool) {
        self.tx.send(Command::Typing(active));
    }

    /// Ends the current session with `bye` but keeps the engine running: the
    /// server goes back to waiting, the client stops.
    pub fn hang_up(&self) {
        self.tx.send(Command::HangUp);
    }

    /// Finishes the chat: says `bye` once everything sent is delivered,
    /// then stops; the last event is `Closed` ([`ServerEvent::Closed`],
    /// [`ClientEvent::Closed`]). While nobody is
    /// connected and something is undelivered, the server keeps waiting for
    /// someone and the client keeps reconnecting (a first connection that
    /// fails still ends in [`ClientEvent::Failed`]); a connected peer that stops
    /// acknowledging gets [`crate::Timing::close_grace`] without progress.
    pub fn close(&self) {
        self.tx.send(Command::Close);
    }

    /// Leaves now: `bye` if connected, no waiting for what is undelivered
    /// (whatever was not acknowledged is lost).
    pub fn quit(&self) {
        self.tx.send(Command::Quit);
    }
}

/// The server window's side of its engine: what every [`Handle`] can do,
/// and what only the room's host can (a new key, removing a member). Only
/// [`crate::Server::start`] makes one.
///
/// ```
/// fn new_key(server: &common::ServerHandle, key: common::Key) {
///     server.set_key(key);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ServerHandle {
    handle: Handle,
    tx: mpsc::UnboundedSender<ServerCommand>,
}

impl ServerHandle {
    pub(crate) fn new(clock: Clock) -> (ServerHandle, mpsc::UnboundedReceiver<ServerCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Handle {
            tx: CommandTx::Server(tx.clone()),
            clock,
            typed: TypedQueue::new(),
        };
        (ServerHandle { handle, tx }, rx)
    }

    /// The part both programs share, for code that serves either (the chat
    /// view, terminal mode).
    pub fn shared(&self) -> &Handle {
        &self.handle
    }

    /// See [`Handle::send`].
    pub fn send(&self, text: impl Into<String>) -> Result<String, SendError> {
        self.handle.send(text)
    }

    /// See [`Handle::typing`].
    pub fn typing(&self, active: bool) {
        self.handle.typing(active);
    }

    /// Disconnects everyone in the room (`bye` with reason `closed`) and
    /// goes back to waiting; see [`Handle::hang_up`].
    pub fn hang_up(&self) {
        self.handle.hang_up();
    }

    /// See [`Handle::close`].
    pub fn close(&self) {
        self.handle.close();
    }

    /// See [`Handle::quit`].
    pub fn quit(&self) {
        self.handle.quit();
    }

    /// Uses `key` from now on. Everyone in the room is disconnected (`bye`
    /// with reason `new-key`) and must paste the new key;
    /// [`ServerEvent::KeyChanged`] confirms it. Removed members are allowed
    /// back (they no longer have the key).
    pub fn set_key(&self, key: Key) {
        let _ = self.tx.send(ServerCommand::SetKey(key));
    }

    /// Disconnects member `id` (`bye` with reason `removed`) and refuses its
    /// reconnects until [`ServerHandle::allow`] or a new key.
    pub fn remove(&self, id: &str) {
        let _ = self.tx.send(ServerCommand::Remove(id.to_owned()));
    }

    /// Lets a removed member `id` join again.
    pub fn allow(&self, id: &str) {
        let _ = self.tx.send(ServerCommand::Allow(id.to_owned()));
    }
}
