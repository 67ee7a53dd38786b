//! Compaction: keeping the number of segments small and dropping deleted
//! rows, at an amortised cost per written row that does not grow with the
//! table.
//!
//! The first chunk is the *base*; the others form the *tail*, newest last.
//! After every write:
//!
//! - when the tail weighs (rows + tombstones) more than the base (or the
//!   stored rows are mostly deleted), everything is rewritten as one new
//!   base segment. The base at least doubles between two such rewrites, so
//!   each row is rewritten O(log n) times this way;
//! - otherwise, when the newest [`FANOUT`] tail chunks are of one *level*
//!   (a write is level 0, a merge of level-`l` chunks level `l + 1`), they
//!   are merged into one segment that replaces them (`eddy.replaces`), like
//!   a counter in base `FANOUT`: a row is merged once per level, O(log n)
//!   times, and the tail holds fewer than `FANOUT` chunks per level.
//!
//! A single-row write into a table of a million rows therefore appends one
//! small segment and, every `FANOUT` writes, merges a few small ones.

use std::fs;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;

use super::error::TableResult;
use super::index::{KeyIndex, RowLoc};
use super::segment::{self, Segment, Supersedes};
use super::stored::{Chunk, StoredTable, TableState, build_indexes};

/// How a rewrite brings the indexes up to date.
pub(super) enum IndexUpdate {
    /// New indexes, built over the new rows (a replacement).
    Replace(Vec<KeyIndex>),
    /// The same entries, moved: old location → row in the new chunk.
    Relocate(Vec<(RowLoc, u32)>),
}

/// Tail chunks of one level merged together.
const FANOUT: usize = 8;
/// Tail chunks beyond which the whole tail is merged, whatever the tiers.
const MAX_TAIL: usize = 96;
/// Below this many rows a table is rewritten whole rather than merged.
const SMALL_TABLE: usize = 4096;

/// The level a merged segment read back from disk is given: its levels
/// were not stored, its size tells them roughly.
pub(super) fn level_of_merged(weight: usize) -> u32 {
    ((usize::BITS - weight.leading_zeros()) / FANOUT.trailing_zeros()).max(1)
}

impl TableState {
    pub(super) fn maybe_compact(&mut self, table: &StoredTable) -> TableResult<()> {
        loop {
            let n = self.chunks.len();
            if n <= 1 {
                return Ok(());
            }
            let base = self.chunks[0].rows.num_rows().max(SMALL_TABLE);
            let tail: usize = self.chunks[1..].iter().map(Chunk::weight).sum();
            let mostly_dead = self.dead_rows > self.live_rows.max(SMALL_TABLE);
            if tail > base || mostly_dead {
                return self.compact_all(table);
            }
            let last = &self.chunks[n.saturating_sub(FANOUT).max(1)..];
            if last.len() == FANOUT && last.iter().all(|c| c.level == last[0].level) {
                self.merge_tail(table, n - FANOUT)?;
            } else if n - 1 > MAX_TAIL {
                self.merge_tail(table, 1)?;
            } else {
                return Ok(());
            }
        }
    }

    /// Rewrites every live row as one base segment. The indexes keep their
    /// entries, moved to the rows' new places (no rebuild).
    pub(super) fn compact_all(&mut self, table: &StoredTable) -> TableResult<()> {
        let (rows, moves) = self.live_rows_batch(table, 0)?;
        let chunk = Chunk::new(self.next_segment, rows, Vec::new());
        let writers = self.writers.clone();
        self.rewrite(table, chunk, writers, IndexUpdate::Relocate(moves))
    }

    /// Writes `chunk` as a base segment (all the rows), then the manifest,
    /// then removes the older segments, and makes it the only chunk, with
    /// the indexes updated as `indexes` says.
    pub(super) fn rewrite(
        &mut self,
        table: &StoredTable,
        chunk: Chunk,
        writers: std::collections::BTreeMap<String, u64>,
        indexes: IndexUpdate,
    ) -> TableResult<()> {
        let seq = self.next_segment;
        let segment = Segment {
            seq,
            rows: chunk.rows,
            writers,
            tombstones: Vec::new(),
            supersedes: Supersedes::All,
        };
        segment::write_segment(&table.dir, &table.schema, &segment, table.sync)?;
        segment::write_manifest(&table.dir, seq, table.sync)?;
        for old in self.chunks.iter().map(|c| c.segment) {
            let _ = fs::remove_file(segment::segment_path(&table.dir, old));
        }
        self.live_rows = segment.rows.num_rows();
        self.dead_rows = 0;
        self.chunks = vec![Chunk::new(seq, segment.rows, Vec::new())];
        self.writers = segment.writers;
        self.first_segment = seq;
        self.next_segment = seq + 1;
        match indexes {
            IndexUpdate::Replace(indexes) => self.indexes = indexes,
            IndexUpdate::Relocate(moves) => {
                let rows = &self.chunks[0].rows;
                let relocated = self
                    .indexes
                    .iter_mut()
                    .try_for_each(|index| index.merge_tail(0, rows, &moves));
                if relocated.is_err() {
                    self.indexes = build_indexes(
                        &table.name,
                        &table.schema,
                        &self.constraints,
                        &self.chunks,
                        false,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Merges chunks `from..` (the newest ones) into one segment.
    fn merge_tail(&mut self, table: &StoredTable, from: usize) -> TableResult<()> {
        let (rows, moves) = self.live_rows_batch(table, from)?;
        let first = self.chunks[from].segment;
        let tombstones: Vec<_> = self.chunks[from..]
            .iter()
            .flat_map(|c| c.tombstones.iter().copied())
            .filter(|&(target, _)| target < first)
            .collect();
        let level = self.chunks[from..]
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(0)
            + 1;
        let seq = self.next_segment;
        let segment = Segment {
            seq,
            rows,
            writers: self.writers.clone(),
            tombstones,
            supersedes: Supersedes::From(first),
        };
        segment::write_segment(&table.dir, &table.schema, &segment, table.sync)?;
        for old in self.chunks[from..].iter().map(|c| c.segment) {
            let _ = fs::remove_file(segment::segment_path(&table.dir, old));
        }
        for index in self.indexes.iter_mut() {
            index.merge_tail(from, &segment.rows, &moves)?;
        }
        let dropped: usize = self.chunks[from..].iter().map(|c| c.deleted_count).sum();
        self.dead_rows -= dropped;
        self.chunks.truncate(from);
        let mut chunk = Chunk::new(seq, segment.rows, segment.tombstones);
        chunk.level = level;
        self.chunks.push(chunk);
        self.next_segment = seq + 1;
        Ok(())
    }

    /// The live rows of chunks `from..` as one batch, and where each came
    /// from (old location → row in the batch).
    fn live_rows_batch(
        &mut self,
        table: &StoredTable,
        from: usize,
    ) -> TableResult<(RecordBatch, Vec<(RowLoc, u32)>)> {
        let mut parts = Vec::new();
        let mut moves = Vec::new();
        for (c, chunk) in self.chunks.iter_mut().enumerate().skip(from) {
            for row in (0..chunk.rows.num_rows()).filter(|&r| chunk.is_live(r)) {
                let loc = RowLoc {
                    chunk: c as u32,
                    row: row as u32,
                };
                moves.push((loc, moves.len() as u32));
            }
            if chunk.live_count() > 0 {
                parts.push(chunk.visible()?);
            }
        }
        Ok((concat_batches(&table.schema, &parts)?, moves))
    }
}
