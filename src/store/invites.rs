//! Game invites and mutes in SQLite. An invite's invitees are prompts (kind `invite`):
//! see [`super::PromptRecord`].

use rusqlite::OptionalExtension;

use super::{PromptRecord, Store, StoreError};

/// Where an invite's session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteState {
    Open,
    Started,
    Ended,
    Cancelled,
}

impl InviteState {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteState::Open => "open",
            InviteState::Started => "started",
            InviteState::Ended => "ended",
            InviteState::Cancelled => "cancelled",
        }
    }

    pub fn parse(stored: &str) -> Option<InviteState> {
        Some(match stored {
            "open" => InviteState::Open,
            "started" => InviteState::Started,
            "ended" => InviteState::Ended,
            "cancelled" => InviteState::Cancelled,
            _ => return None,
        })
    }

    /// Whether answers may still change it.
    pub fn is_open(self) -> bool {
        matches!(self, InviteState::Open | InviteState::Started)
    }
}

/// An invite as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub id: String,
    /// The platform's bare JID.
    pub platform: String,
    /// Who is told of answers and outcomes (the requesting platform's full JID).
    pub notify: String,
    /// The inviting user's bare JID.
    pub host: String,
    pub game: String,
    /// The platform's own session id.
    pub session: String,
    pub join_uri: Option<String>,
    /// Players at most, the host included.
    pub max_players: Option<u32>,
    /// Invitation messages it sent.
    pub sent: u32,
    pub created_at: u32,
    pub expires_at: u32,
    /// Where its session is.
    pub state: InviteState,
    pub changed_at: u32,
}

/// Which invites may still change at `?1`: open or started, and not past their expiry,
/// or with an invitee still waiting (whose expiry is applied at start).
const LIVE: &str = "state IN ('open', 'started') AND (expires_at > ?1
    OR EXISTS (SELECT 1 FROM prompt WHERE prompt.invite = invite.id AND prompt.answer IS NULL))";

const COLUMNS: &str = "id, platform, notify, host, game, session, join_uri, max_players, sent,
    created_at, expires_at, state, changed_at";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<InviteRecord> {
    Ok(InviteRecord {
        id: r.get(0)?,
        platform: r.get(1)?,
        notify: r.get(2)?,
        host: r.get(3)?,
        game: r.get(4)?,
        session: r.get(5)?,
        join_uri: r.get(6)?,
        max_players: r.get(7)?,
        sent: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        state: {
            let state: String = r.get(11)?;
            InviteState::parse(&state).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    11,
                    rusqlite::types::Type::Text,
                    format!("unknown invite state {state:?}").into(),
                )
            })?
        },
        changed_at: r.get(12)?,
    })
}

impl Store {
    /// One invite, whatever its state.
    pub fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM invite WHERE id = ?1"))?
            .query_row([id], read)
            .optional()?)
    }

    /// Invites that may still change at `now` (see [`LIVE`]).
    pub fn live_invites(&self, now: u32) -> Result<Vec<InviteRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM invite WHERE {LIVE} ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([now], read)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The invitations of every invite [`Store::live_invites`] gives, in one read.
    pub fn live_invitations(&self, now: u32) -> Result<Vec<PromptRecord>, StoreError> {
        self.prompts_where(
            &format!("invite IN (SELECT id FROM invite WHERE {LIVE})"),
            rusqlite::params![now],
        )
    }

    /// Every invite made since `since`, oldest first: (host, when, invitations sent).
    pub fn invites_since(&self, since: u32) -> Result<Vec<(String, u32, u32)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT host, created_at, sent FROM invite WHERE created_at >= ?1
             ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every yes and no given to an invitation since `since`, oldest first: (invitee,
    /// host, answer, when).
    pub fn invitation_answers(
        &self,
        since: u32,
    ) -> Result<Vec<(String, String, String, u32)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.user, i.host, p.answer, p.answered_at FROM prompt p
             JOIN invite i ON i.id = p.invite
             WHERE p.invite IS NOT NULL AND p.answer IN ('yes', 'no') AND p.answered_at >= ?1
             ORDER BY p.answered_at, p.rowid",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes invites made before `before`, with their invitations, and answered
    /// consent requests answered before it; how many invites went. Run with the
    /// disclosure record's age (`privacy.audit_days`), far past any expiry.
    pub fn prune_invites(&mut self, before: u32) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "DELETE FROM prompt WHERE invite IN (SELECT id FROM invite WHERE created_at < ?1)",
        )?
        .execute([before])?;
        let invites = tx
            .prepare_cached("DELETE FROM invite WHERE created_at < ?1")?
            .execute([before])?;
        tx.prepare_cached(
            "DELETE FROM prompt WHERE invite IS NULL AND answer IS NOT NULL AND answered_at < ?1",
        )?
        .execute([before])?;
        tx.commit()?;
        Ok(invites)
    }

    /// Every mute: (user, host or `*`).
    pub fn mutes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT user, host FROM mute ORDER BY user, host")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
