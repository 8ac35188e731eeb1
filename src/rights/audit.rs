//! The disclosure record as the core keeps it before it is written: every disclosure of
//! a user to a platform, and every right a platform executed, in batches (written at
//! most [`crate::core`]'s flush delay after they happen). Security-sensitive: a
//! disclosure that cannot be recorded is not made.
//!
//! The same platform learning about the same user through the same command again
//! within [`COALESCE_SECS`] is one record: a platform polling `status` every second
//! would otherwise write a row a second per user without telling the user anything
//! more.

use hashbrown::HashMap;

use crate::store::AuditRecord;

/// Repeats within this many seconds are one record.
pub const COALESCE_SECS: u32 = 60;
/// Records waiting to be written at most; past that (the database has not been writable
/// for a while), disclosures are refused.
pub const MAX_PENDING: usize = 65_536;
/// Recent (platform, user, command) triples remembered for coalescing (16 bytes each,
/// about 20 MiB at most); past that those older than [`COALESCE_SECS`] are forgotten,
/// and if that frees nothing, all: more records, never fewer.
pub const MAX_RECENT: usize = 1_000_000;

#[derive(Debug, Default)]
pub struct AuditLog {
    pending: Vec<AuditRecord>,
    /// Taken for a write not known to be done yet: still shown with the pending ones.
    storing: Vec<AuditRecord>,
    /// When each (platform, user, command) was last recorded, by a 64-bit hash of the
    /// three under a key drawn at start: looked up without allocating, since most
    /// disclosures repeat one made a moment ago. Two triples sharing a hash (one chance
    /// in 2^64 per pair) would be one record; nothing outside can aim for that.
    recent: HashMap<u64, u32>,
    keys: hashbrown::DefaultHashBuilder,
    /// Records written since start.
    pub written: u64,
}

impl AuditLog {
    /// Whether a disclosure may be made now: there is room to record it.
    pub fn has_room(&self, records: usize) -> bool {
        self.pending.len() + self.storing.len() + records <= MAX_PENDING
    }

    /// Records that `platform` learnt about `user` through `command` at `at`.
    pub fn record(&mut self, platform: &str, user: &str, command: &'static str, at: u32) {
        if !self.remember(platform, user, command, at) {
            return;
        }
        self.pending.push(AuditRecord {
            at,
            platform: platform.to_owned(),
            user: user.to_owned(),
            command: command.to_owned(),
        });
    }

    /// Whether a disclosure at `at` repeats one recorded within [`COALESCE_SECS`] (and so
    /// needs no record of its own).
    pub fn is_repeat(&self, platform: &str, user: &str, command: &str, at: u32) -> bool {
        self.recent
            .get(&self.key(platform, user, command))
            .is_some_and(|last| at.saturating_sub(*last) < COALESCE_SECS)
    }

    /// Notes records written with a request's other writes (the database away): they
    /// count as written, and repeats within [`COALESCE_SECS`] are not recorded again.
    pub fn written_with_request(&mut self, records: &[AuditRecord]) {
        for r in records {
            self.remember(&r.platform, &r.user, &r.command, r.at);
        }
        self.written += records.len() as u64;
    }

    fn key(&self, platform: &str, user: &str, command: &str) -> u64 {
        use std::hash::BuildHasher;
        self.keys.hash_one((platform, user, command))
    }

    /// Notes a record of (`platform`, `user`, `command`) at `at`, unless it repeats one
    /// within [`COALESCE_SECS`]; whether it is to be recorded.
    fn remember(&mut self, platform: &str, user: &str, command: &str, at: u32) -> bool {
        let key = self.key(platform, user, command);
        match self.recent.get_mut(&key) {
            Some(last) if at.saturating_sub(*last) < COALESCE_SECS => return false,
            Some(last) => *last = at,
            None => {
                if self.recent.len() >= MAX_RECENT {
                    self.recent
                        .retain(|_, last| at.saturating_sub(*last) < COALESCE_SECS);
                    if self.recent.len() >= MAX_RECENT {
                        self.recent.clear();
                    }
                }
                self.recent.insert(key, at);
            }
        }
        true
    }

    /// The records waiting to be written.
    /// The records not written yet, oldest first: those waiting, and those being
    /// written.
    pub fn pending(&self) -> impl DoubleEndedIterator<Item = &AuditRecord> {
        self.storing.iter().chain(&self.pending)
    }

    /// The waiting records, for a write; they are still [`AuditLog::pending`] until
    /// [`AuditLog::stored`] or [`AuditLog::requeue`].
    pub fn take(&mut self) -> Vec<AuditRecord> {
        let batch = std::mem::take(&mut self.pending);
        self.storing.extend(batch.iter().cloned());
        batch
    }

    /// The records taken last are written.
    pub fn stored(&mut self, records: usize) {
        self.storing.clear();
        self.written += records as u64;
    }

    /// Puts back a batch whose write failed, ahead of newer records.
    pub fn requeue(&mut self, mut batch: Vec<AuditRecord>) {
        self.storing.clear();
        batch.append(&mut self.pending);
        self.pending = batch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_the_window_are_one_record() {
        let mut log = AuditLog::default();
        log.record("arcade@x", "alice@x", "status", 100);
        log.record("arcade@x", "alice@x", "status", 130);
        log.record("arcade@x", "alice@x", "peers", 130);
        log.record("puzzle@x", "alice@x", "status", 130);
        log.record("arcade@x", "alice@x", "status", 100 + COALESCE_SECS);
        let at: Vec<(u32, &str, &str)> = log
            .pending()
            .map(|r| (r.at, r.platform.as_str(), r.command.as_str()))
            .collect();
        assert_eq!(
            at,
            vec![
                (100, "arcade@x", "status"),
                (130, "arcade@x", "peers"),
                (130, "puzzle@x", "status"),
                (160, "arcade@x", "status"),
            ]
        );
        let batch = log.take();
        // Taken for a write, they are still shown until it is done.
        assert_eq!(log.pending().count(), 4);
        log.record("bob@x", "alice@x", "status", 200);
        log.requeue(batch);
        assert_eq!(log.pending().count(), 5);
        assert_eq!(log.pending().nth(4).unwrap().platform, "bob@x");
    }

    #[test]
    fn at_the_cap_the_stale_are_forgotten_first_and_nothing_is_recorded_less() {
        let mut log = AuditLog::default();
        for n in 0..MAX_RECENT {
            log.record("arcade@x", &format!("u{n}@x"), "status", 0);
        }
        let written = log.take().len();
        log.stored(written);
        // Within the window, a repeat is one record.
        log.record("arcade@x", "u7@x", "status", 30);
        assert_eq!(log.pending().count(), 0);
        // Past the window, the full memory forgets what is stale, and keeps the new.
        log.record("arcade@x", "new@x", "status", 100);
        assert_eq!(log.recent.len(), 1);
        log.record("arcade@x", "new@x", "status", 120);
        assert_eq!(log.pending().count(), 1);
        // Full of what is recent, it forgets all: a repeat is recorded again, never lost.
        let mut log = AuditLog::default();
        for n in 0..MAX_RECENT {
            log.record("arcade@x", &format!("u{n}@x"), "status", 0);
        }
        let written = log.take().len();
        log.stored(written);
        log.record("arcade@x", "other@x", "status", 10);
        log.record("arcade@x", "u7@x", "status", 11);
        assert_eq!(log.pending().count(), 2);
    }
}
