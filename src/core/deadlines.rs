//! A deadline queue: keys ordered by when they are due, so that finding what expired
//! costs O(log n) per expiry instead of a sweep over everything pending at every input.
//!
//! Entries are never removed early: the owner of the keys keeps the truth (a map of
//! what is pending, with each entry's current deadline) and checks every key popped
//! here against it, so a key that was answered, removed or rescheduled meanwhile is
//! simply skipped. The queue is rebuilt from the owner's map when stale entries
//! outnumber live ones, which keeps its size within a constant of the map's.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::SystemTime;

#[derive(Debug)]
pub struct Deadlines<K: Ord> {
    heap: BinaryHeap<Reverse<(SystemTime, K)>>,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Clone> Deadlines<K> {
    pub fn push(&mut self, at: SystemTime, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline queued (perhaps of a key no longer pending: waking for it
    /// costs one empty check).
    pub fn next(&self) -> Option<SystemTime> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The next entry due at `now`, removed from the queue.
    pub fn pop_due(&mut self, now: SystemTime) -> Option<(SystemTime, K)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// Entries queued, live or stale.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Rebuilds the queue from the live entries when it holds more than twice as many.
    pub fn compact<I: IntoIterator<Item = (SystemTime, K)>>(&mut self, live: usize, entries: I) {
        if self.heap.len() > 2 * live + 64 {
            self.heap = entries.into_iter().map(Reverse).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn entries_come_out_in_deadline_order_and_only_when_due() {
        let mut q = Deadlines::default();
        q.push(t(30), "c");
        q.push(t(10), "a");
        q.push(t(20), "b");
        assert_eq!(q.next(), Some(t(10)));
        assert_eq!(q.pop_due(t(5)), None);
        assert_eq!(q.pop_due(t(25)), Some((t(10), "a")));
        assert_eq!(q.pop_due(t(25)), Some((t(20), "b")));
        assert_eq!(q.pop_due(t(25)), None);
        assert_eq!(q.next(), Some(t(30)));
    }

    #[test]
    fn compaction_keeps_only_the_live_entries() {
        let mut q = Deadlines::default();
        for i in 0..1_000 {
            q.push(t(i), i);
        }
        q.compact(1, [(t(500), 500)]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_due(t(1_000)), Some((t(500), 500)));
    }
}
