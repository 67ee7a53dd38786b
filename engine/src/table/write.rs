//! Writes: a [`WriteSet`] (rows deleted by key or by value, rows inserted
//! or upserted, an optional base version and epoch marker) applied
//! atomically and durably as one segment.
//!
//! A write set is checked completely before anything is written, so a
//! refused write changes nothing: NOT NULL, then the rows it deletes and
//! replaces (and, with a base version, whether another writer changed them
//! since), then every unique key over the rows that remain plus the new
//! ones. Deletes apply before inserts, so an UPDATE (delete the old rows,
//! insert the new ones) may keep a row's key.

use hashbrown::{HashMap, HashSet};

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::row::{RowConverter, SortField};

use super::error::{TableError, TableResult, values_text};
use super::index::{KeyIndex, RowLoc};
use super::segment::{self, Segment, Supersedes};
use super::stored::{Chunk, StoredTable, TableState};

/// What an inserted row does to a stored row with the same primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// The write fails with 23505 (`INSERT`).
    #[default]
    Error,
    /// The stored row is replaced (upsert; needs a primary key). Of rows
    /// with the same key in one write set, the last one wins.
    Replace,
}

/// One atomic write to a table. Build it with the methods below and apply
/// it with [`StoredTable::write`].
#[derive(Debug, Clone, Default)]
pub struct WriteSet {
    rows: Vec<RecordBatch>,
    on_conflict: OnConflict,
    delete_keys: Vec<Vec<ArrayRef>>,
    delete_rows: Vec<RecordBatch>,
    based_on: Option<u64>,
    epoch: Option<(String, u64)>,
}

impl WriteSet {
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    /// Rows to insert; a key already present fails the write (23505).
    pub fn insert(rows: Vec<RecordBatch>) -> WriteSet {
        WriteSet {
            rows,
            ..WriteSet::default()
        }
    }

    /// Rows to insert, replacing stored rows with the same primary key.
    pub fn upsert(rows: Vec<RecordBatch>) -> WriteSet {
        WriteSet {
            rows,
            on_conflict: OnConflict::Replace,
            ..WriteSet::default()
        }
    }

    /// Adds rows to insert (with the table's columns, in order).
    pub fn with_rows(mut self, rows: impl IntoIterator<Item = RecordBatch>) -> WriteSet {
        self.rows.extend(rows);
        self
    }

    pub fn on_conflict(mut self, on_conflict: OnConflict) -> WriteSet {
        self.on_conflict = on_conflict;
        self
    }

    /// Deletes the rows with these primary keys (one array per key column,
    /// in key order, any equal length). Missing keys are skipped.
    pub fn delete_keys(mut self, keys: Vec<ArrayRef>) -> WriteSet {
        self.delete_keys.push(keys);
        self
    }

    /// Deletes these rows (with the table's columns): by primary key when
    /// the table has one, otherwise one stored row of equal values per row
    /// given. This is how a table without a key is updated.
    pub fn delete_rows(mut self, rows: RecordBatch) -> WriteSet {
        self.delete_rows.push(rows);
        self
    }

    /// Makes the write optimistic: it was computed from the table at
    /// `version` (from [`StoredTable::read_version`]). If a row it deletes
    /// or replaces changed since (or, for a table without a key, is gone),
    /// the write fails with 40001 and changes nothing. Rows it merely
    /// inserts are checked for uniqueness as usual.
    pub fn based_on(mut self, version: u64) -> WriteSet {
        self.based_on = Some(version);
        self
    }

    /// Marks the write as epoch `epoch` of streaming query `writer`: it is
    /// skipped if that epoch (or a later one) was applied, and the epoch is
    /// recorded in the same durable segment, so a replay changes nothing.
    pub fn for_epoch(mut self, writer: &str, epoch: u64) -> WriteSet {
        self.epoch = Some((writer.to_string(), epoch));
        self
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// False when the write set's epoch was already applied (nothing done).
    pub applied: bool,
    pub inserted: u64,
    /// Stored rows an upsert replaced.
    pub replaced: u64,
    /// Rows deleted by key or by value.
    pub deleted: u64,
    /// The table's version after the write.
    pub version: u64,
}

/// A write set checked under the table's lock: what is left to do.
pub(super) enum Checked {
    /// Nothing to write: the epoch was applied already, or nothing changes.
    Done(WriteOutcome),
    Write {
        segment: Segment,
        removal: Removal,
        replaced: u64,
        deleted: u64,
    },
}

/// The rows a write set takes away, each once, with the hash of their
/// primary key where the write found them by it.
#[derive(Default)]
pub(super) struct Removal {
    locs: Vec<RowLoc>,
    key_hashes: Vec<Option<u64>>,
    set: HashSet<RowLoc>,
}

impl Removal {
    fn add(&mut self, loc: RowLoc, key_hash: Option<u64>) -> bool {
        self.set.insert(loc) && {
            self.locs.push(loc);
            self.key_hashes.push(key_hash);
            true
        }
    }
}

impl StoredTable {
    /// Applies a write set atomically and durably (one fsynced segment).
    pub fn write(&self, ws: WriteSet) -> TableResult<WriteOutcome> {
        let mut state = self.lock();
        let checked = self.check_write(&mut state, ws)?;
        self.finish_write(&mut state, checked)
    }

    /// Everything [`write`](Self::write) checks, and the segment it would
    /// write, with nothing changed yet.
    pub(super) fn check_write(&self, state: &mut TableState, ws: WriteSet) -> TableResult<Checked> {
        if let Some((writer, epoch)) = &ws.epoch
            && state.writers.get(writer).is_some_and(|done| done >= epoch)
        {
            return Ok(Checked::Done(WriteOutcome {
                version: state.version,
                ..WriteOutcome::default()
            }));
        }
        let mut rows = self.conform(&ws.rows, &state.non_null)?;
        let mut removal = Removal::default();
        let mut deleted = 0u64;
        for keys in &ws.delete_keys {
            deleted += self.remove_keys(state, keys, ws.based_on, &mut removal)?;
        }
        for batch in &ws.delete_rows {
            let batch = self.conform(std::slice::from_ref(batch), &[])?;
            deleted += if state.constraints.primary_key.is_some() {
                let keys = state.indexes[0].key_columns(&batch);
                self.remove_keys(state, &keys, ws.based_on, &mut removal)?
            } else {
                self.remove_equal_rows(state, &batch, ws.based_on, &mut removal)?
            };
        }
        let mut replaced = 0u64;
        if ws.on_conflict == OnConflict::Replace && rows.num_rows() > 0 {
            let index = state.primary_index(&self.name, "an upsert")?;
            rows = last_of_each_key(index, rows)?;
            let keys = index.encode(&index.key_columns(&rows))?;
            for key in keys.iter() {
                let key = key.data();
                let hash = index.hash(key);
                let found = index
                    .find_hashed(key, hash)
                    .filter(|l| !removal.set.contains(l));
                if let Some(base) = ws.based_on
                    && state.changes.changed_after(key, base)
                {
                    return Err(self.conflict(found.is_some()));
                }
                if let Some(loc) = found {
                    removal.add(loc, Some(hash));
                    replaced += 1;
                }
            }
        }
        self.check_unique(state, &rows, &removal, ws.on_conflict)?;
        if rows.num_rows() == 0 && removal.locs.is_empty() {
            return Ok(Checked::Done(WriteOutcome {
                applied: true,
                version: state.version,
                ..WriteOutcome::default()
            }));
        }
        let mut writers = state.writers.clone();
        if let Some((writer, epoch)) = ws.epoch {
            writers.insert(writer, epoch);
        }
        let seq = state.next_segment;
        let segment = Segment {
            seq,
            tombstones: removal
                .locs
                .iter()
                .map(|l| (state.chunks[l.chunk as usize].segment, l.row))
                .collect(),
            rows,
            writers,
            supersedes: Supersedes::Nothing,
        };
        Ok(Checked::Write {
            segment,
            removal,
            replaced,
            deleted,
        })
    }

    /// Makes a checked write durable and applies it.
    pub(super) fn finish_write(
        &self,
        state: &mut TableState,
        checked: Checked,
    ) -> TableResult<WriteOutcome> {
        let (segment, removal, replaced, deleted) = match checked {
            Checked::Done(outcome) => return Ok(outcome),
            Checked::Write {
                segment,
                removal,
                replaced,
                deleted,
            } => (segment, removal, replaced, deleted),
        };
        segment::write_segment(&self.dir, &self.schema, &segment, self.sync)?;
        let inserted = segment.rows.num_rows() as u64;
        state.apply(segment, &removal)?;
        if let Err(e) = state.maybe_compact(self) {
            // The write is durable; compaction is tried again next time.
            tracing::warn!(table = self.name, error = %e, "table compaction failed");
        }
        Ok(WriteOutcome {
            applied: true,
            inserted,
            replaced,
            deleted,
            version: state.version,
        })
    }

    /// Checks rows an INSERT would add — NOT NULL, and every unique key
    /// against the stored rows and the other new rows, by the indexes —
    /// without writing them: the statement fails at once, as in
    /// PostgreSQL, while its rows are committed later.
    pub fn check_insert(&self, rows: &[RecordBatch]) -> TableResult<()> {
        let state = self.lock();
        let rows = self.conform(rows, &state.non_null)?;
        self.check_unique(&state, &rows, &Removal::default(), OnConflict::Error)
    }

    /// The rows of `batches` as one batch with the table's schema, after
    /// checking that the columns of `non_null` hold no NULL. Batches may
    /// differ from the table in nullability or field metadata, not in
    /// column types.
    pub(super) fn conform(
        &self,
        batches: &[RecordBatch],
        non_null: &[usize],
    ) -> TableResult<RecordBatch> {
        let mut parts = Vec::with_capacity(batches.len());
        for b in batches.iter().filter(|b| b.num_rows() > 0) {
            let same_types = b.num_columns() == self.schema.fields().len()
                && b.schema()
                    .fields()
                    .iter()
                    .zip(self.schema.fields())
                    .all(|(a, t)| a.data_type() == t.data_type());
            if !same_types {
                return Err(self.schema_error(format!(
                    "batch schema {:?} does not match table schema {:?}",
                    b.schema(),
                    self.schema
                )));
            }
            parts.push(b);
        }
        if parts.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        // Labelled with the table's names but without its nullability: NOT
        // NULL is checked below, with PostgreSQL's message rather than
        // Arrow's.
        let plain = relaxed(&self.schema);
        let mut parts: Vec<RecordBatch> = parts
            .into_iter()
            .map(|b| RecordBatch::try_new(plain.clone(), b.columns().to_vec()))
            .collect::<Result<_, _>>()?;
        let one = match parts.len() {
            1 => parts.pop().expect("one"),
            _ => concat_batches(&plain, &parts)?,
        };
        check_not_null(&self.name, non_null, &one)?;
        Ok(RecordBatch::try_new(
            self.schema.clone(),
            one.columns().to_vec(),
        )?)
    }

    /// Adds the rows with primary keys `keys` to `removal`; returns how many.
    fn remove_keys(
        &self,
        state: &TableState,
        keys: &[ArrayRef],
        based_on: Option<u64>,
        removal: &mut Removal,
    ) -> TableResult<u64> {
        let index = state.primary_index(&self.name, "a delete by key")?;
        let keys = self.key_arrays(index, keys)?;
        let valid = KeyIndex::valid(&keys);
        let encoded = index.encode(&keys)?;
        let mut removed = 0;
        for (i, key) in encoded.iter().enumerate() {
            if valid.as_ref().is_some_and(|v| v.is_null(i)) {
                continue;
            }
            let hash = index.hash(key.data());
            let found = index.find_hashed(key.data(), hash);
            if let Some(base) = based_on
                && state.changes.changed_after(key.data(), base)
            {
                return Err(self.conflict(found.is_some()));
            }
            if let Some(loc) = found
                && removal.add(loc, Some(hash))
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// For a table without a primary key: adds one live row equal to each
    /// row of `rows` to `removal`. Scans the table (as the predicate that
    /// chose the rows did). With a base version, a row no longer there
    /// means another writer deleted or changed it: 40001.
    fn remove_equal_rows(
        &self,
        state: &mut TableState,
        rows: &RecordBatch,
        based_on: Option<u64>,
        removal: &mut Removal,
    ) -> TableResult<u64> {
        if rows.num_rows() == 0 {
            return Ok(0);
        }
        let converter = RowConverter::new(
            self.schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        let wanted_rows = converter.convert_columns(rows.columns())?;
        let mut wanted: HashMap<&[u8], usize> = HashMap::new();
        for row in wanted_rows.iter() {
            *wanted.entry(row.data()).or_default() += 1;
        }
        let mut missing = rows.num_rows();
        for (c, chunk) in state.chunks.iter().enumerate() {
            if missing == 0 {
                break;
            }
            if chunk.live_count() == 0 {
                continue;
            }
            let stored = converter.convert_columns(chunk.rows.columns())?;
            for (r, row) in stored.iter().enumerate() {
                let loc = RowLoc {
                    chunk: c as u32,
                    row: r as u32,
                };
                if !chunk.is_live(r) || removal.set.contains(&loc) {
                    continue;
                }
                if let Some(n) = wanted.get_mut(row.data())
                    && *n > 0
                {
                    *n -= 1;
                    missing -= 1;
                    removal.add(loc, None);
                }
            }
        }
        if missing > 0 && based_on.is_some() {
            return Err(self.conflict(false));
        }
        Ok((rows.num_rows() - missing) as u64)
    }

    /// Refuses a key of `rows` held by another new row or by a stored row
    /// the write does not remove (23505). With `Replace`, the primary key
    /// was resolved already.
    fn check_unique(
        &self,
        state: &TableState,
        rows: &RecordBatch,
        removal: &Removal,
        on_conflict: OnConflict,
    ) -> TableResult<()> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        let skip_primary = on_conflict == OnConflict::Replace;
        let has_primary = state.constraints.primary_key.is_some();
        for (i, index) in state.indexes.iter().enumerate() {
            if skip_primary && has_primary && i == 0 {
                continue;
            }
            let columns = index.key_columns(rows);
            let valid = KeyIndex::valid(&columns);
            let encoded = index.encode(&columns)?;
            let mut seen: HashSet<&[u8]> = HashSet::with_capacity(rows.num_rows());
            for (r, key) in encoded.iter().enumerate() {
                if valid.as_ref().is_some_and(|v| v.is_null(r)) {
                    continue;
                }
                let key = key.data();
                let stored = index.find(key).is_some_and(|l| !removal.set.contains(&l));
                if stored || !seen.insert(key) {
                    let names: Vec<&str> = index
                        .constraint
                        .columns
                        .iter()
                        .map(|&c| self.schema.field(c).name().as_str())
                        .collect();
                    return Err(TableError::UniqueViolation {
                        table: self.name.clone(),
                        constraint: index.constraint.name.clone(),
                        detail: format!(
                            "Key ({})={} already exists.",
                            names.join(", "),
                            values_text(&columns, r)
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn conflict(&self, still_there: bool) -> TableError {
        TableError::SerializationFailure {
            table: self.name.clone(),
            detail: if still_there {
                format!(
                    "A row of table \"{}\" this transaction overwrites or deletes was changed by another writer since it read the table.",
                    self.name
                )
            } else {
                format!(
                    "A row of table \"{}\" this transaction overwrites or deletes was deleted or changed by another writer since it read the table.",
                    self.name
                )
            },
        }
    }
}

impl TableState {
    /// Applies a segment just written: deletes `removed`, adds its rows.
    fn apply(&mut self, segment: Segment, removed: &Removal) -> TableResult<()> {
        let version = self.version + 1;
        let has_primary = self.constraints.primary_key.is_some();
        for (&loc, &key_hash) in removed.locs.iter().zip(&removed.key_hashes) {
            if has_primary
                && self.changes.is_enabled()
                && let Some(key) = self.indexes[0].key_of(loc)
            {
                self.changes.record(version, key);
            }
            for (i, index) in self.indexes.iter_mut().enumerate() {
                // The hash is the primary key's.
                let hash = if has_primary && i == 0 {
                    key_hash
                } else {
                    None
                };
                index.remove(loc, hash);
            }
            if self.chunks[loc.chunk as usize].delete(loc.row as usize) {
                self.live_rows -= 1;
                self.dead_rows += 1;
            }
        }
        let c = self.chunks.len() as u32;
        let n = segment.rows.num_rows();
        for index in self.indexes.iter_mut() {
            index.push_chunk(&segment.rows)?;
            // Checked above: no new key is entered yet.
            for row in 0..n as u32 {
                index.insert_new(RowLoc { chunk: c, row });
            }
        }
        if has_primary && self.changes.is_enabled() {
            for row in 0..n as u32 {
                if let Some(key) = self.indexes[0].key_of(RowLoc { chunk: c, row }) {
                    self.changes.record(version, key);
                }
            }
        }
        self.chunks
            .push(Chunk::new(segment.seq, segment.rows, segment.tombstones));
        self.live_rows += n;
        self.writers = segment.writers;
        self.next_segment = segment.seq + 1;
        self.version = version;
        Ok(())
    }
}

/// Of rows sharing a primary key, only the last (an upsert's rule).
fn last_of_each_key(index: &KeyIndex, rows: RecordBatch) -> TableResult<RecordBatch> {
    let keys = index.encode(&index.key_columns(&rows))?;
    let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(rows.num_rows());
    for (r, key) in keys.iter().enumerate() {
        last.insert(key.data(), r);
    }
    if last.len() == rows.num_rows() {
        return Ok(rows);
    }
    let keep = BooleanArray::from_iter(
        keys.iter()
            .enumerate()
            .map(|(r, key)| Some(last[key.data()] == r)),
    );
    Ok(filter_record_batch(&rows, &keep)?)
}

/// Refuses a NULL in a column of `non_null` (23502), naming the first such
/// column and showing the failing row as PostgreSQL does.
pub(super) fn check_not_null(
    table: &str,
    non_null: &[usize],
    rows: &RecordBatch,
) -> TableResult<()> {
    for &c in non_null {
        let column = rows.column(c);
        if column.null_count() == 0 {
            continue;
        }
        let row = (0..column.len())
            .find(|&r| column.is_null(r))
            .expect("null_count > 0");
        return Err(TableError::NotNullViolation {
            table: table.to_string(),
            column: rows.schema().field(c).name().clone(),
            detail: format!("Failing row contains {}.", values_text(rows.columns(), row)),
        });
    }
    Ok(())
}

/// `schema` with every field nullable.
fn relaxed(
    schema: &datafusion::arrow::datatypes::SchemaRef,
) -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
