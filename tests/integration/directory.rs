//! The directory on real servers: a platform asks `peers` and `status` about users with
//! mutual subscriptions in different availabilities, the answers follow the users'
//! changes and a server restart, and (Prosody) the conversation module makes two users
//! who chat each other's active peers, for the length of the window only.

use std::collections::BTreeMap;
use std::time::Duration;

use minidom::Element;

use crate::support::{
    befriend, on_both_servers, Bridge, BridgeConfig, Client, Server, ServerKind, ServerOptions,
    COMPONENT_JID,
};

const T: Duration = Duration::from_secs(10);
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const PLATFORM: &str = "arcade@example.test";

pub(crate) type Row = BTreeMap<String, Vec<String>>;

/// Server + bridge (with `arcade` as its platform) + logged-in users with initial presence.
pub(crate) struct World {
    pub server: Server,
    pub bridge: Bridge,
    pub platform: Client,
}

pub(crate) async fn world(
    kind: ServerKind,
    options: &ServerOptions,
    users: &[&str],
    extra_toml: &str,
) -> World {
    let server = Server::start_with(kind, options)
        .await
        .expect("server starts");
    let mut accounts = vec!["arcade"];
    accounts.extend_from_slice(users);
    server
        .register_users(&accounts)
        .await
        .expect("users register");
    let config = BridgeConfig {
        platforms: vec![PLATFORM.to_owned()],
        extra_toml: extra_toml.to_owned(),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.expect("bridge links up");
    let platform = Client::connect(&server, "arcade", "arcade-pw", "engine")
        .await
        .expect("platform logs in");
    World {
        server,
        bridge,
        platform,
    }
}

pub(crate) async fn login(server: &Server, user: &str) -> Client {
    Client::connect(server, user, &format!("{user}-pw"), "chat")
        .await
        .expect("user logs in")
}

/// `a` and `b` log in, become mutual contacts and are available: the presence they send
/// after the subscription is what the server forwards to the bridge.
pub(crate) async fn friends(server: &Server, a: &str, b: &str) -> (Client, Client) {
    let mut first = login(server, a).await;
    let mut second = login(server, b).await;
    first.send_presence(None, None).await.unwrap();
    second.send_presence(None, None).await.unwrap();
    befriend(&mut first, &mut second, T)
        .await
        .expect("mutual contacts");
    first.send_presence(None, None).await.unwrap();
    second.send_presence(None, None).await.unwrap();
    (first, second)
}

/// Runs a platform command in one step and returns the reply.
pub(crate) async fn run(platform: &mut Client, node: &str, var: &str, values: &[&str]) -> Element {
    let values: String = values
        .iter()
        .map(|v| format!("<value>{v}</value>"))
        .collect();
    let xml = format!(
        "<iq type='set' to='{COMPONENT_JID}'><command xmlns='{NS_COMMANDS}' node='{node}' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='{var}'>{values}</field></x></command></iq>"
    );
    platform.iq_xml(&xml, T).await.expect("command answered")
}

pub(crate) fn form(reply: &Element) -> Element {
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        String::from(reply)
    );
    reply
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .cloned()
        .unwrap_or_else(|| panic!("no result form: {}", String::from(reply)))
}

pub(crate) fn rows(form: &Element) -> Vec<Row> {
    form.children()
        .filter(|c| c.name() == "item")
        .map(|item| {
            item.children()
                .map(|f| {
                    (
                        f.attr("var").unwrap_or("").to_owned(),
                        f.children().map(|v| v.text()).collect(),
                    )
                })
                .collect()
        })
        .collect()
}

pub(crate) fn field(form: &Element, var: &str) -> Vec<String> {
    form.children()
        .find(|f| f.name() == "field" && f.attr("var") == Some(var))
        .map(|f| f.children().map(|v| v.text()).collect())
        .unwrap_or_default()
}

async fn peers(platform: &mut Client, user: &str) -> (Element, Vec<Row>) {
    let form = form(&run(platform, "peers", "jid", &[user]).await);
    let rows = rows(&form);
    (form, rows)
}

fn jids(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r["jid"][0].as_str()).collect()
}

/// Polls `peers` until `check` holds: presence reaches the component asynchronously.
pub(crate) async fn peers_until(
    platform: &mut Client,
    user: &str,
    what: &str,
    check: impl Fn(&[Row]) -> bool,
) -> Vec<Row> {
    let deadline = std::time::Instant::now() + T;
    loop {
        let (_, rows) = peers(platform, user).await;
        if check(&rows) {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never got {what}; last: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn availability_of(platform: &mut Client, user: &str) -> Row {
    let form = form(&run(platform, "status", "jids", &[user]).await);
    rows(&form).into_iter().next().expect("one row")
}

pub(crate) async fn status_until(platform: &mut Client, user: &str, expected: &str) -> Row {
    let deadline = std::time::Instant::now() + T;
    loop {
        let row = availability_of(platform, user).await;
        if row["availability"][0] == expected {
            return row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{user} never became {expected}: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_servers!(
    async fn peers_and_status_follow_the_users(kind) {
        let World { server, bridge, mut platform } =
            world(kind, &ServerOptions::default(), &["alice", "bob", "carol"], "").await;
        let mut alice = login(&server, "alice").await;
        let mut bob = login(&server, "bob").await;
        let mut carol = login(&server, "carol").await;
        alice.send_presence(None, Some("around")).await.unwrap();
        bob.send_presence(Some("chat"), Some("up for a game")).await.unwrap();
        carol.send_presence(Some("away"), Some("lunch")).await.unwrap();
        befriend(&mut alice, &mut bob, T).await.expect("alice and bob are mutual contacts");
        befriend(&mut alice, &mut carol, T).await.expect("alice and carol are mutual contacts");
        // Presence after the subscriptions, so the server has something to forward.
        alice.send_presence(None, Some("around")).await.unwrap();
        bob.send_presence(Some("chat"), Some("up for a game")).await.unwrap();
        carol.send_presence(Some("away"), Some("lunch")).await.unwrap();

        let rows = peers_until(&mut platform, "alice@example.test", "bob as alice's peer", |r| {
            jids(r) == ["bob@example.test"]
        })
        .await;
        assert_eq!(rows[0]["availability"], vec!["chat"]);
        assert_eq!(rows[0]["status"], vec!["up for a game"]);
        assert!(!rows[0].contains_key("tier"), "{rows:?}");
        assert!(rows[0]["last-activity"][0].ends_with('Z'), "{rows:?}");
        let (form, _) = peers(&mut platform, "alice@example.test").await;
        assert_eq!(field(&form, "FORM_TYPE"), vec!["urn:xmpp-game-bridge:peers:1"]);
        assert_eq!(field(&form, "availability"), vec!["available"]);
        assert_eq!(field(&form, "tier"), vec!["presence"]);

        let status = form_rows(&mut platform, &["alice@example.test", "bob@example.test", "carol@example.test", "zoe@elsewhere.example"]).await;
        let availability: Vec<&str> = status.iter().map(|r| r["availability"][0].as_str()).collect();
        assert_eq!(availability, vec!["available", "chat", "away", "unknown"]);
        assert_eq!(status[1]["status"], vec!["up for a game"]);
        assert_eq!(status[2]["status"], vec!["lunch"]);

        // bob turns dnd: no longer an active peer; carol comes back: she is.
        bob.send_presence(Some("dnd"), None).await.unwrap();
        carol.send_presence(None, None).await.unwrap();
        peers_until(&mut platform, "alice@example.test", "carol alone", |r| jids(r) == ["carol@example.test"]).await;
        // alice goes away: she has no active peers at all.
        alice.send_presence(Some("away"), None).await.unwrap();
        peers_until(&mut platform, "alice@example.test", "no peers for an away user", |r| r.is_empty()).await;
        // bob logs out, with the time he was last seen. Prosody replayed every online
        // user at connect, so the bridge knows bob had no other device: offline. ejabberd
        // did not, so another device of bob's could still be on: unknown.
        bob.close().await;
        let expected = match kind {
            ServerKind::Prosody => "offline",
            ServerKind::Ejabberd => "unknown",
        };
        let row = status_until(&mut platform, "bob@example.test", expected).await;
        assert!(row["last-seen"][0].ends_with('Z'), "{row:?}");

        // Someone who is not a platform is refused.
        let refused = run(&mut alice, "peers", "jid", &["bob@example.test"]).await;
        assert_eq!(refused.attr("type"), Some("error"));
        drop(bridge);
    }
);

async fn form_rows(platform: &mut Client, users: &[&str]) -> Vec<Row> {
    rows(&form(&run(platform, "status", "jids", users).await))
}

on_both_servers!(
    async fn a_server_restart_makes_the_directory_relearn(kind) {
        let World { mut server, mut bridge, mut platform } =
            world(kind, &ServerOptions::default(), &["alice", "bob"], "").await;
        let mut alice = login(&server, "alice").await;
        let mut bob = login(&server, "bob").await;
        alice.send_presence(None, None).await.unwrap();
        bob.send_presence(None, None).await.unwrap();
        befriend(&mut alice, &mut bob, T).await.unwrap();
        alice.send_presence(None, None).await.unwrap();
        bob.send_presence(None, None).await.unwrap();
        peers_until(&mut platform, "alice@example.test", "bob", |r| jids(r) == ["bob@example.test"]).await;

        server.restart().await.expect("server restarts");
        bridge.wait_connected(Duration::from_secs(30)).await.expect("bridge links up again");
        let mut platform = Client::connect(&server, "arcade", "arcade-pw", "engine").await.unwrap();
        // Nobody but the platform is online after the restart. Prosody's replay says so;
        // ejabberd does not replay, so the bridge may only say it does not know.
        let expected = match kind {
            ServerKind::Prosody => "offline",
            ServerKind::Ejabberd => "unknown",
        };
        let row = status_until(&mut platform, "alice@example.test", expected).await;
        eprintln!("{kind}: alice after the restart: {row:?}");

        let mut alice = login(&server, "alice").await;
        let mut bob = login(&server, "bob").await;
        alice.send_presence(None, None).await.unwrap();
        bob.send_presence(Some("chat"), None).await.unwrap();
        let rows = peers_until(&mut platform, "alice@example.test", "bob again", |r| jids(r) == ["bob@example.test"]).await;
        assert_eq!(rows[0]["availability"], vec!["chat"]);
        let status = bridge.terminate().await.expect("bridge stops");
        assert!(status.success());
    }
);

#[tokio::test]
async fn prosody_module_makes_chatting_users_active_peers_for_the_window() {
    let window = 3;
    let World {
        server,
        mut bridge,
        mut platform,
    } = world(
        ServerKind::Prosody,
        &ServerOptions {
            activity_module: Some(0),
            ..ServerOptions::default()
        },
        &["alice", "bob", "carol"],
        &format!("\n[directory]\nconversation_window_secs = {window}\n"),
    )
    .await;
    bridge
        .wait_for_log("conversation activity module found", T)
        .await
        .expect("the module is found");
    let mut alice = login(&server, "alice").await;
    let mut bob = login(&server, "bob").await;
    let mut carol = login(&server, "carol").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.send_presence(None, None).await.unwrap();
    }
    befriend(&mut alice, &mut bob, T).await.unwrap();
    befriend(&mut alice, &mut carol, T).await.unwrap();
    for c in [&mut alice, &mut bob, &mut carol] {
        c.send_presence(None, None).await.unwrap();
    }
    // Everyone is available, but nobody has chatted: no active peers in this tier.
    let (form, rows) = peers(&mut platform, "alice@example.test").await;
    assert_eq!(field(&form, "tier"), vec!["conversation"]);
    assert!(rows.is_empty(), "{rows:?}");

    alice
        .send_message("bob@example.test", "ready for a round?")
        .await
        .unwrap();
    bob.send_message("alice@example.test", "sure")
        .await
        .unwrap();
    let rows = peers_until(
        &mut platform,
        "alice@example.test",
        "bob after chatting",
        |r| jids(r) == ["bob@example.test"],
    )
    .await;
    assert!(rows[0]["last-activity"][0].ends_with('Z'), "{rows:?}");
    let (_, bobs) = peers(&mut platform, "bob@example.test").await;
    assert_eq!(jids(&bobs), vec!["alice@example.test"]);

    tokio::time::sleep(Duration::from_secs(window)).await;
    peers_until(
        &mut platform,
        "alice@example.test",
        "nobody after the window",
        <[Row]>::is_empty,
    )
    .await;
}

on_both_servers!(
    async fn without_privileges_the_bridge_says_what_to_grant_and_refuses_clearly(kind) {
        let options = ServerOptions {
            without_privileges: true,
            ..ServerOptions::default()
        };
        let World { server, mut bridge, mut platform } = world(kind, &options, &["alice"], "").await;
        bridge
            .wait_for_log("has not granted privileges", T)
            .await
            .expect("the missing grants are logged");
        let log = bridge.log();
        let expected_lines = match kind {
            ServerKind::Prosody => "privileged_entities",
            ServerKind::Ejabberd => "mod_privilege:",
        };
        assert!(log.contains(expected_lines), "{}", bridge.log_tail(30));
        assert!(log.contains("roster=get"), "{}", bridge.log_tail(30));
        let mut alice = login(&server, "alice").await;
        alice.send_presence(None, None).await.unwrap();
        let refused = run(&mut platform, "peers", "jid", &["alice@example.test"]).await;
        assert_eq!(refused.attr("type"), Some("error"), "{}", String::from(&refused));
        let text = refused
            .children()
            .find(|c| c.name() == "error")
            .and_then(|e| e.get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas"))
            .map(|t| t.text())
            .unwrap_or_default();
        assert!(text.contains("has not granted"), "{text}");
        assert!(refused.children().any(|e| e.name() == "error"
            && e.has_child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas")));
    }
);
