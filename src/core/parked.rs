//! Requests waiting for a user's roster: one fetch per user however many requests wait,
//! each request answered once the roster (or its failure) is in.
//!
//! Bounded three ways, each refusal a `resource-constraint` to the requester:
//! at most [`MAX_PER_USER`] requests wait for one roster, at most [`MAX_USERS`] rosters
//! are being fetched at once, and one requester has at most [`MAX_PER_REQUESTER`]
//! requests waiting, so a flooding platform cannot take the room others need.

use std::collections::HashMap;

use minidom::Element;

use super::failure::Failure;
use crate::directory::UserId;

/// Requests waiting for one user's roster.
pub const MAX_PER_USER: usize = 256;
/// Rosters being fetched at once.
pub const MAX_USERS: usize = 1024;
/// Requests of one requester (bare JID) waiting, over all rosters.
pub const MAX_PER_REQUESTER: u32 = 64;

/// What became of a request handed to [`Parked::park`].
#[derive(Debug)]
pub enum Parking {
    /// The first request for this roster: fetch it.
    Fetch,
    /// A fetch is already under way; the request waits with the others.
    Joined,
    /// Over a cap; the request must be refused with this.
    Refused(Failure),
}

#[derive(Debug, Default)]
pub struct Parked {
    by_user: HashMap<UserId, Vec<(String, Element)>>,
    by_requester: HashMap<String, u32>,
}

impl Parked {
    pub fn park(&mut self, user: UserId, requester: &str, request: Element) -> Parking {
        let mine = self.by_requester.get(requester).copied().unwrap_or(0);
        if mine >= MAX_PER_REQUESTER {
            return Parking::Refused(Failure::resource_constraint(
                "too many of your requests are already waiting for the chat server; wait for their answers",
            ));
        }
        let fetching = self.by_user.contains_key(&user);
        if !fetching && self.by_user.len() >= MAX_USERS {
            return Parking::Refused(Failure::resource_constraint(
                "the bridge is fetching too many rosters at once; try again shortly",
            ));
        }
        let waiting = self.by_user.entry(user).or_default();
        if waiting.len() >= MAX_PER_USER {
            return Parking::Refused(Failure::resource_constraint(
                "too many requests are already waiting for this user's roster; try again shortly",
            ));
        }
        waiting.push((requester.to_owned(), request));
        *self.by_requester.entry(requester.to_owned()).or_default() += 1;
        if fetching {
            Parking::Joined
        } else {
            Parking::Fetch
        }
    }

    /// The requests waiting for `user`'s roster, in arrival order.
    pub fn take(&mut self, user: UserId) -> Vec<Element> {
        let waiting = self.by_user.remove(&user).unwrap_or_default();
        waiting
            .into_iter()
            .map(|(requester, request)| {
                self.release(&requester);
                request
            })
            .collect()
    }

    /// Every waiting request.
    pub fn drain(&mut self) -> Vec<Element> {
        self.by_requester.clear();
        self.by_user
            .drain()
            .flat_map(|(_, waiting)| waiting)
            .map(|(_, request)| request)
            .collect()
    }

    fn release(&mut self, requester: &str) {
        if let Some(n) = self.by_requester.get_mut(requester) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_requester.remove(requester);
            }
        }
    }

    /// Rosters being fetched.
    pub fn users(&self) -> usize {
        self.by_user.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Element {
        Element::bare("iq", "jabber:component:accept")
    }

    #[test]
    fn one_fetch_per_user_and_every_request_back_in_order() {
        let mut parked = Parked::default();
        assert!(matches!(
            parked.park(UserId(1), "a", request()),
            Parking::Fetch
        ));
        assert!(matches!(
            parked.park(UserId(1), "b", request()),
            Parking::Joined
        ));
        assert_eq!(parked.take(UserId(1)).len(), 2);
        assert!(parked.by_requester.is_empty());
        assert!(matches!(
            parked.park(UserId(1), "a", request()),
            Parking::Fetch
        ));
    }

    #[test]
    fn one_requester_cannot_take_all_the_room() {
        let mut parked = Parked::default();
        for i in 0..MAX_PER_REQUESTER {
            assert!(!matches!(
                parked.park(UserId(i), "flood", request()),
                Parking::Refused(_)
            ));
        }
        assert!(matches!(
            parked.park(UserId(999), "flood", request()),
            Parking::Refused(_)
        ));
        assert!(matches!(
            parked.park(UserId(999), "other", request()),
            Parking::Fetch
        ));
        // Once answered, the flooder may ask again.
        parked.take(UserId(0));
        assert!(matches!(
            parked.park(UserId(0), "flood", request()),
            Parking::Fetch
        ));
    }

    #[test]
    fn rosters_fetched_at_once_are_capped() {
        let mut parked = Parked::default();
        for i in 0..MAX_USERS as u32 {
            let requester = format!("r{}", i % 100);
            assert!(matches!(
                parked.park(UserId(i), &requester, request()),
                Parking::Fetch
            ));
        }
        assert!(matches!(
            parked.park(UserId(5_000), "late", request()),
            Parking::Refused(_)
        ));
        // Joining a fetch under way is still fine.
        assert!(matches!(
            parked.park(UserId(1), "late", request()),
            Parking::Joined
        ));
    }
}
