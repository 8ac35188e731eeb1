//! Capped exponential backoff with jitter, for reconnecting to the server.
//!
//! Jitter keeps a fleet of components (or one restarted many times) from hammering a
//! server that just came back at the same instants.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next attempt. `random` is a uniformly random `u64`; it is a
    /// parameter so the sequence can be tested.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let exp = self.attempt.min(20);
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = self.initial.saturating_mul(1u32 << exp).min(self.max);
        // "Equal jitter": half fixed, half random, so the delay never collapses to zero.
        let half = ceiling / 2;
        let spread = half.as_millis().max(1) as u64;
        half + Duration::from_millis(random % spread)
    }

    /// Attempts made since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A random `u64` from the standard library's per-process random hasher keys: good
/// enough for jitter and session salts, and no extra dependency.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stay_under_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let ceilings = [500u64, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
        for ceiling in ceilings {
            // The largest random value gives the top of the range, zero the bottom.
            let mut low = b.clone();
            let d_low = low.next_delay(0);
            let d_high = b.next_delay(u64::MAX);
            assert_eq!(d_low, Duration::from_millis(ceiling / 2));
            assert!(
                d_high < Duration::from_millis(ceiling),
                "{d_high:?} < {ceiling}"
            );
            assert!(d_high >= d_low);
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..5 {
            b.next_delay(7);
        }
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert!(b.next_delay(u64::MAX) < Duration::from_millis(100));
    }

    #[test]
    fn random_values_differ() {
        assert_ne!(random_u64(), random_u64());
    }
}
