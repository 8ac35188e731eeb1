//! The sans-IO core: every decision of the component, and no I/O of its own.
//!
//! [`Core::handle`] takes one [`Input`] (a stanza, a tick, the link going up or down) and
//! the current time, and returns [`Output`]s (stanzas to send, when to be woken next).
//! It never reads the clock and never touches a socket, so every flow can be driven in a
//! unit test with XML fixtures and a fake clock. The only durable resource it owns is the
//! [`Store`]; the driver runs the core on its own thread so SQLite never blocks the async
//! runtime.

pub mod deadlines;
pub mod disco;
pub mod failure;
pub mod iq_tracker;
pub(crate) mod observe;
pub mod parked;
pub mod rate;
pub mod stanza;

use std::time::{Duration, SystemTime};

use minidom::Element;
use tracing::{debug, error, info, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::ns;
use xmpp_parsers::version::VersionResult;

use crate::commands::{self, Reply, Requester, Sessions};
use crate::config::Config;
use crate::directory::activity::ReportKey;
use crate::directory::{unix_secs, Directory, DirectoryConfig};
use crate::logging::Throttle;
use crate::store::Store;
use crate::xep::commands::{Command, CommandError, SpecificCondition};
use failure::Failure;
use iq_tracker::{Ended, IqTracker, Purpose};
use parked::{Parked, Waited};
use rate::{Rate, RateLimits};
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
    /// The transport did not send a stanza of the core's, larger than
    /// `link.max_outgoing_stanza_kib` (an IQ result went out as `resource-constraint`).
    NotSent,
    /// The answer to [`Output::ListSessions`]: every session's full JID, or why not.
    Sessions {
        domain: BareJid,
        /// The `link` of the request it answers.
        link: u32,
        sessions: Result<Vec<String>, String>,
    },
}

/// What the core wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this stanza to the server.
    Send(Element),
    /// Deliver a [`Input::Tick`] no later than this.
    WakeAt(SystemTime),
    /// Ask the server's HTTP API (ejabberd) for every session of `domain`; the answer
    /// comes back as [`Input::Sessions`].
    ListSessions {
        domain: BareJid,
        /// Which link (epoch) asks: an answer for another is ignored.
        link: u32,
    },
}

/// The part of the configuration the core decides with.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub component: BareJid,
    pub name: String,
    pub domains: Vec<BareJid>,
    pub admins: Vec<BareJid>,
    pub platforms: Vec<BareJid>,
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
}

impl From<&Config> for CoreConfig {
    fn from(config: &Config) -> CoreConfig {
        CoreConfig {
            component: config.component_jid.clone(),
            name: config.component_name.clone(),
            domains: config.domains.clone(),
            admins: config.admins.clone(),
            platforms: config.platforms.clone(),
            iq_timeout: config.link.iq_timeout,
            command_session: config.link.command_session,
            directory: config.directory.clone(),
            max_stanza_bytes: config.link.max_outgoing_stanza_bytes,
            activity_key: ReportKey::derive(config.secret.expose()),
            platform_rate: Rate::per_sec(config.limits.platform_requests_per_sec),
            other_rate: Rate::per_sec(config.limits.user_requests_per_sec),
            sessions_api: config.ejabberd_api.is_some(),
        }
    }
}

/// The state of the link to the server, as the core last heard of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Up { since: SystemTime },
    Down { since: SystemTime },
}

/// Counters for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub stanzas_in: u64,
    pub stanzas_out: u64,
    /// Stanzas that could not be routed or parsed, dropped with a log line.
    pub stanzas_dropped: u64,
    /// Stanzas from the server skipped unread: too large or too deep.
    pub stanzas_skipped: u64,
    /// Stanzas of the bridge's own that were over the size limit: answers are cut to fit,
    /// so only an answer echoing a huge attribute (an IQ's id) gets here.
    pub stanzas_oversized: u64,
    /// Transactions committed, and attempts that failed (each retried later).
    pub storage_writes: u64,
    pub storage_failures: u64,
    /// Requests refused with `resource-constraint`: a cap on waiting requests, or a
    /// requester over its rate.
    pub requests_refused_busy: u64,
    /// Of those, refused because the requester was over its rate.
    pub requests_rate_limited: u64,
    /// Pings sent to confirm resources the server may have ended silently, and the
    /// resources the server said were gone.
    pub presence_checks: u64,
    pub departures_found: u64,
    /// Gauges, as of the last input: rosters being fetched, pings out, requests waiting
    /// for either, command sessions open, IQs awaiting a reply, requesters whose rate is
    /// tracked.
    pub rosters_fetching: usize,
    pub presence_checks_pending: usize,
    pub requests_waiting: usize,
    pub sessions_live: usize,
    pub iqs_pending: usize,
    pub requesters_tracked: usize,
    pub commands_served: u64,
    /// Successful handshakes; all but the first are reconnections.
    pub links_up: u64,
}

impl Stats {
    pub fn reconnects(&self) -> u64 {
        self.links_up.saturating_sub(1)
    }
}

/// The core's state that command handlers may read and change.
pub struct State {
    pub started_at: SystemTime,
    pub link: Link,
    pub stats: Stats,
    pub iq_timeouts: u64,
    pub directory: Directory,
    pub store: Store,
    /// Since when writes to the database fail (the bridge answers from memory meanwhile).
    pub storage_failing_since: Option<SystemTime>,
}

impl State {
    pub fn new(store: Store, directory: Directory, now: SystemTime) -> State {
        State {
            started_at: now,
            link: Link::Down { since: now },
            stats: Stats::default(),
            iq_timeouts: 0,
            directory,
            store,
            storage_failing_since: None,
        }
    }

    /// When `bare` was last seen going offline, from the database: for users the
    /// directory has not seen leave since the component started.
    pub fn stored_last_seen(&self, bare: &str) -> Result<Option<u32>, Failure> {
        self.store.last_seen(bare).map_err(|e| {
            error!(error = %e, "cannot read last-seen times");
            Failure::internal()
        })
    }

    #[cfg(test)]
    pub fn for_tests() -> State {
        let store = Store::open_in_memory().unwrap();
        let directory = Directory::new(DirectoryConfig::default(), &[]);
        State::new(
            store,
            directory,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }
}

/// How long a last-seen time waits to share a write with others: a logout is durable
/// (a `kill -9` does not lose it) this long after it is heard.
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
    parked: Parked,
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
}

impl Core {
    /// `salt` seeds unguessable command session ids; pass something random.
    pub fn new(config: CoreConfig, store: Store, now: SystemTime, salt: u64) -> Core {
        let directory = Directory::new(config.directory.clone(), &config.domains);
        Core {
            component_jid: Jid::from(config.component.clone()),
            sessions: Sessions::new(config.command_session, salt),
            iq: IqTracker::new(config.iq_timeout),
            state: State::new(store, directory, now),
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
            .storage_failing_since
            .unwrap_or(self.state.started_at);
        self.flush_last_seen(now);
        self.state.store
    }

    /// Writes the batched last-seen times in one transaction. A failure keeps them and
    /// schedules a retry with backoff, so a locked or full disk never costs the core
    /// more than one short wait per retry.
    fn flush_last_seen(&mut self, now: SystemTime) {
        self.pending_since = None;
        let batch = self.state.directory.take_last_seen();
        if batch.is_empty() {
            return;
        }
        match self.state.store.save_last_seen(&batch) {
            Ok(()) => {
                self.state.stats.storage_writes += 1;
                debug!(count = batch.len(), "last-seen times written");
                if self.state.storage_failing_since.take().is_some() {
                    info!("the database is writable again");
                }
                self.storage_retry = None;
            }
            Err(e) => {
                self.state.stats.storage_failures += 1;
                let wait = self
                    .storage_retry
                    .map_or(STORAGE_RETRY_MIN, |(_, wait)| wait);
                self.storage_retry = Some((now + wait, (wait * 2).min(STORAGE_RETRY_MAX)));
                self.state.storage_failing_since.get_or_insert(now);
                error!(
                    error = %e,
                    count = batch.len(),
                    retry_in_secs = wait.as_secs(),
                    "cannot write last-seen times; the bridge answers from memory and retries"
                );
                self.state.directory.requeue_last_seen(batch);
                // Woken for the retry, not only by the next input.
                self.pending_since = Some(now);
            }
        }
    }

    pub fn handle(&mut self, input: Input, now: SystemTime) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Connected => self.on_connected(now, &mut out),
            Input::Disconnected { reason } => self.on_disconnected(&reason, now, &mut out),
            Input::Stanza(el) => {
                self.state.stats.stanzas_in += 1;
                self.on_stanza(el, now, &mut out);
            }
            Input::Tick => {}
            Input::NotSent => self.state.stats.stanzas_oversized += 1,
            Input::Skipped { head, reason } => {
                self.state.stats.stanzas_in += 1;
                self.state.stats.stanzas_skipped += 1;
                self.on_skipped(&head, reason, &mut out);
            }
            Input::Sessions {
                domain,
                link,
                sessions,
            } => self.on_sessions(&domain, link, sessions),
        }
        self.expire(now, &mut out);
        self.state.stats.stanzas_out +=
            out.iter().filter(|o| matches!(o, Output::Send(_))).count() as u64;
        let stats = &mut self.state.stats;
        stats.rosters_fetching = self.parked.rosters();
        stats.presence_checks_pending = self.parked.pings();
        stats.requests_waiting = self.parked.len();
        stats.sessions_live = self.sessions.len();
        stats.iqs_pending = self.iq.len();
        stats.requesters_tracked = self.rates.tracked();
        if let Some(at) = self.next_deadline() {
            out.push(Output::WakeAt(at));
        }
        out
    }

    fn next_deadline(&self) -> Option<SystemTime> {
        let flush = self.pending_since.map(|since| {
            let due = since + LAST_SEEN_FLUSH;
            self.storage_retry.map_or(due, |(retry, _)| due.max(retry))
        });
        [
            self.iq.next_deadline(),
            self.sessions.next_deadline(),
            flush,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn expire(&mut self, now: SystemTime, out: &mut Vec<Output>) {
        self.sessions.expire(now);
        for ended in self.iq.expire(now) {
            self.state.iq_timeouts += 1;
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
        let pending = self.state.directory.pending_last_seen();
        if pending > 0 && self.pending_since.is_none() {
            self.pending_since = Some(now);
        }
        let due = self
            .pending_since
            .is_some_and(|since| now >= since + LAST_SEEN_FLUSH);
        let may_write = self.storage_retry.is_none_or(|(retry, _)| now >= retry);
        if may_write && (pending >= LAST_SEEN_BATCH || due) {
            self.flush_last_seen(now);
        }
        if now >= self.last_prune + ACTIVITY_PRUNE {
            self.last_prune = now;
            let window = self.state.directory.config.conversation_window;
            self.state
                .directory
                .activity
                .prune(unix_secs(now).saturating_sub(window.as_secs() as u32));
        }
    }

    fn on_connected(&mut self, now: SystemTime, out: &mut Vec<Output>) {
        self.state.link = Link::Up { since: now };
        self.state.stats.links_up += 1;
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
        out: &mut Vec<Output>,
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
        out: &mut Vec<Output>,
    ) {
        let id = self.iq.track_within(to.clone(), purpose, now, timeout);
        out.push(Output::Send(stanza::iq_request(
            type_,
            &self.component_jid,
            &to,
            &id,
            payload,
        )));
    }

    fn on_disconnected(&mut self, reason: &str, now: SystemTime, out: &mut Vec<Output>) {
        self.state.link = Link::Down { since: now };
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
    fn refuse_parked(&mut self, failure: &Failure, out: &mut Vec<Output>) -> usize {
        let mut refused = 0;
        for request in self.parked.drain() {
            if let Ok(header) = Header::read(&request) {
                out.push(Output::Send(stanza::error_reply(&header, failure)));
                refused += 1;
            }
        }
        refused
    }

    /// The bridge is stopping: what is still waiting gets its answer now.
    pub fn shutdown(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.refuse_parked(
            &Failure::service_unavailable("the game bridge is restarting; try again shortly"),
            &mut out,
        );
        out
    }

    fn on_stanza(&mut self, el: Element, now: SystemTime, out: &mut Vec<Output>) {
        let header = match Header::read(&el) {
            Ok(header) => header,
            Err(e) => {
                self.state.stats.stanzas_dropped += 1;
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
            Kind::Presence => self.on_presence(&header, &el, now),
            Kind::Message => self.on_message(&header, &el, now),
        }
    }

    /// A stanza the transport skipped unread: an IQ request still gets its one answer.
    fn on_skipped(&mut self, head: &Element, reason: &str, out: &mut Vec<Output>) {
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
            out.push(Output::Send(stanza::error_reply(&header, &failure)));
        }
    }

    fn on_iq(&mut self, header: &Header, el: &Element, now: SystemTime, out: &mut Vec<Output>) {
        match header.iq_type() {
            Some(IqType::Get) | Some(IqType::Set) => {
                if header.id.as_ref().is_none_or(|id| id.len() > MAX_ID_BYTES) {
                    self.state.stats.stanzas_dropped += 1;
                    if let Some(suppressed) = self.noisy.allow(now) {
                        warn!(
                            suppressed,
                            "dropped an IQ request without an id, or with one too long to echo: it cannot be answered"
                        );
                    }
                    return;
                }
                let requester = header.from.to_bare();
                let trusted = self.config.platforms.contains(&requester)
                    || self.config.admins.contains(&requester);
                if !self.rates.allow(requester.as_str(), trusted, now) {
                    self.state.stats.requests_refused_busy += 1;
                    self.state.stats.requests_rate_limited += 1;
                    let failure = Failure::resource_constraint(
                        "too many requests from you; slow down and try again in a moment",
                    );
                    out.push(Output::Send(stanza::error_reply(header, &failure)));
                    return;
                }
                self.on_iq_request(header, el, now, Waited::default(), out);
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
                self.state.stats.stanzas_dropped += 1;
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
                    out.push(Output::Send(stanza::error_reply(header, &failure)));
                }
            }
        }
    }

    /// Answers one IQ get/set (or parks it until a roster it needs arrives).
    fn on_iq_request(
        &mut self,
        header: &Header,
        el: &Element,
        now: SystemTime,
        waited: Waited,
        out: &mut Vec<Output>,
    ) {
        let reply = match self.answer_iq(header, el, now, waited) {
            Ok(Answer::Result(payload)) => stanza::iq_result(header, payload),
            Ok(Answer::Wait(needs)) => {
                self.wait(needs, el.clone(), waited, now, out);
                return;
            }
            Err(failure) => {
                debug!(condition = ?failure.condition, text = %failure.text, "refused");
                stanza::error_reply(header, &failure)
            }
        };
        out.push(Output::Send(reply));
    }

    /// Answers an IQ get/set: `Ok(payload)` for a result, `Err` for an error reply.
    fn answer_iq(
        &mut self,
        header: &Header,
        el: &Element,
        now: SystemTime,
        waited: Waited,
    ) -> Result<Answer, Failure> {
        let mut children = el.children();
        let payload = match (children.next(), children.next()) {
            (Some(payload), None) => payload,
            _ => {
                return Err(Failure::bad_request(
                    "an IQ request must carry exactly one payload element",
                ))
            }
        };
        if header.to.node().is_some() || header.to.resource().is_some() {
            return Err(Failure::service_unavailable(format!(
                "{} is not an entity of this bridge; address {} instead",
                failure::quote(header.to.as_str()),
                self.config.component
            )));
        }
        let type_ = header.iq_type();
        let requester = self.requester(&header.from);
        if payload.is("ping", ns::PING) && type_ == Some(IqType::Get) {
            return Ok(Answer::Result(None));
        }
        if payload.is("query", ns::VERSION) && type_ == Some(IqType::Get) {
            let version = VersionResult {
                name: "xmpp-game-bridge".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                // The operating system is not disclosed: it helps attackers more than users.
                os: None,
            };
            return Ok(Answer::Result(Some(version.into())));
        }
        if payload.is("query", ns::DISCO_INFO) && type_ == Some(IqType::Get) {
            return disco::info(&self.config, &requester, payload.attr("node"))
                .map(|el| Answer::Result(Some(el)));
        }
        if payload.is("query", ns::DISCO_ITEMS) && type_ == Some(IqType::Get) {
            return disco::items(&self.config, &requester, payload.attr("node"))
                .map(|el| Answer::Result(Some(el)));
        }
        if payload.is("command", crate::xep::commands::NS) {
            if type_ != Some(IqType::Set) {
                return Err(Failure::bad_request(
                    "ad-hoc commands are run with an IQ of type set",
                ));
            }
            // Who may run the node is decided before the form is read: a stranger's
            // form, however large or odd, is never parsed.
            let node = commands::admit(payload.attr("node").unwrap_or(""), &requester)?;
            let request = Command::try_from(payload).map_err(command_parse_failure)?;
            let mut ctx = commands::Context {
                now,
                requester: &requester,
                state: &mut self.state,
                waited,
                max_reply_bytes: self.config.max_stanza_bytes,
            };
            return Ok(
                match commands::execute(node, request, &mut self.sessions, &mut ctx)? {
                    Reply::Done(response) => Answer::Result(Some((*response).into())),
                    Reply::Wait(needs) => Answer::Wait(needs),
                },
            );
        }
        Err(Failure::service_unavailable(format!(
            "the game bridge does not answer <{} xmlns='{}'/>",
            failure::quote(payload.name()),
            failure::quote(&payload.ns())
        )))
    }

    fn requester(&self, from: &Jid) -> Requester {
        let bare = from.to_bare();
        Requester {
            jid: from.clone(),
            admin: self.config.admins.contains(&bare),
            platform: self.config.platforms.contains(&bare),
        }
    }
}

/// How an IQ request is answered.
enum Answer {
    Result(Option<Element>),
    /// Once the server gave what it needs.
    Wait(commands::Needs),
}

fn command_parse_failure(error: CommandError) -> Failure {
    match error {
        CommandError::MalformedAction(action) => Failure::bad_request(format!(
            "{:?} is not an ad-hoc command action",
            failure::quote(&action)
        ))
        .with_specific(SpecificCondition::MalformedAction),
        CommandError::BadPayload(reason) => {
            Failure::bad_request(format!("the submitted data form is invalid: {reason}"))
                .with_specific(SpecificCondition::BadPayload)
        }
        other => Failure::bad_request(format!("invalid ad-hoc command request: {other}")),
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
