//! Answer shapes through the core: the compact payload next to the form, and the
//! stanza limit's guard.

use super::tests::*;
use super::*;
use crate::commands::render::COMPACT_NS;

fn compact_payload<'a>(reply: &'a Element, name: &str) -> &'a Element {
    reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child(name, COMPACT_NS))
        .unwrap_or_else(|| panic!("no compact <{name}/> in {}", String::from(reply)))
}

/// alice's peers asked with `fields`, her roster (bob and carol mutual) fetched.
fn peers_with(core: &mut Core, fields: &[(&str, &[&str])], id: &str) -> Element {
    let request =
        iq("set", PLATFORM, &command("peers", fields)).replace("'q1'", &format!("'{id}'"));
    let out = sent(&core.handle(Input::Stanza(xml(&request)), t(10)));
    let fetch = out
        .iter()
        .find(|el| el.has_child("query", ns::ROSTER))
        .cloned();
    let Some(fetch) = fetch else {
        return out.into_iter().next().unwrap();
    };
    let roster = roster_result(
        fetch.attr("id").unwrap(),
        "alice",
        &[("bob", "both"), ("carol", "both"), ("dave", "to")],
    );
    let answers = sent(&core.handle(Input::Stanza(xml(&roster)), t(11)));
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.into_iter().next().unwrap()
}

#[test]
fn a_compact_peers_answer_carries_what_the_form_does_in_one_element_per_peer() {
    let mut core = linked_core();
    // bob says something in his status, with markup in it.
    let stanza = "<presence xmlns='jabber:component:accept' from='bob@example.test/pc' to='game.example.test'>\
        <show>chat</show><status>up for a game &amp; a &lt;chat&gt;</status></presence>";
    core.handle(Input::Stanza(xml(stanza)), t(5));
    let compact = peers_with(
        &mut core,
        &[("jid", &["alice@example.test"]), ("format", &["compact"])],
        "c1",
    );
    let form = peers_with(&mut core, &[("jid", &["alice@example.test"])], "f1");

    let command = compact
        .get_child("command", crate::xep::commands::NS)
        .unwrap();
    assert_eq!(command.attr("status"), Some("completed"));
    assert!(
        command.get_child("x", "jabber:x:data").is_none(),
        "a form too"
    );
    let peers = compact_payload(&compact, "peers");
    assert_eq!(peers.attr("jid"), Some("alice@example.test"));
    assert_eq!(peers.attr("availability"), Some("available"));
    assert_eq!(peers.attr("tier"), Some("presence"));
    let listed: Vec<&Element> = peers.children().collect();
    assert_eq!(listed.len(), 1, "{}", String::from(peers));
    let bob = listed[0];
    assert_eq!(bob.name(), "peer");
    assert_eq!(bob.text(), "up for a game & a <chat>");
    // The same facts as the form's row, the tier and empty values aside.
    let rows = items(&form);
    for (attr, var) in [
        ("jid", "jid"),
        ("availability", "availability"),
        ("last-activity", "last-activity"),
    ] {
        assert_eq!(
            bob.attr(attr)
                .map(str::to_owned)
                .into_iter()
                .collect::<Vec<_>>(),
            rows[0][var],
            "{attr}"
        );
    }
    assert_eq!(rows[0]["status"], vec![bob.text()]);
    // A peer with the user's rights says so by giving none of its own.
    assert_eq!(bob.attr("rights"), None);
    assert_eq!(rows[0]["rights"], vec![peers.attr("rights").unwrap()]);
    assert_eq!(bob.attr("remote"), None, "an empty value is left out");
    assert_eq!(rows[0]["remote"], vec!["0"]);
    assert_eq!(
        form_field(&form, "rights"),
        vec![peers.attr("rights").unwrap()]
    );
    assert!(
        String::from(&compact).len() * 2 < String::from(&form).len(),
        "compact {} bytes, form {}",
        String::from(&compact).len(),
        String::from(&form).len()
    );
}

#[test]
fn a_compact_status_answer_has_one_user_element_each() {
    let mut core = linked_core();
    let request = iq(
        "set",
        PLATFORM,
        &command(
            "status",
            &[
                (
                    "jids",
                    &[
                        "alice@example.test",
                        "carol@example.test",
                        "nobody@example.test",
                        "zoe@elsewhere.example",
                    ],
                ),
                ("format", &["compact"]),
            ],
        ),
    );
    let reply = ask(&mut core, &request, t(10));
    let users: Vec<&Element> = compact_payload(&reply, "users").children().collect();
    let jids: Vec<&str> = users.iter().filter_map(|u| u.attr("jid")).collect();
    assert_eq!(
        jids,
        [
            "alice@example.test",
            "carol@example.test",
            "nobody@example.test",
            "zoe@elsewhere.example"
        ]
    );
    let availability: Vec<&str> = users
        .iter()
        .filter_map(|u| u.attr("availability"))
        .collect();
    assert_eq!(availability, ["available", "away", "unknown", "unknown"]);
    assert_eq!(users[3].attr("served"), Some("0"));
    assert_eq!(users[0].attr("served"), None);
    let root = compact_payload(&reply, "users");
    assert!(
        root.attr("rights").is_some_and(|r| r.contains("invite")),
        "{}",
        String::from(root)
    );
    assert_eq!(
        users[0].attr("rights"),
        None,
        "the usual rights are the root's"
    );
    assert_eq!(users[3].attr("rights"), Some("none"));
    assert_eq!(users[0].attr("last-seen"), None, "online: no last-seen");
}

#[test]
fn an_unknown_format_is_a_bad_request_that_says_what_is_understood() {
    let mut core = linked_core();
    let request = iq(
        "set",
        PLATFORM,
        &command(
            "peers",
            &[("jid", &["alice@example.test"]), ("format", &["json"])],
        ),
    );
    let reply = ask(&mut core, &request, t(10));
    let (condition, text) = error_condition(&reply);
    assert_eq!(condition, "bad-request");
    assert!(
        text.contains("\"form\" or \"compact\"") && text.contains("json"),
        "{text}"
    );
}

#[test]
fn an_answer_over_the_stanza_limit_becomes_resource_constraint_and_is_counted() {
    let mut core = core_with(Store::open_in_memory().unwrap(), |c| {
        c.max_stanza_bytes = 700
    });
    link_up(&mut core);
    let request = iq("set", ADMIN, &command("stats", &[]));
    let reply = ask(&mut core, &request, t(10));
    let (condition, text) = error_condition(&reply);
    assert_eq!(condition, "resource-constraint");
    assert!(text.contains("larger than the bridge may send"), "{text}");
    assert_eq!(core.state().health.stats.stanzas_oversized, 1);
}

#[test]
fn a_platform_registered_for_compact_answers_gets_them_unless_it_asks_for_the_form() {
    let mut core = core_with(Store::open_in_memory().unwrap(), |c| {
        c.platforms[0].answers = Some("compact".to_owned());
    });
    link_up(&mut core);
    let by_default = iq(
        "set",
        PLATFORM,
        &command("status", &[("jids", &["alice@example.test"])]),
    );
    compact_payload(&ask(&mut core, &by_default, t(10)), "users");
    let form = iq(
        "set",
        PLATFORM,
        &command(
            "status",
            &[("jids", &["alice@example.test"]), ("format", &["form"])],
        ),
    );
    let asked = ask(&mut core, &form, t(10));
    let rows = items(&asked);
    assert_eq!(rows[0]["jid"], vec!["alice@example.test"]);
}

#[test]
fn the_registry_keeps_a_platforms_answers_and_refuses_other_words() {
    let store = Store::open_in_memory().unwrap();
    crate::admin::add(
        &store,
        &crate::admin::NewPlatform::authorized("p@example.test"),
    )
    .unwrap();
    let updated = crate::admin::set_answers(&store, "p@example.test", "compact").unwrap();
    assert!(updated.contains("answers as compact"), "{updated}");
    let record = store.platform("p@example.test").unwrap().unwrap();
    assert_eq!(record.answers.as_deref(), Some("compact"));
    let refused = crate::admin::set_answers(&store, "p@example.test", "json").unwrap_err();
    assert!(refused.contains("\"form\" or \"compact\""), "{refused}");
    crate::admin::set_answers(&store, "p@example.test", "form").unwrap();
    let record = store.platform("p@example.test").unwrap().unwrap();
    assert_eq!(record.answers, None);
}
