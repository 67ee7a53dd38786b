//! One connection to PostgreSQL and the classification of its failures,
//! shared by the sink and the lookup source.
//!
//! A [`PgConnection`] owns the client and the task that drives the socket;
//! dropping it closes both. Callers keep one between calls, drop it after a
//! connection-level failure and connect again on the next call.
//!
//! Only failures that a later attempt of the same work can get past are
//! retryable: a lost or refused connection, I/O errors, timeouts, a server
//! shutting down or starting up, too many connections, serialization
//! failures and deadlocks. Everything else (a constraint violation, a value
//! that does not fit its column, a missing table or privilege) would fail
//! again the same way.

use eddy_engine::{EngineError, Result};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// A live connection and the task that drives it; dropping it closes both.
pub struct PgConnection {
    pub client: Client,
    task: JoinHandle<()>,
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PgConnection {
    /// Connects; `context` names the owner in the log and in errors.
    pub async fn open(config: &tokio_postgres::Config, context: &str) -> Result<PgConnection> {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| EngineError::external(context, describe(&e), is_retryable(&e)))?;
        let context = context.to_string();
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("{context}: connection closed: {e}");
            }
        });
        Ok(PgConnection { client, task })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// SQLSTATEs after which the same work may succeed later: connection
/// exceptions, too many connections, canceled statements (statement or lock
/// timeouts), admin/crash shutdown and "the database system is starting
/// up", serialization failures and deadlocks.
const RETRYABLE_STATES: &[&str] = &[
    "08", "53300", "57014", "55P03", "57P01", "57P02", "57P03", "40001", "40P01",
];

/// Whether the error is about the connection rather than the work: closed,
/// I/O, could not connect, timed out. `tokio_postgres` keeps its error kind
/// private; a connection-level error is closed, carries the socket's
/// `io::Error`, or is the connect timeout.
pub fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(io) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        // Malformed messages (encoding or parsing) are not the network's fault.
        return !matches!(
            io.kind(),
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
        );
    }
    e.to_string().starts_with("timeout")
}

/// Whether PostgreSQL may accept the same work later.
pub fn is_retryable(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        None => is_connection_error(e),
        Some(db) => {
            let code = db.code().code();
            RETRYABLE_STATES.iter().any(|p| code.starts_with(p))
        }
    }
}

/// Whether the connection may be unusable after `e` (and should be dropped).
pub fn may_break_connection(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none() || is_retryable(e)
}

/// PostgreSQL's message with its SQLSTATE and detail, or the client's
/// error with its cause.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        None => {
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                text.push_str(&format!(": {source}"));
            }
            text
        }
    }
}

/// `e` as an [`EngineError::External`], retryable when a later attempt may
/// succeed.
pub fn external(context: &str, e: &tokio_postgres::Error) -> EngineError {
    EngineError::external(context, describe(e), is_retryable(e))
}
