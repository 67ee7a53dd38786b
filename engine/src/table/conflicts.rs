//! [`ChangeLog`]: which primary keys changed at which table version, so that
//! an optimistic write set can tell whether rows it overwrites or deletes
//! were changed by another writer after the version it read.
//!
//! The log starts when someone first asks for a read version (tables only
//! streaming queries write never pay for it) and keeps the newest
//! [`CAPACITY`] changes. A write set based on a version older than what the
//! log still covers cannot be checked and fails with 40001, which is safe:
//! a transaction that read long ago, across that many changes, is retried.
//!
//! Keys are kept as 64-bit hashes, not bytes, so that recording a change
//! allocates nothing (a sink upserting into a table SQL also writes pays
//! a hash and two pushes per row). Two keys with one hash make a write
//! that touches one of them fail with 40001 when the other changed: the
//! safe side, and about as likely as never.

use std::collections::VecDeque;

use hashbrown::{DefaultHashBuilder, HashMap};
use std::hash::BuildHasher;

/// Changes kept; beyond it the oldest are forgotten.
const CAPACITY: usize = 1 << 18;

#[derive(Default)]
pub(super) struct ChangeLog {
    /// Off until the first read version is handed out.
    enabled: bool,
    /// Changes at versions above this one are all in `last_change`.
    covers_after: u64,
    hasher: DefaultHashBuilder,
    /// Key hash → the version of its last change.
    last_change: HashMap<u64, u64>,
    order: VecDeque<(u64, u64)>,
}

impl ChangeLog {
    /// Starts recording (if not yet) from `version` on.
    pub fn enable(&mut self, version: u64) {
        if !self.enabled {
            self.enabled = true;
            self.covers_after = version;
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Records that the row with primary key `key` was inserted, replaced
    /// or deleted by the write that made `version`.
    pub fn record(&mut self, version: u64, key: &[u8]) {
        if !self.enabled {
            return;
        }
        let key = self.hasher.hash_one(key);
        self.last_change.insert(key, version);
        self.order.push_back((version, key));
        while self.order.len() > CAPACITY {
            let (v, old) = self.order.pop_front().expect("non-empty");
            if self.last_change.get(&old) == Some(&v) {
                self.last_change.remove(&old);
            }
            self.covers_after = self.covers_after.max(v);
        }
    }

    /// Whether the row with `key` may have changed after `base`: it did, or
    /// the log no longer reaches back that far.
    pub fn changed_after(&self, key: &[u8], base: u64) -> bool {
        if !self.enabled || base < self.covers_after {
            return true;
        }
        let key = self.hasher.hash_one(key);
        self.last_change.get(&key).is_some_and(|&v| v > base)
    }

    /// After a rewrite of the whole table (replace, truncate) every key
    /// counts as changed for readers of older versions.
    pub fn rewritten_at(&mut self, version: u64) {
        self.last_change.clear();
        self.order.clear();
        self.covers_after = version;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_conflicts_only_if_changed_after_the_base() {
        let mut log = ChangeLog::default();
        log.record(1, b"a");
        log.enable(5);
        assert!(log.changed_after(b"a", 4), "older than the log: unknown");
        assert!(!log.changed_after(b"a", 5));
        log.record(6, b"a");
        assert!(log.changed_after(b"a", 5));
        assert!(!log.changed_after(b"a", 6));
        assert!(!log.changed_after(b"b", 5));
        log.rewritten_at(7);
        assert!(log.changed_after(b"b", 6));
        assert!(!log.changed_after(b"b", 7));
    }
}
