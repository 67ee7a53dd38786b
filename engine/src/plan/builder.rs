//! Building the operator tree from the logical plan: scans, stages,
//! aggregations, sessions and DISTINCT (joins are in `joins`).

use super::*;

/// What a built subtree tells the node above it.
pub(super) struct Built {
    pub(super) node: Node,
    /// The subtree contains an aggregation.
    pub(super) aggregated: bool,
    /// The window its `window_*` / `session_*` columns carry: the window
    /// relation's, or `None` for windows an aggregation emitted whole.
    pub(super) window: Option<Option<WindowKind>>,
}

pub(super) struct Builder<'a> {
    pub(super) planned: &'a PlannedStreamingQuery,
    pub(super) cx: &'a dyn PlanContext,
    pub(super) props: ExecutionProps,
    pub(super) inputs: Vec<PlanInput>,
    /// Per input: the watermark column and the source's schema.
    pub(super) watermarks: Vec<(Option<String>, SchemaRef)>,
    pub(super) next_id: u32,
}

pub(super) const WINDOW_COLUMNS: [&str; 4] =
    ["window_start", "window_end", "session_start", "session_end"];

impl Builder<'_> {
    pub(super) fn physical(&self, e: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(create_physical_expr(
            e,
            schema,
            &self.props,
            &PhysicalPlanningContext::default(),
        )?)
    }

    pub(super) fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Builds `plan`. `mode` is the output mode an aggregation here runs in:
    /// the query's at the top, `None` below another aggregation (whose
    /// input must be final rows: append).
    pub(super) fn build(&mut self, plan: &LogicalPlan, mode: Option<OutputMode>) -> Result<Built> {
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
    pub(super) fn stage(&self, child: Built, stage: Stage, schema: &DFSchema) -> Built {
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
    pub(super) fn stream_watermark(&self) -> Result<(String, String)> {
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

pub(super) fn not_a_column(e: &Expr) -> EngineError {
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
