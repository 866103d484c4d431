//! Reconnect storms: a server (or a path) that ends every session at once.
#![allow(clippy::unwrap_used)]
use std::time::Duration;

use common::{Config, Key};
use tests::engines::{client_with, connected, disconnected, fast_timing, retrying};
use tests::raw::RawPeer;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// Like a peer that corrupts a frame per session, one that closes every
/// session as soon as it starts (a key holder, or anyone on the path
/// resetting the connection after the handshake) must meet a growing
/// backoff, not an immediate reconnect each time.
#[tokio::test(start_paused = true)]
async fn a_server_that_closes_every_session_at_once_gets_a_growing_backoff_not_a_storm() {
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut chat = Config::new(key.clone(), "alice");
    chat.timing = fast_timing();
    let timing = chat.timing.clone();
    let (_handle, mut events) = client_with(chat, listener.local_addr().unwrap());
    const CLOSES: u32 = 5;
    let mut delays = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..CLOSES {
        let raw = RawPeer::accept(&key, &listener, "mallory").await;
        accepted.push(Instant::now());
        connected(&mut events).await;
        drop(raw);
        disconnected(&mut events).await;
        delays.push(retrying(&mut events).await.0);
    }
    let _patient = RawPeer::accept(&key, &listener, "mallory").await;
    accepted.push(Instant::now());
    let schedule: Vec<Duration> = (1..=CLOSES).map(|n| timing.backoff(n)).collect();
    assert_eq!(delays, schedule);
    for (pair, delay) in accepted.windows(2).zip(&delays) {
        assert!(pair[1] - pair[0] >= *delay, "reconnected before {delay:?}");
    }
}
