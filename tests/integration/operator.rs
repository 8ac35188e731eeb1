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
