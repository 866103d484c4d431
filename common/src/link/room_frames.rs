//! Tests: what a client's session makes of the server's frames, room
//! frames (protocol 3) and the same frames in a two-person chat, each fed
//! through [`on_line`] as it arrives from a real socket on loopback.

use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::*;
use crate::clock::Clock;
use crate::event::{ChatEvent, ClientEvent, Member, Why};
use crate::key::Key;
use crate::outbox::Pending;
use crate::payload::{MAX_ROSTER, RosterEntry, random_id};
use crate::session::Role;
use crate::typed::TypedQueue;

/// A client's link speaking `version`, the server's session that seals
/// what it receives, and what the link reports.
struct Client {
    link: Link,
    server: Session,
    outbox: Outbox,
    flight: InFlight,
    events: Emitter<ClientEvent>,
    rx: mpsc::Receiver<ClientEvent>,
    me: Member,
}

async fn client(version: u32) -> Client {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ours, theirs) = tokio::join!(TcpStream::connect(addr), listener.accept());
    // The server's end stays open for the test's length (in the link's
    // writer's way: nothing is read from it).
    std::mem::forget(theirs.unwrap());
    let (read, write) = ours.unwrap().into_split();
    let key = Key::generate().unwrap();
    let sid = format!("{}.{}", random_id(), random_id());
    let session =
        Session::new(key.clone(), Clock::system(), sid.clone(), Role::Client, 0).speaking(version);
    let server = Session::new(key, Clock::system(), sid, Role::Server, 0).speaking(version);
    let peer = Peer {
        name: "bob".into(),
        addr,
    };
    let me = Member {
        id: random_id(),
        name: "carol".into(),
        addr: None,
        since: 5,
        you: true,
    };
    let link = Link::new(
        FramedRead::new(read, LineCodec::new(SESSION_LINE_MAX)),
        FramedWrite::new(write, LineCodec::new(SESSION_LINE_MAX)),
        session,
        peer,
    )
    .in_room(Room::new(me.clone()));
    let (tx, rx) = mpsc::channel(1024);
    Client {
        link,
        server,
        outbox: Outbox::default(),
        flight: InFlight::default(),
        events: Emitter::new(tx),
        rx,
        me,
    }
}

impl Client {
    /// The server sends `body`: how the session ends, if it does, and the
    /// events it gave.
    async fn feed(&mut self, body: &Body) -> (Option<Ended>, Vec<ClientEvent>) {
        let line = self.server.seal(body);
        let ended = on_line(
            Some(Ok(line)),
            &mut self.link,
            &mut self.outbox,
            &mut self.flight,
            &self.events,
        )
        .await
        .ok()
        .flatten();
        let mut events = Vec::new();
        while let Ok(event) = self.rx.try_recv() {
            events.push(event);
        }
        (ended, events)
    }

    /// The events `body` gives; it must not end the session (what is
    /// ignored and what ends it both give no events).
    async fn events(&mut self, body: &Body) -> Vec<ClientEvent> {
        let (ended, events) = self.feed(body).await;
        assert_eq!(ended, None, "the session ended on {body:?}");
        events
    }

    /// One of our messages, sent and waiting for its ack.
    fn sent(&mut self) -> String {
        let id = random_id();
        let text = "hi all";
        let hold = TypedQueue::new().hold(text.len()).unwrap();
        self.outbox
            .push(Pending::ours(id.clone(), text.into(), 0), hold);
        self.flight.count += 1;
        self.flight.bytes += crate::payload::weight(text.len());
        id
    }
}

fn entry(name: &str) -> RosterEntry {
    RosterEntry {
        member: random_id(),
        name: name.into(),
        addr: Some("10.0.0.5:51234".into()),
        since: 9,
    }
}

fn msg(id: &str, from: Option<&RosterEntry>) -> Body {
    Body::Msg {
        id: id.into(),
        text: "hey".into(),
        sent_at: 1,
        from: from.map(|e| e.member.clone()),
        name: from.map(|e| e.name.clone()),
    }
}

#[tokio::test]
async fn room_frames_become_room_events_named_by_member() {
    let mut c = client(3).await;
    let (bob, alice) = (entry("bob"), entry("alice"));
    let you = RosterEntry {
        member: c.me.id.clone(),
        ..entry("carol")
    };
    let roster = Body::Roster {
        you: c.me.id.clone(),
        members: vec![bob.clone(), alice.clone(), you],
    };
    let [ClientEvent::Roster(members)] = &c.events(&roster).await[..] else {
        panic!()
    };
    let names: Vec<_> = members.iter().map(|m| (m.name.as_str(), m.you)).collect();
    assert_eq!(names, [("bob", false), ("alice", false), ("carol", true)]);

    let id = random_id();
    let [ClientEvent::Chat(ChatEvent::Received { from, .. })] =
        &c.events(&msg(&id, Some(&alice))).await[..]
    else {
        panic!()
    };
    assert_eq!(from, "alice");
    assert!(
        c.events(&msg(&id, Some(&alice))).await.is_empty(),
        "shown once"
    );
    // The server's own message names nobody: it is the server's.
    let [ClientEvent::Chat(ChatEvent::Received { from, .. })] =
        &c.events(&msg(&random_id(), None)).await[..]
    else {
        panic!()
    };
    assert_eq!(from, "bob");

    let typing = Body::Typing {
        active: true,
        from: Some(alice.member.clone()),
    };
    assert_eq!(
        c.events(&typing).await,
        [ClientEvent::Chat(ChatEvent::Typing {
            from: "alice".into(),
            active: true
        })]
    );
    let stranger = Body::Typing {
        active: true,
        from: Some(random_id()),
    };
    assert!(c.events(&stranger).await.is_empty());

    let ours = c.sent();
    let ack = Body::Ack {
        of: ours.clone(),
        to: Some(2),
    };
    assert_eq!(
        c.events(&ack).await,
        [ClientEvent::Chat(ChatEvent::Relayed {
            id: ours.clone(),
            to: 2
        })]
    );
    assert!(c.outbox.is_empty(), "the server holds it now");
    let delivered = |by: &RosterEntry| Body::Delivered {
        ids: vec![ours.clone(), random_id()],
        by: vec![by.member.clone()],
    };
    assert_eq!(
        c.events(&delivered(&alice)).await,
        [ClientEvent::Chat(ChatEvent::Delivered {
            id: ours.clone(),
            by: "alice".into()
        })]
    );
    assert!(c.events(&delivered(&alice)).await.is_empty(), "once each");
    assert!(c.events(&delivered(&entry("x"))).await.is_empty());

    let dave = entry("dave");
    let [ClientEvent::Chat(ChatEvent::Joined(joined))] =
        &c.events(&Body::Joined(dave.clone())).await[..]
    else {
        panic!()
    };
    assert_eq!((joined.name.as_str(), joined.you), ("dave", false));
    let left = Body::Left {
        member: dave.member.clone(),
        why: "lost".into(),
    };
    let [ClientEvent::Chat(ChatEvent::Left { member, why })] = &c.events(&left).await[..] else {
        panic!()
    };
    assert_eq!((member.name.as_str(), why), ("dave", &Why::Lost));
    assert!(c.events(&left).await.is_empty(), "a member not in the room");
}

#[tokio::test]
async fn a_servers_goodbye_says_whether_to_come_back() {
    let cases = [
        ("new-key", Ended::NewKey { name: "bob".into() }),
        ("removed", Ended::Removed),
        ("slow", Ended::Slow),
        ("replaced", Ended::Replaced),
        (
            "closed",
            Ended::PeerLeft {
                name: "bob".into(),
                reason: "closed".into(),
            },
        ),
    ];
    for (reason, expected) in cases {
        let mut c = client(3).await;
        let bye = Body::Bye {
            reason: reason.into(),
        };
        assert_eq!(c.feed(&bye).await.0, Some(expected));
    }
}

#[tokio::test]
async fn a_two_person_chat_is_acked_and_named_as_before() {
    let mut c = client(2).await;
    let ours = c.sent();
    let ack = Body::Ack {
        of: ours.clone(),
        to: Some(5),
    };
    assert_eq!(c.events(&ack).await, [ClientEvent::Acked { id: ours }]);
    let alice = entry("alice");
    let [ClientEvent::Chat(ChatEvent::Received { from, .. })] =
        &c.events(&msg(&random_id(), Some(&alice))).await[..]
    else {
        panic!()
    };
    assert_eq!(from, "bob", "no sender before rooms");
    let bye = Body::Bye {
        reason: "new-key".into(),
    };
    let Some(Ended::PeerLeft { reason, .. }) = c.feed(&bye).await.0 else {
        panic!()
    };
    assert_eq!(reason, "new-key");
}

#[tokio::test]
async fn the_server_takes_no_room_frames_from_a_client() {
    let mut c = client(3).await;
    c.link.room = None;
    let alice = entry("alice");
    let [ClientEvent::Chat(ChatEvent::Received { from, .. })] =
        &c.events(&msg(&random_id(), Some(&alice))).await[..]
    else {
        panic!()
    };
    assert_eq!(from, "bob", "a client cannot speak for another member");
    let roster = Body::Roster {
        you: random_id(),
        members: vec![alice],
    };
    assert!(c.events(&roster).await.is_empty());
    let ours = c.sent();
    let ack = Body::Ack {
        of: ours.clone(),
        to: Some(2),
    };
    assert_eq!(c.events(&ack).await, [ClientEvent::Acked { id: ours }]);
}

#[tokio::test]
async fn a_hostile_roster_ends_the_session_and_reports_nothing() {
    let oversized = Body::Roster {
        you: random_id(),
        members: (0..=MAX_ROSTER).map(|n| entry(&n.to_string())).collect(),
    };
    let bad_id = Body::Roster {
        you: random_id(),
        members: vec![RosterEntry {
            member: "not-an-id".into(),
            ..entry("mallory")
        }],
    };
    let bad_you = Body::Roster {
        you: "x".repeat(1000),
        members: vec![entry("mallory")],
    };
    let bad_join = Body::Joined(RosterEntry {
        addr: Some("1".repeat(10_000)),
        ..entry("mallory")
    });
    for body in [oversized, bad_id, bad_you, bad_join] {
        let mut c = client(3).await;
        let (ended, events) = c.feed(&body).await;
        assert!(
            matches!(ended, Some(Ended::Alert(Alert::Malformed(_)))),
            "{ended:?}"
        );
        assert!(events.is_empty(), "{events:?}");
    }
}
