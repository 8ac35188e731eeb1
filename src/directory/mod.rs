//! The directory: who is online and how available, who their mutual contacts are, and
//! whom they are in conversation with, as far as the component can see it.
//!
//! Sources:
//! - presence forwarded by the server under XEP-0356 (`presence` permission), kept in
//!   memory per resource ([`presence`]);
//! - rosters read with privileged roster gets, cached under a byte budget ([`roster`]);
//! - conversation activity from the optional Prosody module ([`activity`]).
//!
//! Staleness: each link-up starts a new *epoch*. What the directory heard before is not
//! trusted after a reconnect: a user is reported from what was heard in the current epoch,
//! or as `unknown`. Prosody replays every online user's presence at connect, so once the
//! replay is over (the answer to the version query sent at link-up arrives after it, on
//! the same stream), users it did not mention are known to be offline. ejabberd 23.01 does
//! not replay: users not heard from since the reconnect stay `unknown`, never guessed.

pub mod activity;
pub mod grants;
pub mod ingest;
pub mod interner;
pub mod peers;
pub mod presence;
pub mod roster;
pub mod self_status;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xmpp_parsers::jid::BareJid;

use crate::xep::privilege::Privilege;
use activity::Activity;
use grants::ServerFamily;
pub use interner::{Interner, UserId};
use presence::{Availability, PresenceUpdate, Resource, StatusTexts};
use roster::RosterCache;

/// Seconds since the Unix epoch, the directory's unit of time.
pub fn unix_secs(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

pub fn from_unix_secs(secs: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(secs))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryConfig {
    /// A cached roster older than this is fetched again before use.
    pub roster_max_age: Duration,
    /// Byte budget of the roster cache.
    pub roster_cache_bytes: usize,
    /// Tier 2: peers who exchanged messages within this window are active.
    pub conversation_window: Duration,
    /// Status texts longer than this (in characters) are kept cut, ending in `…`.
    pub max_status_chars: usize,
    /// Online resources kept per user; at the cap, the one unchanged longest is forgotten.
    pub max_resources_per_user: usize,
    /// On a server that does not tell the bridge every departure (ejabberd; other
    /// servers' users), a resource whose presence was not confirmed within this long is
    /// pinged before it is reported, and left out until it answers.
    pub presence_check: Duration,
    /// Whether contacts on other servers may be listed as peers (the operator's privacy
    /// policy; off by default: they never agreed to anything here). Their presence is
    /// kept only then.
    pub remote_peers: bool,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            roster_max_age: Duration::from_secs(300),
            roster_cache_bytes: 64 << 20,
            conversation_window: Duration::from_secs(900),
            max_status_chars: 300,
            max_resources_per_user: 16,
            presence_check: Duration::from_secs(60),
            remote_peers: false,
        }
    }
}

/// What the component knows of one served virtual host.
#[derive(Debug, Clone)]
pub struct Domain {
    pub jid: BareJid,
    /// Server software (XEP-0092), learned at link-up.
    pub software: Option<String>,
    /// The XEP-0356 advertisement received in the current epoch, if any.
    pub privilege: Option<Privilege>,
    /// The name in the domain's disco#info identity (category `server`), learned at link-up.
    pub identity: Option<String>,
    /// Whether the conversation module answered disco#info with its feature.
    pub activity_module: Option<bool>,
    /// The tier last announced in the log (said again only when it changes).
    pub tier_announced: Option<bool>,
    /// The epoch whose connect-time presence replay is known to be complete.
    replay_done_epoch: u32,
    /// The epoch in which the server's grants are known: its advertisement, if any,
    /// comes before its answer to the version query sent at link-up.
    grants_settled_epoch: u32,
}

impl Domain {
    fn new(jid: BareJid) -> Domain {
        Domain {
            jid,
            software: None,
            identity: None,
            privilege: None,
            activity_module: None,
            tier_announced: None,
            replay_done_epoch: 0,
            grants_settled_epoch: 0,
        }
    }

    /// Which server serves the domain, and how the bridge knows, told by what only the
    /// server can say: its software (XEP-0092), else its disco identity, else the
    /// privilege namespace it advertised. Never by a `<delay/>`, which any user can put
    /// in a presence.
    pub fn family(&self) -> (ServerFamily, &'static str) {
        let named = |name: &Option<String>| {
            name.as_deref()
                .map(ServerFamily::from_name)
                .filter(|f| *f != ServerFamily::Unknown)
        };
        if let Some(family) = named(&self.software) {
            return (family, "its software version");
        }
        if let Some(family) = named(&self.identity) {
            return (family, "its disco identity");
        }
        match ServerFamily::from_privilege(self.privilege.as_ref()) {
            ServerFamily::Unknown => (ServerFamily::Unknown, "nothing it said"),
            family => (family, "its privilege namespace"),
        }
    }

    /// Prosody replays the presence of online users when a component connects.
    pub fn replays_presence(&self) -> bool {
        self.family().0 == ServerFamily::Prosody
    }
}

impl Directory {
    /// Whether `domain`'s server replays presence at connect, as far as is known now.
    pub fn replays_presence(&self, domain: &str) -> bool {
        self.domains
            .iter()
            .find(|d| d.jid.as_str() == domain)
            .is_some_and(Domain::replays_presence)
    }

    /// The server of `domain` has said all it will say about grants on this link.
    pub fn settle_grants(&mut self, domain: &str) {
        let epoch = self.epoch;
        if let Some(d) = self.domain_mut(domain) {
            d.grants_settled_epoch = epoch;
        }
    }

    /// Whether `domain`'s grants are known on this link (else they may still come).
    pub fn grants_settled(&self, domain: &Domain) -> bool {
        self.epoch > 0 && domain.grants_settled_epoch == self.epoch
    }

    /// Whether presence heard now from `domain` may be the server's connect-time replay,
    /// whose `<delay/>` stamps say when each presence was really sent.
    pub fn in_replay(&self, domain: &str) -> bool {
        self.epoch > 0
            && self
                .domains
                .iter()
                .find(|d| d.jid.as_str() == domain)
                .is_some_and(|d| d.replays_presence() && d.replay_done_epoch != self.epoch)
    }
}

/// One user as the directory keeps them. Kept small: there is one per user ever seen,
/// and a directory of 100,000 online users must stay within about 200 bytes each.
#[derive(Debug, Default)]
struct User {
    /// Exactly as long as needed (resources change only at login and logout; a `Vec`
    /// would reserve room for four on the first push).
    resources: Box<[Resource]>,
    /// The epoch in which the directory last heard a presence of this user.
    seen_epoch: u32,
    /// Seconds since the Unix epoch of the last change to the user's presence.
    changed_at: u32,
    /// When the user went offline, if they did while the component watched; 0 if not.
    last_seen: u32,
    /// Index of the user's domain in [`Directory::domains`], or [`REMOTE`] for a contact
    /// on another server, so that hot paths need no string work to find it.
    domain: u8,
    /// Whether every online resource of the user is known in this epoch: after a replay,
    /// or for users first heard after it. Without that, a user whose last *known*
    /// resource leaves may still be online elsewhere, so they become unknown, not offline.
    complete: bool,
    /// The language the user's client says it speaks (`xml:lang`), as a
    /// [`crate::strings::Lang`] index; 0 (English) until one says otherwise. Fits in the
    /// struct's padding.
    lang: u8,
}

impl User {
    fn last_seen(&self) -> Option<u32> {
        (self.last_seen != 0).then_some(self.last_seen)
    }

    fn add_resource(&mut self, resource: Resource) {
        let mut resources = std::mem::take(&mut self.resources).into_vec();
        resources.reserve_exact(1);
        resources.push(resource);
        self.resources = resources.into_boxed_slice();
    }

    fn remove_resource(&mut self, index: usize) {
        let mut resources = std::mem::take(&mut self.resources).into_vec();
        if index < resources.len() {
            resources.swap_remove(index);
        }
        self.resources = resources.into_boxed_slice();
    }
}

/// A user as the directory sees them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<'a> {
    Online {
        availability: Availability,
        status: &'a StatusTexts,
        /// When the user's presence last changed.
        since: u32,
    },
    /// Offline, with the time they were last seen if the component saw it.
    Offline { last_seen: Option<u32> },
    /// The directory cannot tell (the server has not said since the last reconnect).
    Unknown,
}

/// What applying a presence did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing new (ejabberd forwards one copy per online contact).
    Duplicate,
    Changed,
    /// The user's first resource came online.
    LoggedIn,
    /// The user's last resource went offline.
    LoggedOut,
}

/// A session the server listed (ejabberd's API) whose presence the bridge has not heard:
/// the user is online, how available is not known.
#[derive(Debug)]
struct Silent {
    name: Box<str>,
    confirmed_at: u32,
    checked_at: u32,
}

/// The domain index of users of servers this bridge does not serve.
const REMOTE: u8 = u8::MAX;

/// Users of other servers whose presence is kept before any roster read names them:
/// past this, presence of yet other names from other servers is dropped and counted.
pub const MAX_REMOTE_STRANGERS: usize = 10_000;

/// Devices kept per user of another server (each with its status texts).
pub const MAX_REMOTE_RESOURCES: usize = 4;

/// Last-seen times kept while the database cannot take them.
pub const MAX_PENDING_LAST_SEEN: usize = 100_000;

pub struct Directory {
    pub config: DirectoryConfig,
    interner: Interner,
    users: Vec<User>,
    pub rosters: RosterCache,
    pub activity: Activity,
    pub domains: Vec<Domain>,
    epoch: u32,
    link_down_at: Option<u32>,
    /// Last-seen times not yet written to the database.
    pending_last_seen: Vec<(UserId, u32)>,
    /// Resources forgotten at the per-user cap.
    pub resources_evicted: u64,
    /// Sessions the server listed whose presence was not heard, in this epoch.
    silent: std::collections::HashMap<UserId, Vec<Silent>>,
    /// Users of other servers kept though no roster read so far names them.
    remote_strangers: usize,
    /// Presences of such users not kept, at [`MAX_REMOTE_STRANGERS`].
    pub remote_dropped: u64,
}

impl Directory {
    pub fn new(config: DirectoryConfig, domains: &[BareJid]) -> Directory {
        Directory {
            rosters: RosterCache::new(config.roster_cache_bytes),
            config,
            interner: Interner::new(),
            users: Vec::new(),
            activity: Activity::default(),
            domains: domains.iter().cloned().map(Domain::new).collect(),
            epoch: 0,
            link_down_at: None,
            pending_last_seen: Vec::new(),
            resources_evicted: 0,
            silent: std::collections::HashMap::new(),
            remote_strangers: 0,
            remote_dropped: 0,
        }
    }

    pub fn id(&self, bare: &str) -> Option<UserId> {
        self.interner.get(bare)
    }

    pub fn intern(&mut self, bare: &str) -> UserId {
        self.interner.intern(bare)
    }

    pub fn interner_mut(&mut self) -> &mut Interner {
        &mut self.interner
    }

    pub fn name(&self, id: UserId) -> &str {
        self.interner.name(id)
    }

    /// The language `bare` reads (English until their client says otherwise).
    pub fn lang(&self, bare: &str) -> crate::strings::Lang {
        self.id(bare)
            .and_then(|id| self.users.get(id.0 as usize))
            .map_or(crate::strings::Lang::En, |u| {
                crate::strings::Lang::from_index(u.lang)
            })
    }

    /// Notes the language of a known user's client (from a stanza's `xml:lang`).
    pub fn note_lang(&mut self, bare: &str, tag: &str) {
        let lang = crate::strings::Lang::from_tag(tag);
        if let Some(user) = self
            .id(bare)
            .and_then(|id| self.users.get_mut(id.0 as usize))
        {
            user.lang = lang as u8;
        }
    }

    /// The served domain a bare JID belongs to.
    pub fn domain_of(&self, bare: &str) -> Option<&Domain> {
        self.domain_index(bare)
            .and_then(|i| self.domains.get(usize::from(i)))
    }

    fn domain_index(&self, bare: &str) -> Option<u8> {
        let host = bare.rsplit_once('@').map_or(bare, |(_, host)| host);
        self.domains
            .iter()
            .position(|d| d.jid.as_str() == host)
            .and_then(|i| u8::try_from(i).ok())
            .filter(|&i| i != REMOTE)
    }

    /// Whether `bare` is a user of a server this bridge does not serve.
    pub fn is_remote(&self, bare: &str) -> bool {
        self.domain_index(bare).is_none()
    }

    /// Whether the connect-time replay of this epoch is over for the domain at `index`.
    fn replay_done_for(&self, index: u8) -> bool {
        self.epoch > 0
            && self
                .domains
                .get(usize::from(index))
                .is_some_and(|d| d.replay_done_epoch == self.epoch)
    }

    pub fn domain_mut(&mut self, domain: &str) -> Option<&mut Domain> {
        self.domains.iter_mut().find(|d| d.jid.as_str() == domain)
    }

    /// The link is up: a new epoch begins, and what each domain granted must be heard again.
    pub fn link_up(&mut self) {
        self.epoch += 1;
        for domain in &mut self.domains {
            domain.privilege = None;
        }
        for user in &mut self.users {
            user.complete = false;
        }
        self.silent.clear();
    }

    pub fn link_down(&mut self, now: u32) {
        self.link_down_at = Some(now);
    }

    /// Applies a forwarded presence of `bare`/`resource`.
    pub fn apply(
        &mut self,
        bare: &str,
        resource: &str,
        update: PresenceUpdate,
        now: u32,
    ) -> Applied {
        let domain = match self.domain_index(bare) {
            Some(index) => index,
            // A contact on another server: kept only where the policy lists them.
            None if self.config.remote_peers => REMOTE,
            None => return Applied::Duplicate,
        };
        if domain == REMOTE && self.interner.get(bare).is_none() {
            // Nothing to forget about a name never kept.
            if matches!(update, PresenceUpdate::Unavailable { .. }) {
                return Applied::Duplicate;
            }
            // Names not in any roster the bridge read: anyone on any server can send the
            // component presence, so these are capped.
            if self.remote_strangers >= MAX_REMOTE_STRANGERS {
                self.remote_dropped += 1;
                return Applied::Duplicate;
            }
            self.remote_strangers += 1;
        }
        let id = self.interner.intern(bare);
        let index = id.0 as usize;
        if self.users.len() <= index {
            self.users.resize_with(index + 1, User::default);
        }
        let was_silent = self.take_silent(id, resource);
        let still_silent = self.silent.contains_key(&id);
        let epoch = self.epoch;
        let replay_done = self.replay_done_for(domain);
        let Some(user) = self.users.get_mut(index) else {
            return Applied::Duplicate;
        };
        let fresh_epoch = user.seen_epoch != epoch;
        user.seen_epoch = epoch;
        user.domain = domain;
        if fresh_epoch {
            // Whatever was known before the reconnect is replaced by what is heard now;
            // after the replay, what is heard is all there is.
            user.resources = Box::default();
            user.complete = replay_done;
        }
        match update {
            PresenceUpdate::Available {
                availability,
                priority,
                status,
            } => {
                let was_offline = user.resources.is_empty();
                match user.resources.iter_mut().find(|r| &*r.name == resource) {
                    Some(r) => {
                        r.confirmed_at = r.confirmed_at.max(now);
                        if r.availability == availability
                            && r.priority == priority
                            && r.status == status
                        {
                            return Applied::Duplicate;
                        }
                        r.availability = availability;
                        r.priority = priority;
                        r.status = status;
                        r.changed_at = now;
                    }
                    None => {
                        let cap = match domain {
                            REMOTE => MAX_REMOTE_RESOURCES.min(self.config.max_resources_per_user),
                            _ => self.config.max_resources_per_user,
                        };
                        if user.resources.len() >= cap {
                            // Most likely a device that left without the server telling us.
                            if let Some(stalest) = user
                                .resources
                                .iter()
                                .enumerate()
                                .min_by_key(|(_, r)| r.changed_at)
                                .map(|(i, _)| i)
                            {
                                user.remove_resource(stalest);
                                self.resources_evicted += 1;
                            }
                        }
                        user.add_resource(Resource {
                            name: resource.into(),
                            availability,
                            priority,
                            changed_at: now,
                            confirmed_at: now,
                            checked_at: 0,
                            status,
                        })
                    }
                }
                user.changed_at = now;
                if was_offline {
                    Applied::LoggedIn
                } else {
                    Applied::Changed
                }
            }
            PresenceUpdate::Unavailable { .. } => {
                match user.resources.iter().position(|r| &*r.name == resource) {
                    Some(pos) => user.remove_resource(pos),
                    // A session the server listed, silent until it left.
                    None if was_silent => {}
                    // A resource we did not know of left: nothing learned about the others.
                    None => return Applied::Duplicate,
                }
                user.changed_at = now;
                if user.resources.is_empty() && !still_silent {
                    // Seen online until now, whether or not another device is still on.
                    user.last_seen = now;
                    // Nothing about a remote contact is written down.
                    if domain != REMOTE {
                        self.pending_last_seen.push((id, now));
                    }
                    if user.complete {
                        Applied::LoggedOut
                    } else {
                        Applied::Changed
                    }
                } else {
                    Applied::Changed
                }
            }
        }
    }

    /// Prosody's connect-time replay for `domain` is over: users of that domain it did
    /// not mention are offline (since, at the latest, the link went down).
    pub fn replay_done(&mut self, domain: &str, now: u32) {
        let epoch = self.epoch;
        let Some(d) = self.domains.iter_mut().find(|d| d.jid.as_str() == domain) else {
            return;
        };
        d.replay_done_epoch = epoch;
        let Some(domain_index) = self.domain_index(&format!("x@{domain}")) else {
            return;
        };
        let went_offline_by = self.link_down_at.unwrap_or(now);
        for (index, user) in self.users.iter_mut().enumerate() {
            if user.seen_epoch == 0 || user.domain != domain_index {
                continue;
            }
            if user.seen_epoch == epoch {
                // Mentioned by the replay: every resource of theirs is known.
                user.complete = true;
                continue;
            }
            if user.resources.is_empty() {
                continue;
            }
            user.resources = Box::default();
            user.last_seen = went_offline_by;
            user.changed_at = went_offline_by;
            self.pending_last_seen
                .push((UserId(index as u32), went_offline_by));
        }
    }

    /// Whether any served domain's server leaves departures untold, so that its users'
    /// devices are confirmed before they are reported (see [`Directory::unconfirmed`]).
    pub fn verifies_any(&self) -> bool {
        self.domains.iter().any(|d| !d.replays_presence())
    }

    /// Whether what the directory holds of users of the domain at `index` must be
    /// confirmed before it is reported: the server does not tell every departure.
    fn verifies(&self, index: u8) -> bool {
        !self
            .domains
            .get(usize::from(index))
            .is_some_and(Domain::replays_presence)
    }

    fn check_secs(&self) -> u32 {
        u32::try_from(self.config.presence_check.as_secs()).unwrap_or(u32::MAX)
    }

    /// What the directory can say about `id` at `now`. On a server that does not tell
    /// every departure, only resources confirmed within [`DirectoryConfig::presence_check`]
    /// count: a user whose resources all wait for confirmation is `Unknown`.
    pub fn seen(&self, id: UserId, now: u32) -> Seen<'_> {
        let user = self.users.get(id.0 as usize);
        let replay_done = match user {
            // Entries exist for contacts of other servers too (ids are shared); those were
            // never heard from and have `seen_epoch` 0.
            Some(u) if u.seen_epoch > 0 => self.replay_done_for(u.domain),
            _ => self
                .domain_index(self.interner.name(id))
                .is_some_and(|i| self.replay_done_for(i)),
        };
        match user {
            Some(user) if user.seen_epoch == self.epoch && self.epoch > 0 => {
                let verifies = self.verifies(user.domain);
                let interval = self.check_secs();
                let confirmed = user
                    .resources
                    .iter()
                    .filter(|r| !verifies || now.saturating_sub(r.confirmed_at) < interval);
                match presence::best(confirmed) {
                    Some(best) => Seen::Online {
                        availability: best.availability,
                        status: &best.status,
                        since: user.changed_at,
                    },
                    // Resources the server has not confirmed lately.
                    None if !user.resources.is_empty() || self.silent.contains_key(&id) => {
                        Seen::Unknown
                    }
                    None if user.complete => Seen::Offline {
                        last_seen: user.last_seen(),
                    },
                    None => Seen::Unknown,
                }
            }
            Some(user) if replay_done => Seen::Offline {
                last_seen: user.last_seen(),
            },
            None if replay_done => Seen::Offline { last_seen: None },
            _ => Seen::Unknown,
        }
    }

    /// Whether `id` is `chat` or `available` by every resource the directory holds,
    /// confirmed lately or not: whether confirming them could make `id` an active user.
    pub fn might_be_active(&self, id: UserId) -> bool {
        self.users
            .get(id.0 as usize)
            .filter(|u| u.seen_epoch == self.epoch && self.epoch > 0)
            .and_then(|u| presence::best(u.resources.iter()))
            .is_some_and(|best| best.availability.is_active())
    }

    /// The resources of `id` that must be confirmed before they are reported at `now`,
    /// each with whether a ping may be sent now (it was not pinged within the interval).
    pub fn unconfirmed(&self, id: UserId, now: u32) -> Vec<(Box<str>, bool)> {
        let Some(user) = self.users.get(id.0 as usize) else {
            return Vec::new();
        };
        if user.seen_epoch != self.epoch || !self.verifies(user.domain) {
            return Vec::new();
        }
        let interval = self.check_secs();
        let silent = self.silent.get(&id).map_or(&[][..], Vec::as_slice);
        user.resources
            .iter()
            .map(|r| (&r.name, r.confirmed_at, r.checked_at))
            .chain(
                silent
                    .iter()
                    .map(|s| (&s.name, s.confirmed_at, s.checked_at)),
            )
            .filter(|(_, confirmed_at, _)| now.saturating_sub(*confirmed_at) >= interval)
            .map(|(name, _, checked_at)| {
                let due = checked_at == 0 || now.saturating_sub(checked_at) >= interval;
                (name.clone(), due)
            })
            .collect()
    }

    fn take_silent(&mut self, id: UserId, resource: &str) -> bool {
        let Some(sessions) = self.silent.get_mut(&id) else {
            return false;
        };
        let before = sessions.len();
        sessions.retain(|s| &*s.name != resource);
        let taken = sessions.len() != before;
        if sessions.is_empty() {
            self.silent.remove(&id);
        }
        taken
    }

    fn silent_mut(&mut self, id: UserId, resource: &str) -> Option<&mut Silent> {
        self.silent
            .get_mut(&id)
            .and_then(|sessions| sessions.iter_mut().find(|s| &*s.name == resource))
    }

    /// The server listed every session of `domain` (full JIDs) as of `at`: sessions whose
    /// presence was not heard are kept as silent (their users are online, availability
    /// unknown), and users neither listed nor heard since the link came up are offline.
    /// Returns how many sessions were listed and how many of them were silent.
    pub fn apply_sessions(&mut self, domain: &str, sessions: &[String], at: u32) -> (usize, usize) {
        let Some(index) = self.domain_index(&format!("x@{domain}")) else {
            return (0, 0);
        };
        let epoch = self.epoch;
        let max = self.config.max_resources_per_user;
        let (mut listed, mut silent) = (0, 0);
        for full in sessions {
            let Ok(jid) = xmpp_parsers::jid::FullJid::new(full) else {
                continue;
            };
            let bare = jid.to_bare();
            if self.domain_index(bare.as_str()) != Some(index) {
                continue;
            }
            listed += 1;
            let id = self.interner.intern(bare.as_str());
            let slot = id.0 as usize;
            if self.users.len() <= slot {
                self.users.resize_with(slot + 1, User::default);
            }
            let Some(user) = self.users.get_mut(slot) else {
                continue;
            };
            if user.seen_epoch != epoch {
                user.seen_epoch = epoch;
                user.domain = index;
                user.resources = Box::default();
                user.changed_at = at;
            }
            let resource = jid.resource().as_str();
            if let Some(known) = user.resources.iter_mut().find(|r| &*r.name == resource) {
                // Listed by the server: confirmed as of the listing.
                known.confirmed_at = known.confirmed_at.max(at);
                continue;
            }
            let known = self.silent.entry(id).or_default();
            if known.len() < max && !known.iter().any(|s| &*s.name == resource) {
                known.push(Silent {
                    name: resource.into(),
                    confirmed_at: at,
                    checked_at: 0,
                });
                silent += 1;
            }
        }
        self.replay_done(domain, at);
        (listed, silent)
    }

    fn resource_mut(&mut self, id: UserId, resource: &str) -> Option<&mut Resource> {
        let epoch = self.epoch;
        self.users
            .get_mut(id.0 as usize)
            .filter(|u| u.seen_epoch == epoch)
            .and_then(|u| u.resources.iter_mut().find(|r| &*r.name == resource))
    }

    /// A ping to `resource` of `id` is sent at `now`.
    pub fn checking(&mut self, id: UserId, resource: &str, now: u32) {
        if let Some(r) = self.resource_mut(id, resource) {
            r.checked_at = now;
        } else if let Some(s) = self.silent_mut(id, resource) {
            s.checked_at = now;
        }
    }

    /// The resource itself answered a ping sent at `sent`: it was there then.
    pub fn confirmed(&mut self, id: UserId, resource: &str, sent: u32) {
        if let Some(r) = self.resource_mut(id, resource) {
            r.confirmed_at = r.confirmed_at.max(sent);
        } else if let Some(s) = self.silent_mut(id, resource) {
            s.confirmed_at = s.confirmed_at.max(sent);
        }
    }

    /// Sessions listed by the server whose presence was not heard, over all users.
    pub fn silent_sessions(&self) -> usize {
        self.silent.values().map(Vec::len).sum()
    }

    /// The server answered a ping for the resource: it is gone, as if it had sent
    /// unavailable presence.
    pub fn gone(&mut self, id: UserId, resource: &str, now: u32) -> Applied {
        let name = self.interner.name(id).to_owned();
        let update = PresenceUpdate::Unavailable {
            status: StatusTexts::None,
        };
        self.apply(&name, resource, update, now)
    }

    /// Like [`Directory::seen`] for a bare JID that may never have been interned.
    pub fn seen_by_name(&self, bare: &str, now: u32) -> Seen<'_> {
        match self.interner.get(bare) {
            Some(id) => self.seen(id, now),
            None => self.never_seen(bare),
        }
    }

    /// What the directory says of a user of `bare`'s domain it has never heard of:
    /// `offline` once the server's replay said who is online, else `unknown`. A user who
    /// does not let a platform see them is shown to it exactly so.
    pub fn never_seen(&self, bare: &str) -> Seen<'static> {
        let replay_done = self
            .domain_of(bare)
            .is_some_and(|d| d.replay_done_epoch == self.epoch && self.epoch > 0);
        if replay_done {
            Seen::Offline { last_seen: None }
        } else {
            Seen::Unknown
        }
    }

    /// When `bare` was last seen online, if the directory saw them leave since it started.
    pub fn last_seen_by_name(&self, bare: &str) -> Option<u32> {
        let id = self.interner.get(bare)?;
        self.users.get(id.0 as usize).and_then(User::last_seen)
    }

    /// The best availability of `id`, if online and known.
    pub fn availability(&self, id: UserId, now: u32) -> Option<Availability> {
        match self.seen(id, now) {
            Seen::Online { availability, .. } => Some(availability),
            _ => None,
        }
    }

    /// When `id`'s presence last changed (0 if never seen).
    pub fn changed_at(&self, id: UserId) -> u32 {
        self.users.get(id.0 as usize).map_or(0, |u| u.changed_at)
    }

    /// Last-seen times to write to the database, oldest first; empties the queue.
    pub fn take_last_seen(&mut self) -> Vec<(String, u32)> {
        std::mem::take(&mut self.pending_last_seen)
            .into_iter()
            .map(|(id, at)| (self.interner.name(id).to_owned(), at))
            .collect()
    }

    /// Puts back last-seen times whose write failed, keeping at most
    /// [`MAX_PENDING_LAST_SEEN`] (the oldest are dropped first).
    pub fn requeue_last_seen(&mut self, batch: Vec<(String, u32)>) {
        let mut requeued: Vec<(UserId, u32)> = batch
            .into_iter()
            .map(|(name, at)| (self.interner.intern(&name), at))
            .collect();
        requeued.append(&mut self.pending_last_seen);
        let excess = requeued.len().saturating_sub(MAX_PENDING_LAST_SEEN);
        self.pending_last_seen = requeued.split_off(excess);
    }

    pub fn pending_last_seen(&self) -> usize {
        self.pending_last_seen.len()
    }

    /// Names (bare JIDs) the directory holds: users heard from and their contacts.
    pub fn interned(&self) -> usize {
        self.interner.len()
    }

    /// Online resources, over all users.
    pub fn online_resources(&self) -> usize {
        self.users.iter().map(|u| u.resources.len()).sum()
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }
}

#[cfg(test)]
mod tests;
