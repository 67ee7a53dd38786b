//! Stream–stream interval joins.
//!
//! ```sql
//! FROM impressions i JOIN clicks c
//!   ON i.ad_id = c.ad_id
//!  AND c.ts BETWEEN i.ts AND i.ts + INTERVAL '10' MINUTE
//! ```
//!
//! Each side keeps the rows it has read, indexed by join key. A new batch
//! on one side is paired with the other side's rows of the same key, the
//! whole `ON` condition (the time bounds included) picks the pairs, and the
//! batch joins its side's state. Every matching pair is thus emitted once,
//! when the later of its two rows arrives.
//!
//! State is bounded by the watermark. The time condition reads
//! `left.ts ∈ [right.ts − lower, right.ts + upper]`; rows at or before the
//! watermark are late (dropped before they reach the join), so a left row
//! can no longer match once `left.ts + lower` is behind the watermark, and a
//! right row once `right.ts + upper` is. Both sides are checkpointed whole.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, interleave, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimestampMicrosecondType};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use crate::arrays::{cast_each, null_as_false};
use crate::state::OperatorState;
use crate::watermark::EventTime;
use crate::{EngineError, Result};

/// One side of the join.
pub struct JoinSide {
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Index of the event-time column in the side's rows.
    pub time_column: usize,
    pub schema: SchemaRef,
    /// How far ahead of this side's event time a row of the other side can
    /// still match: a row is dropped once `ts + reach` is behind the
    /// watermark.
    pub reach: i64,
}

struct SideState {
    side: JoinSide,
    batches: Vec<RecordBatch>,
    /// Encoded key → (batch, row).
    index: HashMap<Box<[u8]>, Vec<(usize, usize)>>,
}

pub struct IntervalJoin {
    left: SideState,
    right: SideState,
    converter: RowConverter,
    key_types: Vec<DataType>,
    /// The `ON` condition over the joined schema.
    filter: Arc<dyn PhysicalExpr>,
    output_schema: SchemaRef,
}

impl IntervalJoin {
    pub fn new(
        left: JoinSide,
        right: JoinSide,
        key_types: Vec<DataType>,
        filter: Arc<dyn PhysicalExpr>,
        output_schema: SchemaRef,
    ) -> Result<Self> {
        let new = |side| SideState {
            side,
            batches: Vec::new(),
            index: HashMap::new(),
        };
        Ok(IntervalJoin {
            left: new(left),
            right: new(right),
            converter: RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?,
            key_types,
            filter,
            output_schema,
        })
    }

    /// A batch of the left (`is_left`) or right side: pairs it with the
    /// other side's rows, then keeps it.
    pub fn process(&mut self, is_left: bool, batch: &RecordBatch) -> Result<RecordBatch> {
        let (converter, types) = (&self.converter, &self.key_types);
        let (this, other) = if is_left {
            (&mut self.left, &self.right)
        } else {
            (&mut self.right, &self.left)
        };
        let n = batch.num_rows();
        let keys = this
            .side
            .keys
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(n))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        // Both sides' keys compare in one type.
        let keys = cast_each(keys, types)?;
        let encoded = converter.convert_columns(&keys)?;
        let valid = |i: usize| keys.iter().all(|k| !k.is_null(i));

        let mut mine = Vec::new();
        let mut theirs = Vec::new();
        for i in 0..n {
            if !valid(i) {
                continue;
            }
            if let Some(rows) = other.index.get(encoded.row(i).data()) {
                for &r in rows {
                    mine.push(i as u32);
                    theirs.push(r);
                }
            }
        }
        let pairs = pair_batch(
            batch,
            &mine,
            &other.batches,
            &theirs,
            is_left,
            &self.output_schema,
        )?;
        let mask = self.filter.evaluate(&pairs)?.into_array(pairs.num_rows())?;
        let mask = mask
            .as_boolean_opt()
            .ok_or_else(|| EngineError::Plan("join condition is not boolean".into()))?;
        let out = filter_record_batch(&pairs, &null_as_false(mask))?;

        let b = this.batches.len();
        for i in 0..n {
            if valid(i) {
                this.index
                    .entry(encoded.row(i).data().into())
                    .or_default()
                    .push((b, i));
            }
        }
        this.batches.push(batch.clone());
        Ok(out)
    }

    /// Drops the rows no future row can match.
    pub fn finish_epoch(&mut self, watermark: EventTime) -> Result<()> {
        if watermark == i64::MIN {
            return Ok(());
        }
        let (converter, types) = (&self.converter, &self.key_types);
        for state in [&mut self.left, &mut self.right] {
            if state.batches.is_empty() {
                continue;
            }
            let all = concat_batches(&state.side.schema, &state.batches)?;
            let ts = all
                .column(state.side.time_column)
                .as_primitive::<TimestampMicrosecondType>();
            let reach = state.side.reach;
            let keep: BooleanArray = ts
                .iter()
                .map(|t| Some(t.is_some_and(|t| t.saturating_add(reach) >= watermark)))
                .collect();
            let kept = filter_record_batch(&all, &keep)?;
            state.rebuild(kept, converter, types)?;
        }
        Ok(())
    }

    /// Both sides' rows (operator `id` for the left, `id + 1` for the right).
    pub fn checkpoint(&self) -> (OperatorState, OperatorState) {
        let state = |s: &SideState| OperatorState {
            schema: s.side.schema.clone(),
            batches: s.batches.clone(),
            removed: Vec::new(),
        };
        (state(&self.left), state(&self.right))
    }

    pub fn restore(
        &mut self,
        left: Option<&[RecordBatch]>,
        right: Option<&[RecordBatch]>,
    ) -> Result<()> {
        let (converter, types) = (&self.converter, &self.key_types);
        for (state, batches) in [(&mut self.left, left), (&mut self.right, right)] {
            if let Some(batches) = batches {
                let schema = state.side.schema.clone();
                let batches = batches
                    .iter()
                    .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
                    .collect::<Result<Vec<_>, _>>()?;
                let all = concat_batches(&schema, &batches)?;
                state.rebuild(all, converter, types)?;
            }
        }
        Ok(())
    }

    pub fn clear(&mut self) {
        for state in [&mut self.left, &mut self.right] {
            state.batches.clear();
            state.index.clear();
        }
    }

    pub fn state_rows(&self) -> usize {
        [&self.left, &self.right]
            .iter()
            .flat_map(|s| &s.batches)
            .map(|b| b.num_rows())
            .sum()
    }

    pub fn state_bytes(&self) -> usize {
        [&self.left, &self.right]
            .iter()
            .flat_map(|s| &s.batches)
            .map(|b| b.get_array_memory_size())
            .sum()
    }
}

impl SideState {
    /// Replaces the rows with `rows`, re-indexed.
    fn rebuild(
        &mut self,
        rows: RecordBatch,
        converter: &RowConverter,
        types: &[DataType],
    ) -> Result<()> {
        self.batches.clear();
        self.index.clear();
        let n = rows.num_rows();
        if n == 0 {
            return Ok(());
        }
        let keys = self
            .side
            .keys
            .iter()
            .map(|e| e.evaluate(&rows)?.into_array(n))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        // Both sides' keys compare in one type.
        let keys = cast_each(keys, types)?;
        let encoded = converter.convert_columns(&keys)?;
        for i in 0..n {
            if keys.iter().all(|k| !k.is_null(i)) {
                self.index
                    .entry(encoded.row(i).data().into())
                    .or_default()
                    .push((0, i));
            }
        }
        self.batches.push(rows);
        Ok(())
    }
}

/// Builds the candidate pairs: rows `mine` of `batch` with rows `theirs`
/// (batch, row) of the other side, in left-then-right column order.
fn pair_batch(
    batch: &RecordBatch,
    mine: &[u32],
    other: &[RecordBatch],
    theirs: &[(usize, usize)],
    is_left: bool,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let indices = UInt32Array::from(mine.to_vec());
    let my_columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &indices, None))
        .collect::<Result<Vec<_>, _>>()?;
    let other_width = schema.fields().len() - batch.num_columns();
    let mut their_columns = Vec::with_capacity(other_width);
    for c in 0..other_width {
        let arrays: Vec<&dyn Array> = other.iter().map(|b| b.column(c).as_ref()).collect();
        their_columns.push(if arrays.is_empty() {
            datafusion::arrow::array::new_empty_array(
                schema
                    .field(if is_left { batch.num_columns() + c } else { c })
                    .data_type(),
            )
        } else {
            interleave(&arrays, theirs)?
        });
    }
    let columns = if is_left {
        [my_columns, their_columns].concat()
    } else {
        [their_columns, my_columns].concat()
    };
    let columns = cast_each(columns, schema.fields().iter().map(|f| f.data_type()))?;
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(mine.len())),
    )?)
}
