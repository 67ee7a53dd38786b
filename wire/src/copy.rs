//! The COPY sub-protocol.
//!
//! `COPY … TO STDOUT` answers [`Outcome::CopyOut`](crate::Outcome): a
//! CopyOutResponse, a CopyData per row — flushed whenever the next is not
//! ready, as rows are (a `COPY (SUBSCRIBE …)` is live) — CopyDone and
//! `COPY n`. `COPY … FROM STDIN` answers
//! [`Outcome::CopyIn`](crate::Outcome): a CopyInResponse, after which the
//! connection is in copy-in mode and pgwire hands the client's CopyData,
//! CopyDone and CopyFail to the [`CopyHandler`] here, which passes them to
//! the backend. In the simple protocol ReadyForQuery follows the copy's
//! end; in the extended one, the Sync after it.
//!
//! ```text
//!  client                    front end                   backend
//!  Query "COPY t FROM STDIN" ──▶ execute ───────────────▶ Outcome::CopyIn
//!            ◀── CopyInResponse
//!  CopyData* ────────────────▶ copy_data ────────────────▶ parse, keep rows
//!  CopyDone  ────────────────▶ copy_done ────────────────▶ load all or none
//!            ◀── CommandComplete "COPY n" | ErrorResponse, ReadyForQuery
//! ```

use std::fmt::Debug;

use async_trait::async_trait;
use futures::sink::{Sink, SinkExt};
use futures::{FutureExt, StreamExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::{CopyResponse, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail, CopyOutResponse};

use crate::backend::{Backend, BackendFactory};
use crate::error::DbError;
use crate::guard::catching_panics;
use crate::handlers::{Connection, backend_of, send_notices, transaction_status};

/// pgwire's description of a copy: its format code (0 text, 1 binary),
/// width and data; a binary one ends with pgwire's trailer.
pub(crate) fn copy_response(
    binary: bool,
    columns: usize,
    data: futures::stream::BoxStream<'static, Result<bytes::Bytes, DbError>>,
) -> CopyResponse {
    let data = data.map(|item| item.map(CopyData::new).map_err(DbError::into_pgwire));
    CopyResponse::new(i8::from(binary), columns, data)
}

/// Sends a COPY TO's rows, flushing whenever the next one is not ready.
/// An error of the rows' stream ends the copy; it is returned for the
/// caller to answer (the client leaves copy mode on ErrorResponse).
pub(crate) async fn send_copy_out<C>(
    client: &mut C,
    response: CopyResponse,
) -> PgWireResult<Result<(), PgWireError>>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let column_formats = response.column_formats();
    let CopyResponse {
        format,
        columns,
        mut data_stream,
        row_count,
        ..
    } = response;
    client
        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            format,
            columns as i16,
            column_formats,
        )))
        .await?;
    let mut messages = 0;
    loop {
        let next = match data_stream.next().now_or_never() {
            Some(next) => next,
            None => {
                client.flush().await?;
                data_stream.next().await
            }
        };
        match next {
            None => break,
            Some(Ok(data)) => {
                client.feed(PgWireBackendMessage::CopyData(data)).await?;
                messages += 1;
            }
            Some(Err(e)) => return Ok(Err(e)),
        }
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    let rows = row_count.map_or(messages, |rows| {
        rows.load(std::sync::atomic::Ordering::Acquire)
    });
    client
        .feed(PgWireBackendMessage::CommandComplete(
            Tag::new("COPY").with_rows(rows).into(),
        ))
        .await?;
    Ok(Ok(()))
}

#[async_trait]
impl<F: BackendFactory> CopyHandler for Connection<F> {
    async fn on_copy_data<C>(&self, client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let backend = backend_of::<F::Backend, _>(client)?;
        backend.lock().await.copy_data(&data.data);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let backend = backend_of::<F::Backend, _>(client)?;
        let mut backend = backend.lock().await;
        let result = catching_panics("COPY FROM STDIN", backend.copy_done()).await;
        send_notices(client, &mut *backend).await?;
        // pgwire sends ReadyForQuery with the status it tracks.
        client.set_transaction_status(transaction_status(backend.transaction_state()));
        match result {
            Ok(crate::Outcome::Command { tag, rows }) => {
                let mut tag = Tag::new(&tag);
                if let Some(rows) = rows {
                    tag = tag.with_rows(rows);
                }
                client
                    .send(PgWireBackendMessage::CommandComplete(tag.into()))
                    .await?;
                Ok(())
            }
            Ok(_) => Err(DbError::internal("COPY FROM STDIN ended without a count").into_pgwire()),
            Err(e) => {
                backend.note_error();
                client.set_transaction_status(transaction_status(backend.transaction_state()));
                Err(e.into_pgwire())
            }
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let backend = match backend_of::<F::Backend, _>(client) {
            Ok(backend) => backend,
            Err(e) => return e,
        };
        let mut backend = backend.lock().await;
        let error = backend.copy_fail(&fail.message);
        client.set_transaction_status(transaction_status(backend.transaction_state()));
        error.into_pgwire()
    }
}
