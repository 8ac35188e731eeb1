//! What people see in the chat clients they use. Profanity 0.13 (Debian's) is driven in
//! tmux, whose screen can be read back: a game developer tries `peers` from it as the
//! platform's account. Profanity shows no `<reported/>` tables and only the first
//! `<note/>`, so what it shows is the top-level fields (their labels and values) and the
//! summary. Ignored by default: it needs `profanity` and `tmux`
//! (`apt-get install profanity tmux`); run it with
//! `cargo nextest run --run-ignored only -E 'test(profanity)'`.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::directory::friends;
use crate::support::{Bridge, BridgeConfig, Server, ServerKind, ServerOptions, COMPONENT_JID};

/// A Profanity session in a detached tmux session of its own.
struct Profanity {
    session: String,
    _home: tempfile::TempDir,
}

impl Profanity {
    fn start(account: &str, password: &str, port: u16) -> Profanity {
        let home = tempfile::Builder::new()
            .prefix("xgb-profanity-")
            .tempdir()
            .unwrap();
        let data = home.path().join("data/profanity");
        let config = home.path().join("config/profanity");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            data.join("accounts"),
            format!(
                "[{account}]\nenabled=true\njid={account}@example.test\npassword={password}\nresource=profanity\n\
                 server=127.0.0.1\nport={port}\ntls.policy=disable\npresence.login=online\n"
            ),
        )
        .unwrap();
        std::fs::write(config.join("profrc"), "[connection]\nautoping=0\n").unwrap();
        let session = format!("xgb-{}", std::process::id());
        let home_dir = home.path().display().to_string();
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "50"])
            .arg(format!(
                "env HOME={home_dir} XDG_CONFIG_HOME={home_dir}/config XDG_DATA_HOME={home_dir}/data profanity -a {account}"
            ))
            .status()
            .expect("tmux runs");
        assert!(status.success());
        Profanity {
            session,
            _home: home,
        }
    }

    fn type_line(&self, line: &str) {
        for keys in [&["-l", line][..], &["Enter"][..]] {
            let status = Command::new("tmux")
                .args(["send-keys", "-t", &self.session])
                .args(keys)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    fn screen(&self) -> String {
        let output = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen contains `needle`, and returns it.
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?}; the screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Profanity {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[tokio::test]
#[ignore = "needs profanity and tmux"]
async fn profanity_shows_labelled_fields_and_the_summary() {
    let server = Server::start_with(ServerKind::Prosody, &ServerOptions::default())
        .await
        .expect("server starts");
    server
        .register_users(&["arcade", "alice", "bob"])
        .await
        .unwrap();
    let config = BridgeConfig {
        platforms: vec!["arcade@example.test".to_owned()],
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    let (mut alice, _bob) = friends(&server, "alice", "bob").await;
    alice
        .send_presence(Some("chat"), Some("up for a game"))
        .await
        .unwrap();

    let profanity = Profanity::start("arcade", "arcade-pw", server.c2s_port());
    profanity.wait_for("arcade@example.test/profanity").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    profanity.type_line(&format!("/cmd exec peers {COMPONENT_JID}"));
    let form = profanity.wait_for("/form submit").await;
    eprintln!("--- the form Profanity shows:\n{form}");
    assert!(form.contains("User (required):"), "{form}");
    profanity.type_line("/field1 alice@example.test");
    profanity.type_line("/form submit");
    let result = profanity.wait_for("availability").await;
    eprintln!("--- the result window:\n{result}");
    assert!(
        !result.contains("(null)"),
        "a field without a label: {result}"
    );
    for shown in [
        "User: alice@example.test",
        "User's availability: chat",
        "Activity tier: presence",
        "What this platform may do for the user: open-url,invite,send-message,attention,set-status,launch,publish-gaming",
    ] {
        assert!(result.contains(shown), "{shown:?} not shown:\n{result}");
    }
    profanity.type_line("/win 1");
    let console = profanity.wait_for("peers completed").await;
    eprintln!("--- the console:\n{console}");
    assert!(
        console.contains("alice@example.test is chatting with bob@example.test (available)"),
        "the summary is not shown:\n{console}"
    );
    drop((server, bridge));
}
