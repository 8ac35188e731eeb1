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

pub mod classify;
pub mod deadlines;
pub mod disco;
pub mod iq_tracker;
pub mod parked;
mod pipeline;
pub use pipeline::{Answered, DoorAnswer, DoorRequest};
mod queries;
pub mod rate;
pub mod session;
pub mod stanza;
mod timers;

use std::time::{Duration, SystemTime};

use minidom::Element;
use tracing::{debug, error, info, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::ns;
use xmpp_parsers::version::VersionResult;

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
use crate::wire::Wire;
use classify::Request;
use iq_tracker::{Ended, IqTracker, Purpose};
use parked::Parked;
use pipeline::Waiter;
use rate::{Rate, RateLimits};
use session::Sessions;
use stanza::{Header, IqType, Kind};

/// Something that happened, for the core to decide about.
#[derive(Debug)]
pub enum Input {
    /// The handshake with the server succeeded: the link is up.
    Connected,
    /// The link went down (the transport reconnects on its own).
    Disconnected { reason: String },
    /// A stanza from the server, parsed as XML but not yet as anything else.
    Stanza(Element),
    /// Time passed; timers are due or nearly so.
    Tick,
    /// The transport read a stanza to its end without building it (larger than
    /// `link.max_incoming_stanza_kib`, too many elements, or too deep; logged there,
    /// rate-limited): its top element, so that an IQ request still gets its answer.
    Skipped { head: Element, reason: &'static str },
    /// The answer to [`Output::ListSessions`]: every session's full JID, or why not.
    Sessions {
        domain: BareJid,
        /// The `link` of the request it answers.
        link: u32,
        sessions: Result<Vec<String>, String>,
    },
    /// A request through a front door other than XMPP; answered with
    /// [`Output::Answer`].
    Request(DoorRequest),
}

/// What the core wants done, one by one (see [`Core::handle`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this stanza to the server: its bytes, as serialised for the stream (see
    /// [`crate::wire::parse_stanza`]).
    Send(String),
    /// Deliver a [`Input::Tick`] no later than this.
    WakeAt(SystemTime),
    /// Ask the server's HTTP API (ejabberd) for every session of `domain`; the answer
    /// comes back as [`Input::Sessions`].
    ListSessions {
        domain: BareJid,
        /// Which link (epoch) asks: an answer for another is ignored.
        link: u32,
    },
    /// The answer to an [`Input::Request`], for its front door.
    Answer(DoorAnswer),
}

/// What handling a batch of inputs produced: the stanzas to send, already serialised in
/// order, and what the driver is asked to do.
#[derive(Debug)]
pub struct Outbox {
    pub wire: Wire,
    /// Deliver a [`Input::Tick`] no later than this.
    pub wake_at: Option<SystemTime>,
    /// Ask the server's HTTP API (ejabberd) for every session of these domains, each for
    /// its link (epoch); the answers come back as [`Input::Sessions`].
    pub list_sessions: Vec<(BareJid, u32)>,
    /// Answers for the other front doors.
    pub answers: Vec<DoorAnswer>,
}

impl Outbox {
    /// Stanzas larger than `max_stanza_bytes` are not sent (see [`Wire`]).
    pub fn new(max_stanza_bytes: usize) -> Outbox {
        Outbox {
            wire: Wire::new(max_stanza_bytes),
            wake_at: None,
            list_sessions: Vec::new(),
            answers: Vec::new(),
        }
    }

    /// Serialises `el` as the next stanza to send.
    pub fn send(&mut self, el: Element) {
        self.wire.send(&el);
    }

    /// Everything in the outbox, one output each: stanzas, then requests, then the wake.
    pub fn into_outputs(self) -> Vec<Output> {
        let mut outputs: Vec<Output> = self
            .wire
            .stanzas()
            .map(|stanza| Output::Send(String::from_utf8_lossy(stanza).into_owned()))
            .collect();
        outputs.extend(
            self.list_sessions
                .into_iter()
                .map(|(domain, link)| Output::ListSessions { domain, link }),
        );
        outputs.extend(self.answers.into_iter().map(Output::Answer));
        outputs.extend(self.wake_at.map(Output::WakeAt));
        outputs
    }
}

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
    /// Seeds ids others must not guess (command sessions, prompts); set from
    /// [`Core::new`]'s `salt`.
    pub salt: u64,
}

/// The core's state: what handlers read (through their read-only view) and what the
/// core alone changes.
pub struct State {
    pub health: Health,
    pub directory: Directory,
    pub store: Store,
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
const STORAGE_RETRY_MIN: Duration = Duration::from_secs(1);
const STORAGE_RETRY_MAX: Duration = Duration::from_secs(60);
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
}

/// The `meta` key of where the id sequence (prompts and invites) starts after a restart:
/// the end of the block of ids reserved last.
pub const NEXT_ID: &str = "next_id";
/// Ids reserved at a time.
pub const ID_BLOCK: u64 = 1_000;

/// How often the database is asked whether the registry changed (by the CLI).
const REGISTRY_CHECK: Duration = Duration::from_millis(100);

impl Core {
    /// `salt` seeds unguessable command session ids; pass something random.
    pub fn new(mut config: CoreConfig, store: Store, now: SystemTime, salt: u64) -> Core {
        config.salt = salt;
        let directory = Directory::new(config.directory.clone(), &config.domains);
        let (registry, registry_version) = load_registry(&store);
        let mut consent = Consent::new(config.consent);
        let mut self_status = SelfStatuses::default();
        let mut prompts = Prompts::default();
        let mut invites = crate::invites::Book::new(config.rights.invites.session_max_secs);
        let mut mutes = crate::invites::mutes::Mutes::default();
        let mut askers = crate::rights::askers::Askers::new(config.access.clone());
        match store.askers() {
            Ok(rows) => {
                for (jid, at) in rows {
                    askers.load(jid, at);
                }
            }
            Err(e) => {
                error!(error = %e, "cannot read the platforms outside the registry that asked; users see them again once they ask")
            }
        }
        match (
            store.consents(),
            store.self_statuses(),
            store.pending_prompts(),
        ) {
            (Ok(consents), Ok(statuses), Ok(pending)) => {
                for (user, platform, share) in consents {
                    consent.load(user, platform, share);
                }
                for status in statuses {
                    self_status.apply(&status.user.clone(), Some(status));
                }
                for prompt in pending {
                    prompts.insert(prompt);
                }
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                error!(error = %e, "cannot read users' consent and statuses; every user is treated as not consenting until the bridge restarts");
                consent = Consent::new(crate::rights::consent::ConsentPolicy::OptIn);
            }
        }
        let cooldown = config.rights.invites.cooldown_secs;
        match load_invites(&store, unix_secs(now), cooldown, &mut invites, &mut mutes) {
            Ok(()) => {
                if !invites.is_empty() {
                    info!(
                        invites = invites.len(),
                        "open invites read from the database"
                    );
                }
            }
            Err(e) => {
                error!(error = %e, "cannot read open invites and mutes; they are read again at the next start")
            }
        }
        let state = State {
            health: Health::new(now),
            directory,
            store,
            registry,
            consent,
            self_status,
            audit: AuditLog::default(),
            prompts,
            invites,
            mutes,
            askers,
            next_id: 0,
            ids_reserved: 0,
        };
        let mut state = state;
        // A new database starts its sequence at a random point, so that ids tell nothing
        // of how many came before.
        state.next_id = state
            .store
            .meta(NEXT_ID)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(crate::prompts::FIRST_ID + salt % crate::prompts::FIRST_ID_SPREAD);
        state.ids_reserved = state.next_id;
        Core {
            next_op: 0,
            registry_version,
            registry_checked: now,
            sent: Vec::new(),
            resent: false,
            component_jid: Jid::from(config.component.clone()),
            sessions: Sessions::new(config.command_session, salt),
            iq: IqTracker::new(config.iq_timeout),
            state,
            parked: Parked::default(),
            rates: RateLimits::new(config.platform_rate, config.other_rate),
            noisy: Throttle::new(NOISY_INTERVAL),
            pending_since: None,
            storage_retry: None,
            last_prune: now,
            sessions_asked: Vec::new(),
            config,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Gives the store back for a clean close at shutdown, with every pending write done
    /// (one last try, whatever the backoff says).
    pub fn into_store(mut self) -> Store {
        let now = self
            .state
            .health
            .storage_failing_since
            .unwrap_or(self.state.health.started_at);
        self.flush_writes(now);
        self.state.store
    }

    /// Writes the batched last-seen times and disclosure records, each batch in one
    /// transaction. A failure keeps them and schedules a retry with backoff, so a locked
    /// or full disk never costs the core more than one short wait per retry.
    fn flush_writes(&mut self, now: SystemTime) {
        self.pending_since = None;
        let last_seen = self.state.directory.take_last_seen();
        let audit = self.state.audit.take();
        let sent = std::mem::take(&mut self.sent);
        let askers = self.state.askers.take_dirty();
        if last_seen.is_empty() && audit.is_empty() && sent.is_empty() && askers.is_empty() {
            return;
        }
        let result = self
            .state
            .store
            .save_last_seen(&last_seen)
            .and_then(|()| self.state.store.append_audit(&audit))
            .and_then(|()| self.state.store.mark_sent(&sent, unix_secs(now)))
            .and_then(|()| self.state.store.save_askers(&askers));
        match result {
            Ok(()) => {
                self.state.health.stats.storage_writes += 1;
                self.state.audit.written += audit.len() as u64;
                debug!(
                    last_seen = last_seen.len(),
                    disclosures = audit.len(),
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
                    .map_or(STORAGE_RETRY_MIN, |(_, wait)| wait);
                self.storage_retry = Some((now + wait, (wait * 2).min(STORAGE_RETRY_MAX)));
                self.state.health.storage_failing_since.get_or_insert(now);
                error!(
                    error = %e,
                    last_seen = last_seen.len(),
                    disclosures = audit.len(),
                    retry_in_secs = wait.as_secs(),
                    "cannot write to the database; the bridge answers from memory, tells platforms nothing about users until it can record it, and retries"
                );
                // Last-seen times are written idempotently: a batch written before the
                // failure may be written again.
                self.state.directory.requeue_last_seen(last_seen);
                self.state.audit.requeue(audit);
                self.state.askers.requeue(askers);
                self.sent.extend(sent);
                // Woken for the retry, not only by the next input.
                self.pending_since = Some(now);
            }
        }
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
            Input::Request(request) => self.on_request(request, now, out),
        }
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
            + self.state.audit.pending().len()
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
            self.flush_writes(now);
        }
        self.expire_prompts(now, out);
        if now >= self.last_prune + ACTIVITY_PRUNE {
            self.last_prune = now;
            self.prune_audit(now);
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
    fn prune_audit(&mut self, now: SystemTime) {
        let before = unix_secs(now).saturating_sub(self.config.audit_days.saturating_mul(86_400));
        match self.state.store.prune_audit(before) {
            Ok(0) => {}
            Ok(pruned) => debug!(pruned, "old disclosure records pruned"),
            Err(e) => debug!(error = %e, "cannot prune the disclosure record; tried again later"),
        }
        match self.state.store.prune_invites(before) {
            Ok(0) => {}
            Ok(pruned) => debug!(pruned, "old invites pruned"),
            Err(e) => debug!(error = %e, "cannot prune old invites; tried again later"),
        }
        self.state.askers.prune(before);
        if let Err(e) = self.state.store.prune_askers(before) {
            debug!(error = %e, "cannot prune the platforms that asked; tried again later");
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

    fn on_stanza(&mut self, el: Element, now: SystemTime, out: &mut Outbox) {
        let header = match Header::read(&el) {
            Ok(header) => header,
            Err(e) => {
                self.state.health.stats.stanzas_dropped += 1;
                if let Some(suppressed) = self.noisy.allow(now) {
                    warn!(error = %e, suppressed, "dropped a stanza that cannot be routed");
                }
                return;
            }
        };
        let span = tracing::debug_span!(
            "stanza",
            kind = ?header.kind,
            id = %failure::quote(header.id.as_deref().unwrap_or("")),
            from = %header.from,
        );
        let _guard = span.enter();
        match header.kind {
            Kind::Iq => self.on_iq(&header, &el, now, out),
            Kind::Presence => {
                let ingested =
                    self.state
                        .directory
                        .ingest_presence(&header.from, &el, unix_secs(now));
                self.ingested(ingested, now);
            }
            Kind::Message => {
                if header.type_.as_deref() == Some("error") {
                    return;
                }
                if let Some((form, thread)) =
                    classify::prompt_form(&header, &el, &self.config.component)
                {
                    if !self.rates.allow(header.from.to_bare().as_str(), false, now) {
                        self.state.health.stats.requests_rate_limited += 1;
                        self.state.health.stats.stanzas_dropped += 1;
                        return;
                    }
                    let thread = thread.map(str::to_owned);
                    return self.on_prompt_form(&header, form, thread.as_deref(), now, out);
                }
                if let Some(body) = classify::words(&header, &el, &self.config.component) {
                    if self
                        .state
                        .directory
                        .domain_of(header.from.domain().as_str())
                        .is_none()
                    {
                        // Only the served users talk to the bridge; others are not answered.
                        self.state.health.stats.stanzas_dropped += 1;
                        debug!("chat message from someone who is not a user of the served domains; dropped");
                        return;
                    }
                    if !self.rates.allow(header.from.to_bare().as_str(), false, now) {
                        self.state.health.stats.requests_rate_limited += 1;
                        self.state.health.stats.stanzas_dropped += 1;
                        return;
                    }
                    let body = body.to_owned();
                    return self.on_words(&header, &body, now, out);
                }
                let ingested = self.state.directory.ingest_message(
                    &header.from,
                    &el,
                    &self.config.activity_key,
                    unix_secs(now),
                );
                self.ingested(ingested, now);
            }
        }
    }

    /// A stanza the transport skipped unread: an IQ request still gets its one answer.
    fn on_skipped(&mut self, head: &Element, reason: &str, out: &mut Outbox) {
        let Ok(header) = Header::read(head) else {
            return;
        };
        if header.kind == Kind::Iq
            && matches!(header.iq_type(), Some(IqType::Get) | Some(IqType::Set))
            && header
                .id
                .as_ref()
                .is_some_and(|id| id.len() <= MAX_ID_BYTES)
        {
            let failure = Failure::policy_violation(format!(
                "this request is {reason}, so the bridge did not read it"
            ));
            out.send(stanza::error_reply(&header, &failure));
        }
    }

    fn on_iq(&mut self, header: &Header, el: &Element, now: SystemTime, out: &mut Outbox) {
        match header.iq_type() {
            Some(IqType::Get) | Some(IqType::Set) => {
                if header.id.as_ref().is_none_or(|id| id.len() > MAX_ID_BYTES) {
                    self.state.health.stats.stanzas_dropped += 1;
                    if let Some(suppressed) = self.noisy.allow(now) {
                        warn!(
                            suppressed,
                            "dropped an IQ request without an id, or with one too long to echo: it cannot be answered"
                        );
                    }
                    return;
                }
                if let Err(failure) = self.admit_requester(&header.from, now) {
                    if failure.text.is_empty() {
                        out.send(stanza::bare_error_reply(
                            header,
                            "resource-constraint",
                            "wait",
                        ));
                    } else {
                        out.send(stanza::error_reply(header, &failure));
                    }
                    return;
                }
                self.on_iq_request(header, el, now, out);
            }
            Some(IqType::Result) | Some(IqType::Error) => {
                let is_error = header.iq_type() == Some(IqType::Error);
                let Some(id) = header.id.as_deref() else {
                    return;
                };
                match self.iq.on_reply(id, &header.from, is_error) {
                    Some(Ended::Reply { purpose, is_error }) => {
                        self.on_iq_reply(purpose, is_error, el, now, out)
                    }
                    _ => debug!("reply to no IQ of ours; ignored"),
                }
            }
            None => {
                self.state.health.stats.stanzas_dropped += 1;
                let failure =
                    Failure::bad_request("an IQ must have type get, set, result or error");
                if let Some(suppressed) = self.noisy.allow(now) {
                    warn!(
                        type_ = %failure::quote(header.type_.as_deref().unwrap_or("")),
                        suppressed,
                        "IQ of unknown type"
                    );
                }
                if header.id.is_some() {
                    out.send(stanza::error_reply(header, &failure));
                }
            }
        }
    }

    /// Whether a request from `from` is within its rate (platforms and operators have
    /// theirs, anyone else another), whichever door it came through. Past it, the
    /// first refusal in a second says why; the others are the condition alone (an
    /// empty text).
    fn admit_requester(&mut self, from: &Jid, now: SystemTime) -> Result<(), Failure> {
        self.refresh_registry(now);
        let requester = from.to_bare();
        let trusted = self.state.registry.get(requester.as_str()).is_some()
            || self.config.admins.contains(&requester);
        let Err(refused) = self.rates.check(requester.as_str(), trusted, now) else {
            return Ok(());
        };
        self.state.health.stats.requests_refused_busy += 1;
        self.state.health.stats.requests_rate_limited += 1;
        Err(if refused.explain {
            Failure::resource_constraint(format!(
                "too many requests from you: at most {} a second are answered; try again in {:.1} s",
                self.rates.per_sec(trusted),
                refused.wait.as_secs_f64().max(0.1)
            ))
        } else {
            Failure::resource_constraint(String::new())
        })
    }

    /// Reads the registry again if another process changed the database since.
    fn refresh_registry(&mut self, now: SystemTime) {
        if now < self.registry_checked + REGISTRY_CHECK && now >= self.registry_checked {
            return;
        }
        self.registry_checked = now;
        match self.state.store.data_version() {
            Ok(version) if version != self.registry_version => {
                let (registry, version) = load_registry(&self.state.store);
                info!(
                    platforms = registry.len(),
                    "registry of platforms read again"
                );
                self.state.registry = registry;
                self.registry_version = version;
            }
            Ok(_) => {}
            Err(e) => debug!(error = %e, "cannot read the database's data version"),
        }
    }

    /// Counts and logs what the directory could not take.
    fn ingested(&mut self, ingested: Ingested, now: SystemTime) {
        match ingested {
            Ingested::Taken => {}
            Ingested::Malformed(reason) => {
                self.state.health.stats.stanzas_dropped += 1;
                debug!(%reason, "malformed stanza ignored");
            }
            Ingested::BadReport(reason) => {
                self.state.health.stats.stanzas_dropped += 1;
                if let Some(suppressed) = self.noisy.allow(now) {
                    warn!(%reason, suppressed, "stanza from the server ignored");
                }
            }
        }
    }

    /// Answers one IQ get/set, or sets it on its way when it is a command.
    fn on_iq_request(&mut self, header: &Header, el: &Element, now: SystemTime, out: &mut Outbox) {
        let payload = match classify::classify(header, el, &self.config.component) {
            Ok(Request::Ping) => None,
            Ok(Request::Version) => Some(
                VersionResult {
                    name: "xmpp-game-bridge".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    // The operating system is not disclosed: it helps attackers more
                    // than users.
                    os: None,
                }
                .into(),
            ),
            Ok(Request::DiscoInfo { node: None }) => Some(disco::info(&self.config)),
            Ok(Request::DiscoItems { node: None }) => Some(disco::items()),
            Ok(Request::DiscoInfo { node: Some(node) }) => {
                match crate::commands::disco::info(node, |def| {
                    self.may_run(&header.from, def, None)
                }) {
                    Ok(el) => Some(el),
                    Err(failure) => return self.refuse(header, &failure, out),
                }
            }
            Ok(Request::DiscoItems { node: Some(node) }) => {
                let component = self.component_jid.clone();
                match crate::commands::disco::items(&component, node, |def| {
                    self.may_run(&header.from, def, None)
                }) {
                    Ok(el) => Some(el),
                    Err(failure) => return self.refuse(header, &failure, out),
                }
            }
            Ok(Request::Command { node, payload }) => {
                return self.on_command(header, node, payload, now, out)
            }
            Err(failure) => return self.refuse(header, &failure, out),
        };
        out.send(stanza::iq_result(header, payload));
    }

    fn refuse(&self, header: &Header, failure: &Failure, out: &mut Outbox) {
        debug!(condition = ?failure.condition, text = %failure.text, "refused");
        out.send(stanza::error_reply(header, failure));
    }
}

/// The invites that may still change, with their invitees, and every mute.
fn load_invites(
    store: &Store,
    now: u32,
    cooldown: u32,
    invites: &mut crate::invites::Book,
    mutes: &mut crate::invites::mutes::Mutes,
) -> Result<(), crate::store::StoreError> {
    let mut invitations: std::collections::HashMap<String, Vec<_>> = Default::default();
    for prompt in store.live_invitations(now)? {
        let invite = prompt.invite.clone().unwrap_or_default();
        invitations.entry(invite).or_default().push(prompt);
    }
    for record in store.live_invites(now)? {
        let prompts = invitations.remove(&record.id).unwrap_or_default();
        invites.load(record, prompts);
    }
    // The last hour's invitations per host (the per-host rate).
    let window = crate::invites::RATE_WINDOW_SECS;
    for (host, at, sent) in store.invites_since(now.saturating_sub(window))? {
        invites.note_sent(&host, at, sent);
    }
    // The runs of declines that may still hold an invitee's cooldown.
    for (user, host, answer, at) in store.invitation_answers(now.saturating_sub(cooldown))? {
        if let Some(answer) = crate::invites::Answer::from_stored(&answer) {
            invites.note_answer(&user, &host, answer, at);
        }
    }
    for (user, host) in store.mutes()? {
        mutes.apply(&crate::store::Write::Mute {
            user,
            host,
            mute: true,
            at: 0,
        });
    }
    Ok(())
}

/// The registry as stored, and the `data_version` it was read at; empty (with a log
/// line) if the database cannot be read.
fn load_registry(store: &Store) -> (Registry, i64) {
    let version = store.data_version().unwrap_or(0);
    match store.platforms() {
        Ok(records) => (Registry::from_records(records), version),
        Err(e) => {
            error!(error = %e, "cannot read the registry of platforms");
            (Registry::default(), version)
        }
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
mod tests;
