//! The JSON objects inside Fernet tokens (see PROTOCOL.md, "Payload").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Protocol version spoken by this code.
pub const PROTO: u32 = 1;
/// Largest chat message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Longest peer name, in characters, after control characters are removed.
pub const MAX_NAME_CHARS: usize = 32;

/// 16 random bytes as URL-safe base64 without padding (22 characters): the
/// form of nonces and message ids.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A display name as the protocol allows it: control characters removed,
/// surrounding white space trimmed, at most 32 characters, never empty.
pub fn clean_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    match name.trim_end() {
        "" => "anonymous".to_owned(),
        name => name.to_owned(),
    }
}

/// The first token, client to server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "hello")]
pub struct Hello {
    pub proto: u32,
    pub nonce: String,
    pub name: String,
}

/// The server's answer to a hello it could decrypt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "welcome")]
pub struct Welcome {
    pub proto: u32,
    pub nonce: String,
    pub echo: String,
    pub name: String,
}

/// Which way a session frame travels; a frame reflected back at its sender
/// carries the wrong one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    C2s,
    S2c,
}

/// What a session frame says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Body {
    /// Client to server, seq 0 only: the handshake is complete.
    Ready,
    /// A chat message.
    Msg {
        id: String,
        text: String,
        sent_at: u64,
    },
    /// The peer received and decrypted the message `of`.
    Ack {
        of: String,
    },
    /// The peer started or stopped typing.
    Typing {
        active: bool,
    },
    Ping,
    Pong,
    /// Orderly close.
    Bye {
        reason: String,
    },
}

/// A session frame as it is sent.
#[derive(Serialize)]
pub(crate) struct FrameOut<'a> {
    pub sid: &'a str,
    pub dir: Dir,
    pub seq: u64,
    #[serde(flatten)]
    pub body: &'a Body,
}

/// A session frame as it is received: every field any kind may carry, so
/// that unknown kinds can be accepted and counted without failing to parse.
#[derive(Deserialize)]
pub(crate) struct FrameIn {
    pub sid: String,
    pub dir: Dir,
    pub seq: u64,
    pub kind: String,
    id: Option<String>,
    text: Option<String>,
    sent_at: Option<u64>,
    of: Option<String>,
    active: Option<bool>,
    reason: Option<String>,
}

impl FrameIn {
    /// The typed body (`None` for a kind this version does not know), or the
    /// name of the field a known kind is missing.
    pub fn into_body(self) -> Result<Option<Body>, &'static str> {
        Ok(Some(match self.kind.as_str() {
            "ready" => Body::Ready,
            "msg" => Body::Msg {
                id: self.id.ok_or("id")?,
                text: self.text.ok_or("text")?,
                sent_at: self.sent_at.ok_or("sent_at")?,
            },
            "ack" => Body::Ack {
                of: self.of.ok_or("of")?,
            },
            "typing" => Body::Typing {
                active: self.active.ok_or("active")?,
            },
            "ping" => Body::Ping,
            "pong" => Body::Pong,
            "bye" => Body::Bye {
                reason: self.reason.unwrap_or_default(),
            },
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_url_safe_characters_and_distinct() {
        let a = random_id();
        assert_eq!(a.len(), 22);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, random_id());
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("  alice \n"), "alice");
        assert_eq!(clean_name("a\u{7}b\u{1b}[31m"), "ab[31m");
        assert_eq!(clean_name(""), "anonymous");
        assert_eq!(clean_name("\t\r\n"), "anonymous");
        assert_eq!(clean_name(&"é".repeat(40)).chars().count(), 32);
        assert_eq!(clean_name("😀 bob"), "😀 bob");
    }

    #[test]
    fn hello_has_the_documented_shape() {
        let hello = Hello {
            proto: 1,
            nonce: "n".into(),
            name: "alice".into(),
        };
        let json = serde_json::to_string(&hello).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"hello","proto":1,"nonce":"n","name":"alice"}"#
        );
        assert_eq!(serde_json::from_str::<Hello>(&json).unwrap(), hello);
    }

    #[test]
    fn frames_have_the_documented_shape() {
        let body = Body::Msg {
            id: "i".into(),
            text: "hi".into(),
            sent_at: 5,
        };
        let json = serde_json::to_string(&FrameOut {
            sid: "a.b",
            dir: Dir::C2s,
            seq: 3,
            body: &body,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"sid":"a.b","dir":"c2s","seq":3,"kind":"msg","id":"i","text":"hi","sent_at":5}"#
        );
        let back: FrameIn = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_body().unwrap(), Some(body));
    }

    #[test]
    fn unknown_kinds_parse_and_known_kinds_need_their_fields() {
        let unknown: FrameIn =
            serde_json::from_str(r#"{"sid":"a","dir":"s2c","seq":0,"kind":"react","emoji":"x"}"#)
                .unwrap();
        assert_eq!(unknown.into_body().unwrap(), None);
        let no_text: FrameIn = serde_json::from_str(
            r#"{"sid":"a","dir":"s2c","seq":0,"kind":"msg","id":"x","sent_at":1}"#,
        )
        .unwrap();
        assert_eq!(no_text.into_body().unwrap_err(), "text");
    }
}
