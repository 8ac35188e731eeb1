//! Who is asking, and what they may make happen for a user.
//!
//! The core decides the [`Actor`] of a request once, before any handler runs, from the
//! sender's JID and the operator's configuration; a node declares the [`Access`] it
//! requires, and [`admits`] compares the two. Handlers never decide permissions.
//!
//! Security-sensitive: keep it pure and table-tested.

pub mod askers;
pub mod audit;
pub mod consent;
pub mod platforms;
pub mod policy;
pub mod token;
pub mod uri;

use std::fmt;

use xmpp_parsers::jid::{BareJid, Jid};

/// The operator's settings for executable rights (`[rights]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsConfig {
    /// URL schemes `open-url` may send (lowercase).
    pub url_schemes: Vec<String>,
    /// At most one `attention` per user per this many seconds, whichever platform asks.
    pub attention_interval_secs: u32,
    /// Game invites: expiry, size and abuse limits.
    pub invites: crate::invites::InvitesConfig,
}

impl Default for RightsConfig {
    fn default() -> Self {
        RightsConfig {
            url_schemes: vec!["https".to_owned()],
            attention_interval_secs: 60,
            invites: crate::invites::InvitesConfig::default(),
        }
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

/// How a platform was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Its bare JID is a registered platform.
    Registry,
    /// The request carried a valid platform token.
    Token,
    /// It comes from a trusted domain (another component of the same server).
    TrustedDomain,
    /// Anyone else, where the operator lets public platforms in.
    Public,
}

/// Who sends a request, decided once per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator listed in `admins`.
    Operator { jid: Jid },
    /// A game platform.
    Platform {
        jid: Jid,
        /// The platform's identity: its registered bare JID (for a token, the platform
        /// it was issued to), else the sender's bare JID.
        id: BareJid,
        via: Via,
        authorized: bool,
        /// Its name, rights and the domains it may ask about.
        profile: std::sync::Arc<platforms::Profile>,
    },
    /// A user of a served domain, from their own chat client.
    User { jid: Jid },
    /// Anyone else.
    Stranger { jid: Jid },
}

impl Actor {
    /// The full JID the request came from; command sessions are bound to it.
    pub fn jid(&self) -> &Jid {
        match self {
            Actor::Operator { jid }
            | Actor::Platform { jid, .. }
            | Actor::User { jid }
            | Actor::Stranger { jid } => jid,
        }
    }

    pub fn is_platform(&self) -> bool {
        matches!(self, Actor::Platform { .. })
    }
}

/// Who may run a command node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The bridge's operators.
    Operator,
    /// Game platforms.
    Platform,
    /// Users of the served domains, about themselves.
    User,
    /// Users about themselves, and platforms on their behalf (an answer given in a
    /// game).
    UserOrPlatform,
    /// Anyone (test nodes).
    Anyone,
}

/// Whether `actor` may run a node that requires `access`.
pub fn admits(access: Access, actor: &Actor) -> bool {
    match access {
        Access::Operator => matches!(actor, Actor::Operator { .. }),
        Access::Platform => actor.is_platform(),
        Access::User => matches!(actor, Actor::User { .. }),
        Access::UserOrPlatform => matches!(actor, Actor::User { .. }) || actor.is_platform(),
        Access::Anyone => true,
    }
}

/// The sentence a requester the node does not admit reads.
pub fn refusal(access: Access, node: &str) -> String {
    match access {
        Access::Operator => {
            format!("only the bridge's operators (admins in its configuration) may run \"{node}\"")
        }
        Access::Platform => {
            format!("only game platforms registered with this bridge may run \"{node}\"")
        }
        Access::User => {
            format!("only users of the chat server this bridge serves may run \"{node}\"")
        }
        Access::UserOrPlatform => format!(
            "only users of the chat server this bridge serves, and game platforms, may run \"{node}\""
        ),
        Access::Anyone => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn jid() -> Jid {
        Jid::from_str("someone@example.test/r").unwrap()
    }

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

    #[test]
    fn access_table() {
        let operator = Actor::Operator { jid: jid() };
        let platform = Actor::Platform {
            jid: jid(),
            id: jid().to_bare(),
            via: Via::Registry,
            authorized: true,
            profile: std::sync::Arc::new(platforms::Profile::unregistered("p", true)),
        };
        let user = Actor::User { jid: jid() };
        let stranger = Actor::Stranger { jid: jid() };
        let table = [
            (Access::Operator, &operator, true),
            (Access::Operator, &platform, false),
            (Access::Operator, &user, false),
            (Access::Operator, &stranger, false),
            (Access::Platform, &operator, false),
            (Access::Platform, &platform, true),
            (Access::Platform, &user, false),
            (Access::Platform, &stranger, false),
            (Access::User, &operator, false),
            (Access::User, &platform, false),
            (Access::User, &user, true),
            (Access::User, &stranger, false),
            (Access::UserOrPlatform, &operator, false),
            (Access::UserOrPlatform, &platform, true),
            (Access::UserOrPlatform, &user, true),
            (Access::UserOrPlatform, &stranger, false),
            (Access::Anyone, &stranger, true),
        ];
        for (access, actor, allowed) in table {
            assert_eq!(admits(access, actor), allowed, "{access:?} {actor:?}");
        }
    }
}
