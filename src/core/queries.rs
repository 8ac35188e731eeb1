//! What the core asks the server, and what it does with the answers: the server's
//! software and modules at link-up, the sessions ejabberd's API lists, rosters, and
//! pings confirming devices. Requests that need a roster or a ping wait here, each
//! operation asked once however many requests wait for it.

use std::time::{Duration, SystemTime};

use minidom::Element;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::ns;
use xmpp_parsers::version::VersionResult;

use super::iq_tracker::Purpose;
use super::parked::{Joined, Operation};
use super::pipeline::Waiter;
use super::stanza::IqType;
use super::{Core, Outbox};
use crate::commands::{IqReply, Needs, PrivilegedIq};
use crate::directory::grants::{self, ServerFamily};
use crate::directory::{activity, roster, unix_secs, UserId};
use crate::failure::Failure;
use crate::xep::privilege;
use minidom::rxml::xml_ncname;

/// How long a ping that confirms a resource may take: a client answers within a round
/// trip; one that does not is left out of the answer that waits for it.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Pings one request may wait for; past this, the other devices are left out of its
/// answer.
const MAX_PINGS_PER_REQUEST: usize = 256;

/// What a ping's answer says of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PingAnswer {
    /// The device itself answered.
    There,
    /// The server says the session is gone.
    Gone,
    /// It proves neither (a timeout on the way, a refusal): the device is left out of
    /// answers until it is confirmed, and kept.
    Unsure,
}

/// Reads a ping's answer. A client that does not do XEP-0199 answers `service-unavailable`
/// (RFC 6120 §8.4), as servers do for a session they do not have, so that condition
/// means gone only with the server's words for it (ejabberd: "User session not found",
/// "User session terminated"). `feature-not-implemented` comes from a client that is there.
fn ping_answer(el: &Element, is_error: bool) -> PingAnswer {
    if !is_error {
        return PingAnswer::There;
    }
    let Some(error) = el.get_child("error", el.ns().as_str()) else {
        return PingAnswer::Unsure;
    };
    let condition = error
        .children()
        .find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text")
        .map(|c| c.name());
    let text = error
        .get_child("text", ns::XMPP_STANZAS)
        .map(|t| t.text().to_ascii_lowercase())
        .unwrap_or_default();
    match condition {
        Some("feature-not-implemented") => PingAnswer::There,
        Some("item-not-found" | "recipient-unavailable" | "gone" | "remote-server-not-found") => {
            PingAnswer::Gone
        }
        Some("service-unavailable") if text.contains("session") => PingAnswer::Gone,
        _ => PingAnswer::Unsure,
    }
}

impl Core {
    pub(super) fn on_iq_reply(
        &mut self,
        purpose: Purpose,
        is_error: bool,
        el: &Element,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        match purpose {
            Purpose::ServerVersion { domain } => {
                let software = el
                    .get_child("query", ns::VERSION)
                    .cloned()
                    .and_then(|q| VersionResult::try_from(q).ok())
                    .map(|v| format!("{} {}", v.name, v.version))
                    .filter(|_| !is_error);
                self.on_server_version(&domain.to_string(), software, now, out);
            }
            Purpose::ActivityProbe { domain } => {
                let query = el.get_child("query", ns::DISCO_INFO).filter(|_| !is_error);
                let installed = query
                    .is_some_and(|q| q.children().any(|f| f.attr("var") == Some(activity::NS)));
                let identity = query.and_then(|q| {
                    q.children()
                        .find(|c| c.name() == "identity" && c.attr("category") == Some("server"))
                        .and_then(|c| c.attr("name"))
                        .map(crate::failure::quote)
                });
                let domain = domain.to_string();
                if let Some(d) = self.state.directory.domain_mut(&domain) {
                    d.identity = identity;
                    d.activity_module = Some(installed);
                }
                self.announce_tier(&domain);
            }
            Purpose::Roster { user } => {
                if is_error {
                    let reason = el
                        .get_child("error", el.ns().as_str())
                        .and_then(|e| e.children().next().map(|c| c.name().to_owned()))
                        .unwrap_or_else(|| "error".to_owned());
                    warn!(user = %self.state.directory.name(user), %reason, "the server refused a roster");
                    self.state.directory.rosters.refuse(user, reason);
                } else {
                    let directory = &mut self.state.directory;
                    let mutual = roster::mutual_contacts(el, directory.interner_mut());
                    debug!(user = %directory.name(user), mutual = mutual.len(), "roster fetched");
                    directory.rosters.insert(user, mutual, unix_secs(now));
                }
                self.ended(Operation::Roster(user), now, out);
            }
            Purpose::Privileged { op } => {
                let reply = privileged_reply(el, is_error);
                for waiter in self.parked.waiting_for_mut(&Operation::Iq(op)) {
                    waiter.reply = Some(reply.clone());
                }
                self.ended(Operation::Iq(op), now, out);
            }
            Purpose::Ping {
                user,
                resource,
                sent,
            } => {
                match ping_answer(el, is_error) {
                    PingAnswer::There => self.state.directory.confirmed(user, &resource, sent),
                    PingAnswer::Gone => {
                        self.state.health.stats.departures_found += 1;
                        let applied = self.state.directory.gone(user, &resource, unix_secs(now));
                        debug!(
                            user = %self.state.directory.name(user),
                            %resource,
                            ?applied,
                            "the server says a device is gone"
                        );
                    }
                    PingAnswer::Unsure => debug!(
                        user = %self.state.directory.name(user),
                        %resource,
                        "a ping's error proves neither way; the device is left out until confirmed"
                    ),
                }
                self.ended(Operation::Ping(user, resource), now, out);
            }
        }
    }

    /// An IQ of ours got no answer in time.
    pub(super) fn on_iq_lost(&mut self, purpose: Purpose, now: SystemTime, out: &mut Outbox) {
        match purpose {
            Purpose::Roster { user } => self.ended(Operation::Roster(user), now, out),
            // Not confirmed: left out of the answers until it is.
            Purpose::Ping { user, resource, .. } => {
                self.ended(Operation::Ping(user, resource), now, out)
            }
            // No answer: whatever the server replays came before the timeout.
            Purpose::ServerVersion { domain } => {
                self.on_server_version(&domain.to_string(), None, now, out)
            }
            Purpose::ActivityProbe { .. } => {}
            Purpose::Privileged { op } => {
                let lost = Err(Failure::remote_timeout(
                    "the chat server did not answer in time; try again",
                ));
                for waiter in self.parked.waiting_for_mut(&Operation::Iq(op)) {
                    waiter.reply = Some(lost.clone());
                }
                self.ended(Operation::Iq(op), now, out);
            }
        }
    }

    /// The server's answer to the version query sent at link-up (or its absence): it
    /// comes after the server's privilege advertisement and presence replay on the same
    /// stream, so both are complete now.
    fn on_server_version(
        &mut self,
        domain: &str,
        software: Option<String>,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        if let Some(d) = self.state.directory.domain_mut(domain) {
            d.software = software.clone();
        }
        self.state.directory.settle_grants(domain);
        let Some(d) = self.state.directory.domain_of(domain) else {
            return;
        };
        let (family, known_by) = d.family();
        let replays = d.replays_presence();
        match &software {
            Some(software) => info!(%domain, %software, "server software"),
            None => info!(
                %domain,
                server = family.name(),
                known_by,
                "the server did not tell its software version (XEP-0092)"
            ),
        }
        if replays {
            self.state.directory.replay_done(domain, unix_secs(now));
            info!(
                %domain,
                online = self.state.directory.online_resources(),
                "presence replay complete: users it did not mention are offline"
            );
        } else if self.config.sessions_api {
            if let Ok(jid) = domain.parse() {
                let link = self.state.directory.epoch();
                self.sessions_asked.retain(|(d, _, _)| d != domain);
                self.sessions_asked.push((domain.to_owned(), link, now));
                out.list_sessions.push((jid, link));
            }
        } else {
            info!(
                %domain,
                server = family.name(),
                "the server does not replay presence to a component: users not heard from since the link came up are unknown (on ejabberd, server.ejabberd_api tells the bridge who is online)"
            );
        }
        self.check_grants(domain);
        self.announce_tier(domain);
    }

    /// The server's API listed the sessions of `domain` (asked at link-up).
    pub(super) fn on_sessions(
        &mut self,
        domain: &BareJid,
        link: u32,
        sessions: Result<Vec<String>, String>,
    ) {
        let domain = domain.as_str();
        let Some(pos) = self
            .sessions_asked
            .iter()
            .position(|(d, l, _)| d == domain && *l == link)
        else {
            debug!(%domain, "sessions listed for a link that is gone; ignored");
            return;
        };
        let (_, _, asked) = self.sessions_asked.swap_remove(pos);
        match sessions {
            Ok(sessions) => {
                let (listed, silent) =
                    self.state
                        .directory
                        .apply_sessions(domain, &sessions, unix_secs(asked));
                info!(
                    %domain,
                    sessions = listed,
                    without_presence = silent,
                    "the server's API listed who is online: users it did not list are offline"
                );
            }
            Err(reason) => warn!(
                %domain,
                %reason,
                "cannot learn who is online from ejabberd's API (server.ejabberd_api): users not heard from since the link came up stay unknown"
            ),
        }
    }

    /// Says, once per link-up, what the server's grants for `domain` enable and, when one
    /// the bridge needs is missing, the configuration lines that give it.
    fn check_grants(&mut self, domain: &str) {
        let Some(d) = self.state.directory.domain_of(domain) else {
            return;
        };
        let missing = grants::missing(d.privilege.as_ref());
        let report = grants::report(d.privilege.as_ref());
        if missing.is_empty() {
            info!(%domain, "{report}");
            return;
        }
        let (family, _) = d.family();
        let what: Vec<&str> = missing.iter().map(|g| g.setting()).collect();
        warn!(
            %domain,
            missing = %what.join(", "),
            "the server has not granted privileges this bridge needs (XEP-0356), so peers and status answer with an error until it does ({report}). To grant them, {}",
            grants::instructions(family, self.config.component.as_str(), domain)
        );
    }

    /// Says which tier of active peers applies to `domain`, once both the module probe
    /// and the server's family are known, and again only when it changes.
    fn announce_tier(&mut self, domain: &str) {
        let Some(d) = self.state.directory.domain_of(domain) else {
            return;
        };
        let (Some(installed), true) = (d.activity_module, self.state.directory.grants_settled(d))
        else {
            return;
        };
        if d.tier_announced == Some(installed) {
            return;
        }
        let (family, _) = d.family();
        if installed {
            info!(%domain, "conversation activity module found: active peers use the conversation tier");
        } else if family == ServerFamily::Ejabberd {
            info!(%domain, "active peers use the presence tier (the conversation tier needs a Prosody module; ejabberd has none)");
        } else {
            info!(
                %domain,
                "conversation activity module not installed (mod_game_bridge_activity in component-config/): active peers use the presence tier"
            );
        }
        if let Some(d) = self.state.directory.domain_mut(domain) {
            d.tier_announced = Some(installed);
        }
    }

    /// Puts a request aside until the server gave what it `needs`, asking for what is
    /// not under way already.
    pub(super) fn wait(&mut self, needs: Needs, waiter: Waiter, now: SystemTime, out: &mut Outbox) {
        // The pings to wait for: those due, and those under way. A device pinged within
        // the interval that did not answer is left out, not pinged again.
        let secs = unix_secs(now);
        let mut pings: Vec<(UserId, Box<str>, Jid)> = Vec::new();
        'users: for &user in &needs.checks {
            for (resource, due) in self.state.directory.unconfirmed(user, secs) {
                if pings.len() >= MAX_PINGS_PER_REQUEST {
                    break 'users;
                }
                if !due
                    && !self
                        .parked
                        .under_way(&Operation::Ping(user, resource.clone()))
                {
                    continue;
                }
                if let Some(to) = self.full_jid(user, &resource) {
                    pings.push((user, resource, to));
                }
            }
        }
        if needs.roster.is_none() && pings.is_empty() && needs.iq.is_none() && needs.read.is_none()
        {
            // Nothing to wait for: it goes on at once.
            self.resume(waiter, now, out);
            return;
        }
        let refuse = |core: &mut Core, waiter: &Waiter, failure: Failure, out: &mut Outbox| {
            core.state.health.stats.requests_refused_busy += 1;
            waiter.request.fail(&failure, out);
        };
        let requester = waiter.request.requester().to_string();
        let ticket = match self.parked.admit(&requester, waiter) {
            Ok(ticket) => ticket,
            Err((failure, waiter)) => return refuse(self, &waiter, failure, out),
        };
        let mut fetch = None;
        if let Some(user) = needs.roster {
            match self.parked.wait_for(ticket, Operation::Roster(user)) {
                Joined::Send => fetch = Some(user),
                Joined::UnderWay => {}
                Joined::Full => {
                    let failure = Failure::resource_constraint(
                        "the bridge is waiting for too many rosters at once; try again shortly",
                    );
                    if let Some(waiting) = self.parked.take(ticket) {
                        refuse(self, &waiting.item, failure, out);
                    }
                    return;
                }
            }
        }
        let mut privileged = None;
        if let Some(iq) = needs.iq {
            self.next_op += 1;
            let op = self.next_op;
            match self.parked.wait_for(ticket, Operation::Iq(op)) {
                Joined::Send | Joined::UnderWay => privileged = Some((op, iq)),
                Joined::Full => {
                    let failure = Failure::resource_constraint(
                        "the bridge is waiting for too many answers from the chat server; try again shortly",
                    );
                    if let Some(waiting) = self.parked.take(ticket) {
                        refuse(self, &waiting.item, failure, out);
                    }
                    return;
                }
            }
        }
        if let Some((op, iq)) = privileged {
            self.send_privileged(op, iq, now, out);
        }
        for (user, resource, to) in pings {
            let operation = Operation::Ping(user, resource.clone());
            if self.parked.wait_for(ticket, operation) == Joined::Send {
                self.state.directory.checking(user, &resource, secs);
                self.state.health.stats.presence_checks += 1;
                let ping = Element::builder("ping", ns::PING).build();
                let purpose = Purpose::Ping {
                    user,
                    resource,
                    sent: secs,
                };
                self.send_iq_within(IqType::Get, to, ping, purpose, now, PING_TIMEOUT, out);
            }
        }
        // Last: a roster that cannot even be asked for ends at once, as does a read where
        // the database is on the core's thread.
        if let Some(user) = fetch {
            self.fetch_roster(user, now, out);
        }
        if let Some(read) = needs.read {
            let read = *read;
            let operation = Operation::Read(read.clone());
            let joined = if self.storage_has_room() {
                self.parked.wait_for(ticket, operation)
            } else {
                self.state.health.stats.storage_jobs_refused += 1;
                Joined::Full
            };
            match joined {
                Joined::Send => self.store(
                    crate::store::Job::Read(read),
                    super::storage::After::Read,
                    now,
                    out,
                ),
                Joined::UnderWay => {}
                Joined::Full => {
                    let failure = Failure::resource_constraint(
                        "the bridge's database is behind; try again shortly",
                    );
                    if let Some(waiting) = self.parked.take(ticket) {
                        refuse(self, &waiting.item, failure, out);
                    }
                    return;
                }
            }
        }
        if let Some(ready) = self.parked.take_if_ready(ticket) {
            self.resume(ready.item, now, out);
        }
    }

    /// Sends `iq` as its user, wrapped in a XEP-0356 (0.4) `<privileged_iq/>`.
    pub(super) fn send_privileged(
        &mut self,
        op: u64,
        iq: PrivilegedIq,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let (type_, name) = if iq.set {
            (IqType::Set, "set")
        } else {
            (IqType::Get, "get")
        };
        let user = iq.user.as_str();
        let inner = Element::builder("iq", ns::JABBER_CLIENT)
            .attr(xml_ncname!("type").into(), name)
            .attr(xml_ncname!("id").into(), format!("priv-{op}"))
            .attr(xml_ncname!("from").into(), user)
            .attr(xml_ncname!("to").into(), user)
            .append(iq.payload)
            .build();
        let wrapper = Element::builder("privileged_iq", privilege::NS_V2)
            .append(inner)
            .build();
        self.send_iq(
            type_,
            Jid::from(iq.user),
            wrapper,
            Purpose::Privileged { op },
            now,
            out,
        );
    }

    fn full_jid(&self, user: UserId, resource: &str) -> Option<Jid> {
        Jid::new(&format!("{}/{resource}", self.state.directory.name(user))).ok()
    }

    fn fetch_roster(&mut self, user: UserId, now: SystemTime, out: &mut Outbox) {
        let name = self.state.directory.name(user).to_owned();
        match name.parse::<Jid>() {
            Ok(to) => {
                let query = Element::builder("query", ns::ROSTER).build();
                self.send_iq(IqType::Get, to, query, Purpose::Roster { user }, now, out);
            }
            // Never interned from anything but a valid JID; answered with what is known.
            Err(_) => self.ended(Operation::Roster(user), now, out),
        }
    }

    /// An operation ended (answered, refused or lost): the requests that waited only for
    /// it run again.
    pub(super) fn ended(&mut self, operation: Operation, now: SystemTime, out: &mut Outbox) {
        for ready in self.parked.ended(&operation) {
            self.resume(ready.item, now, out);
        }
    }
}

/// The user's answer inside a privileged IQ's result (Prosody wraps it in
/// `<privilege><forwarded>`, and answers an inner error inside a `result`), or why
/// there is none.
fn privileged_reply(el: &Element, is_error: bool) -> IqReply {
    if is_error {
        return Err(server_refusal(el));
    }
    let inner = el
        .get_child("privilege", privilege::NS_V2)
        .and_then(|p| p.get_child("forwarded", ns::FORWARD))
        .and_then(|f| f.children().find(|c| c.name() == "iq"));
    match inner {
        Some(iq) if iq.attr("type") == Some("error") => Err(server_refusal(iq)),
        Some(iq) => Ok(iq.clone()),
        None => Ok(el.clone()),
    }
}

/// The server's error answer as a failure: its condition and its words.
fn server_refusal(el: &Element) -> Failure {
    let error = el.children().find(|c| c.name() == "error");
    let condition = error
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text")
        })
        .map_or("undefined-condition", |c| c.name());
    let text = error
        .and_then(|e| e.get_child("text", ns::XMPP_STANZAS))
        .map(|t| t.text())
        .unwrap_or_default();
    let said = if text.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::failure::quote(&text))
    };
    match condition {
        "forbidden" | "not-allowed" | "item-not-found" | "service-unavailable" => {
            Failure::forbidden(format!("the chat server refused ({condition}{said})"))
        }
        _ => Failure::service_unavailable(format!("the chat server answered {condition}{said}")),
    }
}
