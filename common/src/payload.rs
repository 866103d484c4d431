//! The JSON objects inside Fernet tokens (see PROTOCOL.md, "Payload").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::text;

/// The first protocol version, which every version of this code speaks: a
/// hello says `"proto":1` so that a protocol-1 server, which refuses any
/// other `proto`, still answers it (see PROTOCOL.md, "Versions").
pub const PROTO: u32 = 1;
/// The highest protocol version this code speaks. Version 2 adds `msgs`
/// (several messages in one token) and `acks` (several acks in one);
/// version 3 adds rooms (PROTOCOL.md, "Rooms").
pub const PROTO_MAX: u32 = 3;
/// The first version with rooms: member places in the hello, the roster,
/// joins and leaves, relayed messages naming their sender, delivery marks.
pub const PROTO_ROOMS: u32 = 3;
/// Most members a `roster` lists (the room's own limit is lower, see
/// `--max-members`; this is what a client accepts at most).
pub const MAX_ROSTER: usize = 256;
/// Longest `why` kept from a `left` frame, in characters.
pub const MAX_WHY_CHARS: usize = 32;
/// Longest `addr` in a roster entry, in bytes (an IPv6 address with scope
/// and port fits).
pub const MAX_ADDR_BYTES: usize = 64;
/// Most messages in a `msgs` frame, and most ids in an `acks` frame.
pub const MAX_BATCH: usize = 256;
/// Held acks ([`crate::Timing::ack_delay`]) go at once when the messages
/// they acknowledge hold this much text: a peer that counts what it sent
/// and we did not acknowledge (a room server's member queue) is never kept
/// waiting on a few large messages.
pub const ACK_TEXT_BYTES: usize = 64 * 1024;
/// Most text, in bytes of UTF-8 summed over its messages, in a `msgs`
/// frame: a batch is for many small messages, and each message it carries
/// comes with a copy of its token when the app shows ciphertext.
pub const MAX_BATCH_TEXT_BYTES: usize = 32 * 1024;
/// Largest chat message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// What a message counts for beyond its text in the windows and queues
/// that bound messages by bytes (a sender's window, a room's member queue
/// and inflow): about what one costs to keep besides its text, so that a
/// flood of empty messages fills them too.
pub const MESSAGE_OVERHEAD: usize = 256;

/// What a message of `text_bytes` counts for ([`MESSAGE_OVERHEAD`]).
pub const fn weight(text_bytes: usize) -> usize {
    text_bytes + MESSAGE_OVERHEAD
}
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
    /// The lowest version the client speaks.
    pub proto: u32,
    pub nonce: String,
    pub name: String,
    /// The highest version the client speaks; absent means `proto` (a
    /// protocol-1 client, which ignores it, never sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_proto: Option<u32>,
    /// Protocol 3: the client's member id, the same for the life of its
    /// window (an id: 22 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Protocol 3: the next link of the member's hash chain, which proves
    /// the place is this client's (see [`crate::place`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

impl Hello {
    /// The highest version both the client and a server speaking `PROTO`
    /// to `max` speak, if any.
    pub fn common_version(&self, max: u32) -> Option<u32> {
        let version = self.max_proto.unwrap_or(self.proto).min(max);
        (version >= self.proto.max(PROTO)).then_some(version)
    }
}

/// The server's answer to a hello it could decrypt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "welcome")]
pub struct Welcome {
    /// The version of the session: the highest both speak.
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
    /// A chat message. Protocol 3, server to client: `from` and `name`
    /// say which member sent it.
    Msg {
        id: String,
        text: String,
        sent_at: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Version 2: several messages, in order.
    Msgs {
        msgs: Vec<Message>,
    },
    /// The peer received and decrypted the message `of`. Protocol 3,
    /// server to client: `to` is how many members it is relayed to.
    Ack {
        of: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<u32>,
    },
    /// Version 2: the peer received and decrypted these messages.
    Acks {
        ids: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<u32>,
    },
    /// The peer started or stopped typing. Protocol 3, server to client:
    /// `from` is the member.
    Typing {
        active: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// Protocol 3, server to client, its first frame: who is in the room
    /// (`you` is the receiver's own member id).
    Roster {
        you: String,
        members: Vec<RosterEntry>,
    },
    /// Protocol 3: a member joined the room, or came back to its place.
    Joined(RosterEntry),
    /// Protocol 3: a member is no longer in the room, and why (`bye`,
    /// `lost`, `removed`, `slow`, or a later code).
    Left {
        member: String,
        why: String,
    },
    /// Protocol 3: each member in `by` received each of these messages
    /// of ours (one frame for the marks the server had at once).
    Delivered {
        ids: Vec<String>,
        by: Vec<String>,
    },
    Ping,
    Pong,
    /// Orderly close.
    Bye {
        reason: String,
    },
}

/// One chat message inside a `msgs` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub text: String,
    pub sent_at: u64,
    /// Protocol 3, server to client: the sending member's id...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// ...and its name in the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One member as a `roster` or `joined` frame describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub member: String,
    /// Unique in the room (the server adds " (2)" and so on).
    pub name: String,
    /// The member's address as the server sees it; absent for the server
    /// itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// When it joined, Unix ms (server's clock).
    pub since: u64,
}

/// Frames as they are sent, borrowing what they carry (from the outbox, or
/// the ids to acknowledge), so sending copies no text.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Outgoing<'a> {
    Msg {
        #[serde(flatten)]
        msg: MessageRef<'a>,
    },
    Msgs {
        msgs: Vec<MessageRef<'a>>,
    },
    Ack {
        of: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<u32>,
    },
    Acks {
        ids: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<u32>,
    },
}

impl<'a> MessageRef<'a> {
    /// A message waiting in an outbox as it is sent: with its sender when
    /// it is relayed.
    pub fn of(m: &'a crate::outbox::Pending) -> MessageRef<'a> {
        MessageRef {
            id: &m.id,
            text: &m.text,
            sent_at: m.sent_at,
            from: m.from.as_deref().map(|s| s.member.as_str()),
            name: m.from.as_deref().map(|s| s.name.as_str()),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct MessageRef<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub sent_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
}

/// A session frame as it is sent.
#[derive(Serialize)]
pub(crate) struct FrameOut<'a, B> {
    pub sid: &'a str,
    pub dir: Dir,
    pub seq: u64,
    #[serde(flatten)]
    pub body: &'a B,
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
    msgs: Option<Vec<Message>>,
    ids: Option<Vec<String>>,
    to: Option<u32>,
    from: Option<String>,
    name: Option<String>,
    you: Option<String>,
    members: Option<Vec<RosterEntry>>,
    member: Option<String>,
    addr: Option<String>,
    since: Option<u64>,
    why: Option<String>,
    by: Option<Vec<String>>,
}

impl FrameIn {
    /// The typed body (`None` for a kind the session's `version` does not
    /// know), or what is wrong with it: a field its kind needs is missing,
    /// an id is not in the protocol's form, a message is over the text
    /// limit, a batch is empty or over its limits.
    pub fn into_body(self, version: u32) -> Result<Option<Body>, FrameError> {
        let rooms = version >= PROTO_ROOMS;
        Ok(Some(match self.kind.as_str() {
            "ready" => Body::Ready,
            "msgs" if version >= 2 => {
                let msgs = self.msgs.ok_or(FrameError::Missing("msgs"))?;
                if msgs.is_empty() || msgs.len() > MAX_BATCH {
                    return Err(FrameError::BatchSize(msgs.len()));
                }
                let text: usize = msgs.iter().map(|m| m.text.len()).sum();
                if text > MAX_BATCH_TEXT_BYTES {
                    return Err(FrameError::BatchTooLong(text));
                }
                let msgs = msgs
                    .into_iter()
                    .map(|m| {
                        parse_id(&m.id).ok_or(FrameError::BadId("id"))?;
                        let (from, name) = sender(m.from, m.name, rooms)?;
                        Ok(Message { from, name, ..m })
                    })
                    .collect::<Result<_, FrameError>>()?;
                Body::Msgs { msgs }
            }
            "acks" if version >= 2 => Body::Acks {
                ids: checked_ids(self.ids, "ids")?,
                to: self.to.filter(|_| rooms),
            },
            "msg" => {
                let text = self.text.ok_or(FrameError::Missing("text"))?;
                if text.len() > MAX_TEXT_BYTES {
                    return Err(FrameError::TooLong(text.len()));
                }
                let (from, name) = sender(self.from, self.name, rooms)?;
                Body::Msg {
                    id: checked_id(self.id, "id")?,
                    text,
                    sent_at: self.sent_at.ok_or(FrameError::Missing("sent_at"))?,
                    from,
                    name,
                }
            }
            "ack" => Body::Ack {
                of: checked_id(self.of, "of")?,
                to: self.to.filter(|_| rooms),
            },
            "typing" => Body::Typing {
                active: self.active.ok_or(FrameError::Missing("active"))?,
                from: match self.from.filter(|_| rooms) {
                    Some(from) => Some(checked_id(Some(from), "from")?),
                    None => None,
                },
            },
            "ping" => Body::Ping,
            "pong" => Body::Pong,
            "bye" => Body::Bye {
                reason: self.reason.unwrap_or_default(),
            },
            "roster" if rooms => {
                let members = self.members.ok_or(FrameError::Missing("members"))?;
                if members.is_empty() || members.len() > MAX_ROSTER {
                    return Err(FrameError::RosterSize(members.len()));
                }
                Body::Roster {
                    you: checked_id(self.you, "you")?,
                    members: members
                        .into_iter()
                        .map(RosterEntry::checked)
                        .collect::<Result<_, _>>()?,
                }
            }
            "joined" if rooms => Body::Joined(RosterEntry::checked(RosterEntry {
                member: self.member.ok_or(FrameError::Missing("member"))?,
                name: self.name.ok_or(FrameError::Missing("name"))?,
                addr: self.addr,
                since: self.since.ok_or(FrameError::Missing("since"))?,
            })?),
            "left" if rooms => Body::Left {
                member: checked_id(self.member, "member")?,
                why: self
                    .why
                    .ok_or(FrameError::Missing("why"))?
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_WHY_CHARS)
                    .collect(),
            },
            "delivered" if rooms => Body::Delivered {
                ids: checked_ids(self.ids, "ids")?,
                by: id_list(self.by, "by", MAX_ROSTER, FrameError::MarkSize)?,
            },
            _ => return Ok(None),
        }))
    }
}

impl RosterEntry {
    /// The entry if its member is an id and its address is not oversized;
    /// the name is cleaned like every name.
    fn checked(self) -> Result<RosterEntry, FrameError> {
        parse_id(&self.member).ok_or(FrameError::BadId("member"))?;
        if self.addr.as_ref().is_some_and(|a| a.len() > MAX_ADDR_BYTES) {
            return Err(FrameError::Oversized("addr"));
        }
        Ok(RosterEntry {
            name: clean_name(&self.name),
            ..self
        })
    }
}

/// A relayed message's sender under protocol 3 (`from` must be an id, the
/// name is cleaned); nothing under earlier versions.
fn sender(
    from: Option<String>,
    name: Option<String>,
    rooms: bool,
) -> Result<(Option<String>, Option<String>), FrameError> {
    if !rooms {
        return Ok((None, None));
    }
    let from = match from {
        Some(from) => Some(checked_id(Some(from), "from")?),
        None => None,
    };
    Ok((from, name.map(|n| clean_name(&n))))
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
    #[error("a batch of {0} entries (it must have 1 to {MAX_BATCH})")]
    BatchSize(usize),
    #[error("a batch of {0} bytes of text, over the {MAX_BATCH_TEXT_BYTES}-byte limit")]
    BatchTooLong(usize),
    #[error("a roster of {0} members (it must have 1 to {MAX_ROSTER})")]
    RosterSize(usize),
    #[error("delivery marks naming {0} members (they must name 1 to {MAX_ROSTER})")]
    MarkSize(usize),
    #[error("a frame whose `{0}` is over its size limit")]
    Oversized(&'static str),
}

fn checked_id(id: Option<String>, field: &'static str) -> Result<String, FrameError> {
    let id = id.ok_or(FrameError::Missing(field))?;
    parse_id(&id).ok_or(FrameError::BadId(field))?;
    Ok(id)
}

/// 1 to [`MAX_BATCH`] ids.
fn checked_ids(ids: Option<Vec<String>>, field: &'static str) -> Result<Vec<String>, FrameError> {
    id_list(ids, field, MAX_BATCH, FrameError::BatchSize)
}

/// 1 to `max` ids; `wrong_length` says what a list of another length is.
fn id_list(
    ids: Option<Vec<String>>,
    field: &'static str,
    max: usize,
    wrong_length: fn(usize) -> FrameError,
) -> Result<Vec<String>, FrameError> {
    let ids = ids.ok_or(FrameError::Missing(field))?;
    if ids.is_empty() || ids.len() > max {
        return Err(wrong_length(ids.len()));
    }
    for id in &ids {
        parse_id(id).ok_or(FrameError::BadId(field))?;
    }
    Ok(ids)
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
        let mut hello = Hello {
            proto: 1,
            nonce: "n".into(),
            name: "alice".into(),
            max_proto: None,
            member: None,
            proof: None,
        };
        let json = serde_json::to_string(&hello).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"hello","proto":1,"nonce":"n","name":"alice"}"#
        );
        assert_eq!(serde_json::from_str::<Hello>(&json).unwrap(), hello);
        hello.max_proto = Some(2);
        let json = serde_json::to_string(&hello).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"hello","proto":1,"nonce":"n","name":"alice","max_proto":2}"#
        );
        assert_eq!(serde_json::from_str::<Hello>(&json).unwrap(), hello);
    }

    #[test]
    fn frames_have_the_documented_shape() {
        let body = Body::Msg {
            id: "a1B2c3D4e5F6g7H8i9J0kA".into(),
            text: "hi".into(),
            sent_at: 5,
            from: None,
            name: None,
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
        assert_eq!(back.into_body(1).unwrap(), Some(body));
    }

    #[test]
    fn unknown_kinds_parse_and_known_kinds_need_their_fields() {
        let unknown: FrameIn =
            serde_json::from_str(r#"{"sid":"a","dir":"s2c","seq":0,"kind":"react","emoji":"x"}"#)
                .unwrap();
        assert_eq!(unknown.into_body(2).unwrap(), None);
        let no_text: FrameIn = serde_json::from_str(
            r#"{"sid":"a","dir":"s2c","seq":0,"kind":"msg","id":"x","sent_at":1}"#,
        )
        .unwrap();
        assert_eq!(
            no_text.into_body(1).unwrap_err(),
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
        assert!(msg_frame(&id, "hi").into_body(1).is_ok());
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
                msg_frame(bad, "hi").into_body(1).unwrap_err(),
                FrameError::BadId("id")
            );
        }
        let ack: FrameIn = serde_json::from_str(
            r#"{"sid":"a","dir":"s2c","seq":0,"kind":"ack","of":"not-an-id"}"#,
        )
        .unwrap();
        assert_eq!(ack.into_body(1).unwrap_err(), FrameError::BadId("of"));
    }

    #[test]
    fn a_message_over_the_text_limit_is_refused_on_receipt() {
        let id = random_id();
        let max = "x".repeat(MAX_TEXT_BYTES);
        assert!(msg_frame(&id, &max).into_body(1).is_ok());
        let over = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            msg_frame(&id, &over).into_body(1).unwrap_err(),
            FrameError::TooLong(MAX_TEXT_BYTES + 1)
        );
    }

    #[test]
    fn the_common_version_is_the_highest_both_speak() {
        let hello = |proto, max_proto| Hello {
            proto,
            nonce: String::new(),
            name: String::new(),
            max_proto,
            member: None,
            proof: None,
        };
        assert_eq!(hello(1, None).common_version(2), Some(1));
        assert_eq!(hello(1, Some(2)).common_version(2), Some(2));
        assert_eq!(hello(1, Some(2)).common_version(1), Some(1));
        assert_eq!(hello(1, Some(7)).common_version(2), Some(2));
        assert_eq!(hello(3, Some(7)).common_version(2), None);
        assert_eq!(hello(1, Some(0)).common_version(2), None);
    }

    fn frame(json: serde_json::Value) -> FrameIn {
        let mut frame = serde_json::json!({"sid": "a", "dir": "s2c", "seq": 0});
        frame
            .as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(frame).unwrap()
    }

    #[test]
    fn batches_are_version_2_and_bounded() {
        let id = random_id();
        let one = serde_json::json!({"id": id, "text": "hi", "sent_at": 1});
        let msgs = |n: usize| serde_json::json!({"kind": "msgs", "msgs": vec![one.clone(); n]});
        let acks = |n: usize| serde_json::json!({"kind": "acks", "ids": vec![id.clone(); n]});
        // In a protocol-1 session they are kinds it does not know.
        assert_eq!(frame(msgs(2)).into_body(1).unwrap(), None);
        assert_eq!(frame(acks(2)).into_body(1).unwrap(), None);
        let message = Message {
            id: id.clone(),
            text: "hi".into(),
            sent_at: 1,
            from: None,
            name: None,
        };
        assert_eq!(
            frame(msgs(MAX_BATCH)).into_body(2).unwrap(),
            Some(Body::Msgs {
                msgs: vec![message; MAX_BATCH]
            })
        );
        assert_eq!(
            frame(acks(MAX_BATCH)).into_body(2).unwrap(),
            Some(Body::Acks {
                ids: vec![id.clone(); MAX_BATCH],
                to: None,
            })
        );
        for n in [0, MAX_BATCH + 1] {
            assert_eq!(
                frame(msgs(n)).into_body(2).unwrap_err(),
                FrameError::BatchSize(n)
            );
            assert_eq!(
                frame(acks(n)).into_body(2).unwrap_err(),
                FrameError::BatchSize(n)
            );
        }
        let half = "x".repeat(MAX_BATCH_TEXT_BYTES / 2);
        let big = serde_json::json!({"id": id, "text": half, "sent_at": 1});
        let over = serde_json::json!({"kind": "msgs", "msgs": [big, big, one]});
        assert_eq!(
            frame(over).into_body(2).unwrap_err(),
            FrameError::BatchTooLong(MAX_BATCH_TEXT_BYTES + 2)
        );
        let bad = serde_json::json!({"kind": "acks", "ids": [id, "x"]});
        assert_eq!(
            frame(bad).into_body(2).unwrap_err(),
            FrameError::BadId("ids")
        );
        let bad = serde_json::json!({"kind": "msgs", "msgs": [one, {"id": "x", "text": "", "sent_at": 1}]});
        assert_eq!(
            frame(bad).into_body(2).unwrap_err(),
            FrameError::BadId("id")
        );
    }

    #[test]
    fn delivery_marks_name_1_to_a_roster_of_members() {
        let id = random_id();
        let marks = |n: usize| serde_json::json!({"kind": "delivered", "ids": [id], "by": vec![id.clone(); n]});
        assert_eq!(frame(marks(1)).into_body(2).unwrap(), None, "protocol 3");
        assert_eq!(
            frame(marks(MAX_ROSTER)).into_body(3).unwrap(),
            Some(Body::Delivered {
                ids: vec![id.clone()],
                by: vec![id.clone(); MAX_ROSTER]
            })
        );
        for n in [0, MAX_ROSTER + 1] {
            assert_eq!(
                frame(marks(n)).into_body(3).unwrap_err(),
                FrameError::MarkSize(n)
            );
        }
        let one = serde_json::json!({"sid": "a", "dir": "s2c", "seq": 0,
            "kind": "delivered", "ids": [id], "by": id});
        assert!(
            serde_json::from_value::<FrameIn>(one).is_err(),
            "a list, not one id"
        );
    }

    #[test]
    fn batches_have_the_documented_shape() {
        let id = "a1B2c3D4e5F6g7H8i9J0kA";
        let out = Outgoing::Msgs {
            msgs: vec![
                MessageRef {
                    id,
                    text: "hi",
                    sent_at: 5,
                    from: None,
                    name: None,
                },
                MessageRef {
                    id,
                    text: "yo",
                    sent_at: 6,
                    from: None,
                    name: None,
                },
            ],
        };
        let json = serde_json::to_string(&FrameOut {
            sid: "a.b",
            dir: Dir::C2s,
            seq: 3,
            body: &out,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"sid":"a.b","dir":"c2s","seq":3,"kind":"msgs","msgs":[{"id":"a1B2c3D4e5F6g7H8i9J0kA","text":"hi","sent_at":5},{"id":"a1B2c3D4e5F6g7H8i9J0kA","text":"yo","sent_at":6}]}"#
        );
        let acks = Body::Acks {
            ids: vec![id.into(), id.into()],
            to: None,
        };
        let json = serde_json::to_string(&FrameOut {
            sid: "a.b",
            dir: Dir::S2c,
            seq: 4,
            body: &acks,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"sid":"a.b","dir":"s2c","seq":4,"kind":"acks","ids":["a1B2c3D4e5F6g7H8i9J0kA","a1B2c3D4e5F6g7H8i9J0kA"]}"#
        );
    }
}
