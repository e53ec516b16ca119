//! Token buckets for the per-connection rate limits.

use tokio::time::Instant;

/// A rate: `per_second` tokens flow in, at most `burst` are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained rate, per second.
    pub per_second: u32,
    /// The most that may be spent at once.
    pub burst: u32,
}

impl Rate {
    /// `per_second` sustained, `burst` at once.
    pub const fn new(per_second: u32, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

/// A token bucket; `None` rate means unlimited.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: Option<Rate>,
    /// Tokens, in millionths, to keep fractional refills exact.
    micro_tokens: u64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: Option<Rate>, now: Instant) -> Self {
        let micro_tokens = rate.map_or(0, |r| u64::from(r.burst) * 1_000_000);
        Self {
            rate,
            micro_tokens,
            last: now,
        }
    }

    /// Takes one token; `false` when the bucket is empty (the limit is exceeded).
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        let refill = elapsed
            .as_micros()
            .saturating_mul(u128::from(rate.per_second));
        let cap = u64::from(rate.burst) * 1_000_000;
        let refilled = u128::from(self.micro_tokens).saturating_add(refill);
        self.micro_tokens = u64::try_from(refilled.min(u128::from(cap))).unwrap_or(cap);
        if self.micro_tokens >= 1_000_000 {
            self.micro_tokens -= 1_000_000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_refill() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(Some(Rate::new(10, 3)), start);
        assert!(bucket.take(start));
        assert!(bucket.take(start));
        assert!(bucket.take(start));
        assert!(!bucket.take(start));
        let later = start + Duration::from_millis(100);
        assert!(bucket.take(later));
        assert!(!bucket.take(later));
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.take(much_later));
        }
        assert!(!bucket.take(much_later));
    }

    #[test]
    fn unlimited() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(None, now);
        assert!((0..10_000).all(|_| bucket.take(now)));
    }
}
