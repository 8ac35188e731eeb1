//! Load test of the whole `xmpp-game-bridge` process: this program plays the *server's*
//! side of XEP-0114 on 127.0.0.1 against the real binary and measures what the process
//! costs (wall time, CPU time from `/proc/PID/stat`, resident memory from
//! `/proc/PID/status`).
//!
//! ```sh
//! cargo build --release --bin xmpp-game-bridge --example load
//! target/release/examples/load --users 100000
//! # or: cargo build --release && cargo run --release --example load -- --users 100000
//! target/release/examples/load --users 10000 --hostile
//! ```
//!
//! What it does, in order:
//!
//! 1. Writes a secret (mode 0600) and a configuration into a temporary directory, listens
//!    on 127.0.0.1:0 and starts the bridge (`run --config FILE`), pinned to one core with
//!    `taskset` (this program pins itself to the other cores). The bridge's output goes to
//!    `bridge.log` in that directory.
//! 2. Accepts the component's connection, checks its SHA-1 handshake, sends the XEP-0356
//!    advertisement Prosody sends (roster both, message outgoing, presence roster) and
//!    answers the bridge's own queries: software version (Prosody 0.12.3), disco#info (no
//!    activity module), pings, and privileged roster gets (K contacts per user, the first
//!    20 mutual).
//! 3. Baseline: after one second of idle, the bridge's RSS and CPU time.
//! 4. Presence burst: N presences, written in large batches as fast as the socket takes
//!    them, then a ping whose answer proves they were all absorbed. Users come in blocks of
//!    64: the first 32 of each block are `chat` or available, the others away, extended
//!    away or busy. Reports the rate, the CPU used, and the memory per online user (right
//!    after the burst, and settled 2 s later).
//! 5. `peers`, cold: one one-step request for each of D users (`--peers-users`), each
//!    among the first 12 of a block, so that all 20 of its mutual contacts are active and
//!    every answer lists 20 peers; each makes the bridge fetch that user's roster.
//! 6. `peers`, warm (rosters cached): R requests over the same users, as data forms, then
//!    R more asking for the compact answer (`format=compact`). P in flight. Reports
//!    answers/s, CPU µs per answer, errors, latency p50/p99.
//! 7. The same for `status`, 100 users per request, form then compact; then invites: I
//!    one-step `invite` requests, P in flight, each from an active host to five of its
//!    mutual contacts (every one active), reporting invites/s, invitation messages/s,
//!    the CPU per invite and the latency.
//! 8. With `--hostile`, during the cold `peers` phase: hostile stanzas from another JID (huge
//!    attribute values and names, a 9,000-character element name, 5,000 children, 1,000
//!    levels of nesting, a 200 KiB text node, characters of every Unicode plane, entity
//!    references, a 5,000-character JID, unknown payloads), each followed by a ping that
//!    shows whether the link survived it.
//! 9. Checks the link is the same TCP connection as at the start, stops the bridge with
//!    SIGTERM, and prints the figures, one per line.
//!
//! It exits non-zero, saying why, if the bridge dies, drops the link, or a phase times
//! out; every wait is bounded (`--timeout` bounds the whole run).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::error::Error;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use xmpp_parsers::component::Handshake;

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const DOMAIN: &str = "example.test";
const COMPONENT: &str = "game.example.test";
const PLATFORM: &str = "arcade@example.test/engine";
const PLATFORM_HOSTILE: &str = "arcade@example.test/hostile";
const ADMIN: &str = "admin@example.test/console";
const MALLORY: &str = "mallory@example.test/h";
const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
/// Contacts at the head of each roster that are mutual (`both`).
const MUTUAL: usize = 20;
/// Users per `status` request.
const STATUS_BATCH: usize = 100;
/// Invitees per `invite` request: the host's next contacts, all mutual.
const INVITEES: usize = 5;
/// Users come in blocks of this many; the first half of each block is active (`chat`
/// or available), the rest away, extended away or busy.
const BLOCK: usize = 64;
/// Users at the head of a block whose 20 mutual contacts are all active.
const LOBBY: usize = BLOCK / 2 - MUTUAL;
/// Invites per block: hosts 8 apart at the head of the block, each with its own five
/// invitees, all active.
const INVITES_PER_BLOCK: usize = 4;
/// A flood phase fails when no reply at all arrives for this long (the bridge gives up
/// on a roster after `link.iq_timeout_secs`, 30 s by default).
const STALL: Duration = Duration::from_secs(45);

const HELP: &str = "\
load: measures the xmpp-game-bridge process under load, playing the XEP-0114 server on 127.0.0.1

usage: load [options]
  --bridge PATH          the bridge binary (default target/release/xmpp-game-bridge)
  --users N              users who come online in the presence burst (default 100000)
  --contacts K           contacts per roster, the first 20 mutual (default 50)
  --peers-users D        users asked about in the `peers` phases, each with 20 active
                         peers; the cold phase asks once about each (default 2000)
  --requests R           warm `peers` requests per shape (default 20000)
  --status-requests S    `status` requests per shape, 100 users each (default 2000)
  --shapes LIST          answer shapes to measure: form,compact (default); `form` alone
                         for a bridge without compact answers
  --invites I            `invite` requests, 5 invitees each (default 5000; at most users/16)
  --pipeline P           requests in flight (default 64)
  --hostile              also send hostile stanzas during the cold `peers` phase
  --cpu C                core to pin the bridge to with taskset (default 1)
  --timeout SECS         bound on the whole run (default 1200)
  --keep                 keep the temporary directory (config, database, bridge.log)
  -h, --help             this text

build and run:
  cargo build --release --bin xmpp-game-bridge --example load
  target/release/examples/load --users 100000
";

#[derive(Debug, Clone)]
struct Opts {
    bridge: PathBuf,
    users: usize,
    contacts: usize,
    peers_users: usize,
    requests: usize,
    status_requests: usize,
    compact: bool,
    invites: usize,
    pipeline: usize,
    hostile: bool,
    cpu: usize,
    timeout: Duration,
    keep: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            bridge: PathBuf::from("target/release/xmpp-game-bridge"),
            users: 100_000,
            contacts: 50,
            peers_users: 2_000,
            requests: 20_000,
            status_requests: 2_000,
            compact: true,
            invites: 5_000,
            pipeline: 64,
            hostile: false,
            cpu: 1,
            timeout: Duration::from_secs(1200),
            keep: false,
        }
    }
}

fn parse_args() -> Res<Option<Opts>> {
    fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Res<String> {
        args.next()
            .ok_or_else(|| format!("{flag} needs a value (see --help)").into())
    }
    fn number(args: &mut impl Iterator<Item = String>, flag: &str) -> Res<usize> {
        let v = value(args, flag)?;
        v.parse()
            .map_err(|_| format!("{flag} wants a whole number, not {v:?}").into())
    }
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(None);
            }
            "--hostile" => o.hostile = true,
            "--keep" => o.keep = true,
            "--bridge" => o.bridge = PathBuf::from(value(&mut args, &arg)?),
            "--users" => o.users = number(&mut args, &arg)?,
            "--contacts" => o.contacts = number(&mut args, &arg)?,
            "--requests" => o.requests = number(&mut args, &arg)?,
            "--peers-users" => o.peers_users = number(&mut args, &arg)?,
            "--shapes" => {
                let list = value(&mut args, &arg)?;
                let shapes: Vec<&str> = list.split(',').map(str::trim).collect();
                if shapes.iter().any(|s| !matches!(*s, "form" | "compact"))
                    || !shapes.contains(&"form")
                {
                    return Err(format!("--shapes is form or form,compact, not {list:?}").into());
                }
                o.compact = shapes.contains(&"compact");
            }
            "--status-requests" => o.status_requests = number(&mut args, &arg)?,
            "--invites" => o.invites = number(&mut args, &arg)?,
            "--pipeline" => o.pipeline = number(&mut args, &arg)?,
            "--cpu" => o.cpu = number(&mut args, &arg)?,
            "--timeout" => o.timeout = Duration::from_secs(number(&mut args, &arg)? as u64),
            other => return Err(format!("unknown argument {other:?} (see --help)").into()),
        }
    }
    if o.users < 2 {
        return Err("--users must be at least 2".into());
    }
    if o.contacts >= o.users {
        return Err("--contacts must be smaller than --users (contacts are other users)".into());
    }
    if o.pipeline == 0 {
        return Err("--pipeline must be at least 1".into());
    }
    let blocks = o.users / BLOCK;
    if o.invites > blocks * INVITES_PER_BLOCK || o.contacts < MUTUAL {
        return Err(format!(
            "--invites must be at most --users / {} (each host and its invitees are \
             users of their own), and --contacts at least {MUTUAL}",
            BLOCK / INVITES_PER_BLOCK
        )
        .into());
    }
    if o.peers_users == 0 || o.peers_users > blocks * LOBBY {
        return Err(format!(
            "--peers-users must be between 1 and {} for {} users ({LOBBY} per block of {BLOCK})",
            blocks * LOBBY,
            o.users
        )
        .into());
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(opts)) => opts,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let self_pin = pin_self_away_from(opts.cpu);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&opts, self_pin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nload: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

async fn run(opts: &Opts, self_pin: String) -> Res<()> {
    if !opts.bridge.is_file() {
        return Err(format!(
            "no bridge binary at {}: build it with `cargo build --release --bin xmpp-game-bridge` or pass --bridge PATH",
            opts.bridge.display()
        )
        .into());
    }
    let dir = tempfile::Builder::new().prefix("xgb-load-").tempdir()?;
    let secret = format!("load-{:x}-{}", nanos(), std::process::id());
    let secret_path = dir.path().join("secret");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)?
        .write_all(secret.as_bytes())?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let config_path = dir.path().join("bridge.toml");
    fs::write(
        &config_path,
        config_toml(port, &secret_path, &dir.path().join("bridge.sqlite")),
    )?;
    let log_path = dir.path().join("bridge.log");
    let log = File::create(&log_path)?;

    let taskset = find_in_path("taskset");
    let mut command = match &taskset {
        Some(taskset) => {
            let mut c = Command::new(taskset);
            c.arg("-c").arg(opts.cpu.to_string()).arg(&opts.bridge);
            c
        }
        None => Command::new(&opts.bridge),
    };
    command
        .arg("run")
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", opts.bridge.display()))?;
    let mut bridge = Bridge {
        pid: child.id(),
        child,
        clk_tck: clock_ticks_per_second(),
        exited: None,
    };

    let mut report = Report::default();
    report.add("bridge", opts.bridge.display().to_string());
    report.add(
        "bridge pinned to",
        match taskset {
            Some(_) => format!("core {} (taskset)", opts.cpu),
            None => "not pinned (no taskset)".to_owned(),
        },
    );
    report.add("load tool pinned to", self_pin);
    report.add(
        "workload",
        format!(
            "{} users, {} contacts each ({} mutual), peers about {} users ({} warm requests per shape), {} status requests x {} per shape, shapes {}, {} in flight{}",
            opts.users,
            opts.contacts,
            MUTUAL.min(opts.contacts),
            opts.peers_users,
            opts.requests,
            opts.status_requests,
            STATUS_BATCH,
            if opts.compact { "form, compact" } else { "form" },
            opts.pipeline,
            if opts.hostile { ", hostile stanzas" } else { "" }
        ),
    );
    let mut hostile = HostileLog::default();
    let outcome = match tokio::time::timeout(
        opts.timeout,
        phases(
            opts,
            &mut bridge,
            listener,
            &secret,
            &mut report,
            &mut hostile,
        ),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "the whole run took longer than --timeout {} s",
            opts.timeout.as_secs()
        )
        .into()),
    };
    stop_bridge(&mut bridge, &mut report).await;

    println!();
    report.print();
    if opts.hostile {
        hostile.print();
    }
    let log_text = fs::read_to_string(&log_path).unwrap_or_default();
    let log_lines: Vec<&str> = log_text.lines().collect();
    let (shown, which) = if outcome.is_err() {
        (&log_lines[log_lines.len().saturating_sub(20)..], "last")
    } else {
        (&log_lines[..log_lines.len().min(8)], "first")
    };
    println!(
        "\nbridge log ({}, level warn): {} lines{}",
        log_path.display(),
        log_lines.len(),
        if shown.is_empty() {
            String::new()
        } else {
            format!(", the {which} {}:", shown.len())
        }
    );
    for line in shown {
        println!("  | {}", truncate(line, 300));
    }
    if opts.keep {
        let kept = dir.keep();
        println!("kept: {}", kept.display());
    }
    outcome
}

/// Every phase in order; the figures go into `report` as they are measured.
async fn phases(
    opts: &Opts,
    bridge: &mut Bridge,
    listener: TcpListener,
    secret: &str,
    report: &mut Report,
    hostile: &mut HostileLog,
) -> Res<()> {
    let started = Instant::now();
    let mut link = connect(bridge, listener, secret, opts).await?;
    report.add(
        "link up (spawn to handshake)",
        format!("{:.0} ms", started.elapsed().as_secs_f64() * 1e3),
    );
    link.send(format!(
        "<message from='{DOMAIN}' to='{COMPONENT}' id='priv-1'>\
         <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
         <perm access='message' type='outgoing'/><perm access='presence' type='roster'/></privilege></message>"
    ));
    // The bridge asks the server for its version and disco#info as soon as it is up.
    let deadline = Instant::now() + Duration::from_secs(15);
    while link.counters.server_iqs.load(Ordering::Relaxed) < 2 {
        if Instant::now() >= deadline {
            return Err(
                "the bridge did not send its version and disco#info queries within 15 s".into(),
            );
        }
        bridge.check_alive()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    link.ping(bridge, "settle-ping", Duration::from_secs(15))
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base_rss = bridge.rss_kib()?;
    let base_cpu = bridge.cpu_ticks()?;
    report.add("RSS baseline (idle, linked)", mib(base_rss));
    report.add(
        "CPU at baseline (start-up)",
        format!("{:.3} s", bridge.secs(base_cpu)),
    );

    burst(opts, bridge, &mut link, report, base_rss).await?;
    peers_flood(opts, bridge, &mut link, report, hostile).await?;
    peers_warm(opts, bridge, &mut link, report, false).await?;
    if opts.compact {
        peers_warm(opts, bridge, &mut link, report, true).await?;
    }
    status_flood(opts, bridge, &mut link, report, false).await?;
    if opts.compact {
        status_flood(opts, bridge, &mut link, report, true).await?;
    }
    invite_flood(opts, bridge, &mut link, report).await?;

    // The link must still be the very same TCP connection.
    link.ping(bridge, "final-ping", Duration::from_secs(15))
        .await?;
    let stats = link.stats(bridge, "stats-final").await?;
    for key in [
        "stanzas-in",
        "stanzas-out",
        "stanzas-dropped",
        "stanzas-skipped",
        "stanzas-oversized",
        "requests-refused-busy",
        "requests-rate-limited",
        "commands-served",
        "names-known",
        "rosters-cached",
        "roster-cache-bytes",
        "reconnects",
    ] {
        report.add(
            &format!("bridge stats: {key}"),
            stats.get(key).cloned().unwrap_or_else(|| "?".to_owned()),
        );
    }
    let reconnects = link.reconnects.load(Ordering::Relaxed);
    report.add(
        "link at the end",
        format!("up, same TCP connection; {reconnects} new connection attempts"),
    );
    report.add(
        "roster gets answered (whole run)",
        link.counters
            .roster_gets
            .load(Ordering::Relaxed)
            .to_string(),
    );
    report.add(
        "stanzas from the bridge (whole run)",
        format!(
            "{} ({}), {} unexpected",
            link.counters.stanzas_in.load(Ordering::Relaxed),
            human_bytes(link.counters.bytes_in.load(Ordering::Relaxed)),
            link.counters.unexpected.load(Ordering::Relaxed)
        ),
    );
    report.add(
        "bytes to the bridge (whole run)",
        human_bytes(link.counters.bytes_out.load(Ordering::Relaxed)),
    );
    report.add(
        "largest stanza from the bridge",
        format!(
            "{} bytes ({})",
            link.counters.largest.load(Ordering::Relaxed),
            link.counters
                .largest_what
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default()
        ),
    );
    report.add("final RSS", mib(bridge.rss_kib()?));
    report.add(
        "load tool's own CPU (whole run)",
        own_cpu_secs(bridge.clk_tck).map_or_else(|| "?".to_owned(), |s| format!("{s:.3} s")),
    );
    if reconnects > 0 {
        return Err(
            format!("the bridge opened {reconnects} new connections during the run").into(),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------------------

async fn burst(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    base_rss: u64,
) -> Res<()> {
    // Built before the clock starts: the burst measures the bridge, not this program.
    let mut batches: Vec<Vec<u8>> = Vec::new();
    let mut batch = Vec::with_capacity(1 << 20);
    for i in 0..opts.users {
        let show = match (i % BLOCK < BLOCK / 2, i % 3) {
            (true, 0) => "<show>chat</show>",
            (true, _) => "",
            (false, 0) => "<show>away</show>",
            (false, 1) => "<show>xa</show>",
            (false, _) => "<show>dnd</show>",
        };
        let _ = write!(
            Buf(&mut batch),
            "<presence from='user{i}@{DOMAIN}/r' to='{COMPONENT}'>{show}<status>level {} run</status><priority>5</priority>\
             <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org' ver='T7fOZrtBnV8sDA2fFTS59vyOyUs='/></presence>",
            i % 97
        );
        if batch.len() >= 1 << 20 {
            batches.push(std::mem::replace(&mut batch, Vec::with_capacity(1 << 20)));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    let bytes: usize = batches.iter().map(Vec::len).sum();
    let cpu0 = bridge.cpu_ticks()?;
    let t0 = Instant::now();
    for b in batches {
        link.send_bytes(b);
    }
    let written = link.marker();
    let limit = Duration::from_secs(60) + Duration::from_millis(opts.users as u64);
    link.ping(bridge, "burst-ping", limit).await?;
    let absorbed = t0.elapsed();
    let cpu1 = bridge.cpu_ticks()?;
    let rss = bridge.rss_kib()?;
    let written = match tokio::time::timeout(Duration::from_secs(1), written).await {
        Ok(Ok(at)) => format!("{:.3} s", at.saturating_duration_since(t0).as_secs_f64()),
        _ => "?".to_owned(),
    };
    report.add(
        "burst: presences sent",
        format!("{} ({})", opts.users, human_bytes(bytes as u64)),
    );
    report.add("burst: written to the socket after", written);
    report.add(
        "burst: absorbed after (ping answered)",
        format!("{:.3} s", absorbed.as_secs_f64()),
    );
    report.add(
        "burst: presences/s",
        format!("{:.0}", opts.users as f64 / absorbed.as_secs_f64()),
    );
    report.add(
        "burst: bridge CPU",
        format!(
            "{:.3} s ({:.2} µs per presence)",
            bridge.secs(cpu1 - cpu0),
            bridge.secs(cpu1 - cpu0) * 1e6 / opts.users as f64
        ),
    );
    report.add("burst: RSS after", mib(rss));
    report.add(
        "burst: RSS growth per online user",
        format!(
            "{:.0} bytes",
            (rss as f64 - base_rss as f64) * 1024.0 / opts.users as f64
        ),
    );
    // What stays once the buffers of the burst itself are given back: the directory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = bridge.rss_kib()?;
    report.add(
        "burst: RSS per online user, settled (2 s later)",
        format!(
            "{:.0} bytes",
            (settled as f64 - base_rss as f64) * 1024.0 / opts.users as f64
        ),
    );
    let stats = link.stats(bridge, "stats-burst").await?;
    let online = stats
        .get("online-resources")
        .cloned()
        .unwrap_or_else(|| "?".to_owned());
    report.add("burst: online resources (bridge's stats)", online.clone());
    if online != opts.users.to_string() {
        return Err(format!(
            "after the burst the bridge counts {online} online resources, not {}",
            opts.users
        )
        .into());
    }
    Ok(())
}

/// Who the `i`th `peers` request asks about, of `distinct` users: one at the head of a
/// block (so active, with 20 active mutual contacts), the blocks spread over the users.
fn peers_target(i: usize, distinct: usize, users: usize) -> usize {
    let k = i % distinct;
    let blocks = (users / BLOCK).max(1);
    // A stride coprime with the number of blocks visits each block once.
    let stride = (1..)
        .map(|n| 7919 * n + 1)
        .find(|s| gcd(*s, blocks) == 1)
        .unwrap_or(1);
    (k / LOBBY * stride % blocks) * BLOCK + k % LOBBY
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn peers_request(id: &str, from: &str, jid: &str) -> String {
    peers_request_shaped(id, from, jid, false)
}

fn peers_request_shaped(id: &str, from: &str, jid: &str, compact: bool) -> String {
    let format = if compact {
        "<field var='format'><value>compact</value></field>"
    } else {
        ""
    };
    format!(
        "<iq type='set' id='{id}' from='{from}' to='{COMPONENT}'>\
         <command xmlns='{NS_COMMANDS}' node='peers' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>{jid}</value></field>{format}</x>\
         </command></iq>"
    )
}

async fn peers_flood(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    hostile: &mut HostileLog,
) -> Res<()> {
    let shapes = if opts.hostile {
        hostile_shapes()
    } else {
        Vec::new()
    };
    let total = opts.peers_users;
    let schedule: Vec<usize> = (0..shapes.len())
        .map(|h| (h + 1) * total / (shapes.len() + 1))
        .collect();
    let mut flood = Flood::new("peers, cold", total);
    let rosters0 = link.counters.roster_gets.load(Ordering::Relaxed);
    let cpu0 = bridge.cpu_ticks()?;
    let t0 = Instant::now();
    let mut next_shape = 0;
    let mut result: Res<()> = Ok(());
    while flood.answered < total {
        let mut out = String::new();
        while flood.in_flight.len() < opts.pipeline && flood.sent < total {
            while next_shape < shapes.len() && flood.sent >= schedule[next_shape] {
                out.push_str(&shapes[next_shape].stanzas);
                hostile.sent(&shapes[next_shape], next_shape);
                next_shape += 1;
            }
            let i = flood.sent;
            let id = format!("p-{i}");
            let target = peers_target(i, opts.peers_users, opts.users);
            out.push_str(&peers_request(
                &id,
                PLATFORM,
                &format!("user{target}@{DOMAIN}"),
            ));
            flood.in_flight.insert(id, Instant::now());
            flood.sent += 1;
        }
        if !out.is_empty() {
            link.send(out);
        }
        match flood.wait(link, bridge, hostile).await {
            Ok(()) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // Shapes scheduled after the last request (a tiny --requests) still go out.
    if result.is_ok() {
        while next_shape < shapes.len() {
            link.send(shapes[next_shape].stanzas.clone());
            hostile.sent(&shapes[next_shape], next_shape);
            next_shape += 1;
        }
    }
    let elapsed = t0.elapsed();
    let cpu = bridge
        .cpu_ticks()
        .ok()
        .map(|cpu1| bridge.secs(cpu1.saturating_sub(cpu0)));
    flood.report(report, elapsed, cpu);
    report.add(
        "peers, cold: mean peers per answer",
        format!(
            "{:.1}",
            flood.items as f64 / (flood.answered - flood.errors).max(1) as f64
        ),
    );
    report.add(
        "peers, cold: roster gets answered",
        (link.counters.roster_gets.load(Ordering::Relaxed) - rosters0).to_string(),
    );
    if let Ok(rss) = bridge.rss_kib() {
        report.add("peers, cold: RSS after", mib(rss));
    }
    if let Err(e) = result {
        if opts.hostile {
            return Err(format!(
                "{e}\n      (hostile stanzas were being sent; first one whose probe went unanswered: {}; see the table above)",
                hostile.first_unanswered_probe().unwrap_or("none")
            )
            .into());
        }
        return Err(e);
    }
    if opts.hostile {
        // Let the hostile replies and probes that are still on their way come in.
        // A request the bridge chose not to answer is reported, not waited for forever.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !hostile.all_answered() {
            match link
                .next_event(bridge, deadline, "the replies to the hostile stanzas")
                .await
            {
                Ok(Event::Reply(reply)) => {
                    hostile.reply(&reply);
                }
                Ok(Event::Closed(reason)) => return Err(link_lost(bridge, &reason)),
                Err(e) => {
                    bridge.check_alive()?;
                    report.add("hostile: still unanswered after 20 s", e.to_string());
                    break;
                }
            }
        }
        report.add(
            "hostile: IQ requests answered",
            format!("{} of {}", hostile.answered(), hostile.expected()),
        );
        report.add(
            "hostile: probe pings answered",
            format!("{} of {}", hostile.probes_answered(), hostile.probes()),
        );
    }
    if flood.errors > 0 {
        return Err(format!(
            "{} peers requests were answered with an error",
            flood.errors
        )
        .into());
    }
    Ok(())
}

/// `peers` about the same users again, their rosters cached: `opts.requests` requests,
/// as forms or compact answers.
async fn peers_warm(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    compact: bool,
) -> Res<()> {
    let total = opts.requests;
    if total == 0 {
        return Ok(());
    }
    let name = if compact {
        "peers, compact"
    } else {
        "peers, form"
    };
    let rosters0 = link.counters.roster_gets.load(Ordering::Relaxed);
    let bytes0 = link.counters.bytes_in.load(Ordering::Relaxed);
    let (flood, _, result) = pipelined(opts, bridge, link, report, name, total, |i, out| {
        let id = format!("{}-{i}", if compact { "pc" } else { "pf" });
        let target = peers_target(i, opts.peers_users, opts.users);
        out.push_str(&peers_request_shaped(
            &id,
            PLATFORM,
            &format!("user{target}@{DOMAIN}"),
            compact,
        ));
        id
    })
    .await?;
    let answers = (flood.answered - flood.errors).max(1) as f64;
    report.add(
        &format!("{name}: mean peers per answer"),
        format!("{:.1}", flood.items as f64 / answers),
    );
    report.add(
        &format!("{name}: mean answer size"),
        format!(
            "{:.0} bytes",
            (link.counters.bytes_in.load(Ordering::Relaxed) - bytes0) as f64 / answers
        ),
    );
    let fetched = link.counters.roster_gets.load(Ordering::Relaxed) - rosters0;
    if fetched > 0 {
        report.add(
            &format!("{name}: roster gets (expected none)"),
            fetched.to_string(),
        );
    }
    result
}

async fn status_flood(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    compact: bool,
) -> Res<()> {
    let total = opts.status_requests;
    if total == 0 {
        return Ok(());
    }
    let name = if compact {
        "status, compact"
    } else {
        "status, form"
    };
    let (flood, elapsed, result) = pipelined(opts, bridge, link, report, name, total, |i, out| {
        let id = format!("{}-{i}", if compact { "sc" } else { "sf" });
        let _ = write!(
            out,
            "<iq type='set' id='{id}' from='{PLATFORM}' to='{COMPONENT}'>\
             <command xmlns='{NS_COMMANDS}' node='status' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='jids'>"
        );
        for k in 0..STATUS_BATCH {
            let _ = write!(
                out,
                "<value>user{}@{DOMAIN}</value>",
                (i * STATUS_BATCH + k) % opts.users
            );
        }
        out.push_str("</field>");
        if compact {
            out.push_str("<field var='format'><value>compact</value></field>");
        }
        out.push_str("</x></command></iq>");
        id
    })
    .await?;
    report.add(
        &format!("{name}: users reported/s"),
        format!("{:.0}", flood.items as f64 / elapsed.as_secs_f64()),
    );
    let expected_rows = (flood.answered - flood.errors) * STATUS_BATCH;
    if result.is_ok() && flood.items as usize != expected_rows {
        report.add(
            &format!("{name}: rows"),
            format!("{} (expected {expected_rows})", flood.items),
        );
    }
    result
}

async fn invite_flood(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
) -> Res<()> {
    let total = opts.invites;
    if total == 0 {
        return Ok(());
    }
    let messages0 = link.counters.messages.load(Ordering::Relaxed);
    let (flood, elapsed, result) = pipelined(opts, bridge, link, report, "invite", total, |i, out| {
        // Hosts 8 apart at the head of a block are active; their next contacts are
        // mutual and active.
        let host = i / INVITES_PER_BLOCK * BLOCK + i % INVITES_PER_BLOCK * 8;
        let _ = write!(
            out,
            "<iq type='set' id='i-{i}' from='{PLATFORM}' to='{COMPONENT}'>\
             <command xmlns='{NS_COMMANDS}' node='invite' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='host'><value>user{host}@{DOMAIN}</value></field>\
             <field var='invitees'>"
        );
        for k in 1..=INVITEES {
            let _ = write!(out, "<value>user{}@{DOMAIN}</value>", host + k);
        }
        let _ = write!(
            out,
            "</field><field var='game'><value>Chess</value></field>\
             <field var='session'><value>table-{i}</value></field>\
             <field var='join'><value>https://play.example.test/j/{i}</value></field></x></command></iq>"
        );
        format!("i-{i}")
    })
    .await?;
    let messages = link.counters.messages.load(Ordering::Relaxed) - messages0;
    report.add(
        "invite: invitation messages",
        format!(
            "{messages} ({:.0}/s; expected {})",
            messages as f64 / elapsed.as_secs_f64(),
            (flood.answered - flood.errors) * INVITEES
        ),
    );
    result?;
    let expected = (total * INVITEES) as u64;
    if messages != expected {
        return Err(format!("{messages} invitations were sent, not {expected}").into());
    }
    Ok(())
}

/// Sends `total` requests of one kind, `opts.pipeline` in flight, each written by
/// `request(i, out)` (which returns its id), and reports the flood. For the invite phase
/// a ping after the last reply proves that what followed the replies (invitations) left
/// too. Returns the flood, its duration, and whether it went through without errors.
async fn pipelined(
    opts: &Opts,
    bridge: &mut Bridge,
    link: &mut Link,
    report: &mut Report,
    name: &'static str,
    total: usize,
    mut request: impl FnMut(usize, &mut String) -> String,
) -> Res<(Flood, Duration, Res<()>)> {
    let mut flood = Flood::new(name, total);
    let mut no_hostile = HostileLog::default();
    let cpu0 = bridge.cpu_ticks()?;
    let t0 = Instant::now();
    let mut result = Ok(());
    while flood.answered < total {
        let mut out = String::new();
        while flood.in_flight.len() < opts.pipeline && flood.sent < total {
            let id = request(flood.sent, &mut out);
            flood.in_flight.insert(id, Instant::now());
            flood.sent += 1;
        }
        if !out.is_empty() {
            link.send(out);
        }
        if let Err(e) = flood.wait(link, bridge, &mut no_hostile).await {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        link.ping(bridge, &format!("{name}-ping"), Duration::from_secs(15))
            .await?;
    }
    let elapsed = t0.elapsed();
    let cpu = bridge
        .cpu_ticks()
        .ok()
        .map(|cpu1| bridge.secs(cpu1.saturating_sub(cpu0)));
    flood.report(report, elapsed, cpu);
    if result.is_ok() && flood.errors > 0 {
        result = Err(format!(
            "{} {name} requests were answered with an error",
            flood.errors
        )
        .into());
    }
    Ok((flood, elapsed, result))
}

/// Pipelined requests of one kind, matched to their replies by id.
struct Flood {
    name: &'static str,
    total: usize,
    sent: usize,
    answered: usize,
    errors: usize,
    items: u64,
    in_flight: HashMap<String, Instant>,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

impl Flood {
    fn new(name: &'static str, total: usize) -> Flood {
        Flood {
            name,
            total,
            sent: 0,
            answered: 0,
            errors: 0,
            items: 0,
            in_flight: HashMap::new(),
            latencies_us: Vec::with_capacity(total),
            first_error: None,
        }
    }

    /// Waits for at least one reply, then takes every reply already there.
    async fn wait(
        &mut self,
        link: &mut Link,
        bridge: &mut Bridge,
        hostile: &mut HostileLog,
    ) -> Res<()> {
        let deadline = Instant::now() + STALL;
        let what = format!(
            "replies to {} requests ({} of {} answered)",
            self.name, self.answered, self.total
        );
        let first = link.next_event(bridge, deadline, &what).await?;
        let mut event = Some(first);
        while let Some(ev) = event {
            match ev {
                Event::Reply(reply) => {
                    if let Some(sent_at) = self.in_flight.remove(&reply.id) {
                        self.answered += 1;
                        let us = reply.at.saturating_duration_since(sent_at).as_micros();
                        self.latencies_us
                            .push(u32::try_from(us).unwrap_or(u32::MAX));
                        if reply.ok {
                            self.items += u64::from(reply.items);
                        } else {
                            self.errors += 1;
                            if self.first_error.is_none() {
                                self.first_error = reply.body.clone();
                            }
                        }
                    } else if !hostile.reply(&reply) {
                        link.counters.unexpected.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Event::Closed(reason) => return Err(link_lost(bridge, &reason)),
            }
            event = link.events.try_recv().ok();
        }
        Ok(())
    }

    /// `cpu_secs` is `None` when the process is gone and its CPU time cannot be read.
    fn report(&mut self, report: &mut Report, elapsed: Duration, cpu_secs: Option<f64>) {
        let n = self.name;
        report.add(
            &format!("{n}: requests answered"),
            format!(
                "{} of {} ({} results, {} errors) in {:.3} s",
                self.answered,
                self.total,
                self.answered - self.errors,
                self.errors,
                elapsed.as_secs_f64()
            ),
        );
        report.add(
            &format!("{n}: answers/s"),
            format!("{:.0}", self.answered as f64 / elapsed.as_secs_f64()),
        );
        report.add(
            &format!("{n}: bridge CPU per answer"),
            match cpu_secs {
                Some(cpu) => format!(
                    "{:.1} µs ({cpu:.3} s in all)",
                    cpu * 1e6 / self.answered.max(1) as f64
                ),
                None => "unknown (the process is gone)".to_owned(),
            },
        );
        self.latencies_us.sort_unstable();
        let pct = |p: usize| -> String {
            if self.latencies_us.is_empty() {
                return "-".to_owned();
            }
            let i = (self.latencies_us.len() * p / 100).min(self.latencies_us.len() - 1);
            format!("{:.2} ms", f64::from(self.latencies_us[i]) / 1e3)
        };
        report.add(
            &format!("{n}: latency p50 / p99 / max"),
            format!("{} / {} / {}", pct(50), pct(99), pct(100)),
        );
        if let Some(body) = &self.first_error {
            report.add(&format!("{n}: first error"), truncate(body, 300));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hostile stanzas
// ---------------------------------------------------------------------------------------

struct Shape {
    name: &'static str,
    stanzas: String,
    /// Ids of the IQ requests in `stanzas` that deserve a reply (unescaped).
    replies: Vec<String>,
    /// What the reply to the read-back request must contain, if there is one.
    readback: Option<(String, String)>,
}

fn probe_id(h: usize) -> String {
    format!("h-probe-{h}")
}

fn hostile_iq(id: &str, from: &str, payload: &str) -> String {
    format!("<iq type='get' id='{id}' from='{from}' to='{COMPONENT}'>{payload}</iq>")
}

/// The hostile shapes, in the order they are sent: the ones that only stress the bridge
/// first, the ones past rxml's 8 KiB token limit last (they may end the link).
fn hostile_shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();
    let planes = "planes: \u{41}\u{e9}\u{4e2d}\u{10000}\u{1F600}\u{E000}\u{20000}\u{30000}\u{E0001}\u{F0000}\u{100000}\u{10FFFD}";
    let status_text = format!("{planes} &amp; &lt; &#x1F600; &#65;");
    let expected = format!("{} &amp; &lt; \u{1F600} A", escape_text(planes));
    shapes.push(Shape {
        name: "every Unicode plane + entities in a status, read back with `status`",
        stanzas: format!(
            "<presence from='{MALLORY}' to='{COMPONENT}'><show>chat</show><status>{status_text}</status></presence>{}",
            hostile_readback("h-readback")
        ),
        replies: vec!["h-readback".to_owned()],
        readback: Some(("h-readback".to_owned(), expected)),
    });
    shapes.push(Shape {
        name: "entity references in an IQ id (&amp; &lt; &#x1F600;)",
        stanzas: format!(
            "<message from='{MALLORY}' to='{COMPONENT}'><body>a &amp; b &lt; c &#x1F600; &#x10000; &gt;</body></message>{}",
            hostile_iq(
                "h-ent-&amp;&lt;&#x1F600;&#65;",
                MALLORY,
                "<ping xmlns='urn:xmpp:ping'/>"
            )
        ),
        replies: vec!["h-ent-&<\u{1F600}A".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "IQ gets with unknown payloads",
        stanzas: [
            hostile_iq("h-unk-1", MALLORY, "<query xmlns='urn:example:unknown'/>"),
            hostile_iq(
                "h-unk-2",
                MALLORY,
                "<query xmlns='jabber:iq:private'><x xmlns='urn:x'><y/></x></query>",
            ),
            hostile_iq("h-unk-3", MALLORY, "<x:y xmlns:x='urn:prefixed'/>"),
            hostile_iq("h-unk-4", MALLORY, "<a xmlns='urn:x'/><b xmlns='urn:x'/>"),
        ]
        .concat(),
        replies: (1..=4).map(|k| format!("h-unk-{k}")).collect(),
        readback: None,
    });
    shapes.push(Shape {
        name: "5,000 child elements",
        stanzas: hostile_iq(
            "h-children",
            MALLORY,
            &format!(
                "<query xmlns='urn:example:children'>{}</query>",
                "<c a='1'/>".repeat(5000)
            ),
        ),
        replies: vec!["h-children".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "nesting 1,000 deep (dropped: deeper than the bridge accepts)",
        stanzas: hostile_iq(
            "h-deep",
            MALLORY,
            &format!(
                "{}{}",
                "<d xmlns='urn:example:deep'>".repeat(1000),
                "</d>".repeat(1000)
            ),
        ),
        // Dropped by design (MAX_DEPTH): only the probe shows the link survived.
        replies: vec![],
        readback: None,
    });
    let big_text = "0123456789abcdef".repeat(200 * 1024 / 16);
    shapes.push(Shape {
        name: "200 KiB text node",
        stanzas: format!(
            "<message from='{MALLORY}' to='{COMPONENT}'><body>{big_text}</body></message>{}",
            hostile_iq(
                "h-text",
                MALLORY,
                &format!("<query xmlns='urn:example:text'>{big_text}</query>")
            )
        ),
        replies: vec!["h-text".to_owned()],
        readback: None,
    });
    // 5,000 characters before the domain once `&gt;` is read as `>`.
    let long_jid = format!("{}@{DOMAIN}", "x&gt;".repeat(2500));
    shapes.push(Shape {
        name: "peers with a 5,000-char JID containing '>'",
        stanzas: peers_request("h-longjid", PLATFORM_HOSTILE, &long_jid),
        replies: vec!["h-longjid".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "20 KiB attribute value (caps ver)",
        stanzas: format!(
            "<presence from='{MALLORY}' to='{COMPONENT}'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:x' ver='{}'/></presence>",
            "v".repeat(20 * 1024)
        ),
        replies: vec![],
        readback: None,
    });
    shapes.push(Shape {
        name: "attribute name of 9,000 chars",
        stanzas: hostile_iq(
            "h-attrname",
            MALLORY,
            &format!("<query xmlns='urn:example:attr' {}='1'/>", "n".repeat(9000)),
        ),
        replies: vec!["h-attrname".to_owned()],
        readback: None,
    });
    shapes.push(Shape {
        name: "element name of 9,000 chars",
        stanzas: hostile_iq(
            "h-elemname",
            MALLORY,
            &format!("<{} xmlns='urn:example:elem'/>", "e".repeat(9000)),
        ),
        replies: vec!["h-elemname".to_owned()],
        readback: None,
    });
    for (h, shape) in shapes.iter_mut().enumerate() {
        shape.stanzas.push_str(&hostile_iq(
            &probe_id(h),
            MALLORY,
            "<ping xmlns='urn:xmpp:ping'/>",
        ));
    }
    shapes
}

fn hostile_readback(id: &str) -> String {
    format!(
        "<iq type='set' id='{id}' from='{PLATFORM_HOSTILE}' to='{COMPONENT}'>\
         <command xmlns='{NS_COMMANDS}' node='status' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='jids'><value>mallory@{DOMAIN}</value></field></x>\
         </command></iq>"
    )
}

/// What became of each hostile shape.
#[derive(Default)]
struct HostileLog {
    rows: Vec<HostileRow>,
    by_id: HashMap<String, (usize, usize)>,
}

struct HostileRow {
    name: &'static str,
    bytes: usize,
    /// (id, what came back)
    replies: Vec<(String, Option<String>)>,
    probe: String,
    probe_answered: bool,
    readback: Option<(String, String)>,
}

impl HostileLog {
    fn sent(&mut self, shape: &Shape, h: usize) {
        let row = self.rows.len();
        for (k, id) in shape.replies.iter().enumerate() {
            self.by_id.insert(id.clone(), (row, k));
        }
        self.by_id.insert(probe_id(h), (row, usize::MAX));
        self.rows.push(HostileRow {
            name: shape.name,
            bytes: shape.stanzas.len(),
            replies: shape.replies.iter().map(|id| (id.clone(), None)).collect(),
            probe: probe_id(h),
            probe_answered: false,
            readback: shape.readback.clone(),
        });
    }

    /// Takes a reply if it answers a hostile request; false if it is not one of ours.
    fn reply(&mut self, reply: &Reply) -> bool {
        let Some(&(row, k)) = self.by_id.get(&reply.id) else {
            return false;
        };
        let Some(row) = self.rows.get_mut(row) else {
            return false;
        };
        if k == usize::MAX {
            row.probe_answered = true;
            return true;
        }
        let body = reply.body.as_deref().unwrap_or("");
        let mut what = if reply.ok {
            "result".to_owned()
        } else {
            format!("error {}", error_condition(body))
        };
        if let Some((id, expected)) = &row.readback {
            if *id == reply.id {
                what.push_str(if body.contains(expected.as_str()) {
                    ", text read back intact"
                } else {
                    ", TEXT NOT READ BACK INTACT"
                });
            }
        }
        let _ = write!(what, ", {} bytes", reply.size);
        if let Some(slot) = row.replies.get_mut(k) {
            slot.1 = Some(what);
        }
        true
    }

    fn expected(&self) -> usize {
        self.rows.iter().map(|r| r.replies.len()).sum()
    }

    fn answered(&self) -> usize {
        self.rows
            .iter()
            .flat_map(|r| &r.replies)
            .filter(|(_, got)| got.is_some())
            .count()
    }

    fn probes(&self) -> usize {
        self.rows.len()
    }

    fn probes_answered(&self) -> usize {
        self.rows.iter().filter(|r| r.probe_answered).count()
    }

    fn first_unanswered_probe(&self) -> Option<&'static str> {
        self.rows.iter().find(|r| !r.probe_answered).map(|r| r.name)
    }

    fn all_answered(&self) -> bool {
        self.answered() == self.expected() && self.probes_answered() == self.probes()
    }

    fn print(&self) {
        println!(
            "\nhostile stanzas (in the order sent; the probe is a ping sent right after each):"
        );
        if self.rows.is_empty() {
            println!("  none sent");
        }
        for row in &self.rows {
            println!(
                "  {:<68} {:>8} bytes sent, probe {} {}",
                row.name,
                row.bytes,
                row.probe,
                if row.probe_answered {
                    "answered"
                } else {
                    "NOT ANSWERED"
                }
            );
            for (id, got) in &row.replies {
                println!(
                    "      {:<24} -> {}",
                    truncate(id, 24),
                    got.as_deref().unwrap_or("no reply")
                );
            }
        }
    }
}

/// `<bad-request xmlns=...>` and the `<text>` of an error reply.
fn error_condition(body: &str) -> String {
    const CONDITIONS: &[&str] = &[
        "bad-request",
        "conflict",
        "feature-not-implemented",
        "forbidden",
        "internal-server-error",
        "item-not-found",
        "jid-malformed",
        "not-acceptable",
        "not-allowed",
        "policy-violation",
        "remote-server-timeout",
        "resource-constraint",
        "service-unavailable",
        "undefined-condition",
    ];
    let condition = CONDITIONS
        .iter()
        .find(|c| body.contains(&format!("<{c} ")) || body.contains(&format!("<{c}/>")))
        .copied()
        .unwrap_or("?");
    let text = body
        .find("<text")
        .and_then(|start| {
            let open_end = body[start..].find('>')? + start + 1;
            let close = body[open_end..].find("</text>")? + open_end;
            Some(unescape(&body[open_end..close]))
        })
        .unwrap_or_default();
    if text.is_empty() {
        condition.to_owned()
    } else {
        format!("{condition} ({})", truncate(&text, 90))
    }
}

// ---------------------------------------------------------------------------------------
// The link: handshake, reader, writer
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Reply {
    id: String,
    ok: bool,
    at: Instant,
    size: usize,
    /// `<item>` elements: table rows of a command result.
    items: u32,
    /// The whole stanza, for the replies this program inspects (`h-…`, `stats-…`).
    body: Option<String>,
}

#[derive(Debug)]
enum Event {
    Reply(Reply),
    Closed(String),
}

enum WriteCmd {
    Data(Vec<u8>),
    Marker(oneshot::Sender<Instant>),
}

#[derive(Default)]
struct Counters {
    stanzas_in: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    roster_gets: AtomicU64,
    server_iqs: AtomicU64,
    unexpected: AtomicU64,
    largest: AtomicUsize,
    largest_what: Mutex<String>,
    /// Messages from the bridge (invitations).
    messages: AtomicU64,
}

struct Link {
    out: mpsc::UnboundedSender<WriteCmd>,
    events: mpsc::UnboundedReceiver<Event>,
    counters: Arc<Counters>,
    reconnects: Arc<AtomicU64>,
}

impl Link {
    fn send(&self, s: String) {
        self.send_bytes(s.into_bytes());
    }

    fn send_bytes(&self, b: Vec<u8>) {
        // A closed writer shows up as an Event::Closed on the next wait.
        let _ = self.out.send(WriteCmd::Data(b));
    }

    /// Resolves when everything sent before it has been written to the socket.
    fn marker(&self) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        let _ = self.out.send(WriteCmd::Marker(tx));
        rx
    }

    async fn next_event(
        &mut self,
        bridge: &mut Bridge,
        deadline: Instant,
        what: &str,
    ) -> Res<Event> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                bridge.check_alive()?;
                return Err(format!("timed out waiting for {what}").into());
            }
            let slice = (deadline - now).min(Duration::from_millis(500));
            match tokio::time::timeout(slice, self.events.recv()).await {
                Ok(Some(ev)) => return Ok(ev),
                Ok(None) => return Err("the connection's reader stopped".into()),
                Err(_) => bridge.check_alive()?,
            }
        }
    }

    /// A ping from the server to the component, answered after everything sent before it.
    async fn ping(&mut self, bridge: &mut Bridge, id: &str, limit: Duration) -> Res<Duration> {
        let t0 = Instant::now();
        self.send(format!(
            "<iq type='get' id='{id}' from='{DOMAIN}' to='{COMPONENT}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        let deadline = t0 + limit;
        loop {
            match self
                .next_event(bridge, deadline, &format!("the answer to the ping {id}"))
                .await?
            {
                Event::Reply(r) if r.id == id => {
                    if !r.ok {
                        return Err(format!("the ping {id} was answered with an error").into());
                    }
                    return Ok(t0.elapsed());
                }
                Event::Reply(_) => {}
                Event::Closed(reason) => return Err(link_lost(bridge, &reason)),
            }
        }
    }

    /// The operator's `stats` command: its fields by name.
    async fn stats(&mut self, bridge: &mut Bridge, id: &str) -> Res<HashMap<String, String>> {
        self.send(format!(
            "<iq type='set' id='{id}' from='{ADMIN}' to='{COMPONENT}'>\
             <command xmlns='{NS_COMMANDS}' node='stats' action='execute'/></iq>"
        ));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self
                .next_event(bridge, deadline, "the answer to the stats command")
                .await?
            {
                Event::Reply(r) if r.id == id => {
                    let body = r.body.unwrap_or_default();
                    if !r.ok {
                        return Err(format!("stats was refused: {}", error_condition(&body)).into());
                    }
                    return Ok(form_fields(&body));
                }
                Event::Reply(_) => {}
                Event::Closed(reason) => return Err(link_lost(bridge, &reason)),
            }
        }
    }
}

fn link_lost(bridge: &mut Bridge, reason: &str) -> BoxError {
    // Give a dying process a moment to be reaped so the message can say it died.
    std::thread::sleep(Duration::from_millis(200));
    match bridge.check_alive() {
        Err(died) => format!("the link to the bridge was lost ({reason}): {died}").into(),
        Ok(()) => format!(
            "the bridge dropped the link ({reason}); the process is still running (it will reconnect)"
        )
        .into(),
    }
}

/// The world the answers to the bridge's queries describe.
#[derive(Clone, Copy)]
struct World {
    users: usize,
    contacts: usize,
}

impl World {
    fn roster(&self, user: &str) -> String {
        let mut items = String::new();
        let index = user
            .strip_prefix("user")
            .and_then(|rest| rest.strip_suffix(&format!("@{DOMAIN}")))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(u) = index {
            for k in 1..=self.contacts {
                let contact = (u + k) % self.users;
                let subscription = if k <= MUTUAL {
                    "both"
                } else if k % 2 == 0 {
                    "to"
                } else {
                    "from"
                };
                let _ = write!(
                    items,
                    "<item jid='user{contact}@{DOMAIN}' subscription='{subscription}' name='User {contact}'><group>Friends</group></item>"
                );
            }
        }
        items
    }
}

async fn connect(
    bridge: &mut Bridge,
    listener: TcpListener,
    secret: &str,
    opts: &Opts,
) -> Res<Link> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let socket = loop {
        let now = Instant::now();
        if now >= deadline {
            return Err("the bridge did not connect within 20 s".into());
        }
        match tokio::time::timeout(Duration::from_millis(200), listener.accept()).await {
            Ok(Ok((socket, _))) => break socket,
            Ok(Err(e)) => return Err(format!("accept failed: {e}").into()),
            Err(_) => bridge.check_alive()?,
        }
    };
    socket.set_nodelay(true)?;
    let reconnects = Arc::new(AtomicU64::new(0));
    let counter = reconnects.clone();
    tokio::spawn(async move {
        // Any further connection is the bridge reconnecting: count it, hold it open.
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            held.push(s);
        }
    });
    let (mut rd, mut wr) = socket.into_split();
    let mut scanner = Scanner::default();
    let limit = Duration::from_secs(15);
    let header = read_token(&mut rd, &mut scanner, limit).await?;
    match header {
        Tok::Header(range) => {
            let text = String::from_utf8_lossy(&scanner.buf[range]).into_owned();
            if !text.contains(COMPONENT) || !text.contains("jabber:component:accept") {
                return Err(format!("unexpected stream header from the bridge: {text}").into());
            }
        }
        _ => return Err("the bridge did not open a stream".into()),
    }
    let stream_id = format!("{:x}", nanos());
    wr.write_all(
        format!(
            "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:component:accept' from='{COMPONENT}' id='{stream_id}'>"
        )
        .as_bytes(),
    )
    .await?;
    let handshake = match read_token(&mut rd, &mut scanner, limit).await? {
        Tok::Stanza(range) => String::from_utf8_lossy(&scanner.buf[range]).into_owned(),
        _ => return Err("the bridge did not send a handshake".into()),
    };
    let expected: String = Handshake::from_stream_id_and_password(stream_id, secret)
        .data
        .ok_or("no handshake digest")?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digest = handshake
        .split_once('>')
        .and_then(|(_, rest)| rest.split_once('<'))
        .map(|(d, _)| d.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !handshake.starts_with("<handshake") || digest != expected {
        wr.write_all(b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>").await?;
        return Err(format!("bad handshake from the bridge: {handshake}").into());
    }
    wr.write_all(b"<handshake/>").await?;
    scanner.compact();

    let counters = Arc::new(Counters::default());
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let world = World {
        users: opts.users,
        contacts: opts.contacts,
    };
    tokio::spawn(writer(wr, out_rx, ev_tx.clone(), counters.clone()));
    tokio::spawn(reader(
        rd,
        scanner,
        world,
        out_tx.clone(),
        ev_tx,
        counters.clone(),
    ));
    Ok(Link {
        out: out_tx,
        events: ev_rx,
        counters,
        reconnects,
    })
}

async fn read_token(rd: &mut OwnedReadHalf, scanner: &mut Scanner, limit: Duration) -> Res<Tok> {
    let deadline = Instant::now() + limit;
    let mut chunk = vec![0u8; 4096];
    loop {
        if let Some(tok) = scanner.next()? {
            return Ok(tok);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, rd.read(&mut chunk))
            .await
            .map_err(|_| "the bridge said nothing during the handshake for 15 s")??;
        if n == 0 {
            return Err("the bridge closed the connection during the handshake".into());
        }
        scanner.buf.extend_from_slice(&chunk[..n]);
    }
}

async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<WriteCmd>,
    events: mpsc::UnboundedSender<Event>,
    counters: Arc<Counters>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut markers = Vec::new();
    while let Some(cmd) = rx.recv().await {
        let mut cmd = Some(cmd);
        while let Some(c) = cmd.take() {
            match c {
                WriteCmd::Data(d) if buf.is_empty() => buf = d,
                WriteCmd::Data(d) => buf.extend_from_slice(&d),
                WriteCmd::Marker(m) => markers.push(m),
            }
            if buf.len() < 1 << 20 {
                cmd = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() {
            if let Err(e) = wr.write_all(&buf).await {
                let _ = events.send(Event::Closed(format!("cannot write to the bridge: {e}")));
                return;
            }
            counters
                .bytes_out
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            buf.clear();
        }
        for m in markers.drain(..) {
            let _ = m.send(Instant::now());
        }
    }
}

async fn reader(
    mut rd: OwnedReadHalf,
    mut scanner: Scanner,
    world: World,
    out: mpsc::UnboundedSender<WriteCmd>,
    events: mpsc::UnboundedSender<Event>,
    counters: Arc<Counters>,
) {
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        loop {
            match scanner.next() {
                Ok(Some(Tok::Stanza(range))) => {
                    let at = Instant::now();
                    on_stanza(&scanner.buf[range], at, world, &out, &events, &counters);
                }
                Ok(Some(Tok::Footer)) => {
                    let _ = out.send(WriteCmd::Data(b"</stream:stream>".to_vec()));
                    let _ = events.send(Event::Closed(
                        "the bridge closed its XML stream (</stream:stream>)".to_owned(),
                    ));
                    return;
                }
                Ok(Some(Tok::Header(_))) => {
                    let _ = events.send(Event::Closed(
                        "the bridge opened a second stream on the same connection".to_owned(),
                    ));
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = events.send(Event::Closed(format!("the bridge sent bad XML: {e}")));
                    return;
                }
            }
        }
        scanner.compact();
        match rd.read(&mut chunk).await {
            Ok(0) => {
                let _ = events.send(Event::Closed(
                    "the bridge closed the TCP connection".to_owned(),
                ));
                return;
            }
            Ok(n) => {
                counters.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                scanner.buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) => {
                let _ = events.send(Event::Closed(format!(
                    "reading from the bridge failed: {e}"
                )));
                return;
            }
        }
    }
}

fn on_stanza(
    s: &[u8],
    at: Instant,
    world: World,
    out: &mpsc::UnboundedSender<WriteCmd>,
    events: &mpsc::UnboundedSender<Event>,
    counters: &Counters,
) {
    counters.stanzas_in.fetch_add(1, Ordering::Relaxed);
    let Some(tag) = parse_tag(s) else {
        counters.unexpected.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let attr = |name: &str| tag.attr(name).unwrap_or("");
    if counters.largest.fetch_max(s.len(), Ordering::Relaxed) < s.len() {
        if let Ok(mut what) = counters.largest_what.lock() {
            *what = format!(
                "<{} type='{}' id='{}'>",
                tag.name,
                attr("type"),
                truncate(attr("id"), 40)
            );
        }
    }
    if tag.name == "message" {
        // Invitations, in the invite phase.
        counters.messages.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if tag.name != "iq" {
        // The bridge has no reason to send presences in this run.
        counters.unexpected.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let (id, from, to) = (attr("id"), attr("from"), attr("to"));
    match attr("type") {
        "result" | "error" => {
            let keep_body =
                id.starts_with("h-") || id.starts_with("stats-") || attr("type") == "error";
            let reply = Reply {
                id: id.to_owned(),
                ok: attr("type") == "result",
                at,
                size: s.len(),
                // Form rows, or compact items.
                items: (count(s, b"<item>") + count(s, b"<peer ") + count(s, b"<user ")) as u32,
                body: keep_body.then(|| String::from_utf8_lossy(s).into_owned()),
            };
            let _ = events.send(Event::Reply(reply));
        }
        "get" | "set" => {
            let child_ns = first_child(s, tag.end)
                .and_then(|c| c.attr("xmlns").map(str::to_owned))
                .unwrap_or_default();
            let (id, from, to) = (escape_attr(id), escape_attr(from), escape_attr(to));
            let head = format!("<iq type='result' id='{id}' from='{to}' to='{from}'>");
            let answer = if to == DOMAIN {
                counters.server_iqs.fetch_add(1, Ordering::Relaxed);
                match child_ns.as_str() {
                    "jabber:iq:version" => format!(
                        "{head}<query xmlns='jabber:iq:version'><name>Prosody</name><version>0.12.3</version></query></iq>"
                    ),
                    "http://jabber.org/protocol/disco#info" => format!(
                        "{head}<query xmlns='http://jabber.org/protocol/disco#info'>\
                         <identity category='server' type='im' name='Prosody'/>\
                         <feature var='http://jabber.org/protocol/disco#info'/>\
                         <feature var='http://jabber.org/protocol/disco#items'/>\
                         <feature var='jabber:iq:version'/><feature var='urn:xmpp:ping'/>\
                         <feature var='jabber:iq:roster'/></query></iq>"
                    ),
                    "urn:xmpp:ping" => format!("{head}</iq>"),
                    _ => service_unavailable(&id, &to, &from),
                }
            } else if child_ns == "jabber:iq:roster" && to.ends_with(&format!("@{DOMAIN}")) {
                counters.roster_gets.fetch_add(1, Ordering::Relaxed);
                format!(
                    "{head}<query xmlns='jabber:iq:roster' ver='1'>{}</query></iq>",
                    world.roster(&to)
                )
            } else {
                counters.unexpected.fetch_add(1, Ordering::Relaxed);
                service_unavailable(&id, &to, &from)
            };
            let _ = out.send(WriteCmd::Data(answer.into_bytes()));
        }
        _ => {
            counters.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn service_unavailable(id: &str, from: &str, to: &str) -> String {
    format!(
        "<iq type='error' id='{id}' from='{from}' to='{to}'><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    )
}

// ---------------------------------------------------------------------------------------
// XML by byte scanning
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum Tok {
    Header(Range<usize>),
    Stanza(Range<usize>),
    Footer,
}

/// Splits the incoming stream into top-level elements without building them: tracks
/// depth over tags (quotes respected) and remembers where it stopped between reads.
#[derive(Default)]
struct Scanner {
    buf: Vec<u8>,
    /// Next byte to look at; never inside a tag.
    pos: usize,
    /// Where the stanza being read began.
    start: usize,
    depth: usize,
}

impl Scanner {
    fn next(&mut self) -> Result<Option<Tok>, String> {
        loop {
            let i = self.pos;
            let Some(&b) = self.buf.get(i) else {
                return Ok(None);
            };
            if b != b'<' {
                let end = find_byte(&self.buf[i..], b'<').map_or(self.buf.len(), |off| i + off);
                if self.depth == 0 && !self.buf[i..end].iter().all(u8::is_ascii_whitespace) {
                    return Err(format!(
                        "text outside any stanza: {:?}",
                        truncate(&String::from_utf8_lossy(&self.buf[i..end]), 80)
                    ));
                }
                self.pos = end;
                continue;
            }
            let Some(&next) = self.buf.get(i + 1) else {
                return Ok(None);
            };
            match next {
                b'/' => {
                    let Some(off) = find_byte(&self.buf[i..], b'>') else {
                        return Ok(None);
                    };
                    let end = i + off + 1;
                    self.pos = end;
                    if self.depth == 0 {
                        return Ok(Some(Tok::Footer));
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Ok(Some(Tok::Stanza(self.start..end)));
                    }
                }
                b'?' => {
                    let Some(off) = find(&self.buf[i..], b"?>") else {
                        return Ok(None);
                    };
                    self.pos = i + off + 2;
                }
                b'!' => {
                    let rest = &self.buf[i..];
                    let close: &[u8] = if rest.starts_with(b"<!--") {
                        b"-->"
                    } else if rest.starts_with(b"<![CDATA[") {
                        b"]]>"
                    } else if rest.len() < 9 {
                        return Ok(None);
                    } else {
                        return Err("unexpected <! markup".to_owned());
                    };
                    let Some(off) = find(rest, close) else {
                        return Ok(None);
                    };
                    self.pos = i + off + close.len();
                }
                _ => {
                    let Some((len, empty)) = tag_end(&self.buf[i..]) else {
                        return Ok(None);
                    };
                    let end = i + len;
                    self.pos = end;
                    if self.depth == 0 {
                        self.start = i;
                        if self.buf[i..end].starts_with(b"<stream:stream") {
                            return Ok(Some(Tok::Header(i..end)));
                        }
                        if empty {
                            return Ok(Some(Tok::Stanza(i..end)));
                        }
                    }
                    if !empty {
                        self.depth += 1;
                    }
                }
            }
        }
    }

    /// Forgets the bytes of the stanzas already returned.
    fn compact(&mut self) {
        let keep_from = if self.depth > 0 { self.start } else { self.pos };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.pos -= keep_from;
            self.start = self.start.saturating_sub(keep_from);
        }
    }
}

/// Length of the tag at the start of `s` (which begins with `<`), and whether it is
/// empty (`/>`); `None` if it is not complete yet.
fn tag_end(s: &[u8]) -> Option<(usize, bool)> {
    let mut quote = 0u8;
    for (k, &b) in s.iter().enumerate().skip(1) {
        if quote != 0 {
            if b == quote {
                quote = 0;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = b,
            b'>' => return Some((k + 1, s[k - 1] == b'/')),
            _ => {}
        }
    }
    None
}

struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    /// Where the tag ends in the bytes it was read from.
    end: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The start tag at the beginning of `s`, attribute values unescaped.
fn parse_tag(s: &[u8]) -> Option<Tag> {
    let (end, empty) = tag_end(s)?;
    let inner = &s[1..end - if empty { 2 } else { 1 }];
    let text = std::str::from_utf8(inner).ok()?;
    let name_end = text
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let mut rest = &text[name_end..];
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        rest = rest[eq + 1..].trim_start();
        let quote = rest.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let close = rest[1..].find(quote)? + 1;
        attrs.push((key.to_owned(), unescape(&rest[1..close])));
        rest = &rest[close + 1..];
    }
    Some(Tag {
        name: text[..name_end].to_owned(),
        attrs,
        end,
    })
}

/// The first child's start tag of the stanza `s` whose own tag ends at `after`.
fn first_child(s: &[u8], after: usize) -> Option<Tag> {
    let rest = s.get(after..)?;
    let skip = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &rest[skip..];
    if rest.starts_with(b"</") || !rest.starts_with(b"<") {
        return None;
    }
    parse_tag(rest)
}

/// `var` → first `<value>` of each `<field>` of a data form, by scanning.
fn form_fields(body: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    let mut rest = body;
    while let Some(start) = rest.find("<field") {
        rest = &rest[start..];
        let Some(tag) = parse_tag(rest.as_bytes()) else {
            break;
        };
        let head_end = tag.end;
        let empty = rest.as_bytes().get(head_end.wrapping_sub(2)) == Some(&b'/');
        let close = if empty {
            head_end
        } else {
            rest.find("</field>").unwrap_or(head_end)
        };
        let inside = &rest[head_end..close.max(head_end)];
        if let Some(var) = tag.attr("var") {
            let value = inside
                .find("<value>")
                .and_then(|v| {
                    let from = v + "<value>".len();
                    inside[from..]
                        .find("</value>")
                        .map(|e| unescape(&inside[from..from + e]))
                })
                .unwrap_or_default();
            fields.insert(var.to_owned(), value);
        }
        rest = &rest[head_end..];
    }
    fields
}

fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    hay.iter().position(|&x| x == b)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else {
            break;
        };
        let entity = &rest[1..semi];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn escape_attr(s: &str) -> String {
    escape_text(s)
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// Lets `write!` append to a byte buffer.
struct Buf<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The bridge process
// ---------------------------------------------------------------------------------------

struct Bridge {
    child: Child,
    pid: u32,
    clk_tck: f64,
    exited: Option<String>,
}

impl Bridge {
    fn check_alive(&mut self) -> Res<()> {
        if let Some(how) = &self.exited {
            return Err(format!("the bridge process has exited ({how})").into());
        }
        if let Some(status) = self.child.try_wait()? {
            let how = status.to_string();
            self.exited = Some(how.clone());
            return Err(format!("the bridge process has exited ({how})").into());
        }
        Ok(())
    }

    /// utime + stime, in clock ticks.
    fn cpu_ticks(&self) -> Res<u64> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map_err(|e| format!("cannot read the bridge's /proc/{}/stat: {e}", self.pid))?;
        let after_comm = stat
            .rfind(')')
            .map(|p| &stat[p + 1..])
            .ok_or("unexpected /proc/PID/stat format")?;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // Fields 14 and 15 of stat(5); `fields[0]` is field 3 (state).
        let utime: u64 = fields.get(11).ok_or("no utime in stat")?.parse()?;
        let stime: u64 = fields.get(12).ok_or("no stime in stat")?.parse()?;
        Ok(utime + stime)
    }

    fn secs(&self, ticks: u64) -> f64 {
        ticks as f64 / self.clk_tck
    }

    fn rss_kib(&self) -> Res<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid))
            .map_err(|e| format!("cannot read the bridge's /proc/{}/status: {e}", self.pid))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .ok_or("no VmRSS in /proc/PID/status")?;
        Ok(line
            .trim_start_matches("VmRSS:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?)
    }
}

/// SIGTERM, then waits (bounded) for the process to exit.
async fn stop_bridge(bridge: &mut Bridge, report: &mut Report) {
    if let Ok(Some(status)) = bridge.child.try_wait() {
        report.add("bridge exit", format!("had already exited ({status})"));
        return;
    }
    let t0 = Instant::now();
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(bridge.pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !sent {
        let _ = bridge.child.kill();
    }
    let deadline = t0 + Duration::from_secs(15);
    loop {
        match bridge.child.try_wait() {
            Ok(Some(status)) => {
                report.add(
                    "bridge exit after SIGTERM",
                    format!("{status} after {:.0} ms", t0.elapsed().as_secs_f64() * 1e3),
                );
                return;
            }
            Ok(None) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => {
                let _ = bridge.child.kill();
                let _ = bridge.child.wait();
                report.add(
                    "bridge exit after SIGTERM",
                    "DID NOT EXIT within 15 s: killed with SIGKILL".to_owned(),
                );
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    lines: Vec<(String, String)>,
}

impl Report {
    fn add(&mut self, name: &str, value: String) {
        self.lines.push((name.to_owned(), value));
    }

    fn print(&self) {
        let width = self
            .lines
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value) in &self.lines {
            println!("{name:<width$}  {value}");
        }
    }
}

fn config_toml(port: u16, secret: &Path, database: &Path) -> String {
    format!(
        "admins = [\"admin@{DOMAIN}\"]\n\
         platforms = [\"arcade@{DOMAIN}\"]\n\
         \n\
         [component]\n\
         jid = \"{COMPONENT}\"\n\
         name = \"Game bridge (load test)\"\n\
         \n\
         [server]\n\
         host = \"127.0.0.1\"\n\
         port = {port}\n\
         domains = [\"{DOMAIN}\"]\n\
         secret_file = {}\n\
         \n\
         [link]\n\
         keepalive_secs = 30\n\
         response_timeout_secs = 15\n\
         iq_timeout_secs = 30\n\
         \n\
         [storage]\n\
         path = {}\n\
         \n\
         [logging]\n\
         level = \"warn\"\n\
         format = \"human\"\n\
         \n\
         # Every simulated user is visible, as if each had agreed: what is measured\n\
         # is an answer that discloses, and records it.\n\
         [privacy]\n\
         consent = \"opt-out\"\n",
        toml_string(&secret.display().to_string()),
        toml_string(&database.display().to_string()),
    )
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Pins this program to every core but `cpu`, so it does not compete with the bridge.
fn pin_self_away_from(cpu: usize) -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let others: Vec<String> = (0..cores)
        .filter(|&c| c != cpu)
        .map(|c| c.to_string())
        .collect();
    if others.is_empty() || cpu >= cores {
        return "not pinned".to_owned();
    }
    let Some(taskset) = find_in_path("taskset") else {
        return "not pinned (no taskset)".to_owned();
    };
    let list = others.join(",");
    let ok = Command::new(taskset)
        .args(["-a", "-p", "-c", &list, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        format!("core(s) {list}")
    } else {
        "not pinned (taskset failed)".to_owned()
    }
}

/// This program's utime + stime, in seconds.
fn own_cpu_secs(clk_tck: f64) -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20))
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}
