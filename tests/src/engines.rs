//! Real engines on 127.0.0.1 and the event waits every test needs.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::Duration;

use common::{
    ChatEvent, ClientConfig, ClientEvent, Config, ConnectError, Handle, Key, Rejection, Server,
    ServerConfig, ServerEvent, ServerHandle, Timing, Why,
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
        ack_delay: Duration::from_millis(20),
        hold: Duration::from_secs(2),
        stall: Duration::from_secs(1),
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

/// What the waits need of either program's events, so that one wait
/// ([`received`], [`connected`], ...) serves both sides.
pub trait Reported: Clone + Debug + PartialEq + Send + 'static {
    /// The program's last event.
    const CLOSED: Self;
    /// What happens in the chat, if the event is that.
    fn chat(&self) -> Option<&ChatEvent>;
    /// The event, if it is the client's (the server has none of its own
    /// that the shared waits look at).
    fn client(&self) -> Option<&ClientEvent>;
}

impl Reported for ServerEvent {
    const CLOSED: ServerEvent = ServerEvent::Closed;

    fn chat(&self) -> Option<&ChatEvent> {
        match self {
            ServerEvent::Chat(chat) => Some(chat),
            _ => None,
        }
    }

    fn client(&self) -> Option<&ClientEvent> {
        None
    }
}

impl Reported for ClientEvent {
    const CLOSED: ClientEvent = ClientEvent::Closed;

    fn chat(&self) -> Option<&ChatEvent> {
        match self {
            ClientEvent::Chat(chat) => Some(chat),
            _ => None,
        }
    }

    fn client(&self) -> Option<&ClientEvent> {
        Some(self)
    }
}

/// Binds a server on 127.0.0.1 (`port` 0: any free port) and starts it.
pub async fn server_with(chat: Config, port: u16) -> (ServerHandle, Receiver<ServerEvent>, u16) {
    room_server(chat, port, common::DEFAULT_MAX_MEMBERS).await
}

/// [`server_with`] for a room of at most `max_members`.
pub async fn room_server(
    chat: Config,
    port: u16,
    max_members: usize,
) -> (ServerHandle, Receiver<ServerEvent>, u16) {
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
pub async fn server(key: &Key) -> (ServerHandle, Receiver<ServerEvent>, u16) {
    server_with(Config::new(key.clone(), "bob"), 0).await
}

pub fn client_with(chat: Config, addr: SocketAddr) -> (Handle, Receiver<ClientEvent>) {
    common::client::connect(ClientConfig {
        chat,
        server: addr.to_string().parse().unwrap(),
    })
}

/// A client named "alice" with default timing.
pub fn client(key: &Key, port: u16) -> (Handle, Receiver<ClientEvent>) {
    client_with(
        Config::new(key.clone(), "alice"),
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
}

/// The next event that `pick` accepts; others are skipped.
pub async fn next<E: Reported, T>(events: &mut Receiver<E>, pick: impl FnMut(E) -> Option<T>) -> T {
    until(events, pick).await.1
}

/// Like [`next`], but also returns the events skipped on the way, for tests
/// that care what did (or did not) happen before.
pub async fn until<E: Reported, T>(
    events: &mut Receiver<E>,
    mut pick: impl FnMut(E) -> Option<T>,
) -> (Vec<E>, T) {
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
pub fn texts<E: Reported>(events: &[E]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e.chat() {
            Some(ChatEvent::Received { text, .. }) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Waits for a client's `Connected` or a member joining the server's
/// room (`Joined`); the name of who is on the other end.
pub async fn connected<E: Reported>(events: &mut Receiver<E>) -> String {
    next(events, |e| match (e.chat(), e.client()) {
        (Some(ChatEvent::Joined(member)), _) => Some(member.name.clone()),
        (_, Some(ClientEvent::Connected { peer, .. })) => Some(peer.name.clone()),
        (_, Some(ClientEvent::Failed(e))) => panic!("gave up: {e}"),
        _ => None,
    })
    .await
}

/// Waits for a member to leave the server's room: its name and why.
pub async fn left<E: Reported>(events: &mut Receiver<E>) -> (String, Why) {
    next(events, |e| match e.chat() {
        Some(ChatEvent::Left { member, why }) => Some((member.name.clone(), why.clone())),
        _ => None,
    })
    .await
}

/// Waits for the next message shown: (sender, text).
pub async fn received<E: Reported>(events: &mut Receiver<E>) -> (String, String) {
    next(events, |e| match e.chat() {
        Some(ChatEvent::Received { from, text, .. }) => Some((from.clone(), text.clone())),
        _ => None,
    })
    .await
}

/// Waits for a client's next ack: the server has our message (a
/// two-person chat's `Acked`, a room's `Relayed`); the message id.
pub async fn acked<E: Reported>(events: &mut Receiver<E>) -> String {
    next(events, |e| sender_ack(&e).map(str::to_owned)).await
}

/// The id of our message the other end now holds, if `event` says so.
pub fn sender_ack<E: Reported>(event: &E) -> Option<&str> {
    match (event.chat(), event.client()) {
        (Some(ChatEvent::Relayed { id, .. }), _) | (_, Some(ClientEvent::Acked { id })) => Some(id),
        _ => None,
    }
}

/// Waits for the server's next delivery mark: a member received our
/// message; the message id.
pub async fn delivered<E: Reported>(events: &mut Receiver<E>) -> String {
    next(events, |e| match e.chat() {
        Some(ChatEvent::Delivered { id, .. }) => Some(id.clone()),
        _ => None,
    })
    .await
}

/// Waits for the server's next rejected connection; the reason.
pub async fn rejected(events: &mut Receiver<ServerEvent>) -> Rejection {
    next(events, |e| match e {
        ServerEvent::Rejected { reason, .. } => Some(reason),
        _ => None,
    })
    .await
}

/// Waits for the client's next reconnect delay: (delay, why).
pub async fn retrying(events: &mut Receiver<ClientEvent>) -> (Duration, ConnectError) {
    next(events, |e| match e {
        ClientEvent::Retrying { delay, error, .. } => Some((delay, error)),
        ClientEvent::Failed(e) => panic!("gave up: {e}"),
        _ => None,
    })
    .await
}

/// Waits for the engine's last event, `Closed`, and checks that the
/// stream ends after it.
pub async fn closed<E: Reported>(events: &mut Receiver<E>) {
    next(events, |e| (e == E::CLOSED).then_some(())).await;
    let after = timeout(WAIT, events.recv()).await;
    assert_eq!(after, Ok(None), "events after Closed");
}

/// Waits for the end of the client's current session.
pub async fn disconnected(events: &mut Receiver<ClientEvent>) -> common::Ended {
    next(events, |e| match e {
        ClientEvent::Disconnected(ended) => Some(ended),
        _ => None,
    })
    .await
}

/// Reads and drops the rest of `events`, as an app keeps reading its
/// engine's events: an engine waits for a reader that stopped (its
/// events are bounded), and a test that stopped reading one side would
/// stall the other through it.
pub fn drain<E: Send + 'static>(mut events: Receiver<E>) {
    tokio::spawn(async move { while events.recv().await.is_some() {} });
}
