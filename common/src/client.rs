//! The client: connects, proves it holds the key, chats, and after a lost
//! connection reconnects by itself with backoff, keeping the outbox.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpStream, lookup_host};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::{HANDSHAKE_LINE_MAX, LineCodec};
use crate::commands::Commands;
use crate::config::{ClientConfig, Config};
use crate::discovery::roam;
use crate::error::ConnectError;
use crate::event::{ClientEvent, Ended, Handle, Member, Peer};
use crate::handshake::{self, ErrCode, WelcomeError};
use crate::link::{Delivery, Emitter, Gone, Link, Outcome, Room, drive, while_offline};
use crate::outbox::Outbox;
use crate::payload::{Body, Hello, PROTO, PROTO_ROOMS, clean_name, random_id};
use crate::place::REFUSALS_BELIEVED;
use crate::session::{Role, Session};
use crate::token;

/// Starts connecting in the background (on the current tokio runtime). The
/// first events are [`ClientEvent::Connecting`], then
/// [`ClientEvent::Connected`] or [`ClientEvent::Failed`].
pub fn connect(config: ClientConfig) -> (Handle, mpsc::Receiver<ClientEvent>) {
    let (handle, cmds) = Handle::new(config.chat.clock.clone());
    let (tx, events) = mpsc::channel(256);
    tokio::spawn(async move {
        let _ = run(config, Commands::new(cmds), Emitter::new(tx)).await;
    });
    (handle, events)
}

async fn run(
    mut config: ClientConfig,
    mut cmds: Commands,
    events: Emitter<ClientEvent>,
) -> Result<(), Gone> {
    let timing = config.chat.timing.clone();
    let timing = &timing;
    let mut outbox = Outbox::default();
    // Once a session has proven the key, nothing a server says before the
    // next handshake (all of it unauthenticated) can make us give up.
    let mut proven = false;
    // Failed attempts in a row; the backoff grows with it.
    let mut failures = 0;
    let mut attempt = 0;
    // Our messages' delivery marks so far, carried from session to session.
    let mut delivery = Delivery::default();
    // Nothing else ever arrives to interrupt a client's session.
    let (_keep, mut no_interrupt) = mpsc::channel::<()>(1);
    loop {
        if cmds.closing && outbox.is_empty() {
            return events.emit(ClientEvent::Closed).await;
        }
        attempt += 1;
        events
            .emit(ClientEvent::Connecting {
                attempt,
                server: config.server.to_string(),
            })
            .await?;
        // A close does not cut an attempt short: what was typed is
        // delivered once it connects, and a failure is still reported.
        // Reconnecting also probes: the server may have moved.
        let dialing = roam::attempt(&mut config, proven, &events, |config| async move {
            dial(&config, proven).await
        });
        let Some(result) = while_offline(dialing, &mut cmds, &mut outbox, &events, false).await
        else {
            return events.emit(ClientEvent::Closed).await;
        };
        let error = match result {
            Ok(mut link) => {
                proven = true;
                attempt = 0;
                let started = Instant::now();
                if let Some(room) = &mut link.room {
                    room.resume(std::mem::take(&mut delivery));
                }
                let outcome = drive(
                    &mut link,
                    &mut outbox,
                    &mut cmds,
                    &events,
                    timing,
                    &mut no_interrupt,
                )
                .await;
                if let Some(room) = &mut link.room {
                    delivery = room.delivery();
                }
                match outcome {
                    Outcome::Closed | Outcome::HungUp => {
                        link.close(Some("closed")).await;
                        return events.emit(ClientEvent::Closed).await;
                    }
                    Outcome::Ended(ended) => {
                        link.close(None).await;
                        let left = ends_the_chat(&ended);
                        // A session that ends right after it started (an
                        // alert, a reset) counts as a failed attempt, so a
                        // peer or a path that breaks every session meets
                        // the backoff instead of a reconnect storm.
                        let short = started.elapsed() < timing.lost_after;
                        events
                            .emit(ClientEvent::Disconnected(ended.clone()))
                            .await?;
                        if left {
                            return Ok(());
                        }
                        if !short {
                            failures = 0;
                            continue;
                        }
                        ConnectError::ShortSession(ended)
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
        if !proven {
            return events.emit(ClientEvent::Failed(error)).await;
        }
        failures += 1;
        let delay = timing.backoff(failures);
        events
            .emit(ClientEvent::Retrying {
                attempt,
                delay,
                error,
            })
            .await?;
        let waited = while_offline(sleep(delay), &mut cmds, &mut outbox, &events, true);
        if waited.await.is_none() {
            return events.emit(ClientEvent::Closed).await;
        }
    }
}

/// Whether the server's goodbye ends the chat: every `bye` but `slow`
/// (PROTOCOL.md, "Rooms": a slow member reconnects and catches up).
fn ends_the_chat(ended: &Ended) -> bool {
    matches!(
        ended,
        Ended::PeerLeft { .. } | Ended::NewKey { .. } | Ended::Removed | Ended::Replaced
    )
}

/// Resolves the server's address, connects and runs the handshake.
/// `proven`: a session has proven the key before, so an `ERR` line (which
/// anyone on the path can forge) is reported as the unauthenticated hint
/// it is. A room that does not take our member's place back (`ERR place`)
/// is asked again at once as a new member, and only a second refusal is
/// an error; after a proven session, starting over would give up what the
/// server keeps for our place, so only the
/// [`REFUSALS_BELIEVED`]th refusal in a row is believed.
async fn dial(config: &ClientConfig, proven: bool) -> Result<Link, ConnectError> {
    let identity = &config.chat.identity;
    let result = match dial_once(config, proven).await {
        Err(ConnectError::Place(text)) => {
            if proven && identity.refused() < REFUSALS_BELIEVED {
                return Err(ConnectError::Unauthenticated(text));
            }
            identity.renew();
            match dial_once(config, proven).await {
                Err(ConnectError::Place(text)) if proven => {
                    Err(ConnectError::Unauthenticated(text))
                }
                result => result,
            }
        }
        result => result,
    };
    if result.is_ok() {
        identity.placed();
    }
    result
}

async fn dial_once(config: &ClientConfig, proven: bool) -> Result<Link, ConnectError> {
    let chat = &config.chat;
    let server = &config.server;
    // A name lookup can hang for a long time on a broken resolver: it gets
    // the same limit as connecting.
    let lookup = lookup_host((server.host.as_str(), server.port));
    let addrs: Vec<SocketAddr> = match timeout(chat.timing.connect, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(_)) => {
            return Err(ConnectError::Unresolvable {
                host: server.host.clone(),
            });
        }
        Err(_) => {
            return Err(ConnectError::LookupTimedOut {
                host: server.host.clone(),
            });
        }
    };
    let mut last = ConnectError::Unresolvable {
        host: server.host.clone(),
    };
    for addr in addrs {
        for tries_left in (0..CLOSED_EARLY_TRIES).rev() {
            match timeout(chat.timing.connect, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => match handshake(stream, addr, chat, proven).await {
                    Err(ConnectError::ClosedEarly) if tries_left > 0 => continue,
                    result => return result,
                },
                Ok(Err(e)) => last = ConnectError::from_io(addr, &e),
                Err(_) => last = ConnectError::TimedOut { addr },
            }
            break;
        }
    }
    Err(last)
}

/// Connections in a row that may close before the server answers, within
/// one attempt. A server full of strangers' connections drops the oldest of
/// them, and now and then that is ours before our hello was read: that
/// says nothing about the key or the address, so it is not worth failing
/// the first attempt for (which would be final).
const CLOSED_EARLY_TRIES: usize = 3;

/// The client's half of the handshake on a connected socket.
async fn handshake(
    stream: TcpStream,
    addr: SocketAddr,
    chat: &Config,
    proven: bool,
) -> Result<Link, ConnectError> {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut reader = FramedRead::new(read, LineCodec::new(HANDSHAKE_LINE_MAX));
    let mut writer = FramedWrite::new(write, LineCodec::new(HANDSHAKE_LINE_MAX));
    let io = |e: std::io::Error| ConnectError::from_io(addr, &e);

    let nonce = random_id();
    let name = clean_name(&chat.name);
    let hello = hello(chat, &nonce, &name);
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
            // Renewed and asked again whether proven or not (see `dial`).
            Some(ErrCode::Place) => ConnectError::Place(err.text),
            _ if proven => ConnectError::Unauthenticated(err.text),
            Some(ErrCode::RoomFull) => ConnectError::RoomFull,
            Some(ErrCode::Removed) => ConnectError::Removed,
            Some(ErrCode::KeyMismatch) => ConnectError::KeyMismatch,
            Some(ErrCode::Version) => ConnectError::Version(err.text),
            _ => ConnectError::ServerSaid(err.text),
        });
    }
    let (welcome, offset) =
        handshake::open_welcome(&chat.key, &chat.clock, &line, &nonce, chat.max_proto).map_err(
            |e| match e {
                WelcomeError::NotAToken => ConnectError::NotFernetChat { addr },
                WelcomeError::Version(v) => ConnectError::Version(format!("it speaks version {v}")),
                WelcomeError::Undecryptable
                | WelcomeError::WrongEcho
                | WelcomeError::NotAWelcome => ConnectError::ServerUnproven,
            },
        )?;

    let sid = format!("{nonce}.{}", welcome.nonce);
    let mut session = Session::new(
        chat.key.clone(),
        chat.clock.clone(),
        sid,
        Role::Client,
        offset,
    )
    .speaking(welcome.proto);
    let ready = session.seal(&Body::Ready);
    writer
        .send(ready)
        .await
        .map_err(|_| ConnectError::ClosedEarly)?;
    let peer = Peer {
        name: clean_name(&welcome.name),
        addr,
    };
    let me = Member {
        id: chat.identity.member(),
        name,
        addr: None,
        since: chat.clock.now_ms(),
        you: true,
    };
    Ok(Link::new(reader, writer, session, peer)
        .with_tokens(chat.tokens)
        .in_room(Room::new(me)))
}

/// Our hello, offering versions up to [`Config::max_proto`]. Offering
/// rooms, it names our member and proves the place is ours with the
/// next link of our chain (a new link for every hello, answered or not).
fn hello(chat: &Config, nonce: &str, name: &str) -> String {
    let (member, proof) = if chat.max_proto >= PROTO_ROOMS {
        let (member, proof) = chat.identity.next_proof();
        (Some(member), Some(proof))
    } else {
        (None, None)
    };
    let hello = Hello {
        proto: PROTO,
        nonce: nonce.to_owned(),
        name: name.to_owned(),
        max_proto: (chat.max_proto > PROTO).then_some(chat.max_proto),
        member,
        proof,
    };
    // A struct of strings and numbers always serializes.
    token::seal(
        &chat.key,
        &chat.clock,
        &serde_json::to_vec(&hello).unwrap_or_default(),
    )
}
