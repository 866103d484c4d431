//! Where to connect and with which key. The key comes first: once it is
//! valid, the servers that use it are looked for on the network and listed,
//! each with its Connect button (the only one found is preselected, so
//! Enter connects to it). An address can still be typed, for networks that
//! block the search. Each field says what is wrong with it while typing.

pub mod search;

use common::payload::clean_name;
use common::settings::RememberedServer;
use common::text::for_window;
use common::{Key, ServerAddr};
use iced::widget::{button, checkbox, column, container, row, rule, text, text_input, toggler};
use iced::{Element, Fill, Font};

pub use search::{Found, Search};

/// The key field (where the focus starts).
pub const KEY: &str = "key";
pub const ADDRESS: &str = "address";

#[derive(Debug, Clone)]
pub enum Message {
    Key(String),
    ShowKey(bool),
    RememberKey(bool),
    Paste,
    Search(search::Message),
    Address(String),
    /// Enter in the address field, or its Connect.
    ConnectAddress,
    Name(String),
    /// Enter in the key or name field: the preselected server, otherwise the
    /// typed address.
    Submit,
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
    /// Search `generation` started: the window times its hint.
    Searching(u64),
    /// The "Remember this key" switch was turned on or off.
    RememberKey(bool),
}

#[derive(Debug, Default)]
pub struct Connect {
    pub key: String,
    pub show_key: bool,
    /// Keep the key in a file on this computer (off unless the user turns
    /// it on, or turned it on last time).
    pub remember_key: bool,
    pub search: Search,
    /// Numbers searches: each new one is a new subscription.
    pub searches: u64,
    pub address: String,
    pub name: String,
    /// The server connected to last time, shown above the address field.
    pub remembered: Option<RememberedServer>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Settings that could not be read or saved (one line).
    pub settings_problem: Option<String>,
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
            Message::Key(key) => return self.set_key(key),
            Message::ShowKey(show) => self.show_key = show,
            Message::RememberKey(on) => {
                self.remember_key = on;
                return Some(Event::RememberKey(on));
            }
            Message::Paste => return Some(Event::Paste),
            Message::Search(search::Message::Again) => return self.search_again(),
            Message::Search(message) => {
                let index = self.search.update(message)?;
                let found = self.search.found().get(index)?;
                return self.connect(found.server());
            }
            Message::Address(address) => self.address = address,
            Message::Name(name) => self.name = name,
            Message::Cancel => return Some(Event::Cancel),
            // Enter submits whatever the fields hold when it is handled: the
            // view it was pressed in may predate the last keystrokes (a
            // paste and Enter in one batch), so validity is checked here.
            Message::ConnectAddress => return self.connect(self.server().ok()?),
            Message::Submit => {
                let server = match self.search.preselected() {
                    Some(found) => found.server(),
                    None => self.server().ok()?,
                };
                return self.connect(server);
            }
        }
        None
    }

    /// The key changed: a valid key (another than the one searched with)
    /// starts a search; an invalid one stops it.
    fn set_key(&mut self, key: String) -> Option<Event> {
        self.key = key;
        if matches!(self.search, Search::Off) {
            return None;
        }
        match self.parsed_key() {
            Ok(key) => {
                let same = self
                    .search
                    .running()
                    .is_some_and(|run| run.key.as_str() == key.as_str());
                (!same).then(|| self.start_search(key))
            }
            Err(_) => {
                self.search = Search::Idle;
                None
            }
        }
    }

    fn search_again(&mut self) -> Option<Event> {
        if matches!(self.search, Search::Off) {
            return None;
        }
        let key = self.parsed_key().ok()?;
        Some(self.start_search(key))
    }

    fn start_search(&mut self, key: Key) -> Event {
        self.searches += 1;
        self.search = Search::Searching {
            run: search::Run {
                generation: self.searches,
                key,
            },
            found: Vec::new(),
        };
        Event::Searching(self.searches)
    }

    fn connect(&mut self, server: ServerAddr) -> Option<Event> {
        if self.connecting {
            // Already connecting: a second Enter does not start another.
            return None;
        }
        let key = self.parsed_key().ok()?;
        self.search.stop();
        Some(Event::Connect {
            server,
            key,
            name: self.name.clone(),
        })
    }

    pub fn view(&self) -> Element<'_, Message> {
        let server = self.server();
        let key = self.parsed_key();
        let idle = !self.connecting;

        let mut col = column![text("Connect to a fernet-chat server").size(22)].spacing(6);
        col = col.push(text("Key"));
        col = col.push(
            row![
                text_input("the 44-character key the server window shows", &self.key)
                    .id(KEY)
                    .secure(!self.show_key)
                    .font(Font::MONOSPACE)
                    .on_input(Message::Key)
                    .on_submit(Message::Submit)
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
        col = col.push(field_error(&self.key, key.as_ref().err().cloned()));
        col = col.push(
            checkbox(self.remember_key)
                .label("Remember this key on this computer")
                .on_toggle(Message::RememberKey),
        );
        col = col.push(
            self.search
                .view(!self.key.trim().is_empty())
                .map(Message::Search),
        );
        col = col.push(rule::horizontal(1));

        if let Some(last) = &self.remembered {
            col = col.push(
                text(format!(
                    "Last time: {} — {}",
                    clean_name(&last.name),
                    for_window(&last.address)
                ))
                .size(13)
                .style(text::secondary),
            );
        }
        col = col.push(text("…or type an address"));
        let connect_address = idle && server.is_ok() && key.is_ok();
        col = col.push(
            row![
                text_input("192.168.1.20 or 192.168.1.20:7878", &self.address)
                    .id(ADDRESS)
                    .on_input(Message::Address)
                    .on_submit(Message::ConnectAddress)
                    .width(Fill),
                button("Connect")
                    .on_press_maybe(connect_address.then_some(Message::ConnectAddress)),
            ]
            .spacing(8)
            .align_y(iced::Center),
        );
        col = col.push(field_error(&self.address, server.err()));
        col = col.push(text("Your name (optional)"));
        col = col.push(
            text_input("anonymous", &self.name)
                .on_input(Message::Name)
                .on_submit(Message::Submit),
        );

        if self.connecting {
            col = col.push(
                row![
                    text("Connecting…").style(text::secondary),
                    button("Cancel")
                        .style(button::secondary)
                        .on_press(Message::Cancel),
                ]
                .spacing(12)
                .align_y(iced::Center),
            );
        }
        if let Some(error) = &self.error {
            // It may quote the network (an ERR line's text, a reason).
            col = col.push(text(for_window(error).into_owned()).style(text::danger));
        }
        if let Some(problem) = &self.settings_problem {
            col = col.push(text(problem.as_str()).size(13).style(text::warning));
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
