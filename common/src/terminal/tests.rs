//! Tests of terminal mode: the relay between a scripted engine and a
//! transcript of stdout and stderr.

use std::cell::RefCell;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::sync::mpsc::UnboundedReceiver;

use super::lines::{LINE_MAX, READ_CHUNK};
use super::*;
use crate::clock::Clock;
use crate::error::ConnectError;
use crate::event::{ClientEvent, Command, Ended, Peer, ServerEvent};
use crate::payload::weight;
use crate::server::limits::MEMBER_QUEUE_BYTES;

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

/// The engine's side of a relay under test: what the relay asks of it,
/// and the events to give it (the client's, unless `E` says otherwise).
struct Engine<E = ClientEvent> {
    cmds: UnboundedReceiver<Command>,
    events: mpsc::Sender<E>,
}

impl<E> Engine<E> {
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

    async fn emit(&self, event: impl Into<E>) {
        self.events.send(event.into()).await.unwrap();
    }
}

impl Engine {
    /// The peer acknowledged each of `ids`.
    async fn ack_all(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            self.emit(ClientEvent::Acked { id }).await;
        }
    }
}

/// Everything typed was delivered, and the client connected.
const ALL_DELIVERED: Exit = Exit {
    undelivered: 0,
    failed: false,
    unshown: 0,
};

#[derive(Debug, PartialEq)]
enum Asked {
    Send { id: String, text: String },
    Close,
    Quit,
}

fn engine<E>() -> (Handle, mpsc::Receiver<E>, Engine<E>) {
    let (handle, cmds) = Handle::new(Clock::system());
    let (events, rx) = mpsc::channel(256);
    (handle, rx, Engine { cmds, events })
}

/// The client's relay fed `input`, until the engine stops, beside `drive`.
async fn relay_with(
    input: impl AsyncRead + Unpin,
    interrupts: impl futures::Stream<Item = ()> + Unpin,
    drive: impl AsyncFnOnce(Engine),
) -> (Exit, Vec<String>) {
    relay_as(input, interrupts, drive).await
}

/// [`relay_with`] for either program: the server's with
/// `Engine<ServerEvent>`.
async fn relay_as<E: EngineEvent>(
    input: impl AsyncRead + Unpin,
    interrupts: impl futures::Stream<Item = ()> + Unpin,
    drive: impl AsyncFnOnce(Engine<E>),
) -> (Exit, Vec<String>) {
    relay_ending(EndOfInput::Leave, input, interrupts, drive).await
}

/// [`relay_as`] with the end of input meaning `end`.
async fn relay_ending<E: EngineEvent>(
    end: EndOfInput,
    input: impl AsyncRead + Unpin,
    interrupts: impl futures::Stream<Item = ()> + Unpin,
    drive: impl AsyncFnOnce(Engine<E>),
) -> (Exit, Vec<String>) {
    relay_full(end, input, interrupts, |out| out, drive).await
}

/// [`relay_ending`] with stdout as `out` makes it of the transcript's.
async fn relay_full<E: EngineEvent, W: Write>(
    end: EndOfInput,
    input: impl AsyncRead + Unpin,
    interrupts: impl futures::Stream<Item = ()> + Unpin,
    out: impl FnOnce(Stream) -> W,
    drive: impl AsyncFnOnce(Engine<E>),
) -> (Exit, Vec<String>) {
    let (handle, events, engine) = engine();
    let transcript = Transcript::default();
    let run = relay(
        handle,
        events,
        end,
        input,
        interrupts,
        out(transcript.stream("out")),
        transcript.stream("err"),
    );
    let (exit, ()) = tokio::join!(run, drive(engine));
    (exit, transcript.lines())
}

/// A stdout on a disk that fills up, or whose reader goes away, as the
/// test says.
struct Failing {
    inner: Stream,
    mode: Rc<RefCell<Mode>>,
}

#[derive(Clone, Copy)]
enum Mode {
    Takes,
    /// Takes this many bytes, then the disk is full.
    FillsAfter(usize),
    /// Takes everything, but a flush finds the disk full (the bytes wait
    /// in a buffer, as `std::io::Stdout`'s do).
    FlushFails,
    /// Its reader went away.
    Gone,
}

impl Write for Failing {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mode = *self.mode.borrow();
        match mode {
            Mode::Takes | Mode::FlushFails => self.inner.write(bytes),
            Mode::FillsAfter(0) => Err(io::Error::new(io::ErrorKind::StorageFull, "disk full")),
            Mode::FillsAfter(n) => {
                let n = n.min(bytes.len());
                *self.mode.borrow_mut() = Mode::FillsAfter(0);
                self.inner.write(&bytes[..n])
            }
            Mode::Gone => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match *self.mode.borrow() {
            Mode::FlushFails => Err(io::Error::new(io::ErrorKind::StorageFull, "disk full")),
            _ => Ok(()),
        }
    }
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

fn received(from: &str, text: &str) -> ChatEvent {
    ChatEvent::Received {
        id: "i".into(),
        from: from.into(),
        text: text.into(),
        sent_at: 0,
        token: crate::Ciphertext::default(),
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
                .emit(ClientEvent::Connected {
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
                .emit(ClientEvent::Disconnected(Ended::PeerLeft {
                    name: "alice".into(),
                    reason: "closed\nSECURITY ALERT: forged\u{1b}[31m".into(),
                }))
                .await;
            engine
                .emit(ClientEvent::Disconnected(Ended::Alert(
                    crate::Alert::Malformed("unknown variant `\u{1b}[2J`".into()),
                )))
                .await;
            engine.emit(received("alice", "last")).await;
            engine
                .emit(ClientEvent::Failed(ConnectError::ServerSaid(
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
            r"out| alice: last",
            r"err| error: the server refused the connection: \u{1b}]0;x\u{7}\u{a}ok",
        ]
    );
    assert_eq!(
        exit,
        Exit {
            undelivered: 0,
            failed: true,
            unshown: 0,
        }
    );
}

#[tokio::test]
async fn a_rejection_quoting_the_network_is_printed_safely_and_in_order() {
    let (exit, lines) = relay_as(
        tokio::io::empty(),
        futures::stream::pending(),
        async |mut engine: Engine<ServerEvent>| {
            assert_eq!(engine.next().await, Asked::Close);
            engine.emit(received("alice", "first")).await;
            engine
                .emit(ServerEvent::Rejected {
                    addr: "192.0.2.9:1".parse().unwrap(),
                    reason: crate::Rejection::Handshake(crate::Alert::Malformed("\n\u{85}".into())),
                })
                .await;
            engine.emit(received("alice", "last")).await;
            engine.emit(ServerEvent::Closed).await;
        },
    )
    .await;
    assert_eq!(
        lines,
        [
            r"out| alice: first",
            r"err| 192.0.2.9 failed the handshake: a frame decrypted but is not valid: \u{a}\u{85}",
            r"out| alice: last",
            "err| end of input before anything was typed: leaving (--stay keeps the chat going after it)",
        ]
    );
    assert_eq!(exit, ALL_DELIVERED);
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
            engine.emit(ClientEvent::Closed).await;
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
            engine.emit(ClientEvent::Acked { id: id.clone() }).await;
            engine.emit(ClientEvent::Acked { id }).await;
            engine
                .emit(ClientEvent::Acked {
                    id: "unknown".into(),
                })
                .await;
            engine.emit(ClientEvent::Closed).await;
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
            failed: false,
            unshown: 0,
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
                .emit(ClientEvent::Disconnected(Ended::PeerLeft {
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
            failed: false,
            unshown: 0,
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
            engine.emit(ClientEvent::Closed).await;
        },
    )
    .await;
    assert_eq!(
        lines[0],
        "err| not sent: a line is over the limit of 262144 bytes"
    );
    assert_eq!(exit.undelivered, 3, "{lines:?}");
}

/// Pipes three times `max` (by [`weight`]) in lines of `text` bytes into
/// the relay of `E`'s program, whose engine delivers nothing (`deliver`)
/// until the relay has paused: it must pause at `max` not delivered, twice,
/// within a line of it, and send every line once, in order.
async fn reading_pauses_at<E: EngineEvent>(
    max: usize,
    text: usize,
    deliver: impl AsyncFn(&Engine<E>, Vec<String>),
    closed: E,
) {
    let total = 3 * max / weight(text);
    let data: Vec<u8> = (0..total)
        .flat_map(|i| format!("{i:0text$}\n").into_bytes())
        .collect();
    let input: &'static [u8] = data.leak();
    let (exit, _) = relay_as(
        input,
        futures::stream::pending(),
        async |mut engine: Engine<E>| {
            let mut undelivered = Vec::new();
            let mut texts = Vec::new();
            let mut pauses = 0;
            loop {
                // With time paused, this sleep ends only once every task
                // is idle: the relay has read all it is going to.
                tokio::select! {
                    biased;
                    asked = engine.next() => match asked {
                        Asked::Send { id, text } => {
                            undelivered.push(id);
                            texts.push(text);
                        }
                        Asked::Close => break,
                        Asked::Quit => panic!("nobody pressed Ctrl+C"),
                    },
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                        let in_flight = undelivered.len() * weight(text);
                        assert!(in_flight >= max, "paused early at {in_flight}");
                        assert!(in_flight < max + weight(text), "read on at {in_flight}");
                        assert!(texts.len() < total);
                        pauses += 1;
                        deliver(&engine, std::mem::take(&mut undelivered)).await;
                    }
                }
            }
            // Paused at about a third and two thirds; the rest fits.
            assert_eq!(pauses, 2);
            let expected: Vec<String> = (0..total).map(|i| format!("{i:0text$}")).collect();
            assert!(texts == expected, "every line once, in order");
            deliver(&engine, undelivered).await;
            engine.emit(closed).await;
        },
    )
    .await;
    assert_eq!(exit, ALL_DELIVERED);
}

#[tokio::test(start_paused = true)]
async fn reading_pauses_while_too_much_is_unacknowledged() {
    let ack_all = async |engine: &Engine, ids: Vec<String>| engine.ack_all(ids).await;
    reading_pauses_at(
        in_flight_max(Side::Client),
        999,
        ack_all,
        ClientEvent::Closed,
    )
    .await;
}

/// A file of very short lines: a read of it holds thousands of lines,
/// which weigh far more than its bytes; sending pauses within a line of
/// the bound all the same.
#[tokio::test(start_paused = true)]
async fn a_file_of_short_lines_pauses_by_what_they_weigh() {
    let ack_all = async |engine: &Engine, ids: Vec<String>| engine.ack_all(ids).await;
    reading_pauses_at(in_flight_max(Side::Client), 7, ack_all, ClientEvent::Closed).await;
}

/// The server's terminal reads ahead no more than half a member's queue:
/// a file piped into it cannot push a member that keeps up past the member
/// queue (disconnected as slow), nor a held place past its bound.
#[tokio::test(start_paused = true)]
async fn the_server_reads_ahead_no_more_than_half_a_members_queue() {
    assert!(in_flight_max(Side::Server) + weight(MAX_TEXT_BYTES) < MEMBER_QUEUE_BYTES);
    let delivered_to_alice = async |engine: &Engine<ServerEvent>, ids: Vec<String>| {
        for id in ids {
            engine
                .emit(ChatEvent::Relayed {
                    id: id.clone(),
                    to: 1,
                })
                .await;
            let by = "alice".to_owned();
            engine.emit(ChatEvent::Delivered { id, by }).await;
        }
    };
    let max = in_flight_max(Side::Server);
    reading_pauses_at(max, 999, delivered_to_alice, ServerEvent::Closed).await;
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
        engine.emit(ClientEvent::Acked { id }).await;
        assert!(matches!(engine.next().await, Asked::Send { .. }));
        press.unbounded_send(()).unwrap();
        assert_eq!(engine.next().await, Asked::Quit);
        engine.emit(ClientEvent::Closed).await;
    })
    .await;
    assert_eq!(lines, ["err| interrupted: 1 typed line not delivered"]);
    assert_eq!(
        exit,
        Exit {
            undelivered: 1,
            failed: false,
            unshown: 0,
        }
    );
}

#[tokio::test]
async fn an_end_of_input_with_nothing_to_deliver_says_it_leaves_and_how_to_stay() {
    // `server-gui --headless &` in a script: stdin is /dev/null.
    let (exit, lines) = relay_with(
        tokio::io::empty(),
        futures::stream::pending(),
        async |mut engine: Engine| {
            assert_eq!(engine.next().await, Asked::Close);
            engine.emit(ClientEvent::Closed).await;
        },
    )
    .await;
    assert_eq!(exit, ALL_DELIVERED);
    assert_eq!(
        lines,
        [
            "err| end of input before anything was typed: leaving (--stay keeps the chat going after it)"
        ]
    );
}

#[tokio::test]
async fn staying_the_end_of_input_changes_nothing_until_ctrl_c() {
    let (press, interrupts) = futures::channel::mpsc::unbounded::<()>();
    // stdin ends at once, as /dev/null does for a service.
    let (exit, lines) = relay_ending(
        EndOfInput::Stay,
        &b"hello\n"[..],
        interrupts,
        async |mut engine: Engine| {
            let Asked::Send { id, .. } = engine.next().await else {
                panic!()
            };
            engine.emit(ClientEvent::Acked { id }).await;
            engine.emit(received("alice", "still here?")).await;
            press.unbounded_send(()).unwrap();
            // Not `Close` first: the end of input asked for nothing.
            assert_eq!(engine.next().await, Asked::Quit);
            engine.emit(ClientEvent::Closed).await;
        },
    )
    .await;
    assert_eq!(exit, ALL_DELIVERED);
    assert_eq!(
        lines,
        [
            "out| alice: still here?",
            "err| interrupted: everything typed was delivered"
        ]
    );
}

/// alice's "one" meets a stdout failing as `mode` says for a few retries,
/// "two" comes meanwhile, then the disk has room again.
async fn full_disk_then_room(mode: Mode) -> (Exit, Vec<String>) {
    let mode = Rc::new(RefCell::new(mode));
    let disk = mode.clone();
    let stdout = |inner| Failing { inner, mode };
    relay_full(
        EndOfInput::Leave,
        Never,
        futures::stream::pending(),
        stdout,
        async |engine: Engine| {
            engine.emit(received("alice", "one")).await;
            tokio::time::sleep(WRITE_RETRY / 4).await;
            engine.emit(received("alice", "two")).await;
            tokio::time::sleep(WRITE_RETRY * 3).await;
            // The relay took "one", found the disk full, and waits through
            // the retries: "two" is still the engine's (the network waits
            // with it).
            assert_eq!(engine.events.capacity(), engine.events.max_capacity() - 1);
            *disk.borrow_mut() = Mode::Takes;
            tokio::time::sleep(WRITE_RETRY).await;
            assert_eq!(engine.events.capacity(), engine.events.max_capacity());
            engine.emit(ClientEvent::Closed).await;
        },
    )
    .await
}

const DISK_FULL: &str = "err| cannot write to stdout (disk full): the chat pauses until it can (trying again every 1 s)";
const ROOM_AGAIN: &str = "err| stdout takes messages again: the chat goes on";

#[tokio::test(start_paused = true)]
async fn a_full_disk_pauses_the_chat_until_stdout_takes_the_messages_again() {
    let (exit, lines) = full_disk_then_room(Mode::FillsAfter(5)).await;
    assert_eq!(exit, ALL_DELIVERED);
    // "one" once, though its first 5 bytes went before the disk filled.
    assert_eq!(
        lines,
        [DISK_FULL, "out| alice: one", ROOM_AGAIN, "out| alice: two"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_flush_that_finds_the_disk_full_pauses_the_chat_until_one_succeeds() {
    let (exit, lines) = full_disk_then_room(Mode::FlushFails).await;
    assert_eq!(exit, ALL_DELIVERED);
    assert_eq!(
        lines,
        ["out| alice: one", DISK_FULL, ROOM_AGAIN, "out| alice: two"]
    );
}

#[tokio::test(start_paused = true)]
async fn messages_a_flush_never_wrote_are_counted_at_the_end() {
    let stdout = |inner| Failing {
        inner,
        mode: Rc::new(RefCell::new(Mode::FlushFails)),
    };
    let (press, interrupts) = futures::channel::mpsc::unbounded::<()>();
    let (exit, lines) = relay_full(
        EndOfInput::Leave,
        Never,
        interrupts,
        stdout,
        async |mut engine: Engine| {
            engine.emit(received("alice", "one")).await;
            tokio::time::sleep(WRITE_RETRY * 2).await;
            // The disk stays full: only Ctrl+C ends the wait.
            press.unbounded_send(()).unwrap();
            assert_eq!(engine.next().await, Asked::Quit);
            engine.emit(ClientEvent::Closed).await;
        },
    )
    .await;
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "err| interrupted: everything typed was delivered",
            "err| 1 received message could not be written to stdout"
        ]
    );
    assert_eq!(exit.unshown, 1);
}

#[tokio::test]
async fn a_stdout_nobody_reads_any_more_ends_the_chat_and_fails_the_exit() {
    let stdout = |inner| Failing {
        inner,
        mode: Rc::new(RefCell::new(Mode::Gone)),
    };
    let relayed = relay_full(
        EndOfInput::Leave,
        Never,
        futures::stream::pending(),
        stdout,
        async |mut engine: Engine| {
            engine.emit(received("alice", "one")).await;
            assert_eq!(engine.next().await, Asked::Quit);
            // Received before the engine stopped: counted too.
            engine.emit(received("alice", "two")).await;
            engine.emit(ClientEvent::Closed).await;
        },
    );
    let (exit, lines) = tokio::time::timeout(std::time::Duration::from_secs(10), relayed)
        .await
        .expect("the relay did not leave");
    assert_eq!(
        lines,
        [
            "err| stdout was closed (nothing reads it any more): leaving; 1 received message not shown"
        ]
    );
    assert_eq!(exit.unshown, 2);
    assert_eq!(exit.code(), ExitCode::FAILURE);
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
    let probed = |ip: &str| ServerEvent::Probed {
        from: format!("{ip}:50000").parse().unwrap(),
    };
    let (_, lines) = relay_as(
        tokio::io::empty(),
        futures::stream::pending(),
        async |mut engine: Engine<ServerEvent>| {
            assert_eq!(engine.next().await, Asked::Close);
            for _ in 0..12 {
                engine.emit(probed("10.0.0.7")).await;
            }
            engine
                .emit(ServerEvent::Rejected {
                    addr: "10.0.0.7:50000".parse().unwrap(),
                    reason: crate::Rejection::BadProbe,
                })
                .await;
            engine.emit(probed("10.0.0.8")).await;
            engine.emit(ServerEvent::Closed).await;
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
            "err| end of input before anything was typed: leaving (--stay keeps the chat going after it)",
        ]
    );
}

#[tokio::test]
async fn turned_away_connections_are_counted_not_listed() {
    let rejected = |ip: &str, reason| ServerEvent::Rejected {
        addr: format!("{ip}:50000").parse().unwrap(),
        reason,
    };
    let (exit, lines) = relay_as(
        tokio::io::empty(),
        futures::stream::pending(),
        async |mut engine: Engine<ServerEvent>| {
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
            engine.emit(ServerEvent::Closed).await;
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
            "err| end of input before anything was typed: leaving (--stay keeps the chat going after it)",
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

fn member(name: &str, addr: Option<&str>, you: bool) -> crate::Member {
    crate::Member {
        id: crate::payload::random_id(),
        name: name.into(),
        addr: addr.map(|a| a.parse().unwrap()),
        since: 0,
        you,
    }
}

#[tokio::test]
async fn a_room_says_who_is_in_it_and_who_comes_and_goes_and_a_relayed_line_is_delivered() {
    let (exit, lines) = relay_with(
        &b"hi all\n"[..],
        futures::stream::pending(),
        async |mut engine: Engine| {
            let Asked::Send { id, .. } = engine.next().await else {
                panic!()
            };
            assert_eq!(engine.next().await, Asked::Close);
            engine
                .emit(ClientEvent::Connected {
                    peer: peer("bob"),
                    resent: 0,
                })
                .await;
            engine
                .emit(ClientEvent::Roster(vec![
                    member("bob", None, false),
                    member("alice\u{1b}[2J", Some("10.0.0.5:51234"), false),
                    member("carol", None, true),
                ]))
                .await;
            let dave = member("dave", Some("10.0.0.9:40000"), false);
            engine.emit(ChatEvent::Joined(dave.clone())).await;
            engine.emit(received("dave", "hey")).await;
            engine
                .emit(ChatEvent::Left {
                    member: dave,
                    why: crate::Why::Lost,
                })
                .await;
            // The server holds it: delivered as far as this program goes.
            engine.emit(ChatEvent::Relayed { id, to: 3 }).await;
            engine.emit(ClientEvent::Closed).await;
        },
    )
    .await;
    assert_eq!(
        lines,
        [
            "err| end of input: 1 typed line still to deliver; leaving once delivered (Ctrl+C leaves now)",
            "err| connected to bob (192.0.2.7:7878)",
            r"err| in the room: bob, alice\u{1b}[2J, you (carol)",
            "err| dave joined (10.0.0.9:40000)",
            "out| dave: hey",
            "err| dave lost connection",
        ]
    );
    assert_eq!(exit, ALL_DELIVERED);
}

#[tokio::test]
async fn the_servers_line_in_a_room_is_delivered_once_every_member_has_it() {
    for (marks, undelivered) in [(vec!["alice", "alice"], 1), (vec!["alice", "carol"], 0)] {
        let (exit, _) = relay_as(
            &b"hi all\n"[..],
            futures::stream::pending(),
            async |mut engine: Engine<ServerEvent>| {
                let Asked::Send { id, .. } = engine.next().await else {
                    panic!()
                };
                assert_eq!(engine.next().await, Asked::Close);
                engine
                    .emit(ChatEvent::Relayed {
                        id: id.clone(),
                        to: 2,
                    })
                    .await;
                for by in marks {
                    let (id, by) = (id.clone(), by.to_owned());
                    engine.emit(ChatEvent::Delivered { id, by }).await;
                }
                engine.emit(ServerEvent::Closed).await;
            },
        )
        .await;
        assert_eq!(exit.undelivered, undelivered);
    }
}

/// Put out of the chat for good (removed, the server's key changed, our
/// place taken by another connection): the rest of stdin will never be
/// sent, so a script must not see success even with nothing undelivered.
#[tokio::test]
async fn being_put_out_of_the_chat_fails_the_exit() {
    for ended in [
        Ended::Removed,
        Ended::Replaced,
        Ended::NewKey { name: "bob".into() },
    ] {
        let said = format!("err| disconnected: {ended}");
        let input = tokio::io::empty().chain(Never);
        let (exit, lines) =
            relay_with(input, futures::stream::pending(), async |engine: Engine| {
                engine.emit(ClientEvent::Disconnected(ended.clone())).await;
                drop(engine);
            })
            .await;
        assert_eq!(lines, [said]);
        assert_eq!(exit.code(), ExitCode::FAILURE, "{ended:?}");
    }
}
