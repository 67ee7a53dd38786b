//! [`PostgresSink`]: the connection, the table check at `open`, and the
//! classification of failures (the transaction itself is [`EpochWriter`]'s).
//!
//! The connection is kept between epochs. A connection-level failure drops
//! it (and the task driving it), returns a retryable error, and the next
//! call reconnects; a transaction cut short rolls back when dropped. Only
//! failures that a later attempt of the same epoch can get past are
//! retryable: a lost or refused connection, I/O errors, timeouts, a server
//! shutting down or starting up, too many connections, serialization
//! failures and deadlocks. Everything else (a constraint violation, a value
//! that does not fit its column, a missing privilege) would fail again the
//! same way and stops the query with the error.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result, Sink};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use super::copy::CopyEncoder;
use super::progress::WriterId;
use super::target;
use super::writer::{EpochWriter, Failure};
use super::{PostgresSinkConfig, WriteMode};

pub use super::progress::PROGRESS_TABLE;

/// A live connection and the task that drives it; dropping it closes both.
struct PgConnection {
    client: Client,
    task: JoinHandle<()>,
    /// Whether this session has run the writer's per-session setup.
    session_ready: bool,
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
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
    writer: Option<EpochWriter>,
}

/// SQLSTATEs after which the same work may succeed later: connection
/// exceptions, too many connections, canceled statements (statement or lock
/// timeouts), admin/crash shutdown and "the database system is starting
/// up", serialization failures and deadlocks.
const RETRYABLE_STATES: &[&str] = &[
    "08", "53300", "57014", "55P03", "57P01", "57P02", "57P03", "40001", "40P01",
];

/// Whether the error is about the connection rather than the work: closed,
/// I/O, could not connect, timed out. `tokio_postgres` keeps its error kind
/// private; a connection-level error is closed, carries the socket's
/// `io::Error`, or is the connect timeout.
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(io) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        // Malformed messages (encoding or parsing) are not the network's fault.
        return !matches!(
            io.kind(),
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
        );
    }
    e.to_string().starts_with("timeout")
}

/// Whether PostgreSQL may accept the same work later.
fn is_retryable(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        None => is_connection_error(e),
        Some(db) => {
            let code = db.code().code();
            RETRYABLE_STATES.iter().any(|p| code.starts_with(p))
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
                if e.as_db_error().is_none() || is_retryable(&e) {
                    self.conn = None;
                }
                EngineError::external(&self.context, describe(&e), is_retryable(&e))
            }
            Failure::LostRace { seen, epoch } => EngineError::external(
                &self.context,
                format!(
                    "another writer committed epoch {epoch} first: the row of {} for sink '{}', query '{}' \
                     no longer read epoch {seen} when this transaction tried to advance it; the epoch was \
                     rolled back. Is a second copy of the query running?",
                    PROGRESS_TABLE, self.sink, self.query
                ),
                false,
            ),
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
        self.conn = Some(PgConnection {
            client,
            task,
            session_ready: false,
        });
        Ok(())
    }

    /// Checks (or creates) the table against the query's output and builds
    /// the writer.
    async fn prepare_table(&mut self, schema: &SchemaRef) -> Result<EpochWriter, Failure> {
        let client = &self.conn.as_ref().expect("connected").client;
        let config = &self.config;
        let table = &config.table;
        let key = config.mode.key();
        if let Some(key) = key {
            target::check_key_in_output(schema, key)?;
        }
        let columns = match target::table_columns(client, table).await? {
            Some(columns) => columns,
            None if config.create_table => {
                client
                    .batch_execute(&target::create_table_sql(table, schema, key)?)
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
        if let WriteMode::Upsert { key } = &config.mode {
            let unique = target::unique_keys(client, table).await?;
            target::check_unique_key(table, key, &unique)?;
        }
        let writer = EpochWriter::new(
            table,
            schema,
            CopyEncoder::new(schema, &targets)?,
            (&config.mode, config.guarantee),
            config.batch_size,
        );
        if let Some(sql) = writer.setup_sql() {
            client.batch_execute(sql).await?;
        }
        Ok(writer)
    }

    /// Connects if needed and runs the writer's per-session setup.
    async fn ready_session(&mut self) -> Result<()> {
        self.connect().await?;
        let conn = self.conn.as_mut().expect("connected");
        if conn.session_ready {
            return Ok(());
        }
        if let Some(sql) = self.writer.as_ref().and_then(EpochWriter::session_sql)
            && let Err(e) = conn.client.batch_execute(sql).await
        {
            return Err(self.fail(e.into()));
        }
        self.conn.as_mut().expect("connected").session_ready = true;
        Ok(())
    }
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
        // An empty epoch replays as empty: nothing to write or record.
        let Some(prepared) = writer.prepare(batches)? else {
            return Ok(0);
        };
        let epoch = i64::try_from(epoch)
            .map_err(|_| EngineError::Internal(format!("epoch {epoch} too large")))?;
        self.ready_session().await?;
        let conn = self.conn.as_mut().expect("connected");
        let writer = self.writer.as_ref().expect("checked above");
        let id = WriterId {
            sink: &self.sink,
            query: &self.query,
        };
        match writer.write(&mut conn.client, id, epoch, &prepared).await {
            Ok(Some(rows)) => Ok(rows),
            Ok(None) => {
                tracing::info!("{}: epoch {epoch} already written, skipped", self.context);
                Ok(0)
            }
            Err(f) => Err(self.fail(f)),
        }
    }
}
