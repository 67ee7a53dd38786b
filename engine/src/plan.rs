//! From a DataFusion logical plan to a streaming plan: a tree of
//! operators ([`Node`]) that batches are pushed through.
//!
//! ```text
//!   Input (a source; window columns and late rows)   leaf
//!   Stages (projections and filters)                 stateless
//!   LookupJoin (stream–table join)                   stateless per batch
//!   Distinct (DISTINCT / DISTINCT ON)                state: keys until the watermark
//!   Aggregate (TUMBLE, HOP, no window; chained)      state: groups per window
//!   Session (SESSION windows)                        state: rows of open sessions
//! ```
//!
//! The logical plan is walked from the bottom up; each node is checked for
//! what a stream allows, and anything that cannot run (sorts, limits, an
//! aggregation that never closes in append mode) is refused with a reason at
//! CREATE time. Window columns are followed by name (`window_start`,
//! `window_end`, `session_start`, `session_end`) from the window relation
//! up to the aggregation that groups by them, and on to an aggregation over
//! that aggregation's output.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Column, DFSchema, JoinType};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Distinct, Expr, LogicalPlan, Operator};
use datafusion::physical_expr::aggregate::{LoweredAggregate, LoweredAggregateBuilder};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use eddy_sql::streaming::{PlannedStreamingQuery, WindowKind};
use futures::future::BoxFuture;

use crate::aggregate::{AggregateCall, Closes, Panes, WindowAggregate, WindowKey};
use crate::checkpoint::StatePart;
use crate::dedup::Dedup;
use crate::interval_join::{IntervalJoin, JoinSide};
use crate::join::{LookupJoin, LookupJoinType};
use crate::session::{GroupRole, SessionAggregate};
use crate::state::OperatorState;
use crate::watermark::EventTime;
use crate::window::{LateRows, WindowAssigner, drop_behind_watermark};
use crate::{EngineError, Lookup, Result};

pub use crate::sink::OutputMode;

/// A stateless step applied to every batch.
pub enum Stage {
    Filter(Arc<dyn PhysicalExpr>),
    Project {
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        schema: SchemaRef,
    },
}

/// Stateless stages, applied in order.
#[derive(Default)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

impl Pipeline {
    fn filters_only(&self) -> bool {
        self.stages.iter().all(|s| matches!(s, Stage::Filter(_)))
    }

    pub fn apply(&self, mut batch: RecordBatch) -> Result<RecordBatch> {
        for stage in &self.stages {
            batch = match stage {
                Stage::Filter(predicate) => {
                    let mask = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
                    let mask = mask.as_boolean_opt().ok_or_else(|| {
                        EngineError::Plan("WHERE clause is not a boolean expression".into())
                    })?;
                    filter_record_batch(&batch, mask)?
                }
                Stage::Project { exprs, schema } => {
                    let rows = batch.num_rows();
                    let columns = exprs
                        .iter()
                        .map(|e| e.evaluate(&batch)?.into_array(rows))
                        .collect::<Result<Vec<_>, _>>()?;
                    RecordBatch::try_new_with_options(
                        schema.clone(),
                        columns,
                        &datafusion::arrow::record_batch::RecordBatchOptions::new()
                            .with_row_count(Some(rows)),
                    )?
                }
            };
        }
        Ok(batch)
    }
}

/// A source the plan reads as a stream.
pub struct PlanInput {
    /// The catalog relation read.
    pub relation: String,
}

/// What runs a streaming query, minus its sources and sink.
pub struct StreamingPlan {
    /// The streams read; `Node::Input` refers to them by index.
    pub inputs: Vec<PlanInput>,
    pub root: Node,
    pub output_schema: SchemaRef,
}

/// What the planner needs to know about a catalog relation.
pub struct InputInfo {
    pub schema: SchemaRef,
    /// The `WATERMARK FOR` column, if declared.
    pub watermark_column: Option<String>,
    /// The relation can only be looked up by key (an Eddy table, a
    /// `postgres` source), not read as a stream.
    pub lookup_only: bool,
}

/// What the planner asks of the server.
pub trait PlanContext {
    /// Describes a catalog relation, `None` if there is none.
    fn relation(&self, name: &str) -> Option<InputInfo>;
    /// Creates a lookup on `relation` keyed by `key_columns`.
    fn lookup(&self, relation: &str, key_columns: &[String]) -> Result<Box<dyn Lookup>>;
}

/// The leaf of the operator tree: batches of one source.
pub struct InputNode {
    pub input: usize,
    /// Window columns added (and late rows dropped) by a window relation.
    pub window: Option<WindowAssigner>,
    /// Without a window: the event-time column behind which rows are late
    /// (set when a deduplication needs it).
    pub late_behind_watermark: Option<usize>,
}

/// An operator and the operators feeding it.
pub enum Node {
    Input(InputNode),
    Stages {
        input: Box<Node>,
        pipeline: Pipeline,
    },
    Lookup {
        input: Box<Node>,
        join: Box<LookupJoin>,
    },
    Distinct {
        input: Box<Node>,
        dedup: Box<Dedup>,
        id: u32,
    },
    Aggregate {
        input: Box<Node>,
        agg: Box<WindowAggregate>,
        id: u32,
    },
    Session {
        input: Box<Node>,
        agg: Box<SessionAggregate>,
        id: u32,
    },
    /// Two streams; state ids `id` (left rows) and `id + 1` (right rows).
    IntervalJoin {
        left: Box<Node>,
        right: Box<Node>,
        join: Box<IntervalJoin>,
        id: u32,
    },
}

/// What an epoch collects besides the output.
#[derive(Default)]
pub struct EpochContext {
    /// The watermark rows of the epoch are judged against.
    pub watermark: EventTime,
    /// Collect late rows (`late_rows = 'table'`).
    pub keep_late: bool,
    pub late: Vec<LateRows>,
    pub late_rows: u64,
    pub null_time_rows: u64,
}

type NodeFuture<'a> = BoxFuture<'a, Result<Vec<RecordBatch>>>;

impl Node {
    /// Pushes a batch of stream `input` through the subtree; returns what
    /// this node passes on now.
    pub fn push<'a>(
        &'a mut self,
        input: usize,
        batch: RecordBatch,
        cx: &'a mut EpochContext,
    ) -> NodeFuture<'a> {
        Box::pin(async move {
            let from_child = match self {
                Node::Input(leaf) => {
                    if leaf.input != input {
                        return Ok(Vec::new());
                    }
                    return Ok(vec![leaf.assign(batch, cx)?]);
                }
                Node::IntervalJoin {
                    left, right, join, ..
                } => {
                    let from_left = left.push(input, batch.clone(), cx).await?;
                    let from_right = right.push(input, batch, cx).await?;
                    return join_both(join, from_left, from_right);
                }
                Node::Stages { input: child, .. }
                | Node::Lookup { input: child, .. }
                | Node::Distinct { input: child, .. }
                | Node::Aggregate { input: child, .. }
                | Node::Session { input: child, .. } => child.push(input, batch, cx).await?,
            };
            self.consume(from_child).await
        })
    }

    /// Ends the epoch at `watermark` (the one the next epoch will use):
    /// children first, then this node; returns what this node emits.
    pub fn finish<'a>(
        &'a mut self,
        watermark: EventTime,
        cx: &'a mut EpochContext,
    ) -> NodeFuture<'a> {
        Box::pin(async move {
            let from_child = match self {
                Node::Input(_) => return Ok(Vec::new()),
                Node::IntervalJoin {
                    left, right, join, ..
                } => {
                    let from_left = left.finish(watermark, cx).await?;
                    let from_right = right.finish(watermark, cx).await?;
                    let out = join_both(join, from_left, from_right)?;
                    join.finish_epoch(watermark)?;
                    return Ok(out);
                }
                Node::Stages { input: child, .. }
                | Node::Lookup { input: child, .. }
                | Node::Distinct { input: child, .. }
                | Node::Aggregate { input: child, .. }
                | Node::Session { input: child, .. } => child.finish(watermark, cx).await?,
            };
            let mut out = self.consume(from_child).await?;
            match self {
                Node::Aggregate { agg, .. } => {
                    out.extend(agg.finish_epoch(cx.watermark, watermark)?)
                }
                Node::Session { agg, .. } => out.extend(agg.finish_epoch(watermark)?),
                Node::Distinct { dedup, .. } => dedup.finish_epoch(watermark),
                _ => {}
            }
            Ok(out)
        })
    }

    /// Applies this node to its child's output.
    async fn consume(&mut self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            match self {
                Node::Input(_) | Node::IntervalJoin { .. } => out.push(batch),
                Node::Stages { pipeline, .. } => out.push(pipeline.apply(batch)?),
                Node::Lookup { join, .. } => out.push(join.process(&batch).await?),
                Node::Distinct { dedup, .. } => out.push(dedup.process(&batch)?),
                Node::Aggregate { agg, .. } => agg.update(&batch)?,
                Node::Session { agg, .. } => agg.update(&batch)?,
            }
        }
        out.retain(|b| b.num_rows() > 0);
        Ok(out)
    }

    fn children(&mut self) -> Vec<&mut Node> {
        match self {
            Node::Input(_) => Vec::new(),
            Node::IntervalJoin { left, right, .. } => vec![left, right],
            Node::Stages { input, .. }
            | Node::Lookup { input, .. }
            | Node::Distinct { input, .. }
            | Node::Aggregate { input, .. }
            | Node::Session { input, .. } => vec![input],
        }
    }

    fn children_ref(&self) -> Vec<&Node> {
        match self {
            Node::Input(_) => Vec::new(),
            Node::IntervalJoin { left, right, .. } => vec![left, right],
            Node::Stages { input, .. }
            | Node::Lookup { input, .. }
            | Node::Distinct { input, .. }
            | Node::Aggregate { input, .. }
            | Node::Session { input, .. } => vec![input],
        }
    }

    /// The state of every stateful operator, by operator number.
    pub fn checkpoint(&mut self, full: bool, out: &mut BTreeMap<u32, OperatorState>) -> Result<()> {
        match self {
            Node::Aggregate { agg, id, .. } => {
                out.insert(*id, agg.checkpoint(full)?);
            }
            Node::Session { agg, id, .. } => {
                out.insert(*id, agg.checkpoint()?);
            }
            Node::Distinct { dedup, id, .. } => {
                out.insert(*id, dedup.checkpoint()?);
            }
            Node::IntervalJoin { join, id, .. } => {
                let (left, right) = join.checkpoint();
                out.insert(*id, left);
                out.insert(*id + 1, right);
            }
            _ => {}
        }
        for child in self.children() {
            child.checkpoint(full, out)?;
        }
        Ok(())
    }

    /// Applies one checkpoint of a recovery chain.
    pub fn apply(&mut self, part: &StatePart) -> Result<()> {
        match self {
            Node::Aggregate { agg, id, .. } => {
                let removed = part.removed.get(id).map(Vec::as_slice).unwrap_or_default();
                let batches = part
                    .operators
                    .get(id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                agg.apply(removed, batches)?;
            }
            Node::Session { agg, id, .. } => {
                if let Some(batches) = part.operators.get(id) {
                    agg.restore(batches)?;
                }
            }
            Node::Distinct { dedup, id, .. } => {
                if let Some(batches) = part.operators.get(id) {
                    dedup.restore(batches)?;
                }
            }
            Node::IntervalJoin { join, id, .. } => {
                join.restore(
                    part.operators.get(id).map(Vec::as_slice),
                    part.operators.get(&(*id + 1)).map(Vec::as_slice),
                )?;
            }
            _ => {}
        }
        for child in self.children() {
            child.apply(part)?;
        }
        Ok(())
    }

    /// Forgets all state (before a restore).
    pub fn clear(&mut self) {
        match self {
            Node::Aggregate { agg, .. } => agg.clear(),
            Node::Session { agg, .. } => agg.clear(),
            Node::Distinct { dedup, .. } => dedup.clear(),
            Node::IntervalJoin { join, .. } => join.clear(),
            _ => {}
        }
        for child in self.children() {
            child.clear();
        }
    }

    /// Whether any operator keeps state.
    pub fn is_stateful(&self) -> bool {
        matches!(
            self,
            Node::Aggregate { .. }
                | Node::Session { .. }
                | Node::Distinct { .. }
                | Node::IntervalJoin { .. }
        ) || self.children_ref().into_iter().any(Node::is_stateful)
    }

    /// The earliest time at which advancing the watermark emits something
    /// (the end of the earliest open window or session).
    pub fn earliest_close(&self) -> Option<i64> {
        let own = match self {
            Node::Aggregate { agg, .. } => agg.earliest_window_end(),
            Node::Session { agg, .. } => agg.earliest_end(),
            _ => None,
        };
        own.into_iter()
            .chain(
                self.children_ref()
                    .into_iter()
                    .filter_map(Node::earliest_close),
            )
            .min()
    }

    /// Rows and approximate bytes of state held.
    pub fn state_size(&self) -> (u64, u64) {
        let own = match self {
            Node::Aggregate { agg, .. } => (agg.state_rows(), agg.state_bytes()),
            Node::Session { agg, .. } => (agg.state_rows(), agg.state_bytes()),
            Node::Distinct { dedup, .. } => (dedup.state_rows(), dedup.state_bytes()),
            Node::IntervalJoin { join, .. } => (join.state_rows(), join.state_bytes()),
            _ => (0, 0),
        };
        self.children_ref()
            .into_iter()
            .map(Node::state_size)
            .fold((own.0 as u64, own.1 as u64), |(r, b), (cr, cb)| {
                (r + cr, b + cb)
            })
    }

    /// Switches a hopping window's leaf to panes, if the rows reach the
    /// aggregation without anything in between looking at the window
    /// columns (only filters that do not refer to them).
    fn use_panes(&mut self) -> bool {
        match self {
            Node::Input(InputNode {
                window: Some(w), ..
            }) => {
                w.panes = true;
                true
            }
            Node::Stages { input, pipeline } if pipeline.filters_only() => input.use_panes(),
            _ => false,
        }
    }

    /// Makes the leaves without a window drop rows behind the watermark.
    fn set_late_behind_watermark(&mut self, time_column: usize) {
        match self {
            Node::Input(leaf) if leaf.window.is_none() => {
                leaf.late_behind_watermark = Some(time_column)
            }
            _ => {
                for child in self.children() {
                    child.set_late_behind_watermark(time_column);
                }
            }
        }
    }
}

/// Joins what each side of an interval join passed on.
fn join_both(
    join: &mut IntervalJoin,
    from_left: Vec<RecordBatch>,
    from_right: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for b in from_left.iter().filter(|b| b.num_rows() > 0) {
        out.push(join.process(true, b)?);
    }
    for b in from_right.iter().filter(|b| b.num_rows() > 0) {
        out.push(join.process(false, b)?);
    }
    out.retain(|b| b.num_rows() > 0);
    Ok(out)
}

impl InputNode {
    fn assign(&self, batch: RecordBatch, cx: &mut EpochContext) -> Result<RecordBatch> {
        let assigned = match (&self.window, self.late_behind_watermark) {
            (Some(window), _) => window.assign(&batch, cx.watermark, cx.keep_late)?,
            (None, Some(column)) => {
                drop_behind_watermark(&batch, column, cx.watermark, cx.keep_late)?
            }
            (None, None) => return Ok(batch),
        };
        cx.late_rows += assigned.late_rows as u64;
        cx.null_time_rows += assigned.null_time_rows as u64;
        cx.late.extend(assigned.late);
        Ok(assigned.batch)
    }
}

/// Builds the streaming plan of a planned query.
pub fn build_streaming_plan(
    planned: &PlannedStreamingQuery,
    output_mode: OutputMode,
    cx: &dyn PlanContext,
) -> Result<StreamingPlan> {
    let mut builder = Builder {
        planned,
        cx,
        props: ExecutionProps::new(),
        inputs: Vec::new(),
        watermarks: Vec::new(),
        next_id: 0,
    };
    let built = builder.build(&planned.plan, Some(output_mode))?;
    if builder.inputs.is_empty() {
        return Err(EngineError::Plan(
            "a streaming query must read from a source".into(),
        ));
    }
    if output_mode == OutputMode::Complete && !built.aggregated {
        return Err(EngineError::Plan(
            "output_mode 'complete' emits the whole result every epoch, which needs an aggregation; use 'append'".into(),
        ));
    }
    Ok(StreamingPlan {
        inputs: builder.inputs,
        root: built.node,
        output_schema: Arc::new(planned.plan.schema().as_arrow().clone()),
    })
}

/// What a built subtree tells the node above it.
struct Built {
    node: Node,
    /// The subtree reads a stream (else it is the table side of a join).
    stream: bool,
    /// The subtree contains an aggregation.
    aggregated: bool,
    /// The window its `window_*` / `session_*` columns carry: the window
    /// relation's, or `None` for windows an aggregation emitted whole.
    window: Option<Option<WindowKind>>,
}

struct Builder<'a> {
    planned: &'a PlannedStreamingQuery,
    cx: &'a dyn PlanContext,
    props: ExecutionProps,
    inputs: Vec<PlanInput>,
    /// Per input: the watermark column and the source's schema.
    watermarks: Vec<(Option<String>, SchemaRef)>,
    next_id: u32,
}

const WINDOW_COLUMNS: [&str; 4] = ["window_start", "window_end", "session_start", "session_end"];

impl Builder<'_> {
    fn physical(&self, e: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(create_physical_expr(
            e,
            schema,
            &self.props,
            &PhysicalPlanningContext::default(),
        )?)
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Builds `plan`. `mode` is the output mode an aggregation here runs in:
    /// the query's at the top, `None` below another aggregation (whose
    /// input must be final rows: append).
    fn build(&mut self, plan: &LogicalPlan, mode: Option<OutputMode>) -> Result<Built> {
        match plan {
            LogicalPlan::Projection(p) => {
                let child = self.build(&p.input, mode)?;
                let stage = project(&p.expr, p.input.schema(), &p.schema, &self.props)?;
                Ok(self.stage(child, stage, &p.schema))
            }
            LogicalPlan::Filter(f) => {
                let child = self.build(&f.input, mode)?;
                let predicate = self.physical(&f.predicate, f.input.schema())?;
                let schema = f.input.schema().clone();
                Ok(self.stage(child, Stage::Filter(predicate), &schema))
            }
            LogicalPlan::SubqueryAlias(a) => self.build(&a.input, mode),
            LogicalPlan::TableScan(scan) => self.build_scan(scan),
            LogicalPlan::Aggregate(agg) => self.build_aggregate(agg, mode),
            LogicalPlan::Distinct(d) => self.build_distinct(d, mode),
            LogicalPlan::Join(j) => self.build_join(j, mode),
            LogicalPlan::Sort(_) => Err(EngineError::Plan(
                "ORDER BY is not supported in a streaming query: a stream has no end to sort by"
                    .into(),
            )),
            LogicalPlan::Limit(_) => Err(EngineError::Plan(
                "LIMIT is not supported in a streaming query".into(),
            )),
            other => Err(EngineError::Plan(format!(
                "{} is not supported in a streaming query",
                other.display()
            ))),
        }
    }

    /// A stateless stage on top of `child`, merged into its stages.
    fn stage(&self, child: Built, stage: Stage, schema: &DFSchema) -> Built {
        let window = child.window.filter(|_| {
            schema
                .fields()
                .iter()
                .any(|f| WINDOW_COLUMNS.contains(&f.name().as_str()))
        });
        let node = match child.node {
            Node::Stages {
                input,
                mut pipeline,
            } => {
                pipeline.stages.push(stage);
                Node::Stages { input, pipeline }
            }
            node => Node::Stages {
                input: Box::new(node),
                pipeline: Pipeline {
                    stages: vec![stage],
                },
            },
        };
        Built {
            node,
            window,
            ..child
        }
    }

    fn build_scan(&mut self, scan: &datafusion::logical_expr::TableScan) -> Result<Built> {
        let scan_name = scan.table_name.table().to_string();
        let input = self
            .planned
            .inputs
            .iter()
            .find(|i| i.scan_name == scan_name)
            .ok_or_else(|| {
                EngineError::Internal(format!("scan of unknown relation {scan_name}"))
            })?;
        let info = self.cx.relation(&input.relation).filter(|i| !i.lookup_only).ok_or_else(|| {
            EngineError::Plan(format!(
                "\"{}\" is not a stream: a streaming query reads from sources, and can join a table only by key (JOIN … ON stream.key = table.key)",
                input.relation
            ))
        })?;
        if self.inputs.iter().any(|i| i.relation == input.relation) {
            return Err(EngineError::Plan(format!(
                "source \"{}\" is read twice; a streaming query reads each source once",
                input.relation
            )));
        }
        let window = match &input.window {
            None => None,
            Some(spec) => {
                let time_column = info.schema.index_of(&spec.time_column)?;
                if let Some(w) = &info.watermark_column
                    && w != &spec.time_column
                {
                    return Err(EngineError::Plan(format!(
                        "the window's time column must be the watermark column \"{w}\" of source \"{}\"",
                        input.relation
                    )));
                }
                Some(WindowAssigner {
                    kind: spec.kind.clone(),
                    time_column,
                    output_schema: Arc::new(scan.source.schema().as_ref().clone()),
                    panes: false,
                })
            }
        };
        let window_kind = window.as_ref().map(|w| Some(w.kind.clone()));
        let index = self.inputs.len();
        self.inputs.push(PlanInput {
            relation: input.relation.clone(),
        });
        self.watermarks
            .push((info.watermark_column.clone(), info.schema.clone()));
        let mut built = Built {
            node: Node::Input(InputNode {
                input: index,
                window,
                late_behind_watermark: None,
            }),
            stream: true,
            aggregated: false,
            window: window_kind,
        };
        if let Some(projection) = &scan.projection {
            let exprs = projection
                .iter()
                .map(|&i| Expr::Column(Column::from(scan.source.schema().field(i).name().as_str())))
                .collect::<Vec<_>>();
            let full = DFSchema::try_from(scan.source.schema().as_ref().clone())?;
            let stage = project(&exprs, &Arc::new(full), &scan.projected_schema, &self.props)?;
            built = self.stage(built, stage, &scan.projected_schema);
        }
        Ok(built)
    }

    /// The watermark column of the stream (its name), or why there is none.
    fn stream_watermark(&self) -> Result<(String, String)> {
        let relation = self
            .inputs
            .first()
            .map(|i| i.relation.clone())
            .unwrap_or_default();
        match self.watermarks.first() {
            Some((Some(column), _)) => Ok((relation, column.clone())),
            _ => Err(EngineError::Plan(format!(
                "declare one on source \"{relation}\": WATERMARK FOR <column> AS <column> - INTERVAL '5' SECOND"
            ))),
        }
    }
    fn build_aggregate(
        &mut self,
        agg: &datafusion::logical_expr::Aggregate,
        mode: Option<OutputMode>,
    ) -> Result<Built> {
        let child = self.build(&agg.input, None)?;
        if !child.stream {
            return Err(EngineError::Plan(
                "an aggregation in a streaming query must read a stream".into(),
            ));
        }
        let input_schema = agg.input.schema();
        let n_groups = agg.group_expr.len();
        let fields = agg.schema.fields();
        for e in &agg.group_expr {
            if let Expr::GroupingSet(_) = e {
                return Err(EngineError::Plan(
                    "GROUPING SETS, CUBE and ROLLUP are not supported in a streaming query".into(),
                ));
            }
        }
        let calls = aggregate_calls(agg, &self.props)?;
        let group_name = |i: usize| fields[i].name().as_str();
        let is_window_column = |i: usize| WINDOW_COLUMNS.contains(&group_name(i));
        let window_groups: Vec<usize> = (0..n_groups).filter(|&i| is_window_column(i)).collect();
        let output_schema = Arc::new(agg.schema.as_arrow().clone());
        let inner = mode.is_none();
        let mode = mode.unwrap_or(OutputMode::Append);
        let id = self.id();
        let window_kind = child.window.clone().filter(|_| !window_groups.is_empty());

        if let Some(Some(WindowKind::Session { gap_micros })) = &window_kind {
            if mode == OutputMode::Append {
                self.stream_watermark()
                    .map_err(|e| needs_watermark("a session window", e))?;
            }
            let mut keys = Vec::new();
            let mut key_fields = Vec::new();
            let mut roles = Vec::new();
            for (i, e) in agg.group_expr.iter().enumerate() {
                roles.push(match group_name(i) {
                    "window_start" | "session_start" => GroupRole::Start,
                    "window_end" | "session_end" => GroupRole::End,
                    _ => {
                        keys.push(self.physical(e, input_schema)?);
                        key_fields.push(fields[i].as_ref().clone());
                        GroupRole::Key(keys.len() - 1)
                    }
                });
            }
            let time = self.physical(
                &Expr::Column(Column::from_name("window_start")),
                input_schema,
            )?;
            let session = SessionAggregate::new(
                keys,
                key_fields,
                roles,
                time,
                *gap_micros,
                calls,
                mode,
                output_schema,
                input_schema.as_arrow(),
            )?;
            return Ok(Built {
                node: Node::Session {
                    input: Box::new(child.node),
                    agg: Box::new(session),
                    id,
                },
                stream: true,
                aggregated: true,
                window: Some(None),
            });
        }

        let (window, closes) = match &window_kind {
            None => {
                if mode == OutputMode::Append {
                    return Err(EngineError::Plan(if inner {
                        "an aggregation whose output another aggregation reads must group by a window (window_start or window_end), so that its rows are final when emitted".into()
                    } else {
                        "output_mode 'append' needs an aggregation grouped by a window (e.g. FROM TUMBLE(src, ts, INTERVAL '1' MINUTE) … GROUP BY window_start): without one, no group ever closes; use output_mode 'update' or 'complete'".into()
                    }));
                }
                (None, Closes::Never)
            }
            Some(kind) => {
                let index = window_groups[0];
                let keyed_by_start = matches!(group_name(index), "window_start" | "session_start");
                let (plus_size, closes) = match kind {
                    // Windows another aggregation emitted whole.
                    None => (None, Closes::EachEpoch),
                    Some(WindowKind::Tumble { size_micros })
                    | Some(WindowKind::Hop { size_micros, .. }) => {
                        (keyed_by_start.then_some(*size_micros), Closes::ByWatermark)
                    }
                    Some(WindowKind::Session { .. }) => unreachable!("handled above"),
                };
                if closes == Closes::ByWatermark && (mode == OutputMode::Append || inner) {
                    self.stream_watermark()
                        .map_err(|e| needs_watermark("output_mode 'append'", e))?;
                }
                (
                    Some(WindowKey {
                        group_index: index,
                        plus_size,
                    }),
                    closes,
                )
            }
        };
        let group_exprs = agg
            .group_expr
            .iter()
            .map(|e| self.physical(e, input_schema))
            .collect::<Result<Vec<_>>>()?;
        let group_schema = Arc::new(Schema::new(fields[..n_groups].to_vec()));
        let mut aggregate = WindowAggregate::new(
            group_exprs,
            group_schema,
            calls,
            window,
            closes,
            mode,
            output_schema,
        );
        let mut child = child;
        if let Some(Some(WindowKind::Hop {
            slide_micros,
            size_micros,
        })) = &window_kind
            && mode == OutputMode::Append
            && size_micros % slide_micros == 0
            && let Some((start_column, end_column)) = pane_columns(agg)
            && child.node.use_panes()
        {
            aggregate = aggregate.with_panes(Panes {
                slide: *slide_micros,
                size: *size_micros,
                start_column,
                end_column,
            });
        }
        Ok(Built {
            node: Node::Aggregate {
                input: Box::new(child.node),
                agg: Box::new(aggregate),
                id,
            },
            stream: true,
            aggregated: true,
            window: window.map(|_| None),
        })
    }

    fn build_distinct(&mut self, distinct: &Distinct, mode: Option<OutputMode>) -> Result<Built> {
        // DISTINCT over a projection deduplicates on the projected columns
        // but needs the event time, which the projection may drop: the
        // projection is evaluated by the deduplication itself.
        let (input, keys, outputs, output_schema) = match distinct {
            Distinct::All(input) => match input.as_ref() {
                LogicalPlan::Projection(p) => (
                    p.input.clone(),
                    p.expr.clone(),
                    p.expr.clone(),
                    p.schema.clone(),
                ),
                other => {
                    let columns: Vec<Expr> = other
                        .schema()
                        .columns()
                        .into_iter()
                        .map(Expr::Column)
                        .collect();
                    (
                        input.clone(),
                        columns.clone(),
                        columns,
                        other.schema().clone(),
                    )
                }
            },
            Distinct::On(on) => {
                if on.sort_expr.is_some() {
                    return Err(EngineError::Plan(
                        "DISTINCT ON … ORDER BY is not supported in a streaming query: the first row of each key to arrive is kept".into(),
                    ));
                }
                (
                    on.input.clone(),
                    on.on_expr.clone(),
                    on.select_expr.clone(),
                    on.schema.clone(),
                )
            }
        };
        let mut child = self.build(&input, mode)?;
        if child.aggregated {
            return Err(EngineError::Plan(
                "DISTINCT over an aggregation is not supported in a streaming query".into(),
            ));
        }
        let (relation, column) = self.stream_watermark().map_err(|e| {
            needs_watermark(
                "DISTINCT over a stream, which keeps each key until the watermark passes it,",
                e,
            )
        })?;
        let schema = input.schema();
        let time = schema
            .columns()
            .into_iter()
            .find(|c| c.name == column)
            .ok_or_else(|| {
                EngineError::Plan(format!(
                    "DISTINCT over a stream needs the event-time column \"{column}\" of source \"{relation}\" (its WATERMARK column) in the rows it reads"
                ))
            })?;
        let source_schema = self.watermarks[0].1.clone();
        child
            .node
            .set_late_behind_watermark(source_schema.index_of(&column)?);
        let keys = keys
            .iter()
            .map(|e| self.physical(e, schema))
            .collect::<Result<Vec<_>>>()?;
        let outputs = outputs
            .iter()
            .map(|e| self.physical(e, schema))
            .collect::<Result<Vec<_>>>()?;
        let time = self.physical(&Expr::Column(time), schema)?;
        let dedup = Dedup::new(
            keys,
            outputs,
            Arc::new(output_schema.as_arrow().clone()),
            time,
            schema.as_arrow(),
        )?;
        let id = self.id();
        Ok(Built {
            node: Node::Distinct {
                input: Box::new(child.node),
                dedup: Box::new(dedup),
                id,
            },
            window: child.window.filter(|_| {
                output_schema
                    .fields()
                    .iter()
                    .any(|f| WINDOW_COLUMNS.contains(&f.name().as_str()))
            }),
            ..child
        })
    }

    fn build_join(
        &mut self,
        join: &datafusion::logical_expr::Join,
        mode: Option<OutputMode>,
    ) -> Result<Built> {
        let left_table = table_side(&join.left, self.planned, self.cx);
        let right_table = table_side(&join.right, self.planned, self.cx);
        let (stream_plan, table, stream_first) = match (left_table, right_table) {
            (None, Some(t)) => (&join.left, t, true),
            (Some(t), None) => (&join.right, t, false),
            (Some(_), Some(_)) => {
                return Err(EngineError::Plan(
                    "a join in a streaming query needs a stream on one side".into(),
                ));
            }
            (None, None) => return self.build_interval_join(join, mode),
        };
        let join_type = match (join.join_type, stream_first) {
            (JoinType::Inner, _) => LookupJoinType::Inner,
            (JoinType::Left, true) | (JoinType::Right, false) => LookupJoinType::Left,
            (other, _) => {
                return Err(EngineError::Plan(format!(
                    "{} JOIN between a stream and a table is not supported: the table side is looked up per stream row; use INNER JOIN, or a LEFT JOIN that keeps the stream's rows",
                    other.to_string().to_uppercase()
                )));
            }
        };
        let stream_schema = stream_plan.schema();
        let table_schema = if stream_first {
            join.right.schema()
        } else {
            join.left.schema()
        };

        // Key pairs: the ON equalities, plus `a = b` conjuncts of the filter
        // with one side on each input.
        let mut pairs: Vec<(Expr, Expr)> = Vec::new();
        for (l, r) in &join.on {
            pairs.push(if stream_first {
                (l.clone(), r.clone())
            } else {
                (r.clone(), l.clone())
            });
        }
        let mut residual = Vec::new();
        if let Some(filter) = &join.filter {
            for conjunct in split_conjunction(filter) {
                if let Expr::BinaryExpr(b) = conjunct
                    && b.op == Operator::Eq
                {
                    let on = |e: &Expr, s: &DFSchema| {
                        e.column_refs().iter().all(|c| s.has_column(c))
                            && !e.column_refs().is_empty()
                    };
                    if on(&b.left, stream_schema) && on(&b.right, table_schema) {
                        pairs.push((*b.left.clone(), *b.right.clone()));
                        continue;
                    }
                    if on(&b.right, stream_schema) && on(&b.left, table_schema) {
                        pairs.push((*b.right.clone(), *b.left.clone()));
                        continue;
                    }
                }
                residual.push(conjunct.clone());
            }
        }
        if pairs.is_empty() {
            return Err(EngineError::Plan(format!(
                "a join with table \"{}\" needs an ON condition equating a stream column with a table column (ON stream.key = table.key): the table is looked up by key",
                table.relation
            )));
        }
        let mut key_columns = Vec::new();
        let mut stream_keys = Vec::new();
        for (stream_expr, table_expr) in &pairs {
            let column = match table_expr {
                Expr::Column(c) => c.clone(),
                Expr::Cast(c) => match c.expr.as_ref() {
                    Expr::Column(c) => c.clone(),
                    _ => return Err(not_a_column(table_expr)),
                },
                _ => return Err(not_a_column(table_expr)),
            };
            key_columns.push(column.name.clone());
            stream_keys.push(self.physical(stream_expr, stream_schema)?);
        }

        let child = self.build(stream_plan, mode)?;
        let lookup = self.cx.lookup(&table.relation, &key_columns)?;
        let lookup_schema = lookup.schema();
        let table_keys = key_columns
            .iter()
            .map(|c| lookup_schema.index_of(c))
            .collect::<Result<Vec<_>, _>>()?;
        let key_types = table_keys
            .iter()
            .map(|&i| lookup_schema.field(i).data_type().clone())
            .collect();
        let filter = match residual.into_iter().reduce(Expr::and) {
            Some(f) => Some(self.physical(&f, &join.schema)?),
            None => None,
        };
        let lookup_join = LookupJoin::new(
            stream_keys,
            table_keys,
            key_types,
            lookup,
            join_type,
            stream_first,
            filter,
            Arc::new(join.schema.as_arrow().clone()),
        )?;
        Ok(Built {
            node: Node::Lookup {
                input: Box::new(child.node),
                join: Box::new(lookup_join),
            },
            ..child
        })
    }
}

/// Whether an aggregation over a hopping window can be computed from panes:
/// the window columns appear only as plain GROUP BY columns (which panes
/// rewrite to each window's bounds), never inside another expression or a
/// filter below the aggregation. Returns the group indices of
/// `window_start` and `window_end`.
fn pane_columns(
    agg: &datafusion::logical_expr::Aggregate,
) -> Option<(Option<usize>, Option<usize>)> {
    let mentions_window = |e: &Expr| {
        e.column_refs()
            .iter()
            .any(|c| WINDOW_COLUMNS.contains(&c.name.as_str()))
    };
    let mut start = None;
    let mut end = None;
    for (i, e) in agg.group_expr.iter().enumerate() {
        match e {
            Expr::Column(c) if c.name == "window_start" => start = Some(i),
            Expr::Column(c) if c.name == "window_end" => end = Some(i),
            e if mentions_window(e) => return None,
            _ => {}
        }
    }
    if agg.aggr_expr.iter().any(mentions_window) {
        return None;
    }
    let mut node = agg.input.as_ref();
    loop {
        match node {
            LogicalPlan::SubqueryAlias(a) => node = &a.input,
            LogicalPlan::Filter(f) if !mentions_window(&f.predicate) => node = &f.input,
            LogicalPlan::TableScan(_) => return Some((start, end)),
            _ => return None,
        }
    }
}

impl Builder<'_> {
    /// Two streams joined on keys within a time interval.
    fn build_interval_join(
        &mut self,
        join: &datafusion::logical_expr::Join,
        mode: Option<OutputMode>,
    ) -> Result<Built> {
        if join.join_type != JoinType::Inner {
            return Err(EngineError::Plan(format!(
                "{} JOIN of two streams is not supported; use an inner join",
                join.join_type.to_string().to_uppercase()
            )));
        }
        let first_input = self.inputs.len();
        let mut left = self.build(&join.left, mode)?;
        let second_input = self.inputs.len();
        let mut right = self.build(&join.right, mode)?;
        if left.aggregated || right.aggregated {
            return Err(EngineError::Plan(
                "a join of two streams must come before any aggregation".into(),
            ));
        }
        if second_input - first_input != 1 || self.inputs.len() - second_input != 1 {
            return Err(EngineError::Plan(
                "a streaming query joins at most two streams".into(),
            ));
        }
        let (left_schema, right_schema) = (join.left.schema(), join.right.schema());
        // The event-time column of each side, by its source's watermark.
        let time_of = |input: usize, schema: &DFSchema| -> Result<(Column, usize)> {
            let relation = self.inputs[input].relation.clone();
            let Some(column) = self.watermarks[input].0.clone() else {
                return Err(EngineError::Plan(format!(
                    "a join of two streams keeps rows until the watermark passes them; declare a watermark on source \"{relation}\": WATERMARK FOR <column> AS <column> - INTERVAL '5' SECOND"
                )));
            };
            let found = schema
                .columns()
                .into_iter()
                .find(|c| c.name == column)
                .ok_or_else(|| {
                    EngineError::Plan(format!(
                        "the join needs the event-time column \"{column}\" of source \"{relation}\""
                    ))
                })?;
            let in_source = self.watermarks[input].1.index_of(&column)?;
            Ok((found, in_source))
        };
        let (left_time, left_source_time) = time_of(first_input, left_schema)?;
        let (right_time, right_source_time) = time_of(second_input, right_schema)?;

        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        for (l, r) in &join.on {
            left_keys.push(l.clone());
            right_keys.push(r.clone());
        }
        let conjuncts: Vec<Expr> = join
            .filter
            .as_ref()
            .map(|f| split_conjunction(f).into_iter().cloned().collect())
            .unwrap_or_default();
        let on = |e: &Expr, s: &DFSchema| {
            let refs = e.column_refs();
            !refs.is_empty() && refs.iter().all(|c| s.has_column(c))
        };
        let (mut lower, mut upper): (Option<i64>, Option<i64>) = (None, None);
        for c in &conjuncts {
            if let Expr::BinaryExpr(b) = c
                && b.op == Operator::Eq
            {
                if on(&b.left, left_schema) && on(&b.right, right_schema) {
                    left_keys.push(*b.left.clone());
                    right_keys.push(*b.right.clone());
                } else if on(&b.right, left_schema) && on(&b.left, right_schema) {
                    left_keys.push(*b.right.clone());
                    right_keys.push(*b.left.clone());
                }
            }
            for (a, b) in inequalities(c) {
                // a <= b, with a and b a time column plus a constant.
                let (Some((sa, oa)), Some((sb, ob))) = (
                    time_term(&a, &left_time, &right_time),
                    time_term(&b, &left_time, &right_time),
                ) else {
                    continue;
                };
                match (sa, sb) {
                    // left.ts <= right.ts + (ob - oa)
                    (Side::Left, Side::Right) => {
                        upper = Some(upper.map_or(ob - oa, |u| u.min(ob - oa)))
                    }
                    // right.ts <= left.ts + (ob - oa): left.ts >= right.ts - (ob - oa)
                    (Side::Right, Side::Left) => {
                        lower = Some(lower.map_or(ob - oa, |l| l.min(ob - oa)))
                    }
                    _ => {}
                }
            }
        }
        if left_keys.is_empty() {
            return Err(EngineError::Plan(
                "a join of two streams needs an equality between them (ON a.key = b.key)".into(),
            ));
        }
        let (Some(lower), Some(upper)) = (lower, upper) else {
            return Err(EngineError::Plan(format!(
                "a join of two streams needs a time interval bounding both sides, so that its state can be dropped, e.g. {l} BETWEEN {r} - INTERVAL '1' MINUTE AND {r} + INTERVAL '1' MINUTE",
                l = left_time.flat_name(),
                r = right_time.flat_name()
            )));
        };
        if lower.saturating_add(upper) < 0 {
            return Err(EngineError::Plan(
                "the join's time interval is empty: no pair of rows can match".into(),
            ));
        }
        left.node.set_late_behind_watermark(left_source_time);
        right.node.set_late_behind_watermark(right_source_time);

        let left_keys = left_keys
            .iter()
            .map(|e| self.physical(e, left_schema))
            .collect::<Result<Vec<_>>>()?;
        let right_keys = right_keys
            .iter()
            .map(|e| self.physical(e, right_schema))
            .collect::<Result<Vec<_>>>()?;
        let key_types = left_keys
            .iter()
            .map(|k| k.data_type(left_schema.as_arrow()))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = conjuncts
            .into_iter()
            .reduce(Expr::and)
            .unwrap_or(Expr::Literal(
                datafusion::common::ScalarValue::Boolean(Some(true)),
                None,
            ));
        let filter = self.physical(&filter, &join.schema)?;
        let interval_join = IntervalJoin::new(
            JoinSide {
                keys: left_keys,
                time_column: left_schema.index_of_column(&left_time)?,
                schema: Arc::new(left_schema.as_arrow().clone()),
                reach: lower,
            },
            JoinSide {
                keys: right_keys,
                time_column: right_schema.index_of_column(&right_time)?,
                schema: Arc::new(right_schema.as_arrow().clone()),
                reach: upper,
            },
            key_types,
            filter,
            Arc::new(join.schema.as_arrow().clone()),
        )?;
        let id = self.id();
        self.id();
        Ok(Built {
            node: Node::IntervalJoin {
                left: Box::new(left.node),
                right: Box::new(right.node),
                join: Box::new(interval_join),
                id,
            },
            stream: true,
            aggregated: false,
            window: None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// The `a <= b` comparisons a condition states (`BETWEEN`, `<`, `<=`, `>`,
/// `>=`; strict ones count as non-strict for bounding state).
fn inequalities(e: &Expr) -> Vec<(Expr, Expr)> {
    match e {
        Expr::Between(b) if !b.negated => vec![
            (*b.low.clone(), *b.expr.clone()),
            (*b.expr.clone(), *b.high.clone()),
        ],
        Expr::BinaryExpr(b) => match b.op {
            Operator::Lt | Operator::LtEq => vec![(*b.left.clone(), *b.right.clone())],
            Operator::Gt | Operator::GtEq => vec![(*b.right.clone(), *b.left.clone())],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// `column [± INTERVAL]` over one side's event-time column, as (side,
/// offset in microseconds).
fn time_term(e: &Expr, left: &Column, right: &Column) -> Option<(Side, i64)> {
    match e {
        Expr::Cast(c) => time_term(&c.expr, left, right),
        Expr::TryCast(c) => time_term(&c.expr, left, right),
        Expr::Column(c) if c == left => Some((Side::Left, 0)),
        Expr::Column(c) if c == right => Some((Side::Right, 0)),
        Expr::BinaryExpr(b) if matches!(b.op, Operator::Plus | Operator::Minus) => {
            let (side, base) = time_term(&b.left, left, right)?;
            let Expr::Literal(v, _) = b.right.as_ref() else {
                return None;
            };
            let micros = interval_literal_micros(v)?;
            Some((
                side,
                if b.op == Operator::Plus {
                    base + micros
                } else {
                    base - micros
                },
            ))
        }
        _ => None,
    }
}

fn interval_literal_micros(v: &datafusion::common::ScalarValue) -> Option<i64> {
    use datafusion::common::ScalarValue;
    match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => {
            Some(i.days as i64 * 86_400_000_000 + i.nanoseconds / 1000)
        }
        ScalarValue::IntervalDayTime(Some(i)) => {
            Some(i.days as i64 * 86_400_000_000 + i.milliseconds as i64 * 1000)
        }
        ScalarValue::DurationMicrosecond(Some(m)) => Some(*m),
        ScalarValue::DurationMillisecond(Some(m)) => Some(m * 1000),
        ScalarValue::DurationSecond(Some(s)) => Some(s * 1_000_000),
        ScalarValue::DurationNanosecond(Some(n)) => Some(n / 1000),
        _ => None,
    }
}

/// The table side of a join: a relation read by key.
struct TableSide {
    relation: String,
}

/// `Some` when `plan` is a (possibly aliased) scan of a relation that is
/// looked up rather than streamed.
fn table_side(
    plan: &LogicalPlan,
    planned: &PlannedStreamingQuery,
    cx: &dyn PlanContext,
) -> Option<TableSide> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => table_side(&a.input, planned, cx),
        LogicalPlan::TableScan(scan) => {
            let name = scan.table_name.table();
            let input = planned.inputs.iter().find(|i| i.scan_name == name)?;
            if input.window.is_some() {
                return None;
            }
            match cx.relation(&input.relation) {
                Some(info) if !info.lookup_only => None,
                _ => Some(TableSide {
                    relation: input.relation.clone(),
                }),
            }
        }
        _ => None,
    }
}

fn not_a_column(e: &Expr) -> EngineError {
    EngineError::Plan(format!(
        "the table side of a join key must be a column of the table, found {e}"
    ))
}

fn needs_watermark(what: &str, e: EngineError) -> EngineError {
    let detail = match e {
        EngineError::Plan(m) => m,
        other => other.to_string(),
    };
    EngineError::Plan(format!(
        "{what} needs a watermark to know when rows are complete; {detail}"
    ))
}

fn project(
    exprs: &[Expr],
    input: &Arc<DFSchema>,
    output: &Arc<DFSchema>,
    props: &ExecutionProps,
) -> Result<Stage> {
    let exprs = exprs
        .iter()
        .map(|e| create_physical_expr(e, input, props, &PhysicalPlanningContext::default()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Stage::Project {
        exprs,
        schema: Arc::new(output.as_arrow().clone()),
    })
}

/// The aggregate calls of an aggregation, lowered to physical expressions.
fn aggregate_calls(
    agg: &datafusion::logical_expr::Aggregate,
    props: &ExecutionProps,
) -> Result<Vec<AggregateCall>> {
    let input_schema = agg.input.schema();
    agg.aggr_expr
        .iter()
        .map(|e| {
            let planning = PhysicalPlanningContext::default();
            let LoweredAggregate {
                aggregate: function,
                filter,
                order_bys,
            } = LoweredAggregateBuilder::new(
                e,
                input_schema,
                input_schema.as_arrow(),
                props,
                &planning,
            )
            .build()?;
            if !order_bys.is_empty() {
                return Err(EngineError::Plan(
                    "ORDER BY inside an aggregate is not supported in a streaming query".into(),
                ));
            }
            Ok(AggregateCall {
                args: function.expressions(),
                function,
                filter,
            })
        })
        .collect()
}
