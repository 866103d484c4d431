//! Accepting connections and the server's half of the handshake.
//!
//! Each incoming connection gets its own task, so a silent or hostile
//! connection never holds up the room or other clients; how many may be
//! mid-handshake, and which gives way, is [`crate::admission`]'s business.
//! The room decides who may come in (the hub answers before the welcome,
//! so a refusal is an `ERR` line); a connection that completes the
//! handshake takes its seat and its task goes on serving the member.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Duration, timeout};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::hub::{Arrival, ToHub};
use super::member;
use super::room::Claim;
use crate::admission::{Door, Ticket};
use crate::codec::{HANDSHAKE_LINE_MAX, LineCodec, LineError};
use crate::config::Config;
use crate::error::Rejection;
use crate::event::{Peer, ServerEvent};
use crate::handshake::{self, ErrCode};
use crate::key::Key;
use crate::link::{Emitter, Link, Reader, Writer};
use crate::payload::{Body, Hello, PROTO_ROOMS, clean_name, parse_id, random_id};
use crate::place::parse_proof;
use crate::session::{Role, Session};

pub(crate) async fn accept(
    listener: TcpListener,
    chat: Arc<Config>,
    key: watch::Receiver<Key>,
    hub: mpsc::Sender<ToHub>,
    events: Emitter<ServerEvent>,
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
            events.report(ServerEvent::Rejected {
                addr,
                reason: Rejection::Crowded,
            });
        }
        let place = ticket.place();
        let (chat, hub, events) = (chat.clone(), hub.clone(), events.clone());
        // The key as it is now: a New key while this handshake runs does not
        // change the key it is checked and answered with.
        let key = key.borrow().clone();
        let task = tokio::spawn(async move {
            let result = admit(stream, addr, &chat, key, &ticket, &hub).await;
            // Admitted or not, it no longer waits at the door.
            drop(ticket);
            match result {
                Ok((link, arrival)) => seat(link, arrival, &chat, hub).await,
                Err(reason) => events.report(ServerEvent::Rejected { addr, reason }),
            }
        });
        door.bind(place, task.abort_handle());
    }
}

/// Asks the hub for the connection's place and serves it there; a
/// connection the room no longer has a place for (it filled up, or the
/// key changed, during the handshake) is closed.
async fn seat(link: Link, (claim, key): (Claim, Key), chat: &Config, hub: mpsc::Sender<ToHub>) {
    let (reply, seat) = oneshot::channel();
    let arrival = Arrival {
        claim,
        name: link.peer.name.clone(),
        addr: link.peer.addr,
        version: link.session.version(),
        offset: link.offset_secs(),
        key,
        reply,
    };
    if hub.send(ToHub::Arrive(arrival)).await.is_err() {
        return link.close(None).await;
    }
    match seat.await {
        Ok(Some(seat)) => member::serve(link, seat, hub, chat.timing.clone()).await,
        _ => link.close(None).await,
    }
}

/// Whose place the hello asks for: a member and its proof (protocol 3),
/// or a name from an address.
fn claim(hello: &Hello, version: u32, addr: SocketAddr) -> Claim {
    if version >= PROTO_ROOMS
        && let (Some(id), Some(proof)) = (&hello.member, hello.proof.as_deref())
        && let Some(proof) = parse_proof(proof)
    {
        return Claim::Member {
            id: id.clone(),
            proof,
        };
    }
    Claim::Legacy {
        name: clean_name(&hello.name),
        ip: addr.ip(),
    }
}

/// Runs the server's half of the handshake on a fresh connection.
async fn admit(
    stream: TcpStream,
    addr: SocketAddr,
    chat: &Config,
    key: Key,
    ticket: &Ticket,
    hub: &mpsc::Sender<ToHub>,
) -> Result<(Link, (Claim, Key)), Rejection> {
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
    // It holds the key: strangers churning connections no longer push it
    // out. Unless it replays a hello of someone who does.
    let fresh = parse_id(&hello.nonce).is_some_and(|nonce| ticket.keyed(nonce));
    if !fresh {
        return refuse(ErrCode::BadHello, reader, writer, chat)
            .await
            .map_err(|_| Rejection::Replayed);
    }
    let claim = claim(&hello, version, addr);
    let (reply, answer) = oneshot::channel();
    let ask = ToHub::Ask {
        claim: claim.clone(),
        reply,
    };
    hub.send(ask).await.map_err(|_| Rejection::ClosedEarly)?;
    match answer.await {
        Ok(Ok(())) => {}
        Ok(Err(code)) => return refuse(code, reader, writer, chat).await,
        Err(_) => return Err(Rejection::ClosedEarly),
    }
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
        Session::new(key.clone(), chat.clock.clone(), sid, Role::Server, offset).speaking(version);
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
    let link = Link::new(reader, writer, session, peer).with_tokens(chat.tokens);
    Ok((link, (claim, key)))
}

/// Sends `ERR <code>` and closes gracefully: reading (and discarding) a little
/// of what the client still sends, so the close does not turn into a reset
/// that could destroy the ERR line before the client reads it.
async fn refuse<T>(
    code: ErrCode,
    reader: Reader,
    mut writer: Writer,
    chat: &Config,
) -> Result<T, Rejection> {
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
