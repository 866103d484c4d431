//! A member that never reads (a stalled laptop: its socket buffer fills)
//! must not hold up the room for long or grow the server without bound
//! (PROTOCOL.md, "Slow members"): once its queue is full and it has
//! acknowledged nothing for the room stall, it is disconnected as `slow`,
//! the others chat on, and its place is held so that its reconnect
//! catches up on everything. Members that keep reading are never taken
//! for slow, however fast the others send, and a member that pauses is
//! not pushed over by another's flood of typing states; the others get
//! that flood as a trickle.

use std::collections::BTreeSet;
use std::time::Duration;

use common::payload::{
    Body, MAX_BATCH, MAX_TEXT_BYTES, MESSAGE_OVERHEAD, Message, random_id, weight,
};
use common::place::Identity;
use common::server::limits::{CONTROL_MAX, MEMBER_QUEUE_BYTES, TYPING_BURST, TYPING_PER_SEC};
use common::{ChatEvent, Key, Why};
use tests::raw::{RawPeer, messages, msg};
use tests::room::{Room, config};

/// Text of each message: with `MESSAGES` of them relayed to the stuck
/// member, well past the member queue.
const TEXT_BYTES: usize = 1_500;
const MESSAGES: usize = 2_000;

/// Slow machines and debug builds: moving 2,000 messages to three members
/// may take a while; a wait that hits it is a failure.
const LONG: Duration = Duration::from_secs(120);

/// Message `i` of `sender`, `TEXT_BYTES` long.
fn numbered(sender: &str, i: usize) -> String {
    let head = format!("{sender} {i:05} ");
    format!("{head}{}", "x".repeat(TEXT_BYTES - head.len()))
}

#[tokio::test]
async fn a_member_that_never_reads_is_cut_off_as_slow_and_the_room_chats_on() {
    const {
        assert!(
            MESSAGES * TEXT_BYTES > MEMBER_QUEUE_BYTES + MEMBER_QUEUE_BYTES / 4,
            "the test must pass the member queue"
        )
    };
    let room = Room::open(2).await;
    let identity = Identity::new();
    let (member, proof) = identity.next_proof();
    let mut stuck = RawPeer::join(&room.key, room.port, "stuck", &member, &proof)
        .await
        .expect("joins");
    for other in room.members() {
        other.wait_joined(&member).await;
    }
    // It never reads a byte from now on, but keeps sending pings, so that
    // only its reading (not its silence) can end it.
    let pinger = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(200));
        loop {
            every.tick().await;
            stuck.send(&Body::Ping).await;
        }
    });

    // m1 and m2 send 1,000 each, interleaved.
    let mut ids = Vec::new();
    for i in 0..MESSAGES / 2 {
        for sender in &room.clients {
            ids.push(sender.send(&numbered(&sender.name, i)));
        }
    }

    // Everyone else gets everything, in order.
    for reader in room.members() {
        let expected = if reader.name == "bob" {
            MESSAGES
        } else {
            MESSAGES / 2
        };
        let shown = reader.log.wait_shown_for(LONG, expected).await;
        assert_eq!(shown.len(), expected, "{}", reader.name);
        for sender in room.clients.iter().filter(|s| s.name != reader.name) {
            let texts: Vec<&str> = shown
                .iter()
                .filter(|s| s.from == sender.name)
                .map(|s| s.text.as_str())
                .collect();
            let want: Vec<String> = (0..MESSAGES / 2)
                .map(|i| numbered(&sender.name, i))
                .collect();
            assert!(
                texts == want,
                "{}: {}'s messages in order",
                reader.name,
                sender.name
            );
        }
    }
    // ...and is told the stuck member fell behind.
    for other in room.members() {
        assert_eq!(
            other.wait_left(&member).await.1,
            Why::Slow,
            "{}",
            other.name
        );
    }
    pinger.abort();

    // Its place was held with what it missed: coming back with the next
    // link of its chain, it gets every message once.
    let (_, next) = identity.next_proof();
    let mut back = RawPeer::join(&room.key, room.port, "stuck", &member, &next)
        .await
        .expect("takes its place back");
    let mut got = BTreeSet::new();
    let mut shown = 0;
    while got.len() < ids.len() {
        let (entries, _) = back
            .recv(|b| match b {
                Body::Msg { id, .. } => Some(vec![id.clone()]),
                Body::Msgs { msgs } => Some(msgs.iter().map(|m| m.id.clone()).collect()),
                _ => None,
            })
            .await;
        back.send(&Body::Acks {
            ids: entries.clone(),
            to: None,
        })
        .await;
        shown += entries.len();
        got.extend(entries);
    }
    assert_eq!(
        got,
        ids.iter().cloned().collect(),
        "every message it missed"
    );
    assert_eq!(shown, ids.len(), "none twice");
    let again = room.server.wait_joined_after(&member, 0).await;
    assert_eq!(again.name, "stuck");
}

/// A member that keeps up is never taken for a slow one while it holds
/// its acks (PROTOCOL.md, "ack delay"): large messages are acknowledged as
/// they come (the ack text), so what the server counts as not yet
/// acknowledged stays under the member queue. Its ack delay is an hour
/// here, so only the ack text can keep it in; each message goes once the
/// one before is shown, so nothing waits unsent.
#[tokio::test]
async fn a_member_holding_its_acks_is_not_taken_for_slow_by_large_messages() {
    let mut room = Room::empty(2).await;
    let mut chat = config(&room.key, "m1");
    chat.timing.ack_delay = Duration::from_secs(3600);
    let member = room.add(chat, None).await.identity.member();
    // Twice the member queue, in the largest messages there are.
    let count = 2 * MEMBER_QUEUE_BYTES / MAX_TEXT_BYTES;
    for i in 0..count {
        let text = format!("{i:03} {}", "x".repeat(MAX_TEXT_BYTES - 4));
        room.server.send(&text);
        let shown = room.client("m1").log.wait_shown_for(LONG, i + 1).await;
        assert_eq!(shown[i].text, text);
    }
    let left: Vec<Why> = room
        .server
        .log
        .events()
        .iter()
        .filter_map(|e| match e.chat()? {
            ChatEvent::Left { member: m, why } if m.id == member => Some(why.clone()),
            _ => None,
        })
        .collect();
    assert!(left.is_empty(), "m1 left: {left:?}");
}

/// A burst faster than the members' links is not a slow member (PROTOCOL.md,
/// "Slow members"): everyone (the server's user and two members) sends
/// twice the member queue in the largest messages, all at once. Everyone
/// keeps up, so nobody is disconnected and everyone gets every message
/// once, in order: the room takes new messages at the pace of its slowest
/// member, and members that all send at once never wait on each other
/// for good (each one's acks are read while its messages wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_member_queue_makes_nobody_slow() {
    let room = Room::open(2).await;
    let count = 2 * MEMBER_QUEUE_BYTES / MAX_TEXT_BYTES;
    let text = |who: &str, i: usize| {
        let head = format!("{who} {i:03} ");
        format!("{head}{}", "x".repeat(MAX_TEXT_BYTES - head.len()))
    };
    let mut sent = std::collections::BTreeMap::new();
    for sender in room.members() {
        let ids = (0..count)
            .map(|i| {
                let text = text(&sender.name, i);
                (sender.send(&text), text)
            })
            .collect();
        sent.insert(sender.name.clone(), ids);
    }
    for reader in room.members() {
        let expected = 2 * count;
        let shown = reader.log.wait_shown_for(LONG, expected).await;
        tests::room::check_shown(&reader.name, &shown, &sent);
    }
    for reader in room.members() {
        let left: Vec<(String, Why)> = reader
            .log
            .events()
            .iter()
            .filter_map(|e| match e.chat()? {
                ChatEvent::Left { member, why } => Some((member.name.clone(), why.clone())),
                _ => None,
            })
            .collect();
        assert!(
            left.is_empty(),
            "{} saw members leave: {left:?}",
            reader.name
        );
    }
}

/// A member that ignores its send window (PROTOCOL.md, "member inflow")
/// while the room waits for a stuck member: the server reads it no further
/// than its inflow, keeps its connection (its sending half goes on), and
/// once the stuck member is cut off for the stall, relays every one of
/// its messages, in order. Nothing it sent is lost and nobody else waits
/// on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_past_its_window_is_read_no_further_and_loses_nothing() {
    let room = Room::open(1).await;
    let join = |name: &'static str| {
        let (key, port) = (room.key.clone(), room.port);
        async move {
            let identity = Identity::new();
            let (member, proof) = identity.next_proof();
            let peer = RawPeer::join(&key, port, name, &member, &proof)
                .await
                .expect("joins");
            (member, peer)
        }
    };
    let (stuck, _stuck_peer) = join("stuck").await;
    let (flooder, mut flood) = join("flooder").await;
    for other in room.members() {
        other.wait_joined(&flooder).await;
    }
    // Twice the member queue, all at once and never reading an ack: the
    // stuck member's queue fills, the room waits, the flooder's inflow
    // fills, and the server stops reading it.
    let count = 2 * MEMBER_QUEUE_BYTES / MAX_TEXT_BYTES;
    let texts: Vec<String> = (0..count)
        .map(|i| format!("{i:03} {}", "f".repeat(MAX_TEXT_BYTES - 4)))
        .collect();
    let sent = texts.clone();
    let sender = tokio::spawn(async move {
        for text in &sent {
            flood.send(&tests::raw::msg(text)).await;
        }
        flood
    });
    let shown = room.client("m1").log.wait_shown_for(LONG, count).await;
    let got: Vec<&String> = shown.iter().map(|s| &s.text).collect();
    assert_eq!(got, texts.iter().collect::<Vec<_>>(), "all, in order");
    let _flood = sender.await.unwrap();
    for other in room.members() {
        assert_eq!(other.wait_left(&stuck).await.1, Why::Slow, "{}", other.name);
        let left_flooder = other.log.events().iter().any(
            |e| matches!(e.chat(), Some(ChatEvent::Left { member, .. }) if member.id == flooder),
        );
        assert!(!left_flooder, "{} saw the flooder leave", other.name);
    }
}

/// The server user's message that waits in the room for a full member
/// (PROTOCOL.md, "Slow members") is not lost when everyone leaves before
/// it goes: like one sent to an empty room, it goes to the next member who
/// joins.
#[tokio::test]
async fn a_waiting_message_of_the_server_goes_to_the_next_member_if_everyone_leaves() {
    let mut room = Room::empty(8).await;
    let identity = Identity::new();
    let (member, proof) = identity.next_proof();
    let mut stuck = RawPeer::join(&room.key, room.port, "stuck", &member, &proof)
        .await
        .expect("joins");
    room.server.wait_joined(&member).await;
    // The member queue's worth goes out to the stuck member (never
    // acknowledged); the last one waits for room.
    let fits = MEMBER_QUEUE_BYTES / weight(MAX_TEXT_BYTES);
    let text = |i: usize| format!("{i:03} {}", "w".repeat(MAX_TEXT_BYTES - 4));
    for i in 0..=fits {
        room.server.send(&text(i));
    }
    room.server
        .log
        .wait("the member queue's worth sent", |events| {
            let sent = events
                .iter()
                .filter(|e| matches!(e.chat(), Some(ChatEvent::Sent { .. })))
                .count();
            (sent == fits).then_some(())
        })
        .await;
    stuck
        .send(&Body::Bye {
            reason: "closed".into(),
        })
        .await;
    room.server.wait_left(&member).await;
    let m1 = room.add(config(&room.key, "m1"), None).await;
    let shown = m1.log.wait_shown(1).await;
    assert_eq!(shown[0].text, text(fits));
}

/// A raw member of `room` named `name`, once the server saw it join.
async fn join(room: &Room, name: &str) -> (RawPeer, String) {
    let (member, proof) = Identity::new().next_proof();
    let peer = RawPeer::join(&room.key, room.port, name, &member, &proof)
        .await
        .expect("joins");
    room.server.wait_joined(&member).await;
    (peer, member)
}

/// `peer` says it is (or is not) typing, read on its own: a ping in the
/// same write, and its pong awaited (a read's typing frames count as
/// their last).
async fn flip(peer: &mut RawPeer, active: bool) {
    let flip = peer.session.seal(&Body::Typing { active, from: None });
    let ping = peer.session.seal(&Body::Ping);
    peer.send_bytes(format!("{flip}\n{ping}\n").as_bytes())
        .await;
    peer.recv(|b| (*b == Body::Pong).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typing_flood_makes_nobody_slow() {
    let room = Room::empty(common::DEFAULT_MAX_MEMBERS).await;
    // A member that reads nothing for a while (its laptop's lid closed).
    let (mut paused, paused_id) = join(&room, "paused").await;
    let (mut mallory, _) = join(&room, "mallory").await;
    // Mallory flips its typing state, each flip read on its own: half as many again as it took to cut the paused member
    // off as slow when each flip was queued for it (about 130,000). Two
    // things stand in the way now, and only both failing fails this: the
    // typing pace (the next test) and the mailbox keeping one unsent
    // typing state per member (its unit tests).
    for i in 0..3 * CONTROL_MAX {
        if i % 1000 == 0 {
            // Not silent, so that only its reading can end it.
            paused.send(&Body::Ping).await;
        }
        flip(&mut mallory, i % 2 == 0).await;
    }
    mallory.send(&msg("done")).await;
    // The paused member reads again: still in the room, it gets the
    // message after the flood.
    paused
        .recv(|b| messages(b).into_iter().find(|m| m.text == "done"))
        .await;
    let left = room.server.log.events().into_iter().any(
        |e| matches!(e.chat(), Some(ChatEvent::Left { member, .. }) if member.id == paused_id),
    );
    assert!(!left, "the paused member was cut off");
}

/// What a reader of a typing flood gets.
enum Heard {
    Typing(bool),
    Done,
}

#[tokio::test]
async fn a_typing_flood_reaches_the_others_as_a_trickle_ending_in_its_latest_state() {
    let room = Room::empty(common::DEFAULT_MAX_MEMBERS).await;
    let (mut bob, _) = join(&room, "bob").await;
    let (mut mallory, mallory_id) = join(&room, "mallory").await;
    let started = std::time::Instant::now();
    // 1,001 flips, the last one "typing", each read on its own; then a
    // message.
    for i in 0..=1000 {
        flip(&mut mallory, i % 2 == 0).await;
    }
    mallory.send(&msg("done")).await;
    let (mut relayed, mut last, mut done) = (0, None, false);
    while !done || last != Some(true) {
        let (heard, _) = bob
            .recv(|b| match b {
                Body::Typing {
                    active,
                    from: Some(from),
                } if *from == mallory_id => Some(Heard::Typing(*active)),
                _ => messages(b)
                    .iter()
                    .any(|m| m.text == "done")
                    .then_some(Heard::Done),
            })
            .await;
        match heard {
            Heard::Typing(active) => {
                relayed += 1;
                last = Some(active);
            }
            Heard::Done => done = true,
        }
    }
    // The server's clock ran no longer than ours.
    let allowed =
        f64::from(TYPING_BURST) + f64::from(TYPING_PER_SEC) * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        f64::from(relayed) <= allowed,
        "{relayed} typing changes relayed, {allowed:.1} allowed"
    );
    let shown = room
        .server
        .log
        .events()
        .into_iter()
        .filter(|e| matches!(e.chat(), Some(ChatEvent::Typing { from, .. }) if from == "mallory"))
        .count();
    assert!(
        shown as f64 <= allowed,
        "{shown} typing changes shown in the server's window, {allowed:.1} allowed"
    );
}

/// Empty messages weigh something too: a key holder's flood of them fills
/// a paused member's queue like any other messages (before, they counted
/// nothing and queued for it without end), so the paused member is cut
/// off as slow after the stall and the room goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_empty_messages_fills_a_paused_members_queue_like_any() {
    let room = Room::empty(common::DEFAULT_MAX_MEMBERS).await;
    let (mut paused, paused_id) = join(&room, "paused").await;
    let (mut mallory, _) = join(&room, "mallory").await;
    let pinger = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(200));
        loop {
            every.tick().await;
            paused.send(&Body::Ping).await;
        }
    });
    // Past the member queue, counting each message's overhead only.
    let frames = MEMBER_QUEUE_BYTES / MESSAGE_OVERHEAD / MAX_BATCH + 8;
    let flood = tokio::spawn(async move {
        for _ in 0..frames {
            let msgs = (0..MAX_BATCH)
                .map(|_| Message {
                    id: random_id(),
                    text: String::new(),
                    sent_at: 0,
                    from: None,
                    name: None,
                })
                .collect();
            mallory.send(&Body::Msgs { msgs }).await;
        }
        mallory
    });
    let (_, why) = room.server.wait_left(&paused_id).await;
    assert_eq!(why, Why::Slow);
    pinger.abort();
    drop(flood.await);
}

/// A member that acknowledges a trickle (a message now and then, enough
/// for the room to move a message at a time: here 200 KiB twice a second,
/// less than half a member queue per stall) holds the room up as much as
/// one that acknowledges nothing: it is cut off as slow once it has been
/// behind for the stall, all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_acknowledging_a_trickle_is_cut_off_as_slow_all_the_same() {
    let key = Key::generate().unwrap();
    let mut chat = config(&key, "bob");
    chat.timing.stall = Duration::from_secs(1);
    let (host, server, port) = tests::room::serve(chat, common::DEFAULT_MAX_MEMBERS).await;
    let room = Room {
        key,
        port,
        host,
        server,
        clients: Vec::new(),
    };
    let (mut mallory, mallory_id) = join(&room, "mallory").await;
    // Four times the member queue, from the server's user.
    for i in 0..40 {
        room.server
            .send(&format!("{i:02} {}", "y".repeat(200 * 1024)));
    }
    let trickle = tokio::spawn(async move {
        loop {
            let (ids, _) = mallory.recv(|b| Some(messages(b))).await;
            for message in ids {
                tokio::time::sleep(Duration::from_millis(500)).await;
                mallory
                    .send(&Body::Ack {
                        of: message.id,
                        to: None,
                    })
                    .await;
            }
        }
    });
    let (_, why) = room.server.wait_left(&mallory_id).await;
    assert_eq!(why, Why::Slow);
    trickle.abort();
}
