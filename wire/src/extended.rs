//! The extended query protocol: Parse asks the backend to
//! [`prepare`](Backend::prepare) (parameter types, result columns),
//! Describe answers from what it said, Bind decodes the parameters (see
//! [`crate::params`]) and Execute runs the statement under
//! [`crate::guard`]. Portals, `max_rows`, Close and the skipping of a
//! failed pipeline until Sync are pgwire's.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, Response,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{Describe, Sync as PgSync, TARGET_TYPE_BYTE_STATEMENT};
use pgwire::messages::response::ReadyForQuery;

use crate::backend::{Backend, BackendFactory, Prepared};
use crate::encode::{field_infos, wire_type};
use crate::guard::{CancelSignal, catching_panics, catching_panics_in, run_guarded};
use crate::handlers::{Connection, backend_of, send_notices, transaction_status};
use crate::params::{RawParam, decode_params};
use crate::simple::response;

/// Parse: the backend prepares the statement.
pub(crate) struct StatementParser<B>(PhantomData<fn() -> B>);

#[async_trait]
impl<B: Backend> QueryParser for StatementParser<B> {
    type Statement = Prepared<B>;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared<B>>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let backend = backend_of::<B, _>(client)?;
        let mut backend = backend.lock().await;
        let declared: Vec<Option<u32>> = types.iter().map(|t| t.as_ref().map(Type::oid)).collect();
        let loggable = backend.loggable_sql(sql);
        let prepared = catching_panics(&loggable, backend.prepare(sql, &declared)).await;
        match prepared {
            // Stored as pgwire's empty statement: EmptyQueryResponse.
            Ok(prepared) if prepared.statement.is_none() => Ok(None),
            Ok(prepared) => Ok(Some(prepared)),
            Err(e) => {
                backend.note_error();
                Err(e.into_pgwire())
            }
        }
    }

    fn get_parameter_types(&self, stmt: &Prepared<B>) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types.iter().map(|oid| wire_type(*oid)).collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared<B>,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.cloned().unwrap_or(Format::UnifiedText);
        Ok(stmt
            .columns
            .as_ref()
            .map(|schema| field_infos(schema, &format))
            .unwrap_or_default())
    }
}

/// The parameters of a Bind, as sent.
fn raw_params<S: Clone>(portal: &Portal<S>) -> impl Iterator<Item = RawParam<'_>> {
    (0..portal.parameter_len()).map(|i| RawParam {
        bytes: portal.parameters.get(i).and_then(|b| b.as_deref()),
        binary: portal.parameter_format.is_binary(i),
    })
}

#[async_trait]
impl<F: BackendFactory> ExtendedQueryHandler for Connection<F> {
    type Statement = Prepared<F::Backend>;
    type QueryParser = StatementParser<F::Backend>;

    /// As pgwire's, with the status byte taken from the backend.
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok(backend) = backend_of::<F::Backend, _>(client) {
            let state = backend.lock().await.transaction_state();
            client.set_transaction_status(transaction_status(state));
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
        Arc::new(StatementParser(PhantomData))
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
        target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parser = self.query_parser();
        Ok(DescribeStatementResponse::new(
            parser.get_parameter_types(&target.statement)?,
            parser.get_result_schema(&target.statement, None)?,
        ))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = self.query_parser().get_result_schema(
            &portal.statement.statement,
            Some(&portal.result_column_format),
        )?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
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
        let backend = backend_of::<F::Backend, _>(client)?;
        let mut backend = backend.lock().await;
        let backend = &mut *backend;
        let mut cancel = CancelSignal::of(client).await;
        let result = match decode_params(raw_params(portal), &prepared.param_types) {
            Ok(params) => run_guarded(backend, stmt, &params, &mut cancel).await,
            Err(e) => {
                backend.note_error();
                Err(e)
            }
        };
        send_notices(client, backend).await?;
        let sql = backend.loggable_sql(backend.statement_sql(stmt));
        // An error is returned, not answered, so that pgwire skips the rest
        // of the pipeline until Sync, as PostgreSQL does.
        result
            .and_then(|outcome| {
                catching_panics_in(&sql, || {
                    response(outcome, &portal.result_column_format, &sql)
                })
                .inspect_err(|_| backend.note_error())
            })
            .map_err(|e| e.into_pgwire())
    }
}
