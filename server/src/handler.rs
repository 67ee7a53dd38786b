//! The pgwire front end: startup (with password authentication, see
//! [`crate::auth`]), the simple and the extended query protocol, each turned
//! into calls on the connection's [`Session`].
//!
//! Every statement runs under [`crate::guard`]: cancel, `statement_timeout`
//! and panics end the statement, never the session. A message pgwire cannot
//! decode ends the connection with FATAL 08P01 (see `vendor/pgwire`), logged
//! here in one line.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use futures::stream;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, DefaultServerParameterProvider, StartupHandler, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, DEFAULT_NAME, ErrorHandler,
    PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{Describe, Sync as PgSync, TARGET_TYPE_BYTE_STATEMENT};
use pgwire::messages::response::{NoticeResponse, ReadyForQuery, TransactionStatus};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use crate::auth::{Security, login_failed};
use crate::database::Database;
use crate::encode::{encode_rows, field_infos};
use crate::error::UserError;
use crate::extended::{EddyQueryParser, Prepared, decode_params};
use crate::guard::{CancelKey, CancelSignal, catching_panics_in, run_guarded};
use crate::outcome::Outcome;
use crate::redact::redact_sql;
use crate::session::Session;
use crate::settings::Settings;
use eddy_sql::parse_statements;

/// Builds the handlers for each connection.
pub struct EddyHandlers {
    pub db: Arc<Database>,
    pub security: Arc<Security>,
    /// Cancel keys of the open sessions.
    pub cancels: Arc<ConnectionManager>,
    /// Process ids and cancel secrets, unique across connections.
    pub keys: Arc<RandomPidSecretKeyGenerator>,
}

impl EddyHandlers {
    pub fn new(db: Arc<Database>, security: Arc<Security>) -> EddyHandlers {
        EddyHandlers {
            db,
            security,
            cancels: Arc::new(ConnectionManager::new()),
            keys: Arc::new(RandomPidSecretKeyGenerator::default()),
        }
    }

    fn handler(&self) -> EddyHandler {
        EddyHandler {
            db: self.db.clone(),
            security: self.security.clone(),
            cancels: self.cancels.clone(),
            keys: self.keys.clone(),
        }
    }
}

impl PgWireServerHandlers for EddyHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(self.handler())
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(self.handler())
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(self.handler())
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.cancels.clone()))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(ProtocolViolationLog)
    }
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

pub struct EddyHandler {
    db: Arc<Database>,
    security: Arc<Security>,
    cancels: Arc<ConnectionManager>,
    keys: Arc<RandomPidSecretKeyGenerator>,
}

type SharedSession = Mutex<Session>;

/// The connection's session, created on first use from the startup
/// parameters.
pub(crate) fn session<C: ClientInfo>(client: &C, db: &Arc<Database>) -> Arc<SharedSession> {
    client.session_extensions().get_or_insert_with(|| {
        let meta = client.metadata();
        let database = meta
            .get("database")
            .cloned()
            .unwrap_or_else(|| crate::databases::DEFAULT.into());
        let settings = Settings::with_startup(startup_settings(meta));
        Mutex::new(Session::new(db.clone(), settings, &database))
    })
}

/// The startup parameters as settings, with those of the `options`
/// parameter (`-c name=value`, `--name=value`, as PGOPTIONS sends them)
/// added.
fn startup_settings(meta: &std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    let mut settings: Vec<(String, String)> = meta
        .iter()
        .filter(|(k, _)| k.as_str() != "options")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(options) = meta.get("options") {
        let mut words = options.split_whitespace();
        while let Some(word) = words.next() {
            let assignment = match word {
                "-c" => words.next(),
                w => w.strip_prefix("-c").or_else(|| w.strip_prefix("--")),
            };
            if let Some((name, value)) = assignment.and_then(|a| a.split_once('=')) {
                settings.push((name.replace('-', "_"), value.to_string()));
            }
        }
    }
    settings
}

impl EddyHandler {
    /// AuthenticationOk, the ParameterStatus set, BackendKeyData and
    /// ReadyForQuery; registers the cancel key.
    async fn finish_startup<C>(
        &self,
        client: &mut C,
        final_message: Option<Authentication>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(message) = final_message {
            client
                .feed(PgWireBackendMessage::Authentication(message))
                .await?;
        }
        // After authentication, as PostgreSQL checks it.
        let database = client.metadata().get("database").map(String::as_str);
        if let Err((code, message)) =
            crate::databases::check_connect(database.unwrap_or(crate::databases::DEFAULT))
        {
            return Err(crate::auth::fatal(code, message));
        }
        let (pid, secret) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let (handle, guard) = self.cancels.register(pid, secret.clone());
        client
            .session_extensions()
            .insert(CancelKey::new(handle, guard));
        client
            .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
            .await?;
        let user = client
            .metadata()
            .get("user")
            .cloned()
            .unwrap_or_else(|| "eddy".into());
        let settings = Settings::with_startup(client.metadata().clone());
        let app = client
            .metadata()
            .get("application_name")
            .cloned()
            .unwrap_or_default();
        let params: Vec<(&str, String)> = vec![
            ("application_name", app),
            (
                "client_encoding",
                settings.get("client_encoding").unwrap_or_default(),
            ),
            ("DateStyle", settings.get("datestyle").unwrap_or_default()),
            ("default_transaction_read_only", "off".into()),
            ("in_hot_standby", "off".into()),
            ("integer_datetimes", "on".into()),
            ("IntervalStyle", "postgres".into()),
            ("is_superuser", "on".into()),
            ("server_encoding", "UTF8".into()),
            ("server_version", crate::PG_SERVER_VERSION.into()),
            ("session_authorization", user),
            ("standard_conforming_strings", "on".into()),
            ("TimeZone", settings.get("timezone").unwrap_or_default()),
        ];
        for (name, value) in params {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name.into(),
                    value,
                )))
                .await?;
        }
        client
            .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
                pid, secret,
            )))
            .await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                TransactionStatus::Idle,
            )))
            .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }
}

#[async_trait]
impl StartupHandler for EddyHandler {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let driver = AuthDriver::<_, ()>::new(DefaultServerParameterProvider::default());
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                let slot = self.security.admit()?;
                client.session_extensions().insert(slot);
                if !self.security.password_required(&self.db) {
                    return self.finish_startup(client, None).await;
                }
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                let mechanism = self.security.scram().create();
                match driver
                    .begin_authentication(client, mechanism)
                    .await
                    .map_err(|e| login_failed(&user, e))?
                {
                    AuthOutcome::InProgress => Ok(()),
                    AuthOutcome::Authenticated { final_message, .. } => {
                        self.finish_startup(client, final_message).await
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                match driver
                    .advance_authentication(client, password)
                    .await
                    .map_err(|e| login_failed(&user, e))?
                {
                    AuthOutcome::InProgress => Ok(()),
                    AuthOutcome::Authenticated { final_message, .. } => {
                        self.finish_startup(client, final_message).await
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

async fn send_notices<C>(client: &mut C, session: &mut Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (severity, code, message) in session.notices.drain(..) {
        let info = ErrorInfo::new(severity.into(), code.into(), message);
        let notice = NoticeResponse::from(info);
        client
            .feed(PgWireBackendMessage::NoticeResponse(notice))
            .await?;
    }
    for (name, value) in session.reported.drain(..) {
        let status = ParameterStatus::new(name, value);
        client
            .feed(PgWireBackendMessage::ParameterStatus(status))
            .await?;
    }
    Ok(())
}

/// Turns a statement's outcome into a pgwire response.
fn response(outcome: Outcome, format: &Format) -> Response {
    match outcome {
        Outcome::Rows(schema, batches) => {
            let fields = Arc::new(field_infos(&schema, format));
            let rows = encode_rows(&fields, &batches);
            Response::Query(QueryResponse::new(fields, stream::iter(rows)))
        }
        Outcome::TaggedRows(tag, schema, batches) => {
            let fields = Arc::new(field_infos(&schema, format));
            let rows = encode_rows(&fields, &batches);
            let mut response = QueryResponse::new(fields, stream::iter(rows));
            response.set_command_tag(tag);
            Response::Query(response)
        }
        Outcome::Command(tag, rows) => {
            let mut t = Tag::new(&tag);
            if let Some(rows) = rows {
                t = t.with_rows(rows);
            }
            Response::Execution(t)
        }
        Outcome::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Outcome::End(tag) => Response::TransactionEnd(Tag::new(tag)),
        Outcome::Empty => Response::EmptyQuery,
    }
}

fn error_response(e: UserError) -> Response {
    Response::Error(Box::new(e.into_error_info()))
}

impl EddyHandler {
    /// The status byte of ReadyForQuery for the client's session: `I`, `T`
    /// in a block, `E` in a failed one. `None` before the session exists.
    pub async fn transaction_status<C: ClientInfo>(&self, client: &C) -> Option<TransactionStatus> {
        let session = client.session_extensions().get::<SharedSession>()?;
        let tx = session.lock().await.tx;
        Some(match tx {
            crate::outcome::TxState::Idle => TransactionStatus::Idle,
            crate::outcome::TxState::InBlock => TransactionStatus::Transaction,
            crate::outcome::TxState::Failed => TransactionStatus::Error,
        })
    }
}

#[async_trait]
impl SimpleQueryHandler for EddyHandler {
    /// As pgwire's, but rows are flushed as they come (see [`crate::live`]).
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        crate::live::answer_simple_query(self, client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session(client, &self.db);
        let mut session = session.lock().await;
        let query = crate::users::rewrite_user_statements(query);
        let query = query.as_ref();
        // PostgreSQL parses the whole string first: a syntax error anywhere
        // means nothing runs.
        let statements = match parse_statements(query) {
            Ok(s) => s,
            Err(e) => {
                session.note_error();
                return Ok(vec![error_response(e.into())]);
            }
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut cancel = CancelSignal::of(client).await;
        let mut responses = Vec::with_capacity(statements.len());
        // As in PostgreSQL, the statements of one query string outside a
        // transaction block form one implicit transaction: a failure
        // discards what the earlier ones did.
        let script = statements.len() > 1;
        if script {
            session.begin_script();
        }
        for stmt in &statements {
            let result = run_guarded(&mut session, stmt, &[], &mut cancel)
                .await
                .and_then(|outcome| {
                    catching_panics_in(&stmt.text, || response(outcome, &Format::UnifiedText))
                        .inspect_err(|_| session.note_error())
                });
            send_notices(client, &mut session).await?;
            match result {
                Ok(answer) => responses.push(answer),
                Err(e) => {
                    tracing::debug!(error = %e, statement = %redact_sql(&stmt.text), "statement failed");
                    responses.push(error_response(e));
                    break;
                }
            }
        }
        if script {
            if let Err(e) = session.end_script().await {
                responses.push(error_response(e));
            }
            send_notices(client, &mut session).await?;
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for EddyHandler {
    type Statement = Prepared;
    type QueryParser = EddyQueryParser;

    /// As pgwire's, with the status byte taken from the session (see
    /// [`EddyHandler::transaction_status`]).
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(status) = self.transaction_status(client).await {
            client.set_transaction_status(status);
        }
        client.portal_store().rm_portal("");
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                client.transaction_status(),
            )))
            .await?;
        client.flush().await?;
        Ok(())
    }

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(EddyQueryParser {
            db: self.db.clone(),
        })
    }

    /// As pgwire's, except that a statement with parameters and no result
    /// columns (an INSERT with `$1`) is described with ParameterDescription
    /// and NoData, not an empty RowDescription, which pgjdbc rejects.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name) {
                let described = self.do_describe_statement(client, &stmt).await?;
                if described.fields.is_empty() {
                    let oids = described.parameters.iter().map(|t| t.oid()).collect();
                    client
                        .send(PgWireBackendMessage::ParameterDescription(
                            ParameterDescription::new(oids),
                        ))
                        .await?;
                    client
                        .send(PgWireBackendMessage::NoData(NoData::new()))
                        .await?;
                    return Ok(());
                }
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parser = self.query_parser();
        let fields = parser.get_result_schema(&target.statement, None)?;
        Ok(DescribeStatementResponse::new(
            target.statement.param_types.clone(),
            fields,
        ))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parser = self.query_parser();
        let fields = parser.get_result_schema(
            &portal.statement.statement,
            Some(&portal.result_column_format),
        )?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let Some(stmt) = &prepared.statement else {
            return Ok(Response::EmptyQuery);
        };
        let session = session(client, &self.db);
        let mut session = session.lock().await;
        let mut cancel = CancelSignal::of(client).await;
        let result = match decode_params(portal, &prepared.param_types) {
            Ok(params) => run_guarded(&mut session, stmt, &params, &mut cancel).await,
            Err(e) => {
                session.note_error();
                Err(e)
            }
        };
        send_notices(client, &mut session).await?;
        // An error is returned, not answered, so that pgwire skips the rest
        // of the pipeline until Sync, as PostgreSQL does.
        result
            .and_then(|outcome| {
                catching_panics_in(&stmt.text, || {
                    response(outcome, &portal.result_column_format)
                })
                .inspect_err(|_| session.note_error())
            })
            .map_err(UserError::into_pgwire)
    }
}
