//! The server window, headless: iced_test's simulator builds the view, clicks
//! and types, and the resulting messages are fed back to `update`.
#![allow(clippy::unwrap_used)]

use std::hash::Hasher as _;
use std::net::SocketAddr;
use std::sync::Arc;

use common::payload::MAX_TEXT_BYTES;
use common::ui::MemoryClipboard;
use common::ui::chat;
use common::ui::engine::ServerUpdate;
use common::ui::entry::Entry;
use common::{
    ChatEvent, Clock, Config, Key, Member, Rejection, ServerConfig, ServerEvent, TYPED_QUEUE_BYTES,
    Why,
};
use iced::keyboard::key::Named;
use iced::widget::text_editor::{Action, Edit};
use iced::{Rectangle, Size};
use iced_test::futures::subscription::{Hasher, into_recipes};
use iced_test::{Simulator, selector, simulator};
use server_gui::screen::waiting::ROWS;
use server_gui::{App, Message};
use tokio::sync::mpsc;

/// The window's size when it opens (main.rs).
const WINDOW: Size = Size::new(720.0, 640.0);
/// What the test clock says: 2026-11-26 14:02 UTC.
const NOW_MS: u64 = 1_795_701_720_000;

fn app() -> (App, MemoryClipboard, Key) {
    let key = Key::generate().unwrap();
    let mut chat = Config::new(key.clone(), "bob");
    chat.clock = Clock::from_fn(|| NOW_MS);
    let config = ServerConfig {
        chat,
        port: 7878,
        bind: None,
        max_members: common::DEFAULT_MAX_MEMBERS,
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

/// A real engine on 127.0.0.1 with the window's key, its `Listening`
/// update fed to the window; the receiver keeps the engine running.
async fn listening(app: &mut App, key: Key) -> (u16, mpsc::Receiver<ServerEvent>) {
    let server = common::Server::bind(ServerConfig {
        chat: Config::new(key, "bob"),
        port: 0,
        bind: Some("127.0.0.1".parse().unwrap()),
        max_members: common::DEFAULT_MAX_MEMBERS,
    })
    .await
    .unwrap();
    let (port, addrs) = (server.port(), server.addrs());
    let (handle, events) = server.start();
    let _ = app.update(Message::Engine(ServerUpdate::Listening {
        handle,
        port,
        addrs,
        discovery: None,
    }));
    (port, events)
}

fn event(app: &mut App, event: impl Into<ServerEvent>) {
    let _ = app.update(Message::Engine(ServerUpdate::Event(event.into())));
}

fn rejected(ip: &str, reason: Rejection) -> ServerEvent {
    ServerEvent::Rejected {
        addr: SocketAddr::new(ip.parse().unwrap(), 40000),
        reason,
    }
}

/// Alice, as the room engine reports her joining.
fn alice() -> Member {
    Member {
        id: "alice-member-id-000000".into(),
        name: "alice".into(),
        addr: Some("10.0.0.2:4000".parse().unwrap()),
        since: NOW_MS,
        you: false,
    }
}

fn connected(app: &mut App) {
    event(app, ChatEvent::Joined(alice()));
}

fn left(app: &mut App, why: Why) {
    event(
        app,
        ChatEvent::Left {
            member: alice(),
            why,
        },
    );
}

/// The system lines in the chat.
fn system_lines(app: &App) -> Vec<&str> {
    app.chat()
        .entries()
        .iter()
        .filter_map(|entry| match entry {
            Entry::System { text, .. } => Some(text.as_str()),
            Entry::Message(_) => None,
        })
        .collect()
}

/// The message box is laid out entirely inside the window.
fn message_box_in_view(app: &App) -> bool {
    let mut ui = Simulator::with_size(Default::default(), WINDOW, app.view());
    let shown = ui.find(selector::id(chat::INPUT)).unwrap().bounds();
    let window = Rectangle::with_size(WINDOW);
    shown.height > 0.0
        && window.contains(shown.position())
        && shown.y + shown.height <= WINDOW.height
}

#[tokio::test]
async fn lists_addresses_and_tallies_rejected_connections() {
    let (mut app, _, key) = app();
    let (port, _events) = listening(&mut app, key).await;
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

    let at = common::ui::entry::clock_time(NOW_MS);
    event(&mut app, rejected("192.168.1.7", Rejection::KeyMismatch));
    let once = format!("192.168.1.7 tried a different key at {at}");
    assert!(simulator(app.view()).find(once.as_str()).is_ok());
    event(&mut app, rejected("192.168.1.7", Rejection::KeyMismatch));
    let twice = format!("192.168.1.7 tried a different key: 2 times, the last at {at}");
    let mut ui = simulator(app.view());
    assert!(ui.find(twice.as_str()).is_ok(), "counted, not listed");
    assert!(ui.find(once.as_str()).is_err());
    assert!(system_lines(&app).is_empty(), "nothing in the chat");
}

/// A stranger opening thousands of connections a second: the window keeps
/// a few rows with counts, and the message box stays where it was.
#[test]
fn a_flood_of_rejections_is_tallied_in_a_few_rows() {
    let (mut app, _, _) = app();
    assert!(message_box_in_view(&app));
    for i in 0..30_000u32 {
        // Mostly one source with a wrong key; every tenth from one of 50
        // others, dropped to make room (port 0, as the engine reports them).
        let rejection = if i % 10 == 0 {
            let ip = format!("127.0.0.{}", 2 + (i / 10) % 50);
            ServerEvent::Rejected {
                addr: SocketAddr::new(ip.parse().unwrap(), 0),
                reason: Rejection::Crowded,
            }
        } else {
            rejected("127.0.0.1", Rejection::KeyMismatch)
        };
        event(&mut app, rejection);
        // Key holders looking for the server from many addresses.
        if i % 100 == 0 {
            let ip = format!("10.0.{}.{}", i / 25_600, (i / 100) % 256);
            let from = SocketAddr::new(ip.parse().unwrap(), 40000);
            event(&mut app, ServerEvent::Probed { from });
        }
    }
    let rows: Vec<_> = app.waiting().turned_away.rows().cloned().collect();
    assert!(rows.len() <= ROWS, "{} rows kept", rows.len());
    let flood = rows
        .iter()
        .find(|row| row.ip.to_string() == "127.0.0.1")
        .expect("the busiest source is listed");
    assert_eq!(flood.count, 27_000);
    let at = common::ui::entry::clock_time(NOW_MS);
    let line = format!("127.0.0.1 tried a different key: 27,000 times, the last at {at}");
    let mut ui = Simulator::with_size(Default::default(), WINDOW, app.view());
    assert!(ui.find(line.as_str()).is_ok());
    drop(ui);
    assert!(
        message_box_in_view(&app),
        "the message box is still in the window"
    );
    assert!(system_lines(&app).is_empty(), "nothing in the chat");
    assert_eq!(
        app.waiting().probes.lines().count(),
        3,
        "the latest 3 lookers"
    );
}

/// During a chat, the first rejection is one line in the chat; the rest
/// are only counted, and the waiting screen shows them when the chat ends.
#[test]
fn rejections_during_a_chat_add_one_line_per_session() {
    let (mut app, _, _) = app();
    connected(&mut app);
    let before = system_lines(&app).len();
    for _ in 0..1_000 {
        event(&mut app, rejected("127.0.0.1", Rejection::KeyMismatch));
    }
    let lines = system_lines(&app);
    assert_eq!(lines.len(), before + 1, "{lines:?}");
    assert_eq!(
        lines[before],
        "Turned away a connection: 127.0.0.1 tried a different key. Any more during this \
         chat are counted on the waiting screen."
    );

    left(&mut app, Why::Lost);
    let at = common::ui::entry::clock_time(NOW_MS);
    let tally = format!("127.0.0.1 tried a different key: 1,000 times, the last at {at}");
    assert!(simulator(app.view()).find(tally.as_str()).is_ok());

    // The next session says it once again.
    connected(&mut app);
    let before = system_lines(&app).len();
    for _ in 0..10 {
        event(&mut app, rejected("127.0.0.9", Rejection::Timeout));
    }
    assert_eq!(system_lines(&app).len(), before + 1);
}

/// The identities of the window's subscriptions: iced restarts one whose
/// identity changes.
fn subscriptions(app: &App) -> Vec<u64> {
    into_recipes(app.subscription())
        .iter()
        .map(|recipe| {
            let mut hasher = Hasher::default();
            recipe.hash(&mut hasher);
            hasher.finish()
        })
        .collect()
}

#[test]
fn a_port_in_use_is_explained_with_a_way_to_retry() {
    let (mut app, _, _) = app();
    let before = subscriptions(&app);
    let error = common::BindError::InUse { port: 7878 };
    let _ = app.update(Message::Engine(ServerUpdate::BindFailed(error.clone())));
    let mut ui = simulator(app.view());
    assert!(ui.find(format!("Cannot listen: {error}.").as_str()).is_ok());
    drop(ui);

    // Another port in the field, then Listen.
    let mut ui = simulator(app.view());
    ui.click("7878").unwrap();
    for _ in 0..4 {
        let _ = ui.tap_key(Named::Backspace);
    }
    let _ = ui.typewrite("7879");
    ui.click("Listen").unwrap();
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    assert_eq!(app.params().config.port, 7879);
    assert_eq!(app.params().generation, 1);
    let after = subscriptions(&app);
    assert_eq!(after.len(), before.len());
    let restarted = before.iter().filter(|id| !after.contains(id)).count();
    assert_eq!(restarted, 1, "the engine subscription starts again");
    let mut ui = simulator(app.view());
    assert!(ui.find("Starting…").is_ok(), "the error is gone");
}

#[tokio::test]
async fn incoming_message_ack_and_alert_render() {
    let (mut app, _, key) = app();
    let (_, _events) = listening(&mut app, key).await;
    connected(&mut app);
    event(
        &mut app,
        ChatEvent::Received {
            id: "m1".into(),
            from: "alice".into(),
            text: "hello bob 👋".into(),
            sent_at: 0,
            token: "gAAAAAtoken".into(),
        },
    );
    let mut ui = simulator(app.view());
    assert!(ui.find("hello bob 👋").is_ok());
    assert!(ui.find("alice").is_ok());

    // Bob answers: waiting to send, then sent, then delivered.
    ui.click(selector::id(chat::INPUT)).unwrap();
    let _ = ui.typewrite("hi alice");
    let _ = ui.tap_key(Named::Enter);
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    let id = match app.chat().entries().last() {
        Some(Entry::Message(m)) if m.mine && m.text == "hi alice" => m.id.clone(),
        other => panic!("the answer is not in the chat: {other:?}"),
    };
    assert!(simulator(app.view()).find("waiting to send").is_ok());
    event(
        &mut app,
        ChatEvent::Sent {
            id: id.clone(),
            token: "gAAAAAanswer".into(),
        },
    );
    let mut ui = simulator(app.view());
    assert!(ui.find("sent").is_ok());
    assert!(ui.find("delivered").is_err());
    drop(ui);
    event(
        &mut app,
        ChatEvent::Relayed {
            id: id.clone(),
            to: 1,
        },
    );
    event(
        &mut app,
        ChatEvent::Delivered {
            id,
            by: "alice".into(),
        },
    );
    let mut ui = simulator(app.view());
    assert!(
        ui.find("delivered").is_ok(),
        "alice's ack marks it delivered"
    );
    assert!(ui.find("sent").is_err());
    drop(ui);

    left(&mut app, Why::Lost);
    let mut ui = simulator(app.view());
    assert!(
        ui.find("alice lost connection").is_ok(),
        "the leave is a system line"
    );
    assert!(ui.find("delivered").is_ok(), "a delivered message stays so");
    assert!(!app.is_connected());
    drop(ui);

    // Back, then cut off by a frame that fails the session checks: the
    // alert is a line of its own, saying what failed.
    connected(&mut app);
    let alert = common::Alert::Tampered;
    left(&mut app, Why::Other(format!("security alert: {alert}")));
    let line = format!("alice left (security alert: {alert})");
    assert!(simulator(app.view()).find(line.as_str()).is_ok(), "{line}");
}

/// The server removes members one by one; the chat's Disconnect (the
/// client's way out) is never offered in its window.
#[test]
fn the_server_offers_remove_beside_members_not_disconnect() {
    let (mut app, _, _) = app();
    assert!(simulator(app.view()).find("Disconnect").is_err());
    assert!(simulator(app.view()).find("Remove").is_err());
    connected(&mut app);
    assert!(simulator(app.view()).find("Disconnect").is_err());
    assert!(simulator(app.view()).find("Remove").is_ok());
    left(&mut app, Why::Bye);
    assert!(simulator(app.view()).find("Remove").is_err());
}

#[test]
fn a_long_history_lays_out_only_the_newest_entries_and_pages_back() {
    let (mut app, _, _) = app();
    for i in 0..10_000 {
        let _ = app.update(Message::Engine(ServerUpdate::Event(
            ChatEvent::Received {
                id: format!("m{i}"),
                from: "alice".into(),
                text: format!("message {i}"),
                sent_at: 0,
                token: Default::default(),
            }
            .into(),
        )));
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
        let _ = app.update(Message::Engine(ServerUpdate::Event(
            ChatEvent::Received {
                id: text.into(),
                from: "alice".into(),
                text: text.into(),
                sent_at: 0,
                token: Default::default(),
            }
            .into(),
        )));
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
    // An edit would have replaced the selected line with "x".
    assert_eq!(app.chat().selection().as_deref(), Some(line));
}

#[tokio::test]
async fn a_message_past_the_typed_queue_stays_in_the_box_and_the_box_says_why() {
    let (mut app, _clipboard, key) = app();
    let (_port, _events) = listening(&mut app, key).await;
    // Pasted (the simulator has no clipboard for Ctrl+V).
    let paste = |app: &mut App, text: String| {
        let paste = Action::Edit(Edit::Paste(Arc::new(text)));
        let _ = app.update(Message::Chat(chat::Message::Edit(paste)));
    };
    // As much as the engine keeps, while nobody is there to take it: the
    // longest messages, and one that fills the rest.
    let longest = common::payload::weight(MAX_TEXT_BYTES);
    let rest = TYPED_QUEUE_BYTES % longest - common::payload::MESSAGE_OVERHEAD;
    let fits = TYPED_QUEUE_BYTES / longest + 1;
    for n in 0..fits {
        let len = if n + 1 < fits { MAX_TEXT_BYTES } else { rest };
        paste(&mut app, "w".repeat(len));
        let _ = app.update(Message::Chat(chat::Message::Submit));
    }
    assert_eq!(app.chat().undelivered(), fits);
    paste(&mut app, "one more".into());
    let mut ui = simulator(app.view());
    ui.click(selector::id(chat::INPUT)).unwrap();
    let _ = ui.tap_key(Named::Enter);
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    let why = format!(
        "Not sent: {} MiB of earlier messages are still waiting to go out; send this once \
         some are delivered.",
        TYPED_QUEUE_BYTES / (1024 * 1024)
    );
    assert!(simulator(app.view()).find(why.as_str()).is_ok(), "{why}");
    assert_eq!(app.chat().draft(), "one more", "nothing was lost");
    assert_eq!(app.chat().undelivered(), fits, "nothing was sent");
}

/// A key holder's frame that does not parse is quoted in the reason the
/// waiting screen lists: what would act in it (a right-to-left override)
/// is shown escaped.
#[test]
fn a_rejection_quoting_the_network_is_listed_with_what_would_act_escaped() {
    let (mut app, _, _) = app();
    let quoted = "unknown variant `mallory\u{202e}gnp.exe`".to_owned();
    let reason = Rejection::Handshake(common::Alert::Malformed(quoted));
    event(&mut app, rejected("127.0.0.1", reason));
    let mut shown = Vec::new();
    let mut ui = Simulator::with_size(Default::default(), WINDOW, app.view());
    let _ = ui.find(|candidate: iced_test::selector::Candidate<'_>| {
        if let iced_test::selector::Candidate::Text { content, .. } = candidate {
            shown.push(content.to_owned());
        }
        None::<()>
    });
    assert!(
        shown.iter().any(|t| t.contains(r"mallory\u{202e}gnp.exe")),
        "{shown:?}"
    );
    assert!(!shown.iter().any(|t| t.contains('\u{202e}')), "{shown:?}");
}
