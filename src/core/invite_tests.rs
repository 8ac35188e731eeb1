//! Invites through the core, with XML and a fake clock: creation, the invitation as a
//! client receives it, answers four ways, outcomes, expiry, cancel, merge, limits,
//! language, and a restart (clean or not) in the middle.

use std::time::SystemTime;

use minidom::Element;

use super::tests::{
    command, core_with, iq, items, presence, roster_result, sent, t, xml, PLATFORM,
};
use super::{Core, Input};
use crate::store::Store;

const NS: &str = "jabber:component:accept";
const NS_DATA: &str = "jabber:x:data";

fn bed_on(store: Store, change: impl FnOnce(&mut super::tests::Bed)) -> Core {
    let mut core = core_with(store, change);
    super::tests::link_up(&mut core);
    presence(&mut core, "dave", Some("chat"), t(5));
    core
}

fn bed() -> Core {
    bed_on(Store::open_in_memory().unwrap(), |_| {})
}

/// Everyone's roster: everyone else, mutually.
fn answer_rosters(core: &mut Core, out: Vec<Element>, now: SystemTime) -> Vec<Element> {
    let mut done = Vec::new();
    let mut queue = out;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for el in queue {
            let roster = el.name() == "iq"
                && el.attr("type") == Some("get")
                && el.has_child("query", "jabber:iq:roster");
            let ping = el.name() == "iq"
                && el.attr("type") == Some("get")
                && el.has_child("ping", "urn:xmpp:ping");
            if ping {
                let reply = format!(
                    "<iq xmlns='{NS}' type='result' id='{}' from='{}' to='game.example.test'/>",
                    el.attr("id").unwrap(),
                    el.attr("to").unwrap()
                );
                next.extend(sent(&core.handle(Input::Stanza(xml(&reply)), now)));
            } else if roster {
                let user = el.attr("to").unwrap().split('@').next().unwrap().to_owned();
                let contacts: Vec<(&str, &str)> = ["alice", "bob", "carol", "dave"]
                    .into_iter()
                    .filter(|c| *c != user)
                    .map(|c| (c, "both"))
                    .collect();
                // Everyone also has rob, of another server, as a mutual contact.
                let reply = roster_result(el.attr("id").unwrap(), &user, &contacts).replace(
                    "</query>",
                    "<item jid='rob@other.example' subscription='both'/></query>",
                );
                next.extend(sent(&core.handle(Input::Stanza(xml(&reply)), now)));
            } else {
                done.push(el);
            }
        }
        queue = next;
    }
    done
}

/// The platform's request to `node` with `fields`: the reply first, then what else left.
fn platform(
    core: &mut Core,
    node: &str,
    fields: &[(&str, &[&str])],
    now: SystemTime,
) -> (Element, Vec<Element>) {
    let request = iq("set", PLATFORM, &command(node, fields));
    let out = sent(&core.handle(Input::Stanza(xml(&request)), now));
    let (mut replies, others): (Vec<Element>, Vec<Element>) = answer_rosters(core, out, now)
        .into_iter()
        .partition(|e| e.name() == "iq" && e.attr("id") == Some("q1"));
    assert_eq!(replies.len(), 1, "one reply: {replies:?}");
    (replies.remove(0), others)
}

fn invite(
    core: &mut Core,
    host: &str,
    invitees: &[&str],
    now: SystemTime,
) -> (Element, Vec<Element>) {
    let host = format!("{host}@example.test");
    let invitees: Vec<String> = invitees
        .iter()
        .map(|i| format!("{i}@example.test"))
        .collect();
    let invitees: Vec<&str> = invitees.iter().map(String::as_str).collect();
    let host = [host.as_str()];
    let mut fields: Vec<(&str, &[&str])> = vec![
        ("host", &host[..]),
        ("game", &["Chess"]),
        ("session", &["s-1"]),
        ("join", &["https://play.example.test/j/1"]),
        ("expiry", &["600"]),
    ];
    if !invitees.is_empty() {
        fields.push(("invitees", &invitees));
    }
    platform(core, "invite", &fields, now)
}

fn say(core: &mut Core, user: &str, text: &str, now: SystemTime) -> Vec<Element> {
    let message = format!(
        "<message xmlns='{NS}' type='chat' from='{user}@example.test/pc' to='game.example.test'><body>{text}</body></message>"
    );
    sent(&core.handle(Input::Stanza(xml(&message)), now))
}

/// `user` answers their prompt in `out` with `word` (`accept`, `decline`).
fn answer_prompt(
    core: &mut Core,
    out: &[Element],
    user: &str,
    word: &str,
    now: SystemTime,
) -> Vec<Element> {
    let prompt = prompt_of(out, user);
    say(core, user, &format!("{word} {prompt}"), now)
}

fn body(el: &Element) -> String {
    el.get_child("body", NS)
        .map(|b| b.text())
        .unwrap_or_default()
}

/// A top-level field of the form in a command result or a message.
fn field(el: &Element, var: &str) -> String {
    let form = el
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.get_child("x", NS_DATA))
        .or_else(|| el.get_child("x", NS_DATA))
        .unwrap_or_else(|| panic!("no form in {}", String::from(el)));
    form.children()
        .find(|f| f.name() == "field" && f.attr("var") == Some(var))
        .map(|f| f.children().map(|v| v.text()).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

fn to<'a>(out: &'a [Element], jid: &str) -> Vec<&'a Element> {
    out.iter().filter(|e| e.attr("to") == Some(jid)).collect()
}

/// The invitation id in the message to `user`.
fn prompt_of(out: &[Element], user: &str) -> String {
    let message = to(out, &format!("{user}@example.test"))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no invitation for {user} in {out:?}"));
    field(message, "prompt")
}

fn result_of(reply: &Element, jid: &str) -> String {
    items(reply)
        .into_iter()
        .find(|row| row["jid"] == vec![format!("{jid}@example.test")])
        .map(|row| row["result"].join(""))
        .unwrap_or_else(|| "absent".to_owned())
}

const HOST: &str = "alice@example.test";

#[test]
fn an_invite_reaches_the_active_peers_and_the_first_accept_makes_it_ready() {
    let mut core = bed();
    let (reply, out) = invite(&mut core, "alice", &[], t(10));
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        String::from(&reply)
    );
    let id = field(&reply, "invite");
    assert_eq!(field(&reply, "outcome"), "waiting");
    // carol is away: not an active peer, not invited.
    assert_eq!(result_of(&reply, "bob"), "sent");
    assert_eq!(result_of(&reply, "dave"), "sent");
    assert_eq!(result_of(&reply, "carol"), "absent");
    assert_eq!(out.len(), 2, "{out:?}");
    let bob = prompt_of(&out, "bob");
    let message = to(&out, "bob@example.test")[0];
    let raw = String::from(message);
    let text = body(message);
    assert!(
        text.starts_with(
            "alice@example.test invites you to play Chess on game (for 10 min, until "
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("Reply \"accept {bob}\" or \"decline {bob}\".")),
        "{text}"
    );
    assert!(
        text.ends_with("\nJoin: https://play.example.test/j/1"),
        "{text}"
    );
    for piece in [
        format!("<thread>prompt-{bob}</thread>"),
        format!("node='prompt/{bob}/accept'"),
        format!("node='prompt/{bob}/decline'"),
        format!("value='accept {bob}'"),
        format!("xmlns='urn:xmpp:sid:0' id='prompt-{bob}'"),
        "<field type='hidden' var='prompt'>".to_owned(),
    ] {
        assert!(raw.contains(&piece), "{piece} missing from {raw}");
    }

    let out = say(&mut core, "bob", &format!("accept {bob}"), t(20));
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(body(&out[0]).starts_with("You accepted alice@example.test's invitation to Chess."));
    assert!(body(&out[0]).contains("Join: https://play.example.test/j/1"));
    let told = to(&out, PLATFORM)[0];
    assert_eq!(field(told, "invite"), id);
    assert_eq!(field(told, "session"), "s-1");
    assert_eq!(field(told, "invitee"), "bob@example.test");
    assert_eq!(field(told, "answer"), "accepted");
    assert_eq!(field(told, "how"), "chat");
    assert_eq!(field(told, "outcome"), "ready");
    assert_eq!(
        body(to(&out, HOST)[0]),
        "bob@example.test accepted your invitation to Chess."
    );

    // dave's client sends the form back without a thread (as Profanity does).
    let dave = waiting_prompt(&core, "dave@example.test");
    let submit = format!(
        "<message xmlns='{NS}' type='chat' from='dave@example.test/pc' to='game.example.test'>\
         <x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE'><value>urn:xmpp-game-bridge:prompt:1</value></field>\
         <field var='prompt'><value>{dave}</value></field><field var='answer'><value>decline</value></field></x></message>"
    );
    let out = sent(&core.handle(Input::Stanza(xml(&submit)), t(22)));
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(
        body(&out[0]),
        "You declined alice@example.test's invitation to Chess."
    );
    assert_eq!(field(to(&out, PLATFORM)[0], "answer"), "declined");
    assert_eq!(field(to(&out, PLATFORM)[0], "outcome"), "ready");

    // Answered once: a second answer is explained and changes nothing.
    let out = say(&mut core, "bob", &format!("decline {bob}"), t(23));
    assert_eq!(out.len(), 1);
    assert_eq!(
        body(&out[0]),
        format!("You already accepted the invitation {bob} from alice@example.test.")
    );
    let (status, _) = platform(&mut core, "invite-status", &[("invite", &[&id])], t(24));
    assert_eq!(field(&status, "outcome"), "ready");
    let mut answers: Vec<(String, String)> = items(&status)
        .into_iter()
        .map(|r| (r["jid"].join(""), r["answer"].join("")))
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            ("bob@example.test".to_owned(), "accepted".to_owned()),
            ("dave@example.test".to_owned(), "declined".to_owned())
        ]
    );
}

/// The id of the invitation waiting for `user`.
pub(super) fn waiting_prompt(core: &Core, user: &str) -> String {
    core.state()
        .prompts
        .pending_for(user)
        .first()
        .map(|p| p.id.clone())
        .unwrap_or_else(|| panic!("nothing waits for {user}"))
}

#[test]
fn answers_by_the_listed_node_and_by_the_invitations_command() {
    let mut core = bed();
    let (_, out) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    let bob = prompt_of(&out, "bob");
    // bob's client runs the node listed in the message.
    let run = format!(
        "<iq xmlns='{NS}' type='set' id='c1' from='bob@example.test/pc' to='game.example.test'>\
         <command xmlns='http://jabber.org/protocol/commands' node='prompt/{bob}/decline' action='execute'/></iq>"
    );
    let out = sent(&core.handle(Input::Stanza(xml(&run)), t(11)));
    assert_eq!(
        out[0].attr("type"),
        Some("result"),
        "{}",
        String::from(&out[0])
    );
    assert!(String::from(&out[0]).contains("You declined alice@example.test"));
    assert_eq!(field(to(&out, PLATFORM)[0], "answer"), "declined");
    // dave lists his invitations, then answers through the command's form.
    let out = say(&mut core, "dave", "invitations", t(12));
    let dave = waiting_prompt(&core, "dave@example.test");
    assert_eq!(
        body(&out[0]),
        format!("Game invitations waiting for your answer:\n- \"accept {dave}\": alice@example.test invites you to Chess")
    );
    let run = format!(
        "<iq xmlns='{NS}' type='set' id='c2' from='dave@example.test/pc' to='game.example.test'>\
         <command xmlns='http://jabber.org/protocol/commands' node='invitations' action='execute'>\
         <x xmlns='{NS_DATA}' type='submit'><field var='prompt'><value>{dave}</value></field>\
         <field var='answer'><value>accept</value></field></x></command></iq>"
    );
    let out = sent(&core.handle(Input::Stanza(xml(&run)), t(13)));
    assert!(String::from(&out[0]).contains("You accepted alice@example.test"));
    assert_eq!(field(to(&out, PLATFORM)[0], "outcome"), "ready");
    let out = say(&mut core, "dave", "invitations", t(14));
    assert_eq!(body(&out[0]), "No game invitation is waiting for you.");
}

#[test]
fn a_bare_accept_needs_exactly_one_waiting_prompt() {
    let mut core = bed();
    invite(&mut core, "alice", &["bob"], t(10));
    invite(&mut core, "dave", &["bob"], t(11));
    let out = say(&mut core, "bob", "accept", t(12));
    assert_eq!(out.len(), 1);
    let text = body(&out[0]);
    assert!(
        text.starts_with("Several wait for your answer; say which:"),
        "{text}"
    );
    assert!(
        text.contains("alice@example.test invites you to Chess")
            && text.contains("dave@example.test invites you"),
        "{text}"
    );
}

#[test]
fn nobody_answering_ends_solo_and_everyone_is_told() {
    let mut core = bed();
    let (reply, _) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    let id = field(&reply, "invite");
    let out = sent(&core.handle(Input::Tick, t(609)));
    assert!(out.is_empty(), "{out:?}");
    let out = sent(&core.handle(Input::Tick, t(610)));
    let told: Vec<(String, String)> = to(&out, PLATFORM)
        .iter()
        .map(|m| (field(m, "answer"), field(m, "outcome")))
        .collect();
    assert_eq!(
        told,
        vec![
            ("expired".to_owned(), "waiting".to_owned()),
            ("expired".to_owned(), "solo".to_owned())
        ]
    );
    assert_eq!(
        body(to(&out, HOST)[0]),
        "Nobody joined Chess in time: this one is a solo game."
    );
    let bob = core.state().store.invite_prompts(&id).unwrap()[0]
        .id
        .clone();
    let out = say(&mut core, "bob", &format!("accept {bob}"), t(611));
    assert_eq!(
        body(&out[0]),
        format!(
            "The invitation {bob} from alice@example.test to Chess expired before you answered."
        )
    );
    assert!(core.state().invites.is_empty());
}

#[test]
fn a_cancel_tells_the_waiting_invitees_and_the_platform() {
    let mut core = bed();
    let (reply, out) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    let id = field(&reply, "invite");
    let bob = prompt_of(&out, "bob");
    answer_prompt(&mut core, &out, "dave", "accept", t(11));
    let (reply, out) = platform(&mut core, "invite-cancel", &[("invite", &[&id])], t(12));
    assert_eq!(field(&reply, "state"), "cancelled");
    assert_eq!(field(&reply, "outcome"), "cancelled");
    assert_eq!(
        body(to(&out, "bob@example.test")[0]),
        format!("alice@example.test's invitation {bob} to Chess was cancelled.")
    );
    assert_eq!(field(to(&out, PLATFORM)[0], "answer"), "cancelled");
    assert!(
        to(&out, "dave@example.test").is_empty(),
        "dave answered already"
    );
    let out = say(&mut core, "bob", &format!("accept {bob}"), t(13));
    assert_eq!(
        body(&out[0]),
        format!("alice@example.test's invitation {bob} to Chess was cancelled.")
    );
    let (again, _) = platform(&mut core, "invite-cancel", &[("invite", &[&id])], t(14));
    assert_eq!(again.attr("type"), Some("error"));
    assert!(String::from(&again).contains("is cancelled already"));
}

#[test]
fn the_host_hears_how_an_invite_ended_whichever_way() {
    let mut core = bed();
    let (_, out) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    answer_prompt(&mut core, &out, "bob", "decline", t(11));
    let out = answer_prompt(&mut core, &out, "dave", "decline", t(12));
    assert_eq!(
        body(to(&out, HOST)[0]),
        "dave@example.test declined your invitation to Chess. Nobody joined Chess: this one is a solo game."
    );
    let (reply, _) = invite(&mut core, "alice", &["bob"], t(20));
    let id = field(&reply, "invite");
    let (_, out) = platform(&mut core, "invite-cancel", &[("invite", &[&id])], t(21));
    assert_eq!(
        body(to(&out, HOST)[0]),
        "Your invitation to Chess was cancelled by game."
    );
}

#[test]
fn crossed_invites_merge_and_the_later_host_counts_as_accepted() {
    let mut core = bed();
    let (reply, out) = invite(&mut core, "bob", &["alice", "carol"], t(10));
    let bobs = field(&reply, "invite");
    assert_eq!(result_of(&reply, "carol"), "sent", "away is not busy");
    assert_eq!(out.len(), 2);
    // alice, invited by bob, invites bob and dave at the same moment.
    let (reply, out) = invite(&mut core, "alice", &["bob", "dave"], t(11));
    assert_eq!(result_of(&reply, "bob"), "joined");
    assert_eq!(result_of(&reply, "dave"), "sent");
    assert_eq!(field(&reply, "joined"), bobs);
    assert_ne!(field(&reply, "invite"), bobs);
    // bob gets no second invitation; the platform hears alice accepted bob's invite.
    assert!(to(&out, "bob@example.test")
        .iter()
        .all(|m| field_opt(m).is_none()));
    let told = to(&out, PLATFORM);
    assert_eq!(told.len(), 1, "{out:?}");
    assert_eq!(field(told[0], "invite"), bobs);
    assert_eq!(field(told[0], "invitee"), HOST);
    assert_eq!(field(told[0], "how"), "merge");
    assert_eq!(field(told[0], "outcome"), "ready");
    assert_eq!(
        body(to(&out, "bob@example.test")[0]),
        "alice@example.test accepted your invitation to Chess."
    );
}

fn field_opt(el: &Element) -> Option<&Element> {
    el.get_child("x", NS_DATA)
}

#[test]
fn pending_lists_what_waits_and_the_platform_records_an_answer_from_the_game() {
    let mut core = bed();
    let (reply, _) = invite(&mut core, "alice", &["bob"], t(10));
    let id = field(&reply, "invite");
    let (pending, _) = platform(
        &mut core,
        "pending",
        &[("jid", &["bob@example.test"])],
        t(11),
    );
    let rows = items(&pending);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["invite"], vec![id.clone()]);
    assert_eq!(rows[0]["host"], vec![HOST.to_owned()]);
    assert_eq!(rows[0]["session"], vec!["s-1".to_owned()]);
    let (reply, out) = platform(
        &mut core,
        "answer",
        &[
            ("invite", &[&id]),
            ("jid", &["bob@example.test"]),
            ("answer", &["accept"]),
        ],
        t(12),
    );
    assert_eq!(
        field(&reply, "outcome"),
        "ready",
        "{}",
        String::from(&reply)
    );
    let told = to(&out, PLATFORM)[0];
    assert_eq!(field(told, "how"), "platform");
    assert_eq!(field(told, "answer"), "accepted");
    let (pending, _) = platform(
        &mut core,
        "pending",
        &[("jid", &["bob@example.test"])],
        t(13),
    );
    assert!(items(&pending).is_empty());
}

#[test]
fn a_started_session_closes_the_invitations_still_waiting() {
    let mut core = bed();
    let (reply, out) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    let id = field(&reply, "invite");
    answer_prompt(&mut core, &out, "bob", "accept", t(11));
    let (reply, out) = platform(&mut core, "session-started", &[("invite", &[&id])], t(12));
    assert_eq!(field(&reply, "state"), "started");
    assert_eq!(field(&reply, "outcome"), "ready");
    assert_eq!(field(to(&out, PLATFORM)[0], "answer"), "closed");
    let dave = core.state().store.invite_prompts(&id).unwrap()[1]
        .id
        .clone();
    let out = say(&mut core, "dave", &format!("accept {dave}"), t(13));
    assert!(
        body(&out[0]).contains("started without waiting"),
        "{}",
        body(&out[0])
    );
    let (reply, _) = platform(&mut core, "session-ended", &[("invite", &[&id])], t(14));
    assert_eq!(field(&reply, "state"), "ended");
}

#[test]
fn a_session_the_platform_never_ends_ends_by_itself() {
    let mut core = bed_on(Store::open_in_memory().unwrap(), |c| {
        c.rights.invites.session_max_secs = 1_000;
    });
    let (reply, out) = invite(&mut core, "alice", &["bob"], t(10));
    let id = field(&reply, "invite");
    answer_prompt(&mut core, &out, "bob", "accept", t(11));
    // Ready and never ended: the pair stays linked past the expiry, and says how long.
    let (again, _) = invite(&mut core, "alice", &["bob"], t(700));
    assert_eq!(result_of(&again, "bob"), "already-invited");
    let at = |secs| crate::xep::datetime::format(u64::from(crate::directory::unix_secs(t(secs))));
    let text = String::from(&again);
    for piece in [
        format!("ready since {}", at(10)),
        "session-ended".to_owned(),
        format!("ends by itself at {}", at(1_010)),
    ] {
        assert!(text.contains(&piece), "{piece} missing from {text}");
    }
    assert!(sent(&core.handle(Input::Tick, t(1_009))).is_empty());
    let out = sent(&core.handle(Input::Tick, t(1_010)));
    let told = to(&out, PLATFORM);
    assert_eq!(told.len(), 1, "{out:?}");
    assert_eq!(
        (field(told[0], "state"), field(told[0], "outcome")),
        ("ended".to_owned(), "ready".to_owned())
    );
    let (status, _) = platform(&mut core, "invite-status", &[("invite", &[&id])], t(1_011));
    assert_eq!(field(&status, "state"), "ended");
    let (third, _) = invite(&mut core, "alice", &["bob"], t(1_012));
    assert_eq!(result_of(&third, "bob"), "sent");
}

#[test]
fn the_host_must_be_available_and_share_and_says_so_the_same_way() {
    let mut core = bed_on(Store::open_in_memory().unwrap(), |c| {
        c.consent = crate::config::ConsentPolicy::OptIn;
    });
    let (away, _) = invite(&mut core, "carol", &["bob"], t(10));
    let (unknown, _) = invite(&mut core, "zed", &["bob"], t(10));
    let (not_sharing, _) = invite(&mut core, "alice", &["bob"], t(10));
    for reply in [&away, &unknown, &not_sharing] {
        assert_eq!(reply.attr("type"), Some("error"));
        assert!(String::from(reply).contains("not-acceptable"));
    }
    // Where users opt in, an invitee who does not share is told as one never heard of.
    say(&mut core, "alice", "share game", t(11));
    let (reply, _) = invite(&mut core, "alice", &["bob", "zed"], t(12));
    assert_eq!(result_of(&reply, "bob"), "not-consenting");
    assert_eq!(result_of(&reply, "zed"), "not-consenting");
    // Byte for byte, but for the name.
    let text = |r: &Element, who: &str| String::from(r).replace(who, "X");
    assert_eq!(text(&unknown, "zed"), text(&not_sharing, "alice"));
}

#[test]
fn invitees_who_do_not_share_muted_or_declined_too_often_are_not_asked() {
    let mut core = bed_on(Store::open_in_memory().unwrap(), |c| {
        c.rights.invites.declines_before_cooldown = 2;
        c.rights.invites.per_host_per_hour = 3;
    });
    // bob declines alice twice: the third invitation is held back.
    for at in [10, 20] {
        let (_, out) = invite(&mut core, "alice", &["bob"], t(at));
        answer_prompt(&mut core, &out, "bob", "decline", t(at + 1));
    }
    let (reply, out) = invite(&mut core, "alice", &["bob", "dave"], t(30));
    assert_eq!(result_of(&reply, "bob"), "cooldown");
    assert_eq!(result_of(&reply, "dave"), "sent");
    assert_eq!(out.len(), 1);
    // That was alice's third invitation this hour: the next one waits.
    let (reply, _) = invite(&mut core, "alice", &["carol"], t(31));
    assert_eq!(result_of(&reply, "carol"), "rate-limited");
    let (reply, _) = invite(&mut core, "alice", &["carol"], t(31 + 3600));
    assert_eq!(result_of(&reply, "carol"), "sent");
    // dave mutes alice; carol stops sharing with the platform (here: says stop).
    let out = say(&mut core, "dave", "mute alice", t(40));
    assert_eq!(
        body(&out[0]),
        "You will get no more invitations from alice@example.test. Say \"unmute alice@example.test\" to undo."
    );
    say(&mut core, "carol", "stop game", t(41));
    let (reply, _) = invite(&mut core, "bob", &["dave", "carol", "zed"], t(42));
    // Where users opt out, a JID never heard of is no contact: so is one who stopped.
    assert_eq!(result_of(&reply, "carol"), "not-a-contact");
    assert_eq!(result_of(&reply, "zed"), "not-a-contact");
    assert_eq!(result_of(&reply, "dave"), "sent", "dave muted alice only");
    let out = say(&mut core, "dave", "privacy", t(43));
    assert!(
        body(&out[0]).contains("Game invitations muted from: alice@example.test"),
        "{}",
        body(&out[0])
    );
}

#[test]
fn a_french_client_reads_its_invitation_in_french() {
    let mut core = bed();
    let stanza = "<presence xmlns='jabber:component:accept' xml:lang='fr' from='bob@example.test/pc' to='game.example.test'><show>chat</show></presence>";
    sent(&core.handle(Input::Stanza(xml(stanza)), t(6)));
    let (_, out) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    let bob = to(&out, "bob@example.test")[0];
    assert!(
        String::from(bob).contains("xml:lang='fr'"),
        "{}",
        String::from(bob)
    );
    let text = body(bob);
    assert!(
        text.starts_with("alice@example.test vous invite à jouer à Chess"),
        "{text}"
    );
    assert!(
        text.contains("Rejoindre: https://play.example.test/j/1"),
        "{text}"
    );
    assert!(body(to(&out, "dave@example.test")[0]).starts_with("alice@example.test invites you"));
}

fn file_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("bridge.sqlite")).unwrap()
}

#[test]
fn a_restart_keeps_every_invite_and_answer_and_applies_expiries_missed() {
    let dir = tempfile::tempdir().unwrap();
    let mut core = bed_on(file_store(&dir), |_| {});
    let (first, out) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    let first = field(&first, "invite");
    answer_prompt(&mut core, &out, "bob", "accept", t(11));
    let (second, _) = invite(&mut core, "bob", &["dave"], t(12));
    let second_id = field(&second, "invite");
    core.handle(Input::Tick, t(13));
    // Stopped without a word (as kill -9 would): nothing is flushed.
    drop(core);
    let mut core = core_with(file_store(&dir), |_| {});
    assert_eq!(core.state().invites.len(), 2);
    // While the link is down, nothing is told; at link-up the first invite's expiry,
    // missed meanwhile, is applied and told.
    assert!(sent(&core.handle(Input::Tick, t(700))).is_empty());
    let out = sent(&core.handle(Input::Connected, t(700)));
    let told: Vec<(String, String, String)> = to(&out, PLATFORM)
        .iter()
        .map(|m| (field(m, "invite"), field(m, "invitee"), field(m, "outcome")))
        .collect();
    assert!(
        told.contains(&(first.clone(), "dave@example.test".into(), "ready".into())),
        "{told:?}"
    );
    assert!(
        told.contains(&(second_id.clone(), "dave@example.test".into(), "solo".into())),
        "{told:?}"
    );
    let (status, _) = platform(&mut core, "invite-status", &[("invite", &[&first])], t(701));
    assert_eq!(field(&status, "outcome"), "ready");
    assert_eq!(items(&status)[0]["answer"], vec!["accepted".to_owned()]);
}

#[test]
fn an_invitation_perhaps_not_sent_before_a_crash_is_sent_again_with_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut core = bed_on(file_store(&dir), |_| {});
    let (_, out) = invite(&mut core, "alice", &["bob"], t(10));
    let first = String::from(to(&out, "bob@example.test")[0]);
    drop(core);
    let mut core = core_with(file_store(&dir), |_| {});
    let out = sent(&core.handle(Input::Connected, t(10)));
    let again: Vec<String> = to(&out, "bob@example.test")
        .iter()
        .map(|m| String::from(*m))
        .collect();
    assert_eq!(
        again,
        vec![first],
        "the same bytes, ids and origin-id included"
    );
    // Recorded as sent within the flush interval: a second restart sends nothing.
    core.handle(Input::Tick, t(11));
    drop(core);
    let mut core = core_with(file_store(&dir), |_| {});
    let out = sent(&core.handle(Input::Connected, t(12)));
    assert!(to(&out, "bob@example.test").is_empty(), "{out:?}");
    // After a clean stop, nothing is sent again either.
    let mut core = bed_on(file_store(&dir), |_| {});
    invite(&mut core, "dave", &["bob"], t(20));
    core.into_store(&mut crate::core::Outbox::new(1 << 20))
        .unwrap()
        .close()
        .unwrap();
    let mut core = core_with(file_store(&dir), |_| {});
    let out = sent(&core.handle(Input::Connected, t(21)));
    assert!(to(&out, "bob@example.test").is_empty(), "{out:?}");
}

#[test]
fn the_expiry_a_platform_asks_for_is_bounded() {
    let mut core = bed();
    let request = |expiry: &str| {
        command(
            "invite",
            &[
                ("host", &[HOST]),
                ("game", &["Chess"]),
                ("session", &["s"]),
                ("expiry", &[expiry]),
            ],
        )
    };
    for bad in ["5", "999999", "soon"] {
        let reply = sent(&core.handle(
            Input::Stanza(xml(&iq("set", PLATFORM, &request(bad)))),
            t(10),
        ));
        let reply = &answer_rosters(&mut core, reply, t(10))[0];
        assert_eq!(reply.attr("type"), Some("error"), "{bad}");
        assert!(
            String::from(reply).contains("expiry"),
            "{}",
            String::from(reply)
        );
    }
}

#[test]
fn the_hosts_rate_and_a_run_of_declines_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let limits = |c: &mut super::tests::Bed| {
        c.rights.invites.per_host_per_hour = 2;
        c.rights.invites.declines_before_cooldown = 1;
    };
    let mut core = bed_on(file_store(&dir), limits);
    let (_, out) = invite(&mut core, "alice", &["bob", "dave"], t(10));
    answer_prompt(&mut core, &out, "bob", "decline", t(11));
    core.handle(Input::Tick, t(12));
    drop(core);
    let mut core = bed_on(file_store(&dir), limits);
    let (reply, _) = invite(&mut core, "alice", &["carol"], t(20));
    assert_eq!(result_of(&reply, "carol"), "rate-limited");
    let (reply, _) = invite(&mut core, "dave", &["bob"], t(21));
    assert_eq!(result_of(&reply, "bob"), "sent");
    // An hour later alice may invite again, but bob's decline still holds for a day.
    let (reply, _) = invite(&mut core, "alice", &["carol", "bob"], t(3_611));
    assert_eq!(result_of(&reply, "carol"), "sent");
    assert_eq!(result_of(&reply, "bob"), "cooldown");
}

#[test]
fn a_contact_on_another_server_is_invited_where_the_policy_allows() {
    for allowed in [true, false] {
        let mut core = bed_on(Store::open_in_memory().unwrap(), |c| {
            c.directory.remote_peers = allowed;
        });
        let rob = "<presence xmlns='jabber:component:accept' from='rob@other.example/pc' to='game.example.test'><show>chat</show></presence>";
        sent(&core.handle(Input::Stanza(xml(rob)), t(6)));
        let request = command(
            "invite",
            &[
                ("host", &[HOST]),
                ("invitees", &["rob@other.example", "bob@example.test"]),
                ("game", &["Chess"]),
                ("session", &["s"]),
            ],
        );
        let (reply, out) = {
            let out = sent(&core.handle(Input::Stanza(xml(&iq("set", PLATFORM, &request))), t(10)));
            let mut out = answer_rosters(&mut core, out, t(10));
            let reply = out.remove(out.iter().position(|e| e.attr("id") == Some("q1")).unwrap());
            (reply, out)
        };
        let rob_row = items(&reply)
            .into_iter()
            .find(|r| r["jid"] == vec!["rob@other.example".to_owned()])
            .map(|r| r["result"].join(""))
            .unwrap();
        if allowed {
            assert_eq!(rob_row, "sent");
            assert_eq!(to(&out, "rob@other.example").len(), 1);
        } else {
            // As a JID never heard of where users opt out: no contact.
            assert_eq!(rob_row, "not-a-contact");
            assert!(to(&out, "rob@other.example").is_empty());
        }
    }
}

#[test]
fn invites_are_forgotten_with_the_disclosure_record() {
    let mut core = bed();
    let (reply, _) = invite(&mut core, "alice", &["bob"], t(10));
    let id = field(&reply, "invite");
    core.handle(Input::Tick, t(700));
    assert!(core.state().store.invite(&id).unwrap().is_some());
    // privacy.audit_days (90) later, at the next pruning.
    core.handle(Input::Tick, t(10 + 90 * 86_400 + 120));
    assert!(core.state().store.invite(&id).unwrap().is_none());
    assert!(core.state().store.invite_prompts(&id).unwrap().is_empty());
}
