//! What an IQ request to the component asks for, decided once from its payload.

use minidom::Element;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::ns;

use super::stanza::{Header, IqType};
use crate::failure::{quote, Failure};
use crate::xep;
use crate::xep::forms::DataForm;

/// An IQ get or set, typed.
#[derive(Debug, PartialEq)]
pub enum Request<'a> {
    /// XEP-0199 ping.
    Ping,
    /// XEP-0092 software version.
    Version,
    /// XEP-0030 disco#info, on the component or a node.
    DiscoInfo { node: Option<&'a str> },
    /// XEP-0030 disco#items, on the component or a node.
    DiscoItems { node: Option<&'a str> },
    /// A XEP-0050 command: its `<command/>` element, read once its node admits the actor.
    Command { node: &'a str, payload: &'a Element },
}

/// Classifies an IQ request addressed to `component`; a request the component does not
/// answer gets the failure to reply with.
pub fn classify<'a>(
    header: &Header,
    el: &'a Element,
    component: &BareJid,
) -> Result<Request<'a>, Failure> {
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
            "{} is not an entity of this bridge; address {component} instead",
            quote(header.to.as_str()),
        )));
    }
    let get = header.iq_type() == Some(IqType::Get);
    let ns = payload.ns();
    match (payload.name(), ns.as_str(), get) {
        ("ping", ns::PING, true) => Ok(Request::Ping),
        ("query", ns::VERSION, true) => Ok(Request::Version),
        ("query", ns::DISCO_INFO, true) => Ok(Request::DiscoInfo {
            node: payload.attr("node"),
        }),
        ("query", ns::DISCO_ITEMS, true) => Ok(Request::DiscoItems {
            node: payload.attr("node"),
        }),
        ("command", xep::commands::NS, false) => Ok(Request::Command {
            node: payload.attr("node").unwrap_or(""),
            payload,
        }),
        ("command", xep::commands::NS, true) => Err(Failure::bad_request(
            "ad-hoc commands are run with an IQ of type set",
        )),
        (name, ns, _) => Err(Failure::service_unavailable(format!(
            "the game bridge does not answer <{} xmlns='{}'/>",
            quote(name),
            quote(ns)
        ))),
    }
}

/// The body of a chat message a user sends the component (chat words), if `el` is one:
/// to the component itself, from an account (a JID with a local part), of type `chat` or
/// `normal`, with a body. Messages from the server (its domain JID) are not.
pub fn words<'a>(header: &Header, el: &'a Element, component: &BareJid) -> Option<&'a str> {
    if header.from.node().is_none()
        || header.to.node().is_some()
        || header.to.domain() != component.domain()
        || !matches!(
            header.type_.as_deref(),
            None | Some("chat") | Some("normal")
        )
    {
        return None;
    }
    let body = el
        .children()
        .find(|c| c.name() == "body" && (c.ns() == el.ns()))?;
    body.texts().next()
}

/// What a user's presence addressed to the component itself asks, where it asks
/// something: the server probes the component's presence for users who have it in their
/// roster, and a client subscribes to it like to any contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceAsk {
    Probe,
    Subscribe,
    Unsubscribe,
}

/// The question a presence asks the component, if `header` is one: a probe or a
/// subscription change, to the component itself, from an account. Availability presences
/// (forwarded by the server under XEP-0356 among others) are not.
pub fn presence_ask(header: &Header, component: &BareJid) -> Option<PresenceAsk> {
    if header.from.node().is_none()
        || header.to.node().is_some()
        || header.to.domain() != component.domain()
    {
        return None;
    }
    match header.type_.as_deref() {
        Some("probe") => Some(PresenceAsk::Probe),
        Some("subscribe") => Some(PresenceAsk::Subscribe),
        Some("unsubscribe") => Some(PresenceAsk::Unsubscribe),
        _ => None,
    }
}

/// The submitted prompt form a user's message carries (and the message's thread), if
/// it is one: a `jabber:x:data` form of type `submit` whose FORM_TYPE is a prompt's.
pub fn prompt_form<'a>(
    header: &Header,
    el: &'a Element,
    component: &BareJid,
) -> Option<(DataForm, Option<&'a str>)> {
    if header.from.node().is_none()
        || header.to.node().is_some()
        || header.to.domain() != component.domain()
        || header.type_.as_deref() == Some("groupchat")
    {
        return None;
    }
    let x = el
        .children()
        .take(16)
        .find(|c| c.is("x", crate::xep::forms::NS) && c.attr("type") == Some("submit"))?;
    let form = DataForm::try_from(x).ok()?;
    if form.form_type() != Some(crate::prompts::FORM_TYPE) {
        return None;
    }
    let thread = el
        .children()
        .find(|c| c.name() == "thread" && c.ns() == el.ns())
        .and_then(|t| t.texts().next());
    Some((form, thread))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_xml(xml: &str) -> Result<String, Failure> {
        let el: Element = xml.parse().unwrap();
        let header = Header::read(&el).unwrap();
        let component: BareJid = "game.example.test".parse().unwrap();
        classify(&header, &el, &component).map(|r| format!("{r:?}"))
    }

    #[test]
    fn each_payload_is_one_request() {
        let iq = |type_: &str, payload: &str| {
            format!("<iq xmlns='jabber:component:accept' type='{type_}' id='1' from='a@example.test/r' to='game.example.test'>{payload}</iq>")
        };
        let cases = [
            (iq("get", "<ping xmlns='urn:xmpp:ping'/>"), Some("Ping")),
            (iq("set", "<ping xmlns='urn:xmpp:ping'/>"), None),
            (
                iq("get", "<query xmlns='jabber:iq:version'/>"),
                Some("Version"),
            ),
            (
                iq(
                    "get",
                    "<query xmlns='http://jabber.org/protocol/disco#info' node='peers'/>",
                ),
                Some("DiscoInfo { node: Some(\"peers\") }"),
            ),
            (
                iq(
                    "get",
                    "<query xmlns='http://jabber.org/protocol/disco#items'/>",
                ),
                Some("DiscoItems { node: None }"),
            ),
            (
                iq(
                    "get",
                    "<command xmlns='http://jabber.org/protocol/commands' node='peers'/>",
                ),
                None,
            ),
            (iq("get", "<x xmlns='urn:nothing'/>"), None),
            (iq("get", ""), None),
            (
                iq(
                    "get",
                    "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/>",
                ),
                None,
            ),
        ];
        for (xml, expected) in cases {
            let got = classify_xml(&xml);
            match expected {
                Some(expected) => assert_eq!(got.as_deref().ok(), Some(expected), "{xml}"),
                None => assert!(got.is_err(), "{xml}: {got:?}"),
            }
        }
        let command = classify_xml(&iq(
            "set",
            "<command xmlns='http://jabber.org/protocol/commands' node='peers'/>",
        ))
        .unwrap();
        assert!(
            command.starts_with("Command { node: \"peers\""),
            "{command}"
        );
    }
}
