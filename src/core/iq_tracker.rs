//! Outgoing IQs, tracked by id so that every reply finds its purpose and a lost reply is
//! noticed after a timeout (RFC 6120 §8.2.3: every get/set gets exactly one reply).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use xmpp_parsers::jid::Jid;

use super::deadlines::Deadlines;

/// What the component wanted from an IQ it sent; decides what to do with the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// XEP-0092 query to a served domain at link-up, to learn which server software it runs.
    ServerVersion { domain: Jid },
    /// disco#info to a served domain at link-up: is the conversation module installed?
    ActivityProbe { domain: Jid },
    /// Privileged roster get (XEP-0356) for a user.
    Roster { user: crate::directory::UserId },
    /// XEP-0199 ping to one resource of a user, sent at `sent` (seconds since the Unix
    /// epoch), to confirm it is still there.
    Ping {
        user: crate::directory::UserId,
        resource: Box<str>,
        sent: u32,
    },
    /// A privileged IQ (XEP-0356 `iq` permission) a request waits for: operation `op`.
    Privileged { op: u64 },
}

impl Purpose {
    /// The wait, as `/metrics` labels it.
    pub fn wait(&self) -> crate::health::Wait {
        use crate::health::Wait;
        match self {
            Purpose::ServerVersion { .. } => Wait::Version,
            Purpose::ActivityProbe { .. } => Wait::Disco,
            Purpose::Roster { .. } => Wait::Roster,
            Purpose::Ping { .. } => Wait::Ping,
            Purpose::Privileged { .. } => Wait::Privileged,
        }
    }
}

#[derive(Debug)]
struct Pending {
    to: Jid,
    purpose: Purpose,
    sent: SystemTime,
    deadline: SystemTime,
}

/// How an outgoing IQ ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Reply {
        purpose: Purpose,
        is_error: bool,
        /// How long the reply took.
        waited: Duration,
    },
    TimedOut {
        purpose: Purpose,
        to: Jid,
    },
}

#[derive(Debug)]
pub struct IqTracker {
    timeout: Duration,
    next: u64,
    pending: HashMap<String, Pending>,
    deadlines: Deadlines<String>,
    pub timeouts: u64,
}

impl IqTracker {
    /// The timeout of IQs sent from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn new(timeout: Duration) -> IqTracker {
        IqTracker {
            timeout,
            next: 0,
            pending: HashMap::new(),
            deadlines: Deadlines::default(),
            timeouts: 0,
        }
    }

    /// Registers an IQ about to be sent to `to`; returns the id to put on it.
    pub fn track(&mut self, to: Jid, purpose: Purpose, now: SystemTime) -> String {
        self.track_within(to, purpose, now, self.timeout)
    }

    /// [`IqTracker::track`] with a timeout of its own.
    pub fn track_within(
        &mut self,
        to: Jid,
        purpose: Purpose,
        now: SystemTime,
        timeout: Duration,
    ) -> String {
        self.next += 1;
        let id = format!("gb-{}", self.next);
        let deadline = now + timeout;
        self.pending.insert(
            id.clone(),
            Pending {
                to,
                purpose,
                sent: now,
                deadline,
            },
        );
        self.deadlines.push(deadline, id.clone());
        self.deadlines.compact(
            self.pending.len(),
            self.pending.iter().map(|(id, p)| (p.deadline, id.clone())),
        );
        id
    }

    /// Matches a result/error. Replies from another JID than the one asked are not
    /// accepted: the id alone would let anyone answer in the server's name.
    pub fn on_reply(
        &mut self,
        id: &str,
        from: &Jid,
        is_error: bool,
        now: SystemTime,
    ) -> Option<Ended> {
        let pending = self.pending.get(id)?;
        if &pending.to != from {
            return None;
        }
        let pending = self.pending.remove(id)?;
        Some(Ended::Reply {
            purpose: pending.purpose,
            is_error,
            waited: now.duration_since(pending.sent).unwrap_or_default(),
        })
    }

    /// Removes and returns every IQ whose reply is overdue: O(log n) for each, nothing
    /// for those not due.
    pub fn expire(&mut self, now: SystemTime) -> Vec<Ended> {
        let mut ended = Vec::new();
        while let Some((at, id)) = self.deadlines.pop_due(now) {
            // Answered meanwhile (or abandoned): the queue's entry is stale.
            if self.pending.get(&id).is_none_or(|p| p.deadline != at) {
                continue;
            }
            if let Some(p) = self.pending.remove(&id) {
                self.timeouts += 1;
                ended.push(Ended::TimedOut {
                    purpose: p.purpose,
                    to: p.to,
                });
            }
        }
        ended
    }

    /// The link dropped: no reply will come for anything sent on it.
    pub fn abandon_all(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        self.deadlines = Deadlines::default();
        n
    }

    pub fn next_deadline(&self) -> Option<SystemTime> {
        self.deadlines.next()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    fn domain() -> Jid {
        Jid::from_str("example.test").unwrap()
    }

    #[test]
    fn reply_matches_its_request_once() {
        let mut tracker = IqTracker::new(Duration::from_secs(30));
        let id = tracker.track(domain(), Purpose::ServerVersion { domain: domain() }, t(0));
        assert_eq!(
            tracker.on_reply(&id, &domain(), false, t(2)),
            Some(Ended::Reply {
                purpose: Purpose::ServerVersion { domain: domain() },
                is_error: false,
                waited: Duration::from_secs(2),
            })
        );
        assert_eq!(tracker.on_reply(&id, &domain(), false, t(2)), None);
    }

    #[test]
    fn reply_from_another_jid_is_ignored() {
        let mut tracker = IqTracker::new(Duration::from_secs(30));
        let id = tracker.track(domain(), Purpose::ServerVersion { domain: domain() }, t(0));
        let mallory = Jid::from_str("mallory@example.test/x").unwrap();
        assert_eq!(tracker.on_reply(&id, &mallory, false, t(1)), None);
        assert_eq!(tracker.len(), 1);
    }

    #[test]
    fn lost_reply_times_out_at_the_deadline_not_before() {
        let mut tracker = IqTracker::new(Duration::from_secs(30));
        tracker.track(domain(), Purpose::ServerVersion { domain: domain() }, t(0));
        assert!(tracker.expire(t(29)).is_empty());
        assert_eq!(tracker.next_deadline(), Some(t(30)));
        let ended = tracker.expire(t(30));
        assert_eq!(ended.len(), 1);
        assert!(matches!(ended[0], Ended::TimedOut { .. }));
        assert_eq!(tracker.timeouts, 1);
        assert!(tracker.is_empty());
    }
}
