//! `connector = 'postgres'`: the sink, a streaming query's output into a
//! PostgreSQL table, exactly once by default; and the source, a PostgreSQL
//! table as the lookup side of a stream–table join ([`lookup`]).
//!
//! The sink writes each epoch in one PostgreSQL transaction: the rows with
//! binary `COPY` (straight into the table for `append`; after a `DELETE` of
//! the old contents for `overwrite`; into a session-local staging table
//! merged with `INSERT … ON CONFLICT` for `upsert`) and, under
//! `exactly_once`, the advance of the sink's row of `eddy_sink_progress`
//! with a compare-and-set.
//! An epoch the table already holds (the engine replays epochs it had not
//! marked committed before a crash) is skipped, so every epoch lands once
//! without two-phase commit:
//!
//! ```text
//!   engine                     PostgresSink                   PostgreSQL
//!     │ write_epoch(N, rows) ──────▶│ BEGIN ───────────────────────▶│
//!     │                             │ INSERT progress epoch 0       │
//!     │                             │   ON CONFLICT DO NOTHING ────▶│
//!     │                             │ SELECT epoch … FOR UPDATE ───▶│ (a second writer waits here)
//!     │                             │◀─────────────── seen = N-1    │
//!     │                             │ [DELETE] COPY [INSERT…SELECT]▶│ (the mode's statements)
//!     │                             │ UPDATE progress SET epoch = N │
//!     │                             │   WHERE epoch = seen ────────▶│ exactly 1 row, else ROLLBACK
//!     │                             │ COMMIT ──────────────────────▶│
//!     │◀──────────────── rows       │                               │
//!     │ (commit log: N)             │                               │
//!     │ … crash before the commit log, replay of N:                 │
//!     │ write_epoch(N, rows) ──────▶│ BEGIN, SELECT → seen = N: ROLLBACK, 0 rows
//! ```
//!
//! A sink's `mode` must suit the query's output mode
//! ([`PostgresSinkConfig::check_output_mode`]); at CREATE SINK its table
//! is checked as far as it can be without the query's columns
//! (`target_check`).
//!
//! Modules: [`url`] parses JDBC and libpq URLs, [`connection`] opens
//! connections and classifies failures (retryable or not), [`copy`]
//! encodes Arrow batches in the binary COPY format (through
//! [`eddy_pgtypes::encode`]), [`target`] resolves and checks (or creates) the table,
//! [`progress`] holds the compare-and-set on `eddy_sink_progress`,
//! [`writer`] builds and runs one epoch's transaction, [`sink`] owns the
//! sink's connection. For the source: [`source`] parses its options,
//! [`lookup`] sends the keys and caches the answers (`lookup_cache`),
//! `values` converts between Arrow arrays and PostgreSQL values.

pub mod connection;
pub mod copy;
pub mod lookup;
mod lookup_cache;
#[cfg(test)]
mod lookup_tests;
pub mod progress;
pub mod sink;
pub mod source;
pub mod target;
mod target_check;
#[cfg(test)]
mod target_check_tests;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
pub mod url;
mod values;
#[cfg(test)]
mod write_mode_tests;
pub mod writer;

use eddy_catalog::SinkDef;
use eddy_engine::connector::TargetCheck;
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::{EngineError, OutputMode, Result, Sink, SinkConnector, SinkContext};
use futures::future::BoxFuture;

use crate::option_reader::OptionReader;
pub use lookup::PostgresLookup;
pub use sink::PostgresSink;
pub use source::{PostgresLookupConfig, PostgresSourceConnector};
use target::TableName;
use url::{PgUrl, parse_pg_url};

static OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(
        "url",
        OptionValue::Text,
        "jdbc:postgresql://host:port/db?user=u or postgres://user@host:port/db",
    )
    .required(),
    OptionSpec::new(
        "password",
        OptionValue::Text,
        "password; overrides one in the url",
    ),
    OptionSpec::new(
        "table",
        OptionValue::Text,
        "target table, 'table' or 'schema.table'",
    )
    .required(),
    OptionSpec::new(
        "create_table",
        OptionValue::Bool,
        "create the table from the query's columns if it does not exist (default false)",
    ),
    OptionSpec::new(
        "mode",
        OptionValue::OneOf(&["append", "upsert", "overwrite"]),
        "how rows are written (default append)",
    ),
    OptionSpec::new(
        "primary_key",
        OptionValue::Text,
        "comma-separated key columns; required for mode 'upsert'",
    ),
    OptionSpec::new(
        "guarantee",
        OptionValue::OneOf(&["exactly_once", "at_least_once"]),
        "delivery guarantee (default exactly_once)",
    ),
    OptionSpec::new(
        "batch_size",
        OptionValue::Integer {
            min: 1,
            max: i32::MAX as i64,
        },
        "rows per COPY chunk (default 10000)",
    ),
];

/// How an epoch's rows change the table.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteMode {
    /// Rows are added.
    Append,
    /// A row replaces the table's row with the same key, or is added.
    Upsert { key: Vec<String> },
    /// The epoch's rows replace the table's contents (complete output mode).
    /// `key`, if given, only becomes the PRIMARY KEY of a created table.
    Overwrite { key: Option<Vec<String>> },
}

impl WriteMode {
    pub fn name(&self) -> &'static str {
        match self {
            WriteMode::Append => "append",
            WriteMode::Upsert { .. } => "upsert",
            WriteMode::Overwrite { .. } => "overwrite",
        }
    }

    /// The key columns a created table declares as its PRIMARY KEY.
    pub fn key(&self) -> Option<&[String]> {
        match self {
            WriteMode::Append => None,
            WriteMode::Upsert { key } => Some(key),
            WriteMode::Overwrite { key } => key.as_deref(),
        }
    }
}

/// What happens to an epoch written again (a retry, or a replay after a
/// crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// The epoch id is committed with the rows; epochs already committed
    /// are skipped.
    ExactlyOnce,
    /// No bookkeeping: an epoch written again is written again.
    AtLeastOnce,
}

/// `connector = 'postgres'`.
pub struct PostgresConnector;

/// A postgres sink's options, parsed.
#[derive(Debug, Clone)]
pub struct PostgresSinkConfig {
    pub url: PgUrl,
    pub table: TableName,
    pub create_table: bool,
    pub mode: WriteMode,
    pub guarantee: Guarantee,
    pub batch_size: usize,
}

impl PostgresSinkConfig {
    pub fn parse(def: &SinkDef) -> Result<Self> {
        let owner = format!("postgres sink '{}'", def.name);
        let options = OptionReader::new(&owner, &def.options);
        let key = options.get("primary_key").map(parse_key).transpose()?;
        let mode = match options.get("mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("append") => match key {
                None => WriteMode::Append,
                Some(_) => {
                    return Err(EngineError::Config(format!(
                        "option 'primary_key' of {owner} needs mode 'upsert' or 'overwrite'; \
                         mode 'append' adds every row and uses no key"
                    )));
                }
            },
            Some("upsert") => WriteMode::Upsert {
                key: key.ok_or_else(|| {
                    EngineError::Config(format!(
                        "mode 'upsert' of {owner} needs option 'primary_key' (e.g. primary_key = 'window_start,auction'): \
                         the columns whose values identify a row to replace"
                    ))
                })?,
            },
            Some("overwrite") => WriteMode::Overwrite { key },
            Some(other) => {
                return Err(EngineError::Config(format!(
                    "invalid value '{other}' for option 'mode' of {owner}; expected one of append, upsert, overwrite"
                )));
            }
        };
        let guarantee = match options
            .get("guarantee")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("exactly_once") => Guarantee::ExactlyOnce,
            Some("at_least_once") => Guarantee::AtLeastOnce,
            Some(other) => {
                return Err(EngineError::Config(format!(
                    "invalid value '{other}' for option 'guarantee' of {owner}; expected one of exactly_once, at_least_once"
                )));
            }
        };
        Ok(PostgresSinkConfig {
            url: parse_pg_url(options.required("url")?, options.get("password"))?,
            table: TableName::parse(options.required("table")?)?,
            create_table: options.bool("create_table")?.unwrap_or(false),
            mode,
            guarantee,
            batch_size: options.i64("batch_size")?.unwrap_or(10_000).max(1) as usize,
        })
    }

    /// Whether the sink's `mode` can represent a query's `output_mode`:
    ///
    /// | output_mode ↓, mode → | append | upsert | overwrite |
    /// |---|---|---|---|
    /// | append   | yes | yes | no  |
    /// | update   | no  | yes | no  |
    /// | complete | no  | no  | yes |
    pub fn check_output_mode(&self, sink: &str, output: OutputMode) -> Result<()> {
        let mode = self.mode.name();
        let why = match (output, &self.mode) {
            (OutputMode::Append, WriteMode::Append | WriteMode::Upsert { .. })
            | (OutputMode::Update, WriteMode::Upsert { .. })
            | (OutputMode::Complete, WriteMode::Overwrite { .. }) => return Ok(()),
            (OutputMode::Append, _) => {
                "each epoch emits only its new rows, and mode 'overwrite' would keep only the last \
                 epoch's rows. Set mode = 'append' (or 'upsert') on the sink, or use output_mode 'complete'"
            }
            (OutputMode::Update, WriteMode::Append) => {
                "each epoch re-emits the rows whose result changed, and mode 'append' would add every \
                 version as a new row. Set mode = 'upsert' and primary_key on the sink (upsert replaces \
                 the row with the same key), or use output_mode 'append'"
            }
            (OutputMode::Update, _) => {
                "each epoch emits only the rows that changed, and mode 'overwrite' would keep only the \
                 last epoch's rows. Set mode = 'upsert' and primary_key on the sink (upsert replaces the \
                 row with the same key), or use output_mode 'complete'"
            }
            (OutputMode::Complete, WriteMode::Append) => {
                "each epoch emits the whole result, and mode 'append' would add it again every epoch. \
                 Set mode = 'overwrite' on the sink (it replaces the table's contents in the epoch's \
                 transaction), or use output_mode 'append' or 'update'"
            }
            (OutputMode::Complete, _) => {
                "each epoch emits the whole result, and mode 'upsert' would keep rows that are no longer \
                 in it. Set mode = 'overwrite' on the sink (it replaces the table's contents in the \
                 epoch's transaction), or use output_mode 'update'"
            }
        };
        Err(EngineError::Config(format!(
            "output_mode '{}' does not fit postgres sink '{sink}' with mode '{mode}': {why}",
            output.name()
        )))
    }
}

/// `'a, b'` → `["a", "b"]`: names as written (case-sensitive, like the
/// query's output columns), none empty or repeated.
fn parse_key(text: &str) -> Result<Vec<String>> {
    let mut key: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(EngineError::Config(format!(
                "invalid value '{text}' for option 'primary_key'; expected column names separated by commas"
            )));
        }
        if key.iter().any(|k| k == name) {
            return Err(EngineError::Config(format!(
                "invalid value '{text}' for option 'primary_key': column \"{name}\" is named twice"
            )));
        }
        key.push(name.to_string());
    }
    Ok(key)
}

impl SinkConnector for PostgresConnector {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    /// Checks the options only: PostgreSQL need not be reachable at CREATE.
    fn validate(&self, def: &SinkDef, _ctx: &SinkContext) -> Result<()> {
        PostgresSinkConfig::parse(def).map(|_| ())
    }

    fn create(&self, def: &SinkDef, ctx: SinkContext) -> Result<Box<dyn Sink>> {
        let config = PostgresSinkConfig::parse(def)?;
        Ok(Box::new(PostgresSink::new(&def.name, &ctx.query, config)))
    }

    /// Connects and checks that the table exists (unless it will be
    /// created) and, for `upsert`, has the key columns under a unique
    /// constraint. PostgreSQL being unreachable is not a problem of the
    /// definition: the answer is then [`TargetCheck::Unchecked`].
    fn check_target<'a>(&'a self, def: &'a SinkDef) -> BoxFuture<'a, Result<TargetCheck>> {
        Box::pin(async move {
            let config = PostgresSinkConfig::parse(def)?;
            Ok(target_check::check_target(&def.name, &config).await)
        })
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn key_lists() {
        assert_eq!(
            parse_key(" window_start , Auction").unwrap(),
            ["window_start", "Auction"]
        );
        assert!(parse_key("a,,b").is_err());
        assert_eq!(
            parse_key("a,b,a").unwrap_err().to_string(),
            "invalid value 'a,b,a' for option 'primary_key': column \"a\" is named twice"
        );
    }
}
