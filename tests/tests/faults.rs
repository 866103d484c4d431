//! Nothing lost: a client and a server chat through a proxy that cuts,
//! blackholes, delays, duplicates, corrupts and refuses. Every message is
//! shown exactly once, in order, whatever the network does.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use common::{Alert, Config, Ended, Event, Handle, Key};
use rand::Rng;
use tests::engines::{
    WAIT, client_with, connected, disconnected, fast_timing, next, received, server_with,
};
use tests::proxy::{Proxy, Stats, Way};
use tokio::sync::mpsc::Receiver;
use tokio::time::{Instant, timeout};

/// A server and a client whose traffic goes through a proxy, connected.
struct Setup {
    proxy: Proxy,
    server: Handle,
    server_events: Receiver<Event>,
    client: Handle,
    client_events: Receiver<Event>,
}

async fn setup(lost_after: Duration) -> Setup {
    let key = Key::generate().unwrap();
    let config = |name: &str| {
        let mut chat = Config::new(key.clone(), name);
        chat.timing = fast_timing();
        chat.timing.lost_after = lost_after;
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

/// What one side saw: messages shown, and acks for its own messages.
struct Seen {
    texts: Vec<String>,
    acked: HashSet<String>,
    _events: Receiver<Event>,
}

/// Collects until `n` messages were shown and `n` of ours acknowledged.
/// Hands the receiver back: dropping it would stop the engine.
fn collect(mut events: Receiver<Event>, n: usize) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut texts = Vec::with_capacity(n);
        let mut acked = HashSet::new();
        while texts.len() < n || acked.len() < n {
            match timeout(WAIT, events.recv()).await {
                Ok(Some(Event::Received { text, .. })) => texts.push(text),
                Ok(Some(Event::Acked { id })) => assert!(acked.insert(id), "acked twice"),
                Ok(Some(Event::Failed(e))) => panic!("gave up: {e}"),
                Ok(Some(_)) => {}
                Ok(None) => panic!("engine stopped"),
                Err(_) => panic!(
                    "stuck after {} messages shown, {} acked",
                    texts.len(),
                    acked.len()
                ),
            }
        }
        Seen {
            texts,
            acked,
            _events: events,
        }
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
    let s = setup(Duration::from_secs(2)).await;
    let from_client = collect(s.server_events, N);
    let from_server = collect(s.client_events, N);
    let mut rng = rand::rng();
    let batch = N / CUTS as usize;
    let (mut client_ids, mut server_ids) = (HashSet::new(), HashSet::new());
    for round in 0..CUTS {
        // Anywhere in the next few frames either way, handshakes included.
        let way = if rng.random() { Way::Up } else { Way::Down };
        s.proxy.cut_after_bytes(way, rng.random_range(1..8_000));
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

#[tokio::test]
async fn a_blackholed_connection_is_detected_and_its_messages_arrive_after_reconnect() {
    let lost_after = Duration::from_millis(500);
    let mut s = setup(lost_after).await;
    s.proxy.blackhole();
    let start = Instant::now();
    s.client.send("sent into the void").unwrap();
    assert!(matches!(
        disconnected(&mut s.client_events).await,
        Ended::Lost(_)
    ));
    let detected = start.elapsed();
    // Nothing heard for `lost_after`, plus scheduling slack: not the OS's
    // minutes-long TCP timeout.
    assert!(detected < lost_after * 4, "took {detected:?}");
    assert!(matches!(
        disconnected(&mut s.server_events).await,
        Ended::Lost(_)
    ));
    connected(&mut s.client_events).await;
    assert_eq!(received(&mut s.server_events).await.1, "sent into the void");
}

#[tokio::test]
async fn a_duplicated_line_raises_replayed_and_the_chat_recovers() {
    let mut s = setup(Duration::from_secs(2)).await;
    s.proxy.duplicate_line(Way::Up, 1);
    s.client.send("one").unwrap();
    assert_eq!(received(&mut s.server_events).await.1, "one");
    match disconnected(&mut s.server_events).await {
        Ended::Alert(Alert::Replayed { .. }) => {}
        other => panic!("expected a replay alert, got {other:?}"),
    }
    s.client.send("two").unwrap();
    s.client.send("three").unwrap();
    connected(&mut s.server_events).await;
    let mut texts = Vec::new();
    while texts.len() < 2 {
        texts.push(received(&mut s.server_events).await.1);
    }
    assert_eq!(texts, ["two", "three"], "nothing lost, nothing twice");
}

#[tokio::test]
async fn a_flipped_byte_raises_tampered_and_the_message_arrives_after_reconnect() {
    let mut s = setup(Duration::from_secs(2)).await;
    s.proxy.flip_byte(Way::Down, 1);
    s.server.send("intact").unwrap();
    assert_eq!(
        disconnected(&mut s.client_events).await,
        Ended::Alert(Alert::Tampered)
    );
    connected(&mut s.client_events).await;
    assert_eq!(received(&mut s.client_events).await.1, "intact");
    s.client.send("and back").unwrap();
    assert_eq!(received(&mut s.server_events).await.1, "and back");
}

#[tokio::test]
async fn while_the_server_refuses_the_client_retries_and_delivers_afterwards() {
    let mut s = setup(Duration::from_secs(2)).await;
    s.proxy.refuse_for(Duration::from_millis(500));
    s.proxy.cut_after_lines(Way::Up, 0);
    s.client.send("typed during the outage").unwrap();
    disconnected(&mut s.client_events).await;
    let delays: Vec<Duration> = {
        let mut delays = Vec::new();
        while delays.len() < 2 {
            delays.push(
                next(&mut s.client_events, |e| match e {
                    Event::Retrying { delay, .. } => Some(delay),
                    _ => None,
                })
                .await,
            );
        }
        delays
    };
    assert!(delays[1] > delays[0], "backoff grows: {delays:?}");
    assert!(s.proxy.stats().borrow().refused >= 1);
    connected(&mut s.client_events).await;
    assert_eq!(
        received(&mut s.server_events).await.1,
        "typed during the outage"
    );
}

#[tokio::test]
async fn a_slow_link_delivers_everything_in_order() {
    let mut s = setup(Duration::from_secs(2)).await;
    s.proxy.set_delay(Duration::from_millis(20));
    for i in 0..10 {
        s.client.send(format!("slow {i}")).unwrap();
    }
    let mut texts = Vec::new();
    while texts.len() < 10 {
        texts.push(received(&mut s.server_events).await.1);
    }
    assert_eq!(texts, numbered("slow", 0..10));
}

#[tokio::test]
async fn wrong_key_and_garbage_connections_do_not_interrupt_a_live_session() {
    let mut s = setup(Duration::from_secs(2)).await;
    let server = s.proxy.addr();
    // Straight to the server's port would also do; through the proxy the
    // live session's connection is the only one that must survive.
    let (_wrong, mut wrong_events) =
        client_with(Config::new(Key::generate().unwrap(), "mallory"), server);
    next(&mut wrong_events, |e| match e {
        Event::Failed(e) => Some(e),
        _ => None,
    })
    .await;
    let mut garbage = tokio::net::TcpStream::connect(server).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, b"\x00\x01 not a token\n")
        .await
        .unwrap();
    let rejected = |e| match e {
        Event::Rejected { reason, .. } => Some(reason),
        Event::Disconnected(ended) => panic!("the live session ended: {ended}"),
        _ => None,
    };
    next(&mut s.server_events, rejected).await;
    next(&mut s.server_events, rejected).await;
    s.client.send("still chatting").unwrap();
    assert_eq!(received(&mut s.server_events).await.1, "still chatting");
    s.server.send("yes").unwrap();
    assert_eq!(received(&mut s.client_events).await.1, "yes");
}
