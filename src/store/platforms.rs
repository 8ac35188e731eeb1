//! The registry of platforms in SQLite.

use rusqlite::{params, OptionalExtension};

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
        let mut platforms: Vec<PlatformRecord> = self
            .conn
            .prepare_cached(
                "SELECT jid, name, authorized, rights, domains, launch_schemes, created_at,
                 updated_at, answers, doors FROM platform ORDER BY jid",
            )?
            .query_map([], |row| {
                Ok(PlatformRecord {
                    jid: row.get(0)?,
                    name: row.get(1)?,
                    authorized: row.get(2)?,
                    rights: row.get(3)?,
                    domains: row.get(4)?,
                    launch_schemes: row.get(5)?,
                    created_at: row.get(6)?,
                    updated_at: row.get(7)?,
                    answers: row.get(8)?,
                    doors: row.get(9)?,
                    tokens: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT platform, id, hash, created_at FROM platform_token ORDER BY created_at, id",
        )?;
        let tokens = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                TokenRecord {
                    id: row.get(1)?,
                    hash: row.get(2)?,
                    created_at: row.get(3)?,
                },
            ))
        })?;
        for token in tokens {
            let (platform, token) = token?;
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
        let added = self.conn.execute(
            "INSERT INTO platform
             (jid, name, authorized, rights, domains, launch_schemes, created_at, updated_at,
              answers, doors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9) ON CONFLICT (jid) DO NOTHING",
            params![
                record.jid,
                record.name,
                record.authorized,
                record.rights,
                record.domains,
                record.launch_schemes,
                record.created_at,
                record.answers,
                record.doors
            ],
        )?;
        Ok(added == 1)
    }

    /// Removes a platform and its tokens; `false` if there was none.
    pub fn remove_platform(&self, jid: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM platform WHERE jid = ?1", [jid])?
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
        Ok(self.conn.execute(
            "UPDATE platform SET rights = ?2, updated_at = ?3 WHERE jid = ?1",
            params![jid, rights, now],
        )? == 1)
    }

    /// Sets the URI schemes a platform's `launch` may use (`None`: none); `false` if
    /// there is no such platform.
    pub fn set_launch_schemes(
        &self,
        jid: &str,
        schemes: Option<&str>,
        now: u32,
    ) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE platform SET launch_schemes = ?2, updated_at = ?3 WHERE jid = ?1",
            params![jid, schemes, now],
        )? == 1)
    }

    /// Sets the shape of a platform's answers (`None`: the form); `false` if there is no
    /// such platform.
    pub fn set_answers(
        &self,
        jid: &str,
        answers: Option<&str>,
        now: u32,
    ) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE platform SET answers = ?2, updated_at = ?3 WHERE jid = ?1",
            params![jid, answers, now],
        )? == 1)
    }

    /// Sets the front doors a platform may ask through (`None`: both); `false` if there
    /// is no such platform.
    pub fn set_doors(&self, jid: &str, doors: Option<&str>, now: u32) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE platform SET doors = ?2, updated_at = ?3 WHERE jid = ?1",
            params![jid, doors, now],
        )? == 1)
    }

    /// Stores a token's hash for a platform; `false` if there is no such platform.
    pub fn add_token(
        &self,
        platform: &str,
        id: &str,
        hash: &[u8],
        now: u32,
    ) -> Result<bool, StoreError> {
        let exists: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM platform WHERE jid = ?1", [platform], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_none() {
            return Ok(false);
        }
        self.conn.execute(
            "INSERT INTO platform_token (id, platform, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, platform, hash, now],
        )?;
        self.conn.execute(
            "UPDATE platform SET updated_at = ?2 WHERE jid = ?1",
            params![platform, now],
        )?;
        Ok(true)
    }

    /// Revokes a token by its id; the platform it belonged to, if there was one.
    pub fn revoke_token(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "DELETE FROM platform_token WHERE id = ?1 RETURNING platform",
                [id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A number that changes whenever another connection commits (SQLite's
    /// `data_version`): the cue to read the registry again.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
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
        let store = Store::open_in_memory().unwrap();
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
        let orphans: i64 = store
            .conn
            .query_row("SELECT count(*) FROM platform_token", [], |r| r.get(0))
            .unwrap();
        assert_eq!(orphans, 0);
    }

    #[test]
    fn another_connections_commit_changes_the_data_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.sqlite");
        let bridge = Store::open(&path).unwrap();
        let before = bridge.data_version().unwrap();
        // This connection's own writes do not count.
        bridge.set_meta("k", "v").unwrap();
        assert_eq!(bridge.data_version().unwrap(), before);
        let cli = Store::open(&path).unwrap();
        cli.add_platform(&arcade()).unwrap();
        assert_ne!(bridge.data_version().unwrap(), before);
    }
}
