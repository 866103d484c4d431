//! The server window, headless: iced_test's simulator builds the view, clicks
//! and types, and the resulting messages are fed back to `update`.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use common::ui::MemoryClipboard;
use common::ui::engine::Update;
use common::{Config, Ended, Event, Key, Peer, ServerConfig};
use iced_test::simulator;
use server_gui::{App, Message};

fn app() -> (App, MemoryClipboard, Key) {
    let key = Key::generate().unwrap();
    let config = ServerConfig {
        chat: Config::new(key.clone(), "bob"),
        port: 7878,
        bind: None,
    };
    let clipboard = MemoryClipboard::default();
    (
        App::new(config, Box::new(clipboard.clone())),
        clipboard,
        key,
    )
}

fn click(app: &mut App, label: &str) {
    let mut ui = simulator(app.view());
    ui.click(label).unwrap();
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
}

#[test]
fn shows_the_key_and_copy_puts_it_on_the_clipboard() {
    let (mut app, clipboard, key) = app();
    let mut ui = simulator(app.view());
    assert!(ui.find(key.as_str()).is_ok(), "the key is shown");
    drop(ui);
    click(&mut app, "Copy");
    assert_eq!(clipboard.contents().as_deref(), Some(key.as_str()));
    let mut ui = simulator(app.view());
    assert!(ui.find("Copied").is_ok(), "the button confirms the copy");
}

#[tokio::test]
async fn lists_addresses_and_notes_rejected_connections() {
    let (mut app, _, key) = app();
    let server = common::Server::bind(ServerConfig {
        chat: Config::new(key, "bob"),
        port: 0,
        bind: Some("127.0.0.1".parse().unwrap()),
    })
    .await
    .unwrap();
    let (port, addrs) = (server.port(), server.addrs());
    let (handle, _events) = server.start();
    let _ = app.update(Message::Engine(Update::Listening {
        handle,
        port,
        addrs,
    }));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ui = simulator(app.view());
    assert!(ui.find(addr.to_string().as_str()).is_ok());
    assert!(ui.find("Waiting for someone to connect…").is_ok());
    assert!(
        ui.find("Nobody is connected: what you send now is delivered when someone connects.")
            .is_ok(),
        "the message box says where what is sent now goes"
    );
    drop(ui);

    let rejected = Event::Rejected {
        addr: "192.168.1.7:5000".parse().unwrap(),
        reason: common::Rejection::KeyMismatch,
    };
    let _ = app.update(Message::Engine(Update::Event(rejected)));
    let mut ui = simulator(app.view());
    assert!(ui.find("192.168.1.7 tried a different key").is_ok());
}

#[test]
fn a_port_in_use_is_explained_with_a_way_to_retry() {
    let (mut app, _, _) = app();
    let error = common::BindError::InUse { port: 7878 };
    let _ = app.update(Message::Engine(Update::BindFailed(error.clone())));
    let mut ui = simulator(app.view());
    assert!(ui.find(format!("Cannot listen: {error}.").as_str()).is_ok());
    assert!(ui.find("Listen").is_ok());
}

#[test]
fn incoming_message_ack_and_alert_render() {
    let (mut app, _, _) = app();
    let peer = Peer {
        name: "alice".into(),
        addr: "10.0.0.2:4000".parse().unwrap(),
    };
    for event in [
        Event::Connected { peer, resent: 0 },
        Event::Received {
            id: "m1".into(),
            from: "alice".into(),
            text: "hello bob 👋".into(),
            sent_at: 0,
            token: "gAAAAAtoken".into(),
        },
        Event::Disconnected(Ended::Alert(common::Alert::Reflected)),
    ] {
        let _ = app.update(Message::Engine(Update::Event(event)));
    }
    let mut ui = simulator(app.view());
    assert!(ui.find("hello bob 👋").is_ok());
    assert!(ui.find("alice").is_ok());
    let alert = format!(
        "Security alert: {}. The connection was closed.",
        common::Alert::Reflected
    );
    assert!(
        ui.find(alert.as_str()).is_ok(),
        "the alert is a system line"
    );
    assert!(!app.is_connected());
}

#[test]
fn disconnect_is_offered_only_during_a_session() {
    let (mut app, _, _) = app();
    assert!(simulator(app.view()).find("Disconnect").is_err());
    let peer = Peer {
        name: "alice".into(),
        addr: "10.0.0.2:4000".parse().unwrap(),
    };
    let _ = app.update(Message::Engine(Update::Event(Event::Connected {
        peer,
        resent: 0,
    })));
    assert!(simulator(app.view()).find("Disconnect").is_ok());
    let _ = app.update(Message::Engine(Update::Event(Event::Disconnected(
        Ended::Lost("gone".into()),
    ))));
    assert!(simulator(app.view()).find("Disconnect").is_err());
}

#[test]
fn a_long_history_lays_out_only_the_newest_entries_and_pages_back() {
    let (mut app, _, _) = app();
    for i in 0..10_000 {
        let _ = app.update(Message::Engine(Update::Event(Event::Received {
            id: format!("m{i}"),
            from: "alice".into(),
            text: format!("message {i}"),
            sent_at: 0,
            token: String::new(),
        })));
    }
    assert_eq!(app.chat().entries().len(), 10_000, "the history is kept");
    let mut ui = simulator(app.view());
    assert!(ui.find("message 9999").is_ok());
    assert!(ui.find("message 9800").is_ok());
    assert!(
        ui.find("message 9799").is_err(),
        "older ones are not laid out"
    );
    assert!(ui.find("Show earlier messages (9800 more)").is_ok());
    drop(ui);

    click(&mut app, "Show earlier messages (9800 more)");
    let mut ui = simulator(app.view());
    assert!(ui.find("message 9600").is_ok());
    assert!(ui.find("Show earlier messages (9600 more)").is_ok());
}

#[test]
fn the_message_under_the_pointer_can_be_selected_but_not_edited() {
    let (mut app, _, _) = app();
    let line = "pick any word here";
    for text in ["first message", line] {
        let _ = app.update(Message::Engine(Update::Event(Event::Received {
            id: text.into(),
            from: "alice".into(),
            text: text.into(),
            sent_at: 0,
            token: String::new(),
        })));
    }

    // The pointer moves onto the second message.
    let mut ui = simulator(app.view());
    let at = ui.find(line).unwrap().visible_bounds().unwrap().center();
    ui.point_at(at);
    let _ = ui.simulate([iced::Event::Mouse(iced::mouse::Event::CursorMoved {
        position: at,
    })]);
    let moved: Vec<_> = ui.into_messages().collect();
    assert!(!moved.is_empty(), "entering a message is noticed");
    for message in moved {
        let _ = app.update(message);
    }
    assert_eq!(app.chat().selection(), None);

    // A triple click selects its line; typing changes nothing.
    let mut ui = simulator(app.view());
    ui.point_at(at);
    for _ in 0..3 {
        let _ = ui.simulate(iced_test::simulator::click());
    }
    let _ = ui.typewrite("x");
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    assert_eq!(app.chat().selection().as_deref(), Some(line));
    let texts: Vec<_> = app
        .chat()
        .entries()
        .iter()
        .filter_map(|entry| match entry {
            common::ui::entry::Entry::Message(m) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["first message", line], "the history is untouched");
}
