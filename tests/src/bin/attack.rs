//! An attacker's harness for issue 10 ("Hardening"): measures, against the
//! real release binaries on loopback, whether the issue's targets are met.
//!
//! Run by hand through `.ci/attack` (it builds release first); it is too slow
//! for CI. Every victim is a fresh process (`server-gui --headless` or
//! `client-gui --headless`), so its peak resident memory (VmHWM) belongs to
//! one case. Scenarios:
//!
//! 1. door: 1,000 silent or trickling no-key connections from 1 and from 50
//!    source addresses; a right-key client must complete its handshake in
//!    under 1 s and the server's memory stay bounded;
//! 2. right-key floods against the server (huge ids, pings never read,
//!    messages of the text limit at full speed, many distinct ids, a
//!    message over the limit): growth at most 64 MiB, back toward the
//!    baseline after the attacker leaves;
//! 3. the same floods against the client, the harness playing the server;
//! 4. terminal injection: escape sequences, CR, newlines, bidi controls in
//!    names, messages, `bye` reasons, parse errors and `ERR` lines; what the
//!    victim's stdout and stderr contain, escaped.
//!
//! Prints a table per scenario; exits 1 if a target is missed, 2 if the
//! harness itself could not run. Only 127.0.0.0/8 is ever contacted; every
//! loop is bounded in count and time, and a watchdog kills the victims and
//! exits if the whole run takes too long.
//!
//! Usage: `attack [--bin-dir DIR] [--only door,server,client,inject,sweep] [--quick]`
//! (`--quick` divides the counts, for trying the harness out; `sweep`, a
//! diagnosis of where the memory of a message flood goes, runs only when
//! named).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::clock::Clock;
use common::handshake;
use common::payload::{Body, PROTO, random_id};
use common::session::{Role, Session};
use common::{ClientConfig, ClientEvent, Config, Key, token};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, timeout};

const MIB: u64 = 1024 * 1024;
/// The issue's memory target: no sequence of frames from a right-key peer
/// grows the other program by more than this.
const GROWTH_MAX: u64 = 64 * MIB;
/// The issue's door target: a right-key handshake completes within this.
const HANDSHAKE_MAX: Duration = Duration::from_secs(1);
/// "Returns toward baseline": what is still held this long after the
/// attacker left is at most half of the growth, or under 8 MiB.
const SETTLE: Duration = Duration::from_secs(2);
const RESIDUAL_FLOOR: u64 = 8 * MIB;
/// A terminal's pace for the variants whose stdout is read slowly.
const TERMINAL_PACE: u64 = 16 * 1024 * 1024;
/// The protocol's text limit (PROTOCOL.md, "Limits").
const TEXT_MAX: usize = 262_144;
/// The whole run, after which the watchdog kills the victims and exits.
const RUN_DEADLINE: Duration = Duration::from_secs(20 * 60);

// ---------------------------------------------------------------------------
// Victims: the release binaries, their output and their memory.

/// Victims alive, for the watchdog.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[derive(Debug, Clone, Copy, Default)]
struct Mem {
    rss: u64,
    hwm: u64,
    anon: u64,
}

/// VmRSS, VmHWM and RssAnon of `pid`, in bytes.
fn read_mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut mem = Mem::default();
    for line in status.lines() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(kb)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(kb) = kb.parse::<u64>() else { continue };
        match name {
            "VmRSS:" => mem.rss = kb * 1024,
            "VmHWM:" => mem.hwm = kb * 1024,
            "RssAnon:" => mem.anon = kb * 1024,
            _ => {}
        }
    }
    Some(mem)
}

/// What a victim wrote on one of its pipes: the first `keep` bytes, the
/// last [`TAIL`] bytes, and counts.
struct Capture {
    inner: Mutex<Captured>,
}

#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
    lines: u64,
}

const TAIL: usize = 256 * 1024;

impl Capture {
    /// Reads `src` on a thread of its own, at most `pace` bytes per second
    /// if given (a slow terminal), keeping the first `keep` bytes.
    fn spawn(mut src: impl Read + Send + 'static, keep: usize, pace: Option<u64>) -> Arc<Capture> {
        let capture = Arc::new(Capture {
            inner: Mutex::new(Captured::default()),
        });
        let c = capture.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match src.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let bytes = &buf[..n];
                {
                    let mut g = c.inner.lock().unwrap();
                    let room = keep.saturating_sub(g.head.len());
                    g.head.extend_from_slice(&bytes[..room.min(n)]);
                    g.tail.extend_from_slice(bytes);
                    if g.tail.len() > 2 * TAIL {
                        let cut = g.tail.len() - TAIL;
                        g.tail.drain(..cut);
                    }
                    g.total += n as u64;
                    g.lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                }
                if let Some(rate) = pace {
                    std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
                }
            }
        });
        capture
    }

    fn lines(&self) -> u64 {
        self.inner.lock().unwrap().lines
    }

    fn head(&self) -> Vec<u8> {
        self.inner.lock().unwrap().head.clone()
    }

    fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head()).into_owned()
    }

    /// Occurrences of `needle` in the kept head.
    fn count(&self, needle: &str) -> usize {
        self.head_text().matches(needle).count()
    }

    fn tail_contains(&self, needle: &str) -> bool {
        let g = self.inner.lock().unwrap();
        g.tail.windows(needle.len()).any(|w| w == needle.as_bytes())
    }
}

/// A victim process. Killed when dropped.
struct Victim {
    child: Child,
    pid: u32,
    _stdin: Option<ChildStdin>,
    out: Arc<Capture>,
    err: Arc<Capture>,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Victim {
    /// Starts `bin` with `args`, the key in FERNET_CHAT_KEY and stdin held
    /// open (end of input would make it say goodbye).
    fn spawn(bin: &Path, args: &[String], key: &Key, pace: Option<u64>) -> Result<Victim, String> {
        let mut child = Command::new(bin)
            .args(args)
            .env("FERNET_CHAT_KEY", key.as_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id();
        LIVE.lock().unwrap().push(pid);
        let out = Capture::spawn(child.stdout.take().unwrap(), 1024 * 1024, pace);
        let err = Capture::spawn(child.stderr.take().unwrap(), 16 * 1024 * 1024, None);
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match read_mem(pid) {
                        Some(mem) => {
                            peak.fetch_max(mem.rss, Ordering::Relaxed);
                        }
                        None => break,
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        Ok(Victim {
            _stdin: child.stdin.take(),
            child,
            pid,
            out,
            err,
            peak,
            stop,
        })
    }

    fn mem(&self) -> Mem {
        read_mem(self.pid).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines of stderr, for a diagnosis.
    fn stderr_tail(&self, n: usize) -> String {
        let text = self.err.head_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|l| format!("{:.160}", format!("{l:?}")))
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        LIVE.lock().unwrap().retain(|&p| p != self.pid);
    }
}

/// Polls `ready` every 10 ms for at most `wait`.
async fn wait_until(wait: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + wait;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// A fresh `server-gui --headless` on 127.0.0.1 and a port of its choice.
async fn server_victim(cfg: &Cfg, key: &Key, pace: Option<u64>) -> Result<(Victim, u16), String> {
    let args = [
        "--headless",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--name",
        "bob",
    ]
    .map(String::from);
    let victim = Victim::spawn(&cfg.bin_dir.join("server-gui"), &args, key, pace)?;
    let out = victim.out.clone();
    if !wait_until(Duration::from_secs(10), || {
        out.head_text().contains("listening: ")
    })
    .await
    {
        return Err(format!(
            "no 'listening:' line within 10 s; stderr: {}",
            victim.stderr_tail(3)
        ));
    }
    let text = victim.out.head_text();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("listening: "))
        .and_then(|a| a.trim().parse::<SocketAddr>().ok())
        .map(|a| a.port())
        .ok_or_else(|| format!("cannot read the port from {text:?}"))?;
    Ok((victim, port))
}

/// A fresh `client-gui --headless` connecting to `port` (the harness's).
fn client_victim(cfg: &Cfg, key: &Key, port: u16, pace: Option<u64>) -> Result<Victim, String> {
    let args = [
        "--headless".to_owned(),
        "--connect".to_owned(),
        format!("127.0.0.1:{port}"),
        "--name".to_owned(),
        "alice".to_owned(),
    ];
    Victim::spawn(&cfg.bin_dir.join("client-gui"), &args, key, pace)
}

// ---------------------------------------------------------------------------
// Speaking the protocol by hand. `tests::raw::RawPeer` does the same for the
// test suite, but its halves cannot be driven from two tasks (a flood that
// writes while another task drains, or leaves the reading half unread), it
// cannot bind a source address, it panics where the harness must report,
// and it seals typed bodies only; the hostile frames here (ids of megabytes,
// a `dir` full of escape sequences) are written as JSON by hand.

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Seals session frames of our own making.
struct Wire {
    key: Key,
    clock: Clock,
    sid: String,
    dir: &'static str,
    seq: u64,
}

impl Wire {
    /// A frame with the session's sid, our dir and the next seq, then
    /// `fields` (JSON object members, without braces).
    fn seal(&mut self, fields: &str) -> String {
        let json = format!(
            r#"{{"sid":"{}","dir":"{}","seq":{},{fields}}}"#,
            self.sid, self.dir, self.seq
        );
        self.seal_raw(&json)
    }

    /// Any plaintext, counted as the next frame.
    fn seal_raw(&mut self, json: &str) -> String {
        self.seq += 1;
        token::seal(&self.key, &self.clock, json.as_bytes())
    }

    /// A `msg` whose text is already a JSON literal.
    fn msg_json(&mut self, id: &str, text_json: &str) -> String {
        let now = self.clock.now_ms();
        self.seal(&format!(
            r#""kind":"msg","id":{},"text":{text_json},"sent_at":{now}"#,
            js(id)
        ))
    }

    fn msg(&mut self, id: &str, text: &str) -> String {
        self.msg_json(id, &js(text))
    }

    /// The next `count` frames, `msg`s of `text_json` with fresh ids,
    /// sealed ahead on two threads: sent afterwards, they go out as fast
    /// as the socket takes them, not at the pace of our own encryption
    /// (which shares the machine with the victim).
    fn presealed_msgs(&mut self, count: usize, text_json: &str) -> Vec<String> {
        let first = self.seq;
        let mut frames = vec![String::new(); count];
        let per_thread = count.div_ceil(2).max(1);
        let wire = &*self;
        std::thread::scope(|scope| {
            for (t, chunk) in frames.chunks_mut(per_thread).enumerate() {
                scope.spawn(move || {
                    for (j, slot) in chunk.iter_mut().enumerate() {
                        let seq = first + (t * per_thread + j) as u64;
                        let json = format!(
                            r#"{{"sid":"{}","dir":"{}","seq":{seq},"kind":"msg","id":{},"text":{text_json},"sent_at":{}}}"#,
                            wire.sid,
                            wire.dir,
                            js(&random_id()),
                            wire.clock.now_ms()
                        );
                        *slot = token::seal(&wire.key, &wire.clock, json.as_bytes());
                    }
                });
            }
        });
        self.seq += count as u64;
        frames
    }
}

/// One end of a hand-made session.
struct Peer {
    wire: Wire,
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

async fn dial(port: u16, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
}

/// The next line; `None` once the other side closed (or reset).
async fn read_line(
    read: &mut BufReader<OwnedReadHalf>,
    wait: Duration,
) -> Result<Option<String>, String> {
    let mut line = String::new();
    match timeout(wait, read.read_line(&mut line)).await {
        Err(_) => Err(format!("no line within {wait:?}")),
        Ok(Ok(0) | Err(_)) => Ok(None),
        Ok(Ok(_)) => Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned())),
    }
}

fn preview(line: &str) -> String {
    format!("{:.80}", format!("{line:?}"))
}

impl Peer {
    /// Connects to a server and completes the handshake as a client (hello,
    /// welcome checked, ready sent). Also returns the time from the start
    /// of the TCP connect to the welcome checked.
    async fn connect(
        key: &Key,
        port: u16,
        source: Option<IpAddr>,
        name: &str,
    ) -> Result<(Peer, Duration), String> {
        let t0 = Instant::now();
        let stream = timeout(Duration::from_secs(5), dial(port, source))
            .await
            .map_err(|_| "TCP connect took over 5 s".to_owned())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let clock = Clock::system();
        let nonce = random_id();
        // The harness speaks protocol 1: its frames are written by hand.
        let hello = handshake::seal_hello_up_to(key, &clock, &nonce, name, PROTO);
        write
            .write_all(format!("{hello}\n").as_bytes())
            .await
            .map_err(|e| format!("sending the hello: {e}"))?;
        let line = read_line(&mut read, Duration::from_secs(5))
            .await?
            .ok_or("closed before the welcome")?;
        let (welcome, _) = handshake::open_welcome(key, &clock, &line, &nonce, PROTO)
            .map_err(|e| format!("bad welcome ({e:?}): {}", preview(&line)))?;
        let elapsed = t0.elapsed();
        let mut wire = Wire {
            key: key.clone(),
            clock,
            sid: format!("{nonce}.{}", welcome.nonce),
            dir: "c2s",
            seq: 0,
        };
        let ready = wire.seal(r#""kind":"ready""#);
        write
            .write_all(format!("{ready}\n").as_bytes())
            .await
            .map_err(|e| format!("sending ready: {e}"))?;
        Ok((Peer { wire, read, write }, elapsed))
    }

    /// Accepts one client on `listener` and completes the handshake as the
    /// server, answering with `name` in the welcome.
    async fn accept(
        key: &Key,
        listener: &TcpListener,
        name: &str,
        wait: Duration,
    ) -> Result<Peer, String> {
        let (stream, _) = timeout(wait, listener.accept())
            .await
            .map_err(|_| format!("the client did not connect within {wait:?}"))?
            .map_err(|e| format!("accept: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let clock = Clock::system();
        let line = read_line(&mut read, Duration::from_secs(5))
            .await?
            .ok_or("closed before the hello")?;
        let (hello, offset) =
            handshake::open_hello(key, &clock, &line).map_err(|e| format!("bad hello ({e:?})"))?;
        let nonce = random_id();
        let welcome = handshake::seal_welcome(key, &clock, &nonce, &hello.nonce, name, PROTO);
        write
            .write_all(format!("{welcome}\n").as_bytes())
            .await
            .map_err(|e| format!("sending the welcome: {e}"))?;
        let sid = format!("{}.{nonce}", hello.nonce);
        let ready = read_line(&mut read, Duration::from_secs(5))
            .await?
            .ok_or("closed before ready")?;
        let mut check = Session::new(
            key.clone(),
            clock.clone(),
            sid.clone(),
            Role::Server,
            offset,
        );
        match check.open(&ready) {
            Ok(Some(Body::Ready)) => {}
            other => return Err(format!("not a ready: {other:?}")),
        }
        let wire = Wire {
            key: key.clone(),
            clock,
            sid,
            dir: "s2c",
            seq: 0,
        };
        Ok(Peer { wire, read, write })
    }

    /// Writes one line; `false` once the connection is gone.
    async fn send(&mut self, line: &str) -> bool {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.write.write_all(&bytes).await.is_ok()
    }

    /// Reads and discards until the other side closes; `false` if it has
    /// not within `wait`.
    async fn closed(&mut self, wait: Duration) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        timeout(wait, async {
            while matches!(self.read.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await
        .is_ok()
    }
}

// ---------------------------------------------------------------------------
// Results.

#[derive(Debug, Clone, Copy)]
struct MemReport {
    base: Mem,
    /// The sampled VmRSS maximum during the case (every 10 ms).
    peak: u64,
    after: Mem,
}

impl MemReport {
    /// Peak growth: VmHWM (exact, since the victim started) over the
    /// baseline; the victim is fresh for each case.
    fn growth(&self) -> u64 {
        self.after.hwm.max(self.peak).saturating_sub(self.base.rss)
    }

    fn residual(&self) -> i64 {
        self.after.rss as i64 - self.base.rss as i64
    }

    fn returned(&self) -> bool {
        self.residual() <= (RESIDUAL_FLOOR.max(self.growth() / 2)) as i64
    }
}

/// A memory phase: baseline now, the rest at [`Phase::end`].
struct Phase {
    base: Mem,
}

impl Phase {
    fn begin(v: &Victim) -> Phase {
        let base = v.mem();
        v.peak.store(base.rss, Ordering::Relaxed);
        Phase { base }
    }

    /// Call once the attacker has left: waits [`SETTLE`], then measures.
    async fn end(self, v: &Victim) -> MemReport {
        sleep(SETTLE).await;
        let after = v.mem();
        MemReport {
            base: self.base,
            peak: v.peak.load(Ordering::Relaxed).max(after.rss),
            after,
        }
    }
}

struct Row {
    case: String,
    mem: Option<MemReport>,
    figures: String,
    checks: Vec<(String, bool)>,
    /// Counts towards the exit code (a target of the issue); otherwise the
    /// row is information.
    target: bool,
}

impl Row {
    fn new(case: impl Into<String>) -> Row {
        Row {
            case: case.into(),
            mem: None,
            figures: String::new(),
            checks: Vec::new(),
            target: true,
        }
    }

    fn broken(case: impl Into<String>, why: impl Into<String>) -> Row {
        let mut row = Row::new(case);
        row.checks.push((format!("harness: {}", why.into()), false));
        row
    }

    fn check(&mut self, what: impl Into<String>, ok: bool) {
        self.checks.push((what.into(), ok));
    }

    /// The memory targets: growth at most 64 MiB, back toward the baseline.
    fn memory(&mut self, mem: MemReport) {
        self.check(
            format!("growth {} <= 64 MiB", mib(mem.growth())),
            mem.growth() <= GROWTH_MAX,
        );
        self.check(
            format!(
                "after {SETTLE:?} holds {} over baseline (<= max(8 MiB, growth/2))",
                mib_signed(mem.residual())
            ),
            mem.returned(),
        );
        self.mem = Some(mem);
    }

    fn ok(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

fn mib_signed(bytes: i64) -> String {
    format!("{:+.1} MiB", bytes as f64 / MIB as f64)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Prints a scenario's table; returns how many target rows failed.
fn print_table(title: &str, rows: &[Row]) -> usize {
    println!();
    println!("== {title} ==");
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {:<7} figures",
        "case", "base", "peak", "hwm", "growth", "after", "anon+", "verdict"
    );
    let f = |b: u64| format!("{:.1}", b as f64 / MIB as f64);
    let mut failed = 0;
    for row in rows {
        let verdict = match (row.ok(), row.target) {
            (true, true) => "PASS",
            (false, true) => "FAIL",
            (true, false) => "info",
            (false, false) => "info!",
        };
        if row.target && !row.ok() {
            failed += 1;
        }
        let (base, peak, hwm, growth, after, anon) = match row.mem {
            Some(m) => (
                f(m.base.rss),
                f(m.peak),
                f(m.after.hwm),
                f(m.growth()),
                f(m.after.rss),
                format!(
                    "{:+.1}",
                    (m.after.anon as f64 - m.base.anon as f64) / MIB as f64
                ),
            ),
            None => Default::default(),
        };
        println!(
            "{:<40} {base:>8} {peak:>8} {hwm:>8} {growth:>8} {after:>8} {anon:>8}  {verdict:<7} {}",
            row.case, row.figures
        );
        for (what, ok) in &row.checks {
            if !ok {
                println!("{:<42}missed: {what}", "");
            }
        }
    }
    println!(
        "(MiB of the victim's VmRSS: at the baseline, sampled peak, VmHWM, growth = VmHWM - base, \
         {SETTLE:?} after the attacker left, and the change of RssAnon base -> after)"
    );
    failed
}

// ---------------------------------------------------------------------------
// Settings.

struct Cfg {
    bin_dir: PathBuf,
    quick: bool,
    door_conns: usize,
}

impl Cfg {
    /// `n`, or a tenth of it with `--quick`.
    fn n(&self, n: usize) -> usize {
        if self.quick { (n / 10).max(1) } else { n }
    }
}

/// The soft limit on open files, from /proc/self/limits.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// ---------------------------------------------------------------------------
// 1. The door.

#[derive(Default)]
struct DoorStats {
    /// First attempts done (connected or failed), for "all in place".
    first: AtomicUsize,
    connected: AtomicUsize,
    failed: AtomicUsize,
    closed_by_server: AtomicUsize,
    err_lines: AtomicUsize,
    reconnects: AtomicUsize,
}

/// Reconnects allowed in all in churn mode (the deadline bounds it too).
const CHURN_MAX: usize = 500_000;

/// One no-key connection: silent, or a byte every 500 ms; with `churn`,
/// reconnects at once whenever the server drops it.
async fn door_conn(
    port: u16,
    source: IpAddr,
    trickle: bool,
    churn: bool,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
    stats: Arc<DoorStats>,
) {
    let mut first = true;
    loop {
        if *stop.borrow() || Instant::now() >= deadline {
            return;
        }
        if !first && stats.reconnects.fetch_add(1, Ordering::Relaxed) >= CHURN_MAX {
            return;
        }
        let stream = timeout(Duration::from_secs(3), dial(port, Some(source))).await;
        if std::mem::take(&mut first) {
            stats.first.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(Ok(stream)) = stream else {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            if !churn {
                return;
            }
            sleep(Duration::from_millis(20)).await;
            continue;
        };
        stats.connected.fetch_add(1, Ordering::Relaxed);
        let (mut r, mut w) = stream.into_split();
        let mut buf = [0u8; 512];
        let start = tokio::time::Instant::now() + Duration::from_millis(500);
        let mut tick = tokio::time::interval_at(start, Duration::from_millis(500));
        let closed = loop {
            tokio::select! {
                _ = stop.changed() => break false,
                _ = tokio::time::sleep_until(deadline.into()) => break false,
                n = r.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break true,
                    Ok(n) => {
                        if buf[..n].starts_with(b"ERR") {
                            stats.err_lines.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                },
                _ = tick.tick(), if trickle => {
                    if w.write_all(b"g").await.is_err() {
                        break true;
                    }
                }
            }
        };
        if closed {
            stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
        if !closed || !churn {
            return;
        }
    }
}

/// The real client engine: time to `Connected` and the errors it retried
/// after, or why it never connected.
async fn engine_client(key: &Key, port: u16) -> Result<(Duration, Vec<String>), String> {
    let t0 = Instant::now();
    let server = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let (handle, mut events) = common::client::connect(ClientConfig {
        chat: Config::new(key.clone(), "alice"),
        server,
    });
    let result = timeout(Duration::from_secs(10), async {
        let mut notes = Vec::new();
        while let Some(event) = events.recv().await {
            match event {
                ClientEvent::Connected { .. } => return Ok((t0.elapsed(), notes)),
                ClientEvent::Failed(e) => return Err(format!("failed: {e}")),
                ClientEvent::Retrying { error, .. } => notes.push(error.to_string()),
                _ => {}
            }
        }
        Err("the engine stopped".to_owned())
    })
    .await;
    handle.quit();
    drop(events);
    match result {
        Ok(r) => r,
        Err(_) => Err("no session within 10 s".to_owned()),
    }
}

async fn door_case(cfg: &Cfg, trickle: bool, sources: usize, churn: bool) -> Row {
    let n = cfg.door_conns;
    let mode = match (trickle, churn) {
        (true, _) => "trickling",
        (false, false) => "silent",
        (false, true) => "silent+reconnecting",
    };
    let case = format!(
        "{n} {mode} from {sources} source{}",
        if sources == 1 { "" } else { "s" }
    );
    let key = Key::generate().unwrap();
    let (mut victim, port) = match server_victim(cfg, &key, None).await {
        Ok(v) => v,
        Err(e) => return Row::broken(case, e),
    };
    sleep(Duration::from_millis(300)).await;
    let phase = Phase::begin(&victim);
    let err_lines_before = victim.err.lines();
    let stats = Arc::new(DoorStats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let source = if sources == 1 {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % sources) as u8))
        };
        tasks.push(tokio::spawn(door_conn(
            port,
            source,
            trickle,
            churn,
            stop_rx.clone(),
            deadline,
            stats.clone(),
        )));
    }
    let in_place = wait_until(Duration::from_secs(10), || {
        stats.first.load(Ordering::Relaxed) >= n
    })
    .await;
    let open_time = t0.elapsed();
    let t = Instant::now();
    let mut row = Row::new(case);
    row.target = !churn;
    row.check("all attack connections made within 10 s", in_place);

    // Right-key handshakes from 127.0.0.1 while the door is crowded: by
    // hand (time to the welcome), then the real client engine (time to
    // Connected, retries included), then by hand again.
    let mut times = Vec::new();
    let mut retries = Vec::new();
    for (at, engine) in [(200, false), (600, false), (1000, true), (2500, false)] {
        tokio::time::sleep_until((t + Duration::from_millis(at)).into()).await;
        let result = if engine {
            engine_client(&key, port).await
        } else {
            Peer::connect(&key, port, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), "alice")
                .await
                .map(|(_peer, t)| (t, Vec::new()))
        };
        let label = if engine { "engine" } else { "hand" };
        let tag = if engine { "E" } else { "" };
        match result {
            Ok((d, retried)) => {
                row.check(
                    format!("{label} handshake at +{at} ms took {} (< 1 s)", ms(d)),
                    d < HANDSHAKE_MAX,
                );
                times.push(format!("{tag}{}", ms(d)));
                if !retried.is_empty() {
                    retries.push(format!("{label} retried after: {}", retried.join("; ")));
                }
            }
            Err(e) => {
                row.check(format!("{label} handshake at +{at} ms: {e}"), false);
                times.push(format!("{tag}fail"));
            }
        }
    }
    let attack_conns = stats.connected.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = timeout(Duration::from_secs(5), task).await;
    }
    let alive = victim.alive();
    let mem = phase.end(&victim).await;
    row.check("the server still runs", alive);
    row.memory(mem);
    let s = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    row.figures = format!(
        "in place {}; handshakes {}; attack conns {attack_conns} (failed {}), dropped by server {} \
         ({} with ERR); stderr +{} lines{}",
        ms(open_time),
        times.join(" / "),
        s(&stats.failed),
        s(&stats.closed_by_server),
        s(&stats.err_lines),
        victim.err.lines() - err_lines_before,
        if retries.is_empty() {
            String::new()
        } else {
            format!("; {}", retries.join("; "))
        },
    );
    row
}

async fn door(cfg: &Cfg) -> Vec<Row> {
    let mut rows = Vec::new();
    for (trickle, sources, churn) in [
        (false, 1, false),
        (false, 50, false),
        (true, 1, false),
        (true, 50, false),
        (false, 1, true),
        (false, 50, true),
    ] {
        rows.push(door_case(cfg, trickle, sources, churn).await);
    }
    rows
}

// ---------------------------------------------------------------------------
// 2 and 3. Right-key floods, against the server or the client.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    /// The victim is the server; the harness connects as a client.
    Server,
    /// The victim is the client; the harness listens and plays the server.
    Client,
}

/// A victim and the way to get a right-key session with it.
struct Arena {
    side: Side,
    key: Key,
    victim: Victim,
    port: u16,
    listener: Option<TcpListener>,
}

impl Arena {
    async fn start(cfg: &Cfg, side: Side, pace: Option<u64>) -> Result<Arena, String> {
        let key = Key::generate().map_err(|e| e.to_string())?;
        match side {
            Side::Server => {
                let (victim, port) = server_victim(cfg, &key, pace).await?;
                Ok(Arena {
                    side,
                    key,
                    victim,
                    port,
                    listener: None,
                })
            }
            Side::Client => {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?;
                let port = listener.local_addr().map_err(|e| e.to_string())?.port();
                let victim = client_victim(cfg, &key, port, pace)?;
                Ok(Arena {
                    side,
                    key,
                    victim,
                    port,
                    listener: Some(listener),
                })
            }
        }
    }

    /// A fresh session with the victim (the client victim reconnects by
    /// itself, after its backoff if the last session ended in an alert).
    async fn peer(&mut self) -> Result<Peer, String> {
        match self.side {
            Side::Server => Peer::connect(&self.key, self.port, None, "mallory")
                .await
                .map(|(p, _)| p),
            Side::Client => {
                let listener = self.listener.as_ref().unwrap();
                Peer::accept(&self.key, listener, "mallory", Duration::from_secs(15)).await
            }
        }
    }
}

/// Starts an arena and its first session, and takes the baseline.
async fn setup(cfg: &Cfg, side: Side, pace: Option<u64>) -> Result<(Arena, Peer, Phase), String> {
    let mut arena = Arena::start(cfg, side, pace).await?;
    let peer = arena.peer().await?;
    sleep(Duration::from_millis(300)).await;
    let phase = Phase::begin(&arena.victim);
    Ok((arena, peer, phase))
}

/// Ids of 1.5 MB in `msg` and `ack` frames, `rounds` sessions of three
/// frames each, never reading: each must be refused with an alert.
async fn flood_huge_ids(cfg: &Cfg, side: Side, rounds: usize) -> Row {
    let case = format!("huge ids: {rounds} sessions x 3 frames");
    let (mut arena, first, phase) = match setup(cfg, side, None).await {
        Ok(x) => x,
        Err(e) => return Row::broken(case, e),
    };
    let huge = js(&"A".repeat(1_500_000));
    let t0 = Instant::now();
    let mut closed = 0;
    let mut done = 0;
    let mut error = None;
    let mut next = Some(first);
    for round in 0..rounds {
        let mut peer = match next.take() {
            Some(p) => p,
            None => match arena.peer().await {
                Ok(p) => p,
                Err(e) => {
                    error = Some(format!("session {round}: {e}"));
                    break;
                }
            },
        };
        for k in 0..3 {
            let frame = if (round + k) % 2 == 0 {
                let now = peer.wire.clock.now_ms();
                peer.wire.seal(&format!(
                    r#""kind":"msg","id":{huge},"text":"hi","sent_at":{now}"#
                ))
            } else {
                peer.wire.seal(&format!(r#""kind":"ack","of":{huge}"#))
            };
            if !peer.send(&frame).await {
                break;
            }
        }
        if peer.closed(Duration::from_secs(5)).await {
            closed += 1;
        }
        done += 1;
    }
    let elapsed = t0.elapsed();
    let alerts = arena.victim.err.count("is not an id");
    let alive = arena.victim.alive();
    let mem = phase.end(&arena.victim).await;
    let mut row = Row::new(case);
    if let Some(e) = error {
        row.check(e, false);
    }
    row.check(
        format!("each session closed by the victim ({closed}/{done})"),
        closed == done && done == rounds,
    );
    row.check(
        format!("each refused with an alert 'is not an id' ({alerts}/{done})"),
        alerts >= done && done > 0,
    );
    row.check("the victim still runs", alive);
    row.memory(mem);
    row.figures = format!(
        "{done} sessions in {:.1} s, {closed} closed by the victim, {alerts} alerts",
        elapsed.as_secs_f64()
    );
    row
}

/// Growth over the baseline after each round of a case that repeats its
/// attack on the same victim: shows whether a second attack reuses what
/// the first left behind or grows the victim further.
fn rounds_figure(base: &Mem, peaks: &[u64]) -> String {
    let list: Vec<String> = peaks
        .iter()
        .map(|p| format!("{:+.1}", (*p as f64 - base.rss as f64) / MIB as f64))
        .collect();
    format!("peak growth per round {} MiB", list.join(" / "))
}

/// `count` pings, never reading the pongs: the victim must end the session
/// with "the other side stopped reading". With `rounds` > 1 the attack is
/// repeated on the same victim (a fresh session each time).
async fn flood_pings(cfg: &Cfg, side: Side, count: usize, rounds: usize) -> Row {
    let mut case = format!("{count} pings, pongs never read");
    if rounds > 1 {
        let _ = write!(case, ", x{rounds}");
    }
    let (mut arena, first, phase) = match setup(cfg, side, None).await {
        Ok(x) => x,
        Err(e) => return Row::broken(case, e),
    };
    let mut row = Row::new(case);
    let mut next = Some(first);
    let mut peaks = Vec::new();
    let mut figures = Vec::new();
    for round in 0..rounds {
        let mut peer = match next.take() {
            Some(p) => p,
            None => match arena.peer().await {
                Ok(p) => p,
                Err(e) => {
                    row.check(format!("harness: round {}: {e}", round + 1), false);
                    break;
                }
            },
        };
        let before = arena.victim.err.count("stopped reading");
        let t0 = Instant::now();
        let mut sent = 0;
        let mut bytes = 0u64;
        let finished = timeout(Duration::from_secs(60), async {
            while sent < count {
                let batch = 2000.min(count - sent);
                let mut buf = String::with_capacity(batch * 210);
                for _ in 0..batch {
                    buf.push_str(&peer.wire.seal(r#""kind":"ping""#));
                    buf.push('\n');
                }
                if peer.write.write_all(buf.as_bytes()).await.is_err() {
                    return false;
                }
                sent += batch;
                bytes += buf.len() as u64;
            }
            true
        })
        .await;
        let write_time = t0.elapsed();
        let err = arena.victim.err.clone();
        let stopped = wait_until(Duration::from_secs(15), || {
            err.count("stopped reading") > before
        })
        .await;
        let cut_after = t0.elapsed();
        drop(peer);
        row.check(
            format!(
                "round {}: ended with 'the other side stopped reading'",
                round + 1
            ),
            stopped,
        );
        let how = match finished {
            Ok(true) => "all written",
            Ok(false) => "cut by the victim",
            Err(_) => "writing stalled 60 s",
        };
        figures.push(format!(
            "{sent} pings ({}) written in {:.1} s, {how}; 'stopped reading' {}",
            mib(bytes),
            write_time.as_secs_f64(),
            if stopped {
                format!("at {:.1} s", cut_after.as_secs_f64())
            } else {
                "never".to_owned()
            }
        ));
        if rounds > 1 {
            sleep(SETTLE).await;
            peaks.push(arena.victim.mem().hwm);
        }
    }
    let alive = arena.victim.alive();
    let mem = phase.end(&arena.victim).await;
    row.check("the victim still runs", alive);
    row.memory(mem);
    if rounds > 1 {
        figures.truncate(1);
        figures.push(rounds_figure(&mem.base, &peaks));
        row.target = false;
    }
    row.figures = figures.join("; ");
    row
}

/// A flood of messages of exactly the text limit.
#[derive(Clone, Copy)]
struct TextFlood {
    count: usize,
    /// Every byte a control character, so JSON makes it six times longer
    /// and the token about 2 MB; otherwise `x`s.
    escaped: bool,
    /// The victim's stdout is read at this many bytes per second (a
    /// terminal's pace); otherwise as fast as it comes.
    pace: Option<u64>,
    /// Messages per second the attacker sends; otherwise full speed.
    rate: Option<u32>,
    /// The attack is repeated on the same victim, a fresh session each time.
    rounds: usize,
}

/// Messages of exactly the text limit, acks never read; all must be shown.
async fn flood_max_text(cfg: &Cfg, side: Side, f: TextFlood) -> Row {
    let mut case = format!(
        "{} msgs of {TEXT_MAX} B{}",
        f.count,
        if f.escaped { " (\\u0001s)" } else { " ('x's)" },
    );
    if let Some(p) = f.pace {
        let _ = write!(case, ", stdout {} MB/s", p / MIB);
    }
    if let Some(r) = f.rate {
        let _ = write!(case, ", {r}/s");
    }
    if f.rounds > 1 {
        let _ = write!(case, ", x{}", f.rounds);
    }
    let (mut arena, first, phase) = match setup(cfg, side, f.pace).await {
        Ok(x) => x,
        Err(e) => return Row::broken(case, e),
    };
    let mut row = Row::new(case);
    // Information, not a target: the slower attacker, and the repeat.
    row.target = f.rate.is_none() && f.rounds == 1;
    let text = if f.escaped {
        js(&"\u{1}".repeat(TEXT_MAX))
    } else {
        js(&"x".repeat(TEXT_MAX))
    };
    let mut next = Some(first);
    let mut peaks = Vec::new();
    let mut figures = Vec::new();
    for round in 0..f.rounds {
        let mut peer = match next.take() {
            Some(p) => p,
            None => match arena.peer().await {
                Ok(p) => p,
                Err(e) => {
                    row.check(format!("harness: round {}: {e}", round + 1), false);
                    break;
                }
            },
        };
        // At full speed the frames are sealed first (the victim meanwhile
        // sees a silent peer, well within its 30 s lost interval).
        let seal_start = Instant::now();
        let mut presealed = match f.rate {
            None => tokio::task::block_in_place(|| peer.wire.presealed_msgs(f.count, &text)),
            Some(_) => Vec::new(),
        };
        let seal_time = seal_start.elapsed();
        let lines_before = arena.victim.out.lines();
        let t0 = Instant::now();
        let mut sent = 0;
        let mut token_bytes = 0u64;
        let wrote = timeout(Duration::from_secs(90), async {
            for i in 0..f.count {
                if let Some(rate) = f.rate {
                    let due = t0 + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let frame = match presealed.get_mut(i) {
                    Some(frame) => std::mem::take(frame),
                    None => peer.wire.msg_json(&random_id(), &text),
                };
                token_bytes += frame.len() as u64 + 1;
                if !peer.send(&frame).await {
                    return false;
                }
                sent += 1;
            }
            true
        })
        .await;
        let write_time = t0.elapsed();
        let out = arena.victim.out.clone();
        let count = f.count as u64;
        let delivered_all = wait_until(Duration::from_secs(90), || {
            out.lines() - lines_before >= count
        })
        .await;
        let shown_time = t0.elapsed();
        let delivered = out.lines() - lines_before;
        drop(peer);
        row.check(
            format!("round {}: all written ({sent}/{})", round + 1, f.count),
            matches!(wrote, Ok(true)),
        );
        row.check(
            format!(
                "round {}: all shown on stdout ({delivered}/{})",
                round + 1,
                f.count
            ),
            delivered_all,
        );
        figures.push(format!(
            "{}{} of tokens written in {:.2} s; shown {delivered}/{} in {:.2} s ({:.0} msg/s, {:.0} MiB/s of text)",
            if f.rate.is_none() {
                format!("sealed ahead in {:.1} s; ", seal_time.as_secs_f64())
            } else {
                String::new()
            },
            mib(token_bytes),
            write_time.as_secs_f64(),
            f.count,
            shown_time.as_secs_f64(),
            delivered as f64 / shown_time.as_secs_f64(),
            (delivered as f64 * TEXT_MAX as f64) / MIB as f64 / shown_time.as_secs_f64(),
        ));
        if f.rounds > 1 {
            sleep(SETTLE).await;
            peaks.push(arena.victim.mem().hwm);
        }
    }
    let alive = arena.victim.alive();
    let mem = phase.end(&arena.victim).await;
    row.check("the victim still runs", alive);
    row.memory(mem);
    if f.rounds > 1 {
        figures.truncate(1);
        figures.push(rounds_figure(&mem.base, &peaks));
    }
    row.figures = figures.join("; ");
    row
}

/// `count` one-character messages with distinct valid ids (the
/// de-duplication memory), acks drained by another task.
async fn flood_distinct_ids(cfg: &Cfg, side: Side, count: usize) -> Row {
    let case = format!("{count} distinct ids (acks read)");
    let (mut arena, peer, phase) = match setup(cfg, side, None).await {
        Ok(x) => x,
        Err(e) => return Row::broken(case, e),
    };
    let Peer {
        mut wire,
        mut read,
        mut write,
    } = peer;
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        while let Ok(Ok(n)) = timeout(Duration::from_secs(60), read.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let lines_before = arena.victim.out.lines();
    let marker = format!("end-of-flood-{}", random_id());
    let t0 = Instant::now();
    let mut sent = 0;
    let wrote = timeout(Duration::from_secs(90), async {
        while sent < count {
            let batch = 1000.min(count - sent);
            let mut buf = String::with_capacity(batch * 300);
            for _ in 0..batch {
                buf.push_str(&wire.msg(&random_id(), "x"));
                buf.push('\n');
            }
            if write.write_all(buf.as_bytes()).await.is_err() {
                return false;
            }
            sent += batch;
        }
        let last = wire.msg(&random_id(), &marker);
        write
            .write_all(format!("{last}\n").as_bytes())
            .await
            .is_ok()
    })
    .await;
    let out = arena.victim.out.clone();
    let shown = wait_until(Duration::from_secs(90), || out.tail_contains(&marker)).await;
    let elapsed = t0.elapsed();
    let delivered = out.lines() - lines_before;
    drop(write);
    drain.abort();
    let alive = arena.victim.alive();
    let mem = phase.end(&arena.victim).await;
    let mut row = Row::new(case);
    row.check(
        format!("all written ({sent}/{count})"),
        matches!(wrote, Ok(true)),
    );
    row.check(
        format!("all shown, the last one too ({delivered}/{})", count + 1),
        shown && delivered > count as u64,
    );
    row.check("the victim still runs", alive);
    row.memory(mem);
    row.figures = format!(
        "{delivered} shown in {:.2} s ({:.0} msg/s)",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
    row
}

/// Messages of 262,145 and 700,000 bytes, one session each: each must be
/// refused with an alert and never shown.
async fn flood_over_limit(cfg: &Cfg, side: Side) -> Row {
    let sizes = [TEXT_MAX + 1, 700_000];
    let case = "msgs of 262,145 and 700,000 B".to_owned();
    let (mut arena, first, phase) = match setup(cfg, side, None).await {
        Ok(x) => x,
        Err(e) => return Row::broken(case, e),
    };
    let lines_before = arena.victim.out.lines();
    let mut row = Row::new(case);
    let mut next = Some(first);
    let mut closed = 0;
    for size in sizes {
        let mut peer = match next.take() {
            Some(p) => p,
            None => match arena.peer().await {
                Ok(p) => p,
                Err(e) => {
                    row.check(format!("session for {size} B: {e}"), false);
                    break;
                }
            },
        };
        let frame = peer.wire.msg(&random_id(), &"y".repeat(size));
        peer.send(&frame).await;
        if peer.closed(Duration::from_secs(5)).await {
            closed += 1;
        }
    }
    sleep(Duration::from_millis(300)).await;
    let alerts = arena.victim.err.count("-byte limit");
    let shown = arena.victim.out.lines() - lines_before;
    let alive = arena.victim.alive();
    let mem = phase.end(&arena.victim).await;
    row.check(
        format!("each refused with an alert ({alerts}/2)"),
        alerts >= 2,
    );
    row.check(format!("each session closed ({closed}/2)"), closed == 2);
    row.check(format!("nothing shown ({shown} lines)"), shown == 0);
    row.check("the victim still runs", alive);
    row.memory(mem);
    row.figures = format!(
        "{alerts} alerts, {closed} sessions closed, {shown} lines shown; stderr: {}",
        arena.victim.stderr_tail(1)
    );
    row
}

async fn floods(cfg: &Cfg, side: Side) -> Vec<Row> {
    let mut rows = Vec::new();
    let huge_rounds = match side {
        Side::Server => cfg.n(100),
        // The client backs off after each alert (0.5 s, 1 s, 2 s, ...).
        Side::Client => 4,
    };
    rows.push(flood_huge_ids(cfg, side, huge_rounds).await);
    rows.push(flood_pings(cfg, side, cfg.n(400_000), 1).await);
    let flood = TextFlood {
        count: cfg.n(300),
        escaped: false,
        pace: None,
        rate: None,
        rounds: 1,
    };
    rows.push(flood_max_text(cfg, side, flood).await);
    let paced = TextFlood {
        pace: Some(TERMINAL_PACE),
        ..flood
    };
    rows.push(flood_max_text(cfg, side, paced).await);
    let escaped = TextFlood {
        escaped: true,
        ..flood
    };
    rows.push(flood_max_text(cfg, side, escaped).await);
    let escaped_paced = TextFlood {
        pace: Some(TERMINAL_PACE),
        ..escaped
    };
    rows.push(flood_max_text(cfg, side, escaped_paced).await);
    rows.push(flood_distinct_ids(cfg, side, cfg.n(200_000)).await);
    rows.push(flood_over_limit(cfg, side).await);
    // For the diagnosis (information, not targets): the same flood at a
    // slower pace (does the victim keep up, and stay small?), and floods
    // repeated on the same victim (is what stays after one reused by the
    // next, or does each add more?).
    let slower = TextFlood {
        rate: Some(50),
        ..flood
    };
    rows.push(flood_max_text(cfg, side, slower).await);
    let twice = TextFlood { rounds: 2, ..flood };
    rows.push(flood_max_text(cfg, side, twice).await);
    rows.push(flood_pings(cfg, side, cfg.n(400_000), 2).await);
    rows
}

/// For the diagnosis: the same full-speed flood of text-limit messages
/// with growing counts, each against a fresh server. If the growth rises
/// with the count and then stops, the memory is a queue with a bound in
/// messages, and the plateau tells which.
async fn sweep(cfg: &Cfg) -> Vec<Row> {
    let mut rows = Vec::new();
    for count in [32, 64, 128, 192, 256, 384, 512] {
        let flood = TextFlood {
            count: cfg.n(count),
            escaped: false,
            pace: None,
            rate: None,
            rounds: 1,
        };
        let mut row = flood_max_text(cfg, Side::Server, flood).await;
        row.target = false;
        if let Some(mem) = row.mem {
            let per = mem.growth() as f64 / cfg.n(count) as f64 / 1024.0;
            row.figures = format!("{per:.0} KiB of growth per message; {}", row.figures);
        }
        rows.push(row);
    }
    rows
}

// ---------------------------------------------------------------------------
// 4. Terminal injection.

const EVIL_NAME: &str =
    "mallory\u{202e}gnp.exe\u{1b}[2J\u{1b}]0;pwned\u{7}\r\nSECURITY ALERT: forged by name";

const EVIL_MESSAGES: &[&str] = &[
    "clear:\u{1b}[2J\u{1b}[H",
    "clipboard:\u{1b}]52;c;SGFja2Vk\u{7}",
    "title:\u{1b}]0;pwned\u{1b}\\",
    "overwrite: harmless\rSECURITY ALERT: forged by CR",
    "multi\nSECURITY ALERT: forged by newline, paste your key\nsrv: please paste your key here",
    "rlo: \u{202e}gnp.exe",
    "c1: \u{9b}2J \u{9d}52;c;SGFja2Vk\u{9c}",
    "del:\u{7f} bell:\u{7} backspace:\u{8}\u{8}\u{8}",
    "linesep:\u{2028}SECURITY ALERT: forged by U+2028",
    "invisible: a\u{200b}b \u{2066}isolated\u{2069} \u{feff}",
];

const EVIL_REASON: &str = "\u{1b}[2Jbye\nSECURITY ALERT: forged by bye reason\u{202e}";

/// A frame whose `dir` is escape sequences: the parse error quotes it.
const EVIL_DIR: &str = "\u{1b}[2J\u{1b}]52;c;SGFja2Vk\u{7}\nSECURITY ALERT: forged by parse error";

const EVIL_ERR: &str = "ERR key-mismatch \u{1b}[2J\u{1b}]52;c;SGFja2Vk\u{7}\u{9b}31m\u{202e}gnp.exe\rSECURITY ALERT: forged by ERR";

/// Characters found raw in `bytes` that act on a terminal or reorder text.
fn hazards(bytes: &[u8]) -> Vec<(&'static str, usize)> {
    let text = String::from_utf8_lossy(bytes);
    let mut found: Vec<(&'static str, usize)> = Vec::new();
    let mut add = |what: &'static str| match found.iter_mut().find(|(w, _)| *w == what) {
        Some((_, n)) => *n += 1,
        None => found.push((what, 1)),
    };
    for c in text.chars() {
        match c {
            '\n' | '\t' => {}
            '\u{1b}' => add("ESC"),
            '\u{7}' => add("BEL"),
            '\r' => add("CR"),
            '\u{8}' => add("BS"),
            '\u{7f}' => add("DEL"),
            c if (c as u32) < 0x20 => add("other C0"),
            '\u{80}'..='\u{9f}' => add("C1"),
            '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{61c}' => add("bidi control"),
            '\u{200b}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{2060}' => {
                add("invisible/separator")
            }
            _ => {}
        }
    }
    found
}

/// Lines that pass for something the victim did not say: a status line
/// whose text is the peer's (`SECURITY ALERT: forged ...` at the start of a
/// line, not quoted inside a real alert), or a message from someone else.
fn forged_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split(['\n', '\r', '\u{2028}', '\u{2029}'])
        .filter(|l| {
            let l = l.trim_start_matches(|c: char| c.is_control() || c == '\u{feff}');
            l.starts_with("SECURITY ALERT: forged") || l.starts_with("srv:")
        })
        .map(visible)
        .collect()
}

/// `line` as the report shows it: every control, bidi or invisible
/// character the victim let through raw becomes `<U+XXXX>`; everything else,
/// including the victim's own escapes such as `\u{1b}`, is left as it is.
fn visible(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if c != '\t' && !hazards(c.encode_utf8(&mut [0; 4]).as_bytes()).is_empty() {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A victim's output, escaped, for the report.
fn show_output(label: &str, v: &Victim) -> String {
    let mut text = String::new();
    for (name, cap) in [("stdout", &v.out), ("stderr", &v.err)] {
        let bytes = cap.head();
        let _ = writeln!(text, "  {label} {name} ({} bytes):", bytes.len());
        for line in String::from_utf8_lossy(&bytes).split('\n') {
            if line.is_empty() || line.starts_with("key: ") {
                continue;
            }
            let _ = writeln!(text, "    {:.300}", visible(line));
        }
    }
    text
}

fn injection_row(case: &str, v: &Victim, notes: Vec<String>) -> Row {
    let mut row = Row::new(case);
    for note in notes {
        row.check(note, false);
    }
    let mut figures = Vec::new();
    for (name, cap) in [("stdout", &v.out), ("stderr", &v.err)] {
        let bytes = cap.head();
        let found = hazards(&bytes);
        let forged = forged_lines(&bytes);
        let list = found
            .iter()
            .map(|(w, n)| format!("{w} x{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        row.check(
            format!("{name}: raw characters that act: {list}"),
            found.is_empty(),
        );
        row.check(
            format!("{name}: forged lines: {}", forged.join(" | ")),
            forged.is_empty(),
        );
        figures.push(format!(
            "{name}: {}, {} forged line(s)",
            if found.is_empty() {
                "no raw controls".to_owned()
            } else {
                list
            },
            forged.len()
        ));
    }
    row.figures = figures.join("; ");
    row
}

/// One session of the injection cases, from either side: the evil messages,
/// then a frame whose `dir` is evil (its parse error quotes it), which must
/// close the session.
async fn evil_messages_and_dir(peer: &mut Peer, notes: &mut Vec<String>) {
    for text in EVIL_MESSAGES {
        let frame = peer.wire.msg(&random_id(), text);
        peer.send(&frame).await;
    }
    let json = format!(
        r#"{{"sid":"{}","dir":{},"seq":{},"kind":"ping"}}"#,
        peer.wire.sid,
        js(EVIL_DIR),
        peer.wire.seq
    );
    let frame = peer.wire.seal_raw(&json);
    peer.send(&frame).await;
    if !peer.closed(Duration::from_secs(5)).await {
        notes.push("the evil dir did not close the session".to_owned());
    }
}

/// The next session of the injection cases: `bye` with an evil reason.
async fn evil_bye(peer: &mut Peer) {
    let frame = peer
        .wire
        .seal(&format!(r#""kind":"bye","reason":{}"#, js(EVIL_REASON)));
    peer.send(&frame).await;
    peer.closed(Duration::from_secs(3)).await;
}

/// The server victim: a client named [`EVIL_NAME`] sends the evil messages
/// and a frame with an evil `dir`; a second session says `bye` with an evil
/// reason; a stranger sends escape sequences as its first line.
async fn inject_server(cfg: &Cfg) -> (Row, String) {
    let case = "server: name, msgs, parse error, bye, no-key line";
    let key = Key::generate().unwrap();
    let (victim, port) = match server_victim(cfg, &key, None).await {
        Ok(v) => v,
        Err(e) => return (Row::broken(case, e), String::new()),
    };
    let mut notes = Vec::new();
    match Peer::connect(&key, port, None, EVIL_NAME).await {
        Ok((mut peer, _)) => evil_messages_and_dir(&mut peer, &mut notes).await,
        Err(e) => notes.push(format!("harness: session 1: {e}")),
    }
    match Peer::connect(&key, port, None, EVIL_NAME).await {
        Ok((mut peer, _)) => evil_bye(&mut peer).await,
        Err(e) => notes.push(format!("harness: session 2: {e}")),
    }
    if let Ok(Ok(stream)) = timeout(Duration::from_secs(3), dial(port, None)).await {
        let (read, mut write) = stream.into_split();
        let _ = write
            .write_all("\u{1b}[2J\u{1b}]52;c;SGFja2Vk\u{7}hello\r\n".as_bytes())
            .await;
        let mut read = BufReader::new(read);
        let _ = read_line(&mut read, Duration::from_secs(3)).await;
    }
    sleep(Duration::from_millis(500)).await;
    let row = injection_row(case, &victim, notes);
    (row, show_output("server", &victim))
}

/// The client victim: a server named [`EVIL_NAME`] sends the evil messages
/// and an evil `dir`; the next session says `bye` with an evil reason (the
/// client then stops). A second client gets [`EVIL_ERR`] for its hello.
async fn inject_client(cfg: &Cfg) -> Vec<(Row, String)> {
    let mut results = Vec::new();
    let case = "client: name, msgs, parse error, bye";
    let key = Key::generate().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let victim = match client_victim(cfg, &key, port, None) {
        Ok(v) => v,
        Err(e) => return vec![(Row::broken(case, e), String::new())],
    };
    let mut notes = Vec::new();
    match Peer::accept(&key, &listener, EVIL_NAME, Duration::from_secs(10)).await {
        Ok(mut peer) => evil_messages_and_dir(&mut peer, &mut notes).await,
        Err(e) => notes.push(format!("harness: session 1: {e}")),
    }
    match Peer::accept(&key, &listener, EVIL_NAME, Duration::from_secs(15)).await {
        Ok(mut peer) => evil_bye(&mut peer).await,
        Err(e) => notes.push(format!("harness: session 2: {e}")),
    }
    sleep(Duration::from_millis(500)).await;
    results.push((
        injection_row(case, &victim, notes),
        show_output("client", &victim),
    ));
    drop(victim);

    let case = "client: ERR line answering the hello";
    let victim = match client_victim(cfg, &key, port, None) {
        Ok(v) => v,
        Err(e) => {
            results.push((Row::broken(case, e), String::new()));
            return results;
        }
    };
    let mut notes = Vec::new();
    match timeout(Duration::from_secs(10), listener.accept()).await {
        Ok(Ok((stream, _))) => {
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            let _ = read_line(&mut read, Duration::from_secs(5)).await;
            let _ = write.write_all(format!("{EVIL_ERR}\n").as_bytes()).await;
            let _ = write.shutdown().await;
            sleep(Duration::from_millis(800)).await;
        }
        _ => notes.push("harness: the client did not connect".to_owned()),
    }
    results.push((
        injection_row(case, &victim, notes),
        show_output("client(ERR)", &victim),
    ));
    results
}

// ---------------------------------------------------------------------------

fn usage() -> ! {
    eprintln!("usage: attack [--bin-dir DIR] [--only door,server,client,inject,sweep] [--quick]");
    std::process::exit(2);
}

fn main() {
    let mut bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let mut only: Option<Vec<String>> = None;
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bin-dir" => bin_dir = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--only" => {
                only = Some(
                    args.next()
                        .unwrap_or_else(|| usage())
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "--quick" => quick = true,
            _ => usage(),
        }
    }
    for bin in ["server-gui", "client-gui"] {
        if !bin_dir.join(bin).is_file() {
            eprintln!(
                "attack: no {} (build release first)",
                bin_dir.join(bin).display()
            );
            std::process::exit(2);
        }
    }
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));

    // The watchdog: whatever happens, the run ends.
    std::thread::spawn(|| {
        std::thread::sleep(RUN_DEADLINE);
        eprintln!("attack: the run took over {RUN_DEADLINE:?}; killing the victims");
        for pid in LIVE.lock().unwrap().iter() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        std::process::exit(3);
    });

    let fds = open_files_limit();
    // The door needs its connections, the right-key clients and a margin.
    let door_conns = match fds {
        Some(limit) if limit < 1000 + 100 => {
            let n = limit.saturating_sub(100).max(50);
            println!(
                "note: open files limited to {limit}: the door uses {n} connections, not 1,000"
            );
            n
        }
        _ => 1000,
    };
    let cfg = Cfg {
        bin_dir,
        quick,
        door_conns: if quick { door_conns / 4 } else { door_conns },
    };
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    println!(
        "attack: victims from {}; {} CPUs; open files limit {}; load {}{}",
        cfg.bin_dir.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fds.map_or("?".to_owned(), |n| n.to_string()),
        loadavg(),
        if quick { "; QUICK (counts / 10)" } else { "" }
    );
    // The victims inherit the environment: say what changes their allocator.
    for var in [
        "GLIBC_TUNABLES",
        "MALLOC_ARENA_MAX",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_THRESHOLD_",
    ] {
        if let Ok(value) = std::env::var(var) {
            println!("note: victims run with {var}={value}");
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let failed = runtime.block_on(async {
        let mut failed = 0;
        if wanted("door") {
            let rows = door(&cfg).await;
            failed += print_table(
                "1. Door: no-key connections, then right-key handshakes (server-gui --headless)",
                &rows,
            );
            println!(
                "(handshakes: by hand at +200, +600, +2500 ms after the attack is in place, time to the \
                 welcome; E = the real client engine at +1000 ms, time to Connected. \
                 Reconnecting rows are a harder variant than the issue's target: info)"
            );
        }
        if wanted("server") {
            let rows = floods(&cfg, Side::Server).await;
            failed += print_table("2. Right-key floods against the server (server-gui --headless)", &rows);
        }
        if wanted("client") {
            let rows = floods(&cfg, Side::Client).await;
            failed += print_table(
                "3. Right-key floods against the client (client-gui --headless; the harness is the server)",
                &rows,
            );
        }
        if only.as_ref().is_some_and(|o| o.iter().any(|x| x == "sweep")) {
            let rows = sweep(&cfg).await;
            failed += print_table(
                "Sweep (diagnosis, only with --only sweep): text-limit messages at full speed, \
                 by count, against the server",
                &rows,
            );
        }
        if wanted("inject") {
            let mut rows = Vec::new();
            let mut outputs = Vec::new();
            let (row, output) = inject_server(&cfg).await;
            rows.push(row);
            outputs.push(output);
            for (row, output) in inject_client(&cfg).await {
                rows.push(row);
                outputs.push(output);
            }
            failed += print_table("4. Terminal injection (what the victims printed)", &rows);
            println!(
                "What the victims printed (raw controls, bidi and invisible characters shown as \
                 <U+XXXX>; anything else, such as the victims' own \\u{{1b}} escapes, as printed; the \
                 key line left out):"
            );
            for output in outputs {
                print!("{output}");
            }
        }
        failed
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    println!();
    println!(
        "attack: {} in {:.0} s; load {}",
        if failed == 0 {
            "every target met".to_owned()
        } else {
            format!("{failed} case(s) missed a target")
        },
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
