//! Waiting for the other person: the key to give them, the addresses they
//! can reach us at, the name they will see, who looked for this server, and
//! what happened to connection attempts so far.

mod probes;
mod tally;

use std::net::SocketAddr;

use common::BindError;
use common::text::for_window;
use iced::widget::{Column, button, column, container, row, scrollable, text, text_input};
use iced::{Element, Fill, Font};

use crate::engine::Engine;

pub use probes::Probes;
pub use tally::{ROWS, Row, Tally};

/// The key's Copy button (its label changes to "Copied" for a while).
pub const COPY_KEY: &str = "copy-key";
/// The name field.
pub const NAME: &str = "server-name";

/// Text size of a tallied row, the gap between rows, and the tally's height:
/// [`ROWS`] one-line rows.
const ROW_TEXT: f32 = 13.0;
const ROW_SPACING: f32 = 2.0;
const TALLY_HEIGHT: f32 = ROWS as f32 * (ROW_TEXT * 1.3 + ROW_SPACING);

#[derive(Debug, Clone)]
pub enum Message {
    CopyKey,
    CopyAddr(String),
    NewKey,
    PortInput(String),
    Retry,
    NameInput(String),
    /// Enter in the name field, or its Use button.
    UseName,
}

/// What the window must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Copy(String),
    NewKey,
    /// Listen on this port instead.
    Listen(u16),
    /// Announce this name from now on.
    Rename(String),
}

/// Which copy button last copied, to show "Copied" next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    Key,
    Addr(String),
}

/// What the waiting screen shows and keeps; the room's header shows the
/// key from it too, and the tally outlives each session.
#[derive(Debug, Default)]
pub struct Waiting {
    pub key: String,
    pub port_input: String,
    pub copied: Option<Copied>,
    /// Connections turned away, counted per source and kind.
    pub turned_away: Tally,
    /// The name typed in the name field.
    pub name_input: String,
    /// The name the server announces now.
    pub name: String,
    /// Why the name cannot change now, or settings that could not be read
    /// or saved (one line).
    pub note: Option<String>,
    /// Who looked for this server (discovery probes answered).
    pub probes: Probes,
}

impl Waiting {
    pub fn update(&mut self, message: Message) -> Option<Event> {
        match message {
            Message::CopyKey => Some(Event::Copy(self.key.clone())),
            Message::CopyAddr(addr) => Some(Event::Copy(addr)),
            Message::NewKey => Some(Event::NewKey),
            Message::PortInput(port) => {
                self.port_input = port;
                None
            }
            Message::Retry => self.port().ok().map(Event::Listen),
            Message::NameInput(name) => {
                self.name_input = name;
                None
            }
            Message::UseName => self.renamed().map(Event::Rename),
        }
    }

    /// The name typed, if it is a change.
    fn renamed(&self) -> Option<String> {
        let name = self.name_input.trim();
        (!name.is_empty() && name != self.name).then(|| name.to_owned())
    }

    /// The port typed after a bind error, or why it is not one.
    pub fn port(&self) -> Result<u16, String> {
        self.port_input
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| "a port is a number from 1 to 65535".to_owned())
    }

    pub fn copied_label(&self, which: &Copied) -> &'static str {
        if self.copied.as_ref() == Some(which) {
            "Copied"
        } else {
            "Copy"
        }
    }

    /// The screen as `engine` stands: New key only with an engine to ask.
    pub fn view<'a>(&'a self, engine: &'a Engine) -> Element<'a, Message> {
        let key_row = row![
            text_input("", &self.key)
                .font(Font::MONOSPACE)
                .on_input(|_| Message::CopyKey)
                .width(Fill),
            container(button(self.copied_label(&Copied::Key)).on_press(Message::CopyKey))
                .id(COPY_KEY),
            button("New key")
                .style(button::secondary)
                .on_press_maybe(engine.handle().map(|_| Message::NewKey)),
        ]
        .spacing(8)
        .align_y(iced::Center);

        let name_row = row![
            text("Your name"),
            text_input("the name the other person sees", &self.name_input)
                .id(NAME)
                .on_input(Message::NameInput)
                .on_submit(Message::UseName)
                .width(Fill),
            button("Use")
                .style(button::secondary)
                .on_press_maybe(self.renamed().map(|_| Message::UseName)),
        ]
        .spacing(8)
        .align_y(iced::Center);

        let mut col =
            column![text("Give the other person this key").size(16), key_row,].spacing(10);

        col = col.push(match engine {
            Engine::Failed(error) => self.bind_failed(error),
            Engine::Starting | Engine::Restarting(_) => text("Starting…").into(),
            Engine::Listening(listening) => self.addresses(&listening.addrs),
        });
        col = col.push(name_row);
        if let Some(note) = &self.note {
            col = col.push(text(note.as_str()).size(13).style(text::warning));
        }
        if let Engine::Listening(listening) = engine
            && let Some(why) = &listening.unsearchable
        {
            col = col.push(text(why.as_str()).size(ROW_TEXT).style(text::warning));
        }
        for line in self.probes.lines() {
            col = col.push(text(line).size(ROW_TEXT).style(text::secondary));
        }
        if !self.turned_away.is_empty() {
            col = col.push(self.turned_away());
        }
        container(col).padding(16).width(Fill).into()
    }

    /// The tally in a fixed height (a long row that wraps scrolls within
    /// it), so that no number of strangers pushes the message box away.
    fn turned_away(&self) -> Element<'_, Message> {
        let mut rows = Column::new().spacing(ROW_SPACING);
        for row in self.turned_away.rows() {
            // A reason may quote the network (what a frame held).
            let line = for_window(&row.describe()).into_owned();
            rows = rows.push(text(line).size(ROW_TEXT).style(text::warning));
        }
        scrollable(rows).height(TALLY_HEIGHT).into()
    }

    fn addresses<'a>(&'a self, addrs: &'a [SocketAddr]) -> Element<'a, Message> {
        let mut list = Column::new().spacing(4);
        for addr in addrs {
            let shown = addr.to_string();
            let label = self.copied_label(&Copied::Addr(shown.clone()));
            let mut line = text(shown.clone()).font(Font::MONOSPACE);
            if addr.ip().is_loopback() {
                line = line.style(text::secondary);
            }
            list = list.push(
                row![
                    line,
                    button(text(label).size(12))
                        .style(button::secondary)
                        .on_press(Message::CopyAddr(shown))
                ]
                .spacing(8)
                .align_y(iced::Center),
            );
        }
        column![
            text("…and one of these addresses (the first is usually right):").size(16),
            list,
            // A still dot, not a spinner: an idle window draws nothing.
            row![
                text("●").size(12).style(text::success),
                text("Waiting for someone to connect…").style(text::secondary),
            ]
            .spacing(6)
            .align_y(iced::Center),
        ]
        .spacing(8)
        .into()
    }

    fn bind_failed<'a>(&'a self, error: &'a BindError) -> Element<'a, Message> {
        let port = self.port();
        let mut col = column![
            text(format!("Cannot listen: {error}.")).style(text::danger),
            row![
                text("Port"),
                text_input("7879", &self.port_input)
                    .on_input(Message::PortInput)
                    .on_submit(Message::Retry)
                    .width(100),
                button("Listen").on_press_maybe(port.is_ok().then_some(Message::Retry)),
            ]
            .spacing(8)
            .align_y(iced::Center),
        ]
        .spacing(8);
        if let Err(why) = port
            && !self.port_input.is_empty()
        {
            col = col.push(text(why).size(13).style(text::danger));
        }
        col.into()
    }
}
