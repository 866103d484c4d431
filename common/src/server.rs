//! The server: listens, admits connections that prove they hold the key, and
//! chats with one client at a time.
//!
//! Each incoming connection gets its own handshake task, so a silent or
//! hostile connection never holds up the live session or other clients; only
//! a connection that completes the handshake reaches the chat loop, where it
//! replaces the current session. How many may be mid-handshake, and which
//! gives way, is [`crate::admission`]'s business.

pub mod limits;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{Duration, timeout};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::task::AbortOnDropHandle;

use crate::addr::local_addrs;
use crate::admission::{Door, Ticket};
use crate::codec::{HANDSHAKE_LINE_MAX, LineCodec, LineError};
use crate::commands::Commands;
use crate::config::{Config, ServerConfig};
use crate::discovery::ResponderError;
use crate::discovery::responder::Responder;
use crate::error::{BindError, Rejection};
use crate::event::{Command, Ended, Event, Handle, Peer};
use crate::handshake::{self, ErrCode};
use crate::key::Key;
use crate::link::{Emitter, Gone, Link, Outcome, Reader, Writer, drive, while_offline};
use crate::outbox::Outbox;
use crate::payload::{Body, clean_name, random_id};
use crate::session::{Role, Session};

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
    pub fn start(self) -> (Handle, mpsc::Receiver<Event>) {
        let (handle, cmds) = Handle::new(self.config.chat.clock.clone());
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

async fn serve(server: Server, cmds: mpsc::UnboundedReceiver<Command>, events: Emitter) {
    let Server {
        listeners,
        config,
        responder,
        ..
    } = server;
    let announce = config.bind.filter(|ip| !ip.is_unspecified());
    let (admitted_tx, mut admitted) = mpsc::channel(1);
    let (keys, key) = watch::channel(config.chat.key.clone());
    let door = Door::default();
    let chat = Arc::new(config.chat);
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            let task = accept(
                l,
                chat.clone(),
                key.clone(),
                admitted_tx.clone(),
                events.clone(),
                door.clone(),
            );
            AbortOnDropHandle::new(tokio::spawn(task))
        })
        .collect();
    drop(admitted_tx);
    let responder = responder.ok().flatten().map(|responder| {
        let task = responder.run(chat.clone(), key.clone(), announce, events.clone());
        AbortOnDropHandle::new(tokio::spawn(task))
    });
    let mut cmds = Commands::new(cmds);
    let _ = chat_loop(&chat, &keys, &mut cmds, &mut admitted, &events).await;
    drop((acceptors, responder));
}

/// Waits for a session, chats, and returns to waiting, keeping the outbox.
async fn chat_loop(
    chat: &Config,
    keys: &watch::Sender<Key>,
    cmds: &mut Commands,
    admitted: &mut mpsc::Receiver<Link>,
    events: &Emitter,
) -> Result<(), Gone> {
    let mut outbox = Outbox::default();
    let mut next = None;
    loop {
        let mut link = match next.take() {
            Some(link) => link,
            None => {
                // Closing with something undelivered: wait for someone.
                let arrival = admitted.recv();
                match while_offline(arrival, cmds, &mut outbox, events, Some(keys), true).await {
                    Some(Some(link)) => link,
                    // Every listener failed: nothing more can arrive.
                    Some(None) => return Ok(()),
                    None => return events.emit(Event::Closed).await,
                }
            }
        };
        match drive(&mut link, &mut outbox, cmds, events, &chat.timing, admitted).await {
            Outcome::Ended(ended) => {
                link.close(None).await;
                events.emit(Event::Disconnected(ended)).await?;
            }
            Outcome::Interrupted(newer) => {
                link.close(Some("replaced")).await;
                events.emit(Event::Disconnected(Ended::Replaced)).await?;
                next = Some(newer);
            }
            Outcome::HungUp => {
                link.close(Some("closed")).await;
                events.emit(Event::Disconnected(Ended::Closed)).await?;
            }
            Outcome::Closed => {
                link.close(Some("closed")).await;
                return events.emit(Event::Closed).await;
            }
            Outcome::Gone => {
                // Nobody reads our events any more (the window went away):
                // still flush the acks already queued, and say goodbye.
                link.close(Some("closed")).await;
                return Err(Gone);
            }
        }
    }
}

async fn accept(
    listener: TcpListener,
    chat: Arc<Config>,
    key: watch::Receiver<Key>,
    admitted: mpsc::Sender<Link>,
    events: Emitter,
    door: Door,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(conn) => conn,
            // Out of file descriptors and the like: pause rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (ticket, dropped) = door.enter(addr.ip());
        for ip in dropped {
            let addr = SocketAddr::new(ip, 0);
            events.report(Event::Rejected {
                addr,
                reason: Rejection::Crowded,
            });
        }
        let place = ticket.place();
        let (chat, admitted, events) = (chat.clone(), admitted.clone(), events.clone());
        // The key as it is now: a New key while this handshake runs does not
        // change the key it is checked and answered with.
        let key = key.borrow().clone();
        let task = tokio::spawn(async move {
            let result = admit(stream, addr, &chat, key, &ticket).await;
            // Admitted or not, it no longer waits at the door.
            drop(ticket);
            match result {
                Ok(link) => {
                    let _ = admitted.send(link).await;
                }
                Err(reason) => events.report(Event::Rejected { addr, reason }),
            }
        });
        door.bind(place, task.abort_handle());
    }
}

/// Runs the server's half of the handshake on a fresh connection.
async fn admit(
    stream: TcpStream,
    addr: SocketAddr,
    chat: &Config,
    key: Key,
    ticket: &Ticket,
) -> Result<Link, Rejection> {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut reader = FramedRead::new(read, LineCodec::new(HANDSHAKE_LINE_MAX));
    let mut writer = FramedWrite::new(write, LineCodec::new(HANDSHAKE_LINE_MAX));
    let line = match timeout(chat.timing.hello, reader.next()).await {
        Ok(Some(Ok(line))) => line,
        Ok(Some(Err(LineError::TooLong { .. }))) => {
            return refuse(ErrCode::TooLarge, reader, writer, chat).await;
        }
        Ok(Some(Err(LineError::NotText))) => {
            return refuse(ErrCode::BadHello, reader, writer, chat).await;
        }
        Ok(None | Some(Err(LineError::Io(_)))) => return Err(Rejection::ClosedEarly),
        Err(_) => return refuse(ErrCode::Timeout, reader, writer, chat).await,
    };
    let (hello, offset) = match handshake::open_hello(&key, &chat.clock, &line) {
        Ok(hello) => hello,
        Err(code) => return refuse(code, reader, writer, chat).await,
    };
    let Some(version) = hello.common_version(chat.max_proto) else {
        return refuse(ErrCode::Version, reader, writer, chat).await;
    };
    // It holds the key (or replays a hello of someone who does): strangers
    // churning connections no longer push it out.
    ticket.keyed();
    let nonce = random_id();
    // Everything from here on is under the key the hello was checked with.
    let welcome = handshake::seal_welcome(
        &key,
        &chat.clock,
        &nonce,
        &hello.nonce,
        &clean_name(&chat.name),
        version,
    );
    writer
        .send(welcome)
        .await
        .map_err(|_| Rejection::ClosedEarly)?;

    let sid = format!("{}.{}", hello.nonce, nonce);
    let mut session =
        Session::new(key, chat.clock.clone(), sid, Role::Server, offset).speaking(version);
    // No ERR line after the welcome: the client already counts itself
    // connected and would take it for a session frame. It sees the
    // connection close and tries again.
    let ready = match timeout(chat.timing.handshake, reader.next()).await {
        Ok(Some(Ok(line))) => line,
        Ok(None | Some(Err(_))) => return Err(Rejection::ClosedEarly),
        Err(_) => return Err(Rejection::NoReady),
    };
    match session.open(&ready) {
        Ok(Some(Body::Ready)) => {}
        Ok(_) => return Err(Rejection::Garbage),
        Err(alert) => return Err(Rejection::Handshake(alert)),
    }
    let peer = Peer {
        name: clean_name(&hello.name),
        addr,
    };
    Ok(Link::new(reader, writer, session, peer).with_tokens(chat.tokens))
}

/// Sends `ERR <code>` and closes gracefully: reading (and discarding) a little
/// of what the client still sends, so the close does not turn into a reset
/// that could destroy the ERR line before the client reads it.
async fn refuse(
    code: ErrCode,
    reader: Reader,
    mut writer: Writer,
    chat: &Config,
) -> Result<Link, Rejection> {
    let _ = timeout(Duration::from_secs(1), async {
        let _ = writer.send(code.line(&chat.timing)).await;
        let _ = writer.close().await;
    })
    .await;
    let mut rest = reader.into_inner().take(64 * 1024);
    let _ = timeout(Duration::from_millis(500), async {
        let mut sink = [0u8; 4096];
        while matches!(rest.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    Err(Rejection::from_code(code))
}
