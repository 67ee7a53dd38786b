//! [`WriteSet::rewrite`]: the write set that turns a snapshot of a table
//! into new contents, for writers that compute a table's rows whole (the
//! server's UPDATE and DELETE inside a transaction) rather than by key.

use hashbrown::HashMap;

use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};

use super::error::TableResult;
use super::write::WriteSet;

/// The end of a chain of equal rows.
const NONE: usize = usize::MAX;

impl WriteSet {
    /// The write that turns `before` — a table's rows at version `base`,
    /// from [`StoredTable::snapshot`](super::StoredTable::snapshot) — into
    /// `after`: rows of `before` that `after` does not hold are deleted,
    /// rows of `after` that `before` does not hold are inserted (whole
    /// rows, as multisets), and the write is based on `base`. So rows
    /// other writers added meanwhile are kept, and a row they changed or
    /// deleted that this write would delete fails it with 40001.
    pub fn rewrite(
        schema: &SchemaRef,
        before: &[RecordBatch],
        after: &[RecordBatch],
        base: u64,
    ) -> TableResult<WriteSet> {
        let converter = RowConverter::new(
            schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        // Every row of `before`, by value: equal rows are chained through
        // `next` (no allocation per row), `head` holds each chain's first
        // row not matched yet.
        let encoded: Vec<_> = before
            .iter()
            .map(|b| converter.convert_columns(b.columns()))
            .collect::<Result<_, _>>()?;
        let rows: usize = before.iter().map(|b| b.num_rows()).sum();
        let mut positions: Vec<(usize, usize)> = Vec::with_capacity(rows);
        let mut next: Vec<usize> = Vec::with_capacity(rows);
        let mut head: HashMap<&[u8], usize> = HashMap::with_capacity(rows);
        for (b, encoded) in encoded.iter().enumerate() {
            for (r, row) in encoded.iter().enumerate() {
                next.push(head.insert(row.data(), positions.len()).unwrap_or(NONE));
                positions.push((b, r));
            }
        }
        let mut matched = vec![false; rows];
        let mut inserted = Vec::new();
        for batch in after.iter().filter(|b| b.num_rows() > 0) {
            let encoded = converter.convert_columns(batch.columns())?;
            let new: BooleanArray = encoded
                .iter()
                .map(|row| match head.get_mut(row.data()) {
                    Some(first) if *first != NONE => {
                        matched[*first] = true;
                        *first = next[*first];
                        Some(false)
                    }
                    _ => Some(true),
                })
                .collect();
            let new_rows = filter_record_batch(batch, &new)?;
            if new_rows.num_rows() > 0 {
                inserted.push(new_rows);
            }
        }
        let mut gone: Vec<Vec<bool>> = before.iter().map(|b| vec![false; b.num_rows()]).collect();
        for (&(b, r), matched) in positions.iter().zip(matched) {
            gone[b][r] = !matched;
        }
        let mut ws = WriteSet::new();
        for (batch, gone) in before.iter().zip(gone) {
            if gone.iter().any(|&g| g) {
                ws = ws.delete_rows(filter_record_batch(batch, &BooleanArray::from(gone))?);
            }
        }
        Ok(ws.with_rows(inserted).based_on(base))
    }
}
