//! Keyboard focus in the real program, run by iced_test's emulator (which
//! performs the app's tasks, widget operations included): it starts in the
//! address field, and Tab / Shift+Tab move it from field to field.
#![allow(clippy::unwrap_used)]

use client_gui::{App, Message};
use common::Key;
use common::ui::focus::Move;
use iced::Size;
use iced::futures::StreamExt;
use iced::futures::channel::mpsc;
use iced_test::Instruction;
use iced_test::emulator::{self, Emulator, Mode};
use iced_test::instruction::{Interaction, Keyboard};
use iced_test::program::Program;
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

    /// Sends one message whose task is a single widget operation (a focus
    /// move) and performs that operation.
    fn focus(&mut self, message: P::Message) {
        self.emulator.update(&self.program, message);
        match self.next() {
            emulator::Event::Action(action) => self.emulator.perform(&self.program, action),
            _ => panic!("a focus move is one widget operation"),
        }
    }
}

#[test]
fn focus_starts_in_the_address_and_tab_moves_through_the_fields() {
    let program = iced::application(|| App::boot(String::new()), App::update, App::view)
        .subscription(App::subscription);
    let mut window = Window::open(program);
    let key = Key::generate().unwrap().to_string();

    window.typewrite("127.0.0.1");
    window.focus(Message::Focus(Move::Next));
    window.typewrite(&key);
    window.focus(Message::Focus(Move::Next));
    window.typewrite("Bob");
    window.focus(Message::Focus(Move::Previous));
    window.focus(Message::Focus(Move::Previous));
    window.typewrite(":7878");

    let (app, _) = window.emulator.into_state();
    let form = app.connect_screen();
    assert_eq!(form.address, "127.0.0.1:7878");
    assert_eq!(form.key, key);
    assert_eq!(form.name, "Bob");
}
