//! The shared secret: a Fernet key, generated from the OS RNG or pasted by the user.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use fernet::Fernet;
use rand::TryRngCore;
use rand::rngs::OsRng;

/// What a key looks like, for error messages.
pub const KEY_SHAPE: &str =
    "a key is 44 characters of URL-safe base64 (A-Z a-z 0-9 - _) ending in '='";

/// Why a pasted key was refused. Each variant says what is wrong in words a user
/// can act on; none of them is ever "fixed up" silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no key given: {KEY_SHAPE}")]
    Empty,
    #[error(
        "the key has a character that cannot be in a key ({found:?} at position {position}): {KEY_SHAPE}"
    )]
    BadCharacter { found: char, position: usize },
    #[error("the key is {len} characters long, 44 expected: {KEY_SHAPE}")]
    WrongLength { len: usize },
    #[error("the key is not valid base64: {KEY_SHAPE}")]
    NotBase64,
}

/// A 32-byte Fernet key. Cheap to clone; the cipher is shared.
#[derive(Clone)]
pub struct Key {
    text: Arc<str>,
    cipher: Arc<Fernet>,
}

impl Key {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Key, rand::rand_core::OsError> {
        let mut bytes = [0u8; 32];
        OsRng.try_fill_bytes(&mut bytes)?;
        Ok(Key::from_bytes(&bytes))
    }

    /// Parses a key as a user would paste it: surrounding white space is
    /// trimmed, anything else that is not exactly 32 bytes of URL-safe base64
    /// (with or without its `=` padding) is refused with the reason.
    pub fn parse(input: &str) -> Result<Key, KeyError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some((position, found)) = text
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=')))
        {
            return Err(KeyError::BadCharacter { found, position });
        }
        let unpadded = text.trim_end_matches('=');
        if !(text.len() == 44 || (text.len() == 43 && unpadded.len() == 43)) {
            return Err(KeyError::WrongLength { len: text.len() });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(unpadded)
            .map_err(|_| KeyError::NotBase64)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::NotBase64)?;
        Ok(Key::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; 32]) -> Key {
        let text = URL_SAFE.encode(bytes);
        // A 32-byte key in URL-safe base64 is exactly what Fernet::new accepts.
        let cipher = Fernet::new(&text).expect("32 bytes of base64 is a Fernet key");
        Key {
            text: text.into(),
            cipher: Arc::new(cipher),
        }
    }

    /// The key in its standard 44-character form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn cipher(&self) -> &Fernet {
        &self.cipher
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Never print the key by accident in logs.
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.text == other.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

    #[test]
    fn generated_keys_are_distinct_and_round_trip() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 44);
        assert_eq!(Key::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn accepts_surrounding_white_space_and_missing_padding() {
        let key = Key::parse(&format!(" \t{GOOD}\r\n")).unwrap();
        assert_eq!(key.as_str(), GOOD);
        assert_eq!(
            Key::parse(GOOD.trim_end_matches('=')).unwrap().as_str(),
            GOOD
        );
    }

    #[test]
    fn refuses_malformed_keys_with_the_reason() {
        assert_eq!(Key::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(Key::parse("   ").unwrap_err(), KeyError::Empty);
        assert_eq!(
            Key::parse(&GOOD[..30]).unwrap_err(),
            KeyError::WrongLength { len: 30 }
        );
        assert_eq!(
            Key::parse(&format!("{GOOD}AAAA")).unwrap_err(),
            KeyError::WrongLength { len: 48 }
        );
        assert_eq!(
            Key::parse(&GOOD.replace('_', "/")).unwrap_err(),
            KeyError::BadCharacter {
                found: '/',
                position: 2
            }
        );
        let inner_space = format!("{} {}", &GOOD[..10], &GOOD[11..]);
        assert!(matches!(
            Key::parse(&inner_space).unwrap_err(),
            KeyError::BadCharacter { found: ' ', .. }
        ));
        // 44 characters, but the padding is in the wrong place.
        let misplaced = format!("={}", &GOOD[..43]);
        assert_eq!(Key::parse(&misplaced).unwrap_err(), KeyError::NotBase64);
        // Right length and alphabet, but the last character carries stray bits.
        let stray_bits = format!("{}f=", &GOOD[..42]);
        assert_eq!(Key::parse(&stray_bits).unwrap_err(), KeyError::NotBase64);
    }

    #[test]
    fn error_messages_say_what_a_key_looks_like() {
        let text = Key::parse("hello").unwrap_err().to_string();
        assert!(text.contains("44"), "{text}");
        assert!(text.contains("base64"), "{text}");
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let key = Key::parse(GOOD).unwrap();
        assert!(!format!("{key:?}").contains(&GOOD[..10]));
    }
}
