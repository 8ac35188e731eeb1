//! What the core has the database do, as values: a request's writes, the batched
//! writes, a handler's read, pruning, a look at the registry. A job runs the same on
//! either database; where it runs is the core's affair (`core::storage`): on the core's
//! thread for SQLite, on the storage worker's for PostgreSQL, whose outcome comes back
//! as an input.

use super::{AuditRecord, Fetched, PlatformRecord, PromptRecord, Read, Store, StoreError, Write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A request's (or a timer's) writes, in one transaction.
    Commit(Vec<Write>),
    /// What the core writes in batches.
    Batch(Batch),
    /// A read a handler waits for.
    Read(Read),
    /// Forgets disclosure records, invites, answered questions and platforms that asked
    /// from before `before`.
    Prune { before: u32 },
    /// The registry, if it changed since `known` (a `data_version`).
    Registry { known: i64 },
    /// Invitations not known to have been sent.
    Unsent,
}

/// Writes the core gathers and makes together, each kind in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Users' last-seen times.
    pub last_seen: Vec<(String, u32)>,
    /// Disclosure records.
    pub audit: Vec<AuditRecord>,
    /// Invitations known to have left, at `at`.
    pub sent: Vec<String>,
    pub at: u32,
    /// Platforms outside the registry that asked, and when.
    pub askers: Vec<(String, u32)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.last_seen.is_empty()
            && self.audit.is_empty()
            && self.sent.is_empty()
            && self.askers.is_empty()
    }
}

/// What a job gives back besides having run.
#[derive(Debug)]
pub enum Done {
    Stored,
    Fetched(Box<Fetched>),
    Pruned {
        audit: usize,
        invites: usize,
    },
    /// The registry and its new `data_version`, if it changed.
    Registry(Option<(Vec<PlatformRecord>, i64)>),
    Unsent(Vec<PromptRecord>),
}

impl Job {
    pub fn run(&self, store: &mut Store) -> Result<Done, StoreError> {
        match self {
            Job::Commit(writes) => store.commit(writes).map(|()| Done::Stored),
            Job::Batch(batch) => {
                store.save_last_seen(&batch.last_seen)?;
                store.append_audit(&batch.audit)?;
                store.mark_sent(&batch.sent, batch.at)?;
                store.save_askers(&batch.askers)?;
                Ok(Done::Stored)
            }
            Job::Read(read) => read.run(store).map(|f| Done::Fetched(Box::new(f))),
            Job::Prune { before } => {
                let audit = store.prune_audit(*before)?;
                let invites = store.prune_invites(*before)?;
                store.prune_askers(*before)?;
                Ok(Done::Pruned { audit, invites })
            }
            Job::Registry { known } => {
                let version = store.data_version()?;
                if version == *known {
                    return Ok(Done::Registry(None));
                }
                Ok(Done::Registry(Some((store.platforms()?, version))))
            }
            Job::Unsent => store.unsent_invitations().map(Done::Unsent),
        }
    }
}
