//! The engine on loopback, end to end through real sockets, encryption and
//! the event stream: round trip of a 100-byte message, pipelined throughput
//! of acknowledged 100-byte messages, and the largest message allowed.
//!
//! `cargo bench -p common`; the figures go in the README.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use common::payload::MAX_TEXT_BYTES;
use common::{
    ChatEvent, ClientConfig, ClientEvent, Config, Handle, Key, Server, ServerConfig, ServerHandle,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio::sync::mpsc::Receiver;

/// A connected server and client, as two programs would be: the server
/// engine on a thread and runtime of its own, its events drained there (as
/// its window would); the client engine on the bench's runtime, its events
/// read by the bench.
struct Chat {
    client: Handle,
    events: Receiver<ClientEvent>,
    _server: ServerHandle,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An engine's settings as terminal mode has them: no tokens in events (a
/// window that may show ciphertext gets a copy of each message's token).
fn config(key: Key, name: &str) -> Config {
    let mut config = Config::new(key, name);
    config.tokens = false;
    config
}

fn pair() -> (Runtime, Chat) {
    let key = Key::generate().unwrap();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let server_key = key.clone();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let server = Server::bind(ServerConfig {
                chat: config(server_key, "bob"),
                port: 0,
                bind: Some("127.0.0.1".parse().unwrap()),
                max_members: common::DEFAULT_MAX_MEMBERS,
            })
            .await
            .unwrap();
            let port = server.port();
            let (server, mut server_events) = server.start();
            ready_tx.send((server, port)).unwrap();
            while server_events.recv().await.is_some() {}
        })
    });
    let (server, port) = ready.recv().unwrap();
    let rt = runtime();
    let (client, events) = rt.block_on(async {
        let (client, mut events) = common::client::connect(ClientConfig {
            chat: config(key, "alice"),
            server: format!("127.0.0.1:{port}").parse().unwrap(),
        });
        while !matches!(events.recv().await, Some(ClientEvent::Connected { .. })) {}
        (client, events)
    });
    let chat = Chat {
        client,
        events,
        _server: server,
    };
    (rt, chat)
}

/// Waits for `n` acknowledgements (in a room, the server's `ack` says to
/// how many members it relays the message: `Relayed`).
async fn acks(events: &mut Receiver<ClientEvent>, mut n: usize) {
    while n > 0 {
        match events.recv().await.expect("engine stopped") {
            ClientEvent::Acked { .. } | ClientEvent::Chat(ChatEvent::Relayed { .. }) => n -= 1,
            ClientEvent::Disconnected(e) => panic!("disconnected: {e}"),
            _ => {}
        }
    }
}

/// One message out and its ack back, timed.
async fn round_trip(pair: &mut Chat, text: &str) -> Duration {
    let start = Instant::now();
    pair.client.send(text).unwrap();
    acks(&mut pair.events, 1).await;
    start.elapsed()
}

/// Total time of `iters` round trips of `text`, one after another.
fn round_trips(rt: &Runtime, pair: &mut Chat, text: &str, iters: u64) -> Duration {
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += round_trip(pair, text).await;
        }
        total
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn round_trip_100_bytes(c: &mut Criterion) {
    let (rt, mut pair) = pair();
    let text = "x".repeat(100);
    // Criterion's figures are means over batches; the percentiles the target
    // is stated in need each round trip timed on its own.
    let mut each: Vec<Duration> = rt.block_on(async {
        let mut each = Vec::with_capacity(10_000);
        for _ in 0..10_000 {
            each.push(round_trip(&mut pair, &text).await);
        }
        each
    });
    each.sort();
    println!(
        "round trip, 100-byte message, 10000 timed one by one: p50 {:?}, p90 {:?}, p99 {:?}",
        percentile(&each, 0.5),
        percentile(&each, 0.9),
        percentile(&each, 0.99)
    );
    c.bench_function("round trip 100-byte message", |b| {
        b.iter_custom(|iters| round_trips(&rt, &mut pair, &text, iters))
    });
}

fn pipelined_100_bytes(c: &mut Criterion) {
    const N: usize = 20_000;
    let (rt, mut pair) = pair();
    let text = "x".repeat(100);
    let mut group = c.benchmark_group("pipelined");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    group.bench_function("20000 acknowledged 100-byte messages", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..N {
                        pair.client.send(text.as_str()).unwrap();
                    }
                    acks(&mut pair.events, N).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn largest_message(c: &mut Criterion) {
    let (rt, mut pair) = pair();
    let text = "y".repeat(MAX_TEXT_BYTES);
    let mut group = c.benchmark_group("largest message");
    group.throughput(Throughput::Bytes(MAX_TEXT_BYTES as u64));
    group.bench_function("256 KiB message, sent and acknowledged", |b| {
        b.iter_custom(|iters| round_trips(&rt, &mut pair, &text, iters))
    });
    group.finish();
}

criterion_group!(
    benches,
    round_trip_100_bytes,
    pipelined_100_bytes,
    largest_message
);
criterion_main!(benches);
