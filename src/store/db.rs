//! One way to speak SQL to either database the store keeps its state in: SQLite (the
//! embedded default) or PostgreSQL.
//!
//! The store's statements are written once, in the SQL both understand: `?N`
//! parameters (rewritten to PostgreSQL's `$N` once per statement), double-quoted
//! identifiers where PostgreSQL reserves the word (`"user"`), `ON CONFLICT` upserts and
//! `RETURNING`. PostgreSQL's schema gives what SQLite has built in and the statements
//! use: a `rowid` column where rows are read in insertion order, and the functions
//! `unixepoch()` and two-argument `max` (see `schema-postgres.sql`).
//!
//! Values cross as [`Param`]s and are read back through [`Row`], which convert to the
//! column's type on either side: integers are 64-bit in both, flags are 0 or 1.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::types::{ToSql, Type};

use super::StoreError;

/// A value bound to a statement's parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Null,
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}
impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}
impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Int(i64::from(v))
    }
}
impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(v)
    }
}
impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Param::Null, Param::Text)
    }
}
impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// The parameters of a statement: `args![a, b]`, each turned into a [`Param`].
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::db::Param::from($value)),*] as &[$crate::store::db::Param<'_>]
    };
}
pub(crate) use args;

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match *self {
            Param::Int(v) => ToSqlOutput::Owned(Value::Integer(v)),
            Param::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Param::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

type PgValue<'a> = Box<dyn ToSql + Sync + 'a>;

impl<'a> Param<'a> {
    /// The value as PostgreSQL takes it for a parameter of type `ty`.
    fn for_postgres(self, ty: &Type) -> Result<PgValue<'a>, StoreError> {
        let too_large = |v: i64| StoreError::Value(format!("{v} does not fit a {ty} column"));
        Ok(match self {
            Param::Int(v) if *ty == Type::INT4 => {
                Box::new(i32::try_from(v).map_err(|_| too_large(v))?)
            }
            Param::Int(v) if *ty == Type::INT2 => {
                Box::new(i16::try_from(v).map_err(|_| too_large(v))?)
            }
            Param::Int(v) if *ty == Type::BOOL => Box::new(v != 0),
            Param::Int(v) => Box::new(v),
            Param::Text(v) => Box::new(v),
            Param::Bytes(v) => Box::new(v),
            Param::Null if *ty == Type::INT8 => Box::new(None::<i64>),
            Param::Null if *ty == Type::INT4 => Box::new(None::<i32>),
            Param::Null if *ty == Type::INT2 => Box::new(None::<i16>),
            Param::Null if *ty == Type::BOOL => Box::new(None::<bool>),
            Param::Null if *ty == Type::BYTEA => Box::new(None::<&[u8]>),
            Param::Null => Box::new(None::<&str>),
        })
    }
}

/// A value of any column, as read from either database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl<'a> From<&'a Value> for Param<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => Param::Null,
            Value::Int(i) => Param::Int(*i),
            Value::Text(t) => Param::Text(t),
            Value::Bytes(b) => Param::Bytes(b),
        }
    }
}

/// A row read, from either database.
pub(crate) enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Value(format!("column {i} is NULL")))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(match self {
            Row::Sqlite(row) => row.get(i)?,
            Row::Postgres(row) => row.try_get(i)?,
        })
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(match self {
            Row::Sqlite(row) => row.get(i)?,
            Row::Postgres(row) => row.try_get(i)?,
        })
    }

    /// An integer column, as the type the caller keeps it in.
    pub fn int<T: TryFrom<i64>>(&self, i: usize) -> Result<T, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Value(format!("column {i} is NULL")))
    }

    pub fn opt_int<T: TryFrom<i64>>(&self, i: usize) -> Result<Option<T>, StoreError> {
        let value: Option<i64> = match self {
            Row::Sqlite(row) => row.get(i)?,
            Row::Postgres(row) => {
                let ty = row.columns().get(i).map(|c| c.type_().clone());
                match ty {
                    Some(Type::INT4) => row.try_get::<_, Option<i32>>(i)?.map(i64::from),
                    Some(Type::INT2) => row.try_get::<_, Option<i16>>(i)?.map(i64::from),
                    Some(Type::BOOL) => row.try_get::<_, Option<bool>>(i)?.map(i64::from),
                    _ => row.try_get(i)?,
                }
            }
        };
        value
            .map(|v| T::try_from(v).map_err(|_| StoreError::Value(format!("{v} is out of range"))))
            .transpose()
    }

    /// Column `i`, whatever its type.
    pub fn value(&self, i: usize) -> Result<Value, StoreError> {
        match self {
            Row::Sqlite(row) => {
                use rusqlite::types::ValueRef;
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                    ValueRef::Real(r) => {
                        return Err(StoreError::Value(format!(
                            "column {i} holds a real number ({r})"
                        )))
                    }
                })
            }
            Row::Postgres(row) => {
                let ty = row.columns().get(i).map(|c| c.type_().clone());
                Ok(match ty {
                    Some(Type::BYTEA) => row
                        .try_get::<_, Option<Vec<u8>>>(i)?
                        .map_or(Value::Null, Value::Bytes),
                    Some(Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME) => row
                        .try_get::<_, Option<String>>(i)?
                        .map_or(Value::Null, Value::Text),
                    _ => self.opt_int::<i64>(i)?.map_or(Value::Null, Value::Int),
                })
            }
        }
    }

    /// A flag stored as 0 or 1.
    pub fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.int::<i64>(i)? != 0)
    }
}

/// Rewrites `?N` parameters to PostgreSQL's `$N`, leaving quoted text alone.
pub(crate) fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

/// How long a connection to PostgreSQL may take, unless the URL says.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest a bridge's session may sit idle in a transaction, or wait for a lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// Idle time before TCP keepalives probe a PostgreSQL connection.
const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Prepared statements kept per PostgreSQL connection, by their text. The store's
/// statements are a fixed set; the cap only guards against a mistake.
const MAX_STATEMENTS: usize = 256;

pub(crate) struct Postgres {
    /// `None` only once dropped (see `Drop`).
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
    /// Where it connects again after the connection was lost.
    url: String,
}

impl Postgres {
    /// Connects to `url`. Without a password in it, `PGPASSWORD` gives one, as for
    /// PostgreSQL's own tools; without `connect_timeout`, 5 s (a standby's lease must not
    /// wait on a database that does not answer).
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        let failed = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let mut config: postgres::Config = url.parse().map_err(failed)?;
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true).keepalives_idle(KEEPALIVE_IDLE);
        let mut client = config.connect(postgres::NoTls).map_err(failed)?;
        // A bridge paused in the middle of a transaction (its lease check holds the lease's
        // row) must not keep a standby from taking over: its transaction ends after this
        // long idle, and nobody waits longer than this for a lock.
        client.batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = {ms}; SET lock_timeout = {ms}",
            ms = LOCK_WAIT.as_millis()
        ))?;
        Ok(Postgres {
            client: Some(client),
            statements: HashMap::new(),
            url: url.to_owned(),
        })
    }

    /// The connection.
    pub(crate) fn client(&mut self) -> Result<&mut postgres::Client, StoreError> {
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Value("the connection to PostgreSQL is closed".into()))
    }

    /// Closes the connection cleanly.
    pub(crate) fn close(mut self) -> Result<(), StoreError> {
        match self.client.take() {
            Some(client) => Ok(client.close()?),
            None => Ok(()),
        }
    }

    /// Connects again if the connection was lost: the store's next call after a
    /// database restart or a failover of PostgreSQL works again.
    fn alive(&mut self) -> Result<(), StoreError> {
        if self.client.as_ref().is_none_or(postgres::Client::is_closed) {
            let fresh = Postgres::connect(&self.url)?;
            self.client = fresh.client_taken();
            self.statements.clear();
        }
        Ok(())
    }

    /// The connection (connected again if it was lost) and its prepared statements.
    fn parts(
        &mut self,
    ) -> Result<
        (
            &mut postgres::Client,
            &mut HashMap<String, postgres::Statement>,
        ),
        StoreError,
    > {
        self.alive()?;
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| StoreError::Value("the connection to PostgreSQL is closed".into()))?;
        Ok((client, &mut self.statements))
    }

    fn client_taken(mut self) -> Option<postgres::Client> {
        self.client.take()
    }
}

/// PostgreSQL's blocking client ends its connection on a runtime of its own, which
/// cannot run inside another: dropped on the bridge's runtime (a task that held a store),
/// it is dropped on a thread of its own instead.
impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("postgres-close".to_owned())
                    .spawn(move || drop(client));
            }
        }
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url
            .split_whitespace()
            .map(|pair| {
                if pair.starts_with("password=") {
                    "password=***"
                } else {
                    pair
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn prepared<C: postgres::GenericClient>(
    client: &mut C,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
) -> Result<postgres::Statement, StoreError> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(&to_postgres(sql))?;
    if statements.len() >= MAX_STATEMENTS {
        statements.clear();
    }
    statements.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

fn bound<'a>(
    statement: &postgres::Statement,
    args: &[Param<'a>],
) -> Result<Vec<PgValue<'a>>, StoreError> {
    statement
        .params()
        .iter()
        .zip(args)
        .map(|(ty, arg)| arg.for_postgres(ty))
        .collect()
}

fn pg_execute<C: postgres::GenericClient>(
    client: &mut C,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    args: &[Param<'_>],
) -> Result<usize, StoreError> {
    let statement = prepared(client, statements, sql)?;
    let values = bound(&statement, args)?;
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as _).collect();
    Ok(client.execute(&statement, &refs)? as usize)
}

fn pg_query<C: postgres::GenericClient, T>(
    client: &mut C,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    args: &[Param<'_>],
    mut read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let statement = prepared(client, statements, sql)?;
    let values = bound(&statement, args)?;
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as _).collect();
    client
        .query(&statement, &refs)?
        .iter()
        .map(|row| read(&Row::Postgres(row)))
        .collect()
}

fn sqlite_execute(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Param<'_>],
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(args))?)
}

fn sqlite_query<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Param<'_>],
    mut read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(read(&Row::Sqlite(row))?);
    }
    Ok(out)
}

/// The connection to the database, whichever it is.
pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<Postgres>>),
}

impl Db {
    /// Runs a statement; how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<usize, StoreError> {
        match self {
            Db::Sqlite(conn) => sqlite_execute(conn, sql, args),
            Db::Postgres(pg) => {
                let pg = &mut *pg.borrow_mut();
                let (client, statements) = pg.parts()?;
                pg_execute(client, statements, sql, args)
            }
        }
    }

    /// Runs a query; each row as `read` makes it.
    pub fn query<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Db::Sqlite(conn) => sqlite_query(conn, sql, args, read),
            Db::Postgres(pg) => {
                let pg = &mut *pg.borrow_mut();
                let (client, statements) = pg.parts()?;
                pg_query(client, statements, sql, args, read)
            }
        }
    }

    /// The first row of a query, if any.
    pub fn query_one<T>(
        &self,
        sql: &str,
        args: &[Param<'_>],
        read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.query(sql, args, read)?.into_iter().next())
    }

    /// Runs `work` in one transaction: committed if it returns `Ok`, rolled back
    /// otherwise.
    pub fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Db::Sqlite(conn) => {
                let tx = conn.transaction()?;
                let mut wrapped = Tx::Sqlite(tx);
                let result = work(&mut wrapped)?;
                if let Tx::Sqlite(tx) = wrapped {
                    tx.commit()?;
                }
                Ok(result)
            }
            Db::Postgres(pg) => {
                let (client, statements) = pg.get_mut().parts()?;
                let tx = client.transaction()?;
                let mut wrapped = Tx::Postgres(tx, statements);
                let result = work(&mut wrapped)?;
                if let Tx::Postgres(tx, _) = wrapped {
                    tx.commit()?;
                }
                Ok(result)
            }
        }
    }
}

/// An open transaction.
pub(crate) enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres(
        postgres::Transaction<'a>,
        &'a mut HashMap<String, postgres::Statement>,
    ),
}

impl Tx<'_> {
    pub fn execute(&mut self, sql: &str, args: &[Param<'_>]) -> Result<usize, StoreError> {
        match self {
            Tx::Sqlite(tx) => sqlite_execute(tx, sql, args),
            Tx::Postgres(tx, statements) => pg_execute(tx, statements, sql, args),
        }
    }

    pub fn query<T>(
        &mut self,
        sql: &str,
        args: &[Param<'_>],
        read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Tx::Sqlite(tx) => sqlite_query(tx, sql, args, read),
            Tx::Postgres(tx, statements) => pg_query(tx, statements, sql, args, read),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_dollars_outside_quotes() {
        assert_eq!(
            to_postgres("SELECT ?1, '?' FROM t WHERE a = ?2 AND b IN ('x?', ?3)"),
            "SELECT $1, '?' FROM t WHERE a = $2 AND b IN ('x?', $3)"
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://bridge:s3cret@db.example.org:5432/bridge"),
            "postgres://bridge:***@db.example.org:5432/bridge"
        );
        assert_eq!(
            redact("postgres://bridge@db.example.org/bridge"),
            "postgres://bridge@db.example.org/bridge"
        );
        assert_eq!(
            redact("host=/run/postgresql user=bridge password=s3cret dbname=bridge"),
            "host=/run/postgresql user=bridge password=*** dbname=bridge"
        );
    }
}
