//! The client window: asks for the key, finds the servers that use it (or
//! takes a typed address), then chats in the server's room, reconnecting by
//! itself after a lost connection. It remembers the last server, the user's
//! name and whether to notify between runs, and the key only when asked to.
//!
//! # Layout
//! - [`screen::connect`]: the key, the servers found with it, an address
//!   and a name; [`screen::connect::search`] the search's states.
//! - [`session`]: the engine while one runs, with what exists only then
//!   (its handle, a reconnect countdown, leaving).
//! - [`remember`]: what is loaded at start and saved once connected.
//! - The chat and its online list are `common::ui::chat`, shared with the
//!   server window.

pub mod remember;
pub mod screen;
pub mod session;

use std::time::Duration;

use common::settings::Store;
use common::ui::attention::{self, Focus};
use common::ui::chat::{self, Chat};
use common::ui::engine::{self, ClientParams, ClientUpdate};
use common::ui::entry::Tone;
use common::ui::{Clipboard, DesktopNotifier, Notifier, SystemClipboard, desktop, focus};
use common::{ClientConfig, ClientEvent, Clock, Config, ConnectError, Ended};
use iced::widget::operation;
use iced::{Element, Subscription, Task};
use screen::connect::{self, Connect, search};
use session::Session;
use tokio::time::Instant;

/// The line in the chat when the server made a new key (its `bye` reason).
pub const NEW_KEY: &str =
    "The server made a new key: everyone was disconnected. Paste the new key to join again.";

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
    /// The window gained or lost the keyboard focus.
    Window(Focus),
    /// The user closed the window: say goodbye, then exit.
    CloseRequested,
    /// Exit now (the goodbye is said, or took too long).
    Exit,
}

/// What the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The key, the servers found, an address.
    Connect,
    /// Connected at least once in this session: the chat (it stays after
    /// the engine stops, until Disconnect goes back).
    Chat,
}

pub struct App {
    connect: Connect,
    screen: Screen,
    /// The running engine, if any.
    session: Option<Session>,
    generation: u64,
    chat: Chat,
    clipboard: Box<dyn Clipboard>,
    clock: Clock,
    /// Where settings are remembered (`None`: nothing is).
    store: Option<Store>,
    /// Where searches look.
    scope: search::Scope,
}

impl App {
    pub fn new(connect: Connect, clipboard: Box<dyn Clipboard>) -> App {
        App {
            connect,
            screen: Screen::Connect,
            session: None,
            generation: 0,
            chat: Chat::default(),
            clipboard,
            clock: Clock::system(),
            store: None,
            scope: search::Scope::default(),
        }
    }

    /// Searches look there instead of the LAN on the default port (tests:
    /// loopback only).
    pub fn search_in(&mut self, scope: search::Scope) {
        self.scope = scope;
    }

    /// Desktop notifications of messages received while the window is not
    /// focused go to `notifier`.
    pub fn notifying(mut self, notifier: Box<dyn Notifier>) -> App {
        self.chat.attention_mut().set_notifier(notifier);
        self
    }

    /// The search the window runs now, if any: on the connect form, while
    /// no connection is being made.
    pub fn search_params(&self) -> Option<search::Params> {
        let run = self.connect.search.running()?;
        (self.session.is_none() && self.screen == Screen::Connect).then(|| search::Params {
            run: run.clone(),
            scope: self.scope.clone(),
        })
    }

    /// The real program: the system clipboard and notifications, focus in
    /// the key field. Searches look in `scope` (`None`: searching is turned
    /// off, and the focus starts in the address field instead, which must
    /// be typed).
    pub fn boot(
        name: Option<String>,
        store: Option<Store>,
        scope: Option<search::Scope>,
    ) -> (App, Task<Message>) {
        let (app, task) = App::open(name, store, Box::new(SystemClipboard));
        let mut app = app.notifying(Box::new(DesktopNotifier::default()));
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
        let (connect, key, notify) = remember::load(store.as_ref(), name);
        let mut app = App::new(connect, clipboard);
        app.chat.attention_mut().set_notifications(notify);
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

    pub fn screen(&self) -> Screen {
        self.screen
    }

    pub fn is_chatting(&self) -> bool {
        self.screen == Screen::Chat
    }

    /// The engine's settings while one runs.
    pub fn session(&self) -> Option<&ClientParams> {
        self.session.as_ref().map(|s| &s.params)
    }

    /// The title, with the count of messages received while the window was
    /// not focused in front.
    pub fn title(&self) -> String {
        // The server and us are two of the roster; a room of more is named
        // for the server.
        let room = self.chat.roster().members().len();
        let title = match self.chat.peer() {
            Some(peer) if self.is_chatting() && room > 2 => {
                format!("fernet-chat: {}'s room, {room} in it", peer.name)
            }
            Some(peer) if self.is_chatting() => format!("fernet-chat: chatting with {}", peer.name),
            _ => "fernet-chat".to_owned(),
        };
        self.chat.attention().title(title)
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
                let extra = match event {
                    Some(chat::Event::Copy(text)) => self.clipboard.write(text).discard(),
                    Some(chat::Event::Disconnect) => {
                        self.disconnect();
                        Task::none()
                    }
                    Some(chat::Event::Notifications(_)) => self.save_notifications(now),
                    // The client's list offers no Remove.
                    Some(chat::Event::Remove(_)) | None => Task::none(),
                };
                Task::batch([task.map(Message::Chat), extra])
            }
            Message::Engine(ClientUpdate::Started(handle)) => {
                if let Some(session) = &mut self.session {
                    self.chat.set_handle(Some(handle.clone()));
                    session.handle = Some(handle);
                }
                Task::none()
            }
            Message::Engine(ClientUpdate::Event(event)) => self.on_event(event, now),
            Message::Tick => {
                self.banner(self.countdown());
                Task::none()
            }
            Message::Focus(to) => to.task(),
            Message::Window(focus) => {
                self.chat.attention_mut().focus(focus);
                Task::none()
            }
            Message::CloseRequested => desktop::close(&mut self.chat, Message::Exit),
            Message::Exit => iced::exit(),
        }
    }

    /// Disconnect: the engine delivers what is undelivered before it says
    /// goodbye (a second click leaves at once); with no engine, back to
    /// the connect screen.
    fn disconnect(&mut self) {
        let undelivered = self.chat.undelivered();
        match &mut self.session {
            Some(session) if session.handle.is_some() => {
                if let Some(banner) = session.leave(undelivered) {
                    self.chat.set_banner(Some(banner));
                }
            }
            _ => {
                self.stop();
                self.screen = Screen::Connect;
            }
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
                self.session = Some(Session::new(ClientParams {
                    config: ClientConfig { chat, server },
                    generation: self.generation,
                }));
                self.connect.connecting = true;
                self.connect.error = None;
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
        let address = match session.moved_to {
            Some(to) => to.to_string(),
            None => session.params.config.server.to_string(),
        };
        let notify = self.chat.attention().notifications();
        let config = &session.params.config;
        let result = remember::save(store, &mut self.connect, peer, address, config, notify);
        self.saved(result, now)
    }

    /// The notifications setting changed: remembered with the rest.
    fn save_notifications(&mut self, now: u64) -> Task<Message> {
        let Some(store) = &self.store else {
            return Task::none();
        };
        let notify = self.chat.attention().notifications();
        let result = remember::save_notifications(store, notify);
        self.saved(result, now)
    }

    /// A failure to save, said in the chat once.
    fn saved(
        &mut self,
        result: Result<(), common::settings::SettingsError>,
        now: u64,
    ) -> Task<Message> {
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
        self.chat.set_handle(None);
        self.connect.connecting = false;
    }

    /// The line above the message box; while leaving, it says so instead.
    fn banner(&mut self, banner: Option<String>) {
        let leaving = self.session.as_ref().and_then(|s| s.leaving.clone());
        self.chat.set_banner(leaving.or(banner));
    }

    fn countdown(&self) -> Option<String> {
        let (at, why) = self.session.as_ref()?.retry.as_ref()?;
        let secs = at
            .saturating_duration_since(Instant::now())
            .as_secs_f32()
            .ceil();
        Some(format!(
            "Connection lost. Reconnecting in {secs} s… (last attempt: {why})"
        ))
    }

    fn on_event(&mut self, event: ClientEvent, now: u64) -> Task<Message> {
        if self.chat.is_closing() && matches!(event, ClientEvent::Closed | ClientEvent::Failed(_)) {
            return iced::exit();
        }
        match event {
            ClientEvent::Chat(chat) => self.chat.on_chat(&chat, now).map(Message::Chat),
            ClientEvent::Connecting { attempt, server } => {
                if attempt > 1 {
                    if let Some(session) = &mut self.session {
                        session.retry = None;
                    }
                    self.banner(Some(format!(
                        "Reconnecting to {server} (attempt {attempt})…"
                    )));
                }
                Task::none()
            }
            ClientEvent::Retrying { delay, error, .. } => {
                if let Some(session) = &mut self.session {
                    session.retry = Some((Instant::now() + delay, error.to_string()));
                }
                self.banner(self.countdown());
                Task::none()
            }
            ClientEvent::Connected { peer, .. } => {
                // The chat replaces the form: the message box takes the focus.
                let focus = if self.is_chatting() {
                    Task::none()
                } else {
                    operation::focus(chat::INPUT)
                };
                self.screen = Screen::Chat;
                self.connect.connecting = false;
                if let Some(session) = &mut self.session {
                    session.retry = None;
                }
                self.banner(None);
                let shown = self.chat.connected(&peer, now).map(Message::Chat);
                let saved = self.remember(&peer.name, now);
                Task::batch([shown, focus, saved])
            }
            ClientEvent::Acked { id } => {
                self.chat.acked(&id);
                Task::none()
            }
            ClientEvent::Roster(members) => {
                self.chat.set_roster(members.clone());
                self.renamed(&members, now)
            }
            ClientEvent::Failed(error) if !self.is_chatting() => {
                self.stop();
                // A full room or a removal is said as the error says it.
                self.connect.error = Some(capitalize(&error.to_string()));
                Task::none()
            }
            ClientEvent::Failed(error) => {
                self.stop();
                self.banner(Some(format!(
                    "Could not reconnect: {error}. Press Disconnect to go back."
                )));
                self.chat.failed(&error, now).map(Message::Chat)
            }
            ClientEvent::Moved { name, to } => {
                if let Some(session) = &mut self.session {
                    session.moved_to = Some(to);
                }
                self.chat.moved(&name, to, now).map(Message::Chat)
            }
            ClientEvent::Disconnected(ended) => self.disconnected(&ended, now),
            ClientEvent::Closed => {
                self.stop();
                self.screen = Screen::Connect;
                Task::none()
            }
        }
    }

    /// The session ended: a server's goodbye that ends the chat stops the
    /// engine and says what to do next; otherwise it reconnects by itself.
    fn disconnected(&mut self, ended: &Ended, now: u64) -> Task<Message> {
        match ended {
            Ended::NewKey { .. } => {
                self.stop();
                self.banner(Some(
                    "Press Disconnect, then paste the server's new key.".to_owned(),
                ));
                return self
                    .chat
                    .system(NEW_KEY, Tone::Notice, now)
                    .map(Message::Chat);
            }
            Ended::Removed => {
                self.stop();
                self.banner(Some("Press Disconnect to go back.".to_owned()));
                let line = capitalize(&ConnectError::Removed.to_string());
                return self.chat.system(line, Tone::Alert, now).map(Message::Chat);
            }
            Ended::Replaced => {
                self.stop();
                self.banner(Some(
                    "Another connection took your place in the room. Press Disconnect to go back."
                        .to_owned(),
                ));
            }
            Ended::PeerLeft { name, .. } => {
                self.stop();
                self.banner(Some(format!(
                    "{name} ended the chat. Press Disconnect to go back."
                )));
            }
            Ended::Lost(_) | Ended::Alert(_) | Ended::Slow | Ended::Closed => {}
        }
        self.chat.disconnected(ended, now).map(Message::Chat)
    }

    /// The room knows us by another name than the one we asked for (it
    /// was taken): said once per session.
    fn renamed(&mut self, members: &[common::Member], now: u64) -> Task<Message> {
        let asked = self
            .session
            .as_ref()
            .map(|s| s.params.config.chat.name.as_str());
        match members.iter().find(|m| m.you) {
            Some(you) if asked.is_some_and(|asked| asked != you.name) => self
                .chat
                .system(
                    format!("You are {} in this room (your name was taken).", you.name),
                    Tone::Notice,
                    now,
                )
                .map(Message::Chat),
            _ => Task::none(),
        }
    }

    pub fn view(&self) -> Element<'_, Message> {
        match self.screen {
            Screen::Chat => self.chat.view().map(Message::Chat),
            Screen::Connect => self.connect.view().map(Message::Connect),
        }
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let engine = match &self.session {
            Some(session) => {
                Subscription::run_with(session.params.clone(), engine::client).map(Message::Engine)
            }
            None => Subscription::none(),
        };
        let tick = match self.session.as_ref().and_then(|s| s.retry.as_ref()) {
            Some(_) => iced::time::every(Duration::from_secs(1)).map(|_| Message::Tick),
            None => Subscription::none(),
        };
        let search = match self.search_params() {
            Some(params) => search::subscription(params)
                .map(|message| Message::Connect(connect::Message::Search(message))),
            None => Subscription::none(),
        };
        let tab = focus::tab_presses().map(Message::Focus);
        let window = attention::focus_changes().map(Message::Window);
        let close = iced::window::close_requests().map(|_| Message::CloseRequested);
        let signals = desktop::leave_requests().map(|()| Message::CloseRequested);
        Subscription::batch([engine, search, tick, tab, window, close, signals])
    }
}

/// `text` with its first letter in upper case (errors start a line).
pub(crate) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
