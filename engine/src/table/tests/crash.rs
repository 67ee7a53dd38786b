//! Crash safety: the states a crash can leave (a temporary segment, a write
//! whose compaction had not removed the old segments, a base without its
//! manifest) load as either the state before or after the write, never a
//! mix; and data directories written before tombstones existed load.

use std::collections::BTreeMap;

use datafusion::arrow::ipc::writer::FileWriter;

use super::*;

/// Copies every file of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_temporary_segment_left_by_a_crash_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let t = open_keyed(dir.path());
    t.write(WriteSet::insert(vec![row(1, "a")])).unwrap();
    drop(t);
    let tdir = table_dir(dir.path());
    fs::write(tdir.join(format!("{:020}.tmp", 5)), b"ARROW1 torn").unwrap();
    let t = open_keyed(dir.path());
    assert_eq!(contents(&t), [(1, Some("a".into()), None)]);
    assert!(!tdir.join(format!("{:020}.tmp", 5)).exists());
    t.write(WriteSet::insert(vec![row(2, "b")])).unwrap();
    assert_eq!(contents(&open_keyed(dir.path())).len(), 2);
}

/// Runs writes until one compacts (removes segment files); checks that the
/// states a crash during that write can leave all load as the state after
/// it: each new file present with the old ones not yet removed, with or
/// without a new manifest.
fn crash_during_compaction(mut write: impl FnMut(&StoredTable, usize), full: bool) {
    let dir = tempfile::tempdir().unwrap();
    let tdir = table_dir(dir.path());
    let t = open_keyed(dir.path());
    for i in 0.. {
        let before = tempfile::tempdir().unwrap();
        copy_dir(&tdir, before.path());
        let old = segment_files(&tdir);
        write(&t, i);
        let now = segment_files(&tdir);
        let removed = old.iter().any(|f| !now.contains(f));
        let new_base =
            fs::read(tdir.join("manifest")).ok() != fs::read(before.path().join("manifest")).ok();
        if !removed || new_base != full {
            continue;
        }
        let expected = contents(&t);
        let added: Vec<&String> = now.iter().filter(|f| !old.contains(f)).collect();
        assert!(!added.is_empty());
        // The crash came after each new file was renamed in place, before
        // the manifest changed and the old segments were removed.
        for n in 1..=added.len() {
            let crashed = tempfile::tempdir().unwrap();
            let crashed_table = table_dir(crashed.path());
            copy_dir(before.path(), &crashed_table);
            for f in &added[..n] {
                fs::copy(tdir.join(f), crashed_table.join(f)).unwrap();
            }
            let reloaded = open_keyed(crashed.path());
            // The write's own segment comes first: from it on, the write
            // is durable, and compaction changes no row.
            assert_eq!(
                contents(&reloaded),
                expected,
                "{n} of {} new files",
                added.len()
            );
            // Whatever the crash left, the reloaded table writes on.
            reloaded
                .write(WriteSet::upsert(vec![row(1_000_000, "after")]))
                .unwrap();
            drop(reloaded);
            let again = open_keyed(crashed.path());
            assert!(contents(&again).iter().any(|r| r.0 == 1_000_000));
        }
        return;
    }
}

#[test]
fn a_crash_during_a_tail_merge_neither_loses_nor_doubles_rows() {
    crash_during_compaction(
        |t, i| {
            let i = i as i64;
            t.write(
                WriteSet::upsert(vec![row(i % 5, &format!("v{i}"))])
                    .delete_keys(keys(&[(i + 2) % 5])),
            )
            .unwrap();
        },
        false,
    );
}

#[test]
fn a_crash_during_a_full_compaction_neither_loses_nor_doubles_rows() {
    crash_during_compaction(
        |t, i| {
            let rows: Vec<RecordBatch> = (0..300)
                .map(|j| row((i * 300 + j) as i64 % 5000, "x"))
                .collect();
            t.write(WriteSet::upsert(rows)).unwrap();
        },
        true,
    );
}

/// A segment as the storage wrote them before tombstones and merges: rows
/// in several batches, writers in the metadata, optionally a base.
fn old_segment(dir: &Path, seq: u64, batches: &[RecordBatch], writers: &str, base: bool) {
    let schema = keyed_schema();
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("eddy.writers".to_string(), writers.to_string());
    if base {
        metadata.insert("eddy.base".to_string(), "true".to_string());
    }
    let schema = Arc::new(schema.as_ref().clone().with_metadata(metadata));
    let file = fs::File::create(dir.join(format!("{seq:020}.arrow"))).unwrap();
    let mut writer = FileWriter::try_new(file, &schema).unwrap();
    for b in batches {
        writer
            .write(&RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap())
            .unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn a_data_directory_of_the_previous_format_loads_and_takes_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = table_dir(dir.path());
    fs::create_dir_all(&tdir).unwrap();
    // Garbage below the manifest, a base, then appends of several batches.
    old_segment(&tdir, 1, &[row(99, "garbage")], r#"{"q#1":1}"#, false);
    old_segment(&tdir, 2, &[row(1, "a")], r#"{"q#1":2}"#, true);
    old_segment(&tdir, 3, &[row(2, "b"), row(3, "c")], r#"{"q#1":3}"#, false);
    old_segment(&tdir, 4, &[row(4, "d")], r#"{"q#1":3,"q#2":7}"#, false);
    fs::write(tdir.join("manifest"), "2").unwrap();
    let t = open_keyed(dir.path());
    let ks = |t: &StoredTable| contents(t).iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(ks(&t), [1, 2, 3, 4]);
    assert!(
        !t.write(WriteSet::insert(vec![row(5, "e")]).for_epoch("q#1", 3))
            .unwrap()
            .applied
    );
    assert!(
        !t.write(WriteSet::insert(vec![row(5, "e")]).for_epoch("q#2", 7))
            .unwrap()
            .applied
    );
    // Row 3 is the second batch of segment 3: its location counts across
    // the segment's batches.
    t.write(WriteSet::new().delete_keys(keys(&[3]))).unwrap();
    t.write(WriteSet::upsert(vec![row(2, "b2")])).unwrap();
    drop(t);
    let t = open_keyed(dir.path());
    assert_eq!(ks(&t), [1, 2, 4]);
    assert_eq!(contents(&t)[1], (2, Some("b2".into()), None));
    let writers: BTreeMap<String, u64> = t.lock().writers.clone();
    assert_eq!(
        writers,
        BTreeMap::from([("q#1".into(), 3), ("q#2".into(), 7)])
    );
}
