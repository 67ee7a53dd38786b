use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use eddy_engine::SourceContext;
use eddy_engine::table_store::TableStore;

use super::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]))
}

fn decode(format: Format, payloads: &[&str]) -> Decoded {
    let payloads: Vec<&[u8]> = payloads.iter().map(|p| p.as_bytes()).collect();
    RecordDecoder::new(format, schema())
        .unwrap()
        .decode(&payloads)
        .unwrap()
}

fn ids(d: &Decoded) -> Vec<Option<i64>> {
    d.batch
        .column(0)
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

fn micros(s: &str) -> i64 {
    eddy_engine::options::parse_timestamp_micros(s).unwrap()
}

fn bad_indexes(d: &Decoded) -> Vec<usize> {
    d.bad.iter().map(|b| b.index).collect()
}

const CSV: Format = Format::Csv { delimiter: b',' };

#[test]
fn json_happy_path_with_missing_fields_and_timestamp_forms() {
    let d = decode(
        Format::Json,
        &[
            r#"{"id": 1, "name": "a", "ts": "2026-01-01 00:00:01"}"#,
            r#"{"id": 2, "extra": [1, 2], "ts": "2026-01-01T00:00:02.5Z"}"#,
            r#"{"name": 7, "ts": 1767225603000}"#,
            r#"{"id": "4", "ts": "2026-01-01T02:00:04+02:00"}"#,
            r#"{}"#,
        ],
    );
    assert!(d.bad.is_empty(), "{:?}", d.bad);
    assert_eq!(d.rows, vec![0, 1, 2, 3, 4]);
    assert_eq!(ids(&d), vec![Some(1), Some(2), None, Some(4), None]);
    let names: Vec<Option<&str>> = d.batch.column(1).as_string::<i32>().iter().collect();
    assert_eq!(names, vec![Some("a"), None, Some("7"), None, None]);
    let ts = d.batch.column(2).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), micros("2026-01-01 00:00:01"));
    assert_eq!(ts.value(1), micros("2026-01-01 00:00:02.5"));
    assert_eq!(ts.value(2), micros("2026-01-01 00:00:03"));
    assert_eq!(ts.value(3), micros("2026-01-01 00:00:04"));
    assert!(ts.is_null(4));
    assert_eq!(d.batch.schema(), schema());
}

#[test]
fn json_bad_records_are_isolated_and_the_rest_kept_in_order() {
    let d = decode(
        Format::Json,
        &[
            r#"{"id": 1}"#,
            r#"{"id": "abc"}"#,
            r#"{"id": 3}{"id": 33}"#,
            r#"not json"#,
            r#"{"id": 5"#,
            r#"[1, 2]"#,
            r#"{"id": 7, "ts": "yesterday"}"#,
            r#""#,
            r#"{"id": 9}"#,
        ],
    );
    assert_eq!(bad_indexes(&d), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(d.rows, vec![0, 8]);
    assert_eq!(ids(&d), vec![Some(1), Some(9)]);
    let reason = |i: usize| d.bad.iter().find(|b| b.index == i).unwrap().error.clone();
    assert!(reason(1).contains("abc"), "{}", reason(1));
    assert_eq!(reason(2), "more than one JSON value in one record");
    assert_eq!(reason(4), "truncated JSON");
    assert!(
        reason(6).starts_with("invalid timestamp 'yesterday' for column ts"),
        "{}",
        reason(6)
    );
    assert_eq!(reason(7), "empty record: no JSON value");
    assert!(!reason(3).is_empty() && !reason(5).is_empty());
}

#[test]
fn decoder_is_reusable_after_bad_records() {
    let mut decoder = RecordDecoder::new(Format::Json, schema()).unwrap();
    let bad = decoder.decode(&[b"{", br#"{"id": 1}"#]).unwrap();
    assert_eq!(bad.rows, vec![1]);
    let good = decoder.decode(&[br#"{"id": 2}"#, br#"{"id": 3}"#]).unwrap();
    assert_eq!(ids(&good), vec![Some(2), Some(3)]);
    let empty = decoder.decode(&[]).unwrap();
    assert_eq!(empty.batch.num_rows(), 0);
}

#[test]
fn csv_decodes_lines_and_isolates_bad_ones() {
    let d = decode(
        CSV,
        &[
            "1,a,2026-01-01 00:00:01",
            "2,,1767225602000\n",
            "x,b,2026-01-01 00:00:03",
            "4,\"quoted, text\",2026-01-01T00:00:04Z\r\n",
            "5,too,many,fields",
            "6,c,not a time",
            "7,\"unclosed,2026-01-01 00:00:07",
            "8,d,",
        ],
    );
    assert_eq!(bad_indexes(&d), vec![2, 4, 5, 6]);
    assert_eq!(d.rows, vec![0, 1, 3, 7]);
    assert_eq!(ids(&d), vec![Some(1), Some(2), Some(4), Some(8)]);
    let names: Vec<Option<&str>> = d.batch.column(1).as_string::<i32>().iter().collect();
    assert_eq!(
        names,
        vec![Some("a"), None, Some("quoted, text"), Some("d")]
    );
    let ts = d.batch.column(2).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(1), micros("2026-01-01 00:00:02"));
    assert_eq!(ts.value(2), micros("2026-01-01 00:00:04"));
    assert!(ts.is_null(3));
}

#[test]
fn csv_other_delimiter() {
    let d = decode(Format::Csv { delimiter: b'|' }, &["1|a,b|2026-01-01"]);
    assert!(d.bad.is_empty(), "{:?}", d.bad);
    assert_eq!(d.batch.column(1).as_string::<i32>().value(0), "a,b");
}

#[test]
fn format_and_on_error_options() {
    let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let read = |pairs: &[(&str, &str)]| {
        let o = opts(pairs);
        Format::from_options(&OptionReader::new("s", &o))
    };
    assert_eq!(read(&[("format", "json")]).unwrap(), Format::Json);
    assert_eq!(
        read(&[("format", "CSV"), ("csv.delimiter", "\\t")]).unwrap(),
        Format::Csv { delimiter: b'\t' }
    );
    assert_eq!(
        read(&[("format", "csv"), ("csv.delimiter", ";;")])
            .unwrap_err()
            .to_string(),
        "invalid value ';;' for option 'csv.delimiter'; expected one ASCII character other \
         than a quote or a line break, or '\\t'"
    );
    assert!(read(&[("format", "json"), ("csv.delimiter", ";")]).is_err());

    let on_error = |pairs: &[(&str, &str)]| {
        let o = opts(pairs);
        OnError::from_options(&OptionReader::new("s", &o), "bids")
    };
    assert_eq!(on_error(&[]).unwrap(), OnError::Fail);
    assert_eq!(on_error(&[("on_error", "skip")]).unwrap(), OnError::Skip);
    assert_eq!(
        on_error(&[("on_error", "dead_letter")]).unwrap(),
        OnError::DeadLetter {
            table: "bids_errors".into()
        }
    );
    assert_eq!(
        on_error(&[("on_error", "dead_letter"), ("dead_letter.table", "bad")]).unwrap(),
        OnError::DeadLetter {
            table: "bad".into()
        }
    );
    assert!(on_error(&[("dead_letter.table", "bad")]).is_err());
}

fn context(tables: Arc<TableStore>) -> SourceContext {
    SourceContext {
        query: "q".into(),
        tables,
        bad_records: Arc::new(AtomicU64::new(0)),
        sample: false,
    }
}

fn info<'a>(payload: &'a [u8], offset: i64) -> BadRecordInfo<'a> {
    BadRecordInfo {
        payload,
        error: "failed to parse \"abc\" as Int64",
        partition: "2",
        offset,
    }
}

#[test]
fn bad_record_policies() {
    let dir = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(dir.path()).unwrap());

    let ctx = context(tables.clone());
    let fail = BadRecordHandler::new(OnError::Fail, "bids", &ctx).unwrap();
    fail.handle(&[]).unwrap();
    assert_eq!(
        fail.handle(&[info(b"x", 17)]).unwrap_err().to_string(),
        "bad record in source 'bids' at partition 2 offset 17: failed to parse \"abc\" as Int64 \
         (set on_error = 'skip' or 'dead_letter' to keep going)"
    );
    let files = BadRecordHandler::new(OnError::Fail, "logs", &ctx)
        .unwrap()
        .with_location_labels("file", "line");
    let err = files
        .handle(&[BadRecordInfo {
            partition: "a.jsonl",
            ..info(b"x", 3)
        }])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("bad record in source 'logs' at file a.jsonl line 3:"),
        "{err}"
    );

    let ctx = context(tables.clone());
    let skip = BadRecordHandler::new(OnError::Skip, "bids", &ctx).unwrap();
    skip.handle(&[info(b"x", 1), info(b"y", 2)]).unwrap();
    assert_eq!(ctx.bad_records.load(Ordering::Relaxed), 2);
    assert!(tables.get("bids_errors").is_err());

    let ctx = context(tables.clone());
    let dead = OnError::DeadLetter {
        table: "bids_errors".into(),
    };
    let handler = BadRecordHandler::new(dead.clone(), "bids", &ctx).unwrap();
    handler
        .handle(&[info(b"{\"id\": \"abc\"}", 17), info(&[0xff, 0xfe], 18)])
        .unwrap();
    // A second query over the same source shares the table.
    let again = BadRecordHandler::new(dead, "bids", &context(tables.clone())).unwrap();
    again.handle(&[info(b"z", 19)]).unwrap();
    assert_eq!(ctx.bad_records.load(Ordering::Relaxed), 2);
    let table = tables.get("bids_errors").unwrap();
    assert_eq!(table.schema(), dead_letter_schema());
    let batches = table.batches();
    let first = &batches[0];
    assert_eq!(first.num_rows(), 2);
    let col = |name: &str| first.column(first.schema().index_of(name).unwrap()).clone();
    assert_eq!(col("partition").as_string::<i32>().value(0), "2");
    assert_eq!(
        col("record_offset").as_primitive::<Int64Type>().value(1),
        18
    );
    assert_eq!(col("query_name").as_string::<i32>().value(0), "q");
    assert_eq!(col("source_name").as_string::<i32>().value(0), "bids");
    assert_eq!(
        col("payload").as_binary::<i32>().value(0),
        b"{\"id\": \"abc\"}"
    );
    assert_eq!(
        col("payload_text").as_string::<i32>().value(0),
        "{\"id\": \"abc\"}"
    );
    assert!(col("payload_text").is_null(1));
    assert!(col("error").as_string::<i32>().value(0).contains("abc"));
    assert_eq!(table.row_count(), 3);

    // A table of another shape is not taken over.
    tables
        .create_or_load(
            "other",
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)])),
        )
        .unwrap();
    let err = BadRecordHandler::new(
        OnError::DeadLetter {
            table: "other".into(),
        },
        "bids",
        &ctx,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.starts_with("table \"other\" exists but is not a dead-letter table"),
        "{err}"
    );
}

#[test]
fn a_look_at_a_source_counts_dead_letters_but_writes_none() {
    let dir = tempfile::tempdir().unwrap();
    let tables = Arc::new(TableStore::open(dir.path()).unwrap());
    let ctx = SourceContext::for_sample("bids", tables.clone());
    let dead = OnError::DeadLetter {
        table: "bids_errors".into(),
    };
    let handler = BadRecordHandler::new(dead, "bids", &ctx).unwrap();
    handler.handle(&[info(b"x", 1), info(b"y", 2)]).unwrap();
    assert_eq!(ctx.bad_records.load(Ordering::Relaxed), 2);
    assert!(
        tables.get("bids_errors").is_err(),
        "a look created the dead-letter table"
    );
    // `fail` still fails.
    let fail = BadRecordHandler::new(OnError::Fail, "bids", &ctx).unwrap();
    assert!(fail.handle(&[info(b"x", 3)]).is_err());
}
