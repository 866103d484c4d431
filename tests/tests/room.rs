//! Rooms (protocol 3, PROTOCOL.md "Rooms"), end to end with real engines
//! on loopback: everyone sees every other member's messages once and in
//! order and delivery marks reach "all"; a member cut off keeps its place
//! and loses nothing; a place cannot be taken without its proof; protocol-1
//! peers take part; full rooms, removed members and New key.
//!
//! The member that never reads is in `room_slow.rs`.

use std::collections::{BTreeMap, BTreeSet};

use common::handshake::ErrCode;
use common::payload::Body;
use common::place::Identity;
use common::{
    ChatEvent, ClientEvent, Config, ConnectError, Ended, Key, Rejection, ServerEvent, Timing, Why,
};
use tests::proxy::{Proxy, Way};
use tests::raw::{RawPeer, msg};
use tests::room::{Heard, Log, Room, Shown, check_shown, config, join_at, local, serve};

/// What each member sent: its name → (id, text) in the order sent.
type Sent = BTreeMap<String, Vec<(String, String)>>;

/// Every member sends `rounds` messages, interleaved with the others'
/// (one each per round); they are recorded in `sent`.
fn talk(room: &Room, rounds: std::ops::Range<usize>, sent: &mut Sent) {
    for i in rounds {
        for member in room.members() {
            let text = format!("{} says {i}", member.name);
            let id = member.send(&text);
            sent.entry(member.name.clone())
                .or_default()
                .push((id, text));
        }
    }
}

/// Waits until each member was shown everything the others sent, and
/// checks it was shown once, in each sender's order, never its own.
async fn everyone_shown(room: &Room, sent: &Sent) {
    for member in room.members() {
        let expected = sent
            .iter()
            .filter(|(name, _)| **name != member.name)
            .map(|(_, m)| m.len())
            .sum();
        let shown = member.log.wait_shown(expected).await;
        check_shown(&member.name, &shown, sent);
    }
}

/// Waits until each sender's messages are marked delivered to all the
/// others: `Relayed{to}` with `to` the other members, then one
/// `Delivered{by}` from each of them, by name.
async fn everyone_delivered(room: &Room, sent: &Sent) {
    let names: BTreeSet<String> = room.members().map(|m| m.name.clone()).collect();
    for member in room.members() {
        let ids: Vec<String> = sent[&member.name]
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let mut others = names.clone();
        others.remove(&member.name);
        for marks in member.log.wait_delivered(&ids).await {
            assert_eq!(marks.to, Some(others.len()), "{}: relayed to", member.name);
            assert_eq!(marks.by, others, "{}: delivered by", member.name);
            assert_eq!(
                marks.delivered,
                others.len(),
                "{}: a mark twice",
                member.name
            );
            assert!(!marks.early, "{}: delivered before relayed", member.name);
        }
    }
}

/// Everyone talks, every message is shown once to every other member in
/// order, the marks reach all; then one more round, so that a copy shown
/// twice after the first check would be counted in the second.
async fn everyone_talks(clients: usize, rounds: usize) {
    let room = Room::open(clients).await;
    let mut sent = Sent::new();
    talk(&room, 0..rounds, &mut sent);
    everyone_shown(&room, &sent).await;
    everyone_delivered(&room, &sent).await;
    talk(&room, rounds..rounds + 1, &mut sent);
    everyone_shown(&room, &sent).await;
}

#[tokio::test]
async fn three_members_each_see_every_other_message_once_in_order_delivered_to_all() {
    everyone_talks(2, 20).await;
}

#[tokio::test]
async fn ten_members_each_see_every_other_message_once_in_order_delivered_to_all() {
    everyone_talks(9, 10).await;
}

/// The members `log` was told had joined, by id.
fn joins(events: &[Heard], id: &str) -> Vec<common::Member> {
    events
        .iter()
        .filter_map(|e| match e.chat()? {
            ChatEvent::Joined(m) if m.id == id => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_member_cut_off_comes_back_to_its_place_and_nothing_is_lost_or_shown_twice() {
    let mut room = Room::open(2).await;
    let proxy = Proxy::start(local(room.port)).await;
    let chat = config(&room.key, "carol");
    room.add(chat, Some(proxy.addr())).await;
    let carol = room.client("carol");
    let id = carol.identity.member();
    let mut sent = Sent::new();
    talk(&room, 0..2, &mut sent);
    everyone_shown(&room, &sent).await;
    // (Marks are not kept for a sender that is away: let hers arrive.)
    everyone_delivered(&room, &sent).await;

    // Her ack of the next message is cut off with her connection: she has
    // shown it, the server will send it again. Her reconnect waits at the
    // proxy (its hello with it) until everyone has moved on.
    proxy.hold_new();
    proxy.cut_after_lines(Way::Up, 0);
    let text = "bob, as carol is cut off".to_owned();
    let cut_id = room.server.send(&text);
    sent.get_mut("bob").unwrap().push((cut_id, text));
    carol
        .log
        .wait("carol's session ending", |events| {
            events.iter().find_map(|e| match e {
                Heard::Client(ClientEvent::Disconnected(Ended::Lost(_))) => Some(()),
                _ => None,
            })
        })
        .await;
    for member in room.members().filter(|m| m.name != "carol") {
        assert_eq!(member.wait_left(&id).await.1, Why::Lost, "{}", member.name);
    }

    // Everyone talks while she is away, she too (her outbox keeps it).
    talk(&room, 2..5, &mut sent);
    let mut away = sent.clone();
    away.remove("carol");
    for member in room.members().filter(|m| m.name != "carol") {
        let expected = away
            .iter()
            .filter(|(name, _)| **name != member.name)
            .map(|(_, m)| m.len())
            .sum();
        member.log.wait_shown(expected).await;
    }

    let before = room.server.log.len();
    proxy.release_new();
    let carol = room.client("carol");
    let first = carol.log.wait_connected_after(0).await;
    carol.log.wait_connected_after(first + 1).await;
    room.server.wait_joined_after(&id, before).await;
    for member in room.members().filter(|m| m.name != "carol") {
        let announced = member
            .log
            .wait("carol back", |events| {
                let announced = joins(events, &id);
                (announced.len() >= 2).then_some(announced)
            })
            .await;
        assert_eq!(announced.len(), 2, "{}: joined, then back", member.name);
        for m in announced {
            assert_eq!(m.name, "carol", "{}: her name, not a new one", member.name);
        }
    }
    let mine = carol
        .log
        .wait("a roster per session", |events| {
            let rosters = rosters_in(events);
            (rosters.len() >= 2).then_some(rosters)
        })
        .await;
    assert_eq!(mine.len(), 2, "a roster per session");
    for roster in &mine {
        let you: Vec<&common::Member> = roster.iter().filter(|m| m.you).collect();
        assert_eq!(you.len(), 1);
        assert_eq!(
            (you[0].id.as_str(), you[0].name.as_str()),
            (id.as_str(), "carol")
        );
    }

    everyone_shown(&room, &sent).await;
    everyone_delivered(&room, &sent).await;

    // This time the server's ack of her own message is cut off: she sends
    // it again on her next session, and the room shows it once.
    let carol = room.client("carol");
    let second = carol.log.wait_connected_after(first + 1).await;
    proxy.cut_after_lines(Way::Down, 0);
    let text = "carol, whose ack is cut off".to_owned();
    let twice = carol.send(&text);
    sent.get_mut("carol").unwrap().push((twice.clone(), text));
    carol.log.wait_connected_after(second + 1).await;
    for member in room.members().filter(|m| m.name != "carol") {
        member
            .log
            .wait("carol back again", |events| {
                (joins(events, &id).len() >= 3).then_some(())
            })
            .await;
    }
    talk(&room, 5..6, &mut sent);
    everyone_shown(&room, &sent).await;
    // (Its marks went while she was away, and are not kept.)
    let mut marked = sent.clone();
    marked
        .get_mut("carol")
        .unwrap()
        .retain(|(id, _)| *id != twice);
    everyone_delivered(&room, &marked).await;
}

#[tokio::test]
async fn a_replayed_proof_cannot_take_a_members_place() {
    let mut room = Room::open(1).await;
    let key = room.key.clone();
    // carol's first hello is played by hand (so its proof is known), then
    // her engine, with the same chain, takes the place with the next link.
    let identity = Identity::new();
    let (member, seen) = identity.next_proof();
    let mut first = RawPeer::join(&key, room.port, "carol", &member, &seen)
        .await
        .expect("a new member joins");
    room.server.wait_joined(&member).await;
    let chat = Config {
        identity: identity.clone(),
        ..config(&key, "carol")
    };
    room.add(chat, None).await;
    let (reason, _) = first
        .recv(|b| match b {
            Body::Bye { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reason, "replaced");

    // Someone who read that hello replays its proof; someone else names
    // the member with a chain of their own. Neither gets in.
    let place = ErrCode::Place.line(&Timing::default());
    let replayed = RawPeer::join(&key, room.port, "carol", &member, &seen).await;
    assert_eq!(replayed.err(), Some(place.clone()));
    let (_, other) = Identity::new().next_proof();
    let forged = RawPeer::join(&key, room.port, "carol", &member, &other).await;
    assert_eq!(forged.err(), Some(place));
    room.server
        .log
        .wait("both refusals", |events| {
            let n = events
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        Heard::Server(ServerEvent::Rejected {
                            reason: Rejection::Place,
                            ..
                        })
                    )
                })
                .count();
            (n == 2).then_some(())
        })
        .await;

    // carol is still there, on her own connection.
    let text = "still with us, carol?";
    let id = room.client("m1").send(text);
    let carol = room.client("carol");
    let shown = carol.log.wait_shown(1).await;
    assert_eq!(
        shown.last(),
        Some(&Shown {
            id,
            from: "m1".into(),
            text: text.into()
        })
    );
    let gone = |events: &[Heard]| {
        events.iter().any(|e| {
            matches!(
                e,
                Heard::Client(ClientEvent::Disconnected(_) | ClientEvent::Failed(_))
            )
        })
    };
    assert!(!gone(&carol.log.events()), "carol lost her session");
    let m1 = room.client("m1");
    assert_eq!(
        joins(&m1.log.events(), &member).len(),
        1,
        "carol joined once"
    );
    assert!(
        !m1.log
            .events()
            .iter()
            .any(|e| matches!(e.chat(), Some(ChatEvent::Left { member: m, .. }) if m.id == member)),
        "carol was announced as leaving"
    );
}

/// The id of the member named `name` that `log` saw join.
async fn joined_named(log: &Log, name: &str) -> common::Member {
    log.wait("a join", |events| {
        events.iter().find_map(|e| match e.chat()? {
            ChatEvent::Joined(m) if m.name == name => Some(m.clone()),
            _ => None,
        })
    })
    .await
}

#[tokio::test]
async fn a_protocol_1_member_sees_everyone_and_everyone_sees_it() {
    let room = Room::open(2).await;
    let mut old = RawPeer::connect(&room.key, room.port, "dave").await;
    let dave = joined_named(&room.server.log, "dave").await;
    for member in &room.clients {
        member.wait_joined(&dave.id).await;
    }

    let mut expected = BTreeSet::new();
    let mut ids = BTreeMap::new();
    for member in room.members() {
        let text = format!("hello dave, {} here", member.name);
        ids.insert(member.name.clone(), member.send(&text));
        // A protocol-1 peer names the server itself (the welcome's name):
        // only what the server relays from others says who sent it.
        if member.name == "bob" {
            expected.insert(text);
        } else {
            expected.insert(format!("{}: {text}", member.name));
        }
    }
    let mut got = BTreeSet::new();
    while got.len() < expected.len() {
        let (entries, _) = old
            .recv(|b| match b {
                Body::Msg {
                    id,
                    text,
                    from,
                    name,
                    ..
                } => Some(vec![(
                    id.clone(),
                    text.clone(),
                    from.is_some() || name.is_some(),
                )]),
                _ => None,
            })
            .await;
        for (id, text, tagged) in entries {
            assert!(!tagged, "a protocol-1 peer got from/name");
            old.send(&Body::Ack { of: id, to: None }).await;
            assert!(got.insert(text), "shown twice");
        }
    }
    assert_eq!(
        got, expected,
        "each message once, prefixed but the server's"
    );
    for member in room.members() {
        let marks = member
            .log
            .wait_delivered(&[ids[&member.name].clone()])
            .await;
        assert!(
            marks[0].by.contains("dave"),
            "{}: {:?}",
            member.name,
            marks[0]
        );
    }

    let hi = msg("hi all, dave here");
    let Body::Msg { id, text, .. } = &hi else {
        unreachable!()
    };
    old.send(&hi).await;
    let (ack, _) = old
        .recv(|b| match b {
            Body::Ack { of, to } => Some((of.clone(), *to)),
            _ => None,
        })
        .await;
    assert_eq!(ack, (id.clone(), None), "a protocol-1 ack");
    for member in room.members() {
        let shown = member.log.wait_shown(3).await;
        let from_dave: Vec<&Shown> = shown.iter().filter(|s| s.from == "dave").collect();
        assert_eq!(from_dave.len(), 1, "{}", member.name);
        assert_eq!((&from_dave[0].id, &from_dave[0].text), (id, text));
    }
}

#[tokio::test]
async fn a_room_client_chats_with_a_protocol_1_server_as_before() {
    let key = Key::generate().unwrap();
    let (_host, server, port) = serve(
        Config {
            max_proto: 1,
            ..config(&key, "bob")
        },
        common::DEFAULT_MAX_MEMBERS,
    )
    .await;
    let alice = join_at(config(&key, "alice"), local(port));
    alice.log.wait_connected_after(0).await;
    let to_bob = alice.send("hi bob");
    let from_bob = server.send("hi alice");
    let at_bob = server.log.wait_shown(1).await;
    assert_eq!(
        (at_bob[0].from.as_str(), at_bob[0].text.as_str()),
        ("alice", "hi bob")
    );
    assert_eq!(at_bob[0].id, to_bob);
    let at_alice = alice.log.wait_shown(1).await;
    assert_eq!(
        (at_alice[0].from.as_str(), at_alice[0].text.as_str()),
        ("bob", "hi alice")
    );
    assert_eq!(at_alice[0].id, from_bob);
    // alice is in a two-person chat: acks, not room marks.
    alice
        .log
        .wait("the ack", |events| {
            events
                .iter()
                .any(|e| matches!(e, Heard::Client(ClientEvent::Acked { id }) if *id == to_bob))
                .then_some(())
        })
        .await;
    assert!(
        !alice.log.events().iter().any(|e| matches!(
            e.chat(),
            Some(ChatEvent::Relayed { .. } | ChatEvent::Delivered { .. })
        )),
        "room marks from a two-person chat"
    );
    let roster = alice
        .log
        .wait("the roster", |events| rosters_in(events).into_iter().next())
        .await;
    let names: Vec<(&str, bool)> = roster.iter().map(|m| (m.name.as_str(), m.you)).collect();
    assert_eq!(
        names,
        [("bob", false), ("alice", true)],
        "the server and us"
    );
    // The server's message reached her.
    server.log.wait_delivered(&[from_bob]).await;
}

/// Waits for the engine to give up; why.
async fn failed(log: &Log) -> ConnectError {
    log.wait("the engine giving up", |events| {
        events.iter().find_map(|e| match e {
            Heard::Client(ClientEvent::Failed(e)) => Some(e.clone()),
            _ => None,
        })
    })
    .await
}

#[tokio::test]
async fn a_full_room_turns_the_next_member_away_until_someone_leaves() {
    let mut room = Room::empty(3).await;
    for name in ["m1", "m2"] {
        room.add(config(&room.key, name), None).await;
    }
    let late = join_at(config(&room.key, "m3"), local(room.port));
    let error = failed(&late.log).await;
    assert_eq!(error, ConnectError::RoomFull);
    assert!(error.to_string().starts_with("the room is full"), "{error}");
    room.server
        .log
        .wait("the refusal", |events| {
            events
                .iter()
                .any(|e| {
                    matches!(
                        e,
                        Heard::Server(ServerEvent::Rejected {
                            reason: Rejection::RoomFull,
                            ..
                        })
                    )
                })
                .then_some(())
        })
        .await;

    // m2 leaves (bye): its place is free for the next one.
    let m2 = room.clients.pop().unwrap();
    m2.handle.close();
    let id = m2.identity.member();
    assert_eq!(room.server.wait_left(&id).await.1, Why::Bye);
    room.add(config(&room.key, "m3"), None).await;
}

#[tokio::test]
async fn a_removed_member_is_refused_until_allowed_back() {
    let room = Room::open(2).await;
    let m1 = room.client("m1");
    let id = m1.identity.member();
    room.host.remove(&id);
    let events = m1.log.wait_stopped().await;
    assert_eq!(
        events.last(),
        Some(&Heard::Client(ClientEvent::Disconnected(Ended::Removed))),
        "it stops with the reason"
    );
    assert_eq!(
        Ended::Removed.to_string(),
        "the server removed you from this room"
    );
    assert_eq!(room.client("m2").wait_left(&id).await.1, Why::Removed);

    // Its window tries again with the same identity: refused.
    let again = || {
        join_at(
            Config {
                identity: m1.identity.clone(),
                ..config(&room.key, "m1")
            },
            local(room.port),
        )
    };
    let refused = again();
    let error = failed(&refused.log).await;
    assert_eq!(error, ConnectError::Removed);
    assert_eq!(error.to_string(), "the server removed you from this room");

    room.host.allow(&id);
    let back = again();
    back.log.wait_connected_after(0).await;
    let joined = room.client("m2").wait_joined_after(&id, 0).await;
    assert_eq!(joined.name, "m1");
    let text = "welcome back";
    room.client("m2").send(text);
    assert_eq!(back.log.wait_shown(1).await[0].text, text);
}

#[tokio::test]
async fn a_new_key_ends_everyone_and_only_the_new_key_gets_in() {
    let room = Room::open(2).await;
    let new = Key::generate().unwrap();
    room.host.set_key(new.clone());
    room.server
        .log
        .wait("the new key", |events| {
            events
                .iter()
                .any(|e| *e == Heard::Server(ServerEvent::KeyChanged(new.clone())))
                .then_some(())
        })
        .await;
    for member in &room.clients {
        let events = member.log.wait_stopped().await;
        let ended = Ended::NewKey { name: "bob".into() };
        assert_eq!(
            events.last(),
            Some(&Heard::Client(ClientEvent::Disconnected(ended.clone()))),
            "{} stops with the reason",
            member.name
        );
        assert_eq!(
            ended.to_string(),
            "bob changed the key: ask for the new key and paste it to chat again"
        );
    }

    let old = join_at(config(&room.key, "m3"), local(room.port));
    assert_eq!(failed(&old.log).await, ConnectError::KeyMismatch);
    let fresh = join_at(config(&new, "m4"), local(room.port));
    fresh.log.wait_connected_after(0).await;
    let roster = fresh
        .log
        .wait("the roster", |events| rosters_in(events).into_iter().next())
        .await;
    let names: BTreeSet<&str> = roster.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["bob", "m4"]), "the room was emptied");
}

fn rosters_in(events: &[Heard]) -> Vec<Vec<common::Member>> {
    events
        .iter()
        .filter_map(|e| match e {
            Heard::Client(ClientEvent::Roster(members)) => Some(members.clone()),
            _ => None,
        })
        .collect()
}
