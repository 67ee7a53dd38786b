//! [`PostgresSink`]: the connection, the table check at `open`, and one
//! transaction per epoch (see the module above for the protocol).
//!
//! The connection is kept between epochs. A connection-level failure drops
//! it (and the task driving it), returns a retryable error, and the next
//! call reconnects; a transaction cut short rolls back when dropped.

use async_trait::async_trait;
use bytes::BytesMut;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result, Sink};
use futures::{SinkExt, pin_mut};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use super::PostgresSinkConfig;
use super::copy::{CopyEncoder, PreparedBatch};
use super::target::{self, quote_ident};

/// Name of the progress table, in the target table's schema.
pub const PROGRESS_TABLE: &str = "eddy_sink_progress";

/// A live connection and the task that drives it; dropping it closes both.
struct PgConnection {
    client: Client,
    task: JoinHandle<()>,
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What `open` established about the target table.
struct Writer {
    encoder: CopyEncoder,
    copy_sql: String,
    select_progress_sql: String,
    upsert_progress_sql: String,
}

pub struct PostgresSink {
    sink: String,
    query: String,
    config: PostgresSinkConfig,
    /// `postgres sink 'name' (host:port/db)`: error context, no password.
    context: String,
    /// `None` before the first use and after a connection failure.
    conn: Option<PgConnection>,
    /// Set by `open`.
    writer: Option<Writer>,
}

/// A failure inside a database round trip, before it is classified.
enum Failure {
    Pg(tokio_postgres::Error),
    Engine(EngineError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Pg(e)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Engine(e)
    }
}

/// Whether PostgreSQL may accept the same work later: lost connections,
/// resource shortage, shutdown, serialization failures and deadlocks.
fn is_retryable(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        None => true,
        Some(db) => {
            let code = db.code().code();
            ["08", "53", "57P", "40001", "40P01"]
                .iter()
                .any(|p| code.starts_with(p))
        }
    }
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        None => {
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                text.push_str(&format!(": {source}"));
            }
            text
        }
    }
}

impl PostgresSink {
    pub fn new(sink: &str, query: &str, config: PostgresSinkConfig) -> Self {
        PostgresSink {
            context: format!("postgres sink '{sink}' ({})", config.url.display),
            sink: sink.to_string(),
            query: query.to_string(),
            config,
            conn: None,
            writer: None,
        }
    }

    /// Classifies a failure; drops the connection if it may be broken.
    fn fail(&mut self, failure: Failure) -> EngineError {
        match failure {
            Failure::Engine(e) => e,
            Failure::Pg(e) => {
                if e.is_closed() || e.as_db_error().is_none() {
                    self.conn = None;
                }
                EngineError::external(&self.context, describe(&e), is_retryable(&e))
            }
        }
    }

    async fn connect(&mut self) -> Result<()> {
        if self.conn.as_ref().is_some_and(|c| !c.client.is_closed()) {
            return Ok(());
        }
        self.conn = None;
        let (client, connection) =
            self.config.url.config.connect(NoTls).await.map_err(|e| {
                EngineError::external(&self.context, describe(&e), is_retryable(&e))
            })?;
        let context = self.context.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("{context}: connection closed: {e}");
            }
        });
        self.conn = Some(PgConnection { client, task });
        Ok(())
    }

    async fn prepare_table(&mut self, schema: &SchemaRef) -> Result<Writer, Failure> {
        let client = &self.conn.as_ref().expect("connected").client;
        let table = &self.config.table;
        let columns = match target::table_columns(client, table).await? {
            Some(columns) => columns,
            None if self.config.create_table => {
                client
                    .batch_execute(&target::create_table_sql(table, schema)?)
                    .await?;
                target::table_columns(client, table).await?.ok_or_else(|| {
                    EngineError::Internal(format!("table {table} missing after CREATE TABLE"))
                })?
            }
            None => {
                return Err(EngineError::Config(format!(
                    "table {table} does not exist in PostgreSQL; create it or set create_table = 'true'"
                ))
                .into());
            }
        };
        let targets = target::match_columns(table, schema, &columns)?;
        let encoder = CopyEncoder::new(schema, &targets)?;
        let progress = table.sibling(PROGRESS_TABLE);
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {progress} (\
                   sink text NOT NULL, query text NOT NULL, partition integer NOT NULL, \
                   epoch bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), \
                   PRIMARY KEY (sink, query, partition))"
            ))
            .await?;
        let column_list: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        Ok(Writer {
            encoder,
            copy_sql: format!(
                "COPY {table} ({}) FROM STDIN (FORMAT binary)",
                column_list.join(", ")
            ),
            select_progress_sql: format!(
                "SELECT epoch FROM {progress} WHERE sink = $1 AND query = $2 AND partition = 0 FOR UPDATE"
            ),
            upsert_progress_sql: format!(
                "INSERT INTO {progress} (sink, query, partition, epoch) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (sink, query, partition) DO UPDATE SET epoch = EXCLUDED.epoch, updated_at = now()"
            ),
        })
    }
}

/// Writes one epoch in one transaction; `None` if PostgreSQL already holds it.
async fn write_transaction(
    client: &mut Client,
    writer: &Writer,
    (sink, query): (&str, &str),
    epoch: i64,
    batches: &[PreparedBatch],
    batch_size: usize,
) -> Result<Option<u64>, Failure> {
    let tx = client.transaction().await?;
    if let Some(row) = tx
        .query_opt(&writer.select_progress_sql, &[&sink, &query])
        .await?
    {
        let last: i64 = row.get(0);
        if last >= epoch {
            return Ok(None);
        }
    }
    let copy = tx.copy_in(&writer.copy_sql).await?;
    pin_mut!(copy);
    let mut buf = BytesMut::new();
    writer.encoder.write_header(&mut buf);
    let mut in_chunk = 0;
    for batch in batches {
        let mut start = 0;
        while start < batch.num_rows() {
            let take = (batch.num_rows() - start).min(batch_size - in_chunk);
            writer
                .encoder
                .encode_rows(batch, start..start + take, &mut buf)?;
            start += take;
            in_chunk += take;
            if in_chunk == batch_size {
                copy.send(buf.split().freeze()).await?;
                in_chunk = 0;
            }
        }
    }
    writer.encoder.write_trailer(&mut buf);
    copy.send(buf.split().freeze()).await?;
    let rows = copy.as_mut().finish().await?;
    tx.execute(&writer.upsert_progress_sql, &[&sink, &query, &epoch])
        .await?;
    tx.commit().await?;
    Ok(Some(rows))
}

#[async_trait]
impl Sink for PostgresSink {
    async fn open(&mut self, schema: SchemaRef) -> Result<()> {
        self.connect().await?;
        match self.prepare_table(&schema).await {
            Ok(writer) => {
                self.writer = Some(writer);
                Ok(())
            }
            Err(f) => Err(self.fail(f)),
        }
    }

    async fn write_epoch(&mut self, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| EngineError::Internal("postgres sink written before open".into()))?;
        // An empty epoch replays as empty: nothing to record.
        let prepared = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| writer.encoder.prepare(b))
            .collect::<Result<Vec<_>>>()?;
        if prepared.is_empty() {
            return Ok(0);
        }
        let epoch = i64::try_from(epoch)
            .map_err(|_| EngineError::Internal(format!("epoch {epoch} too large")))?;
        self.connect().await?;
        let conn = self.conn.as_mut().expect("connected");
        let writer = self.writer.as_ref().expect("checked above");
        let result = write_transaction(
            &mut conn.client,
            writer,
            (&self.sink, &self.query),
            epoch,
            &prepared,
            self.config.batch_size,
        )
        .await;
        match result {
            Ok(Some(rows)) => Ok(rows),
            Ok(None) => {
                tracing::info!("{}: epoch {epoch} already written, skipped", self.context);
                Ok(0)
            }
            Err(f) => Err(self.fail(f)),
        }
    }
}
