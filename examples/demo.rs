//! The demo flow behind `scripts/demo.sh`: a real Prosody on loopback with demo users,
//! the component attached to it, and the exchanges a chat user and an operator have with
//! it, printed as they happen.
//!
//! It reuses the integration tests' support code (server launcher, c2s client, component
//! runner) rather than a second copy of it.
//!
//! `--keep` leaves everything running after the flow and prints how to connect a real
//! chat client, until Ctrl-C.

#![allow(clippy::print_stdout)]

#[path = "../tests/integration/support/mod.rs"]
#[allow(unused_macros)]
mod support;

use std::process::ExitCode;
use std::time::Duration;

use minidom::Element;
use support::{Bridge, Client, Server, ServerKind, COMPONENT_JID};

const T: Duration = Duration::from_secs(10);
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const USERS: &[(&str, &str)] = &[
    ("admin", "admin-pw"),
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let keep = std::env::args().any(|a| a == "--keep");
    match run(keep).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(keep: bool) -> Result<(), String> {
    step("Starting a private Prosody on loopback (generated config, free ports)");
    let server = Server::start(ServerKind::Prosody).await?;
    say(&format!(
        "Prosody is up: c2s on 127.0.0.1:{}, component port 127.0.0.1:{}, config in {}",
        server.c2s_port(),
        server.component_port(),
        server.dir().display()
    ));
    server.register_many(USERS).await?;
    say("demo users: admin@example.test, alice@example.test, bob@example.test (password: <name>-pw)");

    step("Starting xmpp-game-bridge attached to it (operator: admin@example.test)");
    let mut bridge = Bridge::start(&server, &["admin@example.test"]).await?;
    bridge.wait_connected(T).await?;
    say(&format!(
        "the component {COMPONENT_JID} is linked; its log: {}",
        bridge.log_path().display()
    ));

    let mut alice = Client::connect(&server, "alice", "alice-pw", "laptop").await?;
    alice.send_presence(None, Some("around")).await?;

    step("alice discovers the component (XEP-0030)");
    let info = exchange(
        &mut alice,
        "<iq type='get' to='game.example.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    .await?;
    if let Some(query) = info.get_child("query", "http://jabber.org/protocol/disco#info") {
        for child in query.children() {
            match (child.name(), child.attr("var")) {
                ("identity", _) => say(&format!(
                    "identity: {}/{} \"{}\"",
                    child.attr("category").unwrap_or(""),
                    child.attr("type").unwrap_or(""),
                    child.attr("name").unwrap_or("")
                )),
                (_, Some(var)) => say(&format!("feature: {var}")),
                _ => {}
            }
        }
    }

    step("alice pings it (XEP-0199)");
    exchange(
        &mut alice,
        "<iq type='get' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>",
    )
    .await?;

    step("alice lists the commands she may run (XEP-0050): none yet for a plain user");
    exchange(
        &mut alice,
        "<iq type='get' to='game.example.test'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>",
    )
    .await?;

    step("alice tries the operator command \"stats\" and is refused, with a reason");
    let refused = exchange(&mut alice, &stats_request()).await?;
    if let Some(text) = refused
        .get_child("error", support::NS_CLIENT)
        .and_then(|e| e.get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas"))
    {
        say(&format!("alice reads: {}", text.text()));
    }

    step("bob sends the component a presence that xmpp-parsers would reject; the link stays up");
    let mut bob = Client::connect(&server, "bob", "bob-pw", "phone").await?;
    let bad = "<presence to='game.example.test'><show>online</show></presence>";
    println!("  {} → {bad}", bob.bare_jid());
    bob.send_xml(bad).await?;
    exchange(
        &mut bob,
        "<iq type='get' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>",
    )
    .await?;

    step("the operator runs \"stats\" from a chat client");
    let mut admin = Client::connect(&server, "admin", "admin-pw", "console").await?;
    admin.send_presence(None, None).await?;
    let stats = exchange(&mut admin, &stats_request()).await?;
    print_form(&stats);

    if keep {
        step("Everything stays up; press Ctrl-C to stop");
        say(&format!(
            "connect a chat client to 127.0.0.1:{} (plain TCP, no TLS) as alice@example.test / alice-pw",
            server.c2s_port()
        ));
        let _ = tokio::signal::ctrl_c().await;
    }

    step("Stopping the component (SIGTERM) and Prosody");
    let status = bridge.terminate().await?;
    say(&format!(
        "xmpp-game-bridge exited with {status}; the end of its log:"
    ));
    for line in bridge.log_tail(6).lines() {
        say(&format!("  {line}"));
    }
    drop(server);
    say("done");
    if status.success() {
        Ok(())
    } else {
        Err(format!("the component exited with {status}"))
    }
}

fn stats_request() -> String {
    format!("<iq type='set' to='game.example.test'><command xmlns='{NS_COMMANDS}' node='stats' action='execute'/></iq>")
}

/// Sends one IQ, prints both directions, returns the reply.
async fn exchange(client: &mut Client, xml: &str) -> Result<Element, String> {
    println!("  {} → {xml}", client.bare_jid());
    let reply = client.iq_xml(xml, T).await?;
    println!("  {} ← {}", client.bare_jid(), String::from(&reply));
    Ok(reply)
}

fn print_form(reply: &Element) {
    let Some(form) = reply
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
    else {
        return;
    };
    for field in form.children().filter(|f| f.name() == "field") {
        let values: Vec<String> = field.children().map(|v| v.text()).collect();
        say(&format!(
            "{:<34} {}",
            field.attr("label").or(field.attr("var")).unwrap_or(""),
            values.join(", ")
        ));
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn say(line: &str) {
    println!("   {line}");
}
