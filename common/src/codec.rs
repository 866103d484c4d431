//! Line framing: the wire is a sequence of LF-terminated lines.
//!
//! The decoder enforces a maximum line length because a peer, or anyone who
//! can open a TCP connection, could otherwise make us buffer an endless line
//! and exhaust memory. The limit is small (8 KiB) until the handshake proves
//! the peer holds the key, then large enough for the biggest message.

use bytes::{Buf, BufMut, BytesMut};

use crate::payload::MAX_TEXT_BYTES;
use tokio_util::codec::{Decoder, Encoder};

/// Line limit before the handshake is complete (bytes, LF excluded).
pub const HANDSHAKE_LINE_MAX: usize = 8 * 1024;
/// Line limit once the session is established (bytes, LF excluded): the
/// token of the largest message. Its JSON may escape every byte of the text
/// as `\u00XX` (6 bytes for 1); the frame's other fields need far less than
/// `FRAME_FIELDS_MAX`. A smaller limit would let one legitimate message
/// be refused on every reconnect, for ever.
pub const SESSION_LINE_MAX: usize = token_len(MAX_TEXT_BYTES * 6 + FRAME_FIELDS_MAX);

/// Room for a frame's JSON besides the message text.
const FRAME_FIELDS_MAX: usize = 512;

/// The length of a Fernet token for `plaintext` bytes: version, timestamp,
/// IV, the PKCS7-padded ciphertext and the HMAC, in padded base64.
const fn token_len(plaintext: usize) -> usize {
    let raw = 1 + 8 + 16 + (plaintext / 16 + 1) * 16 + 32;
    raw.div_ceil(3) * 4
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("a line longer than {max} bytes")]
    TooLong { max: usize },
    #[error("a line that is not text")]
    NotText,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into lines of at most `max` bytes, dropping a CR
/// before the LF. Never holds more than `max + 1` bytes of an incomplete line:
/// as soon as that many arrive with no LF the line is refused.
#[derive(Debug, Clone)]
pub struct LineCodec {
    max: usize,
    /// How far the buffer has already been searched for an LF.
    scanned: usize,
}

impl LineCodec {
    pub fn new(max: usize) -> LineCodec {
        LineCodec { max, scanned: 0 }
    }

    /// Raises (or lowers) the limit, e.g. once the handshake is complete.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }
}

impl Decoder for LineCodec {
    type Item = String;
    type Error = LineError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LineError> {
        // A line of `max` bytes may also carry a CR before its LF.
        let window = buf.len().min(self.max + 2);
        // memchr: a byte-at-a-time search was a tenth of a receiver's time.
        match memchr::memchr(b'\n', &buf[self.scanned..window]) {
            Some(at) => {
                let end = self.scanned + at;
                self.scanned = 0;
                let mut line = buf.split_to(end + 1);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if line.len() > self.max {
                    return Err(LineError::TooLong { max: self.max });
                }
                String::from_utf8(line.to_vec())
                    .map(Some)
                    .map_err(|_| LineError::NotText)
            }
            None if buf.len() > self.max + 1 => Err(LineError::TooLong { max: self.max }),
            None => {
                self.scanned = window;
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LineError> {
        match self.decode(buf)? {
            Some(line) => Ok(Some(line)),
            None => {
                // An unterminated tail at EOF is a connection closed mid-line:
                // it is dropped, never delivered as a line.
                buf.advance(buf.len());
                self.scanned = 0;
                Ok(None)
            }
        }
    }
}

impl Encoder<String> for LineCodec {
    type Error = LineError;

    fn encode(&mut self, line: String, buf: &mut BytesMut) -> Result<(), LineError> {
        buf.reserve(line.len() + 1);
        buf.put_slice(line.as_bytes());
        buf.put_u8(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Result<String, String>> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(line)) => out.push(Ok(line)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn splits_lines_and_drops_cr() {
        let mut codec = LineCodec::new(16);
        assert_eq!(
            decode_all(&mut codec, b"one\ntwo\r\n\nthree"),
            vec![Ok("one".into()), Ok("two".into()), Ok(String::new())]
        );
    }

    #[test]
    fn a_line_arriving_in_pieces_is_joined() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::new();
        for piece in [&b"ab"[..], b"cd", b"e\nf"] {
            buf.extend_from_slice(piece);
            if let Some(line) = codec.decode(&mut buf).unwrap() {
                assert_eq!(line, "abcde");
                assert_eq!(&buf[..], b"f");
                return;
            }
        }
        panic!("no line decoded");
    }

    #[test]
    fn exactly_max_is_allowed_one_more_is_refused() {
        let mut codec = LineCodec::new(4);
        assert_eq!(decode_all(&mut codec, b"abcd\n"), vec![Ok("abcd".into())]);
        assert_eq!(decode_all(&mut codec, b"abcd\r\n"), vec![Ok("abcd".into())]);
        assert!(decode_all(&mut codec, b"abcde\n")[0].is_err());
        assert!(decode_all(&mut codec, b"abcde\r\n")[0].is_err());
    }

    #[test]
    fn refuses_an_endless_line_without_buffering_it() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"123456789");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"0");
        assert!(matches!(
            codec.decode(&mut buf),
            Err(LineError::TooLong { max: 8 })
        ));
    }

    #[test]
    fn refuses_bytes_that_are_not_utf8() {
        let mut codec = LineCodec::new(8);
        assert_eq!(
            decode_all(&mut codec, b"\xff\xfe\n"),
            vec![Err("a line that is not text".into())]
        );
    }

    #[test]
    fn an_unterminated_tail_at_eof_is_dropped() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"ok\nhalf"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap().as_deref(), Some("ok"));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn raising_the_limit_lets_longer_lines_through() {
        let mut codec = LineCodec::new(4);
        codec.set_max(8);
        assert_eq!(
            decode_all(&mut codec, b"abcdefgh\n"),
            vec![Ok("abcdefgh".into())]
        );
    }

    #[test]
    fn the_largest_message_fits_the_session_line_limit_however_it_escapes() {
        use crate::session::{Role, Session};
        let key = crate::Key::generate().unwrap();
        let clock = crate::Clock::system();
        let sid = format!(
            "{}.{}",
            crate::payload::random_id(),
            crate::payload::random_id()
        );
        let mut session = Session::new(key, clock, sid, Role::Client, 0);
        // Control characters are what JSON escapes longest.
        let body = crate::payload::Body::Msg {
            id: crate::payload::random_id(),
            text: "\u{1}".repeat(MAX_TEXT_BYTES),
            sent_at: u64::MAX,
            from: None,
            name: None,
        };
        let token = session.seal(&body);
        assert!(
            token.len() <= SESSION_LINE_MAX,
            "{} > {SESSION_LINE_MAX}",
            token.len()
        );
        assert!(
            SESSION_LINE_MAX - token.len() < 4096,
            "the limit is not much larger than needed"
        );
    }

    #[test]
    fn encodes_with_a_trailing_lf() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::new();
        codec.encode("hi".to_string(), &mut buf).unwrap();
        assert_eq!(&buf[..], b"hi\n");
    }
}
