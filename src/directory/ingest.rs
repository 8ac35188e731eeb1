//! What the directory takes from the server's stanzas: forwarded presence, the XEP-0356
//! privilege advertisement, and the conversation module's activity reports.

use minidom::Element;
use tracing::{debug, info};
use xmpp_parsers::jid::Jid;

use super::activity::{self, ReportKey};
use super::{grants, presence, Applied, Directory};
use crate::xep::privilege::{self, Privilege};

/// What became of a stanza the directory was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Taken into account (or rightly ignored: not about availability, not ours).
    Taken,
    /// Malformed: dropped, and the caller counts it; the reason is for a log line.
    Malformed(String),
    /// Malformed, from the server itself (a privilege advertisement, an activity
    /// report): dropped and counted, and worth a rate-limited warning.
    BadReport(String),
}

impl Directory {
    /// A presence forwarded by the server (or sent to the component directly), heard at
    /// `now` (seconds since the Unix epoch).
    pub fn ingest_presence(&mut self, from: &Jid, el: &Element, now: u32) -> Ingested {
        let (Some(node), Some(resource)) = (from.node(), from.resource()) else {
            debug!("presence from a server or bare JID; ignored");
            return Ingested::Taken;
        };
        let bare = from.to_bare();
        if self.is_remote(bare.as_str()) && !self.config.remote_peers {
            debug!(%node, "presence of a contact on another server; privacy.remote_peers is off, so not kept");
            return Ingested::Taken;
        }
        let update = match presence::parse(el, self.config.max_status_chars) {
            Ok(update) => update,
            Err(presence::PresenceError::NotAvailability(_)) => return Ingested::Taken,
            Err(e) => return Ingested::Malformed(e.to_string()),
        };
        let mut at = now;
        if self.in_replay(bare.domain().as_str()) {
            if let Some(stamp) = presence::delay_stamp(el) {
                // A replayed presence changed when the stamp says, not when it was
                // replayed. Outside the replay a stamp is the user's word, and ignored.
                at = at.min(stamp);
            }
        }
        let applied = self.apply(bare.as_str(), resource.as_str(), update, at);
        if let Some(tag) = el.attr_ns(minidom::rxml::Namespace::xml(), "lang") {
            self.note_lang(bare.as_str(), tag);
        }
        if applied == Applied::LoggedIn {
            // The user may have changed contacts on another client while offline.
            if let Some(id) = self.id(bare.as_str()) {
                self.rosters.mark_stale(id);
            }
        }
        Ingested::Taken
    }

    /// A message to the component: only those from a served domain (the server itself)
    /// carry anything the directory takes.
    pub fn ingest_message(
        &mut self,
        from: &Jid,
        el: &Element,
        key: &ReportKey,
        now: u32,
    ) -> Ingested {
        let from_domain = from.node().is_none() && from.resource().is_none();
        if !from_domain || self.domain_of(from.domain().as_str()).is_none() {
            debug!("message not from a served domain; ignored");
            return Ingested::Taken;
        }
        let domain = from.domain().as_str();
        if let Some(advert) = privilege::find(el) {
            return match Privilege::try_from(advert) {
                Ok(p) => {
                    self.on_privilege(domain, p);
                    Ingested::Taken
                }
                Err(e) => Ingested::BadReport(format!("malformed privilege advertisement: {e}")),
            };
        }
        let Some(report) = activity::parse(el, key) else {
            return Ingested::Taken;
        };
        let exchanges = match report {
            Ok(exchanges) => exchanges,
            Err(e) => return Ingested::BadReport(format!("activity report ignored: {e}")),
        };
        for exchange in exchanges {
            let by_ours = self.domain_of(&exchange.by).is_some();
            let with_ours = self.domain_of(&exchange.with).is_some();
            if !(by_ours && with_ours) {
                continue;
            }
            let by = self.intern(&exchange.by);
            let with = self.intern(&exchange.with);
            // A clock ahead of ours must not keep a pair active for longer.
            self.activity.record(by, with, exchange.at.min(now));
        }
        Ingested::Taken
    }

    fn on_privilege(&mut self, domain: &str, privilege: Privilege) {
        if privilege.is_empty() {
            // Prosody also sends an empty advertisement around user logins; the grants
            // announced at connect stand.
            debug!(%domain, "empty privilege advertisement");
            return;
        }
        info!(%domain, grants = %grants::summary(&privilege), "privileges granted");
        if let Some(d) = self.domain_mut(domain) {
            d.privilege = Some(privilege);
        }
    }
}
