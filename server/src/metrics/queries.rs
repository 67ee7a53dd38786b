//! The streaming queries' figures, read from their `QueryProgress` at
//! scrape time: a custom `prometheus` [`Collector`], so that the figures
//! have one home (the progress the job updates) and a dropped query's
//! series end with it.
//!
//! Every metric is one [`Spec`] below — name, help, type and label names
//! written once, used both for the descriptors the registry checks and for
//! the samples. A figure that is not known yet (no watermark, lag not
//! measured, no epoch in the history) has no sample rather than a made-up
//! value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eddy_engine::job::{EpochProgress, QueryProgress, QueryStatus, SourceProgress};
use eddy_engine::watermark::NO_WATERMARK;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{
    Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary,
};

use crate::database::Database;

/// One metric of the collector.
struct Spec {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        name,
        help,
        kind: MetricType::GAUGE,
        labels,
    }
}

const fn counter(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        name,
        help,
        kind: MetricType::COUNTER,
        labels,
    }
}

const fn summary(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Spec {
    Spec {
        name,
        help,
        kind: MetricType::SUMMARY,
        labels,
    }
}

const QUERY: &[&str] = &["query"];
const SOURCE: &[&str] = &["query", "source"];
const PARTITION: &[&str] = &["query", "source", "partition"];
const OPERATOR: &[&str] = &["query", "operator_id", "operator"];
const SINK: &[&str] = &["query", "sink"];

const STATUS: Spec = gauge(
    "eddy_query_status",
    &["query", "status"],
    "1 for the streaming query's current status, 0 for the others.",
);
const EPOCH: Spec = gauge(
    "eddy_query_epoch",
    QUERY,
    "The last completed epoch (0: none yet).",
);
const INPUT_ROWS: Spec = counter(
    "eddy_query_input_rows_total",
    QUERY,
    "Rows read from the query's sources since it started.",
);
const OUTPUT_ROWS: Spec = counter(
    "eddy_query_output_rows_total",
    QUERY,
    "Rows the query produced since it started.",
);
const LATE_ROWS: Spec = counter(
    "eddy_query_late_rows_total",
    QUERY,
    "Rows behind the watermark since the query started.",
);
const NULL_TIME_ROWS: Spec = counter(
    "eddy_query_null_time_rows_total",
    QUERY,
    "Rows dropped because their event time was NULL.",
);
const BAD_RECORDS: Spec = counter(
    "eddy_query_bad_records_total",
    QUERY,
    "Input records that could not be decoded (skipped or dead-lettered).",
);
const WATERMARK: Spec = gauge(
    "eddy_query_watermark_seconds",
    QUERY,
    "The query's watermark, in seconds since the Unix epoch.",
);
const LAST_COMMIT: Spec = gauge(
    "eddy_query_last_commit_timestamp_seconds",
    QUERY,
    "When the last epoch was committed, in seconds since the Unix epoch.",
);
const PROCESSED_RATE: Spec = gauge(
    "eddy_query_processed_rows_per_second",
    QUERY,
    "Input rows per second of processing time over the last epoch.",
);
const EMIT_DELAY: Spec = gauge(
    "eddy_query_emit_delay_seconds",
    QUERY,
    "The latest delay from the watermark passing a window's end to its rows being committed.",
);
const EPOCH_DURATION: Spec = summary(
    "eddy_query_epoch_duration_seconds",
    QUERY,
    "Epoch duration from planning to commit, over the recent epochs of the history.",
);
const EPOCH_PHASE: Spec = summary(
    "eddy_query_epoch_phase_duration_seconds",
    &["query", "phase"],
    "Time an epoch spent in read, compute, sink or checkpoint, over the recent epochs.",
);
const STATE_ROWS: Spec = gauge(
    "eddy_query_state_rows",
    OPERATOR,
    "Rows held in state by a stateful operator.",
);
const STATE_BYTES: Spec = gauge(
    "eddy_query_state_bytes",
    OPERATOR,
    "Approximate bytes held in memory by a stateful operator.",
);
const SINK_EPOCH: Spec = gauge(
    "eddy_sink_committed_epoch",
    SINK,
    "The last epoch the sink committed.",
);
const SINK_ROWS: Spec = counter(
    "eddy_sink_rows_total",
    SINK,
    "Rows written to the sink since the query started.",
);
const SOURCE_ROWS: Spec = counter(
    "eddy_source_input_rows_total",
    SOURCE,
    "Rows the query read from the source since it started.",
);
const SOURCE_RATE: Spec = gauge(
    "eddy_source_input_rows_per_second",
    SOURCE,
    "Rows read from the source per second of wall time, over the last 10 seconds.",
);
const SOURCE_LAG: Spec = gauge(
    "eddy_source_lag",
    &["query", "source", "unit"],
    "What the source holds that the query has not read yet, in records, bytes or rows (unit).",
);
const SOURCE_UNREAD: Spec = gauge(
    "eddy_source_unread_partitions",
    SOURCE,
    "Partitions (files) the source has that the query has not started reading.",
);
const PARTITION_COMMITTED: Spec = gauge(
    "eddy_source_partition_committed_offset",
    PARTITION,
    "Where the next epoch reads the partition from.",
);
const PARTITION_PLANNED: Spec = gauge(
    "eddy_source_partition_planned_offset",
    PARTITION,
    "The end of the last planned epoch in the partition.",
);
const PARTITION_END: Spec = gauge(
    "eddy_source_partition_end_offset",
    PARTITION,
    "The end of what the partition holds, when last measured.",
);
const PARTITION_LAG: Spec = gauge(
    "eddy_source_partition_lag",
    PARTITION,
    "End offset minus committed offset, in the source's lag unit.",
);
const PARTITION_IDLE: Spec = gauge(
    "eddy_source_partition_idle",
    PARTITION,
    "1 when the partition is left out of the watermark for being idle.",
);

const SPECS: [&Spec; 26] = [
    &STATUS,
    &EPOCH,
    &INPUT_ROWS,
    &OUTPUT_ROWS,
    &LATE_ROWS,
    &NULL_TIME_ROWS,
    &BAD_RECORDS,
    &WATERMARK,
    &LAST_COMMIT,
    &PROCESSED_RATE,
    &EMIT_DELAY,
    &EPOCH_DURATION,
    &EPOCH_PHASE,
    &STATE_ROWS,
    &STATE_BYTES,
    &SINK_EPOCH,
    &SINK_ROWS,
    &SOURCE_ROWS,
    &SOURCE_RATE,
    &SOURCE_LAG,
    &SOURCE_UNREAD,
    &PARTITION_COMMITTED,
    &PARTITION_PLANNED,
    &PARTITION_END,
    &PARTITION_LAG,
    &PARTITION_IDLE,
];

/// The quantiles of the epoch summaries.
const QUANTILES: [f64; 2] = [0.5, 0.99];

/// The names of the collector's metrics.
#[cfg(test)]
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|spec| spec.name)
}

/// Reads one duration of an epoch.
type EpochDuration = fn(&EpochProgress) -> Duration;

/// The phases of `eddy_query_epoch_phase_duration_seconds`.
const PHASES: [(&str, EpochDuration); 4] = [
    ("read", |e| e.read),
    ("compute", |e| e.compute),
    ("sink", |e| e.sink),
    ("checkpoint", |e| e.checkpoint),
];

/// Reads every streaming query's progress when Prometheus scrapes.
pub struct QueryCollector {
    db: Arc<Database>,
    descs: Vec<Desc>,
}

impl QueryCollector {
    pub fn new(db: Arc<Database>) -> prometheus::Result<QueryCollector> {
        let descs = SPECS
            .iter()
            .map(|spec| {
                Desc::new(
                    spec.name.into(),
                    spec.help.into(),
                    spec.labels.iter().map(|l| l.to_string()).collect(),
                    Default::default(),
                )
            })
            .collect::<prometheus::Result<_>>()?;
        Ok(QueryCollector { db, descs })
    }
}

impl Collector for QueryCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = Families::default();
        // The queries as SQL sees them: a query without a job yet shows
        // as starting.
        for query in crate::progress::queries(&self.db) {
            record_query(&mut families, &query.name, &query.sink, &query.progress);
        }
        families.into_vec()
    }
}

/// The samples of one query.
fn record_query(out: &mut Families, query: &str, sink: &str, p: &QueryProgress) {
    for status in QueryStatus::ALL {
        let current = f64::from(u8::from(p.status == status));
        out.value(&STATUS, &[query, status.as_str()], current);
    }
    out.value(&EPOCH, &[query], p.epoch as f64);
    out.value(&INPUT_ROWS, &[query], p.input_rows as f64);
    out.value(&OUTPUT_ROWS, &[query], p.output_rows as f64);
    out.value(&LATE_ROWS, &[query], p.late_rows as f64);
    out.value(&NULL_TIME_ROWS, &[query], p.null_time_rows as f64);
    out.value(&BAD_RECORDS, &[query], p.bad_records as f64);
    // i64::MAX is "end of input", which has no time.
    if p.watermark != NO_WATERMARK && p.watermark != i64::MAX {
        out.value(&WATERMARK, &[query], p.watermark as f64 / 1e6);
    }
    if let Some(at) = p.committed_at {
        out.value(&LAST_COMMIT, &[query], unix_seconds(at));
    }
    out.value(&PROCESSED_RATE, &[query], p.processed_rows_per_second);
    if let Some(delay) = p.last_emit_delay() {
        out.value(&EMIT_DELAY, &[query], delay.as_secs_f64());
    }
    if let Some(s) = epoch_summary(p, |e| e.duration) {
        out.summary(&EPOCH_DURATION, &[query], s);
    }
    for (phase, duration) in PHASES {
        if let Some(s) = epoch_summary(p, duration) {
            out.summary(&EPOCH_PHASE, &[query, phase], s);
        }
    }
    for op in &p.operators {
        let id = op.id.to_string();
        let labels = [query, id.as_str(), op.kind];
        out.value(&STATE_ROWS, &labels, op.rows as f64);
        out.value(&STATE_BYTES, &labels, op.bytes as f64);
    }
    out.value(&SINK_EPOCH, &[query, sink], p.epoch as f64);
    out.value(&SINK_ROWS, &[query, sink], p.output_rows as f64);
    for source in &p.sources {
        record_source(out, query, source);
    }
}

/// The samples of one source of `query` and of its partitions.
fn record_source(out: &mut Families, query: &str, s: &SourceProgress) {
    let labels = [query, s.name.as_str()];
    out.value(&SOURCE_ROWS, &labels, s.input_rows as f64);
    out.value(&SOURCE_RATE, &labels, s.input_rows_per_second);
    if let Some(lag) = s.lag {
        out.value(&SOURCE_LAG, &[query, &s.name, s.lag_unit], lag as f64);
    }
    out.value(&SOURCE_UNREAD, &labels, s.unread_partitions as f64);
    for part in &s.partitions {
        let labels = [query, s.name.as_str(), part.partition.as_str()];
        let known = [
            (&PARTITION_COMMITTED, part.committed),
            (&PARTITION_PLANNED, part.planned),
            (&PARTITION_END, part.end),
            (&PARTITION_LAG, part.lag),
        ];
        for (spec, value) in known {
            if let Some(value) = value {
                out.value(spec, &labels, value as f64);
            }
        }
        out.value(&PARTITION_IDLE, &labels, f64::from(u8::from(part.idle)));
    }
}

/// A summary of `f` over the query's epoch history; `None` before the
/// first epoch. Its count and sum cover the same epochs as its quantiles
/// (at most `HISTORY_EPOCHS`), so `_sum / _count` is their mean.
fn epoch_summary(p: &QueryProgress, f: EpochDuration) -> Option<Summary> {
    let quantiles = QUANTILES
        .iter()
        .map(|&q| {
            let value = p.quantile(q, f)?;
            let mut quantile = Quantile::default();
            quantile.set_quantile(q);
            quantile.set_value(value.as_secs_f64());
            Some(quantile)
        })
        .collect::<Option<Vec<_>>>()?;
    let mut summary = Summary::default();
    summary.set_sample_count(p.history.len() as u64);
    summary.set_sample_sum(p.history.iter().map(f).sum::<Duration>().as_secs_f64());
    summary.set_quantile(quantiles);
    Some(summary)
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The families of one scrape, by name.
#[derive(Default)]
struct Families(BTreeMap<&'static str, MetricFamily>);

impl Families {
    /// A gauge's or a counter's sample, as `spec` says.
    fn value(&mut self, spec: &Spec, labels: &[&str], value: f64) {
        let metric = match spec.kind {
            MetricType::COUNTER => {
                let mut counter = Counter::default();
                counter.set_value(value);
                let mut metric = Metric::default();
                metric.set_counter(counter);
                metric
            }
            _ => {
                let mut gauge = Gauge::default();
                gauge.set_value(value);
                Metric::from_gauge(gauge)
            }
        };
        self.push(spec, labels, metric);
    }

    fn summary(&mut self, spec: &Spec, labels: &[&str], summary: Summary) {
        let mut metric = Metric::default();
        metric.set_summary(summary);
        self.push(spec, labels, metric);
    }

    fn push(&mut self, spec: &Spec, labels: &[&str], mut metric: Metric) {
        debug_assert_eq!(labels.len(), spec.labels.len(), "labels of {}", spec.name);
        let pairs = spec
            .labels
            .iter()
            .zip(labels)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.to_string());
                pair
            })
            .collect();
        metric.set_label(pairs);
        self.0
            .entry(spec.name)
            .or_insert_with(|| {
                let mut family = MetricFamily::default();
                family.set_name(spec.name.into());
                family.set_help(spec.help.into());
                family.set_field_type(spec.kind);
                family
            })
            .mut_metric()
            .push(metric);
    }

    fn into_vec(self) -> Vec<MetricFamily> {
        self.0.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use eddy_engine::job::{OperatorStateSize, PartitionProgress};
    use prometheus::TextEncoder;

    use super::*;

    fn epoch(n: u64, millis: u64) -> EpochProgress {
        let committed_at = UNIX_EPOCH + Duration::from_secs(1_000 + n);
        EpochProgress {
            epoch: n,
            started_at: committed_at - Duration::from_millis(millis),
            committed_at,
            duration: Duration::from_millis(millis),
            read: Duration::from_millis(millis / 2),
            compute: Duration::ZERO,
            sink: Duration::ZERO,
            checkpoint: Duration::ZERO,
            input_rows: 10,
            source_rows: vec![10],
            output_rows: 1,
            late_rows: 0,
            bad_records: 0,
            watermark: NO_WATERMARK,
            min_event_time: None,
            max_event_time: None,
            state_rows: 0,
            state_bytes: 0,
            emit_delay: Some(Duration::from_millis(250)),
        }
    }

    fn progress() -> QueryProgress {
        let mut p = QueryProgress {
            status: QueryStatus::Running,
            epoch: 4,
            input_rows: 40,
            output_rows: 4,
            watermark: 1_700_000_000_500_000,
            sources: vec![SourceProgress {
                name: "clicks".into(),
                lag: Some(12),
                lag_unit: "records",
                partitions: vec![PartitionProgress {
                    partition: "0".into(),
                    committed: Some(30),
                    end: Some(42),
                    lag: Some(12),
                    ..PartitionProgress::default()
                }],
                ..SourceProgress::default()
            }],
            operators: vec![OperatorStateSize {
                id: 2,
                kind: "window aggregate",
                rows: 7,
                bytes: 700,
            }],
            ..QueryProgress::default()
        };
        for (n, millis) in [(1, 10), (2, 20), (3, 30), (4, 400)] {
            p.record_epoch(epoch(n, millis));
        }
        p
    }

    fn render(p: &QueryProgress) -> String {
        let mut families = Families::default();
        record_query(&mut families, "q", "out", p);
        TextEncoder::new()
            .encode_to_string(&families.into_vec())
            .expect("encodes")
    }

    #[test]
    fn a_query_is_rendered_from_its_progress() {
        let text = render(&progress());
        for line in [
            "eddy_query_status{query=\"q\",status=\"running\"} 1",
            "eddy_query_status{query=\"q\",status=\"failed\"} 0",
            "eddy_query_epoch{query=\"q\"} 4",
            "eddy_query_input_rows_total{query=\"q\"} 40",
            "eddy_query_watermark_seconds{query=\"q\"} 1700000000.5",
            "eddy_query_emit_delay_seconds{query=\"q\"} 0.25",
            // Over 10, 20, 30 and 400 ms: the median is the second value,
            // the 99th percentile the largest.
            "eddy_query_epoch_duration_seconds{query=\"q\",quantile=\"0.5\"} 0.02",
            "eddy_query_epoch_duration_seconds{query=\"q\",quantile=\"0.99\"} 0.4",
            "eddy_query_epoch_duration_seconds_sum{query=\"q\"} 0.46",
            "eddy_query_epoch_duration_seconds_count{query=\"q\"} 4",
            "eddy_query_epoch_phase_duration_seconds{query=\"q\",phase=\"read\",quantile=\"0.99\"} 0.2",
            "eddy_query_state_rows{query=\"q\",operator_id=\"2\",operator=\"window aggregate\"} 7",
            "eddy_query_state_bytes{query=\"q\",operator_id=\"2\",operator=\"window aggregate\"} 700",
            "eddy_sink_committed_epoch{query=\"q\",sink=\"out\"} 4",
            "eddy_sink_rows_total{query=\"q\",sink=\"out\"} 4",
            "eddy_source_input_rows_total{query=\"q\",source=\"clicks\"} 40",
            "eddy_source_lag{query=\"q\",source=\"clicks\",unit=\"records\"} 12",
            "eddy_source_partition_committed_offset{query=\"q\",source=\"clicks\",partition=\"0\"} 30",
            "eddy_source_partition_end_offset{query=\"q\",source=\"clicks\",partition=\"0\"} 42",
            "# TYPE eddy_query_input_rows_total counter",
            "# TYPE eddy_query_epoch_duration_seconds summary",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Not planned yet: no sample rather than a made-up one.
        assert!(
            !text.contains("eddy_source_partition_planned_offset"),
            "{text}"
        );
    }

    #[test]
    fn unknown_figures_have_no_sample() {
        let text = render(&QueryProgress::default());
        assert!(text.contains("eddy_query_status{query=\"q\",status=\"starting\"} 1"));
        for absent in [
            "eddy_query_watermark_seconds",
            "eddy_query_emit_delay_seconds",
            "eddy_query_epoch_duration_seconds",
            "eddy_query_last_commit_timestamp_seconds",
            "eddy_source_lag",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
    }

    #[test]
    fn names_follow_the_prometheus_conventions() {
        let mut names: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
        for spec in SPECS {
            assert!(spec.name.starts_with("eddy_"), "{}", spec.name);
            assert_eq!(
                spec.name.ends_with("_total"),
                spec.kind == MetricType::COUNTER,
                "{}: counters and only counters end in _total",
                spec.name
            );
            assert!(
                spec.labels
                    .iter()
                    .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
                "{}",
                spec.name
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SPECS.len(), "a name is used twice");
    }
}
