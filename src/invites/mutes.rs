//! Users who do not want invitations: from one host, or from anyone. The database is
//! the durable copy; this is what the core checks.
//!
//! Bounded: at most [`MAX_MUTES`] mutes are held; past it a new mute is refused with
//! `resource-constraint` (counted in `mutes`).

use hashbrown::{HashMap, HashSet};

use crate::rights::consent::ALL;
use crate::store::Write;

/// Mutes held at once.
pub const MAX_MUTES: usize = 1_000_000;

#[derive(Debug, Default)]
pub struct Mutes {
    /// User → the hosts they muted (`*`: everyone).
    by_user: HashMap<Box<str>, HashSet<Box<str>>>,
    len: usize,
}

impl Mutes {
    /// Whether `user` muted invitations from `host`.
    pub fn muted(&self, user: &str, host: &str) -> bool {
        self.by_user
            .get(user)
            .is_some_and(|hosts| hosts.contains(ALL) || hosts.contains(host))
    }

    /// The hosts `user` muted, sorted (`*`: everyone).
    pub fn of(&self, user: &str) -> Vec<&str> {
        let mut hosts: Vec<&str> = self
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .map(|h| &**h)
            .collect();
        hosts.sort_unstable();
        hosts
    }

    pub fn has_room(&self) -> bool {
        self.len < MAX_MUTES
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Brings the set in line with a write just committed (or read at start).
    pub fn apply(&mut self, write: &Write) {
        let Write::Mute {
            user, host, mute, ..
        } = write
        else {
            return;
        };
        if *mute {
            let hosts = self.by_user.entry(user.as_str().into()).or_default();
            if hosts.insert(host.as_str().into()) {
                self.len += 1;
            }
            return;
        }
        let Some(hosts) = self.by_user.get_mut(user.as_str()) else {
            return;
        };
        let before = hosts.len();
        if host == ALL {
            hosts.clear();
        } else {
            hosts.remove(host.as_str());
        }
        self.len -= before - hosts.len();
        if hosts.is_empty() {
            self.by_user.remove(user.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mute(user: &str, host: &str, mute: bool) -> Write {
        Write::Mute {
            user: user.into(),
            host: host.into(),
            mute,
            at: 1,
        }
    }

    #[test]
    fn mutes_per_host_and_for_everyone() {
        let mut mutes = Mutes::default();
        mutes.apply(&mute("bob@x", "alice@x", true));
        assert!(mutes.muted("bob@x", "alice@x"));
        assert!(!mutes.muted("bob@x", "carol@x"));
        mutes.apply(&mute("bob@x", ALL, true));
        assert!(mutes.muted("bob@x", "carol@x"));
        assert_eq!(mutes.of("bob@x"), vec!["*", "alice@x"]);
        assert_eq!(mutes.len(), 2);
        mutes.apply(&mute("bob@x", ALL, false));
        assert!(!mutes.muted("bob@x", "alice@x"));
        assert!(mutes.is_empty());
    }
}
