//! Self-defined statuses: a line a user (or an authorized platform for them) sets, kept
//! after logout, reported by `status` apart from the presence texts.

use std::collections::HashMap;

use crate::store::SelfStatusRecord;

/// Longest self-defined status, in characters.
pub const MAX_CHARS: usize = 200;
/// Users with a self-defined status at once; past it, new ones are refused.
pub const MAX_USERS: usize = 1_000_000;

#[derive(Debug, Default)]
pub struct SelfStatuses {
    by_user: HashMap<Box<str>, SelfStatusRecord>,
}

impl SelfStatuses {
    pub fn get(&self, user: &str) -> Option<&SelfStatusRecord> {
        self.by_user.get(user)
    }

    pub fn has_room_for(&self, user: &str) -> bool {
        self.by_user.contains_key(user) || self.by_user.len() < MAX_USERS
    }

    /// Sets (`Some`) or clears a user's status, once stored.
    pub fn apply(&mut self, user: &str, status: Option<SelfStatusRecord>) {
        match status {
            Some(status) if self.has_room_for(user) => {
                self.by_user.insert(user.into(), status);
            }
            Some(_) => {}
            None => {
                self.by_user.remove(user);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }
}
