//! Rosters, read with privileged roster gets (XEP-0356 `roster` permission, RFC 6121 §2)
//! and cached by the directory.
//!
//! Neither packaged server pushes roster changes to the component, so a cached roster is
//! refreshed when it may have changed: when its user logs in, and when it is older than
//! the configured age. Only mutual contacts (`subscription='both'`) are kept: they are
//! what makes a contact a chat peer. The cache is bounded by a byte budget and evicts the
//! rosters used least recently.

use std::cell::Cell;
use std::collections::HashMap;

use minidom::Element;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::ns;

use super::interner::{Interner, UserId};

/// Roster refusals remembered at once.
const MAX_REFUSALS: usize = 10_000;

pub struct Roster {
    /// The user's mutual contacts.
    pub mutual: Box<[UserId]>,
    /// Seconds since the Unix epoch when the server sent it.
    pub fetched_at: u32,
    /// The user logged in since: the roster may have changed on another client.
    pub stale: bool,
    /// When it was last used, by the cache's clock: a read marks it without needing
    /// the cache mutably, so answers read the directory through a shared reference.
    last_used: Cell<u64>,
}

impl Roster {
    fn cost(&self) -> usize {
        cost(self.mutual.len())
    }
}

/// Approximate bytes a roster of `len` mutual contacts occupies in the cache.
fn cost(len: usize) -> usize {
    len * std::mem::size_of::<UserId>() + std::mem::size_of::<Roster>() + 48
}

pub struct RosterCache {
    budget: usize,
    used: usize,
    clock: Cell<u64>,
    entries: HashMap<UserId, Roster>,
    /// Why the server refused a user's roster (its error condition), until it sends one;
    /// at most [`MAX_REFUSALS`].
    refused: HashMap<UserId, String>,
    pub evictions: u64,
}

impl RosterCache {
    pub fn new(budget_bytes: usize) -> RosterCache {
        RosterCache {
            budget: budget_bytes,
            used: 0,
            clock: Cell::new(0),
            entries: HashMap::new(),
            refused: HashMap::new(),
            evictions: 0,
        }
    }

    /// The cached roster, if any, marking it used.
    pub fn get(&self, user: UserId) -> Option<&Roster> {
        let clock = self.tick();
        self.entries.get(&user).inspect(|r| r.last_used.set(clock))
    }

    fn tick(&self) -> u64 {
        let clock = self.clock.get() + 1;
        self.clock.set(clock);
        clock
    }

    pub fn peek(&self, user: UserId) -> Option<&Roster> {
        self.entries.get(&user)
    }

    /// A roster that can be used as it is: present, not stale, not older than `max_age`.
    pub fn is_fresh(&self, user: UserId, now: u32, max_age: u32) -> bool {
        self.entries
            .get(&user)
            .is_some_and(|r| !r.stale && now.saturating_sub(r.fetched_at) <= max_age)
    }

    pub fn insert(&mut self, user: UserId, mutual: Vec<UserId>, now: u32) {
        self.refused.remove(&user);
        let roster = Roster {
            mutual: mutual.into_boxed_slice(),
            fetched_at: now,
            stale: false,
            last_used: Cell::new(self.tick()),
        };
        self.used += roster.cost();
        if let Some(old) = self.entries.insert(user, roster) {
            self.used = self.used.saturating_sub(old.cost());
        }
        self.evict(user);
    }

    /// The server answered the roster get with an error `condition`.
    pub fn refuse(&mut self, user: UserId, condition: String) {
        // Only for the error text of the next request; forgotten wholesale at the cap.
        if self.refused.len() >= MAX_REFUSALS && !self.refused.contains_key(&user) {
            self.refused.clear();
        }
        self.refused.insert(user, condition);
    }

    /// The condition of the server's last refusal of this user's roster, if any.
    pub fn refusal(&self, user: UserId) -> Option<&str> {
        self.refused.get(&user).map(String::as_str)
    }

    pub fn mark_stale(&mut self, user: UserId) {
        if let Some(r) = self.entries.get_mut(&user) {
            r.stale = true;
        }
    }

    /// Drops least recently used rosters until the cache fits its budget (keeping `keep`,
    /// the one just fetched, even if it alone is over budget: it is about to be used).
    fn evict(&mut self, keep: UserId) {
        if self.used <= self.budget {
            return;
        }
        let mut by_age: Vec<(u64, UserId)> = self
            .entries
            .iter()
            .filter(|(id, _)| **id != keep)
            .map(|(id, r)| (r.last_used.get(), *id))
            .collect();
        by_age.sort_unstable();
        // Evict down to 90% so that a full cache does not evict on every insert.
        let target = self.budget / 10 * 9;
        for (_, id) in by_age {
            if self.used <= target {
                break;
            }
            if let Some(r) = self.entries.remove(&id) {
                self.used = self.used.saturating_sub(r.cost());
                self.evictions += 1;
            }
        }
    }

    pub fn used_bytes(&self) -> usize {
        self.used
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The mutual contacts in a roster result (`<query xmlns='jabber:iq:roster'>`).
pub fn mutual_contacts(result: &Element, interner: &mut Interner) -> Vec<UserId> {
    let Some(query) = result.get_child("query", ns::ROSTER) else {
        return Vec::new();
    };
    query
        .children()
        .filter(|item| item.is("item", ns::ROSTER) && item.attr("subscription") == Some("both"))
        .filter_map(|item| item.attr("jid"))
        // Contacts are bare JIDs; anything else in a roster is not a chat peer.
        .filter(|jid| !jid.contains('/'))
        // As presence names them: a roster may keep a JID as it was typed
        // (`Bob@Example.org`), presence comes normalised (RFC 7622).
        .filter_map(|jid| BareJid::new(jid).ok())
        .map(|jid| interner.intern(jid.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mutual_contacts_are_kept() {
        let result: Element =
            "<iq xmlns='jabber:component:accept' type='result'><query xmlns='jabber:iq:roster'>\
            <item jid='bob@example.test' subscription='both'/>\
            <item jid='carol@example.test' subscription='to'/>\
            <item jid='dave@example.test' subscription='from'/>\
            <item jid='erin@example.test' subscription='none' ask='subscribe'/>\
            <item jid='frank@other.example' subscription='both'><group>Friends</group></item>\
            </query></iq>"
                .parse()
                .unwrap();
        let mut interner = Interner::new();
        let mutual = mutual_contacts(&result, &mut interner);
        let names: Vec<&str> = mutual.iter().map(|id| interner.name(*id)).collect();
        assert_eq!(names, vec!["bob@example.test", "frank@other.example"]);
    }

    #[test]
    fn contacts_are_named_as_presence_names_them() {
        let result: Element =
            "<iq xmlns='jabber:component:accept' type='result'><query xmlns='jabber:iq:roster'>\
            <item jid='Bob@Example.test' subscription='both'/>\
            <item jid='not a jid@@' subscription='both'/>\
            </query></iq>"
                .parse()
                .unwrap();
        let mut interner = Interner::new();
        let mutual = mutual_contacts(&result, &mut interner);
        let names: Vec<&str> = mutual.iter().map(|id| interner.name(*id)).collect();
        assert_eq!(names, vec!["bob@example.test"]);
    }

    #[test]
    fn empty_result_for_an_unknown_user_is_an_empty_roster() {
        let result: Element = "<iq xmlns='jabber:component:accept' type='result'><query xmlns='jabber:iq:roster'/></iq>".parse().unwrap();
        assert!(mutual_contacts(&result, &mut Interner::new()).is_empty());
    }

    #[test]
    fn freshness_follows_age_and_logins() {
        let mut cache = RosterCache::new(1 << 20);
        let alice = UserId(1);
        cache.insert(alice, vec![UserId(2)], 1000);
        assert!(cache.is_fresh(alice, 1300, 300));
        assert!(!cache.is_fresh(alice, 1301, 300));
        cache.mark_stale(alice);
        assert!(!cache.is_fresh(alice, 1000, 300));
        assert!(!cache.is_fresh(UserId(9), 1000, 300));
    }

    #[test]
    fn budget_evicts_least_recently_used_rosters() {
        // Room for about three rosters of 1,000 contacts.
        let mut cache = RosterCache::new(3 * cost(1000) + 10);
        for user in 0..3 {
            cache.insert(UserId(user), vec![UserId(100); 1000], 0);
        }
        cache.get(UserId(0)); // 0 is now more recent than 1 and 2
        cache.insert(UserId(3), vec![UserId(100); 1000], 0);
        assert!(cache.used_bytes() <= 3 * cost(1000) + 10);
        assert!(
            cache.peek(UserId(0)).is_some(),
            "recently used roster was evicted"
        );
        assert!(
            cache.peek(UserId(3)).is_some(),
            "the new roster was evicted"
        );
        assert!(cache.peek(UserId(1)).is_none());
        assert!(cache.evictions >= 1);
    }

    #[test]
    fn a_roster_of_ten_thousand_contacts_is_cached() {
        let mut interner = Interner::new();
        let mut xml = String::from(
            "<iq xmlns='jabber:component:accept' type='result'><query xmlns='jabber:iq:roster'>",
        );
        for i in 0..10_000 {
            xml.push_str(&format!(
                "<item jid='c{i}@example.test' subscription='both'/>"
            ));
        }
        xml.push_str("</query></iq>");
        let el: Element = xml.parse().unwrap();
        let mutual = mutual_contacts(&el, &mut interner);
        assert_eq!(mutual.len(), 10_000);
        let mut cache = RosterCache::new(1 << 20);
        cache.insert(UserId(0), mutual, 0);
        assert_eq!(cache.get(UserId(0)).unwrap().mutual.len(), 10_000);
    }
}
