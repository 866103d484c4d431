//! Rooms (protocol 3) with real engines on 127.0.0.1: a server and any
//! number of client engines, each member's events gathered as they come
//! (so no engine ever waits on a test that is busy with another member),
//! and what each member was shown and told about its own messages.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use common::place::Identity;
use common::{ChatEvent, ClientEvent, Config, Handle, Key, ServerEvent, ServerHandle};
use tokio::sync::mpsc::Receiver;
use tokio::sync::watch;
use tokio::time::timeout;

use crate::engines::{WAIT, client_with, quick_retry};

/// An event of either program: a room's logs hold the server's and the
/// clients' alike, so that one check (who was shown what, who has our
/// message) serves every member.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Server(ServerEvent),
    Client(ClientEvent),
}

impl Heard {
    /// What happens in the chat, if the event is that.
    pub fn chat(&self) -> Option<&ChatEvent> {
        match self {
            Heard::Server(ServerEvent::Chat(chat)) | Heard::Client(ClientEvent::Chat(chat)) => {
                Some(chat)
            }
            _ => None,
        }
    }
}

impl From<ServerEvent> for Heard {
    fn from(event: ServerEvent) -> Heard {
        Heard::Server(event)
    }
}

impl From<ClientEvent> for Heard {
    fn from(event: ClientEvent) -> Heard {
        Heard::Client(event)
    }
}

/// Every event one engine has reported so far, taken from its stream by a
/// task of its own as soon as it comes.
#[derive(Clone)]
pub struct Log {
    events: Arc<Mutex<Vec<Heard>>>,
    /// How many events there are; closed when the stream ends.
    count: watch::Receiver<usize>,
}

impl Log {
    /// Starts taking `events`.
    pub fn collect<E: Into<Heard> + Send + 'static>(mut events: Receiver<E>) -> Log {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, count) = watch::channel(0);
        let kept = log.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let n = {
                    let mut log = kept.lock().unwrap();
                    log.push(event.into());
                    log.len()
                };
                tx.send_replace(n);
            }
        });
        Log { events: log, count }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Heard>> {
        self.events.lock().unwrap()
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Heard> {
        self.lock().clone()
    }

    /// Waits (at most [`WAIT`]) until `done` finds what it looks for in
    /// the events so far; `what` names it in the failure.
    pub async fn wait<T>(&self, what: &str, done: impl FnMut(&[Heard]) -> Option<T>) -> T {
        self.wait_for(WAIT, what, done).await
    }

    /// [`Log::wait`] with a longer limit, for tests that move a lot.
    pub async fn wait_for<T>(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&[Heard]) -> Option<T>,
    ) -> T {
        let mut count = self.count.clone();
        let found = timeout(limit, async {
            loop {
                if let Some(found) = done(&self.lock()) {
                    return Some(found);
                }
                if count.changed().await.is_err() {
                    // The stream ended: one last look at what it left.
                    return done(&self.lock());
                }
            }
        })
        .await;
        match found {
            Ok(Some(found)) => found,
            Ok(None) => panic!("the engine stopped before {what}: {:?}", self.tail()),
            Err(_) => panic!("timed out waiting for {what}: {:?}", self.tail()),
        }
    }

    /// Waits until the engine has stopped (its event stream ended); all
    /// it reported.
    pub async fn wait_stopped(&self) -> Vec<Heard> {
        let mut count = self.count.clone();
        let ended = timeout(WAIT, async { while count.changed().await.is_ok() {} }).await;
        assert!(ended.is_ok(), "the engine never stopped: {:?}", self.tail());
        self.events()
    }

    /// The last few events, for failure messages.
    fn tail(&self) -> Vec<Heard> {
        let log = self.lock();
        log[log.len().saturating_sub(8)..].to_vec()
    }

    /// Every message shown, in order.
    pub fn shown(&self) -> Vec<Shown> {
        shown(&self.lock())
    }

    /// Waits until `n` messages have been shown; all of them.
    pub async fn wait_shown(&self, n: usize) -> Vec<Shown> {
        self.wait_shown_for(WAIT, n).await
    }

    pub async fn wait_shown_for(&self, limit: Duration, n: usize) -> Vec<Shown> {
        let what = format!("{n} messages shown");
        self.wait_for(limit, &what, |events| {
            let shown = shown(events);
            (shown.len() >= n).then_some(shown)
        })
        .await
    }

    /// What the server said about our message `id`: the `to` of its
    /// relay, and the names that have it.
    pub fn marks(&self, id: &str) -> Marks {
        marks(&self.lock(), id)
    }

    /// Waits until every one of `ids` has been delivered to all the members
    /// the server relayed it to; their marks.
    pub async fn wait_delivered(&self, ids: &[String]) -> Vec<Marks> {
        let mut short = Vec::new();
        let found = timeout(
            WAIT,
            self.wait_for(WAIT + WAIT, "every message delivered to all", |events| {
                let marks: Vec<Marks> = ids.iter().map(|id| marks(events, id)).collect();
                short = ids
                    .iter()
                    .zip(&marks)
                    .filter(|(_, m)| !m.to_all())
                    .map(|(id, m)| (id.clone(), m.clone()))
                    .collect();
                short.is_empty().then_some(marks)
            }),
        )
        .await;
        found.unwrap_or_else(|_| panic!("not delivered to all: {short:?}"))
    }

    /// The next `Connected` after the first `skip` events; its index.
    pub async fn wait_connected_after(&self, skip: usize) -> usize {
        self.wait("a session", |events| {
            events
                .iter()
                .enumerate()
                .skip(skip)
                .find_map(|(i, e)| match e {
                    Heard::Client(ClientEvent::Connected { .. }) => Some(i),
                    Heard::Client(ClientEvent::Failed(e)) => panic!("gave up: {e}"),
                    _ => None,
                })
        })
        .await
    }

    /// The number of events so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// One message as a member was shown it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    pub from: String,
    pub text: String,
}

fn shown(events: &[Heard]) -> Vec<Shown> {
    events
        .iter()
        .filter_map(|e| match e.chat()? {
            ChatEvent::Received { id, from, text, .. } => Some(Shown {
                id: id.clone(),
                from: from.clone(),
                text: text.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The delivery marks of one message: `Relayed{to}` first, then a
/// `Delivered{by}` per member that has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marks {
    /// The relay's `to`; `None` until it came.
    pub to: Option<usize>,
    /// Distinct members (names) that have it.
    pub by: BTreeSet<String>,
    /// `Delivered` events, duplicates included.
    pub delivered: usize,
    /// Whether a `Delivered` came before the `Relayed`.
    pub early: bool,
}

impl Marks {
    /// "Delivered to all": as many distinct members as it was relayed to.
    pub fn to_all(&self) -> bool {
        self.to.is_some_and(|to| to == self.by.len())
    }
}

fn marks(events: &[Heard], of: &str) -> Marks {
    let mut marks = Marks::default();
    for event in events {
        match event.chat() {
            Some(ChatEvent::Relayed { id, to }) if id == of => marks.to = Some(*to),
            Some(ChatEvent::Delivered { id, by }) if id == of => {
                marks.early |= marks.to.is_none();
                marks.delivered += 1;
                marks.by.insert(by.clone());
            }
            _ => {}
        }
    }
    marks
}

/// One member of a test room: its engine's handle and what it reported.
pub struct Member {
    pub name: String,
    /// What every member can do; the server's own (a new key, removing a
    /// member) is [`Room::host`].
    pub handle: Handle,
    pub log: Log,
    /// The member id and chain a client engine proves its place with
    /// (shared with the engine); the server's is its own.
    pub identity: Identity,
}

impl Member {
    /// Sends `text`; its id.
    pub fn send(&self, text: &str) -> String {
        self.handle.send(text).unwrap()
    }
}

/// A member's settings as the room tests use them: reconnects as quick as
/// [`quick_retry`], no discovery (loopback only), no tokens in events.
pub fn config(key: &Key, name: &str) -> Config {
    Config {
        timing: quick_retry(),
        tokens: false,
        discovery: None,
        ..Config::new(key.clone(), name)
    }
}

/// A room server on 127.0.0.1 holding at most `max_members` (itself
/// included), with `chat` as its settings: its handle, itself as a member,
/// and its port.
pub async fn serve(chat: Config, max_members: usize) -> (ServerHandle, Member, u16) {
    let name = chat.name.clone();
    let identity = chat.identity.clone();
    let (host, events, port) = crate::engines::room_server(chat, 0, max_members).await;
    let member = Member {
        name,
        handle: host.shared().clone(),
        log: Log::collect(events),
        identity,
    };
    (host, member, port)
}

/// A client engine with `chat` connecting to `addr`; not waited for.
pub fn join_at(chat: Config, addr: SocketAddr) -> Member {
    let name = chat.name.clone();
    let identity = chat.identity.clone();
    let (handle, events) = client_with(chat, addr);
    Member {
        name,
        handle,
        log: Log::collect(events),
        identity,
    }
}

/// 127.0.0.1:`port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A server ("bob") and client engines, all in the room.
pub struct Room {
    pub key: Key,
    pub port: u16,
    /// The server engine's handle, for what only the server can do.
    pub host: ServerHandle,
    pub server: Member,
    pub clients: Vec<Member>,
}

impl Room {
    /// A server named "bob" holding at most `max_members`, and no client.
    pub async fn empty(max_members: usize) -> Room {
        let key = Key::generate().unwrap();
        let (host, server, port) = serve(config(&key, "bob"), max_members).await;
        Room {
            key,
            port,
            host,
            server,
            clients: Vec::new(),
        }
    }

    /// A server "bob" and clients "m1" ... "m`n`", each in the room (its
    /// session up and the server's `Joined` seen) before the next joins.
    pub async fn open(n: usize) -> Room {
        let mut room = Room::empty(common::DEFAULT_MAX_MEMBERS.max(n + 1)).await;
        for i in 1..=n {
            room.add(config(&room.key, &format!("m{i}")), None).await;
        }
        room
    }

    /// Adds a client with `chat`, connecting to the server or to `via`,
    /// and waits until it is in the room.
    pub async fn add(&mut self, chat: Config, via: Option<SocketAddr>) -> &Member {
        let member = join_at(chat, via.unwrap_or(local(self.port)));
        member.log.wait_connected_after(0).await;
        self.server.wait_joined(&member.identity.member()).await;
        self.clients.push(member);
        self.clients.last().unwrap()
    }

    /// The server and the clients.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        std::iter::once(&self.server).chain(&self.clients)
    }

    /// The client named `name`.
    pub fn client(&self, name: &str) -> &Member {
        self.clients.iter().find(|m| m.name == name).unwrap()
    }
}

impl Member {
    /// Waits for a `Joined` of member `id`; the member as announced.
    pub async fn wait_joined(&self, id: &str) -> common::Member {
        self.wait_joined_after(id, 0).await
    }

    /// Waits for a `Joined` of member `id` among the events after the
    /// first `skip`.
    pub async fn wait_joined_after(&self, id: &str, skip: usize) -> common::Member {
        let what = format!("{id} joined");
        self.log
            .wait(&what, |events| {
                events[skip.min(events.len())..]
                    .iter()
                    .find_map(|e| match e.chat()? {
                        ChatEvent::Joined(m) if m.id == id => Some(m.clone()),
                        _ => None,
                    })
            })
            .await
    }

    /// Waits for a `Left` of member `id`; the member and why.
    pub async fn wait_left(&self, id: &str) -> (common::Member, common::Why) {
        let what = format!("{id} left");
        self.log
            .wait(&what, |events| {
                events.iter().find_map(|e| match e.chat()? {
                    ChatEvent::Left { member, why } if member.id == id => {
                        Some((member.clone(), why.clone()))
                    }
                    _ => None,
                })
            })
            .await
    }
}

/// Checks what each member was shown against what each sent: every
/// message of every OTHER member exactly once (never its own), with the
/// sender's id and name, in each sender's order. `sent` maps a sender's
/// name to the (id, text) of its messages in the order it sent them.
pub fn check_shown(member: &str, shown: &[Shown], sent: &BTreeMap<String, Vec<(String, String)>>) {
    for (sender, messages) in sent {
        let from_sender: Vec<(String, String)> = shown
            .iter()
            .filter(|s| &s.from == sender)
            .map(|s| (s.id.clone(), s.text.clone()))
            .collect();
        if sender == member {
            assert!(
                from_sender.is_empty(),
                "{member} was shown its own messages: {from_sender:?}"
            );
        } else {
            assert_eq!(
                &from_sender, messages,
                "{member}: {sender}'s messages, each once and in order"
            );
        }
    }
    let expected: usize = sent
        .iter()
        .filter(|(sender, _)| *sender != member)
        .map(|(_, m)| m.len())
        .sum();
    assert_eq!(shown.len(), expected, "{member} was shown something extra");
}
