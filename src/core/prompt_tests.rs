//! Consent requests: a prompt put to a user, answered once by any of its four ways.

use std::time::Duration;

use super::tests::{ask, core_with, iq, items, link_up, sent, t, xml, PLATFORM};
use super::{Core, Input};
use crate::config::ConsentPolicy;
use crate::store::Store;
use minidom::Element;

const NS_DATA: &str = "jabber:x:data";

fn bed() -> Core {
    let mut core = core_with(Store::open_in_memory().unwrap(), |c| {
        c.consent = ConsentPolicy::OptIn;
        c.platforms
            .push(crate::admin::NewPlatform::authorized("puzzle@example.test"));
    });
    link_up(&mut core);
    core
}

/// `from` asks alice for consent: the reply and the message alice receives, if any.
fn request(core: &mut Core, from: &str, now: std::time::SystemTime) -> (Element, Option<Element>) {
    let request = iq(
        "set",
        from,
        "<command xmlns='http://jabber.org/protocol/commands' node='request-consent' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>alice@example.test</value></field>\
         <field var='reason'><value>to find your friends</value></field></x></command>",
    );
    let mut out = sent(&core.handle(Input::Stanza(xml(&request)), now)).into_iter();
    let reply = out.next().unwrap();
    (reply, out.next())
}

fn field(reply: &Element, var: &str) -> String {
    let form = reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("x", NS_DATA))
        .or_else(|| reply.get_child("x", NS_DATA))
        .unwrap_or_else(|| panic!("no form in {}", String::from(reply)));
    form.children()
        .find(|f| f.attr("var") == Some(var))
        .map(|f| f.children().map(|v| v.text()).collect())
        .unwrap_or_default()
}

fn say(core: &mut Core, text: &str, now: std::time::SystemTime) -> Vec<Element> {
    let message = format!(
        "<message xmlns='jabber:component:accept' type='chat' from='alice@example.test/pc' to='game.example.test'><body>{text}</body></message>"
    );
    sent(&core.handle(Input::Stanza(xml(&message)), now))
}

fn body(el: &Element) -> String {
    el.get_child("body", "jabber:component:accept")
        .map(|b| b.text())
        .unwrap_or_default()
}

fn sees_alice(core: &mut Core, now: std::time::SystemTime) -> bool {
    let status = iq(
        "set",
        PLATFORM,
        &super::tests::command("status", &[("jids", &["alice@example.test"])]),
    );
    items(&ask(core, &status, now))[0]["availability"] != vec!["unknown"]
}

#[test]
fn a_consent_request_answered_by_a_reply_word() {
    let mut core = bed();
    let (reply, message) = request(&mut core, PLATFORM, t(10));
    assert_eq!(field(&reply, "result"), "sent");
    let id = field(&reply, "prompt");
    let message = message.expect("alice is asked");
    assert_eq!(message.attr("to"), Some("alice@example.test"));
    let text = body(&message);
    assert!(
        text.starts_with("game asks to see when you are available"),
        "{text}"
    );
    assert!(
        text.contains("to find your friends") && text.contains(&format!("yes {id}")),
        "{text}"
    );
    // Asking again while it waits gives the same request.
    let (again, none) = request(&mut core, PLATFORM, t(11));
    assert_eq!(
        (field(&again, "result"), field(&again, "prompt")),
        ("pending".to_owned(), id.clone())
    );
    assert!(none.is_none());
    assert!(!sees_alice(&mut core, t(12)));
    let out = say(&mut core, &format!("yes {id}"), t(13));
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        body(&out[0]).starts_with("Thank you: game may now see you"),
        "{}",
        body(&out[0])
    );
    let told = &out[1];
    assert_eq!(told.attr("to"), Some(PLATFORM));
    assert_eq!(field(told, "answer"), "yes");
    assert_eq!(field(told, "jid"), "alice@example.test");
    assert_eq!(field(told, "prompt"), id);
    assert!(sees_alice(&mut core, t(14)));
    // The same answer again is explained, and changes nothing.
    let out = say(&mut core, &format!("no {id}"), t(15));
    assert_eq!(out.len(), 1);
    assert!(
        body(&out[0]).starts_with("You already answered yes"),
        "{}",
        body(&out[0])
    );
    assert!(sees_alice(&mut core, t(16)));
}

#[test]
fn a_consent_request_answered_by_the_form_in_its_message_without_a_thread() {
    let mut core = bed();
    let (reply, _) = request(&mut core, PLATFORM, t(10));
    let id = field(&reply, "prompt");
    let submit = format!(
        "<message xmlns='jabber:component:accept' from='alice@example.test/pc' to='game.example.test'>\
         <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp-game-bridge:prompt:1</value></field>\
         <field var='prompt'><value>{id}</value></field><field var='answer'><value>no</value></field></x></message>"
    );
    let out = sent(&core.handle(Input::Stanza(xml(&submit)), t(11)));
    assert!(
        body(&out[0]).starts_with("game will not see you"),
        "{}",
        body(&out[0])
    );
    assert_eq!(field(&out[1], "answer"), "no");
    // Said no: the platform may not ask again for a while.
    let (again, message) = request(&mut core, PLATFORM, t(12));
    assert_eq!(field(&again, "result"), "declined-recently");
    assert!(message.is_none());
}

#[test]
fn the_form_sent_back_as_it_came_answers_nothing() {
    let mut core = bed();
    let (reply, message) = request(&mut core, PLATFORM, t(10));
    let id = field(&reply, "prompt");
    // The form's choice starts on "not now", so a blind submit (Psi selects the first
    // option) cannot agree.
    let form = message.expect("alice is asked");
    let form = form.get_child("x", "jabber:x:data").expect("a form");
    let answer = form
        .children()
        .find(|f| f.attr("var") == Some("answer"))
        .expect("the answer field");
    let chosen: Vec<String> = answer
        .children()
        .filter(|c| c.name() == "value")
        .map(|v| v.text())
        .collect();
    assert_eq!(chosen, ["later"]);
    let submit = format!(
        "<message xmlns='jabber:component:accept' from='alice@example.test/pc' to='game.example.test'>\
         <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp-game-bridge:prompt:1</value></field>\
         <field var='prompt'><value>{id}</value></field><field var='answer'><value>later</value></field></x></message>"
    );
    let out = sent(&core.handle(Input::Stanza(xml(&submit)), t(11)));
    assert_eq!(
        out.len(),
        1,
        "only alice is told; the platform hears nothing"
    );
    let text = body(&out[0]);
    assert!(
        text.starts_with(&format!("Nothing answered: {id} still waits for you.")),
        "{text}"
    );
    assert!(!sees_alice(&mut core, t(12)));
    // It still waits: asking again gives the same request.
    let (again, _) = request(&mut core, PLATFORM, t(13));
    assert_eq!(field(&again, "result"), "pending");
}

#[test]
fn a_consent_request_answered_by_the_command_in_its_message() {
    let mut core = bed();
    let (reply, _) = request(&mut core, PLATFORM, t(10));
    let id = field(&reply, "prompt");
    let execute = iq(
        "set",
        "alice@example.test/pc",
        &format!("<command xmlns='http://jabber.org/protocol/commands' node='prompt/{id}/yes' action='execute'/>"),
    );
    let out = sent(&core.handle(Input::Stanza(xml(&execute)), t(11)));
    let note = out[0]
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("note", crate::xep::commands::NS))
        .map(|n| n.text())
        .unwrap_or_default();
    assert!(note.starts_with("Thank you"), "{}", String::from(&out[0]));
    assert!(sees_alice(&mut core, t(12)));
    // bob cannot answer alice's question.
    let (reply, _) = request(&mut core, "puzzle@example.test/bot", t(13));
    let id = field(&reply, "prompt");
    let bob = iq(
        "set",
        "bob@example.test/pc",
        &format!("<command xmlns='http://jabber.org/protocol/commands' node='prompt/{id}/yes' action='execute'/>"),
    );
    let out = sent(&core.handle(Input::Stanza(xml(&bob)), t(14)));
    assert_eq!(out.len(), 1, "nothing but bob's answer");
    assert!(String::from(&out[0]).contains("There is no invitation or question"));
}

#[test]
fn a_bare_yes_needs_exactly_one_waiting_question() {
    let mut core = bed();
    let out = say(&mut core, "yes", t(9));
    assert_eq!(body(&out[0]), "Nothing is waiting for your answer.");
    request(&mut core, PLATFORM, t(10));
    request(&mut core, "puzzle@example.test/bot", t(10));
    let out = say(&mut core, "yes", t(11));
    assert_eq!(out.len(), 1);
    assert!(
        body(&out[0]).starts_with("Several wait for your answer; say which:"),
        "{}",
        body(&out[0])
    );
    assert!(!sees_alice(&mut core, t(12)));
}

#[test]
fn an_unanswered_request_expires_and_the_platform_is_told() {
    let mut core = bed();
    let (reply, _) = request(&mut core, PLATFORM, t(10));
    let id = field(&reply, "prompt");
    let later =
        t(10) + Duration::from_secs(u64::from(crate::commands::request_consent::EXPIRY_SECS));
    let out = sent(&core.handle(Input::Tick, later));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(field(&out[0], "answer"), "expired");
    let out = say(&mut core, &format!("yes {id}"), later);
    assert!(body(&out[0]).contains("expired"), "{}", body(&out[0]));
}
