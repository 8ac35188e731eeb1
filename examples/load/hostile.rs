//! Hostile stanzas, and what became of each.

use super::*;

pub(crate) struct Shape {
    pub(crate) name: &'static str,
    pub(crate) stanzas: String,
    /// Ids of the IQ requests in `stanzas` that deserve a reply (unescaped).
    pub(crate) replies: Vec<String>,
    /// What the reply to the read-back request must contain, if there is one.
    pub(crate) readback: Option<(String, String)>,
}

pub(crate) fn probe_id(h: usize) -> String {
    format!("h-probe-{h}")
}

pub(crate) fn hostile_iq(id: &str, from: &str, payload: &str) -> String {
    format!("<iq type='get' id='{id}' from='{from}' to='{COMPONENT}'>{payload}</iq>")
}

/// The hostile shapes, in the order they are sent: the ones that only stress the bridge
/// first, the ones past rxml's 8 KiB token limit last (they may end the link).
pub(crate) fn hostile_shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();
    let planes = "planes: \u{41}\u{e9}\u{4e2d}\u{10000}\u{1F600}\u{E000}\u{20000}\u{30000}\u{E0001}\u{F0000}\u{100000}\u{10FFFD}";
    let status_text = format!("{planes} &amp; &lt; &#x1F600; &#65;");
    let expected = format!("{} &amp; &lt; \u{1F600} A", escape_text(planes));
    shapes.push(Shape {
        name: "every Unicode plane + entities in a status, read back with `status`",
        stanzas: format!(
            "<presence from='{MALLORY}' to='{COMPONENT}'><show>chat</show><status>{status_text}</status></presence>{}",
            hostile_readback("h-readback")
        ),
        replies: vec!["h-readback".to_owned()],
        readback: Some(("h-readback".to_owned(), expected)),
    });
    shapes.push(Shape {
        name: "entity references in an IQ id (&amp; &lt; &#x1F600;)",
        stanzas: format!(
            "<message from='{MALLORY}' to='{COMPONENT}'><body>a &amp; b &lt; c &#x1F600; &#x10000; &gt;</body></message>{}",
            hostile_iq(
                "h-ent-&amp;&lt;&#x1F600;&#65;",
                MALLORY,
                "<ping xmlns='urn:xmpp:ping'/>"
            )
        ),
        replies: vec!["h-ent-&<\u{1F600}A".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "IQ gets with unknown payloads",
        stanzas: [
            hostile_iq("h-unk-1", MALLORY, "<query xmlns='urn:example:unknown'/>"),
            hostile_iq(
                "h-unk-2",
                MALLORY,
                "<query xmlns='jabber:iq:private'><x xmlns='urn:x'><y/></x></query>",
            ),
            hostile_iq("h-unk-3", MALLORY, "<x:y xmlns:x='urn:prefixed'/>"),
            hostile_iq("h-unk-4", MALLORY, "<a xmlns='urn:x'/><b xmlns='urn:x'/>"),
        ]
        .concat(),
        replies: (1..=4).map(|k| format!("h-unk-{k}")).collect(),
        readback: None,
    });
    shapes.push(Shape {
        name: "5,000 child elements",
        stanzas: hostile_iq(
            "h-children",
            MALLORY,
            &format!(
                "<query xmlns='urn:example:children'>{}</query>",
                "<c a='1'/>".repeat(5000)
            ),
        ),
        replies: vec!["h-children".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "nesting 1,000 deep (dropped: deeper than the bridge accepts)",
        stanzas: hostile_iq(
            "h-deep",
            MALLORY,
            &format!(
                "{}{}",
                "<d xmlns='urn:example:deep'>".repeat(1000),
                "</d>".repeat(1000)
            ),
        ),
        // Dropped by design (MAX_DEPTH): only the probe shows the link survived.
        replies: vec![],
        readback: None,
    });
    let big_text = "0123456789abcdef".repeat(200 * 1024 / 16);
    shapes.push(Shape {
        name: "200 KiB text node",
        stanzas: format!(
            "<message from='{MALLORY}' to='{COMPONENT}'><body>{big_text}</body></message>{}",
            hostile_iq(
                "h-text",
                MALLORY,
                &format!("<query xmlns='urn:example:text'>{big_text}</query>")
            )
        ),
        replies: vec!["h-text".to_owned()],
        readback: None,
    });
    // 5,000 characters before the domain once `&gt;` is read as `>`.
    let long_jid = format!("{}@{DOMAIN}", "x&gt;".repeat(2500));
    shapes.push(Shape {
        name: "peers with a 5,000-char JID containing '>'",
        stanzas: peers_request("h-longjid", PLATFORM_HOSTILE, &long_jid),
        replies: vec!["h-longjid".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "20 KiB attribute value (caps ver)",
        stanzas: format!(
            "<presence from='{MALLORY}' to='{COMPONENT}'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:x' ver='{}'/></presence>",
            "v".repeat(20 * 1024)
        ),
        replies: vec![],
        readback: None,
    });
    shapes.push(Shape {
        name: "attribute name of 9,000 chars",
        stanzas: hostile_iq(
            "h-attrname",
            MALLORY,
            &format!("<query xmlns='urn:example:attr' {}='1'/>", "n".repeat(9000)),
        ),
        replies: vec!["h-attrname".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "element name of 9,000 chars",
        stanzas: hostile_iq(
            "h-elemname",
            MALLORY,
            &format!("<{} xmlns='urn:example:elem'/>", "e".repeat(9000)),
        ),
        replies: vec!["h-elemname".to_owned()],
        readback: None,
    });
    for (h, shape) in shapes.iter_mut().enumerate() {
        shape.stanzas.push_str(&hostile_iq(
            &probe_id(h),
            MALLORY,
            "<ping xmlns='urn:xmpp:ping'/>",
        ));
    }
    shapes
}

pub(crate) fn hostile_readback(id: &str) -> String {
    format!(
        "<iq type='set' id='{id}' from='{PLATFORM_HOSTILE}' to='{COMPONENT}'>\
         <command xmlns='{NS_COMMANDS}' node='status' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jids'><value>mallory@{DOMAIN}</value></field></x>\
         </command></iq>"
    )
}

/// What became of each hostile shape.
#[derive(Default)]
pub(crate) struct HostileLog {
    pub(crate) rows: Vec<HostileRow>,
    pub(crate) by_id: HashMap<String, (usize, usize)>,
}

pub(crate) struct HostileRow {
    pub(crate) name: &'static str,
    pub(crate) bytes: usize,
    /// (id, what came back)
    pub(crate) replies: Vec<(String, Option<String>)>,
    pub(crate) probe: String,
    pub(crate) probe_answered: bool,
    pub(crate) readback: Option<(String, String)>,
}

impl HostileLog {
    pub(crate) fn sent(&mut self, shape: &Shape, h: usize) {
        let row = self.rows.len();
        for (k, id) in shape.replies.iter().enumerate() {
            self.by_id.insert(id.clone(), (row, k));
        }
        self.by_id.insert(probe_id(h), (row, usize::MAX));
        self.rows.push(HostileRow {
            name: shape.name,
            bytes: shape.stanzas.len(),
            replies: shape.replies.iter().map(|id| (id.clone(), None)).collect(),
            probe: probe_id(h),
            probe_answered: false,
            readback: shape.readback.clone(),
        });
    }

    /// Takes a reply if it answers a hostile request; false if it is not one of ours.
    pub(crate) fn reply(&mut self, reply: &Reply) -> bool {
        let Some(&(row, k)) = self.by_id.get(&reply.id) else {
            return false;
        };
        let Some(row) = self.rows.get_mut(row) else {
            return false;
        };
        if k == usize::MAX {
            row.probe_answered = true;
            return true;
        }
        let body = reply.body.as_deref().unwrap_or("");
        let mut what = if reply.ok {
            "result".to_owned()
        } else {
            format!("error {}", error_condition(body))
        };
        if let Some((id, expected)) = &row.readback {
            if *id == reply.id {
                what.push_str(if body.contains(expected.as_str()) {
                    ", text read back intact"
                } else {
                    ", TEXT NOT READ BACK INTACT"
                });
            }
        }
        let _ = write!(what, ", {} bytes", reply.size);
        if let Some(slot) = row.replies.get_mut(k) {
            slot.1 = Some(what);
        }
        true
    }

    pub(crate) fn expected(&self) -> usize {
        self.rows.iter().map(|r| r.replies.len()).sum()
    }

    pub(crate) fn answered(&self) -> usize {
        self.rows
            .iter()
            .flat_map(|r| &r.replies)
            .filter(|(_, got)| got.is_some())
            .count()
    }

    pub(crate) fn probes(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn probes_answered(&self) -> usize {
        self.rows.iter().filter(|r| r.probe_answered).count()
    }

    pub(crate) fn first_unanswered_probe(&self) -> Option<&'static str> {
        self.rows.iter().find(|r| !r.probe_answered).map(|r| r.name)
    }

    pub(crate) fn all_answered(&self) -> bool {
        self.answered() == self.expected() && self.probes_answered() == self.probes()
    }

    pub(crate) fn print(&self) {
        println!(
            "\nhostile stanzas (in the order sent; the probe is a ping sent right after each):"
        );
        if self.rows.is_empty() {
            println!("  none sent");
        }
        for row in &self.rows {
            println!(
                "  {:<68} {:>8} bytes sent, probe {} {}",
                row.name,
                row.bytes,
                row.probe,
                if row.probe_answered {
                    "answered"
                } else {
                    "NOT ANSWERED"
                }
            );
            for (id, got) in &row.replies {
                println!(
                    "      {:<24} -> {}",
                    truncate(id, 24),
                    got.as_deref().unwrap_or("no reply")
                );
            }
        }
    }
}

/// `<bad-request xmlns=...>` and the `<text>` of an error reply.
pub(crate) fn error_condition(body: &str) -> String {
    const CONDITIONS: &[&str] = &[
        "bad-request",
        "conflict",
        "feature-not-implemented",
        "forbidden",
        "internal-server-error",
        "item-not-found",
        "jid-malformed",
        "not-acceptable",
        "not-allowed",
        "policy-violation",
        "remote-server-timeout",
        "resource-constraint",
        "service-unavailable",
        "undefined-condition",
    ];
    let condition = CONDITIONS
        .iter()
        .find(|c| body.contains(&format!("<{c} ")) || body.contains(&format!("<{c}/>")))
        .copied()
        .unwrap_or("?");
    let text = body
        .find("<text")
        .and_then(|start| {
            let open_end = body[start..].find('>')? + start + 1;
            let close = body[open_end..].find("</text>")? + open_end;
            Some(unescape(&body[open_end..close]))
        })
        .unwrap_or_default();
    if text.is_empty() {
        condition.to_owned()
    } else {
        format!("{condition} ({})", truncate(&text, 90))
    }
}
