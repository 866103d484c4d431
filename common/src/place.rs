//! A member's place in a room, and how a reconnect proves it is the same
//! member (PROTOCOL.md, "Rooms").
//!
//! Every member holds the same key, so every member can decrypt every other
//! member's hello: a secret sent in a hello would be read by the others
//! and could be replayed to take the place. A hash chain is safe to show:
//! the client keeps a random seed `s` and sends `H^n(s)` when it first
//! joins, then `H^(n-1)(s)`, `H^(n-2)(s)`, ... on each later hello. The
//! server keeps the last link it accepted and takes a new one only if
//! hashing it (at most [`SKIP`] times) gives that link. Someone who read a
//! link cannot compute the next, since that means inverting SHA-256.
//!
//! What it does not stop: a key holder who can read a hello *in flight*
//! and race it to the server with the same link. Without public-key
//! cryptography (the protocol is Fernet only) nothing bound to one
//! connection can be proven; removing a member and changing the key are the
//! answers to a hostile key holder.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::payload::random_id;

/// Links in a chain: hellos one member id can send. A client whose chain
/// is spent (thousands of reconnects) continues as a new member.
pub const CHAIN_LENGTH: u32 = 10_000;
/// How many links a hello may skip: hellos that never reached the server
/// (a connection lost mid-handshake) used theirs up.
pub const SKIP: u32 = 16;
/// After a session proved the key, `ERR place` refusals in a row before
/// the client believes one and starts over as a new member: an ERR line is
/// unauthenticated, and starting over gives up what the server keeps for
/// the old place.
pub const REFUSALS_BELIEVED: u32 = 3;

type Link = [u8; 32];

fn hash(link: &Link) -> Link {
    Sha256::digest(link).into()
}

/// `H^times(seed)`.
fn hashed(seed: &Link, times: u32) -> Link {
    (0..times).fold(*seed, |link, _| hash(&link))
}

/// A link as the hello carries it: 43 characters of URL-safe base64
/// without padding.
fn encode(link: &Link) -> String {
    URL_SAFE_NO_PAD.encode(link)
}

/// The link `proof` stands for, if it is one.
pub fn parse_proof(proof: &str) -> Option<Link> {
    if proof.len() != 43 {
        return None;
    }
    let mut link = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(proof, &mut link) {
        Ok(32) => Some(link),
        _ => None,
    }
}

/// The client's side: one member id for the life of its window, and the
/// chain that proves it. Cheap to clone; clones share the chain, so every
/// connection a window makes uses the next link.
#[derive(Debug, Clone)]
pub struct Identity(Arc<Mutex<Chain>>);

#[derive(Debug)]
struct Chain {
    member: String,
    seed: Link,
    /// Links already sent.
    used: u32,
    /// `ERR place` answers in a row for this member.
    refused: u32,
}

impl Chain {
    fn new() -> Chain {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        Chain {
            member: random_id(),
            seed,
            used: 0,
            refused: 0,
        }
    }
}

impl Default for Identity {
    fn default() -> Identity {
        Identity::new()
    }
}

impl Identity {
    /// A new member: a random id and seed.
    pub fn new() -> Identity {
        Identity(Arc::new(Mutex::new(Chain::new())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Chain> {
        // The lock is never held across a panic that could poison it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The member id.
    pub fn member(&self) -> String {
        self.lock().member.clone()
    }

    /// The member id and the proof for the next hello (each call uses a
    /// link). After the last link, a new member id and chain.
    pub fn next_proof(&self) -> (String, String) {
        let mut chain = self.lock();
        if chain.used >= CHAIN_LENGTH {
            *chain = Chain::new();
        }
        let link = hashed(&chain.seed, CHAIN_LENGTH - chain.used);
        chain.used += 1;
        (chain.member.clone(), encode(&link))
    }

    /// Starts over as a new member (the server did not take our proof).
    pub fn renew(&self) {
        *self.lock() = Chain::new();
    }

    /// Counts an `ERR place` answer; how many came in a row.
    pub fn refused(&self) -> u32 {
        let mut chain = self.lock();
        chain.refused += 1;
        chain.refused
    }

    /// A handshake went through: the refusals in a row start again at 0.
    pub fn placed(&self) {
        self.lock().refused = 0;
    }
}

/// The server's side: the last link a member proved its place with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor(Link);

impl Anchor {
    /// A new member's first link.
    pub fn new(first: Link) -> Anchor {
        Anchor(first)
    }

    /// Whether `link` comes after ours in the chain (within [`SKIP`]
    /// links). Does not move the anchor: the place is taken only once the
    /// handshake completes ([`Anchor::advance`]).
    pub fn accepts(&self, link: &Link) -> bool {
        let mut at = *link;
        for _ in 0..SKIP {
            at = hash(&at);
            if at == self.0 {
                return true;
            }
        }
        false
    }

    /// Moves to `link` if it comes after ours; false (and unmoved) if not.
    pub fn advance(&mut self, link: &Link) -> bool {
        let ok = self.accepts(link);
        if ok {
            self.0 = *link;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(proof: &str) -> Link {
        parse_proof(proof).unwrap()
    }

    #[test]
    fn each_hello_proves_the_place_and_a_seen_proof_proves_nothing() {
        let identity = Identity::new();
        let (member, first) = identity.next_proof();
        assert_eq!(member, identity.member());
        let mut anchor = Anchor::new(link(&first));
        let (again, second) = identity.next_proof();
        assert_eq!(again, member, "the same member for the life of the window");
        // Someone who read `first` (or `second`) cannot come up with a
        // link the anchor takes: replaying either is refused.
        assert!(!anchor.accepts(&link(&first)));
        assert!(anchor.advance(&link(&second)));
        assert!(!anchor.advance(&link(&second)), "a link is taken once");
        assert!(!anchor.advance(&link(&first)));
        let (_, third) = identity.next_proof();
        assert!(anchor.advance(&link(&third)));
    }

    #[test]
    fn lost_hellos_may_be_skipped_up_to_the_limit() {
        let identity = Identity::new();
        let (_, first) = identity.next_proof();
        let anchor = Anchor::new(link(&first));
        let proofs: Vec<String> = (0..SKIP + 1).map(|_| identity.next_proof().1).collect();
        assert!(anchor.accepts(&link(&proofs[SKIP as usize - 1])));
        assert!(!anchor.accepts(&link(&proofs[SKIP as usize])));
    }

    #[test]
    fn another_members_chain_or_a_malformed_proof_is_refused() {
        let (_, mine) = Identity::new().next_proof();
        let (_, theirs) = Identity::new().next_proof();
        assert!(!Anchor::new(link(&mine)).accepts(&link(&theirs)));
        assert_eq!(parse_proof("short"), None);
        assert_eq!(parse_proof(&"A".repeat(44)), None);
        assert_eq!(parse_proof(&format!("{}=", "A".repeat(42))), None);
        assert_eq!(mine.len(), 43);
    }

    #[test]
    fn a_spent_chain_continues_as_a_new_member() {
        let identity = Identity::new();
        let member = identity.member();
        identity.lock().used = CHAIN_LENGTH;
        let (renewed, _) = identity.next_proof();
        assert_ne!(renewed, member);
    }
}
