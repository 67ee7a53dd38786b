//! Event-time tracking.
//!
//! A source's watermark is the largest event time it has delivered minus the
//! delay its `WATERMARK FOR` clause declares. The query's watermark only
//! changes between epochs (as in Spark): rows of epoch N are judged against
//! the watermark that held when epoch N started, so an epoch's outcome does
//! not depend on how its rows were split into batches. It never moves back.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::max;
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::arrow::record_batch::RecordBatch;

/// Microseconds since the Unix epoch; `i64::MIN` means "no watermark yet".
pub type EventTime = i64;

pub const NO_WATERMARK: EventTime = i64::MIN;

#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    /// Index of the event-time column in the source's batches.
    column: usize,
    delay_micros: i64,
    /// Largest event time seen so far (including the running epoch).
    max_event_time: EventTime,
    /// The watermark in force for the running epoch.
    current: EventTime,
}

impl WatermarkTracker {
    pub fn new(column: usize, delay_micros: i64) -> Self {
        WatermarkTracker {
            column,
            delay_micros,
            max_event_time: NO_WATERMARK,
            current: NO_WATERMARK,
        }
    }

    /// What a checkpoint records.
    pub fn state(&self) -> crate::checkpoint::WatermarkState {
        let some = |t: EventTime| (t != NO_WATERMARK).then_some(t);
        crate::checkpoint::WatermarkState {
            max_event_time: some(self.max_event_time),
            current: some(self.current),
        }
    }

    /// Resumes from a checkpoint.
    pub fn restore(&mut self, state: crate::checkpoint::WatermarkState) {
        self.max_event_time = state.max_event_time.unwrap_or(NO_WATERMARK);
        self.current = state.current.unwrap_or(NO_WATERMARK);
    }

    /// The watermark rows of the running epoch are judged against.
    pub fn current(&self) -> EventTime {
        self.current
    }

    /// Records the event times of a batch of the running epoch.
    pub fn observe(&mut self, batch: &RecordBatch) {
        let col = batch.column(self.column);
        if let Some(ts) = col.as_primitive_opt::<TimestampMicrosecondType>()
            && ts.null_count() < ts.len()
            && let Some(m) = max(ts)
        {
            self.max_event_time = self.max_event_time.max(m);
        }
    }

    /// Ends the epoch: the watermark for the next one is computed from
    /// everything seen so far. Returns it.
    pub fn advance(&mut self) -> EventTime {
        if self.max_event_time != NO_WATERMARK {
            let candidate = self.max_event_time.saturating_sub(self.delay_micros);
            self.current = self.current.max(candidate);
        }
        self.current
    }

    /// The watermark an idle source reaches after `idle` without data: the
    /// last event time seen plus the time since, minus the delay. `None`
    /// before any event was seen.
    pub fn idle_candidate(&self, idle: std::time::Duration) -> Option<EventTime> {
        (self.max_event_time != NO_WATERMARK).then(|| {
            self.max_event_time
                .saturating_add(idle.as_micros().min(i64::MAX as u128) as i64)
                .saturating_sub(self.delay_micros)
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
