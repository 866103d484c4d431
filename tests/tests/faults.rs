//! Nothing lost: a client and a server chat through a proxy that cuts,
//! blackholes, delays, duplicates, corrupts, refuses and impersonates. Every
//! message is shown exactly once, in the order it was typed, whatever the
//! network does.
//!
//! The tests about time (keepalive, loss detection, backoff, slow links) run
//! under paused time with [`fast_timing`]: tokio's clock only moves when every
//! task waits, so a timer fires exactly when due however loaded the machine,
//! and the engines' timers cost no real time. The others run in real time
//! with the protocol's own waits ([`quick_retry`]), so no timer fires during
//! them at all.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use common::{
    Alert, ChatEvent, ClientEvent, Config, ConnectError, Ended, Handle, Key, ServerEvent,
    ServerHandle, Timing, Why,
};
use rand::Rng;
use tests::engines::{
    Reported, WAIT, client_with, closed, connected, disconnected, drain, fast_timing, left, next,
    quick_retry, received, retrying, sender_ack, server_with, texts, until,
};
use tests::proxy::{Proxy, Stats, Way};
use tokio::sync::mpsc::Receiver;
use tokio::time::{Instant, timeout};

/// A server and a client whose traffic goes through a proxy, connected.
struct Setup {
    proxy: Proxy,
    server: ServerHandle,
    server_events: Receiver<ServerEvent>,
    client: Handle,
    client_events: Receiver<ClientEvent>,
}

async fn setup(timing: Timing) -> Setup {
    let key = Key::generate().unwrap();
    let config = |name: &str| {
        let mut chat = Config::new(key.clone(), name);
        chat.timing = timing.clone();
        chat
    };
    let (server, mut server_events, port) = server_with(config("bob"), 0).await;
    let proxy = Proxy::start(([127, 0, 0, 1], port).into()).await;
    let (client, mut client_events) = client_with(config("alice"), proxy.addr());
    assert_eq!(connected(&mut client_events).await, "bob");
    assert_eq!(connected(&mut server_events).await, "alice");
    Setup {
        proxy,
        server,
        server_events,
        client,
        client_events,
    }
}

/// Whether an event is a session starting.
fn is_connected(e: ClientEvent) -> Option<usize> {
    match e {
        ClientEvent::Connected { resent, .. } => Some(resent),
        _ => None,
    }
}

/// Waits for the client's next session; panics if a message was shown
/// before it. Returns how many messages were re-sent at its start.
async fn reconnected_showing_nothing_before(events: &mut Receiver<ClientEvent>) -> usize {
    let (before, resent) = until(events, is_connected).await;
    assert!(texts(&before).is_empty(), "shown before the new session");
    resent
}

/// What one side saw: messages shown, and acks for its own messages.
struct Seen {
    texts: Vec<String>,
    acked: HashSet<String>,
}

/// Collects until `n` messages were shown and `n` of ours acknowledged
/// (the server's: delivered to the client; the client's: held by the
/// server), then reads on ([`drain`]).
fn collect<E: Reported>(
    mut events: Receiver<E>,
    n: usize,
    server: bool,
) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut texts = Vec::with_capacity(n);
        let mut acked = HashSet::new();
        while texts.len() < n || acked.len() < n {
            match timeout(WAIT, events.recv()).await {
                Ok(Some(e)) => match (e.chat(), e.client()) {
                    (Some(ChatEvent::Received { text, .. }), _) => texts.push(text.clone()),
                    (Some(ChatEvent::Delivered { id, .. }), _) if server => {
                        assert!(acked.insert(id.clone()), "delivered twice")
                    }
                    _ if !server && sender_ack(&e).is_some() => {
                        let id = sender_ack(&e).unwrap_or_default().to_owned();
                        assert!(acked.insert(id), "acked twice")
                    }
                    (_, Some(ClientEvent::Failed(e))) => panic!("gave up: {e}"),
                    _ => {}
                },
                Ok(None) => panic!("engine stopped"),
                Err(_) => panic!(
                    "stuck after {} messages shown, {} acked",
                    texts.len(),
                    acked.len()
                ),
            }
        }
        // Read on, as the program would: the other side may still wait.
        drain(events);
        Seen { texts, acked }
    })
}

async fn wait_stats(proxy: &Proxy, what: &str, pick: impl FnMut(&Stats) -> bool) {
    let mut stats = proxy.stats();
    timeout(WAIT, stats.wait_for(pick))
        .await
        .unwrap_or_else(|_| panic!("the proxy never saw {what}"))
        .unwrap();
}

fn numbered(side: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{side} {i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_each_way_survive_twenty_random_cuts() {
    const N: usize = 1000;
    const CUTS: u64 = 20;
    let s = setup(quick_retry()).await;
    let from_client = collect(s.server_events, N, true);
    let from_server = collect(s.client_events, N, false);
    let mut rng = rand::rng();
    let batch = N / CUTS as usize;
    let (mut client_ids, mut server_ids) = (HashSet::new(), HashSet::new());
    for round in 0..CUTS {
        // Anywhere in the next few frames either way, handshakes included;
        // always within the round's own messages (their frames take about
        // 4.8 KB either way even as one batch), since acks, held for the
        // ack delay, may add no bytes before the round is over.
        let way = if rng.random() { Way::Up } else { Way::Down };
        s.proxy.cut_after_bytes(way, rng.random_range(1..4_000));
        let range = round as usize * batch..(round as usize + 1) * batch;
        for (c, sv) in numbered("alice", range.clone())
            .into_iter()
            .zip(numbered("bob", range))
        {
            client_ids.insert(s.client.send(c).unwrap());
            server_ids.insert(s.server.send(sv).unwrap());
        }
        wait_stats(&s.proxy, "the cut", |st| st.fired > round).await;
    }
    let at_server = from_client.await.unwrap();
    let at_client = from_server.await.unwrap();
    assert_eq!(
        at_server.texts,
        numbered("alice", 0..N),
        "each once, in order"
    );
    assert_eq!(
        at_client.texts,
        numbered("bob", 0..N),
        "each once, in order"
    );
    assert_eq!(at_client.acked, client_ids);
    assert_eq!(at_server.acked, server_ids);
    assert!(s.proxy.stats().borrow().connections > CUTS);
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_stays_up_on_keepalive_alone() {
    let timing = fast_timing();
    let mut s = setup(timing.clone()).await;
    // Ten times as long as it takes to declare a silent peer lost, with
    // nothing typed: only the pings keep the session.
    tokio::time::sleep(timing.lost_after * 10).await;
    fn still_up<E: Reported>(events: &mut Receiver<E>) {
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(event.client(), Some(ClientEvent::Disconnected(_)))
                    && !matches!(event.chat(), Some(ChatEvent::Left { .. })),
                "the idle session ended: {event:?}"
            );
        }
    }
    still_up(&mut s.client_events);
    still_up(&mut s.server_events);
    assert_eq!(s.proxy.stats().borrow().connections, 1);
    s.client.send("still the same session").unwrap();
    let (before, text) = until(&mut s.server_events, |e| match e {
        ServerEvent::Chat(ChatEvent::Received { text, .. }) => Some(text),
        _ => None,
    })
    .await;
    assert_eq!(text, "still the same session");
    assert!(before.is_empty(), "the session was interrupted: {before:?}");
}

#[tokio::test(start_paused = true)]
async fn a_blackholed_connection_is_declared_lost_when_due_and_its_message_arrives_after_reconnect()
{
    let timing = fast_timing();
    let mut s = setup(timing.clone()).await;
    s.proxy.blackhole();
    let start = Instant::now();
    s.client.send("sent into the void").unwrap();
    assert!(matches!(
        disconnected(&mut s.client_events).await,
        Ended::Lost(_)
    ));
    // The last line heard came at most one keepalive interval before the
    // blackhole; the client gives up `lost_after` after it (tokio's timers
    // round up to the millisecond).
    let detected = start.elapsed();
    let earliest = timing.lost_after - timing.ping_after;
    let latest = timing.lost_after + Duration::from_millis(1);
    assert!(
        (earliest..=latest).contains(&detected),
        "declared lost after {detected:?}"
    );
    assert_eq!(
        left(&mut s.server_events).await,
        ("alice".into(), Why::Lost)
    );
    // Back in its place, nothing shown twice: the next message is the one.
    assert_eq!(connected(&mut s.server_events).await, "alice");
    assert_eq!(received(&mut s.server_events).await.1, "sent into the void");
}

#[tokio::test]
async fn a_duplicated_line_raises_replayed_and_the_chat_recovers() {
    let mut s = setup(quick_retry()).await;
    // No keepalive runs, so the next line up is the message.
    s.proxy.duplicate_line(Way::Up, 1);
    s.client.send("one").unwrap();
    let (before, why) = until(&mut s.server_events, |e| match e {
        ServerEvent::Chat(ChatEvent::Left { why, .. }) => Some(why),
        _ => None,
    })
    .await;
    assert_eq!(texts(&before), ["one"], "shown once before the alert");
    // Frame 0 was `ready`, frame 1 the message, then frame 1 again.
    let alert = Alert::Replayed {
        expected: 2,
        got: 1,
    };
    assert_eq!(why, Why::Other(format!("security alert: {alert}")));
    s.client.send("two").unwrap();
    s.client.send("three").unwrap();
    let mut texts = Vec::new();
    while texts.len() < 2 {
        texts.push(received(&mut s.server_events).await.1);
    }
    assert_eq!(texts, ["two", "three"], "nothing lost, nothing twice");
}

#[tokio::test]
async fn a_flipped_byte_in_a_message_raises_tampered_and_the_message_arrives_after_reconnect() {
    let mut s = setup(quick_retry()).await;
    // Line 0 down is the welcome, line 1 the roster, line 2 the message.
    s.proxy.flip_byte(Way::Down, 2);
    let id = s.server.send("intact").unwrap();
    let token = next(&mut s.server_events, |e| match e {
        ServerEvent::Chat(ChatEvent::Sent { id: sent, token }) if sent == id => Some(token),
        _ => None,
    })
    .await;
    let (before, ended) = until(&mut s.client_events, |e| match e {
        ClientEvent::Disconnected(ended) => Some(ended),
        _ => None,
    })
    .await;
    assert_eq!(ended, Ended::Alert(Alert::Tampered));
    assert!(texts(&before).is_empty(), "the tampered message was shown");
    // The flipped line was the message's, not a keepalive's.
    assert_eq!(s.proxy.flipped(), [token.as_str()]);
    assert_eq!(
        reconnected_showing_nothing_before(&mut s.client_events).await,
        0
    );
    // The unacknowledged message is re-sent.
    assert_eq!(received(&mut s.client_events).await.1, "intact");
    s.client.send("and back").unwrap();
    assert_eq!(received(&mut s.server_events).await.1, "and back");
}

#[tokio::test(start_paused = true)]
async fn while_the_server_refuses_the_client_backs_off_and_then_delivers_in_order() {
    let timing = fast_timing();
    let mut s = setup(timing.clone()).await;
    // Refused with an ERR line (a connection merely closed before the
    // answer is tried again within the same attempt).
    s.proxy.answer(2, "ERR busy the server is busy");
    // The next line up ends the connection without passing: whether it is
    // one of the messages or a ping, none of the messages gets through.
    s.proxy.cut_after_lines(Way::Up, 0);
    for text in ["one", "two", "three"] {
        s.client.send(text).unwrap();
    }
    disconnected(&mut s.client_events).await;
    // The first attempt after a lost session is immediate; each refusal
    // then doubles the wait, and the engine waits as long as it says.
    let mut delays = Vec::new();
    for _ in 0..2 {
        let (delay, _) = retrying(&mut s.client_events).await;
        let waiting = Instant::now();
        next(&mut s.client_events, |e| {
            matches!(e, ClientEvent::Connecting { .. }).then_some(())
        })
        .await;
        assert!(waiting.elapsed() >= delay, "retried before the delay");
        delays.push(delay);
    }
    assert_eq!(delays, [timing.backoff(1), timing.backoff(2)]);
    assert_eq!(
        reconnected_showing_nothing_before(&mut s.client_events).await,
        3
    );
    assert_eq!(s.proxy.stats().borrow().refused, 2);
    assert_eq!(
        left(&mut s.server_events).await,
        ("alice".into(), Why::Lost)
    );
    let mut texts = Vec::new();
    while texts.len() < 3 {
        texts.push(received(&mut s.server_events).await.1);
    }
    assert_eq!(texts, ["one", "two", "three"]);
}

#[tokio::test(start_paused = true)]
async fn a_link_slower_than_the_keepalive_loses_nothing_and_stays_up() {
    let timing = fast_timing();
    let mut s = setup(timing.clone()).await;
    // Each line takes longer than the keepalive interval, and the lines
    // queue behind each other: pings and messages cross, but something
    // arrives more often than `lost_after`.
    let delay = timing.ping_after * 2;
    assert!(delay + timing.ping_after < timing.lost_after);
    s.proxy.set_delay(delay);
    // One frame each (protocol 2 would batch messages typed at once): each
    // is typed once the one before has gone out.
    let start = Instant::now();
    let mut ids = HashSet::new();
    for i in 0..10 {
        let id = s.client.send(format!("slow {i}")).unwrap();
        next(&mut s.client_events, |e| match e {
            ClientEvent::Chat(ChatEvent::Sent { id: sent, .. }) => (sent == id).then_some(()),
            ClientEvent::Disconnected(ended) => panic!("the session ended: {ended}"),
            _ => None,
        })
        .await;
        ids.insert(id);
    }
    let mut acked = HashSet::new();
    while acked.len() < ids.len() {
        let (before, id) = until(&mut s.client_events, |e| match e {
            ClientEvent::Acked { id } | ClientEvent::Chat(ChatEvent::Relayed { id, .. }) => {
                Some(id)
            }
            ClientEvent::Disconnected(ended) => panic!("the session ended: {ended}"),
            _ => None,
        })
        .await;
        assert!(
            before.iter().all(|e| matches!(
                e,
                ClientEvent::Chat(ChatEvent::Sent { .. } | ChatEvent::Delivered { .. })
                    | ClientEvent::Roster(_)
            )),
            "the session was interrupted: {before:?}"
        );
        acked.insert(id);
    }
    assert_eq!(acked, ids);
    assert!(
        start.elapsed() > timing.lost_after * 2,
        "the exchange did not outlast the loss timer"
    );
    let mut shown = Vec::new();
    while let Ok(event) = s.server_events.try_recv() {
        match event {
            ServerEvent::Chat(ChatEvent::Received { text, .. }) => shown.push(text),
            other => panic!("the session was interrupted: {other:?}"),
        }
    }
    assert_eq!(shown, numbered("slow", 0..10));
    assert_eq!(s.proxy.stats().borrow().connections, 1);
}

#[tokio::test]
async fn wrong_key_and_garbage_connections_do_not_interrupt_a_live_session() {
    let mut s = setup(quick_retry()).await;
    let server = s.proxy.addr();
    // Straight to the server's port would also do; through the proxy the
    // live session's connection is the only one that must survive.
    let (_wrong, mut wrong_events) =
        client_with(Config::new(Key::generate().unwrap(), "mallory"), server);
    next(&mut wrong_events, |e| match e {
        ClientEvent::Failed(e) => Some(e),
        _ => None,
    })
    .await;
    let mut garbage = tokio::net::TcpStream::connect(server).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, b"\x00\x01 not a token\n")
        .await
        .unwrap();
    let rejected = |e| match e {
        ServerEvent::Rejected { reason, .. } => Some(reason),
        ServerEvent::Chat(ChatEvent::Left { why, .. }) => panic!("the live session ended: {why:?}"),
        _ => None,
    };
    next(&mut s.server_events, rejected).await;
    next(&mut s.server_events, rejected).await;
    s.client.send("still chatting").unwrap();
    assert_eq!(received(&mut s.server_events).await.1, "still chatting");
    s.server.send("yes").unwrap();
    assert_eq!(received(&mut s.client_events).await.1, "yes");
}

#[tokio::test(start_paused = true)]
async fn a_forged_key_mismatch_after_a_live_session_is_retried_not_final() {
    let timing = fast_timing();
    let mut s = setup(timing.clone()).await;
    // A session that has lasted (its loss is not a failed attempt, as one
    // cut at once would be)...
    tokio::time::sleep(timing.lost_after * 2).await;
    // ...then someone on the path answers the next two connections as a server
    // with another key would, in plain text, and cuts the live session.
    s.proxy
        .answer(2, "ERR key-mismatch this server uses a different key");
    s.proxy.cut_after_lines(Way::Down, 0);
    assert!(matches!(
        disconnected(&mut s.client_events).await,
        Ended::Lost(_)
    ));
    let forged = ConnectError::Unauthenticated("this server uses a different key".into());
    assert_eq!(
        retrying(&mut s.client_events).await,
        (timing.backoff(1), forged.clone())
    );
    s.client.send("typed while it was refused").unwrap();
    assert_eq!(
        retrying(&mut s.client_events).await,
        (timing.backoff(2), forged)
    );
    let (before, resent) = until(&mut s.client_events, is_connected).await;
    assert!(
        !before.iter().any(|e| matches!(e, ClientEvent::Failed(_))),
        "{before:?}"
    );
    assert_eq!(resent, 1);
    assert_eq!(s.proxy.stats().borrow().refused, 2);
    assert_eq!(
        received(&mut s.server_events).await.1,
        "typed while it was refused"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_closing_while_disconnected_reconnects_delivers_then_says_goodbye() {
    let mut s = setup(fast_timing()).await;
    s.proxy.refuse(1);
    s.proxy.cut_after_lines(Way::Down, 0);
    disconnected(&mut s.client_events).await;
    retrying(&mut s.client_events).await;
    let id = s.client.send("typed before closing").unwrap();
    s.client.close();
    let (before, acked) = until(&mut s.client_events, |e| match e {
        ClientEvent::Acked { id } | ClientEvent::Chat(ChatEvent::Relayed { id, .. }) => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(acked, id);
    assert!(
        before
            .iter()
            .any(|e| matches!(e, ClientEvent::Connected { .. })),
        "{before:?}"
    );
    assert!(
        !before.contains(&ClientEvent::Closed),
        "closed before delivering"
    );
    closed(&mut s.client_events).await;
    assert_eq!(
        received(&mut s.server_events).await.1,
        "typed before closing"
    );
    assert_eq!(left(&mut s.server_events).await, ("alice".into(), Why::Bye));
}

#[tokio::test(start_paused = true)]
async fn quit_leaves_at_once_without_waiting_for_undelivered_messages() {
    let timing = fast_timing();
    let mut s = setup(timing.clone()).await;
    s.proxy.blackhole();
    s.client.send("never acknowledged").unwrap();
    let start = Instant::now();
    s.client.quit();
    let (before, ()) = until(&mut s.client_events, |e| {
        (e == ClientEvent::Closed).then_some(())
    })
    .await;
    // No timer of the engine's ran out: not even the shortest.
    assert!(
        start.elapsed() < timing.ping_after,
        "waited {:?} for the outbox",
        start.elapsed()
    );
    assert!(
        before
            .iter()
            .all(|e| matches!(e, ClientEvent::Chat(ChatEvent::Sent { .. }))),
        "{before:?}"
    );
    assert_eq!(s.client_events.recv().await, None);
}
