//! [`StoredTable`]: one table's rows in memory (one [`Chunk`] per segment
//! on disk), its key indexes, and the reads: columnar scans, point lookups,
//! versions. Writes are in `write.rs`, compaction in `compaction.rs`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter_record_batch, interleave};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::scalar::ScalarValue;

use super::conflicts::ChangeLog;
use super::constraints::TableConstraints;
use super::error::{TableError, TableResult, values_text};
use super::index::{KeyIndex, RowLoc};
use super::segment::{self, Supersedes, Tombstone};

/// One table: its schema, constraints, rows and indexes.
pub struct StoredTable {
    pub(super) name: String,
    pub(super) schema: SchemaRef,
    pub(super) dir: PathBuf,
    /// Whether writes fsync (always, except in benchmarks that measure
    /// the rest).
    pub(super) sync: bool,
    pub(super) state: Mutex<TableState>,
}

/// Everything a write changes, behind the table's one lock: writes are
/// serialised, reads take a snapshot of `Arc`ed arrays.
pub(super) struct TableState {
    pub constraints: TableConstraints,
    /// The columns refusing NULL (NOT NULL and primary key).
    pub non_null: Vec<usize>,
    /// The rows, one chunk per live segment, in segment order.
    pub chunks: Vec<Chunk>,
    /// One per key of `constraints`: the primary key's first.
    pub indexes: Vec<KeyIndex>,
    /// Each streaming query's last applied epoch.
    pub writers: BTreeMap<String, u64>,
    /// First live segment; the manifest names it.
    pub first_segment: u64,
    pub next_segment: u64,
    /// Changes with every write that changes the rows.
    pub version: u64,
    pub changes: ChangeLog,
    pub live_rows: usize,
    /// Deleted rows still stored (until compaction drops them).
    pub dead_rows: usize,
}

/// The rows of one segment.
pub(super) struct Chunk {
    pub segment: u64,
    pub rows: RecordBatch,
    /// Set for deleted rows; `None` while none is.
    pub deleted: Option<Vec<bool>>,
    pub deleted_count: usize,
    /// The rows of older segments this segment's write deleted: a merge of
    /// this segment must carry them on.
    pub tombstones: Vec<Tombstone>,
    /// How many merges made this chunk: a write is level 0, a merge of
    /// level-`l` chunks is `l + 1` (see `compaction`).
    pub level: u32,
    /// `rows` without the deleted ones, computed on the first scan after a
    /// delete.
    visible: Option<RecordBatch>,
}

impl Chunk {
    pub fn new(segment: u64, rows: RecordBatch, tombstones: Vec<Tombstone>) -> Chunk {
        Chunk {
            segment,
            rows,
            deleted: None,
            deleted_count: 0,
            tombstones,
            level: 0,
            visible: None,
        }
    }

    pub fn is_live(&self, row: usize) -> bool {
        self.deleted.as_ref().is_none_or(|d| !d[row])
    }

    /// Marks a row deleted; false if it already was.
    pub fn delete(&mut self, row: usize) -> bool {
        let n = self.rows.num_rows();
        let deleted = self.deleted.get_or_insert_with(|| vec![false; n]);
        if std::mem::replace(&mut deleted[row], true) {
            return false;
        }
        self.deleted_count += 1;
        self.visible = None;
        true
    }

    pub fn live_count(&self) -> usize {
        self.rows.num_rows() - self.deleted_count
    }

    /// How much a merge of this chunk rewrites.
    pub fn weight(&self) -> usize {
        self.rows.num_rows() + self.tombstones.len() + 1
    }

    /// The live rows: the stored batch itself while none is deleted.
    pub fn visible(&mut self) -> TableResult<RecordBatch> {
        let Some(deleted) = &self.deleted else {
            return Ok(self.rows.clone());
        };
        if self.visible.is_none() {
            let mask = BooleanArray::from_iter(deleted.iter().map(|d| Some(!d)));
            self.visible = Some(filter_record_batch(&self.rows, &mask)?);
        }
        Ok(self.visible.clone().expect("just computed"))
    }
}

impl StoredTable {
    /// Loads a table's segments from `dir` (empty for a new table) and
    /// indexes them.
    pub(super) fn load(
        name: &str,
        dir: PathBuf,
        schema: SchemaRef,
        constraints: TableConstraints,
        sync: bool,
    ) -> TableResult<StoredTable> {
        constraints.check_columns(name, schema.fields().len())?;
        let first_segment = segment::read_manifest(&dir, name)?;
        let segments = segment::list_segments(&dir)?;
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut writers = BTreeMap::new();
        for &seq in segments.iter().filter(|&&s| s >= first_segment) {
            let seg = segment::read_segment(&dir, seq, &schema, name)?;
            match seg.supersedes {
                Supersedes::Nothing => {}
                Supersedes::From(first) => chunks.retain(|c| c.segment < first),
                Supersedes::All => {
                    chunks.clear();
                    writers.clear();
                }
            }
            for (writer, epoch) in seg.writers {
                let done: &mut u64 = writers.entry(writer).or_default();
                *done = (*done).max(epoch);
            }
            for &(target, row) in &seg.tombstones {
                let chunk = chunks
                    .binary_search_by_key(&target, |c| c.segment)
                    .ok()
                    .and_then(|i| chunks.get_mut(i))
                    .filter(|c| (row as usize) < c.rows.num_rows())
                    .ok_or_else(|| TableError::Corrupt {
                        table: name.to_string(),
                        reason: format!(
                            "segment {seq} deletes row {row} of segment {target}, which has no such row"
                        ),
                    })?;
                chunk.delete(row as usize);
            }
            let merged = matches!(seg.supersedes, Supersedes::From(_));
            let mut chunk = Chunk::new(seq, seg.rows, seg.tombstones);
            if merged {
                chunk.level = super::compaction::level_of_merged(chunk.weight());
            }
            chunks.push(chunk);
        }
        // What a base or a merge replaced, and a crash left behind.
        for &seq in &segments {
            if chunks.binary_search_by_key(&seq, |c| c.segment).is_err() {
                let _ = fs::remove_file(segment::segment_path(&dir, seq));
            }
        }
        let next_segment = segments
            .last()
            .map_or(first_segment, |s| s + 1)
            .max(first_segment);
        let mut state = TableState {
            non_null: constraints.non_null_columns(),
            constraints,
            chunks,
            indexes: Vec::new(),
            writers,
            first_segment,
            next_segment,
            version: next_segment,
            changes: ChangeLog::default(),
            live_rows: 0,
            dead_rows: 0,
        };
        state.live_rows = state.chunks.iter().map(Chunk::live_count).sum();
        state.dead_rows = state.chunks.iter().map(|c| c.deleted_count).sum();
        state.indexes = build_indexes(name, &schema, &state.constraints, &state.chunks, false)?;
        Ok(StoredTable {
            name: name.to_string(),
            schema,
            dir,
            sync,
            state: Mutex::new(state),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, TableState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn constraints(&self) -> TableConstraints {
        self.lock().constraints.clone()
    }

    /// Replaces the constraints (ALTER TABLE adding or dropping a key or
    /// NOT NULL). Fails, changing nothing, if the stored rows violate them:
    /// 23505 with `Key (k)=(v) is duplicated.`, or 23502.
    pub fn set_constraints(&self, constraints: TableConstraints) -> TableResult<()> {
        constraints.check_columns(&self.name, self.schema.fields().len())?;
        let mut state = self.lock();
        let non_null = constraints.non_null_columns();
        for chunk in state.chunks.iter_mut() {
            let visible = chunk.visible()?;
            super::write::check_not_null(&self.name, &non_null, &visible)?;
        }
        let indexes = build_indexes(&self.name, &self.schema, &constraints, &state.chunks, true)?;
        state.constraints = constraints;
        state.non_null = non_null;
        state.indexes = indexes;
        Ok(())
    }

    /// A snapshot of the live rows, columnar: the stored batches themselves
    /// (shared, not copied) while none of their rows is deleted.
    pub fn batches(&self) -> Vec<RecordBatch> {
        live_batches(&mut self.lock())
    }

    /// Changes whenever the rows change.
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    /// The current version, to base an optimistic write set on (see
    /// [`WriteSet::based_on`](super::WriteSet::based_on)). From the first
    /// call on, the table records which keys each write changes.
    pub fn read_version(&self) -> u64 {
        let mut state = self.lock();
        let version = state.version;
        state.changes.enable(version);
        version
    }

    /// The live rows and the version they are, read at one instant: what
    /// a transaction that rewrites rows bases its write set on. Like
    /// [`read_version`](Self::read_version), it starts the change log.
    pub fn snapshot(&self) -> (u64, Vec<RecordBatch>) {
        let mut state = self.lock();
        let version = state.version;
        state.changes.enable(version);
        (version, live_batches(&mut state))
    }

    pub fn row_count(&self) -> usize {
        self.lock().live_rows
    }

    /// The row with primary key `key` (one value per key column, converted
    /// to the column's type), as a one-row batch sharing the stored arrays.
    pub fn get(&self, key: &[ScalarValue]) -> TableResult<Option<RecordBatch>> {
        let columns = key
            .iter()
            .map(|v| v.to_array_of_size(1).map_err(|e| self.schema_error(e)))
            .collect::<TableResult<Vec<ArrayRef>>>()?;
        let found = self.get_many(&columns)?;
        Ok((found.num_rows() > 0).then_some(found))
    }

    /// The rows whose primary keys are given (one array per key column, of
    /// any length), in the order of the keys; missing keys give no row.
    pub fn get_many(&self, keys: &[ArrayRef]) -> TableResult<RecordBatch> {
        let state = self.lock();
        let index = state.primary_index(&self.name, "a lookup by key")?;
        let keys = self.key_arrays(index, keys)?;
        let encoded = index.encode(&keys)?;
        let valid = KeyIndex::valid(&keys);
        let mut picks: Vec<(usize, usize)> = Vec::new();
        let mut sources: Vec<usize> = Vec::new();
        for i in 0..encoded.num_rows() {
            if valid.as_ref().is_some_and(|v| v.is_null(i)) {
                continue;
            }
            if let Some(loc) = index.find(encoded.row(i).data()) {
                let chunk = loc.chunk as usize;
                let source = match sources.iter().position(|&c| c == chunk) {
                    Some(s) => s,
                    None => {
                        sources.push(chunk);
                        sources.len() - 1
                    }
                };
                picks.push((source, loc.row as usize));
            }
        }
        if let [(source, row)] = picks[..] {
            return Ok(state.chunks[sources[source]].rows.slice(row, 1));
        }
        let columns = (0..self.schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn Array> = sources
                    .iter()
                    .map(|&s| state.chunks[s].rows.column(c).as_ref())
                    .collect();
                if arrays.is_empty() {
                    return Ok(datafusion::arrow::array::new_empty_array(
                        self.schema.field(c).data_type(),
                    ));
                }
                interleave(&arrays, &picks)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// Key columns converted to the key's column types.
    pub(super) fn key_arrays(
        &self,
        index: &KeyIndex,
        keys: &[ArrayRef],
    ) -> TableResult<Vec<ArrayRef>> {
        let columns = &index.constraint.columns;
        if keys.len() != columns.len() {
            return Err(self.schema_error(format!(
                "the key of \"{}\" has {} columns, {} given",
                index.constraint.name,
                columns.len(),
                keys.len()
            )));
        }
        keys.iter()
            .zip(columns)
            .map(|(k, &c)| {
                let target = self.schema.field(c).data_type();
                if k.data_type() == target {
                    Ok(k.clone())
                } else {
                    cast(k, target).map_err(|e| self.schema_error(e))
                }
            })
            .collect()
    }

    pub(super) fn schema_error(&self, reason: impl std::fmt::Display) -> TableError {
        TableError::Schema {
            table: self.name.clone(),
            reason: reason.to_string(),
        }
    }
}

impl TableState {
    /// The primary key's index, or why `action` cannot be done.
    pub fn primary_index(&self, table: &str, action: &'static str) -> TableResult<&KeyIndex> {
        match self.constraints.primary_key {
            Some(_) => Ok(&self.indexes[0]),
            None => Err(TableError::NoPrimaryKey {
                table: table.to_string(),
                action,
            }),
        }
    }
}

/// Indexes every live row of `chunks` by each key of `constraints`. A key
/// held by two rows fails with 23505 when `strict` (a new constraint on
/// existing rows); otherwise (rows written before the constraint was
/// enforced by every writer) the newest row is indexed and a warning logged.
fn live_batches(state: &mut TableState) -> Vec<RecordBatch> {
    let mut out = Vec::with_capacity(state.chunks.len());
    for chunk in state.chunks.iter_mut() {
        if chunk.live_count() == 0 {
            continue;
        }
        match chunk.visible() {
            Ok(b) => out.push(b),
            // Filtering a batch by a mask of its own length cannot fail.
            Err(e) => unreachable!("filtering live rows failed: {e}"),
        }
    }
    out
}

pub(super) fn build_indexes(
    table: &str,
    schema: &SchemaRef,
    constraints: &TableConstraints,
    chunks: &[Chunk],
    strict: bool,
) -> TableResult<Vec<KeyIndex>> {
    let mut indexes = Vec::new();
    for key in constraints.keys() {
        let mut index = KeyIndex::new(key.clone(), schema)?;
        index.reserve(chunks.iter().map(Chunk::live_count).sum());
        let mut duplicates = 0usize;
        for (c, chunk) in chunks.iter().enumerate() {
            index.push_chunk(&chunk.rows)?;
            for row in (0..chunk.rows.num_rows()).filter(|&r| chunk.is_live(r)) {
                let loc = RowLoc {
                    chunk: c as u32,
                    row: row as u32,
                };
                if index.insert(loc).is_none() {
                    continue;
                }
                if strict {
                    let names: Vec<&str> = key
                        .columns
                        .iter()
                        .map(|&i| schema.field(i).name().as_str())
                        .collect();
                    let values = values_text(&index.key_columns(&chunk.rows), row);
                    return Err(TableError::UniqueViolation {
                        table: table.to_string(),
                        constraint: key.name.clone(),
                        detail: format!("Key ({})={values} is duplicated.", names.join(", ")),
                    });
                }
                duplicates += 1;
            }
        }
        if duplicates > 0 {
            tracing::warn!(
                table,
                constraint = key.name,
                duplicates,
                "table holds rows with duplicate keys (written before the constraint was enforced); \
                 only the newest of each is found by key"
            );
        }
        indexes.push(index);
    }
    Ok(indexes)
}
