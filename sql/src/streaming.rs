//! Planning the SELECT of a streaming query.
//!
//! Window table functions are not relations DataFusion knows, so before
//! planning, each `TUMBLE(src, ts, size)` in the FROM clause is replaced by a
//! reference to a *window relation*: a relation named `__eddy_window_<n>`,
//! aliased to the source's name (or the alias the user gave), whose columns
//! are the source's columns followed by `window_start` and `window_end`.
//! DataFusion then plans the query as a batch query over those relations;
//! the engine turns the resulting logical plan into streaming operators and
//! computes the two window columns itself when it reads the source.
//!
//! The output columns are named as PostgreSQL names them (`count(*)` is
//! `count`, see [`crate::column_names`]): they become the sink's columns.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::Analyzer;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName, ObjectNamePart, Query, SetExpr,
    Statement, TableAlias, TableFactor, TableWithJoins, Value,
};

use crate::{SqlError, identifiers};

/// Kind of window a window relation adds.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowKind {
    /// `TUMBLE(src, ts, size)`: `[floor(ts / size) * size, + size)`.
    Tumble { size_micros: i64 },
    /// `HOP(src, ts, slide, size)`: windows of `size` starting every
    /// `slide`, aligned to the Unix epoch; a row belongs to each window
    /// that contains it.
    Hop { slide_micros: i64, size_micros: i64 },
    /// `SESSION(src, ts, gap)`: per group key, rows less than `gap` apart
    /// form a session `[first, last + gap)`.
    Session { gap_micros: i64 },
}

impl WindowKind {
    pub fn is_session(&self) -> bool {
        matches!(self, WindowKind::Session { .. })
    }
}

/// One relation the planned query reads.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInput {
    /// The table name in the logical plan's `TableScan`.
    pub scan_name: String,
    /// The catalog relation (a source or a table) it reads.
    pub relation: String,
    /// The window the scan adds, if it stands for a window table function.
    pub window: Option<WindowSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    pub kind: WindowKind,
    /// The event-time column the window is computed from.
    pub time_column: String,
}

/// A streaming SELECT planned by DataFusion.
#[derive(Debug)]
pub struct PlannedStreamingQuery {
    /// The analyzed (type-coerced) but unoptimized logical plan.
    pub plan: LogicalPlan,
    pub inputs: Vec<StreamInput>,
}

/// The schema of a window relation: the input's columns, then
/// `window_start` and `window_end` (and, for sessions, the same two again as
/// `session_start` and `session_end`).
pub fn window_schema(input: &Schema, kind: &WindowKind) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("window_start", ts.clone(), false));
    fields.push(Field::new("window_end", ts.clone(), false));
    if kind.is_session() {
        fields.push(Field::new("session_start", ts.clone(), false));
        fields.push(Field::new("session_end", ts, false));
    }
    Arc::new(Schema::new(fields))
}

/// Plans `query`. `relation_schema` gives the schema of a catalog relation
/// (source or table) by name, or `None` when it does not exist.
pub async fn plan_streaming_query(
    query: &Query,
    relation_schema: &(dyn Fn(&str) -> Option<SchemaRef> + Sync),
) -> Result<PlannedStreamingQuery, SqlError> {
    let mut query = query.clone();
    crate::spark_window::rewrite_spark_windows(&mut query)?;
    // After the Spark rewrite, so that `window.start` stays `window_start`.
    crate::column_names::name_output_columns(&mut query)?;
    let mut rewriter = WindowRewriter::default();
    rewriter.rewrite_query(&mut query)?;

    let ctx = planning_context();
    let mut inputs = Vec::new();
    for (scan_name, relation, window) in rewriter.windows {
        let schema = relation_schema(&relation).ok_or_else(|| {
            SqlError::undefined(format!("relation \"{relation}\" does not exist"))
        })?;
        if schema.field_with_name(&window.time_column).is_err() {
            return Err(SqlError::undefined(format!(
                "column \"{}\" does not exist in \"{relation}\"",
                window.time_column
            )));
        }
        register(&ctx, &scan_name, window_schema(&schema, &window.kind))?;
        inputs.push(StreamInput {
            scan_name,
            relation,
            window: Some(window),
        });
    }
    for relation in rewriter.plain_relations {
        if inputs.iter().any(|i| i.scan_name == relation) {
            continue;
        }
        let schema = relation_schema(&relation).ok_or_else(|| {
            SqlError::undefined(format!("relation \"{relation}\" does not exist"))
        })?;
        register(&ctx, &relation, schema)?;
        inputs.push(StreamInput {
            scan_name: relation.clone(),
            relation,
            window: None,
        });
    }

    let statement = DFStatement::Statement(Box::new(Statement::Query(Box::new(query))));
    let state = ctx.state();
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(|e| plan_error(&e))?;
    let plan = Analyzer::new()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .map_err(|e| plan_error(&e))?;
    Ok(PlannedStreamingQuery { plan, inputs })
}

/// A session configured like the one that runs ad-hoc queries: plain Utf8
/// strings, PostgreSQL identifier rules.
pub fn planning_context() -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(false);
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    config.options_mut().sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    SessionContext::new_with_config(config)
}

fn register(ctx: &SessionContext, name: &str, schema: SchemaRef) -> Result<(), SqlError> {
    let table = MemTable::try_new(schema, vec![vec![]]).map_err(|e| plan_error(&e))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(|e| plan_error(&e))?;
    Ok(())
}

fn plan_error(e: &datafusion::error::DataFusionError) -> SqlError {
    let message = e.to_string();
    let message = message
        .strip_prefix("Error during planning: ")
        .or_else(|| message.strip_prefix("Schema error: "))
        .unwrap_or(&message)
        .to_string();
    let sqlstate = if message.contains("No field named") || message.contains("not found") {
        "42703"
    } else {
        "42P10"
    };
    SqlError {
        sqlstate,
        message,
        position: None,
    }
}

/// Walks a query's FROM clauses, replacing window table functions.
#[derive(Default)]
struct WindowRewriter {
    /// (scan name, relation, window) for each window function replaced.
    windows: Vec<(String, String, WindowSpec)>,
    /// Plain relation names referenced.
    plain_relations: Vec<String>,
    /// CTE names, which are not catalog relations.
    ctes: HashMap<String, ()>,
}

impl WindowRewriter {
    fn rewrite_query(&mut self, query: &mut Query) -> Result<(), SqlError> {
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                self.ctes.insert(cte.alias.name.value.clone(), ());
                self.rewrite_query(&mut cte.query)?;
            }
        }
        self.rewrite_set_expr(&mut query.body)
    }

    fn rewrite_set_expr(&mut self, body: &mut SetExpr) -> Result<(), SqlError> {
        match body {
            SetExpr::Select(select) => {
                for twj in &mut select.from {
                    self.rewrite_table_with_joins(twj)?;
                }
                Ok(())
            }
            SetExpr::Query(q) => self.rewrite_query(q),
            SetExpr::SetOperation { left, right, .. } => {
                self.rewrite_set_expr(left)?;
                self.rewrite_set_expr(right)
            }
            _ => Ok(()),
        }
    }

    fn rewrite_table_with_joins(&mut self, twj: &mut TableWithJoins) -> Result<(), SqlError> {
        self.rewrite_factor(&mut twj.relation)?;
        for join in &mut twj.joins {
            self.rewrite_factor(&mut join.relation)?;
        }
        Ok(())
    }

    fn rewrite_factor(&mut self, factor: &mut TableFactor) -> Result<(), SqlError> {
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let fname = object_name(name)?;
                match args {
                    None => {
                        if !self.ctes.contains_key(&fname) && !self.plain_relations.contains(&fname)
                        {
                            self.plain_relations.push(fname);
                        }
                        Ok(())
                    }
                    Some(targs) => {
                        let (relation, window) = parse_window_call(&fname, &targs.args)?;
                        let scan_name = format!("__eddy_window_{}", self.windows.len());
                        let alias_name = alias
                            .as_ref()
                            .map(|a| a.name.clone())
                            .unwrap_or_else(|| Ident::new(relation.clone()));
                        *name =
                            ObjectName(vec![ObjectNamePart::Identifier(Ident::new(&scan_name))]);
                        *args = None;
                        *alias = Some(TableAlias {
                            explicit: true,
                            name: alias_name,
                            columns: alias
                                .as_ref()
                                .map(|a| a.columns.clone())
                                .unwrap_or_default(),
                            at: None,
                        });
                        self.windows.push((scan_name, relation, window));
                        Ok(())
                    }
                }
            }
            TableFactor::Derived { subquery, .. } => self.rewrite_query(subquery),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.rewrite_table_with_joins(table_with_joins),
            TableFactor::Function { name, .. } => Err(SqlError::unsupported(format!(
                "table function {name} is not supported in a streaming query"
            ))),
            other => Err(SqlError::unsupported(format!(
                "\"{other}\" is not supported in a streaming query"
            ))),
        }
    }
}

fn object_name(name: &ObjectName) -> Result<String, SqlError> {
    let parts: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    match parts.as_slice() {
        [one] => Ok(identifiers::fold(one)),
        [schema, one] if identifiers::fold(schema) == "public" => Ok(identifiers::fold(one)),
        _ => Err(SqlError::undefined(format!(
            "relation \"{name}\" does not exist"
        ))),
    }
}

fn parse_window_call(
    function: &str,
    args: &[FunctionArg],
) -> Result<(String, WindowSpec), SqlError> {
    let exprs: Vec<&Expr> = args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            other => Err(SqlError::syntax(
                format!("unexpected argument {other} to {function}"),
                None,
            )),
        })
        .collect::<Result<_, _>>()?;
    let relation_arg = |e: &Expr| {
        expr_ident(
            e,
            &format!(
                "{}'s first argument must be a source or table name",
                function.to_uppercase()
            ),
        )
    };
    let time_arg = |e: &Expr| {
        expr_ident(
            e,
            &format!(
                "{}'s second argument must be a column name",
                function.to_uppercase()
            ),
        )
    };
    let positive = |e: &Expr, what: &str| -> Result<i64, SqlError> {
        let micros = interval_micros(e)?;
        if micros <= 0 {
            return Err(SqlError::invalid_value(format!(
                "{} {what} must be positive",
                function.to_uppercase()
            )));
        }
        Ok(micros)
    };
    let (relation, time, kind) = match (function, exprs.as_slice()) {
        ("tumble", [relation, time, size]) => (
            relation,
            time,
            WindowKind::Tumble {
                size_micros: positive(size, "window size")?,
            },
        ),
        ("hop", [relation, time, slide, size]) => {
            let slide_micros = positive(slide, "slide")?;
            let size_micros = positive(size, "window size")?;
            if slide_micros > size_micros {
                return Err(SqlError::invalid_value(
                    "HOP's slide must not be larger than its size (rows between windows would belong to none); use TUMBLE for slide = size",
                ));
            }
            (
                relation,
                time,
                WindowKind::Hop {
                    slide_micros,
                    size_micros,
                },
            )
        }
        ("session", [relation, time, gap]) => (
            relation,
            time,
            WindowKind::Session {
                gap_micros: positive(gap, "gap")?,
            },
        ),
        ("tumble", _) => {
            return Err(SqlError::syntax(
                "TUMBLE takes three arguments: TUMBLE(source, time_column, INTERVAL 'size')",
                None,
            ));
        }
        ("hop", _) => {
            return Err(SqlError::syntax(
                "HOP takes four arguments: HOP(source, time_column, INTERVAL 'slide', INTERVAL 'size')",
                None,
            ));
        }
        ("session", _) => {
            return Err(SqlError::syntax(
                "SESSION takes three arguments: SESSION(source, time_column, INTERVAL 'gap')",
                None,
            ));
        }
        (other, _) => {
            return Err(SqlError::unsupported(format!(
                "table function {other}(…) is not supported in a streaming query; expected TUMBLE, HOP or SESSION"
            )));
        }
    };
    Ok((
        relation_arg(relation)?,
        WindowSpec {
            kind,
            time_column: time_arg(time)?,
        },
    ))
}

fn expr_ident(expr: &Expr, message: &str) -> Result<String, SqlError> {
    match expr {
        Expr::Identifier(ident) => Ok(identifiers::fold(ident)),
        Expr::CompoundIdentifier(parts)
            if parts.len() == 2 && identifiers::fold(&parts[0]) == "public" =>
        {
            Ok(identifiers::fold(&parts[1]))
        }
        _ => Err(SqlError::syntax(message.to_string(), None)),
    }
}

/// Evaluates an interval literal (`INTERVAL '10' SECOND`, `INTERVAL '1 minute'`,
/// `'10 seconds'`) to microseconds. Months and years are refused: windows
/// are fixed durations.
pub fn interval_micros(expr: &Expr) -> Result<i64, SqlError> {
    let (text, unit) = match expr {
        Expr::Interval(interval) => {
            let text = literal_text(&interval.value)?;
            (text, interval.leading_field.as_ref().map(|f| f.to_string()))
        }
        Expr::Value(_) => (literal_text(expr)?, None),
        _ => {
            return Err(SqlError::syntax(
                format!("expected an interval such as INTERVAL '10' SECOND, found {expr}"),
                None,
            ));
        }
    };
    let full = match unit {
        Some(unit) => format!("{text} {unit}"),
        None => text,
    };
    duration_text_micros(&full)
        .ok_or_else(|| SqlError::invalid_value(format!("invalid interval '{full}' for a window")))
}

fn literal_text(expr: &Expr) -> Result<String, SqlError> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => Ok(s.clone()),
            other => Err(SqlError::syntax(
                format!("expected an interval, found {other}"),
                None,
            )),
        },
        other => Err(SqlError::syntax(
            format!("expected an interval, found {other}"),
            None,
        )),
    }
}

/// `'10 seconds'`, `'1 minute 30 seconds'`, `'500 ms'`, `'1' HOUR`.
pub fn duration_text_micros(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let (number, unit) = match word.find(|c: char| c.is_ascii_alphabetic()) {
            Some(0) => return None,
            Some(i) => (word[..i].to_string(), word[i..].to_string()),
            None => (
                word.to_string(),
                words.next().unwrap_or("second").to_string(),
            ),
        };
        let n: f64 = number.parse().ok()?;
        let per: f64 = match unit.to_ascii_lowercase().as_str() {
            "us" | "microsecond" | "microseconds" => 1.0,
            "ms" | "millisecond" | "milliseconds" => 1e3,
            "s" | "sec" | "secs" | "second" | "seconds" => 1e6,
            "m" | "min" | "mins" | "minute" | "minutes" => 60e6,
            "h" | "hour" | "hours" => 3600e6,
            "d" | "day" | "days" => 86_400e6,
            "w" | "week" | "weeks" => 7.0 * 86_400e6,
            _ => return None,
        };
        total = total.checked_add((n * per).round() as i64)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn query(sql: &str) -> Query {
        match Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
        {
            Statement::Query(q) => *q,
            other => panic!("not a query: {other}"),
        }
    }

    fn clicks() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]))
    }

    #[tokio::test]
    async fn tumble_becomes_a_window_relation() {
        let q = query(
            "SELECT window_start, user_id, count(*) AS n FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) \
             GROUP BY window_start, user_id",
        );
        let planned = plan_streaming_query(&q, &|name| (name == "clicks").then(clicks))
            .await
            .unwrap();
        assert_eq!(
            planned.inputs,
            vec![StreamInput {
                scan_name: "__eddy_window_0".into(),
                relation: "clicks".into(),
                window: Some(WindowSpec {
                    kind: WindowKind::Tumble {
                        size_micros: 10_000_000
                    },
                    time_column: "ts".into()
                }),
            }]
        );
        let names: Vec<_> = planned
            .plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["window_start", "user_id", "n"]);
    }

    #[tokio::test]
    async fn unknown_relation_and_column_are_reported() {
        let q = query("SELECT * FROM TUMBLE(nope, ts, INTERVAL '1' MINUTE)");
        let err = plan_streaming_query(&q, &|_| None).await.unwrap_err();
        assert_eq!(err.message, "relation \"nope\" does not exist");
        let q = query("SELECT * FROM TUMBLE(clicks, t, INTERVAL '1' MINUTE)");
        let err = plan_streaming_query(&q, &|_| Some(clicks()))
            .await
            .unwrap_err();
        assert_eq!(err.message, "column \"t\" does not exist in \"clicks\"");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_text_micros("10 SECOND"), Some(10_000_000));
        assert_eq!(
            duration_text_micros("1 minute 30 seconds"),
            Some(90_000_000)
        );
        assert_eq!(duration_text_micros("500ms"), Some(500_000));
        assert_eq!(duration_text_micros("1 fortnight"), None);
    }
}
