//! Who is asking, and what they may make happen for a user.
//!
//! The core decides the [`Actor`] of a request once, before any handler runs, from the
//! sender's JID and the operator's configuration; a node declares the [`Access`] it
//! requires, and [`admits`] compares the two. Handlers never decide permissions.
//!
//! Security-sensitive: keep it pure and table-tested.

use xmpp_parsers::jid::{BareJid, Jid};

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
        /// The platform's identity: its registered bare JID.
        id: BareJid,
        via: Via,
        authorized: bool,
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
    /// Anyone (test nodes).
    Anyone,
}

/// Whether `actor` may run a node that requires `access`.
pub fn admits(access: Access, actor: &Actor) -> bool {
    match access {
        Access::Operator => matches!(actor, Actor::Operator { .. }),
        Access::Platform => actor.is_platform(),
        Access::User => matches!(actor, Actor::User { .. }),
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
    fn access_table() {
        let operator = Actor::Operator { jid: jid() };
        let platform = Actor::Platform {
            jid: jid(),
            id: jid().to_bare(),
            via: Via::Registry,
            authorized: true,
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
            (Access::Anyone, &stranger, true),
        ];
        for (access, actor, allowed) in table {
            assert_eq!(admits(access, actor), allowed, "{access:?} {actor:?}");
        }
    }
}
