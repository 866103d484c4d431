//! The connect form as a fast typist uses it: Enter pressed in the same
//! batch of input as the last keystrokes meets a view built before them.
#![allow(clippy::unwrap_used)]

use client_gui::screen::connect::{self, Connect, Event};
use common::Key;
use iced::keyboard::key::Named;
use iced_test::simulator;

#[test]
fn enter_right_after_pasting_the_key_connects() {
    let mut form = Connect {
        address: "127.0.0.1:7878".into(),
        ..Connect::default()
    };
    let key = Key::generate().unwrap().to_string();
    // One view, built while the key field was still empty (Connect not yet
    // possible): the key arrives and Enter follows before it is rebuilt.
    let mut ui = simulator(form.view());
    ui.click("the 44-character key the server window shows")
        .unwrap();
    ui.typewrite(&key);
    ui.tap_key(Named::Enter);
    let events: Vec<Event> = ui
        .into_messages()
        .filter_map(|m: connect::Message| form.update(m))
        .collect();
    assert!(
        matches!(events.as_slice(), [Event::Connect { key: k, .. }] if k.to_string() == key),
        "{events:?}"
    );
}

#[test]
fn enter_while_connecting_does_not_start_another_attempt() {
    let mut form = Connect {
        address: "127.0.0.1:7878".into(),
        key: Key::generate().unwrap().to_string(),
        ..Connect::default()
    };
    assert!(matches!(
        form.update(connect::Message::Connect),
        Some(Event::Connect { .. })
    ));
    form.connecting = true;
    assert_eq!(form.update(connect::Message::Connect), None);
}
