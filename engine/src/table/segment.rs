//! The on-disk form of a table: Arrow IPC segment files `<seq>.arrow`, read
//! in sequence order, and a `manifest` naming the first live one.
//!
//! A segment holds one durable write: the rows it adds, and in its schema
//! metadata
//!
//! - `eddy.writers`: every streaming query's last applied epoch (JSON), so
//!   that the epoch marker is durable with the rows it describes;
//! - `eddy.deleted`: tombstones, the rows of *older* segments this write
//!   deletes, by (segment, row within segment), as
//!   `seg:row,row-row;seg:row` (runs keep a bulk delete short);
//! - `eddy.base`: the segment holds every live row (a full compaction or a
//!   replacement): what came before it is garbage;
//! - `eddy.replaces`: the segment is a merge of every segment from that
//!   number up to itself (a partial compaction): those are garbage. It
//!   carries their rows and their tombstones of still older segments.
//!
//! Every file is written to a temporary name, fsynced, renamed and the
//! directory fsynced, so a segment is whole or absent after a crash; a
//! compaction removes the segments it replaced only after its own is
//! durable, and loading skips what a base or a merge replaced, so a crash
//! anywhere neither loses nor doubles a row. Segments written before
//! tombstones and merges existed (plain appends and bases) load unchanged.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;

use super::error::{TableError, TableResult};

/// A row of a segment: (segment number, row within the segment).
pub(super) type Tombstone = (u64, u32);

/// Schema metadata key holding the writers' last epochs (JSON).
const WRITERS_KEY: &str = "eddy.writers";
/// Marks a segment holding all the table's rows.
const BASE_KEY: &str = "eddy.base";
/// The first segment a merged segment replaces.
const REPLACES_KEY: &str = "eddy.replaces";
/// The rows of older segments a segment deletes.
const DELETED_KEY: &str = "eddy.deleted";

/// What a segment replaces of the segments before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Supersedes {
    /// Nothing: it adds to them.
    Nothing,
    /// Every segment from this number on (a merge of the newest ones).
    From(u64),
    /// All of them (a base).
    All,
}

/// One segment as written or read.
pub(super) struct Segment {
    pub seq: u64,
    /// The rows added, with the table's schema (possibly none).
    pub rows: RecordBatch,
    pub writers: BTreeMap<String, u64>,
    pub tombstones: Vec<Tombstone>,
    pub supersedes: Supersedes,
}

pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.arrow"))
}

/// The segment numbers present in `dir`, ascending; removes temporary files
/// a crash left behind.
pub(super) fn list_segments(dir: &Path) -> TableResult<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name.strip_suffix(".arrow").and_then(|s| s.parse().ok()) {
            segments.push(seq);
        } else if name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// The first live segment the manifest names (0 without one).
pub(super) fn read_manifest(dir: &Path, table: &str) -> TableResult<u64> {
    match fs::read_to_string(dir.join("manifest")) {
        Ok(s) => s.trim().parse().map_err(|_| TableError::Corrupt {
            table: table.to_string(),
            reason: format!("bad manifest in {}", dir.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn write_manifest(dir: &Path, first: u64, sync: bool) -> TableResult<()> {
    write_file_atomically(&dir.join("manifest"), first.to_string().as_bytes(), sync)?;
    Ok(())
}

pub(super) fn write_segment(
    dir: &Path,
    schema: &SchemaRef,
    segment: &Segment,
    sync: bool,
) -> TableResult<()> {
    let mut metadata = schema.metadata().clone();
    match segment.supersedes {
        Supersedes::Nothing => {}
        Supersedes::From(first) => {
            metadata.insert(REPLACES_KEY.to_string(), first.to_string());
        }
        Supersedes::All => {
            metadata.insert(BASE_KEY.to_string(), "true".to_string());
        }
    }
    if !segment.writers.is_empty() {
        metadata.insert(
            WRITERS_KEY.to_string(),
            serde_json::to_string(&segment.writers)
                .expect("a map of strings to numbers serialises"),
        );
    }
    if !segment.tombstones.is_empty() {
        metadata.insert(
            DELETED_KEY.to_string(),
            encode_tombstones(&segment.tombstones),
        );
    }
    let file_schema = Arc::new(schema.as_ref().clone().with_metadata(metadata));
    let mut buf = Vec::new();
    {
        let mut writer = FileWriter::try_new(&mut buf, &file_schema)?;
        if segment.rows.num_rows() > 0 {
            writer.write(&segment.rows.clone().with_schema(file_schema.clone())?)?;
        }
        writer.finish()?;
    }
    write_file_atomically(&segment_path(dir, segment.seq), &buf, sync)?;
    Ok(())
}

/// Reads segment `seq`, its rows re-labelled with the table's `schema` and
/// concatenated into one batch, so that a row's position in the segment is
/// its position in that batch.
pub(super) fn read_segment(
    dir: &Path,
    seq: u64,
    schema: &SchemaRef,
    table: &str,
) -> TableResult<Segment> {
    let corrupt = |reason: String| TableError::Corrupt {
        table: table.to_string(),
        reason: format!("segment {seq}: {reason}"),
    };
    let file = fs::File::open(segment_path(dir, seq))?;
    let reader = FileReader::try_new(file, None)?;
    let metadata = reader.schema().metadata().clone();
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(RecordBatch::try_new(
            schema.clone(),
            batch?.columns().to_vec(),
        )?);
    }
    let rows = concat_batches(schema, &batches)?;
    let supersedes = if metadata.contains_key(BASE_KEY) {
        Supersedes::All
    } else if let Some(first) = metadata.get(REPLACES_KEY) {
        Supersedes::From(
            first
                .parse()
                .map_err(|_| corrupt(format!("bad {REPLACES_KEY} '{first}'")))?,
        )
    } else {
        Supersedes::Nothing
    };
    let writers = match metadata.get(WRITERS_KEY) {
        Some(json) => {
            serde_json::from_str(json).map_err(|e| corrupt(format!("bad {WRITERS_KEY}: {e}")))?
        }
        None => BTreeMap::new(),
    };
    let tombstones = match metadata.get(DELETED_KEY) {
        Some(text) => {
            decode_tombstones(text).ok_or_else(|| corrupt(format!("bad {DELETED_KEY}")))?
        }
        None => Vec::new(),
    };
    Ok(Segment {
        seq,
        rows,
        writers,
        tombstones,
        supersedes,
    })
}

/// `seg:row,row-row;seg:…`, from tombstones sorted here.
fn encode_tombstones(tombstones: &[Tombstone]) -> String {
    let mut sorted = tombstones.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::with_capacity(sorted.len() * 8);
    let mut i = 0;
    while i < sorted.len() {
        let seg = sorted[i].0;
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(&seg.to_string());
        out.push(':');
        let mut first_run = true;
        while i < sorted.len() && sorted[i].0 == seg {
            let start = sorted[i].1;
            let mut end = start;
            while i + 1 < sorted.len() && sorted[i + 1] == (seg, end + 1) {
                i += 1;
                end += 1;
            }
            i += 1;
            if !first_run {
                out.push(',');
            }
            first_run = false;
            out.push_str(&start.to_string());
            if end > start {
                out.push('-');
                out.push_str(&end.to_string());
            }
        }
    }
    out
}

fn decode_tombstones(text: &str) -> Option<Vec<Tombstone>> {
    let mut out = Vec::new();
    for group in text.split(';').filter(|g| !g.is_empty()) {
        let (seg, runs) = group.split_once(':')?;
        let seg: u64 = seg.parse().ok()?;
        for run in runs.split(',') {
            let (start, end) = match run.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let r: u32 = run.parse().ok()?;
                    (r, r)
                }
            };
            if end < start {
                return None;
            }
            out.extend((start..=end).map(|r| (seg, r)));
        }
    }
    Some(out)
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename, then
/// fsyncs the directory so the rename itself is durable. With `sync` false
/// (benchmarks measuring the rest) the fsyncs are skipped.
fn write_file_atomically(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if sync && let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Writes `bytes` to `path` durably and atomically: through a temporary
/// file, fsync and rename, then an fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    Ok(write_file_atomically(path, bytes, true)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_round_trip_as_runs() {
        let t = vec![(3, 7), (1, 0), (1, 1), (1, 2), (3, 5), (1, 9), (3, 6)];
        let text = encode_tombstones(&t);
        assert_eq!(text, "1:0-2,9;3:5-7");
        let mut sorted = t.clone();
        sorted.sort_unstable();
        assert_eq!(decode_tombstones(&text).unwrap(), sorted);
        assert_eq!(decode_tombstones("").unwrap(), vec![]);
        assert!(decode_tombstones("1:5-2").is_none());
        assert!(decode_tombstones("x:1").is_none());
    }
}
