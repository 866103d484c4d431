//! The server window's name (announced in the handshake), what it remembers
//! between runs, and who looked for it (discovery probes).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::net::SocketAddr;
use std::time::Duration;

use common::settings::{ServerSettings, Store};
use common::ui::MemoryClipboard;
use common::ui::engine::{self, ServerUpdate};
use common::ui::entry::{Entry, clock_time};
use common::{
    ChatEvent, ClientConfig, ClientEvent, Clock, Config, Key, Rejection, ServerConfig, ServerEvent,
};
use iced::futures::{Stream, StreamExt};
use iced_test::{selector, simulator};
use server_gui::remember::Remembered;
use server_gui::screen::waiting;
use server_gui::{App, Message};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);
/// What the test clock says: 2026-11-26 14:02 UTC.
const NOW_MS: u64 = 1_795_701_720_000;

fn config(key: Key, name: &str) -> ServerConfig {
    let mut chat = Config::new(key, name);
    chat.clock = Clock::from_fn(|| NOW_MS);
    chat.discovery = None;
    ServerConfig {
        chat,
        port: 0,
        bind: Some("127.0.0.1".parse().unwrap()),
        max_members: common::DEFAULT_MAX_MEMBERS,
    }
}

fn act(app: &mut App, act: impl FnOnce(&mut iced_test::Simulator<'_, Message>)) {
    let mut ui = simulator(app.view());
    act(&mut ui);
    let messages: Vec<_> = ui.into_messages().collect();
    for message in messages {
        let _ = app.update(message);
    }
}

/// Types `name` over the name field's text and presses Enter.
fn rename(app: &mut App, name: &str) {
    let _ = app.update(Message::Waiting(waiting::Message::NameInput(String::new())));
    act(app, |ui| {
        ui.click(selector::id(waiting::NAME)).unwrap();
        let _ = ui.typewrite(name);
        let _ = ui.tap_key(iced::keyboard::key::Named::Enter);
    });
}

fn temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("config"));
    (dir, store)
}

type Updates = std::pin::Pin<Box<dyn Stream<Item = ServerUpdate> + Send>>;

/// Runs the window's engine subscription stream, feeding the window, until
/// `done`.
async fn run(app: &mut App, updates: &mut Updates, what: &str, done: impl Fn(&App) -> bool) {
    timeout(WAIT, async {
        while !done(app) {
            let next = updates.next().await.expect("the engine runs");
            let _ = app.update(Message::Engine(next));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_name_is_announced_to_the_next_connection_and_remembered() {
    let (_dir, store) = temp();
    let key = Key::generate().unwrap();
    let mut app = App::new(
        config(key.clone(), "bob"),
        Box::new(MemoryClipboard::default()),
    )
    .remembering(Remembered::load(Some(store.clone())));
    assert!(simulator(app.view()).find("bob").is_ok(), "the name field");

    let mut updates: Updates = Box::pin(engine::server(app.params()));
    run(&mut app, &mut updates, "it listens", |a| {
        a.engine().listening().is_some()
    })
    .await;
    let generation = app.params().generation;

    rename(&mut app, "Robert");
    // The engine stops, and the window starts one with the new name.
    run(&mut app, &mut updates, "the engine restarts", |a| {
        a.params().generation > generation
    })
    .await;
    assert_eq!(app.params().config.chat.name, "Robert");
    let saved: ServerSettings = store.load().unwrap();
    assert_eq!(saved.name.as_deref(), Some("Robert"));

    let mut updates: Updates = Box::pin(engine::server(app.params()));
    run(&mut app, &mut updates, "it listens again", |a| {
        a.engine().listening().is_some()
    })
    .await;
    assert_eq!(app.waiting().key, key.as_str(), "the same key");

    // A client with the key hears the new name in the handshake.
    let addr = app.engine().listening().unwrap().addrs[0].to_string();
    let (_alice, mut events) = common::client::connect(ClientConfig {
        chat: Config::new(key, "alice"),
        server: addr.parse().unwrap(),
    });
    let peer = timeout(WAIT, async {
        loop {
            tokio::select! {
                Some(next) = updates.next() => { let _ = app.update(Message::Engine(next)); }
                Some(event) = events.recv() => {
                    if let ClientEvent::Connected { peer, .. } = event {
                        return peer;
                    }
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(peer.name, "Robert");
}

#[tokio::test]
async fn the_name_waits_while_messages_wait_for_the_next_person() {
    let mut app = App::new(
        config(Key::generate().unwrap(), "bob"),
        Box::new(MemoryClipboard::default()),
    );
    let server = common::Server::bind(app.params().config.clone())
        .await
        .unwrap();
    let (port, addrs) = (server.port(), server.addrs());
    let (handle, _events) = server.start();
    let _ = app.update(Message::Engine(ServerUpdate::Listening {
        handle,
        port,
        addrs,
        discovery: None,
    }));
    // Something typed while nobody is connected waits in the engine.
    act(&mut app, |ui| {
        ui.click(selector::id(common::ui::chat::INPUT)).unwrap();
        let _ = ui.typewrite("for whoever comes");
        let _ = ui.tap_key(iced::keyboard::key::Named::Enter);
    });
    assert_eq!(app.chat().undelivered(), 1);
    let generation = app.params().generation;
    rename(&mut app, "Robert");
    assert_eq!(app.params().config.chat.name, "bob");
    assert_eq!(app.params().generation, generation);
    assert!(
        simulator(app.view())
            .find(
                "Messages are waiting for the next person: change the name once they are \
                 delivered."
            )
            .is_ok()
    );
}

#[test]
fn remembered_name_and_port_come_after_the_command_line() {
    let (_dir, store) = temp();
    let nothing = Remembered::load(Some(store.clone()));
    assert_eq!(nothing.port(None), common::DEFAULT_PORT);
    assert_eq!(nothing.name(Some("given".into())), "given");
    store
        .save(&ServerSettings {
            name: Some("Robert".into()),
            port: Some(7999),
            ..ServerSettings::default()
        })
        .unwrap();
    let saved = Remembered::load(Some(store.clone()));
    assert_eq!(
        (saved.name(None), saved.port(None)),
        ("Robert".into(), 7999)
    );
    assert_eq!(
        (saved.name(Some("bob".into())), saved.port(Some(7000))),
        ("bob".into(), 7000)
    );
    assert_eq!(saved.problem, None);
}

#[test]
fn a_damaged_settings_file_is_one_line_in_the_window() {
    let (_dir, store) = temp();
    fs::create_dir_all(store.dir()).unwrap();
    let path = store.dir().join("server.json");
    fs::write(&path, "\u{0}\u{1}not json").unwrap();
    let remembered = Remembered::load(Some(store));
    assert_eq!(remembered.port(None), common::DEFAULT_PORT);
    let app = App::new(
        config(Key::generate().unwrap(), "bob"),
        Box::new(MemoryClipboard::default()),
    )
    .remembering(remembered);
    let line = format!(
        "The saved settings in {} are damaged (expected value at line 1 column 1); they \
         are ignored",
        path.display()
    );
    assert_eq!(app.waiting().note.as_deref(), Some(line.as_str()));
    assert!(simulator(app.view()).find(line.as_str()).is_ok());
}

fn event(app: &mut App, event: impl Into<ServerEvent>) {
    let _ = app.update(Message::Engine(ServerUpdate::Event(event.into())));
}

fn probed(app: &mut App, ip: &str) {
    let from = SocketAddr::new(ip.parse().unwrap(), 40000);
    event(app, ServerEvent::Probed { from });
}

fn chat_lines(app: &App) -> Vec<String> {
    app.chat()
        .entries()
        .iter()
        .filter_map(|e| match e {
            Entry::System { text, .. } => Some(text.clone()),
            Entry::Message(_) => None,
        })
        .collect()
}

#[test]
fn who_looked_for_the_server_is_one_line_per_address_and_bad_probes_are_counted() {
    let mut app = App::new(
        config(Key::generate().unwrap(), "bob"),
        Box::new(MemoryClipboard::default()),
    );
    for _ in 0..50 {
        probed(&mut app, "192.168.1.7");
    }
    let line = format!(
        "192.168.1.7 looked for this server at {}",
        clock_time(NOW_MS)
    );
    let mut ui = simulator(app.view());
    assert!(ui.find(line.as_str()).is_ok());
    drop(ui);
    assert_eq!(app.waiting().probes.lines().count(), 1);

    // During a chat: one chat line per address (per minute).
    let alice = common::Member {
        id: "alice-member-id-000000".into(),
        name: "alice".into(),
        addr: Some("192.168.1.7:50000".parse().unwrap()),
        since: 0,
        you: false,
    };
    event(&mut app, ChatEvent::Joined(alice));
    probed(&mut app, "192.168.1.8");
    probed(&mut app, "192.168.1.8");
    probed(&mut app, "192.168.1.7");
    let looked: Vec<_> = chat_lines(&app)
        .into_iter()
        .filter(|l| l.contains("looked for this server"))
        .collect();
    assert_eq!(looked, ["192.168.1.8 looked for this server"]);

    // Probes that do not decrypt: tallied, not told in the chat.
    let before = chat_lines(&app).len();
    for _ in 0..3 {
        let addr = SocketAddr::new("10.0.0.9".parse().unwrap(), 7878);
        let reason = Rejection::BadProbe;
        event(&mut app, ServerEvent::Rejected { addr, reason });
    }
    assert_eq!(chat_lines(&app).len(), before);
    let rows: Vec<_> = app
        .waiting()
        .turned_away
        .rows()
        .map(|r| r.describe())
        .collect();
    assert_eq!(
        rows,
        [format!(
            "10.0.0.9 sent a UDP datagram that is not a discovery probe with this key: 3 \
             times, the last at {}",
            clock_time(NOW_MS)
        )]
    );
}

#[tokio::test]
async fn a_server_that_cannot_answer_searches_says_so() {
    // Another program holds the UDP port (without sharing it).
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let mut config = config(Key::generate().unwrap(), "bob");
    config.chat.discovery = Some(common::discovery::Reach::Lan);
    config.port = port;
    let mut app = App::new(config, Box::new(MemoryClipboard::default()));
    let mut updates: Updates = Box::pin(engine::server(app.params()));
    run(&mut app, &mut updates, "it listens", |a| {
        a.engine().listening().is_some()
    })
    .await;
    let why = app
        .engine()
        .listening()
        .unwrap()
        .unsearchable
        .clone()
        .expect("it says why");
    assert!(
        why.starts_with(&format!("Discovery is off: could not open UDP port {port}"))
            && why.ends_with("clients must type an address"),
        "{why}"
    );
    assert!(simulator(app.view()).find(why.as_str()).is_ok());
}
