//! Joins end to end, one submodule per kind of join:
//!
//! - `tables`: a stream with an Eddy table: INNER, LEFT, RIGHT with the
//!   table first, extra `ON` conditions, keys matching several rows, NULL
//!   keys; rows inserted into the table while the query runs;
//! - `lookups`: a stream with a PostgreSQL table (`postgres` source): the
//!   same join as PostgreSQL's, keys pushed down (`= ANY($1)`, `unnest` for
//!   two key columns), never a full read, as PostgreSQL's own statistics
//!   show;
//! - `interval`: two streams within a time interval, late rows dropped,
//!   state bounded, an input that ends early (and the server dying around
//!   its end);
//! - `crashes`: a lookup join and the interval join crashed at the
//!   sink-commit points and by SIGKILL, exactly once;
//! - `refusals`: the joins and sink targets refused at CREATE time, with
//!   SQLSTATEs.
//!
//! Results are checked against the same join computed by PostgreSQL over
//! a plain copy of the stream (a copy query into a `postgres` sink).
//! Sources are seeded, unthrottled datagen with a fixed `rows.per.epoch`,
//! so epoch k (from 1) reads exactly the rows with `id` in
//! `[(k-1)·n, k·n)` and which rows are late follows from the rows alone.

mod crashes;
mod interval;
mod lookups;
mod refusals;
mod tables;

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{DEFAULT_WAIT, execute, query_i64, query_values};
use tokio_postgres::Client;

use crate::{TestEddy, wait_for_status};

/// Joins by name (of the query and of its PostgreSQL table), each a
/// SELECT reading the stream `{s}`.
type Joins = [(&'static str, &'static str)];

/// A `postgres` sink and a streaming query per join, reading `stream`.
fn join_queries(joins: &Joins, stream: &str, url: &str) -> String {
    joins
        .iter()
        .map(|(name, select)| {
            format!(
                "CREATE SINK {name}_sink WITH (connector = 'postgres', url = '{url}',
                    table = '{name}', create_table = 'true');
                 CREATE STREAMING QUERY {name} WITH (trigger = '50 milliseconds')
                    AS INSERT INTO {name}_sink {};",
                select.replace("{s}", stream)
            )
        })
        .collect()
}

/// Each join's table equals the same join computed by PostgreSQL over
/// `raw`, the raw copy of the stream; its counters agree.
async fn check_joins(
    client: &Client,
    pg: &Client,
    joins: &Joins,
    raw: &str,
    input_rows: i64,
) -> Result<()> {
    for (name, select) in joins {
        let status = wait_for_status(client, name, "finished", DEFAULT_WAIT).await?;
        let expected = select.replace("{s}", raw);
        let actual = format!("SELECT * FROM {name}");
        let rows = ensure_equal_rows(pg, &expected, &actual, name).await?;
        ensure!(
            status.input_rows == input_rows && status.output_rows == rows,
            "{name}: counters {status:?}, expected {input_rows} input rows and {rows} output rows"
        );
    }
    Ok(())
}

/// Restarts the server with the first of `faults`, creates `query` and
/// lets the server die at each fault in turn (in `query`, as its log must
/// say); then starts it without one.
async fn create_and_crash(
    eddy: &mut TestEddy,
    query: &str,
    create: &str,
    faults: &[&str],
) -> Result<()> {
    eddy.set_env("EDDY_FAULT", faults[0]);
    eddy.stop().await?;
    eddy.start_again().await?;
    execute(&eddy.client().await?, create).await?;
    let marker = format!("EDDY_FAULT: query {query} aborts");
    let before = eddy.log_tail().matches(&marker).count();
    for (i, next) in faults[1..].iter().map(Some).chain([None]).enumerate() {
        let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
        ensure!(
            !status.success(),
            "the server exited cleanly instead of at fault {}",
            faults[i]
        );
        ensure!(
            eddy.log_tail().matches(&marker).count() == before + i + 1,
            "fault {} was not reached by query {query}",
            faults[i]
        );
        match next {
            Some(fault) => eddy.set_env("EDDY_FAULT", fault),
            None => eddy.clear_env(),
        }
        eddy.start_again().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Checks in PostgreSQL
// ---------------------------------------------------------------------------

/// `table` holds ids 0..rows, each once.
async fn ensure_ids_once(pg: &Client, table: &str, rows: i64) -> Result<()> {
    let summary = query_values(
        pg,
        &format!("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}"),
    )
    .await?;
    let expected: Vec<Option<String>> = [rows, rows, 0, rows - 1]
        .iter()
        .map(|v| Some(v.to_string()))
        .collect();
    ensure!(
        summary == [expected],
        "{table} (count, distinct ids, min, max) = {summary:?}, expected ids 0..{rows} once each"
    );
    Ok(())
}

/// The two queries give the same multiset of rows (some); returns how many.
/// A failure shows a few rows on each side of the difference.
async fn ensure_equal_rows(pg: &Client, expected: &str, actual: &str, what: &str) -> Result<i64> {
    let diff = |a: &str, b: &str| format!("SELECT * FROM (({a}) EXCEPT ALL ({b})) d");
    let count = |sql: String| async move {
        query_i64(pg, &format!("SELECT count(*) FROM ({sql}) n")).await
    };
    let missing = count(diff(expected, actual)).await?;
    let extra = count(diff(actual, expected)).await?;
    let rows = count(actual.to_owned()).await?;
    let wanted = count(expected.to_owned()).await?;
    if missing > 0 || extra > 0 || rows == 0 {
        let sample = |sql: String| async move {
            query_values(pg, &format!("{sql} ORDER BY 1 LIMIT 5")).await
        };
        let missing_rows = sample(diff(expected, actual)).await?;
        let extra_rows = sample(diff(actual, expected)).await?;
        anyhow::bail!(
            "{what}: {rows} rows, expected {wanted}; {missing} expected rows missing \
             (first: {missing_rows:?}), {extra} unexpected rows (first: {extra_rows:?})"
        );
    }
    Ok(rows)
}
