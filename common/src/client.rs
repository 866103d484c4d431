//! The client: connects, proves it holds the key, chats, and after a lost
//! connection reconnects by itself with backoff, keeping the outbox.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpStream, lookup_host};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::{HANDSHAKE_LINE_MAX, LineCodec};
use crate::config::{ClientConfig, Config};
use crate::error::ConnectError;
use crate::event::{Command, Ended, Event, Handle, Peer};
use crate::handshake::{self, ErrCode, WelcomeError};
use crate::link::{Emitter, Gone, Link, Outcome, drive, while_offline};
use crate::outbox::Outbox;
use crate::payload::{Body, clean_name, random_id};
use crate::session::{Role, Session};

/// Starts connecting in the background (on the current tokio runtime). The
/// first events are [`Event::Connecting`], then [`Event::Connected`] or
/// [`Event::Failed`].
pub fn connect(config: ClientConfig) -> (Handle, mpsc::Receiver<Event>) {
    let (handle, cmds) = Handle::new(config.chat.clock.clone());
    let (tx, events) = mpsc::channel(256);
    tokio::spawn(async move {
        let _ = run(config, cmds, Emitter(tx)).await;
    });
    (handle, events)
}

async fn run(
    config: ClientConfig,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    events: Emitter,
) -> Result<(), Gone> {
    let server = config.server.to_string();
    let mut outbox = Outbox::default();
    let mut ever_connected = false;
    let mut attempt = 0;
    // Nothing else ever arrives to interrupt a client's session.
    let (_keep, mut no_interrupt) = mpsc::channel::<()>(1);
    loop {
        attempt += 1;
        events
            .emit(Event::Connecting {
                attempt,
                server: server.clone(),
            })
            .await?;
        let Some(result) =
            while_offline(dial(&config), &mut cmds, &mut outbox, &events, None).await
        else {
            return events.emit(Event::Closed).await;
        };
        let error = match result {
            Ok(mut link) => {
                ever_connected = true;
                attempt = 0;
                let timing = &config.chat.timing;
                match drive(
                    &mut link,
                    &mut outbox,
                    &mut cmds,
                    &events,
                    timing,
                    &mut no_interrupt,
                )
                .await
                {
                    Outcome::Closed | Outcome::HungUp => {
                        link.close(Some("closed")).await;
                        return events.emit(Event::Closed).await;
                    }
                    Outcome::Ended(ended) => {
                        link.close(None).await;
                        let stop = matches!(ended, Ended::PeerLeft { .. });
                        events.emit(Event::Disconnected(ended)).await?;
                        if stop {
                            return Ok(());
                        }
                        continue;
                    }
                    Outcome::Interrupted(()) | Outcome::Gone => {
                        // Nobody reads our events any more (the window went
                        // away): still flush the queued acks, say goodbye.
                        link.close(Some("closed")).await;
                        return Err(Gone);
                    }
                }
            }
            Err(error) => error,
        };
        if !ever_connected || error.is_fatal() {
            return events.emit(Event::Failed(error)).await;
        }
        let delay = config.chat.timing.backoff(attempt);
        events
            .emit(Event::Retrying {
                attempt,
                delay,
                error,
            })
            .await?;
        if while_offline(sleep(delay), &mut cmds, &mut outbox, &events, None)
            .await
            .is_none()
        {
            return events.emit(Event::Closed).await;
        }
    }
}

/// Resolves the server's address, connects and runs the handshake.
async fn dial(config: &ClientConfig) -> Result<Link, ConnectError> {
    let chat = &config.chat;
    let server = &config.server;
    let addrs: Vec<SocketAddr> = lookup_host((server.host.as_str(), server.port))
        .await
        .map_err(|_| ConnectError::Unresolvable {
            host: server.host.clone(),
        })?
        .collect();
    let mut last = ConnectError::Unresolvable {
        host: server.host.clone(),
    };
    for addr in addrs {
        match timeout(chat.timing.connect, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return handshake(stream, addr, chat).await,
            Ok(Err(e)) => last = ConnectError::from_io(addr, &e),
            Err(_) => last = ConnectError::TimedOut { addr },
        }
    }
    Err(last)
}

/// The client's half of the handshake on a connected socket.
async fn handshake(
    stream: TcpStream,
    addr: SocketAddr,
    chat: &Config,
) -> Result<Link, ConnectError> {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut reader = FramedRead::new(read, LineCodec::new(HANDSHAKE_LINE_MAX));
    let mut writer = FramedWrite::new(write, LineCodec::new(HANDSHAKE_LINE_MAX));
    let io = |e: std::io::Error| ConnectError::from_io(addr, &e);

    let nonce = random_id();
    let hello = handshake::seal_hello(&chat.key, &chat.clock, &nonce, &clean_name(&chat.name));
    writer.send(hello).await.map_err(|e| match e {
        crate::codec::LineError::Io(e) => io(e),
        _ => ConnectError::ClosedEarly,
    })?;
    let line = match timeout(chat.timing.handshake, reader.next()).await {
        Err(_) => return Err(ConnectError::TimedOut { addr }),
        Ok(None) => return Err(ConnectError::ClosedEarly),
        Ok(Some(Err(crate::codec::LineError::Io(e)))) => return Err(io(e)),
        Ok(Some(Err(_))) => return Err(ConnectError::NotFernetChat { addr }),
        Ok(Some(Ok(line))) => line,
    };
    if let Some(err) = handshake::parse_err_line(&line) {
        return Err(match err.code {
            Some(ErrCode::KeyMismatch) => ConnectError::KeyMismatch,
            Some(ErrCode::Version) => ConnectError::Version(err.text),
            _ => ConnectError::ServerSaid(err.text),
        });
    }
    let (welcome, offset) = handshake::open_welcome(&chat.key, &chat.clock, &line, &nonce)
        .map_err(|e| match e {
            WelcomeError::NotAToken => ConnectError::NotFernetChat { addr },
            WelcomeError::Version(v) => ConnectError::Version(format!("it speaks version {v}")),
            WelcomeError::Undecryptable | WelcomeError::WrongEcho | WelcomeError::NotAWelcome => {
                ConnectError::ServerUnproven
            }
        })?;

    let sid = format!("{nonce}.{}", welcome.nonce);
    let mut session = Session::new(
        chat.key.clone(),
        chat.clock.clone(),
        sid,
        Role::Client,
        offset,
    );
    let ready = session.seal(&Body::Ready);
    writer
        .send(ready)
        .await
        .map_err(|_| ConnectError::ClosedEarly)?;
    let peer = Peer {
        name: clean_name(&welcome.name),
        addr,
    };
    Ok(Link::new(reader, writer, session, peer))
}
