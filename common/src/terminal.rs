//! The `--headless` terminal mode both binaries offer: each stdin line is a
//! message, received messages go to stdout as `<name>: <text>`, everything
//! else (status, notices, errors) to stderr. Everything printed goes
//! through [`crate::text`]: a peer's name, text or `bye` reason, an `ERR`
//! line or a parse error can never move the cursor, retitle the window,
//! write the clipboard or forge a line.
//!
//! End of input means "say goodbye once what was typed is delivered": the
//! server keeps waiting for someone and the client keeps reconnecting until
//! then. Ctrl+C leaves at once (saying bye if connected; a second Ctrl+C
//! does not wait even for that) and says how many typed lines were not
//! delivered. The exit status is non-zero whenever a typed line was not
//! delivered, and when the client could not connect.
//!
//! Piped input runs at the engine's speed: stdin is read 64 KiB at a time,
//! received messages are collected in one buffer and written out when no
//! further event is waiting (not one write per line).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write;
use std::mem::{self, Discriminant};
use std::net::IpAddr;
use std::process::ExitCode;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::error::Rejection;
use crate::event::{Ended, Event, Handle, SendError};
use crate::payload::MAX_TEXT_BYTES;
use crate::text;

/// The environment variable that holds a key (never the command line, where
/// `ps` shows it).
pub const KEY_VAR: &str = "FERNET_CHAT_KEY";

/// How much of stdin is asked for at once.
const READ_CHUNK: usize = 64 * 1024;
/// Received text collected before it is written out even though more
/// events are waiting.
const WRITE_CHUNK: usize = 64 * 1024;
/// Reading stdin pauses while this many bytes typed are not acknowledged,
/// so piping a large file does not queue all of it in memory.
const IN_FLIGHT_MAX: usize = 4 * 1024 * 1024;

/// A binary's whole `--headless` run: on a runtime of its own, `start`
/// brings up an engine (or says why not on stderr and gives `None`), then
/// the terminal is relayed to it. Returns the process's exit code.
///
/// Ctrl+C is caught from before `start` runs: whatever `start` or the relay
/// prints comes after, so a script or test that has seen such a line can
/// send SIGINT without racing the handler.
pub fn run(start: impl Future<Output = Option<(Handle, mpsc::Receiver<Event>)>>) -> ExitCode {
    // One thread: the relay and the engine's tasks take turns without
    // waking each other across threads; stdin and stdout use tokio's
    // blocking pool, so a slow reader of stdout never stalls the engine.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let interrupts = match ctrl_c() {
            Ok(interrupts) => interrupts,
            Err(e) => {
                eprintln!("error: cannot watch for Ctrl+C: {e}");
                return ExitCode::FAILURE;
            }
        };
        let Some((handle, events)) = start.await else {
            return ExitCode::FAILURE;
        };
        let (stdin, stdout, stderr) = (tokio::io::stdin(), tokio::io::stdout(), std::io::stderr());
        relay(handle, events, stdin, interrupts, stdout, stderr)
            .await
            .code()
    });
    // A blocked read of stdin must not keep the process alive.
    runtime.shutdown_background();
    code
}

/// Registers for Ctrl+C now (not when first polled, as
/// `tokio::signal::ctrl_c` does): one item per press.
fn ctrl_c() -> std::io::Result<impl Stream<Item = ()> + Unpin> {
    #[cfg(unix)]
    let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    #[cfg(windows)]
    let signal = tokio::signal::windows::ctrl_c()?;
    Ok(Box::pin(futures::stream::unfold(
        signal,
        |mut signal| async move { signal.recv().await.map(|()| ((), signal)) },
    )))
}

/// How a terminal chat ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exit {
    /// Typed lines the peer never acknowledged, or the engine refused.
    undelivered: usize,
    /// The client could not connect.
    failed: bool,
}

impl Exit {
    fn code(self) -> ExitCode {
        if self.failed || self.undelivered > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Relays between the terminal and an engine until the engine stops. The
/// first Ctrl+C (an item of `interrupts`) asks the engine to quit; a second
/// one leaves without waiting for it (saying goodbye could hang on a
/// network that stopped answering).
async fn relay(
    handle: Handle,
    mut events: mpsc::Receiver<Event>,
    mut input: impl AsyncRead + Unpin,
    mut interrupts: impl Stream<Item = ()> + Unpin,
    out: impl AsyncWrite + Unpin,
    err: impl Write,
) -> Exit {
    let mut relay = Relay {
        handle,
        out,
        err,
        pending_out: Vec::with_capacity(WRITE_CHUNK),
        undelivered: VecDeque::new(),
        in_flight: 0,
        refused: 0,
        interrupted: false,
        turned_away: TurnedAway::default(),
    };
    let mut lines = Lines::default();
    let mut reading = true;
    loop {
        let room = relay.in_flight < IN_FLIGHT_MAX;
        tokio::select! {
            biased;
            Some(()) = interrupts.next() => {
                if relay.interrupted {
                    return relay.finish(false).await;
                }
                relay.interrupted = true;
                relay.handle.quit();
            }
            event = events.recv() => {
                let mut next = event;
                loop {
                    let Some(event) = next else {
                        return relay.finish(false).await;
                    };
                    match event {
                        Event::Closed => return relay.finish(false).await,
                        event @ Event::Failed(_) => {
                            relay.on_event(event).await;
                            return relay.finish(true).await;
                        }
                        event => relay.on_event(event).await,
                    }
                    if relay.pending_out.len() >= WRITE_CHUNK {
                        break;
                    }
                    next = match events.try_recv() {
                        Ok(event) => Some(event),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => None,
                    };
                }
                relay.write_out().await;
            }
            read = input.read_buf(lines.buffer()), if reading && room => {
                let eof = match read {
                    Ok(n) => n == 0,
                    Err(e) => {
                        relay.status(&format!("cannot read stdin: {e}")).await;
                        true
                    }
                };
                while let Some(line) = lines.next_line(eof) {
                    match line {
                        Line::Text(line) => relay.send(line).await,
                        Line::TooLong => {
                            let why = format!("a line is over the limit of {MAX_TEXT_BYTES} bytes");
                            relay.refuse(&why).await;
                        }
                    }
                }
                if eof {
                    reading = false;
                    relay.end_of_input().await;
                }
            }
        }
    }
}

/// The relay's state between events.
struct Relay<O, E> {
    handle: Handle,
    out: O,
    err: E,
    /// `name: text` lines not yet written to `out`.
    pending_out: Vec<u8>,
    /// Sent and not yet acknowledged, id and length, in the order sent:
    /// the order the engine reports them acknowledged.
    undelivered: VecDeque<(String, usize)>,
    /// The bytes in `undelivered`.
    in_flight: usize,
    /// Typed lines the engine would not take.
    refused: usize,
    interrupted: bool,
    turned_away: TurnedAway,
}

impl<O: AsyncWrite + Unpin, E: Write> Relay<O, E> {
    async fn send(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Checked first: the lossy conversion is slower on valid text.
        let text = match std::str::from_utf8(line) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(line).into_owned(),
        };
        let len = text.len();
        match self.handle.send(text) {
            Ok(id) => {
                self.undelivered.push_back((id, len));
                self.in_flight += len;
            }
            // Blank lines are not messages.
            Err(SendError::Empty) => {}
            Err(e) => self.refuse(&e.to_string()).await,
        }
    }

    async fn refuse(&mut self, why: &str) {
        self.refused += 1;
        self.status(&format!("not sent: {why}")).await;
    }

    async fn end_of_input(&mut self) {
        self.handle.close();
        let n = self.undelivered.len();
        if n > 0 {
            let lines = lines(n);
            self.status(&format!(
                "end of input: {lines} still to deliver; leaving once delivered (Ctrl+C leaves now)"
            ))
            .await;
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Received { from, text, .. } => {
                let out = &mut self.pending_out;
                out.extend_from_slice(text::for_terminal(&from).as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(text::for_terminal_message(&text).as_bytes());
                out.push(b'\n');
            }
            Event::Rejected { addr, reason } => {
                if let Some(line) = self.turned_away.add(addr.ip(), &reason) {
                    self.status(&line).await;
                }
            }
            Event::Probed { from } => {
                if let Some(line) = self.turned_away.probed(from.ip()) {
                    self.status(&line).await;
                }
            }
            Event::Acked { id } => {
                // The oldest, unless the engine's order ever changes.
                let at = self.undelivered.iter().position(|(sent, _)| *sent == id);
                if let Some((_, len)) = at.and_then(|at| self.undelivered.remove(at)) {
                    self.in_flight -= len;
                }
            }
            event => {
                if let Some(status) = describe(&event) {
                    self.status(&status).await;
                }
            }
        }
    }

    /// Writes a line on stderr, after the messages before it, with every
    /// character that could act on the terminal escaped (it may quote the
    /// network).
    async fn status(&mut self, line: &str) {
        self.flush().await;
        let _ = writeln!(self.err, "{}", text::for_terminal(line));
    }

    /// Hands the received lines to stdout, which writes them while the
    /// relay goes on.
    async fn write_out(&mut self) {
        if !self.pending_out.is_empty() {
            let _ = self.out.write_all(&self.pending_out).await;
            self.pending_out.clear();
        }
    }

    /// Writes the received lines out and waits until they are.
    async fn flush(&mut self) {
        self.write_out().await;
        let _ = self.out.flush().await;
    }

    /// The engine stopped: says what was not delivered.
    async fn finish(mut self, failed: bool) -> Exit {
        let undelivered = self.undelivered.len() + self.refused;
        let lines = lines(undelivered);
        match (self.interrupted, undelivered) {
            (true, 0) => {
                self.status("interrupted: everything typed was delivered")
                    .await
            }
            (true, _) => {
                self.status(&format!("interrupted: {lines} not delivered"))
                    .await
            }
            (false, 0) => self.flush().await,
            (false, _) => self.status(&format!("{lines} not delivered")).await,
        }
        Exit {
            undelivered,
            failed,
        }
    }
}

/// Connections the server turned away, counted per source address and kind
/// of reason: a stranger can open thousands a second, so each (source, kind)
/// gets a line the first time and then only at 10, 100, 1000, … times, a
/// handful of lines however long the flood.
#[derive(Default)]
struct TurnedAway {
    /// Source, kind (`None`: a discovery probe answered), count; the least
    /// recently seen first, at most [`TurnedAway::ROWS`].
    rows: VecDeque<(IpAddr, Option<Discriminant<Rejection>>, u64)>,
}

impl TurnedAway {
    const ROWS: usize = 64;

    /// Counts one; the line to print, if this one deserves a line.
    fn add(&mut self, ip: IpAddr, reason: &Rejection) -> Option<String> {
        self.count(ip, Some(mem::discriminant(reason)), reason)
    }

    /// Counts a discovery probe from `ip` answered, the same way: a client
    /// probes a few times each time it looks.
    fn probed(&mut self, ip: IpAddr) -> Option<String> {
        self.count(ip, None, &"looked for this server")
    }

    fn count(
        &mut self,
        ip: IpAddr,
        kind: Option<Discriminant<Rejection>>,
        what: &dyn std::fmt::Display,
    ) -> Option<String> {
        let at = self.rows.iter().position(|&(i, k, _)| i == ip && k == kind);
        let mut row = match at.and_then(|at| self.rows.remove(at)) {
            Some(row) => row,
            None => {
                if self.rows.len() == Self::ROWS {
                    self.rows.pop_front();
                }
                (ip, kind, 0)
            }
        };
        row.2 += 1;
        let count = row.2;
        self.rows.push_back(row);
        match count {
            1 => Some(format!("{ip} {what}")),
            n if n.checked_ilog10().is_some_and(|e| 10u64.pow(e) == n) => {
                Some(format!("{ip} {what}: {n} times"))
            }
            _ => None,
        }
    }
}

/// "1 typed line", "2 typed lines".
fn lines(n: usize) -> String {
    let mut text = format!("{n} typed line");
    if n != 1 {
        text.push('s');
    }
    text
}

/// Splits what is read from stdin into lines, never holding more than one
/// message's worth of a line that does not end.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    /// The start of `buf` already handed out; dropped before the next read.
    consumed: usize,
    /// How much of `buf` is known to hold no LF.
    scanned: usize,
    /// Dropping the rest of a line that was too long.
    skipping: bool,
}

/// One line of input.
enum Line<'a> {
    Text(&'a [u8]),
    /// Longer than any message can be; the rest of it is dropped as it
    /// comes.
    TooLong,
}

/// The longest line that can be a message: its text and a CR.
const LINE_MAX: usize = MAX_TEXT_BYTES + 1;

impl Lines {
    /// The buffer to read into, with room for a chunk.
    fn buffer(&mut self) -> &mut Vec<u8> {
        self.buf.drain(..self.consumed);
        self.scanned -= self.consumed;
        self.consumed = 0;
        self.buf.reserve(READ_CHUNK);
        &mut self.buf
    }

    /// The next complete line read (at `eof`, the unterminated last one
    /// too).
    fn next_line(&mut self, eof: bool) -> Option<Line<'_>> {
        loop {
            let start = self.consumed;
            let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let end = self.scanned + at;
            self.consumed = end + 1;
            self.scanned = end + 1;
            if !mem::take(&mut self.skipping) {
                return Some(Line::Text(&self.buf[start..end]));
            }
        }
        self.scanned = self.buf.len();
        let start = self.consumed;
        let partial = self.buf.len() - start;
        if self.skipping || partial > LINE_MAX {
            self.consumed = self.buf.len();
            return (!mem::replace(&mut self.skipping, true)).then_some(Line::TooLong);
        }
        if eof && partial > 0 {
            self.consumed = self.buf.len();
            return Some(Line::Text(&self.buf[start..]));
        }
        None
    }
}

/// The stderr line for an event, if it deserves one. It may quote the
/// network; [`Relay::status`] makes it safe.
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Connecting { attempt: 1, server } => format!("connecting to {server}…"),
        Event::Connecting { attempt, server } => {
            format!("reconnecting to {server} (attempt {attempt})…")
        }
        Event::Retrying { delay, error, .. } => {
            format!("{error}; trying again in {:.1} s", delay.as_secs_f32())
        }
        Event::Connected { peer, resent } => {
            let mut line = format!("connected to {} ({})", peer.name, peer.addr);
            if *resent > 0 {
                let _ = write!(line, "; sent {resent} waiting message(s)");
            }
            line
        }
        Event::ClockOffset { secs } => format!(
            "note: the other computer's clock is {} s {} yours; messages still work",
            secs.unsigned_abs(),
            if *secs > 0 { "ahead of" } else { "behind" }
        ),
        Event::Disconnected(Ended::Alert(alert)) => {
            format!("SECURITY ALERT: {alert}; connection closed")
        }
        Event::Disconnected(ended) => format!("disconnected: {ended}"),
        Event::Failed(e) => format!("error: {e}"),
        Event::Moved { name, to } => format!("{name} moved to {to}; connecting there"),
        Event::Received { .. }
        | Event::Probed { .. }
        | Event::Sent { .. }
        | Event::Acked { .. }
        | Event::Relayed { .. }
        | Event::Delivered { .. }
        | Event::Roster(_)
        | Event::Joined(_)
        | Event::Left { .. }
        | Event::Rejected { .. }
        | Event::Typing { .. }
        | Event::KeyChanged(_)
        | Event::Closed => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc::UnboundedReceiver;

    use super::*;
    use crate::clock::Clock;
    use crate::error::ConnectError;
    use crate::event::{Command, Peer};

    /// stdout and stderr as one transcript, each line marked with its stream,
    /// so a test sees what was written and in which order.
    #[derive(Clone, Default)]
    struct Transcript(Rc<RefCell<Vec<String>>>);

    /// One of the two streams writing into a [`Transcript`].
    struct Stream {
        transcript: Transcript,
        name: &'static str,
        partial: Vec<u8>,
    }

    impl Transcript {
        fn stream(&self, name: &'static str) -> Stream {
            Stream {
                transcript: self.clone(),
                name,
                partial: Vec::new(),
            }
        }

        fn lines(&self) -> Vec<String> {
            self.0.borrow().clone()
        }
    }

    impl Write for Stream {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.partial.extend_from_slice(bytes);
            while let Some(at) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=at).collect();
                let line = String::from_utf8(line).unwrap();
                let line = format!("{}| {}", self.name, line.trim_end_matches('\n'));
                self.transcript.0.borrow_mut().push(line);
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl AsyncWrite for Stream {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bytes: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Write::write(self.get_mut(), bytes))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// The engine's side of a relay under test: what the relay asks of it,
    /// and the events to give it.
    struct Engine {
        cmds: UnboundedReceiver<Command>,
        events: mpsc::Sender<Event>,
    }

    impl Engine {
        /// The next command, with a message's text standing for the message.
        async fn next(&mut self) -> Asked {
            match self
                .cmds
                .recv()
                .await
                .expect("the relay dropped its handle")
            {
                Command::Send { id, text, .. } => Asked::Send { id, text },
                Command::Close => Asked::Close,
                Command::Quit => Asked::Quit,
                other => panic!("unexpected {other:?}"),
            }
        }

        async fn emit(&self, event: Event) {
            self.events.send(event).await.unwrap();
        }

        /// The peer acknowledged each of `ids`.
        async fn ack_all(&self, ids: impl IntoIterator<Item = String>) {
            for id in ids {
                self.emit(Event::Acked { id }).await;
            }
        }
    }

    /// Everything typed was delivered, and the client connected.
    const ALL_DELIVERED: Exit = Exit {
        undelivered: 0,
        failed: false,
    };

    #[derive(Debug, PartialEq)]
    enum Asked {
        Send { id: String, text: String },
        Close,
        Quit,
    }

    fn engine() -> (Handle, mpsc::Receiver<Event>, Engine) {
        let (handle, cmds) = Handle::new(Clock::system());
        let (events, rx) = mpsc::channel(256);
        (handle, rx, Engine { cmds, events })
    }

    /// The relay fed `input`, until the engine stops, beside `drive`.
    async fn relay_with(
        input: impl AsyncRead + Unpin,
        interrupts: impl futures::Stream<Item = ()> + Unpin,
        drive: impl AsyncFnOnce(Engine),
    ) -> (Exit, Vec<String>) {
        let (handle, events, engine) = engine();
        let transcript = Transcript::default();
        let run = relay(
            handle,
            events,
            input,
            interrupts,
            transcript.stream("out"),
            transcript.stream("err"),
        );
        let (exit, ()) = tokio::join!(run, drive(engine));
        (exit, transcript.lines())
    }

    /// Input that arrives a few bytes at a time, as a slow pipe gives it.
    struct Trickle {
        data: &'static [u8],
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.step.min(self.data.len()).min(buf.remaining());
            buf.put_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Poll::Ready(Ok(()))
        }
    }

    /// stdin that stays open and says nothing.
    struct Never;

    impl AsyncRead for Never {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    fn peer(name: &str) -> Peer {
        Peer {
            name: name.into(),
            addr: "192.0.2.7:7878".parse().unwrap(),
        }
    }

    fn received(from: &str, text: &str) -> Event {
        Event::Received {
            id: "i".into(),
            from: from.into(),
            text: text.into(),
            sent_at: 0,
            token: String::new(),
        }
    }

    #[tokio::test]
    async fn what_the_network_says_is_printed_safely_and_in_order() {
        let (exit, lines) = relay_with(
            tokio::io::empty(),
            futures::stream::pending(),
            async |mut engine: Engine| {
                assert_eq!(engine.next().await, Asked::Close);
                engine
                    .emit(Event::Connected {
                        peer: peer("mallory\u{202e}gnp.exe"),
                        resent: 0,
                    })
                    .await;
                engine
                    .emit(received(
                        "alice",
                        "hi \u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{1b}]0;title\u{7}",
                    ))
                    .await;
                engine
                    .emit(received(
                        "alice",
                        "ok\rSECURITY ALERT: forged\nsrv: please paste your key here\u{9b}",
                    ))
                    .await;
                engine
                    .emit(Event::Disconnected(Ended::PeerLeft {
                        name: "alice".into(),
                        reason: "closed\nSECURITY ALERT: forged\u{1b}[31m".into(),
                    }))
                    .await;
                engine
                    .emit(Event::Disconnected(Ended::Alert(crate::Alert::Malformed(
                        "unknown variant `\u{1b}[2J`".into(),
                    ))))
                    .await;
                engine
                    .emit(Event::Rejected {
                        addr: "192.0.2.9:1".parse().unwrap(),
                        reason: crate::Rejection::Handshake(crate::Alert::Malformed(
                            "\n\u{85}".into(),
                        )),
                    })
                    .await;
                engine.emit(received("alice", "last")).await;
                engine
                    .emit(Event::Failed(ConnectError::ServerSaid(
                        "\u{1b}]0;x\u{7}\nok".into(),
                    )))
                    .await;
            },
        )
        .await;
        assert_eq!(
            lines,
            [
                r"err| connected to mallory\u{202e}gnp.exe (192.0.2.7:7878)",
                r"out| alice: hi \u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{1b}]0;title\u{7}",
                r"out| alice: ok\u{d}SECURITY ALERT: forged",
                r"out|   | srv: please paste your key here\u{9b}",
                r"err| disconnected: alice left (closed\u{a}SECURITY ALERT: forged\u{1b}[31m)",
                r"err| SECURITY ALERT: a frame decrypted but is not valid: unknown variant `\u{1b}[2J`; connection closed",
                r"err| 192.0.2.9 failed the handshake: a frame decrypted but is not valid: \u{a}\u{85}",
                r"out| alice: last",
                r"err| error: the server refused the connection: \u{1b}]0;x\u{7}\u{a}ok",
            ]
        );
        assert_eq!(
            exit,
            Exit {
                undelivered: 0,
                failed: true
            }
        );
    }

    #[tokio::test]
    async fn every_line_is_sent_once_in_order_then_the_chat_is_closed() {
        // CRLF, a blank line (not a message), invalid UTF-8, a last line
        // without LF, and lines split across reads.
        let input = Trickle {
            data: b"one\r\n\ntwo \xff\nthree\n\nfour",
            step: 3,
        };
        let (exit, lines) = relay_with(
            input,
            futures::stream::pending(),
            async |mut engine: Engine| {
                let mut sent = Vec::new();
                loop {
                    match engine.next().await {
                        Asked::Send { id, text } => sent.push((id, text)),
                        Asked::Close => break,
                        Asked::Quit => panic!("nobody pressed Ctrl+C"),
                    }
                }
                let texts: Vec<&str> = sent.iter().map(|(_, text)| text.as_str()).collect();
                assert_eq!(texts, ["one", "two \u{fffd}", "three", "four"]);
                // Delivered after the end of input, as the engine does it.
                engine.ack_all(sent.into_iter().map(|(id, _)| id)).await;
                engine.emit(Event::Closed).await;
            },
        )
        .await;
        assert_eq!(exit, ALL_DELIVERED);
        assert_eq!(exit.code(), ExitCode::SUCCESS);
        assert_eq!(
            lines,
            [
                "err| end of input: 4 typed lines still to deliver; leaving once delivered (Ctrl+C leaves now)"
            ]
        );
    }

    #[tokio::test]
    async fn lines_not_acknowledged_when_the_engine_stops_fail_the_exit() {
        let (exit, lines) = relay_with(
            &b"a\nb\nc\n"[..],
            futures::stream::pending(),
            async |mut engine: Engine| {
                assert!(matches!(engine.next().await, Asked::Send { .. }));
                let Asked::Send { id, .. } = engine.next().await else {
                    panic!()
                };
                assert!(matches!(engine.next().await, Asked::Send { .. }));
                assert_eq!(engine.next().await, Asked::Close);
                // One delivered (not the oldest), then nothing more: an id
                // never sent changes nothing.
                engine.emit(Event::Acked { id: id.clone() }).await;
                engine.emit(Event::Acked { id }).await;
                engine
                    .emit(Event::Acked {
                        id: "unknown".into(),
                    })
                    .await;
                engine.emit(Event::Closed).await;
            },
        )
        .await;
        assert_eq!(
            lines,
            [
                "err| end of input: 3 typed lines still to deliver; leaving once delivered (Ctrl+C leaves now)",
                "err| 2 typed lines not delivered",
            ]
        );
        assert_eq!(
            exit,
            Exit {
                undelivered: 2,
                failed: false
            }
        );
        assert_eq!(exit.code(), ExitCode::FAILURE);
    }

    #[tokio::test]
    async fn the_event_stream_ending_with_lines_undelivered_fails_the_exit() {
        // A client whose server said bye: no `Closed`, the stream just ends,
        // and stdin is still open.
        let input = (&b"a\n"[..]).chain(Never);
        let (exit, lines) = relay_with(
            input,
            futures::stream::pending(),
            async |mut engine: Engine| {
                assert!(matches!(engine.next().await, Asked::Send { .. }));
                engine
                    .emit(Event::Disconnected(Ended::PeerLeft {
                        name: "bob".into(),
                        reason: "closed".into(),
                    }))
                    .await;
                drop(engine);
            },
        )
        .await;
        assert_eq!(
            lines,
            [
                "err| disconnected: bob left (closed)",
                "err| 1 typed line not delivered"
            ]
        );
        assert_eq!(
            exit,
            Exit {
                undelivered: 1,
                failed: false
            }
        );
    }

    #[tokio::test]
    async fn a_line_too_long_for_a_message_is_dropped_as_it_comes() {
        // The largest message, with CRLF, passes; one byte more is refused
        // without being held in memory; the line after it is sent.
        let mut data = vec![b'x'; MAX_TEXT_BYTES];
        data.extend_from_slice(b"\r\n");
        data.extend(std::iter::repeat_n(b'y', 3 * LINE_MAX));
        data.extend_from_slice(b"\nafter\n");
        let data: &'static [u8] = data.leak();
        let mut lines = Lines::default();
        let mut input = Trickle {
            data,
            step: READ_CHUNK,
        };
        let mut got = Vec::new();
        let mut most = 0;
        loop {
            let eof = input.read_buf(lines.buffer()).await.unwrap() == 0;
            most = most.max(lines.buf.len());
            while let Some(line) = lines.next_line(eof) {
                got.push(match line {
                    Line::Text(text) => String::from_utf8_lossy(text).into_owned(),
                    Line::TooLong => "too long".to_owned(),
                });
            }
            if eof {
                break;
            }
        }
        let largest = format!("{}\r", "x".repeat(MAX_TEXT_BYTES));
        assert_eq!(got, [largest.as_str(), "too long", "after"]);
        assert!(most <= LINE_MAX + 2 * READ_CHUNK, "{most}");

        let input = Trickle {
            data,
            step: READ_CHUNK,
        };
        let (exit, lines) = relay_with(
            input,
            futures::stream::pending(),
            async |mut engine: Engine| {
                let Asked::Send { text, .. } = engine.next().await else {
                    panic!()
                };
                assert_eq!(text.len(), MAX_TEXT_BYTES);
                let Asked::Send { text, .. } = engine.next().await else {
                    panic!()
                };
                assert_eq!(text, "after");
                assert_eq!(engine.next().await, Asked::Close);
                engine.emit(Event::Closed).await;
            },
        )
        .await;
        assert_eq!(
            lines[0],
            "err| not sent: a line is over the limit of 262144 bytes"
        );
        assert_eq!(exit.undelivered, 3, "{lines:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn reading_pauses_while_too_much_is_unacknowledged() {
        const LINE: usize = 1000;
        let total = 3 * IN_FLIGHT_MAX / LINE;
        let data: Vec<u8> = (0..total)
            .flat_map(|i| format!("{i:0999}\n").into_bytes())
            .collect();
        let input: &'static [u8] = data.leak();
        let (exit, _) = relay_with(input, futures::stream::pending(), async |mut engine: Engine| {
            let mut unacked = Vec::new();
            let mut texts = Vec::new();
            let mut pauses = 0;
            loop {
                // With time paused, this sleep ends only once every task
                // is idle: the relay has read all it is going to.
                tokio::select! {
                    biased;
                    asked = engine.next() => match asked {
                        Asked::Send { id, text } => {
                            unacked.push(id);
                            texts.push(text);
                        }
                        Asked::Close => break,
                        Asked::Quit => panic!("nobody pressed Ctrl+C"),
                    },
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                        let in_flight = unacked.len() * LINE;
                        assert!(in_flight >= IN_FLIGHT_MAX, "paused early at {in_flight}");
                        assert!(in_flight < IN_FLIGHT_MAX + 2 * READ_CHUNK, "read on at {in_flight}");
                        assert!(texts.len() < total);
                        pauses += 1;
                        engine.ack_all(unacked.drain(..)).await;
                    }
                }
            }
            // Paused at about a third and two thirds; the rest fits.
            assert_eq!(pauses, 2);
            let expected: Vec<String> = (0..total).map(|i| format!("{i:0999}")).collect();
            assert!(texts == expected, "every line once, in order");
            engine.ack_all(unacked).await;
            engine.emit(Event::Closed).await;
        })
        .await;
        assert_eq!(exit, ALL_DELIVERED);
    }

    #[tokio::test]
    async fn ctrl_c_quits_at_once_and_counts_what_was_not_delivered() {
        let (press, interrupts) = futures::channel::mpsc::unbounded::<()>();
        // stdin stays open: only Ctrl+C can end this.
        let input = (&b"kept\nlost\n"[..]).chain(Never);
        let (exit, lines) = relay_with(input, interrupts, async |mut engine: Engine| {
            let Asked::Send { id, .. } = engine.next().await else {
                panic!()
            };
            engine.emit(Event::Acked { id }).await;
            assert!(matches!(engine.next().await, Asked::Send { .. }));
            press.unbounded_send(()).unwrap();
            assert_eq!(engine.next().await, Asked::Quit);
            engine.emit(Event::Closed).await;
        })
        .await;
        assert_eq!(lines, ["err| interrupted: 1 typed line not delivered"]);
        assert_eq!(
            exit,
            Exit {
                undelivered: 1,
                failed: false
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_ctrl_c_leaves_without_waiting_for_the_engine() {
        let (press, interrupts) = futures::channel::mpsc::unbounded::<()>();
        let input = (&b"lost\n"[..]).chain(Never);
        // Time is paused: if the relay waited for the engine, this would
        // time out as soon as everything else had stopped.
        let (keep, _kept) = std::sync::mpsc::channel();
        let relayed = relay_with(input, interrupts, async |mut engine: Engine| {
            assert!(matches!(engine.next().await, Asked::Send { .. }));
            press.unbounded_send(()).unwrap();
            assert_eq!(engine.next().await, Asked::Quit);
            // Saying goodbye hangs (a network that stopped answering): the
            // engine never says Closed, and stays.
            press.unbounded_send(()).unwrap();
            keep.send(engine).unwrap();
        });
        let (exit, lines) = tokio::time::timeout(std::time::Duration::from_secs(60), relayed)
            .await
            .expect("the second Ctrl+C did not end the relay");
        assert_eq!(lines, ["err| interrupted: 1 typed line not delivered"]);
        assert_eq!(exit.undelivered, 1);
    }

    #[tokio::test]
    async fn probes_answered_are_counted_per_source_apart_from_rejections() {
        let probed = |ip: &str| Event::Probed {
            from: format!("{ip}:50000").parse().unwrap(),
        };
        let (_, lines) = relay_with(
            tokio::io::empty(),
            futures::stream::pending(),
            async |mut engine: Engine| {
                assert_eq!(engine.next().await, Asked::Close);
                for _ in 0..12 {
                    engine.emit(probed("10.0.0.7")).await;
                }
                engine
                    .emit(Event::Rejected {
                        addr: "10.0.0.7:50000".parse().unwrap(),
                        reason: crate::Rejection::BadProbe,
                    })
                    .await;
                engine.emit(probed("10.0.0.8")).await;
                engine.emit(Event::Closed).await;
            },
        )
        .await;
        assert_eq!(
            lines,
            [
                "err| 10.0.0.7 looked for this server",
                "err| 10.0.0.7 looked for this server: 10 times",
                "err| 10.0.0.7 sent a UDP datagram that is not a discovery probe with this key",
                "err| 10.0.0.8 looked for this server",
            ]
        );
    }

    #[tokio::test]
    async fn turned_away_connections_are_counted_not_listed() {
        let rejected = |ip: &str, reason| Event::Rejected {
            addr: format!("{ip}:50000").parse().unwrap(),
            reason,
        };
        let (exit, lines) = relay_with(
            tokio::io::empty(),
            futures::stream::pending(),
            async |mut engine: Engine| {
                assert_eq!(engine.next().await, Asked::Close);
                for _ in 0..1000 {
                    engine
                        .emit(rejected("127.0.0.1", crate::Rejection::KeyMismatch))
                        .await;
                }
                for _ in 0..3 {
                    engine
                        .emit(rejected("127.0.0.1", crate::Rejection::Timeout))
                        .await;
                    engine
                        .emit(rejected("127.0.0.2", crate::Rejection::KeyMismatch))
                        .await;
                }
                engine.emit(Event::Closed).await;
            },
        )
        .await;
        assert_eq!(
            lines,
            [
                "err| 127.0.0.1 tried a different key",
                "err| 127.0.0.1 tried a different key: 10 times",
                "err| 127.0.0.1 tried a different key: 100 times",
                "err| 127.0.0.1 tried a different key: 1000 times",
                "err| 127.0.0.1 said nothing valid within the time limit",
                "err| 127.0.0.2 tried a different key",
            ]
        );
        assert_eq!(exit, ALL_DELIVERED);
    }

    #[test]
    fn the_count_of_turned_away_connections_stays_small() {
        let mut tally = TurnedAway::default();
        for i in 0..10_000u32 {
            let ip = IpAddr::from((i % 1000).to_be_bytes());
            tally.add(ip, &crate::Rejection::KeyMismatch);
        }
        assert_eq!(tally.rows.len(), TurnedAway::ROWS);
    }
}
