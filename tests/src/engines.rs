//! Real engines on 127.0.0.1 and the event waits every test needs.

use std::net::SocketAddr;
use std::time::Duration;

use common::{ClientConfig, Config, Event, Handle, Key, Server, ServerConfig, Timing};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

/// Generous: a wait that hits it is a failure, never a normal path.
pub const WAIT: Duration = Duration::from_secs(20);

/// The protocol's intervals scaled down so liveness tests take milliseconds.
pub fn fast_timing() -> Timing {
    Timing {
        connect: Duration::from_secs(2),
        hello: Duration::from_secs(2),
        handshake: Duration::from_secs(2),
        ping_after: Duration::from_millis(100),
        lost_after: Duration::from_millis(400),
        backoff_first: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        close_grace: Duration::from_secs(2),
    }
}

/// Binds a server on 127.0.0.1 (`port` 0: any free port) and starts it.
pub async fn server_with(chat: Config, port: u16) -> (Handle, Receiver<Event>, u16) {
    let server = Server::bind(ServerConfig {
        chat,
        port,
        bind: Some("127.0.0.1".parse().unwrap()),
    })
    .await
    .unwrap();
    let port = server.port();
    let (handle, events) = server.start();
    (handle, events, port)
}

/// A server named "bob" with default timing.
pub async fn server(key: &Key) -> (Handle, Receiver<Event>, u16) {
    server_with(Config::new(key.clone(), "bob"), 0).await
}

pub fn client_with(chat: Config, addr: SocketAddr) -> (Handle, Receiver<Event>) {
    common::client::connect(ClientConfig {
        chat,
        server: addr.to_string().parse().unwrap(),
    })
}

/// A client named "alice" with default timing.
pub fn client(key: &Key, port: u16) -> (Handle, Receiver<Event>) {
    client_with(
        Config::new(key.clone(), "alice"),
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
}

/// The next event that `pick` accepts; others are skipped.
pub async fn next<T>(events: &mut Receiver<Event>, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("engine stopped");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

/// Waits for `Connected`; the peer's name.
pub async fn connected(events: &mut Receiver<Event>) -> String {
    next(events, |e| match e {
        Event::Connected { peer, .. } => Some(peer.name),
        _ => None,
    })
    .await
}

/// Waits for the next message shown: (sender, text).
pub async fn received(events: &mut Receiver<Event>) -> (String, String) {
    next(events, |e| match e {
        Event::Received { from, text, .. } => Some((from, text)),
        _ => None,
    })
    .await
}

/// Waits for the next ack; the message id.
pub async fn acked(events: &mut Receiver<Event>) -> String {
    next(events, |e| match e {
        Event::Acked { id } => Some(id),
        _ => None,
    })
    .await
}

/// Waits for the end of the current session.
pub async fn disconnected(events: &mut Receiver<Event>) -> common::Ended {
    next(events, |e| match e {
        Event::Disconnected(ended) => Some(ended),
        _ => None,
    })
    .await
}
