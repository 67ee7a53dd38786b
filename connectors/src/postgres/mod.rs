//! The `postgres` sink: a streaming query's output into a PostgreSQL table,
//! exactly once.
//!
//! Each epoch is one PostgreSQL transaction that writes the rows with binary
//! `COPY` and advances the row of `eddy_sink_progress` for (sink, query)
//! with a compare-and-set. An epoch the table already holds (the engine
//! replays epochs it had not marked committed before a crash) is skipped, so
//! every epoch lands once without two-phase commit:
//!
//! ```text
//!   engine                     PostgresSink                   PostgreSQL
//!     │ write_epoch(N, rows) ──────▶│ BEGIN ───────────────────────▶│
//!     │                             │ SELECT epoch … FOR UPDATE ───▶│
//!     │                             │◀─────────────── last = N-1    │
//!     │                             │ COPY t FROM STDIN (binary) ──▶│ (chunks of batch_size rows)
//!     │                             │ upsert progress epoch = N ───▶│
//!     │                             │ COMMIT ──────────────────────▶│
//!     │◀──────────────── rows       │                               │
//!     │ (commit log: N)             │                               │
//!     │ … crash before the commit log, replay of N:                 │
//!     │ write_epoch(N, rows) ──────▶│ BEGIN, SELECT → last = N: ROLLBACK, 0 rows
//! ```
//!
//! Modules: [`url`] parses JDBC and libpq URLs, [`copy`] encodes Arrow
//! batches in the binary COPY format (numerics via [`numeric`]), [`target`]
//! resolves and checks (or creates) the table, [`sink`] runs the
//! transactions.

pub mod copy;
pub mod numeric;
pub mod sink;
pub mod target;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
pub mod url;

use eddy_catalog::SinkDef;
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::{Result, Sink, SinkConnector, SinkContext};

use crate::option_reader::OptionReader;
pub use sink::PostgresSink;
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
        OptionValue::OneOf(&["append"]),
        "how rows are written (default append)",
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

/// `connector = 'postgres'`.
pub struct PostgresConnector;

/// A postgres sink's options, parsed.
#[derive(Debug, Clone)]
pub struct PostgresSinkConfig {
    pub url: PgUrl,
    pub table: TableName,
    pub create_table: bool,
    pub batch_size: usize,
}

impl PostgresSinkConfig {
    pub fn parse(def: &SinkDef) -> Result<Self> {
        let owner = format!("postgres sink '{}'", def.name);
        let options = OptionReader::new(&owner, &def.options);
        Ok(PostgresSinkConfig {
            url: parse_pg_url(options.required("url")?, options.get("password"))?,
            table: TableName::parse(options.required("table")?)?,
            create_table: options.bool("create_table")?.unwrap_or(false),
            batch_size: options.i64("batch_size")?.unwrap_or(10_000).max(1) as usize,
        })
    }
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
}
