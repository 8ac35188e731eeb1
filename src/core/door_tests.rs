//! A front door that is not XMPP, as a test plays one: a typed request in, a typed
//! answer out, through the same steps as an ad-hoc command (the rate, who asks, the
//! node's access and right, the handler, the commit, the audit), its refusals mapped to
//! the door's own codes.

use std::str::FromStr;
use std::time::SystemTime;

use minidom::Element;
use xmpp_parsers::jid::Jid;

use super::tests::{command, core_with, iq, link_up, sent, server_answer, t, xml, ADMIN, PLATFORM};
use super::{Core, DoorAnswer, DoorRequest, Format, Input, Output};
use crate::core::rate::Rate;
use crate::rights::platforms::Shape;
use crate::store::Store;
use crate::xep::forms::{DataForm, Field, FormType};

const STRANGER: &str = "eve@elsewhere.test/x";

/// A linked core: alice, bob (chat) and carol (away) online.
fn bed(change: impl FnOnce(&mut super::tests::Bed)) -> Core {
    let mut core = core_with(Store::open_in_memory().unwrap(), change);
    link_up(&mut core);
    core
}

/// Feeds `input`, plays the server for what the core asks, and returns every output.
fn run(core: &mut Core, input: Input, now: SystemTime) -> Vec<Output> {
    let mut all = Vec::new();
    let mut queue = vec![input];
    while let Some(input) = queue.pop() {
        for output in core.handle(input, now) {
            if let Output::Send(raw) = &output {
                let el = crate::wire::parse_stanza(raw).unwrap();
                if let Some(reply) = server_answer(&el) {
                    queue.push(Input::Stanza(xml(&reply)));
                }
            }
            all.push(output);
        }
    }
    all
}

/// The test door's request: `node` with `fields`, from `from`.
fn request(id: u64, from: &str, node: &str, fields: &[(&str, &str)]) -> Input {
    let mut form = DataForm::new(FormType::Submit, None);
    for (var, value) in fields {
        form.push_field(Field::value(*var, *value));
    }
    Input::Request(Box::new(DoorRequest {
        door: "test",
        id,
        from: Some(Jid::from_str(from).unwrap()),
        token: None,
        node: node.to_owned(),
        form,
        format: Format::Xml,
    }))
}

fn answers(outputs: &[Output]) -> Vec<&DoorAnswer> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Answer(answer) => Some(answer),
            _ => None,
        })
        .collect()
}

/// The one answer of a door request, failing if there is not exactly one.
fn ask(core: &mut Core, input: Input, now: SystemTime) -> DoorAnswer {
    let outputs = run(core, input, now);
    let answers = answers(&outputs);
    assert_eq!(answers.len(), 1, "{outputs:?}");
    let stanzas = sent(&outputs);
    assert!(
        stanzas.iter().all(|s| s.attr("to") != Some("test")),
        "nothing of a door's answer goes to the stream: {stanzas:?}"
    );
    answers[0].clone()
}

/// What the XMPP door answers to the same request from the platform, in the compact
/// shape: the `<command/>`'s payload.
fn over_xmpp(core: &mut Core, from: &str, node: &str, fields: &[(&str, &str)]) -> Element {
    let mut fields: Vec<(&str, &[&str])> = fields
        .iter()
        .map(|(var, value)| (*var, std::slice::from_ref(value)))
        .collect();
    fields.push(("format", &["compact"]));
    let stanza = iq("set", from, &command(node, &fields));
    let outputs = run(core, Input::Stanza(xml(&stanza)), t(20));
    let reply = sent(&outputs)
        .into_iter()
        .find(|s| s.attr("id") == Some("q1"))
        .unwrap();
    reply
}

#[test]
fn a_request_through_another_door_gets_the_answer_a_command_gets() {
    let mut core = bed(|_| {});
    let fields = [("jid", "bob@example.test")];
    let answer = ask(&mut core, request(7, PLATFORM, "peers", &fields), t(20));
    assert_eq!((answer.door, answer.id), ("test", 7));
    let answered = answer.result.unwrap();
    assert_eq!(answered.node, "peers");
    assert_eq!(answered.shape, Shape::Compact);
    assert!(answered
        .summary
        .starts_with("bob@example.test is chatting with"));
    let body: Element = answered.body.parse().unwrap();
    // What the answer told the platform is recorded, as for a command.
    let mut told: Vec<String> = vec!["bob@example.test".to_owned()];
    told.extend(
        body.children()
            .filter_map(|p| p.attr("jid").map(str::to_owned)),
    );
    assert!(told.len() > 1, "bob has active peers: {body:?}");
    let audit: Vec<(String, String)> = core
        .state()
        .audit
        .pending()
        .map(|r| (r.platform.clone(), r.user.clone()))
        .collect();
    let expected: Vec<(String, String)> = told
        .iter()
        .map(|u| ("game@example.test".to_owned(), u.clone()))
        .collect();
    assert_eq!(audit, expected);
    let reply = over_xmpp(&mut core, PLATFORM, "peers", &fields);
    let payload = reply
        .get_child("command", crate::xep::commands::NS)
        .and_then(|c| c.children().next())
        .unwrap();
    assert_eq!(&body, payload);
}

/// Who asks, the node, its fields, and the status and text of the refusal.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16, &'a str);

#[test]
fn refusals_are_the_commands_own_mapped_to_the_doors_codes() {
    let mut core = bed(|_| {});
    let cases: [Case; 4] = [
        (
            STRANGER,
            "peers",
            &[("jid", "bob@example.test")],
            403,
            "only game platforms registered with this bridge may run \"peers\"",
        ),
        (
            PLATFORM,
            "peers",
            &[],
            400,
            "the form needs the field \"jid\": the user whose peers you want",
        ),
        (
            PLATFORM,
            "no-such-node",
            &[],
            404,
            "there is no command named no-such-node",
        ),
        (
            PLATFORM,
            "stats",
            &[],
            403,
            "only the bridge's operators (admins in its configuration) may run \"stats\"",
        ),
    ];
    for (n, (from, node, fields, status, text)) in cases.into_iter().enumerate() {
        let answer = ask(&mut core, request(n as u64, from, node, fields), t(20));
        let failure = answer.result.unwrap_err();
        assert_eq!(
            (failure.http_status(), failure.text.as_str()),
            (status, text)
        );
    }
    // An operator, or a user, asks through their chat client, not through a door.
    let operator = ask(&mut core, request(8, ADMIN, "stats", &[]), t(20));
    let failure = operator.result.unwrap_err();
    assert_eq!(
        (failure.http_status(), failure.text.as_str()),
        (403, "only game platforms ask through this door")
    );
    // A prompt's answer node is for chat clients, not for other doors.
    let prompt = ask(
        &mut core,
        request(9, PLATFORM, "prompt/100000/yes", &[]),
        t(20),
    );
    assert_eq!(prompt.result.unwrap_err().http_status(), 404);
}

#[test]
fn while_the_link_is_down_a_door_is_told_so_and_nothing_is_disclosed() {
    let mut core = bed(|_| {});
    core.handle(
        Input::Disconnected {
            reason: "test".to_owned(),
        },
        t(20),
    );
    let fields = [("jid", "bob@example.test")];
    let answer = ask(&mut core, request(1, PLATFORM, "peers", &fields), t(21));
    let failure = answer.result.unwrap_err();
    assert_eq!(failure.http_status(), 503);
    assert_eq!(core.state().audit.pending().count(), 0);
}

#[test]
fn a_requester_past_its_rate_is_refused_at_the_door_as_on_the_stream() {
    let mut core = bed(|c| c.platform_rate = Rate::per_sec(5));
    let fields = [("jid", "zed@example.test")];
    let refused: Vec<DoorAnswer> = (0..20)
        .map(|n| ask(&mut core, request(n, PLATFORM, "peers", &fields), t(30)))
        .filter(|a| a.result.is_err())
        .collect();
    assert!(refused.len() >= 10, "{refused:?}");
    let first = refused[0].result.as_ref().unwrap_err();
    assert_eq!(first.http_status(), 429);
    assert!(
        first.text.starts_with("too many requests from you"),
        "{}",
        first.text
    );
}

/// A request as the HTTP door makes one: no sender, only the bearer's token, answered in
/// JSON.
fn by_token(id: u64, token: Option<&str>, node: &str, fields: &[(&str, &str)]) -> Input {
    let Input::Request(mut request) = request(id, PLATFORM, node, fields) else {
        unreachable!()
    };
    request.door = "http";
    request.from = None;
    request.token = token.map(str::to_owned);
    request.format = Format::Json;
    Input::Request(request)
}

/// A store with the test platform registered, and a token of it.
fn store_with_token() -> (Store, String) {
    let store = Store::open_in_memory().unwrap();
    crate::daemon::seed_registry(
        &store,
        &[crate::admin::NewPlatform::authorized("game@example.test")],
    );
    let token = token_for(&store, "game@example.test");
    (store, token)
}

/// A token for the test platform (`game@example.test`), stored in `store`.
fn token_for(store: &Store, jid: &str) -> String {
    let made = crate::rights::token::generate().unwrap();
    assert!(store.add_token(jid, &made.id, &made.hash, 1).unwrap());
    made.token
}

#[test]
fn a_token_names_the_platform_and_nothing_else_does() {
    let (store, token) = store_with_token();
    let mut core = core_with(store, |_| {});
    link_up(&mut core);
    let fields = [("jid", "bob@example.test")];
    let answered = ask(
        &mut core,
        by_token(1, Some(&token), "peers", &fields),
        t(20),
    )
    .result
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&answered.body).unwrap();
    assert_eq!(json["node"], "peers");
    assert!(!json["items"].as_array().unwrap().is_empty(), "{json}");
    // Disclosed to the platform the token names.
    assert!(core
        .state()
        .audit
        .pending()
        .all(|r| r.platform == "game@example.test"));
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('0') { '1' } else { '0' });
    for (n, token) in [None, Some("xgb1.nothing"), Some(forged.as_str())]
        .into_iter()
        .enumerate()
    {
        let failure = ask(
            &mut core,
            by_token(2 + n as u64, token, "peers", &fields),
            t(20),
        )
        .result
        .unwrap_err();
        assert_eq!(failure.http_status(), 401, "{token:?}: {failure:?}");
        assert!(
            failure.text.contains("platform new-token"),
            "{}",
            failure.text
        );
    }
}

#[test]
fn a_platform_asks_only_through_the_doors_the_operator_opened() {
    let store = Store::open_in_memory().unwrap();
    let mut xmpp_only = crate::admin::NewPlatform::authorized("game@example.test");
    xmpp_only.doors = Some("xmpp".to_owned());
    let mut http_only = crate::admin::NewPlatform::authorized("web@example.test");
    http_only.doors = Some("http".to_owned());
    crate::daemon::seed_registry(&store, &[xmpp_only, http_only]);
    let game = token_for(&store, "game@example.test");
    let web = token_for(&store, "web@example.test");
    let mut core = core_with(store, |bed| bed.platforms.clear());
    link_up(&mut core);
    let fields = [("jid", "bob@example.test")];
    let closed = ask(&mut core, by_token(1, Some(&game), "peers", &fields), t(20));
    let failure = closed.result.unwrap_err();
    assert_eq!(failure.http_status(), 403);
    assert!(
        failure.text.contains("may not ask through http"),
        "{}",
        failure.text
    );
    let open = ask(&mut core, by_token(2, Some(&web), "peers", &fields), t(20));
    assert!(open.result.is_ok(), "{open:?}");
    // Over XMPP it is the other way round.
    let payload = over_xmpp(&mut core, PLATFORM, "peers", &fields);
    assert_eq!(payload.attr("type"), Some("result"), "{payload:?}");
    let refused = over_xmpp(&mut core, "web@example.test/engine", "peers", &fields);
    assert_eq!(refused.attr("type"), Some("error"), "{refused:?}");
    assert!(String::from(&refused).contains("may not ask through xmpp"));
}

#[test]
fn a_user_who_does_not_share_and_one_who_does_not_exist_read_the_same_in_json() {
    let (store, token) = store_with_token();
    let mut core = core_with(store, |bed| {
        bed.config.consent = crate::rights::consent::ConsentPolicy::OptIn
    });
    link_up(&mut core);
    let mut bodies = Vec::new();
    for (n, node) in ["peers", "status"].into_iter().enumerate() {
        for (m, user) in ["bob@example.test", "nobody@example.test"]
            .into_iter()
            .enumerate()
        {
            let field = if node == "peers" { "jid" } else { "jids" };
            let id = (n * 2 + m) as u64;
            let answer = ask(
                &mut core,
                by_token(id, Some(&token), node, &[(field, user)]),
                t(20),
            );
            let body = match answer.result {
                Ok(answered) => answered.body.replace(user, "USER"),
                Err(failure) => format!(
                    "{}: {}",
                    failure.http_status(),
                    failure.text.replace(user, "USER")
                ),
            };
            bodies.push(body);
        }
    }
    assert_eq!(bodies[0], bodies[1], "peers");
    assert_eq!(bodies[2], bodies[3], "status");
    assert_eq!(core.state().audit.pending().count(), 0);
}

#[test]
fn the_door_and_the_stream_share_a_platforms_rate() {
    let (store, token) = store_with_token();
    let mut core = core_with(store, |c| c.platform_rate = Rate::per_sec(5));
    link_up(&mut core);
    let fields = [("jid", "zed@example.test")];
    // The bucket emptied through the stream...
    for _ in 0..20 {
        over_xmpp(&mut core, PLATFORM, "peers", &fields);
    }
    // ...is empty for the door too.
    let answer = ask(
        &mut core,
        by_token(1, Some(&token), "peers", &fields),
        t(20),
    );
    assert_eq!(answer.result.unwrap_err().http_status(), 429);
}

#[test]
fn what_a_platform_started_over_http_tells_it_in_its_news_not_on_the_stream() {
    let (store, token) = store_with_token();
    let mut core = core_with(store, |bed| {
        bed.config.consent = crate::rights::consent::ConsentPolicy::OptIn
    });
    link_up(&mut core);
    let asked = ask(
        &mut core,
        by_token(
            1,
            Some(&token),
            "request-consent",
            &[("jid", "alice@example.test")],
        ),
        t(20),
    );
    let body: serde_json::Value = serde_json::from_str(&asked.result.unwrap().body).unwrap();
    let prompt = body["fields"]["prompt"].as_str().unwrap().to_owned();
    // alice says yes in her chat client: she is thanked; the platform's news are stored.
    let message = format!(
        "<message xmlns='jabber:component:accept' type='chat' from='alice@example.test/pc' to='game.example.test'><body>yes {prompt}</body></message>"
    );
    let outputs = run(&mut core, Input::Stanza(xml(&message)), t(21));
    let stanzas = sent(&outputs);
    assert_eq!(stanzas.len(), 1, "{stanzas:?}");
    assert_eq!(stanzas[0].attr("to"), Some("alice@example.test/pc"));
    let news = core
        .state()
        .store
        .news_after("game@example.test", 0, 10)
        .unwrap();
    assert_eq!(news.len(), 1, "{news:?}");
    let event: serde_json::Value = serde_json::from_str(&news[0].json()).unwrap();
    assert_eq!(event["type"], "consent");
    assert_eq!(event["fields"]["answer"], "yes");
    assert_eq!(event["fields"]["jid"], "alice@example.test");
    assert_eq!(event["fields"]["prompt"], prompt.as_str());
    // An unanswered request expires: told in the news too.
    let asked = ask(
        &mut core,
        by_token(
            2,
            Some(&token),
            "request-consent",
            &[("jid", "bob@example.test")],
        ),
        t(30),
    );
    assert!(asked.result.is_ok());
    let later = t(30)
        + std::time::Duration::from_secs(u64::from(crate::commands::request_consent::EXPIRY_SECS));
    let outputs = run(&mut core, Input::Tick, later);
    assert!(
        sent(&outputs).iter().all(|s| s.name() != "message"),
        "{outputs:?}"
    );
    let news = core
        .state()
        .store
        .news_after("game@example.test", 0, 10)
        .unwrap();
    let expired: serde_json::Value = serde_json::from_str(&news[1].json()).unwrap();
    assert_eq!(expired["fields"]["answer"], "expired");
    assert_eq!(expired["fields"]["jid"], "bob@example.test");
}
