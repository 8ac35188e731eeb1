//! The command pipeline driven through the core: XEP-0050 sessions, nodes declared in
//! one file, continuations that resume once, and effects sent only after a commit.

use super::super::tests::{
    ask, core, error_condition, iq, linked_core, roster_result, sent, t, xml, ADMIN, ALICE,
};
use super::super::{Input, Output};
use crate::commands::NODES;
use minidom::Element;

const NS: &str = "http://jabber.org/protocol/commands";

/// A command step from alice: `node`, an optional session id and action, and fields
/// (`None`: no form at all).
fn step(
    node: &str,
    session: Option<&str>,
    action: Option<&str>,
    fields: Option<&[(&str, &str)]>,
) -> String {
    let session = session
        .map(|s| format!(" sessionid='{s}'"))
        .unwrap_or_default();
    let action = action.map(|a| format!(" action='{a}'")).unwrap_or_default();
    let form = fields
        .map(|fields| {
            let fields: String = fields
                .iter()
                .map(|(var, value)| format!("<field var='{var}'><value>{value}</value></field>"))
                .collect();
            format!("<x xmlns='jabber:x:data' type='submit'>{fields}</x>")
        })
        .unwrap_or_default();
    iq(
        "set",
        ALICE,
        &format!("<command xmlns='{NS}' node='{node}'{session}{action}>{form}</command>"),
    )
}

fn command(reply: &Element) -> &Element {
    reply
        .get_child("command", NS)
        .unwrap_or_else(|| panic!("no command in {}", String::from(reply)))
}

fn specific(reply: &Element) -> Option<String> {
    reply
        .get_child("error", "jabber:component:accept")?
        .children()
        .find(|c| c.ns() == NS)
        .map(|c| c.name().to_owned())
}

/// Starts the echo command at t(1) and returns its session id.
fn start_echo(core: &mut super::super::Core) -> String {
    let reply = ask(core, &step("test-echo", None, None, None), t(1));
    let command = command(&reply);
    assert_eq!(command.attr("status"), Some("executing"));
    command.attr("sessionid").unwrap().to_owned()
}

#[test]
fn a_node_declared_in_one_file_is_listed_described_and_run() {
    assert!(NODES.iter().any(|n| n.node == "test-echo"));
    let mut core = core();
    let items = ask(
        &mut core,
        &iq(
            "get",
            ALICE,
            "<query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/>",
        ),
        t(1),
    );
    let listed: Vec<&str> = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .unwrap()
        .children()
        .filter_map(|i| i.attr("node"))
        .collect();
    // alice, a user, sees the users' nodes and the test nodes anyone may run; no
    // platform's and no operator's.
    assert_eq!(
        listed,
        vec![
            "privacy",
            "privacy-page",
            "my-status",
            "answer",
            "invitations",
            "mute",
            "test-echo",
            "test-remember"
        ]
    );
    let info = ask(
        &mut core,
        &iq(
            "get",
            ALICE,
            "<query xmlns='http://jabber.org/protocol/disco#info' node='test-echo'/>",
        ),
        t(1),
    );
    let identity = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .and_then(|q| q.get_child("identity", "http://jabber.org/protocol/disco#info"))
        .unwrap();
    assert_eq!(identity.attr("name"), Some("Echo (test)"));
    let reply = ask(
        &mut core,
        &step("test-echo", None, None, Some(&[("word", "hi")])),
        t(1),
    );
    assert_eq!(command(&reply).attr("status"), Some("completed"));
}

#[test]
fn two_steps_complete_with_the_submitted_form_and_a_summary_first() {
    let mut core = core();
    let id = start_echo(&mut core);
    let done = ask(
        &mut core,
        &step("test-echo", Some(&id), None, Some(&[("word", "hello")])),
        t(2),
    );
    let command = command(&done);
    assert_eq!(command.attr("status"), Some("completed"));
    assert_eq!(command.attr("sessionid"), Some(id.as_str()));
    let note = command.get_child("note", NS).unwrap();
    assert_eq!(note.text(), "you said hello");
    let form = command.get_child("x", "jabber:x:data").unwrap();
    let echo = form
        .children()
        .find(|f| f.attr("var") == Some("echo"))
        .unwrap();
    assert_eq!(echo.attr("type"), Some("text-single"));
    assert_eq!(echo.attr("label"), Some("Echo"));
    assert_eq!(echo.children().next().unwrap().text(), "hello");
}

#[test]
fn cancel_ends_the_session() {
    let mut core = core();
    let id = start_echo(&mut core);
    let canceled = ask(
        &mut core,
        &step("test-echo", Some(&id), Some("cancel"), None),
        t(2),
    );
    assert_eq!(command(&canceled).attr("status"), Some("canceled"));
    let again = ask(
        &mut core,
        &step("test-echo", Some(&id), None, Some(&[("word", "x")])),
        t(3),
    );
    assert_eq!(specific(&again).as_deref(), Some("bad-sessionid"));
}

#[test]
fn an_action_not_offered_is_bad_action_and_keeps_the_session() {
    let mut core = core();
    let id = start_echo(&mut core);
    let refused = ask(
        &mut core,
        &step("test-echo", Some(&id), Some("next"), None),
        t(2),
    );
    assert_eq!(specific(&refused).as_deref(), Some("bad-action"));
    let done = ask(
        &mut core,
        &step(
            "test-echo",
            Some(&id),
            Some("complete"),
            Some(&[("word", "x")]),
        ),
        t(3),
    );
    assert_eq!(command(&done).attr("status"), Some("completed"));
}

#[test]
fn a_refused_submission_keeps_the_session_for_a_corrected_one() {
    let mut core = core();
    let id = start_echo(&mut core);
    let refused = ask(
        &mut core,
        &step("test-echo", Some(&id), None, Some(&[])),
        t(2),
    );
    let (condition, text) = error_condition(&refused);
    assert_eq!(condition, "bad-request");
    assert!(text.contains("\"word\""), "{text}");
    let done = ask(
        &mut core,
        &step("test-echo", Some(&id), None, Some(&[("word", "x")])),
        t(3),
    );
    assert_eq!(command(&done).attr("status"), Some("completed"));
}

#[test]
fn an_idle_session_expires_and_says_so() {
    let mut core = core();
    let id = start_echo(&mut core);
    // The test core keeps sessions 600 s.
    let late = ask(
        &mut core,
        &step("test-echo", Some(&id), None, Some(&[("word", "x")])),
        t(602),
    );
    assert_eq!(specific(&late).as_deref(), Some("session-expired"));
    assert_eq!(error_condition(&late).0, "not-allowed");
}

#[test]
fn another_resource_cannot_continue_the_session() {
    let mut core = core();
    let id = start_echo(&mut core);
    let phone = step("test-echo", Some(&id), None, Some(&[("word", "x")]))
        .replace(ALICE, "alice@example.test/phone");
    let reply = ask(&mut core, &phone, t(2));
    assert_eq!(specific(&reply).as_deref(), Some("bad-sessionid"));
}

#[test]
fn next_without_a_session_is_bad_sessionid_and_an_unknown_node_item_not_found() {
    let mut core = core();
    let reply = ask(
        &mut core,
        &step("test-echo", None, Some("next"), None),
        t(1),
    );
    assert_eq!(specific(&reply).as_deref(), Some("bad-sessionid"));
    let reply = ask(&mut core, &step("nope", None, None, None), t(1));
    assert_eq!(error_condition(&reply).0, "item-not-found");
}

#[test]
fn stats_is_for_operators_only() {
    let mut core = core();
    let reply = ask(&mut core, &step("stats", None, None, None), t(1));
    let (condition, text) = error_condition(&reply);
    assert_eq!(condition, "forbidden");
    assert!(text.contains("operators"), "{text}");
    let reply = ask(
        &mut core,
        &step("stats", None, None, None).replace(ALICE, ADMIN),
        t(1),
    );
    assert_eq!(command(&reply).attr("status"), Some("completed"));
}

fn messages(out: &[Element]) -> usize {
    out.iter().filter(|el| el.name() == "message").count()
}

fn results(out: &[Element]) -> Vec<&Element> {
    out.iter()
        .filter(|el| el.name() == "iq" && el.attr("type") == Some("result"))
        .collect()
}

#[test]
fn a_continuation_resumes_exactly_once_and_its_effects_go_out_after_the_answer() {
    let mut core = linked_core();
    let request = step(
        "test-remember",
        None,
        None,
        Some(&[("user", "alice@example.test")]),
    );
    let first = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    assert_eq!(first.len(), 1, "only the roster fetch: {first:?}");
    let fetch_id = first[0].attr("id").unwrap().to_owned();
    // A second request for the same roster waits for the same fetch.
    let second = sent(&core.handle(Input::Stanza(xml(&request.replace("q1", "q2"))), t(10)));
    assert!(second.is_empty(), "{second:?}");
    let roster = roster_result(&fetch_id, "alice", &[("bob", "both")]);
    let out = sent(&core.handle(Input::Stanza(xml(&roster)), t(11)));
    assert_eq!(results(&out).len(), 2, "{out:?}");
    assert_eq!(messages(&out), 2, "one message per request: {out:?}");
    // The answer comes before the message it caused.
    assert_eq!(out[0].name(), "iq");
    assert_eq!(
        core.state().store.meta("remembered").unwrap().as_deref(),
        Some("alice@example.test")
    );
    // The same reply again resumes nothing.
    let out = sent(&core.handle(Input::Stanza(xml(&roster)), t(12)));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn nothing_is_sent_for_a_change_that_was_not_stored() {
    let mut core = linked_core();
    core.state.store.set_read_only(true);
    let request = step(
        "test-remember",
        None,
        None,
        Some(&[("user", "alice@example.test")]),
    );
    let first = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    let fetch_id = first[0].attr("id").unwrap().to_owned();
    let out: Vec<Output> = core.handle(
        Input::Stanza(xml(&roster_result(&fetch_id, "alice", &[]))),
        t(11),
    );
    let out = sent(&out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(messages(&out), 0);
    assert_eq!(error_condition(&out[0]).0, "internal-server-error");
    assert_eq!(core.state().health.stats.storage_failures, 1);
}
