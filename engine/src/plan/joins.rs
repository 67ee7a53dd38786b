//! Joins: a stream with a table (looked up by key) and two streams
//! (an interval join).

use super::builder::*;
use super::*;

impl Builder<'_> {
    pub(super) fn build_join(
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
