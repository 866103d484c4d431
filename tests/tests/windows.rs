//! Both windows end to end, headless: the server and client programs' own
//! `update` and `view`, driven the way a user would (iced_test's simulator
//! clicks and types), with their engine subscriptions' streams running over
//! real loopback TCP and every update fed back in. Nothing is mocked but the
//! clipboard, which the two windows share as they would on one desktop.
#![allow(clippy::unwrap_used)]

use std::pin::Pin;

use client_gui::screen::connect::Connect;
use common::ui::engine::{self, Update};
use common::ui::entry::{Delivery, Entry};
use common::ui::{MemoryClipboard, chat};
use common::{Config, Key, ServerConfig};
use futures::{Stream, StreamExt};
use iced::keyboard::key::Named;
use iced_test::{selector, simulator};
use tests::engines::WAIT;
use tokio::time::timeout;

type Updates = Pin<Box<dyn Stream<Item = Update> + Send>>;

/// Two windows and their running engine subscriptions.
struct Desktop {
    server: server_gui::App,
    client: client_gui::App,
    server_updates: Updates,
    client_updates: Option<Updates>,
    clipboard: MemoryClipboard,
}

impl Desktop {
    /// Feeds engine updates to both windows until `done` holds.
    async fn until(&mut self, what: &str, done: impl Fn(&Desktop) -> bool) {
        let run = async {
            while !done(self) {
                let client = async {
                    match &mut self.client_updates {
                        Some(updates) => updates.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    Some(update) = self.server_updates.next() => {
                        let _ = self.server.update(server_gui::Message::Engine(update));
                    }
                    Some(update) = client => {
                        let _ = self.client.update(client_gui::Message::Engine(update));
                    }
                }
            }
        };
        timeout(WAIT, run)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
    }

    /// The client's Connect click started a session: run its subscription.
    fn start_client(&mut self) {
        let params = self.client.session().expect("Connect started a session");
        self.client_updates = Some(Box::pin(engine::client(params)));
    }
}

/// Clicks or types in the server window and feeds the messages back.
fn in_server(app: &mut server_gui::App, act: impl FnOnce(&mut Ui<'_, server_gui::Message>)) {
    let mut ui = simulator(app.view());
    act(&mut ui);
    let messages: Vec<_> = ui.into_messages().collect();
    for message in messages {
        let _ = app.update(message);
    }
}

fn in_client(app: &mut client_gui::App, act: impl FnOnce(&mut Ui<'_, client_gui::Message>)) {
    let mut ui = simulator(app.view());
    act(&mut ui);
    let messages: Vec<_> = ui.into_messages().collect();
    for message in messages {
        let _ = app.update(message);
    }
}

type Ui<'a, M> = iced_test::Simulator<'a, M>;

/// Types `text` into the chat input and presses Enter.
fn say<M>(ui: &mut Ui<'_, M>, text: &str) {
    ui.click(selector::id(chat::INPUT)).unwrap();
    let _ = ui.typewrite(text);
    let _ = ui.tap_key(Named::Enter);
}

fn messages(chat: &chat::Chat) -> Vec<(String, String, bool, Delivery)> {
    chat.entries()
        .iter()
        .filter_map(|e| match e {
            Entry::Message(m) => Some((m.from.clone(), m.text.clone(), m.mine, m.delivery)),
            Entry::System { .. } => None,
        })
        .collect()
}

/// Bob's server window and Alice's client window, connected the way a user
/// connects them: Copy the key, Paste it, type the address, Connect.
async fn connected_desktop() -> Desktop {
    let clipboard = MemoryClipboard::default();
    let server = server_gui::App::new(
        ServerConfig {
            chat: Config::new(Key::generate().unwrap(), "bob"),
            port: 0,
            bind: Some("127.0.0.1".parse().unwrap()),
        },
        Box::new(clipboard.clone()),
    );
    let client = client_gui::App::new(
        Connect {
            name: "alice".into(),
            ..Connect::default()
        },
        Box::new(clipboard.clone()),
    );
    let server_updates: Updates = Box::pin(engine::server(server.params()));
    let mut desk = Desktop {
        server,
        client,
        server_updates,
        client_updates: None,
        clipboard,
    };

    // The server window starts listening and shows where.
    desk.until("the server listens", |d| d.server.waiting().addrs.is_some())
        .await;
    let addr = desk.server.waiting().addrs.as_ref().unwrap()[0].to_string();

    // Bob copies the key; Alice pastes it and types the address.
    in_server(&mut desk.server, |ui| {
        ui.click("Copy").unwrap();
    });
    let key = desk.server.waiting().key.clone();
    assert_eq!(desk.clipboard.contents(), Some(key.clone()));
    in_client(&mut desk.client, |ui| {
        ui.click("Paste").unwrap();
    });
    assert_eq!(desk.client.connect_screen().key, key);
    in_client(&mut desk.client, |ui| {
        ui.click("192.168.1.20 or 192.168.1.20:7878").unwrap();
        let _ = ui.typewrite(&addr);
    });
    in_client(&mut desk.client, |ui| {
        ui.click("Connect").unwrap();
    });
    desk.start_client();
    desk.until("both windows are in the chat", |d| {
        d.server.is_connected() && d.client.is_chatting()
    })
    .await;
    assert_eq!(desk.client.title(), "fernet-chat: chatting with bob");
    assert_eq!(
        desk.server.title(),
        "fernet-chat server: chatting with alice"
    );
    desk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_windows_chat_over_loopback() {
    let mut desk = connected_desktop().await;

    // Alice writes; Bob's window shows it, Alice's marks it delivered.
    in_client(&mut desk.client, |ui| say(ui, "hi bob 👋"));
    desk.until("Bob sees Alice's message, delivered", |d| {
        messages(d.server.chat())
            .iter()
            .any(|m| m.0 == "alice" && m.1 == "hi bob 👋" && !m.2)
            && messages(d.client.chat())
                .iter()
                .any(|m| m.1 == "hi bob 👋" && m.3 == Delivery::Delivered)
    })
    .await;
    assert!(simulator(desk.server.view()).find("hi bob 👋").is_ok());

    // Bob answers.
    in_server(&mut desk.server, |ui| say(ui, "hello alice"));
    desk.until("Alice sees Bob's answer, delivered", |d| {
        messages(d.client.chat())
            .iter()
            .any(|m| m.0 == "bob" && m.1 == "hello alice" && !m.2)
            && messages(d.server.chat())
                .iter()
                .any(|m| m.1 == "hello alice" && m.3 == Delivery::Delivered)
    })
    .await;
    assert!(simulator(desk.client.view()).find("hello alice").is_ok());

    // Alice disconnects: her window goes back to the connect screen, Bob's
    // back to waiting, with the chat still on screen.
    in_client(&mut desk.client, |ui| {
        ui.click("Disconnect").unwrap();
    });
    desk.until("both windows are back", |d| {
        !d.server.is_connected() && !d.client.is_chatting()
    })
    .await;
    let mut ui = simulator(desk.server.view());
    assert!(ui.find("Waiting for someone to connect…").is_ok());
    assert!(ui.find("hi bob 👋").is_ok(), "the history stays");
    assert!(simulator(desk.client.view()).find("Connect").is_ok());
    let shown =
        |from: &str, text: &str, mine| (from.into(), text.into(), mine, Delivery::Delivered);
    assert_eq!(
        messages(desk.server.chat()),
        [
            shown("alice", "hi bob 👋", false),
            shown("You", "hello alice", true)
        ],
        "each message once, delivered"
    );
    assert_eq!(
        messages(desk.client.chat()),
        [
            shown("You", "hi bob 👋", true),
            shown("bob", "hello alice", false)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_server_window_says_goodbye_so_the_client_does_not_retry() {
    let mut desk = connected_desktop().await;

    let _ = desk.server.update(server_gui::Message::CloseRequested);
    desk.until("Alice's window hears Bob leave", |d| {
        d.client.chat().entries().iter().any(|e| {
            matches!(e, Entry::System { text, .. } if text.starts_with("Disconnected: bob left"))
        })
    })
    .await;
    assert!(
        desk.client.session().is_none(),
        "a peer that said goodbye is not reconnected to"
    );
}
