//! The sans-IO core: every decision of the component, and no I/O of its own.
//!
//! [`Core::handle_batch`] takes [`Input`]s (stanzas, a tick, the link going up or down)
//! and the current time, and fills an [`Outbox`]: the stanzas to send, serialised, and
//! when to be woken next. [`Core::handle`] does the same for one input and returns
//! [`Output`]s, for tests.
//! It never reads the clock and never touches a socket, so every flow can be driven in a
//! unit test with XML fixtures and a fake clock. The only durable resource it owns is the
//! [`Store`]; the driver runs the core on its own thread so SQLite never blocks the async
//! runtime.
//!
//! Where each concern lives:
//! - [`io`]: the inputs, the outputs and the outbox;
//! - `start`: the core built from the database, and handed back;
//! - this file: the state, the batch loop, deadlines, the link going up and down, the
//!   writes the core makes on its own (last seen, audit);
//! - `routing`: stanzas in, each to where it belongs, within its requester's rate;
//! - [`classify`], [`disco`], [`stanza`]: what an IQ asks, the baseline protocol, and
//!   stanzas as headers and replies;
//! - `pipeline`: a request's path from any front door (XMPP, or another) to its answer,
//!   with [`session`]s for XEP-0050;
//! - `queries`, [`iq_tracker`], [`parked`], [`deadlines`]: what the core asks the server
//!   (rosters, pings, privileged IQs) and the requests waiting for it;
//! - `timers`: prompts that expire and sessions that end by themselves;
//! - [`rate`]: requests per second per requester.

pub mod classify;
pub mod deadlines;
pub mod disco;
pub mod io;
pub mod iq_tracker;
pub mod parked;
mod pipeline;
mod queries;
pub mod rate;
mod routing;
pub mod session;
pub mod stanza;
mod start;
pub mod storage;
mod timers;

pub use io::{Input, Outbox, Output};
pub use pipeline::{Answered, DoorAnswer, DoorRequest, Format, PAGE_DOOR};

use std::time::{Duration, SystemTime};

use minidom::Element;
use tracing::{debug, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::ns;

use crate::directory::activity::ReportKey;
use crate::directory::ingest::Ingested;
use crate::directory::self_status::SelfStatuses;
use crate::directory::{unix_secs, Directory, DirectoryConfig};
use crate::failure::{self, Failure};
pub use crate::health::{Health, Link, Stats};
use crate::logging::Throttle;
use crate::prompts::Prompts;
use crate::rights::audit::AuditLog;
use crate::rights::consent::Consent;
use crate::rights::consent::ConsentPolicy;
use crate::rights::platforms::Registry;
use crate::rights::AccessConfig;
use crate::store::Store;

use classify::Request;
use iq_tracker::{Ended, IqTracker, Purpose};
use parked::Parked;
use pipeline::Waiter;
use rate::{Rate, RateLimits};
use session::Sessions;
use stanza::{Header, IqType, Kind};

/// The part of the configuration the core decides with ([`crate::daemon::core_config`]
/// reads it from the operator's).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub component: BareJid,
    pub name: String,
    pub domains: Vec<BareJid>,
    pub admins: Vec<BareJid>,
    pub access: AccessConfig,
    pub consent: ConsentPolicy,
    /// Disclosure records are kept this many days.
    pub audit_days: u32,
    pub rights: crate::commands::RightsConfig,
    pub iq_timeout: Duration,
    pub command_session: Duration,
    pub directory: DirectoryConfig,
    /// The largest stanza the bridge sends.
    pub max_stanza_bytes: usize,
    /// Authenticates the Prosody module's activity reports.
    pub activity_key: ReportKey,
    /// IQ requests per second per requester: platforms (and operators), anyone else.
    pub platform_rate: Rate,
    pub other_rate: Rate,
    /// Whether ejabberd's HTTP API is configured to say who is online.
    pub sessions_api: bool,
    /// The privacy page's links, where the HTTP listener serves it.
    pub page: Option<crate::rights::page_link::PageLinks>,
    /// Seeds ids others must not guess (command sessions, prompts); set from
    /// [`Core::new`]'s `salt`.
    pub salt: u64,
}

/// The core's state: what handlers read (through their read-only view) and what the
/// core alone changes.
pub struct State {
    pub health: Health,
    pub directory: Directory,
    /// The database, on the core's thread or across the network.
    pub store: storage::Storage,
    /// The database's schema version, read at start.
    pub schema_version: u32,
    /// The registry of platforms.
    pub registry: Registry,
    /// What users let platforms see.
    pub consent: Consent,
    pub self_status: SelfStatuses,
    /// Disclosures waiting to be written.
    pub audit: AuditLog,
    /// Questions waiting for users' answers.
    pub prompts: Prompts,
    /// Invites that may still change.
    pub invites: crate::invites::Book,
    /// Who muted invitations from whom.
    pub mutes: crate::invites::mutes::Mutes,
    /// Platforms outside the registry that asked.
    pub askers: crate::rights::askers::Askers,
    /// The next number of the id sequence of prompts and invites.
    pub next_id: u64,
    /// Ids below this are reserved in the database: a restart starts there.
    pub ids_reserved: u64,
}

/// How long a last-seen time or a disclosure record waits to share a write with others:
/// it is durable (a `kill -9` does not lose it) this long after it happens.
const LAST_SEEN_FLUSH: Duration = Duration::from_millis(250);
/// After a failed write, the first retry comes this much later, doubling up to
/// [`STORAGE_RETRY_MAX`].
pub(crate) const STORAGE_RETRY_MIN: Duration = Duration::from_secs(1);
pub(crate) const STORAGE_RETRY_MAX: Duration = Duration::from_secs(60);
/// A batch this large is written at once.
const LAST_SEEN_BATCH: usize = 512;
/// Longest IQ id the bridge echoes in an answer; a request with a longer one is dropped
/// (an answer echoing it could pass the stanza limit).
pub const MAX_ID_BYTES: usize = 1024;

/// At most one warning per this interval about malformed input from outside.
const NOISY_INTERVAL: Duration = Duration::from_secs(10);
/// How often old conversation activity is forgotten.
const ACTIVITY_PRUNE: Duration = Duration::from_secs(60);

pub struct Core {
    config: CoreConfig,
    component_jid: Jid,
    state: State,
    sessions: Sessions,
    iq: IqTracker,
    /// Requests waiting for rosters and pings, each asked once however many wait.
    parked: Parked<Waiter>,
    rates: RateLimits,
    /// Warnings about input anyone can send, at most one per [`NOISY_INTERVAL`].
    noisy: Throttle,
    /// When the oldest last-seen time still waiting to be written was queued.
    pending_since: Option<SystemTime>,
    /// After a failed write: when to try again, and the wait after that.
    storage_retry: Option<(SystemTime, Duration)>,
    last_prune: SystemTime,
    /// Domains whose sessions were asked of the server's API, on which link, and when.
    sessions_asked: Vec<(String, u32, SystemTime)>,
    /// Numbers the privileged IQs requests wait for.
    next_op: u64,
    /// The database's `data_version` the registry was read at, and when that was last
    /// compared.
    registry_version: i64,
    registry_checked: SystemTime,
    /// Invitations whose message left, to be recorded with the next batched write.
    sent: Vec<String>,
    /// Whether invitations not known to be sent were sent again (once, at the first
    /// connection).
    resent: bool,
    /// Jobs out with the storage worker and their continuations.
    storing: storage::Waiting,
}

/// The `meta` key of where the id sequence (prompts and invites) starts after a restart:
/// the end of the block of ids reserved last.
pub const NEXT_ID: &str = "next_id";
/// Ids reserved at a time.
pub const ID_BLOCK: u64 = 1_000;

/// How often the database is asked whether the registry changed (by the CLI).
const REGISTRY_CHECK: Duration = Duration::from_millis(100);

impl Core {
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Writes the batched last-seen times and disclosure records, each batch in one
    /// transaction. A failure keeps them and schedules a retry with backoff, so a locked
    /// or full disk never costs the core more than one short wait per retry. Where the
    /// database is away, one batch is out at a time; what comes meanwhile waits for the
    /// next.
    fn flush_writes(&mut self, now: SystemTime, out: &mut Outbox) {
        if self.storing.batch {
            return;
        }
        self.pending_since = None;
        let batch = crate::store::Batch {
            last_seen: self.state.directory.take_last_seen(),
            audit: self.state.audit.take(),
            sent: std::mem::take(&mut self.sent),
            at: unix_secs(now),
            askers: self.state.askers.take_dirty(),
        };
        if batch.is_empty() {
            return;
        }
        self.store(
            crate::store::Job::Batch(batch),
            storage::After::Batch,
            now,
            out,
        );
    }

    /// Handles `inputs`, in order, at `now`: their stanzas are added to `out.wire` and
    /// `out.wake_at` is set to the next deadline. The driver hands over every input ready
    /// at once, so timers, counters and deadlines are looked at once per batch.
    pub fn handle_batch(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let (sent_before, oversized_before) = (out.wire.len(), out.wire.oversized());
        for input in inputs {
            self.on_input(input, now, out);
        }
        self.expire(now, out);
        let oversized = out.wire.oversized() - oversized_before;
        if oversized > 0 {
            if let Some(suppressed) = self.noisy.allow(now) {
                warn!(
                    oversized,
                    suppressed,
                    limit = self.config.max_stanza_bytes,
                    "a stanza of the bridge's is larger than the limit; not sent (an IQ result goes out as resource-constraint instead)"
                );
            }
        }
        let stats = &mut self.state.health.stats;
        stats.stanzas_out += out.wire.len().saturating_sub(sent_before) as u64;
        stats.stanzas_oversized += oversized;
        stats.rosters_fetching = self.parked.rosters();
        stats.presence_checks_pending = self.parked.pings();
        stats.requests_waiting = self.parked.len();
        stats.sessions_live = self.sessions.len();
        stats.iqs_pending = self.iq.len();
        stats.requesters_tracked = self.rates.tracked();
        out.wake_at = self.next_deadline();
    }

    /// Handles one input and returns what it produced, stanza by stanza: for tests and
    /// benchmarks, which look at each. The daemon uses [`Core::handle_batch`].
    pub fn handle(&mut self, input: Input, now: SystemTime) -> Vec<Output> {
        let mut out = Outbox::new(self.config.max_stanza_bytes);
        self.handle_batch([input], now, &mut out);
        out.into_outputs()
    }

    fn on_input(&mut self, input: Input, now: SystemTime, out: &mut Outbox) {
        match input {
            Input::Connected => self.on_connected(now, out),
            Input::Disconnected { reason } => self.on_disconnected(&reason, now, out),
            Input::Stanza(el) => {
                self.state.health.stats.stanzas_in += 1;
                self.on_stanza(el, now, out);
            }
            Input::Tick => {}
            Input::Skipped { head, reason } => {
                self.state.health.stats.stanzas_in += 1;
                self.state.health.stats.stanzas_skipped += 1;
                self.on_skipped(&head, reason, out);
            }
            Input::Sessions {
                domain,
                link,
                sessions,
            } => self.on_sessions(&domain, link, sessions),
            Input::Request(request) => self.on_request(*request, now, out),
            Input::Look(look) => look.answer(self.snapshot(now)),
            Input::Stored(stored) => self.on_stored(*stored, now, out),
            Input::Reconfigure(config) => self.reconfigure(*config),
        }
    }

    /// Takes what may change while the bridge runs from a reloaded configuration:
    /// admins, access, consent policy, audit days, rights (invites among them), rates,
    /// timeouts of IQs and command sessions, the component's name. What the link, the
    /// directory or the database were built with stays as it is until a restart (the
    /// daemon says which).
    pub fn reconfigure(&mut self, new: CoreConfig) {
        self.state.consent.set_policy(new.consent);
        self.state.askers.set_access(new.access.clone());
        self.state
            .invites
            .set_session_max_secs(new.rights.invites.session_max_secs);
        self.rates.set_rates(new.platform_rate, new.other_rate);
        self.iq.set_timeout(new.iq_timeout);
        self.sessions.set_lifetime(new.command_session);
        let kept = &self.config;
        self.config = CoreConfig {
            component: kept.component.clone(),
            domains: kept.domains.clone(),
            directory: kept.directory.clone(),
            max_stanza_bytes: kept.max_stanza_bytes,
            activity_key: kept.activity_key.clone(),
            sessions_api: kept.sessions_api,
            page: kept.page.clone(),
            salt: kept.salt,
            ..new
        };
    }

    /// The core's figures, and why it cannot serve now if it cannot: the link is down,
    /// a served domain's grants have not come or lack what `peers` needs, or the
    /// database cannot be written.
    pub fn snapshot(&self, now: SystemTime) -> crate::health::Snapshot {
        let histograms = &self.state.health.histograms;
        histograms.presence.close_before(u64::from(unix_secs(now)));
        let view = pipeline::view(&self.state, &self.config, (None, &[]), now);
        let readings = crate::commands::stats::readings(&view).unwrap_or_default();
        let since = |t: SystemTime| now.duration_since(t).unwrap_or_default().as_secs();
        let mut unready = Vec::new();
        let directory = &self.state.directory;
        match self.state.health.link {
            Link::Down { since: t } => unready.push(format!(
                "the link to the server is down (for {} s); the log says why",
                since(t)
            )),
            Link::Up { .. } => {
                let report = &self.state.health.link_report;
                if report
                    .route_shared
                    .load(std::sync::atomic::Ordering::Relaxed)
                {
                    unready.push(format!(
                        "the server sends part of {}'s stanzas to another connection, where they are lost (a bridge gone without closing its connection?); the log says more",
                        self.config.component
                    ));
                }
                for domain in &directory.domains {
                    if !directory.grants_settled(domain) {
                        unready.push(format!(
                            "{}: the server has not said yet what it grants the bridge",
                            domain.jid
                        ));
                        continue;
                    }
                    let missing = crate::directory::grants::missing(domain.privilege.as_ref());
                    if !missing.is_empty() {
                        let settings: Vec<&str> = missing.iter().map(|g| g.setting()).collect();
                        unready.push(format!(
                            "{}: the server does not grant {}; {}",
                            domain.jid,
                            settings.join(" and "),
                            crate::directory::grants::instructions(
                                domain.family().0,
                                self.config.component.as_str(),
                                domain.jid.as_str()
                            )
                        ));
                    }
                }
            }
        }
        if let Some(t) = self.state.health.storage_failing_since {
            unready.push(format!(
                "the database cannot be written (for {} s); the log says why",
                since(t)
            ));
        }
        crate::health::Snapshot { readings, unready }
    }

    fn next_deadline(&self) -> Option<SystemTime> {
        let flush = self.pending_since.map(|since| {
            let due = since + LAST_SEEN_FLUSH;
            self.storage_retry.map_or(due, |(retry, _)| due.max(retry))
        });
        let prompt = self
            .state
            .prompts
            .next_expiry()
            .into_iter()
            .chain(self.state.invites.next_expiry())
            .min()
            .map(crate::directory::from_unix_secs);
        [
            self.iq.next_deadline(),
            self.sessions.next_deadline(),
            flush,
            prompt,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn expire(&mut self, now: SystemTime, out: &mut Outbox) {
        self.sessions.expire(now);
        for ended in self.iq.expire(now) {
            self.state.health.iq_timeouts += 1;
            if let Ended::TimedOut { purpose, to } = ended {
                if matches!(purpose, Purpose::Ping { .. }) {
                    // A device that does not answer is left out; that is all it means.
                    debug!(%to, "no answer to a ping confirming a device");
                } else {
                    warn!(%to, ?purpose, "no reply to an IQ within the timeout");
                }
                self.on_iq_lost(purpose, now, out);
            }
        }
        let pending = self.state.directory.pending_last_seen()
            + self.state.audit.pending().count()
            + self.sent.len()
            + self.state.askers.pending();
        if pending > 0 && self.pending_since.is_none() {
            self.pending_since = Some(now);
        }
        let due = self
            .pending_since
            .is_some_and(|since| now >= since + LAST_SEEN_FLUSH);
        let may_write = self.storage_retry.is_none_or(|(retry, _)| now >= retry);
        if may_write && (pending >= LAST_SEEN_BATCH || due) {
            self.flush_writes(now, out);
        }
        self.expire_prompts(now, out);
        if now >= self.last_prune + ACTIVITY_PRUNE {
            self.last_prune = now;
            self.prune_audit(now, out);
            let cooldown = self.config.rights.invites.cooldown_secs;
            self.state
                .invites
                .forget_declines(unix_secs(now).saturating_sub(cooldown));
            self.state
                .invites
                .forget_sent(unix_secs(now).saturating_sub(crate::invites::RATE_WINDOW_SECS));
            let window = self.state.directory.config.conversation_window;
            self.state
                .directory
                .activity
                .prune(unix_secs(now).saturating_sub(window.as_secs() as u32));
        }
    }

    /// Forgets disclosure records, invites and answered questions older than
    /// `privacy.audit_days`.
    fn prune_audit(&mut self, now: SystemTime, out: &mut Outbox) {
        let before = unix_secs(now).saturating_sub(self.config.audit_days.saturating_mul(86_400));
        self.state.askers.prune(before);
        if !self.storing.prune {
            self.store(
                crate::store::Job::Prune { before },
                storage::After::Prune,
                now,
                out,
            );
        }
    }

    fn on_connected(&mut self, now: SystemTime, out: &mut Outbox) {
        self.state.health.link = Link::Up { since: now };
        self.resend_invitations(now, out);
        self.state.health.stats.links_up += 1;
        self.state.directory.link_up();
        for domain in self.config.domains.clone() {
            let to = Jid::from(domain);
            // Whether the conversation module is installed: it adds its feature.
            let query = Element::builder("query", ns::DISCO_INFO).build();
            let purpose = Purpose::ActivityProbe { domain: to.clone() };
            self.send_iq(IqType::Get, to.clone(), query, purpose, now, out);
            // The server software tells which presence behaviour and configuration syntax
            // apply; its answer also comes after Prosody's presence replay.
            let query = Element::builder("query", ns::VERSION).build();
            let purpose = Purpose::ServerVersion { domain: to.clone() };
            self.send_iq(IqType::Get, to, query, purpose, now, out);
        }
    }

    fn send_iq(
        &mut self,
        type_: IqType,
        to: Jid,
        payload: Element,
        purpose: Purpose,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let timeout = self.config.iq_timeout;
        self.send_iq_within(type_, to, payload, purpose, now, timeout, out);
    }

    /// [`Core::send_iq`] with a timeout of its own.
    #[allow(clippy::too_many_arguments)]
    fn send_iq_within(
        &mut self,
        type_: IqType,
        to: Jid,
        payload: Element,
        purpose: Purpose,
        now: SystemTime,
        timeout: Duration,
        out: &mut Outbox,
    ) {
        let id = self.iq.track_within(to.clone(), purpose, now, timeout);
        out.send(stanza::iq_request(
            type_,
            &self.component_jid,
            &to,
            &id,
            payload,
        ));
    }

    fn on_disconnected(&mut self, reason: &str, now: SystemTime, out: &mut Outbox) {
        self.state.health.link = Link::Down { since: now };
        self.state.directory.link_down(unix_secs(now));
        // Sessions listed now would be of a link that is gone.
        self.sessions_asked.clear();
        let abandoned = self.iq.abandon_all();
        // The rosters they wait for will not come on this link; each still gets its one
        // answer, sent as soon as the link is back.
        let refused = self.refuse_parked(
            &Failure::remote_timeout(
                "the link to the chat server was lost while this request waited for it; try again",
            ),
            out,
        );
        debug!(reason, abandoned, refused, "core saw the link go down");
    }

    /// Answers every request still waiting for a roster with `failure`.
    fn refuse_parked(&mut self, failure: &Failure, out: &mut Outbox) -> usize {
        let waiting = self.parked.drain();
        for waiter in &waiting {
            waiter.request.fail(failure, out);
        }
        waiting.len()
    }

    /// The bridge is stopping: what is still waiting gets its answer now.
    pub fn shutdown(&mut self, out: &mut Outbox) {
        self.refuse_parked(
            &Failure::service_unavailable("the game bridge is restarting; try again shortly"),
            out,
        );
    }
}

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod door_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod invite_tests;
#[cfg(test)]
mod privacy_tests;
#[cfg(test)]
mod prompt_tests;
#[cfg(test)]
mod properties_tests;
#[cfg(test)]
mod rights_tests;
#[cfg(test)]
mod storage_tests;
#[cfg(test)]
mod tests;
