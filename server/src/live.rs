//! Live rows: a query's rows reach the client as they are produced.
//!
//! pgwire's simple-query path *feeds* rows into the connection's buffer and
//! flushes only at ReadyForQuery (or when the buffer passes 8 KiB), so rows
//! of a result that arrives slowly — a long query, a `SUBSCRIBE` — would
//! wait in Eddy's buffer. [`answer_simple_query`] replaces that path: it
//! sends the same messages, but [`send_rows`] flushes whenever the next row
//! is not ready yet. A result whose rows are all ready costs no extra
//! flush; a live one is flushed batch by batch.
//!
//! The extended protocol keeps pgwire's path (portals, `max_rows`): its rows
//! are flushed at Sync/Flush.

use std::fmt::Debug;

use futures::sink::{Sink, SinkExt};
use futures::{FutureExt, StreamExt};
use pgwire::api::query::{SimpleQueryHandler, send_execution_response, send_ready_for_query};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::RowDescription;
use pgwire::messages::response::EmptyQueryResponse;
use pgwire::messages::simplequery::Query;

/// Sends RowDescription (if `describe`), the rows, and CommandComplete,
/// flushing each time the row stream has nothing ready.
pub async fn send_rows<C>(
    client: &mut C,
    results: QueryResponse,
    describe: bool,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let command_tag = results.command_tag;
    let row_schema = results.row_schema;
    let mut data_rows = results.data_rows;
    if describe {
        let fields = row_schema.iter().map(<&FieldInfo>::into).collect();
        client
            .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                fields,
            )))
            .await?;
    }
    let mut rows = 0;
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
        rows += 1;
    }
    let tag = Tag::new(&command_tag).with_rows(rows);
    client
        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}

/// pgwire's simple-query handling (`_on_query`), with rows sent by
/// [`send_rows`]. Cancel and timeouts are the handler's (inside
/// `do_query`).
pub async fn answer_simple_query<C>(
    handler: &crate::handler::EddyHandler,
    client: &mut C,
    query: Query,
) -> PgWireResult<()>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
        return Err(PgWireError::NotReadyForQuery);
    }
    let mut status = client.transaction_status();
    client.set_state(PgWireConnectionState::QueryInProgress);
    if query.query.chars().all(|c| c == ';' || c.is_whitespace()) {
        client
            .feed(PgWireBackendMessage::EmptyQueryResponse(
                EmptyQueryResponse::new(),
            ))
            .await?;
    } else {
        for response in handler.do_query(client, &query.query).await? {
            match response {
                Response::EmptyQuery => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?;
                }
                Response::Query(results) => send_rows(client, results, true).await?,
                Response::Execution(tag) => send_execution_response(client, tag).await?,
                Response::TransactionStart(tag) => {
                    send_execution_response(client, tag).await?;
                    status = status.to_in_transaction_state();
                }
                Response::TransactionEnd(tag) => {
                    send_execution_response(client, tag).await?;
                    status = status.to_idle_state();
                }
                Response::Error(e) => {
                    client
                        .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                        .await?;
                    status = status.to_error_state();
                }
                _ => {
                    // Eddy answers no COPY.
                    return Err(PgWireError::ApiError(
                        "COPY responses are not supported".into(),
                    ));
                }
            }
        }
    }
    // The session's state is the truth: `ROLLBACK TO SAVEPOINT` takes a
    // failed block back to `T`, which pgwire's transitions cannot express.
    if let Some(session_status) = handler.transaction_status(client).await {
        status = session_status;
    }
    client.set_state(PgWireConnectionState::ReadyForQuery);
    client.set_transaction_status(status);
    send_ready_for_query(client, status).await
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
        let results = QueryResponse::new(Arc::new(Vec::new()), rows);
        let mut client = Recorder(events.clone());
        let sending = tokio::spawn(async move { send_rows(&mut client, results, true).await });
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
