//! What the client window remembers between runs, in a settings directory
//! of the test's own (never the user's): the last server and the name, the
//! key only when the switch is on (in a file only the user can read), and a
//! damaged or unwritable settings directory said in one line.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use client_gui::screen::connect::{self, Search};
use client_gui::{App, Message};
use common::settings::{ClientSettings, KEY_FILE, RememberedServer, Store};
use common::ui::MemoryClipboard;
use common::ui::engine::ClientUpdate;
use common::ui::entry::Entry;
use common::{ClientEvent, Key, Peer};
use iced_test::simulator;

const SWITCH: &str = "Remember this key on this computer";

fn open(store: &Store, name: Option<&str>) -> App {
    let (app, _) = App::open(
        name.map(str::to_owned),
        Some(store.clone()),
        Box::new(MemoryClipboard::default()),
    );
    app
}

fn act(app: &mut App, act: impl FnOnce(&mut iced_test::Simulator<'_, Message>)) {
    let mut ui = simulator(app.view());
    act(&mut ui);
    let messages: Vec<_> = ui.into_messages().collect();
    for message in messages {
        let _ = app.update(message);
    }
}

fn shows(app: &App, text: &str) -> bool {
    simulator(app.view()).find(text).is_ok()
}

/// Types `key` and `address`, clicks Connect, and the engine reports the
/// connection to "bob".
fn connect(app: &mut App, key: &Key, address: &str) {
    let _ = app.update(Message::Connect(connect::Message::Key(key.to_string())));
    let _ = app.update(Message::Connect(connect::Message::Address(address.into())));
    act(app, |ui| {
        ui.click("Connect").unwrap();
    });
    assert!(app.session().is_some(), "Connect started a session");
    let peer = Peer {
        name: "bob".into(),
        addr: "127.0.0.1:7878".parse().unwrap(),
    };
    let connected = ClientEvent::Connected { peer, resent: 0 };
    let _ = app.update(Message::Engine(ClientUpdate::Event(connected)));
    assert!(app.is_chatting());
}

fn temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("config"));
    (dir, store)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_last_server_and_name_are_remembered_and_the_address_prefilled() {
    let (_dir, store) = temp();
    let mut app = open(&store, None);
    assert_eq!(app.connect_screen().address, "");
    let key = Key::generate().unwrap();
    act(&mut app, |ui| {
        ui.click("anonymous").unwrap();
        let _ = ui.typewrite("-x");
    });
    let name = app.connect_screen().name.clone();
    connect(&mut app, &key, "127.0.0.1:7878");

    let saved: ClientSettings = store.load().unwrap();
    assert_eq!(
        saved.server,
        Some(RememberedServer {
            name: "bob".into(),
            address: "127.0.0.1:7878".into()
        })
    );
    assert_eq!(saved.name.as_deref(), Some(name.as_str()));

    // The next run: the address prefilled, the server shown, the name kept.
    let app = open(&store, None);
    let form = app.connect_screen();
    assert_eq!(form.address, "127.0.0.1:7878");
    assert_eq!(form.name, name);
    assert!(shows(&app, "Last time: bob — 127.0.0.1:7878"));
    assert!(shows(&app, "127.0.0.1:7878"), "in the address field");
    // A name given on the command line comes first.
    assert_eq!(open(&store, Some("carol")).connect_screen().name, "carol");
}

#[tokio::test]
async fn the_key_is_remembered_only_with_the_switch_on_in_a_private_file() {
    let (_dir, store) = temp();
    let key_file = store.dir().join(KEY_FILE);
    let key = Key::generate().unwrap();

    // Off by default: connecting saves no key.
    let mut app = open(&store, None);
    assert!(!app.connect_screen().remember_key);
    connect(&mut app, &key, "127.0.0.1:7878");
    assert!(store.dir().join("client.json").exists());
    assert!(!key_file.exists(), "the key is not saved unasked");

    // Switched on: saved once it has worked, readable by the user only.
    let mut app = open(&store, None);
    assert_eq!(app.connect_screen().key, "", "no key was remembered");
    act(&mut app, |ui| {
        ui.click(SWITCH).unwrap();
    });
    assert!(app.connect_screen().remember_key);
    connect(&mut app, &key, "127.0.0.1:7878");
    assert_eq!(fs::read_to_string(&key_file).unwrap().trim(), key.as_str());
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);

    // The next run: the key is there, the switch on, a search started.
    let mut app = open(&store, None);
    let form = app.connect_screen();
    assert_eq!(form.key, key.as_str());
    assert!(form.remember_key);
    assert!(matches!(form.search, Search::Searching { .. }));

    // Switched off: forgotten at once.
    act(&mut app, |ui| {
        ui.click(SWITCH).unwrap();
    });
    assert!(!key_file.exists());
    assert_eq!(open(&store, None).connect_screen().key, "");
}

#[tokio::test]
async fn a_damaged_settings_file_is_one_line_and_ignored() {
    let (_dir, store) = temp();
    fs::create_dir_all(store.dir()).unwrap();
    let path = store.dir().join("client.json");
    fs::write(&path, "{\"server\": {\"name\": \"bob\", \"addr").unwrap();
    let app = open(&store, Some("alice"));
    let form = app.connect_screen();
    let problem = form.settings_problem.clone().expect("the problem is said");
    assert!(
        problem.starts_with(&format!(
            "The saved settings in {} are damaged",
            path.display()
        )),
        "{problem}"
    );
    assert!(!problem.contains('\n'));
    assert!(shows(&app, &problem));
    // Everything else as on a first run.
    assert_eq!((form.address.as_str(), form.name.as_str()), ("", "alice"));

    // A key file that is not a key: said too, and no key is filled in.
    fs::remove_file(&path).unwrap();
    fs::write(store.dir().join(KEY_FILE), "garbage").unwrap();
    let app = open(&store, None);
    assert!(app.connect_screen().settings_problem.is_some());
    assert_eq!(app.connect_screen().key, "");
}

#[tokio::test]
async fn settings_that_cannot_be_saved_are_said_once_in_the_chat() {
    let (dir, _) = temp();
    // A file where the settings directory should be.
    let blocker = dir.path().join("blocker");
    fs::write(&blocker, "").unwrap();
    let store = Store::at(blocker.join("config"));
    let mut app = open(&store, None);
    connect(&mut app, &Key::generate().unwrap(), "127.0.0.1:7878");
    let lines: Vec<_> = app
        .chat()
        .entries()
        .iter()
        .filter_map(|e| match e {
            Entry::System { text, .. } if text.starts_with("Could not save the settings") => {
                Some(text.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    // Connected again (a reconnect): not said twice.
    let peer = Peer {
        name: "bob".into(),
        addr: "127.0.0.1:7878".parse().unwrap(),
    };
    let again = ClientEvent::Connected { peer, resent: 0 };
    let _ = app.update(Message::Engine(ClientUpdate::Event(again)));
    let count = app
        .chat()
        .entries()
        .iter()
        .filter(|e| matches!(e, Entry::System { text, .. } if text.starts_with("Could not save")))
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_server_that_moved_is_remembered_at_its_new_address() {
    let (_dir, store) = temp();
    let mut app = open(&store, None);
    connect(&mut app, &Key::generate().unwrap(), "127.0.0.1:7878");
    // The connection drops; the engine finds the server elsewhere and
    // connects there.
    let moved = ClientEvent::Moved {
        name: "bob".into(),
        to: "127.0.0.2:7878".parse().unwrap(),
    };
    let _ = app.update(Message::Engine(ClientUpdate::Event(moved)));
    let peer = Peer {
        name: "bob".into(),
        addr: "127.0.0.2:7878".parse().unwrap(),
    };
    let again = ClientEvent::Connected { peer, resent: 0 };
    let _ = app.update(Message::Engine(ClientUpdate::Event(again)));
    let saved: ClientSettings = store.load().unwrap();
    assert_eq!(saved.server.unwrap().address, "127.0.0.2:7878");
}
