//! The two datagrams of discovery. A probe and an answer are each one
//! Fernet token under the chat key (its ASCII text, no line end), whose
//! plaintext is a JSON object, as on the TCP side: someone without the key
//! sees random bytes of a fixed size.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::limits::{ADDRS_MAX, DATAGRAM_MAX, PROBE_PLAINTEXT};
use crate::clock::Clock;
use crate::key::Key;
use crate::payload::parse_id;
use crate::token::{self, MAX_SKEW_SECS, TTL_SECS};

/// The version of discovery's datagrams, carried in their `proto` field
/// (its own: the TCP protocol's versions are negotiated in the handshake).
pub const VERSION: u32 = 1;

/// What a datagram's plaintext is; its `kind` field says which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Datagram {
    Probe(Probe),
    Here(Answer),
}

/// "Is a server with this key here?"
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Probe {
    proto: u32,
    nonce: String,
    /// Filler that makes the probe as long as the largest answer.
    #[serde(default)]
    pad: String,
}

/// "Here I am": the server's answer to one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub proto: u32,
    /// The probe's nonce.
    pub echo: String,
    pub name: String,
    /// The TCP port to connect to.
    pub port: u16,
    /// The server's addresses, best first (the answer's source comes
    /// before them all).
    pub addrs: Vec<String>,
}

/// A probe that decrypted and is current: what the server needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    pub nonce: String,
    /// The nonce's 16 bytes, for the replay memory.
    pub id: u128,
    /// The token's timestamp (the prober's clock).
    pub ts: u64,
}

/// Why a datagram is not a probe to answer, in the order it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeError {
    /// Too long, not a token, not under our key, not a probe object, or a
    /// nonce not of the protocol's form: nothing to say to it.
    NotAProbe,
    /// A probe of another protocol version.
    Version(u32),
    /// Its timestamp is outside the TTL (or the skew ahead) of our clock by
    /// this many seconds: an old recording, or a clock that is wrong.
    Stale { off_secs: u64 },
}

/// Why a datagram is not an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerError {
    NotAnAnswer,
    Version(u32),
}

/// The length of the Fernet token (URL-safe base64 with padding) of a
/// plaintext of `len` bytes: version, timestamp, IV, the PKCS7-padded
/// ciphertext and the HMAC.
pub(crate) fn token_len(len: usize) -> usize {
    let bytes = 1 + 8 + 16 + (len / 16 + 1) * 16 + 32;
    bytes.div_ceil(3) * 4
}

/// A probe with `nonce`, its plaintext padded to [`PROBE_PLAINTEXT`] bytes.
pub(crate) fn seal_probe(key: &Key, clock: &Clock, nonce: &str) -> String {
    let json = |pad: String| {
        let probe = Probe {
            proto: VERSION,
            nonce: nonce.to_owned(),
            pad,
        };
        serde_json::to_vec(&Datagram::Probe(probe)).unwrap_or_default()
    };
    let bare = json(String::new()).len();
    let plaintext = json("0".repeat(PROBE_PLAINTEXT.saturating_sub(bare)));
    token::seal(key, clock, &plaintext)
}

/// Reads a datagram as a probe under `key`, checked against our clock at
/// `now_secs`: size, token and key, JSON, version, nonce, age.
pub(crate) fn open_probe(key: &Key, now_secs: u64, datagram: &[u8]) -> Result<Opened, ProbeError> {
    let text = std::str::from_utf8(datagram)
        .ok()
        .filter(|_| datagram.len() <= DATAGRAM_MAX)
        .ok_or(ProbeError::NotAProbe)?;
    // The age is checked after the key: a stale probe is then known to come
    // from a key holder (or a recording), which is worth telling the user.
    let (plaintext, ts) = token::open_any_time(key, text).map_err(|_| ProbeError::NotAProbe)?;
    let Ok(Datagram::Probe(probe)) = serde_json::from_slice(&plaintext) else {
        return Err(ProbeError::NotAProbe);
    };
    if probe.proto != VERSION {
        return Err(ProbeError::Version(probe.proto));
    }
    let id = parse_id(&probe.nonce).ok_or(ProbeError::NotAProbe)?;
    if ts > now_secs.saturating_add(MAX_SKEW_SECS) || ts.saturating_add(TTL_SECS) < now_secs {
        return Err(ProbeError::Stale {
            off_secs: ts.abs_diff(now_secs),
        });
    }
    Ok(Opened {
        nonce: probe.nonce,
        id,
        ts,
    })
}

/// The plaintext of the answer to the probe `echo`, whose token is no
/// longer than `limit` bytes (the probe's length): addresses are left off
/// from the last until it fits; `None` if it does not fit even without any.
pub(crate) fn answer_plaintext(
    echo: &str,
    name: &str,
    port: u16,
    addrs: &[IpAddr],
    limit: usize,
) -> Option<Vec<u8>> {
    let mut answer = Answer {
        proto: VERSION,
        echo: echo.to_owned(),
        name: name.to_owned(),
        port,
        addrs: addrs
            .iter()
            .take(ADDRS_MAX)
            .map(ToString::to_string)
            .collect(),
    };
    loop {
        let plaintext = serde_json::to_vec(&Datagram::Here(answer.clone())).ok()?;
        if token_len(plaintext.len()) <= limit {
            return Some(plaintext);
        }
        answer.addrs.pop()?;
    }
}

/// Reads a datagram as an answer under `key`. Its freshness comes from the
/// echoed nonce, which the caller checks; so, as for the TCP welcome, the
/// token's age is not.
pub(crate) fn open_answer(key: &Key, datagram: &[u8]) -> Result<Answer, AnswerError> {
    let text = std::str::from_utf8(datagram)
        .ok()
        .filter(|_| datagram.len() <= DATAGRAM_MAX)
        .ok_or(AnswerError::NotAnAnswer)?;
    let (plaintext, _) = token::open_any_time(key, text).map_err(|_| AnswerError::NotAnAnswer)?;
    let Ok(Datagram::Here(answer)) = serde_json::from_slice(&plaintext) else {
        return Err(AnswerError::NotAnAnswer);
    };
    if answer.proto != VERSION {
        return Err(AnswerError::Version(answer.proto));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::limits::ANSWER_PLAINTEXT_MAX;
    use crate::payload::{MAX_NAME_CHARS, random_id};

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> Clock {
        Clock::from_fn(move || secs * 1000)
    }

    fn seal_answer(
        key: &Key,
        echo: &str,
        name: &str,
        port: u16,
        addrs: &[IpAddr],
        limit: usize,
    ) -> Option<String> {
        let plaintext = answer_plaintext(echo, name, port, addrs, limit)?;
        Some(token::seal(key, &at(NOW), &plaintext))
    }

    fn worst_addrs() -> Vec<IpAddr> {
        let v6: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        vec![v6; ADDRS_MAX]
    }

    #[test]
    fn token_len_is_what_fernet_makes() {
        let key = Key::generate().unwrap();
        for len in [0, 1, 15, 16, 17, 100, 563, 576] {
            let token = token::seal(&key, &at(NOW), &vec![b'x'; len]);
            assert_eq!(token.len(), token_len(len), "{len}");
        }
    }

    #[test]
    fn a_probe_is_padded_and_the_largest_answer_fits_in_it() {
        let key = Key::generate().unwrap();
        let probe = seal_probe(&key, &at(NOW), &random_id());
        assert_eq!(probe.len(), token_len(PROBE_PLAINTEXT));
        assert!(probe.len() <= DATAGRAM_MAX);
        let name = "𝕏".repeat(MAX_NAME_CHARS);
        let answer = Answer {
            proto: VERSION,
            echo: random_id(),
            name: name.clone(),
            port: 65535,
            addrs: worst_addrs().iter().map(ToString::to_string).collect(),
        };
        let largest = serde_json::to_vec(&Datagram::Here(answer)).unwrap().len();
        assert_eq!(largest, ANSWER_PLAINTEXT_MAX);
        let sealed = seal_answer(
            &key,
            &random_id(),
            &name,
            65535,
            &worst_addrs(),
            probe.len(),
        );
        let opened = open_answer(&key, sealed.unwrap().as_bytes()).unwrap();
        assert_eq!(opened.addrs.len(), ADDRS_MAX, "nothing left off");
    }

    #[test]
    fn an_answer_to_a_short_probe_leaves_addresses_off_or_is_not_sent() {
        let key = Key::generate().unwrap();
        let limit = token_len(120);
        let answer = seal_answer(&key, &random_id(), "bob", 7878, &worst_addrs(), limit).unwrap();
        assert!(answer.len() <= limit);
        let opened = open_answer(&key, answer.as_bytes()).unwrap();
        assert!(opened.addrs.len() < ADDRS_MAX);
        assert_eq!(
            seal_answer(&key, &random_id(), "bob", 7878, &[], token_len(20)),
            None
        );
    }

    #[test]
    fn probes_are_checked_in_order() {
        let key = Key::generate().unwrap();
        let nonce = random_id();
        let probe = seal_probe(&key, &at(NOW), &nonce);
        let opened = open_probe(&key, NOW, probe.as_bytes()).unwrap();
        assert_eq!((opened.nonce.as_str(), opened.ts), (nonce.as_str(), NOW));

        // Another key, garbage, oversized.
        let other = Key::generate().unwrap();
        assert_eq!(
            open_probe(&other, NOW, probe.as_bytes()),
            Err(ProbeError::NotAProbe)
        );
        assert_eq!(
            open_probe(&key, NOW, b"\xff\xfe hello"),
            Err(ProbeError::NotAProbe)
        );
        let mut long = probe.clone().into_bytes();
        long.resize(DATAGRAM_MAX + 1, b'A');
        assert_eq!(open_probe(&key, NOW, &long), Err(ProbeError::NotAProbe));

        // The right key but not a probe: a TCP hello, an answer.
        let hello = crate::handshake::seal_hello(&key, &at(NOW), &nonce, "x");
        assert_eq!(
            open_probe(&key, NOW, hello.as_bytes()),
            Err(ProbeError::NotAProbe)
        );
        let bad_nonce = token::seal(
            &key,
            &at(NOW),
            br#"{"kind":"probe","proto":1,"nonce":"short"}"#,
        );
        assert_eq!(
            open_probe(&key, NOW, bad_nonce.as_bytes()),
            Err(ProbeError::NotAProbe)
        );

        // Another version, even with a nonce that is not one.
        let v2 = token::seal(&key, &at(NOW), br#"{"kind":"probe","proto":2,"nonce":"?"}"#);
        assert_eq!(
            open_probe(&key, NOW, v2.as_bytes()),
            Err(ProbeError::Version(2))
        );

        // The session's time rules: TTL behind, skew ahead.
        assert!(open_probe(&key, NOW + TTL_SECS, probe.as_bytes()).is_ok());
        assert_eq!(
            open_probe(&key, NOW + TTL_SECS + 1, probe.as_bytes()),
            Err(ProbeError::Stale {
                off_secs: TTL_SECS + 1
            })
        );
        assert!(open_probe(&key, NOW - MAX_SKEW_SECS, probe.as_bytes()).is_ok());
        assert_eq!(
            open_probe(&key, NOW - MAX_SKEW_SECS - 1, probe.as_bytes()),
            Err(ProbeError::Stale {
                off_secs: MAX_SKEW_SECS + 1
            })
        );
    }

    #[test]
    fn answers_of_another_version_or_shape_are_refused() {
        let key = Key::generate().unwrap();
        let v2 = token::seal(
            &key,
            &at(NOW),
            br#"{"kind":"here","proto":2,"echo":"x","name":"n","port":1,"addrs":[]}"#,
        );
        assert_eq!(
            open_answer(&key, v2.as_bytes()),
            Err(AnswerError::Version(2))
        );
        let probe = seal_probe(&key, &at(NOW), &random_id());
        assert_eq!(
            open_answer(&key, probe.as_bytes()),
            Err(AnswerError::NotAnAnswer)
        );
    }
}
