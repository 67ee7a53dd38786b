//! The pgwire front end: startup, the simple and the extended query
//! protocol, each turned into calls on the connection's [`Session`].

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use futures::stream;
use pgwire::api::auth::{
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{NoticeResponse, ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use crate::database::Database;
use crate::encode::{encode_rows, field_infos};
use crate::error::UserError;
use crate::extended::{EddyQueryParser, Prepared, decode_params};
use crate::session::{Outcome, Session};
use crate::settings::Settings;
use eddy_sql::parse_statements;

/// Builds the handlers for each connection.
pub struct EddyHandlers {
    pub db: Arc<Database>,
}

impl PgWireServerHandlers for EddyHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(EddyHandler {
            db: self.db.clone(),
        })
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(EddyHandler {
            db: self.db.clone(),
        })
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(EddyHandler {
            db: self.db.clone(),
        })
    }
}

pub struct EddyHandler {
    db: Arc<Database>,
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
            .unwrap_or_else(|| "eddy".into());
        let settings = Settings::with_startup(meta.iter().map(|(k, v)| (k.clone(), v.clone())));
        Mutex::new(Session::new(db.clone(), settings, &database))
    })
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
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
        let (pid, secret) = RandomPidSecretKeyGenerator::default().generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
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

#[async_trait]
impl SimpleQueryHandler for EddyHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session(client, &self.db);
        let mut session = session.lock().await;
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
        let mut responses = Vec::with_capacity(statements.len());
        for stmt in &statements {
            let result = session.run(stmt, &[]).await;
            send_notices(client, &mut session).await?;
            match result {
                Ok(outcome) => responses.push(response(outcome, &Format::UnifiedText)),
                Err(e) => {
                    tracing::debug!(error = %e, statement = %stmt.text, "statement failed");
                    responses.push(error_response(e));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for EddyHandler {
    type Statement = Prepared;
    type QueryParser = EddyQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(EddyQueryParser {
            db: self.db.clone(),
        })
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
        let result = match decode_params(portal, &prepared.param_types) {
            Ok(params) => session.run(stmt, &params).await,
            Err(e) => {
                session.note_error();
                Err(e)
            }
        };
        send_notices(client, &mut session).await?;
        // An error is returned, not answered, so that pgwire skips the rest
        // of the pipeline until Sync, as PostgreSQL does.
        result
            .map(|outcome| response(outcome, &portal.result_column_format))
            .map_err(UserError::into_pgwire)
    }
}
