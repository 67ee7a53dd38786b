//! Storage of Eddy's own tables.
//!
//! Each table is a directory of Arrow IPC segment files, `<seq>.arrow`,
//! read in sequence order. An append writes one new segment: to a temporary
//! name, fsynced, then renamed, so a segment is either whole or absent after a
//! crash. Rewrites (replace, compaction) write one new segment holding every
//! row, marked as a *base* in its metadata, then update the `manifest` (the
//! first live segment) and remove the old ones; loading starts at the newest
//! base segment, so a crash anywhere in between neither loses nor doubles a
//! row.
//!
//! All rows are also kept in memory: tables hold bookkeeping data, dimension
//! data and query results, and are read whole by the planner.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::{EngineError, Result};

/// Segments beyond which an append compacts the table into one segment.
const COMPACT_AFTER_SEGMENTS: u64 = 64;

pub struct TableStore {
    dir: PathBuf,
    tables: RwLock<HashMap<String, Arc<StoredTable>>>,
}

/// One table: its schema, rows, and the segment numbering on disk.
pub struct StoredTable {
    schema: SchemaRef,
    dir: PathBuf,
    inner: Mutex<TableInner>,
}

struct TableInner {
    batches: Vec<RecordBatch>,
    /// The last epoch each streaming query (`table` sink) appended, so that
    /// a replayed epoch is not appended twice. Stored in every segment's
    /// schema metadata, so it is durable with the rows it describes.
    writers: BTreeMap<String, u64>,
    /// First live segment; segments below it are garbage from a rewrite.
    first_segment: u64,
    next_segment: u64,
}

impl TableStore {
    pub fn open(dir: &Path) -> Result<TableStore> {
        fs::create_dir_all(dir)?;
        Ok(TableStore {
            dir: dir.to_path_buf(),
            tables: RwLock::new(HashMap::new()),
        })
    }

    fn table_dir(&self, name: &str) -> PathBuf {
        // Names can be any quoted identifier; hex keeps the file name safe.
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(hex)
    }

    /// Creates an empty table, or opens the existing data of one that was
    /// created before a restart.
    pub fn create_or_load(&self, name: &str, schema: SchemaRef) -> Result<Arc<StoredTable>> {
        let dir = self.table_dir(name);
        fs::create_dir_all(&dir)?;
        let table = Arc::new(StoredTable::load(dir, schema)?);
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

impl StoredTable {
    fn load(dir: PathBuf, schema: SchemaRef) -> Result<StoredTable> {
        let first_segment = match fs::read_to_string(dir.join("manifest")) {
            Ok(s) => s.trim().parse().map_err(|_| {
                EngineError::Internal(format!("corrupt table manifest in {}", dir.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        let mut segments: Vec<u64> = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".arrow").and_then(|s| s.parse().ok()) {
                segments.push(seq);
            }
        }
        segments.sort_unstable();
        let mut batches = Vec::new();
        let mut writers = BTreeMap::new();
        for &seq in segments.iter().filter(|&&s| s >= first_segment) {
            let file = fs::File::open(dir.join(format!("{seq:020}.arrow")))?;
            let reader = FileReader::try_new(file, None)?;
            let metadata = reader.schema().metadata().clone();
            if metadata.contains_key(BASE_KEY) {
                // A rewrite holds every row: what came before it is garbage
                // (left by a crash before the manifest was updated).
                batches.clear();
                writers.clear();
            }
            merge_writers(&mut writers, metadata.get(WRITERS_KEY));
            for batch in reader {
                // Stored segments carry the writers in their metadata; the
                // rows in memory carry the table's plain schema.
                batches.push(RecordBatch::try_new(
                    schema.clone(),
                    batch?.columns().to_vec(),
                )?);
            }
        }
        let next_segment = segments
            .last()
            .map_or(first_segment, |s| s + 1)
            .max(first_segment);
        Ok(StoredTable {
            schema,
            dir,
            inner: Mutex::new(TableInner {
                batches,
                writers,
                first_segment,
                next_segment,
            }),
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// A snapshot of the rows.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.lock().batches.clone()
    }

    /// Changes whenever the rows change (every change writes a segment).
    pub fn version(&self) -> u64 {
        self.lock().next_segment
    }

    pub fn row_count(&self) -> usize {
        self.lock().batches.iter().map(|b| b.num_rows()).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends rows durably. Returns the number of rows appended.
    pub fn append(&self, batches: &[RecordBatch]) -> Result<u64> {
        self.append_as(None, batches)
    }

    /// Appends epoch `epoch` of streaming query `writer`, unless that epoch
    /// (or a later one) was already appended: a replay after a crash then
    /// adds nothing. Returns the number of rows appended.
    pub fn append_epoch(&self, writer: &str, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        if self
            .lock()
            .writers
            .get(writer)
            .is_some_and(|&done| done >= epoch)
        {
            return Ok(0);
        }
        self.append_as(Some((writer, epoch)), batches)
    }

    fn append_as(&self, writer: Option<(&str, u64)>, batches: &[RecordBatch]) -> Result<u64> {
        let batches = self.conform(batches)?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            return Ok(0);
        }
        let mut inner = self.lock();
        let mut writers = inner.writers.clone();
        if let Some((name, epoch)) = writer {
            writers.insert(name.to_string(), epoch);
        }
        let seq = inner.next_segment;
        write_segment(&self.dir, seq, &self.schema, &batches, &writers, false)?;
        inner.writers = writers;
        inner.next_segment += 1;
        inner.batches.extend(batches);
        if inner.next_segment - inner.first_segment > COMPACT_AFTER_SEGMENTS {
            let all = inner.batches.clone();
            let writers = inner.writers.clone();
            self.rewrite(&mut inner, all, writers)?;
        }
        Ok(rows as u64)
    }

    /// The non-empty batches, carrying the table's schema. Batches may
    /// differ from the table in nullability or field metadata, not in
    /// column types.
    fn conform(&self, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let same_types = b.num_columns() == self.schema.fields().len()
                    && b.schema()
                        .fields()
                        .iter()
                        .zip(self.schema.fields())
                        .all(|(a, t)| a.data_type() == t.data_type());
                if !same_types {
                    return Err(EngineError::Internal(format!(
                        "batch schema {:?} does not match table schema {:?}",
                        b.schema(),
                        self.schema
                    )));
                }
                Ok(RecordBatch::try_new(
                    self.schema.clone(),
                    b.columns().to_vec(),
                )?)
            })
            .collect()
    }

    /// Replaces all rows durably (TRUNCATE, DELETE, UPDATE, overwrite sinks).
    pub fn replace(&self, batches: Vec<RecordBatch>) -> Result<()> {
        let mut inner = self.lock();
        let writers = inner.writers.clone();
        self.rewrite(&mut inner, batches, writers)
    }

    /// Replaces all rows with epoch `epoch` of streaming query `writer` (a
    /// `complete` output: each epoch is the whole result), unless that
    /// epoch (or a later one) was already applied. The rows and the
    /// writer's epoch are written in one base segment, so after a crash the
    /// table holds either the previous contents or these, never a mix, and
    /// a replayed epoch changes nothing. Returns the number of rows written.
    pub fn replace_epoch(&self, writer: &str, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        let batches = self.conform(batches)?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let mut inner = self.lock();
        if inner.writers.get(writer).is_some_and(|&done| done >= epoch) {
            return Ok(0);
        }
        let mut writers = inner.writers.clone();
        writers.insert(writer.to_string(), epoch);
        self.rewrite(&mut inner, batches, writers)?;
        Ok(rows as u64)
    }

    /// Writes `batches` as the table's only rows, with `writers` as its
    /// writers' last epochs.
    fn rewrite(
        &self,
        inner: &mut TableInner,
        batches: Vec<RecordBatch>,
        writers: BTreeMap<String, u64>,
    ) -> Result<()> {
        let seq = inner.next_segment;
        let combined = if batches.is_empty() {
            Vec::new()
        } else {
            vec![datafusion::arrow::compute::concat_batches(
                &self.schema,
                &batches,
            )?]
        };
        write_segment(&self.dir, seq, &self.schema, &combined, &writers, true)?;
        write_atomically(&self.dir.join("manifest"), seq.to_string().as_bytes())?;
        for old in inner.first_segment..seq {
            let _ = fs::remove_file(self.dir.join(format!("{old:020}.arrow")));
        }
        inner.first_segment = seq;
        inner.next_segment = seq + 1;
        inner.batches = combined;
        inner.writers = writers;
        Ok(())
    }
}

/// Schema metadata key holding the writers' last epochs (JSON).
const WRITERS_KEY: &str = "eddy.writers";
/// Schema metadata key marking a segment written by a rewrite: it holds all
/// the table's rows, so loading starts from the newest such segment.
const BASE_KEY: &str = "eddy.base";

fn merge_writers(writers: &mut BTreeMap<String, u64>, stored: Option<&String>) {
    let Some(stored) = stored else {
        return;
    };
    if let Ok(map) = serde_json::from_str::<BTreeMap<String, u64>>(stored) {
        for (name, epoch) in map {
            let done = writers.entry(name).or_default();
            *done = (*done).max(epoch);
        }
    }
}

fn write_segment(
    dir: &Path,
    seq: u64,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    writers: &BTreeMap<String, u64>,
    base: bool,
) -> Result<()> {
    let mut metadata = schema.metadata().clone();
    if base {
        metadata.insert(BASE_KEY.to_string(), "true".to_string());
    }
    if !writers.is_empty() {
        metadata.insert(
            WRITERS_KEY.to_string(),
            serde_json::to_string(writers).expect("a map of strings to numbers serialises"),
        );
    }
    let schema = Arc::new(schema.as_ref().clone().with_metadata(metadata));
    let mut buf = Vec::new();
    {
        let mut writer = FileWriter::try_new(&mut buf, &schema)?;
        for b in batches {
            writer.write(&b.clone().with_schema(schema.clone())?)?;
        }
        writer.finish()?;
    }
    write_atomically(&dir.join(format!("{seq:020}.arrow")), &buf)
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename, then
/// fsyncs the directory so the rename itself is durable.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(schema: &SchemaRef, values: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap()
    }

    #[test]
    fn appends_and_replacements_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        {
            let store = TableStore::open(dir.path()).unwrap();
            let t = store.create_or_load("t", schema.clone()).unwrap();
            for i in 0..70 {
                t.append(&[batch(&schema, &[i])]).unwrap();
            }
            assert_eq!(t.row_count(), 70);
        }
        let store = TableStore::open(dir.path()).unwrap();
        let t = store.create_or_load("t", schema.clone()).unwrap();
        assert_eq!(t.row_count(), 70);
        assert_eq!(
            t.append_epoch("q#1", 1, &[batch(&schema, &[7])]).unwrap(),
            1
        );
        // A replayed epoch adds nothing, also after a reopen.
        assert_eq!(
            t.append_epoch("q#1", 1, &[batch(&schema, &[7])]).unwrap(),
            0
        );
        let t = TableStore::open(dir.path())
            .unwrap()
            .create_or_load("t", schema.clone())
            .unwrap();
        assert_eq!(t.row_count(), 71);
        assert_eq!(
            t.append_epoch("q#1", 1, &[batch(&schema, &[7])]).unwrap(),
            0
        );
        assert_eq!(
            t.append_epoch("q#1", 2, &[batch(&schema, &[8])]).unwrap(),
            1
        );
        t.replace(vec![batch(&schema, &[1, 2])]).unwrap();
        assert_eq!(
            t.append_epoch("q#1", 2, &[batch(&schema, &[8])]).unwrap(),
            0
        );
        let t = TableStore::open(dir.path())
            .unwrap()
            .create_or_load("t", schema)
            .unwrap();
        assert_eq!(t.row_count(), 2);
    }

    #[test]
    fn replaced_epochs_apply_once_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let open = || {
            TableStore::open(dir.path())
                .unwrap()
                .create_or_load("t", schema.clone())
                .unwrap()
        };
        let t = open();
        t.append(&[batch(&schema, &[1, 2, 3])]).unwrap();
        assert_eq!(
            t.replace_epoch("q#1", 1, &[batch(&schema, &[10, 11])])
                .unwrap(),
            2
        );
        assert_eq!(t.row_count(), 2);
        // A replay of epoch 1 (or an older one) changes nothing.
        assert_eq!(
            t.replace_epoch("q#1", 1, &[batch(&schema, &[99])]).unwrap(),
            0
        );
        assert_eq!(t.replace_epoch("q#1", 0, &[]).unwrap(), 0);
        let t = open();
        assert_eq!(t.row_count(), 2);
        assert_eq!(
            t.replace_epoch("q#1", 1, &[batch(&schema, &[99])]).unwrap(),
            0
        );
        // An empty result empties the table.
        assert_eq!(t.replace_epoch("q#1", 2, &[]).unwrap(), 0);
        assert_eq!(open().row_count(), 0);
        assert_eq!(
            open()
                .replace_epoch("q#1", 3, &[batch(&schema, &[5])])
                .unwrap(),
            1
        );
        let t = open();
        let values: Vec<i64> = t
            .batches()
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(values, [5]);
        assert_eq!(
            t.replace_epoch("q#1", 3, &[batch(&schema, &[6])]).unwrap(),
            0
        );
    }

    #[test]
    fn a_crash_between_a_rewrite_and_its_manifest_neither_loses_nor_doubles_rows() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let store = TableStore::open(dir.path()).unwrap();
        let t = store.create_or_load("t", schema.clone()).unwrap();
        for i in 0..3 {
            t.append(&[batch(&schema, &[i])]).unwrap();
        }
        let table_dir = store.table_dir("t");
        let before = tempfile::tempdir().unwrap();
        for entry in fs::read_dir(&table_dir).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), before.path().join(entry.file_name())).unwrap();
        }
        t.replace(vec![batch(&schema, &[10, 11])]).unwrap();
        // The state a crash leaves right after the rewrite's segment was
        // renamed into place: the old segments, no new manifest.
        let rewritten = format!("{:020}.arrow", 3);
        fs::copy(table_dir.join(&rewritten), before.path().join(&rewritten)).unwrap();
        let t = StoredTable::load(before.path().to_path_buf(), schema).unwrap();
        assert_eq!(t.row_count(), 2);
    }
}
