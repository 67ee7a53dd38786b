//! [`PostgresSink`]: the connection, the table check at `open`, the output
//! mode check, and the classification of failures (the transaction itself
//! is [`EpochWriter`]'s).
//!
//! The connection is kept between epochs. A connection-level failure drops
//! it (and the task driving it), returns a retryable error, and the next
//! call reconnects; a transaction cut short rolls back when dropped. Which
//! failures are retryable is [`super::connection`]'s call: those a later
//! attempt of the same epoch can get past. Everything else (a constraint
//! violation, a value that does not fit its column, a missing privilege)
//! would fail again the same way and stops the query with the error.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, OutputMode, Result, Sink};

use super::connection::{PgConnection, external, may_break_connection};
use super::copy::CopyEncoder;
use super::progress::WriterId;
use super::target;
use super::writer::{EpochWriter, Failure};
use super::{PostgresSinkConfig, WriteMode};

pub use super::progress::PROGRESS_TABLE;

/// The sink's connection and whether this session has run the writer's
/// per-session setup.
struct SinkConnection {
    pg: PgConnection,
    session_ready: bool,
}

pub struct PostgresSink {
    sink: String,
    query: String,
    config: PostgresSinkConfig,
    /// `postgres sink 'name' (host:port/db)`: error context, no password.
    context: String,
    /// `None` before the first use and after a connection failure.
    conn: Option<SinkConnection>,
    /// Set by `open`.
    writer: Option<EpochWriter>,
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
                if may_break_connection(&e) {
                    self.conn = None;
                }
                external(&self.context, &e)
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
        if self.conn.as_ref().is_some_and(|c| !c.pg.is_closed()) {
            return Ok(());
        }
        self.conn = None;
        self.conn = Some(SinkConnection {
            pg: PgConnection::open(&self.config.url.config, &self.context).await?,
            session_ready: false,
        });
        Ok(())
    }

    /// Checks (or, with `create`, creates) the table against the query's
    /// output and builds the writer. Without `create` nothing in PostgreSQL
    /// changes: a missing table that `create_table` would create is only
    /// checked to be creatable, and there is no writer (`None`).
    async fn prepare_table(
        &mut self,
        schema: &SchemaRef,
        create: bool,
    ) -> Result<Option<EpochWriter>, Failure> {
        let client = &self.conn.as_ref().expect("connected").pg.client;
        let config = &self.config;
        let table = &config.table;
        let key = config.mode.key();
        if let Some(key) = key {
            target::check_key_in_output(schema, key)?;
        }
        let columns = match target::table_columns(client, table).await? {
            Some(columns) => columns,
            None if config.create_table && !create => {
                target::create_table_sql(table, schema, key)?;
                return Ok(None);
            }
            None if config.create_table => {
                create_if_absent(client, &target::create_table_sql(table, schema, key)?).await?;
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
        if !create {
            return Ok(None);
        }
        if let Some(sql) = writer.setup_sql() {
            create_if_absent(client, sql).await?;
        }
        Ok(Some(writer))
    }

    /// Connects if needed and runs the writer's per-session setup.
    async fn ready_session(&mut self) -> Result<()> {
        self.connect().await?;
        let conn = self.conn.as_mut().expect("connected");
        if conn.session_ready {
            return Ok(());
        }
        if let Some(sql) = self.writer.as_ref().and_then(EpochWriter::session_sql)
            && let Err(e) = conn.pg.client.batch_execute(sql).await
        {
            return Err(self.fail(e.into()));
        }
        self.conn.as_mut().expect("connected").session_ready = true;
        Ok(())
    }
}

#[async_trait]
impl Sink for PostgresSink {
    fn set_output_mode(&mut self, mode: OutputMode) -> Result<()> {
        self.config.check_output_mode(&self.sink, mode)
    }

    async fn check(&mut self, schema: SchemaRef) -> Result<()> {
        self.connect().await?;
        match self.prepare_table(&schema, false).await {
            Ok(_) => Ok(()),
            Err(f) => Err(self.fail(f)),
        }
    }

    async fn open(&mut self, schema: SchemaRef) -> Result<()> {
        self.connect().await?;
        match self.prepare_table(&schema, true).await {
            Ok(writer) => {
                self.writer = writer;
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
        match writer
            .write(&mut conn.pg.client, id, epoch, &prepared)
            .await
        {
            Ok(Some(rows)) => Ok(rows),
            Ok(None) => {
                tracing::info!("{}: epoch {epoch} already written, skipped", self.context);
                Ok(0)
            }
            Err(f) => Err(self.fail(f)),
        }
    }
}

/// Runs `CREATE … IF NOT EXISTS` statements. Sessions running them at the
/// same moment (sinks of queries started together) can all pass
/// PostgreSQL's existence check, and the losers fail with a duplicate
/// error although the object now exists: run the statements again, which
/// then find it.
async fn create_if_absent(
    client: &tokio_postgres::Client,
    sql: &str,
) -> std::result::Result<(), tokio_postgres::Error> {
    use tokio_postgres::error::SqlState;
    let mut attempts = 0;
    loop {
        match client.batch_execute(sql).await {
            Err(e)
                if attempts < 3
                    && e.code().is_some_and(|c| {
                        [
                            SqlState::UNIQUE_VIOLATION,
                            SqlState::DUPLICATE_TABLE,
                            SqlState::DUPLICATE_OBJECT,
                        ]
                        .contains(c)
                    }) =>
            {
                attempts += 1;
            }
            other => return other,
        }
    }
}
