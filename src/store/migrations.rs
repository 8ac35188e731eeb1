//! Migrations: the sections of `schema.sql`, applied in order with `PRAGMA user_version`
//! as the cursor, all pending ones in one transaction.

use rusqlite::Connection;

use super::StoreError;

/// The whole schema, split into migrations by its `-- migration N: ...` headers.
pub const SCHEMA: &str = include_str!("../../schema.sql");

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
