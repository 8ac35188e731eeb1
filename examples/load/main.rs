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
//! 9. With `--http`: the same through the HTTP front door (JSON, `--pipeline` kept-alive
//!    connections): `peers`, `status`; then `--http-invites` invites over HTTP, every
//!    invitation accepted over the link, the news events left to pile up, and a webhook
//!    set to a receiver on loopback: deliveries/s from its first delivery to its last.
//! 10. Checks the link is the same TCP connection as at the start, stops the bridge with
//!     SIGTERM, and prints the figures, one per line.
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

mod bridge;
mod hostile;
mod http;
mod link;
mod phases;
mod run;
mod scan;
mod util;

use bridge::*;
use hostile::*;
use link::*;
use phases::*;
use run::*;
use scan::*;
use util::*;

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
  --http                 also measure the HTTP front door (JSON peers, status, and
                         webhook deliveries)
  --http-invites N       invites over HTTP for the webhook phase, 5 answers each
                         (default 1000)
  --webhook-outage SECS  the webhook receiver is down for SECS when the news start
                         coming (default 0): how the bridge catches up
  --storage-url URL      keep the bridge's state in this PostgreSQL database (empty)
                         instead of a SQLite file (scripts/load-postgres.sh starts one)
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
    http: bool,
    http_invites: usize,
    webhook_outage: u64,
    cpu: usize,
    timeout: Duration,
    keep: bool,
    storage_url: Option<String>,
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
            http: false,
            http_invites: 1_000,
            webhook_outage: 0,
            cpu: 1,
            timeout: Duration::from_secs(1200),
            keep: false,
            storage_url: None,
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
            "--http" => o.http = true,
            "--http-invites" => o.http_invites = number(&mut args, &arg)?,
            "--webhook-outage" => o.webhook_outage = number(&mut args, &arg)? as u64,
            "--keep" => o.keep = true,
            "--storage-url" => o.storage_url = Some(value(&mut args, &arg)?),
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
