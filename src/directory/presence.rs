//! Presence as the directory keeps it: per online resource its availability, priority,
//! status texts and when it last changed (RFC 6121 §4.7), read from the presences the
//! server forwards under XEP-0356 (`presence` permission).
//!
//! Parsing is deliberately light and strict: a presence whose `<show/>` or `<priority/>`
//! is not what RFC 6121 allows is rejected as a whole (and ignored by the caller), rather
//! than half-applied. Delayed presences (Prosody's replay at connect) apply like live ones.

use std::str::FromStr;

use minidom::rxml::Namespace;
use minidom::Element;
use xmpp_parsers::ns;

use crate::failure::{cut, quote};

/// How available a resource is, from most to least (RFC 6121 §4.7.2.1, with "available"
/// for a presence without `<show/>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Availability {
    Dnd = 0,
    Xa = 1,
    Away = 2,
    Available = 3,
    Chat = 4,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Chat => "chat",
            Availability::Available => "available",
            Availability::Away => "away",
            Availability::Xa => "xa",
            Availability::Dnd => "dnd",
        }
    }

    /// `chat` and `available` are the states in which a user is open to a conversation.
    pub fn is_active(self) -> bool {
        matches!(self, Availability::Chat | Availability::Available)
    }
}

/// Status texts by language. Most presences carry one text without `xml:lang`, so that
/// case costs a single allocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StatusTexts {
    #[default]
    None,
    Plain(Box<str>),
    /// `(lang, text)` pairs; `lang` is empty for the text without `xml:lang`.
    ByLang(Box<[(Box<str>, Box<str>)]>),
}

impl StatusTexts {
    /// The text to show when only one can be: the one without a language, else English,
    /// else the first.
    pub fn preferred(&self) -> Option<&str> {
        match self {
            StatusTexts::None => None,
            StatusTexts::Plain(text) => Some(text),
            StatusTexts::ByLang(pairs) => pairs
                .iter()
                .find(|(lang, _)| lang.is_empty())
                .or_else(|| pairs.iter().find(|(lang, _)| &**lang == "en"))
                .or_else(|| pairs.first())
                .map(|(_, text)| &**text),
        }
    }

    /// Every text with its language (`""` where none was given).
    pub fn all(&self) -> Vec<(&str, &str)> {
        match self {
            StatusTexts::None => Vec::new(),
            StatusTexts::Plain(text) => vec![("", text)],
            StatusTexts::ByLang(pairs) => pairs.iter().map(|(l, t)| (&**l, &**t)).collect(),
        }
    }
}

/// What a presence says about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceUpdate {
    Available {
        availability: Availability,
        priority: i8,
        status: StatusTexts,
    },
    Unavailable {
        status: StatusTexts,
    },
}

/// A presence the directory does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    #[error("<show/> must be chat, away, xa or dnd, not {0:?}")]
    BadShow(String),
    #[error("<priority/> must be an integer from -128 to 127, not {0:?}")]
    BadPriority(String),
    /// Subscriptions, probes and errors say nothing about availability.
    #[error("presence of type {0:?} is not about availability")]
    NotAvailability(String),
}

/// Status texts kept per presence (one per language); further ones are ignored.
pub const MAX_STATUS_TEXTS: usize = 8;

/// Longest `xml:lang` kept (RFC 5646 tags in use are far shorter); a text with a longer
/// one is ignored.
const MAX_LANG_LEN: usize = 35;

/// `text` cut to `max_chars` characters, ending in `…` where it was cut.
pub fn cut_status(text: &str, max_chars: usize) -> Box<str> {
    match cut(text, max_chars) {
        None => text.into(),
        Some(cut) => cut.into_boxed_str(),
    }
}

/// Reads the availability part of a presence stanza (either stream namespace). Status
/// texts are kept cut so that all of a presence's texts together hold at most
/// `max_status_chars` characters.
pub fn parse(el: &Element, max_status_chars: usize) -> Result<PresenceUpdate, PresenceError> {
    let stanza_ns = el.ns();
    // A status in the presence's own language is its default text (RFC 6120 §8.1.5: a
    // child without `xml:lang` inherits the stanza's), not a translation.
    let stanza_lang = el.attr_ns(Namespace::xml(), "lang").unwrap_or("");
    let mut availability = Availability::Available;
    let mut priority: i8 = 0;
    let mut texts: Vec<(Box<str>, Box<str>)> = Vec::new();
    let mut budget = max_status_chars;
    for child in el.children() {
        if child.ns() != stanza_ns {
            continue;
        }
        match child.name() {
            "show" => {
                availability = match child.text().trim() {
                    "chat" => Availability::Chat,
                    "away" => Availability::Away,
                    "xa" => Availability::Xa,
                    "dnd" => Availability::Dnd,
                    other => return Err(PresenceError::BadShow(quote(other))),
                }
            }
            "priority" => {
                let text = child.text();
                priority = text
                    .trim()
                    .parse()
                    .map_err(|_| PresenceError::BadPriority(quote(&text)))?;
            }
            "status" => {
                let lang = match child.attr_ns(Namespace::xml(), "lang") {
                    Some(lang) if !lang.eq_ignore_ascii_case(stanza_lang) => lang,
                    _ => "",
                };
                if texts.len() < MAX_STATUS_TEXTS && lang.len() <= MAX_LANG_LEN && budget > 0 {
                    let text = cut_status(&child.text(), budget);
                    budget = budget.saturating_sub(text.chars().count());
                    texts.push((lang.into(), text));
                }
            }
            _ => {}
        }
    }
    let status = match texts.len() {
        0 => StatusTexts::None,
        1 if texts[0].0.is_empty() => {
            StatusTexts::Plain(texts.pop().map(|(_, t)| t).unwrap_or_default())
        }
        _ => StatusTexts::ByLang(texts.into_boxed_slice()),
    };
    match el.attr("type") {
        None => Ok(PresenceUpdate::Available {
            availability,
            priority,
            status,
        }),
        Some("unavailable") => Ok(PresenceUpdate::Unavailable { status }),
        Some(other) => Err(PresenceError::NotAvailability(quote(other))),
    }
}

/// The XEP-0203 delay stamp of a presence replayed from before the component connected, in seconds since the Unix epoch.
pub fn delay_stamp(el: &Element) -> Option<u32> {
    let stamp = el.get_child("delay", ns::DELAY)?.attr("stamp")?;
    let secs = xmpp_parsers::date::DateTime::from_str(stamp)
        .ok()?
        .0
        .timestamp();
    u32::try_from(secs).ok()
}

/// One online resource of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: Box<str>,
    pub availability: Availability,
    pub priority: i8,
    /// Seconds since the Unix epoch of the last change of this resource's presence.
    pub changed_at: u32,
    /// When the server last said the resource is there: a presence (even one that
    /// changes nothing) or an answer of the resource's own to a ping.
    pub confirmed_at: u32,
    /// When the bridge last pinged the resource to confirm it (0: never).
    pub checked_at: u32,
    pub status: StatusTexts,
}

/// The resource that speaks for the user: highest priority, then most available.
pub fn best<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Option<&'a Resource> {
    resources
        .into_iter()
        .max_by_key(|r| (r.priority, r.availability, r.changed_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(xml: &str) -> Result<PresenceUpdate, PresenceError> {
        let el: Element = xml.parse().unwrap();
        parse(&el, 300)
    }

    #[test]
    fn plain_available_presence() {
        assert_eq!(
            presence("<presence xmlns='jabber:component:accept' from='a@example.test/r' to='game.example.test'/>"),
            Ok(PresenceUpdate::Available {
                availability: Availability::Available,
                priority: 0,
                status: StatusTexts::None,
            })
        );
    }

    #[test]
    fn show_priority_and_status_texts_by_language() {
        let update = presence(
            "<presence xmlns='jabber:client'><show>dnd</show><priority>-5</priority>\
             <status>in a meeting</status><status xml:lang='fr'>en réunion</status></presence>",
        )
        .unwrap();
        let PresenceUpdate::Available {
            availability,
            priority,
            status,
        } = update
        else {
            panic!("not available: {update:?}");
        };
        assert_eq!(availability, Availability::Dnd);
        assert_eq!(priority, -5);
        assert_eq!(status.preferred(), Some("in a meeting"));
        assert_eq!(
            status.all(),
            vec![("", "in a meeting"), ("fr", "en réunion")]
        );
    }

    #[test]
    fn a_status_in_the_presence_language_is_its_default_text() {
        let update = presence(
            "<presence xmlns='jabber:client' xml:lang='en'><status xml:lang='en'>in a meeting</status>\
             <status xml:lang='fr'>en réunion</status></presence>",
        )
        .unwrap();
        let PresenceUpdate::Available { status, .. } = update else {
            panic!("not available: {update:?}");
        };
        assert_eq!(
            status.all(),
            vec![("", "in a meeting"), ("fr", "en réunion")]
        );
        let update = presence(
            "<presence xmlns='jabber:client' xml:lang='EN'><status xml:lang='en'>busy</status></presence>",
        )
        .unwrap();
        assert!(
            matches!(update, PresenceUpdate::Available { status: StatusTexts::Plain(ref t), .. } if &**t == "busy"),
            "{update:?}"
        );
    }

    #[test]
    fn single_status_without_language_is_stored_plain() {
        let update = presence("<presence xmlns='jabber:client'><status>on a business trip in Nanjing</status></presence>").unwrap();
        assert!(matches!(
            update,
            PresenceUpdate::Available { status: StatusTexts::Plain(ref t), .. } if &**t == "on a business trip in Nanjing"
        ));
    }

    #[test]
    fn invalid_show_rejects_the_presence() {
        assert_eq!(
            presence("<presence xmlns='jabber:client'><show>online</show></presence>"),
            Err(PresenceError::BadShow("online".into()))
        );
    }

    #[test]
    fn invalid_priority_rejects_the_presence() {
        assert_eq!(
            presence("<presence xmlns='jabber:client'><priority>high</priority></presence>"),
            Err(PresenceError::BadPriority("high".into()))
        );
        assert!(
            presence("<presence xmlns='jabber:client'><priority>300</priority></presence>")
                .is_err()
        );
    }

    #[test]
    fn subscription_presences_are_not_availability() {
        assert_eq!(
            presence("<presence xmlns='jabber:client' type='subscribe'/>"),
            Err(PresenceError::NotAvailability("subscribe".into()))
        );
    }

    #[test]
    fn unavailable_keeps_its_status() {
        assert_eq!(
            presence("<presence xmlns='jabber:client' type='unavailable'><status>gone</status></presence>"),
            Ok(PresenceUpdate::Unavailable { status: StatusTexts::Plain("gone".into()) })
        );
    }

    #[test]
    fn best_resource_is_highest_priority_then_most_available() {
        let r = |name: &str, availability, priority| Resource {
            name: name.into(),
            availability,
            priority,
            changed_at: 0,
            confirmed_at: 0,
            checked_at: 0,
            status: StatusTexts::None,
        };
        let resources = [
            r("phone", Availability::Chat, 0),
            r("desk", Availability::Away, 5),
            r("tablet", Availability::Available, 5),
        ];
        assert_eq!(&*best(&resources).unwrap().name, "tablet");
        assert_eq!(best(&[]), None);
    }

    #[test]
    fn delay_stamp_is_read() {
        let el: Element = "<presence xmlns='jabber:component:accept'><delay xmlns='urn:xmpp:delay' stamp='2026-11-21T05:14:00Z'/></presence>".parse().unwrap();
        assert_eq!(delay_stamp(&el), Some(1_795_238_040));
        let bad: Element = "<presence xmlns='jabber:component:accept'><delay xmlns='urn:xmpp:delay' stamp='yesterday'/></presence>".parse().unwrap();
        assert_eq!(delay_stamp(&bad), None);
    }

    #[test]
    fn all_the_texts_of_a_presence_together_hold_at_most_the_limit() {
        let texts: String = ["", "de", "fr", "es", "it"]
            .iter()
            .map(|l| {
                format!("<status xml:lang='{l}'>{}</status>", "x".repeat(100))
                    .replace(" xml:lang=''", "")
            })
            .collect();
        let el: Element = format!("<presence xmlns='jabber:component:accept'>{texts}</presence>")
            .parse()
            .unwrap();
        let Ok(PresenceUpdate::Available { status, .. }) = parse(&el, 250) else {
            panic!()
        };
        let all = status.all();
        assert_eq!(all.len(), 3, "{all:?}");
        let kept: usize = all
            .iter()
            .map(|(_, t)| t.trim_end_matches('…').chars().count())
            .sum();
        assert_eq!(kept, 250);
        assert!(all[2].1.ends_with('…'));
    }
}
