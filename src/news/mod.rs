//! News for platforms that asked over HTTP: what the bridge tells a platform of its
//! invites and consent requests (an answer, an outcome, a prompt expired), as an event in
//! the news outbox rather than a message on the stream.
//!
//! A request through the HTTP door is made from the platform's news address,
//! `<platform>/xmpp-game-bridge/http`, and what it starts (an invite, a consent request)
//! records that address as the one told. A message to such an address is never sent:
//! where it would be, it becomes an [`Event`], written in the same transaction as the
//! change it tells of, then delivered to the platform's webhook and readable from its
//! event stream (`crate::http`).
//!
//! An event is the message's data form as JSON, with its text and its thread (the invite
//! or the request it belongs to; one thread's events keep their order):
//!
//! ```json
//! {"id": "17", "at": "2026-12-05T10:00:00Z", "type": "invite",
//!  "form_type": "urn:xmpp-game-bridge:invite:1", "thread": "…",
//!  "summary": "bob@example.org accepted invite …",
//!  "fields": {"invite": "…", "answer": "yes", "outcome": "ready", …}}
//! ```
//!
//! `id` and `at` are the outbox's, added as the event is read ([`Event::json`]).
//!
//! Delivery rules that need no network: where a webhook may point ([`target`]), and how
//! a delivery is signed ([`signature`]).

pub mod signature;
pub mod target;

use minidom::Element;
use std::str::FromStr;

use xmpp_parsers::jid::{BareJid, Jid};

use crate::xep::forms::{self, DataForm};

/// The resource of a platform's news address.
pub const RESOURCE: &str = "xmpp-game-bridge/http";

/// `platform`'s news address.
pub fn address(platform: &BareJid) -> Jid {
    // A bare JID with a valid resource is a valid full JID; the fallback is never taken.
    Jid::from_str(&format!("{platform}/{RESOURCE}")).unwrap_or_else(|_| platform.clone().into())
}

/// The platform (bare JID) whose news address `to` is.
pub fn platform_of(to: &str) -> Option<&str> {
    let bare = to.strip_suffix(RESOURCE)?.strip_suffix('/')?;
    (!bare.is_empty()).then_some(bare)
}

/// An event for the outbox: the platform told, the thread it belongs to, the JSON
/// without `id` and `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub platform: String,
    pub thread: String,
    pub body: String,
}

impl Event {
    /// The event as delivered: `id` and `at` first, then the stored members.
    pub fn json(id: i64, at: u64, body: &str) -> String {
        let rest = body.strip_prefix('{').unwrap_or("}");
        let at = crate::xep::datetime::format(at);
        let sep = if rest.starts_with('}') { "" } else { "," };
        format!("{{\"id\":\"{id}\",\"at\":\"{at}\"{sep}{rest}")
    }
}

/// The event `message` stands for, if it is addressed to a news address.
pub fn event(message: &Element) -> Option<Event> {
    if message.name() != "message" {
        return None;
    }
    let platform = platform_of(message.attr("to")?)?.to_owned();
    let child = |name: &str| message.children().find(|c| c.name() == name);
    let summary = child("body").map(Element::text).unwrap_or_default();
    let thread = child("thread").map(Element::text).unwrap_or_default();
    let form = child("x").and_then(|x| DataForm::try_from(x).ok());
    let form_type = form
        .as_ref()
        .and_then(DataForm::form_type)
        .unwrap_or_default()
        .to_owned();
    // `urn:xmpp-game-bridge:invite:1` → `invite`.
    let kind = form_type.rsplit(':').nth(1).unwrap_or("message").to_owned();
    let mut body = Vec::with_capacity(256);
    body.extend_from_slice(b"{\"type\":");
    forms::json::string(&mut body, &kind);
    body.extend_from_slice(b",\"form_type\":");
    forms::json::string(&mut body, &form_type);
    body.extend_from_slice(b",\"thread\":");
    forms::json::string(&mut body, &thread);
    body.extend_from_slice(b",\"summary\":");
    forms::json::string(&mut body, &summary);
    body.extend_from_slice(b",\"fields\":");
    forms::json::fields(&mut body, form.as_ref().map_or(&[], |f| &f.fields[..]));
    body.push(b'}');
    Some(Event {
        platform,
        thread,
        body: String::from_utf8(body).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platforms_news_address_names_it() {
        let platform = BareJid::from_str("arcade@example.test").unwrap();
        let address = address(&platform);
        assert_eq!(
            address.to_string(),
            "arcade@example.test/xmpp-game-bridge/http"
        );
        assert_eq!(
            platform_of(&address.to_string()),
            Some("arcade@example.test")
        );
        let component = BareJid::from_str("games.example.test").unwrap();
        assert_eq!(
            platform_of(&super::address(&component).to_string()),
            Some("games.example.test")
        );
        for to in [
            "arcade@example.test/engine",
            "arcade@example.test",
            "/xmpp-game-bridge/http",
        ] {
            assert_eq!(platform_of(to), None, "{to}");
        }
    }

    #[test]
    fn a_message_to_a_news_address_is_an_event_of_its_form() {
        let message: Element = "<message xmlns='jabber:component:accept' to='arcade@example.test/xmpp-game-bridge/http' from='game.example.test'>\
            <body>bob accepted</body><thread>inv-7</thread>\
            <x xmlns='jabber:x:data' type='result'><title>Invite news</title>\
            <field var='FORM_TYPE' type='hidden'><value>urn:xmpp-game-bridge:invite:1</value></field>\
            <field var='invite' type='text-single'><value>7</value></field>\
            <field var='host' type='jid-single'><value>alice@example.test</value></field></x></message>"
            .parse()
            .unwrap();
        let event = event(&message).unwrap();
        assert_eq!(event.platform, "arcade@example.test");
        assert_eq!(event.thread, "inv-7");
        let json: serde_json::Value =
            serde_json::from_str(&Event::json(17, 1_800_000_000, &event.body)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "17", "at": "2027-01-15T08:00:00Z", "type": "invite",
                "form_type": "urn:xmpp-game-bridge:invite:1", "thread": "inv-7",
                "summary": "bob accepted", "fields": {"invite": "7", "host": "alice@example.test"}})
        );
        let elsewhere: Element =
            "<message xmlns='jabber:component:accept' to='arcade@example.test/engine'/>"
                .parse()
                .unwrap();
        assert_eq!(super::event(&elsewhere), None);
    }
}
