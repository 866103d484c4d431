//! Protocol versions: a new program and a protocol-1 program still chat
//! (each way round), two new ones agree on protocol 2 and batch, and an
//! engine capped at protocol 1 (`Config::max_proto`) speaks only protocol 1.
//! And how a client holds its protocol-2 acknowledgements.
#![allow(clippy::unwrap_used)]

use common::payload::{ACK_TEXT_BYTES, Body, MAX_BATCH, MAX_TEXT_BYTES, Message, random_id};
use common::{Alert, ChatEvent, ClientEvent, Config, Handle, Key, SEND_WINDOW, Why};
use tests::engines::{
    Reported, WAIT, client, client_with, connected, delivered, drain, left, next, received,
    sender_ack, server, server_with,
};
use tests::raw::{RawPeer, messages, msg, msg_with_id};
use tokio::net::TcpListener;
use tokio::sync::mpsc::Receiver;
use tokio::time::{Duration, Instant, timeout};

/// Reads the peer's next frame; it must be one this session knows.
async fn frame(peer: &mut RawPeer) -> Body {
    let line = peer.read_line().await.expect("connection closed");
    match peer.session.open(&line) {
        Ok(Some(body)) => body,
        other => panic!("not a frame of the session's version: {other:?}"),
    }
}

/// The id and text of a `msg` frame.
fn single(body: Body) -> (String, String) {
    match body {
        Body::Msg { id, text, .. } => (id, text),
        other => panic!("not a single message: {other:?}"),
    }
}

fn message(text: &str) -> Message {
    Message {
        id: random_id(),
        text: text.into(),
        sent_at: 1,
        from: None,
        name: None,
    }
}

/// A protocol-1 peer `old` (named `name`) and a new engine chat: the
/// engine's queued messages `ids` ("m0", "m1", …) reach `old` one per frame
/// and its acks reach the engine (a client's `Acked`, a server's
/// `Delivered`); the other way, each message is
/// acknowledged by an `ack` of its own and shown once.
async fn protocol_1_both_ways<E: Reported>(
    old: &mut RawPeer,
    events: &mut Receiver<E>,
    ids: &[String],
    name: &str,
) {
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(single(frame(old).await), (id.clone(), format!("m{i}")));
        old.send(&Body::Ack {
            of: id.clone(),
            to: None,
        })
        .await;
    }
    for id in ids {
        let got = next(events, |e| match (e.chat(), e.client()) {
            (Some(ChatEvent::Delivered { id, .. }), _) | (_, Some(ClientEvent::Acked { id })) => {
                Some(id.clone())
            }
            _ => None,
        })
        .await;
        assert_eq!(&got, id);
    }
    let sent = [msg("one"), msg("two"), msg("three")];
    for m in &sent {
        old.send(m).await;
    }
    for m in &sent {
        let Body::Msg { id, text, .. } = m else {
            unreachable!()
        };
        assert_eq!(
            frame(old).await,
            Body::Ack {
                of: id.clone(),
                to: None
            }
        );
        assert_eq!(received(events).await, (name.into(), text.clone()));
    }
}

#[tokio::test]
async fn a_new_client_speaks_protocol_1_to_a_protocol_1_server() {
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (client, mut events) = client(&key, port);
    // Typed before the connection: they go out together once it is up,
    // which protocol 2 would put in one frame.
    let ids: Vec<String> = (0..5)
        .map(|i| client.send(format!("m{i}")).unwrap())
        .collect();
    let mut old = RawPeer::accept(&key, &listener, "old-bob").await;
    assert_eq!(old.session.version(), 1);
    assert_eq!(connected(&mut events).await, "old-bob");
    protocol_1_both_ways(&mut old, &mut events, &ids, "old-bob").await;
}

#[tokio::test]
async fn a_protocol_1_client_gets_protocol_1_from_the_new_server() {
    let key = Key::generate().unwrap();
    let (server, mut events, port) = server(&key).await;
    let ids: Vec<String> = (0..5)
        .map(|i| server.send(format!("m{i}")).unwrap())
        .collect();
    let mut old = RawPeer::connect(&key, port, "old-alice").await;
    assert_eq!(old.session.version(), 1);
    assert_eq!(connected(&mut events).await, "old-alice");
    protocol_1_both_ways(&mut old, &mut events, &ids, "old-alice").await;
}

#[tokio::test]
async fn protocol_2_batches_what_waits_and_acknowledges_a_batch_at_once() {
    let key = Key::generate().unwrap();
    let (server, mut events, port) = server(&key).await;
    let ids: Vec<String> = (0..5)
        .map(|i| server.send(format!("m{i}")).unwrap())
        .collect();
    let mut peer = RawPeer::connect_speaking(&key, port, "alice", 2).await;
    assert_eq!(peer.session.version(), 2);
    connected(&mut events).await;
    // The five waiting messages go out in one frame, in order.
    let Body::Msgs { msgs } = frame(&mut peer).await else {
        panic!("not a batch");
    };
    let got: Vec<(String, String)> = msgs.into_iter().map(|m| (m.id, m.text)).collect();
    let want: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), format!("m{i}")))
        .collect();
    assert_eq!(got, want);
    peer.send(&Body::Acks {
        ids: ids.clone(),
        to: None,
    })
    .await;
    for id in &ids {
        assert_eq!(&delivered(&mut events).await, id);
    }

    // A batch the other way is shown message by message and acknowledged
    // in one frame.
    let batch = vec![message("a"), message("b"), message("c")];
    peer.send(&Body::Msgs {
        msgs: batch.clone(),
    })
    .await;
    let all: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
    assert_eq!(frame(&mut peer).await, Body::Acks { ids: all, to: None });
    for m in &batch {
        assert_eq!(
            received(&mut events).await,
            ("alice".into(), m.text.clone())
        );
    }
    // Sent again with one more (its acks were lost, say): only the new one
    // is shown, all are acknowledged.
    let mut again = batch[1..].to_vec();
    again.push(message("d"));
    peer.send(&Body::Msgs {
        msgs: again.clone(),
    })
    .await;
    let all: Vec<String> = again.iter().map(|m| m.id.clone()).collect();
    assert_eq!(frame(&mut peer).await, Body::Acks { ids: all, to: None });
    assert_eq!(received(&mut events).await, ("alice".into(), "d".into()));
}

#[tokio::test]
async fn a_batch_over_its_limit_ends_the_session_with_an_alert() {
    let key = Key::generate().unwrap();
    let (_server, mut events, port) = server(&key).await;
    let mut peer = RawPeer::connect_speaking(&key, port, "mallory", 2).await;
    connected(&mut events).await;
    peer.send(&Body::Msgs {
        msgs: vec![message("x"); MAX_BATCH + 1],
    })
    .await;
    let alert = Alert::Malformed(format!(
        "a batch of {} entries (it must have 1 to {MAX_BATCH})",
        MAX_BATCH + 1
    ));
    assert_eq!(
        left(&mut events).await,
        (
            "mallory".into(),
            Why::Other(format!("security alert: {alert}"))
        )
    );
}

#[tokio::test]
async fn engines_capped_at_protocol_1_offer_and_accept_only_protocol_1() {
    let key = Key::generate().unwrap();
    let mut capped = Config::new(key.clone(), "bob");
    capped.max_proto = 1;
    let (_server, mut events, port) = server_with(capped, 0).await;
    let peer = RawPeer::connect_speaking(&key, port, "alice", 2).await;
    assert_eq!(peer.session.version(), 1);
    connected(&mut events).await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut capped = Config::new(key.clone(), "alice");
    capped.max_proto = 1;
    let (_client, _events) = client_with(capped, listener.local_addr().unwrap());
    let peer = RawPeer::accept_speaking(&key, &listener, "bob", 2).await;
    assert_eq!(peer.session.version(), 1);
}

/// Two engines, either capped at protocol 1 or not: 300 messages each way,
/// typed at once, all shown once and in order, all acknowledged in order.
async fn chat_with_caps(server_max: u32, client_max: u32) {
    let key = Key::generate().expect("a key");
    let mut chat = Config::new(key.clone(), "bob");
    chat.max_proto = server_max;
    let (server, mut server_events, port) = server_with(chat, 0).await;
    let mut chat = Config::new(key.clone(), "alice");
    chat.max_proto = client_max;
    let (client, mut client_events) = client_with(chat, ([127, 0, 0, 1], port).into());
    connected(&mut client_events).await;
    let texts: Vec<String> = (0..300).map(|i| format!("message {i}")).collect();
    let to_server: Vec<String> = texts
        .iter()
        .map(|t| client.send(t.clone()).expect("queued"))
        .collect();
    let to_client: Vec<String> = texts
        .iter()
        .map(|t| server.send(t.clone()).expect("queued"))
        .collect();
    // Each side's events are read until the end, as a program reads them.
    let (n_server, n_client) = (to_client.len(), to_server.len());
    let (at_server, at_client) = tokio::join!(
        async move {
            let seen = side(&mut server_events, n_server, true).await;
            drain(server_events);
            seen
        },
        async move {
            let seen = side(&mut client_events, n_client, false).await;
            drain(client_events);
            seen
        }
    );
    assert_eq!(at_server, (texts.clone(), to_client));
    assert_eq!(at_client, (texts, to_server));
}

/// The texts shown and the ids acknowledged, in order, until `n` of each:
/// for the server, the client's delivery marks; for the client, the
/// server's acks (`Acked`, or in a room `Relayed`).
async fn side<E: Reported>(
    events: &mut tokio::sync::mpsc::Receiver<E>,
    n: usize,
    server: bool,
) -> (Vec<String>, Vec<String>) {
    let mut shown = Vec::new();
    let mut acks = Vec::new();
    while shown.len() < n || acks.len() < n {
        let event = next(events, |e| match (e.chat(), e.client()) {
            (Some(ChatEvent::Received { text, .. }), _) => Some(Ok(text.clone())),
            (_, Some(ClientEvent::Disconnected(e))) => panic!("disconnected: {e}"),
            (Some(ChatEvent::Left { why, .. }), _) => panic!("left: {why:?}"),
            (Some(ChatEvent::Delivered { id, .. }), _) if server => Some(Err(id.clone())),
            _ if !server => sender_ack(&e).map(|id| Err(id.to_owned())),
            _ => None,
        })
        .await;
        match event {
            Ok(text) => shown.push(text),
            Err(id) => acks.push(id),
        }
    }
    (shown, acks)
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_chat_under_every_version_pairing() {
    let pairs = [
        (1, 2),
        (2, 1),
        (1, 1),
        (2, 2),
        (3, 1),
        (1, 3),
        (3, 2),
        (3, 3),
    ];
    for (server_max, client_max) in pairs {
        chat_with_caps(server_max, client_max).await;
    }
}

/// A client engine that holds its acks for `ack_delay`, connected to a
/// protocol-2 server by hand.
async fn client_of_raw_server(ack_delay: Duration) -> (Handle, Receiver<ClientEvent>, RawPeer) {
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut chat = Config::new(key.clone(), "alice");
    chat.timing.ack_delay = ack_delay;
    let (client, mut events) = client_with(chat, listener.local_addr().unwrap());
    let server = RawPeer::accept_speaking(&key, &listener, "server", 2).await;
    connected(&mut events).await;
    (client, events, server)
}

/// Sends a message and waits until the client has shown it; its id.
async fn shown(server: &mut RawPeer, events: &mut Receiver<ClientEvent>, text: &str) -> String {
    let (m, id) = msg_with_id(text);
    server.send(&m).await;
    assert_eq!(received(events).await, ("server".into(), text.into()));
    id
}

/// Protocol 2: the client holds its acks for the ack delay from the first
/// message not yet acknowledged, so messages that come one by one within
/// it are acknowledged in one `acks` frame, not an `ack` each. In real
/// time (paused time would run the delay out while a message is on the
/// wire), with a delay a loaded machine shows four messages well within.
#[tokio::test]
async fn messages_that_come_within_the_ack_delay_are_acknowledged_in_one_frame() {
    let delay = Duration::from_secs(1);
    let (_client, mut events, mut server) = client_of_raw_server(delay).await;
    let start = Instant::now();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(shown(&mut server, &mut events, &format!("m{i}")).await);
    }
    assert_eq!(frame(&mut server).await, Body::Acks { ids, to: None });
    assert!(start.elapsed() >= delay, "not held for the ack delay");
}

/// Acks still held when the client closes go out before its `bye`.
#[tokio::test]
async fn held_acks_go_out_before_bye() {
    let hour = Duration::from_secs(3600);
    let (client, mut events, mut server) = client_of_raw_server(hour).await;
    let id = shown(&mut server, &mut events, "last words").await;
    client.close();
    assert_eq!(frame(&mut server).await, Body::Ack { of: id, to: None });
    assert!(matches!(frame(&mut server).await, Body::Bye { .. }));
}

/// Held acks go at once when the messages they acknowledge hold the ack
/// text: a server counting what a member has not acknowledged is not kept
/// waiting by a few large messages.
#[tokio::test]
async fn acks_for_a_large_message_are_not_held() {
    let hour = Duration::from_secs(3600);
    let (_client, mut events, mut server) = client_of_raw_server(hour).await;
    let small = shown(&mut server, &mut events, "small").await;
    let large = shown(&mut server, &mut events, &"x".repeat(ACK_TEXT_BYTES)).await;
    let acks = timeout(WAIT, frame(&mut server)).await;
    assert_eq!(
        acks.expect("acks held"),
        Body::Acks {
            ids: vec![small, large],
            to: None
        }
    );
}

/// A client keeps at most the send window of text unacknowledged
/// (PROTOCOL.md, "send window"; a room's server acknowledges a message
/// once it relays it, so this is how a sender goes at the room's pace).
/// All typed at once, twice the window goes out as acks come: a `ping`,
/// sent once the first message is in, is answered after what the client
/// had sent by then, within the window and one message.
#[tokio::test]
async fn a_client_keeps_to_its_send_window() {
    let (client, _events, mut server) = client_of_raw_server(Duration::from_millis(20)).await;
    let count = 2 * SEND_WINDOW / MAX_TEXT_BYTES + 1;
    let ids: Vec<String> = (0..count)
        .map(|i| {
            let text = format!("{i:02}{}", "w".repeat(MAX_TEXT_BYTES - 2));
            client.send(text).unwrap()
        })
        .collect();
    let mut got: Vec<String> = Vec::new();
    let mut text = 0;
    loop {
        let body = frame(&mut server).await;
        if body == Body::Pong {
            break;
        }
        if got.is_empty() {
            server.send(&Body::Ping).await;
        }
        for m in messages(&body) {
            text += m.text.len();
            got.push(m.id);
        }
    }
    assert!(
        text <= SEND_WINDOW + MAX_TEXT_BYTES,
        "{text} bytes sent before any ack"
    );
    // Acknowledged, the rest follows, in order.
    let mut acked = 0;
    while got.len() < count {
        if acked < got.len() {
            let ids = got[acked..].to_vec();
            acked = got.len();
            server.send(&Body::Acks { ids, to: None }).await;
        }
        got.extend(
            messages(&frame(&mut server).await)
                .into_iter()
                .map(|m| m.id),
        );
    }
    assert_eq!(got, ids);
}
