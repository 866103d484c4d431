//! What the chat view makes of the engine's events: [`Chat::on_chat`] for
//! what happens in the chat (either window), and a method for each thing
//! only the client's engine reports, which the client window calls. The
//! server window has nothing of its own to hand the chat.

use std::net::SocketAddr;

use iced::Task;

use super::{Chat, Message};
use crate::error::ConnectError;
use crate::event::{ChatEvent, Ended, Peer};
use crate::ui::entry::{ChatMessage, Delivery, Entry, Tone};
use crate::wording;

impl Chat {
    /// Takes in what happens in the chat. `now` is Unix ms for system lines.
    pub fn on_chat(&mut self, event: &ChatEvent, now: u64) -> Task<Message> {
        match event {
            ChatEvent::ClockOffset { secs } => self.system(
                format!(
                    "{}'s clock is {} s {} yours. Messages still work; times shown are theirs.",
                    self.peer
                        .as_ref()
                        .map_or("The other computer", |p| p.name.as_str()),
                    secs.unsigned_abs(),
                    if *secs > 0 { "ahead of" } else { "behind" },
                ),
                Tone::Notice,
                now,
            ),
            ChatEvent::Received {
                id,
                from,
                text,
                sent_at,
                token,
            } => {
                self.typing.set(from, false);
                self.attention.received(from, text);
                let mut m =
                    ChatMessage::new(id.clone(), from.clone(), false, text.clone(), *sent_at);
                m.token = Some(token.clone());
                m.delivery = Delivery::Delivered;
                self.push(Entry::Message(m))
            }
            ChatEvent::Sent { id, token } => {
                self.delivery(id, Delivery::Sent, Some(token.clone()));
                Task::none()
            }
            ChatEvent::Relayed { id, to } => {
                self.delivery(id, Delivery::Relayed { to: *to }, None);
                Task::none()
            }
            ChatEvent::Delivered { id, by } => {
                if let Some(m) = self.mine_mut(id) {
                    m.delivered_to(by);
                }
                Task::none()
            }
            ChatEvent::Joined(member) => {
                self.roster.joined(member.clone());
                if member.you {
                    return Task::none();
                }
                self.system(wording::joined(member), Tone::Info, now)
            }
            ChatEvent::Left { member, why } => {
                self.typing.set(&member.name, false);
                if !self.roster.left(&member.id) {
                    return Task::none();
                }
                self.system(wording::left(member, why), Tone::Info, now)
            }
            ChatEvent::Typing { from, active } => {
                self.typing.set(from, *active);
                Task::none()
            }
        }
    }

    /// Client: a session with `peer` started.
    pub fn connected(&mut self, peer: &Peer, now: u64) -> Task<Message> {
        self.peer = Some(peer.clone());
        self.typing.clear();
        self.system(
            format!("Connected to {} ({})", peer.name, peer.addr),
            Tone::Info,
            now,
        )
    }

    /// Client: the peer confirmed our message `id` (a two-person chat).
    pub fn acked(&mut self, id: &str) {
        self.delivery(id, Delivery::Delivered, None);
    }

    /// Client: the session ended; what was sent and not confirmed is
    /// marked not delivered.
    pub fn disconnected(&mut self, ended: &Ended, now: u64) -> Task<Message> {
        self.typing.clear();
        for m in self.entries.iter_mut() {
            if let Entry::Message(m) = m
                && m.mine
                && m.delivery == Delivery::Sent
            {
                m.delivery = Delivery::NotDelivered;
            }
        }
        let (text, tone) = match ended {
            Ended::Alert(alert) => (
                format!("Security alert: {alert}. The connection was closed."),
                Tone::Alert,
            ),
            other => (format!("Disconnected: {other}"), Tone::Info),
        };
        self.system(text, tone, now)
    }

    /// Client: could not connect, and will not retry.
    pub fn failed(&mut self, error: &ConnectError, now: u64) -> Task<Message> {
        self.system(format!("Could not connect: {error}"), Tone::Alert, now)
    }

    /// Client: the server (`name`) answered from `to`; connecting there.
    pub fn moved(&mut self, name: &str, to: SocketAddr, now: u64) -> Task<Message> {
        self.system(
            format!("{name} moved to {to}; connecting there"),
            Tone::Info,
            now,
        )
    }
}
