//! The component on a real server: link, baseline protocol (disco, ping, version), the
//! operator's `stats` command, bad input, server restarts, and shutdown.

use std::time::Duration;

use minidom::Element;

use crate::support::{on_both_servers, Bridge, BridgeConfig, Client, Server, COMPONENT_JID};

const T: Duration = Duration::from_secs(10);
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const NS_DATA: &str = "jabber:x:data";

/// A server with `users` registered (password = name + "-pw") and the bridge connected,
/// with `admin` as its operator.
async fn setup(kind: crate::support::ServerKind, users: &[&str]) -> (Server, Bridge) {
    let server = Server::start(kind).await.expect("server starts");
    server.register_users(users).await.expect("users register");
    let mut bridge = Bridge::start(&server, &["admin@example.test"])
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.expect("bridge links up");
    (server, bridge)
}

async fn login(server: &Server, user: &str) -> Client {
    let mut client = Client::connect(server, user, &format!("{user}-pw"), "test")
        .await
        .expect("user logs in");
    client
        .send_presence(None, None)
        .await
        .expect("initial presence");
    client
}

fn get(payload: &str) -> String {
    format!("<iq type='get' to='{COMPONENT_JID}'>{payload}</iq>")
}

fn set(payload: &str) -> String {
    format!("<iq type='set' to='{COMPONENT_JID}'>{payload}</iq>")
}

/// The defined condition and text of an error reply.
fn error_of(reply: &Element) -> (String, String) {
    assert_eq!(
        reply.attr("type"),
        Some("error"),
        "not an error: {}",
        String::from(reply)
    );
    let error = reply
        .children()
        .find(|c| c.name() == "error")
        .expect("error element");
    let condition = error
        .children()
        .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
        .map(|c| c.name().to_owned())
        .expect("a defined condition");
    let text = error
        .get_child("text", NS_STANZAS)
        .map(|t| t.text())
        .unwrap_or_default();
    (condition, text)
}

/// Values of a data form's fields, by var.
fn form_value(form: &Element, var: &str) -> Vec<String> {
    form.children()
        .find(|f| f.name() == "field" && f.attr("var") == Some(var))
        .map(|f| {
            f.children()
                .filter(|v| v.name() == "value")
                .map(|v| v.text())
                .collect()
        })
        .unwrap_or_default()
}

async fn run_stats(client: &mut Client) -> Element {
    client
        .iq_xml(
            &set(&format!(
                "<command xmlns='{NS_COMMANDS}' node='stats' action='execute'/>"
            )),
            T,
        )
        .await
        .expect("stats answered")
}

fn stats_form(reply: &Element) -> Element {
    let command = reply
        .get_child("command", NS_COMMANDS)
        .expect("command element");
    assert_eq!(command.attr("status"), Some("completed"));
    command
        .get_child("x", NS_DATA)
        .expect("result form")
        .clone()
}

on_both_servers!(
    async fn user_discovers_pings_and_queries_the_component(kind) {
        let (server, bridge) = setup(kind, &["alice"]).await;
        let mut alice = login(&server, "alice").await;

        let info = alice
            .iq_result(crate::support::xml(&get("<query xmlns='http://jabber.org/protocol/disco#info'/>")).unwrap(), T)
            .await
            .expect("disco#info result");
        let query = info.get_child("query", "http://jabber.org/protocol/disco#info").expect("query");
        let identity = query.children().find(|c| c.name() == "identity").expect("identity");
        assert_eq!(identity.attr("category"), Some("component"));
        assert_eq!(identity.attr("name"), Some("Game bridge"));
        let features: Vec<&str> = query.children().filter_map(|c| c.attr("var")).collect();
        for feature in ["urn:xmpp:ping", "jabber:iq:version", NS_COMMANDS, "http://jabber.org/protocol/disco#items"] {
            assert!(features.contains(&feature), "{feature} not in {features:?}");
        }

        let pong = alice.iq_xml(&get("<ping xmlns='urn:xmpp:ping'/>"), T).await.expect("ping answered");
        assert_eq!(pong.attr("type"), Some("result"));
        assert_eq!(pong.attr("from"), Some(COMPONENT_JID));

        let version = alice.iq_xml(&get("<query xmlns='jabber:iq:version'/>"), T).await.expect("version answered");
        let name = version
            .get_child("query", "jabber:iq:version")
            .and_then(|q| q.get_child("name", "jabber:iq:version"))
            .map(|n| n.text());
        assert_eq!(name.as_deref(), Some("xmpp-game-bridge"));

        let unknown = alice
            .iq_xml(&get("<query xmlns='jabber:iq:last'/>"), T)
            .await
            .expect("unknown request answered");
        let (condition, text) = error_of(&unknown);
        assert_eq!(condition, "service-unavailable");
        assert!(text.contains("jabber:iq:last"), "{text}");
        drop(bridge);
    }
);

on_both_servers!(
    async fn stats_answers_an_admin_and_refuses_anyone_else(kind) {
        let (server, mut bridge) = setup(kind, &["admin", "alice"]).await;
        let mut admin = login(&server, "admin").await;
        let mut alice = login(&server, "alice").await;
        // What the server runs is known once it answered the bridge's version query.
        bridge.wait_for_log("server software", T).await.expect("the server's software is known");

        let list = format!("<query xmlns='http://jabber.org/protocol/disco#items' node='{NS_COMMANDS}'/>");
        let nodes = |reply: &Element| -> Vec<String> {
            reply
                .get_child("query", "http://jabber.org/protocol/disco#items")
                .map(|q| q.children().filter_map(|i| i.attr("node").map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let admin_list = admin.iq_xml(&get(&list), T).await.expect("command list");
        assert!(nodes(&admin_list).contains(&"stats".to_owned()), "{}", String::from(&admin_list));
        let alice_list = alice.iq_xml(&get(&list), T).await.expect("command list");
        assert_eq!(alice_list.attr("type"), Some("result"));
        assert!(!nodes(&alice_list).contains(&"stats".to_owned()));

        let reply = run_stats(&mut admin).await;
        let form = stats_form(&reply);
        assert_eq!(form_value(&form, "FORM_TYPE"), vec!["urn:xmpp-game-bridge:stats:1"]);
        assert_eq!(form_value(&form, "link"), vec!["up"]);
        assert_eq!(form_value(&form, "reconnects"), vec!["0"]);
        assert_eq!(form_value(&form, "commands-served"), vec!["1"]);
        let servers = form_value(&form, "servers").join(" ");
        let expected = match kind {
            crate::support::ServerKind::Prosody => "Prosody",
            crate::support::ServerKind::Ejabberd => "ejabberd",
        };
        assert!(servers.contains(expected), "servers field: {servers:?}");

        let refused = run_stats(&mut alice).await;
        let (condition, text) = error_of(&refused);
        assert_eq!(condition, "forbidden");
        assert!(text.contains("operators"), "{text}");
        drop(bridge);
    }
);

on_both_servers!(
    async fn malformed_stanzas_get_errors_and_the_link_stays_up(kind) {
        let (server, mut bridge) = setup(kind, &["alice", "admin"]).await;
        let mut alice = login(&server, "alice").await;

        // xmpp-parsers rejects this presence; Prosody forwards it verbatim, ejabberd
        // answers it itself. Either way the component must not lose its link.
        alice
            .send_xml(&format!("<presence to='{COMPONENT_JID}'><show>online</show></presence>"))
            .await
            .expect("bad presence sent");
        // Two payloads in one IQ: not a valid request.
        let two = alice
            .iq_xml(&get("<ping xmlns='urn:xmpp:ping'/><query xmlns='jabber:iq:version'/>"), T)
            .await
            .expect("double payload answered");
        assert_eq!(error_of(&two).0, "bad-request");
        // An action XEP-0050 does not define: for someone who may not run the node, the
        // request is refused before it is read; for the admin, it is malformed.
        let jump = set(&format!("<command xmlns='{NS_COMMANDS}' node='stats' action='jump'/>"));
        let refused = alice.iq_xml(&jump, T).await.expect("bad action answered");
        assert_eq!(error_of(&refused).0, "forbidden");
        let mut admin = login(&server, "admin").await;
        let jump = admin.iq_xml(&jump, T).await.expect("bad action answered");
        assert_eq!(error_of(&jump).0, "bad-request");
        let specific = jump
            .children()
            .find(|c| c.name() == "error")
            .map(|e| e.has_child("malformed-action", NS_COMMANDS));
        assert_eq!(specific, Some(true), "{}", String::from(&jump));
        // A command node that does not exist.
        let missing = alice
            .iq_xml(&set(&format!("<command xmlns='{NS_COMMANDS}' node='no-such-node' action='execute'/>")), T)
            .await
            .expect("missing node answered");
        assert_eq!(error_of(&missing).0, "item-not-found");

        let pong = alice.iq_xml(&get("<ping xmlns='urn:xmpp:ping'/>"), T).await.expect("still answering");
        assert_eq!(pong.attr("type"), Some("result"));
        assert_eq!(bridge.link_up_count(), 1, "the link was rebuilt:\n{}", bridge.log_tail(40));
        assert!(!bridge.log().contains("link down"), "{}", bridge.log_tail(40));
        let form = stats_form(&run_stats(&mut admin).await);
        if kind == crate::support::ServerKind::Prosody {
            // The presence reached the component and was ignored, not counted as dropped:
            // it is well-formed routing-wise; only its content is wrong.
            assert!(bridge.log().contains("ignored"), "{}", bridge.log_tail(40));
        }
        assert_eq!(form_value(&form, "reconnects"), vec!["0"]);
        let _ = bridge.terminate().await;
    }
);

on_both_servers!(
    async fn component_reconnects_after_the_server_restarts(kind) {
        let (mut server, mut bridge) = setup(kind, &["admin"]).await;
        server.restart().await.expect("server restarts");
        bridge.wait_connected(Duration::from_secs(30)).await.expect("bridge links up again");
        let log = bridge.log();
        assert!(log.contains("link down"), "{}", bridge.log_tail(40));
        assert!(log.contains("reconnecting after a delay"), "{}", bridge.log_tail(40));
        for line in log.lines().filter(|l| {
            l.contains("link up") || l.contains("link down") || l.contains("reconnecting") || l.contains("cannot connect")
        }) {
            eprintln!("{kind} bridge: {line}");
        }

        let mut admin = login(&server, "admin").await;
        let pong = admin.iq_xml(&get("<ping xmlns='urn:xmpp:ping'/>"), T).await.expect("answers after restart");
        assert_eq!(pong.attr("type"), Some("result"));
        let form = stats_form(&run_stats(&mut admin).await);
        assert_eq!(form_value(&form, "reconnects"), vec!["1"]);
        assert_eq!(form_value(&form, "link"), vec!["up"]);
        let status = bridge.terminate().await.expect("bridge stops");
        assert!(status.success(), "{status:?}");
    }
);

on_both_servers!(
    async fn sigterm_closes_the_stream_and_the_database_and_exits_zero(kind) {
        let (server, mut bridge) = setup(kind, &["alice"]).await;
        let mut alice = login(&server, "alice").await;
        let pong = alice.iq_xml(&get("<ping xmlns='urn:xmpp:ping'/>"), T).await.expect("answers");
        assert_eq!(pong.attr("type"), Some("result"));
        let status = bridge.terminate().await.expect("bridge stops on SIGTERM");
        assert_eq!(status.code(), Some(0), "{}", bridge.log_tail(20));
        let log = bridge.log();
        for step in ["shutdown requested", "stream closed", "database closed"] {
            assert!(log.contains(step), "{step:?} missing:\n{}", bridge.log_tail(20));
        }
        // The database was closed cleanly: no WAL left to replay.
        let wal = bridge.database_path().with_extension("sqlite-wal");
        let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(wal_len, 0, "WAL still holds data");
        // And the component is gone from the server: a ping now bounces.
        let bounce = alice.iq_xml(&get("<ping xmlns='urn:xmpp:ping'/>"), T).await.expect("server answers");
        assert_eq!(bounce.attr("type"), Some("error"));
    }
);

on_both_servers!(
    async fn a_wrong_secret_stops_the_component_with_a_clear_message(kind) {
        let server = Server::start(kind).await.expect("server starts");
        let config = BridgeConfig {
            secret: Some("not-the-secret".to_owned()),
            ..BridgeConfig::default()
        };
        let mut bridge = Bridge::start_with(&server, &config).await.expect("bridge spawns");
        let deadline = std::time::Instant::now() + T;
        let status = loop {
            if let Some(status) = bridge.exit_status().expect("status") {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "still running:\n{}", bridge.log_tail(20));
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.code(), Some(3), "{}", bridge.log_tail(20));
        let log = bridge.log();
        assert!(log.contains("refused the handshake") && log.contains("secret is wrong"), "{}", bridge.log_tail(20));
        assert!(!log.contains("not-the-secret"), "the secret leaked into the log");
        assert!(!log.contains(server.secret()), "the secret leaked into the log");
    }
);
