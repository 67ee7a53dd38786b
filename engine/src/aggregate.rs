//! Windowed aggregation.
//!
//! State is partitioned by window: each open window owns a DataFusion
//! [`GroupValues`] (the distinct group keys seen in it, row-encoded) and one
//! [`GroupsAccumulator`] per aggregate, so that a window can be emitted and
//! dropped as a whole the moment the watermark passes its end, without
//! touching other windows. Keys are interned and accumulators updated a
//! batch at a time; rows of a batch are split by window with one `take` per
//! window present in the batch (usually one or two).

use std::collections::hash_map::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use datafusion::arrow::compute::{filter_record_batch, take};
use datafusion::arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimestampMicrosecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use crate::state::OperatorState;
use crate::watermark::EventTime;
use crate::{EngineError, OutputMode, Result};

/// One aggregate call: the function, its argument expressions and its
/// optional `FILTER (WHERE …)`.
pub struct AggregateCall {
    pub function: Arc<AggregateFunctionExpr>,
    pub args: Vec<Arc<dyn PhysicalExpr>>,
    pub filter: Option<Arc<dyn PhysicalExpr>>,
}

/// Which group expression carries the window, and how to get its end.
#[derive(Debug, Clone, Copy)]
pub struct WindowKey {
    /// Index into the group expressions.
    pub group_index: usize,
    /// The window's end from the key's value: the key itself
    /// (`window_end`) or the key plus this size (`window_start`).
    pub plus_size: Option<i64>,
}

/// When a window of the aggregation is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closes {
    /// When the watermark reaches its end.
    ByWatermark,
    /// At the end of every epoch: the input is the output of another
    /// aggregation, which emits each of its windows whole, once.
    EachEpoch,
    /// Never: an aggregation without a window (`update`/`complete` only).
    Never,
}

/// The aggregation operator: windowed or not, in any output mode.
pub struct WindowAggregate {
    group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    group_schema: SchemaRef,
    calls: Vec<AggregateCall>,
    /// `None`: no window; every group lives in one window that never ends.
    window: Option<WindowKey>,
    closes: Closes,
    mode: OutputMode,
    output_schema: SchemaRef,
    /// Open windows by window end.
    windows: BTreeMap<i64, WindowState>,
    /// Windows updated since the last checkpoint (what a delta holds).
    dirty: BTreeSet<i64>,
    /// Windows emitted and forgotten since the last checkpoint.
    removed: Vec<i64>,
    /// `update` mode: per window, the groups updated in the running epoch.
    touched: BTreeMap<i64, Vec<bool>>,
    /// Hopping windows assembled from panes (append mode).
    panes: Option<Panes>,
}

/// Hopping windows built from panes: the state holds one partial
/// aggregate per pane `[p, p + slide)` (keyed by `p + size`, the end of the
/// last window containing it), and a window `[s, s + size)` is emitted by
/// merging the partial aggregates of its `size / slide` panes. Each row is
/// aggregated once instead of once per window.
#[derive(Debug, Clone, Copy)]
pub struct Panes {
    pub slide: i64,
    pub size: i64,
    /// Group columns holding `window_start` and `window_end`, rewritten to
    /// each window's bounds when panes are merged.
    pub start_column: Option<usize>,
    pub end_column: Option<usize>,
}

/// The window every group of an aggregation without a window belongs to.
const NO_WINDOW: i64 = i64::MAX;

struct WindowState {
    groups: Box<dyn GroupValues>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
}

impl WindowAggregate {
    pub fn new(
        group_exprs: Vec<Arc<dyn PhysicalExpr>>,
        group_schema: SchemaRef,
        calls: Vec<AggregateCall>,
        window: Option<WindowKey>,
        closes: Closes,
        mode: OutputMode,
        output_schema: SchemaRef,
    ) -> Self {
        WindowAggregate {
            group_exprs,
            group_schema,
            calls,
            window,
            closes,
            mode,
            output_schema,
            windows: BTreeMap::new(),
            dirty: BTreeSet::new(),
            removed: Vec::new(),
            touched: BTreeMap::new(),
            panes: None,
        }
    }

    /// Assembles hopping windows from panes (the input carries each row's
    /// pane, see [`crate::window::WindowAssigner::panes`]).
    pub fn with_panes(mut self, panes: Panes) -> Self {
        self.panes = Some(panes);
        self
    }

    fn new_window(&self) -> Result<WindowState> {
        let groups = new_group_values(self.group_schema.clone(), &GroupOrdering::None)?;
        let accumulators = self
            .calls
            .iter()
            .map(|c| -> Result<Box<dyn GroupsAccumulator>> {
                if c.function.groups_accumulator_supported() {
                    Ok(c.function.create_groups_accumulator()?)
                } else {
                    let f = c.function.clone();
                    Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
                        f.create_accumulator()
                    })))
                }
            })
            .collect::<Result<_>>()?;
        Ok(WindowState {
            groups,
            accumulators,
        })
    }

    /// Folds a batch of the aggregation's input into the state.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let groups: Vec<ArrayRef> = self
            .group_exprs
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(rows))
            .collect::<Result<_, _>>()?;
        let args: Vec<Vec<ArrayRef>> = self
            .calls
            .iter()
            .map(|c| {
                c.args
                    .iter()
                    .map(|e| e.evaluate(batch)?.into_array(rows))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let filters: Vec<Option<ArrayRef>> = self
            .calls
            .iter()
            .map(|c| {
                c.filter
                    .as_ref()
                    .map(|f| f.evaluate(batch)?.into_array(rows))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;

        let Some(window) = self.window else {
            return self.update_window(NO_WINDOW, &groups, &args, &filters);
        };
        let key = groups[window.group_index]
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| EngineError::Internal("window key is not a timestamp".into()))?;
        if key.null_count() > 0 {
            return Err(EngineError::Internal("window key has NULLs".into()));
        }
        let values = key.values();
        let first = values[0];
        if values.iter().all(|&v| v == first) {
            return self.update_window(self.window_end(first), &groups, &args, &filters);
        }
        let mut partitions: HashMap<i64, Vec<u32>> = HashMap::new();
        for (row, &v) in values.iter().enumerate() {
            partitions.entry(v).or_default().push(row as u32);
        }
        for (key_value, rows) in partitions {
            let indices = UInt32Array::from(rows);
            let pick = |a: &ArrayRef| take(a.as_ref(), &indices, None);
            let groups: Vec<ArrayRef> = groups.iter().map(pick).collect::<Result<_, _>>()?;
            let args: Vec<Vec<ArrayRef>> = args
                .iter()
                .map(|a| a.iter().map(pick).collect::<Result<_, _>>())
                .collect::<Result<_, _>>()?;
            let filters: Vec<Option<ArrayRef>> = filters
                .iter()
                .map(|f| f.as_ref().map(pick).transpose())
                .collect::<Result<_, _>>()?;
            self.update_window(self.window_end(key_value), &groups, &args, &filters)?;
        }
        Ok(())
    }

    fn window_end(&self, key: i64) -> i64 {
        match self.window.and_then(|w| w.plus_size) {
            Some(size) => key.saturating_add(size),
            None => key,
        }
    }

    fn update_window(
        &mut self,
        end: i64,
        groups: &[ArrayRef],
        args: &[Vec<ArrayRef>],
        filters: &[Option<ArrayRef>],
    ) -> Result<()> {
        if !self.windows.contains_key(&end) {
            let state = self.new_window()?;
            self.windows.insert(end, state);
        }
        self.dirty.insert(end);
        let state = self.windows.get_mut(&end).expect("inserted above");
        let mut group_ids = Vec::with_capacity(groups[0].len());
        state.groups.intern(groups, &mut group_ids)?;
        let total = state.groups.len();
        for ((acc, args), filter) in state.accumulators.iter_mut().zip(args).zip(filters) {
            let filter: Option<&BooleanArray> = filter.as_ref().map(|f| f.as_boolean());
            acc.update_batch(args, &group_ids, filter, total)?;
        }
        if self.mode == OutputMode::Update {
            let touched = self.touched.entry(end).or_default();
            touched.resize(total, false);
            for id in group_ids {
                touched[id] = true;
            }
        }
        Ok(())
    }

    /// Ends an epoch at `watermark`: emits what the output mode asks for
    /// (`append`: the windows that closed; `update`: the groups updated in
    /// the epoch; `complete`: everything) and forgets closed windows (kept
    /// in `complete` mode, whose output is the whole result).
    ///
    /// `previous` is the watermark the epoch ran with: windows that ended
    /// by then were emitted already (it matters for panes).
    pub fn finish_epoch(
        &mut self,
        previous: EventTime,
        watermark: EventTime,
    ) -> Result<Vec<RecordBatch>> {
        if let Some(panes) = self.panes {
            return self.finish_panes(panes, previous, watermark);
        }
        let closed: Vec<i64> = match self.closes {
            Closes::ByWatermark if watermark == i64::MAX => self.windows.keys().copied().collect(),
            Closes::ByWatermark => self.windows.range(..=watermark).map(|(&e, _)| e).collect(),
            Closes::EachEpoch => self.windows.keys().copied().collect(),
            Closes::Never => Vec::new(),
        };
        let mut out = Vec::new();
        match self.mode {
            OutputMode::Append => {
                for end in closed {
                    let mut state = self.windows.remove(&end).expect("listed above");
                    self.dirty.remove(&end);
                    self.removed.push(end);
                    let mut columns = state.groups.emit(EmitTo::All)?;
                    for acc in &mut state.accumulators {
                        columns.push(acc.evaluate(EmitTo::All)?);
                    }
                    out.push(RecordBatch::try_new(self.output_schema.clone(), columns)?);
                }
            }
            OutputMode::Update => {
                for (end, touched) in std::mem::take(&mut self.touched) {
                    if self.windows.contains_key(&end) {
                        out.push(self.evaluate_window(end, Some(touched))?);
                    }
                }
                for end in closed {
                    self.windows.remove(&end);
                    self.dirty.remove(&end);
                    self.removed.push(end);
                }
            }
            OutputMode::Complete => {
                let ends: Vec<i64> = self.windows.keys().copied().collect();
                for end in ends {
                    out.push(self.evaluate_window(end, None)?);
                }
            }
        }
        out.retain(|b| b.num_rows() > 0);
        Ok(out)
    }

    /// Append mode over panes: emits every window that ended after
    /// `previous` and by `watermark` and holds data, then drops the panes
    /// no open window needs.
    fn finish_panes(
        &mut self,
        panes: Panes,
        previous: EventTime,
        watermark: EventTime,
    ) -> Result<Vec<RecordBatch>> {
        let Panes { slide, size, .. } = panes;
        // Pane p (keyed k = p + size) is in the windows ending k - size +
        // slide, …, k.
        let mut ends = BTreeSet::new();
        for &key in self.windows.keys() {
            let mut end = key - size + slide;
            while end <= key {
                if end > previous && end <= watermark {
                    ends.insert(end);
                }
                end += slide;
            }
        }
        let mut copies: HashMap<i64, RecordBatch> = HashMap::new();
        let mut out = Vec::with_capacity(ends.len());
        for &end in &ends {
            let start = end - size;
            let mut state = self.new_window()?;
            // The window's panes are keyed end, end + slide, … < end + size.
            let mut key = end;
            while key < end + size {
                if self.windows.contains_key(&key) {
                    if let std::collections::hash_map::Entry::Vacant(slot) = copies.entry(key) {
                        let copy = self.copy_windows(vec![key])?.pop().expect("copied");
                        slot.insert(copy);
                    }
                    let pane = &copies[&key];
                    let n = pane.num_rows();
                    let mut columns = pane.columns().to_vec();
                    let bound = |v: i64| -> ArrayRef {
                        Arc::new(datafusion::arrow::array::TimestampMicrosecondArray::from(
                            vec![v; n],
                        ))
                    };
                    if let Some(c) = panes.start_column {
                        columns[1 + c] = bound(start);
                    }
                    if let Some(c) = panes.end_column {
                        columns[1 + c] = bound(end);
                    }
                    self.merge_into(&mut state, &RecordBatch::try_new(pane.schema(), columns)?)?;
                }
                key += slide;
            }
            let mut columns = state.groups.emit(EmitTo::All)?;
            for acc in &mut state.accumulators {
                columns.push(acc.evaluate(EmitTo::All)?);
            }
            out.push(RecordBatch::try_new(self.output_schema.clone(), columns)?);
        }
        let done: Vec<i64> = if watermark == i64::MAX {
            self.windows.keys().copied().collect()
        } else {
            self.windows.range(..=watermark).map(|(&k, _)| k).collect()
        };
        for key in done {
            self.windows.remove(&key);
            self.dirty.remove(&key);
            self.removed.push(key);
        }
        out.retain(|b| b.num_rows() > 0);
        Ok(out)
    }

    /// The current result of one window (of its `only` groups), leaving the
    /// state as it was: accumulators cannot be evaluated without being
    /// consumed, so a copy is evaluated.
    fn evaluate_window(&mut self, end: i64, only: Option<Vec<bool>>) -> Result<RecordBatch> {
        let mut snapshot = self
            .copy_windows(vec![end])?
            .pop()
            .expect("one window copied");
        if let Some(mut mask) = only {
            mask.resize(snapshot.num_rows(), false);
            snapshot = filter_record_batch(&snapshot, &BooleanArray::from(mask))?;
        }
        let mut state = self.new_window()?;
        self.merge_into(&mut state, &snapshot)?;
        let mut columns = state.groups.emit(EmitTo::All)?;
        for acc in &mut state.accumulators {
            columns.push(acc.evaluate(EmitTo::All)?);
        }
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }

    /// The schema of state snapshots: the window end, the group columns,
    /// then each aggregate's intermediate state columns.
    fn snapshot_schema(&self) -> Result<SchemaRef> {
        let mut fields = vec![Field::new("__window_end", DataType::Int64, false)];
        fields.extend(
            self.group_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        for (i, call) in self.calls.iter().enumerate() {
            for f in call.function.state_fields()? {
                fields.push(Field::new(
                    format!("__agg{i}_{}", f.name()),
                    f.data_type().clone(),
                    true,
                ));
            }
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// The state to write at a checkpoint: all of it (`full`) or what
    /// changed since the previous checkpoint. Leaves the state as it was.
    pub fn checkpoint(&mut self, full: bool) -> Result<OperatorState> {
        let ends: Vec<i64> = if full {
            self.windows.keys().copied().collect()
        } else {
            self.dirty.iter().copied().collect()
        };
        let batches = self.copy_windows(ends)?;
        let removed = std::mem::take(&mut self.removed);
        self.dirty.clear();
        Ok(OperatorState {
            schema: self.snapshot_schema()?,
            batches,
            removed: if full { Vec::new() } else { removed },
        })
    }

    /// A copy of all the state, one batch per open window, from which
    /// [`restore`](Self::restore) rebuilds it. Leaves the state as it was.
    pub fn snapshot(&mut self) -> Result<Vec<RecordBatch>> {
        Ok(self.checkpoint(true)?.batches)
    }

    /// Copies the given windows out (one batch each), leaving them in place.
    fn copy_windows(&mut self, ends: Vec<i64>) -> Result<Vec<RecordBatch>> {
        let schema = self.snapshot_schema()?;
        let mut out = Vec::with_capacity(ends.len());
        for end in ends {
            let mut state = self.windows.remove(&end).expect("key listed above");
            let groups = state.groups.emit(EmitTo::All)?;
            let n = groups.first().map_or(0, |g| g.len());
            let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![end; n]))];
            columns.extend(groups);
            for acc in &mut state.accumulators {
                columns.extend(acc.state(EmitTo::All)?);
            }
            let batch = RecordBatch::try_new(schema.clone(), columns)?;
            self.restore_window(end, &batch)?;
            out.push(batch);
        }
        Ok(out)
    }

    /// Forgets all state (before a restore).
    pub fn clear(&mut self) {
        self.windows.clear();
        self.dirty.clear();
        self.removed.clear();
        self.touched.clear();
    }

    /// Applies one checkpoint of a recovery chain: drops the windows it
    /// removed, then replaces the windows it holds.
    pub fn apply(&mut self, removed: &[i64], batches: &[RecordBatch]) -> Result<()> {
        for end in removed {
            self.windows.remove(end);
        }
        self.restore(batches)
    }

    /// Rebuilds the state from a snapshot (on recovery).
    pub fn restore(&mut self, snapshot: &[RecordBatch]) -> Result<()> {
        let expected = self.snapshot_schema()?;
        for batch in snapshot {
            if batch.schema().fields().len() != expected.fields().len() {
                return Err(EngineError::Internal(
                    "the state snapshot does not match this query's aggregation".into(),
                ));
            }
            let ends = batch.column(0).as_primitive::<Int64Type>();
            let Some(end) = ends.values().first().copied() else {
                continue;
            };
            self.restore_window(end, batch)?;
        }
        Ok(())
    }

    fn restore_window(&mut self, end: i64, batch: &RecordBatch) -> Result<()> {
        let mut state = self.new_window()?;
        self.merge_into(&mut state, batch)?;
        self.windows.insert(end, state);
        Ok(())
    }

    /// Merges snapshot rows (one window's) into `state`.
    fn merge_into(&self, state: &mut WindowState, batch: &RecordBatch) -> Result<()> {
        let n_groups = self.group_schema.fields().len();
        let groups = &batch.columns()[1..1 + n_groups];
        let mut ids = Vec::with_capacity(batch.num_rows());
        state.groups.intern(groups, &mut ids)?;
        let total = state.groups.len();
        let mut next = 1 + n_groups;
        for (acc, call) in state.accumulators.iter_mut().zip(&self.calls) {
            let width = call.function.state_fields()?.len();
            acc.merge_batch(&batch.columns()[next..next + width], &ids, total)?;
            next += width;
        }
        Ok(())
    }

    /// The end of the earliest window the watermark will close.
    pub fn earliest_window_end(&self) -> Option<i64> {
        match (self.closes, self.panes) {
            // The earliest pane's last window; earlier windows containing
            // it may have been emitted already.
            (Closes::ByWatermark, _) => self.windows.keys().next().copied(),
            _ => None,
        }
    }

    /// Number of (window, key) groups held.
    pub fn state_rows(&self) -> usize {
        self.windows.values().map(|w| w.groups.len()).sum()
    }

    /// Approximate bytes of state held.
    pub fn state_bytes(&self) -> usize {
        self.windows
            .values()
            .map(|w| w.groups.size() + w.accumulators.iter().map(|a| a.size()).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int64Array, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::functions_aggregate::average::avg_udaf;
    use datafusion::functions_aggregate::count::count_udaf;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::col;

    use super::*;

    fn input_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Float64, true),
        ]))
    }

    fn operator_in(mode: OutputMode) -> WindowAggregate {
        let schema = input_schema();
        let call = |udaf, name: &str| AggregateCall {
            function: Arc::new(
                AggregateExprBuilder::new(udaf, vec![col("v", &schema).unwrap()])
                    .schema(schema.clone())
                    .alias(name)
                    .build()
                    .unwrap(),
            ),
            args: vec![col("v", &schema).unwrap()],
            filter: None,
        };
        let group_schema = Arc::new(Schema::new(schema.fields()[..2].to_vec()));
        let output = Arc::new(Schema::new(vec![
            schema.field(0).clone(),
            schema.field(1).clone(),
            Field::new("n", DataType::Int64, false),
            Field::new("mean", DataType::Float64, true),
        ]));
        WindowAggregate::new(
            vec![
                col("window_start", &schema).unwrap(),
                col("k", &schema).unwrap(),
            ],
            group_schema,
            vec![call(count_udaf(), "n"), call(avg_udaf(), "mean")],
            Some(WindowKey {
                group_index: 0,
                plus_size: Some(10),
            }),
            Closes::ByWatermark,
            mode,
            output,
        )
    }

    fn operator() -> WindowAggregate {
        operator_in(OutputMode::Append)
    }

    fn batch(starts: &[i64], keys: &[i64], values: &[f64]) -> RecordBatch {
        RecordBatch::try_new(
            input_schema(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(starts.to_vec())),
                Arc::new(Int64Array::from(keys.to_vec())),
                Arc::new(Float64Array::from(values.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn windows_close_by_watermark_and_survive_snapshot_restore() {
        let mut op = operator();
        op.update(&batch(&[0, 0, 10, 0], &[1, 2, 1, 1], &[1.0, 5.0, 7.0, 3.0]))
            .unwrap();
        assert_eq!(op.state_rows(), 3);

        // Snapshot, rebuild a fresh operator from it, and keep going on both.
        let snapshot = op.snapshot().unwrap();
        let mut restored = operator();
        restored.restore(&snapshot).unwrap();
        for o in [&mut op, &mut restored] {
            o.update(&batch(&[10], &[1], &[9.0])).unwrap();
        }

        // Watermark 10 closes only the window [0, 10).
        let first = restored.finish_epoch(i64::MIN, 10).unwrap();
        assert_eq!(first.len(), 1);
        let keys = first[0]
            .column(1)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        let counts = first[0]
            .column(2)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        let means = first[0]
            .column(3)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!(keys, [1, 2]);
        assert_eq!(counts, [2, 1]);
        assert_eq!(means.values().to_vec(), [2.0, 5.0]);

        let rest = restored.finish_epoch(10, i64::MAX).unwrap();
        let counts = rest[0]
            .column(2)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        assert_eq!(counts, [2]);
        assert_eq!(restored.state_rows(), 0);
        assert_eq!(
            op.finish_epoch(i64::MIN, i64::MAX)
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>(),
            3
        );
    }

    fn counts(batches: &[RecordBatch]) -> Vec<(i64, i64, i64)> {
        let mut out: Vec<(i64, i64, i64)> = batches
            .iter()
            .flat_map(|b| {
                let starts = b
                    .column(0)
                    .as_primitive::<TimestampMicrosecondType>()
                    .clone();
                let keys = b.column(1).as_primitive::<Int64Type>().clone();
                let counts = b.column(2).as_primitive::<Int64Type>().clone();
                (0..b.num_rows())
                    .map(move |i| (starts.value(i), keys.value(i), counts.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn update_mode_emits_the_groups_changed_in_the_epoch() {
        let mut op = operator_in(OutputMode::Update);
        op.update(&batch(&[0, 0, 10], &[1, 2, 1], &[1.0, 1.0, 1.0]))
            .unwrap();
        assert_eq!(
            counts(&op.finish_epoch(i64::MIN, i64::MIN).unwrap()),
            [(0, 1, 1), (0, 2, 1), (10, 1, 1)]
        );
        // Only key 2 of window 0 changes; the window closes at 10 and is
        // dropped after the update is emitted.
        op.update(&batch(&[0], &[2], &[1.0])).unwrap();
        assert_eq!(counts(&op.finish_epoch(i64::MIN, 10).unwrap()), [(0, 2, 2)]);
        assert_eq!(op.state_rows(), 1);
        assert!(op.finish_epoch(i64::MIN, 10).unwrap().is_empty());
    }

    #[test]
    fn complete_mode_emits_everything_every_epoch_and_keeps_it() {
        let mut op = operator_in(OutputMode::Complete);
        op.update(&batch(&[0, 10], &[1, 1], &[1.0, 1.0])).unwrap();
        assert_eq!(
            counts(&op.finish_epoch(i64::MIN, i64::MIN).unwrap()),
            [(0, 1, 1), (10, 1, 1)]
        );
        op.update(&batch(&[10], &[1], &[1.0])).unwrap();
        assert_eq!(
            counts(&op.finish_epoch(i64::MIN, 20).unwrap()),
            [(0, 1, 1), (10, 1, 2)]
        );
        assert_eq!(op.state_rows(), 2);
    }
}
