//! Writing the component's side of the stream: the header, stanzas, the footer.
//!
//! Every stanza is serialised into one buffer that is written with one `write` per wake-up
//! (however many stanzas were ready). A stanza larger than the server takes would make
//! the server close the stream (Prosody: `component_stanza_size_limit`, 512 KiB), so none
//! larger than [`max_stanza_bytes`](Writer::new) leaves: the core already cuts what it
//! builds to fit, and this is the last guard. An oversized IQ answer becomes a
//! `resource-constraint` error to its requester (so they still get one answer); anything
//! else oversized is dropped, logged and counted.

use minidom::rxml::xml_ncname;
use minidom::Element;
use xmpp_parsers::ns;

use crate::failure::Failure;

/// Default for the largest stanza sent: half of Prosody's default limit for components.
pub const DEFAULT_MAX_STANZA_BYTES: usize = 256 * 1024;

/// The opening of the component's stream (XEP-0114 §3).
pub fn stream_header(component: &str) -> Vec<u8> {
    let mut header = b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='".to_vec();
    header.extend_from_slice(escape_attr(component).as_bytes());
    header.extend_from_slice(b"'>");
    header
}

pub const STREAM_FOOTER: &[u8] = b"</stream:stream>";

/// What became of a stanza handed to [`Writer::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Too large; an error reply was queued in its place.
    Replaced,
    /// Too large or not serialisable; nothing was queued.
    Dropped,
}

pub struct Writer {
    buf: Vec<u8>,
    max_stanza_bytes: usize,
}

impl Writer {
    pub fn new(max_stanza_bytes: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(16 * 1024),
            max_stanza_bytes,
        }
    }

    /// Serialises `el` at the end of the pending bytes, within the size limit.
    pub fn push(&mut self, el: &Element) -> Pushed {
        let start = self.buf.len();
        if el.write_to(&mut self.buf).is_ok() && self.buf.len() - start <= self.max_stanza_bytes {
            return Pushed::Queued;
        }
        let size = self.buf.len() - start;
        self.buf.truncate(start);
        let Some(reply) = oversized_answer(el, size) else {
            return Pushed::Dropped;
        };
        if reply.write_to(&mut self.buf).is_ok() && self.buf.len() - start <= self.max_stanza_bytes
        {
            Pushed::Replaced
        } else {
            self.buf.truncate(start);
            Pushed::Dropped
        }
    }

    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// After a successful write. Keeps a moderate buffer, not the largest ever needed.
    pub fn clear(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > 1024 * 1024 {
            self.buf.shrink_to(64 * 1024);
        }
    }
}

/// For an IQ result that is too large: the error its requester gets instead.
fn oversized_answer(el: &Element, size: usize) -> Option<Element> {
    if el.name() != "iq" || el.attr("type") != Some("result") {
        return None;
    }
    let failure = Failure::resource_constraint(format!(
        "the answer ({} KiB) is larger than the bridge may send through the chat server; ask for less",
        size / 1024
    ));
    let mut reply = Element::builder("iq", ns::COMPONENT_ACCEPT)
        .attr(xml_ncname!("type").into(), "error")
        .append(failure.to_element());
    for attr in [xml_ncname!("id"), xml_ncname!("from"), xml_ncname!("to")] {
        if let Some(value) = el.attr(attr.as_str()) {
            reply = reply.attr(attr.into(), value);
        }
    }
    Some(reply.build())
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iq_result(payload_len: usize) -> Element {
        Element::builder("iq", ns::COMPONENT_ACCEPT)
            .attr(xml_ncname!("type").into(), "result")
            .attr(xml_ncname!("id").into(), "q1")
            .attr(xml_ncname!("from").into(), "game.example.test")
            .attr(xml_ncname!("to").into(), "arcade@example.test/engine")
            .append(
                Element::builder("x", "urn:x")
                    .append("a".repeat(payload_len))
                    .build(),
            )
            .build()
    }

    #[test]
    fn stanzas_are_appended_and_parse_back() {
        let mut writer = Writer::new(DEFAULT_MAX_STANZA_BYTES);
        let el = iq_result(10);
        assert_eq!(writer.push(&el), Pushed::Queued);
        assert_eq!(writer.push(&el), Pushed::Queued);
        let text = String::from_utf8(writer.pending().to_vec()).unwrap();
        let half = text.len() / 2;
        let back: Element = text[..half].parse().unwrap();
        assert_eq!(back, el);
    }

    #[test]
    fn an_oversized_answer_becomes_a_resource_constraint_error() {
        let mut writer = Writer::new(1_000);
        assert_eq!(writer.push(&iq_result(5_000)), Pushed::Replaced);
        let text = String::from_utf8(writer.pending().to_vec()).unwrap();
        assert!(text.len() <= 1_000, "{text}");
        let back: Element = text.parse().unwrap();
        assert_eq!(back.attr("type"), Some("error"));
        assert_eq!(back.attr("id"), Some("q1"));
        assert_eq!(back.attr("to"), Some("arcade@example.test/engine"));
        assert!(text.contains("resource-constraint"), "{text}");
    }

    #[test]
    fn an_oversized_message_is_dropped() {
        let mut writer = Writer::new(1_000);
        let message = Element::builder("message", ns::COMPONENT_ACCEPT)
            .append("a".repeat(5_000))
            .build();
        assert_eq!(writer.push(&message), Pushed::Dropped);
        assert!(writer.is_empty());
    }

    #[test]
    fn the_header_escapes_the_component_name() {
        let header = String::from_utf8(stream_header("game.example.test")).unwrap();
        assert!(header.ends_with("to='game.example.test'>"), "{header}");
    }
}
