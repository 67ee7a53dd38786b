//! [`EpochWriter`]: the statements of one epoch's transaction, built once at
//! `open` from the mode, the guarantee and the table, and run per epoch.
//!
//! | mode        | in the transaction                                              |
//! |-------------|-----------------------------------------------------------------|
//! | `append`    | `COPY target`                                                   |
//! | `overwrite` | `DELETE FROM target`, `COPY target`                             |
//! | `upsert`    | `COPY staging`, `INSERT INTO target SELECT DISTINCT ON (key) … FROM staging ON CONFLICT (key) DO UPDATE` |
//!
//! Under `exactly_once` the progress row is locked first and advanced last
//! (see [`super::progress`]). `overwrite` deletes rather than truncates so
//! that readers keep seeing the previous contents until the commit instead
//! of waiting on an exclusive lock.
//!
//! The upsert staging table is a temporary table of the session
//! (`ON COMMIT DELETE ROWS`), created once per connection with the target's
//! column types plus a row counter filled by COPY in arrival order: within
//! an epoch the last row of a key wins.

use bytes::BytesMut;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result};
use futures::{SinkExt, pin_mut};
use tokio_postgres::{Client, Transaction};

use super::copy::{CopyEncoder, PreparedBatch};
use super::progress::{ProgressTable, WriterId};
use super::target::{TableName, quote_ident};
use super::{Guarantee, WriteMode};

/// The session-local staging table of upserts.
const STAGING_TABLE: &str = "pg_temp.eddy_upsert_staging";
/// Its row counter: the order in which COPY delivered the rows.
const STAGING_SEQ: &str = "\"eddy row order\"";

/// A failure inside a database round trip, before it is classified.
pub enum Failure {
    Pg(tokio_postgres::Error),
    Engine(EngineError),
    /// The progress row moved between the lock and the advance.
    LostRace {
        seen: i64,
        epoch: i64,
    },
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

/// The upsert's staging table and merge.
#[derive(Debug, Clone)]
struct Staging {
    create_sql: String,
    merge_sql: String,
}

/// What `open` established: how to encode rows and what to run per epoch.
#[derive(Debug, Clone)]
pub struct EpochWriter {
    encoder: CopyEncoder,
    copy_sql: String,
    /// `overwrite`: empties the table first.
    clear_sql: Option<String>,
    /// `upsert`.
    staging: Option<Staging>,
    /// `exactly_once`.
    progress: Option<ProgressTable>,
    batch_size: usize,
}

impl EpochWriter {
    pub fn new(
        table: &TableName,
        schema: &SchemaRef,
        encoder: CopyEncoder,
        (mode, guarantee): (&WriteMode, Guarantee),
        batch_size: usize,
    ) -> EpochWriter {
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        let columns = columns.join(", ");
        let copy_into = |t: &str| format!("COPY {t} ({columns}) FROM STDIN (FORMAT binary)");
        let (copy_sql, clear_sql, staging) = match mode {
            WriteMode::Append => (copy_into(&table.quoted()), None, None),
            WriteMode::Overwrite { .. } => (
                copy_into(&table.quoted()),
                Some(format!("DELETE FROM {table}")),
                None,
            ),
            WriteMode::Upsert { key } => (
                copy_into(STAGING_TABLE),
                None,
                Some(Staging {
                    create_sql: format!(
                        "CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS AS \
                           SELECT {columns} FROM {table} WITH NO DATA; \
                         ALTER TABLE {STAGING_TABLE} ADD COLUMN IF NOT EXISTS {STAGING_SEQ} \
                           bigint GENERATED ALWAYS AS IDENTITY"
                    ),
                    merge_sql: merge_sql(table, schema, key),
                }),
            ),
        };
        EpochWriter {
            encoder,
            copy_sql,
            clear_sql,
            staging,
            progress: (guarantee == Guarantee::ExactlyOnce).then(|| ProgressTable::beside(table)),
            batch_size,
        }
    }

    /// Run once when the sink opens.
    pub fn setup_sql(&self) -> Option<&str> {
        self.progress.as_ref().map(ProgressTable::create_sql)
    }

    /// Run once on every new connection, outside a transaction.
    pub fn session_sql(&self) -> Option<&str> {
        self.staging.as_ref().map(|s| s.create_sql.as_str())
    }

    /// Casts the epoch's batches for encoding. `None` when the epoch needs
    /// no transaction: no rows, in a mode where no rows change nothing (an
    /// empty `overwrite` epoch empties the table).
    pub fn prepare(&self, batches: &[RecordBatch]) -> Result<Option<Vec<PreparedBatch>>> {
        let prepared = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| self.encoder.prepare(b))
            .collect::<Result<Vec<_>>>()?;
        Ok((!prepared.is_empty() || self.clear_sql.is_some()).then_some(prepared))
    }

    /// Writes one epoch in one transaction. `None` if the progress table
    /// says PostgreSQL already holds it. A transaction cut short by an
    /// error rolls back when dropped.
    pub async fn write(
        &self,
        client: &mut Client,
        id: WriterId<'_>,
        epoch: i64,
        batches: &[PreparedBatch],
    ) -> Result<Option<u64>, Failure> {
        let tx = client.transaction().await?;
        let seen = match &self.progress {
            Some(progress) => {
                let seen = progress.lock(&tx, id).await?;
                if seen >= epoch {
                    return Ok(None);
                }
                Some(seen)
            }
            None => None,
        };
        if let Some(sql) = &self.clear_sql {
            tx.execute(sql.as_str(), &[]).await?;
        }
        let mut rows = self.copy(&tx, batches).await?;
        if let Some(staging) = &self.staging {
            rows = tx.execute(staging.merge_sql.as_str(), &[]).await?;
        }
        if let (Some(progress), Some(seen)) = (&self.progress, seen)
            && !progress.advance(&tx, id, seen, epoch).await?
        {
            return Err(Failure::LostRace { seen, epoch });
        }
        tx.commit().await?;
        Ok(Some(rows))
    }

    /// Sends the rows with binary COPY in chunks of `batch_size` rows.
    async fn copy(&self, tx: &Transaction<'_>, batches: &[PreparedBatch]) -> Result<u64, Failure> {
        if batches.is_empty() {
            return Ok(0);
        }
        let copy = tx.copy_in(self.copy_sql.as_str()).await?;
        pin_mut!(copy);
        let mut buf = BytesMut::new();
        self.encoder.write_header(&mut buf);
        let mut in_chunk = 0;
        for batch in batches {
            let mut start = 0;
            while start < batch.num_rows() {
                let take = (batch.num_rows() - start).min(self.batch_size - in_chunk);
                self.encoder
                    .encode_rows(batch, start..start + take, &mut buf)?;
                start += take;
                in_chunk += take;
                if in_chunk == self.batch_size {
                    copy.send(buf.split().freeze()).await?;
                    in_chunk = 0;
                }
            }
        }
        self.encoder.write_trailer(&mut buf);
        copy.send(buf.split().freeze()).await?;
        Ok(copy.as_mut().finish().await?)
    }
}

/// `INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE`: one
/// row per key, the last one staged.
fn merge_sql(table: &TableName, schema: &SchemaRef, key: &[String]) -> String {
    let quoted = |names: &mut dyn Iterator<Item = &String>| -> Vec<String> {
        names.map(|n| quote_ident(n)).collect()
    };
    let columns = quoted(&mut schema.fields().iter().map(|f| f.name())).join(", ");
    let key_list = quoted(&mut key.iter()).join(", ");
    let updates: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|name| !key.contains(name))
        .map(|name| {
            let name = quote_ident(name);
            format!("{name} = EXCLUDED.{name}")
        })
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    format!(
        "INSERT INTO {table} ({columns}) \
         SELECT DISTINCT ON ({key_list}) {columns} FROM {STAGING_TABLE} \
         ORDER BY {key_list}, {STAGING_SEQ} DESC \
         ON CONFLICT ({key_list}) {action}"
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn merge_keeps_the_last_row_per_key() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Date32, false),
            Field::new("Id", DataType::Int64, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let table = TableName::parse("s.t").unwrap();
        let key = ["Id".to_string(), "day".to_string()];
        assert_eq!(
            merge_sql(&table, &schema, &key),
            "INSERT INTO \"s\".\"t\" (\"day\", \"Id\", \"n\") \
             SELECT DISTINCT ON (\"Id\", \"day\") \"day\", \"Id\", \"n\" FROM pg_temp.eddy_upsert_staging \
             ORDER BY \"Id\", \"day\", \"eddy row order\" DESC \
             ON CONFLICT (\"Id\", \"day\") DO UPDATE SET \"n\" = EXCLUDED.\"n\""
        );
        let key_only: SchemaRef = Arc::new(Schema::new(vec![schema.field(1).clone()]));
        assert!(
            merge_sql(&table, &key_only, &key[..1]).ends_with("ON CONFLICT (\"Id\") DO NOTHING")
        );
    }
}
