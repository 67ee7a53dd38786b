//! [`StoredTable::replace_all`]: every row replaced at once, as one base
//! segment (TRUNCATE, a `complete`-mode sink, a rewrite by the server).

use datafusion::arrow::record_batch::RecordBatch;

use super::compaction::IndexUpdate;
use super::error::{TableError, TableResult};
use super::stored::{Chunk, StoredTable, build_indexes};

impl StoredTable {
    /// Replaces every row (TRUNCATE, `complete` output, a rewrite by the
    /// server) with `batches`, checked against the constraints, as one base
    /// segment; with `epoch`, only if that epoch was not applied yet.
    /// Returns the rows written, `None` when the epoch was skipped.
    pub fn replace_all(
        &self,
        batches: &[RecordBatch],
        epoch: Option<(&str, u64)>,
    ) -> TableResult<Option<u64>> {
        let mut state = self.lock();
        if let Some((writer, epoch)) = epoch
            && state.writers.get(writer).is_some_and(|&done| done >= epoch)
        {
            return Ok(None);
        }
        let rows = self.conform(batches, &state.non_null)?;
        let chunk = [Chunk::new(state.next_segment, rows, Vec::new())];
        let indexes = build_indexes(&self.name, &self.schema, &state.constraints, &chunk, true)
            .map_err(|e| match e {
                TableError::UniqueViolation {
                    table,
                    constraint,
                    detail,
                } => TableError::UniqueViolation {
                    table,
                    constraint,
                    detail: detail.replace("is duplicated.", "already exists."),
                },
                other => other,
            })?;
        let [chunk] = chunk;
        let mut writers = state.writers.clone();
        if let Some((writer, epoch)) = epoch {
            writers.insert(writer.to_string(), epoch);
        }
        let written = chunk.rows.num_rows() as u64;
        state.rewrite(self, chunk, writers, IndexUpdate::Replace(indexes))?;
        state.version += 1;
        let version = state.version;
        state.changes.rewritten_at(version);
        Ok(Some(written))
    }
}
