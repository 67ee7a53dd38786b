//! The contract between the front end and whatever answers the SQL: a
//! [`BackendFactory`] shared by every connection (who may log in, how a
//! session starts) and one [`Backend`] per connection (its statements,
//! transaction state and notices).
//!
//! The front end owns the protocol: message order, formats, portals,
//! cancel, panics. The backend owns the language: parsing, planning,
//! running, transaction rules. Every call on a [`Backend`] happens with
//! the connection's backend locked, so it needs no locking of its own.

use std::collections::HashMap;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use futures::stream::{self, BoxStream};

use crate::error::DbError;
use crate::scram::ScramVerifier;

/// Shared by every connection: authentication and session creation.
#[async_trait]
pub trait BackendFactory: Send + Sync + 'static {
    type Backend: Backend;

    /// Whether a new connection must authenticate with SCRAM-SHA-256;
    /// otherwise it is trusted under the name it gives. Asked once per
    /// connection, so the answer may change while the server runs.
    fn password_required(&self) -> bool;

    /// The SCRAM-SHA-256 verifier `user` logs in with; `None` when there is
    /// no such user or it may not log in (the exchange then fails like a
    /// wrong password, so the answer does not tell which users exist). An
    /// `Err` fails the login too.
    async fn scram_verifier(&self, user: &str) -> Result<Option<ScramVerifier>, DbError>;

    /// A session for an authenticated client, from its startup
    /// parameters. An error (a database that does not exist) is sent as
    /// is — make it FATAL — and ends the connection.
    fn connect(&self, startup: &Startup) -> Result<Self::Backend, DbError>;
}

/// One connection's session.
#[async_trait]
pub trait Backend: Send + 'static {
    /// A parsed statement, kept by prepared statements and portals.
    type Statement: Clone + Send + Sync + 'static;

    /// The ParameterStatus messages sent once authentication succeeds
    /// (`server_version`, `TimeZone`, …), in order.
    fn startup_parameters(&self) -> Vec<(String, String)>;

    /// The text of a statement, for logs: with secrets masked.
    fn loggable_sql(&self, sql: &str) -> String {
        sql.to_owned()
    }

    /// The text `statement` was parsed from.
    fn statement_sql<'a>(&self, statement: &'a Self::Statement) -> &'a str;

    /// Splits a simple-protocol query string into its statements. A
    /// syntax error anywhere means none of them runs.
    fn parse_query(&mut self, sql: &str) -> Result<Vec<Self::Statement>, DbError>;

    /// Prepares one statement for the extended protocol. `declared` holds
    /// the parameter type OIDs the client gave (`None`: left to the
    /// server); the answer gives every parameter a type and describes the
    /// result columns.
    async fn prepare(
        &mut self,
        sql: &str,
        declared: &[Option<u32>],
    ) -> Result<Prepared<Self>, DbError>;

    /// Runs one statement with its bound parameters (none in the simple
    /// protocol). Rows may be produced after this returns (see
    /// [`Outcome::Rows`]).
    async fn execute(
        &mut self,
        statement: &Self::Statement,
        params: &[Param],
    ) -> Result<Outcome, DbError>;

    /// Tells the backend of an error it did not return itself — a
    /// parameter that does not decode, a row that cannot be encoded, a
    /// panic while preparing: a transaction block fails, as after any
    /// error.
    fn note_error(&mut self);

    /// The running statement's future was dropped (cancel, timeout, panic):
    /// whatever it did is to be undone as after an error.
    fn abandon_statement(&mut self);

    /// The statements of one simple query string, several of them, form an
    /// implicit transaction: it starts before the first and ends with
    /// [`finish_implicit_transaction`](Self::finish_implicit_transaction).
    fn start_implicit_transaction(&mut self);

    /// Commits the implicit transaction (an error already discarded it).
    async fn finish_implicit_transaction(&mut self) -> Result<(), DbError>;

    /// How long a statement may run before it is cancelled with 57014
    /// (`statement_timeout`); `None`: no limit.
    fn statement_timeout(&self) -> Option<Duration>;

    /// The status ReadyForQuery reports.
    fn transaction_state(&self) -> TransactionState;

    /// Notices raised since the last call, sent before the statement's
    /// answer.
    fn take_notices(&mut self) -> Vec<Notice>;

    /// Reported settings (ParameterStatus) changed since the last call.
    fn take_parameter_changes(&mut self) -> Vec<(String, String)>;

    /// A CopyData of the `COPY … FROM STDIN` that answered
    /// [`Outcome::CopyIn`]. Errors wait for [`copy_done`](Self::copy_done):
    /// the client sends the whole stream before it listens again.
    fn copy_data(&mut self, _data: &[u8]) {}

    /// CopyDone: the rows are loaded (or, on an error, none is); answered
    /// `COPY n`.
    async fn copy_done(&mut self) -> Result<Outcome, DbError> {
        Err(DbError::new("08P01", "CopyDone without a COPY FROM STDIN"))
    }

    /// CopyFail, or a COPY that cannot go on: nothing is loaded. The error
    /// answered.
    fn copy_fail(&mut self, message: &str) -> DbError {
        DbError::new("57014", format!("COPY from stdin failed: {message}"))
    }
}

/// The startup message's parameters (`user`, `database`,
/// `application_name`, `options`, …).
#[derive(Debug, Clone, Default)]
pub struct Startup {
    pub parameters: HashMap<String, String>,
}

impl Startup {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    pub fn user(&self) -> Option<&str> {
        self.get("user")
    }

    pub fn database(&self) -> Option<&str> {
        self.get("database")
    }

    /// The parameters as settings, with those of the `options` parameter
    /// (`-c name=value`, `--name=value`, as PGOPTIONS sends them) added.
    pub fn settings(&self) -> Vec<(String, String)> {
        let mut settings: Vec<(String, String)> = self
            .parameters
            .iter()
            .filter(|(k, _)| k.as_str() != "options")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(options) = self.get("options") {
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
}

/// A statement prepared for the extended protocol.
pub struct Prepared<B: Backend + ?Sized> {
    /// `None`: the empty statement (answered EmptyQueryResponse).
    pub statement: Option<B::Statement>,
    /// The OID of each parameter `$1`, `$2`, …
    pub param_types: Vec<u32>,
    /// The result columns; `None`: the statement returns no rows (NoData).
    pub columns: Option<SchemaRef>,
}

impl<B: Backend + ?Sized> Clone for Prepared<B> {
    fn clone(&self) -> Self {
        Prepared {
            statement: self.statement.clone(),
            param_types: self.param_types.clone(),
            columns: self.columns.clone(),
        }
    }
}

impl<B: Backend + ?Sized> std::fmt::Debug for Prepared<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("param_types", &self.param_types)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// A bound parameter, decoded by its type in the format it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The parameter's type OID, as prepared.
    pub oid: u32,
    /// Its value. uuid, json, jsonb and interval text arrive as
    /// [`Value::Text`](eddy_pgtypes::decode::Value::Text): making them
    /// canonical is the backend's business.
    pub value: eddy_pgtypes::decode::Value,
}

/// Rows as they are produced: each batch is encoded and sent as it comes.
pub type BatchStream = BoxStream<'static, Result<RecordBatch, DbError>>;

/// What one statement answers.
pub enum Outcome {
    /// A RowDescription of `schema`, the rows, and `tag n`.
    Rows {
        schema: SchemaRef,
        batches: BatchStream,
        /// `SELECT`, or `INSERT 0`/`UPDATE`/`DELETE` for `RETURNING`.
        tag: String,
    },
    /// CommandComplete with `tag`, followed by `rows` if given.
    Command { tag: String, rows: Option<usize> },
    /// `BEGIN`: the session is in a transaction block.
    Begin,
    /// `COMMIT` or `ROLLBACK` (the tag to answer with).
    End(String),
    /// EmptyQueryResponse.
    Empty,
    /// `COPY … FROM STDIN`: CopyInResponse for `columns` columns; the
    /// client's data then goes to [`Backend::copy_data`] and its end to
    /// [`Backend::copy_done`] or [`Backend::copy_fail`].
    CopyIn { binary: bool, columns: usize },
    /// `COPY … TO STDOUT`: CopyOutResponse, a CopyData per item (sent as
    /// it comes), the binary trailer, CopyDone and `COPY rows`, `rows`
    /// read once the stream has ended.
    CopyOut {
        binary: bool,
        columns: usize,
        data: BoxStream<'static, Result<bytes::Bytes, DbError>>,
        rows: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    },
}

impl Outcome {
    /// Rows that are all there, answered with `SELECT n`.
    pub fn rows(schema: SchemaRef, batches: Vec<RecordBatch>) -> Outcome {
        Outcome::live_rows(schema, stream::iter(batches.into_iter().map(Ok)))
    }

    /// Rows that arrive over time, sent as each batch comes.
    pub fn live_rows(
        schema: SchemaRef,
        batches: impl futures::Stream<Item = Result<RecordBatch, DbError>> + Send + 'static,
    ) -> Outcome {
        Outcome::Rows {
            schema,
            batches: Box::pin(batches),
            tag: "SELECT".into(),
        }
    }

    /// Rows answered with `tag` and their count instead of `SELECT n`
    /// (`INSERT … RETURNING`); anything else unchanged.
    pub fn tagged(self, tag: impl Into<String>) -> Outcome {
        match self {
            Outcome::Rows {
                schema, batches, ..
            } => Outcome::Rows {
                schema,
                batches,
                tag: tag.into(),
            },
            other => other,
        }
    }

    /// A command's tag, without a row count.
    pub fn command(tag: impl Into<String>) -> Outcome {
        Outcome::Command {
            tag: tag.into(),
            rows: None,
        }
    }
}

/// A session's transaction state, as ReadyForQuery reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// `I`: outside a block.
    Idle,
    /// `T`: inside `BEGIN … COMMIT`.
    InBlock,
    /// `E`: in a block that failed; statements fail until it ends.
    Failed,
}

/// A NoticeResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `NOTICE`, `WARNING`, `INFO`, …
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::Startup;

    #[test]
    fn options_add_settings() {
        let startup = Startup {
            parameters: [
                ("user".to_string(), "u".to_string()),
                (
                    "options".to_string(),
                    "-c search_path=x --statement-timeout=5s -capplication_name=y".to_string(),
                ),
            ]
            .into(),
        };
        let mut settings = startup.settings();
        settings.sort();
        assert_eq!(
            settings,
            [
                ("application_name".into(), "y".into()),
                ("search_path".into(), "x".into()),
                ("statement_timeout".into(), "5s".into()),
                ("user".into(), "u".into()),
            ]
        );
    }
}
