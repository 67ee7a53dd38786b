//! The pgwire front end: startup, the simple and the extended query
//! protocol, each turned into calls on the connection's [`Session`].

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use futures::sink::{Sink, SinkExt};
use futures::stream;
use pgwire::api::auth::{
    StartupHandler, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{NoticeResponse, ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use crate::database::Database;
use crate::encode::{encode_rows, field_infos, pg_type};
use crate::error::UserError;
use crate::session::{Outcome, Session, returns_rows};
use crate::settings::Settings;
use eddy_sql::{ParsedStatement, parse_statements};

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
fn session<C: ClientInfo>(client: &C, db: &Arc<Database>) -> Arc<SharedSession> {
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
            Err(e) => return Ok(vec![error_response(e.into())]),
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

/// A statement prepared through the extended protocol.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub statement: Option<ParsedStatement>,
    pub param_types: Vec<Type>,
    /// Result columns (text format; the portal picks formats).
    pub schema: Option<datafusion::arrow::datatypes::SchemaRef>,
}

pub struct EddyQueryParser {
    db: Arc<Database>,
}

#[async_trait]
impl QueryParser for EddyQueryParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = parse_statements(sql).map_err(|e| UserError::from(e).into_pgwire())?;
        if statements.len() > 1 {
            return Err(UserError::new(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            )
            .into_pgwire());
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let session = session(client, &self.db);
        let session = session.lock().await;
        let mut param_types: Vec<Type> = types
            .iter()
            .map(|t| t.clone().unwrap_or(Type::UNKNOWN))
            .collect();
        let mut schema = None;
        if let eddy_sql::EddyStatement::Standard(stmt) = &statement.stmt {
            let plannable = match stmt.as_ref() {
                datafusion::sql::sqlparser::ast::Statement::Query(_) => Some(stmt.as_ref().clone()),
                datafusion::sql::sqlparser::ast::Statement::Insert(i) => i
                    .source
                    .as_ref()
                    .map(|q| datafusion::sql::sqlparser::ast::Statement::Query(q.clone())),
                _ => None,
            };
            if let Some(plannable) = plannable {
                let plan = session
                    .plan_unbound(&plannable)
                    .await
                    .map_err(UserError::into_pgwire)?;
                let inferred = plan
                    .get_parameter_types()
                    .map_err(|e| UserError::from(e).into_pgwire())?;
                for (name, dt) in inferred {
                    let Some(idx) = name
                        .trim_start_matches('$')
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| i.checked_sub(1))
                    else {
                        continue;
                    };
                    if param_types.len() <= idx {
                        param_types.resize(idx + 1, Type::UNKNOWN);
                    }
                    if let Some(dt) = dt
                        && param_types[idx] == Type::UNKNOWN
                    {
                        param_types[idx] = pg_type(&dt);
                    }
                }
                if matches!(
                    stmt.as_ref(),
                    datafusion::sql::sqlparser::ast::Statement::Query(_)
                ) {
                    schema = Some(Arc::new(plan.schema().as_arrow().clone()));
                }
            }
        }
        if let eddy_sql::EddyStatement::Standard(stmt) = &statement.stmt {
            infer_from_casts(stmt, &mut param_types);
        }
        for t in &mut param_types {
            if *t == Type::UNKNOWN {
                *t = Type::TEXT;
            }
        }
        Ok(Some(Prepared {
            statement: Some(statement),
            param_types,
            schema,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.cloned().unwrap_or(Format::UnifiedText);
        Ok(match (&stmt.schema, &stmt.statement) {
            (Some(schema), _) => field_infos(schema, &format),
            (None, Some(s)) if returns_rows(&s.stmt) => {
                // SHOW statements: the shape is known once run; describe
                // them as one text column per known header.
                show_fields(&s.stmt, &format)
            }
            _ => Vec::new(),
        })
    }
}

/// `$n::type` declares the parameter's type, as in PostgreSQL, where
/// DataFusion's inference does not look through casts.
fn infer_from_casts(stmt: &datafusion::sql::sqlparser::ast::Statement, types: &mut Vec<Type>) {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions};
    use std::ops::ControlFlow;
    let _ = visit_expressions(stmt, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && let Expr::Value(v) = inner.as_ref()
            && let Value::Placeholder(p) = &v.value
            && let Some(idx) = p
                .trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .and_then(|i| i.checked_sub(1))
            && let Ok(sql_type) = eddy_sql::types::sql_type_from_ast(data_type)
        {
            if types.len() <= idx {
                types.resize(idx + 1, Type::UNKNOWN);
            }
            if types[idx] == Type::UNKNOWN {
                types[idx] = pg_type(&eddy_sql::types::arrow_type(sql_type));
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn show_fields(stmt: &eddy_sql::EddyStatement, format: &Format) -> Vec<FieldInfo> {
    let names: Vec<String> = match stmt {
        eddy_sql::EddyStatement::ShowObjects(eddy_catalog::ObjectKind::StreamingQuery) => [
            "name",
            "status",
            "sink",
            "epoch",
            "input_rows",
            "output_rows",
            "late_rows",
            "watermark",
            "state_rows",
            "input_rows_per_second",
            "error",
        ]
        .map(String::from)
        .to_vec(),
        eddy_sql::EddyStatement::ShowObjects(eddy_catalog::ObjectKind::Table) => {
            vec!["name".into(), "rows".into()]
        }
        eddy_sql::EddyStatement::ShowObjects(eddy_catalog::ObjectKind::Source) => {
            ["name", "connector", "columns", "watermark"]
                .map(String::from)
                .to_vec()
        }
        eddy_sql::EddyStatement::ShowObjects(eddy_catalog::ObjectKind::Sink) => {
            ["name", "connector", "target"].map(String::from).to_vec()
        }
        eddy_sql::EddyStatement::Standard(s) => match s.as_ref() {
            datafusion::sql::sqlparser::ast::Statement::ShowVariable { variable } => {
                vec![crate::settings::display_name(
                    &variable
                        .iter()
                        .map(|i| i.value.clone())
                        .collect::<Vec<_>>()
                        .join("_"),
                )]
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let int_cols = [
        "epoch",
        "input_rows",
        "output_rows",
        "late_rows",
        "state_rows",
        "input_rows_per_second",
        "rows",
    ];
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let t = if int_cols.contains(&n.as_str()) {
                Type::INT8
            } else {
                Type::TEXT
            };
            FieldInfo::new(n, None, None, t, format.format_for(i))
        })
        .collect()
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
        let params = match decode_params(portal, &prepared.param_types) {
            Ok(p) => p,
            Err(e) => return Ok(error_response(e)),
        };
        let session = session(client, &self.db);
        let mut session = session.lock().await;
        let result = session.run(stmt, &params).await;
        send_notices(client, &mut session).await?;
        Ok(match result {
            Ok(outcome) => response(outcome, &portal.result_column_format),
            Err(e) => error_response(e),
        })
    }
}

/// Decodes bound parameters by their declared (or inferred) types.
fn decode_params(portal: &Portal<Prepared>, types: &[Type]) -> Result<Vec<ScalarValue>, UserError> {
    let bad = |i: usize, e: PgWireError| {
        UserError::new(
            "22P02",
            format!("invalid value for parameter ${}: {e}", i + 1),
        )
    };
    (0..portal.parameter_len())
        .map(|i| {
            let t = types.get(i).cloned().unwrap_or(Type::TEXT);
            let v = match t {
                Type::BOOL => {
                    ScalarValue::Boolean(portal.parameter::<bool>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::INT2 => {
                    ScalarValue::Int16(portal.parameter::<i16>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::INT4 => {
                    ScalarValue::Int32(portal.parameter::<i32>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::INT8 => {
                    ScalarValue::Int64(portal.parameter::<i64>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::FLOAT4 => {
                    ScalarValue::Float32(portal.parameter::<f32>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::FLOAT8 => {
                    ScalarValue::Float64(portal.parameter::<f64>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
                    portal
                        .parameter::<chrono::NaiveDateTime>(i, &t)
                        .map_err(|e| bad(i, e))?
                        .map(|d| d.and_utc().timestamp_micros()),
                    None,
                ),
                Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
                    portal
                        .parameter::<chrono::DateTime<chrono::FixedOffset>>(i, &t)
                        .map_err(|e| bad(i, e))?
                        .map(|d| d.timestamp_micros()),
                    Some("+00:00".into()),
                ),
                Type::DATE => ScalarValue::Date32(
                    portal
                        .parameter::<chrono::NaiveDate>(i, &t)
                        .map_err(|e| bad(i, e))?
                        .map(|d| {
                            (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days()
                                as i32
                        }),
                ),
                Type::BYTEA => {
                    ScalarValue::Binary(portal.parameter::<Vec<u8>>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::NUMERIC => {
                    let d = portal
                        .parameter::<rust_decimal::Decimal>(i, &t)
                        .map_err(|e| bad(i, e))?;
                    match d {
                        None => ScalarValue::Decimal128(None, 38, 10),
                        Some(d) => {
                            let s = ScalarValue::Utf8(Some(d.to_string()));
                            s.cast_to(&DataType::Decimal128(38, d.scale().min(38) as i8))
                                .map_err(|e| UserError::new("22P02", e.to_string()))?
                        }
                    }
                }
                _ => ScalarValue::Utf8(portal.parameter::<String>(i, &t).map_err(|e| bad(i, e))?),
            };
            Ok(v)
        })
        .collect()
}
