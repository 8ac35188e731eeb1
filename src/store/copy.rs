//! `xmpp-game-bridge migrate-storage`: a SQLite database copied into PostgreSQL, and the
//! copy checked.
//!
//! The SQLite file is opened read-only and read in one transaction, so what is copied is
//! one consistent moment of it, even while a bridge runs on it (the operator stops the
//! bridge for the last copy: what it writes afterwards stays behind). The PostgreSQL
//! database is migrated to the same schema version and must hold nothing yet; every table
//! is copied in one transaction, in an order that satisfies the foreign keys, with the
//! row ids of the tables read in insertion order, and the id sequences moved past them.
//! Then both are read again and compared table by table: the number of rows and a
//! SHA-256 of every row's values, in the same order on both sides.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::db::{Db, Value};
use super::{migrations, Store, StoreError, SCHEMA_VERSION};

/// A table, its columns (the same on both sides; `rowid` is SQLite's own), and the
/// columns its rows are read in order of (text compared byte by byte on both sides).
struct Table {
    name: &'static str,
    columns: &'static str,
    order: &'static str,
    /// Its identity column in PostgreSQL, moved past the copied rows.
    identity: Option<&'static str>,
}

/// Every table, parents before children.
const TABLES: &[Table] = &[
    Table {
        name: "meta",
        columns: "key, value",
        order: "key",
        identity: None,
    },
    Table {
        name: "last_seen",
        columns: "jid, seen_at",
        order: "jid",
        identity: None,
    },
    Table {
        name: "platform",
        columns: "jid, name, authorized, rights, domains, launch_schemes, created_at, updated_at, answers, doors, webhook_url, webhook_secret",
        order: "jid",
        identity: None,
    },
    Table {
        name: "platform_token",
        columns: "id, platform, hash, created_at",
        order: "id",
        identity: None,
    },
    Table {
        name: "consent",
        columns: r#""user", platform, share, at"#,
        order: r#""user", platform"#,
        identity: None,
    },
    Table {
        name: "self_status",
        columns: r#""user", text, set_by, set_at"#,
        order: r#""user""#,
        identity: None,
    },
    Table {
        name: "audit",
        columns: r#"rowid, at, platform, "user", command"#,
        order: "rowid",
        identity: Some("rowid"),
    },
    Table {
        name: "invite",
        columns: "rowid, id, platform, notify, host, game, session, join_uri, max_players, sent, created_at, expires_at, state, changed_at",
        order: "rowid",
        identity: Some("rowid"),
    },
    Table {
        name: "prompt",
        columns: r#"rowid, id, kind, "user", platform, notify, reason, created_at, expires_at, answer, answered_at, invite, lang, sent_at, how"#,
        order: "rowid",
        identity: Some("rowid"),
    },
    Table {
        name: "mute",
        columns: r#""user", host, at"#,
        order: r#""user", host"#,
        identity: None,
    },
    Table {
        name: "asker",
        columns: "jid, last_at",
        order: "jid",
        identity: None,
    },
    Table {
        name: "news",
        columns: "id, platform, thread, at, body, attempts, next_at, delivered_at, failed_at, last_error",
        order: "id",
        identity: Some("id"),
    },
];

/// One table as found on both sides after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    pub table: &'static str,
    pub source_rows: usize,
    pub target_rows: usize,
    pub source_sum: String,
    pub target_sum: String,
}

impl Compared {
    pub fn same(&self) -> bool {
        self.source_rows == self.target_rows && self.source_sum == self.target_sum
    }
}

/// Why a copy was not made.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
}

/// Copies the SQLite database at `from` into the PostgreSQL database at `to`; how each
/// table compares afterwards.
pub fn sqlite_to_postgres(from: &Path, to: &str) -> Result<Vec<Compared>, CopyError> {
    if !from.is_file() {
        return Err(CopyError::Refused(format!(
            "{} is not a file: name the SQLite database of [storage] path",
            from.display()
        )));
    }
    let source = super::open_read_only(from)?;
    let version = migrations::user_version(&source).map_err(StoreError::from)?;
    if version != SCHEMA_VERSION {
        return Err(CopyError::Refused(format!(
            "{} is at schema version {version}, this binary copies version {SCHEMA_VERSION}: start this version of the bridge on it once (it migrates the file), stop it, then copy",
            from.display()
        )));
    }
    let source = Db::Sqlite(source);
    let mut target = Store::connect(to)?;
    // The copy's transaction waits while a large table is read from SQLite: it is not
    // the bridge's, and must not be ended as a paused bridge's would be.
    target
        .db
        .execute("SET idle_in_transaction_session_timeout = 0", &[])?;
    for table in TABLES {
        let rows = count(&target.db, table)?;
        if rows > 0 {
            return Err(CopyError::Refused(format!(
                "the PostgreSQL database already holds data ({} rows in {}): copy into an empty database",
                rows, table.name
            )));
        }
    }
    read_snapshot(&source, |source| {
        target.db.transaction(|tx| {
            for table in TABLES {
                let select = format!("SELECT {} FROM {}", table.columns, table.name);
                let width = table.columns.split(',').count();
                let rows = source.query(&select, &[], |row| {
                    (0..width)
                        .map(|i| row.value(i))
                        .collect::<Result<Vec<_>, _>>()
                })?;
                let marks: Vec<String> = (1..=width).map(|i| format!("?{i}")).collect();
                let insert = format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    table.name,
                    table.columns,
                    marks.join(", ")
                );
                for row in &rows {
                    let args: Vec<super::db::Param<'_>> = row.iter().map(Into::into).collect();
                    tx.execute(&insert, &args)?;
                }
                if let Some(column) = table.identity {
                    tx.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{name}', '{column}'),
                             GREATEST(COALESCE((SELECT max({column}) FROM {name}), 0), 1),
                             (SELECT max({column}) FROM {name}) IS NOT NULL)",
                            name = table.name
                        ),
                        &[],
                    )?;
                }
            }
            // Bridges already running on the target read the registry again.
            tx.execute("SELECT nextval('registry_changes')", &[])?;
            Ok(())
        })
    })?;
    drop(target);
    Ok(compare(from, to)?)
}

/// How the SQLite database at `from` and the PostgreSQL database at `to` compare, table
/// by table.
pub fn compare(from: &Path, to: &str) -> Result<Vec<Compared>, StoreError> {
    let source = Db::Sqlite(super::open_read_only(from)?);
    let target = Store::connect(to)?;
    let mut compared = Vec::new();
    read_snapshot(&source, |source| {
        for table in TABLES {
            let (source_rows, source_sum) = digest(source, table, Side::Sqlite)?;
            let (target_rows, target_sum) = digest(&target.db, table, Side::Postgres)?;
            compared.push(Compared {
                table: table.name,
                source_rows,
                target_rows,
                source_sum,
                target_sum,
            });
        }
        Ok(())
    })?;
    Ok(compared)
}

/// Every table of the PostgreSQL database at `url`: its rows and their checksum (as
/// [`compare`] reads them): what a test compares before and after, to see whether
/// anything wrote.
pub fn fingerprint(url: &str) -> Result<Vec<(&'static str, usize, String)>, StoreError> {
    let target = Store::connect(url)?;
    TABLES
        .iter()
        .map(|table| {
            let (rows, sum) = digest(&target.db, table, Side::Postgres)?;
            Ok((table.name, rows, sum))
        })
        .collect()
}

/// Runs `work` on one consistent moment of the SQLite database.
fn read_snapshot<T>(
    source: &Db,
    work: impl FnOnce(&Db) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    source.execute("BEGIN", &[])?;
    let result = work(source);
    source.execute("COMMIT", &[])?;
    result
}

fn count(db: &Db, table: &Table) -> Result<i64, StoreError> {
    Ok(db
        .query_one(&format!("SELECT count(*) FROM {}", table.name), &[], |r| {
            r.int(0)
        })?
        .unwrap_or(0))
}

#[derive(Clone, Copy)]
enum Side {
    Sqlite,
    Postgres,
}

/// The number of rows of `table` and the SHA-256 of their values, read in order
/// (text byte by byte on both sides).
fn digest(db: &Db, table: &Table, side: Side) -> Result<(usize, String), StoreError> {
    let collate = match side {
        Side::Sqlite => "COLLATE BINARY",
        Side::Postgres => r#"COLLATE "C""#,
    };
    let order: Vec<String> = table
        .order
        .split(',')
        .map(|column| {
            let column = column.trim();
            if column == "rowid" || column == "id" && table.identity.is_some() {
                column.to_owned()
            } else {
                format!("{column} {collate}")
            }
        })
        .collect();
    let width = table.columns.split(',').count();
    let select = format!(
        "SELECT {} FROM {} ORDER BY {}",
        table.columns,
        table.name,
        order.join(", ")
    );
    let mut hash = Sha256::new();
    let rows = db.query(&select, &[], |row| {
        for i in 0..width {
            match row.value(i)? {
                Value::Null => hash.update([0]),
                Value::Int(v) => {
                    hash.update([1]);
                    hash.update(v.to_be_bytes());
                }
                Value::Text(t) => {
                    hash.update([2]);
                    hash.update((t.len() as u64).to_be_bytes());
                    hash.update(t.as_bytes());
                }
                Value::Bytes(b) => {
                    hash.update([3]);
                    hash.update((b.len() as u64).to_be_bytes());
                    hash.update(&b);
                }
            }
        }
        Ok(())
    })?;
    let sum: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((rows.len(), sum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{InviteRecord, InviteState, PromptRecord, Write};

    /// A SQLite database with a row in every table.
    fn populated(path: &Path) {
        let mut store = Store::open(path).unwrap();
        store.set_meta("next_id", "5000").unwrap();
        store
            .save_last_seen(&[("alice@x".into(), 100), ("bob@x".into(), 90)])
            .unwrap();
        let platform = crate::store::PlatformRecord {
            jid: "arcade@x".into(),
            name: "Arcade ✓".into(),
            authorized: true,
            rights: Some("invite".into()),
            domains: None,
            launch_schemes: None,
            answers: None,
            doors: None,
            created_at: 1,
            updated_at: 1,
            tokens: Vec::new(),
        };
        store.add_platform(&platform).unwrap();
        store
            .add_token("arcade@x", "0a1b2c3d", &[0, 255, 7], 2)
            .unwrap();
        store
            .set_webhook("arcade@x", Some(("https://h.example/x", "s")), 3)
            .unwrap();
        let invite = InviteRecord {
            id: "i1".into(),
            platform: "arcade@x".into(),
            notify: "arcade@x/engine".into(),
            host: "alice@x".into(),
            game: "Chess".into(),
            session: "t7".into(),
            join_uri: None,
            max_players: Some(4),
            sent: 1,
            created_at: 10,
            expires_at: 700,
            state: InviteState::Open,
            changed_at: 10,
        };
        let mut prompt = PromptRecord::new(
            "p1".into(),
            "invite",
            "bob@x".into(),
            "arcade@x".into(),
            "arcade@x/engine".into(),
            10,
            700,
        );
        prompt.invite = Some("i1".into());
        let consent = PromptRecord::new(
            "p2".into(),
            "consent",
            "Zoë@x".into(),
            "arcade@x".into(),
            "arcade@x".into(),
            11,
            900,
        );
        store
            .commit(&[
                Write::Consent(
                    crate::store::Choice {
                        user: "alice@x".into(),
                        platform: None,
                        share: true,
                    },
                    5,
                ),
                Write::SelfStatus {
                    user: "alice@x".into(),
                    status: Some(crate::store::SelfStatusRecord {
                        user: "alice@x".into(),
                        text: "playing".into(),
                        set_by: "alice@x".into(),
                        set_at: 6,
                    }),
                },
                Write::Invite(invite),
                Write::Prompt(prompt),
                Write::Prompt(consent),
                Write::PromptAnswer {
                    id: "p2".into(),
                    answer: "no",
                    at: 12,
                    how: Some("chat"),
                },
                Write::Mute {
                    user: "bob@x".into(),
                    host: "*".into(),
                    mute: true,
                    at: 13,
                },
                Write::News(crate::news::Event {
                    platform: "arcade@x".into(),
                    thread: "i1".into(),
                    body: "{}".into(),
                }),
            ])
            .unwrap();
        store
            .append_audit(&[crate::store::AuditRecord {
                at: 20,
                platform: "arcade@x".into(),
                user: "alice@x".into(),
                command: "peers".into(),
            }])
            .unwrap();
        store.save_askers(&[("games.x".into(), 30)]).unwrap();
        store.close().unwrap();
    }

    fn file_sum(path: &Path) -> Vec<u8> {
        Sha256::digest(std::fs::read(path).unwrap()).to_vec()
    }

    #[test]
    fn every_table_is_copied_and_checked_and_the_source_is_not_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.sqlite");
        populated(&path);
        let before = file_sum(&path);
        let target = crate::store::testkit::database().unwrap();
        let compared = sqlite_to_postgres(&path, &target.url).unwrap();
        assert_eq!(compared.len(), TABLES.len());
        for c in &compared {
            assert!(c.same(), "{c:?}");
            assert!(c.source_rows > 0, "{} has no row to copy", c.table);
        }
        assert_eq!(file_sum(&path), before, "the source changed");
        assert!(
            !dir.path().join("bridge.sqlite-wal").exists()
                || std::fs::metadata(dir.path().join("bridge.sqlite-wal"))
                    .unwrap()
                    .len()
                    == 0
        );
        // The copy is a working database: what the bridge reads is there, and new rows
        // get new ids past the copied ones.
        let mut copy = Store::connect(&target.url).unwrap();
        assert_eq!(copy.last_seen("alice@x").unwrap(), Some(100));
        assert_eq!(
            copy.platform("arcade@x").unwrap().unwrap().tokens[0].hash,
            vec![0, 255, 7]
        );
        assert_eq!(
            copy.refused_since("Zoë@x", "arcade@x", "consent", 0)
                .unwrap(),
            Some(12)
        );
        assert_eq!(copy.invite_prompts("i1").unwrap().len(), 1);
        copy.commit(&[Write::News(crate::news::Event {
            platform: "arcade@x".into(),
            thread: "i2".into(),
            body: "{}".into(),
        })])
        .unwrap();
        assert_eq!(copy.news_last_id().unwrap(), 2);
        assert_eq!(copy.meta("next_id").unwrap().as_deref(), Some("5000"));
        // A copy that differs by one value is told apart.
        copy.save_last_seen(&[("bob@x".into(), 91)]).unwrap();
        let differs: Vec<_> = compare(&path, &target.url)
            .unwrap()
            .into_iter()
            .filter(|c| !c.same())
            .map(|c| c.table)
            .collect();
        assert_eq!(differs, ["last_seen", "news"]);
    }

    #[test]
    fn a_target_that_holds_data_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.sqlite");
        populated(&path);
        let target = crate::store::testkit::database().unwrap();
        let store = Store::connect(&target.url).unwrap();
        store.set_meta("mine", "keep").unwrap();
        let err = sqlite_to_postgres(&path, &target.url)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already holds data"), "{err}");
        assert_eq!(store.meta("mine").unwrap().as_deref(), Some("keep"));
        assert_eq!(store.last_seen("alice@x").unwrap(), None);
    }

    #[test]
    fn a_source_at_another_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.sqlite");
        populated(&path);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION - 1)
            .unwrap();
        drop(conn);
        let target = crate::store::testkit::database().unwrap();
        let err = sqlite_to_postgres(&path, &target.url)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("start this version of the bridge on it once"),
            "{err}"
        );
        assert!(sqlite_to_postgres(&dir.path().join("missing.sqlite"), &target.url).is_err());
    }
}
