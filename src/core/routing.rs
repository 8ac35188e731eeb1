//! Stanzas in: each to where it belongs (presence and messages to the directory, chat
//! words and prompt forms to the pipeline, IQ requests within their requester's rate to
//! the baseline protocol or the pipeline, IQ replies to what asked).

use std::time::SystemTime;

use minidom::Element;
use tracing::{debug, warn};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::version::VersionResult;

use super::*;

impl Core {
    pub(super) fn on_stanza(&mut self, el: Element, now: SystemTime, out: &mut Outbox) {
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
                if let Some(ask) = classify::presence_ask(&header, &self.config.component) {
                    return self.on_presence_ask(&header, ask, now, out);
                }
                let at = unix_secs(now);
                self.state
                    .health
                    .histograms
                    .presence
                    .count(u64::from(at), 1);
                let ingested = self.state.directory.ingest_presence(&header.from, &el, at);
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

    /// A served user's client asks for the component's presence, or subscribes to it:
    /// the component answers as a service that is always there, so clients show it
    /// online. Nothing is kept; anyone else, or past the requester's rate, is dropped.
    fn on_presence_ask(
        &mut self,
        header: &Header,
        ask: classify::PresenceAsk,
        now: SystemTime,
        out: &mut Outbox,
    ) {
        let user = header.from.to_bare();
        if self
            .state
            .directory
            .domain_of(user.domain().as_str())
            .is_none()
            || !self.rates.allow(user.as_str(), false, now)
        {
            self.state.health.stats.stanzas_dropped += 1;
            return;
        }
        let component = self.config.component.as_str();
        let presence = |type_: Option<&str>| {
            let mut p = Element::builder("presence", crate::wire::STREAM_NS)
                .attr(minidom::rxml::xml_ncname!("from").into(), component)
                .attr(minidom::rxml::xml_ncname!("to").into(), user.as_str());
            if let Some(type_) = type_ {
                p = p.attr(minidom::rxml::xml_ncname!("type").into(), type_);
            }
            p.build()
        };
        match ask {
            classify::PresenceAsk::Probe => out.send(presence(None)),
            classify::PresenceAsk::Subscribe => {
                out.send(presence(Some("subscribed")));
                out.send(presence(None));
            }
            classify::PresenceAsk::Unsubscribe => out.send(presence(Some("unsubscribed"))),
        }
    }

    /// A stanza the transport skipped unread: an IQ request still gets its one answer.
    pub(super) fn on_skipped(&mut self, head: &Element, reason: &str, out: &mut Outbox) {
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
                if let Err(failure) = self.admit_requester(&header.from, now, out) {
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
                match self.iq.on_reply(id, &header.from, is_error, now) {
                    Some(Ended::Reply {
                        purpose,
                        is_error,
                        waited,
                    }) => {
                        self.state
                            .health
                            .histograms
                            .server_wait(purpose.wait())
                            .observe_time(waited);
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
    pub(super) fn admit_requester(
        &mut self,
        from: &Jid,
        now: SystemTime,
        out: &mut Outbox,
    ) -> Result<(), Failure> {
        self.refresh_registry(now, out);
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

    /// Reads the registry again if another process changed the database since (at most
    /// every [`REGISTRY_CHECK`](super::REGISTRY_CHECK), one look at a time).
    pub(super) fn refresh_registry(&mut self, now: SystemTime, out: &mut Outbox) {
        if now < self.registry_checked + REGISTRY_CHECK && now >= self.registry_checked {
            return;
        }
        if self.storing.registry {
            return;
        }
        self.registry_checked = now;
        let known = self.registry_version;
        self.store(
            crate::store::Job::Registry { known },
            super::storage::After::Registry,
            now,
            out,
        );
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
