//! Settings of a chat engine. Every interval is here so tests can run the
//! protocol's timeouts in milliseconds.

use std::net::IpAddr;
use std::time::Duration;

use crate::addr::ServerAddr;
use crate::clock::Clock;
use crate::discovery::Reach;
use crate::key::Key;
use crate::payload::PROTO_MAX;
use crate::place::Identity;

/// Members a room holds by default, the server included
/// (`--max-members`).
pub const DEFAULT_MAX_MEMBERS: usize = 32;
/// The most `--max-members` may be: a roster lists at most
/// [`crate::payload::MAX_ROSTER`] members.
pub const MAX_MEMBERS_LIMIT: usize = crate::payload::MAX_ROSTER;

/// The protocol's timeouts and the client's reconnect backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Connecting a TCP socket.
    pub connect: Duration,
    /// The hello after accept. A real client sends it at once, so this is
    /// short: a silent or trickling stranger gives its place up quickly.
    pub hello: Duration,
    /// The later handshake steps: welcome after hello, ready after welcome.
    pub handshake: Duration,
    /// Send `ping` after this long without sending anything.
    pub ping_after: Duration,
    /// Declare the connection lost after this long without receiving anything.
    pub lost_after: Duration,
    /// First reconnect delay; it doubles per failed attempt...
    pub backoff_first: Duration,
    /// ...up to this.
    pub backoff_max: Duration,
    /// On close, how long to wait for the outbox to be acknowledged.
    pub close_grace: Duration,
    /// Protocol 2: how long a received message's ack may wait for others
    /// to share its frame.
    pub ack_delay: Duration,
    /// Rooms: how long the server keeps the place (name, and messages
    /// for it) of a member whose connection was lost.
    pub hold: Duration,
    /// Rooms: how long a connected member whose queue is full (so the
    /// room's next message waits for it) may go without acknowledging
    /// anything before it is disconnected as slow. The longest the room
    /// waits for a member that stopped reading.
    pub stall: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            connect: Duration::from_secs(10),
            hello: Duration::from_secs(3),
            handshake: Duration::from_secs(10),
            ping_after: Duration::from_secs(10),
            lost_after: Duration::from_secs(30),
            backoff_first: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            close_grace: Duration::from_secs(5),
            ack_delay: Duration::from_millis(100),
            hold: Duration::from_secs(300),
            stall: Duration::from_secs(5),
        }
    }
}

impl Timing {
    /// The delay before reconnect attempt `attempt` (1-based) that follows a
    /// failure: 0.5 s, 1 s, 2 s, ... capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        (self.backoff_first * 2u32.pow(doublings)).min(self.backoff_max)
    }
}

/// What both ends share.
#[derive(Debug, Clone)]
pub struct Config {
    pub key: Key,
    /// Our display name (cleaned before it is sent).
    pub name: String,
    pub clock: Clock,
    pub timing: Timing,
    /// The highest protocol version to speak (tests cap it to play a
    /// protocol-1 peer).
    pub max_proto: u32,
    /// Whether [`crate::ChatEvent::Sent`] and [`crate::ChatEvent::Received`] carry
    /// their Fernet tokens: for an app that shows ciphertext. Terminal mode
    /// never does, and then keeps no copy of a frame past reading it.
    pub tokens: bool,
    /// Discovery (PROTOCOL.md, "Discovery (UDP)"): the server answers
    /// probes on its TCP port; the client probes this reach while it
    /// reconnects, to follow a server that moved. `None` turns both off
    /// (`--no-discovery`).
    pub discovery: Option<Reach>,
    /// Our member id and the chain that proves it (rooms, protocol 3): a
    /// window keeps one for its whole life so that every reconnect takes
    /// its place back.
    pub identity: Identity,
}

impl Config {
    pub fn new(key: Key, name: impl Into<String>) -> Config {
        Config {
            key,
            name: name.into(),
            clock: Clock::system(),
            timing: Timing::default(),
            max_proto: PROTO_MAX,
            tokens: true,
            discovery: Some(Reach::Lan),
            identity: Identity::new(),
        }
    }
}

/// The name to use when none is given: the OS user name, if any.
pub fn default_name() -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_default()
}

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub chat: Config,
    /// 0 lets the OS pick (tests).
    pub port: u16,
    /// Listen on this address only; `None` is every interface, IPv4 and IPv6.
    pub bind: Option<IpAddr>,
    /// Members the room holds at most, the server included (2 to
    /// [`MAX_MEMBERS_LIMIT`]; [`DEFAULT_MAX_MEMBERS`] by default). The
    /// next one is refused with `ERR room-full`.
    pub max_members: usize,
}

/// The client's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub chat: Config,
    pub server: ServerAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let t = Timing::default();
        let secs: Vec<f32> = (1..=7).map(|a| t.backoff(a).as_secs_f32()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        assert_eq!(t.backoff(u32::MAX), t.backoff_max);
    }
}
