//! The server: listens, admits connections that prove they hold the key,
//! and hosts one room (PROTOCOL.md, "Rooms").
//!
//! # Layout
//! - `admit`: accepting connections and the handshake.
//! - `hub`: the task that owns the room and relays.
//! - `room`: who is in the room (pure state).
//! - `mailbox`: what waits for one member.
//! - `member`: one member's connection task.
//! - [`limits`]: what the room keeps for its members, at most.

mod admit;
mod hub;
pub mod limits;
mod mailbox;
mod marks;
mod member;
mod room;
mod typing_pace;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::task::AbortOnDropHandle;

use crate::addr::local_addrs;
use crate::admission::Door;
use crate::commands::Commands;
use crate::config::{MAX_MEMBERS_LIMIT, ServerConfig};
use crate::discovery::ResponderError;
use crate::discovery::responder::Responder;
use crate::error::BindError;
use crate::event::{ServerCommand, ServerEvent, ServerHandle};
use crate::link::Emitter;
use hub::Hub;

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<TcpListener>,
    config: ServerConfig,
    port: u16,
    /// Answers discovery probes on the same port (`Ok(None)`: turned off).
    responder: Result<Option<Responder>, ResponderError>,
}

impl Server {
    /// Binds the port: on `config.bind` if given, otherwise on every IPv4 and
    /// (where available) IPv6 interface.
    pub async fn bind(config: ServerConfig) -> Result<Server, BindError> {
        let first_ip = config.bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let first_addr = SocketAddr::new(first_ip, config.port);
        let first = TcpListener::bind(first_addr)
            .await
            .map_err(|e| BindError::from_io(first_addr, &e))?;
        let port = first
            .local_addr()
            .map_err(|e| BindError::from_io(first_addr, &e))?
            .port();
        let mut listeners = vec![first];
        if config.bind.is_none() {
            // IPv6 is a bonus: a machine without it still serves IPv4.
            if let Ok(v6) = bind_v6_only(port) {
                listeners.push(v6);
            }
        }
        // Discovery is a bonus: without it the server still serves TCP.
        let responder = match config.chat.discovery {
            Some(_) => Responder::bind(config.bind, port).map(Some),
            None => Ok(None),
        };
        Ok(Server {
            listeners,
            config,
            port,
            responder,
        })
    }

    /// Why the server cannot answer discovery probes, if it cannot.
    pub fn discovery_error(&self) -> Option<&ResponderError> {
        self.responder.as_ref().err()
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses to give the other person, best first.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        match self.config.bind {
            Some(ip) if !ip.is_unspecified() => vec![SocketAddr::new(ip, self.port)],
            _ => local_addrs(self.port)
                .into_iter()
                .filter(|a| a.is_ipv4() || self.listeners.len() > 1)
                .collect(),
        }
    }

    /// Starts serving in the background (on the current tokio runtime).
    pub fn start(self) -> (ServerHandle, mpsc::Receiver<ServerEvent>) {
        let (handle, cmds) = ServerHandle::new(self.config.chat.clock.clone());
        let (tx, events) = mpsc::channel(256);
        tokio::spawn(serve(self, cmds, Emitter::new(tx)));
        (handle, events)
    }
}

fn bind_v6_only(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, None)?;
    socket.set_only_v6(true)?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port).into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

async fn serve(
    server: Server,
    cmds: mpsc::UnboundedReceiver<ServerCommand>,
    events: Emitter<ServerEvent>,
) {
    let Server {
        listeners,
        config,
        responder,
        ..
    } = server;
    let announce = config.bind.filter(|ip| !ip.is_unspecified());
    let max_members = config.max_members.clamp(2, MAX_MEMBERS_LIMIT);
    let (hub_tx, inbox) = mpsc::channel(hub::INBOX);
    let (keys, key) = watch::channel(config.chat.key.clone());
    let door = Door::default();
    let chat = Arc::new(config.chat);
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            let task = admit::accept(
                l,
                chat.clone(),
                key.clone(),
                hub_tx.clone(),
                events.clone(),
                door.clone(),
            );
            AbortOnDropHandle::new(tokio::spawn(task))
        })
        .collect();
    drop(hub_tx);
    let responder = responder.ok().flatten().map(|responder| {
        let task = responder.run(chat.clone(), key.clone(), announce, events.clone());
        AbortOnDropHandle::new(tokio::spawn(task))
    });
    let hub = Hub::new(chat, keys, events, max_members);
    hub.run(inbox, Commands::new(cmds)).await;
    drop((acceptors, responder));
}
