//! A fault-injecting TCP proxy for the protocol's line-framed traffic.
//!
//! It sits between a client and a server on 127.0.0.1 and forwards whole
//! lines, so a fault can be aimed at a byte or at a frame: cut the connection
//! at a byte or line, blackhole it (half-open: nothing passes, nothing
//! closes), delay every line or hold one, send a line twice, flip a byte in a
//! line, refuse the next new connections or answer them as a refusing server
//! would. Faults are armed relative to what has passed so far and fire once.
//!
//! Its waits are tokio's, so under paused time (`tokio::time::pause`) a delay
//! costs no real time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// Which way traffic flows through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Forward bytes up to this total, then cut the connection.
    CutAtByte(u64),
    /// Forward lines up to this total, then cut instead of forwarding the
    /// next one.
    CutAtLine(u64),
    /// Send this line (by total count) twice.
    Duplicate(u64),
    /// Flip one bit in the middle of this line.
    Flip(u64),
    /// Hold this line back this long before forwarding it.
    Hold(u64, Duration),
}

/// What happens to a new connection instead of being forwarded.
#[derive(Debug, Clone)]
enum TurnAway {
    /// Accepted and closed at once.
    Close,
    /// Its first line is read and answered with this line, then it is
    /// closed, as a server that refuses it would.
    Answer(String),
}

#[derive(Default)]
struct Counters {
    bytes: u64,
    lines: u64,
    faults: Vec<Fault>,
}

#[derive(Default)]
struct State {
    up: Counters,
    down: Counters,
    delay: Duration,
    /// The next new connections, one entry each.
    turn_away: VecDeque<TurnAway>,
    /// Each line a flip fault hit, as it was before the flip.
    flipped: Vec<String>,
    /// Connections whose id is at most this are blackholed.
    blackholed_upto: u64,
    next_conn: u64,
    /// New connections wait, accepted but not forwarded.
    hold_new: bool,
}

impl State {
    fn way(&mut self, way: Way) -> &mut Counters {
        match way {
            Way::Up => &mut self.up,
            Way::Down => &mut self.down,
        }
    }
}

/// Events worth waiting on, as counts that only grow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted and forwarded to the server.
    pub connections: u64,
    /// New connections turned away (closed or answered) instead of
    /// forwarded.
    pub refused: u64,
    /// Faults that fired (cuts, duplicates, flips).
    pub fired: u64,
}

struct Shared {
    state: Mutex<State>,
    stats: watch::Sender<Stats>,
    /// Wakes every connection to check whether it was blackholed or cut.
    poke: Notify,
    target: SocketAddr,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stats: watch::channel(Stats::default()).0,
            poke: Notify::new(),
            target,
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Proxy { addr, shared, task }
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Watches the counters.
    pub fn stats(&self) -> watch::Receiver<Stats> {
        self.shared.stats.subscribe()
    }

    fn arm(&self, way: Way, fault: impl FnOnce(&Counters) -> Fault) {
        let mut state = self.shared.state();
        let counters = state.way(way);
        let fault = fault(counters);
        counters.faults.push(fault);
    }

    /// Cuts the connection after `n` more bytes flow `way` (mid-line if it
    /// falls there).
    pub fn cut_after_bytes(&self, way: Way, n: u64) {
        self.arm(way, |c| Fault::CutAtByte(c.bytes + n));
    }

    /// Cuts the connection after `n` more whole lines flow `way`.
    pub fn cut_after_lines(&self, way: Way, n: u64) {
        self.arm(way, |c| Fault::CutAtLine(c.lines + n));
    }

    /// Sends the `n`th next line going `way` twice (`n` = 1: the next one).
    pub fn duplicate_line(&self, way: Way, n: u64) {
        self.arm(way, |c| Fault::Duplicate(c.lines + n));
    }

    /// Flips a bit in the middle of the `n`th next line going `way`.
    pub fn flip_byte(&self, way: Way, n: u64) {
        self.arm(way, |c| Fault::Flip(c.lines + n));
    }

    /// The lines a flip hit so far, as they were before it.
    pub fn flipped(&self) -> Vec<String> {
        self.shared.state().flipped.clone()
    }

    /// Holds the `n`th next line going `way` back for `d` (the lines behind
    /// it wait too).
    pub fn hold_line(&self, way: Way, n: u64, d: Duration) {
        self.arm(way, |c| Fault::Hold(c.lines + n, d));
    }

    /// Holds every line for `delay` before forwarding it.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.state().delay = delay;
    }

    /// Every open connection goes silent both ways without closing, like a
    /// peer that vanished; new connections work.
    pub fn blackhole(&self) {
        let mut state = self.shared.state();
        state.blackholed_upto = state.next_conn;
        drop(state);
        self.shared.poke.notify_waiters();
    }

    /// The next `n` new connections are accepted and closed at once.
    pub fn refuse(&self, n: usize) {
        self.turn_away(n, TurnAway::Close);
    }

    /// The next `n` new connections get `line` (LF added) in answer to their
    /// first line, and are closed: a server refusing them, or someone on
    /// the path pretending to be one.
    pub fn answer(&self, n: usize, line: &str) {
        self.turn_away(n, TurnAway::Answer(format!("{line}\n")));
    }

    /// New connections are accepted but wait, neither forwarded nor
    /// closed, with whatever their client sends, until
    /// [`Proxy::release_new`]: a client that is kept away without losing
    /// its hello.
    pub fn hold_new(&self) {
        self.shared.state().hold_new = true;
    }

    /// Forwards the held connection (and the next ones) again.
    pub fn release_new(&self) {
        self.shared.state().hold_new = false;
        self.shared.poke.notify_waiters();
    }

    fn turn_away(&self, n: usize, how: TurnAway) {
        let mut state = self.shared.state();
        state.turn_away.extend(std::iter::repeat_n(how, n));
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        let turned_away = shared.state().turn_away.pop_front();
        if let Some(how) = turned_away {
            shared.stats.send_modify(|s| s.refused += 1);
            if let TurnAway::Answer(line) = how {
                tokio::spawn(answer(client, line));
            }
            continue;
        }
        released(&shared).await;
        let Ok(server) = TcpStream::connect(shared.target).await else {
            continue;
        };
        let id = {
            let mut state = shared.state();
            state.next_conn += 1;
            state.next_conn
        };
        shared.stats.send_modify(|s| s.connections += 1);
        tokio::spawn(relay(client, server, id, shared.clone()));
    }
}

/// Forwards both ways until either side closes or a fault cuts it; then both
/// sockets close.
async fn relay(client: TcpStream, server: TcpStream, id: u64, shared: Arc<Shared>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::select! {
        _ = pump(&mut client_read, &mut server_write, Way::Up, id, &shared) => {}
        _ = pump(&mut server_read, &mut client_write, Way::Down, id, &shared) => {}
        _ = blackholed(id, &shared) => {
            // Hold both sockets open and forward nothing, until the proxy
            // stops.
            std::future::pending::<()>().await;
        }
    }
}

/// Answers the first line with `line` and closes gracefully: shuts down
/// sending and reads to the end, so the close is not a reset that could
/// destroy the answer before the client reads it.
async fn answer(client: TcpStream, line: String) {
    let (read, mut write) = client.into_split();
    let mut read = BufReader::new(read);
    let mut first = Vec::new();
    if read.read_until(b'\n', &mut first).await.is_err() {
        return;
    }
    if write.write_all(line.as_bytes()).await.is_ok() {
        let _ = write.shutdown().await;
        let _ = read.read_to_end(&mut Vec::new()).await;
    }
}

/// Returns once new connections are no longer held.
async fn released(shared: &Shared) {
    loop {
        let poked = shared.poke.notified();
        if !shared.state().hold_new {
            return;
        }
        poked.await;
    }
}

async fn blackholed(id: u64, shared: &Shared) {
    loop {
        let poked = shared.poke.notified();
        if shared.state().blackholed_upto >= id {
            return;
        }
        poked.await;
    }
}

/// What to do with one line.
struct Plan {
    /// The bytes to forward (a prefix, for a cut mid-line).
    bytes: Vec<u8>,
    copies: usize,
    cut: bool,
    hold: Duration,
    fired: u64,
}

fn plan(state: &mut State, way: Way, mut line: Vec<u8>) -> Plan {
    let mut flipped = None;
    let counters = state.way(way);
    let start = counters.bytes;
    counters.lines += 1;
    let number = counters.lines;
    let mut plan = Plan {
        bytes: Vec::new(),
        copies: 1,
        cut: false,
        hold: Duration::ZERO,
        fired: 0,
    };
    let mut keep = Vec::new();
    for fault in counters.faults.drain(..) {
        match fault {
            Fault::CutAtByte(at) if at < start + line.len() as u64 => {
                line.truncate(at.saturating_sub(start) as usize);
                plan.cut = true;
            }
            Fault::CutAtLine(at) if at < number => {
                line.clear();
                plan.cut = true;
            }
            Fault::Duplicate(at) if at == number => plan.copies = 2,
            Fault::Flip(at) if at == number => {
                flipped = Some(String::from_utf8_lossy(&line).trim_end().to_owned());
                // The middle of the token, never its LF.
                let middle = line.len().saturating_sub(1) / 2;
                if let Some(byte) = line.get_mut(middle) {
                    *byte ^= 0x01;
                }
            }
            Fault::Hold(at, d) if at == number => plan.hold = d,
            other => {
                keep.push(other);
                continue;
            }
        }
        plan.fired += 1;
    }
    counters.faults = keep;
    counters.bytes += line.len() as u64;
    plan.bytes = line;
    state.flipped.extend(flipped);
    plan
}

async fn pump(
    from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    way: Way,
    id: u64,
    shared: &Shared,
) {
    let mut from = BufReader::with_capacity(64 * 1024, from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (plan, delay) = {
            let mut state = shared.state();
            if state.blackholed_upto >= id {
                // The blackhole future takes over; drop what arrives.
                continue;
            }
            (
                plan(&mut state, way, std::mem::take(&mut line)),
                state.delay,
            )
        };
        let wait = delay + plan.hold;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        for _ in 0..plan.copies {
            if to.write_all(&plan.bytes).await.is_err() {
                return;
            }
        }
        if plan.fired > 0 {
            shared.stats.send_modify(|s| s.fired += plan.fired);
        }
        if plan.cut {
            let _ = to.flush().await;
            return;
        }
    }
}
