//! Smoke tests of the test bed itself against real Prosody and ejabberd: servers start, take
//! users, route stanzas, accept the component with its privileges, restart, and run the
//! component binary. If these fail, no other integration test can be trusted.

// Tests fail by panicking with a message; the crate's lints against it are for library code.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::support::{
    befriend, on_both_servers, show, Bridge, Client, Server, ServerKind, COMPONENT_JID, DOMAIN,
};

const T: Duration = Duration::from_secs(10);

fn is_privilege_advert(e: &minidom::Element) -> bool {
    e.name() == "message"
        && (e.has_child("privilege", "urn:xmpp:privilege:1")
            || e.has_child("privilege", "urn:xmpp:privilege:2"))
}

on_both_servers!(
    async fn users_register_log_in_and_chat(kind) {
        let started = Instant::now();
        let server = Server::start(kind).await.expect("server starts");
        eprintln!("{kind}: started in {:?}", started.elapsed());
        assert_eq!(server.domain(), DOMAIN);
        assert_eq!(server.component_jid(), COMPONENT_JID);
        assert_ne!(server.c2s_port(), server.component_port());

        let registered = Instant::now();
        server
            .register_many(&[("alice", "alice-pw"), ("bob", "bob-pw")])
            .await
            .expect("alice and bob register");
        eprintln!("{kind}: 2 users registered in {:?}", registered.elapsed());
        let again = server.register("alice", "other").await;
        assert!(again.is_err(), "registering alice twice must fail: {again:?}");

        let wrong = Client::connect(&server, "alice", "wrong", "phone").await;
        let wrong = wrong.err().expect("a wrong password is refused");
        assert!(wrong.contains("not-authorized"), "{wrong}");

        let mut alice = Client::connect(&server, "alice", "alice-pw", "phone").await.expect("alice logs in");
        let mut bob = Client::connect(&server, "bob", "bob-pw", "desk").await.expect("bob logs in");
        assert_eq!(alice.jid(), "alice@example.test/phone");
        assert_eq!(bob.bare_jid(), "bob@example.test");

        alice.send_presence(None, Some("here")).await.expect("alice presence");
        bob.send_presence(Some("chat"), None).await.expect("bob presence");
        befriend(&mut alice, &mut bob, T).await.expect("alice and bob become contacts");

        let roster = alice
            .iq_xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>", T)
            .await
            .expect("roster reply");
        let items: Vec<_> = roster
            .get_child("query", "jabber:iq:roster")
            .map(|q| q.children().filter_map(|i| i.attr("subscription").map(str::to_owned)).collect())
            .unwrap_or_default();
        assert_eq!(items, vec!["both".to_owned()], "{}", show(&roster));

        // Bob's available presence reaches alice once they are contacts.
        let presence = alice
            .recv_matching(T, |e| {
                e.name() == "presence" && e.attr("from") == Some("bob@example.test/desk")
            })
            .await
            .expect("bob's presence reaches alice");
        assert_eq!(presence.get_child("show", "jabber:client").map(|s| s.text()), Some("chat".into()));

        alice.send_message("bob@example.test", "hello bob").await.expect("message sent");
        let message = bob
            .recv_matching(T, |e| e.name() == "message" && e.has_child("body", "jabber:client"))
            .await
            .expect("bob gets the message");
        assert_eq!(message.get_child("body", "jabber:client").map(|b| b.text()), Some("hello bob".into()));

        let pong = alice
            .iq_xml(&format!("<iq type='get' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>"), T)
            .await
            .expect("ping reply");
        assert_eq!(pong.attr("type"), Some("result"), "{}", show(&pong));
        let unknown = alice
            .iq_xml(&format!("<iq type='get' to='{DOMAIN}'><nope xmlns='urn:example:nope'/></iq>"), T)
            .await
            .expect("error reply");
        assert_eq!(unknown.attr("type"), Some("error"), "{}", show(&unknown));

        alice.close().await;
        bob.close().await;
        let mut server = server;
        let stopping = Instant::now();
        server.stop().await.expect("graceful stop");
        eprintln!("{kind}: stopped in {:?}", stopping.elapsed());
    }
);

on_both_servers!(
    async fn component_gets_privileges_and_forwarded_presence(kind) {
        let server = Server::start(kind).await.expect("server starts");
        let refused = Client::connect_component(&server, COMPONENT_JID, "wrong-secret").await;
        assert!(refused.is_err(), "a wrong secret is refused");

        let mut component = Client::connect_component(&server, COMPONENT_JID, server.secret())
            .await
            .expect("component handshake");
        let advert = component
            .recv_matching(T, is_privilege_advert)
            .await
            .expect("privilege advertisement after the handshake");
        eprintln!("{kind}: advertisement {}", show(&advert));
        let expected_ns = match kind {
            ServerKind::Prosody => "urn:xmpp:privilege:2",
            ServerKind::Ejabberd => "urn:xmpp:privilege:1",
        };
        let privilege = advert.get_child("privilege", expected_ns).expect("privilege namespace");
        let perm = |access: &str| {
            privilege
                .children()
                .find(|p| p.attr("access") == Some(access))
                .and_then(|p| p.attr("type").map(str::to_owned))
        };
        assert_eq!(perm("roster").as_deref(), Some("both"));
        assert_eq!(perm("message").as_deref(), Some("outgoing"));
        assert_eq!(perm("presence").as_deref(), Some("roster"));
        if kind == ServerKind::Prosody {
            let iq = privilege.children().find(|p| p.attr("access") == Some("iq")).expect("iq permission");
            assert!(
                iq.children().any(|n| n.attr("ns") == Some("http://jabber.org/protocol/pubsub")),
                "{}",
                show(&advert)
            );
        }

        server.register("alice", "pw").await.expect("alice registers");
        server.register("bob", "pw").await.expect("bob registers");
        let mut alice = Client::connect(&server, "alice", "pw", "a").await.expect("alice logs in");
        let mut bob = Client::connect(&server, "bob", "pw", "b").await.expect("bob logs in");
        alice.send_presence(None, None).await.expect("presence");
        bob.send_presence(None, None).await.expect("presence");
        befriend(&mut alice, &mut bob, T).await.expect("contacts");

        // A change made now is forwarded (presence=roster).
        alice.send_presence(Some("away"), Some("lunch")).await.expect("away");
        let forwarded = component
            .recv_matching(T, |e| {
                e.name() == "presence"
                    && e.attr("from") == Some("alice@example.test/a")
                    && e.has_child("show", "jabber:component:accept")
            })
            .await
            .expect("alice's away presence is forwarded to the component");
        eprintln!("{kind}: forwarded {}", show(&forwarded));

        // A client may send what xmpp-parsers rejects; the session survives it.
        alice.send_xml("<presence><show>online</show></presence>").await.expect("bad presence sent");
        let pong = alice
            .iq_xml(&format!("<iq type='get' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>"), T)
            .await
            .expect("alice's stream survives a bad <show/>");
        assert_eq!(pong.attr("type"), Some("result"));
        let errors: Vec<String> = alice.inbox().iter().filter(|e| e.attr("type") == Some("error")).map(show).collect();
        eprintln!("{kind}: errors alice got for the bad <show/>: {errors:?}");
        let bad = component
            .recv_matching(Duration::from_secs(2), |e| {
                e.name() == "presence" && e.get_child("show", "jabber:component:accept").is_some_and(|s| s.text() == "online")
            })
            .await;
        eprintln!("{kind}: bad <show>online</show> forwarded to the component: {}", bad.map(|e| show(&e)).unwrap_or_else(|e| format!("no ({e})")));

        // Privileged roster read on behalf of alice.
        let roster = component
            .iq_xml(
                &format!(
                    "<iq type='get' from='{COMPONENT_JID}' to='alice@example.test'><query xmlns='jabber:iq:roster'/></iq>"
                ),
                T,
            )
            .await
            .expect("roster reply");
        assert_eq!(roster.attr("type"), Some("result"), "{}", show(&roster));
        let query = roster.get_child("query", "jabber:iq:roster").expect("roster query");
        assert!(query.children().any(|i| i.attr("jid") == Some("bob@example.test")), "{}", show(&roster));

        // Component → user message.
        component
            .send_xml(&format!(
                "<message from='{COMPONENT_JID}' to='bob@example.test' type='chat'><body>game on</body></message>"
            ))
            .await
            .expect("component message");
        let got = bob
            .recv_matching(T, |e| e.name() == "message" && e.attr("from") == Some(COMPONENT_JID))
            .await
            .expect("bob gets the component's message");
        assert_eq!(got.get_child("body", "jabber:client").map(|b| b.text()), Some("game on".into()));
        eprintln!("{kind}: component inbox: {}", component.inbox().iter().map(show).collect::<Vec<_>>().join("\n"));
    }
);

on_both_servers!(
    async fn restart_keeps_ports_and_accounts_and_drops_links(kind) {
        let mut server = Server::start(kind).await.expect("server starts");
        let ports = (server.c2s_port(), server.component_port());
        server.register("alice", "pw").await.expect("alice registers");
        let mut alice = Client::connect(&server, "alice", "pw", "r").await.expect("alice logs in");
        let mut component = Client::connect_component(&server, COMPONENT_JID, server.secret())
            .await
            .expect("component handshake");

        let restarting = Instant::now();
        server.restart().await.expect("restart");
        eprintln!("{kind}: restarted in {:?}", restarting.elapsed());
        assert_eq!((server.c2s_port(), server.component_port()), ports);
        for client in [&mut alice, &mut component] {
            let _ = client.recv_matching(T, |_| false).await;
            assert!(client.closed().is_some(), "the stream ends when the server restarts");
            eprintln!("{kind}: {} saw: {:?}", client.jid(), client.closed());
        }
        Client::connect(&server, "alice", "pw", "r").await.expect("alice's account survives a restart");
        Client::connect_component(&server, COMPONENT_JID, server.secret())
            .await
            .expect("the component can come back");

        // An abrupt death (no stream footers). ejabberd may lose writes of the last ~2 s on
        // SIGKILL (Mnesia's delayed log), so check an account from before the graceful restart.
        server.kill();
        assert!(!server.is_running());
        let starting = Instant::now();
        server.start_again().await.expect("start again after a kill");
        eprintln!("{kind}: started again after kill in {:?}", starting.elapsed());
        assert_eq!((server.c2s_port(), server.component_port()), ports);
        Client::connect(&server, "alice", "pw", "r").await.expect("alice's account survives a kill");
    }
);

on_both_servers!(
    async fn bridge_runner_links_and_relinks(kind) {
        let mut server = Server::start(kind).await.expect("server starts");
        let mut bridge = Bridge::start(&server, &["admin@example.test"]).await.expect("bridge starts");
        bridge.wait_connected(T).await.expect("first link up");
        assert!(bridge.config_path().exists());
        let config = std::fs::read_to_string(bridge.config_path()).expect("config readable");
        assert!(config.contains(&format!("port = {}", server.component_port())), "{config}");
        server.restart().await.expect("server restarts");
        bridge.wait_connected(Duration::from_secs(20)).await.expect("link up again after the restart");
        assert_eq!(bridge.link_up_count(), 2);
        let status = bridge.terminate().await.expect("bridge stops on SIGTERM");
        assert!(status.success(), "exit status {status}\n{}", bridge.log());
    }
);

/// Start and stop times of both servers, printed; not a check, so not run by default:
/// `cargo nextest run --run-ignored only --no-capture timings`.
#[tokio::test]
#[ignore = "measurement, not a check"]
async fn timings() {
    for kind in ServerKind::ALL {
        for round in 0..3 {
            let t = Instant::now();
            let mut server = Server::start(kind).await.expect("server starts");
            let start = t.elapsed();
            let t = Instant::now();
            server
                .register(&format!("u{round}"), "pw")
                .await
                .expect("register");
            let register = t.elapsed();
            let t = Instant::now();
            let client = Client::connect(&server, &format!("u{round}"), "pw", "r")
                .await
                .expect("login");
            let login = t.elapsed();
            client.close().await;
            let t = Instant::now();
            server.stop().await.expect("stop");
            let stop = t.elapsed();
            let t = Instant::now();
            server.start_again().await.expect("start again");
            let again = t.elapsed();
            let t = Instant::now();
            drop(server);
            let dropped = t.elapsed();
            eprintln!(
                "{kind}: start {start:?}, register {register:?}, login {login:?}, stop {stop:?}, start again {again:?}, drop (kill) {dropped:?}"
            );
        }
    }
}
