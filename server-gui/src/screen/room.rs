//! The room, once someone has joined: a compact header with the key (and
//! its Copy), New key and the addresses, so more people can join while the
//! others chat; the members removed, each with "Allow back". The chat and
//! its online list are below it (`common::ui::chat`).

use std::net::SocketAddr;

use common::Member;
use common::text::for_window;
use iced::widget::{Column, button, column, container, row, text};
use iced::{Element, Fill, Font};

use super::waiting::{Copied, Waiting};
use crate::engine::Engine;

/// What New key during a room does, said in the chat when it is clicked.
pub const NEW_KEY_NOTICE: &str = "New key: everyone was disconnected; give them the new key.";

/// Addresses shown in the header (the waiting screen lists them all).
const ADDRS_SHOWN: usize = 3;

#[derive(Debug, Clone)]
pub enum Message {
    CopyKey,
    CopyAddr(String),
    NewKey,
    /// Let removed member `id` join again.
    Allow(String),
}

/// What the window must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Copy(String),
    NewKey,
    Allow(String),
}

/// One session of the room (from the first join until it is empty).
#[derive(Debug, Default)]
pub struct Room {
    /// The chat has said that connections are turned away.
    pub told_of_rejections: bool,
}

impl Room {
    pub fn update(message: Message, waiting: &Waiting) -> Event {
        match message {
            Message::CopyKey => Event::Copy(waiting.key.clone()),
            Message::CopyAddr(addr) => Event::Copy(addr),
            Message::NewKey => Event::NewKey,
            Message::Allow(id) => Event::Allow(id),
        }
    }

    pub fn view<'a>(&'a self, waiting: &'a Waiting, engine: &'a Engine) -> Element<'a, Message> {
        let key = row![
            text("Key").size(13),
            text(waiting.key.as_str())
                .font(Font::MONOSPACE)
                .size(13)
                .width(Fill),
            button(
                text(match waiting.copied.as_ref() {
                    Some(Copied::Key) => "Copied",
                    _ => "Copy key",
                })
                .size(13)
            )
            .on_press(Message::CopyKey),
            button(text("New key").size(13))
                .style(button::secondary)
                .on_press_maybe(engine.handle().map(|_| Message::NewKey)),
        ]
        .spacing(8)
        .align_y(iced::Center);
        let mut col = column![key].spacing(6);
        if let Engine::Listening(listening) = engine {
            col = col.push(addresses(waiting, &listening.addrs));
            if !listening.removed.is_empty() {
                col = col.push(removed(&listening.removed));
            }
        }
        container(col).padding([8, 12]).width(Fill).into()
    }
}

/// "Join at 192.168.1.20:7878 10.0.0.5:7878 …" on one line; clicking an
/// address copies it (it then reads "copied").
fn addresses<'a>(waiting: &'a Waiting, addrs: &'a [SocketAddr]) -> Element<'a, Message> {
    let mut line = row![text("Join at").size(13)]
        .spacing(6)
        .align_y(iced::Center);
    for addr in addrs.iter().take(ADDRS_SHOWN) {
        let shown = addr.to_string();
        let label = match waiting.copied.as_ref() {
            Some(Copied::Addr(copied)) if *copied == shown => format!("{shown} (copied)"),
            _ => shown.clone(),
        };
        line = line.push(
            button(text(label).size(13).font(Font::MONOSPACE))
                .style(button::text)
                .padding([1, 4])
                .on_press(Message::CopyAddr(shown)),
        );
    }
    if addrs.len() > ADDRS_SHOWN {
        line = line.push(
            text(format!("and {} more", addrs.len() - ADDRS_SHOWN))
                .size(12)
                .style(text::secondary),
        );
    }
    line.wrap().vertical_spacing(4).into()
}

/// The members removed, each with "Allow back" (the waiting screen shows
/// them too).
pub fn removed(members: &[Member]) -> Element<'_, Message> {
    let mut list = Column::new().spacing(2);
    for member in members {
        list = list.push(
            row![
                text(format!("{} was removed", for_window(&member.name)))
                    .size(12)
                    .style(text::warning),
                button(text("Allow back").size(11))
                    .style(button::text)
                    .padding([0, 4])
                    .on_press(Message::Allow(member.id.clone())),
            ]
            .spacing(6)
            .align_y(iced::Center),
        );
    }
    list.into()
}
