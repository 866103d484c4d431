//! Admission: who gets to the handshake, and for how long. Strangers without
//! the key cannot keep a right-key client out however many connections they
//! open, from one address or many, silent or trickling bytes; the server
//! keeps only a bounded number of them; and the handshake's deadlines close
//! the rest, with an `ERR` line only where the client can still read it.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::admission::{PER_SOURCE, TOTAL};
use common::handshake::{self, ErrCode};
use common::payload::random_id;
use common::{
    ChatEvent, ClientEvent, Clock, Config, ConnectError, Ended, Key, Rejection, ServerEvent, Timing,
};
use tests::engines::{
    WAIT, client, client_with, connected, disconnected, received, rejected, server, server_with,
    until,
};
use tests::proxy::{Proxy, Way};
use tests::raw::RawPeer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Mutex, Semaphore, watch};
use tokio::time::{Instant, sleep, timeout};

/// How many no-key connections each flood makes.
const FLOOD: usize = 1_000;
/// How many of them are open at once, at most: more than the server keeps in
/// all ([`TOTAL`]), few enough that both ends of them fit under a limit of
/// 1,024 open files.
const AT_ONCE: usize = 300;

/// A flood takes hundreds of sockets: one at a time.
static ONE_FLOOD_AT_A_TIME: Mutex<()> = Mutex::const_new(());

#[derive(Debug, Clone, Copy)]
enum Stranger {
    /// Connects and says nothing.
    Silent,
    /// Sends a byte of something token-like every few hundred ms, never a
    /// whole line.
    Trickling,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Connections made.
    made: usize,
    /// Connections the server closed.
    dropped: usize,
}

/// Makes [`FLOOD`] connections to `port`, from each of `sources` in turn,
/// at most [`AT_ONCE`] open; each one stays until the server closes it.
fn flood(port: u16, sources: Vec<Ipv4Addr>, how: Stranger) -> watch::Receiver<Counts> {
    let (counts, watch) = watch::channel(Counts::default());
    let counts = Arc::new(counts);
    tokio::spawn(async move {
        let room = Arc::new(Semaphore::new(AT_ONCE));
        for n in 0..FLOOD {
            let place = room.clone().acquire_owned().await.unwrap();
            let socket = TcpSocket::new_v4().unwrap();
            socket
                .bind(SocketAddr::new(sources[n % sources.len()].into(), 0))
                .unwrap();
            let server = SocketAddr::from(([127, 0, 0, 1], port));
            let stream = socket.connect(server).await.unwrap();
            counts.send_modify(|c| c.made += 1);
            let counts = counts.clone();
            tokio::spawn(async move {
                stay(stream, how).await;
                counts.send_modify(|c| c.dropped += 1);
                drop(place);
            });
        }
    });
    watch
}

/// Holds a connection, never finishing a line, until the server closes it.
async fn stay(mut stream: TcpStream, how: Stranger) {
    let (mut read, mut write) = stream.split();
    let trickle = async {
        if let Stranger::Silent = how {
            return std::future::pending().await;
        }
        for byte in b"gAAAAABtrickle".iter().cycle() {
            sleep(Duration::from_millis(300)).await;
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    };
    let mut answer = [0u8; 64];
    tokio::select! {
        _ = read.read(&mut answer) => {}
        () = trickle => {}
    }
}

/// Floods the server from `sources`, then checks that it kept at most `kept`
/// of the strangers and that a right-key client still gets in and chats.
async fn a_flood_does_not_keep_a_right_key_client_out(sources: Vec<Ipv4Addr>, how: Stranger) {
    let _alone = ONE_FLOOD_AT_A_TIME.lock().await;
    let kept = if sources.len() == 1 {
        PER_SOURCE
    } else {
        TOTAL
    };
    let key = Key::generate().unwrap();
    let mut chat = Config::new(key.clone(), "bob");
    // No stranger runs out of time during the test: only making room for
    // newcomers can free a place.
    chat.timing.hello = WAIT * 3;
    let (_server, mut server_events, port) = server_with(chat, 0).await;
    let mut counts = flood(port, sources.clone(), how);
    let settled = timeout(
        WAIT,
        counts.wait_for(|c| c.made == FLOOD && c.dropped >= FLOOD - kept),
    )
    .await
    .is_ok();
    let now = *counts.borrow();
    assert!(
        settled,
        "{now:?} of {FLOOD}: the server should keep at most {kept} waiting"
    );

    let start = std::time::Instant::now();
    let (client, mut client_events) = client(&key, port);
    assert_eq!(connected(&mut client_events).await, "bob");
    println!(
        "{how:?} strangers from {} address(es): a right-key client got in after {:?}",
        sources.len(),
        start.elapsed()
    );
    let (before, peer) = until(&mut server_events, |e| match e {
        ServerEvent::Chat(ChatEvent::Joined(member)) => Some(member.name),
        _ => None,
    })
    .await;
    assert_eq!(peer, "alice");
    let crowded: Vec<_> = before
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Rejected {
                addr,
                reason: Rejection::Crowded,
            } => Some(addr.ip()),
            _ => None,
        })
        .collect();
    assert!(!crowded.is_empty(), "no stranger reported: {before:?}");
    assert!(crowded.iter().all(|ip| sources.iter().any(|s| *ip == *s)));
    client.send("made it").unwrap();
    assert_eq!(received(&mut server_events).await.1, "made it");
}

/// 127.0.0.2 to 127.0.0.51: loopback answers to all of 127/8.
fn fifty_sources() -> Vec<Ipv4Addr> {
    (2..52).map(|x| Ipv4Addr::new(127, 0, 0, x)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_silent_strangers_from_one_address_do_not_keep_a_client_out() {
    // The client comes from the same address, so it competes for the
    // same share.
    a_flood_does_not_keep_a_right_key_client_out(vec![Ipv4Addr::LOCALHOST], Stranger::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_silent_strangers_from_fifty_addresses_do_not_keep_a_client_out() {
    a_flood_does_not_keep_a_right_key_client_out(fifty_sources(), Stranger::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_trickling_strangers_from_one_address_do_not_keep_a_client_out() {
    a_flood_does_not_keep_a_right_key_client_out(vec![Ipv4Addr::LOCALHOST], Stranger::Trickling)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_trickling_strangers_from_fifty_addresses_do_not_keep_a_client_out() {
    a_flood_does_not_keep_a_right_key_client_out(fifty_sources(), Stranger::Trickling).await;
}

/// The hello deadline counts from accept, not from the last byte: a stranger
/// that trickles bytes is answered when it passes, like a silent one, with
/// the configured number in the text.
#[tokio::test(start_paused = true)]
async fn a_trickling_stranger_gets_err_timeout_at_the_hello_deadline() {
    let mut chat = Config::new(Key::generate().unwrap(), "bob");
    chat.timing.hello = Duration::from_millis(1_500);
    let (_server, mut events, port) = server_with(chat, 0).await;
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let start = Instant::now();
    let (read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in b"gAAAAABtrickle".iter().cycle() {
            sleep(Duration::from_millis(100)).await;
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let mut line = String::new();
    timeout(WAIT, BufReader::new(read).read_line(&mut line))
        .await
        .expect("no answer")
        .unwrap();
    let waited = start.elapsed();
    assert_eq!(line, "ERR timeout no valid hello within 1.5 seconds\n");
    assert!(
        (Duration::from_millis(1_500)..=Duration::from_millis(1_501)).contains(&waited),
        "answered after {waited:?}"
    );
    assert_eq!(rejected(&mut events).await, Rejection::Timeout);
    trickle.abort();
}

/// After its welcome a client counts itself connected, so an `ERR` line would
/// reach it as a session frame: a late `ready` is answered by closing, with
/// nothing written.
#[tokio::test(start_paused = true)]
async fn a_client_late_with_ready_is_closed_without_an_err_line() {
    let key = Key::generate().unwrap();
    let (_server, mut events, port) = server(&key).await;
    let mut raw = RawPeer::welcomed(&key, port, "late").await;
    let start = Instant::now();
    assert_eq!(raw.read_line().await, None, "written after the welcome");
    let waited = start.elapsed();
    let due = Timing::default().handshake;
    assert!(
        (due..=due + Duration::from_millis(1)).contains(&waited),
        "closed after {waited:?}"
    );
    assert_eq!(rejected(&mut events).await, Rejection::NoReady);
}

/// The same with a real client, whose `ready` the network holds back: it sees
/// a lost connection, not a security alert, and tries again (after the
/// first backoff step: a session that ends right after it started counts
/// as a failed attempt).
#[tokio::test(start_paused = true)]
async fn a_client_whose_ready_is_held_back_sees_a_lost_connection_not_an_alert() {
    let key = Key::generate().unwrap();
    let (_server, mut server_events, port) = server(&key).await;
    let proxy = Proxy::start(([127, 0, 0, 1], port).into()).await;
    // Up, line 1 is the hello and line 2 the ready.
    proxy.hold_line(Way::Up, 2, Timing::default().handshake * 2);
    let (_client, mut client_events) = client_with(Config::new(key.clone(), "alice"), proxy.addr());
    connected(&mut client_events).await;
    let ended = disconnected(&mut client_events).await;
    assert!(matches!(ended, Ended::Lost(_)), "{ended:?}");
    assert_eq!(rejected(&mut server_events).await, Rejection::NoReady);
    let (before, _) = until(&mut client_events, |e| match e {
        ClientEvent::Connected { .. } => Some(()),
        _ => None,
    })
    .await;
    let retries: Vec<_> = before
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Retrying { delay, error, .. } => Some((*delay, error.clone())),
            _ => None,
        })
        .collect();
    let lost = ConnectError::ShortSession(ended);
    assert_eq!(
        retries,
        [(Timing::default().backoff(1), lost)],
        "{before:?}"
    );
    assert_eq!(connected(&mut server_events).await, "alice");
}

/// A client whose connection the server drops before answering (what the
/// door does to the oldest waiting connection when strangers churn from the
/// client's own address) tries again at once within its first attempt,
/// instead of failing for good: that close says nothing about key or address.
#[tokio::test]
async fn a_first_connection_closed_before_the_answer_is_tried_again() {
    let key = Key::generate().unwrap();
    let (_server, mut server_events, port) = server(&key).await;
    let door = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = door.local_addr().unwrap();
    // The first two connections are closed unanswered (as the door would
    // push them out); the third goes through to the server.
    let (closed, mut closed_count) = watch::channel(0);
    tokio::spawn(async move {
        for _ in 0..2 {
            let (stream, _) = door.accept().await.unwrap();
            drop(stream);
            closed.send_modify(|n| *n += 1);
        }
        let (mut stream, _) = door.accept().await.unwrap();
        let mut upstream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
    });
    let (client, mut client_events) = client_with(Config::new(key.clone(), "alice"), addr);
    let (before, peer) = until(&mut client_events, |e| match e {
        ClientEvent::Connected { peer, .. } => Some(peer.name),
        ClientEvent::Failed(error) => panic!("the first attempt failed: {error}"),
        _ => None,
    })
    .await;
    assert_eq!(peer, "bob");
    assert_eq!(*closed_count.borrow_and_update(), 2);
    // All within the first attempt: no "Reconnecting", no backoff.
    assert!(
        before
            .iter()
            .all(|e| matches!(e, ClientEvent::Connecting { attempt: 1, .. })),
        "{before:?}"
    );
    client.send("made it").unwrap();
    assert_eq!(received(&mut server_events).await.1, "made it");
}

/// Sends `line` as the first line on a new connection to `port`; the
/// connection and the first line of the answer.
async fn first_answer(port: u16, line: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    let mut reader = BufReader::new(&mut stream);
    timeout(WAIT, reader.read_line(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    (stream, answer)
}

/// A hello recorded off the network (no key needed to record one) and
/// sent again is a replay: refused, so that it never counts as a key
/// holder at the door, and the server's user is told what it was.
#[tokio::test]
async fn a_recorded_hello_sent_again_is_refused_as_a_replay() {
    let key = Key::generate().unwrap();
    let (_server, mut events, port) = server(&key).await;
    let hello = handshake::seal_hello(&key, &Clock::system(), &random_id(), "alice");
    let (_first, welcome) = first_answer(port, &hello).await;
    assert!(welcome.starts_with("gAAAAA"), "not a welcome: {welcome}");
    for _ in 0..3 {
        let (_again, answer) = first_answer(port, &hello).await;
        assert_eq!(
            answer.trim_end(),
            ErrCode::BadHello.line(&Timing::default())
        );
        assert_eq!(rejected(&mut events).await, Rejection::Replayed);
    }
    // A new hello from the same client goes through.
    let fresh = handshake::seal_hello(&key, &Clock::system(), &random_id(), "alice");
    let (_fresh, welcome) = first_answer(port, &fresh).await;
    assert!(welcome.starts_with("gAAAAA"), "not a welcome: {welcome}");
}
