//! Building incoming stanzas as [`Element`]s without trusting their shape.
//!
//! xso's own `Element` builder hands every event down one nested builder per level: a
//! stanza nested 30,000 levels deep (which fits in the servers' 256 KiB stanza limit)
//! costs a call stack that deep and time quadratic in it, and its `Element` would recurse
//! as deeply again when dropped. Any user can send one. This builder keeps an explicit
//! stack and refuses anything deeper than [`MAX_DEPTH`]; tokio-xmpp's stream then skips
//! the rest of that stanza (counting depth, not recursing) and reports a parse error the
//! transport logs, and the stream goes on.

use minidom::rxml::{AttrMap, Event, QName};
use minidom::Element;
use xso::error::{Error, FromEventsError};
use xso::{Context, FromEventsBuilder, FromXml};

/// Deepest nesting accepted in a stanza. Real stanzas nest a handful of levels (an ad-hoc
/// command with a data form is five); XEP-0356 forwarding adds three.
pub const MAX_DEPTH: usize = 64;

/// One element read from the stream.
#[derive(Debug)]
pub struct Incoming(pub Element);

pub struct IncomingBuilder {
    /// The elements open at this point, outermost first.
    stack: Vec<Element>,
}

fn element(qname: QName, attrs: AttrMap) -> Element {
    let mut builder = Element::builder(qname.1, qname.0);
    for ((namespace, name), value) in attrs.into_iter() {
        builder = builder.attr_ns(namespace, name, value);
    }
    builder.build()
}

impl FromXml for Incoming {
    type Builder = IncomingBuilder;

    fn from_events(
        qname: QName,
        attrs: AttrMap,
        _ctx: &Context<'_>,
    ) -> Result<IncomingBuilder, FromEventsError> {
        Ok(IncomingBuilder {
            stack: vec![element(qname, attrs)],
        })
    }
}

impl FromEventsBuilder for IncomingBuilder {
    type Output = Incoming;

    fn feed(&mut self, ev: Event, _ctx: &Context<'_>) -> Result<Option<Incoming>, Error> {
        match ev {
            Event::XmlDeclaration(..) => Ok(None),
            Event::StartElement(_, qname, attrs) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Error::Other("stanza nested deeper than the bridge accepts"));
                }
                self.stack.push(element(qname, attrs));
                Ok(None)
            }
            Event::Text(_, text) => {
                if let Some(open) = self.stack.last_mut() {
                    open.append_text_node(text);
                }
                Ok(None)
            }
            Event::EndElement(_) => {
                let closed = self
                    .stack
                    .pop()
                    .ok_or(Error::Other("end of an element that was not open"))?;
                match self.stack.last_mut() {
                    Some(parent) => {
                        parent.append_child(closed);
                        Ok(None)
                    }
                    None => Ok(Some(Incoming(closed))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> Result<Element, xso::error::Error> {
        xso::from_bytes::<Incoming>(xml.as_bytes()).map(|i| i.0)
    }

    #[test]
    fn reads_the_same_element_as_xsos_own_builder() {
        let xml = "<iq xmlns='jabber:component:accept' type='set' id='a' from='x@y/z' to='g'>\
            <command xmlns='http://jabber.org/protocol/commands' node='peers' xml:lang='fr'>\
            <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>a@b</value></field></x>\
            </command>text &amp; more</iq>";
        let expected: Element = xso::from_bytes(xml.as_bytes()).unwrap();
        assert_eq!(read(xml).unwrap(), expected);
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let depth = MAX_DEPTH;
        let xml = format!(
            "{}{}",
            "<a xmlns='urn:x'>".repeat(depth),
            "</a>".repeat(depth)
        );
        assert!(read(&xml).is_ok());
    }

    #[test]
    fn a_stanza_nested_thirty_thousand_levels_is_refused_quickly() {
        let depth = 30_000;
        let xml = format!(
            "{}{}",
            "<a xmlns='urn:x'>".repeat(depth),
            "</a>".repeat(depth)
        );
        let start = std::time::Instant::now();
        assert!(read(&xml).is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
