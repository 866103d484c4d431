//! End to end over real TCP on 127.0.0.1: a server and a client engine chat.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use common::clock::Clock;
use common::payload::random_id;
use common::{
    ChatEvent, ClientConfig, ClientEvent, Config, ConnectError, Ended, Key, Rejection, ServerEvent,
    handshake, token,
};
use tests::engines::{
    Reported, WAIT, acked, client, closed, connected, delivered, disconnected, next, received,
    rejected, server,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::{Instant, timeout};

#[tokio::test]
async fn chat_both_ways_with_unicode_and_a_large_message() {
    let key = Key::generate().unwrap();
    let (server_handle, mut server_events, port) = server(&key).await;
    let (client_handle, mut client_events) = client(&key, port);
    assert_eq!(connected(&mut client_events).await, "bob");
    assert_eq!(connected(&mut server_events).await, "alice");

    client_handle.send("héllo 😀 — ünïcode").unwrap();
    assert_eq!(
        received(&mut server_events).await,
        ("alice".into(), "héllo 😀 — ünïcode".into())
    );
    server_handle.send("back at you 👋").unwrap();
    assert_eq!(
        received(&mut client_events).await,
        ("bob".into(), "back at you 👋".into())
    );

    let big: String = "0123456789abcdef".repeat(200 * 1024 / 16);
    let id = client_handle.send(big.clone()).unwrap();
    assert_eq!(received(&mut server_events).await.1, big);
    let acked = next(&mut client_events, |e| match e {
        ClientEvent::Acked { id } | ClientEvent::Chat(ChatEvent::Relayed { id, .. }) => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(acked, id);
}

#[tokio::test]
async fn what_the_server_sends_before_anyone_connects_is_delivered_when_someone_does() {
    let key = Key::generate().unwrap();
    let (server_handle, mut server_events, port) = server(&key).await;
    let first = server_handle.send("written while waiting").unwrap();
    let second = server_handle.send("and another").unwrap();

    let (_client_handle, mut client_events) = client(&key, port);
    assert_eq!(connected(&mut server_events).await, "alice");
    for text in ["written while waiting", "and another"] {
        assert_eq!(
            received(&mut client_events).await,
            ("bob".into(), text.into())
        );
    }
    assert_eq!(delivered(&mut server_events).await, first);
    assert_eq!(delivered(&mut server_events).await, second);
}

#[tokio::test]
async fn a_server_whose_window_goes_away_still_acks_what_it_received_and_says_goodbye() {
    let key = Key::generate().unwrap();
    let (_server_handle, mut server_events, port) = server(&key).await;
    let (client_handle, mut client_events) = client(&key, port);
    connected(&mut client_events).await;
    connected(&mut server_events).await;

    let id = client_handle.send("the last thing it read").unwrap();
    assert_eq!(
        received(&mut server_events).await.1,
        "the last thing it read"
    );
    drop(server_events);

    assert_eq!(acked(&mut client_events).await, id);
    assert!(matches!(
        disconnected(&mut client_events).await,
        common::Ended::PeerLeft { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_all_acked_none_lost_or_duplicated() {
    let key = Key::generate().unwrap();
    let (_server_handle, mut server_events, port) = server(&key).await;
    let (client_handle, mut client_events) = client(&key, port);
    connected(&mut client_events).await;
    connected(&mut server_events).await;

    const N: usize = 10_000;
    let mut sent = Vec::with_capacity(N);
    for i in 0..N {
        sent.push(client_handle.send(format!("message {i}")).unwrap());
    }
    // The task hands the receiver back, so the server engine keeps running
    // (dropping it would end the session) until the client has every ack.
    let receiver = tokio::spawn(async move {
        let mut texts = Vec::with_capacity(N);
        while texts.len() < N {
            texts.push(received(&mut server_events).await.1);
        }
        (texts, server_events)
    });
    let mut acked = HashSet::new();
    while acked.len() < N {
        let id = next(&mut client_events, |e| match e {
            ClientEvent::Acked { id } | ClientEvent::Chat(ChatEvent::Relayed { id, .. }) => {
                Some(id)
            }
            _ => None,
        })
        .await;
        assert!(acked.insert(id), "an ack arrived twice");
    }
    assert_eq!(acked, sent.iter().cloned().collect::<HashSet<_>>());
    let (texts, _server_events) = receiver.await.unwrap();
    let expected: Vec<String> = (0..N).map(|i| format!("message {i}")).collect();
    assert_eq!(texts, expected, "every message once, in order");
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_the_server_keeps_waiting() {
    let key = Key::generate().unwrap();
    let (_server_handle, mut server_events, port) = server(&key).await;

    let (_wrong, mut wrong_events) = client(&Key::generate().unwrap(), port);
    let failed = next(&mut wrong_events, |e| match e {
        ClientEvent::Failed(e) => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(failed, ConnectError::KeyMismatch);
    let reason = next(&mut server_events, |e| match e {
        ServerEvent::Rejected { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, Rejection::KeyMismatch);

    let (_right, mut right_events) = client(&key, port);
    assert_eq!(connected(&mut right_events).await, "bob");
}

/// Sends raw bytes to the server and returns the ERR line it answers with.
async fn err_line_for(port: u16, bytes: &[u8]) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (read, mut write) = stream.into_split();
    // The server may close before all of an oversized line is written.
    let _ = write.write_all(bytes).await;
    let mut line = String::new();
    timeout(WAIT, BufReader::new(read).read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    line
}

/// The `ERR` lines a user's client shows, word for word. The expected texts
/// are written out, not taken from the code that makes them, so that a change
/// in wording or in a number shows here.
#[tokio::test]
async fn each_refusal_gets_its_err_line_word_for_word_and_the_server_keeps_serving() {
    let key = Key::generate().unwrap();
    let (_server_handle, mut server_events, port) = server(&key).await;
    let clock = Clock::system();

    let other_key = Key::generate().unwrap();
    let hello = handshake::seal_hello(&other_key, &clock, &random_id(), "mallory");
    assert_eq!(
        err_line_for(port, format!("{hello}\n").as_bytes()).await,
        "ERR key-mismatch this server uses a different key\n"
    );
    // A client that speaks only versions from 4 on.
    let v4 = format!(
        r#"{{"kind":"hello","proto":4,"nonce":"{}","name":"future"}}"#,
        random_id()
    );
    let v4 = token::seal(&key, &clock, v4.as_bytes());
    assert_eq!(
        err_line_for(port, format!("{v4}\n").as_bytes()).await,
        "ERR version this server speaks fernet-chat protocols 1 to 3\n"
    );
    for garbage in [&b"GET / HTTP/1.1\r\n"[..], b"\xff\xfe\x00garbage\n"] {
        assert_eq!(
            err_line_for(port, garbage).await,
            "ERR bad-hello that was not a fernet-chat hello\n"
        );
    }
    let huge = vec![b'g'; 4 * 1024 * 1024];
    assert_eq!(
        err_line_for(port, &huge).await,
        "ERR too-large the line was longer than 8192 bytes\n"
    );

    // A connection closed mid-line.
    let mut half = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    half.write_all(b"gAAAAABhalf-a-tok").await.unwrap();
    drop(half);

    let mut expected = vec![
        Rejection::KeyMismatch,
        Rejection::Version,
        Rejection::Garbage,
        Rejection::Garbage,
        Rejection::TooLarge,
        Rejection::ClosedEarly,
    ];
    while !expected.is_empty() {
        let reason = rejected(&mut server_events).await;
        let Some(i) = expected.iter().position(|r| *r == reason) else {
            panic!("unexpected rejection {reason:?}, still expecting {expected:?}");
        };
        expected.remove(i);
    }

    let (client_handle, mut client_events) = client(&key, port);
    connected(&mut client_events).await;
    client_handle.send("still here").unwrap();
    assert_eq!(received(&mut server_events).await.1, "still here");
}

/// Under paused time: the server's deadline passes without three real
/// seconds going by.
#[tokio::test(start_paused = true)]
async fn a_silent_peer_gets_err_timeout_when_the_hello_deadline_passes() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = server(&key).await;
    let start = Instant::now();
    assert_eq!(
        err_line_for(port, b"").await,
        "ERR timeout no valid hello within 3 seconds\n"
    );
    // At the hello deadline (tokio's timers round up to the millisecond),
    // not at the later handshake steps' 10 s.
    let waited = start.elapsed();
    assert!(
        (Duration::from_secs(3)..=Duration::from_millis(3_001)).contains(&waited),
        "answered after {waited:?}"
    );
    assert_eq!(rejected(&mut events).await, Rejection::Timeout);
}

#[tokio::test]
async fn after_a_new_key_only_the_new_key_gets_in() {
    let old = Key::generate().unwrap();
    let new = Key::generate().unwrap();
    let (server_handle, mut server_events, port) = server(&old).await;
    server_handle.set_key(new.clone());
    let changed = next(&mut server_events, |e| match e {
        ServerEvent::KeyChanged(key) => Some(key),
        _ => None,
    })
    .await;
    assert_eq!(changed, new);

    let (_stale, mut stale_events) = client(&old, port);
    let failed = next(&mut stale_events, |e| match e {
        ClientEvent::Failed(e) => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(failed, ConnectError::KeyMismatch);
    assert_eq!(rejected(&mut server_events).await, Rejection::KeyMismatch);

    let (client_handle, mut client_events) = client(&new, port);
    assert_eq!(connected(&mut client_events).await, "bob");
    assert_eq!(connected(&mut server_events).await, "alice");
    client_handle.send("with the new key").unwrap();
    assert_eq!(received(&mut server_events).await.1, "with the new key");
    server_handle.send("and back").unwrap();
    assert_eq!(received(&mut client_events).await.1, "and back");
}

#[tokio::test(start_paused = true)]
async fn a_server_closed_with_something_undelivered_waits_delivers_then_closes() {
    let key = Key::generate().unwrap();
    let (server_handle, mut server_events, port) = server(&key).await;
    let id = server_handle.send("typed before closing").unwrap();
    server_handle.close();
    // Ten minutes (of paused time) with nobody there: still waiting.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(server_events.try_recv(), Err(TryRecvError::Empty));

    let (_client_handle, mut client_events) = client(&key, port);
    assert_eq!(
        received(&mut client_events).await,
        ("bob".into(), "typed before closing".into())
    );
    assert_eq!(delivered(&mut server_events).await, id);
    closed(&mut server_events).await;
    assert_eq!(
        disconnected(&mut client_events).await,
        Ended::PeerLeft {
            name: "bob".into(),
            reason: "closed".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_quits_leaves_at_once_whatever_is_undelivered() {
    let key = Key::generate().unwrap();
    let (server_handle, mut server_events, port) = server(&key).await;
    server_handle.send("never delivered").unwrap();
    server_handle.quit();
    // The next event, with no one having connected: the stream ends.
    closed(&mut server_events).await;
    let (_client_handle, mut client_events) = client(&key, port);
    let failed = next(&mut client_events, |e| match e {
        ClientEvent::Failed(e) => Some(e),
        _ => None,
    })
    .await;
    assert!(
        matches!(failed, ConnectError::Refused { .. }),
        "the server still listens: {failed:?}"
    );
}

#[tokio::test]
async fn a_peer_ten_minutes_ahead_still_chats_and_both_get_a_notice() {
    let key = Key::generate().unwrap();
    let (_server_handle, mut server_events, port) = server(&key).await;
    let mut chat = Config::new(key, "alice");
    chat.clock = common::Clock::shifted(600_000);
    let (client_handle, mut client_events) = common::client::connect(ClientConfig {
        chat,
        server: format!("127.0.0.1:{port}").parse().unwrap(),
    });
    fn offset<E: Reported>(e: E) -> Option<i64> {
        match e.chat() {
            Some(ChatEvent::ClockOffset { secs }) => Some(*secs),
            _ => None,
        }
    }
    let client_sees = next(&mut client_events, offset).await;
    let server_sees = next(&mut server_events, offset).await;
    assert!((-601..=-599).contains(&client_sees), "{client_sees}");
    assert!((599..=601).contains(&server_sees), "{server_sees}");
    client_handle.send("from the future").unwrap();
    assert_eq!(received(&mut server_events).await.1, "from the future");
}
