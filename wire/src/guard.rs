//! What every statement runs under, whichever protocol brought it.
//!
//! - The connection's cancel key (a CancelRequest, Ctrl-C in psql) and the
//!   backend's `statement_timeout`: either drops the running statement and
//!   answers 57014. pgwire's own cancel support is not used, because it
//!   cannot tell the backend.
//! - A panic: the statement ends with XX000 and one log line; the session,
//!   its connection and every other session carry on.
//!
//! A statement stopped either way is abandoned
//! ([`Backend::abandon_statement`]) as after any error.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::channel::oneshot;
use pgwire::api::{ClientInfo, ConnectionGuard, ConnectionHandle};

use crate::backend::{Backend, Outcome, Param};
use crate::error::DbError;

/// The connection's cancel key registration, under a type of the front
/// end's own so that pgwire does not race it for the cancel signal.
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

/// Runs one statement, stopped by a cancel request or by the backend's
/// `statement_timeout` with 57014, and by a panic with XX000.
pub(crate) async fn run_guarded<B: Backend>(
    backend: &mut B,
    stmt: &B::Statement,
    params: &[Param],
    cancel: &mut CancelSignal,
) -> Result<Outcome, DbError> {
    let timeout = backend.statement_timeout().filter(|t| !t.is_zero());
    let stopped = {
        let run = AssertUnwindSafe(backend.execute(stmt, params)).catch_unwind();
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
                Err(panic) => Stopped::Panic(panic),
            },
            _ = cancel.cancelled() => Stopped::Error(DbError::query_canceled("user request")),
            _ = deadline => Stopped::Error(DbError::query_canceled("statement timeout")),
        }
    };
    // The statement's future is gone: whatever it ran is stopped.
    let error = match stopped {
        Stopped::Error(e) => e,
        Stopped::Panic(panic) => {
            let sql = backend.loggable_sql(backend.statement_sql(stmt));
            statement_panicked(&sql, panic)
        }
    };
    backend.abandon_statement();
    Err(error)
}

enum Stopped {
    Error(DbError),
    Panic(Box<dyn Any + Send>),
}

/// Runs statement work other than [`run_guarded`]'s — preparing a
/// statement for the extended protocol plans it — with a panic turned
/// into XX000. `sql` is logged as given: mask it first.
pub(crate) async fn catching_panics<T>(
    sql: &str,
    work: impl Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(statement_panicked(sql, panic)))
}

/// Runs the synchronous end of a statement — encoding its rows — with a
/// panic turned into XX000.
pub(crate) fn catching_panics_in<T>(sql: &str, work: impl FnOnce() -> T) -> Result<T, DbError> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|panic| statement_panicked(sql, panic))
}

/// The error for a statement that panicked, logged once with the statement
/// (the panic hook has logged where it happened).
fn statement_panicked(sql: &str, panic: Box<dyn Any + Send>) -> DbError {
    let message = panic_message(&*panic);
    let statement: String = sql.chars().take(200).collect();
    tracing::error!(%statement, "statement ended by an internal error: {message}");
    DbError::internal(format!("internal error: {message}"))
}

/// The message a panic was raised with.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
