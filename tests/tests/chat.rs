//! End to end over real TCP on 127.0.0.1: a server and a client engine chat.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use common::{ClientConfig, Config, ConnectError, Event, Key, Rejection, Server, ServerConfig};
use tests::engines::{WAIT, acked, client, connected, disconnected, next, received, server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

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
        Event::Acked { id } => Some(id),
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
    assert_eq!(acked(&mut server_events).await, first);
    assert_eq!(acked(&mut server_events).await, second);
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
            Event::Acked { id } => Some(id),
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
        Event::Failed(e) => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(failed, ConnectError::KeyMismatch);
    let reason = next(&mut server_events, |e| match e {
        Event::Rejected { reason, .. } => Some(reason),
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

#[tokio::test]
async fn garbage_and_oversized_lines_get_an_err_line_and_the_server_keeps_serving() {
    let key = Key::generate().unwrap();
    let (_server_handle, mut server_events, port) = server(&key).await;

    assert!(
        err_line_for(port, b"GET / HTTP/1.1\r\n")
            .await
            .starts_with("ERR bad-hello ")
    );
    assert!(
        err_line_for(port, b"\xff\xfe\x00garbage\n")
            .await
            .starts_with("ERR bad-hello ")
    );
    let huge = vec![b'g'; 4 * 1024 * 1024];
    assert!(
        err_line_for(port, &huge)
            .await
            .starts_with("ERR too-large ")
    );

    // A connection closed mid-line.
    let mut half = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    half.write_all(b"gAAAAABhalf-a-tok").await.unwrap();
    drop(half);

    let mut reasons = Vec::new();
    while reasons.len() < 4 {
        reasons.push(
            next(&mut server_events, |e| match e {
                Event::Rejected { reason, .. } => Some(reason),
                _ => None,
            })
            .await,
        );
    }
    assert!(reasons.contains(&Rejection::Garbage));
    assert!(reasons.contains(&Rejection::TooLarge));
    assert!(reasons.contains(&Rejection::ClosedEarly));

    let (client_handle, mut client_events) = client(&key, port);
    connected(&mut client_events).await;
    client_handle.send("still here").unwrap();
    assert_eq!(received(&mut server_events).await.1, "still here");
}

#[tokio::test]
async fn a_silent_peer_gets_err_timeout() {
    let key = Key::generate().unwrap();
    let mut chat = Config::new(key, "bob");
    chat.timing.handshake = Duration::from_millis(200);
    let server = Server::bind(ServerConfig {
        chat,
        port: 0,
        bind: Some("127.0.0.1".parse().unwrap()),
    })
    .await
    .unwrap();
    let port = server.port();
    let (_handle, mut events) = server.start();
    assert!(err_line_for(port, b"").await.starts_with("ERR timeout "));
    let reason = next(&mut events, |e| match e {
        Event::Rejected { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, Rejection::Timeout);
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
    let offset = |e| match e {
        Event::ClockOffset { secs } => Some(secs),
        _ => None,
    };
    let client_sees = next(&mut client_events, offset).await;
    let server_sees = next(&mut server_events, offset).await;
    assert!((-601..=-599).contains(&client_sees), "{client_sees}");
    assert!((599..=601).contains(&server_sees), "{server_sees}");
    client_handle.send("from the future").unwrap();
    assert_eq!(received(&mut server_events).await.1, "from the future");
}
