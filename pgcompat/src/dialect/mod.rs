//! PostgreSQL dialect rewrites applied to a statement's AST before
//! DataFusion plans it.
//!
//! Catalog queries from psql, drivers and BI tools use PostgreSQL syntax
//! DataFusion does not plan: object-identifier casts (`x::regclass`,
//! `'t'::regtype`, `::oid`), schema-qualified functions and types
//! (`pg_catalog.format_type`, `::pg_catalog.text`), `OPERATOR(pg_catalog.~)`,
//! `COLLATE pg_catalog.default` and `ARRAY(SELECT …)`. Each is rewritten into
//! plain SQL over the functions [`crate::pg_catalog::functions`] registers:
//!
//! | PostgreSQL | rewritten to |
//! |---|---|
//! | `'name'::regclass` | `eddy_regclass_oid('name')` (the OID) |
//! | `expr::regclass` | `eddy_regclass_name(expr)` (the name, as PostgreSQL prints it) |
//! | `'int4'::regtype` / `expr::regtype` | `eddy_regtype_oid('int4')` / `format_type(expr, NULL)` |
//! | `expr::regnamespace`, `::regrole`, `::regproc` | the name |
//! | `::oid`, `::regoper`… | `CAST(… AS BIGINT)` (OIDs are BIGINT in Eddy) |
//! | `pg_catalog.f(…)`, `::pg_catalog.t` | `f(…)`, `::t` |
//! | `a OPERATOR(pg_catalog.~) b` | `a ~ b` |
//! | `e COLLATE c` | `e` |
//! | `ARRAY(SELECT x FROM …)` | `(SELECT array_agg(x) FROM …)` |
//! | `generate_subscripts(a, 1)` | `unnest(range(1, array_length(a, 1) + 1))` |
//!
//! The rewrite is purely syntactic: it never looks at the catalog, so it
//! runs once per statement, before binding parameters.
//!
//! # Layout
//!
//! `from.rs` rewrites table references (`pg_catalog.`-qualified table
//! functions, scalar functions in FROM); `expressions.rs` every other
//! expression (operators, LIKE … ESCAPE, array literals, function calls,
//! `ARRAY(SELECT …)`), handing casts to `casts.rs`; `ast.rs` builds and
//! reads the AST nodes they all use. Imports go down that list: nothing
//! here imports this module.

mod ast;
mod casts;
mod expressions;
mod from;

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, VisitMut, visit_expressions_mut};

pub use ast::function;
pub use expressions::backslash_escaped;

/// Rewrites `stmt` in place (see the module documentation).
pub fn rewrite(stmt: &mut Statement) {
    from::unqualify_table_functions(stmt);
    let _ = stmt.visit(&mut from::ScalarFunctionsInFrom);
    let _ = visit_expressions_mut(stmt, |expr: &mut Expr| {
        expressions::rewrite_expr(expr);
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap();
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn object_identifier_casts() {
        assert_eq!(
            rewritten("SELECT c.oid::pg_catalog.regclass FROM t WHERE x = 'orders'::regclass"),
            "SELECT eddy_regclass_name(c.oid) FROM t WHERE x = eddy_regclass_oid('orders')"
        );
        assert_eq!(
            rewritten("SELECT 'orders'::regclass::text, 16384::oid, a::regtype"),
            "SELECT eddy_regclass_name(eddy_regclass_oid('orders')), 16384::BIGINT, format_type(a, NULL)"
        );
    }

    #[test]
    fn qualified_names_operators_and_collations() {
        assert_eq!(
            rewritten(
                "SELECT pg_catalog.format_type(a, b)::pg_catalog.text FROM c \
                 WHERE c.relname OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default"
            ),
            "SELECT format_type(a, b)::TEXT FROM c WHERE c.relname ~ '^(orders)$'"
        );
    }

    #[test]
    fn array_literals_but_not_json_objects() {
        assert_eq!(
            rewritten("SELECT 1 FROM t WHERE k = '{1,2}' AND j = '{\"a\": [1, 2]}'"),
            "SELECT 1 FROM t WHERE k = ARRAY[1, 2] AND j = '{\"a\": [1, 2]}'"
        );
    }

    #[test]
    fn like_with_another_escape() {
        assert_eq!(
            rewritten("SELECT 1 FROM n WHERE nspname NOT LIKE 'pg/_%' ESCAPE '/'"),
            "SELECT 1 FROM n WHERE nspname NOT LIKE 'pg\\_%'"
        );
    }

    #[test]
    fn scalar_function_in_from() {
        assert_eq!(
            rewritten("SELECT s[i] FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s"),
            "SELECT s[i] FROM generate_series(1, 2) AS i (i), (SELECT string_to_array('a,b', ',') AS s) AS s"
        );
    }

    #[test]
    fn array_of_a_subquery() {
        assert_eq!(
            rewritten("SELECT array(SELECT rolname FROM pg_roles ORDER BY 1)"),
            "SELECT (SELECT array_agg(rolname) FROM pg_roles)"
        );
    }
}
