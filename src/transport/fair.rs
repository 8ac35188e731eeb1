//! Sending fairly by requester, with little left in the server's buffers.
//!
//! The server reads the component's stream in order: what the link has handed to the
//! socket, the server's later stanzas wait behind. So a platform whose flood of
//! requests gave the bridge a backlog of answers (or refusals) would delay every other
//! platform's answers by as long as the server takes to carry that backlog. Two things
//! keep it from doing so:
//!
//! - **Turns.** The core's stanzas wait here in one queue per destination (the bare JID
//!   a stanza is addressed to: for an answer, its requester), and leave in turns, one
//!   stanza of each waiting destination per round. A new requester's answer goes out in
//!   the next round, however long another's queue.
//! - **A window.** The link writes only as much as the server will process soon. After
//!   writing it appends a marker, an XEP-0199 ping to the server, which the server
//!   answers once it has processed everything written before it; bytes written and not
//!   yet behind an answered marker are *in flight*, at most [`Pacer::window`] of them.
//!   The window adapts to the server, delay-based (as TCP Vegas): the time a marker took
//!   beyond the fastest one lately is the server's queue; while that stays under
//!   [`TARGET_QUEUE`] the window grows, past it the window shrinks. So a fast server gets
//!   a large window and a busy one a small one, and a later stanza waits behind at most
//!   about [`TARGET_QUEUE`] of the server's work.
//!
//! Markers are sent while stanzas wait, and otherwise once per [`IDLE_MARK`] bytes, to
//! learn whether the server keeps up: while it does, what waits leaves at once if it fits
//! in the window, so a link used one request at a time waits for no marker and carries
//! one per dozen answers or so. Bounded: at [`QUEUE_CAP`] bytes
//! waiting, the window is set aside and everything is written, as TCP allows, so the core
//! never waits on markers, and the link never waits on a core that waits on it.
//!
//! Sans-IO: the link feeds it batches and marker answers with the time, and writes what
//! it hands back.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use hashbrown::HashMap;

pub use crate::health::QueueStats;
use crate::wire::Stanzas;

/// Ids of markers start with this; their answers stay in the link.
pub const MARK_PREFIX: &str = "flow-";

/// The server's queue the window aims at.
pub const TARGET_QUEUE: Duration = Duration::from_millis(2);
/// What a stanza costs the server beyond its bytes, counted as bytes: a server's work
/// per stanza is mostly per element (Prosody: an empty answer costs it about as much as
/// 700 bytes more of a data form), so a window of small stanzas (refusals) holds fewer.
pub const STANZA_COST: usize = 768;
/// Window bounds, in bytes (and [`STANZA_COST`] per stanza). At least one stanza is
/// always in flight, whatever its size.
pub const MIN_WINDOW: usize = 2 * 1024;
pub const MAX_WINDOW: usize = 1024 * 1024;
pub const INITIAL_WINDOW: usize = 16 * 1024;
/// Below this window, one marker per write: more would cost the server more than the
/// round trip they save.
const PIPELINED_WINDOW: usize = 32 * 1024;
/// With nothing waiting, a marker after this much in flight, to learn whether the
/// server keeps up (each costs the server about what an empty answer does).
pub const IDLE_MARK: usize = 32 * 1024;
/// Bytes waiting, at most, before the window is set aside.
pub const QUEUE_CAP: usize = 16 * 1024 * 1024;
/// The baseline (the fastest marker) is renewed once per this period, from the period
/// before (a server's idle round trip changes).
const MIN_RTT_SPAN: Duration = Duration::from_secs(10);
/// Bytes written at once, at most.
const WRITE_MAX: usize = 256 * 1024;

/// One stanza waiting: its bytes, a slice of a batch shared by its stanzas.
struct Queued {
    batch: std::sync::Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

/// A marker written and not answered yet.
struct Mark {
    id: u64,
    /// Bytes written up to and including it.
    through: u64,
    sent_at: Instant,
    /// Whether stanzas were waiting when it was sent (the window was what held them).
    limited: bool,
}

pub struct Pacer {
    /// Destinations by a hash of their bare JID (two that collide share turns).
    hasher: hashbrown::DefaultHashBuilder,
    lanes: HashMap<u64, VecDeque<Queued>>,
    /// Destinations with stanzas waiting, in turn order.
    turns: VecDeque<u64>,
    queued_bytes: usize,
    queued_stanzas: usize,
    /// Bytes written since the link came up (with [`STANZA_COST`] per stanza), and those
    /// the server confirmed processing.
    written: u64,
    confirmed: u64,
    /// Bytes written since the last marker.
    unmarked: usize,
    marks: VecDeque<Mark>,
    next_mark: u64,
    window: usize,
    /// The fastest marker lately, and since when it counts.
    min_rtt: Option<(Duration, Instant)>,
    /// The fastest marker of the current period.
    period_min: Duration,
    /// When the window last changed: it changes at most once per round trip.
    changed_at: Option<Instant>,
    /// Whether the last marker found the server keeping up (its queue under the target):
    /// then what waits, if it fits in the window, leaves at once, whatever is still
    /// counted in flight. An uncontended link (one request at a time) so waits for no
    /// marker, and needs one only every [`IDLE_MARK`] bytes.
    calm: bool,
    marks_sent: u64,
    overflows: u64,
    /// Writes a marker with the given id.
    marker: Box<dyn Fn(u64) -> Vec<u8> + Send>,
}

impl Pacer {
    /// `marker` writes the ping with the given id (its id must start with [`MARK_PREFIX`]).
    pub fn new(marker: Box<dyn Fn(u64) -> Vec<u8> + Send>) -> Pacer {
        Pacer {
            hasher: hashbrown::DefaultHashBuilder::default(),
            lanes: HashMap::new(),
            turns: VecDeque::new(),
            queued_bytes: 0,
            queued_stanzas: 0,
            written: 0,
            confirmed: 0,
            unmarked: 0,
            marks: VecDeque::new(),
            next_mark: 0,
            window: INITIAL_WINDOW,
            min_rtt: None,
            period_min: Duration::ZERO,
            changed_at: None,
            calm: true,
            marks_sent: 0,
            overflows: 0,
            marker,
        }
    }

    /// Adds the core's stanzas, each to the queue of its destination.
    pub fn push(&mut self, batch: Stanzas) {
        let Stanzas { bytes, ends } = batch;
        let bytes = std::sync::Arc::new(bytes);
        let mut start = 0;
        for end in ends {
            let lane = self
                .hasher
                .hash_one(crate::wire::destination(&bytes[start..end]));
            let queue = self.lanes.entry(lane).or_default();
            if queue.is_empty() {
                self.turns.push_back(lane);
            }
            queue.push_back(Queued {
                batch: bytes.clone(),
                start,
                end,
            });
            self.queued_bytes += end - start;
            self.queued_stanzas += 1;
            start = end;
        }
    }

    /// Whether the link may take more of the core's stanzas.
    pub fn has_room(&self) -> bool {
        self.queued_bytes < QUEUE_CAP
    }

    pub fn is_empty(&self) -> bool {
        self.queued_stanzas == 0
    }

    fn in_flight(&self) -> usize {
        usize::try_from(self.written - self.confirmed).unwrap_or(usize::MAX)
    }

    /// The bytes to write now, if any: stanzas in turns while the window has room,
    /// markers where needed.
    pub fn ready(&mut self, now: Instant) -> Vec<u8> {
        let overflow = self.queued_bytes >= QUEUE_CAP;
        let free = overflow
            || (self.calm
                && self.in_flight() <= IDLE_MARK
                && self.queued_bytes + self.queued_stanzas * STANZA_COST <= self.window);
        let mut out = Vec::new();
        let half = (self.window / 2).max(1);
        // Past the cap, everything over it leaves now: the link then takes the core's
        // stanzas again, so the core never waits for a marker.
        while out.len() < WRITE_MAX || self.queued_bytes >= QUEUE_CAP {
            let Some(size) = self.next_size() else {
                break;
            };
            let in_flight = self.in_flight();
            if !free && in_flight > 0 && in_flight + size + STANZA_COST > self.window {
                break;
            }
            let Some(stanza) = self.take_turn() else {
                break;
            };
            out.extend_from_slice(&stanza.batch[stanza.start..stanza.end]);
            self.written += (size + STANZA_COST) as u64;
            self.unmarked += size + STANZA_COST;
            if self.window >= PIPELINED_WINDOW && self.unmarked >= half && !self.is_empty() {
                self.mark(&mut out, now, true);
            }
        }
        if overflow && !out.is_empty() {
            self.overflows += 1;
        }
        // Stanzas wait: a marker tells when to send more. None wait: a marker now and then
        // keeps what counts as in flight near the truth.
        let waiting = !self.is_empty();
        if self.unmarked > 0 && (waiting || self.in_flight() >= IDLE_MARK) {
            self.mark(&mut out, now, waiting);
        }
        out
    }

    /// The size of the stanza whose turn it is, if any waits.
    fn next_size(&self) -> Option<usize> {
        let lane = self.turns.front()?;
        Some(
            self.lanes
                .get(lane)
                .and_then(|q| q.front())
                .map_or(0, |q| q.end - q.start),
        )
    }

    /// Takes the stanza whose turn it is; its destination, if more of its stanzas wait,
    /// goes to the back of the turns.
    fn take_turn(&mut self) -> Option<Queued> {
        while let Some(lane) = self.turns.pop_front() {
            let Some(queue) = self.lanes.get_mut(&lane) else {
                continue;
            };
            let stanza = queue.pop_front();
            if queue.is_empty() {
                self.lanes.remove(&lane);
            } else {
                self.turns.push_back(lane);
            }
            if let Some(stanza) = stanza {
                self.queued_bytes -= stanza.end - stanza.start;
                self.queued_stanzas -= 1;
                return Some(stanza);
            }
        }
        None
    }

    fn mark(&mut self, out: &mut Vec<u8>, now: Instant, limited: bool) {
        self.next_mark += 1;
        let bytes = (self.marker)(self.next_mark);
        out.extend_from_slice(&bytes);
        self.written += (bytes.len() + STANZA_COST) as u64;
        self.unmarked = 0;
        self.marks.push_back(Mark {
            id: self.next_mark,
            through: self.written,
            sent_at: now,
            limited,
        });
        self.marks_sent += 1;
    }

    /// Whether markers wait for their answers, and when the oldest was sent.
    pub fn oldest_mark(&self) -> Option<Instant> {
        self.marks.front().map(|m| m.sent_at)
    }

    /// The answer to the marker `id` (from the id of the server's reply); `false` if it
    /// is not one of ours.
    pub fn on_answer(&mut self, id: &str, now: Instant) -> bool {
        let Some(n) = id
            .strip_prefix(MARK_PREFIX)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return false;
        };
        let mut answered = None;
        while let Some(mark) = self.marks.front() {
            if mark.id > n {
                break;
            }
            answered = self.marks.pop_front();
        }
        let Some(mark) = answered else {
            return true;
        };
        self.confirmed = self.confirmed.max(mark.through);
        let rtt = now.saturating_duration_since(mark.sent_at);
        // The fastest marker of this period and the last: a period's minimum replaces the
        // older one when the period ends, so the baseline follows the server's idle round
        // trip without creeping up with its load.
        let min = match self.min_rtt {
            None => {
                self.min_rtt = Some((rtt, now));
                self.period_min = rtt;
                rtt
            }
            Some((min, since)) => {
                self.period_min = self.period_min.min(rtt);
                if now.saturating_duration_since(since) >= MIN_RTT_SPAN {
                    let fresh = self.period_min;
                    self.min_rtt = Some((fresh, now));
                    self.period_min = rtt;
                    fresh
                } else {
                    let min = min.min(rtt);
                    self.min_rtt = Some((min, since));
                    min
                }
            }
        };
        let queue = rtt.saturating_sub(min);
        self.calm = queue <= TARGET_QUEUE;
        tracing::debug!(
            rtt_us = rtt.as_micros() as u64,
            queue_us = queue.as_micros() as u64,
            window = self.window,
            in_flight = self.in_flight(),
            waiting = self.queued_stanzas,
            "flow marker answered"
        );
        // Once per round trip: a marker sent before the last change measured the window
        // before it.
        if self.changed_at.is_some_and(|at| mark.sent_at < at) {
            return true;
        }
        if queue > TARGET_QUEUE {
            // Far over the target: halve; over it: a quarter less.
            self.window = if queue > 4 * TARGET_QUEUE {
                self.window / 2
            } else {
                self.window * 3 / 4
            }
            .max(MIN_WINDOW);
            self.changed_at = Some(now);
        } else if !mark.limited {
            // An idle link's window, shrunk by a pause of the server's, comes back to where
            // a burst starts.
            if queue < TARGET_QUEUE / 4 && self.window < INITIAL_WINDOW {
                self.window = (self.window * 2).min(INITIAL_WINDOW);
                self.changed_at = Some(now);
            }
        } else {
            // Far under the target: grow fast; near it: gently.
            let step = if queue < TARGET_QUEUE / 4 {
                self.window / 4
            } else {
                self.window / 8
            };
            self.window = (self.window + step.max(MIN_WINDOW)).min(MAX_WINDOW);
            self.changed_at = Some(now);
        }
        true
    }

    /// Everything waiting, in turn order, window aside (the link closes, or is lost and
    /// keeps the rest for the next link). Markers in flight are forgotten.
    pub fn drain(&mut self) -> Stanzas {
        let mut bytes = Vec::with_capacity(self.queued_bytes);
        let mut ends = Vec::with_capacity(self.queued_stanzas);
        while let Some(stanza) = self.take_turn() {
            bytes.extend_from_slice(&stanza.batch[stanza.start..stanza.end]);
            ends.push(bytes.len());
        }
        self.marks.clear();
        self.confirmed = self.written;
        Stanzas { bytes, ends }
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            queued_bytes: self.queued_bytes,
            queued_stanzas: self.queued_stanzas,
            lanes: self.lanes.len(),
            in_flight: self.in_flight(),
            window: self.window,
            marks_sent: self.marks_sent,
            overflows: self.overflows,
        }
    }

    /// The window, in bytes.
    pub fn window(&self) -> usize {
        self.window
    }
}

#[cfg(test)]
mod tests;
