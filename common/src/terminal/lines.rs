//! Typed input split into lines, never holding more than one message's
//! worth of a line that does not end.

use std::mem;

use crate::payload::MAX_TEXT_BYTES;

/// How much of stdin is asked for at once.
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// Splits what is read from stdin into lines, never holding more than one
/// message's worth of a line that does not end.
#[derive(Default)]
pub(super) struct Lines {
    pub(super) buf: Vec<u8>,
    /// The start of `buf` already handed out; dropped before the next read.
    consumed: usize,
    /// How much of `buf` is known to hold no LF.
    scanned: usize,
    /// Dropping the rest of a line that was too long.
    skipping: bool,
}

/// One line of input.
pub(super) enum Line<'a> {
    Text(&'a [u8]),
    /// Longer than any message can be; the rest of it is dropped as it
    /// comes.
    TooLong,
}

/// The longest line that can be a message: its text and a CR.
pub(super) const LINE_MAX: usize = MAX_TEXT_BYTES + 1;

impl Lines {
    /// The buffer to read into, with room for a chunk.
    pub(super) fn buffer(&mut self) -> &mut Vec<u8> {
        self.buf.drain(..self.consumed);
        self.scanned -= self.consumed;
        self.consumed = 0;
        self.buf.reserve(READ_CHUNK);
        &mut self.buf
    }

    /// The next complete line read (at `eof`, the unterminated last one
    /// too).
    pub(super) fn next_line(&mut self, eof: bool) -> Option<Line<'_>> {
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
