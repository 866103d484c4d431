//! A live session over one TCP connection, and the loop that drives it.
//!
//! Reading and writing are separate tasks so that a peer that stops reading
//! can never stop us from reading (two sides blocked on full send buffers
//! would deadlock). The reader decrypts and checks; a small writer task only
//! batches lines into the socket.

use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep, sleep_until, timeout};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::{LineCodec, LineError, SESSION_LINE_MAX};
use crate::commands::Commands;
use crate::config::Timing;
use crate::event::{ChatEvent, Ciphertext, ClientEvent, Command, Ended, Peer, Weight};
use crate::outbox::{Outbox, Pending};
use crate::payload::{
    ACK_TEXT_BYTES, Body, MAX_BATCH, MAX_BATCH_TEXT_BYTES, MAX_REASON_CHARS, Message, MessageRef,
    Outgoing, PROTO_ROOMS, weight,
};
use crate::session::{Alert, Session};

pub(crate) mod room;
#[cfg(test)]
mod room_frames;

pub(crate) use room::{Delivery, Room};

pub(crate) type Reader = FramedRead<OwnedReadHalf, LineCodec>;
pub(crate) type Writer = FramedWrite<OwnedWriteHalf, LineCodec>;

/// The app dropped its event receiver: nobody is listening, stop.
#[derive(Debug)]
pub(crate) struct Gone;

/// Bytes of events (their texts and tokens, see [`Weight`]) the
/// engine queues for the app. The channel also holds at most its capacity
/// in events, but 256 maximal messages with their tokens would be hundreds
/// of megabytes: an app that falls behind a key holder flooding it must not
/// pay for that in memory. One event larger than this still goes through,
/// alone.
pub const EVENT_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// The engine's way to report, with backpressure: if the window falls behind,
/// the engine stops reading the socket and TCP slows the peer down. What
/// waits in the channel is bounded in events (its capacity) and in bytes
/// ([`EVENT_QUEUE_BYTES`]), and the app reads a plain `mpsc::Receiver`.
/// `E` is the program's event type: each engine reports only what its
/// program can receive.
#[derive(Debug)]
pub(crate) struct Emitter<E> {
    tx: mpsc::Sender<E>,
    queued: Arc<Mutex<Queued>>,
}

// Derived `Clone` would ask `E: Clone` of a channel's sender, which needs none.
impl<E> Clone for Emitter<E> {
    fn clone(&self) -> Emitter<E> {
        Emitter {
            tx: self.tx.clone(),
            queued: self.queued.clone(),
        }
    }
}

/// The weights of the events [`Emitter::emit`] has put in the channel that
/// may still be there, oldest first. The receiver does not say what it
/// took, but the channel says how many events it holds, and it is FIFO: if
/// it holds fewer than we count, our oldest ones are gone. (Reports also
/// take room in it, which can only make us count too many bytes, never too
/// few.)
#[derive(Debug, Default)]
struct Queued {
    weights: VecDeque<usize>,
    bytes: usize,
}

impl Queued {
    /// Forgets what the receiver has taken, given how many events the
    /// channel holds.
    fn taken(&mut self, in_channel: usize) {
        while self.weights.len() > in_channel {
            if let Some(weight) = self.weights.pop_front() {
                self.bytes -= weight;
            }
        }
    }
}

impl<E: Weight> Emitter<E> {
    pub fn new(tx: mpsc::Sender<E>) -> Emitter<E> {
        Emitter {
            tx,
            queued: Arc::default(),
        }
    }

    /// Queues `event` for the app, in order, once the queue has room for
    /// it in events and in bytes.
    pub async fn emit(&self, event: impl Into<E>) -> Result<(), Gone> {
        let event = event.into();
        let weight = event.weight();
        let capacity = self.tx.max_capacity();
        loop {
            let ours = {
                let mut queued = self.lock();
                queued.taken(capacity - self.tx.capacity());
                let ours = queued.weights.len();
                if ours == 0 || queued.bytes + weight <= EVENT_QUEUE_BYTES {
                    break;
                }
                ours
            };
            // Room for all but `ours - 1` events: the receiver has taken at
            // least one more of ours. The permits go back when dropped.
            self.tx
                .reserve_many(capacity + 1 - ours)
                .await
                .map_err(|_| Gone)?;
        }
        let permit = self.tx.reserve().await.map_err(|_| Gone)?;
        permit.send(event);
        let mut queued = self.lock();
        queued.weights.push_back(weight);
        queued.bytes += weight;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        // The lock is never held across a panic that could poison it.
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// For what strangers can cause at will (a rejected connection): never
    /// waits, and is dropped while the window is behind, so a flood of
    /// connections cannot make the server wait on its window.
    pub fn report(&self, event: E) {
        let _ = self.tx.try_send(event);
    }

    /// Resolves when the app has dropped its receiver.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// Bytes of our own messages queued for the socket before we wait for the
/// writer to catch up: the rest of the outbox stays in the outbox, so a
/// long outbox re-sent at once never piles up in memory twice.
pub const SEND_AHEAD: usize = 4 * 1024 * 1024;

/// Bytes of our own messages sent and not yet acknowledged, at most (each
/// counting its text and [`crate::payload::MESSAGE_OVERHEAD`]; one message
/// may pass it): the rest waits in the outbox for acks. A
/// room's server acknowledges a member's message once it relays it, so a
/// sender goes at the room's pace instead of filling the server, which
/// reads a member no further than its inflow
/// ([`crate::server::limits::MEMBER_INFLOW_BYTES`]).
pub const SEND_WINDOW: usize = 512 * 1024;

// Held acks never make a sender wait: they cover less than its window.
const _: () = assert!(crate::payload::ACK_TEXT_BYTES < SEND_WINDOW / 4);

/// Our messages sent on this connection and not yet acknowledged: the
/// first `count` of the outbox, of `bytes` ([`weight`]: text and overhead).
#[derive(Debug, Default)]
struct InFlight {
    count: usize,
    bytes: usize,
}

/// Bytes queued for the socket beyond which the peer is taken to have
/// stopped reading: what it makes us send (acks, pongs) is not allowed to
/// pile up without bound. The session ends as a lost connection.
pub const BACKLOG_MAX: usize = 32 * 1024 * 1024;

/// Lines sealed for the socket and not yet written, kept as one buffer:
/// a backlog of many small frames (pongs a peer never reads) costs its
/// bytes, not an allocation each, and is given back once written.
///
/// A line queued while nothing waits is written at once, by whoever
/// queues it, as far as the socket takes it: a room server sealing a
/// message for 49 members then sends each copy as it is sealed, rather
/// than sealing all 49 before its writer tasks run (their members' CPUs
/// would wait for the last seal).
#[derive(Debug)]
pub(crate) struct Backlog {
    socket: OwnedWriteHalf,
    state: Mutex<Unwritten>,
    /// Signalled when lines are added or the link closes.
    added: Notify,
    /// Signalled after each write, so the sender can queue more.
    pub(crate) drained: Notify,
}

#[derive(Debug, Default)]
struct Unwritten {
    /// Lines waiting for the writer, each ended by LF.
    lines: Vec<u8>,
    /// Bytes the writer has taken and is writing.
    writing: usize,
    /// No more lines: write what is left and close.
    closed: bool,
}

/// A written buffer at most this large is kept for the next lines; a
/// larger one (a backlog that built up) is freed.
const REUSE_BUFFER_MAX: usize = 1024 * 1024;

impl Backlog {
    fn new(socket: OwnedWriteHalf) -> Backlog {
        Backlog {
            socket,
            state: Mutex::default(),
            added: Notify::new(),
            drained: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Unwritten> {
        // The lock is never held across a panic that could poison it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one line (without its LF), or writes it at once when
    /// nothing is queued or being written (the lock keeps the writer
    /// task out meanwhile, so lines never pass each other).
    fn push(&self, line: &str) {
        let mut state = self.lock();
        let mut from = 0;
        if state.lines.is_empty() && state.writing == 0 && !state.closed {
            let bufs = [IoSlice::new(line.as_bytes()), IoSlice::new(b"\n")];
            // An error is the writer's to meet: the line waits for it.
            from = self.socket.try_write_vectored(&bufs).unwrap_or(0);
            if from > line.len() {
                return;
            }
        }
        state.lines.reserve(line.len() + 1 - from);
        state.lines.extend_from_slice(&line.as_bytes()[from..]);
        state.lines.push(b'\n');
        drop(state);
        self.added.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.added.notify_one();
    }

    fn bytes(&self) -> usize {
        let state = self.lock();
        state.lines.len() + state.writing
    }
}

/// Received messages not yet acknowledged (protocol 2). They wait for the
/// ack delay ([`Timing::ack_delay`]) from the first of them, so that under
/// a stream of messages one `acks` frame carries many, as TCP delays its
/// ACKs.
struct HeldAcks {
    since: Instant,
    ids: Vec<String>,
    /// The text of the messages they acknowledge, in bytes.
    text: usize,
}

/// An established session and its connection.
pub(crate) struct Link {
    pub(crate) reader: Reader,
    pub(crate) backlog: Arc<Backlog>,
    writer: Option<JoinHandle<()>>,
    pub(crate) session: Session,
    pub peer: Peer,
    pub(crate) last_sent: Instant,
    /// Whether events carry the tokens (the app may show ciphertext).
    tokens: bool,
    /// Protocol 2: acks not sent yet, if any.
    held: Option<HeldAcks>,
    /// A client's view of the room it is in; `None` on the server, which
    /// takes no room frames from a client.
    pub(crate) room: Option<Room>,
}

impl Link {
    /// Takes over a connection whose handshake is complete (everything the
    /// handshake sent has been flushed).
    pub fn new(mut reader: Reader, writer: Writer, session: Session, peer: Peer) -> Link {
        reader.decoder_mut().set_max(SESSION_LINE_MAX);
        let backlog = Arc::new(Backlog::new(writer.into_inner()));
        Link {
            reader,
            writer: Some(tokio::spawn(write_lines(backlog.clone()))),
            backlog,
            session,
            peer,
            last_sent: Instant::now(),
            tokens: true,
            held: None,
            room: None,
        }
    }

    /// A client's link: room frames from the server are taken (protocol
    /// 3), and a two-person chat gets a roster of two.
    pub fn in_room(mut self, room: Room) -> Link {
        self.room = Some(room);
        self
    }

    /// Whether events carry their tokens ([`crate::Config::tokens`]).
    pub fn with_tokens(mut self, tokens: bool) -> Link {
        self.tokens = tokens;
        self
    }

    pub fn offset_secs(&self) -> i64 {
        self.session.offset_secs()
    }

    /// The keepalive timer `ping` fired: sends `ping` if nothing went out
    /// for `after`, and sets the timer for the next one. (The timer is
    /// armed once and moved only when it fires: moving it on every line
    /// would take the timer wheel's lock per message.)
    pub(crate) fn keep_alive(&mut self, ping: Pin<&mut Sleep>, after: Duration) {
        let due = self.last_sent + after;
        if due <= Instant::now() {
            self.send(&Body::Ping);
            ping.reset(self.last_sent + after);
        } else {
            ping.reset(due);
        }
    }

    /// The silence timer `lost` fired: whether nothing was heard since
    /// `last_recv` for `after` (the peer is lost); if something was, the
    /// timer moves to when that will be. (Armed once, moved only when it
    /// fires, like [`Link::keep_alive`]'s.)
    pub(crate) fn silent(lost: Pin<&mut Sleep>, last_recv: Instant, after: Duration) -> bool {
        let due = last_recv + after;
        if due <= Instant::now() {
            return true;
        }
        lost.reset(due);
        false
    }

    /// Seals and queues a frame; returns its token.
    pub(crate) fn send(&mut self, body: &Body) -> String {
        let token = self.session.seal(body);
        self.queue(token)
    }

    /// Queues a sealed frame; returns its token.
    pub(crate) fn queue(&mut self, token: String) -> String {
        // If the writer has stopped, the reader sees the connection end.
        self.backlog.push(&token);
        self.last_sent = Instant::now();
        token
    }

    /// What the events of the messages in `token` carry of it: one copy,
    /// shared (the first event counts it, the others take
    /// [`Ciphertext::again`]).
    pub(crate) fn ciphertext(&self, token: &str) -> Ciphertext {
        if self.tokens {
            Ciphertext::of(token.into())
        } else {
            Ciphertext::default()
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn backlog(&self) -> usize {
        self.backlog.bytes()
    }

    /// Sends the outbox's messages after those in flight, while the writer
    /// keeps up and within the send window; returns their events. Under
    /// protocol 2, messages waiting together go in one `msgs` frame;
    /// nothing waits for more to come.
    fn pump(&mut self, outbox: &Outbox, flight: &mut InFlight) -> Vec<ChatEvent> {
        let mut sent = Vec::new();
        while self.backlog() < SEND_AHEAD
            && flight.bytes < SEND_WINDOW
            && flight.count < outbox.len()
        {
            let batch: Vec<&Pending> = self.batch(outbox, flight.count).collect();
            let size = batch.iter().map(|m| m.text.len() + 64).sum();
            let body = match batch.as_slice() {
                [m] => Outgoing::Msg {
                    msg: MessageRef::of(m),
                },
                _ => Outgoing::Msgs {
                    msgs: batch.iter().map(|m| MessageRef::of(m)).collect(),
                },
            };
            let token = self.session.seal_any(&body, size);
            let token = self.queue(token);
            let mut ciphertext = self.ciphertext(&token);
            for m in &batch {
                sent.push(ChatEvent::Sent {
                    id: m.id.clone(),
                    token: ciphertext.take(),
                });
            }
            flight.count += batch.len();
            flight.bytes += batch.iter().map(|m| weight(m.text.len())).sum::<usize>();
        }
        sent
    }

    /// The messages from `from` on that go in the next frame: one under
    /// protocol 1; under 2, as many as the batch limits allow.
    fn batch<'o>(&self, outbox: &'o Outbox, from: usize) -> impl Iterator<Item = &'o Pending> {
        let most = if self.session.version() >= 2 {
            MAX_BATCH
        } else {
            1
        };
        let mut text = 0;
        (from..from + most)
            .map_while(|i| outbox.get(i))
            .enumerate()
            .take_while(move |(n, m)| {
                text += m.text.len();
                *n == 0 || text <= MAX_BATCH_TEXT_BYTES
            })
            .map(|(_, m)| m)
    }

    /// Acknowledges a received message of `text` bytes: at once under
    /// protocol 1; under 2 with the others held, once the ack delay has
    /// passed since the first of them came ([`Link::acks_due`]), or a
    /// frame's worth of ids or [`ACK_TEXT_BYTES`] of text is held.
    fn ack(&mut self, id: String, text: usize) {
        if self.session.version() < 2 {
            self.send(&Body::Ack { of: id, to: None });
            return;
        }
        let held = self.held.get_or_insert_with(|| HeldAcks {
            since: Instant::now(),
            ids: Vec::new(),
            text: 0,
        });
        held.ids.push(id);
        held.text += text;
        if held.ids.len() >= MAX_BATCH || held.text >= ACK_TEXT_BYTES {
            self.send_acks();
        }
    }

    /// When the held acks are to be sent, if any are held.
    pub(crate) fn acks_due(&self, delay: Duration) -> Option<Instant> {
        self.held.as_ref().map(|held| held.since + delay)
    }

    /// Sends the held acks, as few frames as the limits allow.
    fn send_acks(&mut self) {
        let Some(HeldAcks { ids, .. }) = self.held.take() else {
            return;
        };
        for chunk in ids.chunks(MAX_BATCH) {
            let token = match chunk {
                [id] => self
                    .session
                    .seal_any(&Outgoing::Ack { of: id, to: None }, 0),
                _ => self.session.seal_any(
                    &Outgoing::Acks {
                        ids: chunk,
                        to: None,
                    },
                    chunk.len() * 25,
                ),
            };
            self.queue(token);
        }
    }

    /// Sends the held acks and `bye` (if given), lets the writer flush for
    /// a moment, and closes.
    pub async fn close(mut self, bye: Option<&str>) {
        self.send_acks();
        if let Some(reason) = bye {
            self.send(&Body::Bye {
                reason: reason.to_owned(),
            });
        }
        self.backlog.close();
        if let Some(writer) = self.writer.take() {
            let abort = writer.abort_handle();
            if timeout(Duration::from_secs(1), writer).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
    }
}

/// Writes whatever lines are queued, all at once, until the link closes.
async fn write_lines(backlog: Arc<Backlog>) {
    let mut spare = Vec::new();
    loop {
        let taken = {
            let mut state = backlog.lock();
            if state.lines.is_empty() {
                if state.closed {
                    break;
                }
                None
            } else {
                let lines = std::mem::replace(&mut state.lines, std::mem::take(&mut spare));
                state.writing = lines.len();
                Some(lines)
            }
        };
        let Some(mut lines) = taken else {
            backlog.added.notified().await;
            continue;
        };
        if write_all(&backlog.socket, &lines).await.is_err() {
            return;
        }
        lines.clear();
        if lines.capacity() <= REUSE_BUFFER_MAX {
            spare = lines;
        }
        backlog.lock().writing = 0;
        backlog.drained.notify_one();
    }
    // Everything is written: the peer reads the end of the stream.
    let stream: &tokio::net::TcpStream = backlog.socket.as_ref();
    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write);
}

/// Writes all of `bytes` to a socket shared with [`Backlog::push`].
async fn write_all(socket: &OwnedWriteHalf, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        socket.writable().await?;
        match socket.try_write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How [`drive`] ended.
pub(crate) enum Outcome<T> {
    /// The session is over; the link should be closed.
    Ended(Ended),
    /// Something from `interrupt` arrived (the server: a newer session).
    Interrupted(T),
    /// The user ended this session; the caller says `bye`.
    HungUp,
    /// The user closed the chat and the outbox is delivered (or the peer
    /// made no progress with it for the grace period), or the user quit:
    /// the caller says `bye`.
    Closed,
    Gone,
}

/// Runs a live session until it ends: sends what the user types, answers
/// pings, acknowledges and reports messages, and watches the peer's silence.
/// Re-sends the outbox first.
pub(crate) async fn drive<T>(
    link: &mut Link,
    outbox: &mut Outbox,
    cmds: &mut Commands,
    events: &Emitter<ClientEvent>,
    timing: &Timing,
    interrupt: &mut mpsc::Receiver<T>,
) -> Outcome<T> {
    match drive_inner(link, outbox, cmds, events, timing, interrupt).await {
        Ok(outcome) => outcome,
        Err(Gone) => Outcome::Gone,
    }
}

async fn drive_inner<T>(
    link: &mut Link,
    outbox: &mut Outbox,
    cmds: &mut Commands,
    events: &Emitter<ClientEvent>,
    timing: &Timing,
    interrupt: &mut mpsc::Receiver<T>,
) -> Result<Outcome<T>, Gone> {
    // Everything in the outbox goes out again, first and in order; what is
    // typed meanwhile joins the end of the outbox and follows.
    let mut flight = InFlight::default();
    let resent = outbox.len();
    let first = link.pump(outbox, &mut flight);
    events
        .emit(ClientEvent::Connected {
            peer: link.peer.clone(),
            resent,
        })
        .await?;
    // A two-person chat (protocol 1 or 2) has a roster too: the server
    // and us. In a room the server's `roster` frame comes first.
    if link.session.version() < PROTO_ROOMS
        && let Some(room) = &mut link.room
    {
        events.emit(room.pair(&link.peer)).await?;
    }
    let offset = link.offset_secs();
    if offset.unsigned_abs() > 60 {
        events.emit(ChatEvent::ClockOffset { secs: offset }).await?;
    }
    for event in first {
        events.emit(event).await?;
    }

    let mut last_recv = Instant::now();
    // While closing: when to give up on a peer that acknowledges nothing.
    let mut give_up: Option<Instant> = cmds.closing.then(|| Instant::now() + timing.close_grace);
    let mut interrupt_open = true;
    // The two liveness timers are armed once and moved only when they fire
    // early: moving them on every line would take the timer wheel's lock
    // per message, which costs more than the encryption.
    let ping = sleep_until(link.last_sent + timing.ping_after);
    let lost = sleep_until(last_recv + timing.lost_after);
    // Moved once per set of held acks, not per message.
    let ack = sleep_until(last_recv);
    tokio::pin!(ping, lost, ack);
    loop {
        if give_up.is_some() && outbox.is_empty() {
            return Ok(Outcome::Closed);
        }
        let acks_due = link.acks_due(timing.ack_delay);
        if let Some(due) = acks_due
            && ack.deadline() != due
        {
            ack.as_mut().reset(due);
        }
        let give_up_at = give_up.unwrap_or(last_recv + timing.lost_after);
        tokio::select! {
            line = link.reader.next() => {
                last_recv = Instant::now();
                let before = outbox.len();
                if let Some(ended) = on_line(line, link, outbox, &mut flight, events).await? {
                    return Ok(Outcome::Ended(ended));
                }
                // Take whatever else is already buffered before waiting again.
                for _ in 0..256 {
                    let Some(line) = link.reader.next().now_or_never() else { break };
                    if let Some(ended) = on_line(line, link, outbox, &mut flight, events).await? {
                        return Ok(Outcome::Ended(ended));
                    }
                }
                if link.backlog() > BACKLOG_MAX {
                    return Ok(Outcome::Ended(Ended::Lost(STOPPED_READING.into())));
                }
                // Acks open the send window.
                for event in link.pump(outbox, &mut flight) {
                    events.emit(event).await?;
                }
                // A peer still acknowledging is given more time to finish.
                if give_up.is_some() && outbox.len() < before {
                    give_up = Some(Instant::now() + timing.close_grace);
                }
            }
            cmd = cmds.recv() => {
                // Likewise take the commands already queued.
                let mut next = Some(cmd);
                let mut budget = 256;
                while let Some(cmd) = next.take() {
                    match on_command(cmd, link, outbox) {
                        Step::Go => {}
                        Step::HangUp => return Ok(Outcome::HungUp),
                        Step::Quit => return Ok(Outcome::Closed),
                    }
                    budget -= 1;
                    if budget > 0 {
                        next = cmds.try_recv();
                    }
                }
                if cmds.closing && give_up.is_none() {
                    give_up = Some(Instant::now() + timing.close_grace);
                }
                for event in link.pump(outbox, &mut flight) {
                    events.emit(event).await?;
                }
            }
            _ = link.backlog.drained.notified(), if flight.count < outbox.len() => {
                for event in link.pump(outbox, &mut flight) {
                    events.emit(event).await?;
                }
            }
            _ = events.closed() => return Err(Gone),
            _ = &mut ping => link.keep_alive(ping.as_mut(), timing.ping_after),
            _ = &mut ack, if acks_due.is_some() => link.send_acks(),
            _ = &mut lost => {
                if Link::silent(lost.as_mut(), last_recv, timing.lost_after) {
                    let secs = timing.lost_after.as_secs_f32();
                    return Ok(Outcome::Ended(Ended::Lost(format!("nothing heard from the other side for {secs} s"))));
                }
            }
            _ = sleep_until(give_up_at), if give_up.is_some() => return Ok(Outcome::Closed),
            next = interrupt.recv(), if interrupt_open => match next {
                Some(next) => return Ok(Outcome::Interrupted(next)),
                None => interrupt_open = false,
            },
        }
    }
}

/// Why a session ends when the peer's backlog passes [`BACKLOG_MAX`].
const STOPPED_READING: &str = "the other side stopped reading";

/// What the drive loop does after a command.
enum Step {
    Go,
    HangUp,
    Quit,
}

/// Handles one command from the window. Messages join the outbox; the
/// loop sends them.
fn on_command(cmd: Command, link: &mut Link, outbox: &mut Outbox) -> Step {
    match cmd {
        Command::Send {
            id,
            text,
            sent_at,
            hold,
        } => outbox.push(Pending::ours(id, text, sent_at), hold),
        Command::Typing(active) => {
            link.send(&Body::Typing { active, from: None });
        }
        // Closing is noted by `Commands` and handled by the loop.
        Command::Close => {}
        Command::HangUp => return Step::HangUp,
        Command::Quit => return Step::Quit,
    }
    Step::Go
}

/// Handles one incoming line; `Some` if it ends the session.
async fn on_line(
    line: Option<Result<String, LineError>>,
    link: &mut Link,
    outbox: &mut Outbox,
    flight: &mut InFlight,
    events: &Emitter<ClientEvent>,
) -> Result<Option<Ended>, Gone> {
    let line = match line {
        None => {
            return Ok(Some(Ended::Lost(
                "the other side closed the connection".into(),
            )));
        }
        Some(Err(LineError::Io(e))) => return Ok(Some(Ended::Lost(e.to_string()))),
        Some(Err(e)) => {
            return Ok(Some(Ended::Alert(Alert::malformed(format_args!(
                "received {e}"
            )))));
        }
        Some(Ok(line)) => line,
    };
    let body = match link.session.open(&line) {
        Ok(Some(body)) => body,
        Ok(None) => return Ok(None),
        Err(alert) => return Ok(Some(Ended::Alert(alert))),
    };
    match body {
        Body::Msg {
            id,
            text,
            sent_at,
            from,
            name,
        } => {
            let message = Message {
                id,
                text,
                sent_at,
                from,
                name,
            };
            let mut token = link.ciphertext(&line);
            received(message, &mut token, link, outbox, events).await?;
        }
        Body::Msgs { msgs } => {
            let mut token = link.ciphertext(&line);
            for message in msgs {
                received(message, &mut token, link, outbox, events).await?;
            }
        }
        Body::Ack { of, to } => acked(of, to, link, outbox, flight, events).await?,
        Body::Acks { ids, to } => {
            for id in ids {
                acked(id, to, link, outbox, flight, events).await?;
            }
        }
        Body::Typing { active, from } => {
            let from = match (&link.room, from) {
                (Some(room), Some(member)) => match room.name_of(&member) {
                    Some(name) => name.to_owned(),
                    // Someone the roster never named.
                    None => return Ok(None),
                },
                _ => link.peer.name.clone(),
            };
            events.emit(ChatEvent::Typing { from, active }).await?
        }
        Body::Ping => {
            link.send(&Body::Pong);
        }
        Body::Bye { reason } => return Ok(Some(goodbye(link, reason))),
        Body::Roster { you, members } => {
            if let Some(room) = &mut link.room {
                events.emit(room.roster(&you, members)).await?;
            }
        }
        Body::Joined(entry) => {
            if let Some(event) = link.room.as_mut().and_then(|room| room.joined(entry)) {
                events.emit(event).await?;
            }
        }
        Body::Left { member, why } => {
            let left = link.room.as_mut().and_then(|room| room.left(&member, &why));
            if let Some(event) = left {
                events.emit(event).await?;
            }
        }
        Body::Delivered { ids, by } => {
            if let Some(room) = &mut link.room {
                for event in room.delivered(&ids, &by) {
                    events.emit(event).await?;
                }
            }
        }
        Body::Pong | Body::Ready => {}
    }
    Ok(None)
}

/// The peer's `bye`. A room server's reason says whether the client may
/// come back (PROTOCOL.md, "Rooms"): only `slow` is not the end.
fn goodbye(link: &Link, reason: String) -> Ended {
    let name = link.peer.name.clone();
    if link.room.is_some() && link.session.version() >= PROTO_ROOMS {
        match reason.as_str() {
            "new-key" => return Ended::NewKey { name },
            "removed" => return Ended::Removed,
            "slow" => return Ended::Slow,
            "replaced" => return Ended::Replaced,
            _ => {}
        }
    }
    let reason = reason.chars().take(MAX_REASON_CHARS).collect();
    Ended::PeerLeft { name, reason }
}

/// A message from the peer, in the frame `token`: acknowledged every time,
/// shown the first time its id is seen. In a room it names its sender;
/// one that does not is the server's own.
async fn received(
    Message {
        id,
        text,
        sent_at,
        name,
        ..
    }: Message,
    token: &mut Ciphertext,
    link: &mut Link,
    outbox: &mut Outbox,
    events: &Emitter<ClientEvent>,
) -> Result<(), Gone> {
    link.ack(id.clone(), text.len());
    if outbox.first_sight(&id) {
        let from = match name {
            Some(name) if link.room.is_some() => name,
            _ => link.peer.name.clone(),
        };
        events
            .emit(ChatEvent::Received {
                id,
                from,
                text,
                sent_at,
                token: token.take(),
            })
            .await?;
    }
    Ok(())
}

/// Our message `id` was acknowledged: it leaves the outbox (if it was
/// there: a re-sent copy is acknowledged twice). In a room the server
/// acknowledges it with `to`, the members it relays it to: their
/// delivery marks follow.
async fn acked(
    id: String,
    to: Option<u32>,
    link: &mut Link,
    outbox: &mut Outbox,
    flight: &mut InFlight,
    events: &Emitter<ClientEvent>,
) -> Result<(), Gone> {
    if let Some((at, len)) = outbox.ack(&id) {
        if at < flight.count {
            flight.count -= 1;
            flight.bytes -= weight(len);
        }
        let event: ClientEvent = match (to, &mut link.room) {
            (Some(to), Some(room)) => {
                room.relayed(&id, to);
                ChatEvent::Relayed {
                    id,
                    to: to as usize,
                }
                .into()
            }
            _ => ClientEvent::Acked { id },
        };
        events.emit(event).await?;
    }
    Ok(())
}

/// Waits for `work` while the client is not connected: messages typed
/// meanwhile go to the outbox. `None` if the engine
/// should stop: the user quit, nobody listens to the events any more, or
/// the user is closing and, with `stop_when_delivered`, nothing is left
/// to deliver.
pub(crate) async fn while_offline<F: Future>(
    work: F,
    cmds: &mut Commands,
    outbox: &mut Outbox,
    events: &Emitter<ClientEvent>,
    stop_when_delivered: bool,
) -> Option<F::Output> {
    tokio::pin!(work);
    loop {
        if cmds.closing && stop_when_delivered && outbox.is_empty() {
            return None;
        }
        tokio::select! {
            done = &mut work => return Some(done),
            cmd = cmds.recv() => match cmd {
                Command::Send { id, text, sent_at, hold } => {
                    outbox.push(Pending::ours(id, text, sent_at), hold);
                }
                // Nobody to tell or hang up on; closing is noted by
                // `Commands`.
                Command::Typing(_) | Command::HangUp | Command::Close => {}
                Command::Quit => return None,
            },
            _ = events.closed() => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::task::unconstrained;

    // `unconstrained`: tokio's cooperative budget would otherwise make an
    // emit that has room look blocked after 128 of them.

    fn received(n: usize, text_bytes: usize) -> ChatEvent {
        ChatEvent::Received {
            id: n.to_string(),
            from: "mallory".into(),
            text: "x".repeat(text_bytes),
            sent_at: 0,
            token: Ciphertext::default(),
        }
    }

    fn number(event: ClientEvent) -> usize {
        match event {
            ClientEvent::Chat(ChatEvent::Received { id, .. }) => id.parse().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn heavy_events_wait_for_room_in_bytes_and_keep_their_order() {
        let (tx, mut rx) = mpsc::channel(256);
        let emitter = Emitter::<ClientEvent>::new(tx);
        let mib = 1024 * 1024;
        let fit = EVENT_QUEUE_BYTES / (mib + 1024);
        for n in 0..fit {
            unconstrained(emitter.emit(received(n, mib)))
                .now_or_never()
                .unwrap()
                .unwrap();
        }
        let mut next = Box::pin(unconstrained(emitter.emit(received(fit, mib))));
        assert!(
            (&mut next).now_or_never().is_none(),
            "queued past the bound"
        );
        assert_eq!(number(rx.recv().await.unwrap()), 0);
        next.await.unwrap();
        for n in 1..=fit {
            assert_eq!(number(rx.recv().await.unwrap()), n);
        }
    }

    #[tokio::test]
    async fn an_event_larger_than_the_bound_goes_through_alone() {
        let (tx, mut rx) = mpsc::channel(256);
        let emitter = Emitter::<ClientEvent>::new(tx);
        emitter.emit(received(0, 10)).await.unwrap();
        let mut huge = Box::pin(unconstrained(emitter.emit(received(1, EVENT_QUEUE_BYTES))));
        assert!((&mut huge).now_or_never().is_none());
        assert_eq!(number(rx.recv().await.unwrap()), 0);
        huge.await.unwrap();
        let mut after = Box::pin(unconstrained(emitter.emit(received(2, 10))));
        assert!((&mut after).now_or_never().is_none());
        assert_eq!(number(rx.recv().await.unwrap()), 1);
        after.await.unwrap();
        assert_eq!(number(rx.recv().await.unwrap()), 2);
    }

    #[tokio::test]
    async fn light_events_fill_the_channel() {
        let (tx, mut rx) = mpsc::channel(256);
        let emitter = Emitter::<ClientEvent>::new(tx);
        for n in 0..256 {
            unconstrained(emitter.emit(received(n, 100)))
                .now_or_never()
                .unwrap()
                .unwrap();
        }
        assert!(
            unconstrained(emitter.emit(received(256, 100)))
                .now_or_never()
                .is_none()
        );
        assert_eq!(number(rx.recv().await.unwrap()), 0);
    }

    /// Lines written at once by whoever queues them, cut short by a full
    /// socket, or left to the writer task: the peer reads them whole and
    /// in order, then the end of the stream once the backlog is closed.
    #[tokio::test]
    async fn lines_written_at_once_or_queued_arrive_whole_and_in_order() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ours, theirs) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (_read, write) = ours.unwrap().into_split();
        let backlog = Arc::new(Backlog::new(write));
        let writer = tokio::spawn(write_lines(backlog.clone()));
        // More than the socket buffers hold while the peer reads nothing.
        let lines: Vec<String> = (0..64)
            .map(|i| format!("{i:02}{}", "x".repeat(200_000)))
            .collect();
        let total: usize = lines.iter().map(|l| l.len() + 1).sum();
        for line in &lines {
            backlog.push(line);
        }
        let queued = backlog.bytes();
        assert!(queued > 0, "the socket took it all: nothing was queued");
        assert!(queued < total, "nothing was written at once");
        backlog.close();
        let mut got = String::new();
        let (mut peer, _) = theirs.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(20), peer.read_to_string(&mut got));
        read.await.expect("no end of stream after close").unwrap();
        let sent: String = lines.iter().map(|l| format!("{l}\n")).collect();
        assert!(got == sent, "{} bytes read of {total}", got.len());
        writer.await.unwrap();
    }
}
