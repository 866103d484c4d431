//! How often a member's typing state reaches the others and the server's
//! window ([`TYPING_BURST`] at once, then [`TYPING_PER_SEC`]): a member
//! flipping it as fast as it can write would otherwise have the server
//! seal a frame for every other member per flip. A change that must wait
//! is held, and a newer one replaces it, so the others always end up
//! with the member's latest state.

use tokio::time::Instant;

use super::limits::{TYPING_BURST, TYPING_PER_SEC};
use crate::bucket::Bucket;

#[derive(Debug, Default)]
pub(crate) struct TypingPace {
    /// Full until the first change.
    bucket: Option<Bucket>,
    /// What the others were last told.
    relayed: bool,
    /// A change waiting for the rate.
    held: Option<bool>,
}

impl TypingPace {
    /// The member said it is (`active`) or is not typing: the state to
    /// relay now, if any. One the others already have is not relayed.
    pub fn offer(&mut self, active: bool, now: Instant) -> Option<bool> {
        self.held = (active != self.relayed).then_some(active);
        self.due(now)
    }

    /// The held change, if the rate lets it go at `now`.
    pub fn due(&mut self, now: Instant) -> Option<bool> {
        let active = self.held?;
        let bucket = self
            .bucket
            .get_or_insert_with(|| Bucket::full(TYPING_BURST, now));
        bucket.refill(TYPING_BURST, TYPING_PER_SEC, now);
        if !bucket.has_one() {
            return None;
        }
        bucket.take();
        self.held = None;
        self.relayed = active;
        Some(active)
    }

    /// When the held change may go.
    pub fn next(&self) -> Option<Instant> {
        self.held?;
        Some(self.bucket?.next_one(TYPING_PER_SEC))
    }

    /// The member left: the others stop showing it typing, and nothing
    /// held is sent. The rate carries over to its next connection.
    pub fn left(&mut self) {
        self.relayed = false;
        self.held = None;
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Duration;

    use super::*;

    /// Flips `n` times from `active`, all at `now`: what went at once.
    fn flips(pace: &mut TypingPace, n: u32, now: Instant) -> Vec<bool> {
        (0..n).filter_map(|i| pace.offer(i % 2 == 0, now)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_goes_as_its_burst_then_its_latest_state_at_the_rate() {
        let start = Instant::now();
        let mut pace = TypingPace::default();
        let sent = flips(&mut pace, 1001, start);
        assert_eq!(sent.len(), TYPING_BURST as usize);
        // The last flip was `true`: held for the next step of the rate.
        let next = pace.next().expect("a change is held");
        assert!(next > start);
        assert!(next <= start + Duration::from_secs(1) / TYPING_PER_SEC + Duration::from_millis(1));
        assert_eq!(pace.due(next - Duration::from_millis(1)), None);
        assert_eq!(pace.due(next), Some(true));
        assert_eq!(pace.next(), None);
        // Back to what the others have: nothing to relay, nothing held.
        assert_eq!(pace.offer(true, next), None);
        assert_eq!(pace.next(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_back_before_the_held_one_went_is_not_relayed() {
        let start = Instant::now();
        let mut pace = TypingPace::default();
        flips(&mut pace, TYPING_BURST, start);
        // Eight flips from `true` end where they began: not typing.
        assert_eq!(pace.offer(true, start), None);
        assert!(pace.next().is_some());
        assert_eq!(pace.offer(false, start), None);
        assert_eq!(pace.next(), None, "the others already have it");
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_drops_the_held_change_and_the_next_start_is_relayed() {
        let start = Instant::now();
        let mut pace = TypingPace::default();
        flips(&mut pace, TYPING_BURST + 1, start);
        assert!(pace.next().is_some());
        pace.left();
        assert_eq!(pace.next(), None);
        let later = start + Duration::from_secs(10);
        assert_eq!(pace.offer(true, later), Some(true));
    }
}
