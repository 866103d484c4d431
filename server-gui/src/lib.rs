//! The server window: shows the key and addresses, waits, then hosts the
//! room. It remembers its name, port and whether to notify between runs
//! (never the key).
//!
//! # Layout
//! - [`engine`]: the engine's states (starting, listening, failed,
//!   restarting), each with what exists in it.
//! - [`screen::waiting`]: key, addresses, name, who looked for this server,
//!   connections turned away (tallied), until the first member joins.
//! - [`screen::room`]: the room's compact header (key, Copy, New key,
//!   addresses) and the members removed.
//! - [`remember`]: the settings loaded at start and saved on change.
//! - The chat and its online list are `common::ui::chat`, shared with the
//!   client window.

pub mod engine;
pub mod remember;
pub mod screen;

use std::time::Duration;

use common::settings::Store;
use common::ui::attention::{self, Focus};
use common::ui::chat::{self, Chat};
use common::ui::engine::{self as subscription, ServerParams, ServerUpdate};
use common::ui::entry::Tone;
use common::ui::{Clipboard, DesktopNotifier, Notifier, SystemClipboard, desktop, focus};
use common::{ChatEvent, Clock, Key, Member, Rejection, ServerConfig, ServerEvent, Why};
use engine::{Engine, Listening};
use iced::widget::{column, container, operation, rule};
use iced::{Element, Subscription, Task};
use remember::Remembered;
use screen::room::{self, Room};
use screen::waiting::{self, Copied, Waiting};

/// Above the message box while nobody is connected (the engine keeps what
/// is sent meanwhile in its outbox).
const NOBODY: &str = "Nobody is connected: what you send now is delivered when someone connects.";

/// How long a copy button says "Copied".
const COPIED_FOR: Duration = Duration::from_secs(2);

/// The server's own entry in its online list (the engine announces the
/// members, not the server itself; this id is the window's own).
const OWN_ID: &str = "server";

#[derive(Debug, Clone)]
pub enum Message {
    Engine(ServerUpdate),
    Waiting(waiting::Message),
    Room(room::Message),
    Chat(chat::Message),
    /// The "Copied" confirmation number `n` has been shown long enough.
    CopiedExpired(u64),
    /// Tab or Shift+Tab.
    Focus(focus::Move),
    /// The window gained or lost the keyboard focus.
    Window(Focus),
    /// The user closed the window: say goodbye, then exit.
    CloseRequested,
    /// Exit now (the goodbye is said, or took too long).
    Exit,
}

/// What the window shows above the chat.
pub enum Screen {
    /// Nobody has joined: the big key, the addresses, the tally.
    Waiting,
    /// Someone is in the room: the compact header.
    Room(Room),
}

pub struct App {
    params: ServerParams,
    engine: Engine,
    screen: Screen,
    waiting: Waiting,
    chat: Chat,
    clipboard: Box<dyn Clipboard>,
    copies: u64,
    clock: Clock,
    /// Where the name and port are remembered (`None`: nowhere).
    store: Option<Store>,
}

impl App {
    /// A window that will listen with `config` (its key is shown).
    pub fn new(config: ServerConfig, clipboard: Box<dyn Clipboard>) -> App {
        let waiting = Waiting {
            key: config.chat.key.to_string(),
            port_input: config.port.to_string(),
            name: config.chat.name.clone(),
            name_input: config.chat.name.clone(),
            ..Waiting::default()
        };
        // Members are removed one by one from the online list; the chat's
        // Disconnect (the client's way out) is not the server's.
        let mut chat = Chat::default();
        chat.set_can_disconnect(false);
        chat.offer_remove(true);
        App {
            clock: config.chat.clock.clone(),
            params: ServerParams {
                config,
                generation: 0,
            },
            engine: Engine::Starting,
            screen: Screen::Waiting,
            waiting,
            chat,
            clipboard,
            copies: 0,
            store: None,
        }
    }

    /// Saves name, port and notification changes in `remembered`'s store,
    /// and says what went wrong reading it. (`config`'s name and port are
    /// already the ones to use: the command line's, else the remembered
    /// ones.)
    pub fn remembering(mut self, remembered: Remembered) -> App {
        self.store = remembered.store;
        self.waiting.note = remembered.problem;
        self.chat
            .attention_mut()
            .set_notifications(!remembered.settings.notifications_off);
        self
    }

    /// Desktop notifications of messages received while the window is not
    /// focused go to `notifier`.
    pub fn notifying(mut self, notifier: Box<dyn Notifier>) -> App {
        self.chat.attention_mut().set_notifier(notifier);
        self
    }

    /// The real program: the system clipboard and notifications, focus in
    /// the message box (so the user can type as soon as someone connects).
    pub fn boot(config: ServerConfig, remembered: Remembered) -> (App, Task<Message>) {
        let app = App::new(config, Box::new(SystemClipboard))
            .remembering(remembered)
            .notifying(Box::new(DesktopNotifier::default()));
        (app, operation::focus(chat::INPUT))
    }

    /// What the engine subscription runs with.
    pub fn params(&self) -> &ServerParams {
        &self.params
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    pub fn waiting(&self) -> &Waiting {
        &self.waiting
    }

    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    /// Someone is in the room.
    pub fn is_connected(&self) -> bool {
        matches!(self.screen, Screen::Room(_))
    }

    /// The title, with the count of messages received while the window was
    /// not focused in front.
    pub fn title(&self) -> String {
        let mut others = self.chat.roster().others().map(|m| m.name.as_str());
        let title = match (&self.screen, others.next(), others.next()) {
            (Screen::Room(_), Some(one), None) => {
                format!("fernet-chat server: chatting with {one}")
            }
            (Screen::Room(_), Some(_), Some(_)) => format!(
                "fernet-chat server: {} in the room",
                self.chat.roster().others().count() + 1
            ),
            _ => "fernet-chat server".to_owned(),
        };
        self.chat.attention().title(title)
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Engine(update) => self.on_engine(update),
            Message::Waiting(message) => match self.waiting.update(message) {
                Some(waiting::Event::Copy(text)) => self.copy(text),
                Some(waiting::Event::NewKey) => self.new_key(),
                Some(waiting::Event::Listen(port)) => {
                    self.params.config.port = port;
                    self.params.generation += 1;
                    self.engine = Engine::Starting;
                    self.save();
                    Task::none()
                }
                Some(waiting::Event::Rename(name)) => {
                    self.rename(name);
                    Task::none()
                }
                None => Task::none(),
            },
            Message::Room(message) => match Room::update(message, &self.waiting) {
                room::Event::Copy(text) => self.copy(text),
                room::Event::NewKey => self.new_key(),
                room::Event::Allow(id) => {
                    if let Engine::Listening(listening) = &mut self.engine {
                        listening.allow(&id);
                    }
                    Task::none()
                }
            },
            Message::Chat(message) => {
                let (task, event) = self.chat.update(message);
                let extra = match event {
                    Some(chat::Event::Copy(text)) => self.copy(text),
                    Some(chat::Event::Remove(id)) => {
                        if let Some(handle) = self.engine.handle() {
                            handle.remove(&id);
                        }
                        Task::none()
                    }
                    Some(chat::Event::Notifications(_)) => {
                        self.save();
                        Task::none()
                    }
                    // Not offered here (see `new`).
                    Some(chat::Event::Disconnect) | None => Task::none(),
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
            Message::Window(focus) => {
                self.chat.attention_mut().focus(focus);
                Task::none()
            }
            Message::CloseRequested => desktop::close(&mut self.chat, Message::Exit),
            Message::Exit => iced::exit(),
        }
    }

    /// A fresh key. During a room everyone is disconnected (the engine
    /// says `bye new-key` to each), which the chat says at once; the window
    /// waits for the next people with the new key.
    fn new_key(&mut self) -> Task<Message> {
        let (Some(handle), Ok(key)) = (self.engine.handle(), Key::generate()) else {
            return Task::none();
        };
        handle.set_key(key);
        if let Engine::Listening(listening) = &mut self.engine {
            listening.removed.clear();
        }
        if !self.is_connected() {
            return Task::none();
        }
        self.room_emptied();
        self.chat
            .system(room::NEW_KEY_NOTICE, Tone::Notice, self.clock.now_ms())
            .map(Message::Chat)
    }

    /// Nobody else is in the room: back to the waiting screen.
    fn room_emptied(&mut self) {
        self.screen = Screen::Waiting;
        self.chat.set_roster(vec![self.own_entry()]);
        self.chat.set_banner(Some(NOBODY.into()));
    }

    /// Someone joined: the room's header replaces the waiting screen.
    fn room_opened(&mut self) {
        if !self.is_connected() {
            self.screen = Screen::Room(Room::default());
            self.chat.set_banner(None);
        }
    }

    /// The server user's own entry in the online list.
    fn own_entry(&self) -> Member {
        Member {
            id: OWN_ID.to_owned(),
            name: self.params.config.chat.name.clone(),
            addr: None,
            since: self.clock.now_ms(),
            you: true,
        }
    }

    /// Announces `name` from the next connection on. The engine takes its
    /// name when it starts, so it stops and starts again on the same port
    /// (the addresses and the key stay); only while waiting, and not while
    /// messages typed meanwhile wait in its outbox, which a restart would
    /// lose. The new engine starts once the old one has said `Closed`, so
    /// the port is free again.
    fn rename(&mut self, name: String) {
        if self.is_connected() || matches!(self.engine, Engine::Restarting(_)) {
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
        match self.engine.handle() {
            Some(handle) => {
                handle.quit();
                self.engine = Engine::Restarting(name);
            }
            None => self.restart_as(name),
        }
    }

    /// Starts a new engine that announces `name`.
    fn restart_as(&mut self, name: String) {
        self.params.config.chat.name = name;
        self.params.generation += 1;
        // "Starting…" until the new engine listens (a moment).
        self.engine = Engine::Starting;
        self.chat.set_handle(None);
        self.save();
    }

    fn save(&mut self) {
        let config = &self.params.config;
        let notify = self.chat.attention().notifications();
        if let Some(problem) =
            remember::save(self.store.as_ref(), &config.chat.name, config.port, notify)
        {
            self.waiting.note = Some(problem);
        }
    }

    fn copy(&mut self, text: String) -> Task<Message> {
        self.copies += 1;
        self.waiting.copied = Some(if text == self.waiting.key {
            Copied::Key
        } else {
            Copied::Addr(text.clone())
        });
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
                self.chat.set_handle(Some(handle.shared().clone()));
                self.engine = Engine::Listening(Listening {
                    handle,
                    addrs,
                    unsearchable: discovery.map(|why| remember::capitalize(&why)),
                    removed: Vec::new(),
                });
                self.room_emptied();
                Task::none()
            }
            ServerUpdate::BindFailed(error) => {
                self.engine = Engine::Failed(error);
                Task::none()
            }
            ServerUpdate::Event(event) => self.on_event(event, now),
        }
    }

    fn on_event(&mut self, event: ServerEvent, now: u64) -> Task<Message> {
        match event {
            ServerEvent::Chat(chat) => self.on_chat(chat, now),
            ServerEvent::KeyChanged(key) => {
                self.waiting.key = key.to_string();
                // A restart (a new name) keeps the new key.
                self.params.config.chat.key = key;
                Task::none()
            }
            ServerEvent::Probed { from } => match self.waiting.probes.answered(from.ip(), now) {
                Some(line) if self.is_connected() => {
                    self.chat.system(line, Tone::Info, now).map(Message::Chat)
                }
                _ => Task::none(),
            },
            ServerEvent::Closed => match &self.engine {
                Engine::Restarting(name) => {
                    let name = name.clone();
                    self.restart_as(name);
                    Task::none()
                }
                _ => iced::exit(),
            },
            ServerEvent::Rejected { addr, reason } => {
                self.waiting.turned_away.add(addr.ip(), reason.clone(), now);
                // Probes that do not decrypt are only counted: a
                // stranger's datagrams are no news for the chat.
                if matches!(reason, Rejection::BadProbe | Rejection::StaleProbe { .. }) {
                    return Task::none();
                }
                self.rejected_in_chat(format!("{} {reason}", addr.ip()))
            }
        }
    }

    /// What happens in the room: the chat shows it; a first member opens
    /// the room, the last one leaving empties it.
    fn on_chat(&mut self, event: ChatEvent, now: u64) -> Task<Message> {
        match &event {
            ChatEvent::Joined(_) => self.room_opened(),
            ChatEvent::Left { member, why } => {
                if let (Why::Removed, Engine::Listening(listening)) = (why, &mut self.engine) {
                    listening.removed(member.clone());
                }
                let line = self.chat.on_chat(&event, now).map(Message::Chat);
                if self.chat.roster().others().next().is_none() {
                    self.room_emptied();
                }
                return line;
            }
            _ => {}
        }
        self.chat.on_chat(&event, now).map(Message::Chat)
    }

    /// A connection was turned away during a room: the chat says so once
    /// per session (a flood would bury the conversation); the waiting
    /// screen, shown again when the room empties, keeps the counts.
    fn rejected_in_chat(&mut self, what: String) -> Task<Message> {
        let Screen::Room(room) = &mut self.screen else {
            return Task::none();
        };
        if room.told_of_rejections {
            return Task::none();
        }
        room.told_of_rejections = true;
        let line = format!(
            "Turned away a connection: {what}. Any more during this chat are counted \
             on the waiting screen."
        );
        self.chat
            .system(line, Tone::Notice, self.clock.now_ms())
            .map(Message::Chat)
    }

    pub fn view(&self) -> Element<'_, Message> {
        // The chat stays the second child whichever screen is above it:
        // iced matches widget state by position, so the message box keeps
        // its focus and the log its scroll when someone joins.
        let top: Element<'_, Message> = match (&self.screen, self.engine.listening()) {
            (Screen::Waiting, Some(listening)) if !listening.removed.is_empty() => column![
                self.waiting.view(&self.engine).map(Message::Waiting),
                container(room::removed(&listening.removed).map(Message::Room)).padding([0, 16])
            ]
            .spacing(4)
            .into(),
            (Screen::Waiting, _) => self.waiting.view(&self.engine).map(Message::Waiting),
            (Screen::Room(room), _) => room.view(&self.waiting, &self.engine).map(Message::Room),
        };
        column![
            column![top, rule::horizontal(1)],
            self.chat.view().map(Message::Chat)
        ]
        .into()
    }

    pub fn subscription(&self) -> Subscription<Message> {
        Subscription::batch([
            Subscription::run_with(self.params.clone(), subscription::server).map(Message::Engine),
            focus::tab_presses().map(Message::Focus),
            attention::focus_changes().map(Message::Window),
            iced::window::close_requests().map(|_| Message::CloseRequested),
            desktop::leave_requests().map(|()| Message::CloseRequested),
        ])
    }
}
