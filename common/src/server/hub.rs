//! The hub: the one task that owns the room. Handshakes ask it who may
//! come in, member connections tell it what they read, the window's
//! commands come to it; it decides, relays, and reports to the window.
//!
//! It never waits on a member: what it relays goes into that member's
//! [`Mailbox`] and the member's own task sends it (sealing in that task,
//! so encryption spreads over the cores). A member that falls behind is
//! disconnected by the bounds in [`super::limits`], never waited for.
//! The hub does wait on the window ([`Emitter::emit`]): a window that
//! falls behind slows the room down, as it slowed the one chat before.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::time::{Duration, Instant, sleep_until, timeout};

use super::limits::{CONTROL_MAX, HELD_QUEUE_BYTES, INFLOW_BYTES, MEMBER_QUEUE_BYTES};
use super::mailbox::{Conn, Control, Mailbox};
use super::marks::Marks;
use super::room::{Claim, Place, Room};
use crate::commands::Commands;
use crate::config::Config;
use crate::event::{ChatEvent, Command, ServerCommand, ServerEvent, Why};
use crate::handshake::ErrCode;
use crate::key::Key;
use crate::link::{Emitter, Gone};
use crate::outbox::{Pending, Seen, Sender};
use crate::payload::{Body, MAX_BATCH, MAX_TEXT_BYTES, Message, RosterEntry, clean_name};

/// Messages to the hub in flight at once; senders (handshakes, member
/// connections) wait when it is full, which slows their sockets. What
/// they hold is bounded apart ([`INFLOW_BYTES`]).
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
    /// Member `member` sent these messages, in frame `token` (empty
    /// unless the window shows ciphertext).
    Said {
        member: String,
        msgs: Vec<Message>,
        token: String,
        /// Their share of [`INFLOW_BYTES`], given back once relayed.
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
        token: String,
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
    /// What the members' messages on their way to the hub may hold.
    pub inflow: Arc<Semaphore>,
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
    waiting: VecDeque<Arc<Pending>>,
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
    inflow: Arc<Semaphore>,
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
            unreported: HashMap::new(),
            next_conn: 0,
            out: Vec::new(),
            slow: Vec::new(),
            marks: Marks::default(),
            alive: Some(alive),
            alive_rx,
            inflow: Arc::new(Semaphore::new(INFLOW_BYTES)),
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
                _ = sleep_until(give_up.unwrap_or_else(Instant::now)), if give_up.is_some() => {
                    return Ok(());
                }
                _ = self.events.closed() => return Err(Gone),
            }
            self.send_marks();
            self.settle();
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
                token,
                inflow,
            } => {
                self.said(&member, msgs, token);
                drop(inflow);
            }
            ToHub::Acked { member, conn, ids } => self.acked(&member, conn, &ids),
            ToHub::Typing { member, active } => {
                let Some(at) = self.room.find(&member) else {
                    return;
                };
                let from = self.room.place(at).name.clone();
                self.out.push(ChatEvent::Typing { from, active }.into());
                self.tell_others(Some(at), |p| {
                    p.rooms().then(|| Control::Typing {
                        active,
                        from: Some(member.clone()),
                    })
                });
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
            inflow: self.inflow.clone(),
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
        for message in std::mem::take(&mut self.waiting) {
            seat.mailbox.push(message.clone());
            self.unreported.insert(message.id.clone(), 1);
        }
        let _ = a.reply.send(Some(seat));
    }

    fn said(&mut self, member: &str, msgs: Vec<Message>, token: String) {
        let Some(at) = self.room.find(member) else {
            return;
        };
        let to = self.room.places().len() as u32;
        let place = self.room.place(at);
        let ids: Vec<String> = msgs.iter().map(|m| m.id.clone()).collect();
        let acks_to = place.rooms().then_some(to);
        for chunk in ids.chunks(MAX_BATCH) {
            self.tell(
                at,
                Control::Acks {
                    ids: chunk.to_vec(),
                    to: acks_to,
                },
            );
        }
        let sender = Arc::new(Sender {
            member: member.to_owned(),
            name: self.room.place(at).name.clone(),
        });
        // The server's user is one of the members it goes to: shown
        // (below), it is delivered to the server.
        let mut shown = Vec::new();
        for Message {
            id, text, sent_at, ..
        } in msgs
        {
            if !self.seen.first_sight(&id) {
                continue;
            }
            shown.push(id.clone());
            let pending = Pending {
                id: id.clone(),
                text,
                sent_at,
                from: Some(sender.clone()),
            };
            let text = pending.text.clone();
            self.relay(Some(at), pending);
            self.out.push(
                ChatEvent::Received {
                    id,
                    from: sender.name.clone(),
                    text,
                    sent_at,
                    token: token.clone(),
                }
                .into(),
            );
        }
        let me = self.me.member.clone();
        for id in shown {
            self.marks.add(member, &me, id);
        }
    }

    /// Puts `message` in the mailbox of every member but `from`; how many.
    fn relay(&mut self, from: Option<usize>, message: Pending) -> usize {
        let prefixed = from.map(|at| self.room.place(at).name.clone());
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
                    .get_or_insert_with(|| Arc::new(for_old_clients(&message, prefixed.as_deref())))
                    .clone()
            };
            let bytes = place.mailbox.push(copy);
            to += 1;
            let bound = match place.away {
                Some(_) => HELD_QUEUE_BYTES,
                None => MEMBER_QUEUE_BYTES,
            };
            if bytes > bound {
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
        let place = self.room.place(at);
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

    /// Disconnects the members that passed a bound: `slow` if online,
    /// their place given up if held.
    fn settle(&mut self) {
        while let Some(id) = self.slow.pop() {
            let Some(at) = self.room.find(&id) else {
                continue;
            };
            let place = self.room.place(at);
            if place.away.is_some() {
                if place.mailbox.bytes() > HELD_QUEUE_BYTES {
                    self.room.give_up(at);
                }
                continue;
            }
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
    }

    /// Handles a window command; `true` to stop at once.
    fn command(&mut self, cmd: ServerCommand) -> bool {
        match cmd {
            ServerCommand::Chat(Command::Send { id, text, sent_at }) => {
                let message = Pending {
                    id: id.clone(),
                    text,
                    sent_at,
                    from: Some(self.me.clone()),
                };
                if self.room.places().is_empty() {
                    self.waiting.push_back(Arc::new(message));
                } else {
                    let to = self.relay(None, message);
                    self.unreported.insert(id, to);
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
                self.unreported.clear();
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

/// A relayed message as a protocol-1 or 2 member gets it: from someone
/// else than the server, its text says who (unless that would pass the
/// text limit).
fn for_old_clients(message: &Pending, sender: Option<&str>) -> Pending {
    let text = match sender {
        Some(name) if name.len() + 2 + message.text.len() <= MAX_TEXT_BYTES => {
            format!("{name}: {}", message.text)
        }
        _ => message.text.clone(),
    };
    Pending {
        text,
        ..message.clone()
    }
}
