//! The news outbox and the platforms' webhooks (see [`crate::news`]).
//!
//! The core appends events in its transactions ([`super::Write::News`]); the deliverer
//! and the event stream read and mark them through their own connection.

use super::db::{args, Row};
use super::{Store, StoreError};

/// An event as stored, with how its delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewsRecord {
    pub id: i64,
    pub platform: String,
    pub thread: String,
    pub at: u32,
    /// The event's JSON without `id` and `at` ([`crate::news::Event::json`] adds them).
    pub body: String,
    pub attempts: u32,
    /// When the next delivery attempt is due.
    pub next_at: u32,
    pub delivered_at: Option<u32>,
    pub failed_at: Option<u32>,
    pub last_error: Option<String>,
}

impl NewsRecord {
    /// The event as delivered and streamed.
    pub fn json(&self) -> String {
        crate::news::Event::json(self.id, u64::from(self.at), &self.body)
    }
}

/// A platform's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub platform: String,
    pub url: String,
    pub secret: String,
}

/// A query of whole events: `SELECT` every column `FROM news`, then `$tail`.
macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT id, platform, thread, at, body, attempts, next_at, delivered_at, failed_at,
             last_error FROM news ",
            $tail
        )
    };
}

fn record(row: &Row<'_>) -> Result<NewsRecord, StoreError> {
    Ok(NewsRecord {
        id: row.int(0)?,
        platform: row.text(1)?,
        thread: row.text(2)?,
        at: row.int(3)?,
        body: row.text(4)?,
        attempts: row.int(5)?,
        next_at: row.int(6)?,
        delivered_at: row.opt_int(7)?,
        failed_at: row.opt_int(8)?,
        last_error: row.opt_text(9)?,
    })
}

impl Store {
    /// `platform`'s events after `after`, oldest first, at most `limit`.
    pub fn news_after(
        &self,
        platform: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<NewsRecord>, StoreError> {
        self.db.query(
            select!("WHERE platform = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
            args![platform, after, limit as i64],
            record,
        )
    }

    /// `platform`'s events not delivered or given up yet, oldest first, at most `limit`:
    /// what its webhook is owed, in order.
    pub fn news_owed(&self, platform: &str, limit: usize) -> Result<Vec<NewsRecord>, StoreError> {
        self.db.query(
            select!(
                "WHERE platform = ?1 AND delivered_at IS NULL AND failed_at IS NULL
                 ORDER BY id LIMIT ?2"
            ),
            args![platform, limit as i64],
            record,
        )
    }

    /// `platform`'s latest events, newest first, at most `limit`: for the operator.
    pub fn news_latest(&self, platform: &str, limit: usize) -> Result<Vec<NewsRecord>, StoreError> {
        self.db.query(
            select!("WHERE platform = ?1 ORDER BY id DESC LIMIT ?2"),
            args![platform, limit as i64],
            record,
        )
    }

    /// The newest event's id (0 without any).
    pub fn news_last_id(&self) -> Result<i64, StoreError> {
        Ok(self
            .db
            .query_one("SELECT COALESCE(MAX(id), 0) FROM news", args![], |r| {
                r.int(0)
            })?
            .unwrap_or(0))
    }

    /// Marks events delivered at `at`, in one transaction.
    pub fn news_delivered(&mut self, ids: &[i64], at: u32) -> Result<(), StoreError> {
        self.write(|tx| {
            for id in ids {
                tx.execute(
                    "UPDATE news SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL
                     WHERE id = ?1",
                    args![*id, at],
                )?;
            }
            Ok(())
        })
    }

    /// Records a failed attempt: the next one is due at `next_at`; with `give_up`, none
    /// is (delivery failed for good).
    pub fn news_attempt_failed(
        &mut self,
        id: i64,
        (at, next_at): (u32, u32),
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE news SET attempts = attempts + 1, next_at = ?2, last_error = ?3,
                 failed_at = CASE WHEN ?4 = 1 THEN CAST(?5 AS BIGINT) ELSE NULL END WHERE id = ?1",
                args![id, next_at, error, give_up, at],
            )
        })?;
        Ok(())
    }

    /// Deletes events older than `before`, and each platform's oldest past the newest
    /// `cap`; the number deleted.
    pub fn prune_news(&mut self, before: u32, cap: usize) -> Result<usize, StoreError> {
        self.write(|tx| {
            let old = tx.execute("DELETE FROM news WHERE at < ?1", args![before])?;
            let over = tx.execute(
                "DELETE FROM news WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER
                 (PARTITION BY platform ORDER BY id DESC) AS n FROM news) AS ranked WHERE n > ?1)",
                args![cap as i64],
            )?;
            Ok(old + over)
        })
    }

    /// Sets (or, with `None`, removes) a platform's webhook; `false` if there is no such
    /// platform.
    pub fn set_webhook(
        &self,
        platform: &str,
        hook: Option<(&str, &str)>,
        now: u32,
    ) -> Result<bool, StoreError> {
        let (url, secret) = hook.unzip();
        Ok(self.db.execute(
            "UPDATE platform SET webhook_url = ?2, webhook_secret = ?3, updated_at = ?4
             WHERE jid = ?1",
            args![platform, url, secret, now],
        )? == 1)
    }

    /// Every platform's webhook.
    pub fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.db.query(
            "SELECT jid, webhook_url, webhook_secret FROM platform
             WHERE webhook_url IS NOT NULL AND webhook_secret IS NOT NULL ORDER BY jid",
            args![],
            |row| {
                Ok(Webhook {
                    platform: row.text(0)?,
                    url: row.text(1)?,
                    secret: row.text(2)?,
                })
            },
        )
    }

    /// A platform's webhook URL, if it has one.
    pub fn webhook_url(&self, platform: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_one(
                "SELECT webhook_url FROM platform WHERE jid = ?1",
                args![platform],
                |r| r.opt_text(0),
            )?
            .flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::news::Event;
    use crate::store::Write;

    fn event(platform: &str, thread: &str) -> Write {
        Write::News(Event {
            platform: platform.to_owned(),
            thread: thread.to_owned(),
            body: "{\"type\":\"invite\"}".to_owned(),
        })
    }

    #[test]
    fn events_are_owed_in_order_until_delivered_or_given_up() {
        crate::store::each::backend(events_are_owed_in_order_until_delivered_or_given_up_on);
    }

    fn events_are_owed_in_order_until_delivered_or_given_up_on(mut store: Store) {
        store
            .commit(&[event("a@x", "1"), event("b@x", "2"), event("a@x", "1")])
            .unwrap();
        let owed = store.news_owed("a@x", 10).unwrap();
        assert_eq!(owed.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 3]);
        assert!(
            owed[0].json().starts_with("{\"id\":\"1\",\"at\":\""),
            "{}",
            owed[0].json()
        );
        store.news_delivered(&[1], 100).unwrap();
        store
            .news_attempt_failed(3, (100, 160), "503", false)
            .unwrap();
        let owed = store.news_owed("a@x", 10).unwrap();
        assert_eq!((owed[0].id, owed[0].attempts, owed[0].next_at), (3, 1, 160));
        store
            .news_attempt_failed(3, (200, 0), "gone", true)
            .unwrap();
        assert!(store.news_owed("a@x", 10).unwrap().is_empty());
        // The stream still reads them all, and the operator sees how each went.
        assert_eq!(store.news_after("a@x", 0, 10).unwrap().len(), 2);
        let latest = store.news_latest("a@x", 10).unwrap();
        assert_eq!(latest[0].failed_at, Some(200));
        assert_eq!(latest[1].delivered_at, Some(100));
        assert_eq!(store.news_after("a@x", 1, 10).unwrap()[0].id, 3);
        assert_eq!(store.news_last_id().unwrap(), 3);
    }

    #[test]
    fn pruning_keeps_each_platforms_newest() {
        crate::store::each::backend(pruning_keeps_each_platforms_newest_on);
    }

    fn pruning_keeps_each_platforms_newest_on(mut store: Store) {
        let writes: Vec<Write> = (0..5).map(|n| event("a@x", &n.to_string())).collect();
        store.commit(&writes).unwrap();
        store.commit(&[event("b@x", "b")]).unwrap();
        assert_eq!(store.prune_news(0, 2).unwrap(), 3);
        let kept: Vec<i64> = store
            .news_after("a@x", 0, 10)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(kept, [4, 5]);
        assert_eq!(store.news_after("b@x", 0, 10).unwrap().len(), 1);
        assert_eq!(store.prune_news(u32::MAX, 2).unwrap(), 3);
    }
}
