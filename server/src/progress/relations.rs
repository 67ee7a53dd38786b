//! The `eddy_catalog` relations: every streaming query's progress as rows
//! that ordinary SQL can filter, join and aggregate.
//!
//! Each relation is a list of [`Column`]s, each with its name, its type and
//! how its value is read from one row's source; the schema the catalogs
//! describe and the rows a query reads come from the same list, so they
//! cannot disagree.
//!
//! | relation | one row per |
//! |---|---|
//! | `query_progress` | streaming query: status, epoch, totals, rates, durations, watermark, state, sink |
//! | `query_progress_history` | committed epoch of the last [`HISTORY_EPOCHS`] of each query |
//! | `query_sources` | source of a query: rows, rows/s, lag |
//! | `source_partitions` | partition of a query's source: positions, end, lag |
//! | `query_state` | stateful operator of a query: rows and bytes |
//!
//! [`HISTORY_EPOCHS`]: eddy_engine::job::HISTORY_EPOCHS

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use eddy_engine::job::{
    EpochProgress, OperatorStateSize, PartitionProgress, QueryProgress, SourceProgress,
};
use eddy_engine::watermark::NO_WATERMARK;

/// The schema the relations live in.
pub const SCHEMA: &str = "eddy_catalog";

/// A streaming query and its progress, as the relations read it.
#[derive(Debug, Clone)]
pub struct QueryEntry {
    pub name: String,
    pub sink: String,
    pub progress: QueryProgress,
}

/// The SQL type of a column.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    Int,
    Float,
    Bool,
    Timestamptz,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        }
    }
}

const UTC: &str = "+00:00";

/// One column of a relation whose rows are `R`s.
pub struct Column<R> {
    pub name: &'static str,
    pub kind: Kind,
    pub get: fn(&R) -> ScalarValue,
}

const fn col<R>(name: &'static str, kind: Kind, get: fn(&R) -> ScalarValue) -> Column<R> {
    Column { name, kind, get }
}

fn schema_of<R>(columns: &[Column<R>]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

fn batch_of<R>(columns: &[Column<R>], rows: &[R]) -> DfResult<RecordBatch> {
    let schema = schema_of(columns);
    let arrays = columns
        .iter()
        .map(|c| {
            let data_type = c.kind.data_type();
            if rows.is_empty() {
                return Ok(new_empty_array(&data_type));
            }
            let cells = rows.iter().map(|r| match (c.get)(r) {
                v if v.is_null() => ScalarValue::try_from(&data_type),
                v => Ok(v),
            });
            ScalarValue::iter_to_array(cells.collect::<DfResult<Vec<_>>>()?)
        })
        .collect::<DfResult<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(schema, arrays)?)
}

// Cell constructors.

fn text(s: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(s.into()))
}

fn opt_text(s: Option<&str>) -> ScalarValue {
    ScalarValue::Utf8(s.map(str::to_string))
}

fn int(n: u64) -> ScalarValue {
    ScalarValue::Int64(Some(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn opt_int(n: Option<i64>) -> ScalarValue {
    ScalarValue::Int64(n)
}

fn float(f: f64) -> ScalarValue {
    ScalarValue::Float64(Some(f))
}

fn ms(d: Option<Duration>) -> ScalarValue {
    ScalarValue::Float64(d.map(|d| d.as_secs_f64() * 1000.0))
}

fn boolean(b: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(b))
}

fn wall_time(t: Option<SystemTime>) -> ScalarValue {
    let micros = t.map(|t| match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    });
    ScalarValue::TimestampMicrosecond(micros, Some(UTC.into()))
}

/// An event time (micros since the Unix epoch); no watermark yet and the
/// end of input are NULL.
fn event_time(t: Option<i64>) -> ScalarValue {
    let t = t.filter(|&t| t != NO_WATERMARK && t != i64::MAX);
    ScalarValue::TimestampMicrosecond(t, Some(UTC.into()))
}

/// Offsets as text: `partition:position, …`.
fn offsets_text(offsets: impl Iterator<Item = (String, Option<i64>)>) -> ScalarValue {
    let parts: Vec<String> = offsets
        .filter_map(|(p, o)| o.map(|o| format!("{p}:{o}")))
        .collect();
    text(parts.join(", "))
}

type Q = QueryEntry;

fn quantile(q: &Q, at: f64, f: fn(&EpochProgress) -> Duration) -> ScalarValue {
    ms(q.progress.quantile(at, f))
}

/// `eddy_catalog.query_progress`.
pub const QUERY_PROGRESS: &[Column<Q>] = &[
    col("name", Kind::Text, |q| text(&q.name)),
    col("status", Kind::Text, |q| text(q.progress.status.as_str())),
    col("error", Kind::Text, |q| {
        opt_text(q.progress.error.as_deref())
    }),
    col("started_at", Kind::Timestamptz, |q| {
        wall_time(q.progress.started_at)
    }),
    col("epoch", Kind::Int, |q| int(q.progress.epoch)),
    col("committed_at", Kind::Timestamptz, |q| {
        wall_time(q.progress.committed_at)
    }),
    col("input_rows", Kind::Int, |q| int(q.progress.input_rows)),
    col("input_rows_per_second", Kind::Float, |q| {
        float(
            q.progress
                .sources
                .iter()
                .map(|s| s.input_rows_per_second)
                .sum(),
        )
    }),
    col("processed_rows_per_second", Kind::Float, |q| {
        float(q.progress.processed_rows_per_second)
    }),
    col("output_rows", Kind::Int, |q| int(q.progress.output_rows)),
    col("late_rows", Kind::Int, |q| int(q.progress.late_rows)),
    col("null_time_rows", Kind::Int, |q| {
        int(q.progress.null_time_rows)
    }),
    col("bad_records", Kind::Int, |q| int(q.progress.bad_records)),
    col("watermark", Kind::Timestamptz, |q| {
        event_time(Some(q.progress.watermark))
    }),
    col("input_ended", Kind::Bool, |q| {
        boolean(q.progress.watermark == i64::MAX)
    }),
    col("min_event_time", Kind::Timestamptz, |q| {
        event_time(q.progress.history.back().and_then(|e| e.min_event_time))
    }),
    col("max_event_time", Kind::Timestamptz, |q| {
        event_time(q.progress.history.back().and_then(|e| e.max_event_time))
    }),
    col("state_rows", Kind::Int, |q| int(q.progress.state_rows)),
    col("state_bytes", Kind::Int, |q| int(q.progress.state_bytes)),
    col("last_epoch_ms", Kind::Float, |q| {
        ms(q.progress.history.back().map(|e| e.duration))
    }),
    col("epoch_p50_ms", Kind::Float, |q| {
        quantile(q, 0.5, |e| e.duration)
    }),
    col("epoch_p99_ms", Kind::Float, |q| {
        quantile(q, 0.99, |e| e.duration)
    }),
    col("read_p50_ms", Kind::Float, |q| quantile(q, 0.5, |e| e.read)),
    col("read_p99_ms", Kind::Float, |q| {
        quantile(q, 0.99, |e| e.read)
    }),
    col("compute_p50_ms", Kind::Float, |q| {
        quantile(q, 0.5, |e| e.compute)
    }),
    col("compute_p99_ms", Kind::Float, |q| {
        quantile(q, 0.99, |e| e.compute)
    }),
    col("sink_p50_ms", Kind::Float, |q| quantile(q, 0.5, |e| e.sink)),
    col("sink_p99_ms", Kind::Float, |q| {
        quantile(q, 0.99, |e| e.sink)
    }),
    col("checkpoint_p50_ms", Kind::Float, |q| {
        quantile(q, 0.5, |e| e.checkpoint)
    }),
    col("checkpoint_p99_ms", Kind::Float, |q| {
        quantile(q, 0.99, |e| e.checkpoint)
    }),
    col("emit_delay_ms", Kind::Float, |q| {
        ms(q.progress.last_emit_delay())
    }),
    col("sink", Kind::Text, |q| text(&q.sink)),
    col("sink_rows", Kind::Int, |q| int(q.progress.output_rows)),
    col("sink_committed_epoch", Kind::Int, |q| int(q.progress.epoch)),
    col("committed_offsets", Kind::Text, |q| {
        offsets_text(
            q.progress
                .offsets
                .iter()
                .map(|(p, o)| (p.clone(), Some(*o))),
        )
    }),
    col("planned_offsets", Kind::Text, |q| {
        offsets_text(
            q.progress
                .planned
                .iter()
                .map(|(p, o)| (p.clone(), Some(*o))),
        )
    }),
];

/// One epoch of a query's history.
pub struct HistoryRow {
    pub query: String,
    pub epoch: EpochProgress,
}

type H = HistoryRow;

/// `eddy_catalog.query_progress_history`.
pub const QUERY_PROGRESS_HISTORY: &[Column<H>] = &[
    col("name", Kind::Text, |h| text(&h.query)),
    col("epoch", Kind::Int, |h| int(h.epoch.epoch)),
    col("started_at", Kind::Timestamptz, |h| {
        wall_time(Some(h.epoch.started_at))
    }),
    col("committed_at", Kind::Timestamptz, |h| {
        wall_time(Some(h.epoch.committed_at))
    }),
    col("duration_ms", Kind::Float, |h| ms(Some(h.epoch.duration))),
    col("read_ms", Kind::Float, |h| ms(Some(h.epoch.read))),
    col("compute_ms", Kind::Float, |h| ms(Some(h.epoch.compute))),
    col("sink_ms", Kind::Float, |h| ms(Some(h.epoch.sink))),
    col("checkpoint_ms", Kind::Float, |h| {
        ms(Some(h.epoch.checkpoint))
    }),
    col("input_rows", Kind::Int, |h| int(h.epoch.input_rows)),
    col("output_rows", Kind::Int, |h| int(h.epoch.output_rows)),
    col("late_rows", Kind::Int, |h| int(h.epoch.late_rows)),
    col("bad_records", Kind::Int, |h| int(h.epoch.bad_records)),
    col("watermark", Kind::Timestamptz, |h| {
        event_time(Some(h.epoch.watermark))
    }),
    col("min_event_time", Kind::Timestamptz, |h| {
        event_time(h.epoch.min_event_time)
    }),
    col("max_event_time", Kind::Timestamptz, |h| {
        event_time(h.epoch.max_event_time)
    }),
    col("state_rows", Kind::Int, |h| int(h.epoch.state_rows)),
    col("state_bytes", Kind::Int, |h| int(h.epoch.state_bytes)),
    col("emit_delay_ms", Kind::Float, |h| ms(h.epoch.emit_delay)),
];

/// One source of a query.
pub struct SourceRow {
    pub query: String,
    pub source: SourceProgress,
}

type S = SourceRow;

/// `eddy_catalog.query_sources`.
pub const QUERY_SOURCES: &[Column<S>] = &[
    col("name", Kind::Text, |s| text(&s.query)),
    col("source", Kind::Text, |s| text(&s.source.name)),
    col("input_rows", Kind::Int, |s| int(s.source.input_rows)),
    col("input_rows_per_second", Kind::Float, |s| {
        float(s.source.input_rows_per_second)
    }),
    col("lag", Kind::Int, |s| opt_int(s.source.lag)),
    col("lag_unit", Kind::Text, |s| text(s.source.lag_unit)),
    col("unread_partitions", Kind::Int, |s| {
        int(s.source.unread_partitions)
    }),
    col("lag_measured_at", Kind::Timestamptz, |s| {
        wall_time(s.source.lag_measured_at)
    }),
];

/// One partition of a query's source.
pub struct PartitionRow {
    pub query: String,
    pub source: String,
    pub lag_unit: &'static str,
    pub partition: PartitionProgress,
}

type P = PartitionRow;

/// `eddy_catalog.source_partitions`.
pub const SOURCE_PARTITIONS: &[Column<P>] = &[
    col("name", Kind::Text, |p| text(&p.query)),
    col("source", Kind::Text, |p| text(&p.source)),
    col("partition", Kind::Text, |p| text(&p.partition.partition)),
    col("committed_offset", Kind::Int, |p| {
        opt_int(p.partition.committed)
    }),
    col("planned_offset", Kind::Int, |p| {
        opt_int(p.partition.planned)
    }),
    col("end_offset", Kind::Int, |p| opt_int(p.partition.end)),
    col("lag", Kind::Int, |p| opt_int(p.partition.lag)),
    col("lag_unit", Kind::Text, |p| text(p.lag_unit)),
    col("max_event_time", Kind::Timestamptz, |p| {
        event_time(p.partition.max_event_time)
    }),
    col("idle", Kind::Bool, |p| boolean(p.partition.idle)),
];

/// One stateful operator of a query.
pub struct StateRow {
    pub query: String,
    pub operator: OperatorStateSize,
}

type O = StateRow;

/// `eddy_catalog.query_state`.
pub const QUERY_STATE: &[Column<O>] = &[
    col("name", Kind::Text, |o| text(&o.query)),
    col("operator_id", Kind::Int, |o| int(u64::from(o.operator.id))),
    col("operator", Kind::Text, |o| text(o.operator.kind)),
    col("rows", Kind::Int, |o| int(o.operator.rows)),
    col("bytes", Kind::Int, |o| int(o.operator.bytes)),
];

/// The relations' names, in the order the catalogs list them.
pub const NAMES: [&str; 5] = [
    "query_progress",
    "query_progress_history",
    "query_sources",
    "source_partitions",
    "query_state",
];

/// The schema of relation `name`.
pub fn schema(name: &str) -> Option<SchemaRef> {
    Some(match name {
        "query_progress" => schema_of(QUERY_PROGRESS),
        "query_progress_history" => schema_of(QUERY_PROGRESS_HISTORY),
        "query_sources" => schema_of(QUERY_SOURCES),
        "source_partitions" => schema_of(SOURCE_PARTITIONS),
        "query_state" => schema_of(QUERY_STATE),
        _ => return None,
    })
}

/// The rows of relation `name` for `queries`.
pub fn rows(name: &str, queries: &[QueryEntry]) -> DfResult<Option<RecordBatch>> {
    let batch = match name {
        "query_progress" => batch_of(QUERY_PROGRESS, queries)?,
        "query_progress_history" => {
            let rows: Vec<HistoryRow> = queries
                .iter()
                .flat_map(|q| {
                    q.progress.history.iter().map(|e| HistoryRow {
                        query: q.name.clone(),
                        epoch: e.clone(),
                    })
                })
                .collect();
            batch_of(QUERY_PROGRESS_HISTORY, &rows)?
        }
        "query_sources" => batch_of(QUERY_SOURCES, &source_rows(queries))?,
        "source_partitions" => {
            let rows: Vec<PartitionRow> = source_rows(queries)
                .into_iter()
                .flat_map(|s| {
                    let SourceRow { query, source } = s;
                    let (name, unit) = (source.name, source.lag_unit);
                    source
                        .partitions
                        .into_iter()
                        .map(move |partition| PartitionRow {
                            query: query.clone(),
                            source: name.clone(),
                            lag_unit: unit,
                            partition,
                        })
                })
                .collect();
            batch_of(SOURCE_PARTITIONS, &rows)?
        }
        "query_state" => {
            let rows: Vec<StateRow> = queries
                .iter()
                .flat_map(|q| {
                    q.progress.operators.iter().map(|o| StateRow {
                        query: q.name.clone(),
                        operator: o.clone(),
                    })
                })
                .collect();
            batch_of(QUERY_STATE, &rows)?
        }
        _ => return Ok(None),
    };
    Ok(Some(batch))
}

fn source_rows(queries: &[QueryEntry]) -> Vec<SourceRow> {
    queries
        .iter()
        .flat_map(|q| {
            q.progress.sources.iter().map(|s| SourceRow {
                query: q.name.clone(),
                source: s.clone(),
            })
        })
        .collect()
}

/// One query's progress as (field, value) text pairs: its
/// `query_progress` row, then its sources, partitions and operators, for
/// `SHOW STREAMING QUERY name`.
pub fn fields_of(query: &QueryEntry) -> DfResult<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let mut push = |prefix: &str, batch: RecordBatch, skip: usize| -> DfResult<()> {
        for row in 0..batch.num_rows() {
            for (i, field) in batch.schema().fields().iter().enumerate().skip(skip) {
                let value = ScalarValue::try_from_array(batch.column(i), row)?;
                let shown = (!value.is_null()).then(|| value_text(&value));
                out.push((format!("{prefix}{}", field.name()), shown));
            }
        }
        Ok(())
    };
    push(
        "",
        batch_of(QUERY_PROGRESS, std::slice::from_ref(query))?,
        1,
    )?;
    let one = std::slice::from_ref(query);
    for s in source_rows(one) {
        let prefix = format!("source {}: ", s.source.name);
        let partitions = s.source.partitions.clone();
        let unit = s.source.lag_unit;
        push(&prefix, batch_of(QUERY_SOURCES, &[s])?, 2)?;
        for partition in partitions {
            let prefix = format!("{prefix}partition {}: ", partition.partition);
            let row = PartitionRow {
                query: query.name.clone(),
                source: String::new(),
                lag_unit: unit,
                partition,
            };
            push(&prefix, batch_of(SOURCE_PARTITIONS, &[row])?, 3)?;
        }
    }
    for o in &query.progress.operators {
        let prefix = format!("operator {} ({}): ", o.id, o.kind);
        let row = StateRow {
            query: query.name.clone(),
            operator: o.clone(),
        };
        push(&prefix, batch_of(QUERY_STATE, &[row])?, 3)?;
    }
    Ok(out)
}

/// A value as text: timestamps as PostgreSQL prints them, floats rounded.
fn value_text(value: &ScalarValue) -> String {
    match value {
        ScalarValue::TimestampMicrosecond(Some(t), _) => {
            chrono::DateTime::from_timestamp_micros(*t).map_or_else(
                || t.to_string(),
                |t| t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
            )
        }
        ScalarValue::Float64(Some(f)) => format!("{f:.3}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relation_has_a_schema_and_builds_without_queries() {
        for name in NAMES {
            let schema = schema(name).expect("a schema");
            let batch = rows(name, &[]).unwrap().expect("rows");
            assert_eq!(batch.schema(), schema, "{name}");
            assert_eq!(batch.num_rows(), 0);
        }
        assert!(schema("nope").is_none());
    }

    #[test]
    fn a_query_shows_its_sources_partitions_and_state() {
        let mut progress = QueryProgress {
            epoch: 7,
            watermark: 1_000_000,
            sources: vec![SourceProgress {
                name: "clicks".into(),
                lag: Some(5),
                lag_unit: "records",
                partitions: vec![PartitionProgress {
                    partition: "0".into(),
                    committed: Some(10),
                    end: Some(15),
                    lag: Some(5),
                    ..PartitionProgress::default()
                }],
                ..SourceProgress::default()
            }],
            operators: vec![OperatorStateSize {
                id: 1,
                kind: "window aggregate",
                rows: 3,
                bytes: 300,
            }],
            ..QueryProgress::default()
        };
        progress.offsets.insert("0".into(), 10);
        let q = QueryEntry {
            name: "q".into(),
            sink: "out".into(),
            progress,
        };
        let queries = [q.clone()];
        assert_eq!(
            rows("source_partitions", &queries)
                .unwrap()
                .unwrap()
                .num_rows(),
            1
        );
        assert_eq!(
            rows("query_state", &queries).unwrap().unwrap().num_rows(),
            1
        );
        let fields = fields_of(&q).unwrap();
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name} in {fields:?}"))
                .1
                .clone()
        };
        assert_eq!(get("epoch").as_deref(), Some("7"));
        assert_eq!(
            get("watermark").as_deref(),
            Some("1970-01-01 00:00:01.000000+00")
        );
        assert_eq!(get("committed_offsets").as_deref(), Some("0:10"));
        assert_eq!(get("source clicks: lag").as_deref(), Some("5"));
        assert_eq!(
            get("source clicks: partition 0: end_offset").as_deref(),
            Some("15")
        );
        assert_eq!(
            get("operator 1 (window aggregate): rows").as_deref(),
            Some("3")
        );
        assert_eq!(get("error"), None);
    }
}
