//! The simple query protocol, with live rows: a query's rows reach the
//! client as they are produced.
//!
//! pgwire's simple-query path *feeds* rows into the connection's buffer and
//! flushes only at ReadyForQuery (or when the buffer passes 8 KiB), so rows
//! of a result that arrives slowly — a long query, a `SUBSCRIBE` — would
//! wait in the buffer. [`Connection::on_query`] replaces that path: it
//! sends the same messages, but [`send_rows`] flushes whenever the next row
//! is not ready yet. A result whose rows are all ready costs no extra
//! flush; a live one is flushed batch by batch.
//!
//! The statements of one query string run in order, each under
//! [`crate::guard`]; the first error ends the string, and several
//! statements form one implicit transaction. The extended protocol keeps
//! pgwire's path (portals, `max_rows`): its rows are flushed at Sync/Flush.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::query::{SimpleQueryHandler, send_execution_response, send_ready_for_query};
use pgwire::api::results::{FieldInfo, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{DataRow, RowDescription};
use pgwire::messages::response::{EmptyQueryResponse, ErrorResponse};
use pgwire::messages::simplequery::Query;

use crate::backend::{Backend, BackendFactory, Outcome};
use crate::copy::{copy_response, send_copy_out};
use crate::encode::{data_rows, field_infos};
use crate::error::DbError;
use crate::guard::{CancelSignal, catching_panics_in, run_guarded};
use crate::handlers::{Connection, backend_of, send_notices, transaction_status};

/// Rows to send: their description, the rows, and the command tag.
pub(crate) struct Rows {
    pub fields: Arc<Vec<FieldInfo>>,
    pub rows: BoxStream<'static, PgWireResult<DataRow>>,
    pub tag: String,
}

/// An answer to a statement, in pgwire's terms: rows ready to send (their
/// encoding set up under the panic guard), or what else pgwire sends.
pub(crate) fn response(outcome: Outcome, format: &Format, sql: &str) -> Response {
    match outcome {
        Outcome::Rows {
            schema,
            batches,
            tag,
        } => {
            let fields = Arc::new(field_infos(&schema, format));
            let rows = data_rows(fields.clone(), batches, sql.into());
            let mut response = pgwire::api::results::QueryResponse::new(fields, rows);
            response.set_command_tag(&tag);
            Response::Query(response)
        }
        Outcome::Command { tag, rows } => {
            let mut t = Tag::new(&tag);
            if let Some(rows) = rows {
                t = t.with_rows(rows);
            }
            Response::Execution(t)
        }
        Outcome::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Outcome::End(tag) => Response::TransactionEnd(Tag::new(&tag)),
        Outcome::Empty => Response::EmptyQuery,
        Outcome::CopyIn { binary, columns } => Response::CopyIn(copy_response(
            binary,
            columns,
            futures::stream::empty().boxed(),
        )),
        Outcome::CopyOut {
            binary,
            columns,
            data,
            rows,
        } => Response::CopyOut(copy_response(binary, columns, data).with_row_count(rows)),
    }
}

/// Sends RowDescription (if `describe`), the rows, and CommandComplete,
/// flushing each time the row stream has nothing ready.
pub(crate) async fn send_rows<C>(client: &mut C, rows: Rows, describe: bool) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let Rows {
        fields,
        rows: mut data_rows,
        tag,
    } = rows;
    if describe {
        let fields = fields.iter().map(<&FieldInfo>::into).collect();
        client
            .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                fields,
            )))
            .await?;
    }
    let mut count = 0;
    loop {
        let next = match data_rows.next().now_or_never() {
            Some(next) => next,
            None => {
                // Nothing ready: what was produced so far goes out now.
                client.flush().await?;
                data_rows.next().await
            }
        };
        let Some(row) = next else { break };
        client.feed(PgWireBackendMessage::DataRow(row?)).await?;
        count += 1;
    }
    let tag = Tag::new(&tag).with_rows(count);
    client
        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}

#[async_trait]
impl<F: BackendFactory> SimpleQueryHandler for Connection<F> {
    /// pgwire's simple-query handling (`_on_query`), with each statement's
    /// answer sent as it comes and rows sent by [`send_rows`].
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let backend = backend_of::<F::Backend, _>(client)?;
        let mut backend = backend.lock().await;
        let copying = if query.query.chars().all(|c| c == ';' || c.is_whitespace()) {
            feed_empty(client).await?;
            false
        } else {
            run_query(client, &mut *backend, &query.query).await?
        };
        // The backend's state is the truth: `ROLLBACK TO SAVEPOINT` takes a
        // failed block back to `T`, which pgwire's transitions cannot
        // express.
        let status = transaction_status(backend.transaction_state());
        client.set_transaction_status(status);
        if copying {
            // ReadyForQuery comes when the client's data has ended.
            client.set_state(PgWireConnectionState::CopyInProgress(false));
            return client.flush().await.map_err(Into::into);
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        send_ready_for_query(client, status).await
    }

    /// Unused: [`on_query`](Self::on_query) answers each statement itself.
    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(PgWireError::ApiError(
            "simple queries go through on_query".into(),
        ))
    }
}

async fn feed_empty<C>(client: &mut C) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    client
        .feed(PgWireBackendMessage::EmptyQueryResponse(
            EmptyQueryResponse::new(),
        ))
        .await?;
    Ok(())
}

async fn feed_error<C>(client: &mut C, error: DbError) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let response = ErrorResponse::from(error.into_error_info());
    client
        .feed(PgWireBackendMessage::ErrorResponse(response))
        .await?;
    Ok(())
}

/// Runs the statements of one query string and answers each; `true`
/// when the last one was a `COPY … FROM STDIN` now waiting for data.
async fn run_query<C, B>(client: &mut C, backend: &mut B, sql: &str) -> PgWireResult<bool>
where
    B: Backend,
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    // PostgreSQL parses the whole string first: a syntax error anywhere
    // means nothing runs.
    let statements = match backend.parse_query(sql) {
        Ok(s) => s,
        Err(e) => {
            backend.note_error();
            return feed_error(client, e).await.map(|()| false);
        }
    };
    if statements.is_empty() {
        return feed_empty(client).await.map(|()| false);
    }
    let mut cancel = CancelSignal::of(client).await;
    // As in PostgreSQL, the statements of one query string outside a
    // transaction block form one implicit transaction: a failure
    // discards what the earlier ones did.
    let implicit = statements.len() > 1;
    if implicit {
        backend.start_implicit_transaction();
    }
    for stmt in &statements {
        let sql = backend.loggable_sql(backend.statement_sql(stmt));
        let result = run_guarded(backend, stmt, &[], &mut cancel)
            .await
            .and_then(|outcome| {
                catching_panics_in(&sql, || response(outcome, &Format::UnifiedText, &sql))
                    .inspect_err(|_| backend.note_error())
            });
        send_notices(client, backend).await?;
        match result {
            Ok(Response::CopyIn(_)) if implicit => {
                let e = backend
                    .copy_fail("COPY FROM STDIN must be the only statement of its query string");
                feed_error(client, DbError { code: "0A000", ..e }).await?;
                break;
            }
            Ok(Response::CopyIn(copy)) => {
                pgwire::api::copy::send_copy_in_response(client, copy).await?;
                return Ok(true);
            }
            Ok(answer) => {
                if !send_response(client, answer).await? {
                    backend.note_error();
                    break;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, statement = %sql, "statement failed");
                feed_error(client, e).await?;
                break;
            }
        }
    }
    if implicit {
        if let Err(e) = backend.finish_implicit_transaction().await {
            feed_error(client, e).await?;
        }
        send_notices(client, backend).await?;
    }
    Ok(false)
}

/// Answers one statement; `false` when its answer ended in an error (a
/// COPY TO whose rows failed).
async fn send_response<C>(client: &mut C, response: Response) -> PgWireResult<bool>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    match response {
        Response::EmptyQuery => feed_empty(client).await?,
        Response::Query(results) => {
            let rows = Rows {
                tag: results.command_tag,
                fields: results.row_schema,
                rows: results.data_rows,
            };
            send_rows(client, rows, true).await?
        }
        Response::Execution(tag)
        | Response::TransactionStart(tag)
        | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
        Response::Error(e) => {
            client
                .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                .await?;
        }
        Response::CopyOut(copy) => {
            if let Err(e) = send_copy_out(client, copy).await? {
                let info: pgwire::error::ErrorInfo = e.into();
                client
                    .feed(PgWireBackendMessage::ErrorResponse(info.into()))
                    .await?;
                return Ok(false);
            }
        }
        _ => {
            return Err(PgWireError::ApiError(
                "COPY BOTH responses are not supported".into(),
            ));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use futures::stream;
    use pgwire::messages::data::DataRow;

    use super::*;

    #[derive(Debug, PartialEq)]
    enum Event {
        Row,
        Flush,
        Other,
    }

    /// A client that records what it is sent and when it is flushed.
    struct Recorder(Arc<Mutex<Vec<Event>>>);

    impl Sink<PgWireBackendMessage> for Recorder {
        type Error = std::io::Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(self: Pin<&mut Self>, item: PgWireBackendMessage) -> Result<(), Self::Error> {
            let event = match item {
                PgWireBackendMessage::DataRow(_) => Event::Row,
                _ => Event::Other,
            };
            self.0.lock().unwrap().push(event);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.0.lock().unwrap().push(Event::Flush);
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    fn row() -> PgWireResult<DataRow> {
        Ok(DataRow::new(bytes::BytesMut::new(), 0))
    }

    #[tokio::test]
    async fn rows_are_flushed_before_waiting_for_more() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (more, wait) = futures::channel::oneshot::channel::<()>();
        let rows = stream::iter([row(), row()]).chain(stream::once(async move {
            let _ = wait.await;
            row()
        }));
        let rows = Rows {
            fields: Arc::new(Vec::new()),
            rows: rows.boxed(),
            tag: "SELECT".into(),
        };
        let mut client = Recorder(events.clone());
        let sending = tokio::spawn(async move { send_rows(&mut client, rows, true).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            *events.lock().unwrap(),
            vec![Event::Other, Event::Row, Event::Row, Event::Flush],
            "the ready rows are flushed while the third is awaited"
        );
        more.send(()).unwrap();
        sending.await.unwrap().unwrap();
        assert_eq!(
            events.lock().unwrap()[4..],
            [Event::Row, Event::Other],
            "the last row, then CommandComplete, without a needless flush"
        );
    }
}
