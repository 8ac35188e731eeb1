//! What each user lets platforms see: the consent record, as the core holds it (the
//! database is its durable copy). Security-sensitive.
//!
//! A user's choice for one platform wins over their choice for all platforms, which
//! wins over the operator's policy (`privacy.consent`: `opt-in`, the default, or
//! `opt-out`).

use hashbrown::HashMap;

use serde::Deserialize;

/// Whether users are visible to platforms before they say so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ConsentPolicy {
    /// Invisible to a platform until they agree (the default).
    #[default]
    #[serde(rename = "opt-in")]
    OptIn,
    /// Visible until they say no.
    #[serde(rename = "opt-out")]
    OptOut,
}

impl ConsentPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentPolicy::OptIn => "opt-in",
            ConsentPolicy::OptOut => "opt-out",
        }
    }
}

/// Users with a consent record held at once; past it, new users' choices are refused
/// (counted in `consent-refused`) and the policy applies to them.
pub const MAX_USERS: usize = 1_000_000;

pub use crate::store::{Choice, ALL};

/// One user's choices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// For every platform.
    pub all: Option<bool>,
    /// For one platform each (by bare JID); at most one entry per platform.
    pub platforms: Vec<(Box<str>, bool)>,
}

#[derive(Debug)]
pub struct Consent {
    policy: ConsentPolicy,
    users: HashMap<Box<str>, Choices>,
}

impl Consent {
    /// The operator changed `privacy.consent` (a reload): users' own choices stay, the
    /// default for those who made none is the new policy's.
    pub fn set_policy(&mut self, policy: ConsentPolicy) {
        self.policy = policy;
    }

    pub fn new(policy: ConsentPolicy) -> Consent {
        Consent {
            policy,
            users: HashMap::new(),
        }
    }

    pub fn policy(&self) -> ConsentPolicy {
        self.policy
    }

    /// Whether `user` lets `platform` (a bare JID) see them.
    pub fn allows(&self, user: &str, platform: &str) -> bool {
        let Some(choices) = self.users.get(user) else {
            return self.policy == ConsentPolicy::OptOut;
        };
        choices
            .platforms
            .iter()
            .find(|(p, _)| &**p == platform)
            .map(|(_, share)| *share)
            .or(choices.all)
            .unwrap_or(self.policy == ConsentPolicy::OptOut)
    }

    /// What a user never asked about is shown as: the policy's answer.
    pub fn by_default(&self) -> bool {
        self.policy == ConsentPolicy::OptOut
    }

    pub fn choices(&self, user: &str) -> Option<&Choices> {
        self.users.get(user)
    }

    /// Whether a choice by `user` can be kept: they have a record already, or there is
    /// room for one.
    pub fn has_room_for(&self, user: &str) -> bool {
        self.users.contains_key(user) || self.users.len() < MAX_USERS
    }

    /// Applies a change (once it is stored).
    pub fn apply(&mut self, choice: &Choice) {
        if !self.has_room_for(&choice.user) {
            return;
        }
        let choices = self.users.entry(choice.user.as_str().into()).or_default();
        match &choice.platform {
            None => {
                choices.all = Some(choice.share);
                choices.platforms.clear();
            }
            Some(platform) => match choices.platforms.iter_mut().find(|(p, _)| &**p == platform) {
                Some(entry) => entry.1 = choice.share,
                None => choices
                    .platforms
                    .push((platform.as_str().into(), choice.share)),
            },
        }
    }

    /// Loads a stored row: `platform` is a JID or [`ALL`].
    pub fn load(&mut self, user: String, platform: String, share: bool) {
        let platform = (platform != ALL).then_some(platform);
        self.apply(&Choice {
            user,
            platform,
            share,
        });
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(platform: Option<&str>, share: bool) -> Choice {
        Choice {
            user: "alice@example.test".to_owned(),
            platform: platform.map(str::to_owned),
            share,
        }
    }

    #[test]
    fn a_choice_for_one_platform_wins_over_one_for_all_which_wins_over_the_policy() {
        const A: &str = "alice@example.test";
        const ARCADE: &str = "arcade@example.test";
        const PUZZLE: &str = "puzzle@example.test";
        for policy in [ConsentPolicy::OptIn, ConsentPolicy::OptOut] {
            let by_default = policy == ConsentPolicy::OptOut;
            let mut consent = Consent::new(policy);
            assert_eq!(consent.allows(A, ARCADE), by_default);
            consent.apply(&choice(Some(ARCADE), true));
            assert!(consent.allows(A, ARCADE));
            assert_eq!(consent.allows(A, PUZZLE), by_default);
            consent.apply(&choice(None, false));
            // "share none" forgets the per-platform choices.
            assert!(!consent.allows(A, ARCADE) && !consent.allows(A, PUZZLE));
            consent.apply(&choice(Some(PUZZLE), true));
            assert!(!consent.allows(A, ARCADE) && consent.allows(A, PUZZLE));
            consent.apply(&choice(None, true));
            consent.apply(&choice(Some(ARCADE), false));
            assert!(!consent.allows(A, ARCADE) && consent.allows(A, PUZZLE));
            assert_eq!(consent.allows("bob@example.test", ARCADE), by_default);
        }
    }
}
