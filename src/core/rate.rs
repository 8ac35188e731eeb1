//! Request rates per requester: a token bucket per bare JID, so that one sender flooding
//! the bridge with requests is refused (`resource-constraint`) while everyone else is
//! still served.
//!
//! Platforms get a high rate (they ask for many players); anyone else (users' chat
//! clients, whose requests are a person's clicks) a low one. The buckets are bounded: at
//! [`MAX_TRACKED`] requesters, those whose bucket is full again (idle) are forgotten, and
//! if that frees too little, every bucket starts afresh, which costs a flooder nothing
//! it did not have and keeps memory and time per request bounded.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// Requesters whose buckets are kept at once.
pub const MAX_TRACKED: usize = 10_000;

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    /// `per_sec` sustained, with a burst of two seconds' worth (at least 10).
    pub fn per_sec(per_sec: u32) -> Rate {
        let per_sec = f64::from(per_sec.max(1));
        Rate {
            per_sec,
            burst: (per_sec * 2.0).max(10.0),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: SystemTime,
    /// When this requester was last refused with an explanation.
    explained: Option<SystemTime>,
}

/// A request over its requester's rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refused {
    /// Until the requester may send one more.
    pub wait: Duration,
    /// Whether to say so in words: the first refusal in a second is explained; the others
    /// are as short as XMPP allows, since a flooder's refusals cost every other requester
    /// the time the server takes to carry them.
    pub explain: bool,
}

/// One explained refusal per requester per this interval.
const EXPLAIN_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct RateLimits {
    platform: Rate,
    other: Rate,
    buckets: HashMap<String, Bucket>,
    /// Times every bucket was dropped at once because too many requesters were active.
    pub resets: u64,
}

impl RateLimits {
    /// The operator changed `[limits]` (a reload): the new rates apply from the next
    /// request; buckets keep what they hold.
    pub fn set_rates(&mut self, platform: Rate, other: Rate) {
        self.platform = platform;
        self.other = other;
    }

    pub fn new(platform: Rate, other: Rate) -> RateLimits {
        RateLimits {
            platform,
            other,
            buckets: HashMap::new(),
            resets: 0,
        }
    }

    /// Whether `requester` (a bare JID) may have one more request answered now.
    pub fn allow(&mut self, requester: &str, is_platform: bool, now: SystemTime) -> bool {
        self.check(requester, is_platform, now).is_ok()
    }

    /// Takes a token for one more request of `requester` (a bare JID), or says how long
    /// until it may send one, and whether to explain.
    pub fn check(
        &mut self,
        requester: &str,
        is_platform: bool,
        now: SystemTime,
    ) -> Result<(), Refused> {
        let rate = if is_platform {
            self.platform
        } else {
            self.other
        };
        if !self.buckets.contains_key(requester) && self.buckets.len() >= MAX_TRACKED {
            self.make_room(now);
        }
        let bucket = self.buckets.entry(requester.to_owned()).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
            explained: None,
        });
        let elapsed = now
            .duration_since(bucket.at)
            .map_or(0.0, |d| d.as_secs_f64());
        bucket.tokens = (bucket.tokens + elapsed * rate.per_sec).min(rate.burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let explain = bucket
            .explained
            .is_none_or(|at| now.duration_since(at).is_ok_and(|d| d >= EXPLAIN_EVERY));
        if explain {
            bucket.explained = Some(now);
        }
        Err(Refused {
            wait: Duration::from_secs_f64((1.0 - bucket.tokens) / rate.per_sec),
            explain,
        })
    }

    /// The sustained rate of a requester of this kind, per second.
    pub fn per_sec(&self, is_platform: bool) -> f64 {
        if is_platform {
            self.platform.per_sec
        } else {
            self.other.per_sec
        }
    }

    fn make_room(&mut self, now: SystemTime) {
        let (platform, other) = (self.platform, self.other);
        // A bucket that would be full by now is the same as none.
        self.buckets.retain(|_, b| {
            let elapsed = now.duration_since(b.at).map_or(0.0, |d| d.as_secs_f64());
            let slowest = platform.per_sec.min(other.per_sec);
            b.tokens + elapsed * slowest < platform.burst.min(other.burst)
        });
        if self.buckets.len() > MAX_TRACKED * 9 / 10 {
            self.buckets.clear();
            self.resets += 1;
        }
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + millis)
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let mut limits = RateLimits::new(Rate::per_sec(100), Rate::per_sec(5));
        let allowed = (0..20).filter(|_| limits.allow("u@x", false, t(0))).count();
        assert_eq!(allowed, 10, "the burst");
        // One second later, five more.
        let allowed = (0..20)
            .filter(|_| limits.allow("u@x", false, t(1_000)))
            .count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn one_flooder_does_not_cost_another_requester_anything() {
        let mut limits = RateLimits::new(Rate::per_sec(100), Rate::per_sec(5));
        for _ in 0..10_000 {
            limits.allow("flood@x", true, t(0));
        }
        assert!(!limits.allow("flood@x", true, t(0)));
        let refused = limits.check("flood@x", true, t(0)).unwrap_err();
        assert!(
            refused.wait > Duration::ZERO && refused.wait <= Duration::from_secs(1),
            "{refused:?}"
        );
        assert!(limits.allow("arcade@x", true, t(0)));
        assert!(limits.allow("alice@x", false, t(0)));
    }

    #[test]
    fn one_refusal_a_second_is_explained() {
        let mut limits = RateLimits::new(Rate::per_sec(5), Rate::per_sec(5));
        let explained = |limits: &mut RateLimits, at| {
            (0..50)
                .filter_map(|_| limits.check("flood@x", true, t(at)).err())
                .filter(|r| r.explain)
                .count()
        };
        assert_eq!(explained(&mut limits, 0), 1);
        assert_eq!(explained(&mut limits, 500), 0);
        assert_eq!(explained(&mut limits, 1_000), 1);
        // Another requester's first refusal is explained too.
        assert_eq!(
            explained(&mut limits, 1_000) + explained_other(&mut limits),
            1
        );
    }

    fn explained_other(limits: &mut RateLimits) -> usize {
        (0..50)
            .filter_map(|_| limits.check("other@x", true, t(1_000)).err())
            .filter(|r| r.explain)
            .count()
    }

    #[test]
    fn the_buckets_stay_bounded() {
        let mut limits = RateLimits::new(Rate::per_sec(100), Rate::per_sec(5));
        for i in 0..(3 * MAX_TRACKED) {
            limits.allow(&format!("u{i}@x"), false, t(i as u64));
        }
        assert!(limits.tracked() <= MAX_TRACKED);
    }
}
