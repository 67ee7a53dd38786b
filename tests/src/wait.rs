//! Bounded polling.
//!
//! Streaming results arrive when they arrive; a test waits for the state it
//! expects by polling, never by sleeping a fixed time, and never longer than
//! its bound. A check reports what it saw so that a timeout says how far the
//! system got.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// How long a test waits for a streaming result unless it says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// How often a condition is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The outcome of one poll.
pub enum Progress<T> {
    /// The condition holds; polling stops with this value.
    Done(T),
    /// Not yet; the description of what was seen goes into the timeout error.
    Pending(String),
}

/// Polls `check` until it returns [`Progress::Done`], for at most `timeout`.
///
/// An `Err` from `check` stops polling at once: it means the wait can no
/// longer succeed (a streaming query failed, the server died).
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Progress<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let seen = match check().await? {
            Progress::Done(value) => return Ok(value),
            Progress::Pending(seen) => seen,
        };
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last seen: {seen}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
