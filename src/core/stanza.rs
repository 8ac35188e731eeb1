//! Reading stanza headers without trusting the rest, and building replies.
//!
//! Incoming stanzas arrive as plain [`Element`]s (the transport parses XML, not
//! semantics), so a stanza xmpp-parsers would reject can still be answered or dropped
//! here instead of ending the stream.

use std::str::FromStr;

use minidom::rxml::xml_ncname;
use minidom::Element;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::ns;

use crate::failure::Failure;
use crate::wire::STREAM_NS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Iq,
    Message,
    Presence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqType {
    Get,
    Set,
    Result,
    Error,
}

/// The routing attributes of a stanza, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub kind: Kind,
    pub type_: Option<String>,
    pub id: Option<String>,
    pub from: Jid,
    pub to: Jid,
}

/// Why a stanza cannot even be routed; such stanzas are dropped and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("not a stanza: <{0}/>")]
    NotAStanza(String),
    #[error("stanza without a from attribute")]
    MissingFrom,
    #[error("stanza without a to attribute")]
    MissingTo,
    #[error("invalid JID in {attr}: {value:?}")]
    BadJid { attr: &'static str, value: String },
}

impl Header {
    pub fn read(el: &Element) -> Result<Header, HeaderError> {
        let kind = match (el.name(), el.ns().as_str()) {
            ("iq", STREAM_NS) | ("iq", ns::JABBER_CLIENT) => Kind::Iq,
            ("message", STREAM_NS) | ("message", ns::JABBER_CLIENT) => Kind::Message,
            ("presence", STREAM_NS) | ("presence", ns::JABBER_CLIENT) => Kind::Presence,
            (name, _) => return Err(HeaderError::NotAStanza(crate::failure::quote(name))),
        };
        // One pass over the attributes rather than a map lookup per name: every stanza
        // the bridge reads comes through here.
        let (mut from, mut to, mut type_, mut id) = (None, None, None, None);
        for ((ns, name), value) in el.attrs().iter() {
            if !ns.is_none() {
                continue;
            }
            match name.as_str() {
                "from" => from = Some(value.as_str()),
                "to" => to = Some(value.as_str()),
                "type" => type_ = Some(value.as_str()),
                "id" => id = Some(value.as_str()),
                _ => {}
            }
        }
        let from = jid_attr("from", from)?.ok_or(HeaderError::MissingFrom)?;
        let to = jid_attr("to", to)?.ok_or(HeaderError::MissingTo)?;
        Ok(Header {
            kind,
            type_: type_.map(str::to_owned),
            id: id.map(str::to_owned),
            from,
            to,
        })
    }

    pub fn iq_type(&self) -> Option<IqType> {
        match self.type_.as_deref() {
            Some("get") => Some(IqType::Get),
            Some("set") => Some(IqType::Set),
            Some("result") => Some(IqType::Result),
            Some("error") => Some(IqType::Error),
            _ => None,
        }
    }

    /// Stanzas of type `error` are never answered (RFC 6120 §8.3.1), nor are IQ results.
    pub fn is_answerable(&self) -> bool {
        !matches!(self.type_.as_deref(), Some("error") | Some("result"))
    }
}

fn jid_attr(attr: &'static str, value: Option<&str>) -> Result<Option<Jid>, HeaderError> {
    value
        .map(|value| {
            Jid::from_str(value).map_err(|_| HeaderError::BadJid {
                attr,
                value: crate::failure::quote(value),
            })
        })
        .transpose()
}

/// An `<iq type='result'/>` answering `request`, with an optional payload.
pub fn iq_result(request: &Header, payload: Option<Element>) -> Element {
    let mut builder = Element::builder("iq", STREAM_NS)
        .attr(xml_ncname!("type").into(), "result")
        .attr(xml_ncname!("from").into(), request.to.as_str())
        .attr(xml_ncname!("to").into(), request.from.as_str())
        .attr(
            xml_ncname!("id").into(),
            request.id.clone().unwrap_or_default(),
        );
    if let Some(payload) = payload {
        builder = builder.append(payload);
    }
    builder.build()
}

/// An error reply to `request` of the same kind (`iq`, `message` or `presence`).
pub fn error_reply(request: &Header, failure: &Failure) -> Element {
    error_head(request).append(failure.to_element()).build()
}

/// An error answering `request` as short as XMPP allows: the defined `condition` of
/// `type_` alone (RFC 6120 §8.3), no text, no payload.
pub fn bare_error_reply(request: &Header, condition: &'static str, type_: &str) -> Element {
    let condition = Element::builder(condition, ns::XMPP_STANZAS).build();
    error_head(request)
        .append(
            Element::builder("error", STREAM_NS)
                .attr(xml_ncname!("type").into(), type_)
                .append(condition)
                .build(),
        )
        .build()
}

/// The error stanza answering `request`, of its kind, addressed back, with its id.
fn error_head(request: &Header) -> minidom::ElementBuilder {
    let name = match request.kind {
        Kind::Iq => "iq",
        Kind::Message => "message",
        Kind::Presence => "presence",
    };
    let builder = Element::builder(name, STREAM_NS)
        .attr(xml_ncname!("type").into(), "error")
        .attr(xml_ncname!("from").into(), request.to.as_str())
        .attr(xml_ncname!("to").into(), request.from.as_str());
    match &request.id {
        Some(id) => builder.attr(xml_ncname!("id").into(), id.clone()),
        None => builder,
    }
}

/// A chat message answering `request` (a message from a user) with `text`.
pub fn chat_reply(request: &Header, text: &str) -> Element {
    Element::builder("message", STREAM_NS)
        .attr(xml_ncname!("type").into(), "chat")
        .attr(xml_ncname!("from").into(), request.to.as_str())
        .attr(xml_ncname!("to").into(), request.from.as_str())
        .append(Element::builder("body", STREAM_NS).append(text).build())
        .build()
}

/// An IQ request from `from` to `to` carrying `payload`; the id is set by the caller.
pub fn iq_request(type_: IqType, from: &Jid, to: &Jid, id: &str, payload: Element) -> Element {
    let type_ = match type_ {
        IqType::Get => "get",
        IqType::Set => "set",
        IqType::Result => "result",
        IqType::Error => "error",
    };
    Element::builder("iq", STREAM_NS)
        .attr(xml_ncname!("type").into(), type_)
        .attr(xml_ncname!("from").into(), from.as_str())
        .attr(xml_ncname!("to").into(), to.as_str())
        .attr(xml_ncname!("id").into(), id)
        .append(payload)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn header_of_a_component_iq() {
        let el = parse("<iq xmlns='jabber:component:accept' type='get' id='a1' from='alice@example.test/pc' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>");
        let h = Header::read(&el).unwrap();
        assert_eq!(h.kind, Kind::Iq);
        assert_eq!(h.iq_type(), Some(IqType::Get));
        assert_eq!(h.from.to_string(), "alice@example.test/pc");
        assert!(h.is_answerable());
    }

    #[test]
    fn bad_from_is_a_header_error_not_a_panic() {
        let el =
            parse("<message xmlns='jabber:component:accept' from='a@@b' to='game.example.test'/>");
        assert_eq!(
            Header::read(&el),
            Err(HeaderError::BadJid {
                attr: "from",
                value: "a@@b".into()
            })
        );
    }

    #[test]
    fn error_reply_swaps_addresses_and_keeps_id() {
        let el = parse("<iq xmlns='jabber:component:accept' type='set' id='x' from='alice@example.test/pc' to='game.example.test'><foo xmlns='urn:unknown'/></iq>");
        let h = Header::read(&el).unwrap();
        let reply = error_reply(&h, &Failure::service_unavailable("nope"));
        let expected = parse("<iq xmlns='jabber:component:accept' type='error' from='game.example.test' to='alice@example.test/pc' id='x'><error xmlns='jabber:component:accept' type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>nope</text></error></iq>");
        assert_eq!(reply, expected);
    }
}
