//! What a running query reports: the analogue of Spark's
//! `StreamingQueryProgress`, shared between the job and the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Offsets;
use crate::watermark::NO_WATERMARK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryStatus {
    Starting,
    Running,
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
            QueryStatus::Finished => "finished",
            QueryStatus::Failed => "failed",
            QueryStatus::Stopped => "stopped",
        }
    }
}

/// What `SHOW STREAMING QUERIES` shows; updated by the job after each epoch.
#[derive(Debug, Clone)]
pub struct QueryProgress {
    pub status: QueryStatus,
    /// Last completed epoch (0 = none yet).
    pub epoch: u64,
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
    /// Input rows per second over the last epoch.
    pub processed_rows_per_second: f64,
    /// The last error: why the query failed, or a retryable error it is
    /// currently retrying.
    pub error: Option<String>,
    pub offsets: Offsets,
}

impl Default for QueryProgress {
    fn default() -> Self {
        QueryProgress {
            status: QueryStatus::Starting,
            epoch: 0,
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
        }
    }
}

pub type SharedProgress = Arc<Mutex<QueryProgress>>;
