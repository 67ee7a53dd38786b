//! Event-time tracking, per source partition.
//!
//! Each partition of a source (a Kafka partition, a file, the one stream of
//! a generator) keeps the largest event time it has delivered. The source's
//! watermark is the minimum, over its *active* partitions, of that time
//! minus the delay its `WATERMARK FOR` clause declares (Flink's rule for its
//! Kafka source). A fast partition therefore cannot carry the watermark past
//! rows a slower one has not delivered yet: a row within the declared delay
//! of the rows before it *in its own partition* is never late, however the
//! partitions interleave in an epoch and wherever a crash cut the input
//! into epochs.
//!
//! A partition is active from its first row on, until
//!
//! - it has had no new data for the source's `watermark.idle_timeout`: it is
//!   *idle* and stops holding the watermark back until it delivers again.
//!   The job decides which partitions are idle when it plans an epoch and
//!   records them in the offset log, so a replay computes the same
//!   watermark;
//! - or it has ended (a file read whole, see
//!   [`crate::Source::partitions_end_when_read`]): it drops out after the
//!   epoch that read it.
//!
//! A partition that has delivered nothing yet does not hold the watermark
//! back (a topic with an unused partition still closes windows). With
//! `watermark.policy = 'max_seen'` the watermark is Spark's instead: the
//! largest event time of all partitions minus the delay.
//!
//! The query's watermark only changes between epochs (as in Spark): rows of
//! epoch N are judged against the watermark that held when epoch N started,
//! so an epoch's outcome does not depend on how its rows were split into
//! batches. It never moves back.

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use eddy_catalog::SourceDef;
use serde::{Deserialize, Serialize};

use crate::source::{RowPartitions, SourceBatch};
use crate::{EngineError, Result};

/// Microseconds since the Unix epoch; `i64::MIN` means "no watermark yet".
pub type EventTime = i64;

pub const NO_WATERMARK: EventTime = i64::MIN;

/// The values of `watermark.policy`, in [`WatermarkPolicy`]'s order.
pub const WATERMARK_POLICIES: &[&str] = &["min_partition", "max_seen"];

/// How a source's partitions make its watermark (`watermark.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WatermarkPolicy {
    /// The minimum over the active partitions.
    #[default]
    MinPartition,
    /// The largest event time of any partition (Spark's global rule).
    MaxSeen,
}

/// A source's watermark as declared: `WATERMARK FOR column AS column -
/// delay` and its `watermark.*` options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatermarkSpec {
    /// Index of the event-time column in the source's batches.
    pub column: usize,
    pub delay_micros: i64,
    pub policy: WatermarkPolicy,
    /// `watermark.idle_timeout`.
    pub idle_timeout: Option<Duration>,
}

impl WatermarkSpec {
    /// The spec of a source definition; `None` without `WATERMARK FOR`.
    pub fn of_source(def: &SourceDef, schema: &SchemaRef) -> Result<Option<WatermarkSpec>> {
        let Some(w) = &def.watermark else {
            return Ok(None);
        };
        let column = schema.index_of(&w.column).map_err(|_| {
            EngineError::Internal(format!(
                "watermark column '{}' is not a column of source '{}'",
                w.column, def.name
            ))
        })?;
        let idle_timeout = match def.options.get("watermark.idle_timeout") {
            None => None,
            Some(v) => Some(crate::options::parse_duration(v).ok_or_else(|| {
                EngineError::Config(format!("invalid watermark.idle_timeout '{v}'"))
            })?),
        };
        let policy = match def.options.get("watermark.policy") {
            None => WatermarkPolicy::MinPartition,
            Some(p) => match WATERMARK_POLICIES
                .iter()
                .position(|known| known.eq_ignore_ascii_case(p))
            {
                Some(0) => WatermarkPolicy::MinPartition,
                Some(_) => WatermarkPolicy::MaxSeen,
                None => {
                    return Err(EngineError::Config(format!(
                        "unknown watermark.policy '{p}'; expected one of {}",
                        WATERMARK_POLICIES.join(", ")
                    )));
                }
            },
        };
        Ok(Some(WatermarkSpec {
            column,
            delay_micros: w.delay_micros,
            policy,
            idle_timeout,
        }))
    }
}

/// A watermark as a checkpoint records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatermarkState {
    /// The largest event time of all partitions.
    pub max_event_time: Option<i64>,
    pub current: Option<i64>,
    /// Per partition that has delivered rows. (Absent in checkpoints
    /// written before event time was tracked per partition.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partitions: BTreeMap<String, PartitionTime>,
}

/// What a partition contributes to its source's watermark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PartitionTime {
    /// The largest event time the partition has delivered.
    pub max_event_time: i64,
    /// Idle: no new data for `watermark.idle_timeout`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idle: bool,
}

/// The watermark of one source.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    spec: WatermarkSpec,
    /// Partitions drop out after the epoch that read them (files).
    partitions_end_when_read: bool,
    partitions: BTreeMap<String, PartitionTime>,
    /// Largest event time seen so far in any partition (including the
    /// running epoch).
    max_event_time: EventTime,
    /// The watermark in force for the running epoch.
    current: EventTime,
}

impl WatermarkTracker {
    pub fn new(spec: WatermarkSpec, partitions_end_when_read: bool) -> Self {
        WatermarkTracker {
            spec,
            partitions_end_when_read,
            partitions: BTreeMap::new(),
            max_event_time: NO_WATERMARK,
            current: NO_WATERMARK,
        }
    }

    pub fn spec(&self) -> &WatermarkSpec {
        &self.spec
    }

    pub fn partitions_end_when_read(&self) -> bool {
        self.partitions_end_when_read
    }

    /// What a checkpoint records.
    pub fn state(&self) -> WatermarkState {
        let some = |t: EventTime| (t != NO_WATERMARK).then_some(t);
        WatermarkState {
            max_event_time: some(self.max_event_time),
            current: some(self.current),
            partitions: self.partitions.clone(),
        }
    }

    /// Resumes from a checkpoint.
    pub fn restore(&mut self, state: WatermarkState) {
        self.max_event_time = state.max_event_time.unwrap_or(NO_WATERMARK);
        self.current = state.current.unwrap_or(NO_WATERMARK);
        self.partitions = state.partitions;
    }

    /// The watermark rows of the running epoch are judged against.
    pub fn current(&self) -> EventTime {
        self.current
    }

    /// Whether `partition` was idle when the last epoch ended; `None` for
    /// a partition that does not hold the watermark back (it has delivered
    /// nothing, or it has ended).
    pub fn partition_idle(&self, partition: &str) -> Option<bool> {
        self.partitions.get(partition).map(|p| p.idle)
    }

    /// The partitions' event times, by partition name.
    pub fn partitions(&self) -> &BTreeMap<String, PartitionTime> {
        &self.partitions
    }

    /// Records the event times of a batch of the running epoch, per
    /// partition; returns the batch's smallest and largest event time.
    pub fn observe(&mut self, batch: &SourceBatch) -> Option<(EventTime, EventTime)> {
        let col = batch.batch.column(self.spec.column);
        let ts = col.as_primitive_opt::<TimestampMicrosecondType>()?;
        let range = min(ts).zip(max(ts))?;
        match &batch.partitions {
            RowPartitions::One(partition) => self.saw(partition, range.1),
            RowPartitions::PerRow { names, rows } => {
                debug_assert_eq!(rows.len(), ts.len(), "one partition per row");
                let mut maxima = vec![NO_WATERMARK; names.len()];
                for (i, (&t, &p)) in ts.values().iter().zip(rows).enumerate() {
                    if ts.is_valid(i) {
                        let m = &mut maxima[p as usize];
                        *m = (*m).max(t);
                    }
                }
                for (name, m) in names.iter().zip(maxima) {
                    if m != NO_WATERMARK {
                        self.saw(name, m);
                    }
                }
            }
        }
        Some(range)
    }

    fn saw(&mut self, partition: &str, t: EventTime) {
        self.max_event_time = self.max_event_time.max(t);
        match self.partitions.get_mut(partition) {
            Some(p) => p.max_event_time = p.max_event_time.max(t),
            None => {
                self.partitions.insert(
                    partition.to_string(),
                    PartitionTime {
                        max_event_time: t,
                        idle: false,
                    },
                );
            }
        }
    }

    /// Ends the epoch: the watermark for the next one is computed from
    /// everything seen so far, with the partitions in `idle` left out.
    /// Returns it.
    pub fn advance(&mut self, idle: &[String]) -> EventTime {
        for (name, p) in self.partitions.iter_mut() {
            p.idle = idle.contains(name);
        }
        let candidate = match self.spec.policy {
            WatermarkPolicy::MaxSeen => {
                (self.max_event_time != NO_WATERMARK).then_some(self.max_event_time)
            }
            WatermarkPolicy::MinPartition => self
                .partitions
                .values()
                .filter(|p| !p.idle)
                .map(|p| p.max_event_time)
                .min(),
        };
        if let Some(t) = candidate {
            self.current = self.current.max(t.saturating_sub(self.spec.delay_micros));
        }
        if self.partitions_end_when_read {
            self.partitions.clear();
        }
        self.current
    }

    /// The watermark an idle source reaches after `idle` without data: the
    /// last event time seen plus the time since, minus the delay. `None`
    /// before any event was seen.
    pub fn idle_candidate(&self, idle: Duration) -> Option<EventTime> {
        (self.max_event_time != NO_WATERMARK).then(|| {
            self.max_event_time
                .saturating_add(idle.as_micros().min(i64::MAX as u128) as i64)
                .saturating_sub(self.spec.delay_micros)
        })
    }

    /// Moves the watermark to `t` (never back): an idle epoch.
    pub fn advance_to(&mut self, t: EventTime) -> EventTime {
        self.current = self.current.max(t);
        self.current
    }

    /// Sets the watermark to the end of time: a bounded input has ended and
    /// every window may close.
    pub fn close(&mut self) -> EventTime {
        self.current = i64::MAX;
        self.current
    }
}

/// Formats a watermark for humans (`SHOW STREAMING QUERIES`).
pub fn format_event_time(t: EventTime) -> Option<String> {
    match t {
        NO_WATERMARK => None,
        i64::MAX => Some("end of input".to_string()),
        t => chrono::DateTime::from_timestamp_micros(t)
            .map(|d| d.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;

    fn spec(policy: WatermarkPolicy) -> WatermarkSpec {
        WatermarkSpec {
            column: 0,
            delay_micros: 10,
            policy,
            idle_timeout: None,
        }
    }

    fn times(ts: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        )]));
        let array = TimestampMicrosecondArray::from(ts.to_vec());
        RecordBatch::try_new(schema, vec![Arc::new(array)]).unwrap()
    }

    fn per_row(ts: &[i64], partitions: &[u32]) -> SourceBatch {
        SourceBatch {
            batch: times(ts),
            partitions: RowPartitions::PerRow {
                names: vec!["0".into(), "1".into()],
                rows: partitions.to_vec(),
            },
        }
    }

    /// The slow partition holds the watermark back; Spark's rule does not.
    #[test]
    fn the_slowest_active_partition_sets_the_watermark() {
        let batch = per_row(&[100, 500, 120, 510], &[0, 1, 0, 1]);
        let mut min = WatermarkTracker::new(spec(WatermarkPolicy::MinPartition), false);
        min.observe(&batch);
        assert_eq!(min.advance(&[]), 110);
        let mut max_seen = WatermarkTracker::new(spec(WatermarkPolicy::MaxSeen), false);
        max_seen.observe(&batch);
        assert_eq!(max_seen.advance(&[]), 500);
    }

    /// An idle partition stops holding it back; the watermark never moves
    /// back when the partition delivers again; state survives a restore.
    #[test]
    fn idle_partitions_are_left_out_and_restored() {
        let mut t = WatermarkTracker::new(spec(WatermarkPolicy::MinPartition), false);
        t.observe(&per_row(&[100, 500], &[0, 1]));
        assert_eq!(t.advance(&["0".to_string()]), 490);
        assert_eq!(t.partition_idle("0"), Some(true));
        let mut restored = WatermarkTracker::new(spec(WatermarkPolicy::MinPartition), false);
        restored.restore(t.state());
        assert_eq!(restored.partition_idle("0"), Some(true));
        restored.observe(&SourceBatch::of_partition("0", times(&[200])));
        assert_eq!(restored.advance(&[]), 490, "never back");
        restored.observe(&SourceBatch::of_partition("0", times(&[600])));
        restored.observe(&SourceBatch::of_partition("1", times(&[700])));
        assert_eq!(restored.advance(&[]), 590);
    }

    /// Files end when read: the next epoch's files alone move the watermark.
    #[test]
    fn ended_partitions_drop_out_after_their_epoch() {
        let mut t = WatermarkTracker::new(spec(WatermarkPolicy::MinPartition), true);
        t.observe(&SourceBatch::of_partition("a.json", times(&[100])));
        t.observe(&SourceBatch::of_partition("b.json", times(&[300])));
        assert_eq!(t.advance(&[]), 90);
        t.observe(&SourceBatch::of_partition("c.json", times(&[200])));
        assert_eq!(t.advance(&[]), 190);
        assert!(t.state().partitions.is_empty());
    }

    /// Nulls take no part, and a partition that sent only nulls is unknown.
    #[test]
    fn null_event_times_are_ignored() {
        let schema = times(&[]).schema();
        let array = TimestampMicrosecondArray::from(vec![None, Some(50), None]);
        let batch = SourceBatch {
            batch: RecordBatch::try_new(schema, vec![Arc::new(array)]).unwrap(),
            partitions: RowPartitions::PerRow {
                names: vec!["0".into(), "1".into()],
                rows: vec![0, 1, 0],
            },
        };
        let mut t = WatermarkTracker::new(spec(WatermarkPolicy::MinPartition), false);
        t.observe(&batch);
        assert_eq!(t.advance(&[]), 40);
        assert_eq!(t.state().partitions.len(), 1);
    }
}
