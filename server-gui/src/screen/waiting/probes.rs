//! Who looked for this server: discovery probes under our key that were
//! answered. A client probes again every so often while it searches, so
//! each address is told at most once per [`TELL_EVERY_MS`], and only the
//! latest [`KEPT`] addresses are remembered (a key holder can send probes
//! from many addresses; the memory and the lines shown stay bounded).

use std::collections::VecDeque;
use std::net::IpAddr;

use common::ui::entry::clock_time;

/// An address is told again after this long (Unix ms).
pub const TELL_EVERY_MS: u64 = 60_000;
/// How many addresses are remembered for coalescing.
pub const KEPT: usize = 32;
/// How many the waiting screen lists (the latest).
pub const SHOWN: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ip: IpAddr,
    /// Unix ms of the latest probe answered.
    last: u64,
    /// Unix ms of when it was last told.
    told: u64,
}

/// The addresses that looked for this server, the latest last.
#[derive(Debug, Default)]
pub struct Probes {
    seen: VecDeque<Seen>,
}

impl Probes {
    /// Notes a probe from `ip` answered at `now` (Unix ms); the line to
    /// tell, if this address was not told within `TELL_EVERY_MS`.
    pub fn answered(&mut self, ip: IpAddr, now: u64) -> Option<String> {
        let told = match self.seen.iter().position(|s| s.ip == ip) {
            Some(i) => self.seen.remove(i).map(|s| s.told),
            None => None,
        };
        let tell = told.is_none_or(|told| now.saturating_sub(told) >= TELL_EVERY_MS);
        if self.seen.len() == KEPT {
            self.seen.pop_front();
        }
        self.seen.push_back(Seen {
            ip,
            last: now,
            told: if tell { now } else { told.unwrap_or(now) },
        });
        tell.then(|| format!("{ip} looked for this server"))
    }

    /// The latest `SHOWN` addresses: "192.168.1.7 looked for this server
    /// at 14:02", newest first.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.seen
            .iter()
            .rev()
            .take(SHOWN)
            .map(|s| format!("{} looked for this server at {}", s.ip, clock_time(s.last)))
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 168, 1, last])
    }

    #[test]
    fn an_address_is_told_once_a_minute() {
        let mut probes = Probes::default();
        let told = "192.168.1.7 looked for this server";
        assert_eq!(probes.answered(ip(7), 1_000).as_deref(), Some(told));
        assert_eq!(probes.answered(ip(7), 2_000), None);
        assert_eq!(probes.answered(ip(7), 1_000 + TELL_EVERY_MS - 1), None);
        assert_eq!(
            probes.answered(ip(7), 1_000 + TELL_EVERY_MS).as_deref(),
            Some(told)
        );
        // Another address is told at once.
        assert!(probes.answered(ip(8), 1_000 + TELL_EVERY_MS).is_some());
    }

    #[test]
    fn memory_and_lines_are_bounded_newest_first() {
        let mut probes = Probes::default();
        for n in 0..200u8 {
            assert!(probes.answered(ip(n), 1).is_some());
        }
        assert_eq!(probes.seen.len(), KEPT);
        let at = clock_time(1);
        let lines: Vec<_> = probes.lines().collect();
        assert_eq!(
            lines,
            [199, 198, 197].map(|n| format!("192.168.1.{n} looked for this server at {at}"))
        );
    }
}
