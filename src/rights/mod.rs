//! Who is asking, and what they may make happen for a user.
//!
//! Who asks is decided once per request, before any handler runs, by [`actor::decide`]
//! from the sender's JID and what the operator configured; a node declares the
//! [`Caller`] it serves, and the pipeline narrows the [`Actor`] to it once. Handlers
//! never decide permissions.
//!
//! Security-sensitive: keep it pure and table-tested.

pub mod actor;
pub mod askers;
pub mod audit;
pub mod consent;
pub mod page_link;
pub mod platforms;
pub mod policy;
pub mod token;
pub mod uri;

use std::fmt;

use xmpp_parsers::jid::BareJid;

pub use actor::{
    admits, refusal, Access, Actor, Caller, Operator, Platform, User, UserOrPlatform, Via,
};

/// Who besides registered platforms may use the bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessConfig {
    /// Whether anyone may use the platform commands, as an unauthorized platform.
    pub public_platforms: bool,
    /// Domains whose JIDs (other components of the server) are authorized platforms.
    pub trusted_domains: Vec<BareJid>,
}

impl AccessConfig {
    /// Whether JIDs of `domain` are authorized platforms (the dedicated interface).
    pub fn trusts(&self, domain: &str) -> bool {
        self.trusted_domains
            .iter()
            .any(|d| d.domain().as_str() == domain)
    }
}

/// Something a platform may make happen for a user (DESIGN.md, Rights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    OpenUrl,
    Invite,
    SendMessage,
    Attention,
    SetStatus,
    Launch,
    PublishGaming,
}

impl Right {
    pub const ALL: [Right; 7] = [
        Right::OpenUrl,
        Right::Invite,
        Right::SendMessage,
        Right::Attention,
        Right::SetStatus,
        Right::Launch,
        Right::PublishGaming,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Right::OpenUrl => "open-url",
            Right::Invite => "invite",
            Right::SendMessage => "send-message",
            Right::Attention => "attention",
            Right::SetStatus => "set-status",
            Right::Launch => "launch",
            Right::PublishGaming => "publish-gaming",
        }
    }

    pub fn parse(name: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    pub const NONE: Rights = Rights(0);

    /// What an unauthorized platform holds unless its registry entry says otherwise.
    pub fn unauthorized_default() -> Rights {
        Rights::NONE.with(Right::OpenUrl)
    }

    /// What an authorized platform holds unless its registry entry says otherwise.
    pub fn authorized_default() -> Rights {
        Right::ALL.into_iter().fold(Rights::NONE, Rights::with)
    }

    pub fn default_for(authorized: bool) -> Rights {
        if authorized {
            Rights::authorized_default()
        } else {
            Rights::unauthorized_default()
        }
    }

    #[must_use]
    pub fn with(self, right: Right) -> Rights {
        Rights(self.0 | right.bit())
    }

    pub fn contains(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names, comma-separated (as `Display` writes them), without allocating.
    pub fn as_list(self) -> &'static str {
        static LISTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let lists =
            LISTS.get_or_init(|| (0..=u8::MAX).map(|bits| Rights(bits).to_string()).collect());
        lists.get(usize::from(self.0)).map_or("", String::as_str)
    }

    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// Parses a list of right names separated by commas or spaces; an empty list is no
    /// rights.
    pub fn parse(list: &str) -> Result<Rights, String> {
        list.split([',', ' '])
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .try_fold(Rights::NONE, |rights, name| {
                Right::parse(name).map(|r| rights.with(r)).ok_or_else(|| {
                    format!(
                        "{name:?} is not a right; the rights are {}",
                        Right::ALL.map(Right::as_str).join(", ")
                    )
                })
            })
    }
}

impl fmt::Display for Rights {
    /// The names, comma-separated, in the table's order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for right in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(right.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_parse_and_print_in_the_tables_order() {
        let rights = Rights::parse("launch, open-url attention").unwrap();
        assert_eq!(rights.to_string(), "open-url,attention,launch");
        assert_eq!(Rights::parse("").unwrap(), Rights::NONE);
        assert!(Rights::parse("open-url,fly")
            .unwrap_err()
            .contains("\"fly\" is not a right"));
        assert_eq!(Rights::unauthorized_default().to_string(), "open-url");
        assert_eq!(rights.as_list(), "open-url,attention,launch");
        assert_eq!(
            Rights::authorized_default().to_string(),
            "open-url,invite,send-message,attention,set-status,launch,publish-gaming"
        );
    }
}
