//! Conversation activity (tier 2 of active peers): who exchanged chat messages with whom
//! and when, as reported by the Prosody module `mod_game_bridge_activity` shipped in
//! `component-config/`.
//!
//! The module sends, from the virtual host's JID, at most once per pair per interval:
//! ```xml
//! <message from='example.test' to='game.example.test'>
//!   <activity xmlns='urn:xmpp-game-bridge:activity:1'>
//!     <exchange by='alice@example.test' with='bob@example.test' at='2026-11-21T05:14:00Z'/>
//!   </activity>
//! </message>
//! ```
//! and advertises the feature [`NS`] in the host's disco#info, which is how the component
//! learns that the module is installed.

use std::collections::HashMap;
use std::str::FromStr;

use minidom::Element;
use xmpp_parsers::date::DateTime;

use super::interner::UserId;

pub const NS: &str = "urn:xmpp-game-bridge:activity:1";

/// Partners remembered per user; older ones fall off (they are long outside any window).
const MAX_PARTNERS: usize = 32;

/// One reported exchange of messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub by: String,
    pub with: String,
    /// Seconds since the Unix epoch.
    pub at: u32,
}

/// Reads the exchanges in an activity notification; malformed entries are skipped.
pub fn parse(message: &Element) -> Option<Vec<Exchange>> {
    let activity = message.get_child("activity", NS)?;
    Some(
        activity
            .children()
            .filter(|c| c.is("exchange", NS))
            .filter_map(|c| {
                let at = DateTime::from_str(c.attr("at")?).ok()?.0.timestamp();
                Some(Exchange {
                    by: c.attr("by")?.to_owned(),
                    with: c.attr("with")?.to_owned(),
                    at: u32::try_from(at).ok()?,
                })
            })
            .collect(),
    )
}

#[derive(Default)]
pub struct Activity {
    partners: HashMap<UserId, Vec<(UserId, u32)>>,
}

impl Activity {
    /// Records an exchange between `a` and `b` at `at` (both directions).
    pub fn record(&mut self, a: UserId, b: UserId, at: u32) {
        if a == b {
            return;
        }
        self.note(a, b, at);
        self.note(b, a, at);
    }

    fn note(&mut self, user: UserId, partner: UserId, at: u32) {
        let list = self.partners.entry(user).or_default();
        match list.iter_mut().find(|(p, _)| *p == partner) {
            Some(entry) => entry.1 = entry.1.max(at),
            None => {
                if list.len() == MAX_PARTNERS {
                    if let Some(oldest) = list
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, t))| *t)
                        .map(|(i, _)| i)
                    {
                        list.swap_remove(oldest);
                    }
                }
                list.push((partner, at));
            }
        }
    }

    /// When `user` and `partner` last exchanged messages, if known.
    pub fn last_exchange(&self, user: UserId, partner: UserId) -> Option<u32> {
        self.partners
            .get(&user)?
            .iter()
            .find(|(p, _)| *p == partner)
            .map(|(_, t)| *t)
    }

    /// Forgets exchanges older than `before`, to keep memory bounded.
    pub fn prune(&mut self, before: u32) {
        self.partners.retain(|_, list| {
            list.retain(|(_, t)| *t >= before);
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_parses_into_exchanges() {
        let el: Element =
            "<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>\
            <activity xmlns='urn:xmpp-game-bridge:activity:1'>\
            <exchange by='alice@example.test' with='bob@example.test' at='2026-11-21T05:14:00Z'/>\
            <exchange by='x' at='2026-11-21T05:14:00Z'/>\
            </activity></message>"
                .parse()
                .unwrap();
        let exchanges = parse(&el).unwrap();
        assert_eq!(
            exchanges,
            vec![Exchange {
                by: "alice@example.test".into(),
                with: "bob@example.test".into(),
                at: 1_795_238_040,
            }]
        );
    }

    #[test]
    fn exchanges_count_both_ways_and_keep_the_latest() {
        let mut activity = Activity::default();
        let (a, b) = (UserId(1), UserId(2));
        activity.record(a, b, 100);
        activity.record(b, a, 50);
        assert_eq!(activity.last_exchange(a, b), Some(100));
        assert_eq!(activity.last_exchange(b, a), Some(100));
        activity.prune(101);
        assert_eq!(activity.last_exchange(a, b), None);
    }

    #[test]
    fn partner_list_is_bounded() {
        let mut activity = Activity::default();
        for p in 0..100 {
            activity.record(UserId(0), UserId(1000 + p), p);
        }
        assert_eq!(activity.partners[&UserId(0)].len(), MAX_PARTNERS);
        assert_eq!(activity.last_exchange(UserId(0), UserId(1099)), Some(99));
        assert_eq!(activity.last_exchange(UserId(0), UserId(1000)), None);
    }
}
