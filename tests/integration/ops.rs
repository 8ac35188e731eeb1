//! What the operator's monitoring and service manager see: `/metrics` (checked by
//! `promtool` and scraped by a real Prometheus), `/healthz` and `/readyz` following the
//! link, the service manager's notifications, and a reload by SIGHUP.

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::directory::{field, form, login, run};
use crate::support::http::{Http, Reply};
use crate::support::{free_ports, on_both_servers, Bridge, BridgeConfig, Server, ServerKind};

const T: Duration = Duration::from_secs(10);
const ADMIN: &str = "admin@example.test";
const COMPONENT: &str = "game.example.test";

/// A bridge with its metrics listener on a free port, and that port's address.
async fn bridge_with_metrics(server: &Server, extra: &str) -> (Bridge, SocketAddr) {
    let port = free_ports(1).expect("a free port")[0];
    let config = BridgeConfig {
        admins: vec![ADMIN.to_owned()],
        extra_toml: format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n{extra}"),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.unwrap();
    (bridge, SocketAddr::from(([127, 0, 0, 1], port)))
}

async fn get(addr: SocketAddr, path: &str, accept: &str) -> Reply {
    Http::new(addr, None)
        .request("GET", path, &[("accept", accept)], b"")
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Polls `path` until `ok` holds of its reply; the last reply if it never does.
async fn until(addr: SocketAddr, path: &str, ok: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = get(addr, path, "*/*").await;
        if ok(&reply) || Instant::now() >= deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample `name` (with its labels as written) in a text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// `promtool check metrics` on `text`: its output, or why it failed.
fn promtool(text: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run promtool (Debian's prometheus package): {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}

on_both_servers!(
    /// `/healthz` answers while the process runs; `/readyz` only while the link is up and
    /// the grants are in, and says why not otherwise; `/metrics` carries every figure of
    /// `stats`, passes `promtool`, and counts the answer just given.
    async fn health_readiness_and_metrics_follow_the_bridge(kind) {
        let mut server = Server::start(kind).await.expect("server starts");
        server.register_users(&["admin"]).await.unwrap();
        let (bridge, addr) = bridge_with_metrics(&server, "").await;
        let ready = until(addr, "/readyz", |r| r.status == 200).await;
        assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"), "{}", ready.text());
        assert_eq!(get(addr, "/healthz", "*/*").await.status, 200);

        let mut admin = login(&server, "admin").await;
        let stats = form(&run(&mut admin, "stats", "none", &[]).await);
        let text = until(addr, "/metrics", |r| {
            sample(&r.text(), "xmpp_game_bridge_answer_seconds_count{door=\"xmpp\",node=\"stats\",outcome=\"answered\"}")
                .is_some_and(|n| n >= 1.0)
        })
        .await;
        assert_eq!(text.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
        let text = text.text();
        assert!(sample(&text, "xmpp_game_bridge_answer_seconds_count{door=\"xmpp\",node=\"stats\",outcome=\"answered\"}").is_some(), "{text}");
        // Every number `stats` shows is a metric, under the name the README gives.
        let mut numbers = 0;
        for f in stats.children().filter(|f| f.name() == "field") {
            let var = f.attr("var").unwrap_or_default();
            let values = field(&stats, var);
            let [value] = values.as_slice() else { continue };
            if value.parse::<u64>().is_err() {
                continue;
            }
            numbers += 1;
            let base = match var {
                "uptime" => "uptime_seconds",
                "link-since" => "link_state_seconds",
                "storage-failing-since" => "storage_failing_seconds",
                other => other,
            }
            .replace('-', "_");
            let name = format!("xmpp_game_bridge_{base}");
            assert!(
                sample(&text, &name).is_some() || sample(&text, &format!("{name}_total")).is_some(),
                "{var} is not exported as {name}:\n{text}"
            );
        }
        assert!(numbers > 50, "{numbers} numbers in stats");
        for line in ["xmpp_game_bridge_link_up 1", "xmpp_game_bridge_ready 1"] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(sample(&text, "xmpp_game_bridge_presence_updates_per_second_count").is_some(), "{text}");
        assert!(sample(&text, "xmpp_game_bridge_server_wait_seconds_count{purpose=\"version\"}").is_some_and(|n| n >= 1.0), "{text}");
        // No label a request chose: no JID, no domain.
        assert!(!text.contains("example.test"), "{text}");
        let checked = promtool(&text);
        assert!(checked.is_ok(), "promtool check metrics: {checked:?}");

        let open = get(addr, "/metrics", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5").await;
        assert_eq!(open.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
        assert!(open.text().ends_with("# EOF\n"));

        // The server goes away: not ready, and why; alive all the same.
        server.stop().await.unwrap();
        let down = until(addr, "/readyz", |r| r.status == 503).await;
        assert_eq!(down.status, 503, "{}", down.text());
        assert!(down.text().contains("the link to the server is down"), "{}", down.text());
        assert_eq!(get(addr, "/healthz", "*/*").await.status, 200);
        let text = get(addr, "/metrics", "*/*").await.text();
        assert!(text.lines().any(|l| l == "xmpp_game_bridge_ready 0"), "{text}");
        server.start_again().await.unwrap();
        let again = until(addr, "/readyz", |r| r.status == 200).await;
        assert_eq!(again.status, 200, "{}", again.text());
        drop(bridge);
    }
);

/// Without the grants `peers` needs (the server's privilege module not loaded), the
/// bridge is up but not ready, and `/readyz` says what to add to the server.
#[tokio::test]
async fn without_the_grants_the_bridge_is_not_ready() {
    let options = crate::support::ServerOptions {
        without_privileges: true,
        ..crate::support::ServerOptions::default()
    };
    let server = Server::start_with(ServerKind::Prosody, &options)
        .await
        .expect("server starts");
    let (_bridge, addr) = bridge_with_metrics(&server, "").await;
    let reply = until(addr, "/readyz", |r| r.text().contains("does not grant")).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.text().contains("roster=get"), "{}", reply.text());
    assert_eq!(get(addr, "/healthz", "*/*").await.status, 200);
}

/// The shipped Grafana dashboard's and alerting rules' expressions.
fn shipped_expressions() -> Vec<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/docs/monitoring/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut expressions: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| {
            t["expr"]
                .as_str()
                .unwrap()
                .replace("$job", "xmpp-game-bridge")
        })
        .collect();
    let alerts = std::fs::read_to_string(format!("{root}/docs/monitoring/alerts.yml")).unwrap();
    let mut lines = alerts.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(expr) = line.trim().strip_prefix("expr:") else {
            continue;
        };
        let mut expr = expr.trim().to_owned();
        if expr == "|" {
            expr.clear();
            let indent = line.len() - line.trim_start().len();
            while lines
                .peek()
                .is_some_and(|l| l.len() - l.trim_start().len() > indent)
            {
                expr.push_str(lines.next().unwrap().trim());
                expr.push(' ');
            }
        }
        expressions.push(expr);
    }
    expressions
}

/// A real Prometheus (Debian's package) scrapes the bridge, answers a query about it,
/// loads the shipped alerting rules, and evaluates every expression of the shipped
/// dashboard and rules; each names only metrics the bridge exports.
#[tokio::test]
async fn prometheus_scrapes_the_bridge() {
    let server = Server::start(ServerKind::Prosody)
        .await
        .expect("server starts");
    let door = free_ports(1).unwrap()[0];
    let (_bridge, addr) =
        bridge_with_metrics(&server, &format!("[http]\nlisten = \"127.0.0.1:{door}\"\n")).await;
    let exported = get(addr, "/metrics", "*/*").await.text();
    let expressions = shipped_expressions();
    assert!(expressions.len() > 30, "{expressions:?}");
    for expr in &expressions {
        for (at, _) in expr
            .match_indices("xmpp_game_bridge_")
            .chain(expr.match_indices("process_"))
        {
            let name: String = expr[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // A histogram without observations yet is declared, with no samples.
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name);
            assert!(
                exported.lines().any(|l| l.starts_with(&format!("{name} "))
                    || l.starts_with(&format!("{name}{{"))
                    || l == format!("# TYPE {family} histogram")),
                "{name} (in {expr}) is not exported"
            );
        }
    }
    let rules = format!("{}/docs/monitoring/alerts.yml", env!("CARGO_MANIFEST_DIR"));
    let checked = Command::new("promtool")
        .args(["check", "rules", &rules])
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1).unwrap()[0];
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: xmpp-game-bridge\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("prometheus runs (Debian's prometheus package)");
    let api = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    let answered = loop {
        let reply = Http::new(api, None)
            .request(
                "GET",
                "/api/v1/query?query=xmpp_game_bridge_link_up",
                &[],
                b"",
            )
            .await;
        if let Ok(reply) = reply {
            let json = reply.json();
            if json["data"]["result"][0]["value"][1] == "1" {
                break true;
            }
            last = reply.text();
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let health = Http::new(api, None)
        .request("GET", "/api/v1/targets", &[], b"")
        .await
        .map(|r| r.text())
        .unwrap_or_default();
    // A long answer, which Prometheus sends chunked: curl reads it.
    let loaded = Command::new("curl")
        .args(["-sS", &format!("http://{api}/api/v1/rules")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut refused = Vec::new();
    for expr in &expressions {
        let query = format!("/api/v1/query?query={}", url_encode(expr));
        let reply = Http::new(api, None).request("GET", &query, &[], b"").await;
        if !reply
            .as_ref()
            .is_ok_and(|r| r.json()["status"] == "success")
        {
            refused.push(format!("{expr}: {:?}", reply.map(|r| r.text())));
        }
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert!(answered, "no answer: {last}\ntargets: {health}\n{log}");
    assert!(health.contains("\"health\":\"up\""), "{health}");
    assert!(loaded.contains("XmppGameBridgeNotReady"), "{loaded}");
    assert!(refused.is_empty(), "{refused:#?}");
}

/// Percent-encoding for a query string.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A reload changes a limit at once, says what needs a restart (and keeps the link),
/// and refuses a file that does not parse, keeping the running configuration.
#[tokio::test]
async fn sighup_changes_a_limit_live_and_refuses_a_broken_file() {
    let server = Server::start(ServerKind::Prosody)
        .await
        .expect("server starts");
    server.register_users(&["alice"]).await.unwrap();
    let (mut bridge, _) = bridge_with_metrics(&server, "").await;
    let mut alice = login(&server, "alice").await;
    // Refusals of a burst of 15 pings: none within the default (10 a second, bursts of
    // 20); some at 1 a second (bursts of 10).
    let refusals = async |alice: &mut crate::support::Client| {
        let mut refused = 0;
        for _ in 0..15 {
            let ping = crate::support::xml(&format!(
                "<iq type='get' to='{COMPONENT}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>"
            ))
            .unwrap();
            let reply = alice.iq(ping, T).await.unwrap();
            if reply.attr("type") == Some("error") {
                assert!(crate::support::show(&reply).contains("resource-constraint"));
                refused += 1;
            }
        }
        refused
    };
    assert_eq!(refusals(&mut alice).await, 0);

    let path = bridge.config_path();
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{original}\n[limits]\nuser_requests_per_sec = 1\n"),
    )
    .unwrap();
    bridge.signal("HUP").unwrap();
    bridge
        .wait_for_log("configuration reloaded", T)
        .await
        .unwrap();
    let log = bridge.log();
    let line = log
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap();
    assert!(line.contains("limits"), "{line}");
    // Waits for the bucket to be full again, then bursts past the new rate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(refusals(&mut alice).await >= 3, "{}", bridge.log_tail(20));

    // A file that does not parse: refused, logged, and the running limit stays.
    std::fs::write(
        &path,
        format!("{original}\n[limits]\nuser_requests_per_sec = \"fast\"\n"),
    )
    .unwrap();
    bridge.signal("HUP").unwrap();
    bridge.wait_for_log("was not reloaded", T).await.unwrap();
    let log = bridge.log();
    let line = log
        .lines()
        .find(|l| l.contains("was not reloaded"))
        .unwrap();
    assert!(
        line.contains("line ") && line.contains("\"fast\""),
        "{line}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(refusals(&mut alice).await >= 3, "the running limit stays");

    // What needs a new link is said, and the link stays as it is.
    let moved = original.replace(
        &format!("port = {}", server.component_port()),
        &format!("port = {}", server.component_port() + 1),
    );
    assert_ne!(moved, original);
    std::fs::write(
        &path,
        format!("{moved}\n[limits]\nuser_requests_per_sec = 1\n"),
    )
    .unwrap();
    bridge.signal("HUP").unwrap();
    bridge.wait_for_log("take a restart", T).await.unwrap();
    let log = bridge.log();
    let line = log.lines().find(|l| l.contains("take a restart")).unwrap();
    assert!(line.contains("server.host and server.port"), "{line}");
    assert_eq!(bridge.link_up_count(), 1);
    assert!(bridge.exit_status().unwrap().is_none());
    let pong = crate::support::xml(&format!(
        "<iq type='get' to='{COMPONENT}' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        alice.iq(pong, T).await.unwrap().attr("type"),
        Some("result")
    );
}

/// Under a service manager (`NOTIFY_SOCKET`, `WATCHDOG_USEC`), the bridge says when it is
/// ready, feeds the watchdog while its core answers, says ready in its status line once
/// the link is up, and says when it reloads and stops.
#[tokio::test]
async fn the_service_manager_hears_ready_watchdog_and_stopping() {
    let server = Server::start(ServerKind::Prosody)
        .await
        .expect("server starts");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify");
    let manager = UnixDatagram::bind(&socket).unwrap();
    manager.set_nonblocking(true).unwrap();
    let config = BridgeConfig {
        env: vec![
            ("NOTIFY_SOCKET".to_owned(), socket.display().to_string()),
            ("WATCHDOG_USEC".to_owned(), "1000000".to_owned()),
        ],
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    let mut heard = String::new();
    let listen = async |until: &str, count: usize, heard: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while heard.matches(until).count() < count && Instant::now() < deadline {
            match manager.recv(&mut buf) {
                Ok(n) => {
                    heard.push_str(&String::from_utf8_lossy(&buf[..n]));
                    heard.push('\n');
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        heard.matches(until).count() >= count
    };
    assert!(listen("READY=1", 1, &mut heard).await, "{heard}");
    assert!(listen("WATCHDOG=1", 3, &mut heard).await, "{heard}");
    assert!(listen("STATUS=ready", 1, &mut heard).await, "{heard}");
    bridge.signal("HUP").unwrap();
    assert!(listen("RELOADING=1", 1, &mut heard).await, "{heard}");
    assert!(listen("READY=1", 2, &mut heard).await, "{heard}");
    assert!(bridge.terminate().await.unwrap().success());
    assert!(listen("STOPPING=1", 1, &mut heard).await, "{heard}");
}
