//! Both windows end to end, headless: the server and client programs' own
//! `update` and `view`, driven the way a user would (iced_test's simulator
//! clicks and types), with their engine subscriptions' streams running over
//! real loopback TCP and every update fed back in. Nothing is mocked but the
//! clipboard, which the two windows share as they would on one desktop.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use client_gui::screen::connect::Connect;
use common::ui::engine::{self, ClientUpdate, ServerUpdate};
use common::ui::entry::Entry;
use common::ui::{MemoryClipboard, chat};
use common::{Config, Key, ServerConfig};
use futures::{Stream, StreamExt};
use iced::Task;
use iced::keyboard::key::Named;
use iced_test::runtime::{Action, task};
use iced_test::{selector, simulator};
use server_gui::screen::waiting;
use tests::engines::WAIT;
use tokio::time::timeout;

/// An engine subscription's stream, as iced runs it.
type Updates<U> = Pin<Box<dyn Stream<Item = U> + Send>>;

/// Two windows and their running engine subscriptions.
struct Desktop {
    server: server_gui::App,
    client: client_gui::App,
    server_updates: Updates<ServerUpdate>,
    client_updates: Option<Updates<ClientUpdate>>,
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
    settle(messages, |message| app.update(message));
}

fn in_client(app: &mut client_gui::App, act: impl FnOnce(&mut Ui<'_, client_gui::Message>)) {
    let mut ui = simulator(app.view());
    act(&mut ui);
    let messages: Vec<_> = ui.into_messages().collect();
    settle(messages, |message| app.update(message));
}

/// Feeds `messages` to a window's `update`, and what its tasks produce
/// without waiting on anything (a paste's clipboard read, here) back in
/// turn, as iced's executor would at once. Tasks that wait (a timer) are
/// dropped, and so are widget operations.
fn settle<M>(messages: Vec<M>, mut update: impl FnMut(M) -> Task<M>) {
    let woken = Arc::new(Woken::default());
    let waker = futures::task::waker(woken.clone());
    let mut context = Context::from_waker(&waker);
    let mut queue = VecDeque::from(messages);
    while let Some(message) = queue.pop_front() {
        let Some(mut actions) = task::into_stream(update(message)) else {
            continue;
        };
        loop {
            woken.0.store(false, Ordering::SeqCst);
            match actions.poll_next_unpin(&mut context) {
                Poll::Ready(Some(Action::Output(message))) => queue.push_back(message),
                Poll::Ready(Some(_)) => {}
                // It yielded (every task does before its first output).
                Poll::Pending if woken.0.load(Ordering::SeqCst) => {}
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
    }
}

/// Whether a task woke itself while it was polled.
#[derive(Default)]
struct Woken(AtomicBool);

impl futures::task::ArcWake for Woken {
    fn wake_by_ref(woken: &Arc<Woken>) {
        woken.0.store(true, Ordering::SeqCst);
    }
}

type Ui<'a, M> = iced_test::Simulator<'a, M>;

/// Types `text` into the chat input and presses Enter.
fn say<M>(ui: &mut Ui<'_, M>, text: &str) {
    ui.click(selector::id(chat::INPUT)).unwrap();
    let _ = ui.typewrite(text);
    let _ = ui.tap_key(Named::Enter);
}

/// A window's messages: (from, text, ours, where it is as shown).
fn messages(chat: &chat::Chat) -> Vec<(String, String, bool, String)> {
    chat.entries()
        .iter()
        .filter_map(|e| match e {
            Entry::Message(m) => Some((
                m.from.clone(),
                m.text.clone(),
                m.mine,
                m.delivery_label().into_owned(),
            )),
            Entry::System { .. } => None,
        })
        .collect()
}

/// Bob's server window, listening on loopback, and Alice's client window.
async fn desktop() -> Desktop {
    let clipboard = MemoryClipboard::default();
    let server = server_gui::App::new(
        ServerConfig {
            chat: Config::new(Key::generate().unwrap(), "bob"),
            port: 0,
            bind: Some("127.0.0.1".parse().unwrap()),
            max_members: common::DEFAULT_MAX_MEMBERS,
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
    let server_updates: Updates<ServerUpdate> = Box::pin(engine::server(server.params()));
    let mut desk = Desktop {
        server,
        client,
        server_updates,
        client_updates: None,
        clipboard,
    };
    // The server window starts listening and shows where.
    desk.until("the server listens", |d| {
        d.server.engine().listening().is_some()
    })
    .await;
    desk
}

impl Desktop {
    /// The first address the server window shows.
    fn address(&self) -> String {
        self.server.engine().listening().unwrap().addrs[0].to_string()
    }

    /// Bob clicks Copy next to the key; Alice clicks Paste.
    fn hand_over_the_key(&mut self) {
        in_server(&mut self.server, |ui| {
            ui.click(selector::id(waiting::COPY_KEY)).unwrap();
        });
        let key = self.server.waiting().key.clone();
        assert_eq!(self.clipboard.contents(), Some(key.clone()));
        in_client(&mut self.client, |ui| {
            ui.click("Paste").unwrap();
        });
        assert_eq!(self.client.connect_screen().key, key);
    }

    /// Alice types the server's address (if the field is empty) and clicks
    /// Connect; the client engine starts.
    fn connect(&mut self) {
        if self.client.connect_screen().address.is_empty() {
            let addr = self.address();
            in_client(&mut self.client, |ui| {
                ui.click("192.168.1.20 or 192.168.1.20:7878").unwrap();
                let _ = ui.typewrite(&addr);
            });
        }
        in_client(&mut self.client, |ui| {
            ui.click("Connect").unwrap();
        });
        self.start_client();
    }

    async fn until_chatting(&mut self) {
        self.until("both windows are in the chat (or the client failed)", |d| {
            (d.server.is_connected() && d.client.is_chatting())
                || d.client.connect_screen().error.is_some()
        })
        .await;
        assert_eq!(self.client.connect_screen().error, None);
        assert_eq!(self.client.title(), "fernet-chat: chatting with bob");
        assert_eq!(
            self.server.title(),
            "fernet-chat server: chatting with alice"
        );
    }

    /// Alice writes `text`; Bob's window shows it and Alice's marks it
    /// delivered.
    async fn alice_says(&mut self, text: &str) {
        in_client(&mut self.client, |ui| say(ui, text));
        self.until("Bob sees Alice's message, delivered", |d| {
            messages(d.server.chat())
                .iter()
                .any(|m| m.0 == "alice" && m.1 == text && !m.2)
                && messages(d.client.chat())
                    .iter()
                    .any(|m| m.1 == text && m.3 == "delivered")
        })
        .await;
        assert!(simulator(self.server.view()).find(text).is_ok());
    }
}

/// Bob's server window and Alice's client window, connected the way a user
/// connects them: Copy the key, Paste it, type the address, Connect.
async fn connected_desktop() -> Desktop {
    let mut desk = desktop().await;
    desk.hand_over_the_key();
    desk.connect();
    desk.until_chatting().await;
    desk
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_windows_chat_over_loopback() {
    let mut desk = connected_desktop().await;

    // Alice writes; Bob's window shows it, Alice's marks it delivered.
    desk.alice_says("hi bob 👋").await;

    // Each window's Copy under a message puts its text on the clipboard.
    desk.clipboard.set("something else");
    in_server(&mut desk.server, |ui| {
        ui.click("Copy").unwrap();
    });
    assert_eq!(desk.clipboard.contents().as_deref(), Some("hi bob 👋"));
    desk.clipboard.set("something else");
    in_client(&mut desk.client, |ui| {
        ui.click("Copy").unwrap();
    });
    assert_eq!(desk.clipboard.contents().as_deref(), Some("hi bob 👋"));

    // Bob answers.
    in_server(&mut desk.server, |ui| say(ui, "hello alice"));
    desk.until("Alice sees Bob's answer, delivered", |d| {
        messages(d.client.chat())
            .iter()
            .any(|m| m.0 == "bob" && m.1 == "hello alice" && !m.2)
            && messages(d.server.chat())
                .iter()
                .any(|m| m.1 == "hello alice" && m.3 == "delivered")
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
    let shown = |from: &str, text: &str, mine| (from.into(), text.into(), mine, "delivered".into());
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

/// New key (the README says to click it for each new chat): the window shows
/// the new key, a client with the old key is told plainly, and one with the
/// new key chats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_key_admits_the_new_key_and_turns_the_old_one_away() {
    let mut desk = desktop().await;
    // Paste with nothing on the clipboard says so.
    in_client(&mut desk.client, |ui| {
        ui.click("Paste").unwrap();
    });
    assert_eq!(
        desk.client.connect_screen().error.as_deref(),
        Some("Could not paste: the clipboard holds no text")
    );
    // Alice got the key before Bob replaced it.
    desk.hand_over_the_key();
    let old = desk.server.waiting().key.clone();

    in_server(&mut desk.server, |ui| {
        ui.click("New key").unwrap();
    });
    desk.until("the server window shows a new key", |d| {
        d.server.waiting().key != old
    })
    .await;
    let new = desk.server.waiting().key.clone();
    let mut ui = simulator(desk.server.view());
    assert!(ui.find(new.as_str()).is_ok(), "the new key is shown");
    assert!(ui.find(old.as_str()).is_err(), "the old key is gone");
    drop(ui);

    // The old key: Alice's window says so, in words she can act on.
    desk.connect();
    desk.until("Alice's window reports the failure", |d| {
        d.client.connect_screen().error.is_some()
    })
    .await;
    let said = "The server uses a different key: paste the key its window shows";
    assert_eq!(desk.client.connect_screen().error.as_deref(), Some(said));
    assert!(simulator(desk.client.view()).find(said).is_ok());
    assert!(!desk.server.is_connected());

    // The new key: Copy, Paste, Connect, and they chat.
    desk.hand_over_the_key();
    assert_eq!(desk.client.connect_screen().key, new);
    desk.connect();
    desk.until_chatting().await;
    desk.alice_says("hello with the new key").await;
}

/// Remove beside Alice in Bob's online list: the engine says `bye removed`
/// to her, her window says so and stops, and Bob's lists her with Allow
/// back; New key during the room disconnects whoever is in it, each side
/// saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_disconnects_the_member_and_new_key_empties_the_room() {
    let mut desk = connected_desktop().await;
    in_server(&mut desk.server, |ui| {
        ui.click("Remove").unwrap();
    });
    let removed = "The server removed you from this room";
    desk.until("Alice's window says she was removed", |d| {
        d.client
            .chat()
            .entries()
            .iter()
            .any(|e| matches!(e, Entry::System { text, .. } if text == removed))
    })
    .await;
    desk.until("Bob's window lists her as removed", |d| {
        d.server
            .engine()
            .listening()
            .is_some_and(|l| l.removed.iter().any(|m| m.name == "alice"))
    })
    .await;
    assert!(desk.client.session().is_none(), "no reconnecting");
    assert!(!desk.server.is_connected(), "the room is empty");
    let mut ui = simulator(desk.server.view());
    assert!(ui.find("alice was removed").is_ok());
    assert!(ui.find("Allow back").is_ok());
    drop(ui);

    // Allowed back, she joins again; then New key sends her away.
    in_server(&mut desk.server, |ui| {
        ui.click("Allow back").unwrap();
    });
    in_client(&mut desk.client, |ui| {
        ui.click("Disconnect").unwrap();
    });
    desk.connect();
    desk.until_chatting().await;
    in_server(&mut desk.server, |ui| {
        ui.click("New key").unwrap();
    });
    assert!(
        simulator(desk.server.view())
            .find(server_gui::screen::room::NEW_KEY_NOTICE)
            .is_ok()
    );
    desk.until("Alice's window hears of the new key", |d| {
        d.client
            .chat()
            .entries()
            .iter()
            .any(|e| matches!(e, Entry::System { text, .. } if text == client_gui::NEW_KEY))
    })
    .await;
    assert!(desk.client.session().is_none(), "no reconnecting");
}
