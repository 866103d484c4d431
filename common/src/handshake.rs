//! The three-token handshake (hello, welcome, ready) and the plain `ERR`
//! lines a server sends before it closes a connection it will not serve.
//!
//! Pure functions over lines; `client` and `server` do the I/O.

use std::fmt;

use crate::clock::Clock;
use crate::codec::HANDSHAKE_LINE_MAX;
use crate::config::Timing;
use crate::key::Key;
use crate::payload::{Hello, MAX_REASON_CHARS, PROTO, PROTO_MAX, Welcome, parse_id};
use crate::place;
use crate::token::{self, OpenError};

/// The code of an `ERR <code> <text>` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrCode {
    KeyMismatch,
    Version,
    TooLarge,
    Timeout,
    BadHello,
    /// Protocol 3 rooms: as many members as `--max-members` allows.
    RoomFull,
    /// The server window removed this member (or, for protocol 1 and 2
    /// clients, this name from this address).
    Removed,
    /// A hello claimed a member's place without a link of its chain.
    Place,
}

impl ErrCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrCode::KeyMismatch => "key-mismatch",
            ErrCode::Version => "version",
            ErrCode::TooLarge => "too-large",
            ErrCode::Timeout => "timeout",
            ErrCode::BadHello => "bad-hello",
            ErrCode::RoomFull => "room-full",
            ErrCode::Removed => "removed",
            ErrCode::Place => "place",
        }
    }

    fn parse(code: &str) -> Option<ErrCode> {
        [
            ErrCode::KeyMismatch,
            ErrCode::Version,
            ErrCode::TooLarge,
            ErrCode::Timeout,
            ErrCode::BadHello,
            ErrCode::RoomFull,
            ErrCode::Removed,
            ErrCode::Place,
        ]
        .into_iter()
        .find(|c| c.as_str() == code)
    }

    /// The human text the server puts after the code; limits are read from
    /// where they are set, so the text cannot drift from what is enforced.
    pub fn text(self, timing: &Timing) -> String {
        match self {
            ErrCode::KeyMismatch => "this server uses a different key".into(),
            ErrCode::Version => {
                format!("this server speaks fernet-chat protocols {PROTO} to {PROTO_MAX}")
            }
            ErrCode::TooLarge => format!("the line was longer than {HANDSHAKE_LINE_MAX} bytes"),
            ErrCode::Timeout => format!(
                "no valid hello within {} seconds",
                timing.hello.as_secs_f32()
            ),
            ErrCode::BadHello => "that was not a fernet-chat hello".into(),
            ErrCode::RoomFull => "this room is full".into(),
            ErrCode::Removed => "the server removed you from this room".into(),
            ErrCode::Place => "that member's place needs its own proof".into(),
        }
    }

    /// The whole `ERR` line, without its LF.
    pub fn line(self, timing: &Timing) -> String {
        format!("ERR {} {}", self.as_str(), self.text(timing))
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server's `ERR` line as the client reads it: unauthenticated, a hint only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrLine {
    /// `None` for a code this version does not know.
    pub code: Option<ErrCode>,
    pub text: String,
}

/// Parses `ERR <code> <text>`; `None` if the line is not an `ERR` line.
pub fn parse_err_line(line: &str) -> Option<ErrLine> {
    let rest = line.strip_prefix("ERR ")?;
    let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(ErrLine {
        code: ErrCode::parse(code),
        text: text
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_REASON_CHARS)
            .collect(),
    })
}

/// Nonces have the form of ids: 16 bytes, see [`crate::payload::parse_id`].
fn is_id(nonce: &str) -> bool {
    parse_id(nonce).is_some()
}

/// Seconds `peer` is ahead of `ours` (negative: behind).
fn offset(peer_secs: u64, ours_secs: u64) -> i64 {
    (peer_secs as i128 - ours_secs as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Client side, step 1, offering every version this code speaks.
pub fn seal_hello(key: &Key, clock: &Clock, nonce: &str, name: &str) -> String {
    seal_hello_up_to(key, clock, nonce, name, PROTO_MAX)
}

/// Client side, step 1, offering versions up to `max`. The hello says
/// `"proto":1` (every server answers that) and, above 1, `max_proto`.
pub fn seal_hello_up_to(key: &Key, clock: &Clock, nonce: &str, name: &str, max: u32) -> String {
    let hello = Hello {
        proto: PROTO,
        nonce: nonce.to_owned(),
        name: name.to_owned(),
        max_proto: (max > PROTO).then_some(max),
        member: None,
        proof: None,
    };
    token::seal(key, clock, &serde_json::to_vec(&hello).unwrap_or_default())
}

/// Server side: reads a client's first line. On success, the hello and the
/// client's clock offset in seconds; otherwise the code to answer with. The
/// version to speak is [`Hello::common_version`] (`ErrCode::Version` here
/// if there is none up to [`PROTO_MAX`]).
pub fn open_hello(key: &Key, clock: &Clock, line: &str) -> Result<(Hello, i64), ErrCode> {
    let (plaintext, ts) = token::open_any_time(key, line).map_err(|e| match e {
        OpenError::BadKey => ErrCode::KeyMismatch,
        _ => ErrCode::BadHello,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&plaintext).map_err(|_| ErrCode::BadHello)?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("hello") {
        return Err(ErrCode::BadHello);
    }
    let hello: Hello = serde_json::from_value(value).map_err(|_| ErrCode::BadHello)?;
    if hello.common_version(PROTO_MAX).is_none() {
        return Err(ErrCode::Version);
    }
    if !is_id(&hello.nonce) {
        return Err(ErrCode::BadHello);
    }
    // Protocol 3: a member id and a link of its chain, both or neither.
    match (&hello.member, &hello.proof) {
        (None, None) => {}
        (Some(member), Some(proof)) if is_id(member) && place::parse_proof(proof).is_some() => {}
        _ => return Err(ErrCode::BadHello),
    }
    Ok((hello, offset(ts, clock.now_secs())))
}

/// Server side, step 2: the session will speak `proto`.
pub fn seal_welcome(
    key: &Key,
    clock: &Clock,
    nonce: &str,
    echo: &str,
    name: &str,
    proto: u32,
) -> String {
    let welcome = Welcome {
        proto,
        nonce: nonce.to_owned(),
        echo: echo.to_owned(),
        name: name.to_owned(),
    };
    token::seal(
        key,
        clock,
        &serde_json::to_vec(&welcome).unwrap_or_default(),
    )
}

/// Why a welcome does not prove the server holds the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WelcomeError {
    /// Not a Fernet token at all: not a fernet-chat server.
    NotAToken,
    /// A token that does not decrypt under our key.
    Undecryptable,
    /// Decrypts, but does not echo our nonce (a replayed welcome).
    WrongEcho,
    /// Decrypts, but is not a welcome.
    NotAWelcome,
    /// A welcome for a protocol version we did not offer.
    Version(u64),
}

/// Client side: checks the server's answer to a hello that offered
/// versions up to `max`. On success, the welcome (its `proto` is the
/// session's version) and the server's clock offset in seconds.
pub fn open_welcome(
    key: &Key,
    clock: &Clock,
    line: &str,
    our_nonce: &str,
    max: u32,
) -> Result<(Welcome, i64), WelcomeError> {
    let (plaintext, ts) = token::open_any_time(key, line).map_err(|e| match e {
        OpenError::BadKey => WelcomeError::Undecryptable,
        _ => WelcomeError::NotAToken,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&plaintext).map_err(|_| WelcomeError::NotAWelcome)?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("welcome") {
        return Err(WelcomeError::NotAWelcome);
    }
    match value.get("proto").and_then(|p| p.as_u64()) {
        Some(p) if (u64::from(PROTO)..=u64::from(max)).contains(&p) => {}
        Some(p) => return Err(WelcomeError::Version(p)),
        None => return Err(WelcomeError::NotAWelcome),
    }
    let welcome: Welcome = serde_json::from_value(value).map_err(|_| WelcomeError::NotAWelcome)?;
    if welcome.echo != our_nonce {
        return Err(WelcomeError::WrongEcho);
    }
    if !is_id(&welcome.nonce) {
        return Err(WelcomeError::NotAWelcome);
    }
    Ok((welcome, offset(ts, clock.now_secs())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::random_id;

    #[test]
    fn hello_and_welcome_round_trip_with_offsets() {
        let key = Key::generate().unwrap();
        let client_clock = Clock::from_fn(|| 1_000_600_000);
        let server_clock = Clock::from_fn(|| 1_000_000_000);
        let (nc, ns) = (random_id(), random_id());
        let hello = seal_hello(&key, &client_clock, &nc, "alice");
        let (h, offset) = open_hello(&key, &server_clock, &hello).unwrap();
        assert_eq!((&h.nonce, h.name.as_str(), offset), (&nc, "alice", 600));
        assert_eq!(h.common_version(PROTO_MAX), Some(PROTO_MAX));
        let welcome = seal_welcome(&key, &server_clock, &ns, &nc, "bob", 2);
        let (w, offset) = open_welcome(&key, &client_clock, &welcome, &nc, 2).unwrap();
        assert_eq!((&w.nonce, w.name.as_str(), offset), (&ns, "bob", -600));
        assert_eq!(w.proto, 2);
        assert_eq!(
            open_welcome(&key, &client_clock, &welcome, &nc, 1),
            Err(WelcomeError::Version(2)),
            "a version we did not offer"
        );
        assert_eq!(
            open_welcome(&key, &client_clock, &welcome, &random_id(), 2),
            Err(WelcomeError::WrongEcho)
        );
        assert_eq!(
            open_welcome(&Key::generate().unwrap(), &client_clock, &welcome, &nc, 2),
            Err(WelcomeError::Undecryptable)
        );
        assert_eq!(
            open_welcome(&key, &client_clock, "HTTP/1.1 400 Bad Request", &nc, 2),
            Err(WelcomeError::NotAToken)
        );
    }

    #[test]
    fn a_hello_with_a_malformed_nonce_is_refused() {
        let key = Key::generate().unwrap();
        let clock = Clock::system();
        let hello = seal_hello(&key, &clock, "short", "x");
        assert_eq!(
            open_hello(&key, &clock, &hello).unwrap_err(),
            ErrCode::BadHello
        );
    }

    #[test]
    fn hello_errors_map_to_err_codes() {
        let key = Key::generate().unwrap();
        let clock = Clock::system();
        let other = Key::generate().unwrap();
        assert_eq!(
            open_hello(&key, &clock, &seal_hello(&other, &clock, &random_id(), "x")).unwrap_err(),
            ErrCode::KeyMismatch
        );
        assert_eq!(
            open_hello(&key, &clock, "GET / HTTP/1.1").unwrap_err(),
            ErrCode::BadHello
        );
        let v4 = token::seal(
            &key,
            &clock,
            br#"{"kind":"hello","proto":4,"nonce":"n","name":"x"}"#,
        );
        assert_eq!(open_hello(&key, &clock, &v4).unwrap_err(), ErrCode::Version);
        let not_json = token::seal(&key, &clock, b"hi");
        assert_eq!(
            open_hello(&key, &clock, &not_json).unwrap_err(),
            ErrCode::BadHello
        );
        let welcome = seal_welcome(&key, &clock, "a", "b", "c", 1);
        assert_eq!(
            open_hello(&key, &clock, &welcome).unwrap_err(),
            ErrCode::BadHello
        );
    }

    #[test]
    fn a_hello_names_a_member_with_a_link_of_its_chain_or_neither() {
        let key = Key::generate().unwrap();
        let clock = Clock::system();
        let (member, proof) = place::Identity::new().next_proof();
        let hello = |fields: &str| {
            let json = format!(
                r#"{{"kind":"hello","proto":1,"max_proto":3,"nonce":"{}","name":"x"{fields}}}"#,
                random_id()
            );
            open_hello(&key, &clock, &token::seal(&key, &clock, json.as_bytes()))
        };
        let (ok, _) = hello(&format!(r#","member":"{member}","proof":"{proof}""#)).unwrap();
        assert_eq!(
            (ok.member, ok.proof),
            (Some(member.clone()), Some(proof.clone()))
        );
        for fields in [
            format!(r#","member":"alice","proof":"{proof}""#),
            format!(r#","member":"{member}","proof":"{member}""#),
            format!(r#","member":"{member}""#),
            format!(r#","proof":"{proof}""#),
        ] {
            assert_eq!(hello(&fields).unwrap_err(), ErrCode::BadHello, "{fields}");
        }
    }

    #[test]
    fn err_lines_round_trip() {
        let line = ErrCode::KeyMismatch.line(&Timing::default());
        assert_eq!(line, "ERR key-mismatch this server uses a different key");
        let parsed = parse_err_line(&line).unwrap();
        assert_eq!(parsed.code, Some(ErrCode::KeyMismatch));
        assert_eq!(parsed.text, "this server uses a different key");
        assert_eq!(parse_err_line("ERR shiny\x1b[2J").unwrap().code, None);
        assert_eq!(parse_err_line("gAAAAA"), None);
    }

    #[test]
    fn a_protocol_1_hello_gets_protocol_1_and_a_capped_one_offers_no_more() {
        let key = Key::generate().unwrap();
        let clock = Clock::system();
        let v1 = token::seal(
            &key,
            &clock,
            format!(
                r#"{{"kind":"hello","proto":1,"nonce":"{}","name":"x"}}"#,
                random_id()
            )
            .as_bytes(),
        );
        let (hello, _) = open_hello(&key, &clock, &v1).unwrap();
        assert_eq!(hello.common_version(PROTO_MAX), Some(1));
        let capped = seal_hello_up_to(&key, &clock, &random_id(), "x", 1);
        let (plaintext, _) = token::open_any_time(&key, &capped).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
        assert_eq!(json.get("max_proto"), None, "{json}");
        assert_eq!(json["proto"], 1);
    }
}
