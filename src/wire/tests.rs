use minidom::rxml::{xml_ncname, Namespace, NcName};
use minidom::Element;
use proptest::prelude::*;

use super::xml::{escape, escaped_len, Xml};
use super::*;

/// Parses stanzas written for the stream's default namespace, as the server would.
fn parse_stanzas(bytes: &[u8]) -> Vec<Element> {
    let doc = format!(
        "<stream xmlns='{STREAM_NS}'>{}</stream>",
        std::str::from_utf8(bytes).unwrap()
    );
    let root: Element = doc.parse().unwrap_or_else(|e| panic!("{e}: {doc}"));
    root.children().cloned().collect()
}

/// What a string becomes once written: characters XML cannot carry replaced.
fn sanitised(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

fn iq_result(payload_len: usize) -> Element {
    Element::builder("iq", STREAM_NS)
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
fn markup_and_whitespace_are_escaped_so_they_read_back_the_same() {
    let tricky = "a&b<c>d'e\"f\tg\nh\ri]]>j";
    let mut out = Vec::new();
    Xml::new(&mut out)
        .open("message")
        .attr("id", tricky)
        .head_end()
        .leaf("body", tricky)
        .close("message");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "<message id='a&amp;b&lt;c&gt;d&apos;e&quot;f&#9;g&#10;h&#13;i]]&gt;j'>\
         <body>a&amp;b&lt;c&gt;d'e\"f\tg\nh&#13;i]]&gt;j</body></message>"
    );
    let back = &parse_stanzas(text.as_bytes())[0];
    assert_eq!(back.attr("id"), Some(tricky));
    assert_eq!(back.children().next().unwrap().text(), tricky);
}

#[test]
fn characters_xml_cannot_carry_become_the_replacement_character() {
    let mut out = Vec::new();
    escape(
        &mut out,
        "a\u{0}b\u{1b}c\u{fffe}d\u{ffff}e\u{fffd}f\u{efbf}",
        false,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e\u{fffd}f\u{efbf}"
    );
}

#[test]
fn escaped_len_matches_what_is_written() {
    for s in ["plain", "a&b", "it's", "tab\there", "\u{0}", "日本語"] {
        for attr in [false, true] {
            let mut out = Vec::new();
            escape(&mut out, s, attr);
            assert_eq!(escaped_len(s, attr), out.len(), "{s:?} {attr}");
        }
    }
}

#[test]
fn an_element_is_written_with_namespaces_only_where_they_change() {
    let el: Element = "<iq xmlns='jabber:component:accept' type='result' id='1'>\
        <command xmlns='http://jabber.org/protocol/commands' node='peers'>\
        <x xmlns='jabber:x:data' type='result'><field var='a'><value>1</value></field></x>\
        </command></iq>"
        .parse()
        .unwrap();
    let mut wire = Wire::new(DEFAULT_MAX_STANZA_BYTES);
    wire.send(&el);
    let text = std::str::from_utf8(wire.bytes()).unwrap();
    assert!(text.starts_with("<iq "), "{text}");
    assert_eq!(text.matches("xmlns=").count(), 2, "{text}");
    assert_eq!(parse_stanzas(wire.bytes()), vec![el]);
}

#[test]
fn xml_lang_and_foreign_attributes_keep_their_namespace() {
    let el: Element = "<message xmlns='jabber:component:accept' xmlns:f='urn:f' \
        xml:lang='fr' f:hint='x' to='a@b'><body>salut</body></message>"
        .parse()
        .unwrap();
    let mut wire = Wire::new(DEFAULT_MAX_STANZA_BYTES);
    wire.send(&el);
    let back = &parse_stanzas(wire.bytes())[0];
    assert_eq!(back, &el);
    assert_eq!(back.attr_ns(Namespace::xml(), "lang"), Some("fr"));
}

#[test]
fn stanzas_are_appended_and_read_back_one_by_one() {
    let mut wire = Wire::new(DEFAULT_MAX_STANZA_BYTES);
    let el = iq_result(10);
    wire.send(&el);
    wire.send(&el);
    assert_eq!(wire.len(), 2);
    let each: Vec<&[u8]> = wire.stanzas().collect();
    assert_eq!(each[0], each[1]);
    assert_eq!(parse_stanzas(wire.bytes()), vec![el.clone(), el]);
    let taken = wire.take();
    assert_eq!(taken.count(), 2);
    assert_eq!(parse_stanzas(&taken.bytes).len(), 2);
    assert!(wire.is_empty() && wire.bytes().is_empty());
}

#[test]
fn an_oversized_answer_becomes_a_resource_constraint_error() {
    let mut wire = Wire::new(1_000);
    wire.send(&iq_result(5_000));
    assert_eq!(wire.oversized(), 1);
    let text = std::str::from_utf8(wire.bytes()).unwrap();
    assert!(text.len() <= 1_000, "{text}");
    let back = &parse_stanzas(wire.bytes())[0];
    assert_eq!(back.attr("type"), Some("error"));
    assert_eq!(back.attr("id"), Some("q1"));
    assert_eq!(back.attr("to"), Some("arcade@example.test/engine"));
    assert!(text.contains("resource-constraint"), "{text}");
}

#[test]
fn an_oversized_message_is_dropped_and_counted() {
    let mut wire = Wire::new(1_000);
    let message = Element::builder("message", STREAM_NS)
        .append("a".repeat(5_000))
        .build();
    wire.send(&message);
    assert!(wire.is_empty());
    assert!(wire.bytes().is_empty());
    assert_eq!(wire.oversized(), 1);
}

#[test]
fn a_written_stanza_goes_out_as_written_and_an_oversized_one_is_dropped_and_counted() {
    let mut wire = Wire::new(1_000);
    let written = Stanza::write(|xml| {
        xml.open("message")
            .attr("to", "alice@example.test")
            .head_end();
        xml.leaf("body", "<hi & bye>").close("message");
    });
    wire.send_stanza(&written);
    assert_eq!(
        std::str::from_utf8(wire.bytes()).unwrap(),
        "<message to='alice@example.test'><body>&lt;hi &amp; bye&gt;</body></message>"
    );
    assert_eq!(
        written
            .to_element()
            .unwrap()
            .get_child("body", STREAM_NS)
            .unwrap()
            .text(),
        "<hi & bye>"
    );
    let large = Stanza::write(|xml| {
        xml.leaf("message", &"a".repeat(5_000));
    });
    wire.send_stanza(&large);
    assert_eq!(wire.len(), 1);
    assert_eq!(wire.oversized(), 1);
}

#[test]
fn a_deep_element_costs_no_call_stack() {
    let mut el = Element::bare("leaf", "urn:deep");
    for _ in 0..20_000 {
        el = Element::builder("n", "urn:deep").append(el).build();
    }
    let mut out = Vec::new();
    Xml::new(&mut out).element(&el, STREAM_NS);
    assert_eq!(
        out.len(),
        20_000 * "<n></n>".len() + "<leaf/>".len() + " xmlns='urn:deep'".len()
    );
    // Not parsed back: minidom's own drop of such a tree would use the stack.
    std::mem::forget(el);
}

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["iq", "message", "x", "field", "value", "a-b", "n_1"])
}

fn namespace() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        STREAM_NS,
        "jabber:client",
        "jabber:x:data",
        "urn:xmpp-game-bridge:compact:1",
        "",
    ])
}

/// Any string: markup, controls, astral characters, and a few that XML forbids.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '&', '<', '>', '\'', '"', '\t', '\n', '\r', '\u{0}', '\u{fffe}', '\u{ffff}', ']'
            ]),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Trees as a sanitising writer must give them back: no two adjacent or empty texts.
fn tree() -> impl Strategy<Value = Element> {
    let leaf = (
        name(),
        namespace(),
        prop::collection::vec((name(), text()), 0..3),
        text(),
    )
        .prop_map(|(name, ns, attrs, body)| {
            let mut el = Element::bare(name, ns);
            for (attr, value) in attrs {
                el.set_attr(
                    Namespace::none().clone(),
                    NcName::try_from(attr).unwrap(),
                    sanitised(&value),
                );
            }
            if !body.is_empty() {
                el.append_text_node(sanitised(&body));
            }
            el
        });
    leaf.prop_recursive(4, 40, 5, |inner| {
        (
            name(),
            namespace(),
            text(),
            prop::collection::vec(inner, 0..5),
            prop::option::of(text()),
        )
            .prop_map(|(name, ns, lang, children, tail)| {
                let mut el = Element::bare(name, ns);
                el.attrs_mut().insert(
                    Namespace::xml().clone(),
                    xml_ncname!("lang").to_owned(),
                    sanitised(&lang),
                );
                for child in children {
                    el.append_child(child);
                }
                if let Some(tail) = tail.filter(|t| !t.is_empty()) {
                    el.append_text_node(sanitised(&tail));
                }
                el
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_string_reads_back_as_written(attr in text(), body in text()) {
        let mut out = Vec::new();
        Xml::new(&mut out).open("m").attr("v", &attr).head_end().leaf("b", &body).close("m");
        let back = &parse_stanzas(&out)[0];
        let expected = sanitised(&attr);
        prop_assert_eq!(back.attr("v"), Some(expected.as_str()));
        let b = back.children().next().unwrap();
        prop_assert_eq!(b.text(), sanitised(&body));
        let mut escaped = Vec::new();
        escape(&mut escaped, &body, false);
        prop_assert_eq!(escaped_len(&body, false), escaped.len());
    }

    #[test]
    fn any_element_reads_back_equal(payload in tree()) {
        let el = Element::builder("iq", STREAM_NS).append(payload).build();
        let mut wire = Wire::new(DEFAULT_MAX_STANZA_BYTES);
        wire.send(&el);
        prop_assert_eq!(wire.len(), 1);
        let back = parse_stanzas(wire.bytes());
        prop_assert_eq!(&back[0], &el);
        // Byte for byte what minidom's own writer means.
        let mut theirs = Vec::new();
        el.write_to(&mut theirs).unwrap();
        let theirs: Element = std::str::from_utf8(&theirs).unwrap().parse().unwrap();
        prop_assert_eq!(&back[0], &theirs);
    }
}

#[test]
fn the_destination_is_the_bare_jid_of_to() {
    use super::destination as key;
    let a = key(b"<iq type='result' id='x' to='flood@x/a'>x</iq>");
    assert_eq!(a, b"flood@x");
    assert_eq!(a, key(b"<iq to='flood@x/b' type='result'/>"));
    assert_ne!(a, key(b"<iq type='result' id='x' to='other@x/b'>x</iq>"));
    // A value that looks like an attribute is not one.
    assert_eq!(
        key(b"<message id=' to=' to='other@x'/>"),
        key(b"<message to='other@x'/>")
    );
    assert_eq!(key(b"<iq type='result'/>"), b"");
    assert_eq!(key(b"<presence/>"), b"");
}

#[test]
fn stanzas_are_cut_at_their_bounds() {
    let mut wire = Wire::new(usize::MAX);
    for name in ["a", "b", "c", "d"] {
        wire.send(
            &format!("<{name} xmlns='jabber:component:accept'/>")
                .parse()
                .unwrap(),
        );
    }
    let mut taken = wire.take();
    taken.drop_front(1);
    assert_eq!(taken.bytes, b"<b/><c/><d/>");
    assert_eq!(taken.ends, vec![4, 8, 12]);
    taken.truncate(2);
    assert_eq!(taken.bytes, b"<b/><c/>");
    taken.drop_front(5);
    assert_eq!(taken.count(), 0);
    assert!(taken.bytes.is_empty());
}
