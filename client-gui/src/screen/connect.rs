//! Where to connect and with which key. Each field says what is wrong with
//! it while typing; Connect is enabled only when both are valid.

use common::{Key, ServerAddr};
use iced::widget::{button, column, container, row, text, text_input, toggler};
use iced::{Element, Fill, Font};

pub const ADDRESS: &str = "address";

#[derive(Debug, Clone)]
pub enum Message {
    Address(String),
    Key(String),
    Name(String),
    ShowKey(bool),
    Paste,
    Connect,
    Cancel,
}

/// What the window must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Connect {
        server: ServerAddr,
        key: Key,
        name: String,
    },
    Cancel,
    Paste,
}

#[derive(Debug, Default)]
pub struct Connect {
    pub address: String,
    pub key: String,
    pub name: String,
    pub show_key: bool,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// An attempt is under way (shows progress and Cancel).
    pub connecting: bool,
}

impl Connect {
    pub fn server(&self) -> Result<ServerAddr, String> {
        self.address
            .parse()
            .map_err(|e: common::addr::AddrError| e.to_string())
    }

    pub fn parsed_key(&self) -> Result<Key, String> {
        Key::parse(&self.key).map_err(|e| e.to_string())
    }

    pub fn update(&mut self, message: Message) -> Option<Event> {
        match message {
            Message::Address(address) => self.address = address,
            Message::Key(key) => self.key = key,
            Message::Name(name) => self.name = name,
            Message::ShowKey(show) => self.show_key = show,
            Message::Paste => return Some(Event::Paste),
            Message::Cancel => return Some(Event::Cancel),
            // Enter submits whatever the fields hold when it is handled: the
            // view it was pressed in may predate the last keystrokes (a
            // paste and Enter in one batch), so validity is checked here.
            Message::Connect if !self.connecting => {
                if let (Ok(server), Ok(key)) = (self.server(), self.parsed_key()) {
                    return Some(Event::Connect {
                        server,
                        key,
                        name: self.name.clone(),
                    });
                }
            }
            // Already connecting: a second Enter does not start another.
            Message::Connect => {}
        }
        None
    }

    pub fn view(&self) -> Element<'_, Message> {
        let server = self.server();
        let key = self.parsed_key();
        let ready = server.is_ok() && key.is_ok() && !self.connecting;

        let mut col = column![text("Connect to a fernet-chat server").size(22)].spacing(6);
        col = col.push(text("Server address"));
        col = col.push(
            text_input("192.168.1.20 or 192.168.1.20:7878", &self.address)
                .id(ADDRESS)
                .on_input(Message::Address)
                .on_submit(Message::Connect),
        );
        col = col.push(field_error(&self.address, server.err()));
        col = col.push(text("Key"));
        col = col.push(
            row![
                text_input("the 44-character key the server window shows", &self.key)
                    .secure(!self.show_key)
                    .font(Font::MONOSPACE)
                    .on_input(Message::Key)
                    .on_submit(Message::Connect)
                    .width(Fill),
                button("Paste")
                    .style(button::secondary)
                    .on_press(Message::Paste),
                toggler(self.show_key)
                    .label("Show")
                    .on_toggle(Message::ShowKey),
            ]
            .spacing(8)
            .align_y(iced::Center),
        );
        col = col.push(field_error(&self.key, key.err()));
        col = col.push(text("Your name (optional)"));
        col = col.push(
            text_input("anonymous", &self.name)
                .on_input(Message::Name)
                .on_submit(Message::Connect),
        );

        let action = if self.connecting {
            row![
                text("Connecting…").style(text::secondary),
                button("Cancel")
                    .style(button::secondary)
                    .on_press(Message::Cancel),
            ]
        } else {
            row![button("Connect").on_press_maybe(ready.then_some(Message::Connect))]
        };
        col = col.push(action.spacing(12).align_y(iced::Center));
        if let Some(error) = &self.error {
            col = col.push(text(error.as_str()).style(text::danger));
        }
        container(col.spacing(8).max_width(560))
            .padding(24)
            .center_x(Fill)
            .into()
    }
}

/// The error under a field, once the user has typed something.
fn field_error<'a>(input: &str, error: Option<String>) -> Element<'a, Message> {
    match error {
        Some(error) if !input.trim().is_empty() => text(error).size(13).style(text::danger).into(),
        _ => text("").size(13).into(),
    }
}
