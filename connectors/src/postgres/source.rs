//! The `postgres` source: a PostgreSQL table as a lookup table, the table
//! side of a stream–table join.
//!
//! ```sql
//! CREATE SOURCE customers (id BIGINT, name VARCHAR, tier VARCHAR)
//! WITH (connector = 'postgres', url = 'jdbc:postgresql://db:5432/shop?user=app',
//!       password = '…', table = 'customers', 'lookup.cache.ttl' = '30 seconds');
//! ```
//!
//! It is never read as a stream (there is no change feed to follow):
//! [`SourceConnector::create`] refuses, and a join asks
//! [`SourceConnector::create_lookup`] for a [`PostgresLookup`] instead.
//! CREATE SOURCE checks the options only; PostgreSQL need not be reachable.

use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::SourceDef;
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::{EngineError, Lookup, Result, Source, SourceConnector, SourceContext};

use super::lookup::PostgresLookup;
use super::target::TableName;
use super::url::{PgUrl, parse_pg_url};
use super::values::read_type;
use crate::option_reader::OptionReader;

/// `lookup.cache.max_rows` when not given.
pub const DEFAULT_CACHE_MAX_ROWS: usize = 100_000;

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
        "the table looked up, 'table' or 'schema.table'",
    )
    .required(),
    OptionSpec::new(
        "lookup.cache.ttl",
        OptionValue::Duration,
        "how long an answer for a key is reused before PostgreSQL is asked again (default '0 seconds': no cache)",
    ),
    OptionSpec::new(
        "lookup.cache.max_rows",
        OptionValue::Integer {
            min: 0,
            max: i32::MAX as i64,
        },
        "the most rows the cache holds; the oldest answers go first (default 100000)",
    ),
];

/// A postgres source's options, parsed.
#[derive(Debug, Clone)]
pub struct PostgresLookupConfig {
    /// The connection, with `TimeZone = UTC` added to its options.
    pub url: PgUrl,
    pub table: TableName,
    /// 0 = no cache.
    pub cache_ttl: Duration,
    pub cache_max_rows: usize,
}

impl PostgresLookupConfig {
    pub fn parse(def: &SourceDef) -> Result<Self> {
        let owner = format!("postgres source '{}'", def.name);
        let options = OptionReader::new(&owner, &def.options);
        let mut url = parse_pg_url(options.required("url")?, options.get("password"))?;
        // Timestamps cast between `timestamp` and `timestamptz` as UTC.
        let session = match url.config.get_options() {
            Some(given) => format!("{given} -c TimeZone=UTC"),
            None => "-c TimeZone=UTC".to_string(),
        };
        url.config.options(session);
        Ok(PostgresLookupConfig {
            url,
            table: TableName::parse(options.required("table")?)?,
            cache_ttl: options.duration("lookup.cache.ttl")?.unwrap_or_default(),
            cache_max_rows: options
                .i64("lookup.cache.max_rows")?
                .map_or(DEFAULT_CACHE_MAX_ROWS, |n| n.max(0) as usize),
        })
    }
}

/// `connector = 'postgres'` as a source.
pub struct PostgresSourceConnector;

impl SourceConnector for PostgresSourceConnector {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    /// Checks the options and the declared types; does not connect.
    fn validate(&self, def: &SourceDef, schema: &SchemaRef) -> Result<()> {
        PostgresLookupConfig::parse(def)?;
        if def.watermark.is_some() {
            return Err(EngineError::Config(format!(
                "postgres source '{}' is a lookup table and has no event time; remove the WATERMARK clause",
                def.name
            )));
        }
        for field in schema.fields() {
            if read_type(field.data_type()).is_none() {
                return Err(EngineError::Config(format!(
                    "column \"{}\" of postgres source '{}' has type {}, which a postgres source cannot read",
                    field.name(),
                    def.name,
                    field.data_type()
                )));
            }
        }
        Ok(())
    }

    fn is_lookup_only(&self) -> bool {
        true
    }

    fn create(
        &self,
        def: &SourceDef,
        _schema: SchemaRef,
        _ctx: SourceContext,
    ) -> Result<Box<dyn Source>> {
        Err(EngineError::Plan(format!(
            "postgres source '{}' is a lookup table and cannot be read as a stream; use it on the table \
             side of a JOIN with a stream (e.g. … FROM orders JOIN {} ON orders.customer_id = {}.id)",
            def.name, def.name, def.name
        )))
    }

    fn create_lookup(
        &self,
        def: &SourceDef,
        schema: SchemaRef,
        key_columns: &[String],
    ) -> Result<Box<dyn Lookup>> {
        let config = PostgresLookupConfig::parse(def)?;
        Ok(Box::new(PostgresLookup::new(
            &def.name,
            config,
            schema,
            key_columns,
        )?))
    }
}
