//! Shorthands on top of [`StoredTable::write`] and
//! [`StoredTable::replace_all`] with the engine's error type: the calls the
//! server, the late-rows table and the dead-letter tables made before write
//! sets existed, unchanged in behaviour except that every constraint of the
//! table is now checked.

use datafusion::arrow::record_batch::RecordBatch;

use super::stored::StoredTable;
use super::write::WriteSet;
use crate::Result;

impl StoredTable {
    /// Appends rows durably. Returns the number of rows appended.
    pub fn append(&self, batches: &[RecordBatch]) -> Result<u64> {
        Ok(self.write(WriteSet::insert(batches.to_vec()))?.inserted)
    }

    /// Appends epoch `epoch` of streaming query `writer`, unless that epoch
    /// (or a later one) was already appended: a replay after a crash then
    /// adds nothing. Returns the number of rows appended.
    pub fn append_epoch(&self, writer: &str, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        Ok(self
            .write(WriteSet::insert(batches.to_vec()).for_epoch(writer, epoch))?
            .inserted)
    }

    /// Replaces all rows durably (TRUNCATE, DELETE, UPDATE, overwrite sinks).
    pub fn replace(&self, batches: Vec<RecordBatch>) -> Result<()> {
        self.replace_all(&batches, None)?;
        Ok(())
    }

    /// Replaces all rows with epoch `epoch` of streaming query `writer` (a
    /// `complete` output: each epoch is the whole result), unless that
    /// epoch (or a later one) was already applied. The rows and the
    /// writer's epoch are written in one base segment, so after a crash the
    /// table holds either the previous contents or these, never a mix, and
    /// a replayed epoch changes nothing. Returns the number of rows written.
    pub fn replace_epoch(&self, writer: &str, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        Ok(self
            .replace_all(batches, Some((writer, epoch)))?
            .unwrap_or(0))
    }
}
