//! The table sink against a real table store: columns, canonical values,
//! output modes, upserts exactly once per epoch, and constraints.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use eddy_engine::table_store::TableStore;

use super::*;

fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
            .collect::<Vec<_>>(),
    ))
}

fn def(table: &str) -> SinkDef {
    SinkDef {
        name: "out".into(),
        connector: "table".into(),
        options: BTreeMap::from([("table".to_string(), table.to_string())]),
        sql: String::new(),
    }
}

#[tokio::test]
async fn appends_and_checks_columns() {
    let dir = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(dir.path()).unwrap());
    let table_schema = schema(&[
        ("id", DataType::Int64, false),
        ("name", DataType::Utf8, true),
    ]);
    tables.create_or_load("results", table_schema).unwrap();
    let ctx = SinkContext {
        query: "q".into(),
        tables: tables.clone(),
    };
    let registry = crate::registry();
    let err = registry.validate_sink(&def("nope"), &ctx).unwrap_err();
    assert_eq!(err.to_string(), "table \"nope\" does not exist");
    registry.validate_sink(&def("results"), &ctx).unwrap();

    let mut sink = TableSinkConnector
        .create(&def("results"), ctx.clone())
        .unwrap();
    let wrong = schema(&[
        ("id", DataType::Int64, true),
        ("title", DataType::Utf8, true),
    ]);
    let err = sink.open(wrong).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "the query's output does not fit table \"results\": column 2 is named \"title\" but the table's is \
         \"name\"; output (id Int64, title Utf8), table (id Int64, name Utf8)"
    );
    let wrong = schema(&[
        ("id", DataType::Int32, true),
        ("name", DataType::Utf8, true),
    ]);
    let err = sink.open(wrong).await.unwrap_err().to_string();
    assert!(
        err.contains("column \"id\" has type Int32 but the table's has type Int64"),
        "{err}"
    );

    let output = schema(&[
        ("id", DataType::Int64, true),
        ("name", DataType::Utf8, true),
    ]);
    sink.open(output.clone()).await.unwrap();
    let batch = RecordBatch::try_new(
        output.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec![Some("a"), None])),
        ],
    )
    .unwrap();
    assert_eq!(sink.write_epoch(1, &[batch]).await.unwrap(), 2);
    assert_eq!(sink.write_epoch(2, &[]).await.unwrap(), 0);
    assert_eq!(tables.get("results").unwrap().row_count(), 2);

    let with_null_id = RecordBatch::try_new(
        output,
        vec![
            Arc::new(Int64Array::from(vec![None])),
            Arc::new(StringArray::from(vec![Some("x")])),
        ],
    )
    .unwrap();
    let err = sink
        .write_epoch(3, &[with_null_id])
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "table sink 'out' cannot write epoch 3 to table \"results\": null value in column \"id\" of \
         relation \"results\" violates not-null constraint (Failing row contains (null, x).)"
    );
}

#[tokio::test]
async fn uuid_and_jsonb_values_are_stored_canonical() {
    use datafusion::arrow::array::AsArray;
    let dir = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(dir.path()).unwrap());
    let field = |name, t| eddy_sql::types::arrow_field(name, t, true);
    let table_schema = Arc::new(Schema::new(vec![
        field("u", eddy_catalog::SqlType::Uuid),
        field("doc", eddy_catalog::SqlType::Jsonb),
    ]));
    tables.create_or_load("docs", table_schema).unwrap();
    let ctx = SinkContext {
        query: "q".into(),
        tables: tables.clone(),
    };
    let mut sink = TableSinkConnector.create(&def("docs"), ctx).unwrap();
    // A query's output names no types: plain text columns.
    let output = schema(&[("u", DataType::Utf8, true), ("doc", DataType::Utf8, true)]);
    sink.open(output.clone()).await.unwrap();
    let batch = |u: &str, doc: &str| {
        RecordBatch::try_new(
            output.clone(),
            vec![
                Arc::new(StringArray::from(vec![u])),
                Arc::new(StringArray::from(vec![doc])),
            ],
        )
        .unwrap()
    };
    let written = batch("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", r#"{"b":1,"a":2}"#);
    sink.write_epoch(1, &[written]).await.unwrap();
    let stored = tables.get("docs").unwrap().batches();
    assert_eq!(
        stored[0].column(0).as_string::<i32>().value(0),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(
        stored[0].column(1).as_string::<i32>().value(0),
        r#"{"a": 2, "b": 1}"#
    );
    let err = sink
        .write_epoch(2, &[batch("nope", "{}")])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table sink 'out' cannot write epoch 2 to table \"docs\": invalid input syntax for type uuid: \"nope\""
    );
}

/// The table's `id` values, in order.
fn ids(tables: &TableStore) -> Vec<i64> {
    tables
        .get("results")
        .unwrap()
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
        .collect()
}

#[tokio::test]
async fn complete_output_replaces_the_contents_once_per_epoch_and_update_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(dir.path()).unwrap());
    let output = schema(&[("id", DataType::Int64, true)]);
    tables.create_or_load("results", output.clone()).unwrap();
    let ctx = SinkContext {
        query: "q#1".into(),
        tables: tables.clone(),
    };
    let batch = |ids: &[i64]| {
        RecordBatch::try_new(
            output.clone(),
            vec![Arc::new(Int64Array::from(ids.to_vec()))],
        )
        .unwrap()
    };

    let mut sink = TableSinkConnector
        .create(&def("results"), ctx.clone())
        .unwrap();
    let err = sink.set_output_mode(OutputMode::Update).unwrap_err();
    assert!(matches!(err, EngineError::Config(_)), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "output_mode 'update' does not fit table sink 'out' with mode 'append': each epoch re-emits the rows"
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("Set mode = 'upsert' on the sink"),
        "{err}"
    );

    sink.set_output_mode(OutputMode::Complete).unwrap();
    sink.open(output.clone()).await.unwrap();
    assert_eq!(sink.write_epoch(1, &[batch(&[1, 2])]).await.unwrap(), 2);
    assert_eq!(
        sink.write_epoch(2, &[batch(&[1]), batch(&[2, 3])])
            .await
            .unwrap(),
        3
    );
    assert_eq!(ids(&tables), [1, 2, 3]);
    // A replay after a crash (a new sink, the same query) changes nothing.
    let mut restarted = TableSinkConnector.create(&def("results"), ctx).unwrap();
    restarted.set_output_mode(OutputMode::Complete).unwrap();
    restarted.open(output.clone()).await.unwrap();
    assert_eq!(restarted.write_epoch(2, &[batch(&[9])]).await.unwrap(), 0);
    assert_eq!(ids(&tables), [1, 2, 3]);
    let reopened = TableStore::open(dir.path()).unwrap();
    reopened.create_or_load("results", output.clone()).unwrap();
    assert_eq!(ids(&reopened), [1, 2, 3]);
    // An empty result empties the table.
    assert_eq!(restarted.write_epoch(3, &[]).await.unwrap(), 0);
    assert_eq!(ids(&tables), Vec::<i64>::new());
    assert_eq!(restarted.write_epoch(4, &[batch(&[7])]).await.unwrap(), 1);
    assert_eq!(ids(&tables), [7]);
}

fn def_with_mode(table: &str, mode: &str) -> SinkDef {
    let mut def = def(table);
    def.options.insert("mode".into(), mode.into());
    def
}

/// `totals (k BIGINT PRIMARY KEY, n BIGINT NOT NULL)`, the output schema
/// (nullable, as a query's output is) and a batch builder.
fn keyed_totals(tables: &TableStore) -> SchemaRef {
    use eddy_engine::table::{KeyConstraint, TableConstraints};
    let table_schema = schema(&[("k", DataType::Int64, false), ("n", DataType::Int64, false)]);
    let constraints = TableConstraints {
        primary_key: Some(KeyConstraint {
            name: "totals_pkey".into(),
            columns: vec![0],
        }),
        ..TableConstraints::from_schema(&table_schema)
    };
    tables
        .create_or_load_with("totals", table_schema, constraints)
        .unwrap();
    schema(&[("k", DataType::Int64, true), ("n", DataType::Int64, true)])
}

fn totals_batch(output: &SchemaRef, rows: &[(i64, Option<i64>)]) -> RecordBatch {
    RecordBatch::try_new(
        output.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
        ],
    )
    .unwrap()
}

/// The table's rows, sorted by key.
fn totals(tables: &TableStore) -> Vec<(i64, i64)> {
    let mut rows: Vec<(i64, i64)> = tables
        .get("totals")
        .unwrap()
        .batches()
        .iter()
        .flat_map(|b| {
            let col = |i: usize| {
                b.column(i)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            };
            col(0).into_iter().zip(col(1)).collect::<Vec<_>>()
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn upsert_mode_replaces_rows_by_key_exactly_once_per_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(dir.path()).unwrap());
    let output = keyed_totals(&tables);
    let ctx = SinkContext {
        query: "q#1".into(),
        tables: tables.clone(),
    };
    let mut sink = TableSinkConnector
        .create(&def_with_mode("totals", "upsert"), ctx.clone())
        .unwrap();
    sink.set_output_mode(OutputMode::Update).unwrap();
    sink.open(output.clone()).await.unwrap();
    let epoch1 = totals_batch(&output, &[(1, Some(10)), (2, Some(20))]);
    assert_eq!(sink.write_epoch(1, &[epoch1]).await.unwrap(), 2);
    // Key 1 changes twice within the epoch: the last row wins.
    let epoch2 = [
        totals_batch(&output, &[(1, Some(11)), (3, Some(30))]),
        totals_batch(&output, &[(1, Some(12))]),
    ];
    assert_eq!(sink.write_epoch(2, &epoch2).await.unwrap(), 2);
    assert_eq!(totals(&tables), [(1, 12), (2, 20), (3, 30)]);

    // After a crash: the store reloads, the epoch is replayed, nothing changes.
    drop(sink);
    let reopened = Arc::new(TableStore::open(dir.path()).unwrap());
    keyed_totals(&reopened);
    let ctx = SinkContext {
        query: "q#1".into(),
        tables: reopened.clone(),
    };
    let mut restarted = TableSinkConnector
        .create(&def_with_mode("totals", "upsert"), ctx)
        .unwrap();
    restarted.set_output_mode(OutputMode::Update).unwrap();
    restarted.open(output.clone()).await.unwrap();
    let replay = totals_batch(&output, &[(1, Some(999))]);
    assert_eq!(restarted.write_epoch(2, &[replay]).await.unwrap(), 0);
    assert_eq!(totals(&reopened), [(1, 12), (2, 20), (3, 30)]);
    let epoch3 = totals_batch(&output, &[(2, Some(21))]);
    assert_eq!(restarted.write_epoch(3, &[epoch3]).await.unwrap(), 1);
    assert_eq!(totals(&reopened), [(1, 12), (2, 21), (3, 30)]);

    // A NULL in a NOT NULL column fails the epoch, naming everything.
    let err = restarted
        .write_epoch(4, &[totals_batch(&output, &[(4, None)])])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table sink 'out' cannot write epoch 4 to table \"totals\": null value in column \"n\" of \
         relation \"totals\" violates not-null constraint (Failing row contains (4, null).)"
    );
    assert_eq!(totals(&reopened), [(1, 12), (2, 21), (3, 30)]);
}

#[tokio::test]
async fn append_mode_checks_the_primary_key_and_modes_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(dir.path()).unwrap());
    let output = keyed_totals(&tables);
    let ctx = SinkContext {
        query: "q#1".into(),
        tables: tables.clone(),
    };
    let mut sink = TableSinkConnector
        .create(&def("totals"), ctx.clone())
        .unwrap();
    let err = sink.set_output_mode(OutputMode::Update).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "output_mode 'update' does not fit table sink 'out' with mode 'append': each epoch re-emits"
        ),
        "{err}"
    );
    sink.set_output_mode(OutputMode::Append).unwrap();
    sink.open(output.clone()).await.unwrap();
    sink.write_epoch(1, &[totals_batch(&output, &[(1, Some(1))])])
        .await
        .unwrap();
    let err = sink
        .write_epoch(2, &[totals_batch(&output, &[(2, Some(2)), (1, Some(5))])])
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Data(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "table sink 'out' cannot write epoch 2 to table \"totals\": duplicate key value violates \
         unique constraint \"totals_pkey\" (Key (k)=(1) already exists.)"
    );
    assert_eq!(totals(&tables), [(1, 1)], "the failed epoch wrote nothing");

    let mut upsert = TableSinkConnector
        .create(&def_with_mode("totals", "upsert"), ctx.clone())
        .unwrap();
    let err = upsert.set_output_mode(OutputMode::Complete).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("output_mode 'complete' does not fit table sink 'out' with mode 'upsert'"),
        "{err}"
    );

    // Upsert needs a primary key; mode takes only its values.
    let registry = crate::registry();
    tables
        .create_or_load("plain", schema(&[("k", DataType::Int64, true)]))
        .unwrap();
    let err = registry
        .validate_sink(&def_with_mode("plain", "upsert"), &ctx)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mode 'upsert' of table sink 'out' needs table \"plain\" to have a primary key: the key says \
         which row a new row replaces"
    );
    let err = registry
        .validate_sink(&def_with_mode("totals", "merge"), &ctx)
        .unwrap_err();
    assert!(err.to_string().contains("append, upsert"), "{err}");
    registry
        .validate_sink(&def_with_mode("totals", "UPSERT"), &ctx)
        .unwrap();
}
