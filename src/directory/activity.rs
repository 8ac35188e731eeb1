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
//!
//! **Authentication.** A message from the bare host JID proves little on Prosody: any
//! component granted the `message` privilege can send one from there. So each
//! `<activity/>` carries `mac`, the hex HMAC-SHA256 of its exchanges under a key both
//! sides derive from the component's shared secret (which the module reads from the
//! `Component` block): `key = HMAC-SHA256(secret, NS)`, and the MAC covers
//! `by \n with \n at \n` of each exchange in order. Another component knows neither.
//! A report without a valid MAC is dropped and counted.

use std::collections::HashMap;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use minidom::Element;
use sha2::Sha256;
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

/// Exchanges read from one report, at most; a report with more is refused.
const MAX_EXCHANGES: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// The key that authenticates reports, derived from the component's shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ReportKey([u8; 32]);

impl ReportKey {
    pub fn derive(secret: &str) -> ReportKey {
        ReportKey(hmac(secret.as_bytes(), NS.as_bytes()))
    }
}

impl std::fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportKey(<redacted>)")
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Why an activity report was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error(
        "the report has no valid mac: not from mod_game_bridge_activity with this bridge's secret"
    )]
    BadMac,
    #[error("the report lists more than {MAX_EXCHANGES} exchanges")]
    TooMany,
}

/// Reads the exchanges in an activity notification (`None`: not one), after checking its
/// MAC; malformed entries are skipped.
pub fn parse(message: &Element, key: &ReportKey) -> Option<Result<Vec<Exchange>, ReportError>> {
    let activity = message.get_child("activity", NS)?;
    Some(read(activity, key))
}

fn read(activity: &Element, key: &ReportKey) -> Result<Vec<Exchange>, ReportError> {
    let mut signed = Vec::new();
    let mut exchanges = Vec::new();
    for (i, c) in activity
        .children()
        .filter(|c| c.is("exchange", NS))
        .enumerate()
    {
        if i == MAX_EXCHANGES {
            return Err(ReportError::TooMany);
        }
        let (by, with, at) = (
            c.attr("by").unwrap_or(""),
            c.attr("with").unwrap_or(""),
            c.attr("at").unwrap_or(""),
        );
        for part in [by, with, at] {
            signed.extend_from_slice(part.as_bytes());
            signed.push(b'\n');
        }
        let Some(at) = DateTime::from_str(at)
            .ok()
            .and_then(|at| u32::try_from(at.0.timestamp()).ok())
        else {
            continue;
        };
        if !by.is_empty() && !with.is_empty() {
            exchanges.push(Exchange {
                by: by.to_owned(),
                with: with.to_owned(),
                at,
            });
        }
    }
    let mac = activity
        .attr("mac")
        .filter(|mac| mac.len() == 64)
        .and_then(crate::rights::token::unhex)
        .ok_or(ReportError::BadMac)?;
    let mut check = HmacSha256::new_from_slice(&key.0).map_err(|_| ReportError::BadMac)?;
    check.update(&signed);
    // Constant time: a forger learns nothing from how fast a wrong MAC is refused.
    check.verify_slice(&mac).map_err(|_| ReportError::BadMac)?;
    Ok(exchanges)
}

/// A report as the module writes it, for tests here and in the core.
#[cfg(test)]
pub fn signed_report(key: &ReportKey, exchanges: &[(&str, &str, &str)]) -> String {
    let mut signed = Vec::new();
    let mut body = String::new();
    for (by, with, at) in exchanges {
        for part in [by, with, at] {
            signed.extend_from_slice(part.as_bytes());
            signed.push(b'\n');
        }
        body.push_str(&format!("<exchange by='{by}' with='{with}' at='{at}'/>"));
    }
    let mac: String = hmac(&key.0, &signed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("<activity xmlns='{NS}' mac='{mac}'>{body}</activity>")
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

    fn message(activity: &str) -> Element {
        format!("<message xmlns='jabber:component:accept' from='example.test' to='game.example.test'>{activity}</message>")
            .parse()
            .unwrap()
    }

    #[test]
    fn a_signed_notification_parses_into_exchanges() {
        let key = ReportKey::derive("s3cret");
        let report = signed_report(
            &key,
            &[
                (
                    "alice@example.test",
                    "bob@example.test",
                    "2026-11-21T05:14:00Z",
                ),
                ("x", "", "2026-11-21T05:14:00Z"),
            ],
        );
        let exchanges = parse(&message(&report), &key).unwrap().unwrap();
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
    fn a_report_without_the_right_mac_is_refused() {
        let key = ReportKey::derive("s3cret");
        let exchange = [(
            "alice@example.test",
            "bob@example.test",
            "2026-11-21T05:14:00Z",
        )];
        let unsigned = "<activity xmlns='urn:xmpp-game-bridge:activity:1'><exchange by='alice@example.test' with='bob@example.test' at='2026-11-21T05:14:00Z'/></activity>";
        assert_eq!(
            parse(&message(unsigned), &key),
            Some(Err(ReportError::BadMac))
        );
        let other_secret = signed_report(&ReportKey::derive("guess"), &exchange);
        assert_eq!(
            parse(&message(&other_secret), &key),
            Some(Err(ReportError::BadMac))
        );
        // A valid report with one exchange changed.
        let tampered = signed_report(&key, &exchange).replace("bob@", "eve@");
        assert_eq!(
            parse(&message(&tampered), &key),
            Some(Err(ReportError::BadMac))
        );
    }

    #[test]
    fn the_key_matches_prosodys_hmac_sha256() {
        // HMAC-SHA256(key = "key", message = "The quick brown fox jumps over the lazy dog"),
        // the RFC 4231-style reference value Prosody's util.hashes gives too.
        let mac: String = hmac(b"key", b"The quick brown fox jumps over the lazy dog")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            mac,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
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
