//! Received messages on their way to stdout, and what a stdout that stops
//! taking them means.
//!
//! A full disk (or a quota, or an I/O error) is waited out: the messages
//! stay here and the relay takes no more events until a retry writes
//! them, so the engine stops reading the network as it does for a slow
//! reader of stdout, and nothing received is lost. A stdout whose reader
//! is gone (`| head -1` after its line) can never take them: the relay
//! leaves.

use std::io::{self, ErrorKind, Write};

/// Received text collected before it is written out even though more
/// events are waiting.
pub(super) const WRITE_CHUNK: usize = 64 * 1024;

/// `name: text` lines not yet written to stdout.
pub(super) struct Output<W> {
    out: W,
    pending: Vec<u8>,
    /// Where each message in `pending` ends (a message may take several
    /// lines), to count those not written.
    ends: Vec<usize>,
    /// Messages written whole into a buffer below whose flush failed.
    unflushed: usize,
    /// Messages never to be written: those waiting when its reader went,
    /// and those received since.
    dropped: usize,
    state: State,
}

/// Whether stdout takes what is written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Open,
    /// A write failed; the messages wait for a retry.
    Failing,
    /// Its reader is gone: what comes is dropped.
    Gone,
}

/// What a write to stdout found, when it changed something.
#[derive(Debug)]
pub(super) enum Change {
    /// It failed, and will be retried.
    Failing(io::Error),
    /// It was failing and took everything now.
    Recovered,
    /// Its reader is gone, with this many messages not written.
    Gone(usize),
}

impl<W: Write> Output<W> {
    pub fn new(out: W) -> Output<W> {
        Output {
            out,
            pending: Vec::with_capacity(WRITE_CHUNK),
            ends: Vec::new(),
            unflushed: 0,
            dropped: 0,
            state: State::Open,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Adds a message's lines (already made safe for a terminal).
    pub fn push(&mut self, parts: &[&str]) {
        if self.state == State::Gone {
            self.dropped += 1;
            return;
        }
        for part in parts {
            self.pending.extend_from_slice(part.as_bytes());
        }
        self.pending.push(b'\n');
        self.ends.push(self.pending.len());
    }

    /// Enough is waiting to write it out before taking more events.
    pub fn is_full(&self) -> bool {
        self.pending.len() >= WRITE_CHUNK
    }

    /// Messages not written yet.
    pub fn unwritten(&self) -> usize {
        self.ends.len() + self.unflushed
    }

    /// Messages not shown: not written yet, or never to be.
    pub fn unshown(&self) -> usize {
        self.unwritten() + self.dropped
    }

    /// Writes out what is waiting; says so when that changes the state.
    /// What a failing write took stays written, the rest waits.
    pub fn write(&mut self) -> Option<Change> {
        // Failing with nothing here still flushes: what a failed flush
        // left in a buffer below (`std::io::Stdout`'s) waits there.
        let nothing = self.pending.is_empty() && self.state == State::Open;
        if self.state == State::Gone || nothing {
            return None;
        }
        let mut written = 0;
        let mut flushing = false;
        let result = loop {
            if written == self.pending.len() {
                flushing = true;
                break self.out.flush();
            }
            match self.out.write(&self.pending[written..]) {
                Ok(0) => break Err(ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.pending.drain(..written);
        let done = self.ends.iter().take_while(|&&end| end <= written).count();
        self.ends.drain(..done);
        for end in &mut self.ends {
            *end -= written;
        }
        self.unflushed = match (&result, flushing) {
            (Ok(()), _) => 0,
            (Err(_), true) => self.unflushed + done,
            (Err(_), false) => self.unflushed,
        };
        match (result, self.state) {
            (Ok(()), State::Failing) => {
                self.state = State::Open;
                Some(Change::Recovered)
            }
            (Ok(()), _) => None,
            (Err(e), _) if e.kind() == ErrorKind::BrokenPipe => {
                self.dropped = self.unwritten();
                self.state = State::Gone;
                self.pending = Vec::new();
                self.ends = Vec::new();
                self.unflushed = 0;
                Some(Change::Gone(self.dropped))
            }
            (Err(_), State::Failing) => None,
            (Err(e), _) => {
                self.state = State::Failing;
                Some(Change::Failing(e))
            }
        }
    }
}
