use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::ast::{Query, SelectItem, SetExpr, Statement};
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

fn names(sql: &str) -> Vec<String> {
    output_columns(&query(sql))
        .unwrap()
        .into_iter()
        .map(|c| match c {
            OutputColumn::Named(n) => n,
            OutputColumn::Expanded => "*".into(),
        })
        .collect()
}

/// The names PostgreSQL 15 gives these expressions (psql against a real
/// server); the e2e test `catalog::result_column_names_match_postgres`
/// checks more of them over the wire.
#[test]
fn figure_colname_follows_postgres() {
    let cases = [
        ("count(*)", "count"),
        ("1 + 1", "?column?"),
        ("true", "?column?"),
        ("now()", "now"),
        ("pg_catalog.now()", "now"),
        ("\"Count\"(a)", "Count"),
        ("t.a::text", "a"),
        ("'1'::int", "int4"),
        ("'1'::int::text", "text"),
        ("CAST(1 AS double precision)", "float8"),
        ("'1'::float(10)", "float4"),
        ("'a'::varchar(3)", "varchar"),
        ("'a'::char", "bpchar"),
        ("'{1}'::int[]", "int4"),
        ("'x'::name", "name"),
        ("'2020-01-01'::timestamp with time zone", "timestamptz"),
        ("DATE '2020-01-01'", "date"),
        ("INTERVAL '1 day'", "interval"),
        ("CASE WHEN a THEN 1 END", "case"),
        ("CASE WHEN a THEN 1 ELSE b END", "b"),
        ("EXISTS (SELECT 1)", "exists"),
        ("NOT EXISTS (SELECT 1)", "?column?"),
        ("ARRAY[1]", "array"),
        ("ARRAY(SELECT 1)", "array"),
        ("(1, 2)", "row"),
        ("ROW(1, 2)", "row"),
        ("coalesce(a, 1)", "coalesce"),
        ("nullif(a, 1)", "nullif"),
        ("CURRENT_DATE", "current_date"),
        ("CURRENT_TIMESTAMP", "current_timestamp"),
        ("current_user", "current_user"),
        ("(SELECT 1 AS z)", "z"),
        ("(SELECT count(*) FROM t)", "count"),
        ("(SELECT 1)::text", "?column?"),
        ("trim(' a ')", "btrim"),
        ("trim(leading ' ' from a)", "ltrim"),
        ("extract(year from a)", "extract"),
        ("substring(a from 1 for 1)", "substring"),
        ("position('a' in a)", "position"),
        ("a AT TIME ZONE 'UTC'", "timezone"),
        ("a COLLATE \"C\"", "a"),
        ("(ARRAY[1, 2])[1]", "array"),
        ("a[1]", "a"),
        ("-1", "?column?"),
        ("NULL", "?column?"),
        ("a IS NULL", "?column?"),
        ("a IN (1)", "?column?"),
    ];
    for (expr, expected) in cases {
        assert_eq!(
            names(&format!("SELECT {expr}")),
            [expected],
            "SELECT {expr}"
        );
    }
}

#[test]
fn aliases_wildcards_and_set_operations() {
    assert_eq!(names("SELECT a AS \"X\", b AS y FROM t"), ["X", "y"]);
    assert_eq!(names("SELECT *, count(*) FROM t"), ["*", "count"]);
    assert_eq!(names("SELECT 1 UNION SELECT a FROM t"), ["?column?"]);
    assert_eq!(output_columns(&query("VALUES (1)")), None);
}

#[test]
fn fields_are_renamed_by_position_around_one_wildcard() {
    let schema = Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("count(*)", DataType::Int64, false),
    ]);
    let columns = output_columns(&query("SELECT *, count(*) FROM t")).unwrap();
    let renamed = rename_fields(&schema, &columns);
    let names: Vec<&String> = renamed.fields().iter().map(|f| f.name()).collect();
    assert_eq!(names, ["a", "b", "count"]);

    // Two stars: only what is outside them is placed.
    let columns = output_columns(&query("SELECT 1, s.*, 2, t.*, 3 FROM s, t")).unwrap();
    let schema = Schema::new(
        ["Int64(1)", "x", "Int64(2)", "y", "Int64(3)"]
            .map(|n| Arc::new(Field::new(n, DataType::Int64, false)))
            .to_vec(),
    );
    let renamed = rename_fields(&schema, &columns);
    let names: Vec<&String> = renamed.fields().iter().map(|f| f.name()).collect();
    assert_eq!(names, ["?column?", "x", "Int64(2)", "y", "?column?"]);
}

fn projection(q: &Query) -> Vec<String> {
    let SetExpr::Select(select) = q.body.as_ref() else {
        panic!("not a select")
    };
    select
        .projection
        .iter()
        .map(SelectItem::to_string)
        .collect()
}

fn derived(q: &Query) -> &Query {
    let SetExpr::Select(select) = q.body.as_ref() else {
        panic!("not a select")
    };
    match &select.from[0].relation {
        TableFactor::Derived { subquery, .. } => subquery,
        other => panic!("not derived: {other}"),
    }
}

#[test]
fn derived_tables_and_ctes_are_aliased_where_names_stay_unique() {
    let mut q = query("SELECT count FROM (SELECT a, count(*), 1, 2 FROM t GROUP BY a) s");
    name_derived_columns(&mut q);
    assert_eq!(
        projection(derived(&q)),
        ["a", "count(*) AS \"count\"", "1", "2"]
    );
    assert_eq!(projection(&q), ["count"]);

    let mut q = query("WITH c AS (SELECT max(a) FROM t) SELECT max FROM c");
    name_derived_columns(&mut q);
    let cte = &q.with.as_ref().unwrap().cte_tables[0].query;
    assert_eq!(projection(cte), ["max(a) AS \"max\""]);

    let mut q = query("SELECT * FROM (SELECT *, count(*) OVER () FROM t) s");
    name_derived_columns(&mut q);
    assert_eq!(projection(derived(&q)), ["*", "count(*) OVER ()"]);
}

#[test]
fn streaming_outputs_are_aliased_and_duplicates_refused() {
    let mut q = query("SELECT window_start, count(*), sum(x)::text AS total FROM s GROUP BY 1");
    name_output_columns(&mut q).unwrap();
    assert_eq!(
        projection(&q),
        [
            "window_start",
            "count(*) AS \"count\"",
            "sum(x)::TEXT AS total"
        ]
    );
    let mut q = query("SELECT count(*), count(x) FROM s");
    let err = name_output_columns(&mut q).unwrap_err();
    assert_eq!(err.sqlstate, "42701");
    assert!(err.message.contains("\"count\""), "{}", err.message);
}

#[test]
fn planner_aliases_keep_top_level_names_unique() {
    let mut q = query(
        "SELECT count(*), a::int, a::text, NULL, NULL, b FROM t GROUP BY a, b HAVING count(*) > 0",
    );
    name_for_planning(&mut q);
    assert_eq!(
        projection(&q),
        [
            "count(*) AS \"count\"",
            "a::INT AS \"?column?2\"",
            "a::TEXT AS \"?column?3\"",
            "NULL AS \"?column?4\"",
            "NULL AS \"?column?5\"",
            "b"
        ]
    );
    // A name HAVING uses stays the input column's.
    let mut q = query("SELECT a::text FROM t GROUP BY a HAVING a > 0");
    name_for_planning(&mut q);
    assert_eq!(projection(&q), ["a::TEXT AS \"?column?1\""]);
    // Beside a `*`, everything gets an alias of its own.
    let mut q = query("SELECT c.oid, c.*, upper(relname) FROM pg_class c");
    name_for_planning(&mut q);
    assert_eq!(
        projection(&q),
        [
            "c.oid AS \"?column?1\"",
            "c.*",
            "upper(relname) AS \"?column?3\""
        ]
    );
}
