//! The server window hosting a room, headless: synthetic engine events (as
//! the room engine reports them), iced_test's simulator for what is shown
//! and clicked.
#![allow(clippy::unwrap_used)]

use common::ui::attention::Focus;
use common::ui::chat::NOTIFY;
use common::ui::engine::ServerUpdate;
use common::ui::entry::Entry;
use common::ui::{MemoryClipboard, MemoryNotifier, Notice};
use common::{ChatEvent, Clock, Config, Key, Member, ServerConfig, ServerEvent, Why};
use iced::Size;
use iced_test::{Simulator, simulator};
use server_gui::screen::room::NEW_KEY_NOTICE;
use server_gui::{App, Message};

/// What the test clock says: 2026-11-26 14:02 UTC.
const NOW_MS: u64 = 1_795_701_720_000;
const WIDE: Size = Size::new(720.0, 640.0);
const NARROW: Size = Size::new(480.0, 640.0);

fn app() -> (App, MemoryNotifier) {
    let mut chat = Config::new(Key::generate().unwrap(), "bob");
    chat.clock = Clock::from_fn(|| NOW_MS);
    let config = ServerConfig {
        chat,
        port: 7878,
        bind: None,
        max_members: common::DEFAULT_MAX_MEMBERS,
    };
    let notifier = MemoryNotifier::default();
    let app = App::new(config, Box::new(MemoryClipboard::default()))
        .notifying(Box::new(notifier.clone()));
    (app, notifier)
}

fn member(id: &str, name: &str, port: u16) -> Member {
    Member {
        id: id.into(),
        name: name.into(),
        addr: Some(format!("10.0.0.5:{port}").parse().unwrap()),
        since: NOW_MS,
        you: false,
    }
}

fn event(app: &mut App, event: impl Into<ServerEvent>) {
    let _ = app.update(Message::Engine(ServerUpdate::Event(event.into())));
}

fn received(app: &mut App, id: &str, from: &str, text: &str) {
    event(
        app,
        ChatEvent::Received {
            id: id.into(),
            from: from.into(),
            text: text.into(),
            sent_at: NOW_MS,
            token: Default::default(),
        },
    );
}

/// Alice and carol in the room.
fn room() -> (App, MemoryNotifier) {
    let (mut app, notifier) = app();
    event(&mut app, ChatEvent::Joined(member("a", "alice", 4000)));
    event(&mut app, ChatEvent::Joined(member("c", "carol", 4001)));
    (app, notifier)
}

fn shows(app: &App, size: Size, text: &str) -> bool {
    Simulator::with_size(Default::default(), size, app.view())
        .find(text)
        .is_ok()
}

fn system_lines(app: &App) -> Vec<String> {
    app.chat()
        .entries()
        .iter()
        .filter_map(|entry| match entry {
            Entry::System { text, .. } => Some(text.clone()),
            Entry::Message(_) => None,
        })
        .collect()
}

#[test]
fn the_online_list_shows_each_member_and_folds_in_a_narrow_window() {
    let (app, _) = room();
    assert!(app.is_connected());
    assert!(shows(&app, WIDE, "Online (2)"));
    assert!(shows(&app, WIDE, "alice"));
    assert!(shows(&app, WIDE, "10.0.0.5:4001"));
    let since = format!("since {}", common::ui::entry::clock_time(NOW_MS));
    assert!(shows(&app, WIDE, &since));
    assert!(!shows(&app, WIDE, "2 online ▾"));
    // Narrow: a button instead, which opens the list above the chat.
    assert!(shows(&app, NARROW, "2 online ▾"));
    assert!(!shows(&app, NARROW, "Online (2)"));
    let mut app = app;
    let mut ui = Simulator::with_size(Default::default(), NARROW, app.view());
    ui.click("2 online ▾").unwrap();
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    assert!(shows(&app, NARROW, "Online (2)"));
    assert!(shows(&app, NARROW, "carol"));
}

#[test]
fn joins_and_leaves_are_lines_in_the_chat_and_the_last_leave_goes_back_to_waiting() {
    let (mut app, _) = room();
    assert_eq!(
        system_lines(&app),
        [
            "alice joined (10.0.0.5:4000)",
            "carol joined (10.0.0.5:4001)"
        ]
    );
    assert_eq!(app.title(), "fernet-chat server: 3 in the room");
    event(
        &mut app,
        ChatEvent::Left {
            member: member("c", "carol", 4001),
            why: Why::Bye,
        },
    );
    assert_eq!(system_lines(&app).last().unwrap(), "carol left");
    assert!(!shows(&app, WIDE, "carol"), "no longer listed");
    assert_eq!(app.title(), "fernet-chat server: chatting with alice");
    event(
        &mut app,
        ChatEvent::Left {
            member: member("a", "alice", 4000),
            why: Why::Lost,
        },
    );
    assert_eq!(system_lines(&app).last().unwrap(), "alice lost connection");
    assert!(!app.is_connected());
    assert_eq!(app.title(), "fernet-chat server");
}

#[test]
fn several_senders_and_typists_read_apart() {
    let (mut app, _) = room();
    received(&mut app, "1", "alice", "hi all");
    received(&mut app, "2", "carol", "hello");
    event(
        &mut app,
        ChatEvent::Typing {
            from: "alice".into(),
            active: true,
        },
    );
    assert!(shows(&app, WIDE, "alice is typing…"));
    event(
        &mut app,
        ChatEvent::Typing {
            from: "carol".into(),
            active: true,
        },
    );
    assert!(shows(&app, WIDE, "alice and carol are typing…"));
    received(&mut app, "3", "carol", "again");
    assert!(shows(&app, WIDE, "alice is typing…"));
}

/// A real engine on loopback, listening, fed to the window (New key and
/// sending need one); the runtime and receiver keep it running.
fn listening(
    app: &mut App,
) -> (
    tokio::runtime::Runtime,
    tokio::sync::mpsc::Receiver<ServerEvent>,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(common::Server::bind(ServerConfig {
            chat: Config::new(Key::generate().unwrap(), "bob"),
            port: 0,
            bind: Some("127.0.0.1".parse().unwrap()),
            max_members: common::DEFAULT_MAX_MEMBERS,
        }))
        .unwrap();
    let (port, addrs) = (server.port(), server.addrs());
    let (handle, events) = {
        let _guard = rt.enter();
        server.start()
    };
    let _ = app.update(Message::Engine(ServerUpdate::Listening {
        handle,
        port,
        addrs,
        discovery: None,
    }));
    (rt, events)
}

#[test]
fn our_message_shows_how_many_have_it_then_all() {
    let (mut app, _) = app();
    let _engine = listening(&mut app);
    for (id, name, port) in [
        ("a", "alice", 4000),
        ("c", "carol", 4001),
        ("d", "dave", 4002),
    ] {
        event(&mut app, ChatEvent::Joined(member(id, name, port)));
    }
    let mut ui = simulator(app.view());
    ui.click(iced_test::selector::id(common::ui::chat::INPUT))
        .unwrap();
    let _ = ui.typewrite("hi room");
    let _ = ui.tap_key(iced::keyboard::key::Named::Enter);
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    let id = match app.chat().entries().last() {
        Some(Entry::Message(m)) if m.mine => m.id.clone(),
        other => panic!("not sent: {other:?}"),
    };
    event(
        &mut app,
        ChatEvent::Relayed {
            id: id.clone(),
            to: 3,
        },
    );
    assert!(shows(&app, WIDE, "sent"));
    for by in ["alice", "carol"] {
        event(
            &mut app,
            ChatEvent::Delivered {
                id: id.clone(),
                by: by.into(),
            },
        );
    }
    assert!(shows(&app, WIDE, "delivered to 2 of 3"));
    assert!(shows(&app, WIDE, "has it: alice, carol"));
    event(
        &mut app,
        ChatEvent::Delivered {
            id,
            by: "dave".into(),
        },
    );
    assert!(shows(&app, WIDE, "delivered to all 3"));
    assert!(!shows(&app, WIDE, "has it: alice, carol"));
}

#[test]
fn unread_messages_are_counted_in_the_title_until_the_window_has_the_focus() {
    let (mut app, _) = room();
    received(&mut app, "1", "alice", "seen");
    assert_eq!(app.title(), "fernet-chat server: 3 in the room");
    let _ = app.update(Message::Window(Focus::Lost));
    received(&mut app, "2", "alice", "one");
    received(&mut app, "3", "carol", "two");
    assert_eq!(app.title(), "(2) fernet-chat server: 3 in the room");
    let _ = app.update(Message::Window(Focus::Gained));
    assert_eq!(app.title(), "fernet-chat server: 3 in the room");
}

#[test]
fn a_notification_for_each_message_while_unfocused_unless_turned_off() {
    let (mut app, notifier) = room();
    received(&mut app, "1", "alice", "while looking");
    assert!(notifier.shown().is_empty(), "none while focused");
    let _ = app.update(Message::Window(Focus::Lost));
    received(&mut app, "2", "alice", "first line\nsecond line");
    received(&mut app, "3", "carol", "<b>hi</b>");
    assert_eq!(
        notifier.shown(),
        [
            Notice::message("alice", "first line\nsecond line"),
            Notice::message("carol", "<b>hi</b>"),
        ]
    );
    assert_eq!(notifier.shown()[0].body, "first line…");
    // Turned off with the box in the chat's header.
    let mut ui = simulator(app.view());
    ui.click(NOTIFY).unwrap();
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    assert!(!app.chat().attention().notifications());
    received(&mut app, "4", "alice", "quietly");
    assert_eq!(notifier.shown().len(), 2, "none when turned off");
    assert_eq!(app.title(), "(3) fernet-chat server: 3 in the room");
}

#[test]
fn removed_members_are_listed_with_allow_back_until_allowed() {
    let (mut app, _) = app();
    let _engine = listening(&mut app);
    event(&mut app, ChatEvent::Joined(member("a", "alice", 4000)));
    event(&mut app, ChatEvent::Joined(member("c", "carol", 4001)));
    assert!(shows(&app, WIDE, "Remove"), "beside each member");
    event(
        &mut app,
        ChatEvent::Left {
            member: member("c", "carol", 4001),
            why: Why::Removed,
        },
    );
    assert_eq!(
        system_lines(&app).last().unwrap(),
        "carol was removed from the room"
    );
    assert!(shows(&app, WIDE, "carol was removed"));
    // The room empties: the waiting screen still lists who is refused.
    event(
        &mut app,
        ChatEvent::Left {
            member: member("a", "alice", 4000),
            why: Why::Bye,
        },
    );
    assert!(!app.is_connected());
    assert!(shows(&app, WIDE, "carol was removed"));
    let mut ui = Simulator::with_size(Default::default(), WIDE, app.view());
    ui.click("Allow back").unwrap();
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    assert!(!shows(&app, WIDE, "carol was removed"));
}

#[test]
fn the_room_shows_the_key_and_new_key_says_everyone_was_disconnected() {
    let (mut app, _) = room();
    let key = app.waiting().key.clone();
    assert!(shows(&app, WIDE, &key), "the key stays on screen");
    assert!(shows(&app, WIDE, "Copy key"));
    // New key needs an engine: a listening one, on loopback.
    let _engine = listening(&mut app);
    event(&mut app, ChatEvent::Joined(member("a", "alice", 4000)));
    assert!(app.is_connected());
    let mut ui = simulator(app.view());
    ui.click("New key").unwrap();
    for message in ui.into_messages() {
        let _ = app.update(message);
    }
    assert_eq!(system_lines(&app).last().unwrap(), NEW_KEY_NOTICE);
    assert!(!app.is_connected(), "back to waiting for the next people");
    assert!(shows(&app, WIDE, NEW_KEY_NOTICE));
    // The engine's own word of each member leaving adds nothing more.
    event(
        &mut app,
        ChatEvent::Left {
            member: member("a", "alice", 4000),
            why: Why::Other("new-key".into()),
        },
    );
    assert_eq!(system_lines(&app).last().unwrap(), NEW_KEY_NOTICE);
}
