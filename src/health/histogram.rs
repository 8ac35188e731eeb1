//! Histograms for the operator's metrics: fixed buckets, counted with atomics, so that
//! the core, the link's runtime and the webhook deliverer each observe without a lock,
//! and `/metrics` reads them at any time.
//!
//! Values are whole units (microseconds for times, events for rates): no float on the
//! path that observes. The buckets are set when the histogram is made and never grow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One histogram: a count per bucket (cumulated when read), the count and the sum.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, in whole units, ascending; a last bucket (`+Inf`) takes the rest.
    bounds: &'static [u64],
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
}

/// A histogram as read: cumulative counts per bound, then `+Inf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub bounds: &'static [u64],
    /// Observations at or under each bound (cumulative), and last, all of them.
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum: u64,
}

/// Seconds, in microseconds: 0.5 ms to 60 s.
pub const SECONDS: &[u64] = &[
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Events in one second: none to 20,000.
pub const PER_SECOND: &[u64] = &[
    0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000,
];

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Seconds, with [`SECONDS`]' buckets.
    pub fn seconds() -> Histogram {
        Histogram::new(SECONDS)
    }

    /// Counts `n` observations of `value`.
    pub fn observe_n(&self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let at = self.bounds.partition_point(|&bound| bound < value);
        if let Some(bucket) = self.buckets.get(at) {
            bucket.fetch_add(n, Ordering::Relaxed);
        }
        self.count.fetch_add(n, Ordering::Relaxed);
        self.sum
            .fetch_add(value.saturating_mul(n), Ordering::Relaxed);
    }

    pub fn observe(&self, value: u64) {
        self.observe_n(value, 1);
    }

    /// Observes a time, in microseconds.
    pub fn observe_time(&self, time: Duration) {
        self.observe(u64::try_from(time.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn read(&self) -> Buckets {
        let mut total = 0u64;
        let cumulative = self
            .buckets
            .iter()
            .map(|bucket| {
                total = total.saturating_add(bucket.load(Ordering::Relaxed));
                total
            })
            .collect();
        Buckets {
            bounds: self.bounds,
            cumulative,
            // The count is the buckets' sum as read, so that `+Inf` and `_count` agree
            // even while another thread observes.
            count: total,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// Presence updates per second, observed once per second of the clock: the seconds
/// without any count as zero.
#[derive(Debug)]
pub struct PerSecond {
    histogram: Histogram,
    /// The second being counted (seconds since the Unix epoch), and its count so far.
    second: AtomicU64,
    current: AtomicU64,
    total: AtomicU64,
}

/// Seconds without updates observed at once after a silence, at most: a clock that
/// jumps ahead by a year must not weigh on the histogram forever.
const MAX_QUIET_SECONDS: u64 = 3_600;

impl PerSecond {
    pub fn new() -> PerSecond {
        PerSecond {
            histogram: Histogram::new(PER_SECOND),
            second: AtomicU64::new(0),
            current: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Counts `n` updates in second `second`, closing the seconds before it. Called by
    /// one thread (the core's).
    pub fn count(&self, second: u64, n: u64) {
        self.close_before(second);
        self.current.fetch_add(n, Ordering::Relaxed);
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Closes the seconds before `second`: the one being counted with its count, the
    /// quiet ones after it with zero.
    pub fn close_before(&self, second: u64) {
        let counting = self.second.load(Ordering::Relaxed);
        if second <= counting {
            return;
        }
        if counting > 0 {
            self.histogram
                .observe(self.current.swap(0, Ordering::Relaxed));
            let quiet = (second - counting - 1).min(MAX_QUIET_SECONDS);
            self.histogram.observe_n(0, quiet);
        } else {
            self.current.store(0, Ordering::Relaxed);
        }
        self.second.store(second, Ordering::Relaxed);
    }

    pub fn read(&self) -> Buckets {
        self.histogram.read()
    }

    /// Updates counted since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

impl Default for PerSecond {
    fn default() -> Self {
        PerSecond::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_value_lands_in_the_first_bucket_it_fits() {
        let h = Histogram::new(&[10, 100]);
        h.observe(10);
        h.observe(11);
        h.observe(1_000);
        let read = h.read();
        assert_eq!(read.cumulative, [1, 2, 3]);
        assert_eq!((read.count, read.sum), (3, 1_021));
    }

    #[test]
    fn quiet_seconds_count_as_zero() {
        let rate = PerSecond::new();
        rate.count(100, 3);
        rate.count(100, 2);
        rate.count(103, 1);
        rate.close_before(104);
        let read = rate.read();
        // 100: 5; 101 and 102: 0; 103: 1.
        assert_eq!(read.count, 4);
        assert_eq!(read.sum, 6);
        assert_eq!(read.cumulative[0], 2, "two quiet seconds under the bound 0");
        assert_eq!(rate.total(), 6);
    }

    proptest! {
        /// Whatever is observed, the buckets read cumulate to the count, never fall,
        /// and the sum is the values' sum.
        #[test]
        fn buckets_cumulate_to_the_count(values in proptest::collection::vec(0u64..100_000_000, 0..200)) {
            let h = Histogram::seconds();
            for v in &values {
                h.observe(*v);
            }
            let read = h.read();
            prop_assert_eq!(read.count, values.len() as u64);
            prop_assert_eq!(read.sum, values.iter().sum::<u64>());
            prop_assert!(read.cumulative.windows(2).all(|w| w[0] <= w[1]));
            prop_assert_eq!(read.cumulative.last().copied(), Some(read.count));
            for (i, bound) in SECONDS.iter().enumerate() {
                let under = values.iter().filter(|v| *v <= bound).count() as u64;
                prop_assert_eq!(read.cumulative[i], under);
            }
        }

        /// The seconds observed are every second from the first counted to the last
        /// closed, and the sum is every update.
        #[test]
        fn every_second_is_observed_once(steps in proptest::collection::vec((0u64..5, 0u64..50), 1..100)) {
            let rate = PerSecond::new();
            let first = 1_000 + steps[0].0;
            let mut second = 1_000u64;
            let mut total = 0;
            for (gap, n) in &steps {
                second += gap;
                rate.count(second, *n);
                total += n;
            }
            rate.close_before(second + 1);
            let read = rate.read();
            prop_assert_eq!(read.count, second + 1 - first);
            prop_assert_eq!(read.sum, total);
        }
    }
}
