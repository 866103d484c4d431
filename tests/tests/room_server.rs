//! The server's room engine (PROTOCOL.md, "Rooms") from outside, through
//! raw protocol peers on loopback: who gets in, what each member sees, and
//! what a member that stops reading costs the others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use common::payload::{Body, MAX_TEXT_BYTES, Message, RosterEntry};
use common::place::Identity;
use common::server::limits::{HELD_QUEUE_BYTES, MEMBER_QUEUE_BYTES};
use common::{ChatEvent, Config, Key, Rejection, ServerEvent, ServerHandle, Why};
use tests::engines::{connected, left, next, received, rejected};
use tests::raw::{RawPeer, messages, msg, msg_with_id};
use tokio::sync::mpsc::Receiver;

/// A server "bob" on loopback holding at most `max_members`.
async fn room(key: &Key, max_members: usize) -> (ServerHandle, Receiver<ServerEvent>, u16) {
    tests::engines::room_server(Config::new(key.clone(), "bob"), 0, max_members).await
}

/// A protocol-3 member `identity` joins as `name` with its next link; the
/// server's answer if it is not a welcome.
async fn join(key: &Key, port: u16, name: &str, identity: &Identity) -> Result<RawPeer, String> {
    let (member, proof) = identity.next_proof();
    RawPeer::join(key, port, name, &member, &proof).await
}

/// The roster every protocol-3 session starts with: our member id, and
/// everyone online.
async fn roster_frame(peer: &mut RawPeer) -> (String, Vec<RosterEntry>) {
    let line = peer.read_line().await.expect("no roster");
    let Ok(Some(Body::Roster { you, members })) = peer.session.open(&line) else {
        panic!("the first frame is not a roster");
    };
    (you, members)
}

/// The roster every protocol-3 session starts with: who we are, and the
/// names online.
async fn roster(peer: &mut RawPeer) -> (RosterEntry, Vec<String>) {
    let (you, members) = roster_frame(peer).await;
    let me = members.iter().find(|m| m.member == you).unwrap().clone();
    (me, members.into_iter().map(|m| m.name).collect())
}

/// The member id of `name` in the roster `peer`'s session starts with.
async fn id_in_roster(peer: &mut RawPeer, name: &str) -> String {
    let (_, members) = roster_frame(peer).await;
    members.into_iter().find(|m| m.name == name).unwrap().member
}

/// Member `identity` joins as `name` and reads its roster, and the
/// server's window sees it connect under the name the roster gave it;
/// its entry and the peer.
async fn seated(
    key: &Key,
    port: u16,
    name: &str,
    identity: &Identity,
    events: &mut Receiver<ServerEvent>,
) -> (RosterEntry, RawPeer) {
    let mut peer = join(key, port, name, identity).await.unwrap();
    let (me, _) = roster(&mut peer).await;
    assert_eq!(connected(events).await, me.name);
    (me, peer)
}

/// Reads `n` messages, acknowledging each frame's, and returns them with
/// every other frame read on the way.
async fn read_messages(peer: &mut RawPeer, n: usize) -> (Vec<Message>, Vec<Body>) {
    let (mut got, mut other) = (Vec::new(), Vec::new());
    while got.len() < n {
        let line = peer.read_line().await.expect("connection closed");
        let body = peer.session.open(&line).unwrap().unwrap();
        let these = messages(&body);
        if these.is_empty() {
            other.push(body);
            continue;
        }
        let ids = these.iter().map(|m| m.id.clone()).collect();
        peer.send(&Body::Acks { ids, to: None }).await;
        got.extend(these);
    }
    (got, other)
}

/// Reads frames until one matches `pick`; panics on a message before it.
async fn frame<T>(peer: &mut RawPeer, mut pick: impl FnMut(&Body) -> Option<T>) -> T {
    loop {
        let line = peer.read_line().await.expect("connection closed");
        let body = peer.session.open(&line).unwrap().unwrap();
        let ids: Vec<String> = messages(&body).into_iter().map(|m| m.id).collect();
        assert!(ids.is_empty(), "messages {ids:?}");
        if let Some(found) = pick(&body) {
            return found;
        }
    }
}

/// The `bye` reason the server ends a connection with.
async fn bye(peer: &mut RawPeer) -> String {
    loop {
        let line = peer.read_line().await.expect("closed without a bye");
        if let Ok(Some(Body::Bye { reason })) = peer.session.open(&line) {
            return reason;
        }
    }
}

#[tokio::test]
async fn names_are_made_unique_in_the_room_ignoring_case() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = room(&key, 8).await;
    let mut named = Vec::new();
    for wanted in ["alice", "Alice", "BOB", "alice"] {
        let (me, peer) = seated(&key, port, wanted, &Identity::new(), &mut events).await;
        named.push((me.name, peer));
    }
    let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["alice", "Alice (2)", "BOB (2)", "alice (3)"]);
}

#[tokio::test]
async fn a_place_is_taken_back_with_the_next_link_and_never_with_a_seen_one() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = room(&key, 8).await;
    let alice = Identity::new();
    let (member, first) = alice.next_proof();
    let mut one = RawPeer::join(&key, port, "alice", &member, &first)
        .await
        .unwrap();
    let (me, _) = roster(&mut one).await;
    assert_eq!(me.member, member);
    assert_eq!(connected(&mut events).await, "alice");
    // Someone else (even named alice) is another member.
    let mut other = join(&key, port, "alice", &Identity::new()).await.unwrap();
    assert_eq!(roster(&mut other).await.0.name, "alice (2)");
    // The next link takes the place: the old connection is replaced, the
    // member keeps its id and name.
    let (_, second) = alice.next_proof();
    let mut two = RawPeer::join(&key, port, "whoever", &member, &second)
        .await
        .unwrap();
    let (me, names) = roster(&mut two).await;
    assert_eq!(
        (me.member.as_str(), me.name.as_str()),
        (member.as_str(), "alice")
    );
    assert_eq!(names, ["bob", "alice", "alice (2)"], "alice once");
    assert_eq!(bye(&mut one).await, "replaced");
    // Links already seen on the network prove nothing.
    for seen in [&first, &second] {
        let refused = RawPeer::join(&key, port, "mallory", &member, seen).await;
        assert_eq!(
            refused.err().as_deref(),
            Some("ERR place that member's place needs its own proof")
        );
        assert_eq!(rejected(&mut events).await, Rejection::Place);
    }
    // The member is still there, on its second connection.
    two.send(&msg("still me")).await;
    assert_eq!(
        received(&mut events).await,
        ("alice".into(), "still me".into())
    );
}

#[tokio::test]
async fn a_full_room_refuses_the_next_member_until_someone_leaves() {
    let key = Key::generate().unwrap();
    // Bob and two more.
    let (_handle, mut events, port) = room(&key, 3).await;
    let mut a = join(&key, port, "a", &Identity::new()).await.unwrap();
    let _b = join(&key, port, "b", &Identity::new()).await.unwrap();
    connected(&mut events).await;
    connected(&mut events).await;
    let full = join(&key, port, "c", &Identity::new()).await;
    assert_eq!(
        full.err().as_deref(),
        Some("ERR room-full this room is full")
    );
    assert_eq!(rejected(&mut events).await, Rejection::RoomFull);
    a.send(&Body::Bye {
        reason: "closed".into(),
    })
    .await;
    assert_eq!(left(&mut events).await, ("a".into(), Why::Bye));
    let mut c = join(&key, port, "c", &Identity::new()).await.unwrap();
    assert_eq!(roster(&mut c).await.1, ["bob", "b", "c"]);
}

#[tokio::test]
async fn a_removed_member_is_refused_until_allowed_back() {
    let key = Key::generate().unwrap();
    let (handle, mut events, port) = room(&key, 8).await;
    let alice = Identity::new();
    let mut a = join(&key, port, "alice", &alice).await.unwrap();
    roster(&mut a).await;
    let mut carol = join(&key, port, "carol", &Identity::new()).await.unwrap();
    roster(&mut carol).await;
    connected(&mut events).await;
    connected(&mut events).await;

    handle.remove(&alice.member());
    assert_eq!(bye(&mut a).await, "removed");
    let gone = frame(&mut carol, |b| match b {
        Body::Left { member, why } => Some((member.clone(), why.clone())),
        _ => None,
    })
    .await;
    assert_eq!(gone, (alice.member(), "removed".into()));
    assert_eq!(left(&mut events).await, ("alice".into(), Why::Removed));

    let refused = join(&key, port, "alice", &alice).await;
    assert_eq!(
        refused.err().as_deref(),
        Some("ERR removed the server removed you from this room")
    );
    assert_eq!(rejected(&mut events).await, Rejection::Removed);

    handle.allow(&alice.member());
    // Its place was given up: it joins anew, with its chain's next link.
    let mut back = join(&key, port, "alice", &alice).await.unwrap();
    assert_eq!(roster(&mut back).await.0.name, "alice");
    assert_eq!(connected(&mut events).await, "alice");
}

#[tokio::test]
async fn a_protocol_1_member_sees_who_said_what_in_the_text() {
    let key = Key::generate().unwrap();
    let (handle, mut events, port) = room(&key, 8).await;
    let mut old = RawPeer::connect(&key, port, "old").await;
    assert_eq!(connected(&mut events).await, "old");
    let mut alice = join(&key, port, "alice", &Identity::new()).await.unwrap();
    let old_id = id_in_roster(&mut alice, "old").await;
    assert_eq!(connected(&mut events).await, "alice");

    let (hi, id) = msg_with_id("hi all");
    alice.send(&hi).await;
    let (got, _) = read_messages(&mut old, 1).await;
    assert_eq!((&got[0].id, got[0].text.as_str()), (&id, "alice: hi all"));
    assert_eq!((&got[0].from, &got[0].name), (&None, &None));
    // The server's own messages are the server's: no prefix.
    handle.send("from bob").unwrap();
    assert_eq!(read_messages(&mut old, 1).await.0[0].text, "from bob");
    // The other way, a protocol-3 member is told who it is from.
    old.send(&msg("back")).await;
    let (got, _) = read_messages(&mut alice, 2).await;
    let from_old = got.iter().find(|m| m.text == "back").unwrap();
    assert_eq!(from_old.name.as_deref(), Some("old"));
    assert_eq!(from_old.from, Some(old_id));
    // A maximal message has no room for the prefix: it goes as it is.
    let big = "x".repeat(MAX_TEXT_BYTES);
    alice.send(&msg(&big)).await;
    assert_eq!(read_messages(&mut old, 1).await.0[0].text, big);
}

#[tokio::test]
async fn three_members_get_every_message_once_in_order_with_its_id_and_marks_go_to_the_sender() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = room(&key, 8).await;
    let mut peers = Vec::new();
    for name in ["a", "b", "c"] {
        let (me, peer) = seated(&key, port, name, &Identity::new(), &mut events).await;
        assert_eq!(me.name, name);
        peers.push((me, peer));
    }
    let (a, rest) = peers.split_first_mut().unwrap();
    let sent: Vec<Body> = (0..5).map(|i| msg(&format!("m{i}"))).collect();
    let ids: Vec<String> = sent
        .iter()
        .map(|b| match b {
            Body::Msg { id, .. } => id.clone(),
            _ => unreachable!(),
        })
        .collect();
    for body in &sent {
        a.1.send(body).await;
    }
    // Each other member: each message once, in order, with its id and
    // its sender; nothing more (their rosters said who joined after them).
    for (_, peer) in rest.iter_mut() {
        let (got, other) = read_messages(peer, ids.len()).await;
        let got_ids: Vec<&String> = got.iter().map(|m| &m.id).collect();
        assert_eq!(got_ids, ids.iter().collect::<Vec<_>>());
        assert!(
            got.iter()
                .all(|m| m.from.as_deref() == Some(a.0.member.as_str()))
        );
        assert!(got.iter().all(|m| m.name.as_deref() == Some("a")));
        assert!(
            other.iter().all(|b| matches!(b, Body::Joined(_))),
            "{other:?}"
        );
        // A ping answered means nothing else was on its way before it.
        peer.send(&Body::Ping).await;
        frame(peer, |b| matches!(b, Body::Pong).then_some(())).await;
    }
    // The sender: acknowledged to 3 (b, c and the server), then a mark
    // from each of them for every message.
    let mut acked = Vec::new();
    let mut marks: Vec<(String, String)> = Vec::new();
    while acked.len() < ids.len() || marks.len() < 3 * ids.len() {
        let body = frame(&mut a.1, |b| Some(b.clone())).await;
        match body {
            Body::Ack { of, to } => acked.push((of, to)),
            Body::Acks { ids, to } => acked.extend(ids.into_iter().map(|of| (of, to))),
            Body::Delivered { ids, by } => {
                for by in by {
                    marks.extend(ids.iter().map(|id| (id.clone(), by.clone())));
                }
            }
            _ => {}
        }
    }
    let want: Vec<(String, Option<u32>)> = ids.iter().map(|id| (id.clone(), Some(3))).collect();
    assert_eq!(acked, want);
    let (b, c) = (&rest[0].0.member, &rest[1].0.member);
    for id in &ids {
        let by: Vec<&String> = marks
            .iter()
            .filter(|(m, _)| m == id)
            .map(|(_, by)| by)
            .collect();
        let distinct: HashSet<&String> = by.iter().copied().collect();
        assert_eq!(
            (by.len(), distinct.len()),
            (3, 3),
            "one mark per member: {by:?}"
        );
        assert!(distinct.contains(b) && distinct.contains(c), "{by:?}");
        assert!(!distinct.contains(&a.0.member), "{by:?}");
    }
    // The server's user saw each once too.
    for i in 0..ids.len() {
        assert_eq!(received(&mut events).await, ("a".into(), format!("m{i}")));
    }
}

#[tokio::test]
async fn delivery_marks_made_while_the_sender_is_away_reach_it_when_it_comes_back() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = room(&key, 8).await;
    let alice = Identity::new();
    let (_, mut a) = seated(&key, port, "alice", &alice, &mut events).await;
    let mut others = Vec::new();
    for name in ["b", "c"] {
        let (me, peer) = seated(&key, port, name, &Identity::new(), &mut events).await;
        others.push((me.member, peer));
    }
    let (sent, id) = msg_with_id("while you were away");
    a.send(&sent).await;
    a.recv(|b| matches!(b, Body::Ack { .. } | Body::Acks { .. }).then_some(()))
        .await;
    // The sender's connection breaks; its place is held.
    drop(a);
    let (gone, why) = left(&mut events).await;
    assert_eq!((gone.as_str(), why), ("alice", Why::Lost));
    for (_, peer) in &mut others {
        read_messages(peer, 1).await;
        // Answered: the hub has the ack before anything sent after it.
        peer.send(&Body::Ping).await;
        frame(peer, |b| matches!(b, Body::Pong).then_some(())).await;
    }
    let mut back = join(&key, port, "alice", &alice).await.unwrap();
    roster(&mut back).await;
    let mut by = HashSet::new();
    while by.len() < 2 {
        let marks = frame(&mut back, |b| match b {
            Body::Delivered { ids, by } if ids.contains(&id) => Some(by.clone()),
            _ => None,
        })
        .await;
        by.extend(marks);
    }
    let expected: HashSet<String> = others.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(by, expected, "b and c, each once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_never_reads_is_cut_off_as_slow_and_the_others_keep_going() {
    let key = Key::generate().unwrap();
    let (handle, mut events, port) = room(&key, 8).await;
    let mut alice = join(&key, port, "alice", &Identity::new()).await.unwrap();
    roster(&mut alice).await;
    let mut mallory = join(&key, port, "mallory", &Identity::new()).await.unwrap();
    connected(&mut events).await;
    connected(&mut events).await;
    // 48 messages of 200 KiB (9.4 MiB), four at a time as alice takes
    // them: more than the member queue and the socket buffers between the
    // server and mallory, who never reads.
    const N: usize = 48;
    let text = |i: usize| format!("{i:02}{}", "y".repeat(200 * 1024));
    let reader = tokio::spawn(async move {
        let (got, _) = read_messages(&mut alice, N).await;
        got.into_iter().map(|m| m.text).collect::<Vec<_>>()
    });
    let mut slow = None;
    for four in 0..N / 4 {
        for i in four * 4..four * 4 + 4 {
            handle.send(text(i)).unwrap();
        }
        let mut delivered = 0;
        while delivered < 4 {
            match next(&mut events, |e| match e {
                ServerEvent::Chat(ChatEvent::Delivered { by, .. }) if by == "alice" => Some(None),
                ServerEvent::Chat(ChatEvent::Left { member, why }) => {
                    Some(Some((member.name, why)))
                }
                _ => None,
            })
            .await
            {
                None => delivered += 1,
                Some(gone) => slow = Some(gone),
            }
        }
    }
    assert_eq!(slow, Some(("mallory".into(), Why::Slow)));
    // Alice got everything, in order: mallory held the room up for the
    // stall at most, once.
    let got = reader.await.unwrap();
    assert_eq!(got, (0..N).map(text).collect::<Vec<_>>());
    // What the server queued for mallory stayed within the member queue:
    // mallory now reads it all, then the `bye`.
    let mut queued = 0;
    loop {
        let line = mallory.read_line().await.expect("closed without a bye");
        match mallory.session.open(&line) {
            Ok(Some(Body::Bye { reason })) => {
                assert_eq!(reason, "slow");
                break;
            }
            Ok(Some(body)) => queued += messages(&body).iter().map(|m| m.text.len()).sum::<usize>(),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        queued <= MEMBER_QUEUE_BYTES,
        "{queued} bytes were queued for a member that stopped reading"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_place_is_given_up_when_its_queue_passes_the_held_bound() {
    let key = Key::generate().unwrap();
    let (handle, mut events, port) = room(&key, 8).await;
    let mut alice = join(&key, port, "alice", &Identity::new()).await.unwrap();
    roster(&mut alice).await;
    let away = Identity::new();
    let mut gone = join(&key, port, "carol", &away).await.unwrap();
    roster(&mut gone).await;
    connected(&mut events).await;
    connected(&mut events).await;
    drop(gone);
    assert_eq!(left(&mut events).await, ("carol".into(), Why::Lost));
    // More than the held queue, as alice takes it: carol's place goes.
    let n = HELD_QUEUE_BYTES / (200 * 1024) + 4;
    let text = |i: usize| format!("{i:02}{}", "y".repeat(200 * 1024));
    let reader = tokio::spawn(async move {
        read_messages(&mut alice, n).await;
        alice
    });
    for i in 0..n {
        handle.send(text(i)).unwrap();
        next(&mut events, |e| match e {
            ServerEvent::Chat(ChatEvent::Delivered { by, .. }) => (by == "alice").then_some(()),
            _ => None,
        })
        .await;
    }
    let _alice = reader.await.unwrap();
    // Carol comes back with her chain's next link: a new member (her name
    // was free again), with nothing kept for her.
    let mut back = join(&key, port, "carol", &away).await.unwrap();
    let (me, names) = roster(&mut back).await;
    assert_eq!(me.name, "carol");
    assert_eq!(names, ["bob", "alice", "carol"]);
    back.send(&Body::Ping).await;
    frame(&mut back, |b| matches!(b, Body::Pong).then_some(())).await;
}

#[tokio::test]
async fn a_new_key_empties_the_room_and_only_the_new_key_gets_in() {
    let key = Key::generate().unwrap();
    let (handle, mut events, port) = room(&key, 8).await;
    let alice = Identity::new();
    let mut a = join(&key, port, "alice", &alice).await.unwrap();
    roster(&mut a).await;
    let mut old = RawPeer::connect(&key, port, "old").await;
    connected(&mut events).await;
    connected(&mut events).await;
    let carol = Identity::new();
    let mut c = join(&key, port, "carol", &carol).await.unwrap();
    roster(&mut c).await;
    connected(&mut events).await;
    handle.remove(&carol.member());
    assert_eq!(bye(&mut c).await, "removed");

    let new = Key::generate().unwrap();
    handle.set_key(new.clone());
    assert_eq!(bye(&mut a).await, "new-key");
    assert_eq!(bye(&mut old).await, "new-key");
    let changed = next(&mut events, |e| match e {
        ServerEvent::KeyChanged(key) => Some(key),
        _ => None,
    })
    .await;
    assert_eq!(changed, new);
    let stale = join(&key, port, "alice", &alice).await;
    assert_eq!(
        stale.err().as_deref(),
        Some("ERR key-mismatch this server uses a different key")
    );
    // The room is empty (alice joins anew: bob and her), and the removal
    // is forgotten.
    let mut a = join(&new, port, "alice", &alice).await.unwrap();
    assert_eq!(roster(&mut a).await.1, ["bob", "alice"]);
    let mut c = join(&new, port, "carol", &carol).await.unwrap();
    assert_eq!(roster(&mut c).await.1, ["bob", "alice", "carol"]);
}

#[tokio::test]
async fn typing_goes_to_protocol_3_members_with_its_sender_and_old_ones_hear_only_the_server() {
    let key = Key::generate().unwrap();
    let (handle, mut events, port) = room(&key, 8).await;
    let mut old = RawPeer::connect(&key, port, "old").await;
    let mut alice = join(&key, port, "alice", &Identity::new()).await.unwrap();
    let (a, _) = roster(&mut alice).await;
    let mut carol = join(&key, port, "carol", &Identity::new()).await.unwrap();
    let (_, names) = roster(&mut carol).await;
    assert_eq!(names, ["bob", "old", "alice", "carol"]);
    for _ in 0..3 {
        connected(&mut events).await;
    }
    alice
        .send(&Body::Typing {
            active: true,
            from: None,
        })
        .await;
    let typing = |b: &Body| match b {
        Body::Typing { active, from } => Some((*active, from.clone())),
        _ => None,
    };
    assert_eq!(
        frame(&mut carol, typing).await,
        (true, Some(a.member.clone()))
    );
    let seen = next(&mut events, |e| match e {
        ServerEvent::Chat(ChatEvent::Typing { from, active }) => Some((from, active)),
        _ => None,
    })
    .await;
    assert_eq!(seen, ("alice".into(), true));
    // Nothing of alice's reached the old client: a ping answered shows
    // what was on its way.
    old.send(&Body::Ping).await;
    let before_pong = frame(&mut old, |b| match b {
        Body::Pong => Some(false),
        Body::Typing { .. } => Some(true),
        _ => None,
    })
    .await;
    assert!(!before_pong, "a protocol-1 member got a member's typing");
    // The server's own typing reaches everyone.
    handle.typing(true);
    assert_eq!(frame(&mut old, typing).await, (true, None));
    let (_, from) = frame(&mut carol, typing).await;
    assert!(from.is_some_and(|f| f != a.member));
}

/// "Show ciphertext" in the server's window: each message of a member
/// shows the frame it came in, also when several frames are read at once.
#[tokio::test]
async fn each_message_the_server_shows_carries_the_frame_it_came_in() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = room(&key, 8).await;
    let (_, mut alice) = seated(&key, port, "alice", &Identity::new(), &mut events).await;
    let (first, second) = (
        alice.session.seal(&msg("one")),
        alice.session.seal(&msg("two")),
    );
    // One write: the server reads both at once.
    alice
        .send_bytes(format!("{first}\n{second}\n").as_bytes())
        .await;
    for (text, line) in [("one", &first), ("two", &second)] {
        let token = next(&mut events, |e| match e {
            ServerEvent::Chat(ChatEvent::Received { text: t, token, .. }) if t == text => {
                Some(token)
            }
            _ => None,
        })
        .await;
        assert_eq!(token.as_str(), line, "the token shown under {text:?}");
    }
}

/// The server's user has a member id like anyone (every roster shows it),
/// but no chain a hello could prove: a hello naming it is refused, so
/// nobody's messages pass for the server user's.
#[tokio::test]
async fn nobody_takes_the_server_users_place() {
    let key = Key::generate().unwrap();
    let (_handle, mut events, port) = room(&key, 8).await;
    let mut alice = join(&key, port, "alice", &Identity::new()).await.unwrap();
    let bob = id_in_roster(&mut alice, "bob").await;
    assert_eq!(connected(&mut events).await, "alice");
    let (_, proof) = Identity::new().next_proof();
    let refused = RawPeer::join(&key, port, "bob", &bob, &proof).await;
    assert_eq!(
        refused.err().as_deref(),
        Some("ERR place that member's place needs its own proof")
    );
    assert_eq!(rejected(&mut events).await, Rejection::Place);
}
