//! Consent, self-defined status and the disclosure record.

use super::db::{args, Param};
use super::{Store, StoreError};

/// A self-defined status as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfStatusRecord {
    pub user: String,
    pub text: String,
    pub set_by: String,
    pub set_at: u32,
}

/// One disclosure or executed right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: u32,
    pub platform: String,
    pub user: String,
    pub command: String,
}

/// The consent table's platform column for for a choice about every platform.
pub const ALL: &str = "*";

/// A change of a user's choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub user: String,
    /// `None`: every platform (and the per-platform choices are forgotten).
    pub platform: Option<String>,
    pub share: bool,
}

/// A prompt as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRecord {
    pub id: String,
    pub kind: String,
    pub user: String,
    pub platform: String,
    pub notify: String,
    pub reason: Option<String>,
    pub created_at: u32,
    pub expires_at: u32,
    pub answer: Option<String>,
    pub answered_at: Option<u32>,
    /// For an invitation: the invite it belongs to.
    pub invite: Option<String>,
    /// The language its message is written in (`None`: English).
    pub lang: Option<String>,
    /// How the answer came: `chat`, `platform` or `merge`.
    pub how: Option<String>,
}

impl PromptRecord {
    /// A new prompt waiting for its answer.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        kind: &str,
        user: String,
        platform: String,
        notify: String,
        created_at: u32,
        expires_at: u32,
    ) -> PromptRecord {
        PromptRecord {
            id,
            kind: kind.to_owned(),
            user,
            platform,
            notify,
            reason: None,
            created_at,
            expires_at,
            answer: None,
            answered_at: None,
            invite: None,
            lang: None,
            how: None,
        }
    }
}

/// Which records `audit` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub platform: Option<String>,
    pub since: Option<u32>,
    pub limit: u32,
}

impl Store {
    /// Every stored consent row: (user, platform or `*`, share).
    pub fn consents(&self) -> Result<Vec<(String, String, bool)>, StoreError> {
        self.db.query(
            r#"SELECT "user", platform, share FROM consent ORDER BY "user", platform"#,
            args![],
            |r| Ok((r.text(0)?, r.text(1)?, r.flag(2)?)),
        )
    }

    /// Every stored self-defined status.
    pub fn self_statuses(&self) -> Result<Vec<SelfStatusRecord>, StoreError> {
        self.db.query(
            r#"SELECT "user", text, set_by, set_at FROM self_status"#,
            args![],
            |r| {
                Ok(SelfStatusRecord {
                    user: r.text(0)?,
                    text: r.text(1)?,
                    set_by: r.text(2)?,
                    set_at: r.int(3)?,
                })
            },
        )
    }

    /// Prompts still waiting for an answer.
    pub fn pending_prompts(&self) -> Result<Vec<PromptRecord>, StoreError> {
        self.prompts_where("answer IS NULL", args![])
    }

    /// One prompt, answered or not.
    pub fn prompt(&self, id: &str) -> Result<Option<PromptRecord>, StoreError> {
        Ok(self.prompts_where("id = ?1", args![id])?.into_iter().next())
    }

    /// When `user` last answered no to a `kind` prompt of `platform`, if since `since`.
    pub fn refused_since(
        &self,
        user: &str,
        platform: &str,
        kind: &str,
        since: u32,
    ) -> Result<Option<u32>, StoreError> {
        Ok(self
            .prompts_where(
                r#"kind = 'consent' AND answer IN ('yes', 'no') AND "user" = ?1
                 AND answered_at >= ?4 AND platform = ?2 AND kind = ?3 AND answer = 'no'"#,
                args![user, platform, kind, since],
            )?
            .into_iter()
            .filter_map(|p| p.answered_at)
            .max())
    }

    /// The prompts of invite `id`, in the order they were created.
    pub fn invite_prompts(&self, id: &str) -> Result<Vec<PromptRecord>, StoreError> {
        self.prompts_where("invite = ?1", args![id])
    }

    /// Invitations waiting for an answer whose message may not have left (written before
    /// a crash, or never confirmed): sent again, with the same ids, at start.
    pub fn unsent_invitations(&self) -> Result<Vec<PromptRecord>, StoreError> {
        self.prompts_where(
            "answer IS NULL AND invite IS NOT NULL AND sent_at IS NULL",
            args![],
        )
    }

    /// Records that these prompts' messages left.
    pub fn mark_sent(&mut self, ids: &[String], at: u32) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            for id in ids {
                tx.execute(
                    "UPDATE prompt SET sent_at = ?2 WHERE id = ?1 AND sent_at IS NULL",
                    args![id, at],
                )?;
            }
            Ok(())
        })
    }

    pub(super) fn prompts_where(
        &self,
        condition: &str,
        args: &[Param<'_>],
    ) -> Result<Vec<PromptRecord>, StoreError> {
        self.db.query(
            &format!(
                r#"SELECT id, kind, "user", platform, notify, reason, created_at, expires_at,
                 answer, answered_at, invite, lang, how FROM prompt WHERE {condition}
                 ORDER BY created_at, rowid"#
            ),
            args,
            |r| {
                Ok(PromptRecord {
                    id: r.text(0)?,
                    kind: r.text(1)?,
                    user: r.text(2)?,
                    platform: r.text(3)?,
                    notify: r.text(4)?,
                    reason: r.opt_text(5)?,
                    created_at: r.int(6)?,
                    expires_at: r.int(7)?,
                    answer: r.opt_text(8)?,
                    answered_at: r.opt_int(9)?,
                    invite: r.opt_text(10)?,
                    lang: r.opt_text(11)?,
                    how: r.opt_text(12)?,
                })
            },
        )
    }

    /// Appends disclosure records in one transaction.
    pub fn append_audit(&mut self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(|tx| super::insert_audit(tx, records))
    }

    /// Disclosure records, newest first.
    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        self.db.query(
            r#"SELECT at, platform, "user", command FROM audit
             WHERE (CAST(?1 AS TEXT) IS NULL OR "user" = ?1)
             AND (CAST(?2 AS TEXT) IS NULL OR platform = ?2) AND at >= ?3
             ORDER BY at DESC, rowid DESC LIMIT ?4"#,
            args![
                &filter.user,
                &filter.platform,
                filter.since.unwrap_or(0),
                filter.limit
            ],
            |r| {
                Ok(AuditRecord {
                    at: r.int(0)?,
                    platform: r.text(1)?,
                    user: r.text(2)?,
                    command: r.text(3)?,
                })
            },
        )
    }

    /// Deletes records older than `before`; how many went. Records are appended in time
    /// order, so the old ones are the rows before the first that is not old: found by
    /// reading from the start, and deleted by rowid.
    pub fn prune_audit(&mut self, before: u32) -> Result<usize, StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM audit WHERE rowid < coalesce(
                   (SELECT rowid FROM audit WHERE at >= ?1 ORDER BY rowid LIMIT 1),
                   (SELECT max(rowid) + 1 FROM audit))",
                args![before],
            )
        })
    }

    /// The platforms outside the registry that asked, and when they last did.
    pub fn askers(&self) -> Result<Vec<(String, u32)>, StoreError> {
        self.db.query(
            "SELECT jid, last_at FROM asker ORDER BY last_at DESC",
            args![],
            |row| Ok((row.text(0)?, row.int(1)?)),
        )
    }

    /// Records that these platforms asked (when), in one transaction.
    pub fn save_askers(&mut self, batch: &[(String, u32)]) -> Result<(), StoreError> {
        self.save_times(
            "INSERT INTO asker (jid, last_at) VALUES (?1, ?2)
             ON CONFLICT (jid) DO UPDATE SET last_at = max(asker.last_at, excluded.last_at)",
            batch,
        )
    }

    /// Forgets the platforms that last asked before `before`.
    pub fn prune_askers(&mut self, before: u32) -> Result<usize, StoreError> {
        self.write(|tx| tx.execute("DELETE FROM asker WHERE last_at < ?1", args![before]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: u32, platform: &str, user: &str) -> AuditRecord {
        AuditRecord {
            at,
            platform: platform.to_owned(),
            user: user.to_owned(),
            command: "status".to_owned(),
        }
    }

    #[test]
    fn the_record_is_filtered_newest_first_and_pruned_by_age() {
        crate::store::each::backend(the_record_is_filtered_newest_first_and_pruned_by_age_on);
    }

    fn the_record_is_filtered_newest_first_and_pruned_by_age_on(mut store: Store) {
        store
            .append_audit(&[
                record(100, "arcade@x", "alice@x"),
                record(200, "puzzle@x", "alice@x"),
                record(300, "arcade@x", "bob@x"),
            ])
            .unwrap();
        let all = store
            .audit(&AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(
            all.iter().map(|r| r.at).collect::<Vec<_>>(),
            vec![300, 200, 100]
        );
        let alice_arcade = store
            .audit(&AuditFilter {
                user: Some("alice@x".into()),
                platform: Some("arcade@x".into()),
                since: None,
                limit: 10,
            })
            .unwrap();
        assert_eq!(alice_arcade, vec![record(100, "arcade@x", "alice@x")]);
        let since = store
            .audit(&AuditFilter {
                since: Some(150),
                limit: 1,
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(since, vec![record(300, "arcade@x", "bob@x")]);
        assert_eq!(store.prune_audit(250).unwrap(), 2);
        assert_eq!(store.prune_audit(1_000).unwrap(), 1);
        assert_eq!(store.prune_audit(1_000).unwrap(), 0);
    }
}
