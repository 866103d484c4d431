//! The engine as an iced subscription (as in iced's websocket example): the
//! stream starts the engine, hands the app its handle (a [`ServerHandle`]
//! or a [`Handle`]) in its first item, then forwards the engine's events.
//! Dropping the subscription drops the event receiver, which stops the
//! engine; the app never holds a socket.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::SinkExt;
use futures::stream::Stream;
use tokio::sync::mpsc;

use crate::config::{ClientConfig, ServerConfig};
use crate::error::BindError;
use crate::event::{ClientEvent, Handle, ServerEvent, ServerHandle};
use crate::server::Server;

/// What the server engine's subscription yields.
#[derive(Debug, Clone)]
pub enum ServerUpdate {
    /// Listening on `port`; give the other person one of `addrs`.
    /// `discovery` says why it cannot answer searches, if it cannot (it
    /// still serves TCP).
    Listening {
        handle: ServerHandle,
        port: u16,
        addrs: Vec<SocketAddr>,
        discovery: Option<String>,
    },
    /// Could not listen.
    BindFailed(BindError),
    Event(ServerEvent),
}

/// What the client engine's subscription yields.
#[derive(Debug, Clone)]
pub enum ClientUpdate {
    /// The engine started; events follow.
    Started(Handle),
    Event(ClientEvent),
}

/// A server subscription's identity: a new `generation` restarts it (after
/// picking another port, or a new name). The key is not part of it:
/// changing the key goes through [`ServerHandle::set_key`] without restarting.
#[derive(Debug, Clone)]
pub struct ServerParams {
    pub config: ServerConfig,
    pub generation: u64,
}

impl Hash for ServerParams {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (
            self.config.port,
            self.config.bind,
            &self.config.chat.name,
            self.generation,
        )
            .hash(state);
    }
}

/// A client subscription's identity: each Connect click is a new generation.
#[derive(Debug, Clone)]
pub struct ClientParams {
    pub config: ClientConfig,
    pub generation: u64,
}

impl Hash for ClientParams {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.config.server, self.generation).hash(state);
    }
}

/// A restarted server engine (a new generation) waits this long at most
/// for the engine it replaces to free the port.
pub const REBIND_FOR: Duration = Duration::from_secs(2);
/// How often it tries meanwhile.
const REBIND_EVERY: Duration = Duration::from_millis(20);

/// The server engine as a stream, for `Subscription::run_with`.
pub fn server(params: &ServerParams) -> impl Stream<Item = ServerUpdate> + use<> {
    let config = params.config.clone();
    let restarted = params.generation > 0;
    iced::stream::channel(64, async move |mut output| {
        let server = match bind(config, restarted).await {
            Ok(server) => server,
            Err(e) => {
                let _ = output.send(ServerUpdate::BindFailed(e)).await;
                return;
            }
        };
        let (port, addrs) = (server.port(), server.addrs());
        let discovery = server.discovery_error().map(ToString::to_string);
        let (handle, events) = server.start();
        if output
            .send(ServerUpdate::Listening {
                handle,
                port,
                addrs,
                discovery,
            })
            .await
            .is_ok()
        {
            forward(events, output, ServerUpdate::Event).await;
        }
    })
}

/// Binds; a restarted engine tries again while the port is still held by
/// the engine it replaces (stopping, on another task).
async fn bind(config: ServerConfig, restarted: bool) -> Result<Server, BindError> {
    let deadline = Instant::now() + REBIND_FOR;
    loop {
        match Server::bind(config.clone()).await {
            Err(BindError::InUse { .. }) if restarted && Instant::now() < deadline => {
                tokio::time::sleep(REBIND_EVERY).await;
            }
            result => return result,
        }
    }
}

/// The client engine as a stream, for `Subscription::run_with`.
pub fn client(params: &ClientParams) -> impl Stream<Item = ClientUpdate> + use<> {
    let config = params.config.clone();
    iced::stream::channel(64, async move |mut output| {
        let (handle, events) = crate::client::connect(config);
        if output.send(ClientUpdate::Started(handle)).await.is_ok() {
            forward(events, output, ClientUpdate::Event).await;
        }
    })
}

/// Hands the engine's events on, each as `update`, until either side stops.
async fn forward<E, U>(
    mut events: mpsc::Receiver<E>,
    mut output: futures::channel::mpsc::Sender<U>,
    update: fn(E) -> U,
) {
    while let Some(event) = events.recv().await {
        if output.send(update(event)).await.is_err() {
            return;
        }
    }
}
