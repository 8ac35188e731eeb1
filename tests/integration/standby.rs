//! Active and standby: two bridges with one configuration on one PostgreSQL (each on a
//! "machine" of its own: `XMPP_GAME_BRIDGE_NODE`), against a real Prosody and a real
//! ejabberd. One holds the lease and links to the server; the other answers `/readyz`
//! with 503 "standby" and takes over when the lease lapses: after a `kill -9`, within
//! 10 s, with a pending invitation answered after; after a pause (SIGSTOP past the
//! lease), the paused one writes nothing once resumed, and stops.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use xmpp_game_bridge::store::testkit::TestDatabase;

use crate::directory::login;
use crate::invites::{invitation, invite, news, one};
use crate::rights::{command, result_field, say};
use crate::support::http::{Http, Reply};
use crate::support::netns::Netns;
use crate::support::{
    befriend, free_ports, on_both_servers, Bridge, BridgeConfig, Client, Server, ServerKind,
    ServerOptions, LINK_UP,
};

const T: Duration = Duration::from_secs(10);
const ARCADE: &str = "arcade@example.test";
/// The target: the standby answers within this long after the leader is gone.
const TAKEOVER: Duration = Duration::from_secs(10);

/// Two bridges on one database, the first the leader; the platform and three users
/// (alice a mutual contact of bob and carol), each sharing with every platform.
pub(crate) struct Pair {
    /// Kept running while the pair lives.
    pub _server: Server,
    pub db: TestDatabase,
    pub bridges: Vec<Bridge>,
    pub ops: Vec<SocketAddr>,
    /// Each bridge's HTTP front door, where the pair has them.
    pub doors: Vec<SocketAddr>,
    pub arcade: Client,
    pub users: Vec<Client>,
    pub kind: ServerKind,
    /// Each bridge's network namespace, where they run in one ([`pair_in_netns`]).
    pub netns: Vec<Netns>,
}

fn config(
    server: &Server,
    kind: ServerKind,
    url: &str,
    node: usize,
    (port, door): (u16, Option<SocketAddr>),
) -> BridgeConfig {
    let http = door.map_or_else(String::new, |door| {
        format!("[http]\nlisten = \"{door}\"\nwebhook_allow = [\"127.0.0.1\"]\n")
    });
    BridgeConfig {
        platforms: vec![ARCADE.to_owned()],
        consent: "opt-in",
        ejabberd_api: (kind == ServerKind::Ejabberd).then(|| server.api_url()),
        storage_url: Some(url.to_owned()),
        env: vec![("XMPP_GAME_BRIDGE_NODE".to_owned(), format!("node-{node}"))],
        extra_toml: format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n{http}"),
        ..BridgeConfig::default()
    }
}

pub(crate) async fn pair(kind: ServerKind) -> Pair {
    pair_with(kind, false).await
}

/// A server with the platform's account and three users, and an empty database.
async fn server_and_database(kind: ServerKind) -> (Server, TestDatabase) {
    server_and_database_with(kind, &ServerOptions::default()).await
}

/// [`server_and_database`] with a configuration variation.
async fn server_and_database_with(
    kind: ServerKind,
    options: &ServerOptions,
) -> (Server, TestDatabase) {
    let server = Server::start_with(kind, options)
        .await
        .expect("server starts");
    server
        .register_users(&["arcade", "alice", "bob", "carol"])
        .await
        .unwrap();
    let db = xmpp_game_bridge::store::testkit::database().expect("the test PostgreSQL");
    (server, db)
}

/// [`pair`], each bridge with an HTTP front door where `http`.
pub(crate) async fn pair_with(kind: ServerKind, http: bool) -> Pair {
    let (server, db) = server_and_database(kind).await;
    let ports = free_ports(4).unwrap();
    let ops: Vec<SocketAddr> = ports[..2]
        .iter()
        .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect();
    let doors: Vec<SocketAddr> = ports[2..]
        .iter()
        .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect();
    let door = |i: usize| http.then_some(doors[i]);
    let mut first = Bridge::start_with(
        &server,
        &config(&server, kind, &db.url, 0, (ports[0], door(0))),
    )
    .await
    .expect("bridge starts");
    first.wait_connected(T).await.unwrap();
    let second = Bridge::start_with(
        &server,
        &config(&server, kind, &db.url, 1, (ports[1], door(1))),
    )
    .await
    .expect("bridge starts");
    paired(
        server,
        db,
        vec![first, second],
        (ops, doors),
        Vec::new(),
        kind,
    )
    .await
}

/// The pair once the first serves and the second waits as the standby, with the
/// platform and the users logged in.
async fn paired(
    server: Server,
    db: TestDatabase,
    bridges: Vec<Bridge>,
    (ops, doors): (Vec<SocketAddr>, Vec<SocketAddr>),
    netns: Vec<Netns>,
    kind: ServerKind,
) -> Pair {
    let standby = until(ops[1], |r| r.status == 503 && r.text().contains("standby")).await;
    assert!(standby.text().contains("node-0/"), "{}", standby.text());
    assert_eq!(until(ops[0], |r| r.status == 200).await.status, 200);
    let (arcade, users) = logged_in(&server, &["alice", "bob", "carol"]).await;
    Pair {
        _server: server,
        db,
        bridges,
        ops,
        doors,
        arcade,
        users,
        kind,
        netns,
    }
}

/// How bridge `node`, in `netns`, reaches the server's component port (Prosody through a
/// forwarder on this side of its link, ejabberd directly) and the database (through a
/// forwarder): the component's address, and the database's URL.
async fn reach(
    netns: &Netns,
    server: &Server,
    db: &TestDatabase,
    kind: ServerKind,
) -> (SocketAddr, String) {
    let component = match kind {
        ServerKind::Prosody => netns
            .forward(([127, 0, 0, 1], server.component_port()).into())
            .await
            .unwrap(),
        ServerKind::Ejabberd => SocketAddr::from((netns.host_ip, server.component_port())),
    };
    let pg_port: u16 = db
        .url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .expect("the database's port");
    let pg = netns
        .forward(([127, 0, 0, 1], pg_port).into())
        .await
        .unwrap();
    let url = db
        .url
        .replace(&format!("127.0.0.1:{pg_port}"), &pg.to_string());
    (component, url)
}

/// The server for bridges in `netns`: ejabberd with a component listener on each
/// namespace's far end, and the shipped `vm.args`.
fn options_for(netns: &[&Netns]) -> ServerOptions {
    ServerOptions {
        component_also_at: netns.iter().map(|n| n.host_ip).collect(),
        standby_vm_args: true,
        ..ServerOptions::default()
    }
}

/// [`pair_with`] with HTTP doors, each bridge in a network namespace of its own (see
/// [`reach`]); the webhook receiver listens at the first namespace's far end, which both
/// reach.
pub(crate) async fn pair_in_netns(kind: ServerKind) -> Pair {
    let netns = vec![
        Netns::create().expect("a network namespace (root, iproute2)"),
        Netns::create().expect("a network namespace (root, iproute2)"),
    ];
    let (server, db) = server_and_database_with(kind, &options_for(&[&netns[0], &netns[1]])).await;
    let ports = free_ports(4).unwrap();
    let ops: Vec<SocketAddr> = (0..2)
        .map(|i| SocketAddr::from((netns[i].ns_ip, ports[i])))
        .collect();
    let doors: Vec<SocketAddr> = (0..2)
        .map(|i| SocketAddr::from((netns[i].ns_ip, ports[2 + i])))
        .collect();
    let mut bridges = Vec::new();
    for i in 0..2 {
        let (component, url) = reach(&netns[i], &server, &db, kind).await;
        let inside = BridgeConfig {
            host: Some(component.ip().to_string()),
            port: Some(component.port()),
            wrapper: netns[i].wrapper(),
            extra_toml: format!(
                "[metrics]\nlisten = \"{}\"\n[http]\nlisten = \"{}\"\nwebhook_allow = [\"{}\"]\n",
                ops[i], doors[i], netns[0].host_ip
            ),
            ..config(&server, kind, &url, i, (ports[i], None))
        };
        let mut bridge = Bridge::start_with(&server, &inside)
            .await
            .expect("bridge starts");
        if i == 0 {
            bridge.wait_connected(T).await.unwrap();
        }
        bridges.push(bridge);
    }
    paired(server, db, bridges, (ops, doors), netns, kind).await
}

/// The platform's account, and `names` logged in (the first a mutual contact of the
/// others), each sharing with every platform.
async fn logged_in(server: &Server, names: &[&str]) -> (Client, Vec<Client>) {
    let arcade = login(server, "arcade").await;
    let mut users = Vec::new();
    for name in names {
        users.push(login(server, name).await);
    }
    for user in &mut users {
        user.send_presence(None, None).await.unwrap();
    }
    let (first, rest) = users.split_at_mut(1);
    for other in rest.iter_mut() {
        befriend(&mut first[0], other, T)
            .await
            .expect("mutual contacts");
    }
    for user in &mut users {
        user.send_presence(None, None).await.unwrap();
        let said = say(user, "share all").await;
        assert!(
            said.starts_with("Every platform may now see you."),
            "{said}"
        );
    }
    (arcade, users)
}

impl Pair {
    /// The platform's token, made with the CLI, and a webhook receiver set as its
    /// webhook.
    async fn webhook(&mut self) -> (String, crate::support::http::Receiver) {
        self.bridges[0]
            .wait_for_log("HTTP front door listening", T)
            .await
            .unwrap();
        let made = self.bridges[0]
            .cli(&["platform", "new-token", ARCADE])
            .unwrap();
        let token = made.lines().last().unwrap().trim().to_owned();
        let at: std::net::IpAddr = self
            .netns
            .first()
            .map_or([127, 0, 0, 1].into(), |n| n.host_ip.into());
        let receiver = crate::support::http::Receiver::start_at(at).await.unwrap();
        let url = format!("http://{}/hooks/xgb", receiver.addr);
        self.bridges[0]
            .cli(&["platform", "set-webhook", ARCADE, &url])
            .unwrap();
        (token, receiver)
    }
}

/// alice invites `invitees` (bare JIDs) to `session` through the HTTP door at `door`,
/// as soon as it answers; the created invite, as JSON.
async fn invite_over_http(
    door: SocketAddr,
    token: &str,
    invitees: &[&str],
    session: &str,
) -> serde_json::Value {
    let mut http = Http::new(door, Some(token));
    let body = serde_json::json!({"host": "alice@example.test", "invitees": invitees,
        "game": "Chess", "session": session, "expiry": 600});
    let deadline = Instant::now() + T;
    loop {
        let reply = http.command("invite", &body).await;
        if reply.status == 200 {
            return reply.json();
        }
        assert!(Instant::now() < deadline, "{}", reply.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn readyz(addr: SocketAddr) -> Option<Reply> {
    Http::new(addr, None)
        .request("GET", "/readyz", &[], b"")
        .await
        .ok()
}

/// Polls `/readyz` at `addr` until `ok` holds; the last reply (30 s at most).
async fn until(addr: SocketAddr, ok: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(reply) = readyz(addr).await {
            if ok(&reply) || Instant::now() >= deadline {
                return reply;
            }
        } else if Instant::now() >= deadline {
            panic!("{addr} does not answer");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Pair {
    /// Waits until bridge `which` serves (its `/readyz` 200); how long it took.
    pub(crate) async fn serving(&self, which: usize, since: Instant) -> Duration {
        let reply = until(self.ops[which], |r| r.status == 200).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        since.elapsed()
    }

    /// [`Pair::serving`], the platform asking all along (as one does when answers stop).
    pub(crate) async fn serving_while_asked(&mut self, which: usize, since: Instant) -> Duration {
        let deadline = since + Duration::from_secs(30);
        loop {
            answers(&mut self.arcade, Duration::from_millis(250)).await;
            if readyz(self.ops[which])
                .await
                .is_some_and(|r| r.status == 200)
            {
                return since.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "bridge {which} never served: {}",
                until(self.ops[which], |_| true).await.text()
            );
        }
    }

    /// After a takeover, ejabberd tells the new leader who is online (its sessions API)
    /// but not how: the users' next presence does.
    pub(crate) async fn presences_again(&mut self) {
        if self.kind == ServerKind::Ejabberd {
            for user in &mut self.users {
                user.send_presence(None, None).await.unwrap();
            }
        }
    }

    /// The database's every table: rows and checksums.
    pub(crate) async fn fingerprint(&self) -> Vec<(&'static str, usize, String)> {
        let url = self.db.url.clone();
        tokio::task::spawn_blocking(move || xmpp_game_bridge::store::copy::fingerprint(&url))
            .await
            .unwrap()
            .unwrap()
    }
}

/// Says `accept id` until the bridge answers it (a new leader may still be reading the
/// server's presences); invitations sent again under the same id are skipped.
pub(crate) async fn accept(user: &mut Client, id: &str) -> String {
    let mut said = String::new();
    for _ in 0..100 {
        said = say(user, &format!("accept {id}")).await;
        while said.contains("invites you to play") {
            assert!(
                said.contains(&format!("accept {id}")),
                "sent again under another id: {said}"
            );
            let next = user
                .recv_matching(T, |e| {
                    e.name() == "message" && e.attr("from") == Some(crate::support::COMPONENT_JID)
                })
                .await
                .expect("the bridge answers");
            said = crate::rights::body(&next);
        }
        if !said.contains("being answered") && !said.contains("There is no") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    said
}

on_both_servers!(
    /// The leader killed (`kill -9`) with an invitation pending: the standby serves within
    /// 10 s, the invitation is answered through it and the platform told; the killed one,
    /// started again, waits as the new standby.
    async fn a_killed_leader_is_replaced_within_ten_seconds(kind) {
        let mut p = pair(kind).await;
        let reply = invite(&mut p.arcade, "alice", &["bob"], "600").await;
        let id = result_field(&reply, "invite");
        let (bob_id, _) = invitation(&mut p.users[1]).await;
        let killed = Instant::now();
        p.bridges[0].kill();
        let took = p.serving(1, killed).await;
        eprintln!("takeover after kill -9 ({kind:?}): {} ms", took.as_millis());
        assert!(took < TAKEOVER, "the standby took {took:?}");
        p.bridges[1].wait_for_count(LINK_UP, 1, T).await.unwrap();
        p.presences_again().await;
        let said = accept(&mut p.users[1], &bob_id).await;
        assert!(said.starts_with("You accepted alice@example.test's invitation"), "{said}");
        let told = news(&mut p.arcade).await;
        assert_eq!((one(&told, "invite"), one(&told, "outcome")), (id.clone(), "ready".to_owned()));
        let status = command(&mut p.arcade, "invite-status", &[("invite", &id)], None).await;
        assert_eq!(result_field(&status, "outcome"), "ready");
        // The first comes back as the standby.
        p.bridges[0].start_again().unwrap();
        let standby = until(p.ops[0], |r| r.status == 503 && r.text().contains("standby")).await;
        assert!(standby.text().contains("node-1/"), "{}", standby.text());
        assert_eq!(p.bridges[0].link_up_count(), 1, "a standby links to nothing");
        drop(p);
    }
);

/// Holds a lock on the last-seen table in a transaction of its own, on its own thread,
/// until the returned sender is dropped: the bridge's next write of last-seen times
/// waits in the middle of its transaction meanwhile.
fn lock_last_seen(url: &str) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        tx.batch_execute("LOCK TABLE last_seen IN EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = released.recv();
        tx.rollback().unwrap();
    });
    locked.recv().unwrap();
    release
}

/// Sessions of the database waiting for a lock.
async fn waiting_for_locks(url: &str) -> i64 {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
    })
    .await
    .unwrap()
}

on_both_servers!(
    /// The leader paused (SIGSTOP) in the middle of a write, past its lease: the standby
    /// takes the lease over. Resumed (SIGCONT), the old leader tries its write again,
    /// and the database refuses it (its term is over): the database is as the new leader
    /// left it. The old leader does not link again, and stops, to come back as a
    /// standby. On Prosody (`component_conflict_resolve = "kick_old"`), the new leader's
    /// connection replaced the paused one and it serves throughout. (ejabberd keeps the
    /// paused leader's connection and sends it half of the component's stanzas, its
    /// grants among them, until that connection ends: see the README.)
    async fn a_paused_leader_writes_nothing_after_the_takeover(kind) {
        let mut p = pair(kind).await;
        // carol leaves: the leader writes when she was last seen, and waits for a lock
        // the test holds, in the middle of its transaction.
        let release = lock_last_seen(&p.db.url);
        p.users[2].send_xml("<presence type='unavailable'/>").await.unwrap();
        let deadline = Instant::now() + T;
        while waiting_for_locks(&p.db.url).await == 0 {
            assert!(Instant::now() < deadline, "the leader did not write");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        p.bridges[0].signal("STOP").unwrap();
        let paused = Instant::now();
        p.bridges[1]
            .wait_for_log("this bridge holds the lease", Duration::from_secs(20))
            .await
            .unwrap();
        p.bridges[1].wait_for_count(LINK_UP, 1, T).await.unwrap();
        eprintln!("lease taken over after SIGSTOP ({kind:?}): {} ms", paused.elapsed().as_millis());
        if kind == ServerKind::Prosody {
            let took = p.serving(1, paused).await;
            eprintln!("serving after SIGSTOP ({kind:?}): {} ms", took.as_millis());
        }
        drop(release);
        // The new leader's own first writes (if any) are in before the look.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = p.fingerprint().await;
        p.bridges[0].signal("CONT").unwrap();
        let status = p.bridges[0].wait_exit(Duration::from_secs(30)).await.unwrap();
        assert!(!status.success(), "{status:?}");
        let log = p.bridges[0].log();
        assert!(log.contains("no longer holds the lease"), "{}", p.bridges[0].log_tail(40));
        assert_eq!(p.fingerprint().await, before, "the paused leader wrote after the takeover");
        assert!(
            log.contains("was taken over by another bridge; it writes nothing more"),
            "the resumed leader did not try its write: {}",
            p.bridges[0].log_tail(40)
        );
        assert_eq!(p.bridges[0].link_up_count(), 1, "the paused leader linked again");
        assert!(!log.contains("panicked"), "{}", p.bridges[0].log_tail(60));
        if kind == ServerKind::Prosody {
            // The new leader serves on.
            assert_eq!(until(p.ops[1], |r| r.status == 200).await.status, 200);
        }
        drop(p);
    }
);

/// What a failover run saw.
pub(crate) struct Run {
    /// How long each takeover took, from the leader's end to the standby serving.
    pub takeovers: Vec<Duration>,
    pub invites: usize,
    pub consent_answers: usize,
    pub disclosures_checked: usize,
    /// Webhook events delivered (distinct ids), and deliveries in all.
    pub events: usize,
    pub deliveries: usize,
}

/// How the leader goes in a failover run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `kill -9`.
    Kill,
    /// Its network cut (each bridge in a network namespace of its own, [`pair_in_netns`]),
    /// the platform asking until the standby serves; the cut-off one stops by itself, and
    /// comes back once its network does.
    Cut,
}

/// `rounds` failovers (the leader killed with -9, or its network cut) during invites and
/// consent answers. In each: an invitation is pending when the leader goes and is
/// answered through the new one;
/// a consent answer given before the kill holds after it; what a status answer
/// disclosed is in the disclosure record as soon as the answer arrived, and still after;
/// no invitation reaches its invitee under two ids. The invite is made over HTTP, so its
/// news go to the platform's webhook, which is down every other round when the answer
/// comes: that event waits in the outbox through the next failover. At the end every
/// answer's event has arrived, each under one id, in id order. The killed bridge comes
/// back as the standby for the next round.
pub(crate) async fn failover_run(kind: ServerKind, rounds: usize, how: Failure) -> Run {
    let mut p = match how {
        Failure::Kill => pair_with(kind, true).await,
        Failure::Cut => pair_in_netns(kind).await,
    };
    let (token, receiver) = p.webhook().await;
    let mut leader = 0;
    let mut run = Run {
        takeovers: Vec::new(),
        invites: 0,
        consent_answers: 0,
        disclosures_checked: 0,
        events: 0,
        deliveries: 0,
    };
    let mut links = [1usize, 0];
    let mut answered = Vec::new();
    for round in 0..rounds {
        let standby = 1 - leader;
        // carol changes her mind each round: a consent answer, stored before the reply.
        let share = round % 2 == 1;
        let said = say(
            &mut p.users[2],
            if share { "share all" } else { "share none" },
        )
        .await;
        assert!(
            said.starts_with(if share {
                "Every platform may now see you."
            } else {
                "No platform sees you now."
            }),
            "{said}"
        );
        run.consent_answers += 1;
        // A status answer about alice: recorded before it arrives.
        let reply = command(
            &mut p.arcade,
            "status",
            &[("jids", "alice@example.test")],
            None,
        )
        .await;
        assert_eq!(
            reply.attr("type"),
            Some("result"),
            "{}",
            String::from(&reply)
        );
        let audit = p.bridges[leader]
            .cli(&["audit", "--user", "alice@example.test"])
            .unwrap();
        assert!(
            audit.contains(ARCADE) && audit.contains("status"),
            "round {round}: {audit}"
        );
        run.disclosures_checked += 1;
        // An invitation pending when the leader dies, made over HTTP.
        let created = invite_over_http(
            p.doors[leader],
            &token,
            &["bob@example.test"],
            &format!("round-{round}"),
        )
        .await;
        assert_eq!(
            created["items"][0]["result"], "sent",
            "round {round}: {created}"
        );
        let id = created["fields"]["invite"].as_str().unwrap().to_owned();
        let (prompt, _) = invitation(&mut p.users[1]).await;
        let failed = Instant::now();
        let took = match how {
            Failure::Kill => {
                p.bridges[leader].kill();
                p.serving(standby, failed).await
            }
            Failure::Cut => {
                p.netns[leader].cut().unwrap();
                p.serving_while_asked(standby, failed).await
            }
        };
        assert!(took < TAKEOVER, "round {round}: the standby took {took:?}");
        run.takeovers.push(took);
        links[standby] += 1;
        p.bridges[standby]
            .wait_for_count(LINK_UP, links[standby], T)
            .await
            .unwrap();
        p.presences_again().await;
        // Every other round the webhook is down when bob answers: his event waits in the
        // outbox, through the next failover.
        let down = round % 2 == 0;
        receiver.set_down(down);
        let refused = receiver.refused();
        let said = accept(&mut p.users[1], &prompt).await;
        assert!(
            said.starts_with("You accepted alice@example.test's invitation"),
            "round {round}: {said}"
        );
        if down {
            let deadline = Instant::now() + T;
            while receiver.refused() == refused {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: no delivery was tried"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // The session is played and ended: the invite's last state, to hold from now on.
        let ended = command(&mut p.arcade, "session-ended", &[("invite", &id)], None).await;
        assert_eq!(
            ended.attr("type"),
            Some("result"),
            "{}",
            String::from(&ended)
        );
        answered.push((id, result_field(&ended, "outcome")));
        run.invites += 1;
        // carol's answer held through the failover: the platform sees her, or sees what
        // it would of a user the bridge never heard of.
        let deadline = Instant::now() + T;
        loop {
            let row = crate::directory::availability_of(&mut p.arcade, "carol@example.test").await;
            let seen = row["availability"][0] == "available";
            let hidden = ["offline", "unknown"].contains(&row["availability"][0].as_str())
                && row["status"].is_empty()
                && row["last-seen"].is_empty();
            if (share && seen) || (!share && hidden) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: carol shares? {share}: {row:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let audit = p.bridges[standby]
            .cli(&["audit", "--user", "alice@example.test"])
            .unwrap();
        assert!(
            audit.contains(ARCADE) && audit.contains("status"),
            "round {round}: {audit}"
        );
        // The killed one comes back as the standby; the cut-off one, once it has stopped
        // by itself (it could not renew its lease) and its network is back.
        if how == Failure::Cut {
            let status = p.bridges[leader]
                .wait_exit(Duration::from_secs(30))
                .await
                .unwrap();
            assert!(!status.success(), "round {round}: {status:?}");
            // Gone already: this only lets it be started again.
            p.bridges[leader].kill();
            p.netns[leader].restore().unwrap();
        }
        p.bridges[leader].start_again().unwrap();
        let back = until(p.ops[leader], |r| {
            r.status == 503 && r.text().contains("standby")
        })
        .await;
        assert!(back.text().contains("standby"), "{}", back.text());
        leader = standby;
    }
    // Every answer's event arrived, each under one id, in id order.
    receiver.set_down(false);
    let deadline = Instant::now() + Duration::from_secs(120);
    let answered_ids: Vec<String> = answered.iter().map(|(id, _)| id.clone()).collect();
    let deliveries = loop {
        let deliveries = receiver.deliveries();
        let accepted = |id: &str| {
            deliveries.iter().any(|d| {
                let e = d.json();
                e["fields"]["invite"] == id && e["fields"]["answer"] == "accepted"
            })
        };
        if answered_ids.iter().all(|id| accepted(id)) {
            break deliveries;
        }
        assert!(
            Instant::now() < deadline,
            "events missing: {:?}",
            answered_ids
                .iter()
                .filter(|id| !accepted(id))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut ids_of: std::collections::HashMap<String, std::collections::BTreeSet<u64>> =
        Default::default();
    let mut first_seen: Vec<u64> = Vec::new();
    for delivery in &deliveries {
        let mut event = delivery.json();
        let id: u64 = event["id"].as_str().unwrap().parse().unwrap();
        if let Some(fields) = event.as_object_mut() {
            fields.remove("id");
            fields.remove("at");
        }
        ids_of.entry(event.to_string()).or_default().insert(id);
        if !first_seen.contains(&id) {
            first_seen.push(id);
        }
    }
    for (event, ids) in &ids_of {
        assert_eq!(ids.len(), 1, "delivered under several ids: {event}");
    }
    assert!(
        first_seen.windows(2).all(|w| w[0] < w[1]),
        "out of order: {first_seen:?}"
    );
    run.events = first_seen.len();
    run.deliveries = deliveries.len();
    // Every invite is as it was left, through every later failover.
    for (id, outcome) in &answered {
        let status = command(&mut p.arcade, "invite-status", &[("invite", id)], None).await;
        assert_eq!(&result_field(&status, "outcome"), outcome, "{id}");
        assert!(String::from(&status).contains("bob@example.test"), "{id}");
    }
    drop(p);
    run
}

on_both_servers!(
    /// Four failovers in a row, nothing lost (see [`failover_run`]).
    async fn four_failovers_lose_nothing(kind) {
        let run = failover_run(kind, 4, Failure::Kill).await;
        let ms: Vec<u128> = run.takeovers.iter().map(Duration::as_millis).collect();
        eprintln!("failovers ({kind:?}): takeovers in ms {ms:?}");
        assert_eq!(run.invites, 4);
    }
);

on_both_servers!(
    /// Two network cuts in a row, nothing lost (see [`failover_run`]).
    async fn network_cuts_lose_nothing(kind) {
        let run = failover_run(kind, 2, Failure::Cut).await;
        let ms: Vec<u128> = run.takeovers.iter().map(Duration::as_millis).collect();
        eprintln!("network cuts ({kind:?}): takeovers in ms {ms:?}");
        assert_eq!(run.invites, 2);
    }
);

/// The measurements of the README: 20 failovers in a row on each server, kills
/// (`cargo nextest run --test integration twenty_failovers --run-ignored only`) or network
/// cuts (`twenty_network_cuts`).
async fn twenty_failovers(kind: ServerKind, how: Failure) {
    let run = failover_run(kind, 20, how).await;
    let mut ms: Vec<u128> = run.takeovers.iter().map(Duration::as_millis).collect();
    ms.sort_unstable();
    eprintln!(
        "failovers ({kind:?}, {how:?}): {} rounds, {} invites answered after the failover, {} consent answers, {} disclosures checked, {} webhook events in {} deliveries; takeover ms: min {} median {} max {}",
        ms.len(),
        run.invites,
        run.consent_answers,
        run.disclosures_checked,
        run.events,
        run.deliveries,
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn twenty_failovers_on_prosody() {
    twenty_failovers(ServerKind::Prosody, Failure::Kill).await;
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn twenty_network_cuts_on_prosody() {
    twenty_failovers(ServerKind::Prosody, Failure::Cut).await;
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn twenty_network_cuts_on_ejabberd() {
    twenty_failovers(ServerKind::Ejabberd, Failure::Cut).await;
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn twenty_failovers_on_ejabberd() {
    twenty_failovers(ServerKind::Ejabberd, Failure::Kill).await;
}

on_both_servers!(
    /// News over a failover: the platform's webhook is down when bob accepts an invite
    /// made over HTTP, so the event waits in the outbox when the leader is killed; the
    /// new leader delivers it, and carol's answer after it. Every event arrives, in id
    /// order; one delivered twice carries the same id.
    async fn webhook_news_survive_a_failover(kind) {
        let mut p = pair_with(kind, true).await;
        let (token, receiver) = p.webhook().await;
        invite_over_http(
            p.doors[0],
            &token,
            &["bob@example.test", "carol@example.test"],
            "table-9",
        )
        .await;
        let (bobs, _) = invitation(&mut p.users[1]).await;
        let (carols, _) = invitation(&mut p.users[2]).await;
        receiver.set_down(true);
        let said = say(&mut p.users[1], &format!("accept {bobs}")).await;
        assert!(said.starts_with("You accepted"), "{said}");
        let deadline = Instant::now() + T;
        while receiver.refused() == 0 {
            assert!(Instant::now() < deadline, "no delivery was attempted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let killed = Instant::now();
        p.bridges[0].kill();
        p.serving(1, killed).await;
        p.presences_again().await;
        receiver.set_down(false);
        let said = {
            let mut said = String::new();
            for _ in 0..100 {
                said = say(&mut p.users[2], &format!("decline {carols}")).await;
                if !said.contains("being answered") && !said.contains("There is no") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            said
        };
        assert!(said.starts_with("You declined"), "{said}");
        let deliveries = receiver.wait_for(2, Duration::from_secs(30)).await.unwrap();
        let events: Vec<serde_json::Value> = deliveries.iter().map(|d| d.json()).collect();
        let ids: Vec<u64> = events
            .iter()
            .map(|e| e["id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] <= w[1]), "out of order: {ids:?}");
        let mut distinct = ids.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 2, "{ids:?}");
        let answers: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                (
                    e["fields"]["invitee"].as_str().unwrap_or_default().to_owned(),
                    e["fields"]["answer"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert!(answers.contains(&("bob@example.test".into(), "accepted".into())), "{answers:?}");
        assert!(answers.contains(&("carol@example.test".into(), "declined".into())), "{answers:?}");
        drop(p);
    }
);

/// Asks the bridge through `platform` whether it answers (a ping), within `wait`.
async fn answers(platform: &mut Client, wait: Duration) -> bool {
    let ping = format!(
        "<iq type='get' to='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
        crate::support::COMPONENT_JID
    );
    platform
        .iq_xml(&ping, wait)
        .await
        .is_ok_and(|reply| reply.attr("type") == Some("result"))
}

/// The leader cut off the network (its network namespace's link brought down: its
/// packets dropped, no connection reset), the platform asking all along if `busy`: the
/// standby serves, then answers every request, and the invitation pending at the cut is
/// answered through it; the cut-off leader, unable to renew its lease, stops by itself.
/// How long the standby took to serve, and its log.
///
/// Prosody (the shipped `component_conflict_resolve = "kick_old"`) hands the component's
/// traffic to the new connection. ejabberd keeps the dead connection and sends it part of
/// the traffic until it closes it: here the cut-off leader reaches ejabberd directly, and
/// ejabberd runs with the shipped `vm.args`, which has it close a connection that has not
/// acknowledged what it was sent for 3 s.
async fn network_cut(kind: ServerKind, busy: bool) -> (Duration, String) {
    let netns = Netns::create().expect("a network namespace (root, iproute2)");
    let (server, db) = server_and_database_with(kind, &options_for(&[&netns])).await;
    let (component, url_inside) = reach(&netns, &server, &db, kind).await;
    let ports = free_ports(2).unwrap();
    let ops = [
        SocketAddr::from((netns.ns_ip, ports[0])),
        SocketAddr::from(([127, 0, 0, 1], ports[1])),
    ];
    let inside = BridgeConfig {
        host: Some(component.ip().to_string()),
        port: Some(component.port()),
        wrapper: netns.wrapper(),
        extra_toml: format!("[metrics]\nlisten = \"{}\"\n", ops[0]),
        ..config(&server, kind, &url_inside, 0, (ports[0], None))
    };
    let mut cut = Bridge::start_with(&server, &inside)
        .await
        .expect("bridge starts");
    cut.wait_connected(T).await.unwrap();
    let standby = Bridge::start_with(
        &server,
        &config(&server, kind, &db.url, 1, (ports[1], None)),
    )
    .await
    .expect("bridge starts");
    let waiting = until(ops[1], |r| r.status == 503 && r.text().contains("standby")).await;
    assert!(waiting.text().contains("node-0/"), "{}", waiting.text());
    assert_eq!(until(ops[0], |r| r.status == 200).await.status, 200);
    let (mut arcade, mut users) = logged_in(&server, &["alice", "bob"]).await;
    let reply = invite(&mut arcade, "alice", &["bob"], "600").await;
    let id = result_field(&reply, "invite");
    let (prompt, _) = invitation(&mut users[1]).await;

    let cut_at = Instant::now();
    netns.cut().unwrap();
    // Until the standby says it serves, the platform keeps asking (as one does when
    // answers stop) if `busy`.
    let deadline = cut_at + Duration::from_secs(30);
    let took = loop {
        if busy {
            answers(&mut arcade, Duration::from_millis(250)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if readyz(ops[1]).await.is_some_and(|r| r.status == 200) {
            break cut_at.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the standby never served: {}",
            until(ops[1], |_| true).await.text()
        );
    };
    eprintln!(
        "takeover after the network cut ({kind:?}, {}): {} ms",
        if busy { "busy" } else { "quiet" },
        took.as_millis()
    );
    // From then on it answers every request.
    let mut answered = 0;
    for _ in 0..20 {
        answered += usize::from(answers(&mut arcade, Duration::from_secs(2)).await);
    }
    assert_eq!(
        answered,
        20,
        "requests answered in a row after the takeover\n{}",
        standby.log_tail(40)
    );
    if kind == ServerKind::Ejabberd {
        for user in &mut users {
            user.send_presence(None, None).await.unwrap();
        }
    }
    let said = accept(&mut users[1], &prompt).await;
    assert!(
        said.starts_with("You accepted alice@example.test's invitation"),
        "{said}"
    );
    let told = news(&mut arcade).await;
    assert_eq!(
        (one(&told, "invite"), one(&told, "outcome")),
        (id, "ready".to_owned())
    );
    // The cut-off leader could not renew its lease: it stopped by itself.
    let status = cut.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(!status.success(), "{status:?}");
    assert!(
        cut.log().contains("no longer holds the lease"),
        "{}",
        cut.log_tail(30)
    );
    assert_eq!(cut.link_up_count(), 1, "the cut-off leader linked again");
    let log = standby.log();
    drop((cut, standby, netns, server));
    (took, log)
}

on_both_servers!(
    /// [`network_cut`] while the platform keeps asking: the standby serves within 10 s.
    async fn a_leader_cut_off_the_network_is_replaced_within_ten_seconds(kind) {
        let (took, _) = network_cut(kind, true).await;
        assert!(took < TAKEOVER, "the standby took {took:?}");
    }
);

/// [`network_cut`] on ejabberd with nothing else sent to the component: the new leader's
/// first stanzas are what ejabberd sends into the dead connection, part of them its
/// grants. The new leader finds its route shared, says so, and links again once ejabberd
/// has dropped the dead connection; it serves within 10 s.
#[tokio::test]
async fn a_leader_cut_off_while_all_is_quiet_is_replaced_once_ejabberd_drops_it() {
    let (took, log) = network_cut(ServerKind::Ejabberd, false).await;
    assert!(took < TAKEOVER, "the standby took {took:?}");
    assert!(
        log.contains("sends part of the component's stanzas to another connection"),
        "{log}"
    );
    assert!(log.contains("linking again"), "{log}");
}
