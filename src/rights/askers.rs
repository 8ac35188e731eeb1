//! Platforms outside the registry: who may ask under the operator's policy (a JID of a
//! domain in `access.trusted_domains`, or anyone where `access.public_platforms` is on),
//! and those of them that have asked. Users name such a platform by its JID in `share`
//! and `stop`, and see it in `privacy` once it has asked.
//!
//! Bounded: at most [`MAX_ASKERS`] are remembered; past it, the one that asked least
//! recently is forgotten (counted). Remembered ones are written in the batched writes
//! (at most one write per JID per [`REWRITE_SECS`]) and pruned with the disclosure record.
//!
//! Security-sensitive: who may ask is the same rule as the core's decision of the actor
//! ([`super::AccessConfig::trusts`]).

use hashbrown::HashMap;
use xmpp_parsers::jid::BareJid;

use super::AccessConfig;

/// Platforms outside the registry remembered at once.
pub const MAX_ASKERS: usize = 1_000;
/// A remembered platform that asks again is written again after this long, at most.
pub const REWRITE_SECS: u32 = 86_400;

#[derive(Debug, Default)]
pub struct Askers {
    access: AccessConfig,
    /// Bare JID → when it last asked, and when that was last written (seconds since the
    /// Unix epoch).
    seen: HashMap<Box<str>, (u32, u32)>,
    /// Not written yet.
    dirty: Vec<(String, u32)>,
    /// Forgotten at the cap since start.
    pub forgotten: u64,
}

impl Askers {
    /// The operator changed `[access]` (a reload): who may ask from now on.
    pub fn set_access(&mut self, access: AccessConfig) {
        self.access = access;
    }

    pub fn new(access: AccessConfig) -> Askers {
        Askers {
            access,
            ..Askers::default()
        }
    }

    /// Whether `jid` may ask as a platform without being in the registry.
    pub fn may_ask(&self, jid: &BareJid) -> bool {
        self.access.public_platforms || self.access.trusts(jid.domain().as_str())
    }

    /// `jid` (a platform outside the registry) asked at `now`.
    pub fn note(&mut self, jid: &str, now: u32) {
        if let Some((last, written)) = self.seen.get_mut(jid) {
            *last = (*last).max(now);
            if now >= written.saturating_add(REWRITE_SECS) {
                *written = now;
                self.dirty.push((jid.to_owned(), now));
            }
            return;
        }
        if self.seen.len() >= MAX_ASKERS {
            let oldest = self
                .seen
                .iter()
                .min_by_key(|(_, (last, _))| *last)
                .map(|(jid, _)| jid.clone());
            if let Some(oldest) = oldest {
                self.seen.remove(&oldest);
                self.forgotten += 1;
            }
        }
        self.seen.insert(jid.into(), (now, now));
        self.dirty.push((jid.to_owned(), now));
    }

    /// A row read from the database at start.
    pub fn load(&mut self, jid: String, at: u32) {
        if self.seen.len() < MAX_ASKERS {
            self.seen.insert(jid.into(), (at, at));
        }
    }

    pub fn contains(&self, jid: &str) -> bool {
        self.seen.contains_key(jid)
    }

    /// The JIDs that asked, in order.
    pub fn jids(&self) -> Vec<&str> {
        let mut jids: Vec<&str> = self.seen.keys().map(|j| &**j).collect();
        jids.sort_unstable();
        jids
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// What waits to be written.
    pub fn take_dirty(&mut self) -> Vec<(String, u32)> {
        std::mem::take(&mut self.dirty)
    }

    /// Puts back what could not be written.
    pub fn requeue(&mut self, mut batch: Vec<(String, u32)>) {
        batch.append(&mut self.dirty);
        self.dirty = batch;
    }

    pub fn pending(&self) -> usize {
        self.dirty.len()
    }

    /// Forgets those that last asked before `before`.
    pub fn prune(&mut self, before: u32) {
        self.seen.retain(|_, (last, _)| *last >= before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid(s: &str) -> BareJid {
        BareJid::from_str(s).unwrap()
    }

    #[test]
    fn who_may_ask_follows_the_policy() {
        let trusted = AccessConfig {
            public_platforms: false,
            trusted_domains: vec![jid("lobby.example.test")],
        };
        let table = [
            (&trusted, "lobby.example.test", true),
            (&trusted, "bot@lobby.example.test", true),
            (&trusted, "other.example.test", false),
            (&trusted, "pubbot@example.test", false),
        ];
        for (access, who, may) in table {
            assert_eq!(Askers::new(access.clone()).may_ask(&jid(who)), may, "{who}");
        }
        let public = Askers::new(AccessConfig {
            public_platforms: true,
            trusted_domains: Vec::new(),
        });
        assert!(public.may_ask(&jid("pubbot@example.test")));
    }

    #[test]
    fn at_the_cap_the_least_recent_is_forgotten_and_writes_are_few() {
        let mut askers = Askers::default();
        for i in 0..MAX_ASKERS as u32 {
            askers.note(&format!("p{i}@example.test"), 1_000 + i);
        }
        assert_eq!(askers.take_dirty().len(), MAX_ASKERS);
        askers.note("p0@example.test", 5_000);
        assert!(
            askers.take_dirty().is_empty(),
            "asked again within a day: not written"
        );
        askers.note("new@example.test", 6_000);
        assert_eq!(askers.len(), MAX_ASKERS);
        assert_eq!(askers.forgotten, 1);
        assert!(!askers.contains("p1@example.test"), "the least recent went");
        assert!(askers.contains("p0@example.test"));
        assert_eq!(
            askers.take_dirty(),
            vec![("new@example.test".to_owned(), 6_000)]
        );
        askers.note("p0@example.test", 5_000 + REWRITE_SECS);
        assert_eq!(
            askers.take_dirty(),
            vec![("p0@example.test".to_owned(), 5_000 + REWRITE_SECS)]
        );
        askers.prune(6_000);
        assert_eq!(askers.jids(), vec!["new@example.test", "p0@example.test"]);
    }
}
