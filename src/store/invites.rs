//! Game invites and mutes. An invite's invitees are prompts (kind `invite`):
//! see [`super::PromptRecord`].

use super::db::{args, Row};
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

fn read(r: &Row<'_>) -> Result<InviteRecord, StoreError> {
    Ok(InviteRecord {
        id: r.text(0)?,
        platform: r.text(1)?,
        notify: r.text(2)?,
        host: r.text(3)?,
        game: r.text(4)?,
        session: r.text(5)?,
        join_uri: r.opt_text(6)?,
        max_players: r.opt_int(7)?,
        sent: r.int(8)?,
        created_at: r.int(9)?,
        expires_at: r.int(10)?,
        state: {
            let state = r.text(11)?;
            InviteState::parse(&state)
                .ok_or_else(|| StoreError::Value(format!("unknown invite state {state:?}")))?
        },
        changed_at: r.int(12)?,
    })
}

impl Store {
    /// One invite, whatever its state.
    pub fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StoreError> {
        self.db.query_one(
            &format!("SELECT {COLUMNS} FROM invite WHERE id = ?1"),
            args![id],
            read,
        )
    }

    /// Invites that may still change at `now` (see [`LIVE`]).
    pub fn live_invites(&self, now: u32) -> Result<Vec<InviteRecord>, StoreError> {
        self.db.query(
            &format!("SELECT {COLUMNS} FROM invite WHERE {LIVE} ORDER BY created_at, id"),
            args![now],
            read,
        )
    }

    /// The invitations of every invite [`Store::live_invites`] gives, in one read.
    pub fn live_invitations(&self, now: u32) -> Result<Vec<PromptRecord>, StoreError> {
        self.prompts_where(
            &format!("invite IN (SELECT id FROM invite WHERE {LIVE})"),
            args![now],
        )
    }

    /// Every invite made since `since`, oldest first: (host, when, invitations sent).
    pub fn invites_since(&self, since: u32) -> Result<Vec<(String, u32, u32)>, StoreError> {
        self.db.query(
            "SELECT host, created_at, sent FROM invite WHERE created_at >= ?1
             ORDER BY created_at, rowid",
            args![since],
            |r| Ok((r.text(0)?, r.int(1)?, r.int(2)?)),
        )
    }

    /// Every yes and no given to an invitation since `since`, oldest first: (invitee,
    /// host, answer, when).
    pub fn invitation_answers(
        &self,
        since: u32,
    ) -> Result<Vec<(String, String, String, u32)>, StoreError> {
        self.db.query(
            r#"SELECT p."user", i.host, p.answer, p.answered_at FROM prompt p
             JOIN invite i ON i.id = p.invite
             WHERE p.invite IS NOT NULL AND p.answer IN ('yes', 'no') AND p.answered_at >= ?1
             ORDER BY p.answered_at, p.rowid"#,
            args![since],
            |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.int(3)?)),
        )
    }

    /// Deletes invites made before `before`, with their invitations, and answered
    /// consent requests answered before it; how many invites went. Run with the
    /// disclosure record's age (`privacy.audit_days`), far past any expiry.
    pub fn prune_invites(&mut self, before: u32) -> Result<usize, StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM prompt WHERE invite IN (SELECT id FROM invite WHERE created_at < ?1)",
                args![before],
            )?;
            let invites = tx.execute("DELETE FROM invite WHERE created_at < ?1", args![before])?;
            tx.execute(
                "DELETE FROM prompt WHERE invite IS NULL AND answer IS NOT NULL AND answered_at < ?1",
                args![before],
            )?;
            Ok(invites)
        })
    }

    /// Every mute: (user, host or `*`).
    pub fn mutes(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.db.query(
            r#"SELECT "user", host FROM mute ORDER BY "user", host"#,
            args![],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )
    }
}
