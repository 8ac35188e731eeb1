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
