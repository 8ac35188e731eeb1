//! The core driven with XML fixtures and a fake clock.

use super::*;
use std::str::FromStr;

const ADMIN: &str = "admin@example.test/console";
const ALICE: &str = "alice@example.test/pc";

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn core() -> Core {
    let config = CoreConfig {
        component: BareJid::from_str("game.example.test").unwrap(),
        name: "Game bridge".to_owned(),
        domains: vec![BareJid::from_str("example.test").unwrap()],
        admins: vec![BareJid::from_str("admin@example.test").unwrap()],
        platforms: vec![BareJid::from_str("game@example.test").unwrap()],
        iq_timeout: Duration::from_secs(30),
        command_session: Duration::from_secs(600),
        directory: DirectoryConfig::default(),
    };
    Core::new(config, Store::open_in_memory().unwrap(), t(0), 42)
}

fn xml(s: &str) -> Element {
    s.parse().unwrap()
}

fn sent(outputs: &[Output]) -> Vec<Element> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(el) => Some(el.clone()),
            Output::WakeAt(_) => None,
        })
        .collect()
}

/// Sends one stanza and returns the one reply, failing if there is not exactly one.
fn ask(core: &mut Core, stanza: &str, now: SystemTime) -> Element {
    let out = sent(&core.handle(Input::Stanza(xml(stanza)), now));
    assert_eq!(out.len(), 1, "expected one reply, got {out:?}");
    out.into_iter().next().unwrap()
}

fn iq(type_: &str, from: &str, payload: &str) -> String {
    format!("<iq xmlns='jabber:component:accept' type='{type_}' id='q1' from='{from}' to='game.example.test'>{payload}</iq>")
}

fn error_condition(reply: &Element) -> (String, String) {
    assert_eq!(reply.attr("type"), Some("error"), "{}", String::from(reply));
    let error = reply.get_child("error", ns::COMPONENT_ACCEPT).unwrap();
    let condition = error
        .children()
        .find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text")
        .unwrap()
        .name()
        .to_owned();
    let text = error
        .get_child("text", ns::XMPP_STANZAS)
        .map(|t| t.text())
        .unwrap_or_default();
    (condition, text)
}

#[test]
fn ping_gets_an_empty_result() {
    let mut core = core();
    let reply = ask(
        &mut core,
        &iq("get", ALICE, "<ping xmlns='urn:xmpp:ping'/>"),
        t(1),
    );
    assert_eq!(
        reply,
        xml("<iq xmlns='jabber:component:accept' type='result' from='game.example.test' to='alice@example.test/pc' id='q1'/>")
    );
}

#[test]
fn disco_info_names_the_component_and_its_features() {
    let mut core = core();
    let reply = ask(
        &mut core,
        &iq(
            "get",
            ALICE,
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        ),
        t(1),
    );
    let query = reply.get_child("query", ns::DISCO_INFO).unwrap();
    let identity = query.get_child("identity", ns::DISCO_INFO).unwrap();
    assert_eq!(identity.attr("category"), Some("component"));
    assert_eq!(identity.attr("name"), Some("Game bridge"));
    let features: Vec<&str> = query.children().filter_map(|c| c.attr("var")).collect();
    for f in [
        ns::PING,
        ns::VERSION,
        ns::DISCO_ITEMS,
        "http://jabber.org/protocol/commands",
    ] {
        assert!(features.contains(&f), "{f} missing in {features:?}");
    }
}

#[test]
fn version_names_the_software_without_the_os() {
    let mut core = core();
    let reply = ask(
        &mut core,
        &iq("get", ALICE, "<query xmlns='jabber:iq:version'/>"),
        t(1),
    );
    let query = reply.get_child("query", ns::VERSION).unwrap();
    assert_eq!(
        query.get_child("name", ns::VERSION).unwrap().text(),
        "xmpp-game-bridge"
    );
    assert!(query.get_child("os", ns::VERSION).is_none());
}

#[test]
fn unknown_request_is_service_unavailable_with_a_text() {
    let mut core = core();
    let reply = ask(
        &mut core,
        &iq("set", ALICE, "<query xmlns='jabber:iq:register'/>"),
        t(1),
    );
    let (condition, text) = error_condition(&reply);
    assert_eq!(condition, "service-unavailable");
    assert!(text.contains("jabber:iq:register"), "{text}");
}

#[test]
fn request_to_a_user_of_the_component_is_service_unavailable() {
    let mut core = core();
    let stanza = "<iq xmlns='jabber:component:accept' type='get' id='q1' from='alice@example.test/pc' to='bob@game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>";
    let (condition, _) = error_condition(&ask(&mut core, stanza, t(1)));
    assert_eq!(condition, "service-unavailable");
}

#[test]
fn iq_without_payload_is_bad_request() {
    let mut core = core();
    let (condition, _) = error_condition(&ask(&mut core, &iq("get", ALICE, ""), t(1)));
    assert_eq!(condition, "bad-request");
}

#[test]
fn results_and_errors_are_never_answered() {
    let mut core = core();
    for type_ in ["result", "error"] {
        let out = core.handle(Input::Stanza(xml(&iq(type_, ALICE, ""))), t(1));
        assert!(sent(&out).is_empty(), "{type_} was answered");
    }
    let message_error = "<message xmlns='jabber:component:accept' type='error' from='alice@example.test/pc' to='game.example.test'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>";
    assert!(sent(&core.handle(Input::Stanza(xml(message_error)), t(1))).is_empty());
}

#[test]
fn presence_that_xmpp_parsers_rejects_is_ignored_and_the_core_goes_on() {
    let mut core = core();
    let bad = "<presence xmlns='jabber:component:accept' from='alice@example.test/pc' to='game.example.test'><show>online</show></presence>";
    assert!(sent(&core.handle(Input::Stanza(xml(bad)), t(1))).is_empty());
    let reply = ask(
        &mut core,
        &iq("get", ALICE, "<ping xmlns='urn:xmpp:ping'/>"),
        t(2),
    );
    assert_eq!(reply.attr("type"), Some("result"));
}

#[test]
fn unroutable_stanza_is_dropped_and_counted() {
    let mut core = core();
    let no_from = "<iq xmlns='jabber:component:accept' type='get' id='x' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>";
    assert!(sent(&core.handle(Input::Stanza(xml(no_from)), t(1))).is_empty());
    let bad_jid = "<iq xmlns='jabber:component:accept' type='get' id='x' from='@@' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>";
    assert!(sent(&core.handle(Input::Stanza(xml(bad_jid)), t(1))).is_empty());
    assert_eq!(core.state().stats.stanzas_dropped, 2);
}

#[test]
fn iq_of_unknown_type_gets_bad_request() {
    let mut core = core();
    let (condition, _) = error_condition(&ask(
        &mut core,
        &iq("fetch", ALICE, "<ping xmlns='urn:xmpp:ping'/>"),
        t(1),
    ));
    assert_eq!(condition, "bad-request");
}

const COMMAND_LIST: &str = "<query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/>";

fn listed_nodes(reply: &Element) -> Vec<String> {
    reply
        .get_child("query", ns::DISCO_ITEMS)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("node").map(str::to_owned))
        .collect()
}

#[test]
fn command_list_shows_stats_to_admins_only() {
    let mut core = core();
    let admin = listed_nodes(&ask(&mut core, &iq("get", ADMIN, COMMAND_LIST), t(1)));
    assert!(admin.contains(&"stats".to_owned()), "{admin:?}");
    let alice = listed_nodes(&ask(&mut core, &iq("get", ALICE, COMMAND_LIST), t(1)));
    assert!(!alice.contains(&"stats".to_owned()), "{alice:?}");
}

#[test]
fn disco_info_on_command_nodes() {
    let mut core = core();
    let info = "<query xmlns='http://jabber.org/protocol/disco#info' node='stats'/>";
    let reply = ask(&mut core, &iq("get", ADMIN, info), t(1));
    let identity = reply
        .get_child("query", ns::DISCO_INFO)
        .unwrap()
        .get_child("identity", ns::DISCO_INFO)
        .unwrap();
    assert_eq!(identity.attr("type"), Some("command-node"));
    assert_eq!(
        error_condition(&ask(&mut core, &iq("get", ALICE, info), t(1))).0,
        "forbidden"
    );
    let missing = "<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/>";
    assert_eq!(
        error_condition(&ask(&mut core, &iq("get", ADMIN, missing), t(1))).0,
        "item-not-found"
    );
}

const STATS: &str =
    "<command xmlns='http://jabber.org/protocol/commands' node='stats' action='execute'/>";

fn field(form: &Element, var: &str) -> String {
    form.children()
        .find(|f| f.attr("var") == Some(var))
        .and_then(|f| f.children().next())
        .map(|v| v.text())
        .unwrap_or_else(|| panic!("field {var} missing"))
}

#[test]
fn stats_tells_an_admin_about_uptime_link_and_counters() {
    let mut core = core();
    core.handle(Input::Connected, t(5));
    core.handle(
        Input::Disconnected {
            reason: "test".into(),
        },
        t(10),
    );
    core.handle(Input::Connected, t(12));
    let reply = ask(&mut core, &iq("set", ADMIN, STATS), t(100));
    let command = reply
        .get_child("command", crate::xep::commands::NS)
        .unwrap();
    assert_eq!(command.attr("status"), Some("completed"));
    let form = command.get_child("x", "jabber:x:data").unwrap();
    assert_eq!(form.attr("type"), Some("result"));
    assert_eq!(field(form, "FORM_TYPE"), crate::commands::stats::FORM_TYPE);
    assert_eq!(field(form, "uptime"), "100");
    assert_eq!(field(form, "link"), "up");
    assert_eq!(field(form, "link-since"), "88");
    assert_eq!(field(form, "reconnects"), "1");
    assert_eq!(field(form, "commands-served"), "1");
    let again = ask(&mut core, &iq("set", ADMIN, STATS), t(101));
    let form = again
        .get_child("command", crate::xep::commands::NS)
        .unwrap()
        .get_child("x", "jabber:x:data")
        .unwrap();
    assert_eq!(field(form, "commands-served"), "2");
}

#[test]
fn stats_is_forbidden_for_a_non_admin_with_a_reason() {
    let mut core = core();
    let (condition, text) = error_condition(&ask(&mut core, &iq("set", ALICE, STATS), t(1)));
    assert_eq!(condition, "forbidden");
    assert!(text.contains("operators"), "{text}");
}

#[test]
fn command_with_unknown_action_is_malformed_action() {
    let mut core = core();
    let request =
        "<command xmlns='http://jabber.org/protocol/commands' node='stats' action='jump'/>";
    let reply = ask(&mut core, &iq("set", ADMIN, request), t(1));
    let (condition, _) = error_condition(&reply);
    assert_eq!(condition, "bad-request");
    let error = reply.get_child("error", ns::COMPONENT_ACCEPT).unwrap();
    assert!(error.has_child("malformed-action", crate::xep::commands::NS));
}

#[test]
fn command_with_get_is_bad_request() {
    let mut core = core();
    let (condition, _) = error_condition(&ask(&mut core, &iq("get", ADMIN, STATS), t(1)));
    assert_eq!(condition, "bad-request");
}

/// The query of the given namespace the core sent at link-up.
fn query_sent<'a>(out: &'a [Element], ns: &str) -> &'a Element {
    out.iter()
        .find(|q| q.has_child("query", ns))
        .unwrap_or_else(|| panic!("no {ns} query in {out:?}"))
}

#[test]
fn link_up_asks_each_domain_for_its_software_and_records_the_answer() {
    let mut core = core();
    let out = sent(&core.handle(Input::Connected, t(1)));
    assert_eq!(out.len(), 2, "a version and a disco#info query");
    let query = query_sent(&out, ns::VERSION);
    assert_eq!(query.attr("to"), Some("example.test"));
    let id = query.attr("id").unwrap();
    let answer = format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{id}' from='example.test' to='game.example.test'><query xmlns='jabber:iq:version'><name>Prosody</name><version>0.12.3</version></query></iq>"
    );
    assert!(sent(&core.handle(Input::Stanza(xml(&answer)), t(2))).is_empty());
    let domain = &core.state().directory.domains[0];
    assert_eq!(domain.software.as_deref(), Some("Prosody 0.12.3"));
}

#[test]
fn unanswered_queries_time_out_and_ask_for_a_wakeup() {
    let mut core = core();
    let out = core.handle(Input::Connected, t(1));
    assert!(out.contains(&Output::WakeAt(t(31))), "{out:?}");
    core.handle(Input::Tick, t(30));
    assert_eq!(core.state().iq_timeouts, 0);
    core.handle(Input::Tick, t(31));
    assert_eq!(core.state().iq_timeouts, 2);
}

#[test]
fn disconnect_abandons_pending_queries_without_counting_timeouts() {
    let mut core = core();
    core.handle(Input::Connected, t(1));
    core.handle(
        Input::Disconnected {
            reason: "gone".into(),
        },
        t(2),
    );
    let out = core.handle(Input::Tick, t(100));
    assert!(sent(&out).is_empty());
    assert_eq!(core.state().iq_timeouts, 0);
    assert_eq!(core.state().link, Link::Down { since: t(2) });
}
