//! Keyboard focus in the real programs: where it starts, where it goes when
//! the chat opens, and Tab / Shift+Tab between fields, pressed as keys.
//!
//! iced_test's `Emulator` never hands keyboard events to a program's
//! subscriptions (its runtime has no broadcast), so a Tab pressed through it
//! reaches nothing: the windows hear Tab through a subscription. [`Window`]
//! below does what iced's runtime does with an event instead: the widgets
//! see it first, then the program's own subscriptions hear it with the
//! status the widgets left (captured or ignored), and every task that
//! follows is performed, widget operations (focus moves, scrolls) included.
#![allow(clippy::unwrap_used)]

use client_gui as client;
use common::ui::engine::{ClientUpdate, ServerUpdate};
use common::{ChatEvent, ClientEvent, Config, Key, Member, Peer, ServerConfig, ServerEvent, Why};
use iced::Size;
use iced::futures::{FutureExt, StreamExt, stream};
use iced::keyboard::{self, Modifiers, key::Named};
use iced_test::core::renderer::Headless;
use iced_test::core::{Event as Input, clipboard, event, mouse, widget, window};
use iced_test::futures::subscription;
use iced_test::program::Program;
use iced_test::runtime::user_interface::{Cache, UserInterface};
use iced_test::runtime::{Action, Task, task};
use iced_test::simulator;
use server_gui as server;

/// A program run headless, as iced's runtime runs it in a window.
struct Window<P: Program> {
    program: P,
    state: P::State,
    renderer: P::Renderer,
    cache: Option<Cache>,
    id: window::Id,
    /// Runs the futures of the program's tasks.
    clock: tokio::runtime::Runtime,
}

impl<P: Program> Window<P> {
    fn open(program: P) -> Self {
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let settings = program.settings();
        let renderer = clock
            .block_on(P::Renderer::new(
                settings.default_font,
                settings.default_text_size,
                None,
            ))
            .expect("a headless renderer");
        let (state, boot) = {
            let _runtime = clock.enter();
            program.boot()
        };
        let mut window = Window {
            program,
            state,
            renderer,
            cache: Some(Cache::default()),
            id: window::Id::unique(),
            clock,
        };
        window.perform(boot);
        window
    }

    /// The window's widgets as they are now, with the state (focus, scroll)
    /// the previous build left.
    fn ui<'a>(
        program: &'a P,
        state: &'a P::State,
        id: window::Id,
        cache: &mut Option<Cache>,
        renderer: &mut P::Renderer,
    ) -> UserInterface<'a, P::Message, P::Theme, P::Renderer> {
        UserInterface::build(
            program.view(state, id),
            Size::new(640.0, 600.0),
            cache.take().unwrap(),
            renderer,
        )
    }

    /// Feeds `message` to `update` and performs what it asks for.
    fn send(&mut self, message: P::Message) {
        let task = {
            let _runtime = self.clock.enter();
            self.program.update(&mut self.state, message)
        };
        self.perform(task);
    }

    fn perform(&mut self, task: Task<P::Message>) {
        let Some(actions) = task::into_stream(task) else {
            return;
        };
        let actions: Vec<_> = self.clock.block_on(actions.collect());
        for action in actions {
            match action {
                Action::Output(message) => self.send(message),
                Action::Widget(operation) => {
                    let mut ui = Self::ui(
                        &self.program,
                        &self.state,
                        self.id,
                        &mut self.cache,
                        &mut self.renderer,
                    );
                    let mut next = Some(operation);
                    while let Some(mut operation) = next.take() {
                        ui.operate(&self.renderer, &mut operation);
                        if let widget::operation::Outcome::Chain(then) = operation.finish() {
                            next = Some(then);
                        }
                    }
                    self.cache = Some(ui.into_cache());
                }
                _ => {}
            }
        }
    }

    /// The user presses keys: the widgets get them, then the program's
    /// subscriptions hear each with the status the widgets left.
    fn press(&mut self, events: Vec<Input>) {
        let mut ui = Self::ui(
            &self.program,
            &self.state,
            self.id,
            &mut self.cache,
            &mut self.renderer,
        );
        let mut messages = Vec::new();
        let (_, statuses) = ui.update(
            &events,
            mouse::Cursor::Unavailable,
            &mut self.renderer,
            &mut clipboard::Null,
            &mut messages,
        );
        self.cache = Some(ui.into_cache());
        for (event, status) in events.into_iter().zip(statuses) {
            messages.extend(self.subscriptions_hear(event, status));
        }
        for message in messages {
            self.send(message);
        }
    }

    fn subscriptions_hear(&self, event: Input, status: event::Status) -> Vec<P::Message> {
        let heard = subscription::Event::Interaction {
            window: self.id,
            event,
            status,
        };
        let mut messages = Vec::new();
        let recipes = subscription::into_recipes(self.program.subscription(&self.state));
        for recipe in recipes {
            let mut output = recipe.stream(stream::iter([heard.clone()]).boxed());
            while let Some(Some(message)) = output.next().now_or_never() {
                messages.push(message);
            }
        }
        messages
    }

    fn typewrite(&mut self, text: &str) {
        self.press(simulator::typewrite(text).collect());
    }

    fn tab(&mut self, modifiers: Modifiers) {
        self.named(Named::Tab, "\t", modifiers);
    }

    fn enter(&mut self) {
        self.named(Named::Enter, "\r", Modifiers::empty());
    }

    /// Presses and releases the key `named`, which types `typed`.
    fn named(&mut self, named: Named, typed: &str, modifiers: Modifiers) {
        let key = keyboard::Key::Named(named);
        let event = |pressed| {
            let key = key.clone();
            let physical_key =
                keyboard::key::Physical::Unidentified(keyboard::key::NativeCode::Unidentified);
            Input::Keyboard(if pressed {
                keyboard::Event::KeyPressed {
                    modified_key: key.clone(),
                    key,
                    physical_key,
                    location: keyboard::Location::Standard,
                    modifiers,
                    text: Some(typed.into()),
                    repeat: false,
                }
            } else {
                keyboard::Event::KeyReleased {
                    modified_key: key.clone(),
                    key,
                    physical_key,
                    location: keyboard::Location::Standard,
                    modifiers,
                }
            })
        };
        self.press(vec![event(true), event(false)]);
    }
}

/// Searching off (as below): the address must be typed, and the focus
/// starts there; Tab still goes key, address, name.
#[test]
fn client_focus_starts_in_the_address_when_searching_is_off_and_tab_moves_through_the_fields() {
    let mut window = Window::open(client());
    let key = Key::generate().unwrap().to_string();

    let (head, tail) = key.split_at(20);

    window.typewrite("127.0.0.1");
    window.tab(Modifiers::empty());
    window.typewrite("Bob");
    // Back to finish the address, back again to the key, and on.
    window.tab(Modifiers::SHIFT);
    window.typewrite(":7878");
    window.tab(Modifiers::SHIFT);
    window.typewrite(head);
    window.tab(Modifiers::empty());
    window.tab(Modifiers::SHIFT);
    window.typewrite(tail);

    let form = window.state.connect_screen();
    assert_eq!(form.address, "127.0.0.1:7878");
    assert_eq!(form.key, key);
    assert_eq!(form.name, "Bob");
}

#[test]
fn client_focus_returns_to_the_key_after_paste_so_enter_connects() {
    let mut window = Window::open(client());
    window.typewrite("127.0.0.1");
    let key = Key::generate().unwrap().to_string();
    // What the clipboard answers to a click on Paste.
    window.send(client::Message::Pasted(Some(key.clone())));
    window.typewrite("!");
    let form = window.state.connect_screen();
    assert_eq!(form.key, format!("{key}!"));
    assert_eq!(form.address, "127.0.0.1");
    // Without the stray "!", Enter connects.
    let mut window = Window::open(client());
    window.typewrite("127.0.0.1");
    window.send(client::Message::Pasted(Some(key.clone())));
    assert!(window.state.session().is_none());
    window.enter();
    let session = window.state.session().expect("Enter did not connect");
    assert_eq!(session.config.chat.key.as_str(), key);
}

#[test]
fn client_focus_moves_to_the_message_box_when_the_chat_opens() {
    let mut window = Window::open(client());
    let connected = ClientEvent::Connected {
        peer: Peer {
            name: "alice".into(),
            addr: "127.0.0.1:7878".parse().unwrap(),
        },
        resent: 0,
    };
    window.send(client::Message::Engine(ClientUpdate::Event(connected)));
    window.typewrite("hello");

    let app = &window.state;
    assert!(app.is_chatting());
    assert_eq!(app.chat().draft(), "hello");
    assert_eq!(app.connect_screen().address, "", "nothing went to the form");
}

/// The server program without its engine subscription: the test plays the
/// engine's part, so nothing else changes the window meanwhile.
fn server() -> impl Program<Message = server::Message, State = server::App> {
    iced::application(
        || {
            server::App::boot(
                ServerConfig {
                    chat: Config::new(Key::generate().unwrap(), "alice"),
                    port: 0,
                    bind: Some("127.0.0.1".parse().unwrap()),
                    max_members: common::DEFAULT_MAX_MEMBERS,
                },
                Default::default(),
            )
        },
        server::App::update,
        server::App::view,
    )
}

fn event(event: impl Into<ServerEvent>) -> server::Message {
    server::Message::Engine(ServerUpdate::Event(event.into()))
}

#[test]
fn server_focus_starts_in_the_message_box_and_stays_there_as_the_window_changes() {
    let mut window = Window::open(server());
    window.typewrite("hi ");

    // The waiting panel goes away, the online list comes beside the chat
    // and a "joined" line scrolls in.
    window.send(event(ChatEvent::Joined(alice())));
    window.typewrite("there");
    // "bob is typing…" appears above the box.
    window.send(event(ChatEvent::Typing {
        from: "alice".into(),
        active: true,
    }));
    window.typewrite("!");
    // Her connection drops: a banner, a system line, the waiting panel.
    window.send(event(ChatEvent::Left {
        member: alice(),
        why: Why::Lost,
    }));
    window.typewrite("?");

    let app = &window.state;
    assert!(!app.is_connected());
    assert_eq!(app.chat().draft(), "hi there!?");
}

/// A member joining the server's room.
fn alice() -> Member {
    Member {
        id: "alice-member-id-000000".into(),
        name: "alice".into(),
        addr: Some("127.0.0.1:40000".parse().unwrap()),
        since: 0,
        you: false,
    }
}

fn client() -> impl Program<Message = client::Message, State = client::App> {
    iced::application(
        // No search: nothing but the keys pressed changes the window.
        || client::App::boot(Some(String::new()), None, None),
        client::App::update,
        client::App::view,
    )
    .subscription(client::App::subscription)
}
