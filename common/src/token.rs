//! Fernet tokens: sealing with the injectable clock and opening with the
//! protocol's own time rules, so that two machines whose clocks disagree by
//! more than Fernet's 60 s can still talk.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Clock;
use crate::key::Key;

/// Tokens older than this (seconds, on the sender's clock) are refused.
pub const TTL_SECS: u64 = 300;
/// How far in the future (seconds) a token may be, as in the Fernet spec.
pub const MAX_SKEW_SECS: u64 = 60;

/// Why a line is not a token we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not shaped like a Fernet token at all (not base64, wrong version byte,
    /// too short): not something a fernet-chat peer sends.
    NotAToken,
    /// Shaped like a token, but its HMAC does not verify under our key: made
    /// with another key, or tampered with.
    BadKey,
    /// Older than the TTL.
    Expired { age_secs: u64 },
    /// Further in the future than the allowed skew.
    FromTheFuture { ahead_secs: u64 },
}

/// Encrypts `plaintext` with the key, stamped with the clock's time.
pub fn seal(key: &Key, clock: &Clock, plaintext: &[u8]) -> String {
    key.cipher().encrypt_at_time(plaintext, clock.now_secs())
}

/// The creation time a token carries, if the line has a token's shape.
/// Decodes only the 12 characters that hold version and timestamp.
pub fn timestamp(token: &str) -> Option<u64> {
    let head = URL_SAFE_NO_PAD.decode(token.get(..12)?).ok()?;
    (head[0] == 0x80).then(|| u64::from_be_bytes(head[1..9].try_into().unwrap_or_default()))
}

/// Opens a token without looking at its age: for handshake tokens, whose
/// freshness comes from the nonces instead. Returns the plaintext and the
/// token's timestamp.
pub fn open_any_time(key: &Key, token: &str) -> Result<(Vec<u8>, u64), OpenError> {
    let ts = shaped(token)?;
    // Verifying "at" the token's own time turns Fernet's clock checks off;
    // `shaped` made sure that time plus the skew cannot overflow.
    let plaintext = key
        .cipher()
        .decrypt_at_time(token, None, ts)
        .map_err(|_| unverified(token, OpenError::BadKey))?;
    Ok((plaintext, ts))
}

/// Opens a token as of `now_secs` (our clock plus the peer's offset): refused
/// if older than the TTL or more than the skew in the future.
pub fn open_at(key: &Key, token: &str, now_secs: u64) -> Result<Vec<u8>, OpenError> {
    let ts = shaped(token)?;
    if ts > now_secs.saturating_add(MAX_SKEW_SECS) {
        let ahead_secs = ts - now_secs;
        return Err(unverified(token, OpenError::FromTheFuture { ahead_secs }));
    }
    if ts.saturating_add(TTL_SECS) < now_secs {
        let age_secs = now_secs - ts;
        return Err(unverified(token, OpenError::Expired { age_secs }));
    }
    key.cipher()
        .decrypt_at_time(token, None, now_secs)
        .map_err(|_| unverified(token, OpenError::BadKey))
}

/// Checks what can be checked without decoding the token (fernet does that):
/// version 0x80 and a length that fits timestamp, IV, whole AES blocks and
/// HMAC. Returns the timestamp.
fn shaped(token: &str) -> Result<u64, OpenError> {
    const FIXED: usize = 1 + 8 + 16 + 32;
    let len = token.trim_end_matches('=').len() * 3 / 4;
    let ts = timestamp(token)
        .filter(|_| len >= FIXED + 16 && (len - FIXED).is_multiple_of(16))
        .ok_or(OpenError::NotAToken)?;
    // Fernet adds its skew to the time it is given; keep that from overflowing.
    if ts > u64::MAX - MAX_SKEW_SECS {
        return Err(OpenError::NotAToken);
    }
    Ok(ts)
}

/// The error for a token that failed a check: `NotAToken` if it is not even
/// base64 (garbage, not a token made with another key). Scanning the
/// alphabet only here keeps it off the path of every valid frame.
fn unverified(token: &str, error: OpenError) -> OpenError {
    let alphabet = token
        .trim_end_matches('=')
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if alphabet {
        error
    } else {
        OpenError::NotAToken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::generate().unwrap()
    }

    #[test]
    fn round_trip_and_timestamp() {
        let key = key();
        let clock = Clock::from_fn(|| 1_700_000_000_123);
        let token = seal(&key, &clock, b"hi");
        assert!(token.starts_with("gAAAAA"));
        assert_eq!(timestamp(&token), Some(1_700_000_000));
        assert_eq!(
            open_any_time(&key, &token).unwrap(),
            (b"hi".to_vec(), 1_700_000_000)
        );
        assert_eq!(open_at(&key, &token, 1_700_000_000).unwrap(), b"hi");
    }

    #[test]
    fn ttl_and_skew_are_enforced() {
        let key = key();
        let token = seal(&key, &Clock::from_fn(|| 1_000_000_000), b"x");
        assert!(open_at(&key, &token, 1_000_000 + TTL_SECS).is_ok());
        assert_eq!(
            open_at(&key, &token, 1_000_000 + TTL_SECS + 1),
            Err(OpenError::Expired {
                age_secs: TTL_SECS + 1
            })
        );
        assert!(open_at(&key, &token, 1_000_000 - MAX_SKEW_SECS).is_ok());
        assert_eq!(
            open_at(&key, &token, 1_000_000 - MAX_SKEW_SECS - 1),
            Err(OpenError::FromTheFuture {
                ahead_secs: MAX_SKEW_SECS + 1
            })
        );
    }

    #[test]
    fn another_key_or_a_flipped_character_is_bad_key() {
        let key = key();
        let token = seal(&key, &Clock::system(), b"secret");
        assert_eq!(
            open_any_time(&Key::generate().unwrap(), &token),
            Err(OpenError::BadKey)
        );
        let mut bytes = token.into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(open_any_time(&key, &tampered), Err(OpenError::BadKey));
    }

    #[test]
    fn garbage_is_not_a_token() {
        let key = key();
        for line in [
            "",
            "hello",
            "GET / HTTP/1.1",
            "gAAAAA",
            "gAAAAAB!!!!",
            "😀😀😀😀😀😀😀😀",
        ] {
            assert_eq!(
                open_any_time(&key, line),
                Err(OpenError::NotAToken),
                "{line:?}"
            );
        }
    }

    #[test]
    fn a_timestamp_near_the_end_of_time_does_not_overflow() {
        let key = key();
        let mut bytes = vec![0x80];
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        bytes.extend_from_slice(&[0; 16 + 16 + 32]);
        let token = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(open_any_time(&key, &token), Err(OpenError::NotAToken));
        assert!(open_at(&key, &token, 5).is_err());
    }
}
