//! Generators for property tests: XML trees of every shape a server could forward.
//!
//! Text and attribute values use every Unicode plane and the characters markup
//! escapes (`<`, `&`, quotes), but only characters XML 1.0 allows (§2.2), and no carriage
//! returns or, in attributes, tabs and newlines: a parser normalises those, so a
//! round trip could not give them back byte for byte, and servers never forward them raw.

use minidom::rxml::{xml_ncname, NcName};
use minidom::{Element, Node};
use proptest::prelude::*;

/// A character XML allows and parsers give back unchanged.
fn xml_char(in_attribute: bool) -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => Just('<'),
        1 => Just('&'),
        1 => Just('>'),
        1 => Just('"'),
        1 => Just('\''),
        1 => Just(' '),
        1 => proptest::char::range('\u{80}', '\u{D7FF}'),
        1 => proptest::char::range('\u{E000}', '\u{FFFD}'),
        1 => proptest::char::range('\u{10000}', '\u{10FFFF}'),
    ]
    .prop_map(move |c| if in_attribute && c == '\n' { ' ' } else { c })
}

/// Text of 1 to `max` characters (an empty text node is no node once parsed).
pub fn xml_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(xml_char(false), 1..max).prop_map(|c| c.into_iter().collect())
}

fn attr_value(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(xml_char(true), 0..max).prop_map(|c| c.into_iter().collect())
}

/// Element and attribute names: short ones, the stanza vocabulary, and long ones.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z][a-z0-9_.-]{0,8}",
        2 => prop::sample::select(vec![
            "field", "value", "x", "query", "command", "item", "body", "status", "show",
            "priority", "c", "delay", "privilege", "perm", "namespace", "activity", "exchange",
            "reported", "title", "note", "actions", "error", "text",
        ])
        .prop_map(str::to_owned),
        1 => (1usize..3).prop_map(|k| "n".repeat(k * 4_000)),
    ]
}

fn namespace() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "urn:x",
        "jabber:x:data",
        "http://jabber.org/protocol/commands",
        "jabber:component:accept",
        "jabber:client",
        "urn:xmpp:privilege:2",
        "urn:xmpp:privilege:1",
        "urn:xmpp:delay",
        "http://jabber.org/protocol/caps",
        "urn:xmpp-game-bridge:activity:1",
        "urn:ietf:params:xml:ns:xmpp-stanzas",
        "urn:xmpp:forward:0",
    ])
    .prop_map(str::to_owned)
}

/// An element tree up to `depth` levels below the root, any names, attributes, text.
pub fn element(depth: u32) -> impl Strategy<Value = Element> {
    let leaf = (
        name(),
        namespace(),
        proptest::collection::vec((name(), attr_value(40)), 0..4),
        proptest::option::of(xml_text(60)),
    )
        .prop_map(|(name, ns, attrs, text)| {
            build(
                &name,
                &ns,
                attrs,
                text.into_iter().map(Node::Text).collect(),
            )
        });
    leaf.prop_recursive(depth, 64, 6, |inner| {
        (
            name(),
            namespace(),
            proptest::collection::vec((name(), attr_value(40)), 0..4),
            proptest::collection::vec(
                prop_oneof![
                    3 => inner.prop_map(Node::Element),
                    1 => xml_text(30).prop_map(Node::Text),
                ],
                0..6,
            ),
        )
            .prop_map(|(name, ns, attrs, children)| build(&name, &ns, attrs, children))
    })
}

fn build(name: &str, ns: &str, attrs: Vec<(String, String)>, children: Vec<Node>) -> Element {
    let mut builder = Element::builder(name, ns);
    for (key, value) in attrs {
        if let Ok(key) = NcName::try_from(key) {
            builder = builder.attr(key, value);
        }
    }
    for child in children {
        builder = builder.append(child);
    }
    builder.build()
}

/// A stanza as the server would route it: `iq`, `message` or `presence` in the
/// component namespace, from a user, with a payload of any shape.
pub fn stanza() -> impl Strategy<Value = Element> {
    (
        prop::sample::select(vec!["iq", "message", "presence"]),
        prop::sample::select(vec![
            "get",
            "set",
            "result",
            "error",
            "chat",
            "unavailable",
            "bogus",
            "",
        ]),
        "[a-z]{1,6}",
        proptest::collection::vec(element(3), 0..3),
    )
        .prop_map(|(kind, type_, id, payload)| {
            let mut builder = Element::builder(kind, "jabber:component:accept")
                .attr(xml_ncname!("from").into(), "alice@example.test/pc")
                .attr(xml_ncname!("to").into(), "game.example.test")
                .attr(xml_ncname!("id").into(), id);
            if !type_.is_empty() {
                builder = builder.attr(xml_ncname!("type").into(), type_);
            }
            builder.append_all(payload).build()
        })
}
