//! What the operator sees of the bridge's health: the link, counters and gauges.
//!
//! The core keeps these up to date; the `stats` command, `/metrics` and the logs read
//! them.

pub mod histogram;

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
    /// With PostgreSQL: jobs sent to the storage worker; requests refused because
    /// [`crate::core::storage::MAX_IN_FLIGHT`] jobs were out; and (a gauge) jobs out.
    pub storage_jobs_sent: u64,
    pub storage_jobs_refused: u64,
    pub storage_jobs_waiting: usize,
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

/// What the link reports: its send queue as it last reported it, and whether the server
/// routes the component's stanzas to it alone (see `transport::route`). `stats` and the
/// readiness read it.
#[derive(Debug, Default)]
pub struct LinkReport {
    queue: std::sync::Mutex<QueueStats>,
    /// The server sends part of the component's stanzas to another connection.
    pub route_shared: AtomicBool,
    /// Route pings sent, and those of them that went to another connection.
    pub route_probes: AtomicU64,
    pub route_probes_lost: AtomicU64,
    /// Route pings of another live connection of the component, heard.
    pub route_foreign: AtomicU64,
    /// Links made again once the route was this link's alone again.
    pub route_relinks: AtomicU64,
}

impl LinkReport {
    pub fn set(&self, stats: QueueStats) {
        if let Ok(mut current) = self.queue.lock() {
            *current = stats;
        }
    }

    pub fn get(&self) -> QueueStats {
        self.queue.lock().map(|s| *s).unwrap_or_default()
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
    /// Whether the operator's listener (`[metrics]`) listens.
    pub ops_listening: AtomicBool,
    /// Requests to it, and connections refused at its cap.
    pub ops_requests: AtomicU64,
    pub ops_connections_refused: AtomicU64,
}

impl HttpStats {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// One figure of `stats`, as `stats` lists it and `/metrics` exports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Its name in `stats` (`stanzas-in`); `/metrics` names it from this.
    pub var: &'static str,
    /// What it is, for people.
    pub label: &'static str,
    pub value: Value,
}

/// A figure's value, and so how `/metrics` exports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Counted since start; never falls.
    Count(u64),
    /// As of now.
    Gauge(u64),
    /// Words (a state, a version), exported only where `/metrics` knows its meaning.
    Text(String),
}

/// What the core says of itself when asked from outside (by `/metrics`, `/readyz` and
/// the service manager's watchdog): its figures, and why it is not ready, if it is not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub readings: Vec<Reading>,
    /// One sentence per reason the bridge cannot serve now, saying what to check;
    /// empty when it is ready.
    pub unready: Vec<String>,
}

/// What the core is asked for its [`Snapshot`] with: called once, on the core's thread.
pub struct Look(Box<dyn FnOnce(Snapshot) + Send>);

impl Look {
    pub fn new(answer: impl FnOnce(Snapshot) + Send + 'static) -> Look {
        Look(Box::new(answer))
    }

    pub fn answer(self, snapshot: Snapshot) {
        (self.0)(snapshot)
    }
}

impl std::fmt::Debug for Look {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Look")
    }
}

/// Why the bridge waited for the server, as `/metrics` labels the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Roster,
    Ping,
    Version,
    Disco,
    Privileged,
}

impl Wait {
    pub const ALL: [Wait; 5] = [
        Wait::Roster,
        Wait::Ping,
        Wait::Version,
        Wait::Disco,
        Wait::Privileged,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Wait::Roster => "roster",
            Wait::Ping => "ping",
            Wait::Version => "version",
            Wait::Disco => "disco",
            Wait::Privileged => "privileged",
        }
    }
}

/// An answer's front door, node and outcome: the labels of its latency. Each is one of
/// the bridge's own names, never one that a request chose.
pub type AnswerKey = (&'static str, &'static str, &'static str);

/// The histograms `/metrics` exports, shared by whoever observes: the core's driver
/// (answers), the core (waits for the server, presence), the webhook deliverer.
#[derive(Debug)]
pub struct Histograms {
    /// Answer latency by door, node and outcome: from the request's arrival at the core
    /// to its answer handed to the door. At most doors × nodes × 2 entries, all names the
    /// bridge's own.
    answers: std::sync::Mutex<std::collections::BTreeMap<AnswerKey, histogram::Histogram>>,
    /// Time from an IQ sent to the server to its reply, by [`Wait`].
    server_waits: [histogram::Histogram; 5],
    /// Presence updates from the server per second.
    pub presence: histogram::PerSecond,
    /// Webhook attempts' time, those delivered and those failed.
    pub webhook_delivered: histogram::Histogram,
    pub webhook_failed: histogram::Histogram,
}

impl Default for Histograms {
    fn default() -> Self {
        Histograms {
            answers: std::sync::Mutex::default(),
            server_waits: std::array::from_fn(|_| histogram::Histogram::seconds()),
            presence: histogram::PerSecond::new(),
            webhook_delivered: histogram::Histogram::seconds(),
            webhook_failed: histogram::Histogram::seconds(),
        }
    }
}

impl Histograms {
    /// Observes the latencies of answers: `(key, latency)` each.
    pub fn answered(&self, answers: impl IntoIterator<Item = (AnswerKey, std::time::Duration)>) {
        let Ok(mut map) = self.answers.lock() else {
            return;
        };
        for (key, latency) in answers {
            map.entry(key)
                .or_insert_with(histogram::Histogram::seconds)
                .observe_time(latency);
        }
    }

    /// The answers' histograms as read, by key, in order.
    pub fn answers(&self) -> Vec<(AnswerKey, histogram::Buckets)> {
        self.answers
            .lock()
            .map(|map| map.iter().map(|(k, h)| (*k, h.read())).collect())
            .unwrap_or_default()
    }

    pub fn server_wait(&self, wait: Wait) -> &histogram::Histogram {
        &self.server_waits[wait as usize]
    }
}

/// The bridge's health as the core keeps it.
#[derive(Debug, Clone)]
pub struct Health {
    /// Shared with the link, which keeps it up to date.
    pub link_report: std::sync::Arc<LinkReport>,
    /// Shared with the HTTP front door, which keeps it up to date.
    pub http: std::sync::Arc<HttpStats>,
    /// Shared with whoever observes them, and with `/metrics`.
    pub histograms: std::sync::Arc<Histograms>,
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
            link_report: std::sync::Arc::default(),
            http: std::sync::Arc::default(),
            histograms: std::sync::Arc::default(),
            started_at: now,
            link: Link::Down { since: now },
            stats: Stats::default(),
            iq_timeouts: 0,
            storage_failing_since: None,
        }
    }
}

/// Whether this bridge serves or waits for the lease, as the operator's listener tells.
#[derive(Debug, Default)]
pub struct Role {
    /// 0 starting, 1 standby, 2 leader.
    state: std::sync::atomic::AtomicU8,
    /// Who holds the lease, as the standby last saw.
    holder: std::sync::Mutex<String>,
}

impl Role {
    pub fn standby(&self, holder: &str) {
        self.state.store(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut held) = self.holder.lock() {
            holder.clone_into(&mut held);
        }
    }

    pub fn leader(&self) {
        self.state.store(2, std::sync::atomic::Ordering::Relaxed);
    }

    /// `Some(holder)` while this bridge waits as a standby (`Some("")` while it starts).
    pub fn waiting_for(&self) -> Option<String> {
        match self.state.load(std::sync::atomic::Ordering::Relaxed) {
            2 => None,
            0 => Some(String::new()),
            _ => Some(self.holder.lock().map(|h| h.clone()).unwrap_or_default()),
        }
    }
}
