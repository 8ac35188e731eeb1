//! The rights policy: whether a platform may make a right happen for a user.
//!
//! **Security-sensitive.** This is the one place that decides; it is pure (no clock, no
//! state, no I/O) and table-tested. Handlers ask it and never decide on their own.

use super::{Platform, Right, Rights};

/// What the policy needs to know of the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    /// Whether the user lets this platform see them (their consent under the operator's
    /// policy).
    pub consenting: bool,
    /// Whether the user is on another server (a federated contact).
    pub remote: bool,
}

/// Why a right is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The platform does not hold this right (its kind's defaults, or its registry entry).
    NotGranted,
    /// The user has not agreed to this platform seeing them: to the platform this looks
    /// exactly like a user who does not exist.
    NoConsent,
    /// The user is on another server: they never agreed to anything here, so the only
    /// thing a platform may do for them is invite them where the operator lists remote
    /// peers.
    RemoteUser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
}

/// Whether `platform` may make `right` happen for `subject`.
pub fn decide(platform: &Platform, right: Right, subject: Subject) -> Decision {
    if !platform.profile.rights.contains(right) {
        return Decision::Deny(Denial::NotGranted);
    }
    if !subject.consenting {
        return Decision::Deny(Denial::NoConsent);
    }
    if subject.remote && right != Right::Invite {
        return Decision::Deny(Denial::RemoteUser);
    }
    Decision::Allow
}

/// Every right `platform` may make happen for `subject`: what answers about a user carry.
pub fn rights_for(platform: &Platform, subject: Subject) -> Rights {
    Right::ALL
        .into_iter()
        .filter(|&right| decide(platform, right, subject) == Decision::Allow)
        .fold(Rights::NONE, Rights::with)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rights::platforms::Profile;
    use crate::rights::Via;
    use std::str::FromStr;
    use std::sync::Arc;
    use xmpp_parsers::jid::Jid;

    fn platform(authorized: bool, rights: Option<Rights>) -> Platform {
        let jid = Jid::from_str("arcade@example.test/bot").unwrap();
        let mut profile = Profile::unregistered("Arcade", authorized);
        if let Some(rights) = rights {
            profile.rights = rights;
        }
        Platform {
            id: jid.to_bare(),
            jid,
            via: Via::Registry,
            authorized,
            profile: Arc::new(profile),
        }
    }

    const LOCAL: Subject = Subject {
        consenting: true,
        remote: false,
    };
    const REMOTE: Subject = Subject {
        consenting: true,
        remote: true,
    };
    const HIDDEN: Subject = Subject {
        consenting: false,
        remote: false,
    };

    #[test]
    fn the_policy_table() {
        use Decision::*;
        use Denial::*;
        let authorized = platform(true, None);
        let unauthorized = platform(false, None);
        let narrowed = platform(true, Some(Rights::NONE.with(Right::Launch)));
        let widened = platform(false, Some(Rights::NONE.with(Right::Attention)));
        let table: &[(&Platform, Right, Subject, Decision)] = &[
            // The defaults of DESIGN.md: unauthorized platforms open URLs only.
            (&unauthorized, Right::OpenUrl, LOCAL, Allow),
            (&unauthorized, Right::Invite, LOCAL, Deny(NotGranted)),
            (&unauthorized, Right::SendMessage, LOCAL, Deny(NotGranted)),
            (&unauthorized, Right::Attention, LOCAL, Deny(NotGranted)),
            (&unauthorized, Right::SetStatus, LOCAL, Deny(NotGranted)),
            (&unauthorized, Right::Launch, LOCAL, Deny(NotGranted)),
            (&unauthorized, Right::PublishGaming, LOCAL, Deny(NotGranted)),
            // Authorized platforms hold every right, attention included.
            (&authorized, Right::OpenUrl, LOCAL, Allow),
            (&authorized, Right::Invite, LOCAL, Allow),
            (&authorized, Right::SendMessage, LOCAL, Allow),
            (&authorized, Right::Attention, LOCAL, Allow),
            (&authorized, Right::SetStatus, LOCAL, Allow),
            (&authorized, Right::Launch, LOCAL, Allow),
            (&authorized, Right::PublishGaming, LOCAL, Allow),
            // Per-platform overrides, both ways.
            (&narrowed, Right::OpenUrl, LOCAL, Deny(NotGranted)),
            (&narrowed, Right::Launch, LOCAL, Allow),
            (&widened, Right::Attention, LOCAL, Allow),
            (&widened, Right::OpenUrl, LOCAL, Deny(NotGranted)),
            // No consent, nothing: and it looks like no such user.
            (&authorized, Right::OpenUrl, HIDDEN, Deny(NoConsent)),
            (&authorized, Right::Attention, HIDDEN, Deny(NoConsent)),
            (&unauthorized, Right::OpenUrl, HIDDEN, Deny(NoConsent)),
            // Ungranted is said before unconsented: it tells nothing about the user.
            (&unauthorized, Right::Launch, HIDDEN, Deny(NotGranted)),
            // Users of other servers agreed to nothing here: invites only.
            (&authorized, Right::Invite, REMOTE, Allow),
            (&authorized, Right::SendMessage, REMOTE, Deny(RemoteUser)),
            (&authorized, Right::OpenUrl, REMOTE, Deny(RemoteUser)),
            (&authorized, Right::SetStatus, REMOTE, Deny(RemoteUser)),
            (&authorized, Right::PublishGaming, REMOTE, Deny(RemoteUser)),
        ];
        for (actor, right, subject, expected) in table {
            assert_eq!(
                decide(actor, *right, *subject),
                *expected,
                "{right:?} {subject:?} {actor:?}"
            );
        }
        assert_eq!(rights_for(&unauthorized, LOCAL).to_string(), "open-url");
        assert_eq!(rights_for(&authorized, HIDDEN), Rights::NONE);
        assert_eq!(rights_for(&authorized, REMOTE).to_string(), "invite");
    }
}
