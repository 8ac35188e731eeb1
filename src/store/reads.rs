//! What a handler may read from the database: a small trait the [`Store`] implements,
//! and an in-memory fake for a node's tests. It has no writer: a handler's writes go
//! into its transaction, which the pipeline commits.

use std::collections::HashMap;

use super::{AuditFilter, AuditRecord, InviteRecord, PromptRecord, Store, StoreError};

/// A read a handler asks for, when the database is not on the core's thread: the core
/// has it done as a [`crate::store::Job`] and resumes the handler with its answer
/// ([`Fetched`]), as it resumes a handler waiting for the chat server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Read {
    /// When each of these users was last seen going offline.
    LastSeen(Vec<String>),
    Prompt(String),
    Invite(String),
    InvitePrompts(String),
    RefusedSince {
        user: String,
        platform: String,
        kind: String,
        since: u32,
    },
    Audit(AuditFilter),
}

/// The answer to a [`Read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Times(Vec<Option<u32>>),
    Time(Option<u32>),
    Prompt(Option<PromptRecord>),
    Invite(Option<InviteRecord>),
    Prompts(Vec<PromptRecord>),
    Audit(Vec<AuditRecord>),
}

impl Read {
    pub fn run(&self, store: &dyn Reads) -> Result<Fetched, StoreError> {
        Ok(match self {
            Read::LastSeen(jids) => Fetched::Times(
                jids.iter()
                    .map(|jid| store.last_seen(jid))
                    .collect::<Result<_, _>>()?,
            ),
            Read::Prompt(id) => Fetched::Prompt(store.prompt(id)?),
            Read::Invite(id) => Fetched::Invite(store.invite(id)?),
            Read::InvitePrompts(id) => Fetched::Prompts(store.invite_prompts(id)?),
            Read::RefusedSince {
                user,
                platform,
                kind,
                since,
            } => Fetched::Time(store.refused_since(user, platform, kind, *since)?),
            Read::Audit(filter) => Fetched::Audit(store.audit(filter)?),
        })
    }
}

/// The database, read-only.
pub trait Reads {
    /// When `jid` was last seen going offline.
    fn last_seen(&self, jid: &str) -> Result<Option<u32>, StoreError>;
    fn prompt(&self, id: &str) -> Result<Option<PromptRecord>, StoreError>;
    /// When `user` last answered no to a `kind` prompt of `platform`, if since `since`.
    fn refused_since(
        &self,
        user: &str,
        platform: &str,
        kind: &str,
        since: u32,
    ) -> Result<Option<u32>, StoreError>;
    fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StoreError>;
    /// The prompts of invite `id`, in the order they were created.
    fn invite_prompts(&self, id: &str) -> Result<Vec<PromptRecord>, StoreError>;
    /// Disclosures, newest first.
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
}

impl Reads for Store {
    fn last_seen(&self, jid: &str) -> Result<Option<u32>, StoreError> {
        Store::last_seen(self, jid)
    }
    fn prompt(&self, id: &str) -> Result<Option<PromptRecord>, StoreError> {
        Store::prompt(self, id)
    }
    fn refused_since(
        &self,
        user: &str,
        platform: &str,
        kind: &str,
        since: u32,
    ) -> Result<Option<u32>, StoreError> {
        Store::refused_since(self, user, platform, kind, since)
    }
    fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StoreError> {
        Store::invite(self, id)
    }
    fn invite_prompts(&self, id: &str) -> Result<Vec<PromptRecord>, StoreError> {
        Store::invite_prompts(self, id)
    }
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        Store::audit(self, filter)
    }
}

/// The database as a node's test sets it up: plain lists, read as the store reads them.
#[derive(Debug, Default)]
pub struct Fake {
    pub last_seen: HashMap<String, u32>,
    pub prompts: Vec<PromptRecord>,
    pub invites: Vec<InviteRecord>,
    pub audit: Vec<AuditRecord>,
}

impl Reads for Fake {
    fn last_seen(&self, jid: &str) -> Result<Option<u32>, StoreError> {
        Ok(self.last_seen.get(jid).copied())
    }
    fn prompt(&self, id: &str) -> Result<Option<PromptRecord>, StoreError> {
        Ok(self.prompts.iter().find(|p| p.id == id).cloned())
    }
    fn refused_since(
        &self,
        user: &str,
        platform: &str,
        kind: &str,
        since: u32,
    ) -> Result<Option<u32>, StoreError> {
        Ok(self
            .prompts
            .iter()
            .filter(|p| p.user == user && p.platform == platform && p.kind == kind)
            .filter(|p| p.answer.as_deref() == Some("no"))
            .filter_map(|p| p.answered_at)
            .filter(|&at| at >= since)
            .max())
    }
    fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StoreError> {
        Ok(self.invites.iter().find(|i| i.id == id).cloned())
    }
    fn invite_prompts(&self, id: &str) -> Result<Vec<PromptRecord>, StoreError> {
        Ok(self
            .prompts
            .iter()
            .filter(|p| p.invite.as_deref() == Some(id))
            .cloned()
            .collect())
    }
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let mut found: Vec<AuditRecord> = self
            .audit
            .iter()
            .rev()
            .filter(|r| filter.user.as_ref().is_none_or(|u| *u == r.user))
            .filter(|r| filter.platform.as_ref().is_none_or(|p| *p == r.platform))
            .filter(|r| filter.since.is_none_or(|s| r.at >= s))
            .cloned()
            .collect();
        found.sort_by_key(|r| std::cmp::Reverse(r.at));
        found.truncate(filter.limit as usize);
        Ok(found)
    }
}
