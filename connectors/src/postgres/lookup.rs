//! [`PostgresLookup`]: the rows of a PostgreSQL table with given keys, for
//! the table side of a stream–table join.
//!
//! Each call sends the keys the cache cannot answer in one query, built
//! once per lookup from the declared columns:
//!
//! ```text
//!   one key column    SELECT "id"::int8, "name"::text, … FROM "customers"
//!                     WHERE "id" = ANY($1::int8[])
//!   several           … WHERE ("k1", "k2") IN (SELECT * FROM unnest($1::int8[], $2::text[]))
//! ```
//!
//! The table is never read in full: an epoch costs one round trip with its
//! distinct new keys. Each column is cast to the PostgreSQL type of its
//! declared type (see `super::values`), so PostgreSQL converts a column
//! of another type. The key columns are compared uncast, so PostgreSQL can
//! use an index on them. Keys declared `uuid` or `jsonb` are sent as text
//! and cast by PostgreSQL (`"u" = ANY($1::text[]::uuid[])`); their values
//! are read as text, the canonical form Eddy stores them in.
//!
//! The connection is opened on the first lookup; it checks that the table
//! and every declared column exist (a clear, non-retryable
//! [`EngineError::Config`] naming them otherwise) and prepares the query.
//! A connection-level failure drops the connection and returns a retryable
//! error; the next call reconnects. Sessions use `TimeZone = UTC`, so a
//! `timestamp` column declared TIMESTAMPTZ (or the reverse) is read as UTC.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::{cast, interleave_record_batch, take};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use eddy_engine::{EngineError, Lookup, Result};
use eddy_sql::text_types::TextType;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use super::connection::{PgConnection, external, may_break_connection};
use super::lookup_cache::{Answer, KeyBytes, LookupCache};
use super::source::PostgresLookupConfig;
use super::target::{self, quote_ident};
use super::values::{key_param, read_column, read_type};

/// A connection with the lookup query prepared on it.
struct LookupConnection {
    pg: PgConnection,
    statement: Statement,
}

pub struct PostgresLookup {
    /// The source's name, for errors.
    source: String,
    /// `postgres source 'name' (host:port/db)`: error context, no password.
    context: String,
    config: PostgresLookupConfig,
    /// The declared columns, which every answer has.
    schema: SchemaRef,
    /// Positions of the key columns in `schema`, in the order of the keys.
    key_columns: Vec<usize>,
    sql: String,
    /// `None` before the first lookup and after a connection failure.
    conn: Option<LookupConnection>,
    /// `None` when `lookup.cache.ttl` or `lookup.cache.max_rows` is 0.
    cache: Option<LookupCache>,
    /// Encodes key rows for the cache.
    key_encoder: RowConverter,
    queries_sent: u64,
    keys_sent: u64,
}

impl PostgresLookup {
    /// A lookup of `schema` (the declared columns) by `key_columns`; the
    /// caller has validated the definition.
    pub fn new(
        source: &str,
        config: PostgresLookupConfig,
        schema: SchemaRef,
        key_columns: &[String],
    ) -> Result<PostgresLookup> {
        if key_columns.is_empty() {
            return Err(EngineError::Plan(format!(
                "a lookup on postgres source '{source}' needs at least one key column"
            )));
        }
        let key_columns = key_columns
            .iter()
            .map(|name| {
                schema.index_of(name).map_err(|_| {
                    let names: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    EngineError::Plan(format!(
                        "join key \"{name}\" is not a column of postgres source '{source}'; its columns are {}",
                        names.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sql = lookup_sql(&config, &schema, &key_columns)?;
        let key_encoder = RowConverter::new(
            key_columns
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )?;
        let cache = (!config.cache_ttl.is_zero() && config.cache_max_rows > 0)
            .then(|| LookupCache::new(config.cache_ttl, config.cache_max_rows));
        Ok(PostgresLookup {
            source: source.to_string(),
            context: format!("postgres source '{source}' ({})", config.url.display),
            config,
            schema,
            key_columns,
            sql,
            conn: None,
            cache,
            key_encoder,
            queries_sent: 0,
            keys_sent: 0,
        })
    }

    /// The query sent per lookup.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Queries sent to PostgreSQL so far (one per lookup the cache could
    /// not answer whole).
    pub fn queries_sent(&self) -> u64 {
        self.queries_sent
    }

    /// Keys sent to PostgreSQL so far.
    pub fn keys_sent(&self) -> u64 {
        self.keys_sent
    }

    /// Connects, checks the table and prepares the query, unless connected.
    async fn connect(&mut self) -> Result<()> {
        if self.conn.as_ref().is_some_and(|c| !c.pg.is_closed()) {
            return Ok(());
        }
        self.conn = None;
        let pg = PgConnection::open(&self.config.url.config, &self.context).await?;
        self.check_table(&pg).await?;
        let statement = pg
            .client
            .prepare(&self.sql)
            .await
            .map_err(|e| external(&self.context, &e))?;
        self.conn = Some(LookupConnection { pg, statement });
        Ok(())
    }

    /// The table and every declared column must exist.
    async fn check_table(&self, pg: &PgConnection) -> Result<()> {
        let table = &self.config.table;
        let columns = target::table_columns(&pg.client, table)
            .await
            .map_err(|e| external(&self.context, &e))?
            .ok_or_else(|| {
                EngineError::Config(format!(
                    "table {table} of postgres source '{}' does not exist in PostgreSQL ({})",
                    self.source, self.config.url.display
                ))
            })?;
        let missing: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|name| columns.iter().all(|c| &c.name != *name))
            .map(|name| {
                let hint = columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(name))
                    .map(|c| format!(" (names are case-sensitive: did you mean \"{}\"?)", c.name))
                    .unwrap_or_default();
                format!("\"{name}\"{hint}")
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        Err(EngineError::Config(format!(
            "column{} {} of postgres source '{}' {} not exist in PostgreSQL table {table}; its columns are {}",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            self.source,
            if missing.len() > 1 { "do" } else { "does" },
            names.join(", ")
        )))
    }

    /// Sends `keys` (cast to the key columns' types) in one query.
    async fn fetch(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch> {
        let params = keys
            .iter()
            .map(key_param)
            .collect::<Result<Vec<Box<dyn ToSql + Sync + Send + '_>>>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.connect().await?;
        let conn = self.conn.as_ref().expect("connected");
        self.queries_sent += 1;
        self.keys_sent += keys[0].len() as u64;
        let rows = match conn.pg.client.query(&conn.statement, &params).await {
            Ok(rows) => rows,
            Err(e) => {
                if may_break_connection(&e) {
                    self.conn = None;
                }
                return Err(external(&self.context, &e));
            }
        };
        let columns = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| read_column(&rows, i, field))
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| {
            EngineError::Data(format!(
                "rows of PostgreSQL table {} do not fit postgres source '{}': {e}",
                self.config.table, self.source
            ))
        })
    }

    /// Answers from the cache where it can, fetches the rest in one query
    /// and caches their answers.
    async fn lookup_cached(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch> {
        let now = Instant::now();
        let encoded = self.key_encoder.convert_columns(keys)?;
        let cache = self.cache.as_ref().expect("caching lookup");
        // The answer is assembled from rows of several result batches.
        let mut batches: Vec<Arc<RecordBatch>> = Vec::new();
        // Batches by address: answers share their query's batch.
        let mut batch_numbers: HashMap<usize, usize> = HashMap::new();
        let mut picks: Vec<(usize, usize)> = Vec::new();
        let mut add = |answer: &Answer, picks: &mut Vec<(usize, usize)>| {
            let number = *batch_numbers
                .entry(Arc::as_ptr(&answer.batch) as usize)
                .or_insert_with(|| {
                    batches.push(answer.batch.clone());
                    batches.len() - 1
                });
            picks.extend(answer.rows.iter().map(|&r| (number, r as usize)));
        };
        let mut missing: Vec<u32> = Vec::new();
        for (i, key) in encoded.iter().enumerate() {
            match cache.get(key.as_ref(), now) {
                Some(answer) => add(answer, &mut picks),
                None => missing.push(i as u32),
            }
        }
        if !missing.is_empty() {
            let indices = UInt32Array::from_iter_values(missing.iter().copied());
            let missing_keys = keys
                .iter()
                .map(|k| take(k.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?;
            let fetched = Arc::new(self.fetch(&missing_keys).await?);
            let result_keys: Vec<ArrayRef> = self
                .key_columns
                .iter()
                .map(|&c| fetched.column(c).clone())
                .collect();
            let result_encoded = self.key_encoder.convert_columns(&result_keys)?;
            let mut rows_of: HashMap<&[u8], Vec<u32>> = HashMap::new();
            for (r, key) in result_encoded.iter().enumerate() {
                rows_of.entry(key.data()).or_default().push(r as u32);
            }
            let cache = self.cache.as_mut().expect("caching lookup");
            for &i in &missing {
                let key = encoded.row(i as usize);
                let answer = Answer {
                    batch: fetched.clone(),
                    rows: rows_of.remove(key.as_ref()).unwrap_or_default(),
                };
                add(&answer, &mut picks);
                cache.insert(KeyBytes::from(key.as_ref()), answer, now);
            }
        }
        self.cache.as_mut().expect("caching lookup").trim(now);
        if picks.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let batches: Vec<&RecordBatch> = batches.iter().map(|b| b.as_ref()).collect();
        Ok(interleave_record_batch(&batches, &picks)?)
    }
}

/// The lookup query; see the module doc.
fn lookup_sql(
    config: &PostgresLookupConfig,
    schema: &SchemaRef,
    key_columns: &[usize],
) -> Result<String> {
    let pg_type = |i: usize| {
        let field = schema.field(i);
        read_type(field.data_type()).ok_or_else(|| {
            EngineError::Config(format!(
                "column \"{}\" has type {}, which a postgres source cannot read",
                field.name(),
                field.data_type()
            ))
        })
    };
    let select = (0..schema.fields().len())
        .map(|i| {
            Ok(format!(
                "{}::{}",
                quote_ident(schema.field(i).name()),
                pg_type(i)?
            ))
        })
        .collect::<Result<Vec<_>>>()?
        .join(", ");
    let key_names: Vec<String> = key_columns
        .iter()
        .map(|&i| quote_ident(schema.field(i).name()))
        .collect();
    let arrays = key_columns
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let sent = format!("${}::{}[]", n + 1, pg_type(i)?);
            Ok(match TextType::of_field(schema.field(i)) {
                Some(t) => format!("{sent}::{}[]", t.name()),
                None => sent,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let filter = match (key_names.as_slice(), arrays.as_slice()) {
        ([key], [array]) => format!("{key} = ANY({array})"),
        _ => format!(
            "({}) IN (SELECT * FROM unnest({}))",
            key_names.join(", "),
            arrays.join(", ")
        ),
    };
    Ok(format!(
        "SELECT {select} FROM {} WHERE {filter}",
        config.table
    ))
}

#[async_trait]
impl Lookup for PostgresLookup {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn lookup(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch> {
        if keys.len() != self.key_columns.len() {
            return Err(EngineError::Internal(format!(
                "lookup on postgres source '{}' got {} key arrays for {} key columns",
                self.source,
                keys.len(),
                self.key_columns.len()
            )));
        }
        // Keys arrive with the join's types; send and compare them as the
        // key columns' declared types.
        let keys = keys
            .iter()
            .zip(&self.key_columns)
            .map(|(k, &c)| cast(k, self.schema.field(c).data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys[0].is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        if self.cache.is_some() {
            self.lookup_cached(&keys).await
        } else {
            self.fetch(&keys).await
        }
    }
}
