//! The client window, headless: iced_test's simulator builds the view, clicks
//! and types, and the resulting messages are fed back to `update`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use client_gui::screen::connect::Connect;
use client_gui::{App, Message};
use common::ui::MemoryClipboard;
use common::ui::chat;
use common::ui::engine::Update;
use common::ui::entry::{Delivery, Entry};
use common::{ClientConfig, Config, ConnectError, Event, Key, KeyError, Peer};
use iced::keyboard::key::Named;
use iced_test::{selector, simulator};

fn app() -> (App, MemoryClipboard) {
    let clipboard = MemoryClipboard::default();
    (
        App::new(Connect::default(), Box::new(clipboard.clone())),
        clipboard,
    )
}

fn run(app: &mut App, messages: impl IntoIterator<Item = Message>) {
    for message in messages {
        let _ = app.update(message);
    }
}

fn type_into(app: &mut App, placeholder: &str, text: &str) {
    let mut ui = simulator(app.view());
    ui.click(placeholder).unwrap();
    let _ = ui.typewrite(text);
    let messages: Vec<_> = ui.into_messages().collect();
    run(app, messages);
}

#[test]
fn connect_is_disabled_for_an_invalid_key_and_says_why() {
    let (mut app, _) = app();
    type_into(&mut app, "192.168.1.20 or 192.168.1.20:7878", "127.0.0.1");
    type_into(
        &mut app,
        "the 44-character key the server window shows",
        "not-a-key",
    );
    assert_eq!(app.connect_screen().address, "127.0.0.1");

    let mut ui = simulator(app.view());
    let why = KeyError::WrongLength { len: 9 }.to_string();
    assert!(
        ui.find(why.as_str()).is_ok(),
        "the key error is shown under the field"
    );
    ui.click("Connect").unwrap();
    let messages: Vec<_> = ui.into_messages().collect();
    run(&mut app, messages);
    assert!(app.session().is_none(), "a disabled Connect starts nothing");
}

#[test]
fn paste_fills_the_key_and_connect_starts_the_engine() {
    let (mut app, mut clipboard) = app();
    let key = Key::generate().unwrap();
    common::ui::Clipboard::write(&mut clipboard, &format!(" {key}\n")).unwrap();
    type_into(&mut app, "192.168.1.20 or 192.168.1.20:7878", "[::1]:7000");

    let mut ui = simulator(app.view());
    ui.click("Paste").unwrap();
    let messages: Vec<_> = ui.into_messages().collect();
    run(&mut app, messages);
    assert_eq!(app.connect_screen().key, key.as_str());

    let mut ui = simulator(app.view());
    ui.click("Connect").unwrap();
    let messages: Vec<_> = ui.into_messages().collect();
    run(&mut app, messages);
    let session = app.session().expect("Connect started a session");
    assert_eq!(session.config.server.to_string(), "[::1]:7000");
    assert!(
        simulator(app.view()).find("Cancel").is_ok(),
        "progress can be cancelled"
    );
}

#[test]
fn a_failed_connection_keeps_the_fields_and_says_why() {
    let (mut app, _) = app();
    type_into(&mut app, "192.168.1.20 or 192.168.1.20:7878", "10.1.2.3");
    run(
        &mut app,
        [Message::Engine(Update::Event(Event::Failed(
            ConnectError::KeyMismatch,
        )))],
    );
    assert_eq!(app.connect_screen().address, "10.1.2.3");
    let mut ui = simulator(app.view());
    assert!(
        ui.find("The server uses a different key: paste the key its window shows")
            .is_ok()
    );
}

/// A chatting window with a real engine handle (its server does not exist,
/// so sends stay in the outbox).
fn chatting(app: &mut App) {
    let config = ClientConfig {
        chat: Config::new(Key::generate().unwrap(), "alice"),
        server: "127.0.0.1:9".parse().unwrap(),
    };
    let (handle, _events) = common::client::connect(config);
    let peer = Peer {
        name: "bob".into(),
        addr: "127.0.0.1:7878".parse().unwrap(),
    };
    run(
        app,
        [
            Message::Engine(Update::Started(handle)),
            Message::Engine(Update::Event(Event::Connected { peer, resent: 0 })),
        ],
    );
}

#[tokio::test]
async fn typing_and_enter_send_a_message() {
    let (mut app, _) = app();
    chatting(&mut app);
    assert!(app.is_chatting());

    let mut ui = simulator(app.view());
    ui.click(selector::id(chat::INPUT)).unwrap();
    let _ = ui.typewrite("hello bob");
    let _ = ui.tap_key(Named::Enter);
    let messages: Vec<_> = ui.into_messages().collect();
    run(&mut app, messages);

    let Some(Entry::Message(sent)) = app.chat().entries().last() else {
        panic!("no message entry: {:?}", app.chat().entries());
    };
    assert_eq!((sent.text.as_str(), sent.mine), ("hello bob", true));
    assert_eq!(sent.delivery, Delivery::Waiting);
    assert!(app.chat().draft().trim().is_empty(), "the input is cleared");

    // Sent, then acked: the mark follows.
    let id = sent.id.clone();
    run(
        &mut app,
        [Message::Engine(Update::Event(Event::Sent {
            id: id.clone(),
            token: "gAAAAAx".into(),
        }))],
    );
    assert!(simulator(app.view()).find("sent").is_ok());
    run(
        &mut app,
        [Message::Engine(Update::Event(Event::Acked { id }))],
    );
    assert!(simulator(app.view()).find("delivered").is_ok());
}

#[tokio::test]
async fn an_empty_input_is_not_sent() {
    let (mut app, _) = app();
    chatting(&mut app);
    let before = app.chat().entries().len();
    let mut ui = simulator(app.view());
    ui.click(selector::id(chat::INPUT)).unwrap();
    let _ = ui.typewrite("   ");
    let _ = ui.tap_key(Named::Enter);
    let messages: Vec<_> = ui.into_messages().collect();
    run(&mut app, messages);
    assert_eq!(app.chat().entries().len(), before);
}

#[tokio::test]
async fn a_lost_connection_shows_the_reconnect_countdown() {
    let (mut app, _) = app();
    chatting(&mut app);
    run(
        &mut app,
        [
            Message::Engine(Update::Event(Event::Disconnected(common::Ended::Lost(
                "reset".into(),
            )))),
            Message::Engine(Update::Event(Event::Retrying {
                attempt: 1,
                delay: Duration::from_secs(2),
                error: ConnectError::Refused {
                    addr: "127.0.0.1:7878".parse().unwrap(),
                },
            })),
        ],
    );
    let mut ui = simulator(app.view());
    assert!(ui.find("Connection lost. Reconnecting in 2 s…").is_ok());
    assert!(ui.find("Disconnected: connection lost: reset").is_ok());
}

#[tokio::test]
async fn at_the_smallest_window_size_nothing_is_cut_off() {
    let (mut app, _) = app();
    chatting(&mut app);
    let token = format!("gAAAAA{}", "x".repeat(150));
    run(
        &mut app,
        [
            Message::Engine(Update::Event(Event::Received {
                id: "m1".into(),
                from: "bob".into(),
                text: "hi".into(),
                sent_at: 0,
                token: token.clone(),
            })),
            Message::Chat(chat::Message::ShowCiphertext(true)),
        ],
    );

    let sized = |width: f32| {
        iced_test::Simulator::with_size(
            iced::Settings::default(),
            iced::Size::new(width, 420.0),
            app.view(),
        )
    };
    let (mut wide, mut ui, width) = (sized(1200.0), sized(440.0), 440.0);
    // Each control is whole (as wide as with room to spare) and on screen.
    for label in ["Disconnect", "Fernet (AES-128-CBC + HMAC-SHA256)", "hi"] {
        let natural = wide.find(label).unwrap().bounds().width;
        let bounds = ui.find(label).unwrap().bounds();
        assert!(
            bounds.width >= natural - 0.5 && bounds.x >= 0.0 && bounds.x + bounds.width <= width,
            "{label:?} is squeezed or cut off in a {width} px window: {bounds:?}, needs {natural}"
        );
    }
    // The token (156 characters, no spaces) breaks over lines instead of
    // running off the right edge: at 11 px it needs at least three.
    let token_lines = ui.find(token.as_str()).unwrap().bounds().height / (11.0 * 1.3);
    assert!(token_lines >= 2.9, "the token is {token_lines} lines high");
}
