//! Active chat peers: the mutual contacts a user is in communication with right now.
//!
//! Two tiers (DESIGN.md), and every answer says which one it used:
//! 1. **presence**: a mutual contact whose best availability is `chat` or `available`,
//!    while the user's is too; most recent presence change first.
//! 2. **conversation** (where the Prosody activity module is installed): a mutual,
//!    available contact with whom the user exchanged messages within the window; most
//!    recent exchange first.
//!
//! A user who is away, extended away, dnd, offline or unknown has no active peers, and a
//! peer in one of those states is never listed.

use super::interner::UserId;
use super::presence::Availability;
use super::{Directory, Seen};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Presence,
    Conversation,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Presence => "presence",
            Tier::Conversation => "conversation",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePeer {
    pub id: UserId,
    pub availability: Availability,
    /// The peer's preferred status text.
    pub status: Option<String>,
    /// Seconds since the Unix epoch: the last exchange (conversation tier) or the last
    /// presence change (presence tier).
    pub last_activity: u32,
}

/// The tier that applies to `user`: conversation where the module reports for its domain.
pub fn tier_for(directory: &Directory, user: &str) -> Tier {
    match directory.domain_of(user) {
        Some(d) if d.activity_module == Some(true) => Tier::Conversation,
        _ => Tier::Presence,
    }
}

/// The active peers of `user` among `mutual` (their mutual contacts), by `tier`.
pub fn active_peers(
    directory: &Directory,
    user: UserId,
    mutual: &[UserId],
    tier: Tier,
    now: u32,
) -> Vec<ActivePeer> {
    if !directory
        .availability(user, now)
        .is_some_and(Availability::is_active)
    {
        return Vec::new();
    }
    let window_start = now.saturating_sub(directory.config.conversation_window.as_secs() as u32);
    let mut peers: Vec<ActivePeer> = mutual
        .iter()
        .filter(|&&peer| peer != user)
        .filter_map(|&peer| {
            let Seen::Online {
                availability,
                status,
                since,
            } = directory.seen(peer, now)
            else {
                return None;
            };
            if !availability.is_active() {
                return None;
            }
            // Contacts on other servers only where the operator's policy lists them (their
            // presence is not even kept otherwise).
            if !directory.config.remote_peers && directory.is_remote(directory.name(peer)) {
                return None;
            }
            let last_activity = match tier {
                Tier::Presence => since,
                Tier::Conversation => {
                    let at = directory.activity.last_exchange(user, peer)?;
                    if at < window_start {
                        return None;
                    }
                    at
                }
            };
            Some(ActivePeer {
                id: peer,
                availability,
                status: status.preferred().map(str::to_owned),
                last_activity,
            })
        })
        .collect();
    peers.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then(a.id.cmp(&b.id)));
    peers
}
