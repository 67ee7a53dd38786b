//! `eddy_sink_progress(sink, query, partition, epoch)`: the last epoch each
//! writer committed, kept in the target table's schema and advanced in the
//! same transaction as the epoch's rows.
//!
//! The advance is a strict compare-and-set. Inside the epoch's transaction
//! the writer makes sure its row exists, locks it and reads the epoch it
//! holds (`seen`); an epoch at or below `seen` is already in the table and
//! is skipped. Otherwise the rows are written and the row moves from `seen`
//! to the new epoch only if it still reads `seen`:
//!
//! ```text
//!   writer A                         PostgreSQL                    writer B
//!   INSERT … epoch 0 ON CONFLICT DO NOTHING ─▶│◀─ INSERT … ON CONFLICT (waits for A's row)
//!   SELECT epoch FOR UPDATE → seen 0 ────────▶│◀─ SELECT … FOR UPDATE   (waits for A's lock)
//!   rows; UPDATE … SET epoch = 1              │
//!         WHERE epoch = 0 → 1 row ───────────▶│
//!   COMMIT ──────────────────────────────────▶│─▶ seen = 1 ≥ 1: ROLLBACK, skipped
//! ```
//!
//! The row lock serializes writers of one (sink, query, partition); the
//! `WHERE epoch = seen` guard makes a writer that somehow read a stale value
//! (a changed isolation level, a hand-edited row) fail instead of
//! committing over another's epoch. `partition` is always 0 today: it is
//! reserved for parallel writers of one query, each owning one partition.

use tokio_postgres::{Error, Transaction};

use super::target::TableName;

/// Name of the progress table, in the target table's schema.
pub const PROGRESS_TABLE: &str = "eddy_sink_progress";

/// The partition of the single writer a query has today.
pub const PARTITION: i32 = 0;

/// Which progress row a writer owns.
#[derive(Debug, Clone, Copy)]
pub struct WriterId<'a> {
    pub sink: &'a str,
    pub query: &'a str,
}

/// The statements on one progress table.
#[derive(Debug, Clone)]
pub struct ProgressTable {
    create_sql: String,
    ensure_sql: String,
    lock_sql: String,
    advance_sql: String,
}

impl ProgressTable {
    /// The progress table beside `target`.
    pub fn beside(target: &TableName) -> ProgressTable {
        let t = target.sibling(PROGRESS_TABLE);
        let row = "sink = $1 AND query = $2 AND partition = $3";
        ProgressTable {
            create_sql: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                   sink text NOT NULL, query text NOT NULL, partition integer NOT NULL, \
                   epoch bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), \
                   PRIMARY KEY (sink, query, partition))"
            ),
            ensure_sql: format!(
                "INSERT INTO {t} (sink, query, partition, epoch) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (sink, query, partition) DO NOTHING"
            ),
            lock_sql: format!("SELECT epoch FROM {t} WHERE {row} FOR UPDATE"),
            advance_sql: format!(
                "UPDATE {t} SET epoch = $4, updated_at = now() WHERE {row} AND epoch = $5"
            ),
        }
    }

    /// `CREATE TABLE IF NOT EXISTS`, run once when the sink opens.
    pub fn create_sql(&self) -> &str {
        &self.create_sql
    }

    /// Locks the writer's row (creating it at epoch 0 if needed) until the
    /// transaction ends, and returns the last epoch committed.
    pub async fn lock(&self, tx: &Transaction<'_>, id: WriterId<'_>) -> Result<i64, Error> {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&id.sink, &id.query, &PARTITION];
        tx.execute(&self.ensure_sql, &params).await?;
        Ok(tx.query_one(&self.lock_sql, &params).await?.get(0))
    }

    /// Moves the row from `seen` to `epoch`; false if it no longer read
    /// `seen`.
    pub async fn advance(
        &self,
        tx: &Transaction<'_>,
        id: WriterId<'_>,
        seen: i64,
        epoch: i64,
    ) -> Result<bool, Error> {
        let updated = tx
            .execute(
                &self.advance_sql,
                &[&id.sink, &id.query, &PARTITION, &epoch, &seen],
            )
            .await?;
        Ok(updated == 1)
    }
}
