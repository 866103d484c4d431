//! The connect form: the key first, the servers found with it, an address
//! for networks that block the search. Driven through iced_test's simulator
//! (clicks, typing, Enter); search results are what the discovery
//! subscription would deliver.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use client_gui::screen::connect::search::{self, MAX_FOUND};
use client_gui::screen::connect::{self, Connect, Event, Found, Search};
use common::Key;
use iced::keyboard::key::Named;
use iced_test::{selector, simulator};

const ADDRESS: &str = "192.168.1.20 or 192.168.1.20:7878";

/// Clicks and types in one view of the form; the events its messages give.
fn act(
    form: &mut Connect,
    act: impl FnOnce(&mut iced_test::Simulator<'_, connect::Message>),
) -> Vec<Event> {
    let mut ui = simulator(form.view());
    act(&mut ui);
    let messages: Vec<_> = ui.into_messages().collect();
    messages
        .into_iter()
        .filter_map(|m| form.update(m))
        .collect()
}

fn found(name: &str, addr: &str, ms: u64) -> Found {
    let addr: SocketAddr = addr.parse().unwrap();
    Found {
        name: name.into(),
        addr,
        addrs: vec![addr],
        after: Duration::from_millis(ms),
    }
}

/// The generation of the running search.
fn generation(form: &Connect) -> u64 {
    form.search.running().expect("a search runs").generation
}

fn answer(form: &mut Connect, found: Found) {
    let generation = generation(form);
    let message = connect::Message::Search(search::Message::Found(generation, found));
    assert_eq!(form.update(message), None);
}

fn shows(form: &Connect, text: &str) -> bool {
    simulator(form.view()).find(text).is_ok()
}

fn connects_to(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Connect { server, .. } => Some(server.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_valid_key_starts_a_search_a_new_one_restarts_it_an_invalid_one_stops_it() {
    let mut form = Connect::default();
    assert!(form.search.running().is_none());
    assert!(shows(
        &form,
        "Paste the key: the servers that use it are found on this network."
    ));
    let key = Key::generate().unwrap();
    let events = act(&mut form, |ui| {
        ui.click(selector::id(connect::KEY)).unwrap();
        let _ = ui.typewrite(key.as_str());
    });
    // One search, started once the key was whole (not per keystroke).
    assert_eq!(events, [Event::Searching(1)]);
    assert_eq!(form.search.running().unwrap().key, key);
    assert!(shows(&form, "Searching…"));
    assert!(shows(&form, "Stop"), "searching can be stopped");
    // The same key again (pasted over itself) does not restart it.
    assert_eq!(form.update(connect::Message::Key(key.to_string())), None);

    let other = Key::generate().unwrap();
    assert_eq!(
        form.update(connect::Message::Key(other.to_string())),
        Some(Event::Searching(2))
    );
    assert_eq!(generation(&form), 2);
    // Typing on after a valid key: invalid, the search stops.
    let _ = act(&mut form, |ui| {
        ui.click(selector::id(connect::KEY)).unwrap();
        let _ = ui.typewrite("x");
    });
    assert!(form.search.running().is_none());
    assert!(matches!(form.search, Search::Idle));
}

#[test]
fn found_servers_are_listed_and_enter_connects_to_the_only_one() {
    let mut form = Connect {
        // A remembered address that no longer answers: the server found
        // wins on Enter.
        address: "10.9.9.9".into(),
        ..Connect::default()
    };
    let key = Key::generate().unwrap();
    let _ = form.update(connect::Message::Key(key.to_string()));
    answer(&mut form, found("alice", "192.168.1.20:7878", 12));
    assert!(shows(&form, "alice — 192.168.1.20:7878"));
    assert!(shows(&form, "found in 12 ms"));
    assert!(shows(&form, "Found 1 server. Still searching…"));

    // Enter in the key field: the only server found.
    let events = act(&mut form, |ui| {
        ui.click(selector::id(connect::KEY)).unwrap();
        let _ = ui.tap_key(Named::Enter);
    });
    assert_eq!(connects_to(&events), ["192.168.1.20:7878"]);
    assert!(matches!(
        &events[..],
        [Event::Connect { key: k, .. }] if *k == key
    ));
    assert!(
        form.search.running().is_none(),
        "connecting stops the search"
    );
    assert!(shows(&form, "alice — 192.168.1.20:7878"), "still listed");
}

#[test]
fn with_several_found_each_has_its_connect_and_enter_takes_the_typed_address() {
    let mut form = Connect {
        address: "10.0.0.5:7000".into(),
        ..Connect::default()
    };
    let _ = form.update(connect::Message::Key(Key::generate().unwrap().to_string()));
    answer(&mut form, found("alice", "192.168.1.20:7878", 5));
    answer(&mut form, found("bob", "[fe80::1]:7878", 9));
    // The same server answering again is listed once.
    answer(&mut form, found("bob", "[fe80::1]:7878", 30));
    assert_eq!(form.search.found().len(), 2);
    assert!(shows(&form, "bob — [fe80::1]:7878"));
    assert!(form.search.preselected().is_none());

    let events = act(&mut form, |ui| {
        ui.click(selector::id(connect::KEY)).unwrap();
        let _ = ui.tap_key(Named::Enter);
    });
    assert_eq!(connects_to(&events), ["10.0.0.5:7000"]);

    // The second row's Connect.
    let mut form2 = Connect::default();
    let _ = form2.update(connect::Message::Key(Key::generate().unwrap().to_string()));
    answer(&mut form2, found("alice", "192.168.1.20:7878", 5));
    answer(&mut form2, found("bob", "[fe80::1%3]:7878", 9));
    let message = connect::Message::Search(search::Message::Connect(1));
    let event = form2.update(message).unwrap();
    // A link-local address keeps its interface.
    assert_eq!(connects_to(&[event]), ["[fe80::1%3]:7878"]);
}

#[test]
fn results_of_a_replaced_search_are_not_listed_and_the_list_is_bounded() {
    let mut form = Connect::default();
    let _ = form.update(connect::Message::Key(Key::generate().unwrap().to_string()));
    let old = generation(&form);
    let _ = form.update(connect::Message::Key(Key::generate().unwrap().to_string()));
    let stale = search::Message::Found(old, found("mallory", "10.0.0.66:7878", 1));
    let _ = form.update(connect::Message::Search(stale));
    assert!(form.search.found().is_empty());

    for n in 0..MAX_FOUND + 10 {
        answer(
            &mut form,
            found("x", &format!("10.0.{}.{}:7878", n / 200, n % 200), 1),
        );
    }
    assert_eq!(form.search.found().len(), MAX_FOUND);
}

#[test]
fn nothing_found_says_so_and_suggests_the_address_and_stop_stops() {
    let mut form = Connect::default();
    let _ = form.update(connect::Message::Key(Key::generate().unwrap().to_string()));
    let hint = "No server with this key answered in 3 s. This network may block the \
                search (guest Wi-Fi often does): type the address the server window \
                shows below.";
    assert!(!shows(&form, hint));
    // The timer of an older search does nothing.
    let _ = form.update(connect::Message::Search(search::Message::Quiet(
        generation(&form) - 1,
    )));
    assert!(!shows(&form, hint));
    let _ = form.update(connect::Message::Search(search::Message::Quiet(
        generation(&form),
    )));
    assert!(shows(&form, hint));
    assert!(form.search.running().is_some(), "it goes on searching");
    // A late answer replaces the hint with the server.
    answer(&mut form, found("alice", "192.168.1.20:7878", 4_000));
    assert!(!shows(&form, hint));
    assert!(shows(&form, "alice — 192.168.1.20:7878"));

    let _ = act(&mut form, |ui| {
        ui.click("Stop").unwrap();
    });
    assert!(form.search.running().is_none());
    assert!(shows(&form, "alice — 192.168.1.20:7878"), "still listed");
    let events = act(&mut form, |ui| {
        ui.click("Search again").unwrap();
    });
    assert!(matches!(events[..], [Event::Searching(_)]), "{events:?}");
    assert!(form.search.found().is_empty());
}

#[test]
fn enter_right_after_pasting_the_key_connects_to_the_typed_address() {
    let mut form = Connect {
        address: "127.0.0.1:7878".into(),
        ..Connect::default()
    };
    let key = Key::generate().unwrap().to_string();
    // One view, built while the key field was still empty: the key arrives
    // and Enter follows before it is rebuilt.
    let events = act(&mut form, |ui| {
        ui.click(selector::id(connect::KEY)).unwrap();
        let _ = ui.typewrite(&key);
        let _ = ui.tap_key(Named::Enter);
    });
    assert!(
        matches!(events.as_slice(), [Event::Searching(_), Event::Connect { key: k, .. }] if k.to_string() == key),
        "{events:?}"
    );
    assert_eq!(connects_to(&events), ["127.0.0.1:7878"]);
}

#[test]
fn enter_in_the_address_field_connects_there_but_not_twice() {
    let mut form = Connect {
        key: Key::generate().unwrap().to_string(),
        ..Connect::default()
    };
    let events = act(&mut form, |ui| {
        ui.click(ADDRESS).unwrap();
        let _ = ui.typewrite("127.0.0.1:7878");
        let _ = ui.tap_key(Named::Enter);
    });
    assert_eq!(connects_to(&events), ["127.0.0.1:7878"]);
    form.connecting = true;
    assert_eq!(form.update(connect::Message::ConnectAddress), None);
    assert_eq!(form.update(connect::Message::Submit), None);
}

#[test]
fn the_remember_key_switch_is_off_by_default() {
    let mut form = Connect::default();
    assert!(!form.remember_key);
    let events = act(&mut form, |ui| {
        ui.click("Remember this key on this computer").unwrap();
    });
    assert_eq!(events, [Event::RememberKey(true)]);
    assert!(form.remember_key);
}
