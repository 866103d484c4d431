//! The client window: asks for the key, finds the servers that use it (or
//! takes a typed address), then chats, reconnecting by itself after a lost
//! connection. It remembers the last server and the user's name between
//! runs, and the key only when asked to.
//!
//! # Layout
//! - [`screen::connect`]: the key, the servers found with it, an address
//!   and a name; [`screen::connect::search`] the search's states.
//! - [`remember`]: what is loaded at start and saved once connected.
//! - The chat itself is `common::ui::chat`, shared with the server window.

pub mod remember;
pub mod screen;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::settings::Store;
use common::ui::chat::{self, Chat};
use common::ui::engine::{self, ClientParams, ClientUpdate};
use common::ui::entry::Tone;
use common::ui::{Clipboard, SystemClipboard, desktop, focus};
use common::{ClientConfig, Clock, Config, Ended, Event, Handle};
use iced::widget::operation;
use iced::{Element, Subscription, Task};
use screen::connect::{self, Connect, search};

#[derive(Debug, Clone)]
pub enum Message {
    Connect(connect::Message),
    /// What Paste read from the clipboard (`None`: it holds no text).
    Pasted(Option<String>),
    Chat(chat::Message),
    Engine(ClientUpdate),
    /// Once a second while a reconnect countdown is shown.
    Tick,
    /// Tab or Shift+Tab.
    Focus(focus::Move),
    /// The user closed the window: say goodbye, then exit.
    CloseRequested,
    /// Exit now (the goodbye is said, or took too long).
    Exit,
}

pub struct App {
    connect: Connect,
    /// The running engine subscription, if any.
    session: Option<ClientParams>,
    generation: u64,
    handle: Option<Handle>,
    /// Connected at least once in this session: show the chat.
    chatting: bool,
    chat: Chat,
    /// While a reconnect is pending: when it starts, and why the last
    /// attempt failed.
    retry: Option<(Instant, String)>,
    /// Disconnect was clicked: the engine delivers what is still undelivered
    /// before it says goodbye (it keeps reconnecting for that), and this is
    /// what the banner says meanwhile. A second click leaves at once.
    leaving: Option<String>,
    clipboard: Box<dyn Clipboard>,
    clock: Clock,
    /// Where settings are remembered (`None`: nothing is).
    store: Option<Store>,
    /// Where searches look.
    scope: search::Scope,
    /// The server moved here during this session (the engine followed it):
    /// the address to remember.
    moved_to: Option<SocketAddr>,
}

impl App {
    pub fn new(connect: Connect, clipboard: Box<dyn Clipboard>) -> App {
        App {
            connect,
            session: None,
            generation: 0,
            handle: None,
            chatting: false,
            chat: Chat::default(),
            retry: None,
            leaving: None,
            clipboard,
            clock: Clock::system(),
            store: None,
            scope: search::Scope::default(),
            moved_to: None,
        }
    }

    /// Searches look there instead of the LAN on the default port (tests:
    /// loopback only).
    pub fn search_in(&mut self, scope: search::Scope) {
        self.scope = scope;
    }

    /// The search the window runs now, if any: on the connect form, while
    /// no connection is being made.
    pub fn search_params(&self) -> Option<search::Params> {
        let run = self.connect.search.running()?;
        (self.session.is_none() && !self.chatting).then(|| search::Params {
            run: run.clone(),
            scope: self.scope.clone(),
        })
    }

    /// The real program: the system clipboard, focus in the key field.
    /// Searches look in `scope` (`None`: searching is turned off, and the
    /// focus starts in the address field instead, which must be typed).
    pub fn boot(
        name: Option<String>,
        store: Option<Store>,
        scope: Option<search::Scope>,
    ) -> (App, Task<Message>) {
        let (mut app, task) = App::open(name, store, Box::new(SystemClipboard));
        match scope {
            Some(scope) => app.search_in(scope),
            None => {
                app.search_off();
                return (app, Task::batch([task, operation::focus(connect::ADDRESS)]));
            }
        }
        (app, task)
    }

    /// Turns looking for servers off (`--no-discovery`): no search, and the
    /// engine does not look for a server that moved either.
    pub fn search_off(&mut self) {
        self.connect.search.stop();
        self.connect.search = connect::Search::Off;
    }

    /// Where the engine looks for the server when the connection is lost:
    /// where the window searches, and nowhere with searching turned off.
    fn roaming(&self) -> Option<search::Reach> {
        let off = matches!(self.connect.search, connect::Search::Off);
        (!off).then(|| self.scope.reach.clone())
    }

    /// A window that remembers its settings in `store`: the form is filled
    /// from them (a `name` given on the command line comes first), and a
    /// remembered key starts a search at once.
    pub fn open(
        name: Option<String>,
        store: Option<Store>,
        clipboard: Box<dyn Clipboard>,
    ) -> (App, Task<Message>) {
        let (connect, key) = remember::load(store.as_ref(), name);
        let mut app = App::new(connect, clipboard);
        app.store = store;
        let search = match key {
            Some(key) => app.update(Message::Connect(connect::Message::Key(key.to_string()))),
            None => Task::none(),
        };
        (app, Task::batch([operation::focus(connect::KEY), search]))
    }

    pub fn connect_screen(&self) -> &Connect {
        &self.connect
    }

    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    pub fn is_chatting(&self) -> bool {
        self.chatting
    }

    /// The engine's settings while one runs.
    pub fn session(&self) -> Option<&ClientParams> {
        self.session.as_ref()
    }

    pub fn title(&self) -> String {
        match self.chat.peer() {
            Some(peer) if self.chatting => format!("fernet-chat: chatting with {}", peer.name),
            _ => "fernet-chat".to_owned(),
        }
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        let now = self.clock.now_ms();
        match message {
            Message::Connect(message) => {
                let event = self.connect.update(message);
                self.on_form(event)
            }
            Message::Pasted(Some(text)) => {
                let event = self
                    .connect
                    .update(connect::Message::Key(text.trim().to_owned()));
                // Back in the key field (the click on Paste took the focus),
                // so that Enter connects to the server found.
                Task::batch([self.on_form(event), operation::focus(connect::KEY)])
            }
            Message::Pasted(None) => {
                self.connect.error = Some("Could not paste: the clipboard holds no text".into());
                Task::none()
            }
            Message::Chat(message) => {
                let (task, event) = self.chat.update(message);
                match event {
                    Some(chat::Event::Copy(text)) => {
                        return Task::batch([
                            task.map(Message::Chat),
                            self.clipboard.write(text).discard(),
                        ]);
                    }
                    Some(chat::Event::Disconnect) => match &self.handle {
                        // What is undelivered is dropped: the user asked twice.
                        Some(handle) if self.session.is_some() && self.leaving.is_some() => {
                            handle.quit();
                        }
                        Some(handle) if self.session.is_some() => {
                            handle.close();
                            self.leaving = Some(match self.chat.undelivered() {
                                0 => "Saying goodbye…".to_owned(),
                                n => format!(
                                    "Leaving once {n} undelivered message{} {} delivered. \
                                     Click Disconnect again to leave now.",
                                    if n == 1 { "" } else { "s" },
                                    if n == 1 { "is" } else { "are" },
                                ),
                            });
                            self.banner(None);
                        }
                        // Nothing runs any more: back to the connect screen.
                        _ => {
                            self.stop();
                            self.chatting = false;
                        }
                    },
                    None => {}
                }
                task.map(Message::Chat)
            }
            Message::Engine(ClientUpdate::Started(handle)) => {
                self.chat.set_handle(Some(handle.clone()));
                self.handle = Some(handle);
                Task::none()
            }
            Message::Engine(ClientUpdate::Event(event)) => self.on_event(event, now),
            Message::Tick => {
                self.banner(self.countdown());
                Task::none()
            }
            Message::Focus(to) => to.task(),
            Message::CloseRequested => desktop::close(&mut self.chat, Message::Exit),
            Message::Exit => iced::exit(),
        }
    }

    /// What the connect form asked for.
    fn on_form(&mut self, event: Option<connect::Event>) -> Task<Message> {
        match event {
            Some(connect::Event::Connect { server, key, name }) => {
                self.generation += 1;
                let chat = Config {
                    discovery: self.roaming(),
                    ..Config::new(key, name)
                };
                self.session = Some(ClientParams {
                    config: ClientConfig { chat, server },
                    generation: self.generation,
                });
                self.connect.connecting = true;
                self.connect.error = None;
                self.moved_to = None;
                Task::none()
            }
            Some(connect::Event::Cancel) => {
                self.stop();
                Task::none()
            }
            Some(connect::Event::Paste) => self.clipboard.read().map(Message::Pasted),
            Some(connect::Event::Searching(generation)) => {
                let quiet = search::Message::Quiet(generation);
                Task::perform(tokio::time::sleep(search::QUIET_AFTER), move |()| {
                    Message::Connect(connect::Message::Search(quiet))
                })
            }
            Some(connect::Event::RememberKey(on)) => {
                // Turned on, the key is saved once it has worked (connected).
                if !on && let Some(store) = &self.store {
                    self.connect.settings_problem =
                        store.forget_key().err().map(|e| capitalize(&e.to_string()));
                }
                Task::none()
            }
            None => Task::none(),
        }
    }

    /// Connected: remember this server, the name, and the key if asked.
    /// A failure to save is said once in the chat.
    fn remember(&mut self, peer: &str, now: u64) -> Task<Message> {
        let (Some(store), Some(session)) = (&self.store, &self.session) else {
            return Task::none();
        };
        let address = match self.moved_to {
            Some(to) => to.to_string(),
            None => session.config.server.to_string(),
        };
        let result = remember::save(store, &mut self.connect, peer, address, &session.config);
        let problem = result.err().map(|e| capitalize(&e.to_string()));
        if problem.is_none() || problem == self.connect.settings_problem {
            self.connect.settings_problem = problem;
            return Task::none();
        }
        self.connect.settings_problem = problem.clone();
        let line = problem.unwrap_or_default();
        self.chat.system(line, Tone::Notice, now).map(Message::Chat)
    }

    fn stop(&mut self) {
        self.session = None;
        self.handle = None;
        self.chat.set_handle(None);
        self.connect.connecting = false;
        self.retry = None;
        self.leaving = None;
    }

    /// The line above the message box; while leaving, it says so instead.
    fn banner(&mut self, banner: Option<String>) {
        self.chat.set_banner(self.leaving.clone().or(banner));
    }

    fn countdown(&self) -> Option<String> {
        let (at, why) = self.retry.as_ref()?;
        let secs = at
            .saturating_duration_since(Instant::now())
            .as_secs_f32()
            .ceil();
        Some(format!(
            "Connection lost. Reconnecting in {secs} s… (last attempt: {why})"
        ))
    }

    fn on_event(&mut self, event: Event, now: u64) -> Task<Message> {
        if self.chat.is_closing() && matches!(event, Event::Closed | Event::Failed(_)) {
            return iced::exit();
        }
        match &event {
            Event::Connecting { attempt, server } if *attempt > 1 => {
                self.retry = None;
                self.banner(Some(format!(
                    "Reconnecting to {server} (attempt {attempt})…"
                )));
            }
            Event::Retrying { delay, error, .. } => {
                self.retry = Some((Instant::now() + *delay, error.to_string()));
                self.banner(self.countdown());
            }
            Event::Connected { peer, .. } => {
                // The chat replaces the form: the message box takes the focus.
                let focus = if self.chatting {
                    Task::none()
                } else {
                    operation::focus(chat::INPUT)
                };
                self.chatting = true;
                self.connect.connecting = false;
                self.retry = None;
                self.banner(None);
                let shown = self.chat.on_engine(&event, now).map(Message::Chat);
                let saved = self.remember(&peer.name, now);
                return Task::batch([shown, focus, saved]);
            }
            Event::Failed(error) if !self.chatting => {
                self.stop();
                self.connect.error = Some(capitalize(&error.to_string()));
                return Task::none();
            }
            Event::Failed(error) => {
                self.stop();
                self.banner(Some(format!(
                    "Could not reconnect: {error}. Press Disconnect to go back."
                )));
            }
            Event::Moved { to, .. } => self.moved_to = Some(*to),
            Event::Disconnected(Ended::PeerLeft { name, .. }) => {
                self.stop();
                self.banner(Some(format!(
                    "{name} ended the chat. Press Disconnect to go back."
                )));
            }
            Event::Closed => {
                self.stop();
                self.chatting = false;
            }
            _ => {}
        }
        self.chat.on_engine(&event, now).map(Message::Chat)
    }

    pub fn view(&self) -> Element<'_, Message> {
        if self.chatting {
            self.chat.view().map(Message::Chat)
        } else {
            self.connect.view().map(Message::Connect)
        }
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let engine = match &self.session {
            Some(params) => {
                Subscription::run_with(params.clone(), engine::client).map(Message::Engine)
            }
            None => Subscription::none(),
        };
        let tick = match self.retry {
            Some(_) => iced::time::every(Duration::from_secs(1)).map(|_| Message::Tick),
            None => Subscription::none(),
        };
        let search = match self.search_params() {
            Some(params) => search::subscription(params)
                .map(|message| Message::Connect(connect::Message::Search(message))),
            None => Subscription::none(),
        };
        let tab = focus::tab_presses().map(Message::Focus);
        let close = iced::window::close_requests().map(|_| Message::CloseRequested);
        Subscription::batch([engine, search, tick, tab, close])
    }
}

/// `text` with its first letter in upper case (errors start a line).
pub(crate) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
