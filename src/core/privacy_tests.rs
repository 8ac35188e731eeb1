//! Who may ask, and what they learn: actors from the registry, tokens, trusted domains
//! and public access; consent; the disclosure record, written and failing closed.

use std::time::Duration;

use super::tests::{
    ask, command, consent, core_with, error_condition, iq, items, link_up, roster_result, sent, t,
    xml, PLATFORM,
};
use super::{Core, Input};
use crate::config::ConsentPolicy;
use crate::rights::token;
use crate::store::{AuditFilter, Store};

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

fn opt_in(store: Store) -> Core {
    let mut core = core_with(store, |c: &mut super::tests::Bed| {
        c.consent = ConsentPolicy::OptIn
    });
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
    assert!(items(&bob)[0]["rights"][0].contains("attention"));
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
    assert!(items(&trusted)[0]["rights"][0].contains("launch"));
    let public = peers_from(&mut core, "stranger@else.test/x", "", t(10));
    assert_eq!(items(&public)[0]["rights"], vec!["open-url"]);
    let mut closed = core_with(Store::open_in_memory().unwrap(), |_| {});
    link_up(&mut closed);
    let refused = peers_from(&mut closed, "stranger@else.test/x", "", t(10));
    assert_eq!(error_condition(&refused).0, "forbidden");
}

#[test]
fn a_user_names_any_platform_that_may_ask_by_its_jid() {
    let store = Store::open_in_memory().unwrap();
    let mut core = core_with(store, |c| {
        c.consent = crate::rights::consent::ConsentPolicy::OptIn;
        c.access.trusted_domains = vec!["games.example.test".parse().unwrap()];
    });
    link_up(&mut core);
    // Before it asked: the user may name it already, but is not shown it.
    assert!(!say(&mut core, "privacy", t(10)).contains("games.example.test"));
    let reply = say(&mut core, "share games.example.test", t(11));
    assert!(
        reply.starts_with("games.example.test may now see you."),
        "{reply}"
    );
    let status_of_alice = |core: &mut Core, now| {
        let request = iq(
            "set",
            "games.example.test",
            "<command xmlns='http://jabber.org/protocol/commands' node='status' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='jids'><value>alice@example.test</value></field></x></command>",
        );
        items(&ask(core, &request, now))[0]["availability"][0].clone()
    };
    assert_eq!(status_of_alice(&mut core, t(12)), "available");
    let reply = say(&mut core, "stop games.example.test", t(13));
    assert!(
        reply.starts_with("games.example.test no longer sees you."),
        "{reply}"
    );
    assert_eq!(status_of_alice(&mut core, t(13)), "unknown");
    // It asked: every user sees it in their privacy now, and after a restart.
    let privacy = say(&mut core, "privacy", t(14));
    let not = privacy
        .split("Platforms that do not:")
        .nth(1)
        .unwrap_or_default();
    assert!(
        not.split('.').next().unwrap_or_default().contains("games"),
        "{privacy}"
    );
    // Not a platform under this policy: a public one, a domain not trusted.
    for word in ["pubbot@example.test", "other.example.test"] {
        let reply = say(&mut core, &format!("share {word}"), t(15));
        assert!(
            reply.contains("there is no platform called"),
            "{word}: {reply}"
        );
    }
    core.handle(Input::Tick, t(20));
    let store = core
        .into_store(&mut crate::core::Outbox::new(1 << 20))
        .unwrap();
    let mut again = core_with(store, |c| {
        c.consent = crate::rights::consent::ConsentPolicy::OptIn;
        c.access.trusted_domains = vec!["games.example.test".parse().unwrap()];
    });
    link_up(&mut again);
    let privacy = say(&mut again, "privacy", t(30));
    assert!(privacy.contains("games.example.test"), "{privacy}");
}

/// alice says `text` to the component; the one chat reply's body.
fn say(core: &mut Core, text: &str, now: std::time::SystemTime) -> String {
    let message = format!(
        "<message xmlns='jabber:component:accept' type='chat' from='alice@example.test/pc' to='game.example.test'><body>{text}</body></message>"
    );
    let reply = ask(core, &message, now);
    assert_eq!(reply.name(), "message");
    assert_eq!(reply.attr("type"), Some("chat"));
    assert_eq!(reply.attr("to"), Some("alice@example.test/pc"));
    reply
        .get_child("body", "jabber:component:accept")
        .map(|b| b.text())
        .unwrap_or_default()
}

fn availability_of(core: &mut Core, user: &str, now: std::time::SystemTime) -> String {
    let reply = ask(core, &status_request(PLATFORM, &[user]), now);
    items(&reply)[0]["availability"][0].clone()
}

#[test]
fn a_user_shares_and_stops_sharing_with_chat_words() {
    let mut core = opt_in(Store::open_in_memory().unwrap());
    assert_eq!(
        availability_of(&mut core, "alice@example.test", t(10)),
        "unknown"
    );
    let reply = say(&mut core, "share game", t(11));
    assert!(reply.starts_with("game may now see you."), "{reply}");
    assert_eq!(
        availability_of(&mut core, "alice@example.test", t(12)),
        "available"
    );
    let reply = say(&mut core, "STOP Game", t(13));
    assert_eq!(
        reply,
        "game no longer sees you. Say \"share game\" to undo."
    );
    let reply = say(&mut core, "stop game", t(13));
    assert_eq!(reply, "game already does not see you.");
    assert_eq!(
        availability_of(&mut core, "alice@example.test", t(14)),
        "unknown"
    );
    let reply = say(&mut core, "share all", t(15));
    assert_eq!(
        reply,
        "Every platform may now see you. Say \"share none\" to undo."
    );
    let reply = say(&mut core, "share all", t(15));
    assert_eq!(reply, "Every platform already sees you.");
    // The choice is stored: a restart keeps it.
    assert_eq!(
        core.state().store.consents().unwrap(),
        vec![("alice@example.test".to_owned(), "*".to_owned(), true)]
    );
    let reply = say(&mut core, "share nobody-here", t(16));
    assert!(
        reply.contains("there is no platform called nobody-here here"),
        "{reply}"
    );
    core.handle(Input::Tick, t(17));
    let history = say(&mut core, "history", t(18));
    assert!(
        history.contains("\n- game saw your status, just now"),
        "the platform's look is in the history, in plain words: {history}"
    );
    let later = say(&mut core, "history", t(18 + 3 * 3600));
    assert!(later.contains("game saw your status, 3 h ago"), "{later}");
    // The other replies do not repeat it.
    let privacy = say(&mut core, "privacy", t(19));
    assert!(!privacy.contains("saw your status"), "{privacy}");
    assert!(
        privacy.ends_with("Say \"history\" to see who looked at you."),
        "{privacy}"
    );
}

#[test]
fn a_self_defined_status_outlives_presence_and_says_who_set_it() {
    let mut store = Store::open_in_memory().unwrap();
    consent(&mut store, "alice@example.test", None, true);
    let mut core = opt_in(store);
    let reply = say(&mut core, "status On a trip in Nanjing", t(10));
    assert!(
        reply.starts_with("Your status is now \"On a trip in Nanjing\""),
        "{reply}"
    );
    let row = &items(&ask(
        &mut core,
        &status_request(PLATFORM, &["alice@example.test"]),
        t(11),
    ))[0];
    assert_eq!(row["self-status"], vec!["On a trip in Nanjing"]);
    assert_eq!(row["self-status-by"], vec!["alice@example.test"]);
    assert_eq!(
        row["status"],
        Vec::<String>::new(),
        "kept apart from presence texts"
    );
    let long = "x".repeat(201);
    let refused = say(&mut core, &format!("status {long}"), t(12));
    assert!(
        refused.contains("\"status\" is 201 characters"),
        "{refused}"
    );
    assert!(say(&mut core, "status clear", t(13)).starts_with("Your status is cleared"));
    let row = &items(&ask(
        &mut core,
        &status_request(PLATFORM, &["alice@example.test"]),
        t(14),
    ))[0];
    assert!(row["self-status"].is_empty());
}

#[test]
fn help_lists_the_words_and_an_unknown_word_is_answered_kindly() {
    let mut core = opt_in(Store::open_in_memory().unwrap());
    let help = say(&mut core, "help", t(10));
    for word in ["share all", "stop <platform>", "status <text>", "history"] {
        assert!(help.contains(word), "{word} missing from {help}");
    }
    let unknown = say(&mut core, "frobnicate now", t(10));
    assert!(
        unknown.starts_with("I do not know \"frobnicate\""),
        "{unknown}"
    );
    // Someone of another server gets no answer at all.
    let stranger = "<message xmlns='jabber:component:accept' type='chat' from='eve@else.test/x' to='game.example.test'><body>help</body></message>";
    assert!(sent(&core.handle(Input::Stanza(xml(stranger)), t(11))).is_empty());
}

#[test]
fn the_privacy_form_does_what_the_words_do() {
    let mut core = opt_in(Store::open_in_memory().unwrap());
    let blank = ask(
        &mut core,
        &iq(
            "set",
            "alice@example.test/pc",
            "<command xmlns='http://jabber.org/protocol/commands' node='privacy' action='execute'/>",
        ),
        t(10),
    );
    let command = blank
        .get_child("command", crate::xep::commands::NS)
        .unwrap();
    let session = command.attr("sessionid").unwrap().to_owned();
    let form = String::from(command.get_child("x", "jabber:x:data").unwrap());
    assert!(form.contains("<value>game@example.test</value>"), "{form}");
    let submit = iq(
        "set",
        "alice@example.test/pc",
        &format!(
            "<command xmlns='http://jabber.org/protocol/commands' node='privacy' sessionid='{session}'>\
             <x xmlns='jabber:x:data' type='submit'><field var='share'><value>game@example.test</value></field></x></command>"
        ),
    );
    let done = ask(&mut core, &submit, t(11));
    let note = done
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("note", crate::xep::commands::NS))
        .unwrap()
        .text();
    assert!(note.starts_with("game may now see you."), "{note}");
    assert_eq!(
        availability_of(&mut core, "alice@example.test", t(12)),
        "available"
    );
}

#[test]
fn a_form_with_nothing_to_fill_completes_at_once_and_a_platform_gets_the_fields_it_left_out() {
    let mut core = opt_in(Store::open_in_memory().unwrap());
    let execute = |node: &str| {
        format!(
            "<command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'/>"
        )
    };
    // Nothing waits for alice: no empty form to close, only the note.
    let reply = ask(
        &mut core,
        &iq("set", "alice@example.test/pc", &execute("invitations")),
        t(10),
    );
    let command = reply
        .get_child("command", "http://jabber.org/protocol/commands")
        .expect("a command");
    assert_eq!(
        command.attr("status"),
        Some("completed"),
        "{}",
        String::from(&reply)
    );
    let note = command.get_child("note", "http://jabber.org/protocol/commands");
    assert_eq!(
        note.map(|n| n.text()).as_deref(),
        Some("No game invitation is waiting for you.")
    );
    // A platform trying nodes from a chat client gets a form asking for their inputs.
    for (node, wanted) in [
        ("open-url", ["jid", "url"]),
        ("request-consent", ["jid", "reason"]),
    ] {
        let reply = ask(&mut core, &iq("set", PLATFORM, &execute(node)), t(11));
        let command = reply
            .get_child("command", "http://jabber.org/protocol/commands")
            .expect("a command");
        assert_eq!(
            command.attr("status"),
            Some("executing"),
            "{}",
            String::from(&reply)
        );
        let form = command.get_child("x", "jabber:x:data").expect("a form");
        let vars: Vec<&str> = form
            .children()
            .filter(|f| f.name() == "field" && f.attr("type") != Some("hidden"))
            .filter_map(|f| f.attr("var"))
            .collect();
        for var in wanted {
            assert!(
                vars.contains(&var),
                "{node}: no {var} in {}",
                String::from(form)
            );
        }
        assert!(form.get_child("instructions", "jabber:x:data").is_some());
    }
}

#[test]
fn a_user_reads_the_bridge_in_the_language_of_their_client() {
    let mut core = opt_in(Store::open_in_memory().unwrap());
    let presence = "<presence xmlns='jabber:component:accept' xml:lang='fr' from='alice@example.test/pc' to='game.example.test'/>";
    core.handle(Input::Stanza(xml(presence)), t(9));
    assert_eq!(
        say(&mut core, "share all", t(10)),
        "Toutes les plateformes peuvent maintenant vous voir. Dites « share none » pour annuler."
    );
    assert_eq!(
        say(&mut core, "share all", t(11)),
        "Toutes les plateformes vous voient déjà."
    );
    assert!(say(&mut core, "help", t(12)).starts_with("Je suis la passerelle de jeux."));
    assert!(say(&mut core, "history", t(13)).starts_with("Aucune plateforme ne vous a regardé"));
    assert!(say(&mut core, "frobnicate", t(14)).starts_with("Je ne connais pas « frobnicate »."));
    // The forms, and the answers to them: titles and labels in French too.
    let reply = ask(
        &mut core,
        &iq(
            "set",
            "alice@example.test/pc",
            "<command xmlns='http://jabber.org/protocol/commands' node='my-status' action='execute'/>",
        ),
        t(15),
    );
    let text = String::from(&reply);
    assert!(
        text.contains("<title>Votre statut de jeu</title>"),
        "{text}"
    );
    let session = reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.attr("sessionid"))
        .unwrap()
        .to_owned();
    let done = ask(
        &mut core,
        &iq(
            "set",
            "alice@example.test/pc",
            &format!(
                "<command xmlns='http://jabber.org/protocol/commands' node='my-status' sessionid='{session}'>\
                 <x xmlns='jabber:x:data' type='submit'><field var='status'><value>Up for chess</value></field></x></command>"
            ),
        ),
        t(16),
    );
    let text = String::from(&done);
    assert!(text.contains("status='completed'"), "{text}");
    for french in [
        "<title>Votre statut de jeu</title>",
        "label='Statut'",
        "label='Défini par'",
    ] {
        assert!(text.contains(french), "{french} missing from {text}");
    }
}
