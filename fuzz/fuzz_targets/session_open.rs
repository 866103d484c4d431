//! A session's frame handling (decrypt, JSON, sid/dir/seq and age checks) fed
//! arbitrary input: no panic, whatever arrives. Random bytes almost never
//! pass the HMAC, so most inputs are sealed with the session's key first:
//! that is what reaches the JSON and the checks, as from a peer that holds
//! the key but is broken or hostile.
#![no_main]

use common::Key;
use common::clock::Clock;
use common::handshake;
use common::payload::PROTO_MAX;
use common::session::{Role, Session};
use common::token;
use libfuzzer_sys::fuzz_target;

const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const SID: &str = "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = Key::parse(KEY).expect("a valid key");
    const NOW_MS: u64 = 1_800_000_000_000;
    let clock = Clock::from_fn(|| NOW_MS);
    let role = if mode & 1 == 0 { Role::Server } else { Role::Client };
    // Protocol 2, so batches are fuzzed too.
    let mut session =
        Session::new(key.clone(), clock.clone(), SID.into(), role, 0).speaking(PROTO_MAX);
    // Several frames per input, split at NUL, so seq handling is exercised.
    for part in rest.split(|&b| b == 0) {
        let line = if mode & 2 == 0 {
            String::from_utf8_lossy(part).into_owned()
        } else {
            // Sealed at a time chosen by the input, -600 s to +660 s away:
            // expired, current or from the future.
            let shift_ms = (i64::from(mode >> 2) * 20 - 600) * 1000;
            let at = Clock::from_fn(move || NOW_MS.saturating_add_signed(shift_ms));
            token::seal(&key, &at, part)
        };
        let _ = handshake::open_hello(&key, &clock, &line);
        let nonce = "AAAAAAAAAAAAAAAAAAAAAA";
        let _ = handshake::open_welcome(&key, &clock, &line, nonce, PROTO_MAX);
        if session.open(&line).is_err() {
            return;
        }
    }
});
