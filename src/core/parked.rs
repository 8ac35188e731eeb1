//! Requests waiting for the chat server: for a user's roster, for pings that confirm
//! resources are still there, or both. Each request waits for a set of operations; an
//! operation is sent once however many requests wait for it, and a request's
//! continuation resumes, once, when every operation it waits for has ended (answered,
//! refused or timed out).
//!
//! Bounded, each refusal a `resource-constraint` to the requester: at most
//! [`MAX_WAITING`] requests wait in all and [`MAX_PER_REQUESTER`] of one requester, so a
//! flooding platform cannot take the room others need; at most [`MAX_ROSTERS`] rosters
//! are fetched at once and [`MAX_PER_OPERATION`] requests wait for one. At most
//! [`MAX_PINGS`] pings are out at once: past that, a resource is not confirmed (and is
//! left out of the answer) rather than the request refused.

use std::collections::HashMap;

use crate::directory::UserId;
use crate::failure::Failure;

/// Requests waiting in all.
pub const MAX_WAITING: usize = 4096;
/// Requests of one requester (bare JID) waiting.
pub const MAX_PER_REQUESTER: u32 = 64;
/// Rosters being fetched (and privileged IQs out) at once.
pub const MAX_ROSTERS: usize = 1024;
/// Pings out at once.
pub const MAX_PINGS: usize = 8192;
/// Requests waiting for one operation.
pub const MAX_PER_OPERATION: usize = 256;

/// Something the bridge asked the server, that requests wait for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operation {
    Roster(UserId),
    /// A ping to one resource of a user.
    Ping(UserId, Box<str>),
    /// A privileged IQ on a user's behalf, numbered by the core.
    Iq(u64),
    /// A read of the database, where it is away.
    Read(crate::store::Read),
}

/// A request put aside: what resumes it (its continuation), and who asked.
#[derive(Debug)]
pub struct Waiting<T> {
    requester: String,
    pub item: T,
    /// Operations not ended yet.
    remaining: u32,
}

/// What became of a request's wait for an operation.
#[derive(Debug, PartialEq, Eq)]
pub enum Joined {
    /// The first to wait for it: send it.
    Send,
    /// It is already under way.
    UnderWay,
    /// No room: the request does not wait for it.
    Full,
}

pub type Ticket = u64;

#[derive(Debug)]
pub struct Parked<T> {
    next: Ticket,
    waiting: HashMap<Ticket, Waiting<T>>,
    operations: HashMap<Operation, Vec<Ticket>>,
    by_requester: HashMap<String, u32>,
    rosters: usize,
    pings: usize,
}

impl<T> Default for Parked<T> {
    fn default() -> Parked<T> {
        Parked {
            next: 0,
            waiting: HashMap::new(),
            operations: HashMap::new(),
            by_requester: HashMap::new(),
            rosters: 0,
            pings: 0,
        }
    }
}

impl<T> Parked<T> {
    /// Puts a request aside; refused (and given back) when there is no room.
    pub fn admit(&mut self, requester: &str, item: T) -> Result<Ticket, (Failure, T)> {
        let mine = self.by_requester.get(requester).copied().unwrap_or(0);
        if mine >= MAX_PER_REQUESTER {
            return Err((Failure::resource_constraint(
                "too many of your requests are already waiting for the chat server; wait for their answers",
            ), item));
        }
        if self.waiting.len() >= MAX_WAITING {
            return Err((
                Failure::resource_constraint(
                    "too many requests are waiting for the chat server; try again shortly",
                ),
                item,
            ));
        }
        self.next += 1;
        let ticket = self.next;
        self.waiting.insert(
            ticket,
            Waiting {
                requester: requester.to_owned(),
                item,
                remaining: 0,
            },
        );
        *self.by_requester.entry(requester.to_owned()).or_default() += 1;
        Ok(ticket)
    }

    /// Makes the request of `ticket` wait for `operation` too.
    pub fn wait_for(&mut self, ticket: Ticket, operation: Operation) -> Joined {
        if !self.waiting.contains_key(&ticket) {
            return Joined::Full;
        }
        let under_way = self.operations.get(&operation).map(Vec::len);
        let joined = match (under_way, &operation) {
            (Some(n), _) if n >= MAX_PER_OPERATION => return Joined::Full,
            (Some(_), _) => Joined::UnderWay,
            (None, Operation::Roster(_) | Operation::Iq(_)) if self.rosters >= MAX_ROSTERS => {
                return Joined::Full
            }
            (None, Operation::Ping(..)) if self.pings >= MAX_PINGS => return Joined::Full,
            (None, Operation::Roster(_) | Operation::Iq(_)) => {
                self.rosters += 1;
                Joined::Send
            }
            (None, Operation::Ping(..)) => {
                self.pings += 1;
                Joined::Send
            }
            // Bounded by the storage worker's own cap (core::storage::MAX_IN_FLIGHT).
            (None, Operation::Read(_)) => Joined::Send,
        };
        let Some(waiting) = self.waiting.get_mut(&ticket) else {
            return Joined::Full;
        };
        if let Some(waiters) = self.operations.get_mut(&operation) {
            // A request asks each operation once; a second ask would count it twice.
            if waiters.contains(&ticket) {
                return Joined::UnderWay;
            }
        }
        waiting.remaining += 1;
        self.operations.entry(operation).or_default().push(ticket);
        joined
    }

    /// The requests waiting for `operation`, to hand them its answer.
    pub fn waiting_for_mut(&mut self, operation: &Operation) -> Vec<&mut T> {
        let Some(tickets) = self.operations.get(operation) else {
            return Vec::new();
        };
        self.waiting
            .iter_mut()
            .filter(|(ticket, _)| tickets.contains(ticket))
            .map(|(_, w)| &mut w.item)
            .collect()
    }

    /// Whether `operation` is under way.
    pub fn under_way(&self, operation: &Operation) -> bool {
        self.operations.contains_key(operation)
    }

    /// The request of `ticket` if it waits for nothing (it can run now).
    pub fn take_if_ready(&mut self, ticket: Ticket) -> Option<Waiting<T>> {
        if self.waiting.get(&ticket)?.remaining > 0 {
            return None;
        }
        self.take(ticket)
    }

    /// Takes the request of `ticket` out, whatever it waits for (it is refused).
    pub fn take(&mut self, ticket: Ticket) -> Option<Waiting<T>> {
        let waiting = self.waiting.remove(&ticket)?;
        self.release(&waiting.requester);
        Some(waiting)
    }

    /// `operation` ended: the requests that waited for nothing else, in arrival order.
    pub fn ended(&mut self, operation: &Operation) -> Vec<Waiting<T>> {
        let Some(tickets) = self.operations.remove(operation) else {
            return Vec::new();
        };
        match operation {
            Operation::Roster(_) | Operation::Iq(_) => {
                self.rosters = self.rosters.saturating_sub(1)
            }
            Operation::Ping(..) => self.pings = self.pings.saturating_sub(1),
            Operation::Read(_) => {}
        }
        let mut ready = Vec::new();
        for ticket in tickets {
            let Some(waiting) = self.waiting.get_mut(&ticket) else {
                continue;
            };
            waiting.remaining = waiting.remaining.saturating_sub(1);
            if waiting.remaining == 0 {
                ready.extend(self.take(ticket));
            }
        }
        ready
    }

    /// Every waiting request; no operation is under way any more.
    pub fn drain(&mut self) -> Vec<T> {
        self.by_requester.clear();
        self.operations.clear();
        self.rosters = 0;
        self.pings = 0;
        let mut waiting: Vec<(Ticket, Waiting<T>)> = self.waiting.drain().collect();
        waiting.sort_unstable_by_key(|(ticket, _)| *ticket);
        waiting.into_iter().map(|(_, w)| w.item).collect()
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
    pub fn rosters(&self) -> usize {
        self.rosters
    }

    /// Pings out.
    pub fn pings(&self) -> usize {
        self.pings
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    fn request(n: u32) -> Element {
        Element::builder("iq", "jabber:component:accept")
            .attr(minidom::rxml::xml_ncname!("id").to_owned(), n.to_string())
            .build()
    }

    fn id(w: &Waiting<Element>) -> String {
        w.item.attr("id").unwrap_or("").to_owned()
    }

    #[test]
    fn one_fetch_per_user_and_every_request_back_in_order() {
        let mut parked = Parked::<Element>::default();
        let a = parked.admit("a", request(1)).unwrap();
        let b = parked.admit("b", request(2)).unwrap();
        let roster = Operation::Roster(UserId(1));
        assert_eq!(parked.wait_for(a, roster.clone()), Joined::Send);
        assert_eq!(parked.wait_for(b, roster.clone()), Joined::UnderWay);
        assert_eq!(parked.rosters(), 1);
        let ready: Vec<String> = parked.ended(&roster).iter().map(id).collect();
        assert_eq!(ready, vec!["1", "2"]);
        assert!(parked.by_requester.is_empty());
        assert_eq!(parked.rosters(), 0);
        assert!(parked.is_empty());
    }

    #[test]
    fn a_request_runs_again_once_every_operation_it_waits_for_ended() {
        let mut parked = Parked::<Element>::default();
        let t = parked.admit("a", request(1)).unwrap();
        let roster = Operation::Roster(UserId(1));
        let ping = Operation::Ping(UserId(2), "phone".into());
        assert_eq!(parked.wait_for(t, roster.clone()), Joined::Send);
        assert_eq!(parked.wait_for(t, ping.clone()), Joined::Send);
        assert_eq!(parked.wait_for(t, ping.clone()), Joined::UnderWay);
        assert!(parked.ended(&ping).is_empty());
        assert_eq!(parked.ended(&roster).len(), 1);
        assert_eq!(parked.pings(), 0);
        // Nothing to wait for: it runs at once.
        let t = parked.admit("a", request(2)).unwrap();
        assert!(parked.take_if_ready(t).is_some());
        assert!(parked.is_empty());
    }

    #[test]
    fn one_requester_cannot_take_all_the_room() {
        let mut parked = Parked::<Element>::default();
        for i in 0..MAX_PER_REQUESTER {
            let t = parked.admit("flood", request(i)).unwrap();
            parked.wait_for(t, Operation::Roster(UserId(i)));
        }
        assert!(parked.admit("flood", request(0)).is_err());
        assert!(parked.admit("other", request(0)).is_ok());
        // Once answered, the flooder may ask again.
        parked.ended(&Operation::Roster(UserId(0)));
        assert!(parked.admit("flood", request(0)).is_ok());
    }

    #[test]
    fn rosters_fetched_at_once_are_capped_and_joining_one_under_way_is_fine() {
        let mut parked = Parked::<Element>::default();
        for i in 0..MAX_ROSTERS as u32 {
            let t = parked.admit(&format!("r{}", i % 60), request(i)).unwrap();
            assert_eq!(
                parked.wait_for(t, Operation::Roster(UserId(i))),
                Joined::Send
            );
        }
        let late = parked.admit("late", request(0)).unwrap();
        assert_eq!(
            parked.wait_for(late, Operation::Roster(UserId(5_000))),
            Joined::Full
        );
        assert_eq!(
            parked.wait_for(late, Operation::Roster(UserId(1))),
            Joined::UnderWay
        );
        assert_eq!(parked.drain().len(), MAX_ROSTERS + 1);
        assert_eq!(parked.rosters(), 0);
    }
}
