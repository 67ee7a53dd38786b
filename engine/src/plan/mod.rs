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
use crate::session_window::{GroupRole, SessionAggregate};
use crate::state::OperatorState;
use crate::watermark::EventTime;
use crate::window::{LateRows, WindowAssigner, drop_behind_watermark};
use crate::{EngineError, Lookup, Result};

pub use crate::sink::OutputMode;
pub use node::{EpochContext, InputNode, Node};

mod builder;
mod joins;
mod node;

use builder::Builder;

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
