//! From a DataFusion logical plan to a streaming plan.
//!
//! Eddy runs the shape `input → stateless stages → [aggregation] →
//! stateless stages → sink`. The logical plan is walked from the top:
//! projections and filters above the aggregation become the *post* stages,
//! those below it the *pre* stages, and the scan at the bottom names the
//! input (a source, possibly through a window relation). Anything else
//! (sorts, limits, joins for now) is refused with a reason at CREATE time.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::aggregate::{LoweredAggregate, LoweredAggregateBuilder};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use eddy_sql::streaming::{PlannedStreamingQuery, WindowKind};

use crate::aggregate::{AggregateCall, WindowAggregate, WindowKey};
use crate::window::TumblingWindow;
use crate::{EngineError, Result};

/// How results leave an aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Each window's row once, when the watermark passes the window's end.
    Append,
}

impl OutputMode {
    pub const CHOICES: &'static [&'static str] = &["append", "update", "complete"];

    pub fn parse(value: &str) -> Result<OutputMode> {
        match value.to_ascii_lowercase().as_str() {
            "append" => Ok(OutputMode::Append),
            "update" | "complete" => Err(EngineError::Plan(format!(
                "output_mode '{value}' is not supported yet; use 'append'"
            ))),
            _ => Err(EngineError::Config(format!(
                "invalid value '{value}' for option 'output_mode'; expected one of {}",
                Self::CHOICES.join(", ")
            ))),
        }
    }
}

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

/// The input of a streaming plan.
pub struct PlanInput {
    /// The catalog relation read.
    pub relation: String,
    /// Window assignment applied to the relation's batches, if any.
    pub window: Option<TumblingWindow>,
}

/// What runs a streaming query, minus its source and sink.
pub struct StreamingPlan {
    pub input: PlanInput,
    pub pre: Pipeline,
    pub aggregate: Option<WindowAggregate>,
    pub post: Pipeline,
    pub output_schema: SchemaRef,
}

/// What the planner needs to know about a source.
pub struct InputInfo {
    pub schema: SchemaRef,
    /// The `WATERMARK FOR` column, if declared.
    pub watermark_column: Option<String>,
}

/// Builds the streaming plan. `input_info` describes a catalog relation.
pub fn build_streaming_plan(
    planned: &PlannedStreamingQuery,
    output_mode: OutputMode,
    input_info: &(dyn Fn(&str) -> Option<InputInfo> + Sync),
) -> Result<StreamingPlan> {
    let props = ExecutionProps::new();
    let mut post = Vec::new();
    let mut pre = Vec::new();
    let mut aggregate = None;
    let mut node = &planned.plan;
    let scan = loop {
        let stages = if aggregate.is_some() {
            &mut pre
        } else {
            &mut post
        };
        match node {
            LogicalPlan::Projection(p) => {
                stages.push(project(&p.expr, p.input.schema(), &p.schema, &props)?);
                node = &p.input;
            }
            LogicalPlan::Filter(f) => {
                stages.push(Stage::Filter(create_physical_expr(
                    &f.predicate,
                    f.input.schema(),
                    &props,
                    &PhysicalPlanningContext::default(),
                )?));
                node = &f.input;
            }
            LogicalPlan::SubqueryAlias(a) => node = &a.input,
            LogicalPlan::Aggregate(a) => {
                if aggregate.is_some() {
                    return Err(EngineError::Plan(
                        "an aggregation over another aggregation is not supported yet".into(),
                    ));
                }
                aggregate = Some(a);
                node = &a.input;
            }
            LogicalPlan::TableScan(scan) => break scan,
            LogicalPlan::Sort(_) => {
                return Err(EngineError::Plan(
                    "ORDER BY is not supported in a streaming query: a stream has no end to sort by"
                        .into(),
                ));
            }
            LogicalPlan::Limit(_) => {
                return Err(EngineError::Plan(
                    "LIMIT is not supported in a streaming query".into(),
                ));
            }
            LogicalPlan::Join(_) => {
                return Err(EngineError::Plan(
                    "joins are not supported in a streaming query yet".into(),
                ));
            }
            LogicalPlan::Distinct(_) => {
                return Err(EngineError::Plan(
                    "DISTINCT is not supported in a streaming query yet".into(),
                ));
            }
            other => {
                return Err(EngineError::Plan(format!(
                    "{} is not supported in a streaming query",
                    other.display()
                )));
            }
        }
    };
    if aggregate.is_none() {
        std::mem::swap(&mut pre, &mut post);
    }

    let scan_name = scan.table_name.table().to_string();
    let input = planned
        .inputs
        .iter()
        .find(|i| i.scan_name == scan_name)
        .ok_or_else(|| EngineError::Internal(format!("scan of unknown relation {scan_name}")))?;
    let info = input_info(&input.relation).ok_or_else(|| {
        EngineError::Plan(format!(
            "\"{}\" is not a source; a streaming query reads from sources",
            input.relation
        ))
    })?;
    if let Some(projection) = &scan.projection {
        let exprs = projection
            .iter()
            .map(|&i| {
                Expr::Column(datafusion::common::Column::from(
                    scan.source.schema().field(i).name().as_str(),
                ))
            })
            .collect::<Vec<_>>();
        let full = DFSchema::try_from(scan.source.schema().as_ref().clone())?;
        pre.push(project(
            &exprs,
            &Arc::new(full),
            &scan.projected_schema,
            &props,
        )?);
    }
    pre.reverse();
    post.reverse();

    let window = match &input.window {
        None => None,
        Some(spec) => {
            let WindowKind::Tumble { size_micros } = spec.kind;
            let time_column = info.schema.index_of(&spec.time_column)?;
            Some(TumblingWindow {
                size_micros,
                time_column,
                output_schema: Arc::new(scan.source.schema().as_ref().clone()),
            })
        }
    };

    let aggregate = match aggregate {
        None => None,
        Some(agg) => Some(build_aggregate(
            agg,
            &window,
            &info,
            &input.relation,
            output_mode,
            &props,
        )?),
    };

    Ok(StreamingPlan {
        input: PlanInput {
            relation: input.relation.clone(),
            window,
        },
        pre: Pipeline { stages: pre },
        aggregate,
        post: Pipeline { stages: post },
        output_schema: Arc::new(planned.plan.schema().as_arrow().clone()),
    })
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

fn build_aggregate(
    agg: &datafusion::logical_expr::Aggregate,
    window: &Option<TumblingWindow>,
    info: &InputInfo,
    relation: &str,
    output_mode: OutputMode,
    props: &ExecutionProps,
) -> Result<WindowAggregate> {
    let OutputMode::Append = output_mode;
    let Some(window) = window else {
        return Err(EngineError::Plan(
            "output_mode 'append' needs an aggregation grouped by a window (e.g. FROM TUMBLE(src, ts, INTERVAL '1' MINUTE) … GROUP BY window_start): without one, no group ever closes".into(),
        ));
    };
    let Some(watermark_column) = &info.watermark_column else {
        return Err(EngineError::Plan(format!(
            "output_mode 'append' needs a watermark to know when a window is complete; declare one on source \"{relation}\": WATERMARK FOR <column> AS <column> - INTERVAL '5' SECOND"
        )));
    };
    if info.schema.index_of(watermark_column)? != window.time_column {
        return Err(EngineError::Plan(format!(
            "the window's time column must be the watermark column \"{watermark_column}\" of source \"{relation}\""
        )));
    }
    let n_groups = agg.group_expr.len();
    let fields = agg.schema.fields();
    let window_key = (0..n_groups)
        .find_map(|i| match fields[i].name().as_str() {
            "window_start" => Some((i, false)),
            "window_end" => Some((i, true)),
            _ => None,
        })
        .ok_or_else(|| {
            EngineError::Plan(
                "an aggregation over a window must GROUP BY window_start or window_end".into(),
            )
        })?;

    let input_schema = agg.input.schema();
    let group_exprs = agg
        .group_expr
        .iter()
        .map(|e| match e {
            Expr::GroupingSet(_) => Err(EngineError::Plan(
                "GROUPING SETS, CUBE and ROLLUP are not supported in a streaming query".into(),
            )),
            e => Ok(create_physical_expr(
                e,
                input_schema,
                props,
                &PhysicalPlanningContext::default(),
            )?),
        })
        .collect::<Result<Vec<_>>>()?;
    let group_schema = Arc::new(Schema::new(fields[..n_groups].to_vec()));
    let calls = agg
        .aggr_expr
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
        .collect::<Result<Vec<_>>>()?;
    Ok(WindowAggregate::new(
        group_exprs,
        group_schema,
        calls,
        WindowKey {
            group_index: window_key.0,
            is_end: window_key.1,
            size_micros: window.size_micros,
        },
        Arc::new(agg.schema.as_arrow().clone()),
    ))
}
