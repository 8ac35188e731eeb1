//! Property tests of [`Core::handle`] over generated sequences of inputs: presences,
//! requests from everyone (well-formed and not), the server's replies or silence, time
//! passing, the link going down and up, and stanzas of any shape.
//!
//! Whatever the sequence: no panic; every IQ get/set with an id gets exactly one reply,
//! sooner or later; every stanza sent fits the stanza limit; and the state stays within
//! its caps.

use std::collections::HashMap;

use proptest::prelude::*;

use super::tests::{advertise, core, t};
use super::*;

const MAX_STANZA: usize = 256 * 1024;

#[derive(Debug, Clone)]
enum Step {
    Presence {
        user: u8,
        resource: u8,
        show: &'static str,
        status: String,
    },
    Unavailable {
        user: u8,
        resource: u8,
    },
    Request {
        from: u8,
        payload: Payload,
    },
    /// Answers the `n`th outstanding IQ of the bridge's (roster, version, disco).
    Answer {
        n: usize,
        error: bool,
        contacts: Vec<(u8, &'static str)>,
    },
    Garbage(Element),
    Wait(u32),
    LinkDown,
    LinkUp,
}

#[derive(Debug, Clone)]
enum Payload {
    Ping,
    Version,
    DiscoInfo,
    DiscoItems(&'static str),
    Peers(String),
    Status(Vec<String>),
    Stats,
    TwoStep(&'static str),
    Unknown,
    BadAction,
    Empty,
}

fn user(n: u8) -> String {
    format!("u{n}@example.test")
}

fn requester(n: u8) -> &'static str {
    [
        "game@example.test/engine",
        "admin@example.test/console",
        "u1@example.test/pc",
        "stranger@elsewhere.test/x",
        "example.test",
    ][usize::from(n) % 5]
}

fn jid_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u8..12).prop_map(user),
        1 => Just("nobody@elsewhere.test".to_owned()),
        1 => crate::testing::xml_text(40),
        1 => (1usize..4).prop_map(|k| format!("{}@example.test", ">".repeat(k * 1_000))),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        1 => Just(Payload::Ping),
        1 => Just(Payload::Version),
        1 => Just(Payload::DiscoInfo),
        1 => prop::sample::select(vec!["", "http://jabber.org/protocol/commands", "peers", "nope"]).prop_map(Payload::DiscoItems),
        4 => jid_text().prop_map(Payload::Peers),
        2 => proptest::collection::vec(jid_text(), 0..120).prop_map(Payload::Status),
        1 => Just(Payload::Stats),
        1 => prop::sample::select(vec!["peers", "status", "stats"]).prop_map(Payload::TwoStep),
        1 => Just(Payload::Unknown),
        1 => Just(Payload::BadAction),
        1 => Just(Payload::Empty),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..12, 0u8..3, prop::sample::select(vec!["", "chat", "away", "xa", "dnd", "online"]), crate::testing::xml_text(50))
            .prop_map(|(user, resource, show, status)| Step::Presence { user, resource, show, status }),
        1 => (0u8..12, 0u8..3).prop_map(|(user, resource)| Step::Unavailable { user, resource }),
        6 => (0u8..5, payload()).prop_map(|(from, payload)| Step::Request { from, payload }),
        3 => (0usize..8, proptest::bool::weighted(0.2), proptest::collection::vec((0u8..12, prop::sample::select(vec!["both", "to", "from", "none"])), 0..15))
            .prop_map(|(n, error, contacts)| Step::Answer { n, error, contacts }),
        1 => crate::testing::stanza().prop_map(Step::Garbage),
        2 => (0u32..40_000).prop_map(Step::Wait),
        1 => Just(Step::LinkDown),
        1 => Just(Step::LinkUp),
    ]
}

fn command(node: &str, var: &str, values: &[String], action: &str) -> String {
    let values: String = values
        .iter()
        .map(|v| format!("<value>{}</value>", escape(v)))
        .collect();
    format!(
        "<command xmlns='http://jabber.org/protocol/commands' node='{node}' action='{action}'><x xmlns='jabber:x:data' type='submit'><field var='{var}'>{values}</field></x></command>"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// The XML of a request, and whether it carries an id (and so must be answered).
fn request_xml(id: &str, from: &str, payload: &Payload) -> (String, bool) {
    let (type_, body) = match payload {
        Payload::Ping => ("get", "<ping xmlns='urn:xmpp:ping'/>".to_owned()),
        Payload::Version => ("get", "<query xmlns='jabber:iq:version'/>".to_owned()),
        Payload::DiscoInfo => (
            "get",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>".to_owned(),
        ),
        Payload::DiscoItems(node) => (
            "get",
            format!("<query xmlns='http://jabber.org/protocol/disco#items' node='{node}'/>"),
        ),
        Payload::Peers(jid) => (
            "set",
            command("peers", "jid", std::slice::from_ref(jid), "execute"),
        ),
        Payload::Status(jids) => ("set", command("status", "jids", jids, "execute")),
        Payload::Stats => (
            "set",
            "<command xmlns='http://jabber.org/protocol/commands' node='stats' action='execute'/>"
                .to_owned(),
        ),
        Payload::TwoStep(node) => (
            "set",
            format!("<command xmlns='http://jabber.org/protocol/commands' node='{node}'/>"),
        ),
        Payload::Unknown => ("get", "<query xmlns='urn:example:unknown'/>".to_owned()),
        Payload::BadAction => (
            "set",
            "<command xmlns='http://jabber.org/protocol/commands' node='peers' action='jump'/>"
                .to_owned(),
        ),
        Payload::Empty => ("get", String::new()),
    };
    (
        format!("<iq xmlns='jabber:component:accept' type='{type_}' id='{id}' from='{from}' to='game.example.test'>{body}</iq>"),
        true,
    )
}

/// Runs `steps` and checks every output; returns the replies counted per request id.
fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut core = core();
    let mut now = t(1);
    core.handle(Input::Connected, now);
    advertise(&mut core);
    let mut replies: HashMap<String, usize> = HashMap::new();
    let mut asked: Vec<String> = Vec::new();
    // The bridge's own IQs not answered yet: (id, to, is a roster get).
    let mut outstanding: Vec<(String, String, bool)> = Vec::new();
    let mut up = true;
    let check = |outs: Vec<Output>,
                 outstanding: &mut Vec<(String, String, bool)>,
                 replies: &mut HashMap<String, usize>|
     -> Result<(), TestCaseError> {
        for out in outs {
            let Output::Send(stanza) = out else { continue };
            let len = stanza.len();
            prop_assert!(len <= MAX_STANZA, "a stanza of {len} bytes");
            let el = crate::wire::parse_stanza(&stanza)
                .map_err(|e| TestCaseError::fail(format!("{e}: {stanza}")))?;
            let id = el.attr("id").unwrap_or("").to_owned();
            match el.attr("type") {
                Some("result") | Some("error") => *replies.entry(id).or_default() += 1,
                Some("get") | Some("set") => outstanding.push((
                    id,
                    el.attr("to").unwrap_or("").to_owned(),
                    el.get_child("query", ns::ROSTER).is_some(),
                )),
                _ => {}
            }
        }
        Ok(())
    };
    for (i, step) in steps.iter().enumerate() {
        let input = match step {
            Step::Presence { user: u, resource, show, status } => {
                let show = if show.is_empty() { String::new() } else { format!("<show>{show}</show>") };
                Input::Stanza(xml(&format!(
                    "<presence xmlns='jabber:component:accept' from='{}/r{resource}' to='game.example.test'>{show}<status>{}</status></presence>",
                    user(*u),
                    escape(status)
                )))
            }
            Step::Unavailable { user: u, resource } => Input::Stanza(xml(&format!(
                "<presence xmlns='jabber:component:accept' type='unavailable' from='{}/r{resource}' to='game.example.test'/>",
                user(*u)
            ))),
            Step::Request { from, payload } => {
                let id = format!("r{i}");
                let (stanza, answerable) = request_xml(&id, requester(*from), payload);
                if answerable {
                    asked.push(id);
                }
                Input::Stanza(xml(&stanza))
            }
            Step::Answer { n, error, contacts } => {
                if outstanding.is_empty() {
                    continue;
                }
                let (id, to, roster) = outstanding.remove(n % outstanding.len());
                let body = if *error {
                    "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>".to_owned()
                } else if roster {
                    let items: String = contacts
                        .iter()
                        .map(|(c, sub)| format!("<item jid='{}' subscription='{sub}'/>", user(*c)))
                        .collect();
                    format!("<query xmlns='jabber:iq:roster'>{items}</query>")
                } else {
                    String::new()
                };
                let type_ = if *error { "error" } else { "result" };
                Input::Stanza(xml(&format!(
                    "<iq xmlns='jabber:component:accept' type='{type_}' id='{id}' from='{to}' to='game.example.test'>{body}</iq>"
                )))
            }
            Step::Garbage(el) => Input::Stanza(el.clone()),
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                Input::Tick
            }
            Step::LinkDown => {
                up = false;
                outstanding.clear();
                Input::Disconnected { reason: "test".to_owned() }
            }
            Step::LinkUp => {
                if up {
                    continue;
                }
                up = true;
                Input::Connected
            }
        };
        let outs = core.handle(input, now);
        check(outs, &mut outstanding, &mut replies)?;
        prop_assert!(core.state().health.stats.sessions_live <= crate::core::session::MAX_LIVE);
        prop_assert!(core.state().health.stats.rosters_fetching <= parked::MAX_ROSTERS);
        prop_assert!(core.state().health.stats.presence_checks_pending <= parked::MAX_PINGS);
        prop_assert!(core.state().health.stats.requests_waiting <= parked::MAX_WAITING);
        prop_assert!(core.state().health.stats.requesters_tracked <= rate::MAX_TRACKED);
    }
    // Whatever still waits is answered when the link drops and the timers run out.
    let outs = core.handle(
        Input::Disconnected {
            reason: "end".to_owned(),
        },
        now,
    );
    check(outs, &mut outstanding, &mut replies)?;
    let outs = core.handle(Input::Tick, now + Duration::from_secs(3_600));
    check(outs, &mut outstanding, &mut replies)?;
    let mut last = crate::core::Outbox::new(MAX_STANZA);
    core.shutdown(&mut last);
    check(last.into_outputs(), &mut outstanding, &mut replies)?;
    for id in &asked {
        prop_assert_eq!(
            replies.get(id).copied().unwrap_or(0),
            1,
            "request {} got {:?} replies",
            id,
            replies.get(id)
        );
    }
    Ok(())
}

fn xml(s: &str) -> Element {
    match s.parse() {
        Ok(el) => el,
        Err(e) => panic!("generated XML does not parse ({e}): {s}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_sequence_of_inputs_answers_every_request_once_within_the_limits(
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        run(&steps)?;
    }
}

/// The long run, out of the test suite: `FUZZ_STANZAS` (default 1,000,000) generated
/// stanzas serialised, cut into random pieces, read by the transport's reader and
/// handled by the core, with every output checked against the stanza limit.
/// `cargo test --release --lib -- --ignored --nocapture a_million`
#[test]
#[ignore = "minutes long; run by hand"]
fn a_million_generated_stanzas_through_the_reader_and_the_core() {
    use crate::transport::reader::{ReaderLimits, StreamEvent, StreamReader};
    use crate::wire::Wire;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let total: usize = std::env::var("FUZZ_STANZAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut runner = TestRunner::deterministic();
    let request = (0u8..5, payload(), 0u32..1_000_000);
    let presence = (
        0u8..12,
        prop::sample::select(vec!["", "chat", "away", "dnd", "online"]),
        crate::testing::xml_text(40),
    );
    let garbage = crate::testing::stanza();
    let mut core = core();
    let mut now = t(1);
    core.handle(Input::Connected, now);
    advertise(&mut core);
    let mut reader = StreamReader::new(ReaderLimits::default());
    let mut events = Vec::new();
    reader
        .feed(b"<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='f'>", false, &mut events)
        .unwrap();
    let mut writer = Wire::new(usize::MAX);
    let started = std::time::Instant::now();
    let (mut read, mut skipped, mut sent, mut largest) = (0usize, 0usize, 0usize, 0usize);
    let mut bytes = 0usize;
    let mut n = 0usize;
    while n < total {
        // A batch of stanzas as one stretch of the stream.
        for _ in 0..64 {
            n += 1;
            let el = match n % 4 {
                0 | 1 => {
                    let (from, payload, id) = request.new_tree(&mut runner).unwrap().current();
                    xml(&request_xml(&format!("f{id}"), requester(from), &payload).0)
                }
                2 => {
                    let (u, show, status) = presence.new_tree(&mut runner).unwrap().current();
                    let show = if show.is_empty() {
                        String::new()
                    } else {
                        format!("<show>{show}</show>")
                    };
                    xml(&format!(
                        "<presence xmlns='jabber:component:accept' from='{}/r' to='game.example.test'>{show}<status>{}</status></presence>",
                        user(u),
                        escape(&status)
                    ))
                }
                _ => garbage.new_tree(&mut runner).unwrap().current(),
            };
            writer.send(&el);
        }
        let stretch = writer.take().bytes;
        bytes += stretch.len();
        // Cut where the stream would be cut by the network.
        let mut rest = &stretch[..];
        let mut cut = 1 + n % 997;
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(cut.min(rest.len()));
            rest = tail;
            cut = cut * 7 % 4_093 + 1;
            events.clear();
            reader.feed(piece, false, &mut events).unwrap();
            for event in events.drain(..) {
                match event {
                    StreamEvent::Stanza(el) => {
                        read += 1;
                        for out in core.handle(Input::Stanza(el), now) {
                            if let Output::Send(stanza) = out {
                                let len = stanza.len();
                                assert!(len <= MAX_STANZA, "{len} bytes");
                                largest = largest.max(len);
                                sent += 1;
                            }
                        }
                    }
                    StreamEvent::Skipped { .. } => skipped += 1,
                    other => panic!("{other:?}"),
                }
            }
        }
        now += Duration::from_millis(5);
        core.handle(Input::Tick, now);
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "fuzz: {n} stanzas generated ({} MB), {read} read, {skipped} skipped, {sent} stanzas sent (largest {largest} bytes), {secs:.1} s, {:.0} stanzas/s; sessions {}, rosters fetching {}, names {}",
        bytes / 1_000_000,
        n as f64 / secs,
        core.state().health.stats.sessions_live,
        core.state().health.stats.rosters_fetching,
        core.state().directory.interned(),
    );
    assert_eq!(read + skipped, n);
}
