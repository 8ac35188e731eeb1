//! The sans-IO core: every decision of the component, and no I/O of its own.
//!
//! [`Core::handle`] takes one [`Input`] (a stanza, a tick, the link going up or down) and
//! the current time, and returns [`Output`]s (stanzas to send, when to be woken next).
//! It never reads the clock and never touches a socket, so every flow can be driven in a
//! unit test with XML fixtures and a fake clock. The only durable resource it owns is the
//! [`Store`]; the driver runs the core on its own thread so SQLite never blocks the async
//! runtime.

pub mod disco;
pub mod failure;
pub mod iq_tracker;
pub mod stanza;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use minidom::Element;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::ns;
use xmpp_parsers::version::VersionResult;

use crate::commands::{self, Requester, Role, Sessions};
use crate::config::Config;
use crate::store::Store;
use crate::xep::commands::{Command, CommandError, SpecificCondition};
use failure::Failure;
use iq_tracker::{Ended, IqTracker, Purpose};
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
}

/// What the core wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this stanza to the server.
    Send(Element),
    /// Deliver a [`Input::Tick`] no later than this.
    WakeAt(SystemTime),
}

/// The part of the configuration the core decides with.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub component: BareJid,
    pub name: String,
    pub domains: Vec<BareJid>,
    pub admins: Vec<BareJid>,
    pub iq_timeout: Duration,
    pub command_session: Duration,
}

impl From<&Config> for CoreConfig {
    fn from(config: &Config) -> CoreConfig {
        CoreConfig {
            component: config.component_jid.clone(),
            name: config.component_name.clone(),
            domains: config.domains.clone(),
            admins: config.admins.clone(),
            iq_timeout: config.link.iq_timeout,
            command_session: config.link.command_session,
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
    /// The server software each served domain reported (XEP-0092), learned at link-up.
    pub server_software: BTreeMap<BareJid, String>,
    pub iq_timeouts: u64,
    pub store: Store,
}

impl State {
    pub fn new(store: Store, now: SystemTime) -> State {
        State {
            started_at: now,
            link: Link::Down { since: now },
            stats: Stats::default(),
            server_software: BTreeMap::new(),
            iq_timeouts: 0,
            store,
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> State {
        let store = Store::open_in_memory().unwrap();
        State::new(
            store,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }
}

pub struct Core {
    config: CoreConfig,
    component_jid: Jid,
    state: State,
    sessions: Sessions,
    iq: IqTracker,
}

impl Core {
    /// `salt` seeds unguessable command session ids; pass something random.
    pub fn new(config: CoreConfig, store: Store, now: SystemTime, salt: u64) -> Core {
        Core {
            component_jid: Jid::from(config.component.clone()),
            sessions: Sessions::new(config.command_session, salt),
            iq: IqTracker::new(config.iq_timeout),
            state: State::new(store, now),
            config,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Gives the store back for a clean close at shutdown.
    pub fn into_store(self) -> Store {
        self.state.store
    }

    pub fn handle(&mut self, input: Input, now: SystemTime) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Connected => self.on_connected(now, &mut out),
            Input::Disconnected { reason } => self.on_disconnected(&reason, now),
            Input::Stanza(el) => {
                self.state.stats.stanzas_in += 1;
                self.on_stanza(el, now, &mut out);
            }
            Input::Tick => {}
        }
        self.expire(now);
        self.state.stats.stanzas_out += out.len() as u64;
        if let Some(at) = self.next_deadline() {
            out.push(Output::WakeAt(at));
        }
        out
    }

    fn next_deadline(&self) -> Option<SystemTime> {
        [self.iq.next_deadline(), self.sessions.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn expire(&mut self, now: SystemTime) {
        self.sessions.expire(now);
        for ended in self.iq.expire(now) {
            self.state.iq_timeouts += 1;
            if let Ended::TimedOut { purpose, to } = ended {
                warn!(%to, ?purpose, "no reply to an IQ within the timeout");
            }
        }
    }

    fn on_connected(&mut self, now: SystemTime, out: &mut Vec<Output>) {
        self.state.link = Link::Up { since: now };
        self.state.stats.links_up += 1;
        // Learn which server software serves each domain: later decisions (and the
        // operator's instructions in the log) depend on it.
        for domain in self.config.domains.clone() {
            let to = Jid::from(domain);
            let id = self.iq.track(
                to.clone(),
                Purpose::ServerVersion { domain: to.clone() },
                now,
            );
            let query = Element::builder("query", ns::VERSION).build();
            out.push(Output::Send(stanza::iq_request(
                IqType::Get,
                &self.component_jid,
                &to,
                &id,
                query,
            )));
        }
    }

    fn on_disconnected(&mut self, reason: &str, now: SystemTime) {
        self.state.link = Link::Down { since: now };
        let abandoned = self.iq.abandon_all();
        debug!(reason, abandoned, "core saw the link go down");
    }

    fn on_stanza(&mut self, el: Element, now: SystemTime, out: &mut Vec<Output>) {
        let header = match Header::read(&el) {
            Ok(header) => header,
            Err(e) => {
                self.state.stats.stanzas_dropped += 1;
                warn!(error = %e, "dropped a stanza that cannot be routed");
                return;
            }
        };
        let span = tracing::debug_span!(
            "stanza",
            kind = ?header.kind,
            id = header.id.as_deref().unwrap_or(""),
            from = %header.from,
        );
        let _guard = span.enter();
        match header.kind {
            Kind::Iq => self.on_iq(&header, &el, now, out),
            Kind::Message | Kind::Presence => {
                // Not used yet: nothing to decide about them, and errors are never answered.
                debug!(type_ = header.type_.as_deref().unwrap_or(""), "ignored");
            }
        }
    }

    fn on_iq(&mut self, header: &Header, el: &Element, now: SystemTime, out: &mut Vec<Output>) {
        match header.iq_type() {
            Some(IqType::Get) | Some(IqType::Set) => {
                if header.id.is_none() {
                    self.state.stats.stanzas_dropped += 1;
                    warn!("dropped an IQ request without an id: it cannot be answered");
                    return;
                }
                let reply = match self.answer_iq(header, el, now) {
                    Ok(payload) => stanza::iq_result(header, payload),
                    Err(failure) => {
                        debug!(condition = ?failure.condition, text = %failure.text, "refused");
                        stanza::error_reply(header, &failure)
                    }
                };
                out.push(Output::Send(reply));
            }
            Some(IqType::Result) | Some(IqType::Error) => {
                let is_error = header.iq_type() == Some(IqType::Error);
                let Some(id) = header.id.as_deref() else {
                    return;
                };
                match self.iq.on_reply(id, &header.from, is_error) {
                    Some(Ended::Reply { purpose, is_error }) => {
                        self.on_iq_reply(purpose, is_error, el)
                    }
                    _ => debug!("reply to no IQ of ours; ignored"),
                }
            }
            None => {
                self.state.stats.stanzas_dropped += 1;
                let failure =
                    Failure::bad_request("an IQ must have type get, set, result or error");
                warn!(
                    type_ = header.type_.as_deref().unwrap_or(""),
                    "IQ of unknown type"
                );
                if header.id.is_some() {
                    out.push(Output::Send(stanza::error_reply(header, &failure)));
                }
            }
        }
    }

    fn on_iq_reply(&mut self, purpose: Purpose, is_error: bool, el: &Element) {
        match purpose {
            Purpose::ServerVersion { domain } => {
                let software = el
                    .get_child("query", ns::VERSION)
                    .cloned()
                    .and_then(|q| VersionResult::try_from(q).ok())
                    .map(|v| format!("{} {}", v.name, v.version));
                let domain = domain.to_bare();
                match (is_error, software) {
                    (false, Some(software)) => {
                        info!(%domain, %software, "server software");
                        self.state.server_software.insert(domain, software);
                    }
                    _ => {
                        debug!(%domain, "server did not tell its software version");
                    }
                }
            }
        }
    }

    /// Answers an IQ get/set: `Ok(payload)` for a result, `Err` for an error reply.
    fn answer_iq(
        &mut self,
        header: &Header,
        el: &Element,
        now: SystemTime,
    ) -> Result<Option<Element>, Failure> {
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
                header.to, self.config.component
            )));
        }
        let type_ = header.iq_type();
        let requester = self.requester(&header.from);
        if payload.is("ping", ns::PING) && type_ == Some(IqType::Get) {
            return Ok(None);
        }
        if payload.is("query", ns::VERSION) && type_ == Some(IqType::Get) {
            let version = VersionResult {
                name: "xmpp-game-bridge".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                // The operating system is not disclosed: it helps attackers more than users.
                os: None,
            };
            return Ok(Some(version.into()));
        }
        if payload.is("query", ns::DISCO_INFO) && type_ == Some(IqType::Get) {
            return disco::info(&self.config, &requester, payload.attr("node")).map(Some);
        }
        if payload.is("query", ns::DISCO_ITEMS) && type_ == Some(IqType::Get) {
            return disco::items(&self.config, &requester, payload.attr("node")).map(Some);
        }
        if payload.is("command", crate::xep::commands::NS) {
            if type_ != Some(IqType::Set) {
                return Err(Failure::bad_request(
                    "ad-hoc commands are run with an IQ of type set",
                ));
            }
            let request = Command::try_from(payload.clone()).map_err(command_parse_failure)?;
            let mut ctx = commands::Context {
                now,
                requester: &requester,
                state: &mut self.state,
            };
            let response = commands::execute(request, &mut self.sessions, &mut ctx)?;
            return Ok(Some(response.into()));
        }
        Err(Failure::service_unavailable(format!(
            "the game bridge does not answer <{} xmlns='{}'/>",
            payload.name(),
            payload.ns()
        )))
    }

    fn requester(&self, from: &Jid) -> Requester {
        let bare = from.to_bare();
        let role = if self.config.admins.contains(&bare) {
            Role::Admin
        } else {
            Role::Other
        };
        Requester {
            jid: from.clone(),
            role,
        }
    }
}

fn command_parse_failure(error: CommandError) -> Failure {
    match error {
        CommandError::MalformedAction(action) => {
            Failure::bad_request(format!("{action:?} is not an ad-hoc command action"))
                .with_specific(SpecificCondition::MalformedAction)
        }
        CommandError::BadPayload(reason) => {
            Failure::bad_request(format!("the submitted data form is invalid: {reason}"))
                .with_specific(SpecificCondition::BadPayload)
        }
        other => Failure::bad_request(format!("invalid ad-hoc command request: {other}")),
    }
}

#[cfg(test)]
mod tests;
