//! The registry of platforms.

use super::db::{args, Db};
use super::{Store, StoreError};

/// A platform as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRecord {
    pub jid: String,
    pub name: String,
    pub authorized: bool,
    pub rights: Option<String>,
    pub domains: Option<String>,
    /// URI schemes its `launch` may use, comma-separated.
    pub launch_schemes: Option<String>,
    /// The shape of its answers unless a request asks for another: `form` or
    /// `compact` (`None`: `form`).
    pub answers: Option<String>,
    /// The front doors it may ask through: `xmpp`, `http`, comma-separated (`None`:
    /// both).
    pub doors: Option<String>,
    pub created_at: u32,
    pub updated_at: u32,
    pub tokens: Vec<TokenRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub hash: Vec<u8>,
    pub created_at: u32,
}

impl Store {
    /// Every platform with its tokens, by JID.
    pub fn platforms(&self) -> Result<Vec<PlatformRecord>, StoreError> {
        let mut platforms = self.db.query(
            "SELECT jid, name, authorized, rights, domains, launch_schemes, created_at,
             updated_at, answers, doors FROM platform ORDER BY jid",
            args![],
            |row| {
                Ok(PlatformRecord {
                    jid: row.text(0)?,
                    name: row.text(1)?,
                    authorized: row.flag(2)?,
                    rights: row.opt_text(3)?,
                    domains: row.opt_text(4)?,
                    launch_schemes: row.opt_text(5)?,
                    created_at: row.int(6)?,
                    updated_at: row.int(7)?,
                    answers: row.opt_text(8)?,
                    doors: row.opt_text(9)?,
                    tokens: Vec::new(),
                })
            },
        )?;
        let tokens = self.db.query(
            "SELECT platform, id, hash, created_at FROM platform_token ORDER BY created_at, id",
            args![],
            |row| {
                Ok((
                    row.text(0)?,
                    TokenRecord {
                        id: row.text(1)?,
                        hash: row.bytes(2)?,
                        created_at: row.int(3)?,
                    },
                ))
            },
        )?;
        for (platform, token) in tokens {
            if let Some(p) = platforms.iter_mut().find(|p| p.jid == platform) {
                p.tokens.push(token);
            }
        }
        Ok(platforms)
    }

    pub fn platform(&self, jid: &str) -> Result<Option<PlatformRecord>, StoreError> {
        Ok(self.platforms()?.into_iter().find(|p| p.jid == jid))
    }

    /// Adds a platform; `false` if one with this JID exists (nothing changed).
    pub fn add_platform(&self, record: &PlatformRecord) -> Result<bool, StoreError> {
        let added = self.db.execute(
            "INSERT INTO platform
             (jid, name, authorized, rights, domains, launch_schemes, created_at, updated_at,
              answers, doors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9) ON CONFLICT (jid) DO NOTHING",
            args![
                &record.jid,
                &record.name,
                record.authorized,
                &record.rights,
                &record.domains,
                &record.launch_schemes,
                record.created_at,
                &record.answers,
                &record.doors
            ],
        )?;
        Ok(added == 1)
    }

    /// Removes a platform and its tokens; `false` if there was none.
    pub fn remove_platform(&self, jid: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .execute("DELETE FROM platform WHERE jid = ?1", args![jid])?
            == 1)
    }

    /// Sets a platform's rights (`None`: the defaults of its kind); `false` if there is
    /// no such platform.
    pub fn set_platform_rights(
        &self,
        jid: &str,
        rights: Option<&str>,
        now: u32,
    ) -> Result<bool, StoreError> {
        self.set_column(
            "UPDATE platform SET rights = ?2, updated_at = ?3 WHERE jid = ?1",
            (jid, rights, now),
        )
    }

    /// Sets the URI schemes a platform's `launch` may use (`None`: none); `false` if
    /// there is no such platform.
    pub fn set_launch_schemes(
        &self,
        jid: &str,
        schemes: Option<&str>,
        now: u32,
    ) -> Result<bool, StoreError> {
        self.set_column(
            "UPDATE platform SET launch_schemes = ?2, updated_at = ?3 WHERE jid = ?1",
            (jid, schemes, now),
        )
    }

    /// Sets the shape of a platform's answers (`None`: the form); `false` if there is no
    /// such platform.
    pub fn set_answers(
        &self,
        jid: &str,
        answers: Option<&str>,
        now: u32,
    ) -> Result<bool, StoreError> {
        self.set_column(
            "UPDATE platform SET answers = ?2, updated_at = ?3 WHERE jid = ?1",
            (jid, answers, now),
        )
    }

    /// Sets the front doors a platform may ask through (`None`: both); `false` if there
    /// is no such platform.
    pub fn set_doors(&self, jid: &str, doors: Option<&str>, now: u32) -> Result<bool, StoreError> {
        self.set_column(
            "UPDATE platform SET doors = ?2, updated_at = ?3 WHERE jid = ?1",
            (jid, doors, now),
        )
    }

    /// Runs `update` (parameters: the platform's JID, the value, the time); `false` if
    /// there is no such platform.
    fn set_column(
        &self,
        update: &str,
        (jid, value, now): (&str, Option<&str>, u32),
    ) -> Result<bool, StoreError> {
        Ok(self.db.execute(update, args![jid, value, now])? == 1)
    }

    /// Stores a token's hash for a platform; `false` if there is no such platform.
    pub fn add_token(
        &self,
        platform: &str,
        id: &str,
        hash: &[u8],
        now: u32,
    ) -> Result<bool, StoreError> {
        let exists = self.db.query_one(
            "SELECT 1 FROM platform WHERE jid = ?1",
            args![platform],
            |r| r.int::<i64>(0),
        )?;
        if exists.is_none() {
            return Ok(false);
        }
        self.db.execute(
            "INSERT INTO platform_token (id, platform, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            args![id, platform, hash, now],
        )?;
        self.db.execute(
            "UPDATE platform SET updated_at = ?2 WHERE jid = ?1",
            args![platform, now],
        )?;
        Ok(true)
    }

    /// Revokes a token by its id; the platform it belonged to, if there was one.
    pub fn revoke_token(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.db.query_one(
            "DELETE FROM platform_token WHERE id = ?1 RETURNING platform",
            args![id],
            |r| r.text(0),
        )
    }

    /// A number that changes when the registry may have changed through another
    /// connection (SQLite's `data_version`, PostgreSQL's count of registry changes):
    /// the cue to read the registry again.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        match &self.db {
            Db::Sqlite(conn) => Ok(conn.pragma_query_value(None, "data_version", |r| r.get(0))?),
            Db::Postgres(_) => Ok(self
                .db
                .query_one(
                    "SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END FROM registry_changes",
                    args![],
                    |r| r.int(0),
                )?
                .unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arcade() -> PlatformRecord {
        PlatformRecord {
            jid: "arcade@example.test".to_owned(),
            name: "Arcade".to_owned(),
            authorized: true,
            rights: None,
            domains: None,
            launch_schemes: None,
            answers: None,
            doors: Some("http".to_owned()),
            created_at: 100,
            updated_at: 100,
            tokens: Vec::new(),
        }
    }

    #[test]
    fn platforms_and_tokens_round_trip_and_go_together() {
        crate::store::each::backend(platforms_and_tokens_round_trip);
    }

    fn platforms_and_tokens_round_trip(store: Store) {
        assert!(store.add_platform(&arcade()).unwrap());
        assert!(!store.add_platform(&arcade()).unwrap());
        assert!(store
            .add_token("arcade@example.test", "0a1b2c3d", &[7; 32], 200)
            .unwrap());
        assert!(!store
            .add_token("nobody@example.test", "0a1b2c3e", &[7; 32], 200)
            .unwrap());
        assert!(store
            .set_platform_rights("arcade@example.test", Some("open-url"), 300)
            .unwrap());
        let p = store.platform("arcade@example.test").unwrap().unwrap();
        assert_eq!(p.rights.as_deref(), Some("open-url"));
        assert_eq!((p.created_at, p.updated_at), (100, 300));
        assert_eq!(p.tokens.len(), 1);
        assert_eq!(p.tokens[0].hash, vec![7; 32]);
        assert_eq!(
            store.revoke_token("0a1b2c3d").unwrap().as_deref(),
            Some("arcade@example.test")
        );
        assert_eq!(store.revoke_token("0a1b2c3d").unwrap(), None);
        store
            .add_token("arcade@example.test", "0a1b2c3f", &[8; 32], 400)
            .unwrap();
        assert!(store.remove_platform("arcade@example.test").unwrap());
        assert!(store.platforms().unwrap().is_empty());
        let orphans: Option<i64> = store
            .db
            .query_one("SELECT count(*) FROM platform_token", args![], |r| r.int(0))
            .unwrap();
        assert_eq!(orphans, Some(0));
    }

    #[test]
    fn another_connections_change_of_the_registry_changes_the_data_version() {
        crate::store::each::place(|place| {
            let bridge = place.open();
            let before = bridge.data_version().unwrap();
            // The bridge's own writes (other than to the registry) do not count.
            bridge.set_meta("k", "v").unwrap();
            assert_eq!(bridge.data_version().unwrap(), before);
            let cli = place.open();
            cli.add_platform(&arcade()).unwrap();
            let added = bridge.data_version().unwrap();
            assert_ne!(added, before);
            cli.add_token("arcade@example.test", "0a1b2c3d", &[7; 32], 200)
                .unwrap();
            assert_ne!(bridge.data_version().unwrap(), added);
        });
    }
}
