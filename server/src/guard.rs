//! What every statement runs under, whichever protocol brought it.
//!
//! - The connection's cancel key (a CancelRequest, Ctrl-C in psql) and the
//!   session's `statement_timeout`: either drops the running statement and
//!   answers 57014. pgwire's own cancel support is not used, because it
//!   cannot mark the session.
//! - A panic: the statement ends with XX000 and one log line; the session,
//!   its connection and every other session carry on.
//!
//! A statement stopped either way is abandoned as after any error: a
//! transaction block it was part of is failed, and outside a block its
//! changes are discarded. Stack overflows are not caught here — they cannot
//! be — but prevented: see `eddy_sql::parser::depth`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::channel::oneshot;
use pgwire::api::{ClientInfo, ConnectionGuard, ConnectionHandle};

use crate::error::UserError;
use crate::outcome::Outcome;
use crate::redact::redact_sql;
use crate::session::Session;
use eddy_sql::ParsedStatement;

/// The connection's cancel key registration, under a type of Eddy's own so
/// that pgwire does not race Eddy for the cancel signal.
pub(crate) struct CancelKey {
    handle: Arc<ConnectionHandle>,
    _guard: ConnectionGuard,
}

impl CancelKey {
    pub(crate) fn new(handle: Arc<ConnectionHandle>, guard: ConnectionGuard) -> CancelKey {
        CancelKey {
            handle,
            _guard: guard,
        }
    }
}

/// Fires when the client sends a CancelRequest for this connection while
/// the statements of one query message run.
pub(crate) struct CancelSignal(Option<oneshot::Receiver<()>>);

impl CancelSignal {
    pub(crate) async fn of<C: ClientInfo>(client: &C) -> CancelSignal {
        match client.session_extensions().get::<CancelKey>() {
            Some(key) => CancelSignal(Some(key.handle.start_query().await)),
            None => CancelSignal(None),
        }
    }

    /// Resolves on a cancel request; never if there is none.
    async fn cancelled(&mut self) {
        if let Some(rx) = &mut self.0 {
            // A dropped sender (the next query's `start_query`) is no
            // cancel.
            let fired = rx.await.is_ok();
            self.0 = None;
            if fired {
                return;
            }
        }
        std::future::pending::<()>().await
    }
}

/// Runs one statement, stopped by a cancel request or by the session's
/// `statement_timeout` with 57014, and by a panic with XX000.
pub(crate) async fn run_guarded(
    session: &mut Session,
    stmt: &ParsedStatement,
    params: &[datafusion::common::ScalarValue],
    cancel: &mut CancelSignal,
) -> Result<Outcome, UserError> {
    let timeout = session
        .settings
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get("statement_timeout")
        .ok()
        .and_then(|t| parse_duration(&t))
        .filter(|t| !t.is_zero());
    let stopped = {
        let run = AssertUnwindSafe(session.run(stmt, params)).catch_unwind();
        tokio::pin!(run);
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = &mut run => match result {
                Ok(result) => return result,
                Err(panic) => statement_panicked(&stmt.text, panic),
            },
            _ = cancel.cancelled() => UserError::new("57014", "canceling statement due to user request"),
            _ = deadline => UserError::new("57014", "canceling statement due to statement timeout"),
        }
    };
    // The statement's future is gone: whatever it ran is stopped.
    session.abandon_statement();
    Err(stopped)
}

/// Runs statement work other than [`run_guarded`]'s — preparing a statement
/// for the extended protocol plans it — with a panic turned into XX000.
pub(crate) async fn catching_panics<T>(
    sql: &str,
    work: impl Future<Output = Result<T, UserError>>,
) -> Result<T, UserError> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(statement_panicked(sql, panic)))
}

/// Runs the synchronous end of a statement — encoding its rows — with a
/// panic turned into XX000.
pub(crate) fn catching_panics_in<T>(sql: &str, work: impl FnOnce() -> T) -> Result<T, UserError> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|panic| statement_panicked(sql, panic))
}

/// The error for a statement that panicked, logged once with the statement
/// (the panic hook has logged where it happened).
fn statement_panicked(sql: &str, panic: Box<dyn Any + Send>) -> UserError {
    let message = panic_message(&*panic);
    let statement: String = redact_sql(sql).chars().take(200).collect();
    tracing::error!(%statement, "statement ended by an internal error: {message}");
    UserError::internal(format!("internal error: {message}"))
}

/// The message a panic was raised with.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// A PostgreSQL duration setting: a number of milliseconds, or a number
/// with a unit (`us`, `ms`, `s`, `min`, `h`, `d`).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    eddy_engine::options::parse_duration_bare_in(text, std::time::Duration::from_millis(1))
}
