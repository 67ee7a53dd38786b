//! Tests against a real, private PostgreSQL (see `test_server`).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::SinkDef;
use eddy_engine::table_store::TableStore;
use eddy_engine::{EngineError, Sink, SinkConnector, SinkContext};

use super::PostgresConnector;
use super::test_server::TestPostgres;

pub(super) fn sink(pg: &TestPostgres, name: &str, extra: &[(&str, &str)]) -> Box<dyn Sink> {
    let mut options = BTreeMap::from([("url".to_string(), pg.url())]);
    options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let def = SinkDef {
        name: name.into(),
        connector: "postgres".into(),
        options,
        sql: String::new(),
    };
    let ctx = SinkContext {
        query: "q1".into(),
        tables: no_tables(),
    };
    crate::registry().validate_sink(&def, &ctx).unwrap();
    PostgresConnector.create(&def, ctx).unwrap()
}

/// A table store the postgres sink never touches.
pub(super) fn no_tables() -> Arc<TableStore> {
    Arc::new(TableStore::open(tempfile::tempdir().unwrap().path()).unwrap())
}

/// Every column type the sink writes, with NULLs, negative and fractional
/// values, and values before 2000-01-01 (PostgreSQL's epoch).
fn all_types_batch() -> RecordBatch {
    let ts = |s: &str| eddy_engine::options::parse_timestamp_micros(s).unwrap();
    let fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("i32", DataType::Int32, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("txt", DataType::Utf8, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "tstz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("day", DataType::Date32, true),
        Field::new("dec", DataType::Decimal128(12, 4), true),
        Field::new("big_dec", DataType::Decimal128(38, 6), true),
        Field::new("bin", DataType::Binary, true),
        Field::new("narrow", DataType::Int64, true),
        Field::new("label", DataType::Utf8, true),
    ];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3])),
        Arc::new(Int32Array::from(vec![Some(-2_147_483_648), None, Some(7)])),
        Arc::new(Int16Array::from(vec![Some(-32768), Some(32767), None])),
        Arc::new(Float64Array::from(vec![
            Some(-1.5e-3),
            None,
            Some(123456.789),
        ])),
        Arc::new(Float32Array::from(vec![Some(-0.25), Some(3.5), None])),
        Arc::new(StringArray::from(vec![
            Some("héllo \"quoted\""),
            Some(""),
            None,
        ])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(ts("1999-12-31 23:59:59.5")),
            None,
            Some(ts("2026-01-01 12:00:00.000001")),
        ])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![
                None,
                Some(ts("2000-01-01 00:00:00")),
                Some(ts("1969-07-20 20:17:40")),
            ])
            .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from(vec![Some(-165), Some(10_957), None])),
        Arc::new(
            Decimal128Array::from(vec![Some(-12_345_678), Some(1), None])
                .with_precision_and_scale(12, 4)
                .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![
                Some(12_345_678_901_234_000_001),
                Some(-5_000_000),
                Some(0),
            ])
            .with_precision_and_scale(38, 6)
            .unwrap(),
        ),
        Arc::new(BinaryArray::from(vec![
            Some(&[0u8, 255, 16][..]),
            None,
            Some(&[][..]),
        ])),
        Arc::new(Int64Array::from(vec![Some(-40), None, Some(40_000)])),
        Arc::new(StringArray::from(vec![Some("a"), Some("bc"), None])),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

pub(super) async fn rows_as_text(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Vec<Vec<Option<String>>> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.get::<_, Option<String>>(i))
                .collect()
        })
        .collect()
}

pub(super) fn texts(row: &[Option<&str>]) -> Vec<Option<String>> {
    row.iter().map(|v| v.map(str::to_string)).collect()
}

#[tokio::test]
async fn binary_copy_round_trips_every_type() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    client
        .batch_execute(
            "CREATE SCHEMA app; CREATE TABLE app.\"All Types\" (
                id bigint, i32 integer, i16 smallint, f64 double precision, f32 real, txt text,
                flag boolean, ts timestamp, tstz timestamptz, day date, dec numeric(12,4), big_dec numeric,
                bin bytea, narrow integer, label varchar(5), extra text DEFAULT 'default')",
        )
        .await
        .unwrap();
    let batch = all_types_batch();
    let mut sink = sink(
        &pg,
        "all",
        &[("table", "app.All Types"), ("batch_size", "2")],
    );
    sink.open(batch.schema()).await.unwrap();
    assert_eq!(
        sink.write_epoch(1, std::slice::from_ref(&batch))
            .await
            .unwrap(),
        3
    );

    client.batch_execute("SET TIME ZONE 'UTC'").await.unwrap();
    let rows = rows_as_text(
        &client,
        "SELECT id::text, i32::text, i16::text, f64::text, f32::text, txt, flag::text, ts::text, tstz::text,
                day::text, dec::text, big_dec::text, bin::text, narrow::text, label, extra
         FROM app.\"All Types\" ORDER BY id",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            texts(&[
                Some("1"),
                Some("-2147483648"),
                Some("-32768"),
                Some("-0.0015"),
                Some("-0.25"),
                Some("héllo \"quoted\""),
                Some("true"),
                Some("1999-12-31 23:59:59.5"),
                None,
                Some("1969-07-20"),
                Some("-1234.5678"),
                Some("12345678901234.000001"),
                Some("\\x00ff10"),
                Some("-40"),
                Some("a"),
                Some("default"),
            ]),
            texts(&[
                Some("2"),
                None,
                Some("32767"),
                None,
                Some("3.5"),
                Some(""),
                Some("false"),
                None,
                Some("2000-01-01 00:00:00+00"),
                Some("2000-01-01"),
                Some("0.0001"),
                Some("-5.000000"),
                None,
                None,
                Some("bc"),
                Some("default"),
            ]),
            texts(&[
                Some("3"),
                Some("7"),
                None,
                Some("123456.789"),
                None,
                None,
                None,
                Some("2026-01-01 12:00:00.000001"),
                Some("1969-07-20 20:17:40+00"),
                None,
                None,
                Some("0.000000"),
                Some("\\x"),
                Some("40000"),
                None,
                Some("default"),
            ]),
        ]
    );

    // A value that does not fit the column's type fails the epoch, which
    // leaves nothing behind.
    let mut columns = batch.columns().to_vec();
    columns[13] = Arc::new(Int64Array::from(vec![Some(1), Some(3_000_000_000), None]));
    let too_big = RecordBatch::try_new(batch.schema(), columns).unwrap();
    let err = sink.write_epoch(2, &[too_big]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "column narrow: value 3000000000 does not fit PostgreSQL type integer"
    );
    let count: i64 = client
        .query_one("SELECT count(*) FROM app.\"All Types\"", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
}

/// uuid, json and jsonb output columns (named by field metadata) create
/// columns of those types and are written in their binary forms; a plain
/// text column holding uuids can be written into a uuid column too.
#[tokio::test]
async fn binary_copy_writes_uuid_and_json() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    let field = |name: &str, t: eddy_catalog::SqlType| eddy_sql::types::arrow_field(name, t, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        field("u", eddy_catalog::SqlType::Uuid),
        field("j", eddy_catalog::SqlType::Json),
        field("jb", eddy_catalog::SqlType::Jsonb),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec![
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                None,
            ])),
            Arc::new(StringArray::from(vec![
                Some(r#"{"b": 1,  "a": [true]}"#),
                None,
            ])),
            Arc::new(StringArray::from(vec![
                Some(r#"{"a": [true], "b": 1}"#),
                None,
            ])),
        ],
    )
    .unwrap();
    let mut typed = sink(
        &pg,
        "typed",
        &[("table", "typed"), ("create_table", "true")],
    );
    typed.open(schema).await.unwrap();
    typed.write_epoch(1, &[batch]).await.unwrap();
    let rows = rows_as_text(
        &client,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'typed'::regclass AND attnum > 0 ORDER BY attnum",
    )
    .await;
    assert_eq!(
        rows,
        [["bigint"], ["uuid"], ["json"], ["jsonb"]]
            .map(|r| texts(&[Some(r[0])]))
            .to_vec()
    );
    let rows = rows_as_text(
        &client,
        "SELECT u::text, j::text, jb::text FROM typed ORDER BY id",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            texts(&[
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                Some(r#"{"b": 1,  "a": [true]}"#),
                Some(r#"{"a": [true], "b": 1}"#),
            ]),
            texts(&[None, None, None]),
        ]
    );

    client
        .batch_execute("CREATE TABLE ids (u uuid)")
        .await
        .unwrap();
    let text_schema = Arc::new(Schema::new(vec![Field::new("u", DataType::Utf8, true)]));
    let ids = |values: Vec<&str>| {
        RecordBatch::try_new(
            text_schema.clone(),
            vec![Arc::new(StringArray::from(values)) as ArrayRef],
        )
        .unwrap()
    };
    let mut uuids = sink(&pg, "ids", &[("table", "ids")]);
    uuids.open(text_schema.clone()).await.unwrap();
    uuids
        .write_epoch(1, &[ids(vec!["{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}"])])
        .await
        .unwrap();
    let rows = rows_as_text(&client, "SELECT u::text FROM ids").await;
    assert_eq!(
        rows,
        vec![texts(&[Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")])]
    );
    let err = uuids
        .write_epoch(2, &[ids(vec!["not a uuid"])])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "column u: invalid input syntax for type uuid: \"not a uuid\""
    );
}

fn numbers(schema: &SchemaRef, from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn sink_creates_checks_and_writes_each_epoch_once() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("Name", DataType::Utf8, true),
    ]));

    let mut missing = sink(&pg, "s", &[("table", "counts")]);
    let err = missing.open(schema.clone()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "table \"counts\" does not exist in PostgreSQL; create it or set create_table = 'true'"
    );

    let mut s = sink(
        &pg,
        "s",
        &[
            ("table", "counts"),
            ("create_table", "true"),
            ("batch_size", "3"),
        ],
    );
    s.open(schema.clone()).await.unwrap();
    let types = rows_as_text(
        &client,
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_name = 'counts' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        types,
        vec![
            texts(&[Some("id"), Some("bigint")]),
            texts(&[Some("Name"), Some("text")])
        ]
    );

    assert_eq!(
        s.write_epoch(1, &[numbers(&schema, 0, 4), numbers(&schema, 4, 10)])
            .await
            .unwrap(),
        10
    );
    // A replay of an epoch PostgreSQL already holds is skipped.
    assert_eq!(
        s.write_epoch(1, &[numbers(&schema, 0, 10)]).await.unwrap(),
        0
    );
    assert_eq!(s.write_epoch(2, &[]).await.unwrap(), 0);

    // The connection dies between epochs: the next write fails with a
    // retryable error or reconnects by itself; either way epoch 3 lands once.
    client
        .batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%eddy_sink_progress%' AND pid <> pg_backend_pid()")
        .await
        .unwrap();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match s.write_epoch(3, &[numbers(&schema, 10, 12)]).await {
            Ok(rows) => {
                assert_eq!(rows, 2);
                break;
            }
            Err(e) => {
                assert!(e.is_retryable(), "{e}");
                assert!(attempts < 3, "{e}");
            }
        }
    }
    let summary = rows_as_text(
        &client,
        "SELECT count(*)::text, count(DISTINCT id)::text, max(\"Name\") FROM counts
         UNION ALL SELECT sink || '/' || query, epoch::text, NULL FROM eddy_sink_progress",
    )
    .await;
    assert_eq!(
        summary,
        vec![
            texts(&[Some("12"), Some("12"), Some("n9")]),
            texts(&[Some("s/q1"), Some("3"), None])
        ]
    );

    // A table whose column types do not fit.
    client
        .batch_execute("CREATE TABLE wrong (id bigint, \"Name\" integer)")
        .await
        .unwrap();
    let mut wrong = sink(&pg, "w", &[("table", "wrong")]);
    let err = wrong.open(schema.clone()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "output column \"Name\" has type Utf8 but column \"Name\" of PostgreSQL table \"wrong\" is integer; \
         expected one of text, character varying, character, uuid, json, jsonb"
    );
    client
        .batch_execute("CREATE TABLE lower (id bigint, name text)")
        .await
        .unwrap();
    let err = sink(&pg, "l", &[("table", "lower")])
        .open(schema.clone())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "output column \"Name\" does not exist in PostgreSQL table \"lower\" (names are case-sensitive: did you \
         mean \"name\"?); its columns are id, name"
    );
}

#[tokio::test]
async fn unreachable_postgres_is_a_retryable_error_and_validation_needs_no_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let def = SinkDef {
        name: "down".into(),
        connector: "postgres".into(),
        options: BTreeMap::from([
            (
                "url".to_string(),
                format!("jdbc:postgresql://127.0.0.1:{port}/db?user=app&password=hunter2"),
            ),
            ("table".to_string(), "t".to_string()),
        ]),
        sql: String::new(),
    };
    let ctx = SinkContext {
        query: "q".into(),
        tables: no_tables(),
    };
    crate::registry().validate_sink(&def, &ctx).unwrap();
    let mut s = PostgresConnector.create(&def, ctx.clone()).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    let err = s.open(schema).await.unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::External {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("postgres sink 'down' (127.0.0.1:{port}/db): ")),
        "{text}"
    );
    assert!(!text.contains("hunter2"));

    let mut bad = def.clone();
    bad.options.insert("mode".into(), "merge".into());
    let err = crate::registry().validate_sink(&bad, &ctx).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value 'merge' for option 'mode'; expected one of append, upsert, overwrite"
    );
    bad.options.remove("mode");
    bad.options.remove("table");
    let err = crate::registry().validate_sink(&bad, &ctx).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing required option 'table' for sink connector 'postgres': target table, 'table' or 'schema.table'"
    );
}
