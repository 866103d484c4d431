//! An established session: seals outgoing frames and checks incoming ones.
//!
//! Pure bookkeeping, no I/O, so every check (tamper, replay, reflection,
//! reorder, another session, age) can be tested and fuzzed directly.

use crate::clock::Clock;
use crate::key::Key;
use serde::Serialize;

use crate::payload::{Body, Dir, FrameIn, FrameOut, MAX_REASON_CHARS, PROTO};
use crate::token::{self, OpenError};

/// Why a session was closed for security: each is something an attacker on
/// the network, or a broken peer, can cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Alert {
    #[error("a frame failed its integrity check: it was tampered with or forged")]
    Tampered,
    #[error("a frame was {age_secs} s old, older than the {ttl} s limit: delayed or replayed", ttl = token::TTL_SECS)]
    Expired { age_secs: u64 },
    #[error("a frame was dated {ahead_secs} s in the future")]
    FromTheFuture { ahead_secs: u64 },
    #[error("a frame from another session was replayed")]
    OtherSession,
    #[error("one of our own frames was reflected back at us")]
    Reflected,
    #[error("frame {got} was replayed (expected frame {expected})")]
    Replayed { expected: u64, got: u64 },
    #[error("frames were reordered or dropped (expected frame {expected}, got {got})")]
    Reordered { expected: u64, got: u64 },
    #[error("a frame decrypted but is not valid: {0}")]
    Malformed(String),
}

impl Alert {
    /// A frame that decrypted but is not valid, and `why`: cut to
    /// [`MAX_REASON_CHARS`] characters, since it may quote the frame (a
    /// parse error quotes the field), which its sender chose the size of.
    pub fn malformed(why: impl std::fmt::Display) -> Alert {
        let why = why.to_string();
        match why.char_indices().nth(MAX_REASON_CHARS) {
            Some((cut, _)) => Alert::Malformed(format!("{}…", &why[..cut])),
            None => Alert::Malformed(why),
        }
    }
}

/// Which end of the connection this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    fn sends(self) -> Dir {
        match self {
            Role::Client => Dir::C2s,
            Role::Server => Dir::S2c,
        }
    }

    fn receives(self) -> Dir {
        match self {
            Role::Client => Dir::S2c,
            Role::Server => Dir::C2s,
        }
    }
}

/// One session's state, from the welcome to the close.
#[derive(Debug)]
pub struct Session {
    key: Key,
    clock: Clock,
    sid: String,
    role: Role,
    send_seq: u64,
    recv_seq: u64,
    offset_secs: i64,
    version: u32,
}

impl Session {
    /// `sid` is `<client nonce>.<server nonce>`; `offset_secs` is how far the
    /// peer's clock is ahead of ours, estimated from its handshake token.
    pub fn new(key: Key, clock: Clock, sid: String, role: Role, offset_secs: i64) -> Session {
        Session {
            key,
            clock,
            sid,
            role,
            send_seq: 0,
            recv_seq: 0,
            offset_secs,
            version: PROTO,
        }
    }

    /// The session speaks protocol `version` (agreed in the handshake;
    /// protocol 1 until this is called).
    pub fn speaking(mut self, version: u32) -> Session {
        self.version = version;
        self
    }

    /// The protocol version of this session.
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The peer's clock minus ours, in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs
    }

    /// Encrypts the next outgoing frame.
    pub fn seal(&mut self, body: &Body) -> String {
        let text = match body {
            Body::Msg { text, .. } => text.len(),
            _ => 0,
        };
        self.seal_any(body, text)
    }

    /// Encrypts the next outgoing frame, whose JSON is about `size` bytes
    /// beyond the frame's own fields (to size the buffer once: growing it
    /// showed up in the profile).
    pub(crate) fn seal_any<B: Serialize>(&mut self, body: &B, size: usize) -> String {
        let frame = FrameOut {
            sid: &self.sid,
            dir: self.role.sends(),
            seq: self.send_seq,
            body,
        };
        let mut json = Vec::with_capacity(160 + size + size / 8);
        // A struct of strings, numbers and bools always serializes.
        let _ = serde_json::to_writer(&mut json, &frame);
        self.send_seq += 1;
        token::seal(&self.key, &self.clock, &json)
    }

    /// Decrypts and checks the next incoming frame. `Ok(None)` is a frame of
    /// a kind this version does not know: valid, counted, otherwise ignored.
    /// Any `Err` means the session must be closed.
    pub fn open(&mut self, line: &str) -> Result<Option<Body>, Alert> {
        let now = self
            .clock
            .now_secs()
            .saturating_add_signed(self.offset_secs);
        let plaintext = token::open_at(&self.key, line, now).map_err(|e| match e {
            OpenError::NotAToken | OpenError::BadKey => Alert::Tampered,
            OpenError::Expired { age_secs } => Alert::Expired { age_secs },
            OpenError::FromTheFuture { ahead_secs } => Alert::FromTheFuture { ahead_secs },
        })?;
        let frame: FrameIn = serde_json::from_slice(&plaintext)
            .map_err(|e| Alert::malformed(format_args!("not a session frame ({e})")))?;
        if frame.sid != self.sid {
            return Err(Alert::OtherSession);
        }
        if frame.dir != self.role.receives() {
            return Err(Alert::Reflected);
        }
        let expected = self.recv_seq;
        if frame.seq < expected {
            return Err(Alert::Replayed {
                expected,
                got: frame.seq,
            });
        }
        if frame.seq > expected {
            return Err(Alert::Reordered {
                expected,
                got: frame.seq,
            });
        }
        self.recv_seq += 1;
        let body = frame.into_body(self.version).map_err(Alert::malformed)?;
        match (&body, expected) {
            (Some(Body::Ready), 0) if self.role == Role::Server => Ok(body),
            (Some(Body::Ready), _) => Err(Alert::malformed("an unexpected `ready`")),
            (_, 0) if self.role == Role::Server => {
                Err(Alert::malformed("the first frame is not `ready`"))
            }
            _ => Ok(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &Key) -> (Session, Session) {
        let sid = "nc.ns".to_string();
        (
            Session::new(key.clone(), Clock::system(), sid.clone(), Role::Client, 0),
            Session::new(key.clone(), Clock::system(), sid, Role::Server, 0),
        )
    }

    fn msg(text: &str) -> Body {
        Body::Msg {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            text: text.into(),
            sent_at: 1,
            from: None,
            name: None,
        }
    }

    #[test]
    fn frames_flow_in_order_both_ways() {
        let key = Key::generate().unwrap();
        let (mut client, mut server) = pair(&key);
        assert_eq!(
            server.open(&client.seal(&Body::Ready)),
            Ok(Some(Body::Ready))
        );
        assert_eq!(server.open(&client.seal(&msg("a"))), Ok(Some(msg("a"))));
        assert_eq!(client.open(&server.seal(&msg("b"))), Ok(Some(msg("b"))));
        assert_eq!(client.open(&server.seal(&Body::Ping)), Ok(Some(Body::Ping)));
    }

    #[test]
    fn replay_reorder_reflection_and_tampering_are_caught() {
        let key = Key::generate().unwrap();
        let (mut client, mut server) = pair(&key);
        let ready = client.seal(&Body::Ready);
        server.open(&ready).unwrap();
        assert_eq!(
            server.open(&ready),
            Err(Alert::Replayed {
                expected: 1,
                got: 0
            })
        );

        let (mut client, mut server) = pair(&key);
        server.open(&client.seal(&Body::Ready)).unwrap();
        let one = client.seal(&msg("1"));
        let two = client.seal(&msg("2"));
        assert_eq!(
            server.open(&two),
            Err(Alert::Reordered {
                expected: 1,
                got: 2
            })
        );
        let _ = one;

        let (mut client, _) = pair(&key);
        let own = client.seal(&Body::Ready);
        assert_eq!(client.open(&own), Err(Alert::Reflected));

        let (mut client, mut server) = pair(&key);
        let mut token = client.seal(&Body::Ready).into_bytes();
        let last = token.len() - 5;
        token[last] = if token[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            server.open(&String::from_utf8(token).unwrap()),
            Err(Alert::Tampered)
        );
    }

    #[test]
    fn a_frame_from_another_session_is_caught() {
        let key = Key::generate().unwrap();
        let mut other = Session::new(key.clone(), Clock::system(), "x.y".into(), Role::Client, 0);
        let (_, mut server) = pair(&key);
        assert_eq!(
            server.open(&other.seal(&Body::Ready)),
            Err(Alert::OtherSession)
        );
    }

    #[test]
    fn what_an_alert_quotes_of_a_frame_is_cut() {
        let key = Key::generate().unwrap();
        let (client, mut server) = pair(&key);
        // A session frame whose `sent_at` is a 100 KB string: the parse
        // error quotes it.
        let json = format!(
            r#"{{"sid":"{}","dir":"c2s","seq":0,"kind":"msg","id":"AAAAAAAAAAAAAAAAAAAAAA","text":"x","sent_at":"{}"}}"#,
            client.sid,
            "9".repeat(100_000)
        );
        let line = token::seal(&key, &Clock::system(), json.as_bytes());
        let Err(Alert::Malformed(why)) = server.open(&line) else {
            panic!("not malformed");
        };
        assert!(why.chars().count() <= MAX_REASON_CHARS + 1, "{why}");
        assert!(why.starts_with("not a session frame"), "{why}");
    }

    #[test]
    fn the_server_insists_on_ready_first() {
        let key = Key::generate().unwrap();
        let (mut client, mut server) = pair(&key);
        assert!(matches!(
            server.open(&client.seal(&msg("early"))),
            Err(Alert::Malformed(_))
        ));
    }

    #[test]
    fn peer_clock_offset_is_applied_and_ttl_enforced() {
        let key = Key::generate().unwrap();
        let now = 2_000_000_000_000u64;
        // The client's clock is 10 minutes ahead; the server knows the offset.
        let mut client = Session::new(
            key.clone(),
            Clock::from_fn(move || now + 600_000),
            "s".into(),
            Role::Client,
            -600,
        );
        let mut server = Session::new(
            key.clone(),
            Clock::from_fn(move || now),
            "s".into(),
            Role::Server,
            600,
        );
        assert_eq!(
            server.open(&client.seal(&Body::Ready)),
            Ok(Some(Body::Ready))
        );
        assert_eq!(client.open(&server.seal(&Body::Pong)), Ok(Some(Body::Pong)));

        // A token made more than the TTL ago is refused.
        let mut stale = Session::new(
            key.clone(),
            Clock::from_fn(move || now + 600_000 - 301_000),
            "s".into(),
            Role::Client,
            0,
        );
        stale.send_seq = 1;
        assert_eq!(
            server.open(&stale.seal(&Body::Ping)),
            Err(Alert::Expired { age_secs: 301 })
        );
    }

    #[test]
    fn unknown_kinds_count_but_are_ignored() {
        let key = Key::generate().unwrap();
        let (mut client, mut server) = pair(&key);
        server.open(&client.seal(&Body::Ready)).unwrap();
        let raw = br#"{"sid":"nc.ns","dir":"c2s","seq":1,"kind":"react","emoji":"+1"}"#;
        let token = token::seal(&key, &Clock::system(), raw);
        assert_eq!(server.open(&token), Ok(None));
        client.send_seq = 2;
        assert_eq!(
            server.open(&client.seal(&msg("after"))),
            Ok(Some(msg("after")))
        );
    }
}
