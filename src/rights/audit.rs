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
/// Recent (platform, user, command) triples remembered for coalescing; past that the
/// memory is cleared, which writes more records, never fewer.
pub const MAX_RECENT: usize = 100_000;

/// Per user: each command and when it was last recorded.
type RecentByUser = HashMap<Box<str>, Vec<(&'static str, u32)>>;

#[derive(Debug, Default)]
pub struct AuditLog {
    pending: Vec<AuditRecord>,
    /// When each (platform, user, command) was last recorded: looked up without
    /// allocating, since most disclosures repeat one made a moment ago.
    recent: HashMap<Box<str>, RecentByUser>,
    recent_len: usize,
    /// Records written since start.
    pub written: u64,
}

impl AuditLog {
    /// Whether a disclosure may be made now: there is room to record it.
    pub fn has_room(&self, records: usize) -> bool {
        self.pending.len() + records <= MAX_PENDING
    }

    /// Records that `platform` learnt about `user` through `command` at `at`.
    pub fn record(&mut self, platform: &str, user: &str, command: &'static str, at: u32) {
        let last = self
            .recent
            .get_mut(platform)
            .and_then(|users| users.get_mut(user))
            .and_then(|commands| commands.iter_mut().find(|(c, _)| *c == command));
        match last {
            Some((_, last)) if at.saturating_sub(*last) < COALESCE_SECS => return,
            Some((_, last)) => *last = at,
            None => {
                if self.recent_len >= MAX_RECENT {
                    self.recent.clear();
                    self.recent_len = 0;
                }
                self.recent_len += 1;
                self.recent
                    .entry(platform.into())
                    .or_default()
                    .entry(user.into())
                    .or_default()
                    .push((command, at));
            }
        }
        self.pending.push(AuditRecord {
            at,
            platform: platform.to_owned(),
            user: user.to_owned(),
            command: command.to_owned(),
        });
    }

    /// The records waiting to be written.
    pub fn pending(&self) -> &[AuditRecord] {
        &self.pending
    }

    pub fn take(&mut self) -> Vec<AuditRecord> {
        std::mem::take(&mut self.pending)
    }

    /// Puts back a batch whose write failed, ahead of newer records.
    pub fn requeue(&mut self, mut batch: Vec<AuditRecord>) {
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
            .iter()
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
        log.record("bob@x", "alice@x", "status", 200);
        log.requeue(batch);
        assert_eq!(log.pending().len(), 5);
        assert_eq!(log.pending()[4].platform, "bob@x");
    }
}
