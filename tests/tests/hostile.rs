//! Hostile frames over real TCP: a hand-driven peer completes the handshake
//! with a real engine, then sends what no honest peer would. Each closes the
//! session with its own alert, and the engine goes on serving.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use common::clock::Clock;
use common::payload::{Body, random_id};
use common::session::{Role, Session};
use common::{Alert, ChatEvent, ConnectError, Ended, Key, ServerEvent, Why};
use tests::engines::{
    client, client_with, connected, disconnected, fast_timing, left, received, retrying, server,
    texts, until,
};
use tests::raw::{RawPeer, msg};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// What the security alert that took a member out of the server's room
/// said.
async fn server_alert(events: &mut tokio::sync::mpsc::Receiver<ServerEvent>) -> String {
    match left(events).await {
        (_, Why::Other(why)) => match why.strip_prefix("security alert: ") {
            Some(alert) => alert.to_owned(),
            None => panic!("expected a security alert, got {why}"),
        },
        (_, other) => panic!("expected a security alert, got {other:?}"),
    }
}

/// After an alert the server still admits an honest client.
async fn still_serving(
    key: &Key,
    port: u16,
    events: &mut tokio::sync::mpsc::Receiver<ServerEvent>,
) {
    let (handle, mut client_events) = client(key, port);
    connected(&mut client_events).await;
    handle.send("still here").unwrap();
    assert_eq!(received(events).await.1, "still here");
}

fn flip_middle(line: &str) -> String {
    let mut bytes = line.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    // Swap one base64 letter for another: still a well-formed token.
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn a_tampered_frame_raises_tampered() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut raw = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    let line = raw.session.seal(&msg("pay bob 10"));
    raw.send_line(&flip_middle(&line)).await;
    assert_eq!(server_alert(&mut events).await, Alert::Tampered.to_string());
    raw.closed().await;
    still_serving(&key, port, &mut events).await;
}

#[tokio::test]
async fn a_replayed_frame_is_shown_once_and_raises_replayed() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut raw = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    let line = raw.send(&msg("once")).await;
    raw.send_line(&line).await;
    let (before, why) = until(&mut events, |e| match e {
        ServerEvent::Chat(ChatEvent::Left { why, .. }) => Some(why),
        _ => None,
    })
    .await;
    assert_eq!(texts(&before), ["once"]);
    let alert = Alert::Replayed {
        expected: 2,
        got: 1,
    };
    assert_eq!(why, Why::Other(format!("security alert: {alert}")));
    still_serving(&key, port, &mut events).await;
}

#[tokio::test]
async fn a_message_resent_in_a_new_session_is_acked_again_but_shown_once() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let id = random_id();
    let message = Body::Msg {
        id: id.clone(),
        text: "only once".into(),
        sent_at: Clock::system().now_ms(),
        from: None,
        name: None,
    };
    let ack = |b: &Body| match b {
        Body::Ack { of, .. } => Some(of.clone()),
        _ => None,
    };
    let mut first = RawPeer::connect(&key, port, "alice").await;
    first.send(&message).await;
    assert_eq!(first.recv(ack).await.0, id);
    assert_eq!(received(&mut events).await.1, "only once");
    // As if that ack had been lost: a new session re-sends the message.
    let mut second = RawPeer::connect(&key, port, "alice").await;
    second.send(&message).await;
    assert_eq!(second.recv(ack).await.0, id, "not acked again");
    second.send(&msg("next")).await;
    let (before, text) = until(&mut events, |e| match e {
        ServerEvent::Chat(ChatEvent::Received { text, .. }) => Some(text),
        _ => None,
    })
    .await;
    assert_eq!(text, "next", "shown again");
    // The second session took the first one's place (same name, same
    // address: a protocol-1 reconnect); nobody left.
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, ServerEvent::Chat(ChatEvent::Left { .. })))
    );
    assert_eq!(
        first
            .recv(|b| match b {
                Body::Bye { reason } => Some(reason.clone()),
                _ => None,
            })
            .await
            .0,
        "replaced"
    );
}

#[tokio::test]
async fn a_frame_reflected_back_to_the_server_raises_reflected() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut raw = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    raw.send(&msg("hi")).await;
    let (_, ack_line) = raw
        .recv(|b| matches!(b, Body::Ack { .. }).then_some(()))
        .await;
    raw.send_line(&ack_line).await;
    assert_eq!(
        server_alert(&mut events).await,
        Alert::Reflected.to_string()
    );
    still_serving(&key, port, &mut events).await;
}

#[tokio::test]
async fn reordered_frames_raise_reordered() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut raw = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    let first = raw.session.seal(&msg("first"));
    let second = raw.session.seal(&msg("second"));
    raw.send_line(&second).await;
    raw.send_line(&first).await;
    assert_eq!(
        server_alert(&mut events).await,
        Alert::Reordered {
            expected: 1,
            got: 2
        }
        .to_string()
    );
    still_serving(&key, port, &mut events).await;
}

#[tokio::test]
async fn a_frame_from_another_session_raises_other_session() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut old = RawPeer::connect(&key, port, "old").await;
    assert_eq!(connected(&mut events).await, "old");
    let mut new = RawPeer::connect(&key, port, "new").await;
    assert_eq!(connected(&mut events).await, "new");
    // Frame 1 of the old session, sent on the new one where frame 1 is due.
    let stale = old.session.seal(&msg("from the old session"));
    new.send_line(&stale).await;
    assert_eq!(
        server_alert(&mut events).await,
        Alert::OtherSession.to_string()
    );
    still_serving(&key, port, &mut events).await;
}

#[tokio::test]
async fn a_frame_older_than_the_ttl_raises_expired() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut raw = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    // The same session, sealing with a clock 400 s slow: frame 1 is old.
    let sid = raw.session.sid().to_owned();
    let mut slow = Session::new(key.clone(), Clock::shifted(-400_000), sid, Role::Client, 0);
    slow.seal(&Body::Ready);
    raw.send_line(&slow.seal(&msg("late"))).await;
    let alert = server_alert(&mut events).await;
    let expired = |age_secs| Alert::Expired { age_secs }.to_string();
    assert!((399..=401).any(|age| alert == expired(age)), "{alert}");
    still_serving(&key, port, &mut events).await;
}

#[tokio::test]
async fn an_oversized_line_after_the_handshake_raises_malformed() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let mut raw = RawPeer::connect(&key, port, "mallory").await;
    connected(&mut events).await;
    // 4 MiB without a line end: four times the session limit.
    let writer = tokio::spawn(async move {
        let chunk = vec![b'A'; 64 * 1024];
        for _ in 0..64 {
            raw.send_bytes(&chunk).await;
        }
        raw
    });
    let alert = server_alert(&mut events).await;
    assert!(alert.contains("longer than"), "{alert}");
    writer.await.unwrap();
    still_serving(&key, port, &mut events).await;
}

#[tokio::test]
async fn a_client_catches_a_frame_reflected_by_the_server() {
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (handle, mut events) = client_with(common::Config::new(key.clone(), "alice"), addr);
    let mut raw = RawPeer::accept(&key, &listener, "mallory").await;
    connected(&mut events).await;
    handle.send("hello").unwrap();
    let (_, line) = raw
        .recv(|b| matches!(b, Body::Msg { .. }).then_some(()))
        .await;
    raw.send_line(&line).await;
    assert_eq!(
        disconnected(&mut events).await,
        Ended::Alert(Alert::Reflected)
    );
    // The client does not give up: it connects again, after a pause.
    assert_eq!(
        retrying(&mut events).await.1,
        ConnectError::ShortSession(Ended::Alert(Alert::Reflected))
    );
    let _again = RawPeer::accept(&key, &listener, "honest").await;
    assert_eq!(connected(&mut events).await, "honest");
}

#[tokio::test]
async fn a_client_catches_a_tampered_frame() {
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_handle, mut events) = client_with(common::Config::new(key.clone(), "alice"), addr);
    let mut raw = RawPeer::accept(&key, &listener, "mallory").await;
    connected(&mut events).await;
    let line = raw.session.seal(&msg("trust me"));
    raw.send_line(&flip_middle(&line)).await;
    assert_eq!(
        disconnected(&mut events).await,
        Ended::Alert(Alert::Tampered)
    );
}

/// How a hostile server breaks each session as soon as it starts.
enum Break {
    /// Sends a tampered frame (a security alert).
    Tamper,
    /// Closes the connection (a reset on the path would do the same).
    Close,
}

/// A server that breaks each session as soon as it starts: each break counts
/// as a failed attempt, so the client waits longer each time instead of
/// reconnecting at once, again and again.
async fn a_server_that_breaks_every_session(how: Break) {
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut chat = common::Config::new(key.clone(), "alice");
    chat.timing = fast_timing();
    let timing = chat.timing.clone();
    let (_handle, mut events) = client_with(chat, listener.local_addr().unwrap());
    const BREAKS: u32 = 5;
    let mut delays = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..BREAKS {
        let mut raw = RawPeer::accept(&key, &listener, "mallory").await;
        accepted.push(Instant::now());
        connected(&mut events).await;
        let ended = match how {
            Break::Tamper => {
                let line = raw.session.seal(&msg("broken"));
                raw.send_line(&flip_middle(&line)).await;
                Ended::Alert(Alert::Tampered)
            }
            Break::Close => {
                drop(raw);
                Ended::Lost("the other side closed the connection".into())
            }
        };
        let (delay, error) = retrying(&mut events).await;
        assert_eq!(error, ConnectError::ShortSession(ended));
        delays.push(delay);
    }
    let _patient = RawPeer::accept(&key, &listener, "mallory").await;
    accepted.push(Instant::now());
    let schedule: Vec<Duration> = (1..=BREAKS).map(|n| timing.backoff(n)).collect();
    assert_eq!(delays, schedule);
    // It waits as long as it says before each attempt.
    for (pair, delay) in accepted.windows(2).zip(&delays) {
        assert!(pair[1] - pair[0] >= *delay, "reconnected before {delay:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_that_tampers_with_every_session_gets_a_growing_backoff_not_a_storm() {
    a_server_that_breaks_every_session(Break::Tamper).await;
}

#[tokio::test(start_paused = true)]
async fn a_server_that_closes_every_session_at_once_gets_a_growing_backoff_not_a_storm() {
    a_server_that_breaks_every_session(Break::Close).await;
}
