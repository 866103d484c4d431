//! The JSON objects inside Fernet tokens (see PROTOCOL.md, "Payload").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::text;

/// Protocol version spoken by this code.
pub const PROTO: u32 = 1;
/// Largest chat message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Longest peer name, in characters, after control characters are removed.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest reason kept from a peer (a `bye` reason, an `ERR` line's text), in
/// characters: it is shown to the user, and a peer must not make us keep
/// or lay out megabytes of it.
pub const MAX_REASON_CHARS: usize = 200;

/// 16 random bytes as URL-safe base64 without padding (22 characters): the
/// form of nonces and message ids.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The 16 bytes a nonce or message id stands for, or `None` if `text` is
/// not exactly the protocol's form: 22 characters of URL-safe base64 that
/// decode to 16 bytes. Anything longer is refused, so a peer cannot make us
/// keep (or echo in acks) ids of any size.
pub fn parse_id(text: &str) -> Option<u128> {
    if text.len() != 22 {
        return None;
    }
    let mut bytes = [0u8; 16];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
        Ok(16) => Some(u128::from_le_bytes(bytes)),
        _ => None,
    }
}

/// A display name as the protocol allows it, and safe to show as it is:
/// every character [`crate::text`] would escape is removed (controls, bidi
/// controls and the other invisible format characters, line separators;
/// joiners stay inside emoji and words), surrounding white space trimmed,
/// at most 32 characters, never empty. Every name the engine hands out went
/// through this, so neither the window nor the terminal can be fooled by one.
pub fn clean_name(name: &str) -> String {
    let name: String = text::neighbours(name)
        .filter(|&(prev, c, next)| !c.is_control() && !text::is_hazard(prev, c, next))
        .map(|(_, c, _)| c)
        .collect();
    let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    // Cutting at 32 can leave a joiner with nothing after it.
    match name.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '\u{200c}' | '\u{200d}'))
    {
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
    /// The typed body (`None` for a kind this version does not know), or
    /// what is wrong with it: a field its kind needs is missing, an id is
    /// not in the protocol's form, or a message is over the text limit.
    pub fn into_body(self) -> Result<Option<Body>, FrameError> {
        Ok(Some(match self.kind.as_str() {
            "ready" => Body::Ready,
            "msg" => {
                let text = self.text.ok_or(FrameError::Missing("text"))?;
                if text.len() > MAX_TEXT_BYTES {
                    return Err(FrameError::TooLong(text.len()));
                }
                Body::Msg {
                    id: checked_id(self.id, "id")?,
                    text,
                    sent_at: self.sent_at.ok_or(FrameError::Missing("sent_at"))?,
                }
            }
            "ack" => Body::Ack {
                of: checked_id(self.of, "of")?,
            },
            "typing" => Body::Typing {
                active: self.active.ok_or(FrameError::Missing("active"))?,
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

/// Why a frame that decrypted is still not one we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame without its `{0}`")]
    Missing(&'static str),
    #[error("a frame whose `{0}` is not an id (16 bytes as 22 characters of URL-safe base64)")]
    BadId(&'static str),
    #[error("a message of {0} bytes, over the {MAX_TEXT_BYTES}-byte limit")]
    TooLong(usize),
}

fn checked_id(id: Option<String>, field: &'static str) -> Result<String, FrameError> {
    let id = id.ok_or(FrameError::Missing(field))?;
    parse_id(&id).ok_or(FrameError::BadId(field))?;
    Ok(id)
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
    fn names_lose_bidi_and_invisible_characters_but_keep_emoji_joiners() {
        assert_eq!(clean_name("mallory\u{202e}gnp.exe"), "mallorygnp.exe");
        assert_eq!(
            clean_name("\u{2067}bob\u{2069}\u{200e}\u{200f}\u{61c}\u{202a}"),
            "bob"
        );
        assert_eq!(clean_name("al\u{200b}ice\u{feff}\u{2028}\u{9b}"), "alice");
        assert_eq!(clean_name("\u{200b}\u{200d}\u{2060}"), "anonymous");
        assert_eq!(clean_name("👩\u{200d}💻 eve"), "👩\u{200d}💻 eve");
        assert_eq!(clean_name("a\u{200d}b"), "ab");
        // The 32nd character is a joiner: nothing follows it any more.
        let cut = format!("{}👩\u{200d}💻", "é".repeat(30));
        assert_eq!(clean_name(&cut), format!("{}👩", "é".repeat(30)));
    }

    #[test]
    fn clean_names_need_no_escaping_anywhere() {
        let hostile = [
            "mallory\u{202e}gnp.exe",
            "\u{1b}]52;c;aGk=\u{7}x",
            "srv\nSECURITY ALERT: x",
            "\u{9b}2J\r",
            "👩\u{200d}💻\u{200d}",
        ];
        for name in hostile {
            let clean = clean_name(name);
            assert_eq!(text::for_terminal(&clean), clean, "{name:?}");
            assert_eq!(text::for_window(&clean), clean, "{name:?}");
        }
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
            id: "a1B2c3D4e5F6g7H8i9J0kA".into(),
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
            r#"{"sid":"a.b","dir":"c2s","seq":3,"kind":"msg","id":"a1B2c3D4e5F6g7H8i9J0kA","text":"hi","sent_at":5}"#
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
        assert_eq!(
            no_text.into_body().unwrap_err(),
            FrameError::Missing("text")
        );
    }

    fn msg_frame(id: &str, text: &str) -> FrameIn {
        let json = serde_json::json!({
            "sid": "a", "dir": "s2c", "seq": 0, "kind": "msg",
            "id": id, "text": text, "sent_at": 1,
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn ids_must_be_exactly_sixteen_bytes() {
        let id = random_id();
        assert!(parse_id(&id).is_some());
        assert!(msg_frame(&id, "hi").into_body().is_ok());
        // Too long (a peer's way to make us keep big ids), too short, padded,
        // outside the alphabet, or 22 characters with stray trailing bits.
        let long = "A".repeat(300_000);
        for bad in [
            long.as_str(),
            "AAAA",
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "AAAAAAAAAAAAAAAAAAAA+/",
            "AAAAAAAAAAAAAAAAAAAAAB",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:.30}");
            assert_eq!(
                msg_frame(bad, "hi").into_body().unwrap_err(),
                FrameError::BadId("id")
            );
        }
        let ack: FrameIn = serde_json::from_str(
            r#"{"sid":"a","dir":"s2c","seq":0,"kind":"ack","of":"not-an-id"}"#,
        )
        .unwrap();
        assert_eq!(ack.into_body().unwrap_err(), FrameError::BadId("of"));
    }

    #[test]
    fn a_message_over_the_text_limit_is_refused_on_receipt() {
        let id = random_id();
        let max = "x".repeat(MAX_TEXT_BYTES);
        assert!(msg_frame(&id, &max).into_body().is_ok());
        let over = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            msg_frame(&id, &over).into_body().unwrap_err(),
            FrameError::TooLong(MAX_TEXT_BYTES + 1)
        );
    }
}
