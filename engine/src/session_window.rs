//! Session-window aggregation.
//!
//! A session holds the rows of one group key that are each less than `gap`
//! apart, and spans `[first row, last row + gap)`. A new row can extend a
//! session or bridge two into one, so sessions are not known until the
//! watermark has passed them. The operator therefore keeps the rows of open
//! sessions (only the columns the aggregation needs: the keys, the event
//! time, the aggregate arguments and filters) and works out the sessions at
//! the end of each epoch: rows are sorted by key and time, split where the
//! key changes or the time jumps by `gap` or more, and the sessions whose
//! end the watermark has reached are aggregated, emitted and dropped
//! (`append`). `update` emits the sessions that received rows in the epoch;
//! `complete` emits all of them and keeps them.
//!
//! The state is the buffered rows of open sessions, written whole at every
//! checkpoint: it is bounded by the watermark, not by the history.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, TimestampMicrosecondArray, UInt32Array,
};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take, take_record_batch,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};

use crate::aggregate::AggregateCall;
use crate::state::OperatorState;
use crate::watermark::EventTime;
use crate::{EngineError, OutputMode, Result};

/// What a group expression of the session aggregation is.
#[derive(Debug, Clone, Copy)]
pub enum GroupRole {
    /// The i-th key expression.
    Key(usize),
    /// The session's start (`window_start` / `session_start`).
    Start,
    /// The session's end (`window_end` / `session_end`).
    End,
}

pub struct SessionAggregate {
    key_exprs: Vec<Arc<dyn PhysicalExpr>>,
    roles: Vec<GroupRole>,
    /// The row's event time: the `window_start` of the SESSION relation.
    time_expr: Arc<dyn PhysicalExpr>,
    gap: i64,
    calls: Vec<AggregateCall>,
    mode: OutputMode,
    output_schema: SchemaRef,
    /// keys…, `__ts`, each call's arguments…, each call's filter.
    buffer_schema: SchemaRef,
    buffer: Vec<RecordBatch>,
    /// Rows of `buffer` from before the running epoch.
    old_rows: usize,
    /// The earliest end of an open session, as of the last epoch's end.
    earliest_end: Option<i64>,
}

impl SessionAggregate {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key_exprs: Vec<Arc<dyn PhysicalExpr>>,
        key_fields: Vec<Field>,
        roles: Vec<GroupRole>,
        time_expr: Arc<dyn PhysicalExpr>,
        gap: i64,
        calls: Vec<AggregateCall>,
        mode: OutputMode,
        output_schema: SchemaRef,
        input_schema: &Schema,
    ) -> Result<Self> {
        let mut fields: Vec<Field> = key_fields
            .into_iter()
            .enumerate()
            .map(|(i, f)| Field::new(format!("__key{i}"), f.data_type().clone(), true))
            .collect();
        fields.push(Field::new(
            "__ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ));
        for (c, call) in calls.iter().enumerate() {
            for (a, arg) in call.args.iter().enumerate() {
                fields.push(Field::new(
                    format!("__arg{c}_{a}"),
                    arg.data_type(input_schema)?,
                    true,
                ));
            }
            if call.filter.is_some() {
                fields.push(Field::new(format!("__filter{c}"), DataType::Boolean, true));
            }
        }
        Ok(SessionAggregate {
            key_exprs,
            roles,
            time_expr,
            gap,
            calls,
            mode,
            output_schema,
            buffer_schema: Arc::new(Schema::new(fields)),
            buffer: Vec::new(),
            old_rows: 0,
            earliest_end: None,
        })
    }

    /// Buffers the columns the aggregation needs from a batch of its input.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let eval = |e: &Arc<dyn PhysicalExpr>| e.evaluate(batch)?.into_array(rows);
        let mut columns: Vec<ArrayRef> =
            self.key_exprs.iter().map(eval).collect::<Result<_, _>>()?;
        columns.push(eval(&self.time_expr)?);
        for call in &self.calls {
            for arg in &call.args {
                columns.push(eval(arg)?);
            }
            if let Some(f) = &call.filter {
                columns.push(eval(f)?);
            }
        }
        self.buffer
            .push(RecordBatch::try_new(self.buffer_schema.clone(), columns)?);
        Ok(())
    }

    /// Ends an epoch: emits sessions as the output mode asks and keeps the
    /// rows of sessions still open.
    pub fn finish_epoch(&mut self, watermark: EventTime) -> Result<Vec<RecordBatch>> {
        let all = concat_batches(&self.buffer_schema, &self.buffer)?;
        self.buffer.clear();
        let n = all.num_rows();
        if n == 0 {
            self.old_rows = 0;
            self.earliest_end = None;
            return Ok(Vec::new());
        }
        let n_keys = self.key_exprs.len();
        let mut sort: Vec<SortColumn> = (0..=n_keys)
            .map(|i| SortColumn {
                values: all.column(i).clone(),
                options: None,
            })
            .collect();
        // Ties keep arrival order, so rows keep a stable order in state.
        sort.push(SortColumn {
            values: Arc::new(UInt32Array::from_iter_values(0..n as u32)),
            options: None,
        });
        let order = lexsort_to_indices(&sort, None)?;
        let sorted = take_record_batch(&all, &order)?;
        let converter = RowConverter::new(
            (0..n_keys)
                .map(|i| SortField::new(sorted.column(i).data_type().clone()))
                .collect(),
        )?;
        let keys = converter.convert_columns(&sorted.columns()[..n_keys])?;
        let ts = sorted
            .column(n_keys)
            .as_primitive::<TimestampMicrosecondType>();
        let ts = ts.values();

        // Split into sessions: [first row, end row), with its bounds.
        let mut sessions: Vec<Session> = Vec::new();
        for i in 0..n {
            let is_new = order.value(i) as usize >= self.old_rows;
            let continues = i > 0 && keys.row(i) == keys.row(i - 1) && ts[i] - ts[i - 1] < self.gap;
            match sessions.last_mut() {
                Some(s) if continues => {
                    s.rows.end = i + 1;
                    s.last = ts[i];
                    s.has_new |= is_new;
                }
                _ => sessions.push(Session {
                    rows: i..i + 1,
                    first: ts[i],
                    last: ts[i],
                    has_new: is_new,
                }),
            }
        }
        let closed =
            |s: &Session| watermark == i64::MAX || s.last.saturating_add(self.gap) <= watermark;
        let emit: Vec<&Session> = sessions
            .iter()
            .filter(|s| match self.mode {
                OutputMode::Append => closed(s),
                OutputMode::Update => s.has_new,
                OutputMode::Complete => true,
            })
            .collect();
        let out = self.aggregate(&sorted, &emit)?;

        let keep: Vec<u32> = sessions
            .iter()
            .filter(|s| self.mode == OutputMode::Complete || !closed(s))
            .flat_map(|s| s.rows.clone().map(|r| r as u32))
            .collect();
        self.earliest_end = sessions
            .iter()
            .filter(|s| !closed(s))
            .map(|s| s.last.saturating_add(self.gap))
            .min();
        let kept = take_record_batch(&sorted, &UInt32Array::from(keep))?;
        self.old_rows = kept.num_rows();
        if kept.num_rows() > 0 {
            self.buffer.push(kept);
        }
        Ok(out.into_iter().filter(|b| b.num_rows() > 0).collect())
    }

    /// Aggregates the rows of `sessions` (of `sorted`), one output row each.
    fn aggregate(
        &self,
        sorted: &RecordBatch,
        sessions: &[&Session],
    ) -> Result<Option<RecordBatch>> {
        if sessions.is_empty() {
            return Ok(None);
        }
        let mut rows = Vec::new();
        let mut group_ids = Vec::new();
        for (g, s) in sessions.iter().enumerate() {
            for r in s.rows.clone() {
                rows.push(r as u32);
                group_ids.push(g);
            }
        }
        let picked = take_record_batch(sorted, &UInt32Array::from(rows))?;
        let firsts = UInt32Array::from_iter_values(sessions.iter().map(|s| s.rows.start as u32));
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output_schema.fields().len());
        for role in &self.roles {
            columns.push(match role {
                GroupRole::Key(i) => take(sorted.column(*i).as_ref(), &firsts, None)?,
                GroupRole::Start => Arc::new(TimestampMicrosecondArray::from_iter_values(
                    sessions.iter().map(|s| s.first),
                )),
                GroupRole::End => Arc::new(TimestampMicrosecondArray::from_iter_values(
                    sessions.iter().map(|s| s.last.saturating_add(self.gap)),
                )),
            });
        }
        let mut next = self.key_exprs.len() + 1;
        for call in &self.calls {
            let args: Vec<ArrayRef> = picked.columns()[next..next + call.args.len()].to_vec();
            next += call.args.len();
            let filter = if call.filter.is_some() {
                next += 1;
                Some(picked.column(next - 1).clone())
            } else {
                None
            };
            let mut acc: Box<dyn GroupsAccumulator> =
                if call.function.groups_accumulator_supported() {
                    call.function.create_groups_accumulator()?
                } else {
                    let f = call.function.clone();
                    Box::new(GroupsAccumulatorAdapter::new(move || {
                        f.create_accumulator()
                    }))
                };
            let filter: Option<&BooleanArray> = filter.as_ref().map(|f| f.as_boolean());
            acc.update_batch(&args, &group_ids, filter, sessions.len())?;
            columns.push(acc.evaluate(EmitTo::All)?);
        }
        let columns = crate::arrays::cast_each(
            columns,
            self.output_schema.fields().iter().map(|f| f.data_type()),
        )?;
        Ok(Some(RecordBatch::try_new(
            self.output_schema.clone(),
            columns,
        )?))
    }

    /// The buffered rows, written whole at every checkpoint.
    pub fn checkpoint(&self) -> Result<OperatorState> {
        Ok(OperatorState {
            schema: self.buffer_schema.clone(),
            batches: self.buffer.clone(),
            removed: Vec::new(),
        })
    }

    pub fn clear(&mut self) {
        self.buffer.clear();
        self.old_rows = 0;
        self.earliest_end = None;
    }

    /// Replaces the state with a checkpoint's.
    pub fn restore(&mut self, batches: &[RecordBatch]) -> Result<()> {
        self.clear();
        for b in batches {
            if b.schema().fields().len() != self.buffer_schema.fields().len() {
                return Err(EngineError::Internal(
                    "the session state does not match this query's aggregation".into(),
                ));
            }
            self.old_rows += b.num_rows();
            self.buffer.push(RecordBatch::try_new(
                self.buffer_schema.clone(),
                b.columns().to_vec(),
            )?);
        }
        let (n_keys, gap) = (self.key_exprs.len(), self.gap);
        // A lower bound until the next epoch works the sessions out.
        self.earliest_end = self
            .buffer
            .iter()
            .filter_map(|b| {
                datafusion::arrow::compute::min(
                    b.column(n_keys).as_primitive::<TimestampMicrosecondType>(),
                )
            })
            .min()
            .map(|t| t.saturating_add(gap));
        Ok(())
    }

    pub fn earliest_end(&self) -> Option<i64> {
        self.earliest_end
    }

    pub fn state_rows(&self) -> usize {
        self.buffer.iter().map(|b| b.num_rows()).sum()
    }

    pub fn state_bytes(&self) -> usize {
        self.buffer.iter().map(|b| b.get_array_memory_size()).sum()
    }
}

struct Session {
    rows: std::ops::Range<usize>,
    first: i64,
    last: i64,
    /// Received rows in the running epoch.
    has_new: bool,
}
