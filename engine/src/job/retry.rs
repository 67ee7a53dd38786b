//! Backoff between retries of a failing outside system.

use std::time::Duration;

use tokio::sync::watch;

use super::{SharedProgress, update};
use crate::EngineError;

/// Exponential backoff between retries of a failing outside system, from
/// 100 ms up to 10 s; the error stays visible in the query's progress.
pub(super) struct Backoff {
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: Duration::from_millis(100),
        }
    }
}

impl Backoff {
    /// Shows `error` and waits. Returns false if a stop was requested.
    pub(super) async fn wait(
        &mut self,
        error: &EngineError,
        progress: &SharedProgress,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        update(progress, |p| p.error = Some(error.to_string()));
        let stopped = tokio::select! {
            _ = tokio::time::sleep(self.delay) => false,
            _ = stop.changed() => true,
        };
        self.delay = (self.delay * 2).min(Duration::from_secs(10));
        !stopped
    }
}
