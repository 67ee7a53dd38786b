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
        // Every row of `before`, by value: where it is, not yet matched.
        let encoded: Vec<_> = before
            .iter()
            .map(|b| converter.convert_columns(b.columns()))
            .collect::<Result<_, _>>()?;
        let mut unmatched: HashMap<&[u8], Vec<(usize, usize)>> = HashMap::new();
        for (b, rows) in encoded.iter().enumerate() {
            for (r, row) in rows.iter().enumerate() {
                unmatched.entry(row.data()).or_default().push((b, r));
            }
        }
        let mut inserted = Vec::new();
        for batch in after.iter().filter(|b| b.num_rows() > 0) {
            let rows = converter.convert_columns(batch.columns())?;
            let new: BooleanArray = rows
                .iter()
                .map(|row| {
                    let kept = unmatched.get_mut(row.data()).and_then(Vec::pop);
                    Some(kept.is_none())
                })
                .collect();
            let new_rows = filter_record_batch(batch, &new)?;
            if new_rows.num_rows() > 0 {
                inserted.push(new_rows);
            }
        }
        let mut gone: Vec<Vec<bool>> = before.iter().map(|b| vec![false; b.num_rows()]).collect();
        for (b, r) in unmatched.into_values().flatten() {
            gone[b][r] = true;
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
