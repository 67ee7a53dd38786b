//! Spark's window forms, rewritten to Eddy's window table functions.
//!
//! ```sql
//! SELECT window.start, window.end, user_id, count(*)
//! FROM clicks GROUP BY window(ts, '10 minutes'[, '5 minutes']), user_id
//! -- becomes
//! SELECT clicks.window_start, clicks.window_end, user_id, count(*)
//! FROM TUMBLE(clicks, ts, '10 minutes') AS clicks      -- HOP with a slide
//! GROUP BY clicks.window_start, clicks.window_end, user_id
//! ```
//!
//! `session_window(ts, '5 minutes')` becomes `SESSION(src, ts, '5 minutes')`.
//! In the SELECT list and HAVING, `window.start` / `window.end` (and
//! `session_window.start` / `.end`) name the window's bounds, and a bare
//! `window` (or the `window(…)` call itself) stands for both, as the two
//! columns `window_start` and `window_end`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SetExpr, TableAlias, TableFactor, TableFunctionArgs,
    visit_expressions_mut,
};

use crate::SqlError;

/// Rewrites every `GROUP BY window(…)` / `session_window(…)` in `query`.
pub fn rewrite_spark_windows(query: &mut Query) -> Result<(), SqlError> {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            rewrite_spark_windows(&mut cte.query)?;
        }
    }
    rewrite_set_expr(&mut query.body)
}

fn rewrite_set_expr(body: &mut SetExpr) -> Result<(), SqlError> {
    match body {
        SetExpr::Select(select) => {
            for twj in &mut select.from {
                rewrite_factor_subqueries(&mut twj.relation)?;
                for join in &mut twj.joins {
                    rewrite_factor_subqueries(&mut join.relation)?;
                }
            }
            rewrite_select(select)
        }
        SetExpr::Query(q) => rewrite_spark_windows(q),
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left)?;
            rewrite_set_expr(right)
        }
        _ => Ok(()),
    }
}

fn rewrite_factor_subqueries(factor: &mut TableFactor) -> Result<(), SqlError> {
    match factor {
        TableFactor::Derived { subquery, .. } => rewrite_spark_windows(subquery),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            rewrite_factor_subqueries(&mut table_with_joins.relation)?;
            for join in &mut table_with_joins.joins {
                rewrite_factor_subqueries(&mut join.relation)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The window function found in a GROUP BY.
struct SparkWindow {
    /// `window` or `session_window`.
    name: String,
    /// The table function replacing the relation: tumble, hop or session.
    function: &'static str,
    /// The event-time column and its qualifier, if any.
    qualifier: Option<String>,
    column: Ident,
    /// Duration arguments in the table function's order.
    durations: Vec<Expr>,
}

fn rewrite_select(select: &mut Select) -> Result<(), SqlError> {
    let GroupByExpr::Expressions(exprs, _) = &select.group_by else {
        return Ok(());
    };
    let mut found: Option<(usize, SparkWindow)> = None;
    for (i, e) in exprs.iter().enumerate() {
        if let Some(w) = spark_window(e)? {
            if found.is_some() {
                return Err(SqlError::unsupported(
                    "only one window(…) or session_window(…) per GROUP BY",
                ));
            }
            found = Some((i, w));
        }
    }
    let Some((index, window)) = found else {
        return Ok(());
    };
    let alias = wrap_relation(select, &window)?;
    let bound = |which: &str| {
        Expr::CompoundIdentifier(vec![alias.clone(), Ident::new(format!("window_{which}"))])
    };
    if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        exprs.splice(index..=index, [bound("start"), bound("end")]);
    }

    // `window` / `window(…)` as a SELECT item: both bounds.
    let mut items = Vec::with_capacity(select.projection.len() + 1);
    for item in std::mem::take(&mut select.projection) {
        match &item {
            SelectItem::UnnamedExpr(e) if names_whole_window(e, &window.name) => {
                items.push(SelectItem::ExprWithAlias {
                    expr: bound("start"),
                    alias: Ident::new("window_start"),
                });
                items.push(SelectItem::ExprWithAlias {
                    expr: bound("end"),
                    alias: Ident::new("window_end"),
                });
            }
            _ => items.push(item),
        }
    }
    select.projection = items;

    // `window.start` / `window.end` anywhere in the SELECT list and HAVING.
    let replace = |e: &mut Expr| {
        if let Expr::CompoundIdentifier(parts) = e
            && let [w, field] = parts.as_slice()
            && w.value.eq_ignore_ascii_case(&window.name)
            && w.quote_style.is_none()
        {
            let field = field.value.to_ascii_lowercase();
            if field == "start" || field == "end" {
                *e = bound(&field);
            }
        }
        ControlFlow::<()>::Continue(())
    };
    let _ = visit_expressions_mut(&mut select.projection, replace);
    if let Some(having) = &mut select.having {
        let _ = visit_expressions_mut(having, replace);
    }
    Ok(())
}

/// `window` or `window(…)` (for the window function in use).
fn names_whole_window(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Identifier(i) => i.quote_style.is_none() && i.value.eq_ignore_ascii_case(name),
        Expr::Function(f) => function_name(&f.name).as_deref() == Some(name),
        _ => false,
    }
}

fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Some(i.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn spark_window(e: &Expr) -> Result<Option<SparkWindow>, SqlError> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let Some(name) = function_name(&f.name) else {
        return Ok(None);
    };
    if name != "window" && name != "session_window" {
        return Ok(None);
    }
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::syntax(
            format!("{name} takes arguments: {name}(time_column, 'duration' …)"),
            None,
        ));
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
            other => Err(SqlError::syntax(
                format!("unexpected argument {other} to {name}"),
                None,
            )),
        })
        .collect::<Result<_, _>>()?;
    let (function, time, durations) = match (name.as_str(), args.as_slice()) {
        ("window", [time, size]) => ("tumble", *time, vec![(*size).clone()]),
        ("window", [time, size, slide]) => ("hop", *time, vec![(*slide).clone(), (*size).clone()]),
        ("session_window", [time, gap]) => ("session", *time, vec![(*gap).clone()]),
        ("window", _) => {
            return Err(SqlError::syntax(
                "window takes two or three arguments: window(time_column, 'size'[, 'slide'])",
                None,
            ));
        }
        _ => {
            return Err(SqlError::syntax(
                "session_window takes two arguments: session_window(time_column, 'gap')",
                None,
            ));
        }
    };
    let (qualifier, column) = match time {
        Expr::Identifier(i) => (None, i.clone()),
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
            (Some(parts[0].value.clone()), parts[1].clone())
        }
        other => {
            return Err(SqlError::syntax(
                format!("{name}'s first argument must be a column, found {other}"),
                None,
            ));
        }
    };
    Ok(Some(SparkWindow {
        name,
        function,
        qualifier,
        column,
        durations,
    }))
}

/// Replaces the relation the window's time column belongs to with the
/// window table function; returns the relation's alias.
fn wrap_relation(select: &mut Select, window: &SparkWindow) -> Result<Ident, SqlError> {
    let mut factors: Vec<&mut TableFactor> = Vec::new();
    for twj in &mut select.from {
        factors.push(&mut twj.relation);
        for join in &mut twj.joins {
            factors.push(&mut join.relation);
        }
    }
    let target = match &window.qualifier {
        None => factors.into_iter().next(),
        Some(q) => factors.into_iter().find(|f| match f {
            TableFactor::Table { name, alias, .. } => {
                let shown = alias.as_ref().map(|a| a.name.value.clone()).or_else(|| {
                    name.0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(|i| i.value.clone())
                });
                shown.is_some_and(|s| s.eq_ignore_ascii_case(q))
            }
            _ => false,
        }),
    };
    let Some(TableFactor::Table {
        name, alias, args, ..
    }) = target
    else {
        return Err(SqlError::unsupported(format!(
            "{}(…) must refer to a column of a source named in FROM",
            window.name
        )));
    };
    if args.is_some() {
        return Err(SqlError::unsupported(format!(
            "{}(…) cannot be combined with a window table function on the same relation",
            window.name
        )));
    }
    let relation = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .cloned()
        .ok_or_else(|| SqlError::syntax("expected a relation name", None))?;
    let alias_ident = alias
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_else(|| relation.clone());
    let mut call_args = vec![
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(
            name.0
                .iter()
                .filter_map(|p| p.as_ident().cloned())
                .collect(),
        ))),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(
            window.column.clone(),
        ))),
    ];
    if name.0.len() == 1 {
        call_args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(relation)));
    }
    call_args.extend(
        window
            .durations
            .iter()
            .map(|d| FunctionArg::Unnamed(FunctionArgExpr::Expr(d.clone()))),
    );
    *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(
        window.function,
    ))]);
    *args = Some(TableFunctionArgs {
        args: call_args,
        settings: None,
    });
    *alias = Some(TableAlias {
        explicit: true,
        name: alias_ident.clone(),
        columns: alias
            .as_ref()
            .map(|a| a.columns.clone())
            .unwrap_or_default(),
        at: None,
    });
    Ok(alias_ident)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn rewritten(sql: &str) -> String {
        let Statement::Query(mut q) = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
        else {
            panic!("not a query")
        };
        rewrite_spark_windows(&mut q).unwrap();
        q.to_string()
    }

    #[test]
    fn window_becomes_tumble_or_hop() {
        assert_eq!(
            rewritten(
                "SELECT window.start, window.end, user_id, count(*) AS n FROM clicks \
                 GROUP BY window(ts, '10 minutes'), user_id"
            ),
            "SELECT clicks.window_start, clicks.window_end, user_id, count(*) AS n \
             FROM tumble(clicks, ts, '10 minutes') AS clicks \
             GROUP BY clicks.window_start, clicks.window_end, user_id"
        );
        assert_eq!(
            rewritten(
                "SELECT window, count(*) FROM clicks c GROUP BY window(c.ts, '10 minutes', '5 minutes')"
            ),
            "SELECT c.window_start AS window_start, c.window_end AS window_end, count(*) \
             FROM hop(clicks, ts, '5 minutes', '10 minutes') AS c \
             GROUP BY c.window_start, c.window_end"
        );
    }

    #[test]
    fn session_window_becomes_session() {
        assert_eq!(
            rewritten(
                "SELECT session_window.start AS s, user_id FROM clicks \
                 GROUP BY session_window(ts, '5 minutes'), user_id HAVING session_window.end > now()"
            ),
            "SELECT clicks.window_start AS s, user_id FROM session(clicks, ts, '5 minutes') AS clicks \
             GROUP BY clicks.window_start, clicks.window_end, user_id HAVING clicks.window_end > now()"
        );
    }
}
