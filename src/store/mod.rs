//! Durable state, in SQLite (the embedded default) or PostgreSQL: one interface over
//! both, written once in the SQL both understand (see [`db`]).
//!
//! The schema and its migrations are `schema.sql` and `schema-postgres.sql` (see
//! [`migrations`]). SQLite runs in WAL mode with foreign keys on. A database written by a
//! newer version of the component is refused rather than guessed at.
//!
//! The store is owned by the core, which runs on its own thread, so database calls never
//! block the async runtime that carries the link to the server.

pub mod copy;
pub mod db;
mod invites;
mod job;
mod lease;
pub mod migrations;
mod news;
mod platforms;
mod privacy;
pub mod reads;
#[doc(hidden)]
pub mod testkit;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use db::{args, Db};

pub use invites::{InviteRecord, InviteState};
pub use job::{Batch, Done, Job};
pub use lease::Fence;
pub use migrations::SCHEMA_VERSION;
pub use news::{NewsRecord, Webhook};
pub use platforms::{PlatformRecord, TokenRecord};
pub use privacy::{AuditFilter, AuditRecord, Choice, PromptRecord, SelfStatusRecord, ALL};
pub use reads::{Fetched, Read, Reads};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database is at schema version {found}, newer than this xmpp-game-bridge understands ({supported}); run the newer version or restore a backup"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("the schema file is malformed: {0}")]
    Schema(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot connect to PostgreSQL at {url}: {source}")]
    Connect {
        url: String,
        source: postgres::Error,
    },
    #[error("PostgreSQL: {}", postgres_text(.0))]
    Postgres(#[from] postgres::Error),
    /// A value that does not fit where it goes.
    #[error("a stored value does not fit: {0}")]
    Value(String),
    /// A change that no longer applies (a prompt answered meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// The write of a bridge whose lease another bridge took over.
    #[error("this bridge's lease (term {term}) was taken over by another bridge; it writes nothing more")]
    Fenced { term: i64 },
}

/// PostgreSQL's own message, with its detail, rather than only "db error".
fn postgres_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    }
}

/// Where the durable state lives: `[storage] path` or `[storage] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://…` or `host=… dbname=…`).
    Postgres(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&db::redact(url)),
        }
    }
}

/// The SQLite database at `path`, opened only to read (`doctor`, `migrate-storage`): it
/// is neither created nor migrated, and waits up to 5 s for a writer's lock.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// What [`Store::inspect_postgres`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    pub version: u32,
    pub writable: bool,
}

/// How long a statement waits for a lock held by another process.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);
/// WAL pages after which a commit checkpoints by itself: the fallback, should the
/// [`Checkpointer`] fall behind (SQLite's default is 1,000).
const AUTOCHECKPOINT_PAGES: i64 = 10_000;

pub struct Store {
    db: Db,
    /// The lease its writes check, once it holds one.
    fence: Option<Fence>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `location`.
    pub fn open_at(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres(url) => Store::connect(url),
        }
    }

    /// Connects to PostgreSQL at `url` and migrates its schema.
    pub fn connect(url: &str) -> Result<Store, StoreError> {
        let mut pg = db::Postgres::connect(url)?;
        migrations::migrate_postgres(pg.client()?)?;
        Ok(Store {
            db: Db::Postgres(Box::new(RefCell::new(pg))),
            fence: None,
        })
    }

    /// Which database this is: `sqlite` or `postgresql`.
    pub fn kind(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgresql",
        }
    }

    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                    path: path.to_owned(),
                    source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
                })?;
            }
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
        Store::prepare(conn)
    }

    /// The schema version of the database at `path`, opened read-only: for a look
    /// (`doctor`) that must neither create nor migrate it.
    pub fn inspect(path: &Path) -> Result<u32, StoreError> {
        Ok(migrations::user_version(&open_read_only(path)?)?)
    }

    /// A look at the PostgreSQL database at `url` that neither creates nor migrates
    /// anything (`doctor`): its schema version, and whether its user may write it.
    pub fn inspect_postgres(url: &str) -> Result<Inspected, StoreError> {
        let mut pg = db::Postgres::connect(url)?;
        let version = migrations::postgres_version(pg.client()?)?;
        let probe = if version == 0 {
            "SELECT has_database_privilege(current_database(), 'CREATE')"
        } else {
            "SELECT has_table_privilege('prompt', 'INSERT, UPDATE, DELETE')"
        };
        let writable: bool = pg.client()?.query_one(probe, &[])?.try_get(0)?;
        Ok(Inspected { version, writable })
    }

    /// A private database in memory, for tests and benchmarks.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::prepare(Connection::open_in_memory()?)
    }

    fn prepare(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Short: the core thread must not stall on a locked database. A write that
        // fails is retried later by the core, with backoff.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrations::migrate(&mut conn)?;
        Ok(Store {
            db: Db::Sqlite(conn),
            fence: None,
        })
    }

    /// The schema version the database is at (after migration: [`SCHEMA_VERSION`]).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        match &self.db {
            Db::Sqlite(conn) => Ok(migrations::user_version(conn)?),
            Db::Postgres(pg) => migrations::postgres_version(pg.borrow_mut().client()?),
        }
    }

    /// Closes the database cleanly: SQLite's WAL is checkpointed into the main file.
    pub fn close(self) -> Result<(), StoreError> {
        match self.db {
            Db::Sqlite(conn) => {
                conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
                    .or_else(|e| match e {
                        // In-memory databases have no WAL to checkpoint.
                        rusqlite::Error::ExecuteReturnedResults => Ok(()),
                        other => Err(other),
                    })?;
                conn.close().map_err(|(_, e)| StoreError::Sqlite(e))
            }
            Db::Postgres(pg) => pg.into_inner().close(),
        }
    }

    /// Makes every write fail (as a full or locked disk would), or work again.
    #[cfg(test)]
    pub fn set_read_only(&self, read_only: bool) {
        match &self.db {
            Db::Sqlite(conn) => conn.pragma_update(None, "query_only", read_only).unwrap(),
            Db::Postgres(pg) => pg
                .borrow_mut()
                .client()
                .unwrap()
                .batch_execute(&format!(
                    "SET SESSION CHARACTERISTICS AS TRANSACTION {}",
                    if read_only { "READ ONLY" } else { "READ WRITE" }
                ))
                .unwrap(),
        }
    }

    /// Reads a metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.db
            .query_one("SELECT value FROM meta WHERE key = ?1", args![key], |row| {
                row.text(0)
            })
    }

    /// Writes a metadata value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            args![key, value],
        )?;
        Ok(())
    }
}

/// Copies the WAL back into the database file from a thread of its own, so that the
/// core's commits do not pay for it (with SQLite's default, every thousandth page
/// committed stops a commit for a checkpoint and its fsyncs). Runs a passive checkpoint
/// every [`Checkpointer::EVERY`], which never blocks the core's writes; the core's own
/// connection still checkpoints past [`AUTOCHECKPOINT_PAGES`] should this one stop.
pub struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub const EVERY: std::time::Duration = std::time::Duration::from_millis(500);

    /// Starts checkpointing the database at `path` (already opened by [`Store::open`]).
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("checkpoint".to_owned())
            .spawn(move || loop {
                match stopped.recv_timeout(Checkpointer::EVERY) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if let Err(e) =
                            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                        {
                            tracing::debug!(error = %e, "checkpoint skipped; tried again shortly");
                        }
                    }
                    _ => return,
                }
            })
            .map_err(|e| StoreError::Schema(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A change a request makes; a request's changes are committed together by
/// [`Store::commit`] before anything it sends leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A value in the `meta` table.
    Meta { key: String, value: String },
    /// A user's consent choice.
    Consent(Choice, u32),
    /// A user's self-defined status set (`Some`) or cleared.
    SelfStatus {
        user: String,
        status: Option<SelfStatusRecord>,
    },
    /// A prompt put to a user.
    Prompt(PromptRecord),
    /// A prompt's answer (`yes`, `no`, `expired`; for invitations also `cancelled` and
    /// `closed`), given at `at`, and how it came (`chat`, `platform`, `merge`), if said.
    PromptAnswer {
        id: String,
        answer: &'static str,
        at: u32,
        how: Option<&'static str>,
    },
    /// A new invite (its invitees are [`Write::Prompt`]s naming it).
    Invite(InviteRecord),
    /// An invite's new state: `started`, `ended` or `cancelled`.
    InviteState {
        id: String,
        state: &'static str,
        at: u32,
    },
    /// News for a platform that asked over HTTP, for its outbox.
    News(crate::news::Event),
    /// Disclosure records, written with the request that disclosed (where the database
    /// is away, so that a failover loses none).
    Audit(Vec<AuditRecord>),
    /// A user mutes (or unmutes) invitations from `host` (`*`: from anyone).
    Mute {
        user: String,
        host: String,
        mute: bool,
        at: u32,
    },
}

impl Store {
    /// Applies `writes` in one transaction: all of them, or none.
    pub fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.write(|tx| apply_all(tx, writes))
    }

    /// Applies several requests' writes in one transaction: one commit, and one wait
    /// for the disk, for all of them. Should one set fail, each is tried alone instead,
    /// so that each is still all or nothing. Each set's outcome, in order; `Err` if the
    /// database failed as a whole (nothing of any set stored).
    pub fn commit_group(
        &mut self,
        sets: &[&[Write]],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let together = self.write(|tx| sets.iter().try_for_each(|writes| apply_all(tx, writes)));
        match together {
            Ok(()) => Ok(sets.iter().map(|_| Ok(())).collect()),
            Err(
                e @ (StoreError::Postgres(_)
                | StoreError::Connect { .. }
                | StoreError::Fenced { .. }),
            ) if !matches!(&e, StoreError::Postgres(pg) if pg.as_db_error().is_some()) => Err(e),
            Err(_) => Ok(sets.iter().map(|writes| self.commit(writes)).collect()),
        }
    }

    /// Writes last-seen times in one transaction; a later time never goes backwards.
    pub fn save_last_seen(&mut self, batch: &[(String, u32)]) -> Result<(), StoreError> {
        self.save_times(
            "INSERT INTO last_seen (jid, seen_at) VALUES (?1, ?2)
             ON CONFLICT (jid) DO UPDATE SET seen_at = max(last_seen.seen_at, excluded.seen_at)",
            batch,
        )
    }

    /// Runs `upsert` (parameters: a JID, a time) for each of `batch`, in one transaction.
    pub(crate) fn save_times(
        &mut self,
        upsert: &str,
        batch: &[(String, u32)],
    ) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            for (jid, at) in batch {
                tx.execute(upsert, args![jid, *at])?;
            }
            Ok(())
        })
    }

    /// When `jid` was last seen going offline, in seconds since the Unix epoch.
    pub fn last_seen(&self, jid: &str) -> Result<Option<u32>, StoreError> {
        self.db.query_one(
            "SELECT seen_at FROM last_seen WHERE jid = ?1",
            args![jid],
            |row| row.int(0),
        )
    }
}

/// `writes`, in order; prompts that follow one another (an invite's invitations) in one
/// statement.
fn apply_all(tx: &mut db::Tx<'_>, writes: &[Write]) -> Result<(), StoreError> {
    let mut i = 0;
    while i < writes.len() {
        let run = writes[i..]
            .iter()
            .take_while(|w| matches!(w, Write::Prompt(_)))
            .count();
        if run > 1 {
            let prompts: Vec<&PromptRecord> = writes[i..i + run]
                .iter()
                .filter_map(|w| match w {
                    Write::Prompt(p) => Some(p),
                    _ => None,
                })
                .collect();
            insert_prompts(tx, &prompts)?;
            i += run;
        } else {
            apply(tx, &writes[i])?;
            i += 1;
        }
    }
    Ok(())
}

/// New prompts, up to [`AUDIT_ROWS`] a statement.
fn insert_prompts(tx: &mut db::Tx<'_>, prompts: &[&PromptRecord]) -> Result<(), StoreError> {
    const COLUMNS: usize = 10;
    for chunk in prompts.chunks(AUDIT_ROWS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let marks: Vec<String> = (1..=COLUMNS)
                    .map(|c| format!("?{}", COLUMNS * i + c))
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            r#"INSERT INTO prompt (id, kind, "user", platform, notify, reason,
             created_at, expires_at, invite, lang) VALUES {}"#,
            values.join(", ")
        );
        let mut params: Vec<db::Param<'_>> = Vec::with_capacity(COLUMNS * chunk.len());
        for p in chunk {
            params.extend([
                db::Param::from(&p.id),
                db::Param::from(&p.kind),
                db::Param::from(&p.user),
                db::Param::from(&p.platform),
                db::Param::from(&p.notify),
                db::Param::from(&p.reason),
                db::Param::from(p.created_at),
                db::Param::from(p.expires_at),
                db::Param::from(&p.invite),
                db::Param::from(&p.lang),
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// Disclosure records, up to [`AUDIT_ROWS`] a statement (a request about 100 users
/// discloses 100).
fn insert_audit(tx: &mut db::Tx<'_>, records: &[AuditRecord]) -> Result<(), StoreError> {
    for chunk in records.chunks(AUDIT_ROWS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(?{}, ?{}, ?{}, ?{})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect();
        let sql = format!(
            r#"INSERT INTO audit (at, platform, "user", command) VALUES {}"#,
            values.join(", ")
        );
        let mut params: Vec<db::Param<'_>> = Vec::with_capacity(4 * chunk.len());
        for r in chunk {
            params.extend([
                db::Param::from(r.at),
                db::Param::from(&r.platform),
                db::Param::from(&r.user),
                db::Param::from(&r.command),
            ]);
        }
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// Rows of one statement that inserts disclosure records.
const AUDIT_ROWS: usize = 100;

/// One write of a [`Store::commit`], in its transaction.
fn apply(tx: &mut db::Tx<'_>, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Meta { key, value } => {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                args![key, value],
            )?;
        }
        Write::Consent(choice, at) => {
            let platform = choice.platform.as_deref().unwrap_or(ALL);
            if choice.platform.is_none() {
                tx.execute(
                    r#"DELETE FROM consent WHERE "user" = ?1"#,
                    args![&choice.user],
                )?;
            }
            tx.execute(
                r#"INSERT INTO consent ("user", platform, share, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT ("user", platform) DO UPDATE
                 SET share = excluded.share, at = excluded.at"#,
                args![&choice.user, platform, choice.share, *at],
            )?;
        }
        Write::Prompt(p) => insert_prompts(tx, &[p])?,
        Write::PromptAnswer {
            id,
            answer,
            at,
            how,
        } => {
            let changed = tx.execute(
                "UPDATE prompt SET answer = ?2, answered_at = ?3, how = ?4
                 WHERE id = ?1 AND answer IS NULL",
                args![id, *answer, *at, *how],
            )?;
            if changed != 1 {
                // Answered meanwhile: this answer must not count twice.
                return Err(StoreError::Conflict(format!(
                    "prompt {id} is not waiting for an answer"
                )));
            }
        }
        Write::Invite(i) => {
            tx.execute(
                "INSERT INTO invite (id, platform, notify, host, game, session, join_uri,
                 max_players, sent, created_at, expires_at, state, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                args![
                    &i.id,
                    &i.platform,
                    &i.notify,
                    &i.host,
                    &i.game,
                    &i.session,
                    &i.join_uri,
                    i.max_players,
                    i.sent,
                    i.created_at,
                    i.expires_at,
                    i.state.as_str(),
                    i.changed_at
                ],
            )?;
        }
        Write::InviteState { id, state, at } => {
            let changed = tx.execute(
                "UPDATE invite SET state = ?2, changed_at = ?3
                 WHERE id = ?1 AND state IN ('open', 'started')",
                args![id, *state, *at],
            )?;
            if changed != 1 {
                return Err(StoreError::Conflict(format!(
                    "invite {id} is closed already"
                )));
            }
        }
        Write::News(event) => {
            tx.execute(
                "INSERT INTO news (platform, thread, at, body)
                 VALUES (?1, ?2, unixepoch(), ?3)",
                args![&event.platform, &event.thread, &event.body],
            )?;
        }
        Write::Mute {
            user,
            host,
            mute,
            at,
        } => {
            if *mute {
                tx.execute(
                    r#"INSERT INTO mute ("user", host, at) VALUES (?1, ?2, ?3)
                     ON CONFLICT ("user", host) DO UPDATE SET at = excluded.at"#,
                    args![user, host, *at],
                )?;
            } else if host == ALL {
                // Unmuting everyone takes back every mute of the user.
                tx.execute(r#"DELETE FROM mute WHERE "user" = ?1"#, args![user])?;
            } else {
                tx.execute(
                    r#"DELETE FROM mute WHERE "user" = ?1 AND host = ?2"#,
                    args![user, host],
                )?;
            }
        }
        Write::Audit(records) => insert_audit(tx, records)?,
        Write::SelfStatus { user, status } => match status {
            Some(s) => {
                tx.execute(
                    r#"INSERT INTO self_status ("user", text, set_by, set_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT ("user") DO UPDATE SET text = excluded.text,
                     set_by = excluded.set_by, set_at = excluded.set_at"#,
                    args![user, &s.text, &s.set_by, s.set_at],
                )?;
            }
            None => {
                tx.execute(r#"DELETE FROM self_status WHERE "user" = ?1"#, args![user])?;
            }
        },
    }
    Ok(())
}

/// The test's store on each backend in turn.
#[cfg(test)]
pub(crate) mod each {
    use super::{testkit, Location, Store};

    /// Where a test's database lives, on one backend: opened as often as the test likes.
    pub(crate) enum Place {
        Sqlite(tempfile::TempDir),
        Postgres(testkit::TestDatabase),
    }

    impl Place {
        pub fn location(&self) -> Location {
            match self {
                Place::Sqlite(dir) => Location::Sqlite(dir.path().join("bridge.sqlite")),
                Place::Postgres(db) => Location::Postgres(db.url.clone()),
            }
        }

        pub fn open(&self) -> Store {
            Store::open_at(&self.location()).unwrap()
        }
    }

    /// Runs `test` with an empty database of each kind: a SQLite file, then a
    /// PostgreSQL database.
    pub(crate) fn place(test: impl Fn(&Place)) {
        test(&Place::Sqlite(tempfile::tempdir().unwrap()));
        test(&Place::Postgres(testkit::database().unwrap()));
    }

    /// Runs `test` with a new store of each kind.
    pub(crate) fn backend(test: impl Fn(Store)) {
        place(|place| test(place.open()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_database_is_at_current_version() {
        each::backend(|store| assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION));
    }

    #[test]
    fn a_database_survives_reopen_with_its_data() {
        each::place(|place| {
            let store = place.open();
            store.set_meta("k", "v1").unwrap();
            store.set_meta("k", "v2").unwrap();
            store.close().unwrap();
            let store = place.open();
            assert_eq!(store.meta("k").unwrap().as_deref(), Some("v2"));
            if let Db::Sqlite(conn) = &store.db {
                let mode: String = conn
                    .pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .unwrap();
                assert_eq!(mode, "wal");
                let fk: i64 = conn
                    .pragma_query_value(None, "foreign_keys", |r| r.get(0))
                    .unwrap();
                assert_eq!(fk, 1);
            }
        });
    }

    #[test]
    fn a_sqlite_file_is_made_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/bridge.sqlite");
        Store::open(&path).unwrap().close().unwrap();
        assert!(path.exists());
    }

    #[test]
    fn last_seen_batches_are_saved_and_never_go_backwards() {
        each::backend(|mut store| {
            store
                .save_last_seen(&[
                    ("alice@example.test".into(), 100),
                    ("bob@example.test".into(), 50),
                ])
                .unwrap();
            store
                .save_last_seen(&[("alice@example.test".into(), 90)])
                .unwrap();
            assert_eq!(store.last_seen("alice@example.test").unwrap(), Some(100));
            assert_eq!(store.last_seen("bob@example.test").unwrap(), Some(50));
            assert_eq!(store.last_seen("carol@example.test").unwrap(), None);
        });
    }

    #[test]
    fn a_group_of_writes_stores_each_set_all_or_nothing() {
        each::backend(|mut store| {
            let meta = |k: &str| Write::Meta {
                key: k.into(),
                value: "v".into(),
            };
            let answer = |id: &str| Write::PromptAnswer {
                id: id.into(),
                answer: "yes",
                at: 5,
                how: None,
            };
            let prompts: Vec<Write> = (0..3)
                .map(|n| {
                    Write::Prompt(PromptRecord::new(
                        format!("p{n}"),
                        "consent",
                        "alice@x".into(),
                        "arcade@x".into(),
                        "arcade@x".into(),
                        1,
                        100,
                    ))
                })
                .collect();
            let together = store
                .commit_group(&[&prompts, &[meta("a")], &[answer("p0")]])
                .unwrap();
            assert!(together.iter().all(Result::is_ok), "{together:?}");
            assert_eq!(store.pending_prompts().unwrap().len(), 2);
            // The second set answers p0 again, with a write before it: that set alone
            // fails, whole; the others are stored.
            let apart = store
                .commit_group(&[&[meta("b")], &[meta("c"), answer("p0")], &[answer("p1")]])
                .unwrap();
            assert!(apart[0].is_ok() && apart[2].is_ok(), "{apart:?}");
            assert!(
                matches!(apart[1], Err(StoreError::Conflict(_))),
                "{apart:?}"
            );
            assert_eq!(store.meta("b").unwrap().as_deref(), Some("v"));
            assert_eq!(store.meta("c").unwrap(), None);
            assert_eq!(store.pending_prompts().unwrap().len(), 1);
        });
    }

    #[test]
    fn newer_database_is_refused_with_a_clear_message() {
        each::place(|place| {
            let store = place.open();
            let newer = i64::from(SCHEMA_VERSION + 1);
            match &store.db {
                Db::Sqlite(conn) => conn.pragma_update(None, "user_version", newer).unwrap(),
                Db::Postgres(_) => {
                    store
                        .db
                        .execute("UPDATE bridge_schema SET version = ?1", args![newer])
                        .unwrap();
                }
            }
            store.close().unwrap();
            let err = Store::open_at(&place.location()).err().unwrap();
            assert!(matches!(err, StoreError::TooNew { found, supported }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION));
            assert!(err.to_string().contains("newer than this xmpp-game-bridge"));
        });
    }
}
