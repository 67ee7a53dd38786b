//! # End-to-end tests of Eddy
//!
//! One test binary (linking is slow; one binary links once), one module per
//! topic. Every test starts its own Eddy server (and, where it needs one, its
//! own PostgreSQL) on free ports, talks SQL over pgwire with a real client,
//! and checks what a user would check: rows, error codes and texts, counters.
//!
//! - `windowed`: a seeded datagen source through a tumbling-window aggregate
//!   into PostgreSQL, compared with the same result computed by PostgreSQL.
//! - `restart`: definitions, table data and running queries survive a
//!   graceful restart.
//! - `protocol`: wire-protocol behaviour, asserted against PostgreSQL and Eddy
//!   by the same function.
//! - `partitions`: event time per Kafka partition; windows equal to
//!   PostgreSQL's over all rows across SIGKILLs; idle partitions.
//! - `errors`: error codes, positions and messages; the server stays up.
//! - `limits`: statements too deep for the stack are refused with 54001, a
//!   panic ends its statement with XX000; the server stays up.
//! - `malformed`: malformed protocol messages end their connection with
//!   FATAL 08P01, seeded fuzzing before and after startup.
//! - `side_effects`: nothing outside Eddy changes before COMMIT; ROLLBACK
//!   leaves no role, PostgreSQL table or catalog entry.
//! - `tables`: plain tables: DDL, DML, queries, persistence.
//! - `table_sinks`: the `table` sink under the tables' constraints, and
//!   its `upsert` mode across SIGKILLs against PostgreSQL's GROUP BY.
//! - `column_names`: result column names as PostgreSQL gives them, checked
//!   against PostgreSQL; `databases`: `eddy`, `postgres` and `template1`.
//! - `concurrency`: concurrent writers — transaction blocks, sessions,
//!   streaming queries — on one table or name: nothing lost, or 40001.
//! - `progress`: the `eddy_catalog` progress relations and `SHOW STREAMING
//!   QUERY`, each figure against a scenario where its value is known;
//!   `control`: `ALTER STREAMING QUERY … PAUSE | RESUME` across a crash.
//! - `metrics`: `/metrics` scraped and parsed, each figure against a
//!   scenario where its value is known; 404s; a taken port refused.
//! - `peek`: `SELECT … FROM source` reads a bounded sample per connector
//!   (datagen, the newest file, the latest Kafka records per partition),
//!   decoded as a query would, under each bad-record policy, creating no
//!   query and moving no consumer group.
//! - `compat`: real client programs (Python drivers, node-postgres, pgjdbc,
//!   dbmate) from `tests/compat/` against a running Eddy.
//!
//! Tests return `anyhow::Result` and use `ensure!`, so that [`with_logs`] can
//! attach the tail of the server logs to any failure.

mod catalog;
mod chained;
mod column_names;
mod compat;
mod concurrency;
mod control;
mod corruption;
mod crash;
mod databases;
mod dedup;
mod errors;
mod exactly_once;
mod examples;
mod files;
mod hopping;
mod idle;
mod joins;
mod kafka;
mod limits;
mod malformed;
mod metrics;
mod modes;
mod outages;
mod partitions;
mod peek;
mod progress;
mod protocol;
mod restart;
mod security;
mod sessions;
mod side_effects;
mod table_sinks;
mod tables;
mod transactions;
mod triggers;
mod typed_text;
mod windowed;

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use eddy_tests::{EddyServer, Progress, TestPostgres, query_rows, query_values, wait_until};
use tempfile::TempDir;
use tokio_postgres::Client;

/// The server under test, built by cargo from this crate's `[[bin]]`.
const SERVER_BIN: &str = env!("CARGO_BIN_EXE_eddy-test-server");

/// An Eddy server with a data directory of its own, removed after the server
/// is killed (fields drop in declaration order).
pub struct TestEddy {
    server: EddyServer,
    _data: TempDir,
}

impl TestEddy {
    pub async fn start() -> Result<TestEddy> {
        let data = tempfile::Builder::new()
            .prefix("eddy-test-data-")
            .tempdir()?;
        // `EDDY_TEST_SERVER_BIN` runs the tests against another build (an
        // older one, to see a test fail without a fix).
        let binary = std::env::var("EDDY_TEST_SERVER_BIN").unwrap_or_else(|_| SERVER_BIN.into());
        let server = EddyServer::start_with_binary(binary, data.path()).await?;
        Ok(TestEddy {
            server,
            _data: data,
        })
    }
}

impl Deref for TestEddy {
    type Target = EddyServer;
    fn deref(&self) -> &EddyServer {
        &self.server
    }
}

impl DerefMut for TestEddy {
    fn deref_mut(&mut self) -> &mut EddyServer {
        &mut self.server
    }
}

/// Adds the tail of the Eddy log (and the PostgreSQL log, if any) to a
/// failed test's error.
pub fn with_logs(result: Result<()>, eddy: &EddyServer, pg: Option<&TestPostgres>) -> Result<()> {
    result.with_context(|| {
        let mut logs = format!("--- eddy log (tail) ---\n{}", eddy.log_tail());
        if let Some(pg) = pg {
            logs.push_str(&format!("\n--- postgres log (tail) ---\n{}", pg.log_tail()));
        }
        logs
    })
}

/// The rows of a query as text, one string per row (`a|b`).
pub async fn rows(client: &Client, sql: &str) -> Result<Vec<String>> {
    Ok(query_values(client, sql)
        .await?
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect())
}

/// The `name` column of `SHOW SOURCES`, `SHOW SINKS`, `SHOW TABLES` or
/// `SHOW STREAMING QUERIES`.
pub async fn shown_names(client: &Client, show: &str) -> Result<Vec<String>> {
    let rows = query_rows(client, show).await?;
    rows.iter()
        .map(|row| {
            row.try_get("name")?
                .map(str::to_owned)
                .with_context(|| format!("{show}: NULL name"))
        })
        .collect()
}

/// One row of `SHOW STREAMING QUERIES`.
#[derive(Debug, Clone)]
pub struct QueryStatus {
    pub name: String,
    pub status: String,
    pub epoch: i64,
    pub input_rows: i64,
    pub output_rows: i64,
    pub late_rows: i64,
    pub error: Option<String>,
}

/// The `SHOW STREAMING QUERIES` row of query `name`, if it is listed.
pub async fn query_status(client: &Client, name: &str) -> Result<Option<QueryStatus>> {
    let number = |row: &tokio_postgres::SimpleQueryRow, column: &str| -> Result<i64> {
        let text = row.try_get(column)?.unwrap_or("0");
        text.parse()
            .with_context(|| format!("SHOW STREAMING QUERIES: {column} = {text:?}"))
    };
    for row in query_rows(client, "SHOW STREAMING QUERIES").await? {
        if row.try_get("name")? != Some(name) {
            continue;
        }
        return Ok(Some(QueryStatus {
            name: name.to_owned(),
            status: row.try_get("status")?.unwrap_or_default().to_owned(),
            epoch: number(&row, "epoch")?,
            input_rows: number(&row, "input_rows")?,
            output_rows: number(&row, "output_rows")?,
            late_rows: number(&row, "late_rows")?,
            error: row
                .try_get("error")?
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        }));
    }
    Ok(None)
}

/// Waits until query `name` has `status`; fails at once if it fails.
pub async fn wait_for_status(
    client: &Client,
    name: &str,
    status: &str,
    timeout: Duration,
) -> Result<QueryStatus> {
    let what = format!("streaming query {name} to be {status}");
    wait_until(timeout, &what, || async {
        match query_status(client, name).await? {
            Some(q) if q.status == status => Ok(Progress::Done(q)),
            Some(q) if q.status == "failed" => bail!("streaming query {name} failed: {q:?}"),
            seen => Ok(Progress::Pending(format!("{seen:?}"))),
        }
    })
    .await
}

/// Waits until query `name` has completed `epoch`, failing if it fails (or,
/// with `must_still_run`, if it finishes first).
pub async fn wait_for_epoch(
    client: &Client,
    name: &str,
    epoch: i64,
    must_still_run: bool,
) -> Result<()> {
    let what = format!("{name} to complete epoch {epoch}");
    wait_until(Duration::from_secs(120), &what, || async {
        match query_status(client, name).await? {
            Some(q) if q.epoch >= epoch => Ok(Progress::Done(())),
            Some(q) => {
                ensure!(q.status != "failed", "{name} failed: {q:?}");
                ensure!(
                    !(must_still_run && q.status == "finished"),
                    "{name} finished before epoch {epoch}: {q:?}"
                );
                Ok(Progress::Pending(format!("{q:?}")))
            }
            None => Ok(Progress::Pending("not listed".into())),
        }
    })
    .await
}

/// Checks, in PostgreSQL, that two queries give the same multiset of rows
/// (and that there are some).
pub async fn ensure_same_rows(pg: &Client, expected: &str, actual: &str, what: &str) -> Result<()> {
    let count = |sql: String| async move { eddy_tests::query_i64(pg, &sql).await };
    let missing = count(format!(
        "SELECT count(*) FROM (({expected}) EXCEPT ALL ({actual})) d"
    ))
    .await?;
    let extra = count(format!(
        "SELECT count(*) FROM (({actual}) EXCEPT ALL ({expected})) d"
    ))
    .await?;
    let rows = count(format!("SELECT count(*) FROM ({actual}) d")).await?;
    ensure!(
        missing == 0 && extra == 0 && rows > 0,
        "{what}: {missing} expected rows missing, {extra} unexpected rows ({rows} rows)"
    );
    Ok(())
}
