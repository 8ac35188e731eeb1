//! Whether the server routes the component's stanzas to this link alone.
//!
//! ejabberd 23.01 accepts a second connection for a component and sends each stanza for
//! it to one of its connections at random. It keeps a connection whose other end vanished
//! without closing (a machine lost, its network cut) until the kernel gives up on it:
//! about 15 minutes with Linux's defaults. A bridge that takes over from one that
//! vanished so gets part of the component's traffic only; the rest, the server's
//! advertisement of its grants among it, goes into the dead connection. (Prosody takes
//! one connection per component: with `component_conflict_resolve = "kick_old"` the new
//! one replaces the old.)
//!
//! So at each link-up the link sends itself a round of pings, `from` and `to` the
//! component, which the server routes like any stanza for the component. What comes back
//! through this link comes in the order sent: a ping missing while a later one came back
//! went to another connection, and the route is shared. While it is, a round every
//! half second (each also gives the server's kernel data that the dead connection does
//! not acknowledge, which is what times it out); once a whole round comes back, the link is
//! made again, so that the server advertises its grants anew and the directory is read
//! again. A round of which nothing comes back means the server does not route the
//! component's stanzas to it: the check stops there.

use std::time::{Duration, Instant};

use minidom::Element;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::ns;

use crate::wire::Xml;

/// Ids of the route pings start with this; they never reach the core.
pub const ROUTE_PREFIX: &str = "route-";

/// Pings in a round. Were the route shared by two connections, all of them would come
/// back through this one with a chance of 1 in 65,536.
pub const PROBES: usize = 16;

/// Between rounds while the route is shared: 32 pings a second, half of them into a dead
/// connection (which the server queues until it gives up on it).
pub const ROUND_PAUSE: Duration = Duration::from_millis(500);

/// What a stanza from the server is to the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Not a route ping: the core's.
    NotAProbe,
    /// One of this link's pings of the current round, back.
    Ours,
    /// One of this link's, of a round already judged.
    Stale,
    /// Another connection's ping: a second bridge is linked as the component, alive.
    Foreign,
    /// The server answered one of this link's pings with an error instead of routing it.
    Refused,
}

/// What the check concluded, when it concludes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every ping came back: the route is this link's alone.
    Whole,
    /// Some went elsewhere (`lost` of `sent`); `first` for the first such round of the
    /// link.
    Shared {
        lost: usize,
        sent: usize,
        first: bool,
    },
    /// Whole again after being shared: what went elsewhere is lost, link again.
    WholeAgain,
    /// The server does not route the component's stanzas back to it: no check.
    Unsupported,
}

/// The check of one link: rounds of pings and their verdicts.
#[derive(Debug)]
pub struct RouteCheck {
    /// Tells this link's pings from another connection's.
    nonce: u64,
    round: u32,
    /// Which pings of the current round came back.
    back: [bool; PROBES],
    /// The latest ping (by order sent) of the current round that came back.
    latest: Option<usize>,
    /// When the current round was sent, while it is being judged.
    sent_at: Option<Instant>,
    /// When the next round is due, while the route is shared.
    next_round: Option<Instant>,
    /// How long to wait for a round's last pings when nothing after them came back.
    tail_wait: Duration,
    shared: bool,
    /// Concluded for good: whole, or the server does not route back.
    done: bool,
}

impl RouteCheck {
    pub fn new(nonce: u64, tail_wait: Duration) -> RouteCheck {
        RouteCheck {
            nonce,
            round: 0,
            back: [false; PROBES],
            latest: None,
            sent_at: None,
            next_round: None,
            tail_wait,
            shared: false,
            done: false,
        }
    }

    /// Whether the last round found the route shared.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Starts a round: the pings to send, serialised.
    pub fn round(&mut self, component: &BareJid, now: Instant) -> Vec<u8> {
        self.round = self.round.wrapping_add(1);
        self.back = [false; PROBES];
        self.latest = None;
        self.sent_at = Some(now);
        self.next_round = None;
        let mut bytes = Vec::with_capacity(PROBES * 160);
        let component = component.as_str();
        for i in 0..PROBES {
            let mut xml = Xml::new(&mut bytes);
            xml.open("iq")
                .attr_plain("type", b"get")
                .attr("id", &self.id(self.round, i))
                .attr("from", component)
                .attr("to", component)
                .head_end();
            xml.open("ping").attr("xmlns", ns::PING).empty_end();
            xml.close("iq");
        }
        bytes
    }

    fn id(&self, round: u32, i: usize) -> String {
        format!("{ROUTE_PREFIX}{:016x}-{round}-{i}", self.nonce)
    }

    /// Takes a stanza from the server if it is a route ping (or the server's refusal of
    /// one). Only the component itself can send from its own address (the server stamps
    /// a user's `from`), so nobody else can forge one.
    pub fn heard(&mut self, el: &Element, component: &BareJid) -> Heard {
        if !el.is("iq", ns::COMPONENT_ACCEPT) {
            return Heard::NotAProbe;
        }
        let Some(rest) = el.attr("id").and_then(|id| id.strip_prefix(ROUTE_PREFIX)) else {
            return Heard::NotAProbe;
        };
        let from_us = el.attr("from") == Some(component.as_str());
        let mut parts = rest.splitn(3, '-');
        let ours = parts.next().and_then(|n| u64::from_str_radix(n, 16).ok()) == Some(self.nonce);
        let round = parts.next().and_then(|r| r.parse::<u32>().ok());
        let index = parts.next().and_then(|i| i.parse::<usize>().ok());
        if !from_us {
            // Anyone else's stanza that happens to have such an id (a user's ping): the
            // core's.
            return Heard::NotAProbe;
        }
        match el.attr("type") {
            Some("get") if !ours => return Heard::Foreign,
            Some("get") => {}
            // The server's bounce, from the address the ping was sent to.
            Some("error") if ours => {
                self.done = true;
                self.shared = false;
                self.sent_at = None;
                self.next_round = None;
                return Heard::Refused;
            }
            Some("result") if ours => return Heard::Stale,
            _ => return Heard::NotAProbe,
        }
        match (round, index) {
            (Some(round), Some(i))
                if round == self.round && i < PROBES && self.sent_at.is_some() =>
            {
                self.back[i] = true;
                self.latest = Some(self.latest.map_or(i, |latest| latest.max(i)));
                Heard::Ours
            }
            _ => Heard::Stale,
        }
    }

    /// Judges the current round, if it can be judged now.
    pub fn judge(&mut self, now: Instant) -> Option<Verdict> {
        let sent_at = self.sent_at?;
        let came = self.back.iter().filter(|b| **b).count();
        if came == PROBES {
            self.sent_at = None;
            self.done = true;
            return Some(if std::mem::take(&mut self.shared) {
                Verdict::WholeAgain
            } else {
                Verdict::Whole
            });
        }
        let timed_out = now.saturating_duration_since(sent_at) >= self.tail_wait;
        // A gap: one missing before the latest that came back.
        let gap = self
            .latest
            .is_some_and(|latest| self.back[..latest].iter().any(|b| !b));
        if came == 0 && timed_out {
            self.sent_at = None;
            self.done = true;
            self.shared = false;
            return Some(Verdict::Unsupported);
        }
        if gap || timed_out {
            self.sent_at = None;
            let first = !self.shared;
            self.shared = true;
            self.next_round = Some(now + ROUND_PAUSE);
            return Some(Verdict::Shared {
                lost: PROBES - came,
                sent: PROBES,
                first,
            });
        }
        None
    }

    /// When the check next needs the link's attention: a round's tail waited for, or the
    /// next round.
    pub fn wake(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        self.sent_at
            .map(|at| at + self.tail_wait)
            .or(self.next_round)
    }

    /// Whether a new round is due now.
    pub fn round_due(&self, now: Instant) -> bool {
        !self.done && self.sent_at.is_none() && self.next_round.is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests;
