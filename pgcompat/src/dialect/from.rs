//! Table references: table functions written with a `pg_catalog.`
//! prefix, and scalar functions used as tables in FROM.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArgumentList, FunctionArguments, Ident, ObjectName, SetExpr, Statement,
    TableAliasColumnDef, TableFactor, VisitorMut, visit_relations_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::ast::{function_name, part_is};

/// Table functions that may be written with a `pg_catalog.` prefix.
const TABLE_FUNCTIONS: &[&str] = &[
    "pg_get_keywords",
    "generate_series",
    "unnest",
    "range",
    "pg_show_all_settings",
];

/// `pg_catalog.generate_series(…)` in FROM → `generate_series(…)`.
pub(super) fn unqualify_table_functions(stmt: &mut Statement) {
    let _ = visit_relations_mut(stmt, |name: &mut ObjectName| {
        if name.0.len() == 2
            && part_is(&name.0[0], "pg_catalog")
            && name.0[1]
                .as_ident()
                .is_some_and(|i| TABLE_FUNCTIONS.contains(&i.value.to_lowercase().as_str()))
        {
            name.0.remove(0);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Functions that are table functions in Eddy (the others are scalar).
const KNOWN_TABLE_FUNCTIONS: &[&str] = &[
    "pg_get_keywords",
    "generate_series",
    "unnest",
    "range",
    "pg_show_all_settings",
    "generate_subscripts",
    "pg_options_to_table",
];

/// A scalar function in FROM (`FROM string_to_array(x, ',') s`, as
/// Grafana writes) is a one-row table in PostgreSQL, its column named
/// after the alias: `(SELECT string_to_array(x, ',') AS s) AS s`.
pub(super) struct ScalarFunctionsInFrom;

impl VisitorMut for ScalarFunctionsInFrom {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let Some(function) = function_name(name) else {
            return ControlFlow::Continue(());
        };
        if KNOWN_TABLE_FUNCTIONS.contains(&function.as_str()) || name.0.len() > 1 {
            // One column: PostgreSQL names it after the table alias
            // (`generate_series(1, 3) AS i` has a column `i`).
            if matches!(
                function.as_str(),
                "generate_series" | "range" | "unnest" | "generate_subscripts"
            ) && let Some(alias) = alias
                && alias.columns.is_empty()
            {
                alias.columns = vec![TableAliasColumnDef {
                    name: alias.name.clone(),
                    data_type: None,
                }];
            }
            return ControlFlow::Continue(());
        }
        let call = Expr::Function(Function {
            name: name.clone(),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: args.args.clone(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        });
        let table = alias
            .as_ref()
            .map_or_else(|| Ident::new(&function), |a| a.name.clone());
        let column = alias
            .as_ref()
            .and_then(|a| a.columns.first())
            .map_or_else(|| table.clone(), |c| c.name.clone());
        let sql = format!("SELECT * FROM (SELECT {call} AS {column}) AS {table}");
        if let Ok(Statement::Query(query)) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_statement())
            && let SetExpr::Select(select) = *query.body
            && let Some(from) = select.from.into_iter().next()
        {
            *factor = from.relation;
        }
        ControlFlow::Continue(())
    }
}
