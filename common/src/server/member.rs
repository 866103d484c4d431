//! One member's connection, in its own task: reads and checks its frames
//! and tells the hub what they say; takes what the hub queued in its
//! mailbox as the socket drains, seals it in its session and writes it;
//! keeps the connection alive. A member that stops reading fills only its
//! own mailbox and backlog, both bounded.

use futures::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, TryAcquireError, mpsc};
use tokio::time::{Instant, sleep_until};

use super::hub::{Seat, ToHub};
use super::limits::MEMBER_INFLOW_BYTES;
use super::mailbox::Control;
use crate::codec::LineError;
use crate::config::Timing;
use crate::event::{Ciphertext, Why};
use crate::link::{BACKLOG_MAX, Link, SEND_AHEAD};
use crate::payload::{
    Body, MAX_BATCH, MAX_BATCH_TEXT_BYTES, Message, MessageRef, Outgoing, PROTO_ROOMS, weight,
};
use crate::session::Alert;

/// How a member's connection ends.
enum End {
    /// The hub asked for this `bye`.
    Bye(&'static str),
    /// The member left, or its connection failed.
    Left(Why),
}

/// What one read burst said, told to the hub at once.
#[derive(Default)]
struct Burst {
    /// With the frame each came in (for the window's "Show ciphertext").
    msgs: Vec<(Message, Ciphertext)>,
    acks: Vec<String>,
    typing: Option<bool>,
    /// What `msgs` weigh ([`weight`]: text and overhead).
    bytes: usize,
}

/// A read burst stops taking lines past this much message text, so one
/// burst always fits in the member's inflow ([`MEMBER_INFLOW_BYTES`]).
const BURST_BYTES: usize = MEMBER_INFLOW_BYTES / 4;

impl Burst {
    /// Its share of the member's inflow: at most a burst and one frame
    /// more, never more than there is.
    fn inflow(&self) -> u32 {
        self.bytes.min(MEMBER_INFLOW_BYTES) as u32
    }
}

/// Serves member `seat` on `link` until the connection ends.
pub(crate) async fn serve(mut link: Link, seat: Seat, hub: mpsc::Sender<ToHub>, timing: Timing) {
    let end = run(&mut link, &seat, &hub, &timing).await;
    match end {
        End::Bye(reason) => link.close(Some(reason)).await,
        End::Left(why) => {
            // Its backlog passed the bound: it is told why, and catches up
            // when it comes back. Otherwise it left, or its connection is
            // broken: nothing more is said.
            let bye = (why == Why::Slow).then_some("slow");
            let _ = hub
                .send(ToHub::Gone {
                    member: seat.member.clone(),
                    conn: seat.conn.id,
                    why,
                })
                .await;
            link.close(bye).await;
        }
    }
    drop(seat.alive);
}

async fn run(link: &mut Link, seat: &Seat, hub: &mpsc::Sender<ToHub>, timing: &Timing) -> End {
    if let Some(roster) = &seat.roster {
        link.send(roster);
    }
    let mut more = true;
    // Messages read that wait for room in the member's inflow: reading
    // stops until they have it (the sending half goes on).
    let mut waiting: Option<Burst> = None;
    let mut last_recv = Instant::now();
    let ping = sleep_until(link.last_sent + timing.ping_after);
    let lost = sleep_until(last_recv + timing.lost_after);
    tokio::pin!(ping, lost);
    loop {
        if let Some(bye) = seat.conn.ending() {
            return End::Bye(bye);
        }
        let sent = pump(link, seat, &mut more);
        for (id, token) in sent {
            if hub.send(ToHub::Sent { id, token }).await.is_err() {
                return End::Bye("closed");
            }
        }
        if link.backlog() > BACKLOG_MAX {
            return End::Left(Why::Slow);
        }
        let inflow = waiting.as_ref().map_or(0, Burst::inflow);
        tokio::select! {
            line = link.reader.next(), if waiting.is_none() => {
                last_recv = Instant::now();
                let mut burst = Burst::default();
                let mut end = on_line(line, link, &mut burst);
                // Take whatever else is already buffered before waiting again.
                for _ in 0..256 {
                    if end.is_some() || burst.bytes >= BURST_BYTES {
                        break;
                    }
                    let Some(line) = link.reader.next().now_or_never() else { break };
                    end = on_line(line, link, &mut burst);
                }
                // What came before a bad frame still counts.
                match tell(burst, seat, hub).await {
                    Ok(rest) => waiting = rest,
                    Err(()) => return End::Bye("closed"),
                }
                if let Some(end) = end {
                    if let Some(rest) = waiting.take() {
                        let inflow = seat.inflow.clone().acquire_many_owned(rest.inflow()).await;
                        let Ok(inflow) = inflow else { return end };
                        let _ = say(rest, Some(inflow), seat, hub).await;
                    }
                    return end;
                }
            }
            inflow = seat.inflow.clone().acquire_many_owned(inflow), if waiting.is_some() => {
                let (Some(rest), Ok(inflow)) = (waiting.take(), inflow) else {
                    return End::Bye("closed");
                };
                if say(rest, Some(inflow), seat, hub).await.is_err() {
                    return End::Bye("closed");
                }
                // Its silence meanwhile was ours.
                last_recv = Instant::now();
            }
            _ = seat.conn.woken() => {}
            _ = link.backlog.drained.notified(), if more => {}
            _ = &mut ping => link.keep_alive(ping.as_mut(), timing.ping_after),
            _ = &mut lost, if waiting.is_none() => {
                if Link::silent(lost.as_mut(), last_recv, timing.lost_after) {
                    return End::Left(Why::Lost);
                }
            }
        }
    }
}

/// Handles one incoming line; `Some` if it ends the connection.
fn on_line(
    line: Option<Result<String, LineError>>,
    link: &mut Link,
    burst: &mut Burst,
) -> Option<End> {
    let line = match line {
        Some(Ok(line)) => line,
        None | Some(Err(LineError::Io(_))) => return Some(End::Left(Why::Lost)),
        Some(Err(e)) => return Some(alert(Alert::malformed(format_args!("received {e}")))),
    };
    let body = match link.session.open(&line) {
        Ok(Some(body)) => body,
        Ok(None) => return None,
        Err(e) => return Some(alert(e)),
    };
    match body {
        Body::Msg {
            id, text, sent_at, ..
        } => {
            burst.bytes += weight(text.len());
            let message = Message {
                id,
                text,
                sent_at,
                from: None,
                name: None,
            };
            burst.msgs.push((message, link.ciphertext(&line)));
        }
        Body::Msgs { msgs } => {
            burst.bytes += msgs.iter().map(|m| weight(m.text.len())).sum::<usize>();
            let token = link.ciphertext(&line);
            burst.msgs.extend(msgs.into_iter().map(|m| {
                let message = Message {
                    from: None,
                    name: None,
                    ..m
                };
                (message, token.clone())
            }));
        }
        Body::Ack { of, .. } => burst.acks.push(of),
        Body::Acks { ids, .. } => burst.acks.extend(ids),
        Body::Typing { active, .. } => burst.typing = Some(active),
        Body::Ping => {
            link.send(&Body::Pong);
        }
        Body::Bye { .. } => return Some(End::Left(Why::Bye)),
        // Nothing a member sends the server.
        Body::Pong
        | Body::Ready
        | Body::Roster { .. }
        | Body::Joined(_)
        | Body::Left { .. }
        | Body::Delivered { .. } => {}
    }
    None
}

/// A security alert ends the connection: the others see a lost
/// connection, the server's window what it was.
fn alert(alert: Alert) -> End {
    End::Left(Why::Other(format!("security alert: {alert}")))
}

/// Tells the hub what a read burst said: its acks at once, its messages
/// (and typing after them) once the member's inflow has room for them.
/// The burst back if it has not yet.
async fn tell(
    mut burst: Burst,
    seat: &Seat,
    hub: &mpsc::Sender<ToHub>,
) -> Result<Option<Burst>, ()> {
    if !burst.acks.is_empty() {
        let acked = ToHub::Acked {
            member: seat.member.clone(),
            conn: seat.conn.id,
            ids: std::mem::take(&mut burst.acks),
        };
        hub.send(acked).await.map_err(|_| ())?;
    }
    let inflow = if burst.msgs.is_empty() {
        None
    } else {
        match seat.inflow.clone().try_acquire_many_owned(burst.inflow()) {
            Ok(inflow) => Some(inflow),
            Err(TryAcquireError::NoPermits) => return Ok(Some(burst)),
            Err(TryAcquireError::Closed) => return Err(()),
        }
    };
    say(burst, inflow, seat, hub).await.map(|()| None)
}

/// Tells the hub a burst's messages, with their share of the inflow, and
/// its typing.
async fn say(
    burst: Burst,
    inflow: Option<OwnedSemaphorePermit>,
    seat: &Seat,
    hub: &mpsc::Sender<ToHub>,
) -> Result<(), ()> {
    let member = || seat.member.clone();
    if let Some(inflow) = inflow {
        let said = ToHub::Said {
            member: member(),
            msgs: burst.msgs,
            inflow,
        };
        hub.send(said).await.map_err(|_| ())?;
    }
    if let Some(active) = burst.typing {
        let typing = ToHub::Typing {
            member: member(),
            active,
        };
        hub.send(typing).await.map_err(|_| ())?;
    }
    Ok(())
}

/// Seals what the mailbox holds for this connection while the socket
/// keeps up ([`SEND_AHEAD`]): every frame, and messages. The server's own
/// messages it sent, with their tokens, for [`crate::ChatEvent::Sent`].
fn pump(link: &mut Link, seat: &Seat, more: &mut bool) -> Vec<(String, Ciphertext)> {
    let version = link.session.version();
    let most = if version >= 2 { MAX_BATCH } else { 1 };
    let mut own = Vec::new();
    loop {
        let (frames, batch) = {
            let mut inbox = seat.mailbox.lock();
            if !inbox.serves(seat.conn.id) {
                // No longer the connection serving it: the hub ends us.
                *more = false;
                return own;
            }
            // What the socket has not taken waits in the mailbox, where
            // frames are bounded (and typing states replace each other).
            let keeps_up = link.backlog() < SEND_AHEAD;
            let frames = if keeps_up {
                inbox.take_frames()
            } else {
                Vec::new()
            };
            let batch = if keeps_up {
                inbox.take_unsent(most, MAX_BATCH_TEXT_BYTES)
            } else {
                Vec::new()
            };
            *more = inbox.has_unsent() || inbox.has_frames();
            (frames, batch)
        };
        for frame in frames {
            send_control(link, frame);
        }
        if batch.is_empty() {
            return own;
        }
        let named = version >= PROTO_ROOMS;
        let refs: Vec<MessageRef> = batch
            .iter()
            .map(|m| {
                let mut r = MessageRef::of(m);
                if !named {
                    (r.from, r.name) = (None, None);
                }
                r
            })
            .collect();
        let size = batch.iter().map(|m| m.text.len() + 96).sum();
        let mut refs = refs;
        let token = if refs.len() == 1 {
            let msg = refs.remove(0);
            link.session.seal_any(&Outgoing::Msg { msg }, size)
        } else {
            link.session.seal_any(&Outgoing::Msgs { msgs: refs }, size)
        };
        let token = link.queue(token);
        let mut ciphertext = link.ciphertext(&token);
        for m in &batch {
            if m.from.as_ref().is_some_and(|s| s.member == seat.me) {
                own.push((m.id.clone(), ciphertext.take()));
            }
        }
    }
}

/// Seals one control frame (or several: a batch over the frame limits)
/// in the form the session's version knows.
fn send_control(link: &mut Link, frame: Control) {
    let version = link.session.version();
    match frame {
        Control::Acks { ids, to } => {
            if version < 2 {
                for of in ids {
                    link.send(&Body::Ack { of, to: None });
                }
                return;
            }
            let to = to.filter(|_| version >= PROTO_ROOMS);
            let token = match ids.as_slice() {
                [of] => link.session.seal_any(&Outgoing::Ack { of, to }, 0),
                _ => link
                    .session
                    .seal_any(&Outgoing::Acks { ids: &ids, to }, ids.len() * 25),
            };
            link.queue(token);
        }
        Control::Typing { active, from } => {
            link.send(&Body::Typing { active, from });
        }
        Control::Joined(entry) => {
            link.send(&Body::Joined(entry));
        }
        Control::Left { member, why } => {
            link.send(&Body::Left {
                member,
                why: why.to_owned(),
            });
        }
        Control::Delivered { ids, by } => {
            link.send(&Body::Delivered { ids, by });
        }
    }
}
