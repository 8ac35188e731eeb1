//! Who may ask, and what they learn: actors from the registry, tokens, trusted domains
//! and public access; consent; the disclosure record, written and failing closed.

use std::time::Duration;

use super::tests::{
    ask, command, core_with, error_condition, iq, items, link_up, roster_result, sent, t, xml,
    PLATFORM,
};
use super::{Core, CoreConfig, Input};
use crate::config::ConsentPolicy;
use crate::rights::consent::Choice;
use crate::rights::token;
use crate::store::{AuditFilter, Store, Write};

fn status_request(from: &str, users: &[&str]) -> String {
    iq("set", from, &command("status", &[("jids", users)]))
}

/// The reply without what differs between two answers by design: the IQ id and the
/// command session id.
fn normalised(reply: &minidom::Element) -> String {
    let text = String::from(reply);
    let session = reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.attr("sessionid"))
        .unwrap_or("")
        .to_owned();
    text.replace(&session, "SESSION")
}

fn consent(store: &mut Store, user: &str, platform: Option<&str>, share: bool) {
    store
        .commit(&[Write::Consent(
            Choice {
                user: user.to_owned(),
                platform: platform.map(str::to_owned),
                share,
            },
            1,
        )])
        .unwrap();
}

fn opt_in(store: Store) -> Core {
    let mut core = core_with(store, |c: &mut CoreConfig| c.consent = ConsentPolicy::OptIn);
    link_up(&mut core);
    core
}

#[test]
fn a_user_who_has_not_agreed_looks_exactly_like_a_user_who_does_not_exist() {
    let mut store = Store::open_in_memory().unwrap();
    consent(
        &mut store,
        "bob@example.test",
        Some("game@example.test"),
        true,
    );
    let mut core = opt_in(store);
    // alice is online but never agreed; zed never existed.
    let alice = ask(
        &mut core,
        &status_request(PLATFORM, &["alice@example.test"]),
        t(10),
    );
    let zed = ask(
        &mut core,
        &status_request(PLATFORM, &["zed@example.test"]),
        t(10),
    );
    assert_eq!(
        normalised(&alice).replace("alice", "zed"),
        normalised(&zed),
        "an unconsenting user must be indistinguishable"
    );
    assert_eq!(items(&alice)[0]["availability"], vec!["unknown"]);
    assert!(items(&alice)[0]["rights"].is_empty());
    // bob agreed: he is reported, with the platform's rights.
    let bob = ask(
        &mut core,
        &status_request(PLATFORM, &["bob@example.test"]),
        t(10),
    );
    assert_eq!(items(&bob)[0]["availability"], vec!["chat"]);
    assert!(items(&bob)[0]["rights"].contains(&"attention".to_owned()));
}

#[test]
fn peers_never_lists_a_user_who_said_no_to_the_platform() {
    let mut store = Store::open_in_memory().unwrap();
    // Under opt-out everyone is visible, except carol2 who said no to this platform.
    consent(
        &mut store,
        "dave@example.test",
        Some("game@example.test"),
        false,
    );
    let mut core = core_with(store, |c| c.consent = ConsentPolicy::OptOut);
    link_up(&mut core);
    super::tests::presence(&mut core, "dave", Some("chat"), t(5));
    let request = iq(
        "set",
        PLATFORM,
        &command("peers", &[("jid", &["alice@example.test"])]),
    );
    let fetch = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    let id = fetch[0].attr("id").unwrap();
    let roster = roster_result(id, "alice", &[("bob", "both"), ("dave", "both")]);
    let out = sent(&core.handle(Input::Stanza(xml(&roster)), t(10)));
    let listed: Vec<String> = items(&out[0])
        .iter()
        .map(|row| row["jid"][0].clone())
        .collect();
    assert_eq!(listed, vec!["bob@example.test"]);
    // Asked about directly, dave is nobody: no roster is fetched for him.
    let request = iq(
        "set",
        PLATFORM,
        &command("peers", &[("jid", &["dave@example.test"])]),
    );
    let reply = ask(&mut core, &request, t(11));
    assert_eq!(reply.attr("type"), Some("result"));
    assert!(items(&reply).is_empty());
}

#[test]
fn disclosures_are_recorded_within_the_flush_delay_and_repeats_coalesce() {
    let mut store = Store::open_in_memory().unwrap();
    consent(&mut store, "bob@example.test", None, true);
    let mut core = opt_in(store);
    for i in 0..5 {
        ask(
            &mut core,
            &status_request(PLATFORM, &["bob@example.test", "alice@example.test"]),
            t(10) + Duration::from_millis(i),
        );
    }
    core.handle(Input::Tick, t(11));
    let record = core
        .state()
        .store
        .audit(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .unwrap();
    // bob, once; alice, who did not agree, was disclosed nothing.
    assert_eq!(record.len(), 1, "{record:?}");
    assert_eq!(
        (
            record[0].platform.as_str(),
            record[0].user.as_str(),
            record[0].command.as_str()
        ),
        ("game@example.test", "bob@example.test", "status")
    );
}

#[test]
fn when_the_record_cannot_be_written_disclosures_are_refused_and_the_rest_goes_on() {
    let mut store = Store::open_in_memory().unwrap();
    consent(&mut store, "bob@example.test", None, true);
    let mut core = opt_in(store);
    core.state.store.set_read_only(true);
    ask(
        &mut core,
        &status_request(PLATFORM, &["bob@example.test"]),
        t(10),
    );
    core.handle(Input::Tick, t(11));
    assert!(core.state().health.storage_failing_since.is_some());
    let refused = ask(
        &mut core,
        &status_request(PLATFORM, &["bob@example.test"]),
        t(12),
    );
    let (condition, text) = error_condition(&refused);
    assert_eq!(condition, "internal-server-error");
    assert!(text.contains("record"), "{text}");
    // Nothing disclosed, nothing to record: still answered.
    let nobody = ask(
        &mut core,
        &status_request(PLATFORM, &["zed@example.test"]),
        t(12),
    );
    assert_eq!(nobody.attr("type"), Some("result"));
    let ping = ask(
        &mut core,
        &iq("get", PLATFORM, "<ping xmlns='urn:xmpp:ping'/>"),
        t(12),
    );
    assert_eq!(ping.attr("type"), Some("result"));
    // Writable again: the first record is written at the retry, and answers resume.
    core.state.store.set_read_only(false);
    core.handle(Input::Tick, t(14));
    assert!(core.state().health.storage_failing_since.is_none());
    let answered = ask(
        &mut core,
        &status_request(PLATFORM, &["bob@example.test"]),
        t(15),
    );
    assert_eq!(answered.attr("type"), Some("result"));
    assert_eq!(core.state().health.stats.disclosures_refused, 1);
}

fn peers_from(
    core: &mut Core,
    from: &str,
    extra_field: &str,
    now: std::time::SystemTime,
) -> minidom::Element {
    let request = iq(
        "set",
        from,
        &format!(
            "<command xmlns='http://jabber.org/protocol/commands' node='status' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'>{extra_field}<field var='jids'><value>bob@example.test</value></field></x></command>"
        ),
    );
    ask(core, &request, now)
}

#[test]
fn a_platform_added_with_the_cli_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.sqlite");
    let mut core = core_with(Store::open(&path).unwrap(), |_| {});
    link_up(&mut core);
    const NEWCOMER: &str = "puzzle@example.test/bot";
    let before = peers_from(&mut core, NEWCOMER, "", t(10));
    assert_eq!(error_condition(&before).0, "forbidden");
    let cli = Store::open(&path).unwrap();
    crate::admin::add(
        &cli,
        &crate::admin::NewPlatform::authorized("puzzle@example.test"),
    )
    .unwrap();
    let after = peers_from(&mut core, NEWCOMER, "", t(11));
    assert_eq!(
        after.attr("type"),
        Some("result"),
        "{}",
        String::from(&after)
    );
    crate::admin::remove(&cli, "puzzle@example.test").unwrap();
    let removed = peers_from(&mut core, NEWCOMER, "", t(12));
    assert_eq!(error_condition(&removed).0, "forbidden");
}

#[test]
fn a_token_authorizes_whoever_carries_it_and_a_wrong_one_nobody() {
    let store = Store::open_in_memory().unwrap();
    let made = token::generate().unwrap();
    crate::admin::add(
        &store,
        &crate::admin::NewPlatform::authorized("arcade@example.test"),
    )
    .unwrap();
    store
        .add_token("arcade@example.test", &made.id, &made.hash, 1)
        .unwrap();
    let mut core = core_with(store, |_| {});
    link_up(&mut core);
    let field =
        |value: &str| format!("<field var='token' type='hidden'><value>{value}</value></field>");
    let server = "lobby@games.elsewhere.test/1";
    let ok = peers_from(&mut core, server, &field(&made.token), t(10));
    assert_eq!(ok.attr("type"), Some("result"), "{}", String::from(&ok));
    let wrong = made
        .token
        .replace(&made.token[made.token.len() - 4..], "0000");
    let refused = peers_from(&mut core, server, &field(&wrong), t(10));
    assert_eq!(error_condition(&refused).0, "forbidden");
    let none = peers_from(&mut core, server, "", t(10));
    assert_eq!(error_condition(&none).0, "forbidden");
}

#[test]
fn trusted_domains_are_authorized_and_public_platforms_only_where_the_operator_allows() {
    let mut core = core_with(Store::open_in_memory().unwrap(), |c| {
        c.access.trusted_domains = vec!["games.example.test".parse().unwrap()];
        c.access.public_platforms = true;
    });
    link_up(&mut core);
    let trusted = peers_from(&mut core, "games.example.test", "", t(10));
    assert!(items(&trusted)[0]["rights"].contains(&"launch".to_owned()));
    let public = peers_from(&mut core, "stranger@else.test/x", "", t(10));
    assert_eq!(items(&public)[0]["rights"], vec!["open-url"]);
    let mut closed = core_with(Store::open_in_memory().unwrap(), |_| {});
    link_up(&mut closed);
    let refused = peers_from(&mut closed, "stranger@else.test/x", "", t(10));
    assert_eq!(error_condition(&refused).0, "forbidden");
}
