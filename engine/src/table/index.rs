//! [`KeyIndex`]: a hash index from a key's encoded bytes to the location of
//! the one live row holding it.
//!
//! Keys are encoded with Arrow's row format ([`RowConverter`]), which gives
//! equal byte strings for equal keys of any column types. The index keeps
//! the encoded keys of every stored row, one [`Rows`] per chunk (in the
//! chunk order of the table), and its hash table holds only 8-byte
//! [`RowLoc`]s: a probe hashes the key, and compares it with the bytes of the
//! candidate's row. Ten million keys of one `BIGINT` cost about 30 bytes a
//! row in all.
//!
//! Rows with a NULL in a key column are never entered (NULLs never
//! conflict); deleted rows are removed, so at most one live row per key is
//! found.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

use super::constraints::KeyConstraint;
use super::error::TableResult;

/// Where a row is in memory: its chunk (one per segment) and its row there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct RowLoc {
    pub chunk: u32,
    pub row: u32,
}

/// The encoded keys of one chunk, and which rows have a NULL key column.
struct ChunkKeys {
    rows: Rows,
    /// Valid where every key column is non-NULL.
    valid: Option<NullBuffer>,
}

pub(super) struct KeyIndex {
    pub constraint: KeyConstraint,
    converter: RowConverter,
    chunks: Vec<ChunkKeys>,
    table: HashTable<RowLoc>,
    hasher: DefaultHashBuilder,
}

impl KeyIndex {
    pub fn new(constraint: KeyConstraint, schema: &Schema) -> TableResult<KeyIndex> {
        let converter = RowConverter::new(
            constraint
                .columns
                .iter()
                .map(|&c| SortField::new(schema.field(c).data_type().clone()))
                .collect(),
        )?;
        Ok(KeyIndex {
            constraint,
            converter,
            chunks: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        })
    }

    /// The key columns of rows with the table's columns.
    pub fn key_columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.constraint
            .columns
            .iter()
            .map(|&c| batch.column(c).clone())
            .collect()
    }

    /// Encodes key columns (in key order).
    pub fn encode(&self, columns: &[ArrayRef]) -> TableResult<Rows> {
        Ok(self.converter.convert_columns(columns)?)
    }

    /// Valid where none of the key columns is NULL.
    pub fn valid(columns: &[ArrayRef]) -> Option<NullBuffer> {
        columns.iter().fold(None, |acc, c| {
            NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
        })
    }

    /// The hash of an encoded key, as the table files it.
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Room for `additional` more entries without rehashing.
    pub fn reserve(&mut self, additional: usize) {
        let KeyIndex {
            chunks,
            table,
            hasher,
            ..
        } = self;
        table.reserve(additional, |l| {
            hasher.hash_one(chunks[l.chunk as usize].rows.row(l.row as usize).data())
        });
    }

    /// The live row holding `key`.
    pub fn find(&self, key: &[u8]) -> Option<RowLoc> {
        self.find_hashed(key, self.hash(key))
    }

    /// [`find`](Self::find) with the key's hash computed already.
    pub fn find_hashed(&self, key: &[u8], hash: u64) -> Option<RowLoc> {
        let chunks = &self.chunks;
        self.table
            .find(hash, |l| {
                chunks[l.chunk as usize].rows.row(l.row as usize).data() == key
            })
            .copied()
    }

    /// The encoded key of a stored row, `None` when a key column is NULL.
    pub fn key_of(&self, loc: RowLoc) -> Option<&[u8]> {
        let chunk = &self.chunks[loc.chunk as usize];
        if chunk
            .valid
            .as_ref()
            .is_some_and(|v| v.is_null(loc.row as usize))
        {
            return None;
        }
        Some(chunk.rows.row(loc.row as usize).data())
    }

    /// Adds a chunk's keys (the rows of a new segment); its rows are entered
    /// one by one with [`insert`](Self::insert).
    pub fn push_chunk(&mut self, batch: &RecordBatch) -> TableResult<()> {
        let columns = self.key_columns(batch);
        let rows = self.encode(&columns)?;
        self.chunks.push(ChunkKeys {
            rows,
            valid: Self::valid(&columns),
        });
        Ok(())
    }

    /// Enters a stored row. Returns the row that held the key before (whose
    /// entry it replaces), if any; rows with a NULL key are not entered.
    pub fn insert(&mut self, loc: RowLoc) -> Option<RowLoc> {
        let hash = self.hash(self.key_of(loc)?);
        let KeyIndex {
            chunks,
            table,
            hasher,
            ..
        } = self;
        let key = chunks[loc.chunk as usize].rows.row(loc.row as usize).data();
        let eq = |l: &RowLoc| chunks[l.chunk as usize].rows.row(l.row as usize).data() == key;
        if let Some(existing) = table.find_mut(hash, eq) {
            return Some(std::mem::replace(existing, loc));
        }
        table.insert_unique(hash, loc, |l| {
            hasher.hash_one(chunks[l.chunk as usize].rows.row(l.row as usize).data())
        });
        None
    }

    /// Enters a stored row whose key the caller checked is not entered
    /// (a write's new rows): no probe for an existing entry.
    pub fn insert_new(&mut self, loc: RowLoc) {
        let Some(key) = self.key_of(loc) else {
            return;
        };
        let hash = self.hash(key);
        let KeyIndex {
            chunks,
            table,
            hasher,
            ..
        } = self;
        table.insert_unique(hash, loc, |l| {
            hasher.hash_one(chunks[l.chunk as usize].rows.row(l.row as usize).data())
        });
    }

    /// Removes a stored row's entry (it was deleted); `hash` is its key's
    /// hash when the caller has it.
    pub fn remove(&mut self, loc: RowLoc, hash: Option<u64>) {
        let hash = match hash {
            Some(h) => h,
            None => match self.key_of(loc) {
                Some(key) => self.hash(key),
                None => return,
            },
        };
        if let Ok(entry) = self.table.find_entry(hash, |l| *l == loc) {
            entry.remove();
        }
    }

    /// Replaces chunks `from..` by one merged chunk holding `merged`, whose
    /// rows moved from `moves` (old location → row in the merged chunk).
    pub fn merge_tail(
        &mut self,
        from: usize,
        merged: &RecordBatch,
        moves: &[(RowLoc, u32)],
    ) -> TableResult<()> {
        let columns = self.key_columns(merged);
        let rows = self.encode(&columns)?;
        let valid = Self::valid(&columns);
        for &(old, new_row) in moves {
            if valid.as_ref().is_some_and(|v| v.is_null(new_row as usize)) {
                continue;
            }
            let hash = self.hash(rows.row(new_row as usize).data());
            if let Some(entry) = self.table.find_mut(hash, |l| *l == old) {
                *entry = RowLoc {
                    chunk: from as u32,
                    row: new_row,
                };
            }
        }
        self.chunks.truncate(from);
        self.chunks.push(ChunkKeys { rows, valid });
        Ok(())
    }
}
