//! The answer cache of a `postgres` lookup (`lookup.cache.ttl`,
//! `lookup.cache.max_rows`).
//!
//! The cache maps a key (Arrow's row encoding of the key columns) to the
//! rows PostgreSQL answered for it and when: several rows, or none (a "no
//! rows" answer is cached too, so a stream full of unknown keys does not
//! query them every epoch). An answer is used until `ttl` has passed since
//! its query was sent; it is never refreshed by use, so no answer is ever
//! older than `ttl`.
//!
//! All answers of one query share that query's result batch: an entry is
//! the batch and the indices of its key's rows. Entries are kept in the
//! order they were fetched, which is also the order they expire in; the
//! size (rows, a "no rows" answer counting as one) is bounded by
//! `max_rows` by dropping the oldest. Since one query's entries are
//! adjacent in that order, a result batch is freed once its last entry
//! goes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;

/// A key: the bytes of Arrow's row encoding of the key columns.
pub type KeyBytes = Arc<[u8]>;

/// Rows of one key: indices into a shared result batch.
#[derive(Debug, Clone)]
pub struct Answer {
    pub batch: Arc<RecordBatch>,
    pub rows: Vec<u32>,
}

struct Entry {
    answer: Answer,
    fetched: Instant,
    /// Identifies this insertion in `order` (a key fetched again gets a new
    /// one; the old position is then stale).
    seq: u64,
}

pub struct LookupCache {
    ttl: Duration,
    max_rows: usize,
    entries: HashMap<KeyBytes, Entry>,
    /// Keys in fetch order, with the `seq` they were inserted with.
    order: VecDeque<(u64, KeyBytes)>,
    /// Rows held, a "no rows" answer counting as one.
    size: usize,
    next_seq: u64,
}

fn cost(answer: &Answer) -> usize {
    answer.rows.len().max(1)
}

impl LookupCache {
    pub fn new(ttl: Duration, max_rows: usize) -> LookupCache {
        LookupCache {
            ttl,
            max_rows,
            entries: HashMap::new(),
            order: VecDeque::new(),
            size: 0,
            next_seq: 0,
        }
    }

    /// The answer for `key` if it was fetched less than `ttl` before `now`.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<&Answer> {
        let entry = self.entries.get(key)?;
        (now.saturating_duration_since(entry.fetched) < self.ttl).then_some(&entry.answer)
    }

    /// Records `answer` for `key`, fetched by a query sent at `fetched`.
    pub fn insert(&mut self, key: KeyBytes, answer: Answer, fetched: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.size += cost(&answer);
        self.order.push_back((seq, key.clone()));
        let entry = Entry {
            answer,
            fetched,
            seq,
        };
        if let Some(old) = self.entries.insert(key, entry) {
            self.size -= cost(&old.answer);
        }
    }

    /// Drops expired answers, then the oldest until at most `max_rows` rows
    /// are held.
    pub fn trim(&mut self, now: Instant) {
        while let Some((seq, key)) = self.order.front() {
            let Some(entry) = self.entries.get(key) else {
                self.order.pop_front();
                continue;
            };
            let stale = entry.seq != *seq;
            let expired = now.saturating_duration_since(entry.fetched) >= self.ttl;
            if !stale && !expired && self.size <= self.max_rows {
                break;
            }
            let (seq, key) = self.order.pop_front().expect("front exists");
            if !stale && let Some(entry) = self.entries.remove(&key) {
                debug_assert_eq!(entry.seq, seq);
                self.size -= cost(&entry.answer);
            }
        }
    }

    /// Rows held, a "no rows" answer counting as one.
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.size
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::row::{RowConverter, Rows, SortField};

    use super::*;

    fn keys(values: &[i64]) -> Rows {
        let converter = RowConverter::new(vec![SortField::new(DataType::Int64)]).unwrap();
        let array: ArrayRef = Arc::new(Int64Array::from(values.to_vec()));
        converter.convert_columns(&[array]).unwrap()
    }

    fn answer(rows: usize) -> Answer {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![0; rows.max(1)]))],
        )
        .unwrap();
        Answer {
            batch: Arc::new(batch),
            rows: (0..rows as u32).collect(),
        }
    }

    #[test]
    fn answers_expire_after_the_ttl_and_the_oldest_go_first() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut cache = LookupCache::new(ttl, 5);
        let rows = keys(&[1, 2, 3, 4]);
        let k = |i: usize| -> KeyBytes { rows.row(i).as_ref().into() };
        cache.insert(k(0), answer(2), t0);
        cache.insert(k(1), answer(0), t0);
        assert_eq!(cache.size(), 3);
        assert_eq!(cache.get(&k(0), t0).unwrap().rows, [0, 1]);
        assert!(cache.get(&k(1), t0).unwrap().rows.is_empty());
        assert!(cache.get(&k(2), t0).is_none());
        assert!(cache.get(&k(0), t0 + ttl).is_none());

        // Over the bound: the oldest answer goes.
        let t1 = t0 + Duration::from_secs(1);
        cache.insert(k(2), answer(3), t1);
        cache.trim(t1);
        assert_eq!((cache.len(), cache.size()), (2, 4));
        assert!(cache.get(&k(0), t1).is_none());
        assert!(cache.get(&k(1), t1).is_some());

        // A key fetched again replaces its answer; its old position is stale.
        cache.insert(k(1), answer(1), t1);
        cache.trim(t1);
        assert_eq!((cache.len(), cache.size()), (2, 4));

        // Expired answers are dropped by trim.
        cache.trim(t1 + ttl);
        assert_eq!((cache.len(), cache.size()), (0, 0));
    }
}
