//! The client window in a room, headless: the Connect click starts a
//! session (its engine is not run), then synthetic engine events as the
//! client engine reports them.
#![allow(clippy::unwrap_used)]

use client_gui::screen::connect::{self, Connect};
use client_gui::{App, Message, NEW_KEY};
use common::ui::attention::Focus;
use common::ui::engine::ClientUpdate;
use common::ui::entry::Entry;
use common::ui::{MemoryClipboard, MemoryNotifier};
use common::{ChatEvent, ClientEvent, ConnectError, Ended, Key, Member, Peer, Why};
use iced_test::simulator;

fn event(app: &mut App, event: impl Into<ClientEvent>) {
    let _ = app.update(Message::Engine(ClientUpdate::Event(event.into())));
}

fn member(id: &str, name: &str, you: bool) -> Member {
    Member {
        id: id.into(),
        name: name.into(),
        addr: (id != "s").then(|| "10.0.0.5:4000".parse().unwrap()),
        since: 0,
        you,
    }
}

/// Alice's window after Connect (the form's name: "alice").
fn connecting() -> (App, MemoryNotifier) {
    let notifier = MemoryNotifier::default();
    let mut app = App::new(Connect::default(), Box::new(MemoryClipboard::default()))
        .notifying(Box::new(notifier.clone()));
    app.search_off();
    let key = Key::generate().unwrap();
    for message in [
        connect::Message::Name("alice".into()),
        connect::Message::Key(key.to_string()),
        connect::Message::Address("127.0.0.1:7878".into()),
        connect::Message::ConnectAddress,
    ] {
        let _ = app.update(Message::Connect(message));
    }
    assert!(app.session().is_some(), "Connect started a session");
    (app, notifier)
}

/// In bob's room with carol; the room calls us `you`.
fn in_room(you: &str) -> (App, MemoryNotifier) {
    let (mut app, notifier) = connecting();
    let peer = Peer {
        name: "bob".into(),
        addr: "127.0.0.1:7878".parse().unwrap(),
    };
    event(&mut app, ClientEvent::Connected { peer, resent: 0 });
    event(
        &mut app,
        ClientEvent::Roster(vec![
            member("s", "bob", false),
            member("c", "carol", false),
            member("a", you, true),
        ]),
    );
    (app, notifier)
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
fn the_online_list_marks_us_and_lists_the_room() {
    let (mut app, _) = in_room("alice");
    let mut ui = simulator(app.view());
    assert!(ui.find("Online (3)").is_ok());
    // The mark is on our own line, not the server's above it.
    let mark = ui.find("you").unwrap().bounds();
    let us = ui.find("alice").unwrap().bounds();
    assert!(
        (mark.center_y() - us.center_y()).abs() < 8.0,
        "{mark:?} {us:?}"
    );
    assert!(ui.find("carol").is_ok());
    assert!(ui.find("the server").is_ok(), "bob's entry has no address");
    drop(ui);
    assert_eq!(app.title(), "fernet-chat: bob's room, 3 in it");
    assert!(
        !system_lines(&app).iter().any(|l| l.starts_with("You are")),
        "our own name: nothing to say"
    );
    event(&mut app, ChatEvent::Joined(member("d", "dave", false)));
    event(
        &mut app,
        ChatEvent::Left {
            member: member("c", "carol", false),
            why: Why::Slow,
        },
    );
    let lines = system_lines(&app);
    assert_eq!(lines[lines.len() - 2], "dave joined (10.0.0.5:4000)");
    assert_eq!(
        lines[lines.len() - 1],
        "carol fell behind reading and was disconnected"
    );
    let mut ui = simulator(app.view());
    assert!(ui.find("dave").is_ok());
    assert!(ui.find("Online (3)").is_ok());
}

#[test]
fn another_name_given_by_the_room_is_said() {
    let (app, _) = in_room("alice (2)");
    assert!(
        system_lines(&app)
            .iter()
            .any(|l| l == "You are alice (2) in this room (your name was taken).")
    );
}

#[test]
fn a_full_room_and_a_removal_are_said_in_the_window() {
    let (mut app, _) = connecting();
    event(&mut app, ClientEvent::Failed(ConnectError::RoomFull));
    let error = app.connect_screen().error.clone().unwrap();
    assert!(error.starts_with("The room is full"), "{error}");
    assert!(simulator(app.view()).find(error.as_str()).is_ok());

    let (mut app, _) = in_room("alice");
    event(&mut app, ClientEvent::Disconnected(Ended::Removed));
    assert!(
        system_lines(&app)
            .iter()
            .any(|l| l == "The server removed you from this room")
    );
    assert!(app.session().is_none(), "no reconnecting");
}

#[test]
fn a_new_key_on_the_server_says_to_paste_it() {
    let (mut app, _) = in_room("alice");
    event(
        &mut app,
        ClientEvent::Disconnected(Ended::NewKey { name: "bob".into() }),
    );
    assert_eq!(system_lines(&app).last().unwrap(), NEW_KEY);
    assert!(simulator(app.view()).find(NEW_KEY).is_ok());
    assert!(app.session().is_none());
}

#[test]
fn unread_messages_and_notifications_while_unfocused() {
    let (mut app, notifier) = in_room("alice");
    let _ = app.update(Message::Window(Focus::Lost));
    for (id, from) in [("1", "bob"), ("2", "carol")] {
        event(
            &mut app,
            ChatEvent::Received {
                id: id.into(),
                from: from.into(),
                text: "hi".into(),
                sent_at: 0,
                token: Default::default(),
            },
        );
    }
    assert_eq!(app.title(), "(2) fernet-chat: bob's room, 3 in it");
    assert_eq!(notifier.shown().len(), 2);
    assert_eq!(notifier.shown()[1].title, "carol");
    let _ = app.update(Message::Window(Focus::Gained));
    assert_eq!(app.title(), "fernet-chat: bob's room, 3 in it");
}
