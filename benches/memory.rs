//! Memory of the directory, counted by a counting global allocator (bytes requested,
//! not pages touched): bytes per online resource with 100,000 users online (target:
//! ≤ 200, a typical status text included), and the roster cache staying inside its
//! configured budget.
//!
//! Run: `cargo bench --bench memory`.

// A benchmark that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The one unsafe block of the project: a global allocator must be `unsafe impl`. It only
// forwards to the system allocator and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::str::FromStr;
use std::sync::atomic::{AtomicIsize, Ordering};

use xmpp_game_bridge::directory::presence::{Availability, PresenceUpdate, StatusTexts};
use xmpp_game_bridge::directory::roster::RosterCache;
use xmpp_game_bridge::directory::{Directory, DirectoryConfig, UserId};
use xmpp_parsers::jid::BareJid;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const ONLINE: usize = 100_000;
const STATUS: &str = "on a business trip in Nanjing";

fn main() {
    // Criterion-style arguments (`--bench`) are accepted and ignored.
    let names: Vec<(String, String)> = (0..ONLINE)
        .map(|i| {
            (
                format!("user{i}@example.test"),
                format!("phone-{:04x}", i % 65_536),
            )
        })
        .collect();

    let before = live();
    let mut directory = Directory::new(
        DirectoryConfig::default(),
        &[BareJid::from_str("example.test").unwrap()],
    );
    directory.link_up();
    for (i, (user, resource)) in names.iter().enumerate() {
        let update = PresenceUpdate::Available {
            availability: if i % 3 == 0 {
                Availability::Away
            } else {
                Availability::Chat
            },
            priority: 0,
            status: StatusTexts::Plain(STATUS.into()),
        };
        directory.apply(user, resource, update, 1_800_000_000);
    }
    let used = live() - before;
    assert_eq!(directory.online_resources(), ONLINE);
    println!(
        "directory: {ONLINE} users online, one resource each, status {:?} ({} bytes)",
        STATUS,
        STATUS.len()
    );
    println!(
        "directory: {} bytes in all, {:.1} bytes per online resource (target: <= 200)",
        used,
        used as f64 / ONLINE as f64
    );

    // The roster cache: 3,000 rosters of 1,000 mutual contacts offered to an 8 MiB budget.
    let budget = 8 << 20;
    let before = live();
    let mut cache = RosterCache::new(budget);
    for user in 0..3_000u32 {
        let contacts: Vec<UserId> = (0..1_000).map(|c| UserId(user * 7 + c)).collect();
        cache.insert(UserId(user), contacts, 1_800_000_000);
    }
    let used = live() - before;
    println!(
        "roster cache: budget {} bytes; offered {} rosters of 1,000 contacts; kept {}, accounted {} bytes, allocated {} bytes, evicted {}",
        budget,
        3_000,
        cache.len(),
        cache.used_bytes(),
        used,
        cache.evictions
    );
    assert!(
        cache.used_bytes() <= budget,
        "the roster cache is over its budget"
    );
    assert!(
        used as usize <= budget + budget / 10,
        "the roster cache allocates more than it accounts for"
    );
    drop(directory);
}
