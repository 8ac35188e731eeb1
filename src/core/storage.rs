//! The core's database, wherever it is.
//!
//! Everything the core has the database do is a [`Job`]: a request's writes, the batched
//! writes, a handler's read, pruning, a look at the registry. Each job has a
//! continuation ([`After`]): what the core does with its outcome.
//!
//! - **Here** (SQLite): the database is on the core's own thread, a job runs as it is
//!   asked for, and its continuation goes on at once.
//! - **Away** (PostgreSQL): the job leaves in the [`Outbox`] for the storage worker,
//!   which runs it on its own thread and hands the outcome back as an
//!   [`Input::Stored`](super::Input::Stored). Its continuation waits, as a request waits
//!   for the chat server, and goes on exactly once. The core does no I/O.
//!
//! The worker runs jobs one at a time in the order they were asked for, so a read sees
//! every write asked for before it. A request's answer and effects leave only once its
//! writes are stored, either way. Away, what waits is bounded: at most
//! [`MAX_IN_FLIGHT`] jobs, past which a request's writes are refused with
//! `resource-constraint`; one batch, one prune and one look at the registry at a time.

use std::collections::HashMap;
use std::time::SystemTime;

use tracing::{debug, error, info};

use super::pipeline::Committing;
use super::{Core, Outbox};
use crate::store::{Batch, Done, Job, Read, Store, StoreError};

/// Jobs waiting for the storage worker, at most.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Where the core's database is.
pub enum Storage {
    /// On the core's thread.
    Here(Store),
    /// Across the network, with the storage worker: how many jobs are out.
    Away { in_flight: usize },
}

impl Storage {
    /// The database, when it is on the core's thread.
    pub fn here(&self) -> Option<&Store> {
        match self {
            Storage::Here(store) => Some(store),
            Storage::Away { .. } => None,
        }
    }

    /// Which database: `sqlite` or `postgresql`; `away` once sent to the worker.
    pub fn kind(&self) -> &'static str {
        match self {
            Storage::Here(store) => store.kind(),
            Storage::Away { .. } => "away",
        }
    }

    /// Whether the database is across the network.
    pub fn is_away(&self) -> bool {
        matches!(self, Storage::Away { .. })
    }

    /// Jobs out with the storage worker.
    pub fn in_flight(&self) -> usize {
        match self {
            Storage::Here(_) => 0,
            Storage::Away { in_flight } => *in_flight,
        }
    }
}

/// Tests read and break the database where it is here.
#[cfg(test)]
impl std::ops::Deref for Storage {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.here().expect("the database is away")
    }
}

/// A job's outcome, as it comes back from the storage worker.
#[derive(Debug)]
pub struct Stored {
    pub ticket: u64,
    pub job: Job,
    pub result: Result<Done, StoreError>,
}

/// What the core does once a job ran: a job's continuation.
pub(super) enum After {
    /// A request's writes: its answer and effects leave once they are stored.
    Answer(Box<Committing>),
    /// A timer's writes (an expiry, a session's end): its messages leave once stored.
    Carry(Box<Carrying>),
    /// The batched writes: kept and tried again if they fail.
    Batch,
    /// A handler's read: the requests waiting for it resume.
    Read,
    Prune,
    Registry,
    /// Invitations not known to have been sent, sent again.
    Unsent,
}

/// A timer's plan on its way to the database.
pub(super) struct Carrying {
    /// Its messages, sent once its writes are stored.
    pub effects: Vec<crate::commands::Effect>,
    /// What it was, to try again if the writes fail.
    pub what: Carried,
}

pub(super) enum Carried {
    /// A prompt's expiry.
    Expiry(String),
    /// A session ended by itself: whether it had started, its platform and players
    /// (whose published "now playing" is cleared).
    SessionEnd {
        invite: String,
        started: bool,
        platform: String,
        players: Vec<String>,
    },
}

/// What is out with the storage worker, by ticket, and which singular jobs are.
#[derive(Default)]
pub(super) struct Waiting {
    next: u64,
    pub(super) after: HashMap<u64, After>,
    pub(super) batch: bool,
    pub(super) prune: bool,
    pub(super) registry: bool,
}

impl Core {
    /// Whether the database can take another job now (always, where it is here).
    pub(super) fn storage_has_room(&self) -> bool {
        self.state.store.in_flight() < MAX_IN_FLIGHT
    }

    /// Has the database do `job`, then `after` with its outcome: at once where the
    /// database is here, once the storage worker hands it back where it is away.
    pub(super) fn store(&mut self, job: Job, after: After, now: SystemTime, out: &mut Outbox) {
        match &mut self.state.store {
            Storage::Here(store) => {
                let result = job.run(store);
                self.stored(job, result, after, now, out);
            }
            Storage::Away { in_flight } => {
                *in_flight += 1;
                match &after {
                    After::Batch => self.storing.batch = true,
                    After::Prune => self.storing.prune = true,
                    After::Registry => self.storing.registry = true,
                    _ => {}
                }
                self.storing.next += 1;
                let ticket = self.storing.next;
                self.storing.after.insert(ticket, after);
                self.state.health.stats.storage_jobs_sent += 1;
                out.jobs.push((ticket, job));
            }
        }
    }

    /// Has a request's writes stored; its answer leaves once they are
    /// ([`Core::committed`]).
    pub(super) fn store_request(
        &mut self,
        writes: Vec<crate::store::Write>,
        committing: Committing,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        self.store(
            Job::Commit(writes),
            After::Answer(Box::new(committing)),
            now,
            out,
        );
    }

    /// A job's outcome from the storage worker.
    pub(super) fn on_stored(&mut self, stored: Stored, now: SystemTime, out: &mut Outbox) {
        let Some(after) = self.storing.after.remove(&stored.ticket) else {
            debug!(ticket = stored.ticket, "an unknown job came back; ignored");
            return;
        };
        if let Storage::Away { in_flight } = &mut self.state.store {
            *in_flight = in_flight.saturating_sub(1);
        }
        match &after {
            After::Batch => self.storing.batch = false,
            After::Prune => self.storing.prune = false,
            After::Registry => self.storing.registry = false,
            _ => {}
        }
        self.stored(stored.job, stored.result, after, now, out);
    }

    /// Goes on with `after`, now that `job` ran.
    fn stored(
        &mut self,
        job: Job,
        result: Result<Done, StoreError>,
        after: After,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        match (after, job) {
            (After::Answer(committing), Job::Commit(writes)) => {
                self.committed(*committing, writes, result.map(|_| ()), now, out)
            }
            (After::Carry(carrying), Job::Commit(writes)) => {
                self.carried(*carrying, writes, result.map(|_| ()), now, out)
            }
            (After::Batch, Job::Batch(batch)) => self.batch_stored(batch, result, now),
            (After::Read, Job::Read(read)) => self.fetched(read, result, now, out),
            (After::Prune, _) => match result {
                Ok(Done::Pruned { audit, invites }) => {
                    if audit + invites > 0 {
                        debug!(audit, invites, "old disclosure records and invites pruned");
                    }
                }
                Ok(_) => {}
                Err(e) => debug!(error = %e, "cannot prune old records; tried again later"),
            },
            (After::Registry, _) => match result {
                Ok(Done::Registry(Some((records, version)))) => {
                    let registry = crate::rights::platforms::Registry::from_records(records);
                    info!(
                        platforms = registry.len(),
                        "registry of platforms read again"
                    );
                    self.state.registry = registry;
                    self.registry_version = version;
                }
                Ok(_) => {}
                Err(e) => debug!(error = %e, "cannot read the database's data version"),
            },
            (After::Unsent, _) => match result {
                Ok(Done::Unsent(unsent)) => self.send_again(unsent, now, out),
                Ok(_) => {}
                Err(e) => {
                    error!(error = %e, "cannot read invitations not known to be sent; they are not sent again")
                }
            },
            (_, job) => error!(?job, "a job came back to the wrong continuation"),
        }
    }

    /// The batched writes stored, or kept to be tried again with backoff.
    fn batch_stored(&mut self, batch: Batch, result: Result<Done, StoreError>, now: SystemTime) {
        match result {
            Ok(_) => {
                self.state.health.stats.storage_writes += 1;
                self.state.audit.stored(batch.audit.len());
                debug!(
                    last_seen = batch.last_seen.len(),
                    disclosures = batch.audit.len(),
                    "batched writes done"
                );
                if self.state.health.storage_failing_since.take().is_some() {
                    info!("the database is writable again");
                }
                self.storage_retry = None;
            }
            Err(e) => {
                self.state.health.stats.storage_failures += 1;
                let wait = self
                    .storage_retry
                    .map_or(super::STORAGE_RETRY_MIN, |(_, wait)| wait);
                self.storage_retry = Some((now + wait, (wait * 2).min(super::STORAGE_RETRY_MAX)));
                self.state.health.storage_failing_since.get_or_insert(now);
                error!(
                    error = %e,
                    last_seen = batch.last_seen.len(),
                    disclosures = batch.audit.len(),
                    retry_in_secs = wait.as_secs(),
                    "cannot write to the database; the bridge answers from memory, tells platforms nothing about users until it can record it, and retries"
                );
                // Last-seen times are written idempotently: a batch written before the
                // failure may be written again.
                self.state.directory.requeue_last_seen(batch.last_seen);
                self.state.audit.requeue(batch.audit);
                self.state.askers.requeue(batch.askers);
                self.sent.extend(batch.sent);
                // Woken for the retry, not only by the next input.
                self.pending_since = Some(now);
            }
        }
    }

    /// A read is in: the requests waiting for it resume with its answer.
    fn fetched(
        &mut self,
        read: Read,
        result: Result<Done, StoreError>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let answer = match result {
            Ok(Done::Fetched(fetched)) => Ok(*fetched),
            Ok(_) => Err(()),
            Err(e) => {
                self.state.health.stats.storage_failures += 1;
                error!(error = %e, "cannot read the database for a request; it is refused");
                Err(())
            }
        };
        let operation = super::parked::Operation::Read(read.clone());
        for waiter in self.parked.waiting_for_mut(&operation) {
            waiter.request.fetched.push((read.clone(), answer.clone()));
        }
        self.ended(operation, now, out);
    }
}
