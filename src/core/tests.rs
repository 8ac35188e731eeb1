//! The core driven with XML fixtures and a fake clock.

use super::*;
use crate::admin::NewPlatform;
use std::str::FromStr;

pub(super) const ADMIN: &str = "admin@example.test/console";
pub(super) const ALICE: &str = "alice@example.test/pc";

pub(super) fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

pub(super) fn core() -> Core {
    core_with(Store::open_in_memory().unwrap(), |_| {})
}

/// A test core's configuration, and the platforms registered before it starts.
pub(super) struct Bed {
    pub config: CoreConfig,
    pub platforms: Vec<NewPlatform>,
}

impl std::ops::Deref for Bed {
    type Target = CoreConfig;
    fn deref(&self) -> &CoreConfig {
        &self.config
    }
}

impl std::ops::DerefMut for Bed {
    fn deref_mut(&mut self) -> &mut CoreConfig {
        &mut self.config
    }
}

/// A core on `store`, its test configuration changed by `change`.
pub(super) fn core_with(store: Store, change: impl FnOnce(&mut Bed)) -> Core {
    let config = CoreConfig {
        component: BareJid::from_str("game.example.test").unwrap(),
        name: "Game bridge".to_owned(),
        domains: vec![BareJid::from_str("example.test").unwrap()],
        admins: vec![BareJid::from_str("admin@example.test").unwrap()],
        access: AccessConfig::default(),
        // Written before consent existed: every user is visible unless they say no.
        consent: ConsentPolicy::OptOut,
        audit_days: 90,
        rights: Default::default(),
        iq_timeout: Duration::from_secs(30),
        command_session: Duration::from_secs(600),
        directory: DirectoryConfig::default(),
        max_stanza_bytes: 256 * 1024,
        activity_key: ReportKey::derive("s3cret"),
        platform_rate: Rate::per_sec(20_000),
        other_rate: Rate::per_sec(10),
        sessions_api: false,
        page: None,
        salt: 0,
    };
    let mut bed = Bed {
        config,
        platforms: vec![NewPlatform::authorized("game@example.test")],
    };
    change(&mut bed);
    crate::daemon::seed_registry(&store, &bed.platforms);
    Core::new(bed.config, store, t(0), 42)
}

/// `user`'s consent choice (for every platform where `platform` is `None`), stored.
pub(super) fn consent(store: &mut Store, user: &str, platform: Option<&str>, share: bool) {
    store
        .commit(&[crate::store::Write::Consent(
            crate::rights::consent::Choice {
                user: user.to_owned(),
                platform: platform.map(str::to_owned),
                share,
            },
            1,
        )])
        .unwrap();
}

pub(super) fn xml(s: &str) -> Element {
    s.parse().unwrap()
}

pub(super) fn sent(outputs: &[Output]) -> Vec<Element> {
    outputs
        .iter()
        .filter_map(|o| match o {
            // Every stanza sent is read back as the server would read it.
            Output::Send(stanza) => {
                Some(crate::wire::parse_stanza(stanza).unwrap_or_else(|e| panic!("{e}: {stanza}")))
            }
            Output::WakeAt(_)
            | Output::ListSessions { .. }
            | Output::Answer(_)
            | Output::Store { .. } => None,
        })
        .collect()
}

/// Sends one stanza and returns the one reply, failing if there is not exactly one.
pub(super) fn ask(core: &mut Core, stanza: &str, now: SystemTime) -> Element {
    let out = sent(&core.handle(Input::Stanza(xml(stanza)), now));
    assert_eq!(out.len(), 1, "expected one reply, got {out:?}");
    out.into_iter().next().unwrap()
}

pub(super) fn iq(type_: &str, from: &str, payload: &str) -> String {
    format!("<iq xmlns='jabber:component:accept' type='{type_}' id='q1' from='{from}' to='game.example.test'>{payload}</iq>")
}

pub(super) fn error_condition(reply: &Element) -> (String, String) {
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
fn the_component_answers_probes_and_subscriptions_as_a_service_always_there() {
    let mut core = core();
    let presence = |from: &str, type_: &str| {
        xml(&format!(
            "<presence xmlns='jabber:component:accept' from='{from}' to='game.example.test' type='{type_}'/>"
        ))
    };
    let answers = |core: &mut Core, from: &str, type_: &str| -> Vec<String> {
        sent(&core.handle(Input::Stanza(presence(from, type_)), t(1)))
            .iter()
            .map(|p| {
                assert_eq!(p.attr("from"), Some("game.example.test"));
                assert_eq!(p.attr("to"), Some("alice@example.test"));
                p.attr("type").unwrap_or("available").to_owned()
            })
            .collect()
    };
    assert_eq!(
        answers(&mut core, "alice@example.test", "probe"),
        ["available"]
    );
    assert_eq!(
        answers(&mut core, "alice@example.test/pc", "subscribe"),
        ["subscribed", "available"]
    );
    assert_eq!(
        answers(&mut core, "alice@example.test", "unsubscribe"),
        ["unsubscribed"]
    );
    // Someone of a server the bridge does not serve gets nothing.
    assert!(answers(&mut core, "zoe@elsewhere.example", "probe").is_empty());
    assert_eq!(core.state().health.stats.stanzas_dropped, 1);
}

#[test]
fn unroutable_stanza_is_dropped_and_counted() {
    let mut core = core();
    let no_from = "<iq xmlns='jabber:component:accept' type='get' id='x' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>";
    assert!(sent(&core.handle(Input::Stanza(xml(no_from)), t(1))).is_empty());
    let bad_jid = "<iq xmlns='jabber:component:accept' type='get' id='x' from='@@' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>";
    assert!(sent(&core.handle(Input::Stanza(xml(bad_jid)), t(1))).is_empty());
    assert_eq!(core.state().health.stats.stanzas_dropped, 2);
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
    assert_eq!(core.state().health.iq_timeouts, 0);
    core.handle(Input::Tick, t(31));
    assert_eq!(core.state().health.iq_timeouts, 2);
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
    assert_eq!(core.state().health.iq_timeouts, 0);
    assert_eq!(core.state().health.link, Link::Down { since: t(2) });
}

// ---- directory flows: presence, grants, rosters, peers and status ----

pub(super) const PLATFORM: &str = "game@example.test/engine";

pub(super) fn advertise(core: &mut Core) {
    let advert = "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
        <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
        <perm access='message' type='outgoing'/><perm access='presence' type='roster'/></privilege></message>";
    assert!(sent(&core.handle(Input::Stanza(xml(advert)), t(1))).is_empty());
}

pub(super) fn presence(core: &mut Core, user: &str, show: Option<&str>, now: SystemTime) {
    let show = show
        .map(|s| format!("<show>{s}</show>"))
        .unwrap_or_default();
    let stanza = format!(
        "<presence xmlns='jabber:component:accept' from='{user}@example.test/pc' to='game.example.test'>{show}</presence>"
    );
    assert!(sent(&core.handle(Input::Stanza(xml(&stanza)), now)).is_empty());
}

/// A linked core with grants and alice, bob (chat), carol (away) online.
pub(super) fn linked_core() -> Core {
    let mut core = core();
    link_up(&mut core);
    core
}

/// Brings the link up with grants, and alice, bob (chat), carol (away) online.
pub(super) fn link_up(core: &mut Core) {
    core.handle(Input::Connected, t(1));
    advertise(core);
    presence(core, "alice", None, t(2));
    presence(core, "bob", Some("chat"), t(3));
    presence(core, "carol", Some("away"), t(4));
}

pub(super) fn command(node: &str, fields: &[(&str, &[&str])]) -> String {
    let fields: String = fields
        .iter()
        .map(|(var, values)| {
            let values: String = values
                .iter()
                .map(|v| format!("<value>{v}</value>"))
                .collect();
            format!("<field var='{var}'>{values}</field>")
        })
        .collect();
    format!(
        "<command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'>{fields}</x></command>"
    )
}

/// A platform's one-step `peers` request about `user`, with id `q1`.
fn peers_request(user: &str) -> String {
    iq("set", PLATFORM, &command("peers", &[("jid", &[user])]))
}

pub(super) fn roster_result(id: &str, user: &str, contacts: &[(&str, &str)]) -> String {
    let items: String = contacts
        .iter()
        .map(|(c, sub)| format!("<item jid='{c}@example.test' subscription='{sub}'/>"))
        .collect();
    format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{user}@example.test' to='game.example.test'><query xmlns='jabber:iq:roster'>{items}</query></iq>"
    )
}

/// What the server answers to the core's roster fetches and pings: everyone has
/// everyone else of alice, bob, carol and dave mutually, and rob of another server.
pub(super) fn server_answer(el: &Element) -> Option<String> {
    if el.name() != "iq" || el.attr("type") != Some("get") {
        return None;
    }
    let (id, to) = (el.attr("id")?, el.attr("to")?);
    if el.has_child("ping", "urn:xmpp:ping") {
        return Some(format!(
            "<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{to}' to='game.example.test'/>"
        ));
    }
    if el.has_child("query", "jabber:iq:roster") {
        let user = to.split('@').next()?;
        let items: String = ["alice", "bob", "carol", "dave"]
            .into_iter()
            .filter(|c| *c != user)
            .map(|c| format!("<item jid='{c}@example.test' subscription='both'/>"))
            .chain(std::iter::once(
                "<item jid='rob@other.example' subscription='both'/>".to_owned(),
            ))
            .collect();
        return Some(format!(
            "<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{to}' to='game.example.test'><query xmlns='jabber:iq:roster'>{items}</query></iq>"
        ));
    }
    None
}

/// The values of a top-level field of a command result's form.
pub(super) fn form_field(reply: &Element, var: &str) -> Vec<String> {
    let form = reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .unwrap_or_else(|| panic!("no form in {}", String::from(reply)));
    form.children()
        .filter(|c| c.name() == "field" && c.attr("var") == Some(var))
        .flat_map(|f| f.children().map(|v| v.text()))
        .collect()
}

/// The reported table of a command result: one map per item.
pub(super) fn items(reply: &Element) -> Vec<std::collections::BTreeMap<String, Vec<String>>> {
    let form = reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .unwrap_or_else(|| panic!("no form in {}", String::from(reply)));
    form.children()
        .filter(|c| c.name() == "item")
        .map(|item| {
            item.children()
                .map(|f| {
                    (
                        f.attr("var").unwrap().to_owned(),
                        f.children().map(|v| v.text()).collect(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn peers_fetches_the_roster_once_for_concurrent_requests_and_answers_both() {
    let mut core = linked_core();
    let request = peers_request("alice@example.test");
    let first = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    assert_eq!(first.len(), 1, "{first:?}");
    let fetch = &first[0];
    assert_eq!(fetch.attr("to"), Some("alice@example.test"));
    assert!(fetch.has_child("query", ns::ROSTER));
    let again = sent(&core.handle(Input::Stanza(xml(&request.replace("q1", "q2"))), t(10)));
    assert!(again.is_empty(), "a second fetch was sent: {again:?}");

    let roster = roster_result(
        fetch.attr("id").unwrap(),
        "alice",
        &[("bob", "both"), ("carol", "both"), ("dave", "to")],
    );
    let answers = sent(&core.handle(Input::Stanza(xml(&roster)), t(11)));
    assert_eq!(answers.len(), 2);
    for answer in &answers {
        assert_eq!(answer.attr("type"), Some("result"));
        let rows = items(answer);
        assert_eq!(rows.len(), 1, "only bob is mutual and available: {rows:?}");
        assert_eq!(rows[0]["jid"], vec!["bob@example.test"]);
        assert_eq!(rows[0]["availability"], vec!["chat"]);
        // The tier is the answer's, not repeated per row.
        assert!(!rows[0].contains_key("tier"), "{rows:?}");
        assert_eq!(form_field(answer, "tier"), vec!["presence"]);
    }
    // Within the roster's age, the next request is answered at once.
    let third = sent(&core.handle(Input::Stanza(xml(&request)), t(20)));
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].attr("type"), Some("result"));
}

#[test]
fn peers_is_forbidden_to_anyone_but_a_platform() {
    let mut core = linked_core();
    let request = iq(
        "set",
        ALICE,
        &command("peers", &[("jid", &["bob@example.test"])]),
    );
    let (condition, text) = error_condition(&ask(&mut core, &request, t(10)));
    assert_eq!(condition, "forbidden");
    assert!(text.contains("platforms"), "{text}");
}

#[test]
fn peers_without_the_roster_grant_says_what_is_missing() {
    let mut core = core();
    core.handle(Input::Connected, t(1));
    presence(&mut core, "alice", None, t(2));
    let request = peers_request("alice@example.test");
    // Until the server has said what it grants (its advertisement comes before its answer
    // to the version query), a missing grant may still come: try again.
    let (condition, text) = error_condition(&ask(&mut core, &request, t(10)));
    assert_eq!(condition, "remote-server-timeout");
    assert!(text.contains("try again"), "{text}");
    // The version query goes unanswered: now the grant is known to be missing.
    core.handle(Input::Tick, t(40));
    let request = request.replace("q1", "q2");
    let (condition, text) = error_condition(&ask(&mut core, &request, t(41)));
    assert_eq!(condition, "service-unavailable");
    assert!(text.contains("roster"), "{text}");
}

#[test]
fn peers_of_a_user_of_another_server_is_item_not_found() {
    let mut core = linked_core();
    let request = peers_request("zoe@elsewhere.example");
    let (condition, text) = error_condition(&ask(&mut core, &request, t(10)));
    assert_eq!(condition, "item-not-found");
    assert!(text.contains("example.test"), "{text}");
}

#[test]
fn peers_answers_with_an_error_when_the_roster_never_comes() {
    let mut core = linked_core();
    let request = peers_request("alice@example.test");
    assert_eq!(
        sent(&core.handle(Input::Stanza(xml(&request)), t(10))).len(),
        1
    );
    let out = sent(&core.handle(Input::Tick, t(40)));
    let answer = out
        .iter()
        .find(|e| e.attr("id") == Some("q1"))
        .expect("the request is answered");
    let (condition, text) = error_condition(answer);
    assert_eq!(condition, "remote-server-timeout");
    assert!(text.contains("alice@example.test"), "{text}");
}

#[test]
fn peers_in_two_steps_asks_for_the_user_first() {
    let mut core = linked_core();
    let start = ask(
        &mut core,
        &iq(
            "set",
            PLATFORM,
            "<command xmlns='http://jabber.org/protocol/commands' node='peers' action='execute'/>",
        ),
        t(10),
    );
    let cmd = start
        .get_child("command", crate::xep::commands::NS)
        .unwrap();
    assert_eq!(cmd.attr("status"), Some("executing"));
    let session = cmd.attr("sessionid").unwrap().to_owned();
    let submit = format!(
        "<command xmlns='http://jabber.org/protocol/commands' node='peers' sessionid='{session}' action='complete'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>alice@example.test</value></field></x></command>"
    );
    let out = sent(&core.handle(Input::Stanza(xml(&iq("set", PLATFORM, &submit))), t(11)));
    let fetch = &out[0];
    let roster = roster_result(fetch.attr("id").unwrap(), "alice", &[("bob", "both")]);
    let answers = sent(&core.handle(Input::Stanza(xml(&roster)), t(12)));
    assert_eq!(answers.len(), 1);
    assert_eq!(items(&answers[0])[0]["jid"], vec!["bob@example.test"]);
    let cmd = answers[0]
        .get_child("command", crate::xep::commands::NS)
        .unwrap();
    assert_eq!(cmd.attr("status"), Some("completed"));
    assert_eq!(cmd.attr("sessionid"), Some(session.as_str()));
}

#[test]
fn status_reports_each_user_and_warns_about_other_servers() {
    let mut core = linked_core();
    presence(&mut core, "dave", None, t(5));
    let unavailable = "<presence xmlns='jabber:component:accept' type='unavailable' from='dave@example.test/pc' to='game.example.test'/>";
    core.handle(Input::Stanza(xml(unavailable)), t(6));
    let request = iq(
        "set",
        PLATFORM,
        &command(
            "status",
            &[(
                "jids",
                &[
                    "bob@example.test",
                    "carol@example.test",
                    "dave@example.test",
                    "erin@example.test",
                    "zoe@elsewhere.example",
                ],
            )],
        ),
    );
    let reply = ask(&mut core, &request, t(10));
    let rows = items(&reply);
    let availability: Vec<&str> = rows.iter().map(|r| r["availability"][0].as_str()).collect();
    // The server did not replay presence at connect, so dave, who left from the one
    // device the bridge knew of, and erin, never seen, are unknown; dave was last seen
    // when he left.
    assert_eq!(
        availability,
        vec!["chat", "away", "unknown", "unknown", "unknown"]
    );
    assert_eq!(
        rows[2]["last-seen"],
        vec![crate::xep::datetime::format(1_700_000_006)]
    );
    let notes: Vec<(String, String)> = reply
        .get_child("command", crate::xep::commands::NS)
        .map(|c| {
            c.children()
                .filter(|n| n.name() == "note")
                .map(|n| (n.attr("type").unwrap_or("").to_owned(), n.text()))
                .collect()
        })
        .unwrap_or_default();
    // First the summary a client without tables shows, then the warning.
    assert_eq!(notes[0].0, "info");
    assert!(
        notes[0]
            .1
            .starts_with("bob@example.test is free to chat; carol@example.test is away")
            && notes[0]
                .1
                .contains("zoe@elsewhere.example is not a user of this chat server"),
        "{}",
        notes[0].1
    );
    assert_eq!(notes[1].0, "warn");
    assert!(notes[1].1.contains("zoe@elsewhere.example"));
}

#[test]
fn malformed_presence_changes_nothing_and_is_counted() {
    let mut core = linked_core();
    let bad = "<presence xmlns='jabber:component:accept' from='bob@example.test/pc' to='game.example.test'><show>online</show></presence>";
    assert!(sent(&core.handle(Input::Stanza(xml(bad)), t(10))).is_empty());
    assert_eq!(core.state().health.stats.stanzas_dropped, 1);
    let bob = core.state().directory.id("bob@example.test").unwrap();
    assert_eq!(
        core.state().directory.availability(bob, 1_700_000_010),
        Some(crate::directory::presence::Availability::Chat)
    );
}

fn ms(millis: u64) -> SystemTime {
    t(0) + Duration::from_millis(millis)
}

fn log_out(core: &mut Core, user: &str, now: SystemTime) {
    let off = format!("<presence xmlns='jabber:component:accept' type='unavailable' from='{user}@example.test/pc' to='game.example.test'/>");
    core.handle(Input::Stanza(xml(&off)), now);
}

#[test]
fn a_logout_is_written_within_a_second_and_logouts_close_together_share_a_write() {
    let mut core = linked_core();
    log_out(&mut core, "alice", ms(20_000));
    log_out(&mut core, "bob", ms(20_100));
    assert_eq!(
        core.state().store.last_seen("alice@example.test").unwrap(),
        None,
        "written per logout"
    );
    let out = core.handle(Input::Tick, ms(20_150));
    let wake = out.iter().find_map(|o| match o {
        Output::WakeAt(at) => Some(*at),
        _ => None,
    });
    assert!(wake.is_some_and(|at| at <= ms(21_000)), "{wake:?}");
    core.handle(Input::Tick, ms(21_000));
    for user in ["alice@example.test", "bob@example.test"] {
        assert_eq!(
            core.state().store.last_seen(user).unwrap(),
            Some(1_700_000_020),
            "{user}"
        );
    }
    assert_eq!(core.state().health.stats.storage_writes, 1);
}

#[test]
fn an_unwritable_database_is_retried_with_backoff_not_on_every_input() {
    let mut core = linked_core();
    core.state.store.set_read_only(true);
    log_out(&mut core, "alice", ms(20_000));
    let out = core.handle(Input::Tick, ms(21_000));
    assert_eq!(core.state().health.stats.storage_failures, 1);
    // The core asks to be woken for the retry, a second later.
    assert!(out.contains(&Output::WakeAt(ms(22_000))), "{out:?}");
    // Inputs keep coming; none of them waits on the database again until the backoff ends.
    for i in 0..50 {
        let reply = ask(
            &mut core,
            &iq("get", PLATFORM, "<ping xmlns='urn:xmpp:ping'/>"),
            ms(21_010 + i),
        );
        assert_eq!(reply.attr("type"), Some("result"));
    }
    assert_eq!(core.state().health.stats.storage_failures, 1);
    assert!(core.state().health.storage_failing_since.is_some());
    core.state.store.set_read_only(false);
    // The retry comes at the latest a backoff later, and succeeds.
    for step in 1..=20 {
        core.handle(Input::Tick, ms(21_000 + step * 1_000));
    }
    assert_eq!(
        core.state().store.last_seen("alice@example.test").unwrap(),
        Some(1_700_000_020)
    );
    assert!(core.state().health.storage_failing_since.is_none());
}

#[test]
fn privilege_claims_from_a_user_are_ignored() {
    let mut core = core();
    core.handle(Input::Connected, t(1));
    let forged = "<message xmlns='jabber:component:accept' from='mallory@example.test/x' to='game.example.test'>\
        <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/><perm access='presence' type='roster'/></privilege></message>";
    core.handle(Input::Stanza(xml(forged)), t(2));
    assert!(core.state().directory.domains[0].privilege.is_none());
}

#[test]
fn with_the_activity_module_peers_use_the_conversation_tier() {
    let mut core = core();
    let out = sent(&core.handle(Input::Connected, t(1)));
    advertise(&mut core);
    let probe = query_sent(&out, ns::DISCO_INFO);
    let answer = format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{}' from='example.test' to='game.example.test'>\
         <query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im'/>\
         <feature var='urn:xmpp-game-bridge:activity:1'/></query></iq>",
        probe.attr("id").unwrap()
    );
    core.handle(Input::Stanza(xml(&answer)), t(2));
    presence(&mut core, "alice", None, t(2));
    presence(&mut core, "bob", None, t(3));
    presence(&mut core, "carol", None, t(4));
    let exchange = [(
        "alice@example.test",
        "carol@example.test",
        "2023-11-14T22:13:25Z",
    )];
    // Another component could send from the host's JID, but not with the key: ignored.
    let forged = crate::directory::activity::signed_report(
        &ReportKey::derive("guess"),
        &[(
            "alice@example.test",
            "bob@example.test",
            "2023-11-14T22:13:25Z",
        )],
    );
    let report = crate::directory::activity::signed_report(&ReportKey::derive("s3cret"), &exchange);
    for activity in [forged, report] {
        let message = format!("<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>{activity}</message>");
        core.handle(Input::Stanza(xml(&message)), t(6));
    }
    assert_eq!(
        core.state().health.stats.stanzas_dropped,
        1,
        "the forged report was not refused"
    );
    let request = peers_request("alice@example.test");
    let fetch = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    let roster = roster_result(
        fetch[0].attr("id").unwrap(),
        "alice",
        &[("bob", "both"), ("carol", "both")],
    );
    let answers = sent(&core.handle(Input::Stanza(xml(&roster)), t(11)));
    let rows = items(&answers[0]);
    assert_eq!(
        rows.len(),
        1,
        "bob is available but did not chat with alice: {rows:?}"
    );
    assert_eq!(rows[0]["jid"], vec!["carol@example.test"]);
    assert_eq!(form_field(&answers[0], "tier"), vec!["conversation"]);
    assert_eq!(rows[0]["last-activity"], vec!["2023-11-14T22:13:25Z"]);
}

#[test]
fn a_request_waiting_for_a_roster_is_answered_when_the_link_drops() {
    let mut core = linked_core();
    let request = peers_request("alice@example.test");
    assert_eq!(
        sent(&core.handle(Input::Stanza(xml(&request)), t(10))).len(),
        1
    );
    let out = sent(&core.handle(
        Input::Disconnected {
            reason: "gone".into(),
        },
        t(11),
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].attr("id"), Some("q1"));
    assert_eq!(error_condition(&out[0]).0, "remote-server-timeout");
}

#[test]
fn a_request_waiting_for_a_roster_is_answered_at_shutdown() {
    let mut core = linked_core();
    let request = peers_request("alice@example.test");
    assert_eq!(
        sent(&core.handle(Input::Stanza(xml(&request)), t(10))).len(),
        1
    );
    let mut last = Outbox::new(64 * 1024);
    core.shutdown(&mut last);
    let out = sent(&last.into_outputs());
    assert_eq!(out.len(), 1);
    assert_eq!(error_condition(&out[0]).0, "service-unavailable");
}

#[test]
fn a_roster_the_server_refuses_is_reported_as_refused_not_as_late() {
    let mut core = linked_core();
    let request = peers_request("alice@example.test");
    let fetch = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    let refusal = format!(
        "<iq xmlns='jabber:component:accept' type='error' id='{}' from='alice@example.test' to='game.example.test'>\
         <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        fetch[0].attr("id").unwrap()
    );
    let out = sent(&core.handle(Input::Stanza(xml(&refusal)), t(11)));
    assert_eq!(out.len(), 1);
    let (condition, text) = error_condition(&out[0]);
    assert_eq!(condition, "service-unavailable");
    assert!(
        text.contains("refused") && text.contains("forbidden"),
        "{text}"
    );
}

#[test]
fn past_its_cap_of_waiting_requests_a_requester_is_refused_at_once() {
    let mut core = linked_core();
    let request = peers_request("alice@example.test");
    let cap = super::parked::MAX_PER_REQUESTER;
    for n in 0..cap {
        let out = sent(&core.handle(
            Input::Stanza(xml(&request.replace("q1", &format!("p{n}")))),
            t(10),
        ));
        assert!(
            n == 0 || out.is_empty(),
            "request {n} was answered early: {out:?}"
        );
    }
    let out = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    assert_eq!(out.len(), 1);
    assert_eq!(error_condition(&out[0]).0, "resource-constraint");
    assert_eq!(core.state().health.stats.requests_refused_busy, 1);
}

/// Serialised size of a stanza, as the transport would send it.
fn wire_len(el: &Element) -> usize {
    String::from(el).len()
}

#[test]
fn error_texts_quote_at_most_a_short_piece_of_the_input() {
    let mut core = linked_core();
    // 5,000 characters that escaping enlarges: each '>' is four bytes on the wire.
    let huge = format!("{}@example.test", ">".repeat(5_000));
    let escaped = huge.replace('>', "&gt;");
    let reply = ask(
        &mut core,
        &iq("set", PLATFORM, &command("peers", &[("jid", &[&escaped])])),
        t(10),
    );
    let (condition, text) = error_condition(&reply);
    assert_eq!(condition, "bad-request");
    assert!(
        text.chars().count() < 300,
        "{} characters: {text}",
        text.chars().count()
    );
    assert!(wire_len(&reply) < 2_000, "{}", wire_len(&reply));
    // The same for a node name, a payload name and an unknown action.
    let node = "n".repeat(5_000);
    let reply = ask(
        &mut core,
        &iq(
            "set",
            PLATFORM,
            &format!("<command xmlns='http://jabber.org/protocol/commands' node='{node}'/>"),
        ),
        t(10),
    );
    assert!(wire_len(&reply) < 2_000, "{}", wire_len(&reply));
    let payload = format!("<{node} xmlns='urn:x'/>");
    let reply = ask(&mut core, &iq("get", PLATFORM, &payload), t(10));
    assert!(wire_len(&reply) < 2_000, "{}", wire_len(&reply));
    let reply = ask(&mut core, &iq("set", PLATFORM, &format!("<command xmlns='http://jabber.org/protocol/commands' node='peers' action='{node}'/>")), t(10));
    assert!(wire_len(&reply) < 2_000, "{}", wire_len(&reply));
}

#[test]
fn a_form_from_someone_who_may_not_run_the_node_is_refused_before_it_is_read() {
    let mut core = linked_core();
    // A form no parser would accept (two FORM_TYPEs of different values); a stranger
    // learns only that the node is not theirs.
    let bad_form = "<command xmlns='http://jabber.org/protocol/commands' node='peers' action='execute'>\
        <x xmlns='jabber:x:data' type='submit'><field var='jid' type='no-such-type'><value>a</value></field></x></command>";
    let reply = ask(&mut core, &iq("set", ALICE, bad_form), t(10));
    assert_eq!(error_condition(&reply).0, "forbidden");
}

#[test]
fn one_step_requests_with_a_submitted_form_missing_the_field_are_bad_requests() {
    let mut core = linked_core();
    let submitted_empty = |node: &str| {
        format!("<command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'><x xmlns='jabber:x:data' type='submit'/></command>")
    };
    for (node, field) in [("peers", "\"jid\""), ("status", "\"jids\"")] {
        let reply = ask(
            &mut core,
            &iq("set", PLATFORM, &submitted_empty(node)),
            t(10),
        );
        let (condition, text) = error_condition(&reply);
        assert_eq!(condition, "bad-request", "{node}: {}", String::from(&reply));
        assert!(text.contains(field), "{node}: {text}");
    }
}

#[test]
fn a_huge_status_text_is_stored_cut_and_marked_and_status_fits_the_limit() {
    let mut core = linked_core();
    // 100 users with long status texts in several languages: the answer would be MBs.
    let long = "&lt;".repeat(3_000);
    for i in 0..100 {
        let texts: String = ["", "de", "fr", "es"]
            .iter()
            .map(|lang| {
                let attr = if lang.is_empty() {
                    String::new()
                } else {
                    format!(" xml:lang='{lang}'")
                };
                format!("<status{attr}>{long}</status>")
            })
            .collect();
        let stanza = format!("<presence xmlns='jabber:component:accept' from='u{i}@example.test/pc' to='game.example.test'>{texts}</presence>");
        assert!(sent(&core.handle(Input::Stanza(xml(&stanza)), t(5))).is_empty());
    }
    let jids: Vec<String> = (0..100).map(|i| format!("u{i}@example.test")).collect();
    let jids: Vec<&str> = jids.iter().map(String::as_str).collect();
    let reply = ask(
        &mut core,
        &iq("set", PLATFORM, &command("status", &[("jids", &jids)])),
        t(10),
    );
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        &String::from(&reply)[..300]
    );
    assert!(wire_len(&reply) <= 256 * 1024, "{} bytes", wire_len(&reply));
    let rows = items(&reply);
    let first = &rows[0]["status"][0];
    assert!(
        first.ends_with('…'),
        "not marked: {}",
        &first[first.len() - 20..]
    );
    assert!(first.chars().count() <= DirectoryConfig::default().max_status_chars + 1);
    let command = reply
        .get_child("command", crate::xep::commands::NS)
        .unwrap();
    let notes: Vec<String> = command
        .children()
        .filter(|c| c.name() == "note")
        .map(|n| n.text())
        .collect();
    if rows.len() < 100 {
        assert!(
            notes
                .iter()
                .any(|n| n.contains(&format!("{} ", 100 - rows.len())) && n.contains("left out")),
            "{} rows, notes {notes:?}",
            rows.len()
        );
    }
}

#[test]
fn a_flooding_user_is_slowed_down_and_others_are_still_answered() {
    let mut core = linked_core();
    let ping = |from: &str| iq("get", from, "<ping xmlns='urn:xmpp:ping'/>");
    let refused = (0..100)
        .map(|i| ask(&mut core, &ping(ALICE), ms(10_000 + i)))
        .filter(|reply| reply.attr("type") == Some("error"))
        .inspect(|reply| assert_eq!(error_condition(reply).0, "resource-constraint"))
        .count();
    assert!(refused >= 70, "only {refused} of 100 refused");
    assert_eq!(
        core.state().health.stats.requests_rate_limited,
        refused as u64
    );
    // Everybody else is untouched; alice gets her rate back with time.
    assert_eq!(
        ask(&mut core, &ping(PLATFORM), ms(10_100)).attr("type"),
        Some("result")
    );
    assert_eq!(
        ask(&mut core, &ping("bob@example.test/pc"), ms(10_100)).attr("type"),
        Some("result")
    );
    assert_eq!(
        ask(&mut core, &ping(ALICE), ms(11_200)).attr("type"),
        Some("result")
    );
}

#[test]
fn asking_about_users_who_are_not_online_fetches_and_keeps_nothing() {
    let mut core = linked_core();
    let before = core.state().directory.interned();
    for i in 0..2_000 {
        let out = sent(&core.handle(
            Input::Stanza(xml(&peers_request(&format!("nobody{i}@example.test")))),
            t(10),
        ));
        assert_eq!(out.len(), 1, "a roster was fetched for nobody{i}: {out:?}");
        assert_eq!(items(&out[0]).len(), 0);
    }
    assert_eq!(core.state().directory.interned(), before);
    // carol is online but away: no peers, no roster fetch either.
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("carol@example.test"))),
        t(11),
    ));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].attr("type"), Some("result"));
}

#[test]
fn a_users_delay_stamp_counts_only_during_the_servers_replay() {
    let mut core = core();
    let out = sent(&core.handle(Input::Connected, t(1)));
    advertise(&mut core); // privilege:2, the namespace of Prosody, which replays
    let delayed = |user: &str| {
        format!("<presence xmlns='jabber:component:accept' from='{user}@example.test/pc' to='game.example.test'>\
            <delay xmlns='urn:xmpp:delay' from='example.test' stamp='2001-01-01T00:00:00Z'/></presence>")
    };
    let since = |core: &Core, user: &str| match core
        .state()
        .directory
        .seen_by_name(&format!("{user}@example.test"), 1_700_000_000)
    {
        crate::directory::Seen::Online { since, .. } => since,
        other => panic!("{other:?}"),
    };
    // During the replay (before the server answers the version query) the stamp is the
    // server's word for when the presence was sent.
    core.handle(Input::Stanza(xml(&delayed("alice"))), t(2));
    assert_eq!(since(&core, "alice"), 978_307_200);
    let version = query_sent(&out, ns::VERSION);
    let answer = format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{}' from='example.test' to='game.example.test'>\
         <query xmlns='jabber:iq:version'><name>Prosody</name><version>0.12.3</version></query></iq>",
        version.attr("id").unwrap()
    );
    core.handle(Input::Stanza(xml(&answer)), t(3));
    // After it, a stamp is only what a user wrote: ignored.
    core.handle(Input::Stanza(xml(&delayed("bob"))), t(4));
    assert_eq!(since(&core, "bob"), 1_700_000_004);
}

#[test]
fn a_request_the_transport_skipped_still_gets_its_one_answer() {
    let mut core = linked_core();
    let head = xml("<iq xmlns='jabber:component:accept' type='set' id='deep' from='game@example.test/engine' to='game.example.test'/>");
    let out = sent(&core.handle(
        Input::Skipped {
            head,
            reason: "nested deeper than the bridge accepts",
        },
        t(10),
    ));
    assert_eq!(out.len(), 1);
    let (condition, text) = error_condition(&out[0]);
    assert_eq!(condition, "policy-violation");
    assert!(text.contains("deeper"), "{text}");
    assert_eq!(out[0].attr("id"), Some("deep"));
    // A skipped message or presence is only counted.
    let head = xml("<message xmlns='jabber:component:accept' from='u@example.test/pc' to='game.example.test'/>");
    assert!(sent(&core.handle(Input::Skipped { head, reason: "x" }, t(10))).is_empty());
    assert_eq!(core.state().health.stats.stanzas_skipped, 2);
}

#[test]
fn a_request_whose_id_is_too_long_to_echo_is_dropped_and_counted() {
    let mut core = linked_core();
    let id = "\"".repeat(super::MAX_ID_BYTES + 1).replace('"', "&quot;");
    let request = format!("<iq xmlns='jabber:component:accept' type='get' id='{id}' from='game@example.test/engine' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert!(sent(&core.handle(Input::Stanza(xml(&request)), t(10))).is_empty());
    assert_eq!(core.state().health.stats.stanzas_dropped, 1);
}

#[test]
fn when_the_server_never_answers_the_version_query_its_replay_ends_at_the_timeout() {
    let mut core = core();
    core.handle(Input::Connected, t(1));
    advertise(&mut core); // privilege:2: a server that replays
    core.handle(Input::Tick, t(40)); // the version query times out (30 s)
    let delayed = "<presence xmlns='jabber:component:accept' from='bob@example.test/pc' to='game.example.test'>\
        <delay xmlns='urn:xmpp:delay' from='example.test' stamp='2001-01-01T00:00:00Z'/></presence>";
    core.handle(Input::Stanza(xml(delayed)), t(41));
    match core
        .state()
        .directory
        .seen_by_name("bob@example.test", 1_700_000_041)
    {
        crate::directory::Seen::Online { since, .. } => assert_eq!(since, 1_700_000_041),
        other => panic!("{other:?}"),
    }
    // And users the replay did not mention are offline, not unknown.
    assert!(matches!(
        core.state()
            .directory
            .seen_by_name("zoe@example.test", 1_700_000_041),
        crate::directory::Seen::Offline { .. }
    ));
}

/// A core linked to a server that does not tell every departure (privilege:1, like
/// ejabberd 23.01), with alice (available), bob and carol (chat) online since t(2)–t(4),
/// and alice's roster (bob, carol) fetched at t(11).
fn core_without_departures() -> Core {
    let mut core = core();
    core.handle(Input::Connected, t(1));
    let advert =
        "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
        <privilege xmlns='urn:xmpp:privilege:1'><perm access='roster' type='get'/>\
        <perm access='presence' type='managed_entity'/></privilege></message>";
    core.handle(Input::Stanza(xml(advert)), t(1));
    presence(&mut core, "alice", None, t(2));
    presence(&mut core, "bob", Some("chat"), t(3));
    presence(&mut core, "carol", Some("chat"), t(4));
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(10),
    ));
    let fetch = query_sent(&out, ns::ROSTER);
    let roster = roster_result(
        fetch.attr("id").unwrap(),
        "alice",
        &[("bob", "both"), ("carol", "both")],
    );
    let answers = sent(&core.handle(Input::Stanza(xml(&roster)), t(11)));
    let listed: Vec<String> = items(&answers[0])
        .iter()
        .map(|r| r["jid"][0].clone())
        .collect();
    // Heard within the interval: listed without a ping.
    assert_eq!(listed, vec!["carol@example.test", "bob@example.test"]);
    core
}

fn pings(out: &[Element]) -> Vec<(String, String)> {
    out.iter()
        .filter(|e| e.has_child("ping", ns::PING))
        .map(|e| {
            (
                e.attr("to").unwrap().to_owned(),
                e.attr("id").unwrap().to_owned(),
            )
        })
        .collect()
}

fn pong(to_ping: &(String, String)) -> String {
    format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{}' from='{}' to='game.example.test'/>",
        to_ping.1, to_ping.0
    )
}

fn session_not_found(to_ping: &(String, String)) -> String {
    format!(
        "<iq xmlns='jabber:component:accept' type='error' id='{}' from='{}' to='game.example.test'>\
         <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>User session not found</text></error></iq>",
        to_ping.1, to_ping.0
    )
}

#[test]
fn silent_resources_are_pinged_once_before_they_are_reported_and_gone_ones_are_left_out() {
    let mut core = core_without_departures();
    // A minute and more of silence: the user and the peers to list are pinged, in one round.
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(100),
    ));
    let mut out_pings = pings(&out);
    out_pings.sort();
    let targets: Vec<&str> = out_pings.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(
        targets,
        vec![
            "alice@example.test/pc",
            "bob@example.test/pc",
            "carol@example.test/pc"
        ],
        "{out:?}"
    );
    assert_eq!(out.len(), 3, "nothing answered before the pings: {out:?}");
    assert!(sent(&core.handle(Input::Stanza(xml(&pong(&out_pings[0]))), t(100))).is_empty());
    assert!(sent(&core.handle(Input::Stanza(xml(&pong(&out_pings[1]))), t(100))).is_empty());
    // carol's session is gone: the server answers for her.
    let answers = sent(&core.handle(
        Input::Stanza(xml(&session_not_found(&out_pings[2]))),
        t(101),
    ));
    assert_eq!(answers.len(), 1, "{answers:?}");
    let listed: Vec<String> = items(&answers[0])
        .iter()
        .map(|r| r["jid"][0].clone())
        .collect();
    assert_eq!(listed, vec!["bob@example.test"]);
    assert_eq!(core.state().health.stats.presence_checks, 3);
    assert_eq!(core.state().health.stats.departures_found, 1);
    assert!(!matches!(
        core.state()
            .directory
            .seen_by_name("carol@example.test", 1_700_000_101),
        crate::directory::Seen::Online { .. }
    ));
    // Confirmed now: the next answer needs no ping.
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(102),
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(pings(&out).is_empty());
}

#[test]
fn a_resource_that_does_not_answer_in_time_is_left_out_and_not_pinged_again_within_the_interval() {
    let mut core = core_without_departures();
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(100),
    ));
    let out_pings = pings(&out);
    assert_eq!(out_pings.len(), 3);
    for p in out_pings.iter().filter(|(to, _)| !to.starts_with("bob")) {
        core.handle(Input::Stanza(xml(&pong(p))), t(100));
    }
    // bob's client never answers: the request is answered at the ping's timeout, without him.
    let answers = sent(&core.handle(Input::Tick, t(106)));
    assert_eq!(answers.len(), 1, "{answers:?}");
    let listed: Vec<String> = items(&answers[0])
        .iter()
        .map(|r| r["jid"][0].clone())
        .collect();
    assert_eq!(listed, vec!["carol@example.test"]);
    // Within the interval bob is not pinged again, and still left out.
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(107),
    ));
    assert!(pings(&out).is_empty(), "{out:?}");
    let listed: Vec<String> = items(&out[0]).iter().map(|r| r["jid"][0].clone()).collect();
    assert_eq!(listed, vec!["carol@example.test"]);
}

#[test]
fn a_ping_error_that_proves_nothing_neither_confirms_nor_removes_the_device() {
    let mut core = core_without_departures();
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(100),
    ));
    let out_pings = pings(&out);
    // alice answers; bob's client does not do XEP-0199 (service-unavailable, no word of a
    // session); carol's answer is lost on the way (remote-server-timeout).
    let mut answers = Vec::new();
    for p in &out_pings {
        let stanza = if p.0.starts_with("alice") {
            pong(p)
        } else {
            let condition = if p.0.starts_with("bob") {
                "service-unavailable"
            } else {
                "remote-server-timeout"
            };
            format!(
                "<iq xmlns='jabber:component:accept' type='error' id='{}' from='{}' to='game.example.test'>\
                 <error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
                p.1, p.0
            )
        };
        answers.extend(sent(&core.handle(Input::Stanza(xml(&stanza)), t(100))));
    }
    assert_eq!(answers.len(), 1);
    assert!(
        items(&answers[0]).is_empty(),
        "unconfirmed peers listed: {answers:?}"
    );
    // Neither was taken as gone: no departure counted, nothing written.
    assert_eq!(core.state().health.stats.departures_found, 0);
    assert_eq!(core.state().directory.pending_last_seen(), 0);
    // A device that is there but does not do pings says so with feature-not-implemented.
    let later = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(200),
    ));
    for p in pings(&later).iter().filter(|p| p.0.starts_with("bob")) {
        let stanza = format!(
            "<iq xmlns='jabber:component:accept' type='error' id='{}' from='{}' to='game.example.test'>\
             <error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
            p.1, p.0
        );
        core.handle(Input::Stanza(xml(&stanza)), t(200));
    }
    let bob = core.state().directory.id("bob@example.test").unwrap();
    assert!(core
        .state()
        .directory
        .unconfirmed(bob, 1_700_000_200)
        .is_empty());
}

#[test]
fn with_nothing_left_to_ping_a_request_is_answered_at_once_and_never_refused_as_busy() {
    let mut core = core_without_departures();
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(100),
    ));
    for p in pings(&out) {
        core.handle(Input::Stanza(xml(&pong(&p))), t(100));
    }
    // bob and carol go silent again past the interval, and their pings are lost.
    let out = sent(&core.handle(
        Input::Stanza(xml(&peers_request("alice@example.test"))),
        t(200),
    ));
    assert_eq!(pings(&out).len(), 3);
    let answered = sent(&core.handle(Input::Tick, t(206)));
    assert_eq!(answered.len(), 1);
    // Within the interval, far more requests than may wait at once are answered at once.
    for i in 0..2 * parked::MAX_PER_REQUESTER {
        let request = peers_request("alice@example.test").replace("id='q1'", &format!("id='r{i}'"));
        let out = sent(&core.handle(Input::Stanza(xml(&request)), t(207)));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].attr("type"), Some("result"), "{:?}", out[0]);
    }
    assert_eq!(core.state().health.stats.requests_refused_busy, 0);
}

/// The link found the server sending part of the component's stanzas elsewhere: the
/// bridge is not ready while that lasts, and `stats` says where they go.
#[test]
fn a_shared_route_makes_the_bridge_unready_while_it_lasts() {
    use std::sync::atomic::Ordering;
    let core = linked_core();
    let shared = |core: &Core| {
        let snapshot = core.snapshot(t(5));
        let route = snapshot
            .readings
            .iter()
            .find(|r| r.var == "route")
            .map(|r| format!("{:?}", r.value))
            .unwrap_or_default();
        let unready = snapshot
            .unready
            .iter()
            .any(|why| why.contains("to another connection, where they are lost"));
        (unready, route)
    };
    let alone = (false, "Text(\"this link alone\")".to_owned());
    assert_eq!(shared(&core), alone);
    let report = core.state().health.link_report.clone();
    report.route_shared.store(true, Ordering::Relaxed);
    assert_eq!(
        shared(&core),
        (
            true,
            "Text(\"this link and another connection\")".to_owned()
        )
    );
    report.route_shared.store(false, Ordering::Relaxed);
    assert_eq!(shared(&core), alone);
}
