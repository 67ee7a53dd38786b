//! Per-query checkpoints: the offset log, the commit log and state
//! snapshots, in one directory per streaming query.
//!
//! ```text
//!  epoch N:  offsets/N      written (durably) before the epoch runs: its
//!                           input range (the watermark it uses is the one
//!                           recorded by commits/N-1)
//!            … epoch runs, sink commits N …
//!            state/N.snapshot   the operator state after N (Arrow IPC,
//!                           one file per stateful operator; see `state`)
//!            commits/N      written last: N is complete
//! ```
//!
//! Recovery loads the newest commit C and its snapshot, and if `offsets/C+1`
//! exists re-runs epoch C+1 over exactly the recorded range (sources read
//! deterministically, sinks skip epochs they already committed), so every
//! input row affects the output once. Every file is written to a temporary
//! name, fsynced and renamed; the newest few epochs are kept.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::state::OperatorState;
use crate::table_store::write_atomically;
use crate::{EngineError, Offsets, Result};

/// Default of `checkpoint.retain`: commits kept for falling back to.
pub const DEFAULT_RETAIN: u64 = 10;
/// Default of `checkpoint.snapshot_every`.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10;

/// The entry of the offset log for one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffsetEntry {
    pub epoch: u64,
    pub from: Offsets,
    pub to: Offsets,
    /// The source reported that nothing follows `to`.
    pub input_ended: bool,
    /// An idle epoch (no input; `watermark.idle_timeout` passed): the
    /// watermark it advances to, decided on processing time and recorded
    /// so that a replay advances it the same way.
    #[serde(default)]
    pub idle_watermark: Option<i64>,
    /// With several inputs: those that reported their end at planning
    /// (their watermark closes after the epoch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs_ended: Vec<usize>,
    /// The partitions (by their offsets key) that had no new data for
    /// their source's `watermark.idle_timeout` when the epoch was planned:
    /// they do not hold the watermark back at its end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle_partitions: Vec<String>,
}

/// The entry of the commit log: where the next epoch starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitEntry {
    pub epoch: u64,
    pub offsets: Offsets,
    pub watermark: WatermarkState,
    /// With several inputs: the watermarks of the second and later ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_watermarks: Vec<WatermarkState>,
    /// Whether a state file (`state/N.snapshot` or `state/N.delta`) exists
    /// for this epoch.
    pub has_state: bool,
    /// The state of this epoch is a delta on the previous epoch's (windows
    /// changed, plus `removed`), not a full snapshot.
    #[serde(default)]
    pub delta: bool,
    /// With `delta`: per operator, the state partitions (window ends)
    /// dropped in this epoch. (Checkpoints written before queries had
    /// several stateful operators hold a plain list: operator 0's.)
    #[serde(default, deserialize_with = "removed_per_operator")]
    pub removed: BTreeMap<u32, Vec<i64>>,
    /// Running totals up to and including this epoch, so that the query's
    /// counters carry on across restarts.
    #[serde(default)]
    pub totals: Totals,
}

fn removed_per_operator<'de, D>(d: D) -> std::result::Result<BTreeMap<u32, Vec<i64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Removed {
        // JSON object keys are strings.
        PerOperator(BTreeMap<String, Vec<i64>>),
        Single(Vec<i64>),
    }
    Ok(match Removed::deserialize(d)? {
        Removed::PerOperator(m) => m
            .into_iter()
            .map(|(k, v)| {
                k.parse()
                    .map(|k| (k, v))
                    .map_err(|_| serde::de::Error::custom(format!("bad operator number {k}")))
            })
            .collect::<std::result::Result<_, _>>()?,
        Removed::Single(v) if v.is_empty() => BTreeMap::new(),
        Removed::Single(v) => BTreeMap::from([(0, v)]),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Totals {
    pub input_rows: u64,
    pub output_rows: u64,
    pub late_rows: u64,
    #[serde(default)]
    pub bad_records: u64,
}

pub use crate::watermark::WatermarkState;

/// One link of a state chain: a full snapshot or a delta.
#[derive(Debug, Clone, PartialEq)]
pub struct StatePart {
    /// Per operator, the windows dropped in this epoch.
    pub removed: BTreeMap<u32, Vec<i64>>,
    /// Per operator, the state written at this epoch (all of it, or what
    /// changed for a windowed aggregation's delta).
    pub operators: BTreeMap<u32, Vec<RecordBatch>>,
}

/// What a query resumes from.
pub struct Recovered {
    pub commit: CommitEntry,
    /// The state at `commit`: a full snapshot followed by the deltas after
    /// it, to apply in order to an empty state.
    pub state: Vec<StatePart>,
    /// Epochs planned after the commit but not committed (or whose commit
    /// was damaged): replay them, in order, over exactly these ranges.
    pub pending: Vec<OffsetEntry>,
    /// Newer checkpoints that failed their checksum and were passed over.
    pub damaged: Vec<String>,
}

pub struct CheckpointDir {
    root: PathBuf,
    /// Commits kept (`checkpoint.retain`); older files are pruned, except
    /// the snapshot the oldest kept commit's state is built on.
    retain: u64,
}

impl CheckpointDir {
    /// Points at a query's checkpoint directory; its folders are created
    /// when first written.
    pub fn open(root: &Path) -> Result<CheckpointDir> {
        Ok(CheckpointDir {
            root: root.to_path_buf(),
            retain: DEFAULT_RETAIN,
        })
    }

    /// Sets how many commits are kept (at least 1).
    pub fn with_retain(mut self, retain: u64) -> Self {
        self.retain = retain.max(1);
        self
    }

    /// Removes a query's checkpoints (when the query is dropped).
    pub fn remove(root: &Path) -> Result<()> {
        match fs::remove_dir_all(root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn path(&self, kind: &str, epoch: u64, suffix: &str) -> PathBuf {
        self.root.join(kind).join(format!("{epoch:020}{suffix}"))
    }

    /// The path to write a file at, its folder created if need be.
    fn path_for_write(&self, kind: &str, epoch: u64, suffix: &str) -> Result<PathBuf> {
        fs::create_dir_all(self.root.join(kind))?;
        Ok(self.path(kind, epoch, suffix))
    }

    pub fn write_offsets(&self, entry: &OffsetEntry) -> Result<()> {
        let json = serde_json::to_vec(entry).expect("offset entries serialise");
        write_atomically(
            &self.path_for_write("offsets", entry.epoch, "")?,
            &seal(&json),
        )
    }

    /// Writes the operators' state, then the commit entry, then prunes.
    pub fn commit(&self, entry: &CommitEntry, state: &BTreeMap<u32, OperatorState>) -> Result<()> {
        if entry.has_state {
            let buf = crate::state::encode(state)?;
            write_atomically(
                &self.path_for_write("state", entry.epoch, state_suffix(entry))?,
                &seal(&buf),
            )?;
        }
        let json = serde_json::to_vec(entry).expect("commit entries serialise");
        write_atomically(
            &self.path_for_write("commits", entry.epoch, "")?,
            &seal(&json),
        )?;
        self.prune(entry.epoch)
    }

    /// Deletes files older than both the oldest kept commit and the
    /// snapshot its state chain starts from.
    fn prune(&self, newest: u64) -> Result<()> {
        let oldest_kept = newest.saturating_sub(self.retain - 1).max(1);
        // Keep the state chain of the oldest kept commit, and the snapshot
        // generation before it, so that a damaged snapshot still leaves an
        // intact commit to fall back to.
        let base = self.chain_base(oldest_kept);
        let cut = if base > 1 {
            self.chain_base(base - 1)
        } else {
            base
        };
        for kind in ["offsets", "commits", "state"] {
            for (epoch, name) in files_in(&self.root.join(kind))? {
                if epoch < cut {
                    let _ = fs::remove_file(self.root.join(kind).join(name));
                }
            }
        }
        Ok(())
    }

    /// The epoch of the full snapshot `epoch`'s state is built on (1 when
    /// the chain reaches back to the first epoch).
    fn chain_base(&self, epoch: u64) -> u64 {
        let mut e = epoch;
        while e > 1 {
            match read_sealed_json::<CommitEntry>(&self.path("commits", e, "")) {
                Ok(commit) if commit.delta => e -= 1,
                _ => break,
            }
        }
        e
    }

    /// The newest intact commit with its state, and the epochs to replay
    /// after it. A commit or snapshot that fails its checksum is skipped
    /// for an older one (the epochs in between are then replayed from the
    /// offset log); when no intact one remains, recovery fails rather than
    /// run on wrong state.
    pub fn recover(&self) -> Result<Option<Recovered>> {
        let mut commits = epochs_in(&self.root.join("commits"))?;
        commits.sort_unstable();
        let mut damaged = Vec::new();
        for &epoch in commits.iter().rev() {
            match self.load_commit(epoch) {
                Ok((commit, state)) => {
                    let pending = self.pending_after(&commit)?;
                    return Ok(Some(Recovered {
                        commit,
                        state,
                        pending,
                        damaged,
                    }));
                }
                Err(e) => damaged.push(e.to_string()),
            }
        }
        // No intact commit: start over only if the offset log still reaches
        // back to the first epoch, so that every epoch can be replayed.
        let first = self.path("offsets", 1, "");
        if !first.exists() {
            if damaged.is_empty() {
                return Ok(None);
            }
            return Err(EngineError::Internal(format!(
                "no intact checkpoint to recover from: {}",
                damaged.join("; ")
            )));
        }
        let first: OffsetEntry = read_sealed_json(&first)?;
        let start = CommitEntry {
            epoch: 0,
            offsets: first.from.clone(),
            watermark: WatermarkState::default(),
            more_watermarks: Vec::new(),
            has_state: false,
            delta: false,
            removed: BTreeMap::new(),
            totals: Totals::default(),
        };
        let pending = self.pending_after(&start)?;
        Ok(Some(Recovered {
            commit: start,
            state: Vec::new(),
            pending,
            damaged,
        }))
    }

    /// The commit of `epoch` and its state chain: back through deltas to
    /// the full snapshot (or to epoch 1, whose delta starts from nothing).
    fn load_commit(&self, epoch: u64) -> Result<(CommitEntry, Vec<StatePart>)> {
        let newest: CommitEntry = read_sealed_json(&self.path("commits", epoch, ""))?;
        let mut parts = Vec::new();
        let mut commit = newest.clone();
        loop {
            parts.push(self.load_state(&commit)?);
            if !commit.delta || commit.epoch <= 1 {
                break;
            }
            commit = read_sealed_json(&self.path("commits", commit.epoch - 1, ""))?;
        }
        parts.reverse();
        Ok((newest, parts))
    }

    fn load_state(&self, commit: &CommitEntry) -> Result<StatePart> {
        let operators = if commit.has_state {
            let path = self.path("state", commit.epoch, state_suffix(commit));
            let bytes = fs::read(&path)?;
            let payload = unseal(&path, &bytes)?;
            crate::state::decode(payload).map_err(|e| corrupt(&path, e))?
        } else {
            BTreeMap::new()
        };
        Ok(StatePart {
            removed: commit.removed.clone(),
            operators,
        })
    }

    /// The offset-log entries after `commit`, which must follow on from it
    /// without gaps.
    fn pending_after(&self, commit: &CommitEntry) -> Result<Vec<OffsetEntry>> {
        let mut pending: Vec<OffsetEntry> = Vec::new();
        let mut epoch = commit.epoch + 1;
        loop {
            let path = self.path("offsets", epoch, "");
            if !path.exists() {
                return Ok(pending);
            }
            let entry: OffsetEntry = read_sealed_json(&path)?;
            let expected_from = pending.last().map_or(&commit.offsets, |p| &p.to);
            if entry.epoch != epoch || &entry.from != expected_from {
                return Err(corrupt(
                    &path,
                    "the offset log does not continue from the previous epoch",
                ));
            }
            pending.push(entry);
            epoch += 1;
        }
    }
}

/// Checkpoint files start with this, then the CRC-32 of the payload and its
/// length, so that a damaged or truncated file is detected, never used.
const MAGIC: &[u8; 8] = b"EDDYCKP1";
const HEADER_LEN: usize = 8 + 4 + 8;

fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn unseal<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8]> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(corrupt(path, "not a checkpoint file or truncated header"));
    }
    let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(corrupt(
            path,
            format!("truncated: {} of {len} bytes", payload.len()),
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err(corrupt(path, "checksum mismatch"));
    }
    Ok(payload)
}

fn read_sealed_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(unseal(path, &bytes)?).map_err(|e| corrupt(path, e))
}

fn state_suffix(commit: &CommitEntry) -> &'static str {
    if commit.delta { ".delta" } else { ".snapshot" }
}

fn epochs_in(dir: &Path) -> Result<Vec<u64>> {
    Ok(files_in(dir)?.into_iter().map(|(epoch, _)| epoch).collect())
}

/// (epoch, file name) of every checkpoint file in `dir`.
fn files_in(dir: &Path) -> Result<Vec<(u64, std::ffi::OsString)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let name = entry?.file_name();
        let text = name.to_string_lossy();
        let stem = text.split('.').next().unwrap_or_default();
        if let Ok(epoch) = stem.parse() {
            out.push((epoch, name.clone()));
        }
    }
    Ok(out)
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!(
        "checkpoint file {} is corrupt: {e}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn offsets(n: i64) -> Offsets {
        [("rows".to_string(), n)].into_iter().collect()
    }

    #[test]
    fn recovers_the_last_commit_and_the_epoch_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let cp = CheckpointDir::open(dir.path()).unwrap();
        assert!(cp.recover().unwrap().is_none());

        let first = OffsetEntry {
            epoch: 1,
            from: offsets(0),
            to: offsets(10),
            input_ended: false,
            idle_watermark: None,
            inputs_ended: Vec::new(),
            idle_partitions: Vec::new(),
        };
        cp.write_offsets(&first).unwrap();
        // Crashed during epoch 1: replay it from its recorded start.
        let r = cp.recover().unwrap().unwrap();
        assert_eq!(r.commit.epoch, 0);
        assert_eq!(r.pending, vec![first.clone()]);

        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let state =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![7]))]).unwrap();
        let watermark = WatermarkState {
            max_event_time: Some(5),
            current: Some(1),
            partitions: BTreeMap::from([(
                "0".to_string(),
                crate::watermark::PartitionTime {
                    max_event_time: 5,
                    idle: true,
                },
            )]),
        };
        cp.commit(
            &CommitEntry {
                epoch: 1,
                offsets: offsets(10),
                watermark: watermark.clone(),
                more_watermarks: Vec::new(),
                has_state: true,
                delta: false,
                removed: BTreeMap::new(),
                totals: Totals::default(),
            },
            &one(state.clone()),
        )
        .unwrap();
        let second = OffsetEntry {
            epoch: 2,
            from: offsets(10),
            to: offsets(20),
            input_ended: true,
            idle_watermark: None,
            inputs_ended: Vec::new(),
            idle_partitions: vec!["0".to_string()],
        };
        cp.write_offsets(&second).unwrap();

        let r = cp.recover().unwrap().unwrap();
        assert_eq!(r.commit.offsets, offsets(10));
        assert_eq!(r.commit.watermark, watermark);
        assert_eq!(r.state[0].operators[&0], vec![state]);
        assert_eq!(r.pending, vec![second]);
    }

    fn commit_epochs(cp: &CheckpointDir, epochs: std::ops::RangeInclusive<u64>) {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        for epoch in epochs {
            let (from, to) = (offsets(epoch as i64 - 1), offsets(epoch as i64));
            cp.write_offsets(&OffsetEntry {
                epoch,
                from,
                to: to.clone(),
                input_ended: false,
                idle_watermark: None,
                inputs_ended: Vec::new(),
                idle_partitions: Vec::new(),
            })
            .unwrap();
            let state = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(vec![epoch as i64]))],
            )
            .unwrap();
            let commit = CommitEntry {
                epoch,
                offsets: to,
                watermark: WatermarkState::default(),
                more_watermarks: Vec::new(),
                has_state: true,
                delta: false,
                removed: BTreeMap::new(),
                totals: Totals::default(),
            };
            cp.commit(&commit, &one(state)).unwrap();
        }
    }

    /// The state of a query with one stateful operator.
    fn one(batch: RecordBatch) -> BTreeMap<u32, OperatorState> {
        BTreeMap::from([(
            0,
            OperatorState {
                schema: batch.schema(),
                batches: vec![batch],
                removed: Vec::new(),
            },
        )])
    }

    #[test]
    fn commits_of_the_single_operator_format_still_load() {
        let old = r#"{"epoch":3,"offsets":{"rows":3},"watermark":{"max_event_time":null,"current":null},
                      "has_state":true,"delta":true,"removed":[10,20]}"#;
        let commit: CommitEntry = serde_json::from_str(old).unwrap();
        assert_eq!(commit.removed, BTreeMap::from([(0, vec![10, 20])]));
        let json = serde_json::to_string(&commit).unwrap();
        assert_eq!(serde_json::from_str::<CommitEntry>(&json).unwrap(), commit);
    }

    fn damage(path: &Path) {
        let mut bytes = fs::read(path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_damaged_snapshot_falls_back_to_an_older_commit_and_replays_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let cp = CheckpointDir::open(dir.path()).unwrap();
        commit_epochs(&cp, 1..=4);
        damage(&cp.path("state", 4, ".snapshot"));
        let r = cp.recover().unwrap().unwrap();
        assert_eq!(r.commit.epoch, 3);
        assert_eq!(r.damaged.len(), 1, "{:?}", r.damaged);
        assert!(
            r.damaged[0].contains("checksum mismatch"),
            "{:?}",
            r.damaged
        );
        let state = r.state[0].operators[&0][0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(state.value(0), 3);
        // Epoch 4 is replayed from the offset log.
        assert_eq!(r.pending.iter().map(|p| p.epoch).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn without_an_intact_checkpoint_recovery_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let cp = CheckpointDir::open(dir.path()).unwrap();
        commit_epochs(&cp, 1..=20);
        // Epochs 1..=9 are pruned; every kept commit is then damaged, and
        // the offset log no longer reaches back to epoch 1.
        for epoch in 10..=20 {
            fs::write(cp.path("commits", epoch, ""), b"EDDYCKP1 truncated").unwrap();
        }
        let err = cp.recover().err().expect("no intact checkpoint");
        assert!(err.to_string().contains("no intact checkpoint"), "{err}");
    }

    #[test]
    fn old_epochs_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let cp = CheckpointDir::open(dir.path()).unwrap();
        for epoch in 1..=20 {
            cp.write_offsets(&OffsetEntry {
                epoch,
                from: offsets(0),
                to: offsets(1),
                input_ended: false,
                idle_watermark: None,
                inputs_ended: Vec::new(),
                idle_partitions: Vec::new(),
            })
            .unwrap();
            let commit = CommitEntry {
                epoch,
                offsets: offsets(1),
                watermark: WatermarkState::default(),
                more_watermarks: Vec::new(),
                has_state: false,
                delta: false,
                removed: BTreeMap::new(),
                totals: Totals::default(),
            };
            cp.commit(&commit, &BTreeMap::new()).unwrap();
        }
        assert_eq!(
            epochs_in(&dir.path().join("commits")).unwrap().len() as u64,
            // The retained commits, plus the snapshot generation before
            // the oldest of them (here a full snapshot at every epoch).
            DEFAULT_RETAIN + 1
        );
        assert_eq!(cp.recover().unwrap().unwrap().commit.epoch, 20);
    }

    #[test]
    fn deltas_chain_back_to_their_snapshot_and_pruning_keeps_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let cp = CheckpointDir::open(dir.path()).unwrap().with_retain(2);
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let batch = |v: i64| {
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![v]))]).unwrap()
        };
        let commit = |epoch: u64, delta: bool| {
            cp.write_offsets(&OffsetEntry {
                epoch,
                from: offsets(epoch as i64 - 1),
                to: offsets(epoch as i64),
                input_ended: false,
                idle_watermark: None,
                inputs_ended: Vec::new(),
                idle_partitions: Vec::new(),
            })
            .unwrap();
            let entry = CommitEntry {
                epoch,
                offsets: offsets(epoch as i64),
                watermark: WatermarkState::default(),
                more_watermarks: Vec::new(),
                has_state: true,
                delta,
                removed: if delta {
                    BTreeMap::from([(0, vec![epoch as i64 - 1])])
                } else {
                    BTreeMap::new()
                },
                totals: Totals::default(),
            };
            cp.commit(&entry, &one(batch(epoch as i64))).unwrap();
        };
        commit(1, false);
        for epoch in 2..=4 {
            commit(epoch, true);
        }
        // Retaining 2 commits (3 and 4) still keeps snapshot 1 and deltas 2..4.
        let r = cp.recover().unwrap().unwrap();
        assert_eq!(r.commit.epoch, 4);
        let removed: Vec<Vec<i64>> = r
            .state
            .iter()
            .map(|p| p.removed.get(&0).cloned().unwrap_or_default())
            .collect();
        assert_eq!(removed, [vec![], vec![1], vec![2], vec![3]]);
        assert_eq!(r.state[3].operators[&0], vec![batch(4)]);
        assert!(cp.path("state", 1, ".snapshot").exists());

        // A new snapshot at 5: the chain before it is kept as the generation
        // to fall back to; after the next snapshot (7) it goes.
        commit(5, false);
        commit(6, true);
        assert_eq!(epochs_in(&dir.path().join("state")).unwrap().len(), 6);
        let r = cp.recover().unwrap().unwrap();
        assert_eq!(r.state.len(), 2);
        commit(7, false);
        commit(8, true);
        let mut kept = epochs_in(&dir.path().join("state")).unwrap();
        kept.sort_unstable();
        assert_eq!(kept, [5, 6, 7, 8]);
        // Epoch 8 replaced a damaged newest snapshot: fall back to 6.
        damage(&cp.path("state", 7, ".snapshot"));
        let r = cp.recover().unwrap().unwrap();
        assert_eq!(r.commit.epoch, 6);
        assert_eq!(
            r.pending.iter().map(|p| p.epoch).collect::<Vec<_>>(),
            [7, 8]
        );
        fs::write(cp.path("state", 7, ".snapshot"), b"").unwrap();
        commit(7, false);
        commit(8, true);

        // A damaged delta breaks the chain of every commit after it.
        damage(&cp.path("state", 8, ".delta"));
        let r = cp.recover().unwrap().unwrap();
        assert_eq!(r.commit.epoch, 7);
        assert_eq!(r.pending.iter().map(|p| p.epoch).collect::<Vec<_>>(), [8]);
    }
}
