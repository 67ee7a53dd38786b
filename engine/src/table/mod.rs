//! Eddy's own tables: keyed, durable storage that every writer goes
//! through — `INSERT`/`UPDATE`/`DELETE`, transactions, the `table` sink,
//! late-rows and dead-letter tables — so that the primary key, unique keys
//! and NOT NULL hold whoever writes.
//!
//! # Layout
//!
//! - [`constraints`]: [`TableConstraints`], built from the catalog's
//!   `TableDef`.
//! - `stored`: [`StoredTable`], rows in memory as Arrow batches (one
//!   *chunk* per segment file), reads: [`StoredTable::batches`],
//!   [`StoredTable::get`], versions.
//! - `index`: a hash index per key, from the key's bytes in Arrow's row
//!   format to the row's location (8 bytes a row plus the encoded key).
//! - `write`: [`WriteSet`], the one atomic write: deletes by key or by
//!   value, inserts or upserts, an optional base version (optimistic
//!   concurrency) and epoch marker (exactly-once sinks); `rewrite`: the
//!   write set between a snapshot and new contents
//!   ([`WriteSet::rewrite`]); `replace`: every row at once
//!   ([`StoredTable::replace_all`]); `together`: write sets for several tables,
//!   all checked before any is written ([`write_together`]).
//! - `conflicts`: the change log behind 40001.
//! - `segment`: the files; `compaction`: merging them.
//! - `provider`: [`StoredTableProvider`], a DataFusion table whose scan
//!   uses the primary key for `k = literal` filters.
//! - [`TableError`]: refusals with SQLSTATE, message and detail.
//!
//! # Storage
//!
//! A table is a directory of Arrow IPC segments; each write appends one,
//! holding the rows it adds and, as tombstones, the locations of the rows
//! it deletes (an upsert deletes the rows it replaces). A segment is
//! written to a temporary name, fsynced and renamed, so a write is whole or
//! absent after a crash; loading replays the segments in order. Deleted
//! rows stay in their batch, marked in a per-chunk bitmap, until compaction
//! (see `compaction`) drops them; scans filter them out and hand out the
//! stored batches themselves when none is deleted. A write of one row into
//! a table of any size costs one small segment, index probes and amortised
//! compaction — no scan of the table.
//!
//! ```text
//!  writer            StoredTable (locked)                     disk
//!    │ write(ws) ──▶ epoch applied? ── yes ──▶ Ok(applied: false)
//!    │               NOT NULL, deletes, upsert targets,
//!    │               base version (40001), unique keys (23505)
//!    │               ── any refusal: Err, nothing changed
//!    │                          │ segment: rows + tombstones + writers
//!    │                          └──────────────────────────▶ <seq>.tmp, fsync,
//!    │                                                      rename, fsync dir
//!    │               tombstone rows, update indexes, version += 1
//!    │ ◀── Ok(outcome)          │ maybe compact (merge tail / new base)
//! ```
//!
//! # How the server uses it
//!
//! Tables are created and loaded with their definition:
//! `store.create_or_load_with(name, schema, TableConstraints::from_table_def(&def)?)`
//! (and [`StoredTable::set_constraints`] after an `ALTER TABLE` that adds
//! or drops a key). Errors are [`TableError`]s: map `code()`, the message
//! and `detail()` to the client's error.
//!
//! ```ignore
//! // INSERT (outside a transaction): constraint errors carry 23505/23502.
//! table.write(WriteSet::insert(rows))?;
//! // INSERT … ON CONFLICT (k) DO UPDATE, or a sink's upsert:
//! table.write(WriteSet::upsert(rows))?;
//! // UPDATE t SET … WHERE p: the server evaluates p with DataFusion over
//! // table.batches() and computes the old rows' keys and the new rows.
//! table.write(WriteSet::new().delete_keys(old_keys).with_rows([new_rows]))?;
//! // DELETE FROM t WHERE p (a table without a primary key: by values):
//! table.write(WriteSet::new().delete_rows(matching_rows))?;
//! ```
//!
//! # Transactions: optimistic concurrency
//!
//! A transaction reads `let v = table.read_version()` when it first
//! touches a table and keeps its own pending changes (reading its writes
//! over `table.batches()`). At COMMIT it hands the table one write set
//! with everything, based on `v`:
//!
//! ```ignore
//! let ws = WriteSet::new()
//!     .delete_keys(keys_it_deleted_or_updated)
//!     .with_rows(rows_it_inserted_or_updated)
//!     .based_on(v);
//! match table.write(ws) {
//!     Ok(outcome) => {}                                         // committed
//!     Err(e) if e.code() == "40001" => {} // another writer changed those rows: roll back
//!     Err(e) => {}                        // 23505, 23502: roll back with that error
//! }
//! ```
//!
//! The write fails with 40001 (`could not serialize access due to
//! concurrent update`), changing nothing, if a row it deletes or replaces
//! was inserted, replaced or deleted by anyone after `v`; rows others
//! appended meanwhile with other keys do not make it fail (their keys are
//! still checked against its inserts: 23505). Without a primary key, rows
//! are deleted by value and a row that is no longer there fails it. A
//! transaction over several tables hands them to [`write_together`], which
//! checks every table's write set before writing any.

mod appends;
mod compaction;
mod conflicts;
pub mod constraints;
mod error;
mod index;
mod provider;
mod replace;
mod rewrite;
mod segment;
mod stored;
mod together;
mod write;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::SchemaRef;

pub use constraints::{KeyConstraint, TableConstraints};
pub use error::{TableError, TableResult};
pub use provider::StoredTableProvider;
pub use segment::write_atomically;
pub use stored::StoredTable;
pub use together::write_together;
pub use write::{OnConflict, WriteOutcome, WriteSet};

use crate::{EngineError, Result};

/// Every table of a database: one directory each under `dir`.
pub struct TableStore {
    dir: PathBuf,
    /// Whether writes fsync; off only for benchmarks measuring the rest.
    sync: bool,
    tables: RwLock<HashMap<String, Arc<StoredTable>>>,
}

impl TableStore {
    pub fn open(dir: &Path) -> Result<TableStore> {
        fs::create_dir_all(dir)?;
        Ok(TableStore {
            dir: dir.to_path_buf(),
            sync: true,
            tables: RwLock::new(HashMap::new()),
        })
    }

    /// Writes without fsync: a crash may lose acknowledged writes. For
    /// benchmarks that measure the storage apart from the disk.
    pub fn without_fsync(mut self) -> TableStore {
        self.sync = false;
        self
    }

    fn table_dir(&self, name: &str) -> PathBuf {
        // Names can be any quoted identifier; hex keeps the file name safe.
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(hex)
    }

    /// Creates an empty table, or opens the existing data of one that was
    /// created before a restart, enforcing only the NOT NULL of the
    /// schema's non-nullable fields. Prefer
    /// [`create_or_load_with`](Self::create_or_load_with).
    pub fn create_or_load(&self, name: &str, schema: SchemaRef) -> Result<Arc<StoredTable>> {
        let constraints = TableConstraints::from_schema(&schema);
        Ok(self.create_or_load_with(name, schema, constraints)?)
    }

    /// Creates an empty table, or loads an existing one, with its
    /// constraints (indexes are built while loading).
    pub fn create_or_load_with(
        &self,
        name: &str,
        schema: SchemaRef,
        constraints: TableConstraints,
    ) -> TableResult<Arc<StoredTable>> {
        let dir = self.table_dir(name);
        fs::create_dir_all(&dir)?;
        let table = Arc::new(StoredTable::load(
            name,
            dir,
            schema,
            constraints,
            self.sync,
        )?);
        self.tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), table.clone());
        Ok(table)
    }

    pub fn get(&self, name: &str) -> Result<Arc<StoredTable>> {
        self.tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::Config(format!("table \"{name}\" does not exist")))
    }

    /// Removes a table and its data.
    pub fn drop_table(&self, name: &str) -> Result<()> {
        self.tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        let dir = self.table_dir(name);
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
