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

/// Property tests of every parser here: any element in, a value or an error out, never a
/// panic; and for the payloads the bridge writes, parse(serialise(x)) == x.
#[cfg(test)]
mod properties {
    use minidom::Element;
    use proptest::prelude::*;

    use super::commands::{Action, Command};
    use super::forms::{DataForm, Field, FormType};
    use super::privilege::{self, Privilege};
    use crate::testing::{element, xml_text};

    /// An element that looks like one of ours at the top, anything inside.
    fn shaped(name: &'static str, ns: &'static str) -> impl Strategy<Value = Element> {
        (
            proptest::collection::vec(element(3), 0..5),
            proptest::collection::vec(("[a-z]{1,8}", xml_text(20)), 0..4),
        )
            .prop_map(move |(children, attrs)| {
                let mut builder = Element::builder(name, ns).append_all(children);
                for (key, value) in attrs {
                    if let Ok(key) = minidom::rxml::NcName::try_from(key) {
                        builder = builder.attr(key, value);
                    }
                }
                builder.build()
            })
    }

    fn field() -> impl Strategy<Value = Field> {
        (
            "[a-z][a-z-]{0,10}",
            proptest::sample::select(vec![
                "text-single",
                "text-multi",
                "jid-single",
                "hidden",
                "list-single",
            ]),
            proptest::option::of(xml_text(30)),
            proptest::collection::vec(xml_text(40), 0..3),
        )
            .prop_map(|(var, type_, label, mut values)| {
                let mut field = Field::value(var, "");
                // Only multi-valued types may carry several values (XEP-0004 §3.3).
                if type_ != "text-multi" {
                    values.truncate(1);
                }
                field.values = values;
                field.label = label;
                field.type_ = type_.parse().ok();
                field
            })
    }

    fn form() -> impl Strategy<Value = DataForm> {
        (
            proptest::sample::select(vec![FormType::Form, FormType::Submit, FormType::Result]),
            proptest::option::of(xml_text(30)),
            proptest::collection::vec(field(), 0..5),
            proptest::collection::vec(proptest::collection::vec(field(), 1..4), 0..4),
        )
            .prop_map(|(type_, title, fields, items)| {
                let mut form = DataForm::new(type_, Some("urn:xmpp-game-bridge:test:1"));
                form.title = title;
                for f in fields {
                    form.push_field(f);
                }
                if type_ == FormType::Result && !items.is_empty() {
                    form.set_reported(items[0].clone());
                    for item in items {
                        form.push_item(item);
                    }
                }
                form
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn no_payload_makes_a_parser_panic(
            x in shaped("x", "jabber:x:data"),
            command in shaped("command", "http://jabber.org/protocol/commands"),
            privilege in shaped("privilege", "urn:xmpp:privilege:2"),
            any in element(4),
        ) {
            let _ = DataForm::try_from(&x);
            let _ = Command::try_from(&command);
            let _ = Privilege::try_from(&privilege);
            let message = Element::builder("message", "jabber:component:accept").append(privilege).build();
            let _ = privilege::find(&message);
            for el in [&x, &command, &any] {
                let _ = DataForm::try_from(el);
                let _ = Command::try_from(el);
                let _ = Privilege::try_from(el);
            }
        }

        #[test]
        fn forms_survive_serialising_and_parsing(form in form()) {
            let el = Element::from(form.clone());
            let back = DataForm::try_from(&el);
            prop_assert_eq!(back, Ok(form));
        }

        #[test]
        fn commands_survive_serialising_and_parsing(
            node in "[a-z][a-z-]{0,12}",
            sessionid in proptest::option::of("[a-z0-9-]{1,12}"),
            action in proptest::option::of(proptest::sample::select(vec![Action::Execute, Action::Next, Action::Prev, Action::Complete, Action::Cancel])),
            form in proptest::option::of(form()),
        ) {
            let mut command = Command::request(&node);
            command.sessionid = sessionid;
            command.action = action;
            command.form = form;
            let el = Element::from(command.clone());
            prop_assert_eq!(Command::try_from(&el), Ok(command));
        }
    }
}
