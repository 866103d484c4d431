//! The server's memory of what it answered: nonces (so a replayed probe is
//! not answered twice) and answer rates (in all and per source address), so
//! nobody can make it send more than a trickle. Everything here is bounded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use tokio::time::Instant;

use super::limits::{
    ANSWER_BURST, ANSWERS_PER_SEC, NONCES_MAX, SOURCE_ANSWERS_PER_SEC, SOURCE_BURST, SOURCES_MAX,
};
use crate::bucket::Bucket;
use crate::token::TTL_SECS;

/// What to do with a probe that decrypted and is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Answer,
    /// Its nonce was answered before and its token has not expired.
    Replayed,
    /// Over the rate, for its source or in all.
    TooFast,
    /// The nonce memory is full of tokens that have not expired (only a
    /// clock jump can do that): answering could answer a replay later.
    Full,
}

#[derive(Debug)]
pub(crate) struct Gate {
    answered: HashSet<u128>,
    /// The same nonces, with the time (Unix seconds) their token expires,
    /// in the order they were answered.
    expiry: VecDeque<(u128, u64)>,
    all: Bucket,
    sources: HashMap<IpAddr, Bucket>,
}

impl Gate {
    pub fn new(now: Instant) -> Gate {
        Gate {
            answered: HashSet::new(),
            expiry: VecDeque::new(),
            all: Bucket::full(ANSWER_BURST, now),
            sources: HashMap::new(),
        }
    }

    /// Decides on a probe with nonce `id` whose token is stamped `ts`, from
    /// `ip`; `Answer` takes its share of the rates and remembers the nonce.
    pub fn admit(&mut self, id: u128, ts: u64, ip: IpAddr, now_secs: u64, now: Instant) -> Verdict {
        while let Some(&(old, expires)) = self.expiry.front() {
            if expires >= now_secs {
                break;
            }
            self.expiry.pop_front();
            self.answered.remove(&old);
        }
        if self.answered.contains(&id) {
            return Verdict::Replayed;
        }
        if self.answered.len() >= NONCES_MAX {
            return Verdict::Full;
        }
        self.all.refill(ANSWER_BURST, ANSWERS_PER_SEC, now);
        if !self.sources.contains_key(&ip) && self.sources.len() >= SOURCES_MAX {
            let stalest = self
                .sources
                .iter()
                .min_by_key(|(_, b)| b.at)
                .map(|(ip, _)| *ip);
            if let Some(stalest) = stalest {
                self.sources.remove(&stalest);
            }
        }
        let source = self
            .sources
            .entry(ip)
            .or_insert_with(|| Bucket::full(SOURCE_BURST, now));
        source.refill(SOURCE_BURST, SOURCE_ANSWERS_PER_SEC, now);
        if !source.has_one() || !self.all.has_one() {
            return Verdict::TooFast;
        }
        source.take();
        self.all.take();
        self.answered.insert(id);
        self.expiry.push_back((id, ts.saturating_add(TTL_SECS)));
        Verdict::Answer
    }

    /// Source addresses tracked (for tests of the bound).
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[tokio::test(start_paused = true)]
    async fn a_nonce_is_answered_once_until_its_token_expires() {
        let mut gate = Gate::new(Instant::now());
        assert_eq!(
            gate.admit(7, NOW, ip(1), NOW, Instant::now()),
            Verdict::Answer
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        let later = NOW + TTL_SECS;
        assert_eq!(
            gate.admit(7, NOW, ip(2), later, Instant::now()),
            Verdict::Replayed
        );
        // Expired: the token itself would be refused as stale now, so the
        // nonce is forgotten.
        assert_eq!(
            gate.admit(8, NOW + 400, ip(2), later + 1, Instant::now()),
            Verdict::Answer
        );
        assert_eq!(gate.answered.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_source_gets_its_burst_then_its_rate() {
        let mut gate = Gate::new(Instant::now());
        let mut id = 0;
        let mut admit = |gate: &mut Gate| {
            id += 1;
            gate.admit(id, NOW, ip(1), NOW, Instant::now())
        };
        let burst: Vec<_> = (0..SOURCE_BURST + 5).map(|_| admit(&mut gate)).collect();
        let answered = burst.iter().filter(|v| **v == Verdict::Answer).count();
        assert_eq!(answered, SOURCE_BURST as usize);
        assert_eq!(burst.last(), Some(&Verdict::TooFast));
        // One second later, the rate's worth more.
        tokio::time::advance(Duration::from_secs(1)).await;
        let next: Vec<_> = (0..SOURCE_ANSWERS_PER_SEC + 3)
            .map(|_| admit(&mut gate))
            .collect();
        let answered = next.iter().filter(|v| **v == Verdict::Answer).count();
        assert_eq!(answered, SOURCE_ANSWERS_PER_SEC as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn many_sources_share_the_global_rate_and_a_bounded_table() {
        let mut gate = Gate::new(Instant::now());
        let mut answered = 0;
        for n in 0..(SOURCES_MAX as u32 * 4) {
            if gate.admit(u128::from(n), NOW, ip(n), NOW, Instant::now()) == Verdict::Answer {
                answered += 1;
            }
        }
        assert_eq!(answered, ANSWER_BURST);
        assert_eq!(gate.sources(), SOURCES_MAX);
        // Ten seconds at the global rate, from ever new sources.
        let mut answered = 0;
        for step in 0..100u32 {
            tokio::time::advance(Duration::from_millis(100)).await;
            for n in 0..10 {
                let k = 10_000 + step * 10 + n;
                if gate.admit(u128::from(k), NOW, ip(k), NOW, Instant::now()) == Verdict::Answer {
                    answered += 1;
                }
            }
        }
        assert!(answered <= ANSWERS_PER_SEC * 10 + 1, "{answered}");
        assert!(answered >= ANSWERS_PER_SEC * 10 - 1, "{answered}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_memory_answers_nothing_new() {
        let mut gate = Gate::new(Instant::now());
        for id in 0..NONCES_MAX as u128 {
            gate.answered.insert(id);
            gate.expiry.push_back((id, NOW + TTL_SECS));
        }
        assert_eq!(
            gate.admit(u128::MAX, NOW, ip(1), NOW, Instant::now()),
            Verdict::Full
        );
    }
}
