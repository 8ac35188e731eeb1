//! The executable rights, driven through the core: what the user receives, what the
//! platform is told, and what is refused.

use super::tests::{
    ask, consent, core_with, error_condition, iq, items, link_up, sent, t, xml, PLATFORM,
};
use super::{Core, Input};
use crate::config::ConsentPolicy;
use crate::store::{AuditFilter, Store};
use minidom::Element;

/// A core (opt-in) where bob (online, chat), carol (online, away) and dave (offline)
/// share with every platform and alice (online) with none; the platform `game` may
/// launch `steam` URIs, and `puzzle` is an unauthorized platform.
fn bed() -> Core {
    let mut store = Store::open_in_memory().unwrap();
    for user in [
        "bob@example.test",
        "carol@example.test",
        "dave@example.test",
    ] {
        consent(&mut store, user, None, true);
    }
    let mut core = core_with(store, |c| {
        c.consent = ConsentPolicy::OptIn;
        c.platforms[0].launch_schemes = vec!["steam".to_owned()];
        c.platforms.push(crate::admin::NewPlatform {
            authorized: false,
            ..crate::admin::NewPlatform::authorized("puzzle@example.test")
        });
    });
    link_up(&mut core);
    core
}

fn run(
    core: &mut Core,
    from: &str,
    node: &str,
    fields: &[(&str, &str)],
    now: std::time::SystemTime,
) -> Vec<Element> {
    let fields: String = fields
        .iter()
        .map(|(var, value)| format!("<field var='{var}'><value>{value}</value></field>"))
        .collect();
    let request = iq(
        "set",
        from,
        &format!(
            "<command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'>{fields}</x></command>"
        ),
    );
    sent(&core.handle(Input::Stanza(xml(&request)), now))
}

fn result_of(reply: &Element) -> String {
    let form = reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .unwrap_or_else(|| panic!("no form in {}", String::from(reply)));
    form.children()
        .find(|f| f.attr("var") == Some("result"))
        .map(|f| f.children().map(|v| v.text()).collect())
        .unwrap_or_default()
}

fn body(message: &Element) -> String {
    message
        .get_child("body", "jabber:component:accept")
        .map(|b| b.text())
        .unwrap_or_default()
}

#[test]
fn open_url_sends_text_and_out_of_band_data_and_is_recorded() {
    let mut core = bed();
    let out = run(
        &mut core,
        PLATFORM,
        "open-url",
        &[
            ("jid", "bob@example.test"),
            ("url", "https://play.example.test/j/abc"),
            ("text", "your match"),
        ],
        t(10),
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(result_of(&out[0]), "delivered");
    let message = &out[1];
    assert_eq!(message.attr("to"), Some("bob@example.test"));
    assert_eq!(message.attr("from"), Some("game.example.test"));
    assert_eq!(
        body(message),
        "game suggests a page: your match\nhttps://play.example.test/j/abc"
    );
    let oob = message.get_child("x", "jabber:x:oob").unwrap();
    assert_eq!(
        oob.get_child("url", "jabber:x:oob").unwrap().text(),
        "https://play.example.test/j/abc"
    );
    core.handle(Input::Tick, t(11));
    let record = core
        .state()
        .store
        .audit(&AuditFilter {
            user: Some("bob@example.test".into()),
            limit: 5,
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(record[0].command, "open-url");
}

#[test]
fn an_unauthorized_platform_may_open_urls_and_nothing_else() {
    let mut core = bed();
    let puzzle = "puzzle@example.test/bot";
    let out = run(
        &mut core,
        puzzle,
        "open-url",
        &[("jid", "bob@example.test"), ("url", "https://p.test/")],
        t(10),
    );
    assert_eq!(result_of(&out[0]), "delivered");
    assert!(body(&out[1]).starts_with("puzzle suggests a page"));
    for (node, extra) in [
        ("send-message", ("text", "hi")),
        ("attention", ("reason", "x")),
    ] {
        let out = run(
            &mut core,
            puzzle,
            node,
            &[("jid", "bob@example.test"), extra],
            t(10),
        );
        let (condition, text) = error_condition(&out[0]);
        assert_eq!(condition, "forbidden", "{node}");
        assert!(text.contains(&format!("right \"{node}\"")), "{text}");
    }
}

#[test]
fn attention_carries_xep_0224_and_is_limited_per_user() {
    let mut core = bed();
    let first = run(
        &mut core,
        PLATFORM,
        "attention",
        &[("jid", "bob@example.test"), ("reason", "your turn")],
        t(10),
    );
    assert_eq!(result_of(&first[0]), "delivered");
    assert!(first[1].has_child("attention", "urn:xmpp:attention:0"));
    assert_eq!(body(&first[1]), "game asks for your attention: your turn");
    let second = run(
        &mut core,
        PLATFORM,
        "attention",
        &[("jid", "bob@example.test")],
        t(30),
    );
    let (condition, text) = error_condition(&second[0]);
    assert_eq!(condition, "resource-constraint");
    assert!(text.contains("try again in 40 s"), "{text}");
    // Another user is not affected, and bob may be asked again after the interval.
    let carol = run(
        &mut core,
        PLATFORM,
        "attention",
        &[("jid", "carol@example.test")],
        t(30),
    );
    assert_eq!(result_of(&carol[0]), "delivered");
    let later = run(
        &mut core,
        PLATFORM,
        "attention",
        &[("jid", "bob@example.test")],
        t(71),
    );
    assert_eq!(result_of(&later[0]), "delivered");
}

#[test]
fn launch_uses_the_platforms_schemes_and_set_status_says_who_set_it() {
    let mut core = bed();
    let out = run(
        &mut core,
        PLATFORM,
        "launch",
        &[
            ("jid", "bob@example.test"),
            ("uri", "steam://run/123"),
            ("text", "Chess"),
        ],
        t(10),
    );
    assert_eq!(result_of(&out[0]), "delivered");
    assert_eq!(
        body(&out[1]),
        "game asks to start Chess on this device:\nsteam://run/123"
    );
    let out = run(
        &mut core,
        PLATFORM,
        "set-status",
        &[("jid", "dave@example.test"), ("status", "Playing chess")],
        t(11),
    );
    assert_eq!(result_of(&out[0]), "set");
    let status = iq(
        "set",
        PLATFORM,
        &super::tests::command("status", &[("jids", &["dave@example.test"])]),
    );
    let row = &items(&ask(&mut core, &status, t(12)))[0];
    assert_eq!(row["self-status"], vec!["Playing chess"]);
    assert_eq!(row["self-status-by"], vec!["game@example.test"]);
}

fn grant_pubsub(core: &mut Core) {
    let advert = "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
        <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='get'/>\
        <perm access='presence' type='managed_entity'/>\
        <perm access='iq'><namespace ns='http://jabber.org/protocol/pubsub' type='set'/></perm></privilege></message>";
    assert!(sent(&core.handle(Input::Stanza(xml(advert)), t(5))).is_empty());
}

#[test]
fn publish_gaming_publishes_as_the_user_where_the_server_grants_it() {
    let mut core = bed();
    // The test server granted no iq permission: the platform is told which grant is missing.
    let refused = run(
        &mut core,
        PLATFORM,
        "publish-gaming",
        &[("jid", "bob@example.test"), ("name", "Chess")],
        t(10),
    );
    let (condition, text) = error_condition(&refused[0]);
    assert_eq!(condition, "feature-not-implemented");
    assert!(
        text.contains("iq privilege for http://jabber.org/protocol/pubsub"),
        "{text}"
    );
    grant_pubsub(&mut core);
    let out = run(
        &mut core,
        PLATFORM,
        "publish-gaming",
        &[
            ("jid", "bob@example.test"),
            ("name", "Chess"),
            ("level", "3"),
        ],
        t(11),
    );
    assert_eq!(out.len(), 1, "only the privileged IQ: {out:?}");
    let iq = &out[0];
    assert_eq!(iq.attr("to"), Some("bob@example.test"));
    let inner = iq
        .get_child("privileged_iq", "urn:xmpp:privilege:2")
        .and_then(|p| p.get_child("iq", "jabber:client"))
        .unwrap();
    assert_eq!(inner.attr("from"), Some("bob@example.test"));
    assert!(String::from(inner).contains(
        "<publish node='urn:xmpp:gaming:0'><item id='current'><game xmlns='urn:xmpp:gaming:0'><level>3</level><name>Chess</name></game></item></publish>"
    ), "{}", String::from(inner));
    // Prosody answers with the user's result inside <privilege><forwarded>.
    let answer = format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{}' from='bob@example.test' to='game.example.test'>\
         <privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'>\
         <iq xmlns='jabber:client' type='result' id='{}' to='bob@example.test'/></forwarded></privilege></iq>",
        iq.attr("id").unwrap(),
        inner.attr("id").unwrap()
    );
    let done = sent(&core.handle(Input::Stanza(xml(&answer)), t(12)));
    assert_eq!(result_of(&done[0]), "published");
    // An error inside a result (as Prosody sends it) is an error.
    let out = run(
        &mut core,
        PLATFORM,
        "publish-gaming",
        &[("jid", "bob@example.test")],
        t(13),
    );
    let iq = &out[0];
    let answer = format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{}' from='bob@example.test' to='game.example.test'>\
         <privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'>\
         <iq xmlns='jabber:client' type='error' id='x' to='bob@example.test'><error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq></forwarded></privilege></iq>",
        iq.attr("id").unwrap(),
    );
    let done = sent(&core.handle(Input::Stanza(xml(&answer)), t(14)));
    let (condition, text) = error_condition(&done[0]);
    assert_eq!(condition, "service-unavailable");
    assert!(text.contains("not-acceptable"), "{text}");
}

#[test]
fn the_command_list_shows_a_platform_only_the_rights_it_holds() {
    let mut core = bed();
    let list = |core: &mut Core, from: &str| -> Vec<String> {
        let reply = ask(
            core,
            &iq(
                "get",
                from,
                "<query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/>",
            ),
            t(10),
        );
        reply
            .get_child("query", "http://jabber.org/protocol/disco#items")
            .unwrap()
            .children()
            .filter_map(|i| i.attr("node").map(str::to_owned))
            .collect()
    };
    let authorized = list(&mut core, PLATFORM);
    for node in [
        "peers",
        "status",
        "open-url",
        "send-message",
        "attention",
        "launch",
        "publish-gaming",
        "request-consent",
    ] {
        assert!(
            authorized.iter().any(|n| n == node),
            "{node} missing from {authorized:?}"
        );
    }
    let unauthorized = list(&mut core, "puzzle@example.test/bot");
    assert!(unauthorized.iter().any(|n| n == "open-url"));
    for node in [
        "send-message",
        "attention",
        "launch",
        "set-status",
        "publish-gaming",
    ] {
        assert!(
            !unauthorized.iter().any(|n| n == node),
            "{node} listed to an unauthorized platform"
        );
    }
}
