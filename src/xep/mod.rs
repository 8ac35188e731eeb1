//! Typed payloads for XEPs that xmpp-parsers 0.23 lacks; kept separate so they
//! could go upstream.

pub mod commands;
pub mod datetime;
pub mod forms;
pub mod privilege;

use minidom::rxml::NcNameStr;
use minidom::ElementBuilder;

/// Sets an attribute when there is a value; optional attributes are simply left out.
fn with_attr<V: Into<String>>(
    builder: ElementBuilder,
    name: &'static NcNameStr,
    value: Option<V>,
) -> ElementBuilder {
    match value {
        Some(value) => builder.attr(name.into(), value.into()),
        None => builder,
    }
}

/// Test helper shared by the payload modules.
#[cfg(test)]
pub(crate) mod samples {
    use minidom::{Element, Node};

    /// Parses a sample as printed in a XEP, dropping the indentation between elements,
    /// which is layout rather than content.
    pub(crate) fn xml(sample: &str) -> Element {
        let mut elem: Element = sample.trim().parse().unwrap();
        strip_layout(&mut elem);
        elem
    }

    fn strip_layout(elem: &mut Element) {
        if elem.children().next().is_none() {
            return;
        }
        for node in elem.take_nodes() {
            match node {
                Node::Element(mut child) => {
                    strip_layout(&mut child);
                    elem.append_child(child);
                }
                Node::Text(text) if text.trim().is_empty() => {}
                text @ Node::Text(_) => elem.append_node(text),
            }
        }
    }
}
