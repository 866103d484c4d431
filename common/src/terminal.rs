//! The `--headless` terminal mode both binaries offer: each stdin line is a
//! message, received messages go to stdout as `<name>: <text>`, everything
//! else (status, notices, errors) to stderr. Everything printed goes
//! through [`crate::text`]: a peer's name, text or `bye` reason, an `ERR`
//! line or a parse error can never move the cursor, retitle the window,
//! write the clipboard or forge a line.
//!
//! End of input means "say goodbye once what was typed is delivered": the
//! server keeps waiting for someone and the client keeps reconnecting until
//! then; with [`EndOfInput::Stay`] (`--stay`) it means nothing, and the
//! chat goes on. Ctrl+C or SIGTERM leaves at once (saying bye if
//! connected; a second one does not wait even for that) and says how many
//! typed lines were not delivered. The exit status is non-zero whenever a
//! typed line was not delivered, and when the client could not connect.
//!
//! Piped input runs at the engine's speed: stdin is read 64 KiB at a time,
//! received messages are collected in one buffer and written out when no
//! further event is waiting (not one write per line).
//!
//! stdout is written on the relay's own thread, where the engine runs too.
//! Handing each write to another thread (tokio's blocking pool) cost a
//! cross-thread wake per burst, which in a room is per message: a third of
//! a terminal member's CPU in a room of 50. A reader of stdout that stops
//! reading stops the relay either way, since the pool takes one write at a
//! time and the relay waits for the last one before the next; written here,
//! the engine waits with it, and a room server that hears no
//! acknowledgement disconnects the member as slow. A stdout that fails (a
//! full disk) is waited out the same way (see `output.rs`).

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::time::{Duration, Instant, sleep_until};

use crate::event::{ChatEvent, Handle, SendError};
use crate::payload::MAX_TEXT_BYTES;
use crate::server::limits::MEMBER_QUEUE_BYTES;
use crate::text;

/// The environment variable that holds a key (never the command line, where
/// `ps` shows it).
pub const KEY_VAR: &str = "FERNET_CHAT_KEY";

mod describe;
mod lines;
mod output;
mod stdin;
#[cfg(test)]
mod tests;
mod turned_away;
mod undelivered;

pub use describe::EngineEvent;
use describe::Step;
use lines::{Line, Lines};
use output::{Change, Output};
use turned_away::TurnedAway;
use undelivered::Side;
use undelivered::Undelivered;

/// How often a stdout that failed is tried again.
const WRITE_RETRY: Duration = Duration::from_secs(1);
/// Sending (and reading) stdin's lines pauses while typed lines weighing
/// this much ([`crate::payload::weight`]: text and overhead) are not
/// delivered, so piping a large file, or a file of very short lines, does
/// not queue all of it in memory. The server's is
/// half a room member's queue ([`MEMBER_QUEUE_BYTES`]): its lines wait in
/// the room while a member is behind, and what it reads ahead cannot push
/// a held place past its bound by itself. Both are well under what the
/// engine takes ([`crate::TYPED_QUEUE_BYTES`]), so piped input is never
/// refused for it.
const fn in_flight_max(side: Side) -> usize {
    match side {
        Side::Client => 4 * 1024 * 1024,
        Side::Server => MEMBER_QUEUE_BYTES / 2,
    }
}

// Sending pauses once past the bound, with at most one line sent beyond
// it.
const _: () = {
    let most = crate::payload::weight(MAX_TEXT_BYTES);
    assert!(in_flight_max(Side::Client) + most <= crate::TYPED_QUEUE_BYTES);
    assert!(in_flight_max(Side::Server) + most <= crate::TYPED_QUEUE_BYTES);
};

/// What the end of stdin means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndOfInput {
    /// Deliver what was typed, then say goodbye: `printf 'hi\n' |`.
    Leave,
    /// Nothing: chat on until Ctrl+C or SIGTERM (`--stay`), as a room
    /// hosted or followed from a script or a service, whose stdin is
    /// empty, needs.
    Stay,
}

impl EndOfInput {
    /// What `--stay` given (or not) asks for.
    pub fn stay(given: bool) -> EndOfInput {
        if given {
            EndOfInput::Stay
        } else {
            EndOfInput::Leave
        }
    }
}

/// A binary's whole `--headless` run: on a runtime of its own, `start`
/// brings up an engine (or says why not on stderr and gives `None`), then
/// the terminal is relayed to it. Returns the process's exit code.
///
/// Ctrl+C and SIGTERM are caught from before `start` runs: whatever
/// `start` or the relay prints comes after, so a script or test that has
/// seen such a line can send the signal without racing the handler.
/// The engine's event type says which program this is ([`EngineEvent`]).
pub fn run<E: EngineEvent>(
    end: EndOfInput,
    start: impl Future<Output = Option<(Handle, mpsc::Receiver<E>)>>,
) -> ExitCode {
    // One thread: the relay and the engine's tasks take turns without
    // waking each other across threads. stdin is read here when it is a
    // pipe, else on tokio's blocking pool (see `stdin`); stdout is written
    // here (see the module's docs).
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
        let interrupts = match crate::signals::leave_requests() {
            Ok(interrupts) => interrupts,
            Err(e) => {
                eprintln!("error: cannot watch for Ctrl+C and SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        };
        let Some((handle, events)) = start.await else {
            return ExitCode::FAILURE;
        };
        let (stdin, stdout, stderr) = (stdin::open(), std::io::stdout(), std::io::stderr());
        // A task of its own, not this future: waking the future `block_on`
        // runs makes the runtime look for I/O once more before running it
        // (a system call per message the engine reports).
        let relay = tokio::spawn(relay(
            handle, events, end, stdin, interrupts, stdout, stderr,
        ));
        match relay.await {
            Ok(exit) => exit.code(),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    });
    // A blocked read of stdin must not keep the process alive.
    runtime.shutdown_background();
    code
}

/// How a terminal chat ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exit {
    /// Typed lines the peer never acknowledged, or the engine refused.
    undelivered: usize,
    /// The client could not connect, or was put out of the chat.
    failed: bool,
    /// Received messages stdout did not take.
    unshown: usize,
}

impl Exit {
    fn code(self) -> ExitCode {
        if self.failed || self.undelivered > 0 || self.unshown > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Relays between the terminal and an engine until the engine stops. The
/// first Ctrl+C or SIGTERM (an item of `interrupts`) asks the engine to
/// quit; a second one leaves without waiting for it (saying goodbye could
/// hang on a network that stopped answering).
async fn relay<E: EngineEvent>(
    handle: Handle,
    mut events: mpsc::Receiver<E>,
    end: EndOfInput,
    mut input: impl AsyncRead + Unpin,
    mut interrupts: impl Stream<Item = ()> + Unpin,
    out: impl Write,
    err: impl Write,
) -> Exit {
    let mut relay = Relay {
        handle,
        output: Output::new(out),
        retry: None,
        err,
        undelivered: Undelivered::new(E::SIDE),
        refused: 0,
        typed: false,
        input_ended: false,
        interrupted: false,
        turned_away: TurnedAway::default(),
    };
    let mut lines = Lines::default();
    let mut reading = true;
    // stdin said it ended (or failed); what it gave may still wait here.
    let mut at_eof = false;
    loop {
        // The lines read go to the engine while there is room; the rest
        // wait in `lines` (a chunk of short lines weighs far more than its
        // bytes).
        while reading && relay.undelivered.bytes() < in_flight_max(E::SIDE) {
            let Some(line) = lines.next_line(at_eof) else {
                if at_eof {
                    reading = false;
                    if end == EndOfInput::Leave {
                        relay.end_of_input();
                    }
                }
                break;
            };
            match line {
                Line::Text(line) => relay.send(line),
                Line::TooLong => {
                    let why = format!("a line is over the limit of {MAX_TEXT_BYTES} bytes");
                    relay.refuse(&why);
                }
            }
        }
        let room = relay.undelivered.bytes() < in_flight_max(E::SIDE);
        let retry = relay.retry;
        tokio::select! {
            biased;
            Some(()) = interrupts.next() => {
                if relay.interrupted {
                    return relay.finish(false);
                }
                relay.interrupted = true;
                relay.handle.quit();
            }
            () = async { if let Some(at) = retry { sleep_until(at).await } }, if retry.is_some() => {
                relay.write_out();
            }
            event = events.recv(), if relay.takes_events() => {
                let mut next = event;
                loop {
                    let Some(event) = next else {
                        return relay.finish(false);
                    };
                    if let Some(failed) = relay.on_step(event.step()) {
                        return relay.finish(failed);
                    }
                    if relay.output.is_full() || !relay.takes_events() {
                        break;
                    }
                    next = match events.try_recv() {
                        Ok(event) => Some(event),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => None,
                    };
                }
                relay.write_out();
            }
            read = input.read_buf(lines.buffer()), if reading && !at_eof && room => {
                at_eof = match read {
                    Ok(n) => n == 0,
                    Err(e) => {
                        relay.status(&format!("cannot read stdin: {e}"));
                        true
                    }
                };
            }
        }
    }
}

/// The relay's state between events.
struct Relay<O, E> {
    handle: Handle,
    output: Output<O>,
    /// When to try a failing stdout again.
    retry: Option<Instant>,
    err: E,
    /// Sent and not yet delivered.
    undelivered: Undelivered,
    /// Typed lines the engine would not take.
    refused: usize,
    /// A line was given to the engine.
    typed: bool,
    /// stdin ended, and that means leaving.
    input_ended: bool,
    interrupted: bool,
    turned_away: TurnedAway,
}

impl<O: Write, E: Write> Relay<O, E> {
    fn send(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Checked first: the lossy conversion is slower on valid text.
        let text = match std::str::from_utf8(line) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(line).into_owned(),
        };
        let len = text.len();
        match self.handle.send(text) {
            Ok(id) => {
                self.typed = true;
                self.undelivered.sent(id, len);
            }
            // Blank lines are not messages.
            Err(SendError::Empty) => {}
            Err(e) => self.refuse(&e.to_string()),
        }
    }

    fn refuse(&mut self, why: &str) {
        self.refused += 1;
        self.status(&format!("not sent: {why}"));
    }

    fn end_of_input(&mut self) {
        self.input_ended = true;
        self.handle.close();
        let n = self.undelivered.len();
        if n > 0 {
            let lines = lines(n);
            self.status(&format!(
                "end of input: {lines} still to deliver; leaving once delivered (Ctrl+C leaves now)"
            ));
        }
    }

    /// Does what an engine's event asks; `Some(failed)` once the engine
    /// stopped (`failed`: the client could not connect).
    fn on_step(&mut self, step: Step) -> Option<bool> {
        match step {
            Step::Chat(ChatEvent::Received { from, text, .. }) => {
                let (from, text) = (text::for_terminal(&from), text::for_terminal_message(&text));
                self.output.push(&[&from, ": ", &text]);
            }
            Step::Chat(ChatEvent::Relayed { id, to }) => self.undelivered.relayed(&id, to),
            Step::Chat(ChatEvent::Delivered { id, by }) => self.undelivered.delivered(&id, &by),
            Step::Chat(chat) => {
                if let Some(line) = describe::chat(&chat) {
                    self.status(&line);
                }
            }
            Step::Acked(id) => self.undelivered.acked(&id),
            Step::Rejected { addr, reason } => {
                if let Some(line) = self.turned_away.add(addr.ip(), &reason) {
                    self.status(&line);
                }
            }
            Step::Probed { from } => {
                if let Some(line) = self.turned_away.probed(from.ip()) {
                    self.status(&line);
                }
            }
            Step::Say(Some(line)) => self.status(&line),
            Step::Say(None) => {}
            Step::Failed(line) => {
                self.status(&line);
                return Some(true);
            }
            Step::Closed => return Some(false),
        }
        None
    }

    /// Writes a line on stderr, after the messages before it, with every
    /// character that could act on the terminal escaped (it may quote the
    /// network).
    fn status(&mut self, line: &str) {
        self.write_out();
        self.say(line);
    }

    /// Whether to take the engine's next event: not while stdout fails
    /// (the messages wait in the engine, and the network waits for it),
    /// unless leaving.
    fn takes_events(&self) -> bool {
        self.output.state() != output::State::Failing || self.interrupted
    }

    /// [`Relay::status`] without writing out first.
    fn say(&mut self, line: &str) {
        let _ = writeln!(self.err, "{}", text::for_terminal(line));
    }

    /// Writes the received lines out, in one write, and deals with a
    /// stdout that fails ([`output`]).
    fn write_out(&mut self) {
        let change = self.output.write();
        self.retry =
            (self.output.state() == output::State::Failing).then(|| Instant::now() + WRITE_RETRY);
        match change {
            None => {}
            Some(Change::Failing(e)) => self.say(&format!(
                "cannot write to stdout ({e}): the chat pauses until it can (trying again every {} s)",
                WRITE_RETRY.as_secs()
            )),
            Some(Change::Recovered) => self.say("stdout takes messages again: the chat goes on"),
            Some(Change::Gone(lost)) => {
                let mut line = "stdout was closed (nothing reads it any more): leaving".to_owned();
                if lost > 0 {
                    line += &format!("; {} not shown", messages(lost));
                }
                self.say(&line);
                self.handle.quit();
            }
        }
    }

    /// The engine stopped: says what was not delivered.
    fn finish(mut self, failed: bool) -> Exit {
        let undelivered = self.undelivered.len() + self.refused;
        let lines = lines(undelivered);
        match (self.interrupted, undelivered) {
            (true, 0) => self.status("interrupted: everything typed was delivered"),
            (true, _) => self.status(&format!("interrupted: {lines} not delivered")),
            (false, 0) => self.write_out(),
            (false, _) => self.status(&format!("{lines} not delivered")),
        }
        if self.input_ended && !self.typed && !failed && !self.interrupted {
            // Said, so that a program started with an empty stdin (`&` in
            // a script, a service) does not seem to wait ("waiting for
            // someone to connect…") and then vanish.
            self.say("end of input before anything was typed: leaving (--stay keeps the chat going after it)");
        }
        let unwritten = self.output.unwritten();
        if unwritten > 0 {
            self.say(&format!(
                "{} could not be written to stdout",
                messages(unwritten)
            ));
        }
        Exit {
            undelivered,
            failed,
            unshown: self.output.unshown(),
        }
    }
}

/// "1 typed line", "2 typed lines".
fn lines(n: usize) -> String {
    counted(n, "typed line")
}

/// "1 received message", "2 received messages".
fn messages(n: usize) -> String {
    counted(n, "received message")
}

/// `n` and `what`, plural unless one.
fn counted(n: usize, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {what}{s}")
}
