//! The leader's lease: which of the bridges sharing a database links to the chat server
//! and writes (see the `lease` table in the schema).
//!
//! A bridge claims the lease for a while (its time to live, by the database's clock, so
//! that the machines' clocks do not matter) and renews it well before it runs out. A
//! claim succeeds when the lease is free, has run out, or is the claimant's own term;
//! taking it from another holder starts a new term. The holder's store is then fenced
//! with its term ([`Store::fence`]): each of its write transactions first checks that
//! the lease is still its own, under a lock a claimant's takeover waits for on
//! PostgreSQL, so a holder that was paused past its lease writes nothing once another
//! took over.

use super::db::{args, Db};
use super::{Store, StoreError};

/// The lease's row.
const LEASE: &str = "leader";

/// Who holds the lease and in which term: what a fenced store's writes check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub term: i64,
}

/// The database's clock in milliseconds since the Unix epoch, as each database says it.
fn now_ms(db: &Db) -> &'static str {
    match db {
        Db::Sqlite(_) => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        Db::Postgres(_) => "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

impl Store {
    /// Claims (or renews) the lease for `holder` for `ttl_ms`: its term if `holder`
    /// holds it now, `None` if another does. `current` is the term `holder` holds (a
    /// renewal), if any: a renewal never starts a new term, and fails if the lease moved
    /// on meanwhile.
    pub fn claim(
        &self,
        holder: &str,
        current: Option<i64>,
        ttl_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_ms(&self.db);
        let sql = format!(
            "INSERT INTO lease (name, term, holder, expires_ms) VALUES (?1, 1, ?2, {now} + ?4)
             ON CONFLICT (name) DO UPDATE SET
               term = CASE WHEN lease.holder = excluded.holder AND lease.term = ?3
                      THEN lease.term ELSE lease.term + 1 END,
               holder = excluded.holder,
               expires_ms = excluded.expires_ms
             WHERE (lease.holder = excluded.holder AND lease.term = ?3)
                OR (CAST(?3 AS BIGINT) = -1 AND lease.expires_ms < {now})
             RETURNING term"
        );
        let term = self.db.query_one(
            &sql,
            args![LEASE, holder, current.unwrap_or(-1), ttl_ms],
            |r| r.int::<i64>(0),
        )?;
        Ok(term.filter(|term| current.is_none_or(|c| c == *term)))
    }

    /// Gives the lease up at once (a clean stop): a waiting bridge takes over at its next
    /// look rather than when the lease would have run out.
    pub fn release(&self, fence: &Fence) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE lease SET expires_ms = 0 WHERE name = ?1 AND holder = ?2 AND term = ?3",
            args![LEASE, fence.holder.as_str(), fence.term],
        )?;
        Ok(())
    }

    /// Ends `holder`'s lease now, whoever asks: for a holder known to be gone (a process
    /// of this machine that is no longer there).
    pub fn expire(&self, holder: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE lease SET expires_ms = 0 WHERE name = ?1 AND holder = ?2",
            args![LEASE, holder],
        )?;
        Ok(())
    }

    /// The lease as it is: its holder, term, and how many milliseconds it has left (by
    /// the database's clock; negative once it ran out).
    pub fn lease(&self) -> Result<Option<(String, i64, i64)>, StoreError> {
        let now = now_ms(&self.db);
        self.db.query_one(
            &format!("SELECT holder, term, expires_ms - {now} FROM lease WHERE name = ?1"),
            args![LEASE],
            |r| Ok((r.text(0)?, r.int(1)?, r.int(2)?)),
        )
    }

    /// The lease of the database at `location`, read without creating or migrating
    /// anything (`doctor`): its holder, term and milliseconds left, if there is one.
    pub fn held_lease(
        location: &super::Location,
    ) -> Result<Option<(String, i64, i64)>, StoreError> {
        let store = match location {
            super::Location::Sqlite(path) => {
                if !path.exists() {
                    return Ok(None);
                }
                Store {
                    db: Db::Sqlite(super::open_read_only(path)?),
                    fence: None,
                }
            }
            super::Location::Postgres(url) => Store {
                db: Db::Postgres(Box::new(std::cell::RefCell::new(
                    super::db::Postgres::connect(url)?,
                ))),
                fence: None,
            },
        };
        // A database older than the lease has none.
        if store.schema_version()? < 10 {
            return Ok(None);
        }
        store.lease()
    }

    /// From now on every write of this store's checks that `fence` still holds the lease
    /// ([`StoreError::Fenced`] otherwise).
    pub fn fence(&mut self, fence: Fence) {
        self.fence = Some(fence);
    }

    /// Runs `work` in a write transaction that first checks the fence, if the store has
    /// one.
    pub(super) fn write<T>(
        &mut self,
        work: impl FnOnce(&mut super::db::Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let check = self.fence.as_ref().map(|fence| {
            let lock = match self.db {
                Db::Sqlite(_) => "",
                // A takeover's UPDATE of the row waits until this transaction ends.
                Db::Postgres(_) => " FOR SHARE",
            };
            (
                format!(
                    "SELECT term FROM lease WHERE name = ?1 AND holder = ?2 AND term = ?3{lock}"
                ),
                fence.clone(),
            )
        });
        self.db.transaction(|tx| {
            if let Some((sql, fence)) = &check {
                let held = tx.query(sql, args![LEASE, fence.holder.as_str(), fence.term], |r| {
                    r.int::<i64>(0)
                })?;
                if held.is_empty() {
                    return Err(StoreError::Fenced { term: fence.term });
                }
            }
            work(tx)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{each, Write};

    fn meta(value: &str) -> Write {
        Write::Meta {
            key: "k".into(),
            value: value.into(),
        }
    }

    fn run_out() {
        std::thread::sleep(std::time::Duration::from_millis(30));
    }

    #[test]
    fn one_holder_at_a_time_and_a_new_term_at_each_change() {
        each::place(|place| {
            let (a, b) = (place.open(), place.open());
            let first = a.claim("a", None, 60_000).unwrap().unwrap();
            assert_eq!(b.claim("b", None, 60_000).unwrap(), None);
            assert_eq!(a.claim("a", Some(first), 60_000).unwrap(), Some(first));
            let (holder, term, left) = b.lease().unwrap().unwrap();
            assert_eq!((holder.as_str(), term), ("a", first));
            assert!(left > 50_000 && left <= 60_000, "{left}");
            // a's lease runs out unrenewed: b takes it, in a new term.
            a.claim("a", Some(first), 1).unwrap();
            run_out();
            let second = b.claim("b", None, 60_000).unwrap().unwrap();
            assert_eq!(second, first + 1);
            // a can neither renew its old term nor claim anew while b holds it.
            assert_eq!(a.claim("a", Some(first), 60_000).unwrap(), None);
            assert_eq!(a.claim("a", None, 60_000).unwrap(), None);
            // A lease that ran out but was not taken is still its holder's to renew.
            b.claim("b", Some(second), 1).unwrap();
            run_out();
            assert_eq!(b.claim("b", Some(second), 60_000).unwrap(), Some(second));
        });
    }

    #[test]
    fn a_fenced_store_writes_nothing_once_another_took_over() {
        each::place(|place| {
            let (mut a, mut b) = (place.open(), place.open());
            let term = a.claim("a", None, 1).unwrap().unwrap();
            a.fence(Fence {
                holder: "a".into(),
                term,
            });
            a.commit(&[meta("a's")]).unwrap();
            run_out();
            let taken = b.claim("b", None, 60_000).unwrap().unwrap();
            b.fence(Fence {
                holder: "b".into(),
                term: taken,
            });
            let fenced = |e: StoreError| matches!(e, StoreError::Fenced { term: t } if t == term);
            assert!(fenced(a.commit(&[meta("late")]).unwrap_err()));
            assert!(fenced(
                a.save_last_seen(&[("alice@x".into(), 5)]).unwrap_err()
            ));
            assert!(fenced(a.prune_audit(u32::MAX).unwrap_err()));
            assert!(fenced(a.news_delivered(&[1], 5).unwrap_err()));
            assert_eq!(b.meta("k").unwrap().as_deref(), Some("a's"));
            assert_eq!(b.last_seen("alice@x").unwrap(), None);
            b.commit(&[meta("b's")]).unwrap();
            assert_eq!(a.meta("k").unwrap().as_deref(), Some("b's"));
        });
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        each::place(|place| {
            let (a, b) = (place.open(), place.open());
            let term = a.claim("a", None, 60_000).unwrap().unwrap();
            assert_eq!(b.claim("b", None, 60_000).unwrap(), None);
            a.release(&Fence {
                holder: "a".into(),
                term,
            })
            .unwrap();
            assert_eq!(b.claim("b", None, 60_000).unwrap(), Some(term + 1));
        });
    }

    /// What one of three bridges does to the lease.
    #[derive(Debug, Clone, Copy)]
    enum Act {
        /// Claims it afresh.
        Claim(usize),
        /// Renews the term it knows.
        Renew(usize),
        /// Renews it so that it has run out at once (the holder paused past it).
        Lapse(usize),
        /// Writes, fenced with the term it knows.
        Write(usize),
    }

    fn act() -> impl proptest::strategy::Strategy<Value = Act> {
        use proptest::prelude::*;
        (0..4u8, 0..3usize).prop_map(|(kind, who)| match kind {
            0 => Act::Claim(who),
            1 => Act::Renew(who),
            2 => Act::Lapse(who),
            _ => Act::Write(who),
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever three bridges do, the database agrees with the model: a claim
        /// succeeds only on a free or run-out lease and starts a new term; a renewal
        /// only in the holder's current term; a fenced write only in the writer's
        /// current term. So at most one bridge writes at any time.
        #[test]
        fn the_lease_behaves_as_its_model(acts in proptest::collection::vec(act(), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("bridge.sqlite");
            let mut stores: Vec<Store> = (0..3).map(|_| Store::open(&path).unwrap()).collect();
            let names = ["a", "b", "c"];
            // The model: the row (holder, term, run out), and the term each knows.
            let mut row: Option<(usize, i64, bool)> = None;
            let mut known: [Option<i64>; 3] = [None; 3];
            for act in acts {
                match act {
                    Act::Claim(who) => {
                        let got = stores[who].claim(names[who], None, 60_000).unwrap();
                        let expected = match row {
                            None => Some(1),
                            Some((_, term, true)) => Some(term + 1),
                            Some((_, _, false)) => None,
                        };
                        proptest::prop_assert_eq!(got, expected);
                        if let Some(term) = got {
                            row = Some((who, term, false));
                            known[who] = Some(term);
                        }
                    }
                    Act::Renew(who) | Act::Lapse(who) => {
                        let Some(mine) = known[who] else { continue };
                        let ttl = if matches!(act, Act::Lapse(_)) { -60_000 } else { 60_000 };
                        let got = stores[who].claim(names[who], Some(mine), ttl).unwrap();
                        let holds = matches!(row, Some((h, t, _)) if h == who && t == mine);
                        proptest::prop_assert_eq!(got, holds.then_some(mine));
                        if holds {
                            row = Some((who, mine, ttl < 0));
                        }
                    }
                    Act::Write(who) => {
                        let Some(mine) = known[who] else { continue };
                        stores[who].fence(Fence { holder: names[who].into(), term: mine });
                        let wrote = stores[who].commit(&[meta(names[who])]);
                        let holds = matches!(row, Some((h, t, _)) if h == who && t == mine);
                        proptest::prop_assert_eq!(wrote.is_ok(), holds, "{:?}", wrote);
                    }
                }
            }
        }
    }
}
