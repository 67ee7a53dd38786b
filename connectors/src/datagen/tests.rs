use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float64Type, Int16Type, Int64Type, Schema,
    SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use eddy_catalog::SourceDef;
use eddy_engine::SourceConnector;
use futures::TryStreamExt;

use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::RowPartitions;

use super::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("page", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new("small", DataType::Int16, true),
        Field::new("price", DataType::Decimal128(10, 2), true),
        Field::new("day", DataType::Date32, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]))
}

fn def(options: &[(&str, &str)]) -> SourceDef {
    SourceDef {
        name: "clicks".into(),
        columns: Vec::new(),
        watermark: None,
        connector: "datagen".into(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        sql: String::new(),
    }
}

fn source(options: &[(&str, &str)]) -> Box<dyn Source> {
    DatagenConnector
        .create(&def(options), schema(), ctx())
        .unwrap()
}

fn at(rows: i64) -> Offsets {
    Offsets::from([(PARTITION.to_string(), rows)])
}

async fn read(source: &mut Box<dyn Source>, from: i64, to: i64) -> RecordBatch {
    let (from, to) = (at(from), at(to));
    let batches: Vec<RecordBatch> = source
        .read(&from, &to)
        .map_ok(|b| {
            assert_eq!(b.partitions, RowPartitions::One(PARTITION.to_string()));
            b.batch
        })
        .try_collect()
        .await
        .unwrap();
    assert!(batches.iter().all(|b| b.num_rows() <= BATCH_ROWS as usize));
    concat_batches(&source.schema(), &batches).unwrap()
}

fn validation_error(options: &[(&str, &str)], schema: SchemaRef) -> String {
    let d = def(options);
    crate::registry()
        .validate_source(&d, &schema)
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn same_seed_same_rows_and_epoch_cuts_do_not_matter() {
    let opts = [
        ("seed", "42"),
        ("fields.page.null_rate", "0.2"),
        ("fields.price.min", "-5.5"),
    ];
    let whole = read(&mut source(&opts), 0, 20_000).await;
    assert_eq!(whole.num_rows(), 20_000);
    let mut cut = source(&opts);
    let parts = [
        read(&mut cut, 0, 300).await,
        read(&mut cut, 300, 9000).await,
        read(&mut cut, 9000, 20_000).await,
    ];
    assert_eq!(concat_batches(&schema(), &parts).unwrap(), whole);
    let other = read(&mut source(&[("seed", "43")]), 0, 20_000).await;
    assert_ne!(other.column(0), whole.column(0));
}

#[tokio::test]
async fn values_respect_their_options() {
    let opts = [
        ("fields.user_id.min", "1"),
        ("fields.user_id.max", "100"),
        ("fields.page.length", "13"),
        ("fields.page.null_rate", "0.25"),
        ("fields.amount.min", "-1.5"),
        ("fields.amount.max", "2.5"),
        ("fields.small.kind", "sequence"),
        ("fields.small.start", "5"),
        ("fields.small.end", "7"),
        ("fields.price.min", "-0.99"),
        ("fields.price.max", "0.99"),
        ("fields.day.kind", "sequence"),
        ("fields.day.start", "2026-03-01"),
    ];
    let batch = read(&mut source(&opts), 0, 10_000).await;
    let ids = batch.column(0).as_primitive::<Int64Type>();
    assert!(ids.values().iter().all(|v| (1..=100).contains(v)));
    assert!(ids.values().contains(&1) && ids.values().contains(&100));
    let pages = batch.column(1).as_string::<i32>();
    let nulls = pages.null_count() as f64 / 10_000.0;
    assert!((0.22..0.28).contains(&nulls), "null share {nulls}");
    assert!(
        pages
            .iter()
            .flatten()
            .all(|p| p.len() == 13 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    );
    let amounts = batch.column(2).as_primitive::<Float64Type>();
    assert!(amounts.values().iter().all(|v| (-1.5..=2.5).contains(v)));
    let ok = batch.column(3).as_boolean();
    let trues = ok.true_count() as f64 / 10_000.0;
    assert!((0.45..0.55).contains(&trues));
    let small = batch.column(4).as_primitive::<Int16Type>();
    assert_eq!(&small.values()[..5], &[5, 6, 7, 5, 6]);
    let price = batch.column(5).as_primitive::<Decimal128Type>();
    assert!(price.values().iter().all(|v| (-99..=99).contains(v)));
    assert!(price.values().iter().any(|v| *v < 0));
    let day = batch.column(6).as_primitive::<Date32Type>();
    let march_first = 20_513; // days from 1970-01-01 to 2026-03-01
    assert_eq!(
        &day.values()[..3],
        &[march_first, march_first + 1, march_first + 2]
    );
}

#[tokio::test]
async fn event_time_jitter_and_late_rows() {
    let start = eddy_engine::options::parse_timestamp_micros("2026-01-01 00:00:00").unwrap();
    let opts = [
        ("fields.ts.step", "10 milliseconds"),
        ("fields.ts.max_out_of_order", "3 seconds"),
        ("fields.ts.late_rate", "0.1"),
        ("fields.ts.late_by", "1 minute"),
    ];
    let n = 50_000;
    let batch = read(&mut source(&opts), 0, n).await;
    let ts = batch.column(7).as_primitive::<TimestampMicrosecondType>();
    let mut late = 0;
    let mut max_jitter = 0;
    for (i, t) in ts.values().iter().enumerate() {
        let nominal = start + i as i64 * 10_000;
        let mut behind = nominal - t;
        if behind > 3_000_000 {
            late += 1;
            behind -= 60_000_000;
        }
        assert!(
            (0..=3_000_000).contains(&behind),
            "row {i}: {behind}us behind"
        );
        max_jitter = max_jitter.max(behind);
    }
    assert!(
        max_jitter > 2_900_000,
        "jitter should cover its range, max {max_jitter}"
    );
    let share = late as f64 / n as f64;
    assert!((0.09..0.11).contains(&share), "late share {share}");

    // Defaults: no jitter, step = 1 s / rows.per.second.
    let plain = read(&mut source(&[("rows.per.second", "100")]), 0, 3).await;
    let ts = plain.column(7).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        ts.values().to_vec(),
        vec![start, start + 10_000, start + 20_000]
    );
}

#[tokio::test]
async fn bounded_source_is_exhausted_at_number_of_rows() {
    let mut s = source(&[
        ("rows.per.second", "0"),
        ("number.of.rows", "2500"),
        ("rows.per.epoch", "1000"),
    ]);
    let mut from = s.initial_offsets().await.unwrap();
    let mut ends = Vec::new();
    loop {
        let planned = s.plan_epoch(&from).await.unwrap();
        ends.push((planned.end[PARTITION], planned.exhausted));
        from = planned.end;
        if planned.exhausted {
            break;
        }
    }
    assert_eq!(ends, vec![(1000, false), (2000, false), (2500, true)]);
    let again = s.plan_epoch(&from).await.unwrap();
    assert_eq!((again.end[PARTITION], again.exhausted), (2500, true));
}

#[tokio::test]
async fn rate_counts_from_the_first_planned_position() {
    let config = DatagenConfig::parse(
        "test",
        &def(&[("rows.per.second", "1000"), ("rows.per.epoch", "300")]).options,
        &schema(),
    )
    .unwrap();
    let s = DatagenSource::new(schema(), config);
    assert_eq!(s.plan_end(5000, 5000, Duration::ZERO), 5000);
    assert_eq!(s.plan_end(5000, 5000, Duration::from_millis(120)), 5120);
    assert_eq!(s.plan_end(5000, 5000, Duration::from_secs(10)), 5300);
    // A restarted reader starts its clock at the restart position.
    let mut restarted = source(&[("rows.per.second", "1000")]);
    let planned = restarted.plan_epoch(&at(1_000_000)).await.unwrap();
    assert!(planned.end[PARTITION] < 1_000_100);
}

#[test]
fn validation_errors_name_the_problem_and_the_choices() {
    let err = validation_error(&[("fields.userid.kind", "random")], schema());
    assert_eq!(
        err,
        "option 'fields.userid.kind' names unknown column 'userid'; the source's columns are \
         user_id, page, amount, ok, small, price, day, ts"
    );
    let err = validation_error(&[("fields.user_id.kind", "event_time")], schema());
    assert_eq!(
        err,
        "invalid kind 'event_time' for column user_id of type BIGINT; expected one of random, sequence"
    );
    let err = validation_error(&[("fields.ok.kind", "sequence")], schema());
    assert_eq!(
        err,
        "invalid kind 'sequence' for column ok of type BOOLEAN; expected one of random"
    );
    let err = validation_error(&[("fields.user_id.kind", "walk")], schema());
    assert_eq!(
        err,
        "invalid value 'walk' for option 'fields.user_id.kind'; expected one of random, sequence, event_time"
    );
    let err = validation_error(&[("fields.user_id.length", "4")], schema());
    assert_eq!(
        err,
        "option 'fields.user_id.length' does not apply to column user_id (BIGINT, kind random); its options are \
         fields.user_id.kind, fields.user_id.null_rate, fields.user_id.min, fields.user_id.max"
    );
    let err = validation_error(&[("fields.small.max", "70000")], schema());
    assert_eq!(
        err,
        "invalid value '70000' for option 'fields.small.max'; expected an integer between -32768 and 32767"
    );
    let err = validation_error(
        &[("fields.user_id.min", "10"), ("fields.user_id.max", "5")],
        schema(),
    );
    assert_eq!(
        err,
        "option 'fields.user_id.min' (10) is greater than 'fields.user_id.max' (5)"
    );
    let err = validation_error(&[("fields.ts.step", "soon")], schema());
    assert!(
        err.starts_with("invalid value 'soon' for option 'fields.ts.step'"),
        "{err}"
    );

    let not_null = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let err = validation_error(&[("fields.id.null_rate", "0.5")], not_null);
    assert_eq!(
        err,
        "option 'fields.id.null_rate' is set but column id is NOT NULL"
    );
    let interval = Arc::new(Schema::new(vec![Field::new(
        "gap",
        DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
        true,
    )]));
    let err = validation_error(&[], interval);
    assert!(
        err.starts_with("datagen cannot generate column gap of type Interval"),
        "{err}"
    );
    assert!(err.ends_with("supported types: BIGINT, INT, SMALLINT, DOUBLE, REAL, NUMERIC, VARCHAR/TEXT, BOOLEAN, DATE, TIMESTAMP, TIMESTAMPTZ"));
}

#[tokio::test]
async fn timestamptz_and_other_units() {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "a",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "b",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let d = def(&[("fields.a.step", "1 second"), ("fields.b.kind", "random")]);
    let mut s = DatagenConnector.create(&d, schema.clone(), ctx()).unwrap();
    let (from, to) = (at(0), at(2));
    let batches: Vec<RecordBatch> = s
        .read(&from, &to)
        .map_ok(|b| b.batch)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(batches[0].schema(), schema);
    let a = batches[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
    assert_eq!(a.value(1) - a.value(0), 1000);
}

fn ctx() -> eddy_engine::SourceContext {
    let dir = std::env::temp_dir().join("eddy-datagen-tests");
    eddy_engine::SourceContext {
        query: "test".into(),
        tables: std::sync::Arc::new(eddy_engine::table_store::TableStore::open(&dir).unwrap()),
        bad_records: Default::default(),
        sample: false,
    }
}

#[tokio::test]
async fn a_sample_is_the_first_rows_whatever_the_pace() {
    let paced = [("seed", "5"), ("rows.per.second", "1")];
    let mut s = source(&paced);
    let range = s.sample_range(2500).await.unwrap();
    assert_eq!((range.from.clone(), range.to.clone()), (at(0), at(2500)));
    assert_eq!(range.description, "its first 2500 rows (seed 5)");
    // The rows a query reads from the start.
    let (from, to) = (range.from, range.to);
    let sampled: Vec<RecordBatch> = s
        .read(&from, &to)
        .map_ok(|b| b.batch)
        .try_collect()
        .await
        .unwrap();
    let sampled = concat_batches(&schema(), &sampled).unwrap();
    assert_eq!(sampled, read(&mut source(&paced), 0, 2500).await);
    // number.of.rows bounds it.
    let mut bounded = source(&[("number.of.rows", "40")]);
    assert_eq!(bounded.sample_range(2500).await.unwrap().to, at(40));
}
