//! What an operator meets: the command line on the database while the service is
//! stopped and its secret is out of reach, a platform JID that is not one, the start-up
//! log's account of the grants on each server, a wrong component port, and the process's
//! memory settings.

use std::time::Duration;

use crate::support::{free_ports, on_both_servers, Bridge, BridgeConfig, Server, ServerKind};

const T: Duration = Duration::from_secs(10);

on_both_servers!(
    /// Where the secret cannot be read (it is gone, or kept from this user), the commands
    /// that only touch the database still work.
    async fn the_cli_needs_no_secret(kind) {
        let server = Server::start(kind).await.expect("server starts");
        let mut bridge = Bridge::start_with(&server, &BridgeConfig::default()).await.expect("bridge starts");
        bridge.wait_connected(T).await.unwrap();
        bridge.terminate().await.unwrap();
        std::fs::remove_file(bridge.secret_path()).unwrap();
        let added = bridge.cli(&["platform", "add", "arcade@example.test", "--name", "Arcade"]);
        assert!(added.as_ref().is_ok_and(|o| o.contains("added arcade@example.test")), "{added:?}");
        for args in [&["platform", "list"][..], &["platform", "show", "arcade@example.test"], &["audit"]] {
            let out = bridge.cli(args);
            assert!(out.is_ok(), "{args:?}: {out:?}");
        }
        // What needs the secret still says when it cannot read it.
        let checked = bridge.cli(&["check-config"]);
        assert!(checked.as_ref().is_err_and(|e| e.contains("secret")), "{checked:?}");
    }
);

/// `platform add` refuses what is not a platform's JID, and says why.
#[tokio::test]
async fn a_platform_jid_is_checked() {
    let server = Server::start(ServerKind::Prosody)
        .await
        .expect("server starts");
    let bridge = Bridge::start_with(&server, &BridgeConfig::default())
        .await
        .expect("bridge starts");
    for bad in [
        "notajid",
        "arcade@example.test/engine",
        "@example.test",
        "a@b@c",
        "",
    ] {
        let refused = bridge.cli(&["platform", "add", bad]);
        let Err(why) = refused else {
            panic!("{bad:?} was accepted: {refused:?}");
        };
        assert!(why.contains("JID"), "{bad:?}: {why}");
    }
    let listed = bridge.cli(&["platform", "list"]).unwrap();
    assert!(!listed.contains("notajid"), "{listed}");
    for good in ["arcade@example.test", "lobby.example.test"] {
        assert!(bridge.cli(&["platform", "add", good]).is_ok(), "{good}");
    }
}

on_both_servers!(
    /// The start-up log says what each grant gives, and on ejabberd, which cannot grant
    /// the iq permission at all, it does not ask for it.
    async fn the_grant_line_fits_the_server(kind) {
        let server = Server::start(kind).await.expect("server starts");
        let mut bridge = Bridge::start_with(&server, &BridgeConfig::default()).await.expect("bridge starts");
        bridge.wait_for_log("publishing to users' PEP", T).await.unwrap();
        let log = bridge.log();
        let line = log.lines().find(|l| l.contains("publishing to users' PEP")).unwrap_or_default();
        match kind {
            ServerKind::Prosody => assert!(line.contains("gives publishing to users' PEP"), "{line}"),
            ServerKind::Ejabberd => {
                assert!(!line.contains("needs iq="), "{line}");
                assert!(line.contains("cannot"), "{line}");
            }
        }
    }
);

/// Configured with a port where nothing listens, the bridge says after a few attempts
/// what is likely wrong, once, and keeps trying.
#[tokio::test]
async fn a_wrong_port_gets_a_hint() {
    let server = Server::start(ServerKind::Prosody)
        .await
        .expect("server starts");
    let port = free_ports(1).unwrap()[0];
    let config = BridgeConfig {
        port: Some(port),
        reconnect_max_secs: 1,
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge
        .wait_for_log("component_ports", Duration::from_secs(30))
        .await
        .unwrap();
    let log = bridge.log();
    let hint = log
        .lines()
        .find(|l| l.contains("component_ports"))
        .unwrap_or_default()
        .to_owned();
    for piece in [&port.to_string()[..], "VirtualHost", "ejabberd_service"] {
        assert!(hint.contains(piece), "{piece} missing from {hint}");
    }
    // Said once per run of failures, while it keeps trying.
    let attempts = log.matches("cannot connect").count();
    bridge
        .wait_for_count("cannot connect", attempts + 2, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        bridge.log().matches("component_ports").count(),
        1,
        "{}",
        bridge.log_tail(30)
    );
    assert!(bridge.exit_status().unwrap().is_none(), "it keeps trying");
}

/// The running bridge has transparent huge pages turned off for itself (`main`): its
/// tables grow a few kilobytes at a time, and a huge page zeroes 2 MiB at its first touch.
#[tokio::test]
async fn the_bridge_takes_no_huge_pages() {
    let server = Server::start(ServerKind::Prosody)
        .await
        .expect("server starts");
    let mut bridge = Bridge::start_with(&server, &BridgeConfig::default())
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    let pid = bridge.pid().expect("bridge pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let thp = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
}

/// The server's own configuration file, as the test bed wrote it.
fn server_config(server: &Server) -> String {
    let path = match server.kind() {
        ServerKind::Prosody => server.dir().join("prosody.cfg.lua"),
        ServerKind::Ejabberd => server.dir().join("conf").join("ejabberd.yml"),
    };
    path.display().to_string()
}

/// Runs `doctor` on the bridge's configuration: its exit code and what it printed.
fn doctor(bridge: &Bridge, server: &Server) -> (Option<i32>, String) {
    let output = std::process::Command::new(crate::support::binary())
        .args([
            "doctor",
            "--server-config",
            &server_config(server),
            "--config",
        ])
        .arg(bridge.config_path())
        .output()
        .expect("doctor runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Shown with the test's output (`--no-capture`), and on a failure.
    eprintln!(
        "$ xmpp-game-bridge doctor (exit {:?})\n{text}",
        output.status.code()
    );
    (output.status.code(), text)
}

/// `doctor` once the server has let go of a bridge that just stopped: until then it
/// may still hold the component's name (Prosody answers `conflict`).
async fn doctor_after_stop(bridge: &Bridge, server: &Server) -> (Option<i32>, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, text) = doctor(bridge, server);
        if !text.contains("already has a component") || std::time::Instant::now() >= deadline {
            return (code, text);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The line of `text` that starts with `level` and holds `words`.
fn line<'a>(text: &'a str, level: &str, words: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{level}: ")) && l.contains(words))
        .unwrap_or_else(|| panic!("no {level} line with {words:?}:\n{text}"))
}

on_both_servers!(
    /// Debian's configuration with `component-config/`'s file placed as it says: the
    /// doctor links, names the server, finds every grant and the recommended settings,
    /// and exits 0. While the bridge runs, it does not link, and reads its readiness.
    async fn the_doctor_passes_debian_with_the_snippet(kind) {
        let options = crate::support::ServerOptions { operator_config: true, ..Default::default() };
        let server = Server::start_with(kind, &options).await.expect("server starts");
        let metrics = free_ports(1).unwrap()[0];
        let config = BridgeConfig {
            ejabberd_api: (kind == ServerKind::Ejabberd).then(|| server.api_url()),
            extra_toml: format!("[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n"),
            ..BridgeConfig::default()
        };
        let mut bridge = Bridge::start_with(&server, &config).await.expect("bridge starts");
        bridge.wait_connected(T).await.unwrap();
        // While it runs: no second link, its readiness instead.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (code, text) = loop {
            let (code, text) = doctor(&bridge, &server);
            if text.contains("the running bridge is ready") || std::time::Instant::now() >= deadline {
                break (code, text);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(code, Some(0), "{text}");
        line(&text, "note", "a bridge runs with this configuration");
        line(&text, "ok", "the running bridge is ready");
        assert!(!text.contains("accepts connections"), "{text}");
        bridge.terminate().await.unwrap();

        let (code, text) = doctor_after_stop(&bridge, &server).await;
        assert_eq!(code, Some(0), "{text}");
        line(&text, "ok", "the server accepted the component game.example.test and its secret");
        line(&text, "ok", "grants what peers and status need: roster=get gives");
        line(&text, "ok", "the secret is read from the file");
        line(&text, "ok", "the database");
        line(&text, "ok", &format!("metrics.listen 127.0.0.1:{metrics} is free"));
        match kind {
            ServerKind::Prosody => {
                line(&text, "ok", "example.test runs Prosody 0.12");
                line(&text, "ok", "Prosody's gc = { threshold = 200; speed = 200 }");
                line(&text, "ok", "Nagle's algorithm is off");
            }
            ServerKind::Ejabberd => {
                line(&text, "ok", "example.test runs ejabberd 23.01");
                line(&text, "ok", "ejabberd's max_stanza_size is 262144 on the ejabberd_c2s listener");
                line(&text, "ok", "sessions API (server.ejabberd_api) lists who is online on example.test");
            }
        }
        assert!(!text.contains("problem:"), "{text}");
    }
);

on_both_servers!(
    /// Debian's configuration alone, the bridge not attached: nothing listens for it; the
    /// doctor says so with the fix, names Prosody's settings still at their defaults, and
    /// exits 1.
    async fn the_doctor_finds_debian_without_the_snippet_lacking(kind) {
        let options = crate::support::ServerOptions {
            operator_config: true,
            without_snippet: true,
            ..Default::default()
        };
        let server = Server::start_with(kind, &options).await.expect("server starts");
        let bridge = Bridge::start_with(&server, &BridgeConfig::default()).await.expect("bridge starts");
        let (code, text) = doctor(&bridge, &server);
        assert_eq!(code, Some(1), "{text}");
        let refused = line(&text, "problem", "nothing accepts connections");
        assert!(refused.contains("Fix:") && refused.contains("component_ports"), "{refused}");
        if kind == ServerKind::Prosody {
            line(&text, "warning", "Prosody's gc is its default");
            line(&text, "warning", "Prosody keeps Nagle's algorithm on");
        }
    }
);

on_both_servers!(
    /// A wrong secret and a server that grants nothing: each a problem with its fix.
    async fn the_doctor_names_a_wrong_secret_and_missing_grants(kind) {
        let server = Server::start(kind).await.expect("server starts");
        let wrong = BridgeConfig { secret: Some("not-the-secret".to_owned()), ..BridgeConfig::default() };
        let mut bridge = Bridge::start_with(&server, &wrong).await.expect("bridge starts");
        // Refused, the bridge stops (status 3) and gives its lease up; then the operator
        // asks the doctor.
        let stopped = bridge.wait_exit(T).await.expect("the bridge stops");
        assert_eq!(stopped.code(), Some(3), "{}", bridge.log_tail(20));
        let (code, text) = doctor(&bridge, &server);
        assert_eq!(code, Some(1), "{text}");
        let refused = line(&text, "problem", "refused the handshake");
        assert!(refused.contains("secret"), "{refused}");
        drop(bridge);
        drop(server);

        let options = crate::support::ServerOptions { without_privileges: true, ..Default::default() };
        let server = Server::start_with(kind, &options).await.expect("server starts");
        let mut bridge = Bridge::start_with(&server, &BridgeConfig::default()).await.expect("bridge starts");
        // The server takes one link per component: the doctor links once the bridge left.
        bridge.wait_connected(T).await.unwrap();
        bridge.terminate().await.unwrap();
        let (code, text) = doctor_after_stop(&bridge, &server).await;
        assert_eq!(code, Some(1), "{text}");
        let grants = line(&text, "problem", "does not grant roster=get and presence=managed_entity");
        let fix = match kind {
            ServerKind::Prosody => "privileged_entities",
            ServerKind::Ejabberd => "mod_privilege",
        };
        assert!(grants.contains(fix), "{grants}");
    }
);

/// A bridge runs without a metrics listener to tell: the database's lease says so, and
/// the doctor does not link (on Prosody with the shipped snippet, its link would replace
/// the running bridge's).
#[tokio::test]
async fn the_doctor_does_not_link_while_a_bridge_holds_the_lease() {
    let server = Server::start(ServerKind::Prosody)
        .await
        .expect("server starts");
    let mut bridge = Bridge::start_with(&server, &BridgeConfig::default())
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    let (code, text) = doctor(&bridge, &server);
    assert_eq!(code, Some(0), "{text}");
    line(&text, "note", "a bridge holds the database's lease");
    assert!(!text.contains("accepted the component"), "{text}");
    // The running bridge keeps its link.
    assert_eq!(bridge.link_up_count(), 1);
    assert!(bridge.exit_status().unwrap().is_none());
}
