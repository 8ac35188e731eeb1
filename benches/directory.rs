//! The directory's hot paths, measured on the core itself (no sockets):
//!
//! - `presence/apply`: an already-parsed forwarded presence into the directory, with the
//!   duplicates ejabberd sends (target: ≥ 1,000,000 per second);
//! - `presence/from_bytes`: bytes → element (rxml, the parser the transport uses)
//!   → core → directory (target: ≥ 100,000 per second), through the transport's reader;
//! - `peers/50_contacts_20_active` and `peers/1000_contacts_20_active`: the core handling
//!   a parsed `peers` request, reply element out (targets: ≤ 40 µs and ≤ 150 µs).
//!
//! Run: `cargo bench --bench directory`.

// A benchmark that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use minidom::Element;
use xmpp_game_bridge::admin::NewPlatform;
use xmpp_game_bridge::config::{AccessConfig, ConsentPolicy};
use xmpp_game_bridge::core::rate::Rate;
use xmpp_game_bridge::core::{Core, CoreConfig, Input, Output};
use xmpp_game_bridge::directory::activity::ReportKey;
use xmpp_game_bridge::directory::presence::{self, Availability, PresenceUpdate, StatusTexts};
use xmpp_game_bridge::directory::{Directory, DirectoryConfig};
use xmpp_game_bridge::store::Store;
use xmpp_game_bridge::transport::reader::{ReaderLimits, StreamEvent, StreamReader};
use xmpp_game_bridge::wire::parse_stanza;
use xmpp_parsers::jid::BareJid;

/// The allocator the binary uses (see `src/main.rs`), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 10_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn presence_xml(user: usize, show: &str) -> String {
    format!(
        "<presence xmlns='jabber:component:accept' from='user{user}@example.test/phone' to='game.example.test'>\
         <show>{show}</show><priority>5</priority><status>on a business trip in Nanjing</status></presence>"
    )
}

fn apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("presence");
    group.throughput(Throughput::Elements(1));
    let mut directory = Directory::new(
        DirectoryConfig::default(),
        &[BareJid::from_str("example.test").unwrap()],
    );
    directory.link_up();
    let names: Vec<String> = (0..USERS)
        .map(|i| format!("user{i}@example.test"))
        .collect();
    let shows = [
        Availability::Chat,
        Availability::Away,
        Availability::Away,
        Availability::Dnd,
    ];
    // Each update is applied four times in a row on average: the duplicates of ejabberd.
    let mut i = 0usize;
    group.bench_function("apply", |b| {
        b.iter_batched(
            || {
                i = i.wrapping_add(1);
                let user = (i / 4) % USERS;
                let update = PresenceUpdate::Available {
                    availability: shows[(i / (4 * USERS)) % shows.len()],
                    priority: 5,
                    status: StatusTexts::Plain("on a business trip in Nanjing".into()),
                };
                (user, update)
            },
            |(user, update)| {
                black_box(directory.apply(&names[user], "phone", update, 1_800_000_000));
            },
            BatchSize::SmallInput,
        )
    });

    let mut core = linked_core();
    let stanzas: Vec<Vec<u8>> = (0..USERS)
        .flat_map(|u| [presence_xml(u, "chat"), presence_xml(u, "away")])
        .map(String::into_bytes)
        .collect();
    let mut n = 0usize;
    // The transport's reader, as on a link: one stream, stanza after stanza.
    let mut reader = StreamReader::new(ReaderLimits::default());
    let mut events = Vec::new();
    reader
        .feed(b"<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='1'>", false, &mut events)
        .unwrap();
    let mut read = move |bytes: &[u8]| {
        events.clear();
        reader.feed(bytes, false, &mut events).unwrap();
        match events.pop() {
            Some(StreamEvent::Stanza(element)) => element,
            other => panic!("{other:?}"),
        }
    };
    group.bench_function("from_bytes", |b| {
        b.iter(|| {
            n = (n + 1) % stanzas.len();
            let element = read(&stanzas[n]);
            black_box(core.handle(Input::Stanza(element), now()));
        })
    });
    // The parse alone, for comparison with the whole path.
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            n = (n + 1) % stanzas.len();
            let element = read(&stanzas[n]);
            black_box(presence::parse(&element, 300).unwrap());
        })
    });
    group.finish();
}

/// A core with the link up and the privileges granted.
fn linked_core() -> Core {
    let config = CoreConfig {
        component: BareJid::from_str("game.example.test").unwrap(),
        name: "Game bridge".to_owned(),
        domains: vec![BareJid::from_str("example.test").unwrap()],
        admins: vec![],
        access: AccessConfig::default(),
        // Written before consent existed: every user is visible unless they say no.
        consent: ConsentPolicy::OptOut,
        audit_days: 90,
        rights: Default::default(),
        iq_timeout: Duration::from_secs(30),
        command_session: Duration::from_secs(600),
        directory: DirectoryConfig::default(),
        max_stanza_bytes: 256 * 1024,
        activity_key: ReportKey::derive("s3cret"),
        // The clock stands still here: with real rates every request after the first
        // burst would be refused, and the figures would time the refusal.
        platform_rate: Rate::per_sec(u32::MAX),
        other_rate: Rate::per_sec(u32::MAX),
        sessions_api: false,
        page: None,
        salt: 0,
    };
    let store = Store::open_in_memory().unwrap();
    let arcade = NewPlatform::authorized("arcade@example.test");
    xmpp_game_bridge::daemon::seed_registry(&store, &[arcade]);
    let mut core = Core::new(config, store, now(), 1);
    core.handle(Input::Connected, now());
    let advert: Element =
        "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
        <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
        <perm access='presence' type='roster'/></privilege></message>"
            .parse()
            .unwrap();
    core.handle(Input::Stanza(advert), now());
    core
}

/// A core where user0 is online with `contacts` mutual contacts, `active` of them available.
fn core_with_contacts(contacts: usize, active: usize) -> (Core, Element) {
    let mut core = linked_core();
    let stanza = |xml: String| Input::Stanza(xml.parse().unwrap());
    core.handle(stanza(presence_xml(0, "chat")), now());
    for c in 1..=contacts {
        let show = if c <= active { "chat" } else { "away" };
        core.handle(stanza(presence_xml(c, show)), now());
    }
    let request: Element = "<iq xmlns='jabber:component:accept' type='set' id='p1' from='arcade@example.test/engine' to='game.example.test'>\
        <command xmlns='http://jabber.org/protocol/commands' node='peers' action='execute'>\
        <x xmlns='jabber:x:data' type='submit'><field var='jid'><value>user0@example.test</value></field></x>\
        </command></iq>"
        .parse()
        .unwrap();
    // The first request fetches the roster; answer it so that later ones are served at once.
    let out = core.handle(Input::Stanza(request.clone()), now());
    let fetch = out
        .iter()
        .find_map(|o| match o {
            Output::Send(stanza) => parse_stanza(stanza)
                .ok()
                .filter(|el| el.attr("to") == Some("user0@example.test")),
            _ => None,
        })
        .expect("a roster fetch");
    let items: String = (1..=contacts)
        .map(|c| format!("<item jid='user{c}@example.test' subscription='both'/>"))
        .collect();
    let roster = format!(
        "<iq xmlns='jabber:component:accept' type='result' id='{}' from='user0@example.test' to='game.example.test'>\
         <query xmlns='jabber:iq:roster'>{items}</query></iq>",
        fetch.attr("id").unwrap()
    );
    let answered = core.handle(stanza(roster), now());
    assert!(answered
        .iter()
        .any(|o| matches!(o, Output::Send(stanza) if parse_stanza(stanza).is_ok_and(|el| el.attr("id") == Some("p1")))));
    (core, request)
}

fn peers(c: &mut Criterion) {
    let mut group = c.benchmark_group("peers");
    for (contacts, active) in [(50, 0), (50, 20), (1000, 20)] {
        let (mut core, request) = core_with_contacts(contacts, active);
        // Check once that the answer is the one being measured.
        let out = core.handle(Input::Stanza(request.clone()), now());
        let Some(Output::Send(reply)) = out.first() else {
            panic!("no reply");
        };
        let reply = parse_stanza(reply).unwrap();
        let form = reply
            .get_child("command", "http://jabber.org/protocol/commands")
            .and_then(|c| c.get_child("x", "jabber:x:data"))
            .unwrap();
        assert_eq!(
            form.children().filter(|c| c.name() == "item").count(),
            active
        );
        group.bench_function(format!("{contacts}_contacts_{active}_active"), |b| {
            b.iter_custom(|iters| timed_handles(&mut core, &request, iters))
        });
        // The same request asking for the compact answer.
        let compact: Element = String::from(&request)
            .replace(
                "</field></x>",
                "</field><field var='format'><value>compact</value></field></x>",
            )
            .parse()
            .unwrap();
        let out = core.handle(Input::Stanza(compact.clone()), now());
        let Some(Output::Send(reply)) = out.first() else {
            panic!("no reply");
        };
        assert!(reply.contains("urn:xmpp-game-bridge:compact:1"), "{reply}");
        assert_eq!(reply.matches("<peer ").count(), active, "{reply}");
        group.bench_function(
            format!("{contacts}_contacts_{active}_active_compact"),
            |b| b.iter_custom(|iters| timed_handles(&mut core, &compact, iters)),
        );
    }
    group.finish();
}

/// Times `core.handle` alone: the request is cloned before the clock starts, and the
/// reply is dropped after it stops, as the transport frees it once sent. (Keeping every
/// reply of a batch alive, as `iter_batched` does, would measure cold memory instead.)
fn timed_handles(core: &mut Core, request: &Element, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let request = request.clone();
        let start = std::time::Instant::now();
        let out = core.handle(Input::Stanza(request), now());
        total += start.elapsed();
        drop(black_box(out));
    }
    total
}

/// The fixed cost of any request through the core, for comparison.
fn ping(c: &mut Criterion) {
    let mut core = linked_core();
    let request: Element = "<iq xmlns='jabber:component:accept' type='get' id='p1' from='arcade@example.test/engine' to='game.example.test'><ping xmlns='urn:xmpp:ping'/></iq>".parse().unwrap();
    c.bench_function("baseline/ping", |b| {
        b.iter_custom(|iters| timed_handles(&mut core, &request, iters))
    });
}

criterion_group!(benches, apply, peers, ping);
criterion_main!(benches);
