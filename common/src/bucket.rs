//! A token bucket: a burst at once, then a steady rate. What keeps a
//! stranger's probes to a trickle of answers (discovery) and a member's
//! typing changes to a trickle of relays (rooms).

use tokio::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date.
    pub at: Instant,
}

impl Bucket {
    pub fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            at: now,
        }
    }

    /// Adds what `per_sec` earned since the last refill, up to `burst`.
    pub fn refill(&mut self, burst: u32, per_sec: u32, now: Instant) {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + secs * f64::from(per_sec)).min(f64::from(burst));
        self.at = now;
    }

    pub fn has_one(&self) -> bool {
        self.tokens >= 1.0
    }

    pub fn take(&mut self) {
        self.tokens -= 1.0;
    }

    /// When a refill at `per_sec` (a rate above zero) gives it one: the
    /// last refill if it has one. Rounded up, so that a refill then never
    /// falls a rounding error short.
    pub fn next_one(&self, per_sec: u32) -> Instant {
        if self.has_one() {
            return self.at;
        }
        let nanos = ((1.0 - self.tokens) / f64::from(per_sec) * 1e9).ceil();
        // At most a second per token at the slowest rate: no overflow.
        self.at + Duration::from_nanos(nanos as u64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_at_each_step_of_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::full(3, start);
        for _ in 0..3 {
            assert!(bucket.has_one());
            bucket.take();
        }
        assert!(!bucket.has_one());
        let next = bucket.next_one(4);
        assert!(next > start + Duration::from_millis(249));
        assert!(next <= start + Duration::from_millis(251));
        bucket.refill(3, 4, next - Duration::from_millis(2));
        assert!(!bucket.has_one(), "early");
        bucket.refill(3, 4, next);
        assert!(bucket.has_one(), "due");
        // Never more than the burst, however long it waited.
        bucket.refill(3, 4, next + Duration::from_secs(3600));
        for _ in 0..3 {
            bucket.take();
        }
        assert!(!bucket.has_one());
    }
}
