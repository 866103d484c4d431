//! The client engine in a room (protocol 3), against servers played by
//! hand (`tests::raw`) and against a server engine that speaks only
//! protocol 1: its hello names its member and proves the place with the
//! next link of its chain, every hello with a new one; the server's ERR
//! lines and `bye` reasons for rooms; and a two-person chat as before.
// The helpers below are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use common::payload::{Body, PROTO_ROOMS, RosterEntry, random_id};
use common::place::{Anchor, parse_proof};
use common::{ChatEvent, ClientEvent, Config, ConnectError, Ended, Key, Member};
use tests::engines::{
    acked, client_with, connected, disconnected, next, quick_retry, received, server_with,
};
use tests::raw::{RawPeer, msg};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc::Receiver;

/// A listener on loopback and a client engine named carol that connects
/// to it, reconnecting quickly.
async fn carol(key: &Key) -> (TcpListener, Receiver<ClientEvent>, common::Handle) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut chat = Config::new(key.clone(), "carol");
    chat.timing = quick_retry();
    let (handle, events) = client_with(chat, listener.local_addr().unwrap());
    (listener, events, handle)
}

fn entry(member: &str, name: &str, addr: Option<&str>) -> RosterEntry {
    RosterEntry {
        member: member.into(),
        name: name.into(),
        addr: addr.map(str::to_owned),
        since: 1,
    }
}

/// A room server by hand, named bob: takes the next connection, checks
/// its hello names a member with a proof, welcomes it under protocol 3
/// and sends the roster (bob, alice, the client). The peer, the member id,
/// its proof, and alice's entry.
async fn room(key: &Key, listener: &TcpListener) -> (RawPeer, String, String, RosterEntry) {
    let (mut server, hello, offset) = RawPeer::hello(key, listener).await;
    assert_eq!(hello.max_proto, Some(PROTO_ROOMS));
    let member = hello
        .member
        .clone()
        .expect("a protocol-3 hello names its member");
    let proof = hello.proof.clone().expect("and proves its place");
    server
        .welcome(key, &hello, offset, "bob", PROTO_ROOMS)
        .await;
    let alice = entry(&random_id(), "alice", Some("127.0.0.1:40000"));
    server
        .send(&Body::Roster {
            you: member.clone(),
            members: vec![
                entry(&random_id(), "bob", None),
                alice.clone(),
                entry(&member, "carol", Some("127.0.0.1:40001")),
            ],
        })
        .await;
    (server, member, proof, alice)
}

/// The next roster the engine reports: names, with ours marked.
async fn roster(events: &mut Receiver<ClientEvent>) -> Vec<String> {
    let members: Vec<Member> = next(events, |e| match e {
        ClientEvent::Roster(members) => Some(members),
        ClientEvent::Failed(e) => panic!("gave up: {e}"),
        _ => None,
    })
    .await;
    members
        .into_iter()
        .map(|m| {
            if m.you {
                format!("you ({})", m.name)
            } else {
                m.name
            }
        })
        .collect()
}

#[tokio::test]
async fn against_a_protocol_1_server_engine_it_is_a_two_person_chat() {
    let key = Key::generate().unwrap();
    let mut old = Config::new(key.clone(), "bob");
    old.max_proto = 1;
    let (server, mut server_events, port) = server_with(old, 0).await;
    let mut chat = Config::new(key.clone(), "carol");
    chat.timing = quick_retry();
    let (client, mut events) = client_with(chat, ([127, 0, 0, 1], port).into());
    assert_eq!(connected(&mut events).await, "bob");
    assert_eq!(roster(&mut events).await, ["bob", "you (carol)"]);
    connected(&mut server_events).await;

    let id = client.send("hi bob").unwrap();
    assert_eq!(
        received(&mut server_events).await,
        ("carol".into(), "hi bob".into())
    );
    let (skipped, acked) = tests::engines::until(&mut events, |e| match e {
        ClientEvent::Acked { id } => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(acked, id);
    assert!(
        !skipped
            .iter()
            .any(|e| matches!(e, ClientEvent::Chat(ChatEvent::Relayed { .. }))),
        "{skipped:?}"
    );
    server.send("hi carol").unwrap();
    assert_eq!(
        received(&mut events).await,
        ("bob".into(), "hi carol".into())
    );
}

#[tokio::test]
async fn against_a_protocol_1_server_by_hand_messages_are_acked_and_named_for_the_server() {
    let key = Key::generate().unwrap();
    let (listener, mut events, client) = carol(&key).await;
    let (mut server, hello, offset) = RawPeer::hello(&key, &listener).await;
    // A protocol-1 server ignores what it does not know, places too.
    server.welcome(&key, &hello, offset, "bob", 1).await;
    assert_eq!(roster(&mut events).await, ["bob", "you (carol)"]);
    let id = client.send("one").unwrap();
    let (of, _) = server
        .recv(|b| match b {
            Body::Msg { id, .. } => Some(id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(of, id);
    server.send(&Body::Ack { of, to: None }).await;
    assert_eq!(acked(&mut events).await, id);
    server.send(&msg("two")).await;
    assert_eq!(received(&mut events).await, ("bob".into(), "two".into()));
}

#[tokio::test]
async fn the_hello_names_the_member_and_every_reconnect_proves_it_with_the_next_link() {
    let key = Key::generate().unwrap();
    let (listener, mut events, _client) = carol(&key).await;
    let (first, member, proof, _) = room(&key, &listener).await;
    assert_eq!(roster(&mut events).await, ["bob", "alice", "you (carol)"]);
    let mut anchor = Anchor::new(parse_proof(&proof).unwrap());
    drop(first);
    for _ in 0..2 {
        let (_server, again, proof, _) = room(&key, &listener).await;
        assert_eq!(again, member, "the same member for the life of the engine");
        assert!(
            anchor.advance(&parse_proof(&proof).unwrap()),
            "the next link of its chain"
        );
        assert_eq!(roster(&mut events).await, ["bob", "alice", "you (carol)"]);
    }
}

/// Takes the next connection, reads its hello, answers `line` and closes;
/// the hello's member.
async fn answer(listener: &TcpListener, line: &str) -> String {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut hello = String::new();
    BufReader::new(read).read_line(&mut hello).await.unwrap();
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    write.shutdown().await.unwrap();
    // The hello can only be read with the key: the caller checks it.
    hello
}

/// The member id a hello line names (opened with `key`).
fn member_of(key: &Key, line: &str) -> String {
    let clock = common::Clock::system();
    let (hello, _) = common::handshake::open_hello(key, &clock, line.trim_end()).unwrap();
    hello.member.unwrap()
}

async fn failed(events: &mut Receiver<ClientEvent>) -> ConnectError {
    next(events, |e| match e {
        ClientEvent::Failed(error) => Some(error),
        ClientEvent::Connected { .. } => panic!("connected"),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_full_room_or_a_removal_stops_a_first_attempt_with_its_own_words() {
    let key = Key::generate().unwrap();
    for (line, expected) in [
        ("ERR room-full this room is full", ConnectError::RoomFull),
        (
            "ERR removed the server removed you from this room",
            ConnectError::Removed,
        ),
    ] {
        let (listener, mut events, _client) = carol(&key).await;
        answer(&listener, line).await;
        let error = failed(&mut events).await;
        assert_eq!(error, expected);
        assert!(
            error.to_string().contains("room"),
            "worded for the person: {error}"
        );
    }
}

#[tokio::test]
async fn a_place_refused_is_asked_again_at_once_as_a_new_member_then_reported() {
    let key = Key::generate().unwrap();
    let place = "ERR place that member's place needs its own proof";
    let (listener, mut events, _client) = carol(&key).await;
    let first = member_of(&key, &answer(&listener, place).await);
    // The same attempt: no Retrying in between, and a new member.
    let (mut server, hello, offset) = RawPeer::hello(&key, &listener).await;
    assert_ne!(hello.member.as_deref(), Some(first.as_str()));
    server
        .welcome(&key, &hello, offset, "bob", PROTO_ROOMS)
        .await;
    let (skipped, _) = tests::engines::until(&mut events, |e| match e {
        ClientEvent::Connected { .. } => Some(()),
        _ => None,
    })
    .await;
    assert!(
        !skipped
            .iter()
            .any(|e| matches!(e, ClientEvent::Retrying { .. } | ClientEvent::Failed(_))),
        "{skipped:?}"
    );

    // Refused twice in one attempt: reported.
    let (listener, mut events, _client) = carol(&key).await;
    let first = member_of(&key, &answer(&listener, place).await);
    let second = member_of(&key, &answer(&listener, place).await);
    assert_ne!(first, second);
    let error = failed(&mut events).await;
    assert!(matches!(error, ConnectError::Place(_)), "{error:?}");
}

#[tokio::test]
async fn after_a_session_a_refused_place_is_a_hint_until_refused_again_and_again() {
    use common::place::REFUSALS_BELIEVED;
    let key = Key::generate().unwrap();
    let place = "ERR place that member's place needs its own proof";
    let (listener, mut events, _client) = carol(&key).await;
    let (server, member, _, _) = room(&key, &listener).await;
    roster(&mut events).await;
    drop(server);
    // Anyone on the path can forge an ERR line: the member is kept (and
    // with it what the server holds for its place) while it could be one.
    for _ in 1..REFUSALS_BELIEVED {
        let hello = answer(&listener, place).await;
        assert_eq!(member_of(&key, &hello), member);
    }
    let hello = answer(&listener, place).await;
    assert_eq!(member_of(&key, &hello), member);
    // Refused again and again: believed, asked again at once as a new member.
    let (_server, hello, _) = RawPeer::hello(&key, &listener).await;
    assert_ne!(hello.member.as_deref(), Some(member.as_str()));
}

/// The client sends `text` and the server reads it; its id.
async fn said(client: &common::Handle, server: &mut RawPeer, text: &str) -> String {
    let id = client.send(text).unwrap();
    server
        .recv(|b| matches!(b, Body::Msg { .. }).then_some(()))
        .await;
    id
}

#[tokio::test]
async fn bye_slow_reconnects_takes_the_place_back_and_catches_up() {
    let key = Key::generate().unwrap();
    let (listener, mut events, client) = carol(&key).await;
    let (mut server, member, proof, alice) = room(&key, &listener).await;
    roster(&mut events).await;
    // Taken but never acknowledged: it stays in the client's outbox.
    let id = said(&client, &mut server, "are you there").await;
    server
        .send(&Body::Bye {
            reason: "slow".into(),
        })
        .await;
    assert_eq!(disconnected(&mut events).await, Ended::Slow);
    drop(server);

    let (mut server, again, next_proof, _) = room(&key, &listener).await;
    assert_eq!(again, member, "its own place");
    assert!(Anchor::new(parse_proof(&proof).unwrap()).accepts(&parse_proof(&next_proof).unwrap()));
    let (resent, _) = server
        .recv(|b| match b {
            Body::Msg { id, .. } => Some(id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(resent, id, "what was not acknowledged goes again");
    server
        .send(&Body::Ack {
            of: id.clone(),
            to: Some(2),
        })
        .await;
    // What the room said meanwhile, kept for it.
    let caught_up = random_id();
    server
        .send(&Body::Msg {
            id: caught_up.clone(),
            text: "while you were away".into(),
            sent_at: 1,
            from: Some(alice.member.clone()),
            name: Some(alice.name.clone()),
        })
        .await;
    let relayed = next(&mut events, |e| match e {
        ClientEvent::Chat(ChatEvent::Relayed { id, to }) => Some((id, to)),
        _ => None,
    })
    .await;
    assert_eq!(relayed, (id, 2));
    assert_eq!(
        received(&mut events).await,
        ("alice".into(), "while you were away".into())
    );
}

#[tokio::test]
async fn marks_for_a_message_relayed_before_a_reconnect_count_after_it() {
    let key = Key::generate().unwrap();
    let (listener, mut events, client) = carol(&key).await;
    let (mut server, ..) = room(&key, &listener).await;
    roster(&mut events).await;
    let id = said(&client, &mut server, "before the blip").await;
    server
        .send(&Body::Ack {
            of: id.clone(),
            to: Some(2),
        })
        .await;
    let relayed = next(&mut events, |e| match e {
        ClientEvent::Chat(ChatEvent::Relayed { id, .. }) => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(relayed, id);
    // The connection breaks before anyone has it.
    drop(server);
    disconnected(&mut events).await;

    // Back: the marks the server kept meanwhile.
    let (mut server, _, _, alice) = room(&key, &listener).await;
    roster(&mut events).await;
    server
        .send(&Body::Delivered {
            ids: vec![id.clone()],
            by: vec![alice.member.clone()],
        })
        .await;
    server.send(&msg("and now")).await;
    let (before, _) = tests::engines::until(&mut events, |e| match e {
        ClientEvent::Chat(ChatEvent::Received { text, .. }) => Some(text),
        _ => None,
    })
    .await;
    let marks: Vec<&ClientEvent> = before
        .iter()
        .filter(|e| matches!(e, ClientEvent::Chat(ChatEvent::Delivered { .. })))
        .collect();
    assert_eq!(
        marks,
        [&ClientEvent::Chat(ChatEvent::Delivered {
            id,
            by: "alice".into()
        })]
    );
}

#[tokio::test]
async fn bye_new_key_stops_and_says_to_paste_the_new_key() {
    let key = Key::generate().unwrap();
    let (listener, mut events, _client) = carol(&key).await;
    let (mut server, ..) = room(&key, &listener).await;
    roster(&mut events).await;
    server
        .send(&Body::Bye {
            reason: "new-key".into(),
        })
        .await;
    let ended = disconnected(&mut events).await;
    assert_eq!(ended, Ended::NewKey { name: "bob".into() });
    assert!(
        ended.to_string().contains("new key and paste it"),
        "{ended}"
    );
    // It stops: no reconnect, the stream ends.
    let after = tokio::time::timeout(tests::engines::WAIT, events.recv()).await;
    assert_eq!(after, Ok(None));
}

#[tokio::test]
async fn bye_removed_stops_without_coming_back() {
    let key = Key::generate().unwrap();
    let (listener, mut events, _client) = carol(&key).await;
    let (mut server, ..) = room(&key, &listener).await;
    roster(&mut events).await;
    server
        .send(&Body::Bye {
            reason: "removed".into(),
        })
        .await;
    let ended = disconnected(&mut events).await;
    assert_eq!(ended.to_string(), "the server removed you from this room");
    let after = tokio::time::timeout(tests::engines::WAIT, events.recv()).await;
    assert_eq!(after, Ok(None));
}

#[tokio::test]
async fn after_a_proven_session_a_full_room_is_an_unauthenticated_hint_and_retried() {
    let key = Key::generate().unwrap();
    let (listener, mut events, _client) = carol(&key).await;
    let (first, ..) = room(&key, &listener).await;
    roster(&mut events).await;
    drop(first);
    // Anyone on the path can send this line: it cannot end the chat. (The
    // session that just ended was short: that retry comes first.)
    answer(&listener, "ERR room-full this room is full").await;
    let hint = next(&mut events, |e| match e {
        ClientEvent::Retrying {
            error: ConnectError::Unauthenticated(text),
            ..
        } => Some(text),
        ClientEvent::Failed(e) => panic!("gave up: {e}"),
        _ => None,
    })
    .await;
    assert_eq!(hint, "this room is full");
    room(&key, &listener).await;
    assert_eq!(roster(&mut events).await, ["bob", "alice", "you (carol)"]);
}
