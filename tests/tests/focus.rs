//! Keyboard focus in the real programs, run by iced_test's emulator (which
//! performs the apps' tasks, widget operations included): where it starts,
//! where it goes when the chat opens, and Tab / Shift+Tab between fields.
#![allow(clippy::unwrap_used)]

use client_gui as client;
use common::ui::engine::Update;
use common::ui::focus::Move;
use common::{Config, Ended, Event, Key, Peer, ServerConfig};
use iced::Size;
use iced::futures::StreamExt;
use iced::futures::channel::mpsc;
use iced_test::Instruction;
use iced_test::emulator::{self, Emulator, Mode};
use iced_test::instruction::{Interaction, Keyboard};
use iced_test::program::Program;
use server_gui as server;
use std::time::Duration;

/// Far longer than any step takes; reached only when an awaited event
/// never comes.
const WAIT: Duration = Duration::from_secs(10);

/// The emulator and the channel its runtime reports on.
struct Window<P: Program + 'static> {
    program: P,
    emulator: Emulator<P>,
    events: mpsc::Receiver<emulator::Event<P>>,
    clock: tokio::runtime::Runtime,
}

impl<P: Program + 'static> Window<P> {
    fn open(program: P) -> Self {
        let (sender, events) = mpsc::channel(1);
        let emulator = Emulator::new(sender, &program, Mode::Zen, Size::new(640.0, 600.0));
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut window = Window {
            program,
            emulator,
            events,
            clock,
        };
        window.settle();
        window
    }

    fn next(&mut self) -> emulator::Event<P> {
        let events = &mut self.events;
        self.clock
            .block_on(async { tokio::time::timeout(WAIT, events.next()).await })
            .expect("the emulator reported nothing")
            .unwrap()
    }

    /// Performs what the runtime hands back until it reports ready.
    fn settle(&mut self) {
        loop {
            match self.next() {
                emulator::Event::Action(action) => self.emulator.perform(&self.program, action),
                emulator::Event::Ready => return,
                emulator::Event::Failed(instruction) => panic!("failed: {instruction}"),
            }
        }
    }

    fn typewrite(&mut self, text: &str) {
        let typing = Keyboard::Typewrite(text.to_owned());
        self.emulator.run(
            &self.program,
            Instruction::Interact(Interaction::Keyboard(typing)),
        );
        self.settle();
    }

    /// Sends `message` and performs the `operations` widget operations (focus
    /// moves, scrolls) its task is known to make.
    fn send(&mut self, message: P::Message, operations: usize) {
        self.emulator.update(&self.program, message);
        for _ in 0..operations {
            match self.next() {
                emulator::Event::Action(action) => self.emulator.perform(&self.program, action),
                _ => panic!("expected {operations} widget operations"),
            }
        }
    }
}

#[test]
fn client_focus_starts_in_the_address_and_tab_moves_through_the_fields() {
    let mut window = Window::open(client());
    let key = Key::generate().unwrap().to_string();

    window.typewrite("127.0.0.1");
    window.send(client::Message::Focus(Move::Next), 1);
    window.typewrite(&key);
    window.send(client::Message::Focus(Move::Next), 1);
    window.typewrite("Bob");
    window.send(client::Message::Focus(Move::Previous), 1);
    window.send(client::Message::Focus(Move::Previous), 1);
    window.typewrite(":7878");

    let (app, _) = window.emulator.into_state();
    let form = app.connect_screen();
    assert_eq!(form.address, "127.0.0.1:7878");
    assert_eq!(form.key, key);
    assert_eq!(form.name, "Bob");
}

#[test]
fn client_focus_moves_to_the_message_box_when_the_chat_opens() {
    let mut window = Window::open(client());
    let connected = Event::Connected {
        peer: Peer {
            name: "alice".into(),
            addr: "127.0.0.1:7878".parse().unwrap(),
        },
        resent: 0,
    };
    // The chat scrolls to its "Connected" line and takes the focus.
    window.send(client::Message::Engine(Update::Event(connected)), 2);
    window.typewrite("hello");

    let (app, _) = window.emulator.into_state();
    assert!(app.is_chatting());
    assert_eq!(app.chat().draft(), "hello");
    assert_eq!(app.connect_screen().address, "", "nothing went to the form");
}

/// The server program without its engine subscription: the test plays the
/// engine's part, so nothing else changes the window meanwhile.
fn server() -> impl Program<Message = server::Message, State = server::App> + 'static {
    iced::application(
        || {
            server::App::boot(ServerConfig {
                chat: Config::new(Key::generate().unwrap(), "alice"),
                port: 0,
                bind: Some("127.0.0.1".parse().unwrap()),
            })
        },
        server::App::update,
        server::App::view,
    )
}

fn event(event: Event) -> server::Message {
    server::Message::Engine(Update::Event(event))
}

#[test]
fn server_focus_starts_in_the_message_box_and_stays_there_as_the_window_changes() {
    let mut window = Window::open(server());
    window.typewrite("hi ");

    // The waiting panel goes away and a "Connected" line scrolls in.
    window.send(
        event(Event::Connected {
            peer: bob(),
            resent: 0,
        }),
        1,
    );
    window.typewrite("there");
    // "bob is typing…" appears above the box.
    window.send(event(Event::Typing { active: true }), 0);
    window.typewrite("!");
    // The connection drops: a banner, a system line, the waiting panel.
    let lost = Ended::Lost("the other side closed the connection".into());
    window.send(event(Event::Disconnected(lost)), 1);
    window.typewrite("?");

    let (app, _) = window.emulator.into_state();
    assert!(!app.is_connected());
    assert_eq!(app.chat().draft(), "hi there!?");
}

fn bob() -> Peer {
    Peer {
        name: "bob".into(),
        addr: "127.0.0.1:50000".parse().unwrap(),
    }
}

fn client() -> impl Program<Message = client::Message, State = client::App> + 'static {
    iced::application(
        || client::App::boot(String::new()),
        client::App::update,
        client::App::view,
    )
    .subscription(client::App::subscription)
}
