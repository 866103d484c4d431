//! Real engines on 127.0.0.1 and the event waits every test needs.

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    ClientConfig, Config, ConnectError, Event, Handle, Key, Rejection, Server, ServerConfig,
    Timing, Why,
};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

/// Generous: a wait that hits it is a failure, never a normal path.
pub const WAIT: Duration = Duration::from_secs(20);

/// The protocol's waits scaled down: keepalive after 100 ms of silence, lost
/// after 400 ms, reconnects from 20 ms. For tests about time, which run
/// under paused time (`#[tokio::test(start_paused = true)]`): the engines'
/// timers are tokio's, so they cost no real time and a loaded machine cannot
/// make them fire early or late.
pub fn fast_timing() -> Timing {
    Timing {
        connect: Duration::from_secs(1),
        hello: Duration::from_secs(1),
        handshake: Duration::from_secs(1),
        ping_after: Duration::from_millis(100),
        lost_after: Duration::from_millis(400),
        backoff_first: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        close_grace: Duration::from_secs(1),
        hold: Duration::from_secs(2),
    }
}

/// For tests in real time that are not about time: the protocol's own waits,
/// so no keepalive or deadline fires during a test however loaded the
/// machine, but reconnects as quick as [`fast_timing`]'s.
pub fn quick_retry() -> Timing {
    Timing {
        backoff_first: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..Timing::default()
    }
}

/// Binds a server on 127.0.0.1 (`port` 0: any free port) and starts it.
pub async fn server_with(chat: Config, port: u16) -> (Handle, Receiver<Event>, u16) {
    room_server(chat, port, common::DEFAULT_MAX_MEMBERS).await
}

/// [`server_with`] for a room of at most `max_members`.
pub async fn room_server(
    chat: Config,
    port: u16,
    max_members: usize,
) -> (Handle, Receiver<Event>, u16) {
    let server = Server::bind(ServerConfig {
        chat,
        port,
        bind: Some("127.0.0.1".parse().unwrap()),
        max_members,
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
pub async fn next<T>(events: &mut Receiver<Event>, pick: impl FnMut(Event) -> Option<T>) -> T {
    until(events, pick).await.1
}

/// Like [`next`], but also returns the events skipped on the way, for tests
/// that care what did (or did not) happen before.
pub async fn until<T>(
    events: &mut Receiver<Event>,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> (Vec<Event>, T) {
    timeout(WAIT, async {
        let mut skipped = Vec::new();
        loop {
            let event = events.recv().await.expect("engine stopped");
            if let Some(found) = pick(event.clone()) {
                return (skipped, found);
            }
            skipped.push(event);
        }
    })
    .await
    .expect("timed out waiting for an event")
}

/// The texts of the messages shown among `events`.
pub fn texts(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Received { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Waits for a client's `Connected` or a member joining the server's
/// room (`Joined`); the name of who is on the other end.
pub async fn connected(events: &mut Receiver<Event>) -> String {
    next(events, |e| match e {
        Event::Connected { peer, .. } => Some(peer.name),
        Event::Joined(member) => Some(member.name),
        Event::Failed(e) => panic!("gave up: {e}"),
        _ => None,
    })
    .await
}

/// Waits for a member to leave the server's room: its name and why.
pub async fn left(events: &mut Receiver<Event>) -> (String, Why) {
    next(events, |e| match e {
        Event::Left { member, why } => Some((member.name, why)),
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

/// Waits for a client's next ack: the server has our message (a
/// two-person chat's `Acked`, a room's `Relayed`); the message id.
pub async fn acked(events: &mut Receiver<Event>) -> String {
    next(events, |e| sender_ack(&e).map(str::to_owned)).await
}

/// The id of our message the other end now holds, if `event` says so.
pub fn sender_ack(event: &Event) -> Option<&str> {
    match event {
        Event::Acked { id } | Event::Relayed { id, .. } => Some(id),
        _ => None,
    }
}

/// Waits for the server's next delivery mark: a member received our
/// message; the message id.
pub async fn delivered(events: &mut Receiver<Event>) -> String {
    next(events, |e| match e {
        Event::Delivered { id, .. } => Some(id),
        _ => None,
    })
    .await
}

/// Waits for the server's next rejected connection; the reason.
pub async fn rejected(events: &mut Receiver<Event>) -> Rejection {
    next(events, |e| match e {
        Event::Rejected { reason, .. } => Some(reason),
        _ => None,
    })
    .await
}

/// Waits for the client's next reconnect delay: (delay, why).
pub async fn retrying(events: &mut Receiver<Event>) -> (Duration, ConnectError) {
    next(events, |e| match e {
        Event::Retrying { delay, error, .. } => Some((delay, error)),
        Event::Failed(e) => panic!("gave up: {e}"),
        _ => None,
    })
    .await
}

/// Waits for the engine's last event, [`Event::Closed`], and checks that the
/// stream ends after it.
pub async fn closed(events: &mut Receiver<Event>) {
    next(events, |e| (e == Event::Closed).then_some(())).await;
    let after = timeout(WAIT, events.recv()).await;
    assert_eq!(after, Ok(None), "events after Closed");
}

/// Waits for the end of the current session.
pub async fn disconnected(events: &mut Receiver<Event>) -> common::Ended {
    next(events, |e| match e {
        Event::Disconnected(ended) => Some(ended),
        _ => None,
    })
    .await
}

/// Reads and drops the rest of `events`, as an app keeps reading its
/// engine's events: an engine waits for a reader that stopped (its
/// events are bounded), and a test that stopped reading one side would
/// stall the other through it.
pub fn drain(mut events: Receiver<Event>) {
    tokio::spawn(async move { while events.recv().await.is_some() {} });
}
