//! A stranger's datagrams at the discovery port (garbage, and more than a
//! datagram may be) are read and turned away without growing the server.
//! Alone in its test binary: it reads the process's resident memory, which
//! other tests running beside it would move.

use std::net::SocketAddr;

use common::{Key, Rejection, ServerEvent};
use tests::engines::{next, server};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::Receiver;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib = line.split_whitespace().nth(1).expect("a number");
    kib.parse().expect("a number of KiB")
}

#[tokio::test]
async fn garbage_and_oversized_datagrams_do_not_grow_memory() {
    const BATCH: usize = 40;
    const DATAGRAMS: usize = 40_000;
    let key = Key::generate().expect("a key");
    let (_server, mut events, port) = server(&key).await;
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("a socket");
    let oversized = vec![b'g'; 1500];
    let garbage = vec![b'A'; 1000];
    let batch = |n: usize| {
        let (client, oversized, garbage) = (&client, &oversized, &garbage);
        async move {
            for i in 0..n {
                let datagram = if i % 2 == 0 { oversized } else { garbage };
                client.send_to(datagram, to).await.expect("sent");
            }
        }
    };
    let rejected = async |events: &mut Receiver<ServerEvent>, n: usize| {
        for _ in 0..n {
            let reason = next(events, |e| match e {
                ServerEvent::Rejected { reason, .. } => Some(reason),
                _ => None,
            })
            .await;
            assert_eq!(reason, Rejection::BadProbe);
        }
    };
    // Small batches: the socket's receive buffer must not drop any. The
    // first ones warm up what the server allocates once.
    for _ in 0..10 {
        batch(BATCH).await;
        rejected(&mut events, BATCH).await;
    }
    let before = resident_kib();
    // 40,000 datagrams, 50 MB: each batch read and turned away before the next.
    for _ in 0..DATAGRAMS / BATCH {
        batch(BATCH).await;
        rejected(&mut events, BATCH).await;
    }
    let grown = resident_kib().saturating_sub(before);
    // Less than 50 bytes kept per datagram.
    assert!(grown < (DATAGRAMS as u64 * 50) / 1024, "grew {grown} KiB");
}
