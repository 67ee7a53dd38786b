//! Correlated subqueries over the catalog, evaluated once per outer row.
//!
//! Catalog queries from drivers and BI tools lean on correlated scalar
//! subqueries (`(SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
//! WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum)`), often nested,
//! under `CASE`, or correlated by conditions other than equality.
//! DataFusion decorrelates only some of those shapes into joins; the others
//! fail to plan. Catalog relations are small, so Eddy evaluates them the
//! way PostgreSQL's executor does: once per outer row.
//!
//! [`extract`] replaces each correlated `(SELECT …)` and `EXISTS (SELECT …)`,
//! and each `x IN (SELECT …)` (which DataFusion plans only in WHERE), that
//! reads only catalog relations by a call of a function made for it,
//! whose arguments are the outer columns (and client parameters) the
//! subquery uses; inside the subquery they become `$1`, `$2`, …. [`plan`]
//! then plans each subquery once, with those parameters open, and registers
//! its function for the statement's planning. At execution the function
//! binds each row's values and runs the subquery: no row gives NULL, more
//! than one row fails with 21000 as in PostgreSQL. Results are remembered
//! per distinct set of values within the statement. The function waits for
//! each execution with [`eddy_pgcompat::udf::block_on`], which
//! frees its worker first: a subquery's own tasks, and nested subqueries,
//! then run on the other threads.
//!
//! Subqueries over Eddy's own tables are left to DataFusion.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ParamValues, Result as DfResult, ScalarValue};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{
    ColumnarValue, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, Query, SetExpr, Statement, TableFactor, UnaryOperator, Value,
    visit_expressions, visit_expressions_mut, visit_relations,
};

use crate::error::UserError;

/// Table functions a catalog subquery may read besides catalog relations.
const TABLE_FUNCTIONS: &[&str] = &["generate_series", "unnest", "range", "pg_get_keywords"];

/// Makes function names unique across sessions and statements.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// What the subquery's function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The value of its one column in its one row (NULL without rows).
    Scalar,
    /// Whether it has a row.
    Exists,
    /// Whether the function's first argument is among its rows' values
    /// (`x IN (SELECT …)`, with SQL's NULL rules).
    In,
}

/// A subquery taken out of a statement by [`extract`].
#[derive(Debug)]
pub struct Extracted {
    name: String,
    kind: Kind,
    /// The subquery, its outer references replaced by `$1`, `$2`, ….
    query: Query,
}

/// Replaces the correlated catalog subqueries of `stmt` (see the module
/// documentation). Nested subqueries come before the ones they are in.
pub fn extract(stmt: &mut Statement) -> Vec<Extracted> {
    let mut extracted = Vec::new();
    let _ = visit_expressions_mut(stmt, |expr: &mut Expr| {
        let (query, kind, negated, tested) = match expr {
            Expr::Subquery(query) => (query, Kind::Scalar, false, None),
            Expr::Exists { subquery, negated } => (subquery, Kind::Exists, *negated, None),
            Expr::InSubquery {
                expr: tested,
                subquery,
                negated,
            } => (subquery, Kind::In, *negated, Some((**tested).clone())),
            _ => return ControlFlow::<()>::Continue(()),
        };
        if !reads_only_catalog(query) {
            return ControlFlow::Continue(());
        }
        let defined = defined_names(query);
        let outer = outer_references(query, &defined);
        // DataFusion plans uncorrelated subqueries, except `IN` outside
        // WHERE (`CASE WHEN s IN (SELECT …)`, as Grafana writes).
        if kind != Kind::In && !outer.iter().any(|e| !is_placeholder(e)) {
            return ControlFlow::Continue(());
        }
        let mut inner = (**query).clone();
        let _ = visit_expressions_mut(&mut inner, |e: &mut Expr| {
            if let Some(i) = outer.iter().position(|o| o == e) {
                *e = Expr::value(Value::Placeholder(format!("${}", i + 1)));
            }
            ControlFlow::<()>::Continue(())
        });
        let name = format!("eddy_subquery_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let args: Vec<Expr> = tested.into_iter().chain(outer).collect();
        let call = Expr::Function(eddy_pgcompat::dialect::function(&name, args));
        *expr = if negated {
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: Box::new(call),
            }
        } else {
            call
        };
        extracted.push(Extracted {
            name,
            kind,
            query: inner,
        });
        ControlFlow::Continue(())
    });
    extracted
}

/// The functions of `extracted`, registered in `ctx` until dropped.
pub struct Registered {
    ctx: SessionContext,
    names: Vec<String>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        for name in &self.names {
            self.ctx.deregister_udf(name);
        }
    }
}

/// Plans each extracted subquery and registers its function in `ctx`, for
/// planning the statement they were taken from.
pub async fn plan(
    ctx: &SessionContext,
    extracted: Vec<Extracted>,
) -> Result<Registered, UserError> {
    let mut registered = Registered {
        ctx: ctx.clone(),
        names: Vec::new(),
    };
    for sub in extracted {
        let mut state = ctx.state();
        let plan = state
            .statement_to_plan(DFStatement::Statement(Box::new(Statement::Query(
                Box::new(sub.query),
            ))))
            .await?;
        let return_type = match sub.kind {
            Kind::Exists | Kind::In => DataType::Boolean,
            Kind::Scalar if plan.schema().fields().len() == 1 => {
                plan.schema().field(0).data_type().clone()
            }
            Kind::Scalar => {
                return Err(UserError::new(
                    "42601",
                    "subquery must return only one column",
                ));
            }
        };
        let parameter_types = plan.get_parameter_types()?;
        let parameter_types = (1..=parameter_types.len())
            .map(|i| parameter_types.get(&format!("${i}")).cloned().flatten())
            .collect();
        // One partition: the subquery runs inside another query's
        // execution, where it must not wait on tasks of its own.
        state.config_mut().options_mut().execution.target_partitions = 1;
        let function = CorrelatedSubquery {
            name: sub.name.clone(),
            kind: sub.kind,
            signature: Signature::variadic_any(Volatility::Volatile),
            plan,
            parameter_types,
            return_type,
            state,
            results: Mutex::new(HashMap::new()),
        };
        ctx.register_udf(ScalarUDF::new_from_impl(function));
        registered.names.push(sub.name);
    }
    Ok(registered)
}

/// Whether `query` reads catalog relations and nothing else.
fn reads_only_catalog(query: &Query) -> bool {
    let mut any = false;
    let mut only = true;
    let _ = visit_relations(query, |name: &ObjectName| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(eddy_sql::identifiers::fold))
            .collect();
        let catalog = match parts.as_slice() {
            [schema, _] => schema == "pg_catalog" || schema == "information_schema",
            [n] => {
                eddy_pgcompat::pg_catalog::is_catalog_table(n)
                    || TABLE_FUNCTIONS.contains(&n.as_str())
            }
            _ => false,
        };
        any = true;
        only &= catalog;
        ControlFlow::<()>::Continue(())
    });
    any && only
}

/// The names a query defines for its rows: relations and aliases in its
/// FROM clauses, nested subqueries' included.
fn defined_names(query: &Query) -> Vec<String> {
    let mut names = Vec::new();
    collect_defined(query, &mut names);
    let _ = visit_expressions(query, |e: &Expr| {
        match e {
            Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => collect_defined(q, &mut names),
            Expr::InSubquery { subquery, .. } => collect_defined(subquery, &mut names),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

fn collect_defined(query: &Query, names: &mut Vec<String>) {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            names.push(cte.alias.name.value.to_lowercase());
            collect_defined(&cte.query, names);
        }
    }
    collect_set_expr(&query.body, names);
}

fn collect_set_expr(body: &SetExpr, names: &mut Vec<String>) {
    match body {
        SetExpr::Select(select) => {
            for table in &select.from {
                for factor in
                    std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation))
                {
                    match factor {
                        TableFactor::Table { name, alias, .. } => {
                            if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                                names.push(last.value.to_lowercase());
                            }
                            if let Some(a) = alias {
                                names.push(a.name.value.to_lowercase());
                            }
                        }
                        TableFactor::Derived {
                            subquery, alias, ..
                        } => {
                            if let Some(a) = alias {
                                names.push(a.name.value.to_lowercase());
                            }
                            collect_defined(subquery, names);
                        }
                        other => {
                            if let Some(alias) = factor_alias(other) {
                                names.push(alias);
                            }
                        }
                    }
                }
            }
        }
        SetExpr::Query(q) => collect_defined(q, names),
        SetExpr::SetOperation { left, right, .. } => {
            collect_set_expr(left, names);
            collect_set_expr(right, names);
        }
        _ => {}
    }
}

fn factor_alias(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::NestedJoin { alias, .. } => {
            alias.as_ref().map(|a| a.name.value.to_lowercase())
        }
        _ => None,
    }
}

fn is_placeholder(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
}

/// A qualified column whose qualifier is none of `defined`.
fn is_outer(expr: &Expr, defined: &[String]) -> bool {
    match expr {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            !defined.contains(&parts[parts.len() - 2].value.to_lowercase())
        }
        _ => false,
    }
}

/// The outer columns and parameters `query` uses, each once, in order of
/// first use.
fn outer_references(query: &Query, defined: &[String]) -> Vec<Expr> {
    let mut found: Vec<Expr> = Vec::new();
    let _ = visit_expressions(query, |e: &Expr| {
        if (is_placeholder(e) || is_outer(e, defined)) && !found.contains(e) {
            found.push(e.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// The function standing for one correlated subquery.
struct CorrelatedSubquery {
    name: String,
    kind: Kind,
    signature: Signature,
    /// The subquery's plan, with `$1`, `$2`, … open.
    plan: LogicalPlan,
    parameter_types: Vec<Option<DataType>>,
    return_type: DataType,
    state: SessionState,
    /// The subquery's rows (first column) by outer values, for this
    /// statement.
    results: Mutex<HashMap<Vec<ScalarValue>, Vec<ScalarValue>>>,
}

impl std::fmt::Debug for CorrelatedSubquery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrelatedSubquery")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl PartialEq for CorrelatedSubquery {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for CorrelatedSubquery {}

impl Hash for CorrelatedSubquery {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl CorrelatedSubquery {
    /// The subquery's answer for one outer row: `values` are the
    /// function's arguments (for `IN`, the value tested comes first).
    fn evaluate(&self, mut values: Vec<ScalarValue>) -> DfResult<ScalarValue> {
        let tested = (self.kind == Kind::In).then(|| values.remove(0));
        let rows = self.rows(values)?;
        Ok(match (self.kind, tested) {
            (Kind::Exists, _) => ScalarValue::Boolean(Some(!rows.is_empty())),
            (Kind::Scalar, _) if rows.len() > 1 => {
                return Err(DataFusionError::External(Box::new(UserError::new(
                    "21000",
                    "more than one row returned by a subquery used as an expression",
                ))));
            }
            (Kind::Scalar, _) => match rows.into_iter().next() {
                Some(value) => value,
                None => ScalarValue::try_from(&self.return_type)?,
            },
            (Kind::In, Some(tested)) => in_list(&tested, &rows)?,
            (Kind::In, None) => unreachable!("IN has its tested value"),
        })
    }

    /// The first column of the subquery's rows for these outer values.
    fn rows(&self, values: Vec<ScalarValue>) -> DfResult<Vec<ScalarValue>> {
        if let Some(known) = self.lock().get(&values) {
            return Ok(known.clone());
        }
        let params = values
            .iter()
            .zip(&self.parameter_types)
            .map(|(value, wanted)| match wanted {
                Some(t) if value.data_type() != *t => value.cast_to(t),
                _ => Ok(value.clone()),
            })
            .collect::<DfResult<Vec<_>>>()?;
        let plan = self.plan.clone().with_param_values(ParamValues::List(
            params.into_iter().map(Into::into).collect(),
        ))?;
        let batches = eddy_pgcompat::udf::block_on(async {
            let physical = self.state.create_physical_plan(&plan).await?;
            datafusion::physical_plan::collect(physical, self.state.task_ctx()).await
        })?;
        let mut rows = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                rows.push(match self.kind {
                    // Only the count matters.
                    Kind::Exists => ScalarValue::Null,
                    _ => ScalarValue::try_from_array(batch.column(0), row)?,
                });
            }
        }
        self.lock().insert(values, rows.clone());
        Ok(rows)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<ScalarValue>, Vec<ScalarValue>>> {
        self.results.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `tested IN (rows)`: true when found, else NULL if `tested` or a row is
/// NULL, else false.
fn in_list(tested: &ScalarValue, rows: &[ScalarValue]) -> DfResult<ScalarValue> {
    if tested.is_null() {
        return Ok(ScalarValue::Boolean(None));
    }
    let mut saw_null = false;
    for row in rows {
        if row.is_null() {
            saw_null = true;
            continue;
        }
        let row = if row.data_type() == tested.data_type() {
            row.clone()
        } else {
            row.cast_to(&tested.data_type())?
        };
        if &row == tested {
            return Ok(ScalarValue::Boolean(Some(true)));
        }
    }
    Ok(ScalarValue::Boolean(if saw_null {
        None
    } else {
        Some(false)
    }))
}

impl ScalarUDFImpl for CorrelatedSubquery {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut results = Vec::with_capacity(rows);
        for row in 0..rows {
            let values = arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<DfResult<Vec<_>>>()?;
            results.push(self.evaluate(values)?);
        }
        if results.is_empty() {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&self.return_type),
            ));
        }
        let array = ScalarValue::iter_to_array(results)?;
        // A column of NULLs comes back typed Null; the declared type is wanted.
        let array = if array.data_type() == &self.return_type {
            array
        } else {
            datafusion::arrow::compute::cast(&array, &self.return_type)?
        };
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn extracted(sql: &str) -> (String, Vec<String>) {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let subs = extract(&mut stmt);
        let outer = stmt.to_string();
        let mut out = vec![];
        for s in subs {
            out.push(format!(
                "{}: {}",
                s.name.split('_').next().unwrap(),
                s.query
            ));
        }
        (outer, out)
    }

    #[test]
    fn correlated_catalog_subqueries_become_calls() {
        let (outer, subs) = extracted(
            "SELECT a.attname, (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d \
             WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) \
             FROM pg_attribute a WHERE a.attrelid = $1",
        );
        assert!(
            outer.starts_with("SELECT a.attname, eddy_subquery_"),
            "{outer}"
        );
        assert!(
            outer.ends_with(
                "(a.attrelid, a.attnum, a.atthasdef) FROM pg_attribute a WHERE a.attrelid = $1"
            ),
            "{outer}"
        );
        assert_eq!(
            subs,
            [
                "eddy: SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d \
              WHERE d.adrelid = $1 AND d.adnum = $2 AND $3"
            ]
        );
    }

    #[test]
    fn nested_subqueries_come_first_and_pass_outer_columns_on() {
        let (outer, subs) = extracted(
            "SELECT c.relname FROM pg_class c WHERE NOT EXISTS (SELECT 1 FROM pg_index i \
             WHERE i.indrelid = c.oid AND i.indisprimary \
             AND (SELECT t.typname FROM pg_type t WHERE t.oid = i.indexrelid + c.oid) = $2)",
        );
        assert!(outer.contains("WHERE NOT eddy_subquery_"), "{outer}");
        assert!(outer.ends_with("(c.oid, $2)"), "{outer}");
        assert_eq!(subs.len(), 2);
        assert!(
            subs[0].ends_with("FROM pg_type t WHERE t.oid = $1 + $2"),
            "{subs:?}"
        );
        assert!(
            subs[1].contains("WHERE i.indrelid = $1 AND i.indisprimary AND eddy_subquery_"),
            "{subs:?}"
        );
        assert!(subs[1].ends_with("(i.indexrelid, $1) = $2"), "{subs:?}");
    }

    #[test]
    fn uncorrelated_and_user_table_subqueries_are_left_alone() {
        for sql in [
            "SELECT (SELECT count(*) FROM pg_class) FROM pg_namespace n",
            "SELECT (SELECT max(x) FROM events e WHERE e.k = n.oid) FROM pg_namespace n",
            "SELECT (SELECT typname FROM pg_type WHERE oid = $1)",
        ] {
            let (outer, subs) = extracted(sql);
            assert!(subs.is_empty(), "{sql}: {subs:?}");
            assert!(!outer.contains("eddy_subquery"), "{outer}");
        }
    }
}
