use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{AsArray, Int64Array, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::{SinkDef, SourceDef};
use eddy_engine::table_store::TableStore;
use eddy_engine::{
    Offsets, RowPartitions, SinkConnector, SinkContext, Source, SourceConnector, SourceContext,
};
use futures::TryStreamExt;

use super::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_file", DataType::Utf8, true),
        Field::new("id", DataType::Int64, true),
        Field::new("_line", DataType::Int64, true),
    ]))
}

fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Fixture {
    _data: tempfile::TempDir,
    ctx: SourceContext,
}

fn fixture() -> Fixture {
    let data = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(data.path()).unwrap());
    Fixture {
        ctx: SourceContext {
            query: "q".into(),
            tables,
            bad_records: Arc::new(AtomicU64::new(0)),
            sample: false,
        },
        _data: data,
    }
}

fn source(dir: &Path, f: &Fixture, extra: &[(&str, &str)]) -> Box<dyn Source> {
    let mut pairs = vec![("path", dir.to_str().unwrap()), ("format", "json")];
    pairs.extend_from_slice(extra);
    let def = SourceDef {
        name: "events".into(),
        columns: Vec::new(),
        watermark: None,
        connector: "file".into(),
        options: options(&pairs),
        sql: String::new(),
    };
    crate::registry().validate_source(&def, &schema()).unwrap();
    FileSourceConnector
        .create(&def, schema(), f.ctx.clone())
        .unwrap()
}

fn write(dir: &Path, name: &str, ids: std::ops::Range<i64>) {
    let text: String = ids.map(|i| format!("{{\"id\": {i}}}\n")).collect();
    std::fs::write(dir.join(name), text).unwrap();
}

async fn read(src: &mut Box<dyn Source>, from: &Offsets, to: &Offsets) -> RecordBatch {
    // Each batch holds lines of one file, and says which.
    let batches: Vec<RecordBatch> = src
        .read(from, to)
        .map_ok(|b| {
            let RowPartitions::One(file) = &b.partitions else {
                panic!("a file batch from several files: {:?}", b.partitions);
            };
            assert!(to.contains_key(file), "{file} is not being read");
            b.batch
        })
        .try_collect()
        .await
        .unwrap();
    concat_batches(&schema(), &batches).unwrap()
}

fn ids(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column(1)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

#[tokio::test]
async fn new_files_are_each_read_once_and_temp_names_wait_for_rename() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let mut src = source(dir.path(), &f, &[]);
    write(dir.path(), "a.jsonl", 0..3);
    write(dir.path(), "b.jsonl.tmp", 100..102);
    write(dir.path(), ".c.jsonl", 200..201);

    let e0 = src.initial_offsets().await.unwrap();
    let e1 = src.plan_epoch(&e0).await.unwrap().end;
    assert_eq!(e1, Offsets::from([("a.jsonl".to_string(), 30)]));
    let batch = read(&mut src, &e0, &e1).await;
    assert_eq!(ids(&batch), vec![0, 1, 2]);
    let files: Vec<&str> = batch
        .column(0)
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(files, vec!["a.jsonl"; 3]);
    let lines: Vec<i64> = batch
        .column(2)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(lines, vec![1, 2, 3]);

    // Nothing new: the epoch is empty.
    assert_eq!(src.plan_epoch(&e1).await.unwrap().end, e1);

    std::fs::rename(dir.path().join("b.jsonl.tmp"), dir.path().join("b.jsonl")).unwrap();
    write(dir.path(), "c.jsonl", 300..301);
    let e2 = src.plan_epoch(&e1).await.unwrap().end;
    assert_eq!(e2.len(), 3);
    let batch = read(&mut src, &e1, &e2).await;
    assert_eq!(ids(&batch), vec![100, 101, 300]);
    assert_eq!(src.plan_epoch(&e2).await.unwrap().end, e2);
    assert_eq!(src.available_end(&e2).await.unwrap(), e2);
}

#[tokio::test]
async fn reads_are_exact_when_files_grow_and_epochs_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let mut src = source(
        dir.path(),
        &f,
        &[("max.files.per.epoch", "2"), ("glob", "*.jsonl")],
    );
    for (i, name) in ["x.jsonl", "y.jsonl", "z.jsonl"].iter().enumerate() {
        write(dir.path(), name, (i as i64 * 10)..(i as i64 * 10 + 2));
    }
    write(dir.path(), "notes.txt", 0..1);
    let e0 = Offsets::new();
    let e1 = src.plan_epoch(&e0).await.unwrap().end;
    assert_eq!(e1.len(), 2);
    assert_eq!(src.available_end(&e0).await.unwrap().len(), 3);
    let first = read(&mut src, &e0, &e1).await;

    // x.jsonl grows after it was planned: a replay still reads what was planned.
    let mut x = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("x.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut x, b"{\"id\": 99}\n").unwrap();
    let replay = read(&mut src, &e0, &e1).await;
    assert_eq!(ids(&first), ids(&replay));
    assert_eq!(ids(&first).len(), 4);

    let e2 = src.plan_epoch(&e1).await.unwrap().end;
    assert_eq!(e2.len(), 3);
    let rest = read(&mut src, &e1, &e2).await;
    assert_eq!(rest.num_rows(), 2);
    let mut all = ids(&first);
    all.extend(ids(&rest));
    all.sort();
    assert_eq!(all, vec![0, 1, 10, 11, 20, 21]);
}

#[tokio::test]
async fn csv_with_header_and_bad_lines_under_each_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "_file,id\n1\n\nabc\n3\r\n").unwrap();
    let e1 = Offsets::from([("a.csv".to_string(), 19)]);
    let csv = [("format", "csv"), ("csv.header", "true")];

    let f = fixture();
    let mut pairs = csv.to_vec();
    pairs.push(("on_error", "dead_letter"));
    let mut src = source_with(dir.path(), &f, &pairs);
    let batch = read(&mut src, &Offsets::new(), &e1).await;
    assert_eq!(ids(&batch), vec![1, 3]);
    let lines: Vec<i64> = batch
        .column(2)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(lines, vec![2, 5]);
    assert_eq!(f.ctx.bad_records.load(Ordering::Relaxed), 1);
    let dead = f.ctx.tables.get("events_errors").unwrap().batches();
    assert_eq!(dead[0].column(3).as_string::<i32>().value(0), "a.csv");
    assert_eq!(dead[0].column(4).as_primitive::<Int64Type>().value(0), 4);
    assert_eq!(dead[0].column(7).as_string::<i32>().value(0), "abc");

    let f = fixture();
    let mut src = source_with(dir.path(), &f, &csv);
    let err = src
        .read(&Offsets::new(), &e1)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("bad record in source 'events' at file a.csv line 4:"),
        "{err}"
    );
}

fn source_with(dir: &Path, f: &Fixture, pairs: &[(&str, &str)]) -> Box<dyn Source> {
    let mut all = vec![("path", dir.to_str().unwrap())];
    all.extend_from_slice(pairs);
    let def = SourceDef {
        name: "events".into(),
        columns: Vec::new(),
        watermark: None,
        connector: "file".into(),
        options: options(&all),
        sql: String::new(),
    };
    crate::registry().validate_source(&def, &schema()).unwrap();
    FileSourceConnector
        .create(&def, schema(), f.ctx.clone())
        .unwrap()
}

#[test]
fn validation_and_names() {
    let registry = crate::registry();
    let def = |pairs: &[(&str, &str)]| SourceDef {
        name: "events".into(),
        columns: Vec::new(),
        watermark: None,
        connector: "file".into(),
        options: options(pairs),
        sql: String::new(),
    };
    let err = registry
        .validate_source(&def(&[("format", "json")]), &schema())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("missing required option 'path'"), "{err}");
    let bad_meta = Arc::new(Schema::new(vec![Field::new("_line", DataType::Utf8, true)]));
    let err = registry
        .validate_source(&def(&[("path", "/x"), ("format", "json")]), &bad_meta)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "metadata column _line must be declared BIGINT");

    assert!(glob_matches("*", "a.jsonl"));
    assert!(glob_matches("*.json?", "a.jsonl"));
    assert!(glob_matches("events-*-*.csv", "events-1-22.csv"));
    assert!(!glob_matches("*.csv", "a.jsonl"));
    assert!(!glob_matches("a?", "a"));
    for name in [".x", "_SUCCESS", "a.tmp", "a.partial", "a._COPYING_"] {
        assert!(is_ignored(name), "{name}");
    }
    assert!(!is_ignored("part-1.jsonl"));
}

fn sink_def(dir: &Path, pairs: &[(&str, &str)]) -> SinkDef {
    let mut all = vec![("path", dir.to_str().unwrap())];
    all.extend_from_slice(pairs);
    SinkDef {
        name: "out".into(),
        connector: "file".into(),
        options: options(&all),
        sql: String::new(),
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn sink_writes_one_file_per_epoch_and_replay_overwrites() {
    let data = tempfile::tempdir().unwrap();
    let ctx = SinkContext {
        query: "q".into(),
        tables: Arc::new(TableStore::open(data.path()).unwrap()),
    };
    let dir = data.path().join("out");
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = |ids: Vec<i64>| {
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        RecordBatch::try_new(
            out_schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    };

    let def = sink_def(&dir, &[("format", "json")]);
    crate::registry().validate_sink(&def, &ctx).unwrap();
    let mut sink = FileSinkConnector.create(&def, ctx.clone()).unwrap();
    sink.open(out_schema.clone()).await.unwrap();
    assert_eq!(sink.write_epoch(1, &[batch(vec![1, 2])]).await.unwrap(), 2);
    assert_eq!(sink.write_epoch(2, &[]).await.unwrap(), 0);
    assert_eq!(sink.write_epoch(3, &[batch(vec![3])]).await.unwrap(), 1);
    assert_eq!(
        names_in(&dir),
        vec![
            "part-00000000000000000001.jsonl",
            "part-00000000000000000003.jsonl"
        ]
    );
    // A replay of epoch 3 (after a crash) rewrites the same file.
    sink.write_epoch(3, &[batch(vec![3])]).await.unwrap();
    assert_eq!(names_in(&dir).len(), 2);
    assert_eq!(
        std::fs::read_to_string(dir.join("part-00000000000000000001.jsonl")).unwrap(),
        "{\"id\":1,\"name\":\"n1\"}\n{\"id\":2,\"name\":\"n2\"}\n"
    );

    let csv_dir = data.path().join("csv");
    let def = sink_def(
        &csv_dir,
        &[
            ("format", "csv"),
            ("csv.header", "true"),
            ("csv.delimiter", ";"),
        ],
    );
    let mut sink = FileSinkConnector.create(&def, ctx).unwrap();
    sink.open(out_schema.clone()).await.unwrap();
    sink.write_epoch(7, &[batch(vec![1]), batch(vec![2])])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(csv_dir.join("part-00000000000000000007.csv")).unwrap(),
        "id;name\n1;n1\n2;n2\n"
    );
}

#[tokio::test]
async fn a_sample_is_the_newest_file_by_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let mut src = source(dir.path(), &f, &[]);
    let empty = src.sample_range(10).await.unwrap();
    assert!(empty.to.is_empty(), "no file, nothing to read: {empty:?}");
    let now = std::time::SystemTime::now();
    for (name, age) in [("z.jsonl", 300), ("b.jsonl", 10), ("a.jsonl", 200)] {
        write(dir.path(), name, 0..4);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(name))
            .unwrap()
            .set_modified(now - std::time::Duration::from_secs(age))
            .unwrap();
    }
    write(dir.path(), "c.jsonl.tmp", 0..4);
    let range = src.sample_range(10).await.unwrap();
    let size = std::fs::metadata(dir.path().join("b.jsonl")).unwrap().len() as i64;
    assert_eq!(range.from, Offsets::new());
    assert_eq!(range.to, Offsets::from([("b.jsonl".to_string(), size)]));
    assert_eq!(
        range.description,
        "at most 10 rows of its newest file, 'b.jsonl'"
    );
    // The sample is read like an epoch: decoded, with the file's metadata.
    let batch = read(&mut src, &range.from, &range.to).await;
    assert_eq!(ids(&batch), [0, 1, 2, 3]);
}
