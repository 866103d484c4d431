//! Discovery on loopback, with the server engine on a thread and runtime of
//! its own as in the server program:
//! - how long a search takes from its start to the server found (one probe
//!   round trip and the decrypts on both sides);
//! - what a server spends answering probes at its rate limit, and turning
//!   away a flood of probes under another key (CPU of its thread, from
//!   /proc), and what it sends.
//!
//! Not criterion: the server answers one source at most 4 times a second
//! (after a burst), so searches are spaced and counted by hand.
//! Run: `cargo bench -p common --bench discovery`.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use common::discovery::limits::PROBE_PLAINTEXT;
use common::discovery::{Reach, SearchConfig, search_with};
use common::payload::random_id;
use common::{Clock, Config, Key, Server, ServerConfig, token};
use futures::StreamExt;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const LOCAL: [u8; 4] = [127, 0, 0, 1];

/// CPU time (user + system) of the calling thread so far.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    // Clock ticks of 10 ms (USER_HZ is 100 on Linux).
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

/// Starts a server on 127.0.0.1 on a thread of its own; its port, and a way
/// to ask for its thread's CPU time.
fn server(key: Key) -> (u16, mpsc::UnboundedSender<std_mpsc::Sender<Duration>>) {
    let (port_tx, port_rx) = std_mpsc::channel();
    let (ask, mut asked) = mpsc::unbounded_channel::<std_mpsc::Sender<Duration>>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(ServerConfig {
                chat: Config::new(key, "bench"),
                port: 0,
                bind: Some(IpAddr::from(LOCAL)),
                max_members: common::DEFAULT_MAX_MEMBERS,
            })
            .await
            .unwrap();
            port_tx.send(server.port()).unwrap();
            let (_handle, mut events) = server.start();
            loop {
                tokio::select! {
                    Some(_) = events.recv() => {}
                    Some(reply) = asked.recv() => { let _ = reply.send(thread_cpu()); }
                }
            }
        });
    });
    (port_rx.recv().unwrap(), ask)
}

fn server_cpu(ask: &mpsc::UnboundedSender<std_mpsc::Sender<Duration>>) -> Duration {
    let (tx, rx) = std_mpsc::channel();
    ask.send(tx).unwrap();
    rx.recv().unwrap()
}

fn probe(key: &Key) -> String {
    let bare = format!(
        r#"{{"kind":"probe","proto":1,"nonce":"{}","pad":""}}"#,
        random_id()
    );
    let pad = "0".repeat(PROBE_PLAINTEXT - bare.len());
    let json = bare.replace(r#""pad":"""#, &format!(r#""pad":"{pad}""#));
    token::seal(key, &Clock::system(), json.as_bytes())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

/// Sends `probes` from 50 source addresses for `secs` seconds, evenly;
/// returns (server CPU, answers received, bytes received).
async fn flood(
    probes: &[String],
    to: SocketAddr,
    secs: u64,
    ask: &mpsc::UnboundedSender<std_mpsc::Sender<Duration>>,
) -> (Duration, usize, usize) {
    let mut sockets = Vec::new();
    for i in 1..=50 {
        sockets.push(
            UdpSocket::bind(SocketAddr::from(([127, 0, 0, i], 0)))
                .await
                .unwrap(),
        );
    }
    let cpu = server_cpu(ask);
    let ticks = 100 * secs as usize;
    let per_tick = probes.len() / ticks;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for t in 0..ticks {
        tick.tick().await;
        for (j, probe) in probes[t * per_tick..(t + 1) * per_tick].iter().enumerate() {
            let _ = sockets[j % sockets.len()]
                .send_to(probe.as_bytes(), to)
                .await;
        }
    }
    // Let the server read what is queued before its CPU is read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu = server_cpu(ask) - cpu;
    let (mut answers, mut bytes) = (0, 0);
    let mut buf = vec![0; 2048];
    for socket in &sockets {
        while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
            answers += 1;
            bytes += n;
        }
    }
    (cpu, answers, bytes)
}

fn main() {
    let key = Key::generate().unwrap();
    let (port, ask) = server(key.clone());
    let to = SocketAddr::from((LOCAL, port));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Spaced by more than the per-source rate allows (4/s).
        let mut found = Vec::new();
        for _ in 0..40 {
            let start = Instant::now();
            let mut search = search_with(SearchConfig {
                key: key.clone(),
                port,
                reach: Reach::To(vec![IpAddr::from(LOCAL)]),
                clock: Clock::system(),
            });
            search.next().await.unwrap().unwrap();
            found.push(start.elapsed());
            drop(search);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        found.sort();
        println!(
            "search to server found (loopback, {} searches): p50 {:?}, p90 {:?}, min {:?}",
            found.len(),
            percentile(&found, 50),
            percentile(&found, 90),
            found[0]
        );

        let secs = 3;
        let n = 10_000 * secs as usize;
        let right: Vec<String> = (0..n).map(|_| probe(&key)).collect();
        let (cpu, answers, bytes) = flood(&right, to, secs, &ask).await;
        println!(
            "{n} probes under the key in {secs} s from 50 sources: server CPU {:?} ({:.1}% of a core, {:.2} µs a probe), {answers} answers ({:.1}/s, {} bytes/s)",
            cpu,
            cpu.as_secs_f64() * 100.0 / secs as f64,
            cpu.as_secs_f64() * 1e6 / n as f64,
            answers as f64 / secs as f64,
            bytes / secs as usize
        );
        let other = Key::generate().unwrap();
        let wrong: Vec<String> = (0..n).map(|_| probe(&other)).collect();
        let (cpu, answers, _) = flood(&wrong, to, secs, &ask).await;
        println!(
            "{n} probes under another key in {secs} s: server CPU {:?} ({:.1}% of a core, {:.2} µs a probe), {answers} answers",
            cpu,
            cpu.as_secs_f64() * 100.0 / secs as f64,
            cpu.as_secs_f64() * 1e6 / n as f64,
        );
    });
}
