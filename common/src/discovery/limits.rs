//! Every bound and constant of discovery, in one place: PROTOCOL.md's
//! "Limits and timeouts" table is checked against these.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::token::{MAX_SKEW_SECS, TTL_SECS};

/// The IPv4 multicast group probes are sent to, administratively scoped
/// (239.255.0.0/16, "local scope"): routers do not forward it off the LAN.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 78, 78);
/// The IPv6 link-local multicast group probes are sent to on each interface.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x7878);

/// The longest datagram either side reads, in bytes: longer ones are ignored
/// whole. Under 1,232 (IPv6's minimum MTU less its headers), so a probe is
/// never fragmented.
pub const DATAGRAM_MAX: usize = 1200;
/// The length the client pads a probe's plaintext to, in bytes: long
/// enough that the largest answer (see [`ANSWER_PLAINTEXT_MAX`]) is no
/// longer than the probe, since a server never answers with more than it
/// was sent.
pub const PROBE_PLAINTEXT: usize = 576;
/// The longest answer plaintext this code builds: a 32-character name of
/// 4-byte characters and [`ADDRS_MAX`] IPv6 addresses.
pub const ANSWER_PLAINTEXT_MAX: usize = 554;
/// Addresses an answer announces at most (the client reads no more).
pub const ADDRS_MAX: usize = 8;

/// Answers a server sends per second, in all...
pub const ANSWERS_PER_SEC: u32 = 16;
/// ...after a burst of this many.
pub const ANSWER_BURST: u32 = 32;
/// Answers a server sends per second to one source address...
pub const SOURCE_ANSWERS_PER_SEC: u32 = 4;
/// ...after a burst of this many.
pub const SOURCE_BURST: u32 = 8;
/// Source addresses whose rate the server keeps track of; the one heard
/// from least recently gives its place up.
pub const SOURCES_MAX: usize = 256;
/// Nonces of answered probes the server remembers, each until its token
/// expires, so a replayed probe is not answered again. When it is full the
/// server answers nothing new (it cannot be, at the rates above).
pub const NONCES_MAX: usize = 8192;

/// Servers one search reports at most.
pub const FOUND_MAX: usize = 64;
/// Nonces of a search's own probes whose answers it still accepts (the
/// newest).
pub const PENDING_MAX: usize = 256;
/// When a search probes, from its start; after the last, every
/// [`PROBE_EVERY`].
pub const PROBE_ROUNDS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(300),
    Duration::from_secs(1),
    Duration::from_millis(2500),
];
/// The interval between later probe rounds.
pub const PROBE_EVERY: Duration = Duration::from_secs(3);
/// How often the server looks for interfaces that came up, to join the
/// multicast groups on them.
pub const REJOIN_EVERY: Duration = Duration::from_secs(5);
/// How long a reconnecting client waits for a probe's answer after its
/// dial to the old address failed.
pub const ROAM_WAIT: Duration = Duration::from_secs(2);

// A token may be answered while it is no older than the TTL and no more
// than the skew ahead: its nonce is remembered that long at most, and at the
// rates above no more nonces than NONCES_MAX can be answered in that time.
const _: () = assert!(
    (ANSWER_BURST as u64) + (ANSWERS_PER_SEC as u64) * (TTL_SECS + MAX_SKEW_SECS)
        <= NONCES_MAX as u64
);
const _: () = assert!(ANSWER_PLAINTEXT_MAX <= PROBE_PLAINTEXT);
