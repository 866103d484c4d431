//! The client window finds the server with the key alone: a real server
//! engine on 127.0.0.1 answering discovery probes, the window's own search
//! (the stream its subscription runs, probing loopback only), and the engine
//! Enter starts.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use client_gui::screen::connect;
use client_gui::screen::connect::search::{self, Reach, Scope};
use client_gui::{App, Message};
use common::ui::MemoryClipboard;
use common::ui::engine;
use common::{Config, Key, Server, ServerConfig};
use iced::futures::{FutureExt, StreamExt};
use iced::keyboard::key::Named;
use iced_test::runtime::{Action as Run, Task, task};
use iced_test::{selector, simulator};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

fn loopback() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

/// `update`, then what its task does at once (a paste).
fn update(app: &mut App, message: Message) {
    let task: Task<Message> = app.update(message);
    let Some(mut actions) = task::into_stream(task) else {
        return;
    };
    let mut pending = 0;
    while pending < 4 {
        match actions.next().now_or_never() {
            Some(Some(Run::Output(message))) => update(app, message),
            Some(Some(_)) => {}
            Some(None) => return,
            None => pending += 1,
        }
    }
}

fn act(app: &mut App, act: impl FnOnce(&mut iced_test::Simulator<'_, Message>)) {
    let mut ui = simulator(app.view());
    act(&mut ui);
    let messages: Vec<_> = ui.into_messages().collect();
    for message in messages {
        update(app, message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_key_finds_the_server_and_enter_connects_to_it() {
    let key = Key::generate().unwrap();
    let mut chat = Config::new(key.clone(), "bob");
    chat.discovery = Some(Reach::To(vec![loopback()]));
    let server = Server::bind(ServerConfig {
        chat,
        port: 0,
        bind: Some(loopback()),
        max_members: common::DEFAULT_MAX_MEMBERS,
    })
    .await
    .unwrap();
    assert!(server.discovery_error().is_none());
    let port = server.port();
    let (_bob, mut bob_events) = server.start();

    let clipboard = MemoryClipboard::default();
    let (mut app, _) = App::open(Some("alice".into()), None, Box::new(clipboard.clone()));
    app.search_in(Scope {
        port,
        reach: Reach::To(vec![loopback()]),
    });
    assert!(app.search_params().is_none(), "no key, no search");

    clipboard.set(key.as_str());
    act(&mut app, |ui| {
        ui.click("Paste").unwrap();
    });
    let params = app.search_params().expect("a valid key starts a search");
    assert!(simulator(app.view()).find("Searching…").is_ok());

    // The window's subscription, run as iced runs it.
    let mut results = Box::pin(search::stream(&params));
    let listed = format!("bob — 127.0.0.1:{port}");
    timeout(WAIT, async {
        while app.connect_screen().search.found().is_empty() {
            let message = results.next().await.expect("the search goes on");
            update(
                &mut app,
                Message::Connect(connect::Message::Search(message)),
            );
        }
    })
    .await
    .expect("the server is found");
    assert!(simulator(app.view()).find(listed.as_str()).is_ok());

    // Exactly one: preselected, Enter in the key field connects to it.
    act(&mut app, |ui| {
        ui.click(selector::id(connect::KEY)).unwrap();
        let _ = ui.tap_key(Named::Enter);
    });
    let session = app.session().expect("Enter connected");
    assert_eq!(
        session.config.server.to_string(),
        format!("127.0.0.1:{port}")
    );
    assert!(app.search_params().is_none(), "connecting stops the search");
    // If the connection is lost, the engine looks where the window did.
    assert_eq!(
        session.config.chat.discovery,
        Some(Reach::To(vec![loopback()]))
    );

    let mut updates = Box::pin(engine::client(session));
    timeout(WAIT, async {
        while !app.is_chatting() {
            tokio::select! {
                Some(next) = updates.next() => update(&mut app, Message::Engine(next)),
                Some(_) = bob_events.recv() => {}
            }
        }
    })
    .await
    .expect("Alice's window is in the chat");
    assert_eq!(app.title(), "fernet-chat: chatting with bob");
}

#[tokio::test(start_paused = true)]
async fn with_nothing_found_the_window_says_so_after_a_few_seconds() {
    let clipboard = MemoryClipboard::default();
    let (mut app, _) = App::open(None, None, Box::new(clipboard.clone()));
    clipboard.set(Key::generate().unwrap().as_str());
    // Paste: the clipboard answers at once, and the key starts a search
    // whose task is the hint's timer.
    let pasted = app.update(Message::Connect(connect::Message::Paste));
    let key = task::into_stream(pasted)
        .unwrap()
        .next()
        .await
        .and_then(|action| match action {
            Run::Output(message) => Some(message),
            _ => None,
        })
        .unwrap();
    let timer = app.update(key);
    assert!(app.search_params().is_some());
    let hint = "No server with this key answered in 3 s. This network may block the \
                search (guest Wi-Fi often does): type the address the server window \
                shows below.";
    assert!(simulator(app.view()).find(hint).is_err());

    let started = tokio::time::Instant::now();
    // Its output (the focus returning to the key field is not one).
    let quiet = task::into_stream(timer)
        .unwrap()
        .filter_map(|action| async move {
            match action {
                Run::Output(message) => Some(message),
                _ => None,
            }
        })
        .boxed()
        .next()
        .await
        .expect("the timer fires");
    assert_eq!(started.elapsed(), search::QUIET_AFTER);
    let _ = app.update(quiet);
    assert!(simulator(app.view()).find(hint).is_ok());
    assert!(app.search_params().is_some(), "the search goes on");
}

#[test]
fn with_searching_turned_off_the_engine_does_not_look_for_a_server_that_moved() {
    let key = Key::generate().unwrap();
    let (mut app, _) = App::open(None, None, Box::new(MemoryClipboard::default()));
    app.search_off();
    act(&mut app, |ui| {
        ui.click(selector::id(connect::KEY)).unwrap();
        let _ = ui.typewrite(key.as_str());
        ui.click(selector::id(connect::ADDRESS)).unwrap();
        let _ = ui.typewrite("192.0.2.7");
        let _ = ui.tap_key(Named::Enter);
    });
    let session = app.session().expect("Enter connects to the typed address");
    assert_eq!(session.config.server.to_string(), "192.0.2.7:7878");
    assert_eq!(session.config.chat.discovery, None);
}
