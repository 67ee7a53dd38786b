//! What a running query reports: the analogue of Spark's
//! `StreamingQueryProgress`, shared between the job and the server.
//!
//! The job updates one [`QueryProgress`] after every epoch (and, while it
//! waits for input or is paused, refreshes the sources' lag about once a
//! second); the server reads copies of it for `SHOW STREAMING QUERIES`,
//! the `eddy_catalog` relations and `/metrics`.
//!
//! ```text
//!  QueryProgress ── status, epoch, totals, watermark, state, error
//!    ├─ sources[]     rows, rows/s, lag ── partitions[] committed, planned,
//!    │                                      end, lag, max event time
//!    ├─ operators[]   state rows and bytes per stateful operator
//!    └─ history       the last HISTORY_EPOCHS epochs: durations split into
//!                     read, compute, sink and checkpoint; rows; watermark
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::Offsets;
use crate::watermark::NO_WATERMARK;

/// How many epochs `history` keeps.
pub const HISTORY_EPOCHS: usize = 100;

/// The window over which rates (rows per second) are figured.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryStatus {
    Starting,
    Running,
    /// `ALTER STREAMING QUERY … PAUSE`: no epochs run; state and positions
    /// are kept.
    Paused,
    /// A bounded input was fully processed, or a `once`/`available_now`
    /// trigger completed.
    Finished,
    Failed,
    Stopped,
}

impl QueryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryStatus::Starting => "starting",
            QueryStatus::Running => "running",
            QueryStatus::Paused => "paused",
            QueryStatus::Finished => "finished",
            QueryStatus::Failed => "failed",
            QueryStatus::Stopped => "stopped",
        }
    }

    /// Every status, in the order above (for metrics that have one series
    /// per status).
    pub const ALL: [QueryStatus; 6] = [
        QueryStatus::Starting,
        QueryStatus::Running,
        QueryStatus::Paused,
        QueryStatus::Finished,
        QueryStatus::Failed,
        QueryStatus::Stopped,
    ];
}

/// What `SHOW STREAMING QUERIES` shows; updated by the job after each epoch.
#[derive(Debug, Clone)]
pub struct QueryProgress {
    pub status: QueryStatus,
    /// When this run of the query started (the server started it).
    pub started_at: Option<SystemTime>,
    /// Last completed epoch (0 = none yet); the sink holds every epoch up
    /// to it.
    pub epoch: u64,
    /// When the last epoch was committed.
    pub committed_at: Option<SystemTime>,
    pub input_rows: u64,
    pub output_rows: u64,
    pub late_rows: u64,
    /// Rows dropped because their event time was NULL.
    pub null_time_rows: u64,
    /// Input records that could not be decoded (skipped or dead-lettered).
    pub bad_records: u64,
    pub watermark: i64,
    pub state_rows: u64,
    pub state_bytes: u64,
    pub last_epoch_duration: Duration,
    /// Input rows per second of processing time over the last epoch
    /// (Spark's `processedRowsPerSecond`).
    pub processed_rows_per_second: f64,
    /// The last error: why the query failed, or a retryable error it is
    /// currently retrying.
    pub error: Option<String>,
    /// The committed position: where the next epoch starts.
    pub offsets: Offsets,
    /// The end of the last planned epoch (equal to `offsets` once it is
    /// committed).
    pub planned: Offsets,
    /// Per source, in the query's input order.
    pub sources: Vec<SourceProgress>,
    /// Per stateful operator, in plan order.
    pub operators: Vec<OperatorStateSize>,
    /// The last [`HISTORY_EPOCHS`] epochs, oldest first.
    pub history: VecDeque<EpochProgress>,
}

/// One source of a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceProgress {
    pub name: String,
    /// Rows read since the query started (this run; replays count again).
    pub input_rows: u64,
    /// Rows read per second of wall time over the last [`RATE_WINDOW`]
    /// (Spark's `inputRowsPerSecond`).
    pub input_rows_per_second: f64,
    /// What the source has that the query has not read yet, in
    /// `lag_unit`s; `None` until it was first measured or when the source
    /// cannot tell.
    pub lag: Option<i64>,
    /// `records` (Kafka), `bytes` (files), `rows` (datagen, tables).
    pub lag_unit: &'static str,
    /// Partitions the source has and the query has not started reading
    /// (files not read yet).
    pub unread_partitions: u64,
    /// When `lag` was measured.
    pub lag_measured_at: Option<SystemTime>,
    pub partitions: Vec<PartitionProgress>,
}

/// One partition of a source (a Kafka partition, a file, datagen's one
/// stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionProgress {
    pub partition: String,
    /// Where the next epoch reads from; `None` for a partition not read yet.
    pub committed: Option<i64>,
    /// The end of the last planned epoch.
    pub planned: Option<i64>,
    /// The end of what the source holds, when last measured.
    pub end: Option<i64>,
    /// `end - committed`.
    pub lag: Option<i64>,
    /// The largest event time the partition has delivered (sources with a
    /// watermark only).
    pub max_event_time: Option<i64>,
    /// Left out of the watermark because it has been idle.
    pub idle: bool,
}

/// The state one stateful operator holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorStateSize {
    /// The operator's id in the query's checkpoints.
    pub id: u32,
    /// `window aggregate`, `session window`, `deduplication`,
    /// `interval join`.
    pub kind: &'static str,
    pub rows: u64,
    /// Approximate bytes held in memory.
    pub bytes: u64,
}

/// One committed epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochProgress {
    pub epoch: u64,
    pub started_at: SystemTime,
    pub committed_at: SystemTime,
    /// From planning to commit.
    pub duration: Duration,
    /// Reading and decoding the sources' records.
    pub read: Duration,
    /// The operators: windows, aggregates, joins, projections.
    pub compute: Duration,
    /// The sink's write and commit, retries included.
    pub sink: Duration,
    /// Writing the query's checkpoint (and late rows).
    pub checkpoint: Duration,
    pub input_rows: u64,
    /// Input rows per source, in the query's input order.
    pub source_rows: Vec<u64>,
    pub output_rows: u64,
    pub late_rows: u64,
    pub bad_records: u64,
    /// The watermark after the epoch.
    pub watermark: i64,
    /// The smallest and largest event time the epoch read (sources with a
    /// watermark only).
    pub min_event_time: Option<i64>,
    pub max_event_time: Option<i64>,
    pub state_rows: u64,
    pub state_bytes: u64,
    /// For an epoch whose watermark closed windows that produced rows: the
    /// wall time from the watermark passing their end (when the epoch had
    /// read its input) to their rows being committed by the sink.
    pub emit_delay: Option<Duration>,
}

impl Default for QueryProgress {
    fn default() -> Self {
        QueryProgress {
            status: QueryStatus::Starting,
            started_at: None,
            epoch: 0,
            committed_at: None,
            input_rows: 0,
            output_rows: 0,
            late_rows: 0,
            null_time_rows: 0,
            bad_records: 0,
            watermark: NO_WATERMARK,
            state_rows: 0,
            state_bytes: 0,
            last_epoch_duration: Duration::ZERO,
            processed_rows_per_second: 0.0,
            error: None,
            offsets: Offsets::new(),
            planned: Offsets::new(),
            sources: Vec::new(),
            operators: Vec::new(),
            history: VecDeque::new(),
        }
    }
}

impl QueryProgress {
    /// Appends a committed epoch to the history, dropping the oldest past
    /// [`HISTORY_EPOCHS`], and refigures the sources' rates.
    pub fn record_epoch(&mut self, epoch: EpochProgress) {
        if self.history.len() == HISTORY_EPOCHS {
            self.history.pop_front();
        }
        for (source, rows) in self.sources.iter_mut().zip(&epoch.source_rows) {
            source.input_rows += rows;
        }
        self.history.push_back(epoch);
        for (i, source) in self.sources.iter_mut().enumerate() {
            source.input_rows_per_second = rate(&self.history, |e| {
                e.source_rows.get(i).copied().unwrap_or(0)
            });
        }
    }

    /// The `q`-quantile (0.5, 0.99) of `f` over the history's epochs.
    pub fn quantile(&self, q: f64, f: impl Fn(&EpochProgress) -> Duration) -> Option<Duration> {
        let mut values: Vec<Duration> = self.history.iter().map(f).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        Some(values[rank - 1])
    }

    /// The latest emit delay of the history.
    pub fn last_emit_delay(&self) -> Option<Duration> {
        self.history.iter().rev().find_map(|e| e.emit_delay)
    }
}

/// Rows per second of wall time over the epochs committed in the last
/// [`RATE_WINDOW`]: the rows of every such epoch but the oldest, over the
/// time from the oldest's commit to the newest's. With one epoch in the
/// window, its rows over its own duration.
fn rate(history: &VecDeque<EpochProgress>, rows: impl Fn(&EpochProgress) -> u64) -> f64 {
    let Some(newest) = history.back() else {
        return 0.0;
    };
    let recent: Vec<&EpochProgress> = history
        .iter()
        .filter(|e| {
            newest
                .committed_at
                .duration_since(e.committed_at)
                .is_ok_and(|age| age <= RATE_WINDOW)
        })
        .collect();
    match recent.as_slice() {
        [only] => rows(only) as f64 / only.duration.as_secs_f64().max(1e-6),
        [oldest, rest @ ..] => {
            let span = newest
                .committed_at
                .duration_since(oldest.committed_at)
                .unwrap_or_default()
                .as_secs_f64()
                .max(1e-6);
            rest.iter().map(|e| rows(e)).sum::<u64>() as f64 / span
        }
        [] => 0.0,
    }
}

pub type SharedProgress = Arc<Mutex<QueryProgress>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(n: u64, committed_ms: u64, rows: u64) -> EpochProgress {
        let committed_at = SystemTime::UNIX_EPOCH + Duration::from_millis(committed_ms);
        EpochProgress {
            epoch: n,
            started_at: committed_at - Duration::from_millis(10),
            committed_at,
            duration: Duration::from_millis(10),
            read: Duration::from_millis(n),
            compute: Duration::ZERO,
            sink: Duration::ZERO,
            checkpoint: Duration::ZERO,
            input_rows: rows,
            source_rows: vec![rows],
            output_rows: 0,
            late_rows: 0,
            bad_records: 0,
            watermark: NO_WATERMARK,
            min_event_time: None,
            max_event_time: None,
            state_rows: 0,
            state_bytes: 0,
            emit_delay: None,
        }
    }

    fn with_source() -> QueryProgress {
        QueryProgress {
            sources: vec![SourceProgress {
                name: "s".into(),
                ..SourceProgress::default()
            }],
            ..QueryProgress::default()
        }
    }

    #[test]
    fn rates_are_rows_over_the_recent_epochs_wall_time() {
        let mut p = with_source();
        p.record_epoch(epoch(1, 1_000, 50));
        // One epoch: its rows over its own duration.
        assert_eq!(p.sources[0].input_rows_per_second, 5_000.0);
        p.record_epoch(epoch(2, 2_000, 100));
        p.record_epoch(epoch(3, 3_000, 100));
        // 200 rows arrived in the 2 s after epoch 1 was committed.
        assert_eq!(p.sources[0].input_rows_per_second, 100.0);
        assert_eq!(p.sources[0].input_rows, 250);
        // Epochs older than the window no longer count.
        p.record_epoch(epoch(4, 20_000, 30));
        assert_eq!(p.sources[0].input_rows_per_second, 3_000.0);
    }

    #[test]
    fn history_is_bounded_and_quantiles_read_it() {
        let mut p = with_source();
        for n in 1..=(HISTORY_EPOCHS as u64 + 20) {
            p.record_epoch(epoch(n, n * 100, 1));
        }
        assert_eq!(p.history.len(), HISTORY_EPOCHS);
        assert_eq!(p.history.front().map(|e| e.epoch), Some(21));
        // Reads of 21..=120 ms: the median is 70, the 99th 119.
        assert_eq!(p.quantile(0.5, |e| e.read), Some(Duration::from_millis(70)));
        assert_eq!(
            p.quantile(0.99, |e| e.read),
            Some(Duration::from_millis(119))
        );
        assert_eq!(QueryProgress::default().quantile(0.5, |e| e.read), None);
    }
}
