//! Result column names as PostgreSQL names them.
//!
//! - `ad_hoc_names_match_postgres`: the same statements on a private
//!   PostgreSQL and on Eddy; the names of Eddy's RowDescription — sent for
//!   Describe (extended protocol) and for a simple query — equal
//!   PostgreSQL's, for aggregates, casts, operators, functions, literals,
//!   CASE, subqueries, EXISTS, ARRAY, ROW, COALESCE, subscripts, CURRENT_DATE
//!   and friends, wildcards, derived tables, CTEs, set operations and
//!   RETURNING.
//! - `streaming_outputs_take_postgres_names`: a streaming query's
//!   `count(*)` is the sink's column `count` (an Eddy table created with
//!   that column receives the rows; the query's relation lists it), and two
//!   output columns of one name are refused with 42701.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use eddy_tests::{TestPostgres, execute, expect_db_error, query_values};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{TestEddy, wait_for_status, with_logs};

/// Tables both servers get, with one row each.
const SETUP: &str =
    "CREATE TABLE t (a integer, b text, c double precision, d timestamp, e boolean);
     INSERT INTO t VALUES (1, 'x', 1.5, '2026-01-01 10:00:00', true);
     CREATE TABLE r (id integer PRIMARY KEY, name text);";

/// Read-only statements, described and run on both servers.
const QUERIES: &[&str] = &[
    "SELECT count(*) FROM t",
    "SELECT 1 + 1",
    "SELECT true, false",
    "SELECT now()",
    "SELECT a::text FROM t",
    "SELECT '1'::int",
    "SELECT sum(a) FROM t",
    "SELECT avg(c), min(b), max(d), count(a) FROM t",
    "SELECT a, t.b, count(*) FROM t GROUP BY a, t.b",
    "SELECT a + 1, -a, a * 2 AS doubled, b || 'y', a % 2 FROM t",
    "SELECT CAST(a AS bigint), a::double precision, '2'::numeric(5,2), b::varchar(3) FROM t",
    "SELECT 'x'::text, 1::text, '1'::int::text, '1.5'::real, '7'::smallint",
    "SELECT CASE WHEN a > 0 THEN 'p' END, CASE WHEN a > 0 THEN 'p' ELSE b END FROM t",
    "SELECT CASE a WHEN 1 THEN 'one' ELSE 'other' END FROM t",
    "SELECT (SELECT max(a) FROM t), (SELECT b AS bee FROM t LIMIT 1)",
    "SELECT a IN (1, 2), a BETWEEN 0 AND 9, b LIKE 'x%', a IS NULL, NOT e FROM t",
    "SELECT ARRAY[1, 2], (ARRAY[1, 2])[1]",
    "SELECT coalesce(a, 0), nullif(a, 1), greatest(a, 2), least(a, 3) FROM t",
    "SELECT CURRENT_DATE, CURRENT_TIMESTAMP, current_user, session_user, current_schema()",
    "SELECT upper(b), length(b), substring(b from 1 for 2), trim(b), position('x' in b) FROM t",
    "SELECT extract(year from d), date_trunc('day', d), d AT TIME ZONE 'UTC' FROM t",
    "SELECT DATE '2024-01-02', INTERVAL '1 day', TIMESTAMP '2024-01-01 00:00:00'",
    "SELECT 1, 2, 'three', NULL, 1.5",
    "SELECT *, a FROM t",
    "SELECT t.*, count(*) OVER () FROM t",
    "SELECT count FROM (SELECT count(*) FROM t) s",
    "WITH c AS (SELECT max(a) FROM t) SELECT max FROM c",
    "SELECT * FROM (SELECT a + 1, upper(b) FROM t) s",
    "SELECT x FROM (SELECT a + 1 FROM t) s(x)",
    "SELECT 1 UNION SELECT 2",
    "SELECT a FROM t UNION ALL SELECT a + 1 FROM t",
    "SELECT version(), current_database()",
    "SELECT row_number() OVER (ORDER BY a), rank() OVER (ORDER BY a) FROM t",
    "SELECT string_agg(b, ','), array_agg(a), bool_and(e) FROM t",
    "SELECT round(c), abs(a), ceil(c), floor(c), pg_catalog.lower(b) FROM t",
    "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{}'::jsonb",
    "SELECT a AS \"Mixed Case\", b AS lower, \"a\" FROM t",
    "SELECT ROW(1, 2), (1, 2), current_time",
    "SELECT greatest(1, 2)::text, coalesce(NULL, 'a')::varchar, CAST('1' AS decimal(5,1)), 'x'::char(2), 1::int8",
    "SELECT count(*) FROM t HAVING count(*) > 0 ORDER BY count(*)",
];

/// Statements Eddy plans (and so describes) but DataFusion cannot run:
/// EXISTS in a SELECT list. Their Describe is compared.
const DESCRIBED_ONLY: &[&str] = &["SELECT EXISTS (SELECT 1 FROM t), NOT EXISTS (SELECT 1 FROM t)"];

/// Statements with RETURNING, run in this order on both servers.
const RETURNING: &[&str] = &[
    "INSERT INTO r VALUES (1, 'x') RETURNING id, id + 1, upper(name), name AS n",
    "INSERT INTO r VALUES (2, 'y') RETURNING *",
    "UPDATE r SET name = 'z' WHERE id = 1 RETURNING id * 2, lower(name), name::varchar",
    "DELETE FROM r WHERE id = 2 RETURNING r.id, coalesce(name, '')",
];

/// The column names a Describe of `sql` answers (extended protocol).
async fn described(client: &Client, sql: &str) -> Result<Vec<String>> {
    let statement = client
        .prepare(sql)
        .await
        .with_context(|| format!("prepare {sql}"))?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect())
}

/// The column names of the RowDescription a simple query of `sql` answers.
async fn simple(client: &Client, sql: &str) -> Result<Vec<String>> {
    let messages = client
        .simple_query(sql)
        .await
        .with_context(|| format!("simple query {sql}"))?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::RowDescription(columns) => {
                Some(columns.iter().map(|c| c.name().to_string()).collect())
            }
            _ => None,
        })
        .with_context(|| format!("{sql}: no RowDescription"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_hoc_names_match_postgres() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = async {
        let (pg, eddy) = (pg.client().await?, eddy.client().await?);
        execute(&pg, SETUP).await?;
        execute(&eddy, SETUP).await?;
        let mut wrong = Vec::new();
        for sql in QUERIES {
            let want = described(&pg, sql).await?;
            let (eddy_described, eddy_simple) =
                match (described(&eddy, sql).await, simple(&eddy, sql).await) {
                    (Ok(d), Ok(s)) => (d, s),
                    (d, s) => {
                        wrong.push(format!("{sql}\n  Eddy failed: {d:?} {s:?}"));
                        continue;
                    }
                };
            if eddy_described != want || eddy_simple != want {
                wrong.push(format!(
                    "{sql}\n  PostgreSQL: {want:?}\n  Eddy Describe: {eddy_described:?}\n  Eddy simple query: {eddy_simple:?}"
                ));
            }
        }
        for sql in DESCRIBED_ONLY {
            let want = described(&pg, sql).await?;
            let eddy_described = described(&eddy, sql).await?;
            if eddy_described != want {
                wrong.push(format!(
                    "{sql}\n  PostgreSQL: {want:?}\n  Eddy Describe: {eddy_described:?}"
                ));
            }
        }
        for sql in RETURNING {
            let eddy_described = described(&eddy, sql).await?;
            let want = simple(&pg, sql).await?;
            let eddy_simple = simple(&eddy, sql).await?;
            if eddy_described != want || eddy_simple != want {
                wrong.push(format!(
                    "{sql}\n  PostgreSQL: {want:?}\n  Eddy Describe: {eddy_described:?}\n  Eddy simple query: {eddy_simple:?}"
                ));
            }
        }
        ensure!(
            wrong.is_empty(),
            "{} of {} statements named their columns otherwise than PostgreSQL:\n{}",
            wrong.len(),
            QUERIES.len() + DESCRIBED_ONLY.len() + RETURNING.len(),
            wrong.join("\n")
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// 100 clicks, one a second from midnight, in ten 10-second windows.
const CLICKS: &str = "CREATE SOURCE clicks (user_id BIGINT, ts TIMESTAMP,
        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
     ) WITH (
        connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '100',
        seed = '11',
        'fields.user_id.kind' = 'random', 'fields.user_id.min' = '1', 'fields.user_id.max' = '5',
        'fields.ts.kind' = 'event_time', 'fields.ts.start' = '2026-01-01 00:00:00',
        'fields.ts.step' = '1 second'
     );";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_outputs_take_postgres_names() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        execute(
            &client,
            &format!(
                "{CLICKS}
                 CREATE TABLE per_window (window_start TIMESTAMP, count BIGINT);
                 CREATE SINK to_table WITH (connector = 'table', table = 'per_window');
                 CREATE STREAMING QUERY counts AS INSERT INTO to_table
                    SELECT window_start, count(*)
                    FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start;"
            ),
        )
        .await?;
        wait_for_status(&client, "counts", "finished", Duration::from_secs(120)).await?;
        let rows = query_values(
            &client,
            "SELECT window_start, count FROM per_window ORDER BY window_start",
        )
        .await?;
        let expected: Vec<Vec<Option<String>>> = (0..10)
            .map(|w| {
                vec![
                    Some(format!("2026-01-01 00:{:02}:{:02}", w / 6, w % 6 * 10)),
                    Some("10".to_string()),
                ]
            })
            .collect();
        ensure!(rows == expected, "per_window: {rows:?}");

        // The query's relation (a materialized view to psql) shows the names.
        let columns = query_values(
            &client,
            "SELECT attname FROM pg_attribute WHERE attrelid = 'counts'::regclass AND attnum > 0 \
             ORDER BY attnum",
        )
        .await?;
        ensure!(
            columns
                == [
                    [Some("window_start".to_string())],
                    [Some("count".to_string())]
                ],
            "columns of counts: {columns:?}"
        );

        let error = expect_db_error(
            &client,
            "CREATE STREAMING QUERY twice AS INSERT INTO to_table
                SELECT count(*), count(user_id)
                FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start",
        )
        .await?;
        ensure!(
            error.code().code() == "42701" && error.message().contains("\"count\""),
            "duplicate output names: {} {}",
            error.code().code(),
            error.message()
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
