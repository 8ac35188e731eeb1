//! The registry of platforms, as the core holds it: read from the database at start and
//! again whenever another process (the `platform` CLI) changed it.

use std::collections::HashMap;
use std::sync::Arc;

use super::{token, Rights};
use crate::store::PlatformRecord;

/// The shape of answer a platform asks for, or gets unless it asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// The XEP-0004 result form: readable by people and by any client.
    #[default]
    Form,
    /// One element per peer or user (see [`crate::commands::render::COMPACT_NS`]), for programs.
    Compact,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Form => "form",
            Shape::Compact => "compact",
        }
    }

    pub fn parse(word: &str) -> Option<Shape> {
        match word.trim() {
            "form" => Some(Shape::Form),
            "compact" => Some(Shape::Compact),
            _ => None,
        }
    }
}

/// The front doors a platform may ask through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doors {
    /// Ad-hoc commands from its JID (or with its token) over XMPP.
    pub xmpp: bool,
    /// JSON over HTTP with its token.
    pub http: bool,
}

impl Default for Doors {
    /// Both.
    fn default() -> Doors {
        Doors {
            xmpp: true,
            http: true,
        }
    }
}

impl Doors {
    /// A comma- or space-separated list of `xmpp` and `http`; `None` for anything else,
    /// or an empty list (a platform with no door would be a removed one).
    pub fn parse(list: &str) -> Option<Doors> {
        let mut doors = Doors {
            xmpp: false,
            http: false,
        };
        for word in list.split([',', ' ']).filter(|w| !w.is_empty()) {
            match word.to_ascii_lowercase().as_str() {
                "xmpp" => doors.xmpp = true,
                "http" => doors.http = true,
                _ => return None,
            }
        }
        (doors.xmpp || doors.http).then_some(doors)
    }

    /// The list as stored and shown: `xmpp,http`, `xmpp` or `http`.
    pub fn as_str(self) -> &'static str {
        match (self.xmpp, self.http) {
            (true, false) => "xmpp",
            (false, true) => "http",
            _ => "xmpp,http",
        }
    }

    /// The refusal of a platform asking through `door`, closed to it.
    pub fn closed(door: &str) -> crate::failure::Failure {
        crate::failure::Failure::forbidden(format!(
            "this platform may not ask through {door}; the bridge's operator decides which doors a platform uses (`platform set-doors`)"
        ))
    }

    /// Whether the door named `door` is open to the platform; doors other than these two
    /// (a test's) are.
    pub fn allows(self, door: &str) -> bool {
        match door {
            "xmpp" => self.xmpp,
            "http" => self.http,
            _ => true,
        }
    }
}

/// What a request's platform may do, shared by every request it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The name users read ("Arcade").
    pub name: String,
    pub rights: Rights,
    /// The served domains it may ask about; `None`: all of them.
    pub domains: Option<Vec<String>>,
    /// URI schemes its `launch` may use (lowercase).
    pub launch_schemes: Vec<String>,
    /// The shape of answer it gets unless a request asks for another.
    pub answers: Shape,
    /// The front doors it may ask through.
    pub doors: Doors,
}

impl Profile {
    /// The profile of a platform with no registry entry (public, or from a trusted
    /// domain): the default rights of its kind.
    pub fn unregistered(name: &str, authorized: bool) -> Profile {
        Profile {
            name: name.to_owned(),
            rights: Rights::default_for(authorized),
            domains: None,
            launch_schemes: Vec::new(),
            answers: Shape::Form,
            doors: Doors::default(),
        }
    }

    /// Whether the platform may ask about users of `domain`.
    pub fn serves(&self, domain: &str) -> bool {
        self.domains
            .as_ref()
            .is_none_or(|domains| domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
    }
}

/// A registered platform.
#[derive(Debug, Clone)]
pub struct Entry {
    pub authorized: bool,
    pub profile: Arc<Profile>,
}

/// Every registered platform and token.
#[derive(Debug, Default)]
pub struct Registry {
    by_jid: HashMap<String, Entry>,
    /// Token id → (platform JID, SHA-256 of the secret).
    tokens: HashMap<String, (String, Vec<u8>)>,
}

impl Registry {
    pub fn from_records(records: Vec<PlatformRecord>) -> Registry {
        let mut registry = Registry::default();
        for record in records {
            for t in &record.tokens {
                registry
                    .tokens
                    .insert(t.id.clone(), (record.jid.clone(), t.hash.clone()));
            }
            let rights = record
                .rights
                .as_deref()
                .and_then(|r| Rights::parse(r).ok())
                .unwrap_or(Rights::default_for(record.authorized));
            let list = |d: &str| -> Vec<String> {
                d.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_lowercase)
                    .collect()
            };
            let domains = record.domains.as_deref().map(list);
            let launch_schemes = record
                .launch_schemes
                .as_deref()
                .map(list)
                .unwrap_or_default();
            registry.by_jid.insert(
                record.jid,
                Entry {
                    authorized: record.authorized,
                    profile: Arc::new(Profile {
                        name: record.name,
                        rights,
                        domains,
                        launch_schemes,
                        answers: record
                            .answers
                            .as_deref()
                            .and_then(Shape::parse)
                            .unwrap_or_default(),
                        doors: record
                            .doors
                            .as_deref()
                            .and_then(Doors::parse)
                            .unwrap_or_default(),
                    }),
                },
            );
        }
        registry
    }

    /// The registered platform with this bare JID.
    pub fn get(&self, jid: &str) -> Option<&Entry> {
        self.by_jid.get(jid)
    }

    /// The name users read for the platform `jid`: its registered name, else the JID.
    pub fn name<'a>(&'a self, jid: &'a str) -> &'a str {
        self.by_jid
            .get(jid)
            .map_or(jid, |e| e.profile.name.as_str())
    }

    /// The platform a token was issued to, if the token is valid.
    pub fn by_token(&self, token: &str) -> Option<(&str, &Entry)> {
        let (id, secret) = token::split(token)?;
        let (jid, hash) = self.tokens.get(id)?;
        if !token::matches(secret, hash) {
            return None;
        }
        let entry = self.by_jid.get(jid)?;
        Some((jid.as_str(), entry))
    }

    /// The platform a user means by `word`: its bare JID, its JID's local part, or its
    /// name, ignoring case.
    pub fn find(&self, word: &str) -> Option<(&str, &Entry)> {
        let word = word.trim();
        self.by_jid
            .iter()
            .find(|(jid, entry)| {
                jid.eq_ignore_ascii_case(word)
                    || jid
                        .split_once('@')
                        .is_some_and(|(local, _)| local.eq_ignore_ascii_case(word))
                    || entry.profile.name.eq_ignore_ascii_case(word)
            })
            .map(|(jid, entry)| (jid.as_str(), entry))
    }

    /// Every registered platform, by JID.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.by_jid.iter().map(|(jid, e)| (jid.as_str(), e))
    }

    pub fn len(&self) -> usize {
        self.by_jid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_jid.is_empty()
    }
}
