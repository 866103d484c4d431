//! The hub: the one task that owns the room. Handshakes ask it who may
//! come in, member connections tell it what they read, the window's
//! commands come to it; it decides, relays, and reports to the window.
//!
//! It never waits on a member: what it relays goes into that member's
//! [`Mailbox`] and the member's own task sends it (sealing in that task,
//! so encryption spreads over the cores). The room goes at the pace of
//! its slowest member that keeps reading: a message that would pass a
//! connected member's queue ([`MEMBER_QUEUE_BYTES`]) is parked, with
//! everything after it, until that member has acknowledged enough; its
//! sender's acks wait with it, so senders slow down too (a client keeps
//! a send window, and the server reads a member no further than its
//! inflow). A member that holds the room up and acknowledges nothing for
//! the stall time has stopped reading, and is disconnected as slow.
//! The hub does wait on the window ([`Emitter::emit`]): a window that
//! falls behind slows the room down, as it slowed the one chat before.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::time::{Duration, Instant, sleep_until, timeout};

use super::limits::{CONTROL_MAX, HELD_QUEUE_BYTES, MEMBER_QUEUE_BYTES};
use super::mailbox::{Conn, Control, Mailbox};
use super::marks::Marks;
use super::room::{Claim, Place, Room};
use crate::commands::Commands;
use crate::config::Config;
use crate::event::{ChatEvent, Ciphertext, Command, ServerCommand, ServerEvent, Why};
use crate::handshake::ErrCode;
use crate::key::Key;
use crate::link::{Emitter, Gone};
use crate::outbox::{Pending, Seen, Sender};
use crate::payload::{Body, MAX_BATCH, MAX_TEXT_BYTES, Message, RosterEntry, clean_name, weight};

/// Messages to the hub in flight at once; senders (handshakes, member
/// connections) wait when it is full, which slows their sockets. What
/// hold is bounded apart ([`super::limits::MEMBER_INFLOW_BYTES`]).
pub(crate) const INBOX: usize = 1024;

/// A member's clock this far off ours (seconds) is worth telling the
/// server's user about (the protocol corrects for it).
const CLOCK_NOTICE_SECS: u64 = 60;

/// Messages the hub takes from its inbox in one step, when they are
/// waiting, before it sends the delivery marks they gathered ([`Marks`])
/// and reports to the window.
const STEP_MAX: usize = 64;

/// How long closing waits for member connections to write their `bye`.
const BYE_WAIT: Duration = Duration::from_secs(2);

/// What handshakes and member connections tell the hub.
#[derive(Debug)]
pub(crate) enum ToHub {
    /// May a hello with this claim have a welcome?
    Ask {
        claim: Claim,
        reply: oneshot::Sender<Result<(), ErrCode>>,
    },
    /// A connection completed its handshake.
    Arrive(Arrival),
    /// Member `member` sent these messages, each with the frame it came
    /// in (empty unless the window shows ciphertext).
    Said {
        member: String,
        msgs: Vec<(Message, Ciphertext)>,
        /// Their share of the member's inflow
        /// ([`super::limits::MEMBER_INFLOW_BYTES`]), given back as they
        /// are relayed.
        inflow: OwnedSemaphorePermit,
    },
    /// Member `member` acknowledged these messages on connection `conn`.
    Acked {
        member: String,
        conn: u64,
        ids: Vec<String>,
    },
    Typing {
        member: String,
        active: bool,
    },
    /// One of our own messages went out for the first time, in `token`.
    Sent {
        id: String,
        token: Ciphertext,
    },
    /// Connection `conn` of member `member` ended.
    Gone {
        member: String,
        conn: u64,
        why: Why,
    },
}

/// A connection that completed its handshake, asking for its place.
#[derive(Debug)]
pub(crate) struct Arrival {
    pub claim: Claim,
    /// The name it asked for, cleaned.
    pub name: String,
    pub addr: SocketAddr,
    pub version: u32,
    /// How far its clock is ahead of ours, in seconds.
    pub offset: i64,
    /// The key its handshake used: after a new key it gets no place.
    pub key: Key,
    pub reply: oneshot::Sender<Option<Seat>>,
}

/// Where an arrived connection sits: what its task serves.
#[derive(Debug)]
pub(crate) struct Seat {
    pub member: String,
    /// The server's own member id (its messages are reported as sent).
    pub me: String,
    pub conn: Arc<Conn>,
    pub mailbox: Arc<Mailbox>,
    /// Protocol 3: the first frame.
    pub roster: Option<Body>,
    /// Held until the connection's task ends, so closing can wait for
    /// its `bye` to be written.
    pub alive: mpsc::Sender<()>,
    /// What the member's messages on their way to the room may hold.
    pub inflow: Arc<Semaphore>,
}

/// A message the room took and has not relayed yet: it waits while a
/// connected member's queue has no room for it.
struct Parked {
    message: Pending,
    /// Its share of its sender's inflow, or of the server user's typed queue
    /// ([`crate::TYPED_QUEUE_BYTES`]), given back once relayed.
    _share: Option<OwnedSemaphorePermit>,
}

/// The hub's state; see the module documentation.
pub(crate) struct Hub {
    room: Room,
    chat: Arc<Config>,
    keys: watch::Sender<Key>,
    events: Emitter<ServerEvent>,
    /// Message ids seen in the room, so a re-sent copy is not relayed twice.
    seen: Seen,
    /// The server user's messages while nobody else is in the room.
    waiting: VecDeque<Parked>,
    /// Messages taken and not yet relayed, in the order they came; the
    /// first waits for room in a connected member's queue.
    parked: VecDeque<Parked>,
    /// The connected members whose full queues hold up the first parked
    /// message (each [`Hub::behind`] since it first did).
    holding: HashSet<String>,
    /// The members that held the room up, since when, and what they have
    /// acknowledged since (weighed as the member queue counts): one that
    /// takes half a member queue in that time, or gets its queue down to
    /// half, reads at a pace a room can keep, and starts afresh; one that
    /// acknowledges a trickle, just enough for the room to move a message
    /// at a time, is cut off as slow after the stall like one that
    /// acknowledges nothing.
    behind: HashMap<String, (Instant, usize)>,
    /// Acks for senders gathered in the current step, in order: each
    /// member's messages the room relayed or already had.
    acks: Vec<(String, Vec<String>)>,
    /// The server user's messages not yet reported [`ChatEvent::Sent`], and
    /// how many members each went to: [`ChatEvent::Relayed`] follows `Sent`
    /// (as it does for a client), once the message first goes out.
    unreported: HashMap<String, usize>,
    me: Arc<Sender>,
    next_conn: u64,
    /// Events to emit once the current step is done.
    out: Vec<ServerEvent>,
    /// Members over a bound, to disconnect once the current step is done.
    slow: Vec<String>,
    /// Delivery marks for senders, sent once the current step is done.
    marks: Marks,
    alive: Option<mpsc::Sender<()>>,
    alive_rx: mpsc::Receiver<()>,
    /// While closing: the last time a member acknowledged something.
    progress: Instant,
}

impl Hub {
    pub fn new(
        chat: Arc<Config>,
        keys: watch::Sender<Key>,
        events: Emitter<ServerEvent>,
        max: usize,
    ) -> Hub {
        let name = clean_name(&chat.name);
        let me = RosterEntry {
            member: chat.identity.member(),
            name: name.clone(),
            addr: None,
            since: chat.clock.now_ms(),
        };
        let (alive, alive_rx) = mpsc::channel(1);
        Hub {
            me: Arc::new(Sender {
                member: me.member.clone(),
                name,
            }),
            room: Room::new(max, me),
            chat,
            keys,
            events,
            seen: Seen::default(),
            waiting: VecDeque::new(),
            parked: VecDeque::new(),
            holding: HashSet::new(),
            behind: HashMap::new(),
            acks: Vec::new(),
            unreported: HashMap::new(),
            next_conn: 0,
            out: Vec::new(),
            slow: Vec::new(),
            marks: Marks::default(),
            alive: Some(alive),
            alive_rx,
            progress: Instant::now(),
        }
    }

    /// Runs the room until the window closes it (or goes away).
    pub async fn run(
        mut self,
        mut inbox: mpsc::Receiver<ToHub>,
        mut cmds: Commands<ServerCommand>,
    ) {
        let _ = self.serve(&mut inbox, &mut cmds).await;
        self.finish().await;
    }

    async fn serve(
        &mut self,
        inbox: &mut mpsc::Receiver<ToHub>,
        cmds: &mut Commands<ServerCommand>,
    ) -> Result<(), Gone> {
        let mut was_closing = false;
        loop {
            if cmds.closing && !was_closing {
                was_closing = true;
                self.progress = Instant::now();
            }
            let give_up = if cmds.closing {
                if self.delivered() {
                    return Ok(());
                }
                if self.anyone_online() {
                    Some(self.progress + self.chat.timing.close_grace)
                } else {
                    // Nobody to deliver to: wait for someone, as long as
                    // it takes; the grace starts when someone is there.
                    self.progress = Instant::now();
                    None
                }
            } else {
                None
            };
            let expiry = self.room.next_expiry();
            let typing = self
                .room
                .places()
                .iter()
                .filter_map(|p| p.typing.next())
                .min();
            let stall = self
                .holding
                .iter()
                .filter_map(|id| self.behind.get(id))
                .map(|(since, _)| *since + self.chat.timing.stall)
                .min();
            tokio::select! {
                msg = inbox.recv() => match msg {
                    Some(msg) => {
                        self.on(msg);
                        // What else is waiting is one step with it.
                        for _ in 1..STEP_MAX {
                            let Ok(msg) = inbox.try_recv() else { break };
                            self.on(msg);
                        }
                    }
                    // Every listener and member is gone.
                    None => return Ok(()),
                },
                cmd = cmds.recv() => {
                    if self.command(cmd) {
                        return Ok(());
                    }
                }
                _ = sleep_until(expiry.unwrap_or_else(Instant::now)), if expiry.is_some() => {
                    // Given up silently: the window heard it leave.
                    self.room.expired(Instant::now());
                }
                _ = sleep_until(typing.unwrap_or_else(Instant::now)), if typing.is_some() => {
                    self.typing_due(Instant::now());
                }
                _ = sleep_until(stall.unwrap_or_else(Instant::now)), if stall.is_some() => {
                    self.stalled(Instant::now());
                }
                _ = sleep_until(give_up.unwrap_or_else(Instant::now)), if give_up.is_some() => {
                    return Ok(());
                }
                _ = self.events.closed() => return Err(Gone),
            }
            // Disconnecting a slow member may let parked messages go.
            loop {
                self.relay_parked();
                self.send_marks();
                if !self.settle() {
                    break;
                }
            }
            for event in std::mem::take(&mut self.out) {
                self.events.emit(event).await?;
            }
        }
    }

    /// Everyone gets `bye closed`, and the connections a moment to write
    /// it; then [`ServerEvent::Closed`].
    async fn finish(&mut self) {
        for place in self.room.clear() {
            if let Some(conn) = place.mailbox.lock().conn.take() {
                conn.end("closed");
            }
        }
        self.alive = None;
        let _ = timeout(BYE_WAIT, self.alive_rx.recv()).await;
        let _ = self.events.emit(ServerEvent::Closed).await;
    }

    fn delivered(&self) -> bool {
        self.waiting.is_empty()
            && self.parked.is_empty()
            && self
                .room
                .places()
                .iter()
                .all(|p| p.away.is_some() || p.mailbox.is_empty())
    }

    fn anyone_online(&self) -> bool {
        self.room.places().iter().any(|p| p.away.is_none())
    }

    fn on(&mut self, msg: ToHub) {
        match msg {
            ToHub::Ask { claim, reply } => {
                let _ = reply.send(self.room.decide(&claim).map(|_| ()));
            }
            ToHub::Arrive(arrival) => self.arrive(arrival),
            ToHub::Said {
                member,
                msgs,
                inflow,
            } => self.said(&member, msgs, inflow),
            ToHub::Acked { member, conn, ids } => self.acked(&member, conn, &ids),
            ToHub::Typing { member, active } => {
                let Some(at) = self.room.find(&member) else {
                    return;
                };
                let now = Instant::now();
                if let Some(active) = self.room.place_mut(at).typing.offer(active, now) {
                    self.typing(at, active);
                }
            }
            ToHub::Sent { id, token } => {
                if let Some(to) = self.unreported.remove(&id) {
                    self.out.push(
                        ChatEvent::Sent {
                            id: id.clone(),
                            token,
                        }
                        .into(),
                    );
                    self.out.push(ChatEvent::Relayed { id, to }.into());
                }
            }
            ToHub::Gone { member, conn, why } => self.gone(&member, conn, why),
        }
    }

    /// Tells the others (and the window) that the member at `at` is or
    /// is not typing.
    fn typing(&mut self, at: usize, active: bool) {
        let place = self.room.place(at);
        let (from, member) = (place.name.clone(), place.id.clone());
        self.out.push(ChatEvent::Typing { from, active }.into());
        self.tell_others(Some(at), |p| {
            p.rooms().then(|| Control::Typing {
                active,
                from: Some(member.clone()),
            })
        });
    }

    /// Relays the held typing changes whose time has come.
    fn typing_due(&mut self, now: Instant) {
        for at in 0..self.room.places().len() {
            if let Some(active) = self.room.place_mut(at).typing.due(now) {
                self.typing(at, active);
            }
        }
    }

    fn arrive(&mut self, a: Arrival) {
        if a.key != *self.keys.borrow() {
            let _ = a.reply.send(None);
            return;
        }
        let since = self.chat.clock.now_ms();
        let Ok(index) = self.room.seat(a.claim, &a.name, a.addr, a.version, since) else {
            let _ = a.reply.send(None);
            return;
        };
        let Some(alive) = self.alive.clone() else {
            let _ = a.reply.send(None);
            return;
        };
        self.next_conn += 1;
        let conn = Conn::new(self.next_conn);
        let place = self.room.place(index);
        let replaced = place.mailbox.attach(conn.clone());
        let stayed = replaced.is_some();
        if let Some(old) = replaced {
            old.end("replaced");
        }
        let seat = Seat {
            member: place.id.clone(),
            me: self.me.member.clone(),
            conn,
            mailbox: place.mailbox.clone(),
            roster: place.rooms().then(|| self.room.roster(&place.id)),
            alive,
            inflow: place.inflow.clone(),
        };
        if a.offset.unsigned_abs() > CLOCK_NOTICE_SECS {
            self.out
                .push(ChatEvent::ClockOffset { secs: a.offset }.into());
        }
        if !stayed {
            let entry = place.entry();
            self.out.push(ChatEvent::Joined(place.member()).into());
            self.tell_others(Some(index), |p| {
                p.rooms().then(|| Control::Joined(entry.clone()))
            });
        }
        // Our messages that waited for someone go to the first who joins.
        for Parked { message, .. } in std::mem::take(&mut self.waiting) {
            let message = Arc::new(message);
            seat.mailbox.push(message.clone());
            self.unreported.insert(message.id.clone(), 1);
        }
        let _ = a.reply.send(Some(seat));
    }

    /// Member `member`'s messages are shown to the server's user and join
    /// the parked ones (a copy the room already has is acknowledged
    /// again, and goes no further).
    fn said(
        &mut self,
        member: &str,
        msgs: Vec<(Message, Ciphertext)>,
        mut inflow: OwnedSemaphorePermit,
    ) {
        let Some(at) = self.room.find(member) else {
            return;
        };
        let sender = Arc::new(Sender {
            member: member.to_owned(),
            name: self.room.place(at).name.clone(),
        });
        // The token of the last message reported: the next of its frame
        // does not count it again.
        let mut counted = Ciphertext::default();
        for (
            Message {
                id, text, sent_at, ..
            },
            token,
        ) in msgs
        {
            let share = inflow.split(weight(text.len()));
            if !self.seen.first_sight(&id) {
                self.acked_to(member, id);
                continue;
            }
            let token = if token.same_frame(&counted) {
                token.again()
            } else {
                counted = token.again();
                token
            };
            self.out.push(
                ChatEvent::Received {
                    id: id.clone(),
                    from: sender.name.clone(),
                    text: text.clone(),
                    sent_at,
                    token,
                }
                .into(),
            );
            self.parked.push_back(Parked {
                message: Pending {
                    id,
                    text,
                    sent_at,
                    from: Some(sender.clone()),
                },
                _share: share,
            });
        }
    }

    /// Gathers an ack for `member`'s message `id`, sent with the others
    /// of the step ([`Hub::send_acks`]).
    fn acked_to(&mut self, member: &str, id: String) {
        match self.acks.last_mut() {
            Some((to, ids)) if to == member => ids.push(id),
            _ => self.acks.push((member.to_owned(), vec![id])),
        }
    }

    /// Tells each sender the room holds its messages (relayed, or had
    /// already): `to` is how many members they go to.
    fn send_acks(&mut self) {
        let to = self.room.places().len() as u32;
        for (member, ids) in std::mem::take(&mut self.acks) {
            let Some(at) = self.room.find(&member) else {
                continue;
            };
            let to = self.room.place(at).rooms().then_some(to);
            for chunk in ids.chunks(MAX_BATCH) {
                let ids = chunk.to_vec();
                self.tell(at, Control::Acks { ids, to });
            }
        }
    }

    /// Relays the parked messages, in order, while every connected member
    /// has room for the next; notes who holds the room up when one has
    /// not. A member's message is acknowledged to it, and marked delivered
    /// to the server's user, as it is relayed.
    fn relay_parked(&mut self) {
        let me = self.me.member.clone();
        while let Some(next) = self.parked.front() {
            let sender = next.message.from.clone().filter(|s| s.member != me);
            let from = sender.as_ref().and_then(|s| self.room.find(&s.member));
            let full = self.full_for(from, &next.message);
            if !full.is_empty() {
                let now = Instant::now();
                for id in &full {
                    self.behind.entry(id.clone()).or_insert((now, 0));
                }
                self.holding = full.into_iter().collect();
                break;
            }
            self.holding.clear();
            let Some(parked) = self.parked.pop_front() else {
                break;
            };
            if sender.is_none() && self.room.places().is_empty() {
                // Everyone left while it was parked: it waits for the next.
                self.waiting.push_back(parked);
                continue;
            }
            let message = parked.message;
            let id = message.id.clone();
            let to = self.relay(from, message);
            match sender {
                None => {
                    self.unreported.insert(id, to);
                }
                Some(sender) => {
                    self.marks.add(&sender.member, &me, id.clone());
                    self.acked_to(&sender.member, id);
                }
            }
        }
        if self.parked.is_empty() {
            self.holding.clear();
        }
        self.send_acks();
    }

    /// The connected members (but the one at `from`) whose queues have no
    /// room for `message`.
    fn full_for(&self, from: Option<usize>, message: &Pending) -> Vec<String> {
        let legacy = legacy_len(message, &self.me.member);
        self.room
            .places()
            .iter()
            .enumerate()
            .filter(|(i, place)| {
                let len = weight(if place.rooms() {
                    message.text.len()
                } else {
                    legacy
                });
                Some(*i) != from
                    && place.away.is_none()
                    && place.mailbox.bytes() + len > MEMBER_QUEUE_BYTES
            })
            .map(|(_, place)| place.id.clone())
            .collect()
    }

    /// The members that hold the room up and have been behind for the
    /// stall time by `now` have stopped reading (or read too slowly to
    /// keep a room).
    fn stalled(&mut self, now: Instant) {
        let stall = self.chat.timing.stall;
        let stopped = self.holding.iter().filter(|id| {
            self.behind
                .get(*id)
                .is_some_and(|(since, _)| *since + stall <= now)
        });
        self.slow.extend(stopped.cloned().collect::<Vec<_>>());
    }

    /// Puts `message` in the mailbox of every member but `from`; how many.
    /// A held place whose queue passes its bound is given up (connected
    /// members' queues have room: [`Hub::relay_parked`] waited for it).
    fn relay(&mut self, from: Option<usize>, message: Pending) -> usize {
        let message = Arc::new(message);
        // Protocols 1 and 2 see the sender only in the text: one copy for
        // all of them.
        let mut legacy: Option<Arc<Pending>> = None;
        let mut to = 0;
        let mut over = Vec::new();
        for (i, place) in self.room.places().iter().enumerate() {
            if Some(i) == from {
                continue;
            }
            let copy = if place.rooms() {
                message.clone()
            } else {
                legacy
                    .get_or_insert_with(|| Arc::new(for_old_clients(&message, &self.me.member)))
                    .clone()
            };
            let bytes = place.mailbox.push(copy);
            to += 1;
            if place.away.is_some() && bytes > HELD_QUEUE_BYTES {
                over.push(place.id.clone());
            }
        }
        self.slow.extend(over);
        to
    }

    fn acked(&mut self, by: &str, conn: u64, ids: &[String]) {
        self.progress = Instant::now();
        let Some(at) = self.room.find(by) else {
            return;
        };
        let done = self.room.place(at).mailbox.acked(conn, ids);
        let caught_up = self.room.place(at).mailbox.bytes() <= MEMBER_QUEUE_BYTES / 2;
        if let Some((_, taken)) = self.behind.get_mut(by) {
            *taken += done.iter().map(|m| weight(m.text.len())).sum::<usize>();
            if caught_up || *taken >= MEMBER_QUEUE_BYTES / 2 {
                // It keeps pace: the next step finds who holds the room
                // up now, and from when.
                self.behind.remove(by);
            }
        }
        let by_name = self.room.place(at).name.clone();
        for message in done {
            let Some(sender) = &message.from else {
                continue;
            };
            if sender.member == self.me.member {
                self.out.push(
                    ChatEvent::Delivered {
                        id: message.id.clone(),
                        by: by_name.clone(),
                    }
                    .into(),
                );
            } else {
                self.marks.add(&sender.member, by, message.id.clone());
            }
        }
    }

    /// Sends the delivery marks the step gathered to their senders (those
    /// speaking protocol 3); a sender that is away gets them when it
    /// comes back.
    fn send_marks(&mut self) {
        for (sender, frame) in self.marks.take() {
            let Some(to) = self.room.find(&sender) else {
                continue;
            };
            let place = self.room.place(to);
            if place.rooms() && place.mailbox.mark(frame) > CONTROL_MAX && place.away.is_none() {
                self.slow.push(place.id.clone());
            }
        }
    }

    fn gone(&mut self, member: &str, conn: u64, why: Why) {
        let Some(at) = self.room.find(member) else {
            return;
        };
        // Not the connection serving it now: replaced, or ended by us.
        if self.room.place(at).mailbox.detach(conn).is_none() {
            return;
        }
        self.leave(at, why);
    }

    /// The member at `at` is no longer online: its place is held (lost,
    /// slow) or given up (it said bye). Everyone is told.
    fn leave(&mut self, at: usize, why: Why) {
        self.room.place_mut(at).typing.left();
        let place = self.room.place(at);
        self.behind.remove(&place.id);
        let member = place.member();
        let code = match why {
            Why::Bye => "bye",
            Why::Removed => "removed",
            Why::Slow => "slow",
            // A security alert is a lost connection to the others.
            Why::Lost | Why::Other(_) => "lost",
        };
        self.tell_others(Some(at), |p| {
            p.rooms().then(|| Control::Left {
                member: member.id.clone(),
                why: code,
            })
        });
        match why {
            Why::Bye => {
                self.room.give_up(at);
            }
            Why::Removed => {
                self.room.remove(&member.id);
            }
            Why::Lost | Why::Slow | Why::Other(_) => {
                self.room.hold(at, Instant::now() + self.chat.timing.hold);
            }
        }
        self.out.push(ChatEvent::Left { member, why }.into());
    }

    /// Queues `frame` for the member at `at`; over the bound, it is slow.
    fn tell(&mut self, at: usize, frame: Control) {
        let place = self.room.place(at);
        if place.mailbox.control(frame) > CONTROL_MAX {
            self.slow.push(place.id.clone());
        }
    }

    /// Queues the frame `frame_for` makes for each online member but `but`.
    fn tell_others(&mut self, but: Option<usize>, frame_for: impl Fn(&Place) -> Option<Control>) {
        let mut over = Vec::new();
        for (i, place) in self.room.places().iter().enumerate() {
            if Some(i) == but || place.away.is_some() {
                continue;
            }
            if let Some(frame) = frame_for(place)
                && place.mailbox.control(frame) > CONTROL_MAX
            {
                over.push(place.id.clone());
            }
        }
        self.slow.extend(over);
    }

    /// Disconnects the members that passed a bound or stopped reading:
    /// `slow` if online, their place given up if held. Whether it did.
    fn settle(&mut self) -> bool {
        let mut any = false;
        while let Some(id) = self.slow.pop() {
            let Some(at) = self.room.find(&id) else {
                continue;
            };
            let place = self.room.place(at);
            if place.away.is_some() {
                if place.mailbox.bytes() > HELD_QUEUE_BYTES {
                    self.room.give_up(at);
                    any = true;
                }
                continue;
            }
            any = true;
            let conn = place.mailbox.lock().conn.take();
            if let Some(conn) = conn {
                conn.end("slow");
            }
            self.leave(at, Why::Slow);
            // Held now: its queue may grow to the held bound.
            if self.room.place(at).mailbox.bytes() > HELD_QUEUE_BYTES {
                self.room.give_up(at);
            }
        }
        any
    }

    /// Handles a window command; `true` to stop at once.
    fn command(&mut self, cmd: ServerCommand) -> bool {
        match cmd {
            ServerCommand::Chat(Command::Send {
                id,
                text,
                sent_at,
                hold,
            }) => {
                let parked = Parked {
                    message: Pending {
                        id,
                        text,
                        sent_at,
                        from: Some(self.me.clone()),
                    },
                    _share: Some(hold),
                };
                if self.room.places().is_empty() {
                    self.waiting.push_back(parked);
                } else {
                    self.parked.push_back(parked);
                }
            }
            ServerCommand::Chat(Command::Typing(active)) => {
                let me = self.me.member.clone();
                self.tell_others(None, |p| {
                    Some(Control::Typing {
                        active,
                        from: p.rooms().then(|| me.clone()),
                    })
                });
            }
            ServerCommand::SetKey(key) => {
                for place in self.room.clear() {
                    if let Some(conn) = place.mailbox.lock().conn.take() {
                        conn.end("new-key");
                    }
                }
                // What went to nobody now never goes out.
                self.behind.clear();
                self.unreported.clear();
                self.parked.clear();
                self.keys.send_replace(key.clone());
                self.out.push(ServerEvent::KeyChanged(key));
            }
            ServerCommand::Remove(id) => {
                if let Some(at) = self.room.find(&id) {
                    let place = self.room.place(at);
                    let conn = place.mailbox.lock().conn.take();
                    if let Some(conn) = conn {
                        conn.end("removed");
                    }
                    self.leave(at, Why::Removed);
                } else {
                    self.room.remove(&id);
                }
            }
            ServerCommand::Allow(id) => self.room.allow(&id),
            ServerCommand::Chat(Command::HangUp) => {
                self.unreported.clear();
                self.parked.clear();
                self.behind.clear();
                for place in self.room.empty() {
                    let conn = place.mailbox.lock().conn.take();
                    if let Some(conn) = conn {
                        conn.end("closed");
                        self.out.push(
                            ChatEvent::Left {
                                member: place.member(),
                                why: Why::Other("closed".into()),
                            }
                            .into(),
                        );
                    }
                }
            }
            // Noted by `Commands`; the loop delivers, then stops.
            ServerCommand::Chat(Command::Close) => {}
            ServerCommand::Chat(Command::Quit) => return true,
        }
        false
    }
}

/// The sender's name a protocol-1 or 2 member's copy of `message` starts
/// with: from someone other than the server (`me`), unless that would
/// pass the text limit.
fn prefix<'m>(message: &'m Pending, me: &str) -> Option<&'m str> {
    let sender = message.from.as_ref().filter(|s| s.member != me)?;
    (sender.name.len() + 2 + message.text.len() <= MAX_TEXT_BYTES).then_some(&sender.name)
}

/// The text length of a protocol-1 or 2 member's copy.
fn legacy_len(message: &Pending, me: &str) -> usize {
    message.text.len() + prefix(message, me).map_or(0, |name| name.len() + 2)
}

/// A relayed message as a protocol-1 or 2 member gets it: its text says
/// who sent it ([`prefix`]).
fn for_old_clients(message: &Pending, me: &str) -> Pending {
    let text = match prefix(message, me) {
        Some(name) => format!("{name}: {}", message.text),
        None => message.text.clone(),
    };
    Pending {
        text,
        ..message.clone()
    }
}
