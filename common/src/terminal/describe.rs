//! What terminal mode makes of each program's events: one relay serves
//! both programs, and each program's event type says what the relay does
//! with each of its events ([`Step`]) and which lines it says on stderr.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::Side;
use crate::error::Rejection;
use crate::event::{ChatEvent, ClientEvent, Ended, Member, ServerEvent};
use crate::wording;

/// A program's engine event, as terminal mode relays it.
pub trait EngineEvent: Send + 'static {
    /// Which program reports these: what "delivered" means in a room.
    const SIDE: Side;

    /// What the relay does with this event.
    fn step(self) -> Step;
}

/// One thing for the relay to do. Lines may quote the network;
/// [`super::Relay::status`] makes them safe.
pub enum Step {
    /// What happens in the chat: a message to print, a delivery mark to
    /// count, or a line about the room ([`chat`]).
    Chat(ChatEvent),
    /// Client, a two-person chat: the peer has our line `id`.
    Acked(String),
    /// Server: a connection or datagram turned away, to tally.
    Rejected { addr: SocketAddr, reason: Rejection },
    /// Server: a probe from `from` was answered, to tally.
    Probed { from: SocketAddr },
    /// A line on stderr, if the event deserves one.
    Say(Option<String>),
    /// The client could not connect, or was put out of the chat for good
    /// (removed, a new key, its place taken): the line says why, and the
    /// relay ends, failed.
    Failed(String),
    /// The engine stopped.
    Closed,
}

impl EngineEvent for ServerEvent {
    const SIDE: Side = Side::Server;

    fn step(self) -> Step {
        match self {
            ServerEvent::Chat(chat) => Step::Chat(chat),
            ServerEvent::Rejected { addr, reason } => Step::Rejected { addr, reason },
            ServerEvent::Probed { from } => Step::Probed { from },
            // Terminal mode never changes the key.
            ServerEvent::KeyChanged(_) => Step::Say(None),
            ServerEvent::Closed => Step::Closed,
        }
    }
}

impl EngineEvent for ClientEvent {
    const SIDE: Side = Side::Client;

    fn step(self) -> Step {
        let line = match self {
            ClientEvent::Chat(chat) => return Step::Chat(chat),
            ClientEvent::Acked { id } => return Step::Acked(id),
            ClientEvent::Failed(e) => return Step::Failed(format!("error: {e}")),
            ClientEvent::Closed => return Step::Closed,
            ClientEvent::Connecting { attempt: 1, server } => format!("connecting to {server}…"),
            ClientEvent::Connecting { attempt, server } => {
                format!("reconnecting to {server} (attempt {attempt})…")
            }
            ClientEvent::Retrying { delay, error, .. } => {
                format!("{error}; trying again in {:.1} s", delay.as_secs_f32())
            }
            ClientEvent::Connected { peer, resent } => {
                let mut line = format!("connected to {} ({})", peer.name, peer.addr);
                if resent > 0 {
                    let _ = write!(line, "; sent {resent} waiting message(s)");
                }
                line
            }
            ClientEvent::Disconnected(Ended::Alert(alert)) => {
                format!("SECURITY ALERT: {alert}; connection closed")
            }
            // Put out for good: what stdin still holds will never go.
            ClientEvent::Disconnected(
                ended @ (Ended::Removed | Ended::Replaced | Ended::NewKey { .. }),
            ) => return Step::Failed(format!("disconnected: {ended}")),
            ClientEvent::Disconnected(ended) => format!("disconnected: {ended}"),
            ClientEvent::Moved { name, to } => format!("{name} moved to {to}; connecting there"),
            ClientEvent::Roster(members) => in_the_room(&members),
        };
        Step::Say(Some(line))
    }
}

/// The stderr line for what happens in the chat, if it deserves one (a
/// message goes to stdout, delivery marks are counted).
pub(super) fn chat(event: &ChatEvent) -> Option<String> {
    Some(match event {
        ChatEvent::ClockOffset { secs } => format!(
            "note: the other computer's clock is {} s {} yours; messages still work",
            secs.unsigned_abs(),
            if *secs > 0 { "ahead of" } else { "behind" }
        ),
        ChatEvent::Joined(member) => wording::joined(member),
        ChatEvent::Left { member, why } => wording::left(member, why),
        ChatEvent::Received { .. }
        | ChatEvent::Sent { .. }
        | ChatEvent::Relayed { .. }
        | ChatEvent::Delivered { .. }
        | ChatEvent::Typing { .. } => return None,
    })
}

/// "in the room: bob, alice, you (carol)", in the roster's order.
fn in_the_room(members: &[Member]) -> String {
    let names: Vec<String> = members
        .iter()
        .map(|m| {
            if m.you {
                format!("you ({})", m.name)
            } else {
                m.name.clone()
            }
        })
        .collect();
    format!("in the room: {}", names.join(", "))
}
