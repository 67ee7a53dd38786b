//! The pgwire handlers of one server: [`Handlers`] builds a [`Connection`]
//! handler for each protocol phase, all sharing the factory, the cancel
//! keys and the connection limit. The handlers themselves are in the
//! modules above this one: `startup`, `simple` and `extended`.

use std::fmt::Debug;
use std::sync::Arc;

use futures::sink::{Sink, SinkExt};
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{
    ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::{NoticeResponse, TransactionStatus};
use pgwire::messages::startup::ParameterStatus;
use tokio::sync::Mutex;

use crate::auth::ConnectionLimit;
use crate::backend::{Backend, BackendFactory, TransactionState};

/// Builds the handlers for each connection.
pub(crate) struct Handlers<F: BackendFactory> {
    connection: Connection<F>,
}

impl<F: BackendFactory> Handlers<F> {
    pub(crate) fn new(factory: Arc<F>, max_connections: usize) -> Handlers<F> {
        Handlers {
            connection: Connection {
                scram: Arc::new(crate::auth::scram(factory.clone())),
                factory,
                limit: Arc::new(ConnectionLimit::new(max_connections)),
                cancels: Arc::new(ConnectionManager::new()),
                keys: Arc::new(RandomPidSecretKeyGenerator::default()),
            },
        }
    }
}

impl<F: BackendFactory> PgWireServerHandlers for Handlers<F> {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(self.connection.clone())
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(self.connection.clone())
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(self.connection.clone())
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        Arc::new(self.connection.clone())
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.connection.cancels.clone()))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(ProtocolViolationLog)
    }
}

/// What every handler of a connection shares.
pub(crate) struct Connection<F> {
    pub(crate) factory: Arc<F>,
    pub(crate) scram: Arc<ScramAuth>,
    pub(crate) limit: Arc<ConnectionLimit>,
    /// Cancel keys of the open sessions.
    pub(crate) cancels: Arc<ConnectionManager>,
    /// Process ids and cancel secrets, unique across connections.
    pub(crate) keys: Arc<RandomPidSecretKeyGenerator>,
}

impl<F> Clone for Connection<F> {
    fn clone(&self) -> Self {
        Connection {
            factory: self.factory.clone(),
            scram: self.scram.clone(),
            limit: self.limit.clone(),
            cancels: self.cancels.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// The connection's backend, in its session extensions from the end of
/// startup on.
pub(crate) type SharedBackend<B> = Mutex<B>;

/// The client's backend; an error before startup has made it.
pub(crate) fn backend_of<B: Backend, C: ClientInfo>(
    client: &C,
) -> PgWireResult<Arc<SharedBackend<B>>> {
    client
        .session_extensions()
        .get::<SharedBackend<B>>()
        .ok_or_else(|| PgWireError::ApiError("no session before startup has finished".into()))
}

/// The status byte of ReadyForQuery: `I`, `T` in a block, `E` in a failed
/// one.
pub(crate) fn transaction_status(state: TransactionState) -> TransactionStatus {
    match state {
        TransactionState::Idle => TransactionStatus::Idle,
        TransactionState::InBlock => TransactionStatus::Transaction,
        TransactionState::Failed => TransactionStatus::Error,
    }
}

/// Sends the notices and ParameterStatus changes the backend has raised.
pub(crate) async fn send_notices<C, B>(client: &mut C, backend: &mut B) -> PgWireResult<()>
where
    B: Backend,
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for notice in backend.take_notices() {
        let info = ErrorInfo::new(notice.severity.into(), notice.code.into(), notice.message);
        client
            .feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
                info,
            )))
            .await?;
    }
    for (name, value) in backend.take_parameter_changes() {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name, value,
            )))
            .await?;
    }
    Ok(())
}

/// Logs each protocol violation (08P01: a message that cannot be decoded,
/// a Bind that contradicts itself) in one line, with the client's address;
/// pgwire then answers the client and, if fatal, closes its connection.
struct ProtocolViolationLog;

impl ErrorHandler for ProtocolViolationLog {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        if error.code() != "08P01" {
            return;
        }
        let what = match &*error {
            PgWireError::UserError(info) => match &info.detail {
                Some(detail) => format!("{}: {detail}", info.message),
                None => info.message.clone(),
            },
            other => other.to_string(),
        };
        tracing::warn!(
            peer = %client.socket_addr(),
            severity = error.severity(),
            "protocol violation: {what}"
        );
    }
}
