//! Migrations: the sections of `schema.sql` (SQLite) or `schema-postgres.sql`, applied
//! in order, all pending ones in one transaction. The cursor is SQLite's
//! `PRAGMA user_version`, or PostgreSQL's table `bridge_schema`. The same rules hold on
//! both: a database newer than this version is refused, migrating twice applies nothing
//! the second time, and a migration that fails leaves the database as it was.

use rusqlite::Connection;

use super::StoreError;

/// The whole schema, split into migrations by its `-- migration N: ...` headers.
pub const SCHEMA: &str = include_str!("../../schema.sql");
/// The same schema in PostgreSQL's words, migration by migration.
pub const SCHEMA_POSTGRES: &str = include_str!("../../schema-postgres.sql");

/// The version a fully migrated database is at: the number of migrations in `schema.sql`.
pub const SCHEMA_VERSION: u32 = count_migrations(SCHEMA);

const HEADER: &str = "-- migration ";

const fn count_migrations(schema: &str) -> u32 {
    let bytes = schema.as_bytes();
    let header = HEADER.as_bytes();
    let mut count = 0;
    let mut i = 0;
    // Count headers at the start of a line.
    while i + header.len() <= bytes.len() {
        if i == 0 || bytes[i - 1] == b'\n' {
            let mut j = 0;
            while j < header.len() && bytes[i + j] == header[j] {
                j += 1;
            }
            if j == header.len() {
                count += 1;
            }
        }
        i += 1;
    }
    count
}

/// One step of the schema: the SQL that moves the database to `version`.
#[derive(Debug, PartialEq, Eq)]
pub struct Migration<'a> {
    pub version: u32,
    pub description: &'a str,
    pub sql: &'a str,
}

/// Splits the schema into its migrations and checks they are numbered 1, 2, 3... in order.
pub fn parse(schema: &str) -> Result<Vec<Migration<'_>>, StoreError> {
    let mut migrations: Vec<Migration<'_>> = Vec::new();
    let mut offset = 0;
    let mut current: Option<(u32, &str, usize)> = None;
    for line in schema.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some(rest) = line.strip_prefix(HEADER) else {
            continue;
        };
        if let Some((version, description, body_start)) = current.take() {
            migrations.push(Migration {
                version,
                description,
                sql: &schema[body_start..start],
            });
        }
        let (number, description) = rest.split_once(':').ok_or_else(|| {
            StoreError::Schema(format!("migration header without a colon: {}", line.trim()))
        })?;
        let version: u32 = number.trim().parse().map_err(|_| {
            StoreError::Schema(format!("migration number is not a number: {}", line.trim()))
        })?;
        let expected = migrations.len() as u32 + 1;
        if version != expected {
            return Err(StoreError::Schema(format!(
                "migration {version} found where migration {expected} was expected"
            )));
        }
        current = Some((version, description.trim(), offset));
    }
    if let Some((version, description, body_start)) = current {
        migrations.push(Migration {
            version,
            description,
            sql: &schema[body_start..],
        });
    }
    Ok(migrations)
}

pub fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the database to [`SCHEMA_VERSION`]; returns the migrations applied.
pub fn migrate(conn: &mut Connection) -> Result<Vec<u32>, StoreError> {
    migrate_with(conn, SCHEMA)
}

fn migrate_with(conn: &mut Connection, schema: &str) -> Result<Vec<u32>, StoreError> {
    let migrations = parse(schema)?;
    let supported = migrations.len() as u32;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    let mut applied = Vec::new();
    for migration in migrations.iter().filter(|m| m.version > found) {
        tx.execute_batch(migration.sql)?;
        applied.push(migration.version);
    }
    if !applied.is_empty() {
        tx.pragma_update(None, "user_version", supported)?;
    }
    tx.commit()?;
    Ok(applied)
}

/// Where PostgreSQL keeps the schema version, and the lock migrations run under (so two
/// bridges starting at once migrate one after the other).
const POSTGRES_CURSOR: &str = "CREATE TABLE IF NOT EXISTS bridge_schema (version BIGINT NOT NULL)";
const POSTGRES_LOCK: i64 = 0x7867_625f_7363_6865; // "xgb_sche"

/// The schema version of a PostgreSQL database (0: none yet).
pub fn postgres_version<C: postgres::GenericClient>(client: &mut C) -> Result<u32, StoreError> {
    let exists: Option<String> = client
        .query_one("SELECT CAST(to_regclass('bridge_schema') AS TEXT)", &[])?
        .try_get(0)?;
    if exists.is_none() {
        return Ok(0);
    }
    let version: Option<i64> = client
        .query_opt("SELECT version FROM bridge_schema", &[])?
        .map(|row| row.try_get(0))
        .transpose()?;
    u32::try_from(version.unwrap_or(0))
        .map_err(|_| StoreError::Schema("the schema version is out of range".to_owned()))
}

/// Brings a PostgreSQL database to [`SCHEMA_VERSION`]; returns the migrations applied.
pub fn migrate_postgres(client: &mut postgres::Client) -> Result<Vec<u32>, StoreError> {
    migrate_postgres_with(client, SCHEMA_POSTGRES)
}

fn migrate_postgres_with(
    client: &mut postgres::Client,
    schema: &str,
) -> Result<Vec<u32>, StoreError> {
    let migrations = parse(schema)?;
    let supported = migrations.len() as u32;
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&POSTGRES_LOCK])?;
    tx.batch_execute(POSTGRES_CURSOR)?;
    let found = postgres_version(&mut tx)?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    let mut applied = Vec::new();
    for migration in migrations.iter().filter(|m| m.version > found) {
        tx.batch_execute(migration.sql)?;
        applied.push(migration.version);
    }
    if !applied.is_empty() {
        tx.execute("DELETE FROM bridge_schema", &[])?;
        tx.execute(
            "INSERT INTO bridge_schema (version) VALUES ($1)",
            &[&i64::from(supported)],
        )?;
    }
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_file_parses_into_numbered_migrations() {
        let migrations = parse(SCHEMA).unwrap();
        assert_eq!(migrations.len() as u32, SCHEMA_VERSION);
        const { assert!(SCHEMA_VERSION >= 1) };
        for (i, m) in migrations.iter().enumerate() {
            assert_eq!(m.version, i as u32 + 1);
            assert!(!m.description.is_empty());
        }
    }

    #[test]
    fn migrating_twice_applies_nothing_the_second_time() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first = migrate(&mut conn).unwrap();
        assert_eq!(first.len() as u32, SCHEMA_VERSION);
        let second = migrate(&mut conn).unwrap();
        assert!(second.is_empty());
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn an_old_database_gets_only_the_newer_migrations() {
        let v1 = "-- migration 1: a\nCREATE TABLE a (x INTEGER);\n";
        let v2 = format!("{v1}-- migration 2: b\nALTER TABLE a ADD COLUMN y TEXT;\nCREATE TABLE b (z INTEGER);\n");
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate_with(&mut conn, v1).unwrap(), vec![1]);
        conn.execute("INSERT INTO a (x) VALUES (7)", []).unwrap();
        assert_eq!(migrate_with(&mut conn, &v2).unwrap(), vec![2]);
        let y: Option<String> = conn
            .query_row("SELECT y FROM a WHERE x = 7", [], |r| r.get(0))
            .unwrap();
        assert_eq!(y, None, "existing rows survive the migration");
        assert_eq!(user_version(&conn).unwrap(), 2);
    }

    #[test]
    fn a_failing_migration_leaves_the_database_untouched() {
        let schema = "-- migration 1: a\nCREATE TABLE a (x INTEGER);\n-- migration 2: broken\nCREATE TABLE a (x INTEGER);\n";
        let mut conn = Connection::open_in_memory().unwrap();
        assert!(migrate_with(&mut conn, schema).is_err());
        assert_eq!(user_version(&conn).unwrap(), 0);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }

    fn postgres() -> (crate::store::testkit::TestDatabase, postgres::Client) {
        let db = crate::store::testkit::database().unwrap();
        let client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
        (db, client)
    }

    #[test]
    fn both_schemas_have_the_same_migrations() {
        let sqlite = parse(SCHEMA).unwrap();
        let postgres = parse(SCHEMA_POSTGRES).unwrap();
        let headers = |m: &[Migration<'_>]| {
            m.iter()
                .map(|m| (m.version, m.description.to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(headers(&sqlite), headers(&postgres));
    }

    #[test]
    fn postgres_migrating_twice_applies_nothing_the_second_time() {
        let (_db, mut client) = postgres();
        let first = migrate_postgres(&mut client).unwrap();
        assert_eq!(first.len() as u32, SCHEMA_VERSION);
        assert!(migrate_postgres(&mut client).unwrap().is_empty());
        assert_eq!(postgres_version(&mut client).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn an_old_postgres_database_gets_only_the_newer_migrations() {
        let v1 = "-- migration 1: a\nCREATE TABLE a (x BIGINT);\n";
        let v2 = format!(
            "{v1}-- migration 2: b\nALTER TABLE a ADD COLUMN y TEXT;\nCREATE TABLE b (z BIGINT);\n"
        );
        let (_db, mut client) = postgres();
        assert_eq!(migrate_postgres_with(&mut client, v1).unwrap(), vec![1]);
        client.execute("INSERT INTO a (x) VALUES (7)", &[]).unwrap();
        assert_eq!(migrate_postgres_with(&mut client, &v2).unwrap(), vec![2]);
        let y: Option<String> = client
            .query_one("SELECT y FROM a WHERE x = 7", &[])
            .unwrap()
            .get(0);
        assert_eq!(y, None, "existing rows survive the migration");
        assert_eq!(postgres_version(&mut client).unwrap(), 2);
        let err = migrate_postgres_with(&mut client, v1).unwrap_err();
        assert!(matches!(
            err,
            StoreError::TooNew {
                found: 2,
                supported: 1
            }
        ));
    }

    #[test]
    fn a_failing_postgres_migration_leaves_the_database_untouched() {
        let v1 = "-- migration 1: a\nCREATE TABLE a (x BIGINT);\n";
        let broken = format!(
            "{v1}-- migration 2: broken\nCREATE TABLE b (x BIGINT);\nCREATE TABLE a (x BIGINT);\n"
        );
        let (_db, mut client) = postgres();
        migrate_postgres_with(&mut client, v1).unwrap();
        assert!(migrate_postgres_with(&mut client, &broken).is_err());
        assert_eq!(postgres_version(&mut client).unwrap(), 1);
        let b: Option<String> = client
            .query_one("SELECT CAST(to_regclass('b') AS TEXT)", &[])
            .unwrap()
            .get(0);
        assert_eq!(
            b, None,
            "the failed migration's first table is gone with it"
        );
    }

    #[test]
    fn misnumbered_migrations_are_refused() {
        let schema = "-- migration 1: a\nSELECT 1;\n-- migration 3: c\nSELECT 1;\n";
        let err = parse(schema).unwrap_err().to_string();
        assert!(
            err.contains("migration 3 found where migration 2 was expected"),
            "{err}"
        );
    }
}
