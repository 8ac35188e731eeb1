//! Soak: server restarts and `kill -9`s of the bridge while users log in and out and a
//! platform asks `peers` and `status` all along. Not part of the test run (it takes a few
//! minutes per server): `scripts/soak.sh` runs it and prints its figures.
//!
//! Checked afterwards: the bridge never exited by itself; no request was answered twice;
//! every request was answered (a result or an error) except those in flight at a kill,
//! which the platform saw time out; no last-seen time was lost except for a logout less
//! than a second before a kill; every `link down` in the log is followed by a `link up`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use minidom::Element;

use crate::directory::{form, login, rows, run, world, Row, World};
use crate::support::{befriend, Client, ServerKind, ServerOptions, COMPONENT_JID};

const T: Duration = Duration::from_secs(15);
const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];

fn rounds() -> usize {
    std::env::var("SOAK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn request(id: &str, n: usize) -> String {
    let user = USERS[n % USERS.len()];
    let (node, var) = if n.is_multiple_of(3) {
        ("status", "jids")
    } else {
        ("peers", "jid")
    };
    format!(
        "<iq type='set' id='{id}' to='{COMPONENT_JID}'><command xmlns='http://jabber.org/protocol/commands' node='{node}' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='{var}'><value>{user}@example.test</value></field></x></command></iq>"
    )
}

/// The platform's view: every request it sent, when, and the replies it got.
#[derive(Default)]
struct Ledger {
    sent: BTreeMap<String, SystemTime>,
    replies: HashMap<String, usize>,
    errors: usize,
}

impl Ledger {
    fn take(&mut self, inbox: Vec<Element>) {
        for el in inbox {
            if el.name() == "iq" && matches!(el.attr("type"), Some("result") | Some("error")) {
                if let Some(id) = el.attr("id").filter(|id| id.starts_with("soak-")) {
                    *self.replies.entry(id.to_owned()).or_default() += 1;
                    if el.attr("type") == Some("error") {
                        self.errors += 1;
                    }
                }
            }
        }
    }
}

/// Sends a burst of requests and gathers what comes back within `window`.
async fn ask_a_while(platform: &mut Client, ledger: &mut Ledger, round: usize, window: Duration) {
    for n in 0..20 {
        let id = format!("soak-{round}-{n}");
        if platform.send_xml(&request(&id, n)).await.is_ok() {
            ledger.sent.insert(id, SystemTime::now());
        }
    }
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        if let Some(el) = platform.recv(Duration::from_millis(100)).await {
            ledger.take(vec![el]);
        }
    }
}

/// The platform's `status` row for `user`, asking again (as a platform would) while the
/// bridge says it has just connected and to try again.
async fn status_row(platform: &mut Client, user: &str) -> Row {
    let deadline = Instant::now() + T;
    loop {
        let reply = run(
            platform,
            "status",
            "jids",
            &[&format!("{user}@example.test")],
        )
        .await;
        if reply.attr("type") == Some("result") {
            return rows(&form(&reply)).into_iter().next().expect("one row");
        }
        assert!(
            Instant::now() < deadline,
            "status keeps failing: {}",
            String::from(&reply)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn soak(kind: ServerKind) {
    let World {
        mut server,
        mut bridge,
        mut platform,
    } = world(
        kind,
        &ServerOptions::default(),
        &["watcher", "u0", "u1", "u2", "u3"],
        "",
    )
    .await;
    // A contact online all along: ejabberd forwards a departure only then.
    let mut watcher = login(&server, "watcher").await;
    watcher.send_presence(None, None).await.unwrap();
    for user in USERS {
        let mut c = login(&server, user).await;
        c.send_presence(None, None).await.unwrap();
        befriend(&mut watcher, &mut c, T)
            .await
            .expect("mutual contacts");
        c.close().await;
    }
    let mut ledger = Ledger::default();
    let (mut checked, mut lost, mut excused) = (0, Vec::new(), 0);
    let mut kills: Vec<SystemTime> = Vec::new();
    let mut restarts = 0;
    let started = Instant::now();
    for round in 0..2 * rounds() {
        // Users come and go; half of them leave in each round.
        let mut online = Vec::new();
        for (i, user) in USERS.iter().enumerate() {
            let mut c = login(&server, user).await;
            c.send_presence(
                if i % 2 == 0 { Some("chat") } else { None },
                Some("soaking"),
            )
            .await
            .unwrap();
            online.push((user, c));
        }
        ask_a_while(
            &mut platform,
            &mut ledger,
            round,
            Duration::from_millis(300),
        )
        .await;
        let mut logouts = Vec::new();
        for (i, (user, c)) in online.into_iter().enumerate() {
            if (round + i) % 2 == 0 {
                logouts.push((*user, SystemTime::now()));
                c.close().await;
            }
        }
        // In one kill round of two, the logouts come more than a second before the kill
        // (they must survive it); in the other, less (they may be lost).
        let settle = if round % 4 == 0 { 1_200 } else { 300 };
        ask_a_while(
            &mut platform,
            &mut ledger,
            round + 1_000,
            Duration::from_millis(settle),
        )
        .await;
        assert_eq!(
            bridge.exit_status().expect("status"),
            None,
            "the bridge exited by itself:\n{}",
            bridge.log_tail(40)
        );
        if round % 2 == 0 {
            // Requests in flight at the kill: answered before it, or timed out.
            ask_a_while(&mut platform, &mut ledger, round + 2_000, Duration::ZERO).await;
            kills.push(SystemTime::now());
            bridge.kill();
            bridge.start_again().expect("restarts");
        } else {
            server.restart().await.expect("server restarts");
            restarts += 1;
            platform = Client::connect(&server, "arcade", "arcade-pw", "engine")
                .await
                .expect("platform logs in again");
            watcher = login(&server, "watcher").await;
            watcher.send_presence(None, None).await.unwrap();
        }
        bridge.wait_connected(T).await.expect("links up again");
        ledger.take(platform.take_inbox());
        // This round's logouts, as the bridge now reports them.
        for (user, at) in logouts {
            checked += 1;
            let row = status_row(&mut platform, user).await;
            let seen = row["last-seen"].first().cloned().unwrap_or_default();
            let logged_out = as_xep0082(at);
            if seen.is_empty() || seen < logged_out {
                let near_kill = kills.last().is_some_and(|k| {
                    *k >= at && k.duration_since(at).unwrap_or_default() < Duration::from_secs(1)
                });
                if near_kill {
                    excused += 1;
                } else {
                    lost.push(format!(
                        "round {round}: {user} logged out {logged_out}, bridge says {seen:?}"
                    ));
                }
            }
        }
    }
    // Late answers.
    ask_a_while(&mut platform, &mut ledger, 9_999, Duration::from_secs(2)).await;
    let twice: Vec<_> = ledger.replies.iter().filter(|(_, n)| **n > 1).collect();
    let unanswered: Vec<&String> = ledger
        .sent
        .keys()
        .filter(|id| !ledger.replies.contains_key(*id))
        .collect();
    // A request unanswered must have been in flight at a kill: sent in the second before.
    let unexcused: Vec<&&String> = unanswered
        .iter()
        .filter(|id| {
            let at = ledger.sent[id.as_str()];
            !kills.iter().any(|k| {
                *k >= at && k.duration_since(at).unwrap_or_default() < Duration::from_secs(2)
            })
        })
        .collect();
    let log = bridge.log();
    let mut down_open = false;
    let (mut downs, mut ups) = (0, 0);
    for line in log.lines() {
        if line.contains("link down") {
            downs += 1;
            down_open = true;
        } else if line.contains("link up") {
            ups += 1;
            down_open = false;
        }
    }
    eprintln!(
        "soak on {kind}: {} s, {} bridge kills, {restarts} server restarts, {} requests sent, {} answered ({} with an error), {} unanswered (in flight at a kill), {} answered twice; {} logouts checked, {} lost, {excused} within 1 s of a kill; link down {downs}, link up {ups}",
        started.elapsed().as_secs(),
        kills.len(),
        ledger.sent.len(),
        ledger.replies.len(),
        ledger.errors,
        unanswered.len(),
        twice.len(),
        checked,
        lost.len(),
    );
    assert!(twice.is_empty(), "answered twice: {twice:?}");
    assert!(unexcused.is_empty(), "never answered: {unexcused:?}");
    assert!(lost.is_empty(), "last-seen times lost: {lost:?}");
    assert!(
        !down_open,
        "a link down with no link up after it:\n{}",
        bridge.log_tail(20)
    );
}

/// XEP-0082 in UTC to the second, as the bridge writes `last-seen`: comparable as text.
fn as_xep0082(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    xmpp_game_bridge::xep::datetime::format(secs)
}

#[tokio::test]
#[ignore = "minutes long; run by scripts/soak.sh"]
async fn soak_prosody() {
    soak(ServerKind::Prosody).await;
}

#[tokio::test]
#[ignore = "minutes long; run by scripts/soak.sh"]
async fn soak_ejabberd() {
    soak(ServerKind::Ejabberd).await;
}
