//! The room benchmark of issue 12 ("Performance"), against the real
//! release programs in terminal mode on loopback: one `server-gui
//! --headless` and `members - 1` `client-gui --headless` processes, each
//! typed into on stdin and read on stdout, as people would use them.
//!
//! For a room of `--members` (50) and, in the same run, a two-member
//! baseline, it measures:
//! - fan-out: the time from writing a 100-byte line into one client's stdin
//!   to that line out of the stdout of the last of all the other members
//!   (the server included), one line at a time, p50 and p99 of `--samples`;
//! - everyone talking: every member types `--messages / members` lines at
//!   once; the messages per second from the first line typed to the last
//!   line shown by the last member (each line is checked to be shown once,
//!   in its sender's order, by every other member);
//! - the server's CPU time (its threads' schedstat in /proc) during that phase,
//!   divided by messages × recipients;
//! - a speed reference, before and after (a shared machine's speed drifts):
//!   the time one core takes to seal 32 MiB with Fernet, and 10,000
//!   round trips between two threads over loopback TCP.
//!
//! Timings are taken the moment a line comes out of a program's stdout, by
//! one thread that waits on all the pipes at once (a thread per program
//! cost the two cores about a millisecond per fan-out, all of it
//! measurement). Run by hand through `.ci/room-bench` (it builds the
//! release programs first); CI does not run it. Only 127.0.0.1 is used.
//!
//! Usage: `room-bench [--bin-dir DIR] [--members 50] [--samples 300]
//! [--messages 5000] [--size 100]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// A wait that hits this is a failure of the programs, not a slow run.
const STALL: Duration = Duration::from_secs(60);

struct Options {
    bin_dir: PathBuf,
    members: usize,
    samples: usize,
    messages: usize,
    size: usize,
}

fn options() -> Options {
    let mut o = Options {
        bin_dir: std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf(),
        members: 50,
        samples: 300,
        messages: 5_000,
        size: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&flag));
        match flag.as_str() {
            "--bin-dir" => o.bin_dir = PathBuf::from(value()),
            "--members" => o.members = value().parse().unwrap_or_else(|_| usage(&flag)),
            "--samples" => o.samples = value().parse().unwrap_or_else(|_| usage(&flag)),
            "--messages" => o.messages = value().parse().unwrap_or_else(|_| usage(&flag)),
            "--size" => o.size = value().parse().unwrap_or_else(|_| usage(&flag)),
            _ => usage(&flag),
        }
    }
    if o.members < 2 || o.size < 24 {
        usage("--members (at least 2) or --size (at least 24)");
    }
    o
}

fn usage(flag: &str) -> ! {
    eprintln!(
        "room-bench: bad or missing value for {flag}\nusage: room-bench [--bin-dir DIR] \
         [--members 50] [--samples 300] [--messages 5000] [--size 100]"
    );
    std::process::exit(2)
}

/// One line out of one member's stdout: who showed it, when, and the
/// sender's name and the text as shown (`name: text`).
struct Line {
    member: usize,
    at: Instant,
    from: String,
    text: String,
}

/// A running program: its stdin (what it types) and its pid.
struct Program {
    child: Child,
    stdin: pipe::Sender,
}

impl Program {
    /// Starts `command` with its three streams piped: stdout read line by
    /// line onto `lines` as `member`, stderr drained.
    fn start(command: &mut Command, member: usize, lines: &mpsc::UnboundedSender<Line>) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("build the release programs first (.ci/room-bench does)");
        let out = pipe::Receiver::from_owned_fd(child.stdout.take().unwrap().into()).unwrap();
        tokio::spawn(read_lines(member, out, lines.clone()));
        let err = pipe::Receiver::from_owned_fd(child.stderr.take().unwrap().into()).unwrap();
        tokio::spawn(drain(err));
        let stdin = pipe::Sender::from_owned_fd(child.stdin.take().unwrap().into()).unwrap();
        Program { child, stdin }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn type_line(&mut self, line: &str) {
        self.type_text(&format!("{line}\n")).await;
    }

    async fn type_text(&mut self, text: &str) {
        self.stdin.write_all(text.as_bytes()).await.unwrap();
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `member`'s stdout line by line onto `lines`, each line timed as
/// it is read.
async fn read_lines(member: usize, out: pipe::Receiver, lines: mpsc::UnboundedSender<Line>) {
    let mut out = BufReader::new(out).lines();
    while let Ok(Some(line)) = out.next_line().await {
        let at = Instant::now();
        let Some((from, text)) = line.split_once(": ") else {
            continue;
        };
        let line = Line {
            member,
            at,
            from: from.to_owned(),
            text: text.to_owned(),
        };
        if lines.send(line).is_err() {
            return;
        }
    }
}

/// Keeps a program's stderr drained (status lines; a full pipe would
/// block it).
async fn drain(err: impl AsyncRead + Unpin) {
    let mut err = BufReader::new(err);
    let mut sink = Vec::new();
    while err.read_until(b'\n', &mut sink).await.unwrap_or(0) > 0 {
        sink.clear();
    }
}

/// The member's name: the server is m00.
fn name(member: usize) -> String {
    format!("m{member:02}")
}

/// A room of `n` members: the programs, and every line they show.
struct Room {
    programs: Vec<Program>,
    lines: mpsc::UnboundedReceiver<Line>,
}

async fn start_room(bin: &Path, n: usize) -> Room {
    let (tx, mut lines) = mpsc::unbounded_channel();
    let mut server = Command::new(bin.join("server-gui"));
    server
        .args([
            "--headless",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--no-discovery",
        ])
        .args(["--max-members", &n.max(2).to_string(), "--name", &name(0)])
        .env_remove("FERNET_CHAT_KEY");
    let mut programs = vec![Program::start(&mut server, 0, &tx)];
    // The server's first two lines, `key: ...` and `listening: ...`, read
    // as a member's line would be (`from` holds what is before ": ").
    let mut said = Vec::new();
    tokio::time::timeout(STALL, async {
        while said.len() < 2 {
            said.extend(lines.recv().await);
        }
    })
    .await
    .expect("server-gui said nothing");
    let [key, addr] = ["key", "listening"].map(|prefix| {
        let line = said.remove(0);
        assert_eq!(line.from, prefix, "server-gui said {}", line.text);
        line.text
    });
    for member in 1..n {
        let mut client = Command::new(bin.join("client-gui"));
        client
            .args(["--headless", "--connect", &addr, "--no-discovery"])
            .args(["--name", &name(member)])
            .env("FERNET_CHAT_KEY", &key);
        programs.push(Program::start(&mut client, member, &tx));
    }
    let mut room = Room { programs, lines };
    room.wait_everyone_in().await;
    room
}

impl Room {
    async fn next(&mut self) -> Line {
        tokio::time::timeout(STALL, self.lines.recv())
            .await
            .ok()
            .flatten()
            .expect("no line out of any member for a minute: the room stalled")
    }

    /// The server types a line every 100 ms until every client has shown
    /// one (a message reaches the members in the room when it is sent).
    async fn wait_everyone_in(&mut self) {
        let n = self.programs.len();
        let mut seen = vec![false; n];
        seen[0] = true;
        let start = Instant::now();
        let mut k = 0;
        while !seen.iter().all(|s| *s) {
            assert!(start.elapsed() < STALL, "the members never all joined");
            self.programs[0]
                .type_line(&format!("W{k} is everyone here?"))
                .await;
            k += 1;
            let tick = tokio::time::Instant::now() + Duration::from_millis(100);
            while let Ok(Some(line)) = tokio::time::timeout_at(tick, self.lines.recv()).await {
                if line.text.starts_with('W') {
                    seen[line.member] = true;
                }
            }
        }
        // Let the last warm-up lines out before measuring.
        let quiet = Duration::from_millis(300);
        while let Ok(Some(_)) = tokio::time::timeout(quiet, self.lines.recv()).await {}
    }
}

/// `tag` padded with `x` to `size` bytes.
fn padded(tag: &str, size: usize) -> String {
    format!("{tag} {}", "x".repeat(size - tag.len() - 1))
}

/// Fan-out: member 1 types a line; the time until the last of the others
/// shows it. One line at a time.
async fn fan_out(room: &mut Room, samples: usize, size: usize) -> Vec<Duration> {
    let others = room.programs.len() - 1;
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let tag = format!("L{i:06}");
        let line = padded(&tag, size);
        let start = Instant::now();
        room.programs[1].type_line(&line).await;
        let mut shown = 0;
        let mut last = start;
        while shown < others {
            let got = room.next().await;
            assert_ne!(got.member, 1, "the sender was shown its own line");
            if got.text == line {
                assert_eq!(got.from, name(1));
                shown += 1;
                last = got.at;
            }
        }
        times.push(last - start);
    }
    times
}

/// CPU time a process's threads have used so far, to the nanosecond: the
/// first field of each thread's schedstat (utime + stime in /proc/PID/stat
/// count 10 ms ticks, too coarse for the two-member room).
fn cpu_time(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let ns: u64 = tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    Duration::from_nanos(ns)
}

struct Talk {
    messages: usize,
    elapsed: Duration,
    server_cpu: Duration,
}

/// Everyone types `each` lines at once; waits until every member has shown
/// every other member's lines, each once and in order.
async fn everyone_talks(room: &mut Room, each: usize, size: usize) -> Talk {
    let n = room.programs.len();
    let server = room.programs[0].pid();
    let lines: Vec<Vec<String>> = (0..n)
        .map(|m| {
            (0..each)
                .map(|i| padded(&format!("T{m:02}-{i:06}"), size))
                .collect()
        })
        .collect();
    let cpu_before = cpu_time(server);
    let start = Instant::now();
    let typed = room
        .programs
        .iter_mut()
        .zip(&lines)
        .map(|(program, lines)| {
            let mut all = lines.join("\n");
            all.push('\n');
            async move { program.type_text(&all).await }
        });
    futures::future::join_all(typed).await;
    // next[receiver][sender]: the index of the next line expected.
    let mut next = vec![vec![0usize; n]; n];
    let mut left = n * (n - 1) * each;
    let mut last = start;
    while left > 0 {
        let got = room.next().await;
        let sender: usize = got.from[1..].parse().expect("a member's name");
        assert_ne!(sender, got.member, "a member was shown its own line");
        let at = &mut next[got.member][sender];
        assert_eq!(
            got.text, lines[sender][*at],
            "{} showed {}'s lines out of order or twice",
            got.member, sender
        );
        *at += 1;
        left -= 1;
        last = got.at;
    }
    Talk {
        messages: n * each,
        elapsed: last - start,
        server_cpu: cpu_time(server) - cpu_before,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// One room's figures.
struct Figures {
    members: usize,
    p50: Duration,
    p99: Duration,
    /// CPU per fan-out line: the server, the sender, all the other clients
    /// together, the harness.
    line_cpu: Vec<Duration>,
    talk: Talk,
}

/// CPU time so far of the server, the sending client, every other client
/// (summed) and this harness: where a fan-out's time goes.
fn spent(room: &Room) -> [Duration; 4] {
    let cpu = |i: usize| cpu_time(room.programs[i].pid());
    let others = (2..room.programs.len()).map(cpu).sum();
    [cpu(0), cpu(1), others, cpu_time(std::process::id())]
}

async fn measure(o: &Options, members: usize) -> Figures {
    eprintln!("room-bench: {members} members...");
    let mut room = start_room(&o.bin_dir, members).await;
    let before = spent(&room);
    let mut times = fan_out(&mut room, o.samples, o.size).await;
    let after = spent(&room);
    let line_cpu: Vec<Duration> = (0..4)
        .map(|i| (after[i] - before[i]) / o.samples as u32)
        .collect();
    times.sort();
    let each = (o.messages / members).max(1);
    let talk = everyone_talks(&mut room, each, o.size).await;
    Figures {
        members,
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        line_cpu,
        talk,
    }
}

/// This machine's speed at the moment, two ways: the time one core takes
/// to seal 32 MiB in 1 KiB Fernet tokens (the programs' own crypto), and
/// the time two threads take to pass 100 bytes back and forth 10,000 times
/// over loopback TCP (waking each other, as the room's programs do). A
/// shared machine's speed drifts, by up to three times within an hour on
/// this project's, and mostly in the second: only figures taken at a like
/// speed compare.
fn speed_reference() -> (Duration, Duration) {
    let key = common::Key::generate().unwrap();
    let clock = common::Clock::system();
    let block = [b'x'; 1024];
    let start = Instant::now();
    for _ in 0..32 * 1024 {
        std::hint::black_box(common::token::seal(&key, &clock, &block));
    }
    let sealing = start.elapsed();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let mut buf = [0; 100];
        while peer.read_exact(&mut buf).is_ok() && peer.write_all(&buf).is_ok() {}
    });
    let mut us = std::net::TcpStream::connect(addr).unwrap();
    us.set_nodelay(true).unwrap();
    let mut buf = [b'x'; 100];
    let start = Instant::now();
    for _ in 0..10_000 {
        us.write_all(&buf).unwrap();
        us.read_exact(&mut buf).unwrap();
    }
    let waking = start.elapsed();
    drop(us);
    echo.join().unwrap();
    (sealing, waking)
}

fn main() {
    let o = options();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let speed_before = speed_reference();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sizes = [2, o.members].into_iter();
    let sizes: std::collections::BTreeSet<usize> = sizes.collect();
    let mut rooms = Vec::new();
    for n in sizes {
        rooms.push(runtime.block_on(measure(&o, n)));
    }
    let speed_after = speed_reference();
    println!(
        "room-bench: {}-byte lines, {} fan-out samples, about {} messages everyone talking; \
         load average before: {}; speed reference (32 MiB sealed on one core / 10,000 loopback \
         round trips) {:.2} / {:.2} s before, {:.2} / {:.2} s after",
        o.size,
        o.samples,
        o.messages,
        load.split(' ').take(3).collect::<Vec<_>>().join(" "),
        speed_before.0.as_secs_f64(),
        speed_before.1.as_secs_f64(),
        speed_after.0.as_secs_f64(),
        speed_after.1.as_secs_f64(),
    );
    println!();
    println!("| what | target | {} |", {
        let heads: Vec<String> = rooms
            .iter()
            .map(|f| format!("{} members", f.members))
            .collect();
        heads.join(" | ")
    });
    println!("|---|---|{}", "---|".repeat(rooms.len()));
    let row = |what: &str, target: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = rooms.iter().map(cell).collect();
        println!("| {what} | {target} | {} |", cells.join(" | "));
    };
    row(
        "fan-out, one member's line to the last of the others shown: p50",
        "< 2 ms",
        &|f| ms(f.p50),
    );
    row("fan-out: p99", "", &|f| ms(f.p99));
    row(
        "CPU per fan-out line: server / sender / each other client / all clients / harness",
        "",
        &|f| {
            let c = &f.line_cpu;
            let others = (f.members - 1).max(2) - 1;
            let us = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1e6);
            format!(
                "{} / {} / {} / {} / {} µs",
                us(c[0]),
                us(c[1]),
                us(c[2] / others as u32),
                us(c[1] + c[2]),
                us(c[3])
            )
        },
    );
    row("everyone talking: messages/s", "", &|f| {
        format!(
            "{:.0} ({} messages in {})",
            f.talk.messages as f64 / f.talk.elapsed.as_secs_f64(),
            f.talk.messages,
            ms(f.talk.elapsed)
        )
    });
    row("everyone talking: lines shown/s, all members", "", &|f| {
        let shown = f.talk.messages * (f.members - 1);
        format!("{:.0}", shown as f64 / f.talk.elapsed.as_secs_f64())
    });
    row("server CPU per recipient per message", "< 5 µs", &|f| {
        let per = f.talk.server_cpu.as_secs_f64() / (f.talk.messages * (f.members - 1)) as f64;
        format!("{:.2} µs ({} of CPU)", per * 1e6, ms(f.talk.server_cpu))
    });
}
