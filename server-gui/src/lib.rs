//! The server window: shows the key and addresses, waits, then chats. It
//! remembers its name and port between runs (never the key).
//!
//! # Layout
//! - [`screen::waiting`]: key, addresses, name, who looked for this server,
//!   connections turned away (tallied).
//! - [`remember`]: the settings loaded at start and saved on change.
//! - The chat itself is `common::ui::chat`, shared with the client window.

pub mod remember;
pub mod screen;

use std::time::Duration;

use common::settings::Store;
use common::ui::chat::{self, Chat};
use common::ui::engine::{self, ServerParams, ServerUpdate};
use common::ui::entry::Tone;
use common::ui::{Clipboard, SystemClipboard, desktop, focus};
use common::{Clock, Event, Handle, Key, Rejection, ServerConfig};
use iced::widget::{column, operation, rule, space};
use iced::{Element, Subscription, Task};
use remember::Remembered;
use screen::waiting::{self, Copied, Waiting};

/// Above the message box while nobody is connected (the engine keeps what
/// is sent meanwhile in its outbox).
const NOBODY: &str = "Nobody is connected: what you send now is delivered when someone connects.";

/// How long a copy button says "Copied".
const COPIED_FOR: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub enum Message {
    Engine(ServerUpdate),
    Waiting(waiting::Message),
    Chat(chat::Message),
    /// The "Copied" confirmation number `n` has been shown long enough.
    CopiedExpired(u64),
    /// Tab or Shift+Tab.
    Focus(focus::Move),
    /// The user closed the window: say goodbye, then exit.
    CloseRequested,
    /// Exit now (the goodbye is said, or took too long).
    Exit,
}

pub struct App {
    params: ServerParams,
    handle: Option<Handle>,
    connected: bool,
    waiting: Waiting,
    chat: Chat,
    clipboard: Box<dyn Clipboard>,
    copies: u64,
    clock: Clock,
    /// The chat has said this session that connections are turned away.
    told_of_rejections: bool,
    /// Where the name and port are remembered (`None`: nowhere).
    store: Option<Store>,
    /// The engine was asked to stop, to start again with this name.
    renaming: Option<String>,
}

impl App {
    /// A window that will listen with `config` (its key is shown).
    pub fn new(config: ServerConfig, clipboard: Box<dyn Clipboard>) -> App {
        let waiting = Waiting {
            key: config.chat.key.to_string(),
            port_input: config.port.to_string(),
            can_change_key: true,
            name: config.chat.name.clone(),
            name_input: config.chat.name.clone(),
            ..Waiting::default()
        };
        let mut chat = Chat::default();
        chat.set_can_disconnect(false);
        App {
            clock: config.chat.clock.clone(),
            params: ServerParams {
                config,
                generation: 0,
            },
            handle: None,
            connected: false,
            waiting,
            chat,
            clipboard,
            copies: 0,
            told_of_rejections: false,
            store: None,
            renaming: None,
        }
    }

    /// Saves name and port changes in `remembered`'s store, and says what
    /// went wrong reading it. (`config`'s name and port are already the
    /// ones to use: the command line's, else the remembered ones.)
    pub fn remembering(mut self, remembered: Remembered) -> App {
        self.store = remembered.store;
        self.waiting.note = remembered.problem;
        self
    }

    /// The real program: the system clipboard, focus in the message box (so
    /// the user can type as soon as someone connects).
    pub fn boot(config: ServerConfig, remembered: Remembered) -> (App, Task<Message>) {
        (
            App::new(config, Box::new(SystemClipboard)).remembering(remembered),
            operation::focus(chat::INPUT),
        )
    }

    /// What the engine subscription runs with.
    pub fn params(&self) -> &ServerParams {
        &self.params
    }

    pub fn waiting(&self) -> &Waiting {
        &self.waiting
    }

    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn title(&self) -> String {
        match self.chat.peer() {
            Some(peer) if self.connected => {
                format!("fernet-chat server: chatting with {}", peer.name)
            }
            _ => "fernet-chat server".to_owned(),
        }
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Engine(update) => self.on_engine(update),
            Message::Waiting(message) => match self.waiting.update(message) {
                Some(waiting::Event::Copy(text)) => {
                    let which = if text == self.waiting.key {
                        Copied::Key
                    } else {
                        Copied::Addr(text.clone())
                    };
                    self.copy(text, Some(which))
                }
                Some(waiting::Event::NewKey) => {
                    match (&self.handle, Key::generate()) {
                        (Some(handle), Ok(key)) if !self.connected => handle.set_key(key),
                        _ => {}
                    }
                    Task::none()
                }
                Some(waiting::Event::Listen(port)) => {
                    self.params.config.port = port;
                    self.params.generation += 1;
                    self.waiting.bind_error = None;
                    self.waiting.addrs = None;
                    self.save();
                    Task::none()
                }
                Some(waiting::Event::Rename(name)) => {
                    self.rename(name);
                    Task::none()
                }
                None => Task::none(),
            },
            Message::Chat(message) => {
                let (task, event) = self.chat.update(message);
                let extra = match event {
                    Some(chat::Event::Copy(text)) => self.copy(text, None),
                    // Ends this session; the server goes back to waiting.
                    Some(chat::Event::Disconnect) => {
                        if let Some(handle) = &self.handle {
                            handle.hang_up();
                        }
                        Task::none()
                    }
                    None => Task::none(),
                };
                Task::batch([task.map(Message::Chat), extra])
            }
            Message::CopiedExpired(n) => {
                if n == self.copies {
                    self.waiting.copied = None;
                }
                Task::none()
            }
            Message::Focus(to) => to.task(),
            Message::CloseRequested => desktop::close(&mut self.chat, Message::Exit),
            Message::Exit => iced::exit(),
        }
    }

    /// Announces `name` from the next connection on. The engine takes its
    /// name when it starts, so it stops and starts again on the same port
    /// (the addresses and the key stay); only while waiting, and not while
    /// messages typed meanwhile wait in its outbox, which a restart would
    /// lose. The new engine starts once the old one has said `Closed`, so
    /// the port is free again.
    fn rename(&mut self, name: String) {
        if self.connected || self.renaming.is_some() {
            return;
        }
        if self.chat.undelivered() > 0 {
            self.waiting.note = Some(
                "Messages are waiting for the next person: change the name once they are \
                 delivered."
                    .into(),
            );
            return;
        }
        self.waiting.name = name.clone();
        self.waiting.note = None;
        match &self.handle {
            Some(handle) => {
                handle.quit();
                self.renaming = Some(name);
            }
            None => self.restart_as(name),
        }
    }

    /// Starts a new engine that announces `name`.
    fn restart_as(&mut self, name: String) {
        self.params.config.chat.name = name;
        self.params.generation += 1;
        // "Starting…" until the new engine listens (a moment).
        self.waiting.addrs = None;
        self.handle = None;
        self.chat.set_handle(None);
        self.save();
    }

    fn save(&mut self) {
        let config = &self.params.config;
        if let Some(problem) = remember::save(self.store.as_ref(), &config.chat.name, config.port) {
            self.waiting.note = Some(problem);
        }
    }

    fn copy(&mut self, text: String, which: Option<Copied>) -> Task<Message> {
        self.copies += 1;
        self.waiting.copied = which;
        let n = self.copies;
        let expire = Task::perform(async { tokio::time::sleep(COPIED_FOR).await }, move |()| {
            Message::CopiedExpired(n)
        });
        Task::batch([self.clipboard.write(text).discard(), expire])
    }

    fn on_engine(&mut self, update: ServerUpdate) -> Task<Message> {
        let now = self.clock.now_ms();
        match update {
            ServerUpdate::Listening {
                handle,
                addrs,
                discovery,
                ..
            } => {
                self.chat.set_handle(Some(handle.clone()));
                self.handle = Some(handle);
                self.waiting.addrs = Some(addrs);
                self.waiting.unsearchable = discovery.map(|why| remember::capitalize(&why));
                self.waiting.can_change_key = true;
                self.chat.set_banner(Some(NOBODY.into()));
                Task::none()
            }
            ServerUpdate::BindFailed(error) => {
                self.waiting.bind_error = Some(error);
                Task::none()
            }
            ServerUpdate::Event(event) => {
                match &event {
                    Event::Connected { .. } => {
                        self.connected = true;
                        self.told_of_rejections = false;
                        self.chat.set_can_disconnect(true);
                        self.waiting.can_change_key = false;
                        self.chat.set_banner(None);
                    }
                    Event::Disconnected(_) => {
                        self.connected = false;
                        self.chat.set_can_disconnect(false);
                        self.waiting.can_change_key = true;
                        self.chat.set_banner(Some(NOBODY.into()));
                    }
                    Event::KeyChanged(key) => {
                        self.waiting.key = key.to_string();
                        // A restart (a new name) keeps the new key.
                        self.params.config.chat.key = key.clone();
                    }
                    Event::Probed { from } => {
                        return match self.waiting.probes.answered(from.ip(), now) {
                            Some(line) if self.connected => {
                                self.chat.system(line, Tone::Info, now).map(Message::Chat)
                            }
                            _ => Task::none(),
                        };
                    }
                    Event::Closed => match self.renaming.take() {
                        Some(name) => {
                            self.restart_as(name);
                            return Task::none();
                        }
                        None => return iced::exit(),
                    },
                    Event::Rejected { addr, reason } => {
                        self.waiting.turned_away.add(addr.ip(), reason.clone(), now);
                        // Probes that do not decrypt are only counted: a
                        // stranger's datagrams are no news for the chat.
                        if matches!(reason, Rejection::BadProbe | Rejection::StaleProbe { .. }) {
                            return Task::none();
                        }
                        return self.rejected_in_chat(format!("{} {reason}", addr.ip()));
                    }
                    _ => {}
                }
                self.chat.on_engine(&event, now).map(Message::Chat)
            }
        }
    }

    /// A connection was turned away during a chat: the chat says so once
    /// per session (a flood would bury the conversation); the waiting
    /// screen, shown again when the session ends, keeps the counts.
    fn rejected_in_chat(&mut self, what: String) -> Task<Message> {
        if !self.connected || self.told_of_rejections {
            return Task::none();
        }
        self.told_of_rejections = true;
        let line = format!(
            "Turned away a connection: {what}. Any more during this chat are counted \
             on the waiting screen."
        );
        self.chat
            .system(line, Tone::Notice, self.clock.now_ms())
            .map(Message::Chat)
    }

    pub fn view(&self) -> Element<'_, Message> {
        // The chat stays the second child whether or not the waiting panel
        // is shown: iced matches widget state by position, so the message
        // box keeps its focus and the log its scroll when someone connects.
        let top: Element<'_, Message> = if self.connected {
            space().into()
        } else {
            column![
                self.waiting.view().map(Message::Waiting),
                rule::horizontal(1)
            ]
            .into()
        };
        column![top, self.chat.view().map(Message::Chat)].into()
    }

    pub fn subscription(&self) -> Subscription<Message> {
        Subscription::batch([
            Subscription::run_with(self.params.clone(), engine::server).map(Message::Engine),
            focus::tab_presses().map(Message::Focus),
            iced::window::close_requests().map(|_| Message::CloseRequested),
        ])
    }
}
