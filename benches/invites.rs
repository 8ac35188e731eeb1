//! Invites through the core, with the database on disk as the bridge runs it (WAL,
//! `synchronous=NORMAL`, checkpoints on their own thread):
//!
//! - `invites/create_5_invitees`: a platform's `invite` for a host and five invitees,
//!   from the parsed request to the reply and the five invitations, the transaction
//!   included (target: ≤ 150 µs);
//! - `invites/answer`: an invitee's reply word, while the invitations of 200 invites
//!   wait, from the parsed message to the stored answer and the three messages it causes
//!   (to the invitee, the platform and the host) (target: ≤ 50 µs);
//! - `invites/create_5_invitees_postgres`: the first, with the state in PostgreSQL: the
//!   core hands the invite's writes to the storage worker's code, run here on the same
//!   thread, and answers once they are committed. Wall time, so PostgreSQL's own work is
//!   in it: one invite a transaction, none of the worker's group commits. The database is
//!   `XMPP_GAME_BRIDGE_BENCH_PG` (a URL: `scripts/load-postgres.sh` prints one of
//!   Debian's defaults), else the tests' private cluster (`fsync` off).
//!
//! Run: `cargo bench --bench invites`.

// A benchmark that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use minidom::Element;
use xmpp_game_bridge::admin::NewPlatform;
use xmpp_game_bridge::config::{AccessConfig, ConsentPolicy};
use xmpp_game_bridge::core::rate::Rate;
use xmpp_game_bridge::core::storage::Stored;
use xmpp_game_bridge::core::{Core, CoreConfig, Input, Output};
use xmpp_game_bridge::directory::activity::ReportKey;
use xmpp_game_bridge::directory::DirectoryConfig;
use xmpp_game_bridge::store::{Location, Store};
use xmpp_parsers::jid::BareJid;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hosts taking turns, each with five invitees of their own.
const HOSTS: usize = 200;
const INVITEES: usize = 5;

/// The fake clock: two seconds more at every invite.
static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::from_secs(1_800_000_000 + CLOCK.load(std::sync::atomic::Ordering::Relaxed))
}

fn tick() {
    CLOCK.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
}

fn stanza(xml: &str) -> Input {
    Input::Stanza(xml.parse().unwrap())
}

fn invitee(host: usize, k: usize) -> usize {
    HOSTS + host * INVITEES + k
}

/// The stanzas sent, read back.
fn sends(out: &[Output]) -> Vec<Element> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(stanza) => Some(xmpp_game_bridge::wire::parse_stanza(stanza).unwrap()),
            _ => None,
        })
        .collect()
}

/// The core and, when the database is away (PostgreSQL), the storage worker's store.
struct Bridge {
    core: Core,
    worker: Option<Store>,
}

impl Bridge {
    /// Handles `input` as the bridge would: where the database is away, each job the core
    /// hands out is run on the worker's store and its outcome handed back, until none is
    /// left; what the core sent meanwhile, in order.
    fn handle(&mut self, input: Input, now: SystemTime) -> Vec<Output> {
        let mut out = self.core.handle(input, now);
        let Some(worker) = self.worker.as_mut() else {
            return out;
        };
        loop {
            let mut jobs = Vec::new();
            let mut kept = Vec::new();
            for output in out {
                match output {
                    Output::Store { ticket, job } => jobs.push((ticket, job)),
                    other => kept.push(other),
                }
            }
            out = kept;
            if jobs.is_empty() {
                return out;
            }
            for (ticket, job) in jobs {
                let result = job.run(worker);
                let stored = Stored {
                    ticket,
                    job,
                    result,
                };
                out.extend(self.core.handle(Input::Stored(Box::new(stored)), now));
            }
        }
    }
}

/// A core on a file database, every host and invitee online and sharing (opt-out), each
/// host's roster fetched.
fn core(dir: &tempfile::TempDir) -> Bridge {
    bridge(
        Store::open(&dir.path().join("bridge.sqlite")).unwrap(),
        false,
    )
}

/// [`core`] with `store`, away (for a storage worker) if `away`.
fn bridge(store: Store, away: bool) -> Bridge {
    let rights = xmpp_game_bridge::commands::RightsConfig::default();
    let config = CoreConfig {
        component: BareJid::from_str("game.example.test").unwrap(),
        name: "Game bridge".to_owned(),
        domains: vec![BareJid::from_str("example.test").unwrap()],
        admins: vec![],
        access: AccessConfig::default(),
        consent: ConsentPolicy::OptOut,
        audit_days: 90,
        rights,
        iq_timeout: Duration::from_secs(30),
        command_session: Duration::from_secs(600),
        // The clock moves 2 s per invite, so that each host invites every 400 s, within
        // the default hourly rate; its roster stays cached meanwhile.
        directory: DirectoryConfig {
            roster_max_age: Duration::from_secs(30 * 86_400),
            ..DirectoryConfig::default()
        },
        max_stanza_bytes: 256 * 1024,
        activity_key: ReportKey::derive("s3cret"),
        platform_rate: Rate::per_sec(u32::MAX),
        other_rate: Rate::per_sec(u32::MAX),
        sessions_api: false,
        page: None,
        salt: 0,
    };
    let arcade = NewPlatform::authorized("arcade@example.test");
    xmpp_game_bridge::daemon::seed_registry(&store, &[arcade]);
    let mut core = Core::new(config, store, now(), 1);
    let worker = if away { core.send_store_away() } else { None };
    let mut core = Bridge { core, worker };
    core.handle(Input::Connected, now());
    core.handle(
        stanza(
            "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
             <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
             <perm access='presence' type='roster'/></privilege></message>",
        ),
        now(),
    );
    for user in 0..HOSTS * (1 + INVITEES) {
        core.handle(
            stanza(&format!(
                "<presence xmlns='jabber:component:accept' from='u{user}@example.test/pc' to='game.example.test'><show>chat</show></presence>"
            )),
            now(),
        );
    }
    for host in 0..HOSTS {
        tick();
        let out = core.handle(Input::Stanza(invite(host)), now());
        let fetch = sends(&out)
            .into_iter()
            .find(|el| el.attr("to") == Some(&format!("u{host}@example.test")))
            .expect("a roster fetch")
            .clone();
        let items: String = (0..INVITEES)
            .map(|k| {
                format!(
                    "<item jid='u{}@example.test' subscription='both'/>",
                    invitee(host, k)
                )
            })
            .collect();
        let out = core.handle(
            stanza(&format!(
                "<iq xmlns='jabber:component:accept' type='result' id='{}' from='u{host}@example.test' to='game.example.test'><query xmlns='jabber:iq:roster'>{items}</query></iq>",
                fetch.attr("id").unwrap()
            )),
            now(),
        );
        let reply = sends(&out)[0].clone();
        assert_eq!(sends(&out).len(), 1 + INVITEES, "{}", String::from(&reply));
        cancel(&mut core, &reply);
    }
    core
}

fn invite(host: usize) -> Element {
    let invitees: String = (0..INVITEES)
        .map(|k| format!("<value>u{}@example.test</value>", invitee(host, k)))
        .collect();
    format!(
        "<iq xmlns='jabber:component:accept' type='set' id='i1' from='arcade@example.test/engine' to='game.example.test'>\
         <command xmlns='http://jabber.org/protocol/commands' node='invite' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'><field var='host'><value>u{host}@example.test</value></field>\
         <field var='invitees'>{invitees}</field><field var='game'><value>Chess</value></field>\
         <field var='session'><value>table-7</value></field><field var='join'><value>https://play.example.test/j/7</value></field>\
         </x></command></iq>"
    )
    .parse()
    .unwrap()
}

fn field(reply: &Element, var: &str) -> String {
    reply
        .get_child("command", "http://jabber.org/protocol/commands")
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .and_then(|x| x.children().find(|f| f.attr("var") == Some(var)))
        .map(|f| f.children().map(|v| v.text()).collect())
        .unwrap_or_default()
}

/// Cancels the invite `reply` created, so its host may invite the same people again.
fn cancel(core: &mut Bridge, reply: &Element) {
    let id = field(reply, "invite");
    assert!(!id.is_empty(), "{}", String::from(reply));
    core.handle(
        stanza(&format!(
            "<iq xmlns='jabber:component:accept' type='set' id='c1' from='arcade@example.test/engine' to='game.example.test'>\
             <command xmlns='http://jabber.org/protocol/commands' node='invite-cancel' action='execute'>\
             <x xmlns='jabber:x:data' type='submit'><field var='invite'><value>{id}</value></field></x></command></iq>"
        )),
        now(),
    );
}

fn invites(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut core = core(&dir);
    // As the bridge runs: the WAL is copied back from a thread of its own.
    let _checkpointer =
        xmpp_game_bridge::store::Checkpointer::start(&dir.path().join("bridge.sqlite")).unwrap();
    let requests: Vec<Element> = (0..HOSTS).map(invite).collect();
    let mut group = c.benchmark_group("invites");
    create(&mut group, "create_5_invitees", &mut core, &requests);
    // Answers come in while other invites wait: a round of invites is made (untimed),
    // then each of their invitations is answered in turn (timed), and the round's
    // invites are cancelled before the next.
    let mut waiting: Vec<Element> = Vec::new();
    let mut round: Vec<Element> = Vec::new();
    group.bench_function("answer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if waiting.is_empty() {
                    for reply in round.drain(..) {
                        cancel(&mut core, &reply);
                    }
                    // Each host invites once a round: the clock moves as in the
                    // benchmark above, 2 s per invite.
                    for _ in 0..HOSTS {
                        tick();
                    }
                    for request in &requests {
                        let out = core.handle(Input::Stanza(request.clone()), now());
                        let messages = sends(&out);
                        assert_eq!(messages.len(), 1 + INVITEES, "{}", String::from(&messages[0]));
                        round.push(messages[0].clone());
                        for invitation in &messages[1..] {
                            let to = invitation.attr("to").unwrap();
                            let prompt = invitation
                                .get_child("x", "jabber:x:data")
                                .and_then(|x| x.children().find(|f| f.attr("var") == Some("prompt")))
                                .map(|f| f.children().map(|v| v.text()).collect::<String>())
                                .unwrap();
                            waiting.push(
                                format!(
                                    "<message xmlns='jabber:component:accept' type='chat' from='{to}/pc' to='game.example.test'><body>accept {prompt}</body></message>"
                                )
                                .parse()
                                .unwrap(),
                            );
                        }
                    }
                    // The round's batched writes, before the answers are timed.
                    core.handle(Input::Tick, now() + Duration::from_secs(1));
                }
                let answer = waiting.pop().unwrap();
                let start = Instant::now();
                let out = core.handle(Input::Stanza(answer), now() + Duration::from_secs(1));
                total += start.elapsed();
                assert_eq!(sends(&out).len(), 3);
                drop(black_box(out));
            }
            total
        })
    });
    group.finish();
}

/// The database for `create_5_invitees_postgres`, emptied: its URL.
fn postgres() -> (
    String,
    Option<xmpp_game_bridge::store::testkit::TestDatabase>,
) {
    let (url, kept) = match std::env::var("XMPP_GAME_BRIDGE_BENCH_PG") {
        Ok(url) => (url, None),
        Err(_) => {
            let db = xmpp_game_bridge::store::testkit::database().unwrap();
            (db.url.clone(), Some(db))
        }
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .unwrap();
    (url, kept)
}

fn invites_postgres(c: &mut Criterion) {
    let (url, _db) = postgres();
    let store = Store::open_at(&Location::Postgres(url)).unwrap();
    let mut core = bridge(store, true);
    let requests: Vec<Element> = (0..HOSTS).map(invite).collect();
    let mut group = c.benchmark_group("invites");
    create(
        &mut group,
        "create_5_invitees_postgres",
        &mut core,
        &requests,
    );
    group.finish();
}

/// Times `core` creating invites, the hosts of `requests` taking turns; each is cancelled
/// (untimed) so that its host may invite the same people again.
fn create(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    core: &mut Bridge,
    requests: &[Element],
) {
    let mut turn = 0usize;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                turn = (turn + 1) % HOSTS;
                tick();
                // What the last turn left for the batched writes (last-seen times,
                // disclosure records, invitations sent) is written now, as the core
                // does every 250 ms: shared by every invite of that interval, it is
                // not this invite's cost.
                core.handle(Input::Tick, now());
                let request = requests[turn].clone();
                let start = Instant::now();
                let out = core.handle(Input::Stanza(request), now());
                total += start.elapsed();
                let reply = sends(&out)[0].clone();
                assert_eq!(sends(&out).len(), 1 + INVITEES, "{}", String::from(&reply));
                drop(black_box(out));
                cancel(core, &reply);
            }
            total
        })
    });
}

criterion_group!(benches, invites, invites_postgres);
criterion_main!(benches);
