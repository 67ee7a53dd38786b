//! Tests of the table storage: the shorthands callers used before write
//! sets (their behaviour is unchanged), then keys, constraints, crash
//! safety and optimistic concurrency (see `model.rs` for the randomised
//! comparison against a naive model).

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::stored::StoredTable;
use super::*;

mod crash;
mod keyed;
mod model;

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
    let t = StoredTable::load(
        "t",
        before.path().to_path_buf(),
        schema.clone(),
        TableConstraints::from_schema(&schema),
        true,
    )
    .unwrap();
    assert_eq!(t.row_count(), 2);
}

/// A row of the keyed test table `t (k BIGINT PRIMARY KEY, v TEXT, u BIGINT UNIQUE)`.
type Row = (i64, Option<String>, Option<i64>);

fn keyed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
        Field::new("u", DataType::Int64, true),
    ]))
}

fn keyed_constraints() -> TableConstraints {
    TableConstraints {
        primary_key: Some(KeyConstraint {
            name: "t_pkey".into(),
            columns: vec![0],
        }),
        unique: vec![KeyConstraint {
            name: "t_u_key".into(),
            columns: vec![2],
        }],
        not_null: vec![],
    }
}

fn open_keyed(dir: &Path) -> Arc<StoredTable> {
    TableStore::open(dir)
        .unwrap()
        .create_or_load_with("t", keyed_schema(), keyed_constraints())
        .unwrap()
}

/// Rows with nullable columns, as a writer's batch would carry them.
fn keyed_rows(rows: &[(Option<i64>, Option<&str>, Option<i64>)]) -> RecordBatch {
    use datafusion::arrow::array::StringArray;
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
        Field::new("u", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

fn row(k: i64, v: &str) -> RecordBatch {
    keyed_rows(&[(Some(k), Some(v), None)])
}

fn keys(ks: &[i64]) -> Vec<datafusion::arrow::array::ArrayRef> {
    vec![Arc::new(Int64Array::from(ks.to_vec()))]
}

/// The table's live rows as a scan returns them, sorted by key.
fn contents(t: &StoredTable) -> Vec<Row> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int64Type;
    let mut out = Vec::new();
    for b in t.batches() {
        let k = b.column(0).as_primitive::<Int64Type>();
        let v = b.column(1).as_string::<i32>();
        let u = b.column(2).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            out.push((
                k.value(r),
                (!v.is_null(r)).then(|| v.value(r).to_string()),
                (!u.is_null(r)).then(|| u.value(r)),
            ));
        }
    }
    out.sort();
    out
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".arrow"))
        .collect();
    names.sort();
    names
}

/// The directory of table `t` under a store at `dir`.
fn table_dir(dir: &Path) -> PathBuf {
    dir.join("74")
}
