//! `SHOW SOURCES | SINKS | TABLES | STREAMING QUERIES`: the objects as rows,
//! secrets redacted, queries with their progress counters.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::{CatalogObject, ObjectKind, SourceDef};
use eddy_engine::watermark::format_event_time;

use crate::database::Database;
use crate::error::UserResult;
use crate::transaction::Workspace;

/// The rows of `SHOW SOURCES` (and the other kinds) as this transaction
/// sees the catalog.
pub fn show_objects(ws: &Workspace, kind: ObjectKind) -> UserResult<RecordBatch> {
    let db = ws.db();
    let objects = ws.list(kind)?;
    let text = |values: Vec<Option<String>>| Arc::new(StringArray::from(values)) as ArrayRef;
    let int = |values: Vec<i64>| Arc::new(Int64Array::from(values)) as ArrayRef;
    let field = |name: &str, dt: DataType| Field::new(name, dt, true);
    let names: Vec<Option<String>> = objects.iter().map(|o| Some(o.name().to_string())).collect();
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = match kind {
        ObjectKind::Source => {
            let defs: Vec<&SourceDef> = objects
                .iter()
                .filter_map(|o| match o {
                    CatalogObject::Source(s) => Some(s),
                    _ => None,
                })
                .collect();
            (
                vec![
                    field("name", DataType::Utf8),
                    field("connector", DataType::Utf8),
                    field("columns", DataType::Utf8),
                    field("watermark", DataType::Utf8),
                ],
                vec![
                    text(names),
                    text(defs.iter().map(|d| Some(d.connector.clone())).collect()),
                    text(
                        defs.iter()
                            .map(|d| {
                                Some(
                                    d.columns
                                        .iter()
                                        .map(|c| format!("{} {}", c.name, c.data_type))
                                        .collect::<Vec<_>>()
                                        .join(", "),
                                )
                            })
                            .collect(),
                    ),
                    text(
                        defs.iter()
                            .map(|d| {
                                d.watermark
                                    .as_ref()
                                    .map(|w| format!("{} - {} ms", w.column, w.delay_micros / 1000))
                            })
                            .collect(),
                    ),
                ],
            )
        }
        ObjectKind::Sink => {
            let connectors = objects
                .iter()
                .map(|o| match o {
                    CatalogObject::Sink(s) => Some(s.connector.clone()),
                    _ => None,
                })
                .collect();
            let targets = objects
                .iter()
                .map(|o| match o {
                    CatalogObject::Sink(s) => {
                        s.options.get("table").or(s.options.get("topic")).cloned()
                    }
                    _ => None,
                })
                .collect();
            (
                vec![
                    field("name", DataType::Utf8),
                    field("connector", DataType::Utf8),
                    field("target", DataType::Utf8),
                ],
                vec![text(names), text(connectors), text(targets)],
            )
        }
        ObjectKind::Table => {
            let rows = objects
                .iter()
                .map(|o| {
                    ws.table_rows(o.name())
                        .map(|(_, b)| b.iter().map(|b| b.num_rows() as i64).sum())
                        .unwrap_or(0)
                })
                .collect();
            (
                vec![
                    field("name", DataType::Utf8),
                    field("rows", DataType::Int64),
                ],
                vec![text(names), int(rows)],
            )
        }
        ObjectKind::StreamingQuery => return show_streaming_queries(db, &objects),
    };
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn show_streaming_queries(db: &Database, objects: &[CatalogObject]) -> UserResult<RecordBatch> {
    let mut cols: [Vec<Option<String>>; 5] = Default::default();
    let mut nums: [Vec<i64>; 7] = Default::default();
    for obj in objects {
        let CatalogObject::StreamingQuery(def) = obj else {
            continue;
        };
        let p = db.progress(&def.name).unwrap_or_default();
        cols[0].push(Some(def.name.clone()));
        cols[1].push(Some(p.status.as_str().to_string()));
        cols[2].push(Some(def.sink.clone()));
        cols[3].push(format_event_time(p.watermark));
        cols[4].push(p.error.clone());
        nums[0].push(p.epoch as i64);
        nums[1].push(p.input_rows as i64);
        nums[2].push(p.output_rows as i64);
        nums[3].push(p.late_rows as i64);
        nums[4].push(p.state_rows as i64);
        nums[5].push(p.processed_rows_per_second.round() as i64);
        nums[6].push(p.bad_records as i64);
    }
    let [names, status, sinks, watermarks, errors] = cols;
    let [epoch, input, output, late, state, rate, bad] = nums;
    let text = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let int = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("sink", DataType::Utf8, true),
        Field::new("epoch", DataType::Int64, true),
        Field::new("input_rows", DataType::Int64, true),
        Field::new("output_rows", DataType::Int64, true),
        Field::new("late_rows", DataType::Int64, true),
        Field::new("bad_records", DataType::Int64, true),
        Field::new("watermark", DataType::Utf8, true),
        Field::new("state_rows", DataType::Int64, true),
        Field::new("processed_rows_per_second", DataType::Int64, true),
        Field::new("error", DataType::Utf8, true),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(names),
            text(status),
            text(sinks),
            int(epoch),
            int(input),
            int(output),
            int(late),
            int(bad),
            text(watermarks),
            int(state),
            int(rate),
            text(errors),
        ],
    )?)
}
