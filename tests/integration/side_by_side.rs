//! The side-by-side benchmark: what a game server pays to learn who a player is chatting
//! with, through the bridge and without it, on real servers with many users online.
//! Not part of the test run (it takes minutes); `scripts/side-by-side.sh` runs it:
//!
//! ```sh
//! scripts/side-by-side.sh            # both servers, Prosody with three GC settings
//! ```
//!
//! The world: `SBS_ONLINE` users online (1,000 by default, each with a c2s session and
//! an available presence), among them alice with 50 mutual contacts, of whom 20 are
//! active (`chat` or available), 15 away and 15 offline. The routes, measured in blocks
//! of requests that take turns (a block of each route, then again, `SBS_ROUNDS` times),
//! one request at a time:
//! - the bridge's `peers` about alice, compact and as a data form (20 peers), and compact
//!   about a user with no contacts (the floor: the cost of any request and answer);
//! - Prosody: XEP-0133 as an operator would (`get-online-users-list` with details, then
//!   `get-user-roster`, intersected by the client);
//! - ejabberd: its HTTP API (`get_roster`, then `get_presence` for each contact).
//!
//! For each route: the server's CPU per answer (from `/proc/PID/task/*/schedstat`, every
//! thread), the bridge's, and the latency the asking client saw (p50, p99). Every answer
//! is checked: 20 active peers, or no route's figure counts.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use minidom::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const PASSWORD: &str = "tmpl-pw";
const CONTACTS: usize = 50;
const ACTIVE: usize = 20;
const AWAY: usize = 15;
const IQ_TIMEOUT: Duration = Duration::from_secs(60);
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
const COMPACT_NS: &str = "urn:xmpp-game-bridge:compact:1";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn contact(i: usize) -> String {
    format!("c{i:02}")
}

fn filler(i: usize) -> String {
    format!("f{i:04}")
}

/// A running world: the server, the bridge, the clients that keep users online, and the
/// two that ask.
struct World {
    server: Server,
    bridge: Bridge,
    platform: Client,
    admin: Option<Client>,
    http: Option<Http>,
    _online: Vec<Client>,
    /// alice and her contacts, reading (and so answering the bridge's pings, which
    /// confirm on ejabberd that a device is still there).
    _answering: Vec<Background>,
}

/// Every account, on Prosody written as files (one account made by prosodyctl, copied:
/// the same password for all) and rosters too, before anyone logs in; on ejabberd through
/// its HTTP API (in-band registration is throttled past a few dozen accounts).
/// How a world is set up: Prosody's settings, how many users are online, and what the
/// bridge's configuration adds.
#[derive(Clone, Debug, Default)]
struct Bench {
    /// Prosody's `gc` (its default when `None`).
    gc: Option<String>,
    /// Prosody's `network_settings = { nagle = false }`.
    nagle_off: bool,
    /// Prosody's `mod_limits` with Debian's rates (c2s 10 kb/s).
    limits: bool,
    /// With `limits`: the platforms' accounts in `unlimited_jids`.
    platforms_unlimited: bool,
    online: usize,
    /// Appended to the bridge's configuration.
    extra_toml: String,
    /// The other users in a ring of mutual contacts (each with the three before and the
    /// three after): hosts and invitees for [`invite_cost`].
    ring: bool,
}

impl Bench {
    /// What the Prosody settings are, as a table's title says them.
    fn prosody_settings(&self) -> String {
        let gc = match &self.gc {
            None => "gc default".to_owned(),
            Some(gc) => format!("gc = {gc}"),
        };
        let nagle = if self.nagle_off {
            "nagle = false"
        } else {
            "Nagle on"
        };
        let limits = match (self.limits, self.platforms_unlimited) {
            (false, _) => "",
            (true, false) => ", mod_limits at Debian's rates (c2s 10 kb/s)",
            (true, true) => {
                ", mod_limits at Debian's rates (c2s 10 kb/s), the platforms in unlimited_jids"
            }
        };
        let label = match (&self.gc, self.nagle_off) {
            (None, false) => " (Debian's defaults for both)",
            (Some(gc), true) if gc == RECOMMENDED_GC => " (what component-config/ recommends)",
            _ => "",
        };
        format!("{gc}, {nagle}{label}{limits}")
    }
}

/// Whether the server limits clients as Debian's configuration does (Prosody's
/// `mod_limits`, ejabberd's `c2s_shaper`; `SBS_LIMITS=on`), and exempts the platforms'
/// accounts (`=exempt`); the test bed leaves the limits out otherwise.
fn debian_limits() -> Limits {
    match std::env::var("SBS_LIMITS").as_deref().map(str::trim) {
        Ok("on") => Limits::On,
        Ok("exempt") => Limits::PlatformsExempt,
        _ => Limits::Off,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Limits {
    Off,
    On,
    PlatformsExempt,
}

/// The `gc` setting `component-config/prosody.cfg.lua` recommends.
const RECOMMENDED_GC: &str = "{ threshold = 200; speed = 200 }";

async fn world(kind: ServerKind, bench: &Bench) -> World {
    let online = bench.online;
    let options = ServerOptions {
        bench: true,
        prosody_gc: bench.gc.clone(),
        prosody_nagle_off: bench.nagle_off,
        debian_limits: bench.limits,
        limits_exempt: if bench.platforms_unlimited {
            vec![format!("arcade@{DOMAIN}"), format!("puzzle@{DOMAIN}")]
        } else {
            Vec::new()
        },
        // What component-config/ recommends to both.
        presence_grant: Some("managed_entity"),
        ..ServerOptions::default()
    };
    let server = Server::start_with(kind, &options)
        .await
        .expect("server starts");
    let fillers = online.saturating_sub(ACTIVE + AWAY + 4);
    let mut users: Vec<String> = vec![
        "alice".into(),
        "arcade".into(),
        "puzzle".into(),
        "admin".into(),
    ];
    users.extend((1..=CONTACTS).map(contact));
    users.extend((1..=fillers).map(filler));
    let t0 = Instant::now();
    let http = match kind {
        ServerKind::Prosody => {
            prosody_accounts(&server, &users).await;
            if bench.ring {
                let roster_dir = server
                    .dir()
                    .join("data")
                    .join("example%2etest")
                    .join("roster");
                for i in 1..=fillers {
                    let contacts: Vec<String> = ring_neighbours(i, fillers)
                        .map(|j| format!("{}@{DOMAIN}", filler(j)))
                        .collect();
                    write_roster(&roster_dir, &filler(i), &contacts);
                }
            }
            None
        }
        ServerKind::Ejabberd => {
            let mut http = Http::connect(&server).await;
            for user in &users {
                let body =
                    format!(r#"{{"user":"{user}","host":"{DOMAIN}","password":"{PASSWORD}"}}"#);
                let (status, answer) = http.post("/api/register", &body).await;
                assert_eq!(status, 200, "register {user}: {answer}");
            }
            for i in 1..=CONTACTS {
                for (a, b) in [
                    ("alice".to_owned(), contact(i)),
                    (contact(i), "alice".to_owned()),
                ] {
                    let body = format!(
                        r#"{{"localuser":"{a}","localhost":"{DOMAIN}","user":"{b}","host":"{DOMAIN}","nick":"","group":"","subs":"both"}}"#
                    );
                    let (status, answer) = http.post("/api/add_rosteritem", &body).await;
                    assert_eq!(status, 200, "add_rosteritem: {answer}");
                }
            }
            Some(http)
        }
    };
    eprintln!(
        "side-by-side: {kind}: {} accounts and alice's roster in {:.1} s",
        users.len(),
        t0.elapsed().as_secs_f64()
    );
    let config = BridgeConfig {
        platforms: vec![format!("arcade@{DOMAIN}"), format!("puzzle@{DOMAIN}")],
        log_level: std::env::var("SBS_BRIDGE_LOG").unwrap_or_else(|_| "info".to_owned()),
        ejabberd_api: (kind == ServerKind::Ejabberd).then(|| server.api_url()),
        extra_toml: bench.extra_toml.clone(),
        ..BridgeConfig::default()
    };
    let mut bridge = Bridge::start_with(&server, &config)
        .await
        .expect("bridge starts");
    bridge
        .wait_connected(Duration::from_secs(30))
        .await
        .expect("bridge links");
    let t0 = Instant::now();
    let mut sessions = Vec::new();
    let mut answering = Vec::new();
    let everyone: Vec<(String, Option<&str>)> = std::iter::once(("alice".to_owned(), None))
        .chain((1..=ACTIVE).map(|i| (contact(i), if i % 2 == 0 { Some("chat") } else { None })))
        .chain((ACTIVE + 1..=ACTIVE + AWAY).map(|i| (contact(i), Some("away"))))
        .chain((1..=fillers).map(|i| (filler(i), None)))
        .collect();
    // ejabberd drops logins when many arrive at once; a few at a time take no longer.
    for chunk in everyone.chunks(10) {
        let logins = chunk.iter().map(|(user, show)| {
            let server = &server;
            async move {
                let mut c = Client::connect(server, user, PASSWORD, "sbs")
                    .await
                    .expect("login");
                c.send_presence(*show, Some("in the lobby"))
                    .await
                    .expect("presence");
                c
            }
        });
        for (client, (user, _)) in futures_util::future::join_all(logins)
            .await
            .into_iter()
            .zip(chunk)
        {
            if user.starts_with('f') {
                sessions.push(client);
            } else {
                answering.push(client.in_background());
            }
        }
    }
    let mut platform = Client::connect(&server, "arcade", PASSWORD, "engine")
        .await
        .expect("platform logs in");
    let admin = match kind {
        ServerKind::Prosody => Some(
            Client::connect(&server, "admin", PASSWORD, "console")
                .await
                .expect("admin logs in"),
        ),
        ServerKind::Ejabberd => None,
    };
    eprintln!(
        "side-by-side: {kind}: {} users online in {:.1} s",
        sessions.len() + answering.len() + 2,
        t0.elapsed().as_secs_f64()
    );
    // The bridge has heard every presence when alice's peers are all there.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = platform
            .iq(peers_request("alice", true), IQ_TIMEOUT)
            .await
            .expect("peers");
        if compact_peers(&reply) == Ok(ACTIVE) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alice's peers never reached {ACTIVE}: {}",
            show(&reply)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    World {
        server,
        bridge,
        platform,
        admin,
        http,
        _online: sessions,
        _answering: answering,
    }
}

async fn prosody_accounts(server: &Server, users: &[String]) {
    server.register("tmpl", PASSWORD).await.expect("template");
    let data = server.dir().join("data").join("example%2etest");
    let template = std::fs::read(data.join("accounts").join("tmpl.dat")).expect("template file");
    for user in users {
        std::fs::write(data.join("accounts").join(format!("{user}.dat")), &template)
            .expect("account file");
    }
    let roster_dir = data.join("roster");
    std::fs::create_dir_all(&roster_dir).expect("roster dir");
    let mut alice = String::from("return {\n\t[false] = { version = 1; pending = {}; };\n");
    for i in 1..=CONTACTS {
        let _ = writeln!(
            alice,
            "\t[\"{}@{DOMAIN}\"] = {{ subscription = \"both\"; groups = {{}}; }};",
            contact(i)
        );
        write_roster(&roster_dir, &contact(i), &[format!("alice@{DOMAIN}")]);
    }
    alice.push_str("};\n");
    std::fs::write(roster_dir.join("alice.dat"), alice).expect("alice's roster");
}

fn write_roster(dir: &Path, user: &str, contacts: &[String]) {
    let mut text = String::from("return {\n\t[false] = { version = 1; pending = {}; };\n");
    for c in contacts {
        let _ = writeln!(
            text,
            "\t[\"{c}\"] = {{ subscription = \"both\"; groups = {{}}; }};"
        );
    }
    text.push_str("};\n");
    std::fs::write(dir.join(format!("{user}.dat")), text).expect("roster file");
}

fn peers_request(user: &str, compact: bool) -> Element {
    padded_peers_request(user, compact, 0)
}

/// A `peers` request with a field of `padding` bytes the bridge does not read: a stanza
/// larger than one of Prosody's 8 KiB writes, to see what its delivery costs.
fn padded_peers_request(user: &str, compact: bool, padding: usize) -> Element {
    let mut format = if compact {
        "<field var='format'><value>compact</value></field>".to_owned()
    } else {
        String::new()
    };
    if padding > 0 {
        format.push_str(&format!(
            "<field var='padding' type='hidden'><value>{}</value></field>",
            "x".repeat(padding)
        ));
    }
    parse_in(
        NS_CLIENT,
        &format!(
            "<iq type='set' to='{COMPONENT_JID}'><command xmlns='{NS_COMMANDS}' node='peers' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>{user}@{DOMAIN}</value></field>{format}</x>\
             </command></iq>"
        ),
    )
    .expect("request")
}

/// Peers listed in a compact answer.
fn compact_peers(reply: &Element) -> Result<usize, String> {
    reply
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.get_child("peers", COMPACT_NS))
        .map(|p| p.children().filter(|c| c.name() == "peer").count())
        .ok_or_else(|| format!("not a compact answer: {}", show(reply)))
}

/// Rows of a data form answer.
fn form_rows(reply: &Element) -> Result<usize, String> {
    reply
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .map(|x| x.children().filter(|c| c.name() == "item").count())
        .ok_or_else(|| format!("not a form answer: {}", show(reply)))
}

/// XEP-0133 as a game server's operator account would do it: who is online (with each
/// resource's show), alice's roster, and the intersection: her active contacts.
async fn xep0133_active(admin: &mut Client) -> Result<usize, String> {
    let online = admin_command(
        admin,
        "get-online-users-list",
        "<field var='max_items'><value>all</value></field><field var='details'><value>1</value></field>",
    )
    .await?;
    let roster = admin_command(
        admin,
        "get-user-roster",
        &format!("<field var='accountjid'><value>alice@{DOMAIN}</value></field>"),
    )
    .await?;
    let contacts: HashSet<String> = roster
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .and_then(|x| x.get_child("query", "jabber:iq:roster"))
        .ok_or_else(|| format!("no roster in {}", show(&roster)))?
        .children()
        .filter(|i| i.attr("subscription") == Some("both"))
        .filter_map(|i| i.attr("jid").map(str::to_owned))
        .collect();
    let lines: Vec<String> = online
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .into_iter()
        .flat_map(|x| x.children())
        .filter(|f| f.attr("var") == Some("onlineuserjids"))
        .flat_map(|f| f.children().map(|v| v.text()))
        .collect();
    // A bare JID, then one line per resource: " - res: show(priority), IP: [...]".
    let mut active = HashSet::new();
    let mut current: Option<&str> = None;
    for line in &lines {
        match line.strip_prefix(" - ") {
            None => current = contacts.get(line.as_str()).map(String::as_str),
            Some(resource) => {
                let show = resource
                    .split_once(": ")
                    .and_then(|(_, rest)| rest.split_once('('))
                    .map(|(show, _)| show);
                if let (Some(jid), Some("available" | "chat")) = (current, show) {
                    active.insert(jid);
                }
            }
        }
    }
    Ok(active.len())
}

/// A XEP-0133 command run in one step, with the submitted form's `fields`.
async fn admin_command(admin: &mut Client, command: &str, fields: &str) -> Result<Element, String> {
    let admin_node = "http://jabber.org/protocol/admin";
    admin
        .iq_xml(
            &format!(
                "<iq type='set' to='{DOMAIN}'><command xmlns='{NS_COMMANDS}' node='{admin_node}#{command}' action='execute'>\
                 <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>{admin_node}</value></field>\
                 {fields}</x></command></iq>"
            ),
            IQ_TIMEOUT,
        )
        .await
}

/// ejabberd's HTTP API as a game server would use it: the roster, then each contact's
/// presence.
async fn rest_active(http: &mut Http) -> Result<usize, String> {
    let (status, body) = http
        .post(
            "/api/get_roster",
            &format!(r#"{{"user":"alice","server":"{DOMAIN}"}}"#),
        )
        .await;
    if status != 200 {
        return Err(format!("get_roster: {status} {body}"));
    }
    let items: Vec<serde_json::Value> =
        serde_json::from_str(&body).map_err(|e| format!("get_roster: {e}: {body}"))?;
    // One entry per contact and group: each contact once.
    let contacts: HashSet<String> = items
        .iter()
        .filter(|i| i["subscription"] == "both")
        .filter_map(|i| i["jid"].as_str().map(str::to_owned))
        .collect();
    let mut active = 0;
    for jid in contacts {
        let user = jid.split('@').next().unwrap_or_default();
        let (status, body) = http
            .post(
                "/api/get_presence",
                &format!(r#"{{"user":"{user}","host":"{DOMAIN}"}}"#),
            )
            .await;
        if status != 200 {
            return Err(format!("get_presence: {status} {body}"));
        }
        let presence: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("get_presence: {e}: {body}"))?;
        if matches!(presence["show"].as_str(), Some("available" | "chat")) {
            active += 1;
        }
    }
    Ok(active)
}

/// A keep-alive HTTP/1.1 client for the server's API, enough for JSON posts.
struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    async fn connect(server: &Server) -> Http {
        let url = server.api_url();
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let stream = TcpStream::connect(&addr).await.expect("API connects");
        stream.set_nodelay(true).expect("nodelay");
        Http {
            stream,
            buf: Vec::new(),
        }
    }

    async fn post(&mut self, path: &str, body: &str) -> (u16, String) {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("API write");
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .expect("a Content-Length");
                if self.buf.len() >= end + 4 + length {
                    let status = head
                        .split(' ')
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let body =
                        String::from_utf8_lossy(&self.buf[end + 4..end + 4 + length]).to_string();
                    self.buf.drain(..end + 4 + length);
                    return (status, body);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = tokio::time::timeout(IQ_TIMEOUT, self.stream.read(&mut chunk))
                .await
                .expect("API answers in time")
                .expect("API read");
            assert!(n > 0, "the API closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// On-CPU nanoseconds of every thread of a process.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    Compact,
    /// Compact, asked with a 20 KB request.
    Large,
    Form,
    Floor,
    Xep0133,
    Rest,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Compact => "bridge `peers`, compact (20 peers)",
            Route::Large => "bridge `peers`, compact, asked with a 20 KB request",
            Route::Form => "bridge `peers`, data form (20 peers)",
            Route::Floor => "bridge `peers`, compact, nobody active",
            Route::Xep0133 => "XEP-0133 online users with details + roster",
            Route::Rest => "HTTP API get_roster + 50 get_presence",
        }
    }
}

#[derive(Default)]
struct Measured {
    latencies_us: Vec<u64>,
    server_ns: u64,
    bridge_ns: u64,
}

impl Measured {
    fn pct(&self, p: usize) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
        sorted.get(i).copied().unwrap_or(0) as f64 / 1e3
    }
}

async fn ask(world: &mut World, route: Route) -> Result<(), String> {
    let found = match route {
        Route::Compact => compact_peers(
            &world
                .platform
                .iq(peers_request("alice", true), IQ_TIMEOUT)
                .await?,
        )?,
        Route::Form => form_rows(
            &world
                .platform
                .iq(peers_request("alice", false), IQ_TIMEOUT)
                .await?,
        )?,
        Route::Large => compact_peers(
            &world
                .platform
                .iq(padded_peers_request("alice", true, 20_000), IQ_TIMEOUT)
                .await?,
        )?,
        Route::Floor => {
            let n = compact_peers(
                &world
                    .platform
                    .iq(peers_request(&filler(1), true), IQ_TIMEOUT)
                    .await?,
            )?;
            return if n == 0 {
                Ok(())
            } else {
                Err(format!("{n} peers for a user without contacts"))
            };
        }
        Route::Xep0133 => xep0133_active(world.admin.as_mut().ok_or("no admin")?).await?,
        Route::Rest => rest_active(world.http.as_mut().ok_or("no API")?).await?,
    };
    if found == ACTIVE {
        Ok(())
    } else {
        Err(format!(
            "{route:?} found {found} active contacts, not {ACTIVE}"
        ))
    }
}

/// Runs the routes in blocks that take turns; returns each route's figures.
async fn measure(world: &mut World, routes: &[(Route, usize)], rounds: usize) -> Vec<Measured> {
    let server_pid = world.server.pid().expect("server pid");
    let bridge_pid = world.bridge.pid().expect("bridge pid");
    // Warm-up: rosters loaded, caches filled.
    for &(route, _) in routes {
        for _ in 0..5 {
            ask(world, route).await.expect("warm-up answer");
        }
    }
    // What is measured, as the platform reads it.
    if std::env::var_os("SBS_SHOW").is_some() {
        for compact in [true, false] {
            let reply = world
                .platform
                .iq(peers_request("alice", compact), IQ_TIMEOUT)
                .await
                .expect("an answer");
            eprintln!("side-by-side: answer: {}", String::from(&reply));
        }
    }
    // What both cost doing nothing, for comparison.
    let (server0, bridge0) = (cpu_ns(server_pid), cpu_ns(bridge_pid));
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!(
        "side-by-side: idle: server {:.1} ms/s, bridge {:.1} ms/s",
        (cpu_ns(server_pid) - server0) as f64 / 2e6,
        (cpu_ns(bridge_pid) - bridge0) as f64 / 2e6
    );
    let mut measured: Vec<Measured> = routes.iter().map(|_| Measured::default()).collect();
    for _ in 0..rounds {
        for (k, &(route, block)) in routes.iter().enumerate() {
            let (server0, bridge0) = (cpu_ns(server_pid), cpu_ns(bridge_pid));
            for _ in 0..block {
                let t0 = Instant::now();
                ask(world, route).await.expect("a checked answer");
                measured[k]
                    .latencies_us
                    .push(t0.elapsed().as_micros() as u64);
            }
            measured[k].server_ns += cpu_ns(server_pid) - server0;
            measured[k].bridge_ns += cpu_ns(bridge_pid) - bridge0;
        }
    }
    measured
}

fn table(title: &str, routes: &[(Route, usize)], measured: &[Measured]) -> String {
    let mut out = format!(
        "\n{title}\n\n| route | answers | server CPU per answer | bridge CPU per answer | p50 | p99 |\n|---|---|---|---|---|---|\n"
    );
    for ((route, _), m) in routes.iter().zip(measured) {
        let n = m.latencies_us.len().max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} ms | {:.0} µs | {:.2} ms | {:.2} ms |",
            route.name(),
            m.latencies_us.len(),
            m.server_ns as f64 / n / 1e6,
            m.bridge_ns as f64 / n / 1e3,
            m.pct(50),
            m.pct(99),
        );
    }
    let compact = &measured[0];
    if let Some((route, m)) = routes
        .iter()
        .map(|(r, _)| *r)
        .zip(measured)
        .find(|(r, _)| matches!(r, Route::Xep0133 | Route::Rest))
    {
        let _ = writeln!(
            out,
            "\nthe bridge (compact) against {}: {:.1}× at p50, {:.1}× at p99",
            route.name(),
            m.pct(50) / compact.pct(50),
            m.pct(99) / compact.pct(99)
        );
    }
    out
}

#[tokio::test]
#[ignore = "minutes long; scripts/side-by-side.sh runs it"]
async fn side_by_side() {
    let online = env_number("SBS_ONLINE", 1_000);
    let rounds = env_number("SBS_ROUNDS", 20);
    let block = env_number("SBS_BLOCK", 50);
    let baseline_block = env_number("SBS_BASELINE_BLOCK", 10);
    let servers = std::env::var("SBS_SERVERS").unwrap_or_else(|_| "prosody,ejabberd".into());
    let gcs = std::env::var("SBS_PROSODY_GC")
        .unwrap_or_else(|_| format!("default|{RECOMMENDED_GC}|{{ mode = \"generational\" }}"));
    let nagles = std::env::var("SBS_PROSODY_NAGLE").unwrap_or_else(|_| "on|off".into());
    let mut report = String::new();
    for kind in ServerKind::ALL {
        if !servers.split(',').any(|s| s.trim() == kind.name()) {
            continue;
        }
        let baseline = match kind {
            ServerKind::Prosody => Route::Xep0133,
            ServerKind::Ejabberd => Route::Rest,
        };
        let mut routes = vec![
            (Route::Compact, block),
            (Route::Form, block),
            (Route::Large, block),
            (Route::Floor, block),
        ];
        if baseline_block > 0 {
            routes.push((baseline, baseline_block));
        }
        let variants: Vec<Bench> = match kind {
            ServerKind::Prosody => nagles
                .split('|')
                .flat_map(|nagle| {
                    gcs.split('|').map(move |g| Bench {
                        gc: (g.trim() != "default").then(|| g.trim().to_owned()),
                        nagle_off: nagle.trim() == "off",
                        limits: debian_limits() != Limits::Off,
                        platforms_unlimited: debian_limits() == Limits::PlatformsExempt,
                        online,
                        ..Bench::default()
                    })
                })
                .collect(),
            ServerKind::Ejabberd => vec![Bench {
                limits: debian_limits() != Limits::Off,
                platforms_unlimited: debian_limits() == Limits::PlatformsExempt,
                online,
                ..Bench::default()
            }],
        };
        for bench in variants {
            let title = match kind {
                ServerKind::Prosody => format!(
                    "{kind}, {online} users online, {}",
                    bench.prosody_settings()
                ),
                ServerKind::Ejabberd => format!(
                    "{kind}, {online} users online, the test bed's configuration (no TLS){}",
                    match (bench.limits, bench.platforms_unlimited) {
                        (false, _) => ", no shaper",
                        (true, false) => ", c2s_shaper as Debian's (3,000 B/s)",
                        (true, true) =>
                            ", c2s_shaper as Debian's (3,000 B/s), the platforms unshaped",
                    }
                ),
            };
            let mut world = world(kind, &bench).await;
            let measured = measure(&mut world, &routes, rounds).await;
            let mut text = table(&title, &routes, &measured);
            let pid = world.server.pid().unwrap_or(0);
            let _ = writeln!(text, "server RSS at the end: {:.0} MiB", rss_mib(pid));
            eprintln!("{text}");
            report.push_str(&text);
        }
    }
    println!("{report}");
}

/// What one platform's flood did to another platform's answers.
struct Flooded {
    /// The other platform's latencies before the flood, and during it.
    before_us: Vec<u64>,
    during_us: Vec<u64>,
    /// When each of the flood's answers came, and whether it was a refusal.
    flood_answers: Vec<(Instant, bool)>,
    /// When the other platform's answers during the flood came, and their ids.
    during_at: Vec<Instant>,
    during_ids: Vec<String>,
    /// The other platform's pings to the server itself during the flood (what the server
    /// alone makes it wait), when `pings` was asked.
    server_pings_us: Vec<u64>,
    /// How long from the flood's last request sent to its last answer.
    flood_took: Duration,
    /// Prosody's and the bridge's CPU during the flood, in ms.
    server_ms: f64,
    bridge_ms: f64,
}

fn percentile(values: &[u64], p: usize) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0) as f64 / 1e3
}

/// Asks compact `peers` about alice and checks the answer: how long it took (µs), and
/// the answer.
async fn ask_compact(client: &mut Client) -> (u64, minidom::Element) {
    let t0 = Instant::now();
    let reply = client
        .iq(peers_request("alice", true), IQ_TIMEOUT)
        .await
        .expect("answer");
    assert_eq!(compact_peers(&reply), Ok(ACTIVE), "{}", show(&reply));
    (t0.elapsed().as_micros() as u64, reply)
}

/// `arcade` sends `count` `peers` requests (data forms about alice, 20 peers) at once,
/// without waiting for answers, while `puzzle` asks `peers` (compact, about alice) one at
/// a time, `during` times or until the flood is answered, whichever is later.
async fn flood(
    world: &mut World,
    count: usize,
    before: usize,
    during: usize,
    pings: bool,
) -> Flooded {
    let mut puzzle = Client::connect(&world.server, "puzzle", PASSWORD, "engine")
        .await
        .expect("the second platform logs in");
    let mut before_us = Vec::new();
    for _ in 0..before {
        before_us.push(ask_compact(&mut puzzle).await.0);
    }
    let server_pid = world.server.pid().expect("server pid");
    let bridge_pid = world.bridge.pid().expect("bridge pid");
    let (server0, bridge0) = (cpu_ns(server_pid), cpu_ns(bridge_pid));
    let mut arcade = Client::connect(&world.server, "arcade", PASSWORD, "flood")
        .await
        .expect("the flooding platform logs in");
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let flooding = tokio::spawn(async move {
        for i in 0..count {
            let mut request = peers_request("alice", false);
            request.set_attr(
                minidom::rxml::Namespace::NONE,
                minidom::rxml::xml_ncname!("id").to_owned(),
                format!("flood-{i}"),
            );
            arcade.send(request).await.expect("the flood is sent");
        }
        let _ = sent_tx.send(Instant::now());
        let mut answers = Vec::with_capacity(count);
        let deadline = Instant::now() + Duration::from_secs(120);
        while answers.len() < count && Instant::now() < deadline {
            let Some(el) = arcade.recv(Duration::from_secs(1)).await else {
                continue;
            };
            if el.name() == "iq" && el.attr("id").is_some_and(|id| id.starts_with("flood-")) {
                answers.push((Instant::now(), el.attr("type") == Some("error")));
            }
        }
        answers
    });
    let flood_sent = sent_rx.await.expect("the flood was sent");
    let mut during_us = Vec::new();
    let mut during_at = Vec::new();
    let mut during_ids = Vec::new();
    let mut server_pings_us = Vec::new();
    while during_us.len() < during || !flooding.is_finished() {
        let (us, reply) = ask_compact(&mut puzzle).await;
        during_us.push(us);
        during_at.push(Instant::now());
        during_ids.push(reply.attr("id").unwrap_or_default().to_owned());
        if pings {
            let t0 = Instant::now();
            let ping = format!("<iq type='get' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>");
            puzzle
                .iq_xml(&ping, IQ_TIMEOUT)
                .await
                .expect("the server answers a ping");
            server_pings_us.push(t0.elapsed().as_micros() as u64);
        }
    }
    let flood_answers = flooding.await.expect("the flood's reader");
    assert_eq!(
        flood_answers.len(),
        count,
        "every request of the flood is answered"
    );
    let last = flood_answers
        .iter()
        .map(|(at, _)| *at)
        .max()
        .unwrap_or(flood_sent);
    Flooded {
        before_us,
        during_us,
        flood_answers,
        during_at,
        during_ids,
        server_pings_us,
        flood_took: last - flood_sent,
        server_ms: (cpu_ns(server_pid) - server0) as f64 / 1e6,
        bridge_ms: (cpu_ns(bridge_pid) - bridge0) as f64 / 1e6,
    }
}

/// A platform past its rate, flooding the bridge through Prosody, does not hold another
/// platform's answers behind its own: the other's answers come while most of the flood's
/// are still on their way. (Before the bridge sent fairly by requester, the other's
/// second answer came after the whole flood's.)
// The flood's reader runs on a worker thread of its own: on one thread, its parsing of a
// burst of answers would delay the other platform's measurement, not the bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_platform_does_not_delay_another() {
    let bench = Bench {
        online: ACTIVE + AWAY + 4,
        extra_toml: "\n[limits]\nplatform_requests_per_sec = 200\n".to_owned(),
        ..Bench::default()
    };
    let mut world = world(ServerKind::Prosody, &bench).await;
    let count = 3_000;
    let flooded = flood(&mut world, count, 5, 20, false).await;
    let refused = flooded
        .flood_answers
        .iter()
        .filter(|(_, refused)| *refused)
        .count();
    assert!(
        refused > count / 2,
        "the rate held: {refused} of {count} refused"
    );
    // When the other platform's 20th answer came, how many of the flood's had come.
    let twentieth = flooded.during_at[19];
    let flood_before = flooded
        .flood_answers
        .iter()
        .filter(|(at, _)| *at <= twentieth)
        .count();
    eprintln!(
        "flood: the other platform's 20 answers came with {flood_before} of the flood's {count} (p50 {:.1} ms, p99 {:.1} ms during, {:.1} ms before; {refused} refused; the flood answered in {:.2} s)",
        percentile(&flooded.during_us, 50),
        percentile(&flooded.during_us, 99),
        percentile(&flooded.before_us, 50),
        flooded.flood_took.as_secs_f64(),
    );
    assert!(
        flood_before < count / 2,
        "the other platform's 20 answers waited for {flood_before} of the flood's {count} (p50 {:.1} ms, p99 {:.1} ms during, {:.1} ms before)",
        percentile(&flooded.during_us, 50),
        percentile(&flooded.during_us, 99),
        percentile(&flooded.before_us, 50),
    );
}

/// The flood's figures, through Prosody with each setting: the other platform's `peers`
/// latency before and during a flood of `FLOOD_COUNT` (3,000) requests by a platform
/// limited to 200 a second. `scripts/flood.sh` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute long per setting; scripts/flood.sh runs it"]
async fn flood_figures() {
    let count = env_number("FLOOD_COUNT", 3_000);
    let online = env_number("FLOOD_ONLINE", 1_000);
    let gcs =
        std::env::var("SBS_PROSODY_GC").unwrap_or_else(|_| format!("default|{RECOMMENDED_GC}"));
    let nagles = std::env::var("SBS_PROSODY_NAGLE").unwrap_or_else(|_| "on|off".into());
    let mut report = String::from(
        "\n| Prosody | flood answered in | refused | other platform before: p50, p99 | during: p50, p99 (answers) | its pings to Prosody during: p50, p99 | Prosody CPU | bridge CPU |\n|---|---|---|---|---|---|---|---|\n",
    );
    for nagle in nagles.split('|') {
        for gc in gcs.split('|') {
            let bench = Bench {
                gc: (gc.trim() != "default").then(|| gc.trim().to_owned()),
                nagle_off: nagle.trim() == "off",
                limits: debian_limits() != Limits::Off,
                platforms_unlimited: debian_limits() == Limits::PlatformsExempt,
                online,
                extra_toml: "\n[limits]\nplatform_requests_per_sec = 200\n".to_owned(),
                ..Bench::default()
            };
            let mut world = world(ServerKind::Prosody, &bench).await;
            let flooded = flood(&mut world, count, 200, 100, true).await;
            let refused = flooded.flood_answers.iter().filter(|(_, r)| *r).count();
            let line = format!(
                "| {} | {:.2} s | {refused} | {:.2} ms, {:.2} ms | {:.2} ms, {:.2} ms ({}) | {:.2} ms, {:.2} ms | {:.0} ms | {:.0} ms |",
                bench.prosody_settings(),
                flooded.flood_took.as_secs_f64(),
                percentile(&flooded.before_us, 50),
                percentile(&flooded.before_us, 99),
                percentile(&flooded.during_us, 50),
                percentile(&flooded.during_us, 99),
                flooded.during_us.len(),
                percentile(&flooded.server_pings_us, 50),
                percentile(&flooded.server_pings_us, 99),
                flooded.server_ms,
                flooded.bridge_ms,
            );
            eprintln!("flood: {line}");
            if std::env::var_os("SBS_BRIDGE_LOG").is_some() {
                let _ = std::fs::write("/tmp/flood-bridge.log", world.bridge.log());
            }
            // When the slowest answers came, from the flood's start (what the p99 is).
            let start = flooded.during_at[0] - Duration::from_micros(flooded.during_us[0]);
            let mut slowest: Vec<(u64, f64, &str)> = flooded
                .during_us
                .iter()
                .zip(&flooded.during_at)
                .zip(&flooded.during_ids)
                .map(|((us, at), id)| (*us, (*at - start).as_secs_f64(), id.as_str()))
                .collect();
            slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            let slowest: Vec<String> = slowest
                .iter()
                .take(5)
                .map(|(us, at, id)| format!("{:.1} ms at +{at:.2} s ({id})", *us as f64 / 1e3))
                .collect();
            eprintln!("flood: slowest: {}", slowest.join(", "));
            report.push_str(&line);
            report.push('\n');
        }
    }
    println!("{report}");
}

/// The three users before `i` and the three after, in a ring of `n` (from 1).
fn ring_neighbours(i: usize, n: usize) -> impl Iterator<Item = usize> {
    [n - 3, n - 2, n - 1, 1, 2, 3]
        .into_iter()
        .map(move |d| (i - 1 + d) % n + 1)
}

/// `invite` from a host to five of its contacts, with the id `id`.
fn invite_request(id: &str, host: usize, fillers: usize) -> String {
    let invitees: Vec<String> = ring_neighbours(host, fillers)
        .take(5)
        .map(|j| format!("{}@{DOMAIN}", filler(j)))
        .collect();
    format!(
        "<iq type='set' id='{id}' to='{COMPONENT_JID}'><command xmlns='{NS_COMMANDS}' node='invite' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'>\
         <field var='host'><value>{}@{DOMAIN}</value></field>\
         <field var='invitees'><value>{}</value></field>\
         <field var='game'><value>Chess</value></field>\
         <field var='session'><value>{id}</value></field>\
         <field var='join'><value>https://play.example.test/j/{id}</value></field>\
         <field var='expiry'><value>600</value></field></x></command></iq>",
        filler(host),
        invitees.join(",")
    )
}

/// What invites cost the chat server: `SBS_INVITES` invites (200), each from another
/// host to five of its contacts, `SBS_IN_FLIGHT` (64) waiting for their answers at once;
/// every host's roster is fetched (none was asked about before). They are the first
/// invites since the bridge started (its tables grow, its statements are compiled);
/// `SBS_ROUNDS` (1) rounds of them measure each round apart, the later ones what a bridge
/// that has run a while pays (each round needs 800 more users online: Prosody's heap, and
/// its gc's work per invite, grow with them). Prosody (with
/// `mod_mam`, info logging) with Debian's `gc` and Nagle, and with what
/// `component-config/` recommends (`SBS_PROSODY_GC`, `SBS_PROSODY_NAGLE` as for
/// [`side_by_side`]). Every answer is checked: five invitations sent.
#[tokio::test]
#[ignore = "a minute long; scripts/invite-cost.sh runs it"]
async fn invite_cost() {
    let invites = env_number("SBS_INVITES", 200);
    let in_flight = env_number("SBS_IN_FLIGHT", 64).max(1);
    let rounds = env_number("SBS_ROUNDS", 1).max(1);
    let online = env_number("SBS_ONLINE", 1_000).max(invites * rounds * 4 + 60);
    let gcs =
        std::env::var("SBS_PROSODY_GC").unwrap_or_else(|_| format!("default|{RECOMMENDED_GC}"));
    let nagles = std::env::var("SBS_PROSODY_NAGLE").unwrap_or_else(|_| "on|off".into());
    let mut report = String::from(
        "\n| Prosody settings | invites (since the bridge started) | Prosody CPU per invite | bridge CPU per invite | invites/s |\n|---|---|---|---|---|\n",
    );
    for (gc, nagle) in gcs.split('|').zip(nagles.split('|')) {
        let bench = Bench {
            gc: (gc.trim() != "default").then(|| gc.trim().to_owned()),
            nagle_off: nagle.trim() == "off",
            online,
            ring: true,
            ..Bench::default()
        };
        let mut world = world(ServerKind::Prosody, &bench).await;
        let fillers = online.saturating_sub(ACTIVE + AWAY + 4);
        let server_pid = world.server.pid().expect("server pid");
        let bridge_pid = world.bridge.pid().expect("bridge pid");
        for round in 0..rounds {
            let first = round * invites;
            let (server0, bridge0, t0) = (cpu_ns(server_pid), cpu_ns(bridge_pid), Instant::now());
            let (mut sent, mut answered) = (0, 0);
            while answered < invites {
                while sent < invites && sent - answered < in_flight {
                    let n = first + sent;
                    let request = invite_request(&format!("inv-{n}"), 1 + 4 * n, fillers);
                    world.platform.send_xml(&request).await.expect("sent");
                    sent += 1;
                }
                let reply = world
                    .platform
                    .recv_matching(IQ_TIMEOUT, |e| {
                        e.name() == "iq" && e.attr("id").is_some_and(|id| id.starts_with("inv-"))
                    })
                    .await
                    .expect("an answer");
                let text = String::from(&reply);
                assert_eq!(
                    text.matches("<value>sent</value>").count(),
                    5,
                    "five invitations sent: {}",
                    show(&reply)
                );
                answered += 1;
            }
            let took = t0.elapsed().as_secs_f64();
            let server_ms = (cpu_ns(server_pid) - server0) as f64 / 1e6 / invites as f64;
            let bridge_us = (cpu_ns(bridge_pid) - bridge0) as f64 / 1e3 / invites as f64;
            let line = format!(
                "| {} | {}–{} | {server_ms:.2} ms | {bridge_us:.0} µs | {:.0} |\n",
                bench.prosody_settings(),
                first + 1,
                first + invites,
                invites as f64 / took
            );
            eprintln!("invite-cost: {line}");
            report.push_str(&line);
        }
    }
    println!("{report}");
}
