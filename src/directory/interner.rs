//! Bare JIDs as small integer ids, each name stored once.
//!
//! The directory refers to users (and their contacts) by [`UserId`]; a roster of 10,000
//! contacts is then 40 KB of ids rather than 10,000 strings. The table holds only ids and
//! hashes through the name list, so a name costs its bytes plus one pointer.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// A bare JID known to the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub u32);

#[derive(Default)]
pub struct Interner {
    hasher: DefaultHashBuilder,
    table: HashTable<u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The id of `name`, which must already be a normalised bare JID.
    pub fn get(&self, name: &str) -> Option<UserId> {
        let hash = self.hasher.hash_one(name);
        self.table
            .find(hash, |&id| {
                self.names.get(id as usize).is_some_and(|n| &**n == name)
            })
            .map(|&id| UserId(id))
    }

    /// The id of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> UserId {
        if let Some(id) = self.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        let hash = self.hasher.hash_one(name);
        let (names, hasher) = (&self.names, &self.hasher);
        self.table.insert_unique(hash, id, |&id| {
            hasher.hash_one(names.get(id as usize).map_or("", |n| &**n))
        });
        UserId(id)
    }

    pub fn name(&self, id: UserId) -> &str {
        self.names.get(id.0 as usize).map_or("", |n| n)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_id_and_back() {
        let mut interner = Interner::new();
        let alice = interner.intern("alice@example.test");
        let bob = interner.intern("bob@example.test");
        assert_ne!(alice, bob);
        assert_eq!(interner.intern("alice@example.test"), alice);
        assert_eq!(interner.get("bob@example.test"), Some(bob));
        assert_eq!(interner.get("carol@example.test"), None);
        assert_eq!(interner.name(bob), "bob@example.test");
        assert_eq!(interner.len(), 2);
    }

    #[test]
    fn many_names_survive_growth() {
        let mut interner = Interner::new();
        let ids: Vec<UserId> = (0..5000)
            .map(|i| interner.intern(&format!("user{i}@example.test")))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(interner.get(&format!("user{i}@example.test")), Some(*id));
        }
    }
}
