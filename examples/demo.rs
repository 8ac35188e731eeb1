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
use support::{
    befriend, Bridge, BridgeConfig, Client, Server, ServerKind, ServerOptions, COMPONENT_JID,
};

const T: Duration = Duration::from_secs(10);
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const USERS: &[(&str, &str)] = &[
    ("admin", "admin-pw"),
    ("arcade", "arcade-pw"),
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("carol", "carol-pw"),
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
    step("Starting a private Prosody on loopback (generated config, free ports, mod_game_bridge_activity loaded)");
    let server = Server::start_with(
        ServerKind::Prosody,
        &ServerOptions {
            activity_module: Some(60),
            ..ServerOptions::default()
        },
    )
    .await?;
    say(&format!(
        "Prosody is up: c2s on 127.0.0.1:{}, component port 127.0.0.1:{}, config in {}",
        server.c2s_port(),
        server.component_port(),
        server.dir().display()
    ));
    server.register_many(USERS).await?;
    say("demo users: alice, bob, carol; admin (operator); arcade (a game platform's bot account); all @example.test, password <name>-pw");

    step("Starting xmpp-game-bridge attached to it (operator: admin, platform: arcade; HTTP front door on loopback)");
    let http_port = support::free_ports(1)?[0];
    let http_door = std::net::SocketAddr::from(([127, 0, 0, 1], http_port));
    let config = BridgeConfig {
        admins: vec!["admin@example.test".to_owned()],
        platforms: vec!["arcade@example.test".to_owned()],
        // Webhooks to this machine's loopback are the operator's to allow.
        extra_toml: format!("[http]\nlisten = \"{http_door}\"\nwebhook_allow = [\"127.0.0.1\"]\n"),
        // What the binary does by default: a user is invisible to platforms until they agree.
        consent: "opt-in",
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config).await?;
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

    step("alice lists the commands she may run (XEP-0050): a user's own (privacy, status for games, answers)");
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

    step("bob and carol come online; alice has both as mutual contacts");
    let mut bob = Client::connect(&server, "bob", "bob-pw", "phone").await?;
    let mut carol = Client::connect(&server, "carol", "carol-pw", "desk").await?;
    bob.send_presence(Some("chat"), Some("up for a game"))
        .await?;
    carol.send_presence(None, Some("working")).await?;
    befriend(&mut alice, &mut bob, T).await?;
    befriend(&mut alice, &mut carol, T).await?;
    for (client, show, status) in [
        (&mut alice, None, Some("around")),
        (&mut bob, Some("chat"), Some("up for a game")),
        (&mut carol, None, Some("working")),
    ] {
        client.send_presence(show, status).await?;
    }
    say("alice: available \"around\"; bob: chat \"up for a game\"; carol: available \"working\"");

    step("alice and bob tell the component, in a chat, that the platform may see them");
    chat(&mut alice, "share arcade").await?;
    chat(&mut bob, "share all").await?;

    let mut arcade = Client::connect(&server, "arcade", "arcade-pw", "engine").await?;
    step("the platform asks carol for consent; she answers in her chat client");
    let asked = exchange(
        &mut arcade,
        &format!(
            "<iq type='set' to='game.example.test'><command xmlns='{NS_COMMANDS}' node='request-consent' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>carol@example.test</value></field>\
             <field var='reason'><value>to find your friends for a game</value></field></x></command></iq>"
        ),
    )
    .await?;
    print_form(&asked);
    let question = carol
        .recv_matching(T, |e| {
            e.name() == "message" && e.get_child("thread", support::NS_CLIENT).is_some()
        })
        .await?;
    println!("  {} ← {}", carol.bare_jid(), String::from(&question));
    let id = question
        .get_child("thread", support::NS_CLIENT)
        .map(|t| t.text().trim_start_matches("prompt-").to_owned())
        .unwrap_or_default();
    chat(&mut carol, &format!("yes {id}")).await?;
    let told = arcade
        .recv_matching(T, |e| {
            e.name() == "message" && e.attr("from") == Some("game.example.test")
        })
        .await?;
    println!("  {} ← {}", arcade.bare_jid(), String::from(&told));

    step("the platform asks who alice is chatting with: nobody yet (conversation tier)");
    wait_for_presence(&mut arcade, "carol@example.test").await?;
    let peers = exchange(&mut arcade, &peers_request("alice@example.test")).await?;
    print_form(&peers);

    step("alice and bob chat");
    alice
        .send_message("bob@example.test", "fancy a round of chess?")
        .await?;
    bob.send_message("alice@example.test", "sure, give me a minute")
        .await?;
    say("alice → bob: fancy a round of chess?");
    say("bob → alice: sure, give me a minute");

    step("the platform asks again: bob is alice's active peer; carol, online but not chatting, is not");
    let peers = wait_for_peer(&mut arcade, "alice@example.test", "bob@example.test").await?;
    print_form(&peers);

    step("the platform asks for the status of several users (one of another server)");
    let status = exchange(
        &mut arcade,
        &format!(
            "<iq type='set' to='game.example.test'><command xmlns='{NS_COMMANDS}' node='status' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='jids'><value>alice@example.test</value>\
             <value>bob@example.test</value><value>carol@example.test</value><value>zoe@elsewhere.example</value></field></x></command></iq>"
        ),
    )
    .await?;
    print_form(&status);

    step("A game server without an XMPP stack asks the same over HTTP, with a token the operator made");
    let made = bridge.cli(&["platform", "new-token", "arcade@example.test"])?;
    let token = made.lines().last().unwrap_or_default().trim().to_owned();
    say("operator: xmpp-game-bridge platform new-token arcade@example.test --config …");
    let mut http = support::http::Http::new(http_door, Some(&token));
    let body = serde_json::json!({"jid": "alice@example.test"});
    say(&format!(
        "curl -s http://{http_door}/v1/peers -H 'Authorization: Bearer xgb1.…' -d '{body}'"
    ));
    let deadline = std::time::Instant::now() + T;
    let reply = loop {
        // The token is read with the registry, a moment after the CLI stored it.
        let reply = http.command("peers", &body).await;
        if reply.status != 401 || std::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    say(&format!("{} {}", reply.status, reply.text()));
    if reply.status != 200 {
        return Err(format!("peers over HTTP answered {}", reply.status));
    }

    step("The game platform logs in: examples/platform, a small tokio-xmpp client a game developer can copy");
    let mut platform = support::Platform::start(&server, "arcade", Some("platform"))?;
    platform.wait_for("logged in as", T).await?;

    step("alice opens a lobby for Chess: the platform asks who she is chatting with and invites them");
    platform.say("invite alice@example.test Chess")?;
    platform.wait_for("waiting for answers", T).await?;
    let to_bob = invitation(&mut bob, "Chess").await?;
    let bob_id = field(&to_bob, "prompt");
    say("bob's client receives one chat message; as XML:");
    println!("  {} ← {}", bob.bare_jid(), String::from(&to_bob));
    say("it reads well as text, and carries a <thread>, the answers as a command list (buttons in");
    say("Cheogram), a form (Psi, Profanity), quick responses and an origin-id for deduplication");

    step(
        "bob accepts with a reply word; alice hears of it; the platform starts a multiplayer game",
    );
    chat(&mut bob, &format!("accept {bob_id}")).await?;
    let news = alice
        .recv_matching(T, |e| {
            e.name() == "message" && text_of(e).contains("accepted your invitation")
        })
        .await?;
    println!(
        "  {} ← game.example.test: {}",
        alice.bare_jid(),
        text_of(&news)
    );
    platform.wait_for("ready:", T).await?;

    step("the game ends; alice and carol chat too; alice opens a second lobby, for Go");
    platform.say("over")?;
    platform.wait_for("game over", T).await?;
    alice
        .send_message("carol@example.test", "Go after lunch?")
        .await?;
    carol.send_message("alice@example.test", "maybe").await?;
    say("alice → carol: Go after lunch?");
    say("carol → alice: maybe");
    wait_for_peer_quietly(&mut arcade, "alice@example.test", "carol@example.test").await?;
    platform.say("invite alice@example.test Go")?;
    platform.wait_for("waiting for answers", T).await?;
    let for_bob = invitation(&mut bob, "Go").await?;
    let for_carol = invitation(&mut carol, "Go").await?;

    step("bob declines with the form in the message, as Psi or Profanity send it back");
    let submit = format!(
        "<message to='game.example.test'><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>urn:xmpp-game-bridge:prompt:1</value></field>\
         <field var='prompt'><value>{}</value></field><field var='answer'><value>decline</value></field></x></message>",
        field(&for_bob, "prompt")
    );
    println!("  {} → {submit}", bob.bare_jid());
    bob.send_xml(&submit).await?;
    let confirmed = bob
        .recv_matching(T, |e| {
            e.name() == "message" && text_of(e).starts_with("You declined")
        })
        .await?;
    println!(
        "  {} ← game.example.test: {}",
        bob.bare_jid(),
        text_of(&confirmed)
    );

    step("carol declines with the command listed in the message, as a Cheogram button runs it");
    exchange(
        &mut carol,
        &format!(
            "<iq type='set' to='game.example.test'><command xmlns='{NS_COMMANDS}' node='prompt/{}/decline' action='execute'/></iq>",
            field(&for_carol, "prompt")
        ),
    )
    .await?;
    platform.wait_for("solo:", T).await?;
    drop(platform);

    step("A Python game server (examples/python-platform, standard library only) invites over HTTP; the answer reaches its webhook, signed");
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], support::free_ports(1)?[0]));
    let set = bridge.cli(&[
        "platform",
        "set-webhook",
        "arcade@example.test",
        &format!("http://{listen}/news"),
    ])?;
    let secret = set.lines().last().unwrap_or_default().trim().to_owned();
    say(&format!("operator: xmpp-game-bridge platform set-webhook arcade@example.test http://{listen}/news --config …"));
    let mut python = support::Platform::start_python(
        &format!("http://{http_door}"),
        &token,
        (&secret, listen),
        Some("python"),
    )?;
    python.wait_for("webhook on", T).await?;
    python.say("invite alice@example.test Checkers")?;
    python.wait_for("invite ", T).await?;
    let for_bob = invitation(&mut bob, "Checkers").await?;
    chat(&mut bob, &format!("accept {}", field(&for_bob, "prompt"))).await?;
    say("bob accepts with a reply word");
    python.wait_for("news:", T).await?;
    let listed = bridge.cli(&[
        "platform",
        "deliveries",
        "arcade@example.test",
        "--limit",
        "3",
    ])?;
    say("operator: xmpp-game-bridge platform deliveries arcade@example.test --limit 3");
    for line in listed.lines() {
        say(&format!("  {line}"));
    }
    drop(python);

    step("carol, who is not a platform, may not ask");
    exchange(&mut carol, &peers_request("alice@example.test")).await?;

    step("bob sends the component a presence that xmpp-parsers would reject; the link stays up");
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

fn peers_request(user: &str) -> String {
    format!(
        "<iq type='set' to='game.example.test'><command xmlns='{NS_COMMANDS}' node='peers' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>{user}</value></field></x></command></iq>"
    )
}

/// Presence reaches the component a moment after it is sent: wait until the platform's
/// status answer shows `user` online.
async fn wait_for_presence(platform: &mut Client, user: &str) -> Result<(), String> {
    let request = format!(
        "<iq type='set' to='game.example.test'><command xmlns='{NS_COMMANDS}' node='status' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jids'><value>{user}</value></field></x></command></iq>"
    );
    for _ in 0..100 {
        let reply = platform.iq_xml(&request, T).await?;
        if String::from(&reply).contains("<value>available</value>") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{user} never showed up online"))
}

/// Asks `peers` until `peer` is listed (the activity report travels through the server).
async fn wait_for_peer(platform: &mut Client, user: &str, peer: &str) -> Result<Element, String> {
    for _ in 0..100 {
        let reply = platform.iq_xml(&peers_request(user), T).await?;
        if String::from(&reply).contains(&format!("<value>{peer}</value>")) {
            println!("  {} → {}", platform.bare_jid(), peers_request(user));
            println!("  {} ← {}", platform.bare_jid(), String::from(&reply));
            return Ok(reply);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{peer} never became an active peer of {user}"))
}

/// The next invitation to `game` `user` receives.
async fn invitation(user: &mut Client, game: &str) -> Result<Element, String> {
    let needle = format!("to play {game}");
    user.recv_matching(T, |e| e.name() == "message" && text_of(e).contains(&needle))
        .await
}

/// A message's body.
fn text_of(message: &Element) -> String {
    message
        .get_child("body", support::NS_CLIENT)
        .map(|b| b.text())
        .unwrap_or_default()
}

/// A top-level field's value in the data form a message carries.
fn field(message: &Element, var: &str) -> String {
    message
        .get_child("x", "jabber:x:data")
        .and_then(|x| x.children().find(|f| f.attr("var") == Some(var)))
        .map(|f| f.children().map(|v| v.text()).collect())
        .unwrap_or_default()
}

/// Like [`wait_for_peer`], without printing.
async fn wait_for_peer_quietly(
    platform: &mut Client,
    user: &str,
    peer: &str,
) -> Result<(), String> {
    for _ in 0..100 {
        let reply = platform.iq_xml(&peers_request(user), T).await?;
        if String::from(&reply).contains(&format!("<value>{peer}</value>")) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{peer} never became an active peer of {user}"))
}

fn stats_request() -> String {
    format!("<iq type='set' to='game.example.test'><command xmlns='{NS_COMMANDS}' node='stats' action='execute'/></iq>")
}

/// `user` says `text` to the component; prints both directions.
async fn chat(user: &mut Client, text: &str) -> Result<(), String> {
    println!("  {} → game.example.test: {text}", user.bare_jid());
    user.send_message("game.example.test", text).await?;
    let reply = user
        .recv_matching(T, |e| {
            e.name() == "message"
                && e.attr("from") == Some("game.example.test")
                && e.attr("type") == Some("chat")
        })
        .await?;
    let body = reply
        .get_child("body", support::NS_CLIENT)
        .map(|b| b.text())
        .unwrap_or_default();
    println!("  {} ← game.example.test: {body}", user.bare_jid());
    Ok(())
}

/// Sends one IQ, prints both directions, returns the reply.
async fn exchange(client: &mut Client, xml: &str) -> Result<Element, String> {
    println!("  {} → {xml}", client.bare_jid());
    let reply = client.iq_xml(xml, T).await?;
    println!("  {} ← {}", client.bare_jid(), String::from(&reply));
    Ok(reply)
}

fn print_form(reply: &Element) {
    let Some(command) = reply.get_child("command", NS_COMMANDS) else {
        return;
    };
    for note in command.children().filter(|n| n.name() == "note") {
        say(&format!(
            "note ({}): {}",
            note.attr("type").unwrap_or("info"),
            note.text()
        ));
    }
    let Some(form) = command.get_child("x", "jabber:x:data") else {
        return;
    };
    let values = |field: &Element| -> String {
        field
            .children()
            .map(|v| v.text())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    for field in form.children().filter(|f| f.name() == "field") {
        say(&format!(
            "{:<34} {}",
            field.attr("label").or(field.attr("var")).unwrap_or(""),
            values(field)
        ));
    }
    let items: Vec<&Element> = form.children().filter(|c| c.name() == "item").collect();
    if form.children().any(|c| c.name() == "reported") {
        say(&format!("table: {} row(s)", items.len()));
    }
    for item in items {
        let cells: Vec<String> = item
            .children()
            .map(|f| format!("{}={}", f.attr("var").unwrap_or(""), values(f)))
            .collect();
        say(&format!("  {}", cells.join("  ")));
    }
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn say(line: &str) {
    println!("   {line}");
}
