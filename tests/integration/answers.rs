//! Compact answers through the real servers, as a platform reads them: the same facts as
//! the data form, valid against `schemas/compact-1.xsd` (checked with `xmllint`), chosen
//! per request or once with the `platform set-answers` CLI.

use std::time::Duration;

use minidom::Element;

use crate::directory::{field, form, friends, login, rows, world, World};
use crate::support::{on_both_servers, show, Client, ServerOptions, COMPONENT_JID};

const T: Duration = Duration::from_secs(10);
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const COMPACT_NS: &str = "urn:xmpp-game-bridge:compact:1";

async fn ask(
    platform: &mut Client,
    node: &str,
    var: &str,
    values: &[&str],
    format: Option<&str>,
) -> Element {
    let values: String = values
        .iter()
        .map(|v| format!("<value>{v}</value>"))
        .collect();
    let format = format
        .map(|f| format!("<field var='format'><value>{f}</value></field>"))
        .unwrap_or_default();
    let xml = format!(
        "<iq type='set' to='{COMPONENT_JID}'><command xmlns='{NS_COMMANDS}' node='{node}' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='{var}'>{values}</field>{format}</x></command></iq>"
    );
    platform.iq_xml(&xml, T).await.expect("command answered")
}

/// The compact payload of a reply, checked against the published schema.
fn compact(reply: &Element, name: &str) -> Element {
    let payload = reply
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.get_child(name, COMPACT_NS))
        .cloned()
        .unwrap_or_else(|| panic!("no compact <{name}/>: {}", show(reply)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answer.xml");
    std::fs::write(&path, String::from(&payload)).unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/compact-1.xsd");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(&path)
        .output()
        .expect("xmllint runs (apt-get install -y libxml2-utils)");
    assert!(
        out.status.success(),
        "{} is not valid against compact-1.xsd: {}",
        String::from(&payload),
        String::from_utf8_lossy(&out.stderr)
    );
    payload
}

on_both_servers!(
    async fn compact_answers_say_what_the_form_says(kind) {
        let World { server, bridge, mut platform } =
            world(kind, &ServerOptions::default(), &["alice", "bob", "carol"], "").await;
        let (mut alice, mut bob) = friends(&server, "alice", "bob").await;
        let mut carol = login(&server, "carol").await;
        carol.send_presence(Some("away"), Some("at lunch & back <soon>")).await.unwrap();
        bob.send_presence(Some("chat"), Some("up for a game")).await.unwrap();
        alice.send_presence(None, None).await.unwrap();

        // Polled until the bridge heard bob: presence reaches it asynchronously.
        let deadline = std::time::Instant::now() + T;
        let peers = loop {
            let reply = ask(&mut platform, "peers", "jid", &["alice@example.test"], Some("compact")).await;
            let peers = compact(&reply, "peers");
            if peers.children().any(|p| p.attr("jid") == Some("bob@example.test") && p.text() == "up for a game") {
                break peers;
            }
            assert!(std::time::Instant::now() < deadline, "bob never listed: {}", show(&reply));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let form_reply = ask(&mut platform, "peers", "jid", &["alice@example.test"], None).await;
        let peers_form = form(&form_reply);
        assert_eq!(peers.attr("availability"), Some("available"));
        assert_eq!(field(&peers_form, "tier"), vec![peers.attr("tier").unwrap().to_owned()]);
        assert_eq!(field(&peers_form, "rights"), vec![peers.attr("rights").unwrap().to_owned()]);
        let row = &rows(&peers_form)[0];
        let bob_item = peers.children().next().unwrap();
        assert_eq!(row["jid"], vec![bob_item.attr("jid").unwrap()]);
        assert_eq!(row["availability"], vec![bob_item.attr("availability").unwrap()]);
        assert_eq!(row["last-activity"], vec![bob_item.attr("last-activity").unwrap()]);
        assert_eq!(row["rights"], vec![peers.attr("rights").unwrap()], "bob has alice's rights");
        assert!(!row.contains_key("tier"), "the tier is not repeated per row: {row:?}");
        assert!(String::from(&peers).len() * 2 < String::from(&form_reply).len());

        // carol's presence comes on a connection of her own: waited for.
        crate::directory::status_until(&mut platform, "carol@example.test", "away").await;
        let reply = ask(
            &mut platform,
            "status",
            "jids",
            &["carol@example.test", "nobody@example.test", "zoe@elsewhere.example"],
            Some("compact"),
        )
        .await;
        let users: Vec<Element> = compact(&reply, "users").children().cloned().collect();
        assert_eq!(users[0].attr("availability"), Some("away"));
        assert_eq!(users[0].text(), "at lunch & back <soon>");
        // Prosody replays who is online at connect, so a user it did not mention is
        // offline; ejabberd does not, so one never heard of is unknown.
        assert!(matches!(users[1].attr("availability"), Some("offline" | "unknown")), "{}", show(&users[1]));
        assert_eq!(users[2].attr("served"), Some("0"));

        // Once in the registry: compact unless a request asks for the form.
        let said = bridge.cli(&["platform", "set-answers", "arcade@example.test", "compact"]).expect("set-answers");
        assert!(said.contains("answers as compact"), "{said}");
        let deadline = std::time::Instant::now() + T;
        loop {
            let reply = ask(&mut platform, "status", "jids", &["carol@example.test"], None).await;
            let command = reply.get_child("command", NS_COMMANDS).unwrap();
            if command.has_child("users", COMPACT_NS) {
                compact(&reply, "users");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the registry change was not seen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let reply = ask(&mut platform, "status", "jids", &["carol@example.test"], Some("form")).await;
        assert_eq!(rows(&form(&reply))[0]["availability"], vec!["away"]);
        drop((alice, bob, carol, server));
    }
);
