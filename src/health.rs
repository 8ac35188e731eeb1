//! What the operator sees of the bridge's health: the link, counters and gauges.
//!
//! The core keeps these up to date; the `stats` command and the logs read them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

/// The state of the link to the server, as the core last heard of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Up { since: SystemTime },
    Down { since: SystemTime },
}

/// Counters for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub stanzas_in: u64,
    pub stanzas_out: u64,
    /// Stanzas that could not be routed or parsed, dropped with a log line.
    pub stanzas_dropped: u64,
    /// Stanzas from the server skipped unread: too large or too deep.
    pub stanzas_skipped: u64,
    /// Stanzas of the bridge's own that were over the size limit: answers are cut to fit,
    /// so only an answer echoing a huge attribute (an IQ's id) gets here.
    pub stanzas_oversized: u64,
    /// Transactions committed, and attempts that failed (each retried later).
    pub storage_writes: u64,
    pub storage_failures: u64,
    /// Requests refused with `resource-constraint`: a cap on waiting requests, or a
    /// requester over its rate.
    pub requests_refused_busy: u64,
    /// Of those, refused because the requester was over its rate.
    pub requests_rate_limited: u64,
    /// Pings sent to confirm resources the server may have ended silently, and the
    /// resources the server said were gone.
    pub presence_checks: u64,
    pub departures_found: u64,
    /// Gauges, as of the last input: rosters being fetched, pings out, requests waiting
    /// for either, command sessions open, IQs awaiting a reply, requesters whose rate is
    /// tracked.
    pub rosters_fetching: usize,
    pub presence_checks_pending: usize,
    pub requests_waiting: usize,
    pub sessions_live: usize,
    pub iqs_pending: usize,
    pub requesters_tracked: usize,
    pub commands_served: u64,
    /// Answers refused because their disclosures could not be recorded.
    pub disclosures_refused: u64,
    /// Successful handshakes; all but the first are reconnections.
    pub links_up: u64,
}

impl Stats {
    pub fn reconnects(&self) -> u64 {
        self.links_up.saturating_sub(1)
    }
}

/// The link's send queue: what waits to be written, per destination in turns, and what
/// the server has not confirmed processing yet (see `transport::fair`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    pub queued_bytes: usize,
    pub queued_stanzas: usize,
    /// Destinations with stanzas waiting.
    pub lanes: usize,
    /// Bytes written that the server has not confirmed processing.
    pub in_flight: usize,
    /// Bytes that may be in flight now.
    pub window: usize,
    /// Markers (pings to the server) sent to learn what it processed.
    pub marks_sent: u64,
    /// Writes made past the window because the queue reached its cap.
    pub overflows: u64,
}

/// The link's send queue as the link last reported it; `stats` reads it.
#[derive(Debug, Default)]
pub struct LinkQueue(std::sync::Mutex<QueueStats>);

impl LinkQueue {
    pub fn set(&self, stats: QueueStats) {
        if let Ok(mut current) = self.0.lock() {
            *current = stats;
        }
    }

    pub fn get(&self) -> QueueStats {
        self.0.lock().map(|s| *s).unwrap_or_default()
    }
}

/// The HTTP front door's counters, kept by the door; `stats` reads them.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Whether the door listens (`[http]` is configured).
    pub listening: AtomicBool,
    /// Connections open now (a gauge), at most `http.max_connections`.
    pub connections_open: AtomicU64,
    /// Connections refused at the cap (answered 503 and closed).
    pub connections_refused: AtomicU64,
    /// Requests read.
    pub requests: AtomicU64,
    /// Answered 2xx, refused 4xx, failed 5xx.
    pub answered: AtomicU64,
    pub refused: AtomicU64,
    pub failed: AtomicU64,
    /// Bodies over `http.max_body_kib` (answered 413).
    pub bodies_too_large: AtomicU64,
    /// Bodies not sent within `http.body_timeout_secs` (answered 408).
    pub slow_bodies: AtomicU64,
    /// Requests waiting for the core's answer now (a gauge), at most one per connection.
    pub waiting: AtomicU64,
    /// News events a webhook took.
    pub webhook_delivered: AtomicU64,
    /// Webhook attempts that failed (each tried again later).
    pub webhook_attempts_failed: AtomicU64,
    /// News events given up after 24 hours of failed attempts.
    pub webhook_given_up: AtomicU64,
    /// News events pruned (older than 7 days, or past 100,000 for one platform).
    pub news_pruned: AtomicU64,
    /// Event streams open now (a gauge).
    pub streams_open: AtomicU64,
    /// Privacy pages opened from their links.
    pub pages_opened: AtomicU64,
    /// Privacy page sessions held now (a gauge), at most 10,000.
    pub pages_held: AtomicU64,
    /// Privacy page links refused: used, expired, unknown, or past the caps.
    pub page_links_refused: AtomicU64,
    /// Changes made on privacy pages.
    pub page_changes: AtomicU64,
}

impl HttpStats {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The bridge's health as the core keeps it.
#[derive(Debug, Clone)]
pub struct Health {
    /// Shared with the link, which keeps it up to date.
    pub link_queue: std::sync::Arc<LinkQueue>,
    /// Shared with the HTTP front door, which keeps it up to date.
    pub http: std::sync::Arc<HttpStats>,
    pub started_at: SystemTime,
    pub link: Link,
    pub stats: Stats,
    pub iq_timeouts: u64,
    /// Since when writes to the database fail (the bridge answers from memory meanwhile).
    pub storage_failing_since: Option<SystemTime>,
}

impl Health {
    pub fn new(now: SystemTime) -> Health {
        Health {
            link_queue: std::sync::Arc::default(),
            http: std::sync::Arc::default(),
            started_at: now,
            link: Link::Down { since: now },
            stats: Stats::default(),
            iq_timeouts: 0,
            storage_failing_since: None,
        }
    }
}
