//! The HTTP front door on real servers, as a game server without an XMPP stack uses it:
//! a token from `platform new-token`, `POST /v1/<node>` with JSON, problem documents for
//! refusals, the same answers, consent and disclosure record as over XMPP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::directory::{form, rows, run};
use crate::rights::say;
use crate::support::http::{Http, Reply};
use crate::support::{
    free_ports, on_both_servers, Bridge, BridgeConfig, Client, Server, ServerKind,
    COMPONENT_JID as COMPONENT,
};

const T: Duration = Duration::from_secs(10);
const PLATFORM: &str = "arcade@example.test";

struct Bed {
    server: Server,
    bridge: Bridge,
    /// The door's address.
    door: SocketAddr,
    /// A token of `arcade`, made with the CLI.
    token: String,
}

/// A server with alice, bob and the platform's bot account; the bridge with `[http]` on
/// a free port, `consent` as given, and a token for the platform.
async fn bed(kind: ServerKind, consent: &'static str, extra: &str) -> Bed {
    let server = Server::start(kind).await.expect("server starts");
    server
        .register_users(&["alice", "bob", "carol", "arcade", "admin"])
        .await
        .expect("users register");
    let port = free_ports(1).expect("a free port")[0];
    let door: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = BridgeConfig {
        admins: vec!["admin@example.test".to_owned()],
        platforms: vec![PLATFORM.to_owned()],
        consent,
        extra_toml: format!("[http]\nlisten = \"{door}\"\n{extra}"),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge.wait_connected(T).await.expect("bridge links up");
    bridge
        .wait_for_log("HTTP front door listening", T)
        .await
        .expect("the door listens");
    let made = bridge
        .cli(&["platform", "new-token", PLATFORM])
        .expect("a token is made");
    let token = made
        .lines()
        .last()
        .expect("the token on the last line")
        .trim()
        .to_owned();
    assert!(token.starts_with("xgb1."), "{made}");
    Bed {
        server,
        bridge,
        door,
        token,
    }
}

/// alice and bob, mutual contacts, available.
async fn friends(server: &Server) -> (Client, Client) {
    crate::directory::friends(server, "alice", "bob").await
}

/// The id of the invitation to `game` that `user` receives next.
async fn invitation(user: &mut Client, game: &str) -> String {
    let message = crate::rights::receive(user, &format!("invites you to play {game}")).await;
    let form = message
        .get_child("x", "jabber:x:data")
        .expect("the invitation's form");
    crate::directory::field(form, "prompt")[0].clone()
}

/// alice, bob and carol online, bob and carol alice's mutual contacts.
async fn alice_and_two_friends(server: &Server) -> (Client, Client, Client) {
    let mut alice = crate::directory::login(server, "alice").await;
    let mut bob = crate::directory::login(server, "bob").await;
    let mut carol = crate::directory::login(server, "carol").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.send_presence(None, None).await.unwrap();
    }
    for other in [&mut bob, &mut carol] {
        crate::support::befriend(&mut alice, other, T)
            .await
            .expect("mutual contacts");
    }
    for client in [&mut alice, &mut bob, &mut carol] {
        client.send_presence(None, None).await.unwrap();
    }
    (alice, bob, carol)
}

/// Asks `node` until `check` holds of the answer (presence reaches the bridge
/// asynchronously, and the CLI's token is read with the registry a moment later).
async fn until(http: &mut Http, node: &str, body: &Value, check: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + T;
    loop {
        let reply = http.command(node, body).await;
        if check(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{node} never answered as expected; last: {} {}",
            reply.status,
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn items(reply: &Reply) -> Vec<Value> {
    reply.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

on_both_servers!(
    async fn a_game_server_asks_over_http_what_a_platform_asks_over_xmpp(kind) {
        let Bed { server, bridge, door, token } = bed(kind, "opt-out", "").await;
        let (_alice, _bob) = friends(&server).await;
        let mut http = Http::new(door, Some(&token));

        // peers: bob, in JSON, with what the form says of him.
        let asked = json!({"jid": "alice@example.test"});
        let reply = until(&mut http, "peers", &asked, |r| r.status == 200 && items(r).len() == 1).await;
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let answer = reply.json();
        assert_eq!(answer["node"], "peers");
        assert_eq!(answer["form_type"], "urn:xmpp-game-bridge:peers:1");
        assert_eq!(answer["items"][0]["jid"], "bob@example.test");
        assert_eq!(answer["items"][0]["availability"], "available");
        assert_eq!(answer["fields"]["availability"], "available");
        // The same as a platform reads over XMPP.
        let mut platform = crate::directory::login(&server, "arcade").await;
        let peers_form = form(&run(&mut platform, "peers", "jid", &["alice@example.test"]).await);
        let over_xmpp: Vec<String> = rows(&peers_form).iter().map(|r| r["jid"][0].clone()).collect();
        assert_eq!(over_xmpp, ["bob@example.test"]);

        // status of several users: an array of JIDs, one item each, in order.
        let reply = http
            .command("status", &json!({"jids": ["bob@example.test", "zoe@elsewhere.example"]}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let availability: Vec<Value> = items(&reply).iter().map(|i| i["availability"].clone()).collect();
        assert_eq!(availability, [json!("available"), json!("unknown")]);

        // Refusals are problem documents with the XMPP error's text.
        let reply = http.command("peers", &json!({})).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        let problem = reply.json();
        assert_eq!(problem["status"], 400);
        assert_eq!(problem["condition"], "bad-request");
        assert!(problem["detail"].as_str().unwrap().contains("\"jid\""), "{problem}");
        let reply = http.command("no-such-command", &json!({})).await;
        assert_eq!(reply.status, 404, "{}", reply.text());
        let reply = http.command("stats", &json!({})).await;
        assert_eq!(reply.status, 403, "{}", reply.text());
        let reply = http.request("GET", "/v1/peers", &[], b"").await.unwrap();
        assert_eq!((reply.status, reply.header("allow")), (405, Some("POST")));
        let reply = http.request("POST", "/elsewhere", &[], b"{}").await.unwrap();
        assert_eq!(reply.status, 404);
        let reply = http.request("POST", "/v1/peers", &[], b"{\"jid\": ").await.unwrap();
        assert_eq!(reply.status, 400);
        assert!(reply.json()["detail"].as_str().unwrap().contains("not JSON"));
        let big = format!("{{\"jid\": \"{}\"}}", "a".repeat(70 * 1024));
        let reply = http.request("POST", "/v1/peers", &[], big.as_bytes()).await.unwrap();
        assert_eq!(reply.status, 413, "{}", reply.text());

        // Without a token, or with another, nobody is answered.
        let mut stranger = Http::new(door, None);
        let reply = stranger.command("peers", &asked).await;
        assert_eq!(reply.status, 401);
        assert!(reply.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert!(reply.json()["detail"].as_str().unwrap().contains("platform new-token"));
        let last = if token.ends_with('0') { "1" } else { "0" };
        let mut forged = Http::new(door, Some(&format!("{}{last}", &token[..token.len() - 1])));
        assert_eq!(forged.command("peers", &asked).await.status, 401);

        // The operator closes the door to the platform: refused, with the way to open it.
        bridge.cli(&["platform", "set-doors", PLATFORM, "xmpp"]).expect("doors set");
        let reply = until(&mut http, "peers", &asked, |r| r.status == 403).await;
        assert!(reply.json()["detail"].as_str().unwrap().contains("set-doors"), "{}", reply.text());
        bridge.cli(&["platform", "set-doors", PLATFORM, "default"]).expect("doors set");
        until(&mut http, "peers", &asked, |r| r.status == 200).await;

        // The operator sees the door's counters in stats.
        let mut admin = crate::directory::login(&server, "admin").await;
        let stats = form(&run(&mut admin, "stats", "none", &[]).await);
        let requests: u64 = crate::directory::field(&stats, "http-requests")[0].parse().unwrap();
        assert!(requests >= 10, "{requests}");
        let too_large = crate::directory::field(&stats, "http-bodies-too-large");
        assert_eq!(too_large, ["1"]);
        drop(bridge);
    }
);

on_both_servers!(
    async fn over_http_a_user_who_does_not_share_is_one_who_does_not_exist(kind) {
        let Bed { server, bridge, door, token } = bed(kind, "opt-in", "").await;
        let (mut alice, mut bob) = friends(&server).await;
        let mut http = Http::new(door, Some(&token));
        // The token is read with the registry: wait until it is known.
        until(&mut http, "status", &json!({"jids": ["nobody@example.test"]}), |r| r.status == 200).await;
        let mut bodies = Vec::new();
        for (node, var) in [("peers", "jid"), ("status", "jids")] {
            for user in ["alice@example.test", "nobody@example.test"] {
                let reply = http.command(node, &json!({var: user})).await;
                bodies.push(format!("{} {}", reply.status, reply.text().replace(user, "USER")));
            }
        }
        assert_eq!(bodies[0], bodies[1], "peers");
        assert_eq!(bodies[2], bodies[3], "status");
        // Nothing was disclosed, so nothing was recorded.
        let audit = bridge.cli(&["audit"]).expect("audit");
        assert!(!audit.contains("alice@example.test"), "{audit}");

        // Both share: alice's peer is listed, and the disclosure is recorded.
        for user in [&mut alice, &mut bob] {
            let said = say(user, "share arcade").await;
            assert!(said.starts_with("arcade may now see you."), "{said}");
        }
        let reply = until(&mut http, "peers", &json!({"jid": "alice@example.test"}), |r| {
            r.status == 200 && items(r).len() == 1
        })
        .await;
        assert_eq!(items(&reply)[0]["jid"], "bob@example.test");
        let deadline = Instant::now() + T;
        loop {
            let audit = bridge.cli(&["audit"]).expect("audit");
            if audit.contains("bob@example.test") && audit.contains(PLATFORM) {
                break;
            }
            assert!(Instant::now() < deadline, "the disclosure was never recorded: {audit}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(bridge);
    }
);

/// Reads what the door says on a raw connection until it closes (or `limit` passes).
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut said = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&said).into_owned()),
            Ok(Ok(n)) => said.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

on_both_servers!(
    async fn slow_and_surplus_http_clients_are_refused_clearly(kind) {
        use tokio::io::AsyncWriteExt;
        use tokio::net::TcpStream;
        let limits = "max_connections = 2\nheader_timeout_secs = 2\nbody_timeout_secs = 2\n";
        let Bed { server, bridge, door, token } = bed(kind, "opt-out", limits).await;
        // Two connections that say nothing take both places; a third is told why it is
        // closed.
        let mut idle: Vec<TcpStream> = Vec::new();
        for _ in 0..2 {
            idle.push(TcpStream::connect(door).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut third = TcpStream::connect(door).await.unwrap();
        let said = read_until_closed(&mut third, T).await.expect("the third is closed");
        assert!(said.starts_with("HTTP/1.1 503"), "{said}");
        assert!(said.to_ascii_lowercase().contains("retry-after: 5"), "{said}");
        assert!(said.contains("as many HTTP connections open as it allows"), "{said}");
        // The silent ones are closed once their headers are late, freeing the places.
        for stream in &mut idle {
            let said = read_until_closed(stream, T).await;
            assert!(said.is_some(), "a silent connection is closed");
        }
        // A body that stops coming is answered 408 within the body timeout.
        let mut slow = TcpStream::connect(door).await.unwrap();
        let head = format!(
            "POST /v1/peers HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-length: 40\r\n\r\n{{\"jid\""
        );
        slow.write_all(head.as_bytes()).await.unwrap();
        let said = read_until_closed(&mut slow, T).await.expect("answered and closed");
        assert!(said.starts_with("HTTP/1.1 408"), "{said}");
        // One connection carries request after request (keep-alive).
        let mut http = Http::new(door, Some(&token));
        for _ in 0..5 {
            let reply = until(&mut http, "status", &json!({"jids": ["alice@example.test"]}), |r| r.status == 200).await;
            assert_eq!(reply.header("connection"), None, "kept alive");
        }
        let mut admin = crate::directory::login(&server, "admin").await;
        let stats = form(&run(&mut admin, "stats", "none", &[]).await);
        assert_eq!(crate::directory::field(&stats, "http-connections-refused"), ["1"]);
        assert_eq!(crate::directory::field(&stats, "http-slow-bodies"), ["1"]);
        drop(bridge);
    }
);

/// Checks a delivery's signature as a receiver does (Standard Webhooks).
fn verify(delivery: &crate::support::http::Delivery, secret: &str) {
    use hmac::Mac;
    let id = delivery.header("webhook-id").expect("webhook-id");
    let timestamp = delivery
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let signature = delivery
        .header("webhook-signature")
        .expect("webhook-signature");
    let key = xmpp_game_bridge::news::signature::unbase64(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&delivery.body);
    let expected = xmpp_game_bridge::news::signature::base64(&mac.finalize().into_bytes());
    assert_eq!(signature, format!("v1,{expected}"));
    let sent: u64 = timestamp.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(sent) < 300, "{sent} vs {now}");
    assert_eq!(
        delivery.json()["id"],
        id,
        "the event's id is the delivery's"
    );
}

on_both_servers!(
    async fn news_of_an_invite_made_over_http_reach_the_webhook_signed_and_in_order(kind) {
        let metrics: SocketAddr = ([127, 0, 0, 1], free_ports(1).unwrap()[0]).into();
        let Bed { server, bridge, door, token } = bed(
            kind,
            "opt-in",
            &format!("webhook_allow = [\"127.0.0.1\"]\n[metrics]\nlisten = \"{metrics}\"\n"),
        )
        .await;
        let receiver = crate::support::http::Receiver::start().await.unwrap();
        let url = format!("http://127.0.0.1:{}/hooks/xgb", receiver.addr.port());
        let set = bridge.cli(&["platform", "set-webhook", PLATFORM, &url]).expect("webhook set");
        let secret = set.lines().last().unwrap().trim().to_owned();
        assert!(secret.starts_with("whsec_"), "{set}");
        let (mut alice, mut bob, mut carol) = alice_and_two_friends(&server).await;
        for client in [&mut alice, &mut bob, &mut carol] {
            say(client, "share all").await;
        }
        let mut http = Http::new(door, Some(&token));
        let invite = json!({"host": "alice@example.test", "invitees": ["bob@example.test", "carol@example.test"],
            "game": "Chess", "session": "table-7", "join": "https://play.example.test/j/7", "expiry": 600});
        let reply = until(&mut http, "invite", &invite, |r| r.status == 200).await;
        let answer = reply.json();
        let id = answer["fields"]["invite"].as_str().unwrap().to_owned();
        assert_eq!(answer["fields"]["outcome"], "waiting");
        let results: Vec<Value> = items(&reply).iter().map(|i| i["result"].clone()).collect();
        assert_eq!(results, [json!("sent"), json!("sent")], "{answer}");
        let bobs = invitation(&mut bob, "Chess").await;
        let carols = invitation(&mut carol, "Chess").await;
        // The receiver is down when bob accepts: the event waits, and carol's after it.
        receiver.set_down(true);
        say(&mut bob, &format!("accept {bobs}")).await;
        let deadline = Instant::now() + T;
        while receiver.refused() == 0 {
            assert!(Instant::now() < deadline, "no delivery was attempted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        say(&mut carol, &format!("decline {carols}")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        receiver.set_down(false);
        let deliveries = receiver.wait_for(2, Duration::from_secs(30)).await.unwrap();
        for delivery in &deliveries {
            verify(delivery, &secret);
            assert_eq!(delivery.header("content-type"), Some("application/json"));
        }
        let events: Vec<Value> = deliveries.iter().map(|d| d.json()).collect();
        assert_eq!(events[0]["type"], "invite");
        assert_eq!(events[0]["fields"]["invite"], id.as_str());
        assert_eq!(events[0]["fields"]["invitee"], "bob@example.test");
        assert_eq!(events[0]["fields"]["answer"], "accepted");
        assert_eq!(events[0]["fields"]["outcome"], "ready");
        assert_eq!(events[1]["fields"]["invitee"], "carol@example.test");
        assert_eq!(events[1]["fields"]["answer"], "declined");
        let ids: Vec<u64> = events.iter().map(|e| e["id"].as_str().unwrap().parse().unwrap()).collect();
        assert!(ids[0] < ids[1], "{ids:?}");
        // The host still hears it in her chat client; the platform got no message.
        crate::rights::receive(&mut alice, "bob@example.test accepted your invitation to Chess.").await;
        // The operator sees how each went.
        let listed = bridge.cli(&["platform", "deliveries", PLATFORM]).expect("deliveries");
        assert!(listed.contains(&format!("webhook {url}")), "{listed}");
        assert!(listed.contains(&format!("#{} ", ids[0])) && listed.contains("delivered"), "{listed}");
        let attempts = listed
            .lines()
            .find(|l| l.starts_with(&format!("#{} ", ids[0])))
            .unwrap();
        assert!(!attempts.contains(" 1 attempt(s)"), "retried: {attempts}");
        // The operator's metrics count the attempts by outcome, and the invite's answer
        // (read until the last delivery is counted: it is counted after the receiver
        // answered it).
        let deadline = Instant::now() + T;
        let exposition = loop {
            let text = Http::new(metrics, None)
                .request("GET", "/metrics", &[], b"")
                .await
                .unwrap()
                .text();
            if text.contains("xmpp_game_bridge_webhook_delivered_total 2") || Instant::now() >= deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let count = |sample: &str| -> f64 {
            exposition
                .lines()
                .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(0.0)
        };
        assert!(count("xmpp_game_bridge_webhook_attempt_seconds_count{outcome=\"failed\"}") >= 1.0, "{exposition}");
        assert!(count("xmpp_game_bridge_webhook_attempt_seconds_count{outcome=\"delivered\"}") >= 2.0, "{exposition}");
        assert!(count("xmpp_game_bridge_webhook_delivered_total") >= 2.0, "{exposition}");
        assert!(
            count("xmpp_game_bridge_answer_seconds_count{door=\"http\",node=\"invite\",outcome=\"answered\"}") >= 1.0,
            "{exposition}"
        );
        drop(bridge);
    }
);

on_both_servers!(
    async fn the_event_stream_carries_the_news_and_resumes_after_the_last_id(kind) {
        use crate::support::http::Stream;
        let Bed { server, bridge, door, token } = bed(kind, "opt-in", "").await;
        let (mut alice, mut bob) = friends(&server).await;
        for client in [&mut alice, &mut bob] {
            say(client, "share all").await;
        }
        let mut http = Http::new(door, Some(&token));
        // The token is read with the registry: wait until it is known.
        until(&mut http, "status", &json!({"jids": ["bob@example.test"]}), |r| r.status == 200).await;
        let refused = Stream::open(door, None, None).await.unwrap();
        assert_eq!(refused.status, 401);
        let mut stream = Stream::open(door, Some(&token), None).await.unwrap();
        assert_eq!(stream.status, 200);
        let invite = json!({"host": "alice@example.test", "invitees": ["bob@example.test"],
            "game": "Go", "session": "s-1", "join": "https://play.example.test/j/1"});
        let reply = http.command("invite", &invite).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let prompt = invitation(&mut bob, "Go").await;
        say(&mut bob, &format!("accept {prompt}")).await;
        let event = stream.next(T).await.unwrap();
        assert_eq!(event.event, "invite");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["id"], event.id.as_str());
        assert_eq!(data["fields"]["answer"], "accepted");
        assert_eq!(data["fields"]["invitee"], "bob@example.test");
        // A platform that comes back says where it stopped: it gets what came after.
        let before: i64 = event.id.parse::<i64>().unwrap() - 1;
        let mut again = Stream::open(door, Some(&token), Some(&before.to_string())).await.unwrap();
        let replayed = again.next(T).await.unwrap();
        assert_eq!(replayed, event);
        drop(bridge);
    }
);

/// The tools that check the door from outside (`scripts/ensure-python-tools.sh`): their
/// bin directory, installed if missing.
fn python_tools() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join("scripts/ensure-python-tools.sh"))
        .output()
        .expect("scripts/ensure-python-tools.sh runs");
    assert!(
        out.status.success(),
        "cannot install the Python tools: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// schemathesis, a tool nobody here wrote, sends what the OpenAPI document allows (and
/// what it does not) to a live bridge on a real Prosody: no answer is a 5xx, every
/// answer conforms to the document, and the bridge is still up at the end.
#[tokio::test]
async fn schemathesis_finds_nothing_against_a_live_bridge() {
    let tools = python_tools();
    let Bed {
        server,
        mut bridge,
        door,
        token,
    } = bed(ServerKind::Prosody, "opt-in", "").await;
    let (_alice, _bob) = friends(&server).await;
    let mut http = Http::new(door, Some(&token));
    until(
        &mut http,
        "status",
        &json!({"jids": ["bob@example.test"]}),
        |r| r.status == 200,
    )
    .await;
    // The document as the bridge serves it is the one in the repository, and valid.
    let served = http
        .request("GET", "/v1/openapi.json", &[], b"")
        .await
        .unwrap();
    assert_eq!(served.status, 200);
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(served.json(), kept);
    let validated = std::process::Command::new(tools.join("openapi-spec-validator"))
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
        .output()
        .unwrap();
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stdout)
    );
    // Its cache goes to a folder of the test's, not to the checkout.
    let workdir = tempfile::tempdir().unwrap();
    let mut schemathesis = std::process::Command::new(tools.join("schemathesis"));
    schemathesis
        .current_dir(workdir.path())
        .args([
            "run",
            &format!("http://{door}/v1/openapi.json"),
            "--url",
            &format!("http://{door}"),
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--exclude-path",
            "/v1/events",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--mode",
            "all",
            "--request-timeout",
            "20",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "");
    // The tool runs a while; the runtime goes on meanwhile.
    let run = tokio::task::spawn_blocking(move || schemathesis.output())
        .await
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stdout).into_owned();
    eprintln!("{said}");
    let summary = said
        .lines()
        .rev()
        .find(|l| l.contains("passed") || l.contains("failed"))
        .unwrap_or("");
    eprintln!("schemathesis: {summary}");
    assert!(
        run.status.success(),
        "schemathesis found something:\n{said}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        bridge.exit_status().unwrap().is_none(),
        "the bridge is still running"
    );
    let reply = http
        .command("status", &json!({"jids": ["bob@example.test"]}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// The Python platform a game developer copies (`examples/python-platform`), against a
/// real Prosody: it asks `peers`, invites them, and takes the answer on its webhook,
/// checking the signature (and refusing a forged delivery).
#[tokio::test]
async fn the_python_example_platform_invites_and_hears_back() {
    let Bed {
        server,
        bridge,
        door,
        token,
    } = bed(
        ServerKind::Prosody,
        "opt-in",
        "webhook_allow = [\"127.0.0.1\"]\n",
    )
    .await;
    let (mut alice, mut bob) = friends(&server).await;
    for client in [&mut alice, &mut bob] {
        say(client, "share all").await;
    }
    let listen: SocketAddr = ([127, 0, 0, 1], free_ports(1).unwrap()[0]).into();
    let set = bridge
        .cli(&[
            "platform",
            "set-webhook",
            PLATFORM,
            &format!("http://{listen}/news"),
        ])
        .expect("webhook set");
    let secret = set.lines().last().unwrap().trim().to_owned();
    let mut python = crate::support::Platform::start_python(
        &format!("http://{door}"),
        &token,
        (&secret, listen),
        None,
    )
    .expect("the Python platform starts");
    python.wait_for("webhook on", T).await.unwrap();
    // The token is read with the registry a moment after the CLI stored it.
    let deadline = Instant::now() + T;
    loop {
        python.say("peers alice@example.test").unwrap();
        let line = python.wait_for("", T).await.unwrap();
        if line.contains("chatting with bob@example.test") {
            break;
        }
        assert!(Instant::now() < deadline, "{line}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    python.say("invite alice@example.test Chess").unwrap();
    let sent = python.wait_for("invite ", T).await.unwrap();
    assert!(sent.ends_with("sent to bob@example.test"), "{sent}");
    let prompt = invitation(&mut bob, "Chess").await;
    say(&mut bob, &format!("accept {prompt}")).await;
    let news = python.wait_for("news:", T).await.unwrap();
    assert!(
        news.starts_with("news: bob@example.test accepted invite"),
        "{news}"
    );
    assert!(news.ends_with("(ready)"), "{news}");
    // A delivery the bridge did not sign is refused.
    let mut forger = Http::new(listen, None);
    let forged = forger
        .request(
            "POST",
            "/news",
            &[
                ("webhook-id", "1"),
                ("webhook-timestamp", "1"),
                ("webhook-signature", "v1,AAAA"),
            ],
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(forged.status, 401);
    python
        .wait_for("bad signature was refused", T)
        .await
        .unwrap();
    drop(bridge);
}

/// The README's nginx block, as it is there.
fn readme_nginx() -> String {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme
        .find("```nginx\n")
        .expect("the README has an nginx block")
        + "```nginx\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

/// The README's nginx snippet in front of a bridge on Prosody: a command over TLS, and
/// the event stream passing events as they come.
#[tokio::test]
async fn behind_nginx() {
    let Bed {
        server,
        bridge,
        door,
        token,
    } = bed(ServerKind::Prosody, "opt-out", "").await;
    let (_alice, mut bob) = friends(&server).await;
    let dir = tempfile::Builder::new()
        .prefix("xgb-nginx-")
        .tempdir()
        .unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-keyout", &path("key.pem"), "-out", &path("cert.pem")])
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = free_ports(1).unwrap()[0];
    let snippet = readme_nginx()
        .replace("127.0.0.1:8480", &door.to_string())
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace("/etc/ssl/certs/games.example.org.pem", &path("cert.pem"))
        .replace("/etc/ssl/private/games.example.org.key", &path("key.pem"));
    assert!(
        snippet.contains(&path("cert.pem")) && snippet.contains(&door.to_string()),
        "{snippet}"
    );
    let temp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|t| format!("{t}_temp_path {};\n", path(t)))
        .collect();
    let conf = format!(
        "user root;\ndaemon off;\nmaster_process off;\npid {};\nerror_log {} info;\nevents {{ worker_connections 64; }}\nhttp {{\naccess_log {};\n{temp}{snippet}}}\n",
        path("nginx.pid"), path("error.log"), path("access.log")
    );
    std::fs::write(path("nginx.conf"), &conf).unwrap();
    let mut nginx = std::process::Command::new("nginx")
        .args([
            "-p",
            &path(""),
            "-c",
            &path("nginx.conf"),
            "-e",
            &path("error.log"),
        ])
        .spawn()
        .expect("nginx starts (scripts/test.sh installs it)");
    let deadline = Instant::now() + T;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: {}",
            std::fs::read_to_string(path("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = format!("https://localhost:{port}");
    let auth = format!("Authorization: Bearer {token}");
    let curl = |args: Vec<String>| {
        let out = std::process::Command::new("curl")
            .args(["-sk", "--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args(args)
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A command through the proxy (the token is read with the registry a moment after
    // the CLI made it).
    let deadline = Instant::now() + T;
    let answer = loop {
        let said = curl(vec![
            format!("{base}/v1/peers"),
            "-H".into(),
            auth.clone(),
            "-H".into(),
            "Content-Type: application/json".into(),
            "-d".into(),
            "{\"jid\": \"alice@example.test\"}".into(),
        ]);
        let value: Value = serde_json::from_str(&said).unwrap_or(Value::Null);
        if value["items"][0]["jid"] == "bob@example.test" {
            break value;
        }
        assert!(
            Instant::now() < deadline,
            "never answered through nginx: {said}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answer["node"], "peers");
    // The event stream through the proxy: an event arrives as it happens.
    let mut stream = std::process::Command::new("curl")
        .args([
            "-skN",
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            &format!("{base}/v1/events"),
            "-H",
            &auth,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = stream.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The stream's opening comment arrives at once: nothing is buffered.
    let first = rx.recv_timeout(T).expect("the stream opens through nginx");
    assert!(first.starts_with(':'), "{first}");
    let mut http = Http::new(door, Some(&token));
    let invite = json!({"host": "alice@example.test", "invitees": ["bob@example.test"], "game": "Go", "session": "s-9"});
    let reply = http.command("invite", &invite).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let prompt = invitation(&mut bob, "Go").await;
    say(&mut bob, &format!("decline {prompt}")).await;
    let deadline = Instant::now() + T;
    let data = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the event passes nginx");
        if let Some(data) = line.strip_prefix("data: ") {
            break data.to_owned();
        }
    };
    let event: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(event["fields"]["answer"], "declined");
    let _ = stream.kill();
    let _ = stream.wait();
    let _ = nginx.kill();
    let _ = nginx.wait();
    drop(bridge);
}

/// Ten `kill -9`s of the bridge during a run of invites over HTTP: every answer a user
/// was told was recorded reaches the webhook, every event of the outbox is delivered at
/// least once, and duplicates carry the same event id.
#[tokio::test]
async fn no_news_is_lost_across_kill_9() {
    const ROUNDS: usize = 10;
    let Bed {
        server,
        mut bridge,
        door,
        token,
    } = bed(
        ServerKind::Prosody,
        "opt-out",
        "webhook_allow = [\"127.0.0.1\"]\n",
    )
    .await;
    let receiver = crate::support::http::Receiver::start().await.unwrap();
    // A slow receiver: deliveries are under way when the bridge is killed.
    receiver.set_delay(Duration::from_millis(40));
    let url = format!("http://127.0.0.1:{}/news", receiver.addr.port());
    bridge
        .cli(&["platform", "set-webhook", PLATFORM, &url])
        .expect("webhook set");
    let (_alice, mut bob, mut carol) = alice_and_two_friends(&server).await;
    let mut http = Http::new(door, Some(&token));
    // (invite, invitee, answer) the users were told was recorded.
    let mut told: Vec<(String, String, &str)> = Vec::new();
    for round in 0..ROUNDS {
        let invite = json!({"host": "alice@example.test", "invitees": ["bob@example.test", "carol@example.test"],
            "game": "Chess", "session": format!("round-{round}")});
        let reply = until(&mut http, "invite", &invite, |r| r.status == 200).await;
        let id = reply.json()["fields"]["invite"]
            .as_str()
            .unwrap()
            .to_owned();
        let results: Vec<Value> = items(&reply).iter().map(|i| i["result"].clone()).collect();
        assert_eq!(
            results,
            [json!("sent"), json!("sent")],
            "round {round}: {}",
            reply.text()
        );
        let mut prompts = Vec::new();
        for client in [&mut bob, &mut carol] {
            prompts.push(invitation(client, "Chess").await);
        }
        let said = say(&mut bob, &format!("accept {}", prompts[0])).await;
        assert!(said.starts_with("You accepted"), "{said}");
        told.push((id.clone(), "bob@example.test".to_owned(), "accepted"));
        carol
            .send_message(COMPONENT, &format!("accept {}", prompts[1]))
            .await
            .unwrap();
        // Killed at once, while carol's answer is on its way or just recorded, and
        // while news are being delivered.
        tokio::time::sleep(Duration::from_millis(20 * round as u64)).await;
        bridge.kill();
        let confirmed = carol
            .recv_matching(Duration::from_secs(2), |e| {
                e.name() == "message" && crate::rights::body(e).starts_with("You accepted")
            })
            .await;
        if confirmed.is_ok() {
            told.push((id, "carol@example.test".to_owned(), "accepted"));
        }
        bridge.start_again().unwrap();
        bridge
            .wait_connected(Duration::from_secs(30))
            .await
            .expect("linked again");
        // Whatever was on its way to the killed bridge bounced: the clients start afresh.
        for client in [&mut bob, &mut carol] {
            client.take_inbox();
        }
        // The session bob joined ends, so that the next round may invite him again.
        let ended = until(
            &mut http,
            "session-ended",
            &json!({"invite": told.last().map(|t| t.0.clone())}),
            |r| r.status == 200,
        )
        .await;
        assert_eq!(ended.json()["fields"]["state"], "ended", "{}", ended.text());
    }
    // Every event in the outbox is delivered at least once.
    let listed = bridge
        .cli(&["platform", "deliveries", PLATFORM, "--limit", "1"])
        .unwrap();
    let last: u64 = listed
        .lines()
        .find_map(|l| l.strip_prefix('#')?.split(' ').next()?.parse().ok())
        .expect("events were made");
    let deadline = Instant::now() + Duration::from_secs(60);
    let deliveries = loop {
        let deliveries = receiver.deliveries();
        let mut ids: Vec<u64> = deliveries
            .iter()
            .filter_map(|d| d.header("webhook-id")?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids == (1..=last).collect::<Vec<_>>() {
            break deliveries;
        }
        assert!(Instant::now() < deadline, "delivered {ids:?} of 1..={last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A duplicate is the same event, byte for byte, under the same id.
    let mut by_id: std::collections::HashMap<String, Vec<u8>> = std::collections::HashMap::new();
    let mut duplicates = 0;
    for d in &deliveries {
        let id = d.header("webhook-id").unwrap().to_owned();
        if let Some(body) = by_id.get(&id) {
            duplicates += 1;
            assert_eq!(body, &d.body, "event {id} came twice, differently");
        } else {
            by_id.insert(id, d.body.clone());
        }
    }
    // Every answer a user was told was recorded has its event.
    for (invite, invitee, answer) in &told {
        let found = by_id.values().any(|body| {
            let event: Value = serde_json::from_slice(body).unwrap();
            event["fields"]["invite"] == invite.as_str()
                && event["fields"]["invitee"] == invitee.as_str()
                && event["fields"]["answer"] == *answer
        });
        assert!(found, "no event for {invitee} {answer} invite {invite}");
    }
    eprintln!(
        "kill -9 run: {ROUNDS} kills, {} answers told, {last} events in the outbox, {} deliveries, {duplicates} duplicates",
        told.len(),
        deliveries.len()
    );
}

/// The first URL in `text`.
fn url_in(text: &str) -> String {
    let start = text
        .find("http://")
        .unwrap_or_else(|| panic!("no link in {text:?}"));
    text[start..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// What headless Chromium (Debian's) shows of `url`, as its DOM; with `screenshot`, a
/// picture of it on a phone's width too.
fn chromium(url: &str, screenshot: Option<&std::path::Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=390,1100",
    ]);
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let output = command.arg(url).output().expect("chromium runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value of the first `name=<attr> value="…"` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name={name} value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_user_opens_the_privacy_page_from_a_one_time_link_and_changes_it_there() {
    let bed = bed(ServerKind::Prosody, "opt-in", "").await;
    let (mut alice, mut bob) = crate::directory::friends(&bed.server, "alice", "bob").await;
    for user in [&mut alice, &mut bob] {
        assert!(say(user, "share all")
            .await
            .starts_with("Every platform may now see you."));
    }
    assert!(say(&mut bob, "status Up for chess after 8")
        .await
        .starts_with("Your status is now"));
    // arcade looks at bob and invites him: the page shows both.
    let mut arcade = Client::connect(&bed.server, "arcade", "arcade-pw", "engine")
        .await
        .unwrap();
    crate::directory::status_until(&mut arcade, "bob@example.test", "available").await;
    let invited = crate::rights::command(
        &mut arcade,
        "invite",
        &[
            ("host", "alice@example.test"),
            ("invitees", "bob@example.test"),
            ("game", "Chess"),
            ("session", "s-1"),
            ("expiry", "600"),
        ],
        None,
    )
    .await;
    assert_eq!(
        invited.attr("type"),
        Some("result"),
        "{}",
        String::from(&invited)
    );
    crate::rights::receive(&mut bob, "invites you to play Chess").await;

    // The picture in docs/, on a phone's width, when asked for.
    if let Some(dir) = std::env::var_os("CLIENT_SCREENS") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        let link = url_in(&say(&mut bob, "privacy link").await);
        chromium(&link, Some(&dir.join("privacy-page.png")));
    }
    // Opened in a browser, the link shows the whole page.
    let link = url_in(&say(&mut bob, "privacy link").await);
    assert!(
        link.starts_with(&format!("http://{}/privacy/", bed.door)),
        "{link}"
    );
    let dom = chromium(&link, None);
    for shown in [
        "<title>Your privacy</title>",
        "bob@example.test",
        "<h3>See you</h3><ul><li><span>arcade</span>",
        "arcade saw your status, just now",
        "arcade sent you an invitation, just now",
        "alice@example.test invites you to Chess",
        "value=\"Up for chess after 8\"",
    ] {
        assert!(dom.contains(shown), "{shown:?} not on the page:\n{dom}");
    }
    // Once only.
    let mut http = Http::new(bed.door, None);
    let path = &link[link.find("/privacy/").unwrap()..];
    let again = http.request("GET", path, &[], b"").await.unwrap();
    assert_eq!(again.status, 410);
    assert!(
        again.text().contains("This link was used already"),
        "{}",
        again.text()
    );
    // A link nobody gave opens nothing (its last character changed, whatever it was).
    let last = if path.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &path[..path.len() - 1]);
    assert_eq!(
        http.request("GET", &forged, &[], b"").await.unwrap().status,
        404
    );
    assert_eq!(
        http.request("GET", "/privacy", &[], b"")
            .await
            .unwrap()
            .status,
        401
    );
    // In the browser's language.
    let french = http
        .request(
            "GET",
            "/privacy",
            &[("accept-language", "fr-FR,fr;q=0.9,en;q=0.5")],
            b"",
        )
        .await
        .unwrap();
    assert!(
        french.text().contains("<html lang=fr>")
            && french.text().contains("Votre page de confidentialité"),
        "{}",
        french.text()
    );

    // A new link, opened as a browser does: the cookie holds the session.
    let link = url_in(&say(&mut bob, "privacy link").await);
    let path = &link[link.find("/privacy/").unwrap()..];
    let opened = http.request("GET", path, &[], b"").await.unwrap();
    assert_eq!(opened.status, 303);
    let cookie = opened.header("set-cookie").expect("a cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = http
        .request("GET", "/privacy", &[("cookie", &cookie)], b"")
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text();
    let form = hidden(&html, "form");
    let prompt = hidden(&html, "prompt");
    let post = |fields: String| fields.into_bytes();
    let form_headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    // A form not from the page changes nothing.
    let forged = http
        .request(
            "POST",
            "/privacy",
            &form_headers,
            &post("form=nope&stop=arcade".into()),
        )
        .await
        .unwrap();
    assert_eq!(forged.status, 403);
    let answered = http
        .request(
            "POST",
            "/privacy",
            &form_headers,
            &post(format!("form={form}&prompt={prompt}&answer=yes")),
        )
        .await
        .unwrap();
    assert!(
        answered
            .text()
            .contains("You accepted alice@example.test&#39;s invitation to Chess."),
        "{}",
        answered.text()
    );
    let stopped = http
        .request(
            "POST",
            "/privacy",
            &form_headers,
            &post(format!("form={form}&stop=arcade")),
        )
        .await
        .unwrap();
    assert!(
        stopped.text().contains("arcade no longer sees you."),
        "{}",
        stopped.text()
    );
    // Recorded like a change made by chat: arcade no longer sees bob, and bob's chat
    // says so.
    let row = crate::directory::status_until(&mut arcade, "bob@example.test", "offline").await;
    assert!(row["self-status"].is_empty(), "{row:?}");
    let privacy = say(&mut bob, "privacy").await;
    assert!(
        privacy.starts_with("Platforms that see you: none."),
        "{privacy}"
    );

    drop(bed);
}
