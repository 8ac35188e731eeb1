//! Multi-step command sessions (XEP-0050 §3.4): a node executed without a submitted form
//! answers with the form to fill, and the session waits for its submission. Sessions
//! are bound to the full JID that started them and expire after a configurable idle
//! time.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use xmpp_parsers::jid::Jid;

use super::deadlines::Deadlines;
use crate::failure::{quote, Failure};
use crate::xep::commands::{Actions, SpecificCondition};

#[derive(Debug)]
pub struct Session {
    /// The node's name.
    pub node: &'static str,
    pub owner: Jid,
    pub actions: Actions,
    pub expires_at: SystemTime,
}

/// How many expired session ids are remembered to answer `session-expired` rather than
/// `bad-sessionid`.
const EXPIRED_MEMORY: usize = 1024;

/// Unfinished multi-step sessions kept at once, over all requesters.
pub const MAX_LIVE: usize = 10_000;

#[derive(Debug)]
pub struct Sessions {
    lifetime: Duration,
    next: u64,
    salt: u64,
    live: HashMap<String, Session>,
    deadlines: Deadlines<String>,
    expired: VecDeque<String>,
}

impl Sessions {
    /// The lifetime of sessions opened or continued from now on.
    pub fn set_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime;
    }

    /// `salt` makes ids unguessable across restarts; it comes from the caller so the
    /// session machinery stays deterministic in tests.
    pub fn new(lifetime: Duration, salt: u64) -> Sessions {
        Sessions {
            lifetime,
            next: 0,
            salt,
            live: HashMap::new(),
            deadlines: Deadlines::default(),
            expired: VecDeque::new(),
        }
    }

    pub fn new_id(&mut self) -> String {
        self.next += 1;
        format!("{:x}-{}", self.salt, self.next)
    }

    pub fn insert(
        &mut self,
        id: String,
        node: &'static str,
        owner: Jid,
        actions: Actions,
        now: SystemTime,
    ) {
        if self.live.len() >= MAX_LIVE {
            // Unfinished sessions are cheap but not free: past the cap, the one closest to
            // expiry goes first (and answers session-expired if it comes back).
            while let Some((at, oldest)) = self.deadlines.pop_due(now + self.lifetime) {
                if self.live.get(&oldest).is_some_and(|s| s.expires_at == at) {
                    self.live.remove(&oldest);
                    self.remember_expired(oldest);
                    break;
                }
            }
        }
        self.restore(
            id,
            Session {
                node,
                owner,
                actions,
                expires_at: now,
            },
            now,
        );
    }

    /// Puts back a session taken for a step that was refused.
    /// The requester was active in time, so the session gets its full lifetime again.
    pub fn restore(&mut self, id: String, mut session: Session, now: SystemTime) {
        session.expires_at = now + self.lifetime;
        self.deadlines.push(session.expires_at, id.clone());
        self.live.insert(id, session);
        self.deadlines.compact(
            self.live.len(),
            self.live.iter().map(|(id, s)| (s.expires_at, id.clone())),
        );
    }

    /// Takes the session for the next step, or says why there is none.
    pub fn take(
        &mut self,
        id: &str,
        node: &str,
        requester: &Jid,
        now: SystemTime,
    ) -> Result<Session, Failure> {
        self.expire(now);
        let belongs = self
            .live
            .get(id)
            .is_some_and(|s| s.node == node && &s.owner == requester);
        if belongs {
            if let Some(session) = self.live.remove(id) {
                return Ok(session);
            }
        }
        if self.expired.iter().any(|e| e == id) {
            return Err(Failure::not_allowed(
                "this command session expired; start the command again",
            )
            .with_specific(SpecificCondition::SessionExpired));
        }
        Err(Failure::bad_request(format!(
            "there is no command session {:?} for you on this node",
            quote(id)
        ))
        .with_specific(SpecificCondition::BadSessionid))
    }

    /// Drops sessions idle past their lifetime, remembering their ids for a while.
    pub fn expire(&mut self, now: SystemTime) {
        while let Some((at, id)) = self.deadlines.pop_due(now) {
            // Taken for a step, finished or given a new lifetime meanwhile: stale.
            if self.live.get(&id).is_some_and(|s| s.expires_at == at) {
                self.live.remove(&id);
                self.remember_expired(id);
            }
        }
    }

    fn remember_expired(&mut self, id: String) {
        if self.expired.len() == EXPIRED_MEMORY {
            self.expired.pop_front();
        }
        self.expired.push_back(id);
    }

    pub fn next_deadline(&self) -> Option<SystemTime> {
        self.deadlines.next()
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn past_the_cap_the_session_closest_to_expiry_makes_room() {
        let mut sessions = Sessions::new(Duration::from_secs(60), 1);
        let owner = Jid::from_str("game@example.test/x").unwrap();
        let actions = Actions {
            execute: None,
            allowed: vec![],
        };
        for i in 0..=MAX_LIVE {
            sessions.insert(
                format!("s{i}"),
                "test-echo",
                owner.clone(),
                actions.clone(),
                t(i as u64),
            );
        }
        assert_eq!(sessions.len(), MAX_LIVE);
        let err = sessions.take("s0", "test-echo", &owner, t(0)).unwrap_err();
        assert_eq!(err.specific, Some(SpecificCondition::SessionExpired));
    }
}
