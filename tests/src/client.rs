//! tokio-postgres helpers shared by the PostgreSQL and Eddy harnesses.
//!
//! Every call here is bounded by [`STATEMENT_TIMEOUT`]: a server that stops
//! answering fails the test with the statement it was running instead of
//! hanging the whole test binary.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio_postgres::error::{DbError, ErrorPosition};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, SimpleQueryRow};

/// The longest a single statement or connection attempt may take.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `fut`, failing with `what` when it takes longer than `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| anyhow!("{what}: no answer within {limit:?}"))
}

/// Connects with tokio-postgres (no TLS) as `user` to `dbname` and drives the
/// connection on a spawned task, which ends when the client is dropped.
pub async fn connect(addr: SocketAddr, user: &str, dbname: &str) -> Result<Client> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(addr.ip().to_string())
        .port(addr.port())
        .user(user)
        .dbname(dbname)
        .connect_timeout(Duration::from_secs(10));
    let (client, connection) = within(STATEMENT_TIMEOUT, "connect", config.connect(NoTls))
        .await?
        .with_context(|| format!("connecting to {addr} as {user}"))?;
    tokio::spawn(async move {
        // The error, if any, surfaces on the client's next call.
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs `sql` (one or more statements) with the simple protocol and returns
/// the rows of every statement, in order.
pub async fn query_rows(client: &Client, sql: &str) -> Result<Vec<SimpleQueryRow>> {
    let messages = within(STATEMENT_TIMEOUT, sql, client.simple_query(sql))
        .await?
        .with_context(|| format!("running {sql}"))?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .collect())
}

/// Like [`query_rows`], with each row as its text values.
pub async fn query_values(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    Ok(query_rows(client, sql)
        .await?
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.get(i).map(str::to_owned))
                .collect()
        })
        .collect())
}

/// The single value of a query that returns one row of one column.
pub async fn query_scalar(client: &Client, sql: &str) -> Result<String> {
    let rows = query_values(client, sql).await?;
    match rows.as_slice() {
        [row] if row.len() == 1 => row[0]
            .clone()
            .with_context(|| format!("{sql} returned NULL")),
        _ => Err(anyhow!(
            "{sql} returned {rows:?}, expected one row of one column"
        )),
    }
}

/// Like [`query_scalar`], parsed as an integer.
pub async fn query_i64(client: &Client, sql: &str) -> Result<i64> {
    let text = query_scalar(client, sql).await?;
    text.parse()
        .with_context(|| format!("{sql} returned {text:?}, not an integer"))
}

/// Runs statements with the simple protocol, discarding their results.
pub async fn execute(client: &Client, sql: &str) -> Result<()> {
    within(STATEMENT_TIMEOUT, sql, client.batch_execute(sql))
        .await?
        .with_context(|| format!("running {sql}"))
}

/// Runs `sql`, which must fail, and returns the server's error.
pub async fn expect_db_error(client: &Client, sql: &str) -> Result<DbError> {
    match within(STATEMENT_TIMEOUT, sql, client.batch_execute(sql)).await? {
        Ok(()) => Err(anyhow!("{sql} succeeded, expected an error")),
        Err(e) => e
            .as_db_error()
            .cloned()
            .with_context(|| format!("{sql} failed without a server error: {e}")),
    }
}

/// The 1-based position of the error in the statement text, if it has one.
pub fn error_position(error: &DbError) -> Option<u32> {
    match error.position()? {
        ErrorPosition::Original(p) => Some(*p),
        ErrorPosition::Internal { .. } => None,
    }
}
