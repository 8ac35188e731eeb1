//! Platforms, consent and rights on real servers: who may ask (a registered platform, a
//! token, a trusted component, a public platform), what each learns about users who
//! share, who do not, and who do not exist (the same bytes for the last two), each
//! executable right as the user's chat client receives it, consent requests answered by
//! word and by form, registry changes through the CLI while the bridge runs, and a
//! platform over its rate next to one that is not.

use std::time::Duration;

use minidom::Element;

use crate::directory::{field, form, login, rows, Row};
use crate::support::{
    on_both_servers, Bridge, BridgeConfig, Client, Server, ServerKind, ServerOptions,
    COMPONENT_JID, LOBBY_JID,
};

const T: Duration = Duration::from_secs(10);
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";

/// Runs `node` in one step as `client`, with `fields` (and a hidden `token` field when
/// given); a component says who it is with `from`.
pub(crate) async fn command(
    client: &mut Client,
    node: &str,
    fields: &[(&str, &str)],
    token: Option<&str>,
) -> Element {
    let mut xml_fields: String = fields
        .iter()
        .map(|(var, value)| {
            format!(
                "<field var='{var}'><value>{}</value></field>",
                escape(value)
            )
        })
        .collect();
    if let Some(token) = token {
        xml_fields.push_str(&format!(
            "<field var='token' type='hidden'><value>{token}</value></field>"
        ));
    }
    let from = if client.bare_jid().contains('@') {
        String::new()
    } else {
        format!(" from='{}'", client.jid())
    };
    let xml = format!(
        "<iq type='set' to='{COMPONENT_JID}'{from}><command xmlns='{NS_COMMANDS}' node='{node}' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'>{xml_fields}</x></command></iq>"
    );
    client.iq_xml(&xml, T).await.expect("command answered")
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('\'', "&apos;")
}

/// The reply with what differs between two requests by design removed: the IQ id, the
/// command session id, and `user` written as `as_user`.
fn normalised(reply: &Element, user: &str, as_user: &str) -> String {
    let mut reply = reply.clone();
    reply.set_attr(
        minidom::rxml::Namespace::NONE,
        minidom::rxml::xml_ncname!("id").to_owned(),
        "ID",
    );
    let mut text = String::from(&reply);
    if let Some(session) = reply
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.attr("sessionid"))
    {
        text = text.replace(session, "SESSION");
    }
    text.replace(user, as_user)
}

pub(crate) fn condition(reply: &Element) -> (String, String) {
    let error = reply
        .children()
        .find(|c| c.name() == "error")
        .unwrap_or_else(|| panic!("not an error: {}", String::from(reply)));
    let condition = error
        .children()
        .find(|c| c.name() != "text")
        .map(|c| c.name().to_owned())
        .unwrap_or_default();
    let text = error
        .children()
        .find(|c| c.name() == "text")
        .map(|t| t.text())
        .unwrap_or_default();
    (condition, text)
}

pub(crate) fn result_field(reply: &Element, var: &str) -> String {
    field(&form(reply), var).join("\n")
}

/// `user` says `text` to the bridge; the body of its answer.
pub(crate) async fn say(user: &mut Client, text: &str) -> String {
    user.send_message(COMPONENT_JID, text).await.unwrap();
    let reply = user
        .recv_matching(T, |e| {
            e.name() == "message"
                && e.attr("from") == Some(COMPONENT_JID)
                && e.attr("type") == Some("chat")
        })
        .await
        .expect("the bridge answers");
    body(&reply)
}

pub(crate) fn body(message: &Element) -> String {
    message
        .children()
        .find(|c| c.name() == "body")
        .map(|b| b.text())
        .unwrap_or_default()
}

/// A message from the bridge to `user` whose body contains `needle`.
pub(crate) async fn receive(user: &mut Client, needle: &str) -> Element {
    user.recv_matching(T, |e| {
        e.name() == "message" && e.attr("from") == Some(COMPONENT_JID) && body(e).contains(needle)
    })
    .await
    .unwrap_or_else(|e| panic!("no message with {needle:?}: {e}"))
}

/// The form of the message telling the platform a user's answer.
async fn answer_told(platform: &mut Client) -> Element {
    let message = platform
        .recv_matching(T, |e| {
            e.name() == "message" && e.attr("from") == Some(COMPONENT_JID)
        })
        .await
        .expect("the platform is told");
    message
        .get_child("x", "jabber:x:data")
        .expect("a form")
        .clone()
}

/// Polls `status` until `user` is reported with `availability`.
async fn status_row(
    client: &mut Client,
    token: Option<&str>,
    user: &str,
    availability: &str,
) -> Row {
    let deadline = std::time::Instant::now() + T;
    loop {
        let reply = command(client, "status", &[("jids", user)], token).await;
        let row = rows(&form(&reply)).into_iter().next().expect("a row");
        if row["availability"][0] == availability {
            return row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{user} never {availability}: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const ALL_RIGHTS: [&str; 7] = [
    "open-url",
    "invite",
    "send-message",
    "attention",
    "set-status",
    "launch",
    "publish-gaming",
];

on_both_servers!(
    /// Four ways of being a platform, three kinds of user: the whole matrix.
    async fn who_may_ask_and_what_they_learn(kind) {
        let server = Server::start_with(kind, &ServerOptions::default()).await.expect("server starts");
        server
            .register_users(&["arcade", "tokenbot", "stranger", "alice", "bob"])
            .await
            .unwrap();
        let config = BridgeConfig {
            platforms: vec!["arcade@example.test".to_owned()],
            consent: "opt-in",
            extra_toml: format!(
                "\n[access]\npublic_platforms = true\ntrusted_domains = [\"{LOBBY_JID}\"]\n"
            ),
            ..BridgeConfig::default()
        };
        let mut bridge = Bridge::start_with(&server, &config).await.expect("bridge starts");
        bridge.wait_connected(T).await.unwrap();
        // The operator registers a platform and makes it a token while the bridge runs.
        let added = bridge
            .cli(&["platform", "add", "puzzle@example.test", "--name", "Puzzle"])
            .expect("platform add");
        assert!(added.contains("\"Puzzle\": authorized"), "{added}");
        let made = bridge.cli(&["platform", "new-token", "puzzle@example.test"]).expect("new-token");
        let token = made.lines().last().unwrap().trim().to_owned();
        assert!(token.starts_with("xgb1."), "{made}");
        let listed = bridge.cli(&["platform", "list"]).unwrap();
        assert!(!listed.contains(&token), "the token is shown once only");
        // The bridge reads the registry again within 0.1 s of a change.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let mut alice = login(&server, "alice").await;
        alice.send_presence(None, Some("ready")).await.unwrap();
        let mut bob = login(&server, "bob").await;
        bob.send_presence(None, None).await.unwrap();
        let shared = say(&mut alice, "share all").await;
        assert!(shared.starts_with("Every platform may now see you."), "{shared}");

        let arcade = login(&server, "arcade").await;
        let tokenbot = login(&server, "tokenbot").await;
        let (lobby_addr, lobby_secret) = server.lobby();
        let lobby = Client::connect_component_at(lobby_addr, LOBBY_JID, &lobby_secret)
            .await
            .expect("the lobby component connects");
        let stranger = login(&server, "stranger").await;
        let authorized = vec![ALL_RIGHTS.join(",")];
        let mut actors = [
            ("registry", arcade, None, authorized.clone()),
            ("token", tokenbot, Some(token.as_str()), authorized.clone()),
            ("trusted domain", lobby, None, authorized),
            ("public", stranger, None, vec!["open-url".to_owned()]),
        ];
        let mut cells = 0;
        for (how, client, token, rights) in actors.iter_mut() {
            // A user who shares: seen, with the rights this platform holds.
            let row = status_row(client, *token, "alice@example.test", "available").await;
            assert_eq!(&row["rights"], rights, "{how}");
            assert_eq!(row["status"], vec!["ready"], "{how}");
            cells += 1;
            // A user who does not share, and one who does not exist: the same bytes.
            for node in ["status", "peers"] {
                let var = if node == "status" { "jids" } else { "jid" };
                let bob_reply = command(client, node, &[(var, "bob@example.test")], *token).await;
                let nobody = command(client, node, &[(var, "nobody@example.test")], *token).await;
                assert_eq!(
                    normalised(&bob_reply, "bob@example.test", "nobody@example.test"),
                    normalised(&nobody, "nobody@example.test", "nobody@example.test"),
                    "{how}: {node} tells bob from nobody"
                );
            }
            let bob_url = command(client, "open-url", &[("jid", "bob@example.test"), ("url", "https://p.test/")], *token).await;
            let nobody_url = command(client, "open-url", &[("jid", "nobody@example.test"), ("url", "https://p.test/")], *token).await;
            assert_eq!(condition(&bob_url).0, "item-not-found", "{how}");
            assert_eq!(
                normalised(&bob_url, "bob@example.test", "nobody@example.test"),
                normalised(&nobody_url, "nobody@example.test", "nobody@example.test"),
                "{how}: open-url tells bob from nobody"
            );
            cells += 2;
        }
        assert_eq!(cells, 12, "4 platforms × 3 users");
        bob.expect_none_matching(Duration::from_millis(300), |e| e.name() == "message" && e.attr("from") == Some(COMPONENT_JID))
            .await
            .expect("nothing reaches bob");
        // The disclosures are in the record, for alice and for the operator.
        let history = say(&mut alice, "history").await;
        // Platforms are named by their names; those outside the registry by their JIDs.
        for platform in ["arcade", "Puzzle", LOBBY_JID, "stranger@example.test"] {
            assert!(
                history.contains(&format!("\n- {platform} saw your status, ")),
                "{platform} missing from {history}"
            );
        }
        // The operator's view reads the database, where records arrive in batches.
        let deadline = std::time::Instant::now() + T;
        let audit = loop {
            let audit = bridge.cli(&["audit", "--user", "alice@example.test"]).unwrap();
            if audit.contains("stranger@example.test") || std::time::Instant::now() > deadline {
                break audit;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(audit.contains("puzzle@example.test  alice@example.test  status"), "{audit}");
        assert!(!bridge.cli(&["audit"]).unwrap().contains("bob@example.test"));
        // Every JID that may ask can be named in "share" and "stop": a trusted component
        // and a public platform too. Both asked already, so bob's privacy lists them.
        let privacy = say(&mut bob, "privacy").await;
        for jid in [LOBBY_JID, "stranger@example.test"] {
            assert!(privacy.contains(jid), "{jid} missing from {privacy}");
        }
        for (who, index) in [(LOBBY_JID, 2), ("stranger@example.test", 3)] {
            let client = &mut actors[index].1;
            let shared = say(&mut bob, &format!("share {who}")).await;
            assert!(shared.starts_with(&format!("{who} may now see you.")), "{shared}");
            status_row(client, None, "bob@example.test", "available").await;
            let stopped = say(&mut bob, &format!("stop {who}")).await;
            assert!(stopped.starts_with(&format!("{who} no longer sees you.")), "{stopped}");
            let bob_reply = command(client, "status", &[("jids", "bob@example.test")], None).await;
            let nobody = command(client, "status", &[("jids", "nobody@example.test")], None).await;
            assert_eq!(
                normalised(&bob_reply, "bob@example.test", "nobody@example.test"),
                normalised(&nobody, "nobody@example.test", "nobody@example.test"),
                "{who} still sees bob after stop"
            );
        }
        drop((server, bridge));
    }
);

on_both_servers!(
    /// Each executable right as the user's client receives it.
    async fn every_right_reaches_the_chat_client(kind) {
        let server = Server::start_with(kind, &ServerOptions::default()).await.expect("server starts");
        server.register_users(&["arcade", "alice"]).await.unwrap();
        let config = BridgeConfig {
            platforms: vec!["arcade@example.test".to_owned()],
            consent: "opt-in",
            ..BridgeConfig::default()
        };
        let mut bridge = Bridge::start_with(&server, &config).await.expect("bridge starts");
        bridge.wait_connected(T).await.unwrap();
        let mut alice = login(&server, "alice").await;
        alice.send_presence(None, None).await.unwrap();
        assert!(say(&mut alice, "share arcade").await.starts_with("arcade may now see you."));
        let mut arcade = login(&server, "arcade").await;
        status_row(&mut arcade, None, "alice@example.test", "available").await;
        const ALICE: &str = "alice@example.test";

        let reply = command(&mut arcade, "open-url", &[("jid", ALICE), ("url", "https://play.example.test/j/abc"), ("text", "your table")], None).await;
        assert_eq!(result_field(&reply, "result"), "delivered");
        let message = receive(&mut alice, "suggests a page").await;
        assert_eq!(body(&message), "arcade suggests a page: your table\nhttps://play.example.test/j/abc");
        let oob = message.get_child("x", "jabber:x:oob").expect("out-of-band data");
        assert_eq!(oob.get_child("url", "jabber:x:oob").unwrap().text(), "https://play.example.test/j/abc");

        let reply = command(&mut arcade, "send-message", &[("jid", ALICE), ("text", "Your match starts in 5 minutes")], None).await;
        assert_eq!(result_field(&reply, "result"), "delivered");
        assert_eq!(body(&receive(&mut alice, "Your match").await), "arcade: Your match starts in 5 minutes");

        let reply = command(&mut arcade, "attention", &[("jid", ALICE), ("reason", "your turn")], None).await;
        assert_eq!(result_field(&reply, "result"), "delivered");
        let message = receive(&mut alice, "attention").await;
        assert!(message.has_child("attention", "urn:xmpp:attention:0"));
        let again = command(&mut arcade, "attention", &[("jid", ALICE)], None).await;
        let (refusal, text) = condition(&again);
        assert_eq!(refusal, "resource-constraint");
        assert!(text.contains("try again in"), "{text}");

        // Launch schemes are the operator's, per platform, changed while the bridge runs.
        let launch = [("jid", ALICE), ("uri", "steam://run/4000"), ("text", "Chess")];
        let refused = command(&mut arcade, "launch", &launch, None).await;
        assert_eq!(condition(&refused).0, "bad-request");
        bridge.cli(&["platform", "set-launch-schemes", "arcade@example.test", "steam"]).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let reply = command(&mut arcade, "launch", &launch, None).await;
        assert_eq!(result_field(&reply, "result"), "delivered");
        let message = receive(&mut alice, "steam://run/4000").await;
        assert_eq!(body(&message), "arcade asks to start Chess on this device:\nsteam://run/4000");

        let reply = command(&mut arcade, "set-status", &[("jid", ALICE), ("status", "In a tournament")], None).await;
        assert_eq!(result_field(&reply, "result"), "set");
        let row = status_row(&mut arcade, None, ALICE, "available").await;
        assert_eq!(row["self-status"], vec!["In a tournament"]);
        assert_eq!(row["self-status-by"], vec!["arcade@example.test"]);

        // A URI that runs script is refused by every node that takes a URI, before anything
        // reaches the user or their PEP.
        let script = "javascript:alert(1)";
        for (node, fields) in [
            ("publish-gaming", vec![("jid", ALICE), ("name", "Chess"), ("uri", script)]),
            ("open-url", vec![("jid", ALICE), ("url", script)]),
            ("launch", vec![("jid", ALICE), ("uri", script)]),
            ("publish-gaming", vec![("jid", ALICE), ("name", "Chess"), ("uri", "JavaScript:alert(1)")]),
            ("publish-gaming", vec![("jid", ALICE), ("name", "Chess"), ("uri", "data:text/html,<script>alert(1)</script>")]),
        ] {
            let refused = command(&mut arcade, node, &fields, None).await;
            let (refusal, text) = condition(&refused);
            assert_eq!(refusal, "bad-request", "{node} {fields:?}: {}", String::from(&refused));
            assert!(text.contains("\"uri\"") || text.contains("\"url\""), "{text}");
        }
        // An operator cannot allow such a scheme either.
        let refused = bridge.cli(&["platform", "set-launch-schemes", "arcade@example.test", "steam,javascript"]);
        assert!(refused.as_ref().is_err_and(|e| e.contains("javascript")), "{refused:?}");

        let reply = command(&mut arcade, "publish-gaming", &[("jid", ALICE), ("name", "Chess")], None).await;
        match kind {
            ServerKind::Prosody => {
                assert_eq!(result_field(&reply, "result"), "published");
                let items = alice
                    .iq_xml(
                        "<iq type='get' to='alice@example.test'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:gaming:0'/></pubsub></iq>",
                        T,
                    )
                    .await
                    .unwrap();
                assert!(String::from(&items).contains("<name>Chess</name>"), "{}", String::from(&items));
            }
            ServerKind::Ejabberd => {
                let (refusal, text) = condition(&reply);
                assert_eq!(refusal, "feature-not-implemented");
                assert!(text.contains("ejabberd 23.01 cannot"), "{text}");
            }
        }

        // Rights are the operator's too: narrowed while the bridge runs.
        bridge.cli(&["platform", "set-rights", "arcade@example.test", "open-url"]).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let refused = command(&mut arcade, "send-message", &[("jid", ALICE), ("text", "hi")], None).await;
        let (refusal, text) = condition(&refused);
        assert_eq!(refusal, "forbidden");
        assert!(text.contains("\"send-message\""), "{text}");
        let row = status_row(&mut arcade, None, ALICE, "available").await;
        assert_eq!(row["rights"], vec!["open-url"]);
        drop((server, bridge));
    }
);

on_both_servers!(
    /// A platform asks for consent; one user answers with a word, another with the form.
    async fn a_consent_request_answered_by_word_and_by_form(kind) {
        let server = Server::start_with(kind, &ServerOptions::default()).await.expect("server starts");
        server.register_users(&["arcade", "bob", "carol"]).await.unwrap();
        let config = BridgeConfig {
            platforms: vec!["arcade@example.test".to_owned()],
            consent: "opt-in",
            ..BridgeConfig::default()
        };
        let mut bridge = Bridge::start_with(&server, &config).await.expect("bridge starts");
        bridge.wait_connected(T).await.unwrap();
        let mut arcade = login(&server, "arcade").await;
        let mut bob = login(&server, "bob").await;
        bob.send_presence(None, None).await.unwrap();
        let mut carol = login(&server, "carol").await;
        carol.send_presence(None, None).await.unwrap();

        let reply = command(&mut arcade, "request-consent", &[("jid", "bob@example.test"), ("reason", "to link your account")], None).await;
        assert_eq!(result_field(&reply, "result"), "sent");
        let id = result_field(&reply, "prompt");
        let prompt = receive(&mut bob, "asks to see when you are available").await;
        assert!(body(&prompt).contains(&format!("\"yes {id}\"")), "{}", body(&prompt));
        assert!(body(&prompt).contains("to link your account"));
        let xml = String::from(&prompt);
        for piece in [
            format!("<thread>prompt-{id}</thread>"),
            format!("node='prompt/{id}/yes'"),
            "xmlns='urn:xmpp:tmp:quick-response'".to_owned(),
            "<field type='hidden' var='prompt'>".to_owned(),
        ] {
            assert!(xml.contains(&piece), "{piece} missing from {xml}");
        }
        // bob answers with the reply word.
        assert!(say(&mut bob, &format!("yes {id}")).await.starts_with("Thank you: arcade may now see you"));
        let told = answer_told(&mut arcade).await;
        assert_eq!(field(&told, "answer"), vec!["yes"]);
        assert_eq!(field(&told, "jid"), vec!["bob@example.test"]);
        assert_eq!(field(&told, "prompt"), vec![id.clone()]);
        status_row(&mut arcade, None, "bob@example.test", "available").await;

        // carol answers with the form, without the thread, as Profanity does.
        let reply = command(&mut arcade, "request-consent", &[("jid", "carol@example.test")], None).await;
        let id = result_field(&reply, "prompt");
        receive(&mut carol, "asks to see when you are available").await;
        carol
            .send_xml(&format!(
                "<message to='{COMPONENT_JID}'><x xmlns='jabber:x:data' type='submit'>\
                 <field var='FORM_TYPE' type='hidden'><value>urn:xmpp-game-bridge:prompt:1</value></field>\
                 <field var='prompt'><value>{id}</value></field><field var='answer'><value>no</value></field></x></message>"
            ))
            .await
            .unwrap();
        assert!(body(&receive(&mut carol, "will not see you").await).starts_with("arcade will not see you"));
        let told = answer_told(&mut arcade).await;
        assert_eq!(field(&told, "answer"), vec!["no"]);
        let row = rows(&form(&command(&mut arcade, "status", &[("jids", "carol@example.test")], None).await)).remove(0);
        // carol said no: she is shown as a user the bridge never heard of.
        let never_seen = match kind {
            ServerKind::Prosody => "offline",
            ServerKind::Ejabberd => "unknown",
        };
        assert_eq!(row["availability"], vec![never_seen]);
        drop((server, bridge));
    }
);

/// One platform over its rate is refused with when to retry; another is served meanwhile.
#[tokio::test]
async fn a_platform_over_its_rate_next_to_one_that_is_not() {
    let server = Server::start_with(ServerKind::Prosody, &ServerOptions::default())
        .await
        .expect("server starts");
    server.register_users(&["arcade", "puzzle"]).await.unwrap();
    let config = BridgeConfig {
        platforms: vec![
            "arcade@example.test".to_owned(),
            "puzzle@example.test".to_owned(),
        ],
        extra_toml: "\n[limits]\nplatform_requests_per_sec = 5\n".to_owned(),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    let mut arcade = login(&server, "arcade").await;
    let mut puzzle = login(&server, "puzzle").await;
    // arcade sends 40 requests at once: a burst of 10 is answered, the rest refused.
    for i in 0..40 {
        arcade
            .send_xml(&format!("<iq type='get' id='flood-{i}' to='{COMPONENT_JID}'><ping xmlns='urn:xmpp:ping'/></iq>"))
            .await
            .unwrap();
    }
    let reply = command(
        &mut puzzle,
        "status",
        &[("jids", "arcade@example.test")],
        None,
    )
    .await;
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "puzzle is served: {}",
        String::from(&reply)
    );
    let mut refused = 0;
    let mut texts = Vec::new();
    for _ in 0..40 {
        let answer = arcade
            .recv_matching(T, |e| {
                e.name() == "iq" && e.attr("id").is_some_and(|id| id.starts_with("flood-"))
            })
            .await
            .expect("every request answered");
        if answer.attr("type") == Some("error") {
            refused += 1;
            let (condition, text) = condition(&answer);
            assert_eq!(condition, "resource-constraint");
            if text.is_empty() {
                // As short as XMPP allows: the condition alone.
                let error = answer.children().find(|c| c.name() == "error").unwrap();
                assert_eq!(error.children().count(), 1, "{}", String::from(&answer));
                assert_eq!(answer.children().count(), 1, "{}", String::from(&answer));
            } else {
                texts.push(text);
            }
        }
    }
    assert!((25..=31).contains(&refused), "{refused} refused");
    // The first refusal in a second says why and when to retry; the others are bare.
    assert!((1..=2).contains(&texts.len()), "{texts:?}");
    assert!(
        texts[0].contains("at most 5 a second") && texts[0].contains("try again in"),
        "{texts:?}"
    );
    drop((server, bridge));
}
