//! Game invites on real servers, with real clients: an invite answered each of the four
//! ways (reply word, the form in the message, the listed command, the `invitations`
//! command) and by the platform for a player in the game, in the invitee's language;
//! crossed invites merged; expiry
//! and cancel; a bridge killed (`kill -9`) or stopped in the middle of a pending invite;
//! the abuse limits and consent refusals.

use std::time::Duration;

use minidom::Element;

use crate::directory::{field, form, login, rows, Row};
use crate::rights::{body, command, condition, receive, result_field, say};
use crate::support::{
    befriend, on_both_servers, Bridge, BridgeConfig, Client, Server, ServerOptions, COMPONENT_JID,
};

const T: Duration = Duration::from_secs(10);
const ARCADE: &str = "arcade@example.test";

/// A server with the platform `arcade` and `users` online, each sharing with every
/// platform, `host` a mutual contact of every other user; and the bridge.
pub(crate) async fn world(
    kind: crate::support::ServerKind,
    host: &str,
    users: &[&str],
    extra_toml: &str,
) -> (Server, Bridge, Client, Vec<Client>) {
    world_in(kind, host, users, extra_toml, None).await
}

/// [`world`], with the bridge's state in the PostgreSQL database at `storage_url`.
pub(crate) async fn world_in(
    kind: crate::support::ServerKind,
    host: &str,
    users: &[&str],
    extra_toml: &str,
    storage_url: Option<String>,
) -> (Server, Bridge, Client, Vec<Client>) {
    let server = Server::start_with(kind, &ServerOptions::default())
        .await
        .expect("server starts");
    let mut names = vec!["arcade", host];
    names.extend(users);
    server.register_users(&names).await.unwrap();
    let config = BridgeConfig {
        platforms: vec![ARCADE.to_owned()],
        consent: "opt-in",
        // ejabberd does not replay presences to a component that connects again: the
        // operator configures its HTTP API, which the bridge asks who is online.
        ejabberd_api: (kind == crate::support::ServerKind::Ejabberd).then(|| server.api_url()),
        extra_toml: extra_toml.to_owned(),
        storage_url,
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    let arcade = login(&server, "arcade").await;
    let mut clients = vec![login(&server, host).await];
    for user in users {
        clients.push(login(&server, user).await);
    }
    for client in &mut clients {
        client.send_presence(None, None).await.unwrap();
    }
    let (first, rest) = clients.split_at_mut(1);
    for other in rest.iter_mut() {
        befriend(&mut first[0], other, T)
            .await
            .expect("mutual contacts");
    }
    for client in &mut clients {
        client.send_presence(None, None).await.unwrap();
        let shared = say(client, "share all").await;
        assert!(
            shared.starts_with("Every platform may now see you."),
            "{shared}"
        );
    }
    (server, bridge, arcade, clients)
}

pub(crate) fn jid(user: &str) -> String {
    format!("{user}@example.test")
}

/// The platform invites `invitees` of `host` (all of them comma-separated; empty: the
/// host's active peers).
pub(crate) async fn invite(
    arcade: &mut Client,
    host: &str,
    invitees: &[&str],
    expiry: &str,
) -> Element {
    let list: Vec<String> = invitees.iter().map(|i| jid(i)).collect();
    let mut fields = vec![
        ("host", jid(host)),
        ("game", "Chess".to_owned()),
        ("session", "table-7".to_owned()),
        ("join", "https://play.example.test/j/7".to_owned()),
        ("expiry", expiry.to_owned()),
    ];
    if !list.is_empty() {
        fields.push(("invitees", list.join(",")));
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    command(arcade, "invite", &fields, None).await
}

pub(crate) fn row_of(reply: &Element, user: &str) -> Row {
    rows(&form(reply))
        .into_iter()
        .find(|r| r["jid"] == vec![jid(user)])
        .unwrap_or_else(|| panic!("no row for {user} in {}", String::from(reply)))
}

/// The next invite news the platform receives, as its form.
pub(crate) async fn news(arcade: &mut Client) -> Element {
    let message = arcade
        .recv_matching(T, |e| {
            e.name() == "message"
                && e.attr("from") == Some(COMPONENT_JID)
                && e.get_child("x", "jabber:x:data").is_some()
        })
        .await
        .expect("the platform is told");
    message.get_child("x", "jabber:x:data").unwrap().clone()
}

pub(crate) fn one(form: &Element, var: &str) -> String {
    field(form, var).join(",")
}

/// The prompt id of the invitation `user` received.
pub(crate) async fn invitation(user: &mut Client) -> (String, Element) {
    let message = receive(user, "invites you to play Chess").await;
    let id = one(message.get_child("x", "jabber:x:data").unwrap(), "prompt");
    (id, message)
}

on_both_servers!(
    /// One invite, five invitees, each answering another way; the host and the platform
    /// hear of every answer, and the invite turns ready at the first acceptance.
    async fn an_invite_answered_every_way(kind) {
        let (server, bridge, mut arcade, mut c) =
            world(kind, "alice", &["bob", "carol", "dave", "erin", "fay"], "").await;
        // fay's client speaks French, and says so on what it sends.
        c[5].send_xml("<presence xml:lang='fr'/>").await.unwrap();
        // Her next words reach the bridge after the presence: once answered, it is heard.
        say(&mut c[5], "privacy").await;
        let reply = invite(&mut arcade, "alice", &["bob", "carol", "dave", "erin", "fay"], "600").await;
        assert_eq!(reply.attr("type"), Some("result"), "{}", String::from(&reply));
        let id = result_field(&reply, "invite");
        assert_eq!(result_field(&reply, "outcome"), "waiting");
        for user in ["bob", "carol", "dave", "erin", "fay"] {
            assert_eq!(row_of(&reply, user)["result"], vec!["sent"], "{user}");
        }
        let mut ids = Vec::new();
        for client in c.iter_mut().skip(1).take(4) {
            ids.push(invitation(client).await);
        }
        let french = receive(&mut c[5], "vous invite à jouer à Chess").await;
        assert!(String::from(&french).contains("xml:lang='fr'"), "{}", String::from(&french));
        assert!(body(&french).contains("Rejoindre: https://play.example.test/j/7"), "{}", body(&french));
        let (bob_id, bob_message) = &ids[0];
        let raw = String::from(bob_message);
        eprintln!("invitation as bob's client received it:\n{raw}");
        for piece in [
            format!("<thread>prompt-{bob_id}</thread>"),
            format!("node='prompt/{bob_id}/accept'"),
            format!("value='decline {bob_id}'"),
            format!("id='prompt-{bob_id}'"),
            "Join: https://play.example.test/j/7".to_owned(),
        ] {
            assert!(raw.contains(&piece), "{piece} missing from {raw}");
        }
        let (alice, rest) = c.split_at_mut(1);
        let alice = &mut alice[0];
        // 1. bob: the reply word.
        let said = say(&mut rest[0], &format!("accept {bob_id}")).await;
        assert!(said.starts_with("You accepted alice@example.test's invitation to Chess."), "{said}");
        let told = news(&mut arcade).await;
        assert_eq!(
            (one(&told, "invite"), one(&told, "invitee"), one(&told, "answer"), one(&told, "outcome")),
            (id.clone(), jid("bob"), "accepted".to_owned(), "ready".to_owned())
        );
        assert_eq!(one(&told, "session"), "table-7");
        receive(alice, "bob@example.test accepted your invitation to Chess.").await;
        // 2. carol: the form in the message, sent back without a thread (Profanity).
        let carol_id = &ids[1].0;
        rest[1]
            .send_xml(&format!(
                "<message to='{COMPONENT_JID}'><x xmlns='jabber:x:data' type='submit'>\
                 <field var='FORM_TYPE' type='hidden'><value>urn:xmpp-game-bridge:prompt:1</value></field>\
                 <field var='prompt'><value>{carol_id}</value></field><field var='answer'><value>decline</value></field></x></message>"
            ))
            .await
            .unwrap();
        receive(&mut rest[1], "You declined alice@example.test's invitation").await;
        assert_eq!(one(&news(&mut arcade).await, "answer"), "declined");
        receive(alice, "carol@example.test declined your invitation to Chess.").await;
        // 3. dave: the command listed in the message (Cheogram's button).
        let dave_id = &ids[2].0;
        let ran = rest[2]
            .iq_xml(
                &format!(
                    "<iq type='set' to='{COMPONENT_JID}'><command xmlns='http://jabber.org/protocol/commands' node='prompt/{dave_id}/accept' action='execute'/></iq>"
                ),
                T,
            )
            .await
            .unwrap();
        assert!(String::from(&ran).contains("You accepted alice@example.test"), "{}", String::from(&ran));
        assert_eq!(one(&news(&mut arcade).await, "invitee"), jid("dave"));
        // 4. erin: her own invitations command.
        let listed = say(&mut rest[3], "invitations").await;
        let erin_id = &ids[3].0;
        assert!(listed.contains(&format!("\"accept {erin_id}\": alice@example.test invites you to Chess")), "{listed}");
        let answered = command(&mut rest[3], "invitations", &[("prompt", erin_id), ("answer", "decline")], None).await;
        assert!(String::from(&answered).contains("You declined"), "{}", String::from(&answered));
        assert_eq!(one(&news(&mut arcade).await, "answer"), "declined");
        // 5. fay answers in the game: the platform finds her invitation and records it.
        let pending = command(&mut arcade, "pending", &[("jid", "fay@example.test")], None).await;
        let waiting = rows(&form(&pending));
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0]["invite"], vec![id.clone()]);
        assert_eq!(waiting[0]["host"], vec![jid("alice")]);
        let recorded = command(&mut arcade, "answer", &[("invite", &id), ("jid", "fay@example.test"), ("answer", "accept")], None).await;
        assert_eq!(result_field(&recorded, "outcome"), "ready");
        let told = news(&mut arcade).await;
        assert_eq!((one(&told, "answer"), one(&told, "how")), ("accepted".to_owned(), "platform".to_owned()));
        // Answered once: bob's second answer is explained.
        let again = say(&mut rest[0], &format!("decline {bob_id}")).await;
        assert_eq!(again, format!("You already accepted the invitation {bob_id} from alice@example.test."));
        let status = command(&mut arcade, "invite-status", &[("invite", &id)], None).await;
        let mut answers: Vec<(String, String)> = rows(&form(&status))
            .into_iter()
            .map(|r| (r["jid"].join(""), r["answer"].join("")))
            .collect();
        answers.sort();
        assert_eq!(
            answers,
            ["accepted", "declined", "accepted", "declined", "accepted"]
                .iter()
                .zip(["bob", "carol", "dave", "erin", "fay"])
                .map(|(a, u)| (jid(u), (*a).to_owned()))
                .collect::<Vec<_>>()
        );
        // The session starts: the host and the three who accepted are shown playing
        // (XEP-0196) where the server lets the bridge publish as them; then it ends.
        let started = command(&mut arcade, "session-started", &[("invite", &id)], None).await;
        assert_eq!(result_field(&started, "state"), "started");
        let playing = |who: &str| {
            format!(
                "<iq type='get' to='{who}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:gaming:0'/></pubsub></iq>"
            )
        };
        match kind {
            crate::support::ServerKind::Prosody => {
                assert_eq!(result_field(&started, "published"), "4");
                let items = alice.iq_xml(&playing("alice@example.test"), T).await.unwrap();
                assert!(String::from(&items).contains("<name>Chess</name>"), "{}", String::from(&items));
            }
            crate::support::ServerKind::Ejabberd => {
                // ejabberd 23.01 grants no iq privilege: nothing published, and the summary says why.
                assert_eq!(result_field(&started, "published"), "");
                assert!(String::from(&started).contains("nothing published"), "{}", String::from(&started));
            }
        }
        let ended = command(&mut arcade, "session-ended", &[("invite", &id)], None).await;
        assert_eq!(result_field(&ended, "state"), "ended");
        if kind == crate::support::ServerKind::Prosody {
            assert_eq!(result_field(&ended, "published"), "4");
            let items = alice.iq_xml(&playing("alice@example.test"), T).await.unwrap();
            assert!(!String::from(&items).contains("<name>Chess</name>"), "{}", String::from(&items));
        }
        drop((server, bridge));
    }
);

on_both_servers!(
    /// bob invites alice; before she answers, alice invites bob and dave: one invite
    /// links alice and bob, alice counts as accepted there, dave gets alice's own.
    async fn crossed_invites_merge(kind) {
        let (server, bridge, mut arcade, mut c) =
            world(kind, "alice", &["bob", "dave"], "").await;
        let first = invite(&mut arcade, "bob", &["alice"], "600").await;
        let bobs = result_field(&first, "invite");
        assert_eq!(row_of(&first, "alice")["result"], vec!["sent"]);
        invitation(&mut c[0]).await;
        let second = invite(&mut arcade, "alice", &["bob", "dave"], "600").await;
        assert_eq!(row_of(&second, "bob")["result"], vec!["joined"]);
        assert_eq!(row_of(&second, "bob")["invite"], vec![bobs.clone()]);
        assert_eq!(row_of(&second, "dave")["result"], vec!["sent"]);
        assert_eq!(result_field(&second, "joined"), bobs);
        let told = news(&mut arcade).await;
        assert_eq!(
            (one(&told, "invite"), one(&told, "invitee"), one(&told, "how"), one(&told, "outcome")),
            (bobs.clone(), jid("alice"), "merge".to_owned(), "ready".to_owned())
        );
        invitation(&mut c[2]).await;
        // bob received no second invitation.
        c[1].expect_none_matching(Duration::from_millis(300), |e| {
            e.name() == "message" && body(e).contains("invites you")
        })
        .await
        .unwrap();
        drop((server, bridge));
    }
);

on_both_servers!(
    /// An invite nobody answers ends solo while the bridge is down (killed with -9):
    /// at restart the platform is told. A second one is cancelled and its invitees told.
    /// A third survives a clean restart and is answered after it.
    async fn expiry_cancel_and_restarts_in_the_middle(kind) {
        let (server, mut bridge, mut arcade, mut c) =
            world(kind, "alice", &["bob", "dave"], "").await;
        let short = invite(&mut arcade, "alice", &["bob"], "30").await;
        let short_id = result_field(&short, "invite");
        invitation(&mut c[1]).await;
        let cancelled = invite(&mut arcade, "alice", &["dave"], "600").await;
        let cancelled_id = result_field(&cancelled, "invite");
        let (dave_id, _) = invitation(&mut c[2]).await;
        let reply = command(&mut arcade, "invite-cancel", &[("invite", &cancelled_id)], None).await;
        assert_eq!(result_field(&reply, "outcome"), "cancelled");
        receive(&mut c[2], &format!("invitation {dave_id} to Chess was cancelled")).await;
        assert_eq!(one(&news(&mut arcade).await, "answer"), "cancelled");
        let said = say(&mut c[2], &format!("accept {dave_id}")).await;
        assert!(said.ends_with("was cancelled."), "{said}");

        // Killed while the short invite waits, and kept down past its expiry.
        bridge.kill();
        tokio::time::sleep(Duration::from_secs(31)).await;
        bridge.start_again().unwrap();
        let told = news(&mut arcade).await;
        assert_eq!(
            (one(&told, "invite"), one(&told, "answer"), one(&told, "outcome")),
            (short_id.clone(), "expired".to_owned(), "solo".to_owned())
        );
        receive(&mut c[0], "Nobody joined Chess in time").await;
        if kind == crate::support::ServerKind::Ejabberd {
            // ejabberd tells a component that connects again who is online, not how:
            // the users' next presence does.
            for client in c.iter_mut() {
                client.send_presence(None, None).await.unwrap();
            }
            for user in ["alice@example.test", "dave@example.test"] {
                crate::directory::status_until(&mut arcade, user, "available").await;
            }
        }

        // A pending invite across a clean stop: answered after the restart.
        let kept = invite(&mut arcade, "alice", &["dave"], "600").await;
        let kept_id = result_field(&kept, "invite");
        assert_eq!(row_of(&kept, "dave")["result"], vec!["sent"]);
        let (dave_id, _) = invitation(&mut c[2]).await;
        bridge.terminate().await.unwrap();
        bridge.start_again().unwrap();
        bridge.wait_for_count(crate::support::LINK_UP, 3, T).await.unwrap();
        let mut said = String::new();
        for _ in 0..50 {
            said = say(&mut c[2], &format!("accept {dave_id}")).await;
            if !said.contains("being answered") && !said.contains("There is no") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(said.starts_with("You accepted alice@example.test's invitation"), "{said}");
        let told = news(&mut arcade).await;
        assert_eq!((one(&told, "invite"), one(&told, "outcome")), (kept_id, "ready".to_owned()));
        drop((server, bridge));
    }
);

on_both_servers!(
    /// The bridge with its state in PostgreSQL (`storage.url`): consent given in a chat
    /// client, an invite answered, the operator's CLI reading the same database; killed
    /// (`kill -9`) with an invitation pending and started again on the same database, the
    /// invitation is answered after, and what was stored before is all there.
    async fn the_state_in_postgresql_survives_a_kill(kind) {
        let db = xmpp_game_bridge::store::testkit::database().expect("the test PostgreSQL");
        let (server, mut bridge, mut arcade, mut c) =
            world_in(kind, "alice", &["bob", "dave"], "", Some(db.url.clone())).await;
        let reply = invite(&mut arcade, "alice", &["bob"], "600").await;
        let first = result_field(&reply, "invite");
        let (bob_id, _) = invitation(&mut c[1]).await;
        let said = say(&mut c[1], &format!("accept {bob_id}")).await;
        assert!(said.starts_with("You accepted alice@example.test's invitation"), "{said}");
        let told = news(&mut arcade).await;
        assert_eq!((one(&told, "invite"), one(&told, "outcome")), (first.clone(), "ready".to_owned()));

        let kept = invite(&mut arcade, "alice", &["dave"], "600").await;
        let kept_id = result_field(&kept, "invite");
        let (dave_id, _) = invitation(&mut c[2]).await;
        bridge.kill();
        bridge.start_again().unwrap();
        bridge.wait_for_count(crate::support::LINK_UP, 2, T).await.unwrap();
        if kind == crate::support::ServerKind::Ejabberd {
            for client in c.iter_mut() {
                client.send_presence(None, None).await.unwrap();
            }
        }
        // Killed right after the invitation left, the bridge may not have recorded that
        // it did: it sends it again, under the same id.
        let said = crate::standby::accept(&mut c[2], &dave_id).await;
        assert!(said.starts_with("You accepted alice@example.test's invitation"), "{said}");
        let told = news(&mut arcade).await;
        assert_eq!((one(&told, "invite"), one(&told, "outcome")), (kept_id, "ready".to_owned()));
        // The first invite, answered before the kill, is as it was.
        let status = command(&mut arcade, "invite-status", &[("invite", &first)], None).await;
        assert_eq!(result_field(&status, "outcome"), "ready", "{}", String::from(&status));
        // Each user's consent, given before the kill, still holds: bob is shown.
        crate::directory::status_until(&mut arcade, "bob@example.test", "available").await;
        // The operator's CLI reads the same database.
        let platforms = bridge.cli(&["platform", "list"]).unwrap();
        assert!(platforms.contains(ARCADE), "{platforms}");
        // bob's status was just disclosed: recorded within a moment, in the same database.
        let mut audit = String::new();
        for _ in 0..100 {
            audit = bridge.cli(&["audit", "--user", "bob@example.test"]).unwrap();
            if audit.contains(ARCADE) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(audit.contains(ARCADE) && audit.contains("status"), "{audit}");
        drop((server, bridge));
    }
);

on_both_servers!(
    /// An installation on SQLite moves to PostgreSQL as the README says: the bridge
    /// stopped, `migrate-storage` copies its database and checks the copy, the
    /// configuration names `storage.url`, and the bridge started again finds everything:
    /// an invitation pending from before is answered, consent holds, the disclosure
    /// record is the same.
    async fn a_sqlite_installation_moves_to_postgresql(kind) {
        let (server, mut bridge, mut arcade, mut c) =
            world(kind, "alice", &["bob", "dave"], "").await;
        let reply = invite(&mut arcade, "alice", &["bob"], "600").await;
        let first = result_field(&reply, "invite");
        let (bob_id, _) = invitation(&mut c[1]).await;
        let said = say(&mut c[1], &format!("accept {bob_id}")).await;
        assert!(said.starts_with("You accepted"), "{said}");
        news(&mut arcade).await;
        let kept = invite(&mut arcade, "alice", &["dave"], "600").await;
        let kept_id = result_field(&kept, "invite");
        let (dave_id, _) = invitation(&mut c[2]).await;
        crate::directory::status_until(&mut arcade, "bob@example.test", "available").await;
        bridge.terminate().await.unwrap();
        let audit_before = bridge.cli(&["audit"]).unwrap();
        assert!(audit_before.contains(ARCADE), "{audit_before}");

        let db = xmpp_game_bridge::store::testkit::database().expect("the test PostgreSQL");
        let out = std::process::Command::new(crate::support::binary())
            .args(["migrate-storage", "--from"])
            .arg(bridge.database_path())
            .args(["--to", &db.url])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{printed}{}", String::from_utf8_lossy(&out.stderr));
        assert!(printed.contains("every count and checksum the same"), "{printed}");
        for table in ["consent", "invite", "prompt", "audit", "platform", "meta"] {
            let line = printed.lines().find(|l| l.starts_with(table)).unwrap_or_else(|| panic!("{printed}"));
            let rows: Vec<&str> = line.split_whitespace().collect();
            assert!(rows[1] != "0" && rows[1] == rows[2], "{line}");
        }

        let config = std::fs::read_to_string(bridge.config_path()).unwrap();
        let path_line = config.lines().find(|l| l.starts_with("path = ")).unwrap().to_owned();
        let config = config.replace(&path_line, &format!("url = \"{}\"", db.url));
        std::fs::write(bridge.config_path(), config).unwrap();
        std::fs::remove_file(bridge.database_path()).unwrap();
        bridge.start_again().unwrap();
        bridge.wait_for_count(crate::support::LINK_UP, 2, T).await.unwrap();
        assert!(bridge.log().contains("kind=\"postgresql\""), "{}", bridge.log_tail(20));
        if kind == crate::support::ServerKind::Ejabberd {
            for client in c.iter_mut() {
                client.send_presence(None, None).await.unwrap();
            }
        }
        let said = crate::standby::accept(&mut c[2], &dave_id).await;
        assert!(said.starts_with("You accepted alice@example.test's invitation"), "{said}");
        let told = news(&mut arcade).await;
        assert_eq!((one(&told, "invite"), one(&told, "outcome")), (kept_id, "ready".to_owned()));
        let status = command(&mut arcade, "invite-status", &[("invite", &first)], None).await;
        assert_eq!(result_field(&status, "outcome"), "ready");
        crate::directory::status_until(&mut arcade, "bob@example.test", "available").await;
        let audit_after = bridge.cli(&["audit"]).unwrap();
        for line in audit_before.lines().filter(|l| l.contains(ARCADE)) {
            assert!(audit_after.contains(line), "{line} is gone:\n{audit_after}");
        }
        drop((server, bridge));
    }
);

on_both_servers!(
    /// A muted host, a host declined too often, a host over its hourly rate, and users
    /// who do not share: their invitations are not sent, and the platform is told why.
    async fn the_abuse_limits_and_consent(kind) {
        let (server, bridge, mut arcade, mut c) = world(
            kind,
            "alice",
            &["bob", "carol", "dave"],
            "\n[invites]\ndeclines_before_cooldown = 1\nper_host_per_hour = 4\n",
        )
        .await;
        let said = say(&mut c[2], "mute alice@example.test").await;
        assert!(said.starts_with("You will get no more invitations from alice@example.test"), "{said}");
        let said = say(&mut c[3], "share none").await;
        assert!(said.starts_with("No platform sees you now."), "{said}");
        let reply = invite(&mut arcade, "alice", &["bob", "carol", "dave", "nobody"], "600").await;
        assert_eq!(row_of(&reply, "bob")["result"], vec!["sent"]);
        assert_eq!(row_of(&reply, "carol")["result"], vec!["muted"]);
        // Who does not share is told as who does not exist.
        assert_eq!(row_of(&reply, "dave")["result"], vec!["not-consenting"]);
        assert_eq!(row_of(&reply, "nobody")["result"], vec!["not-consenting"]);
        let (bob_id, _) = invitation(&mut c[1]).await;
        say(&mut c[1], &format!("decline {bob_id}")).await;
        // One decline is enough here: alice's next invitation to bob is held back.
        let reply = invite(&mut arcade, "alice", &["bob"], "600").await;
        assert_eq!(row_of(&reply, "bob")["result"], vec!["cooldown"]);
        let said = say(&mut c[2], "unmute").await;
        assert!(said.starts_with("Game invitations reach you again."), "{said}");
        // Four invitations an hour: bob's counted, carol's is the second...
        let reply = invite(&mut arcade, "alice", &["carol"], "600").await;
        assert_eq!(row_of(&reply, "carol")["result"], vec!["sent"]);
        let carol = result_field(&reply, "invite");
        command(&mut arcade, "invite-cancel", &[("invite", &carol)], None).await;
        let reply = invite(&mut arcade, "alice", &["carol"], "600").await;
        let carol = result_field(&reply, "invite");
        command(&mut arcade, "invite-cancel", &[("invite", &carol)], None).await;
        invite(&mut arcade, "alice", &["carol"], "600").await;
        // ...and the fifth is over the rate.
        let cancel_last = rows(&form(&command(&mut arcade, "pending", &[("jid", "carol@example.test")], None).await));
        command(&mut arcade, "invite-cancel", &[("invite", &cancel_last[0]["invite"][0])], None).await;
        let reply = invite(&mut arcade, "alice", &["carol"], "600").await;
        assert_eq!(row_of(&reply, "carol")["result"], vec!["rate-limited"]);
        // A host who is not available hosts nothing.
        c[0].send_presence(Some("dnd"), None).await.unwrap();
        let mut refused = (String::new(), String::new());
        for _ in 0..50 {
            let reply = invite(&mut arcade, "alice", &["carol"], "600").await;
            if reply.attr("type") == Some("error") {
                refused = condition(&reply);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(refused.0, "not-acceptable");
        assert!(refused.1.contains("cannot host an invite now"), "{}", refused.1);
        drop((server, bridge));
    }
);

on_both_servers!(
    /// The example platform a game developer copies (`examples/platform`, a tokio-xmpp
    /// client) invites alice's peers twice: bob accepts the first (it prints `ready` and
    /// starts the game), both decline the second (it prints `solo`).
    async fn the_example_platform_reacts_to_ready_and_solo(kind) {
        let (server, bridge, _arcade, mut c) = world(kind, "alice", &["bob", "carol"], "").await;
        let mut platform = crate::support::Platform::start(&server, "arcade", None).expect("the platform starts");
        platform.wait_for("logged in as arcade@example.test", T).await.unwrap();
        platform.say("invite alice@example.test Chess").unwrap();
        let peers = platform.wait_for("peers of alice@example.test:", T).await.unwrap();
        assert!(peers.contains("bob@example.test") && peers.contains("carol@example.test"), "{peers}");
        platform.wait_for("waiting for answers", T).await.unwrap();
        let (bob_id, _) = invitation(&mut c[1]).await;
        let (carol_id, _) = invitation(&mut c[2]).await;
        say(&mut c[1], &format!("accept {bob_id}")).await;
        let ready = platform.wait_for("ready:", T).await.unwrap();
        assert_eq!(ready, "ready: starting a multiplayer game of Chess for alice@example.test and bob@example.test");
        // The game started: carol's invitation is closed, and her late answer explained.
        platform.wait_for("news: carol@example.test closed invite", T).await.unwrap();
        let late = say(&mut c[2], &format!("decline {carol_id}")).await;
        assert!(late.contains("started without waiting"), "{late}");
        platform.say("over").unwrap();
        platform.wait_for("game over", T).await.unwrap();

        platform.say("invite alice@example.test Go").unwrap();
        platform.wait_for("waiting for answers", T).await.unwrap();
        let go = |e: &Element| e.name() == "message" && body(e).contains("to play Go");
        for user in [1, 2] {
            let message = c[user].recv_matching(T, go).await.expect("invited to Go");
            let id = one(message.get_child("x", "jabber:x:data").unwrap(), "prompt");
            say(&mut c[user], &format!("decline {id}")).await;
        }
        let solo = platform.wait_for("solo:", T).await.unwrap();
        assert_eq!(solo, "solo: nobody joined, starting a single-player game of Go for alice@example.test");
        // The host hears that nobody joined, not only who declined.
        let alone = receive(&mut c[0], "Nobody joined Go").await;
        assert!(body(&alone).contains("solo game"), "{}", body(&alone));
        // A refusal is reported, and the platform goes on.
        platform.say("peers zoe@elsewhere.example").unwrap();
        let refused = platform.wait_for("refused", T).await.unwrap();
        assert!(refused.contains("zoe@elsewhere.example"), "{refused}");
        platform.say("peers alice@example.test").unwrap();
        platform.wait_for("peers of alice@example.test:", T).await.unwrap();
        drop((server, bridge));
    }
);

on_both_servers!(
    /// A ready session the platform never ends still links its players, and says so:
    /// since when, and how the platform ends it; then it ends by itself, the platform is
    /// told, and the same two can be invited again.
    async fn a_ready_session_ends_by_itself(kind) {
        let (server, bridge, mut arcade, mut c) = world(
            kind,
            "alice",
            &["bob"],
            "\n[invites]\ndefault_expiry_secs = 30\nmax_expiry_secs = 30\nsession_max_secs = 30\n",
        )
        .await;
        let first = invite(&mut arcade, "alice", &["bob"], "30").await;
        let id = result_field(&first, "invite");
        let (bob_id, _) = invitation(&mut c[1]).await;
        say(&mut c[1], &format!("accept {bob_id}")).await;
        assert_eq!(one(&news(&mut arcade).await, "outcome"), "ready");
        let again = invite(&mut arcade, "alice", &["bob"], "30").await;
        let row = row_of(&again, "bob");
        assert_eq!(row["result"], vec!["already-invited"]);
        assert_eq!(row["invite"], vec![id.clone()]);
        assert!(!row["since"].join("").is_empty(), "since when: {row:?}");
        let text = String::from(&again);
        for piece in ["session-ended", "invite-cancel", "ends by itself"] {
            assert!(text.contains(piece), "{piece} missing from {text}");
        }
        // Nobody ends it: it ends by itself, and the platform is told.
        let ended = arcade
            .recv_matching(Duration::from_secs(60), |e| {
                e.name() == "message" && String::from(e).contains("<value>ended</value>")
            })
            .await
            .expect("the platform is told the session ended");
        let ended = ended.get_child("x", "jabber:x:data").unwrap().clone();
        assert_eq!((one(&ended, "invite"), one(&ended, "state")), (id.clone(), "ended".to_owned()));
        let status = command(&mut arcade, "invite-status", &[("invite", &id)], None).await;
        assert_eq!(result_field(&status, "state"), "ended");
        let third = invite(&mut arcade, "alice", &["bob"], "30").await;
        assert_eq!(row_of(&third, "bob")["result"], vec!["sent"]);
        drop((server, bridge));
    }
);

on_both_servers!(
    /// What the invite form and its refusals say of the number of invitees is what the
    /// operator configured.
    async fn the_invitee_limit_is_the_configured_one(kind) {
        let (server, bridge, mut arcade, _c) =
            world(kind, "alice", &["bob"], "\n[invites]\nmax_invitees = 4\n").await;
        let blank = arcade
            .iq_xml(
                &format!(
                    "<iq type='set' to='{COMPONENT_JID}'><command xmlns='http://jabber.org/protocol/commands' node='invite' action='execute'/></iq>"
                ),
                T,
            )
            .await
            .unwrap();
        let text = String::from(&blank);
        assert!(text.contains("at most 4"), "{text}");
        assert!(!text.contains("at most 20"), "{text}");
        for count in [5, 101] {
            let many: Vec<String> = (0..count).map(|i| format!("u{i}")).collect();
            let many: Vec<&str> = many.iter().map(String::as_str).collect();
            let refused = invite(&mut arcade, "alice", &many, "600").await;
            let (condition, text) = condition(&refused);
            assert_eq!(condition, "bad-request", "{count}");
            assert!(text.contains("at most 4"), "{count}: {text}");
        }
        drop((server, bridge));
    }
);
