//! The epoch loop of one streaming query.
//!
//! ```text
//!  trigger fires
//!    │ plan_epoch(from)           fix [from, to) of the source
//!    │ read [from, to)            batches ─▶ watermark.observe (per partition)
//!    │                                     ─▶ window.assign (drops late rows)
//!    │                                     ─▶ pre stages ─▶ aggregate.update
//!    │ watermark.advance          (or close, when a bounded source ended)
//!    │ aggregate.emit_closed      ─▶ post stages ─▶ epoch output
//!    │ sink.write_epoch(N, output)   retried while the error is retryable
//!    ▼ progress updated; from = to
//! ```
//!
//! The query's progress is shared with the server through
//! [`QueryProgress`]; a stop request lets the running epoch finish first.
//!
//! - `options`: `WITH (…)` options of a streaming query and triggers.
//! - `progress`: the status and counters `SHOW STREAMING QUERIES` shows.
//! - `retry`, `fault`: backoff for failing outside systems, and the crash
//!   points the crash tests inject.

mod fault;
mod inputs;
mod options;
mod progress;
mod retry;

pub use options::{QUERY_OPTIONS, QueryOptions, Trigger};
pub use progress::{
    EpochProgress, HISTORY_EPOCHS, OperatorStateSize, PartitionProgress, QueryProgress,
    QueryStatus, SharedProgress, SourceProgress,
};

use fault::{Fault, FaultPoint};
use inputs::{Inputs, Watermarks};
use retry::Backoff;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::record_batch::RecordBatch;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checkpoint::{CheckpointDir, CommitEntry, OffsetEntry, Totals};

/// The runtime streaming jobs run on: one of their own, with a worker
/// thread per core, so that queries busy computing never hold up the
/// server's own runtime — its connections, catalog queries and cancel
/// requests are answered however loaded the jobs are.
pub fn jobs_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("eddy-job")
            .thread_stack_size(eddy_sql::STATEMENT_STACK_SIZE)
            .enable_all()
            .build()
            .expect("the jobs' runtime starts")
    })
}
use crate::late::late_rows_batch;
use crate::plan::{EpochContext, StreamingPlan};
use crate::table_store::StoredTable;
use crate::watermark::{NO_WATERMARK, WatermarkSpec};
use crate::{Offsets, Result, Sink, Source};

/// Everything a running query owns.
pub struct StreamingJob {
    name: String,
    inputs: Inputs,
    sink: Box<dyn Sink>,
    /// Whether `sink.open` has succeeded (it may run at CREATE time).
    sink_open: bool,
    plan: StreamingPlan,
    options: QueryOptions,
    /// Per input: the source's watermark, if it declares one.
    watermarks: Vec<Option<WatermarkSpec>>,
    /// Where the query's offset log, commit log and state live.
    checkpoint: Option<CheckpointDir>,
    /// Bad records counted by the source (see [`crate::SourceContext`]).
    bad_records: Arc<AtomicU64>,
    /// A crash point injected by the crash tests (`EDDY_FAULT`).
    fault: Option<Fault>,
    /// With `late_rows = 'table'`: the table late rows are appended to, and
    /// the writer name its epochs are recorded under.
    late_rows: Option<(Arc<StoredTable>, String)>,
    /// When the last epoch with input was planned (for the idle timeout).
    last_data_at: Instant,
    /// When the sources' lag was last measured.
    lag_measured: Option<Instant>,
    /// `ALTER STREAMING QUERY … PAUSE`: recover, then run no epoch.
    paused: bool,
}

/// How often the sources' lag is measured (after an epoch, or while the
/// query waits for input).
const LAG_EVERY: Duration = Duration::from_secs(1);

/// The server's handle on a running job.
pub struct JobHandle {
    pub progress: SharedProgress,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl JobHandle {
    /// Asks the job to stop after its running epoch and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl StreamingJob {
    /// A job reading `sources` (named, in the plan's input order), whose
    /// watermarks are given per input.
    pub fn new(
        name: String,
        sources: Vec<(String, Box<dyn Source>)>,
        sink: Box<dyn Sink>,
        plan: StreamingPlan,
        options: QueryOptions,
        watermarks: Vec<Option<WatermarkSpec>>,
    ) -> Self {
        StreamingJob {
            name,
            inputs: Inputs::new(sources),
            sink,
            sink_open: false,
            plan,
            options,
            watermarks,
            checkpoint: None,
            bad_records: Arc::default(),
            fault: Fault::from_env(),
            late_rows: None,
            last_data_at: Instant::now(),
            lag_measured: None,
            paused: false,
        }
    }

    /// Keeps late rows in `table` (appended once per epoch as `writer`).
    pub fn with_late_rows_table(mut self, table: Arc<StoredTable>, writer: String) -> Self {
        self.late_rows = Some((table, writer));
        self
    }

    /// Makes the job recover its state and positions, then wait without
    /// running epochs (measuring its sources' lag) until stopped.
    pub fn with_paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        self
    }

    /// Shares the counter the source reports bad records to.
    pub fn with_bad_record_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.bad_records = counter;
        self
    }

    /// Makes the job record its progress in `dir` and resume from it.
    pub fn with_checkpoint(mut self, dir: CheckpointDir) -> Self {
        self.checkpoint = Some(dir.with_retain(self.options.retain));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the sink's target against the query's output schema without
    /// creating anything ([`Sink::check`]).
    pub async fn check_sink(&mut self) -> Result<()> {
        self.sink.check(self.plan.output_schema.clone()).await
    }

    /// Opens the sink with the query's output schema: creates or checks the
    /// target. Done before the first epoch if not done earlier.
    pub async fn open_sink(&mut self) -> Result<()> {
        if !self.sink_open {
            self.sink.open(self.plan.output_schema.clone()).await?;
            self.sink_open = true;
        }
        Ok(())
    }

    /// Runs the job on the jobs' runtime ([`jobs_runtime`]).
    pub fn spawn(self) -> JobHandle {
        let progress: SharedProgress = Arc::default();
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = progress.clone();
        let name = self.name.clone();
        let task = jobs_runtime().spawn(async move {
            // A bug must not leave the query shown as running: a panic
            // fails the query with its message.
            let result = std::panic::AssertUnwindSafe(self.run(shared.clone(), stop_rx))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(crate::EngineError::Internal(format!(
                        "internal error (a bug in Eddy): {message}"
                    )))
                });
            let mut p = shared.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(status) => p.status = status,
                Err(e) => {
                    tracing::error!(query = %name, error = %e, "streaming query failed");
                    p.status = QueryStatus::Failed;
                    p.error = Some(e.to_string());
                }
            }
        });
        JobHandle {
            progress,
            stop: stop_tx,
            task,
        }
    }

    async fn run(
        mut self,
        progress: SharedProgress,
        mut stop: watch::Receiver<bool>,
    ) -> Result<QueryStatus> {
        if !self.open_sink_with_retry(&progress, &mut stop).await? {
            return Ok(QueryStatus::Stopped);
        }
        // A source that fails in a way that may pass (Kafka unavailable, a
        // file system hiccup) may have fed part of an epoch to the
        // operators: start again from the last checkpoint, which replays the
        // interrupted epoch over exactly the same input.
        let mut backoff = Backoff::default();
        loop {
            match self.run_from_checkpoint(&progress, &mut stop).await {
                Err(e) if e.is_retryable() && self.checkpoint.is_some() => {
                    tracing::warn!(query = %self.name, error = %e, "epoch failed; resuming from the last checkpoint");
                    if !backoff.wait(&e, &progress, &mut stop).await {
                        return Ok(QueryStatus::Stopped);
                    }
                }
                other => return other,
            }
        }
    }

    /// Restores the last checkpoint (if any) and runs epochs from there.
    async fn run_from_checkpoint(
        &mut self,
        progress: &SharedProgress,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<QueryStatus> {
        self.plan.root.clear();
        let mut watermarks = Watermarks::new(
            &self.watermarks,
            &self.inputs.partitions_end_when_read(),
            self.inputs.names(),
        );
        let recovered = match &self.checkpoint {
            Some(c) => c.recover()?,
            None => None,
        };
        let (mut from, mut epoch, mut pending) = match recovered {
            Some(r) => {
                watermarks.restore(r.commit.watermark, &r.commit.more_watermarks);
                for part in &r.state {
                    self.plan.root.apply(part)?;
                }
                for damage in &r.damaged {
                    tracing::warn!(query = %self.name, %damage, "passed over a damaged checkpoint");
                }
                tracing::info!(
                    query = %self.name,
                    epoch = r.commit.epoch,
                    replay = r.pending.len(),
                    "resuming from checkpoint"
                );
                update(progress, |p| {
                    p.input_rows = r.commit.totals.input_rows;
                    p.output_rows = r.commit.totals.output_rows;
                    p.late_rows = r.commit.totals.late_rows;
                    p.bad_records = r.commit.totals.bad_records;
                });
                // Bad records of epochs being replayed are counted again.
                self.bad_records
                    .store(r.commit.totals.bad_records, Ordering::Relaxed);
                (r.commit.offsets, r.commit.epoch, VecDeque::from(r.pending))
            }
            None => {
                self.bad_records.store(0, Ordering::Relaxed);
                (self.inputs.initial_offsets().await?, 0, VecDeque::new())
            }
        };
        update(progress, |p| {
            p.status = QueryStatus::Running;
            p.started_at.get_or_insert_with(SystemTime::now);
            p.epoch = epoch;
            p.offsets = from.clone();
            p.planned = from.clone();
            p.watermark = watermarks.current();
            if p.sources.is_empty() {
                p.sources = self.inputs.progress_entries();
            }
            p.operators = self.plan.root.operator_states();
        });
        self.refresh_lag(progress, &from, &watermarks, true).await;
        if self.paused {
            // Resuming starts the job again: until then, only the lag.
            update(progress, |p| p.status = QueryStatus::Paused);
            tracing::info!(query = %self.name, epoch, "streaming query paused");
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(LAG_EVERY) => {}
                    _ = stop.changed() => return Ok(QueryStatus::Stopped),
                }
                self.refresh_lag(progress, &from, &watermarks, false).await;
            }
        }
        tracing::info!(query = %self.name, "streaming query started");
        // `available_now` runs up to what is available when it starts.
        let target = match self.options.trigger {
            Trigger::AvailableNow => Some(self.inputs.available_end(&from).await?),
            _ => None,
        };
        let mut next_tick = Instant::now();
        loop {
            if *stop.borrow() {
                return Ok(QueryStatus::Stopped);
            }
            let entry = match pending.pop_front() {
                Some(entry) => entry,
                None => {
                    if let Trigger::Interval(every) = self.options.trigger {
                        // Sleeps until the next tick, measuring the lag
                        // meanwhile.
                        let now = Instant::now();
                        while let Some(wait) = next_tick
                            .checked_duration_since(Instant::now())
                            .filter(|w| !w.is_zero())
                        {
                            tokio::select! {
                                _ = tokio::time::sleep(wait.min(LAG_EVERY)) => {}
                                _ = stop.changed() => return Ok(QueryStatus::Stopped),
                            }
                            self.refresh_lag(progress, &from, &watermarks, false).await;
                        }
                        next_tick = next_tick.max(now) + every;
                    }
                    let mut planned = self.inputs.plan_epoch(&from).await?;
                    if let Some(target) = &target {
                        let uncapped = planned.end.clone();
                        cap_offsets(&mut planned.end, &from, target);
                        if planned.end != uncapped {
                            planned.exhausted = false;
                            planned.ended.clear();
                        }
                    }
                    if planned.end == from
                        && !planned.exhausted
                        && let Some(idle) = self.idle_epoch(&from, epoch + 1, &mut watermarks)
                    {
                        if let Some(c) = &self.checkpoint {
                            c.write_offsets(&idle)?;
                        }
                        idle
                    } else if planned.end == from {
                        match self.options.trigger {
                            _ if planned.exhausted => return Ok(QueryStatus::Finished),
                            Trigger::Once | Trigger::AvailableNow => {
                                return Ok(QueryStatus::Finished);
                            }
                            Trigger::Continuous => {
                                tokio::select! {
                                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                                    _ = stop.changed() => return Ok(QueryStatus::Stopped),
                                }
                            }
                            Trigger::Interval(_) => {}
                        }
                        self.refresh_lag(progress, &from, &watermarks, false).await;
                        continue;
                    } else {
                        self.last_data_at = Instant::now();
                        let entry = OffsetEntry {
                            epoch: epoch + 1,
                            idle_partitions: watermarks.idle_partitions(&from, &planned.end),
                            from: from.clone(),
                            to: planned.end,
                            input_ended: planned.exhausted,
                            idle_watermark: None,
                            inputs_ended: planned.ended.into_iter().collect(),
                        };
                        if let Some(c) = &self.checkpoint {
                            c.write_offsets(&entry)?;
                        }
                        entry
                    }
                }
            };
            epoch = entry.epoch;
            let bad_before = self.bad_records.load(Ordering::Relaxed);
            let (started, started_at) = (Instant::now(), SystemTime::now());
            update(progress, |p| p.planned = entry.to.clone());
            let stats = self.run_epoch(&entry, &mut watermarks).await?;
            self.fault_point(FaultPoint::BeforeSink, epoch);
            let sink_started = Instant::now();
            // Counted from the epoch's output, not from what the sink reports:
            // a sink skipping a replayed epoch it already holds writes 0 rows.
            let output_rows: u64 = stats.output.iter().map(|b| b.num_rows() as u64).sum();
            let Some(_) = self
                .write_with_retry(epoch, &stats.output, progress, stop)
                .await?
            else {
                // Stopped while the sink was failing: the epoch is replayed
                // from the offset log at the next start.
                return Ok(QueryStatus::Stopped);
            };
            let checkpoint_started = Instant::now();
            if let Some((table, writer)) = &self.late_rows {
                table.append_epoch(writer, epoch, &stats.late_output)?;
            }
            self.fault_point(FaultPoint::AfterSink, epoch);
            let totals = {
                let p = progress.lock().unwrap_or_else(|e| e.into_inner());
                Totals {
                    input_rows: p.input_rows + stats.input_rows,
                    output_rows: p.output_rows + output_rows,
                    late_rows: p.late_rows + stats.late_rows,
                    bad_records: self.bad_records.load(Ordering::Relaxed),
                }
            };
            self.commit(&entry, &watermarks, totals)?;
            self.fault_point(FaultPoint::AfterCommit, epoch);
            let committed = Instant::now();
            let elapsed = committed - started;
            from = entry.to;
            let (state_rows, state_bytes) = self.plan.root.state_size();
            let record = EpochProgress {
                epoch,
                started_at,
                committed_at: started_at + elapsed,
                duration: elapsed,
                read: stats.read,
                compute: stats.compute,
                sink: checkpoint_started - sink_started,
                checkpoint: committed - checkpoint_started,
                input_rows: stats.input_rows,
                source_rows: stats.source_rows,
                output_rows,
                late_rows: stats.late_rows,
                bad_records: totals.bad_records.saturating_sub(bad_before),
                watermark: watermarks.current(),
                min_event_time: stats.event_times.map(|(min, _)| min),
                max_event_time: stats.event_times.map(|(_, max)| max),
                state_rows,
                state_bytes,
                emit_delay: stats.closed_at.map(|at| committed - at),
            };
            update(progress, |p| {
                p.record_epoch(record);
                p.committed_at = Some(started_at + elapsed);
                p.operators = self.plan.root.operator_states();
                p.epoch = epoch;
                p.input_rows = totals.input_rows;
                p.output_rows = totals.output_rows;
                p.late_rows = totals.late_rows;
                p.null_time_rows += stats.null_time_rows;
                p.bad_records = self.bad_records.load(Ordering::Relaxed);
                p.watermark = watermarks.current();
                (p.state_rows, p.state_bytes) = (state_rows, state_bytes);
                p.last_epoch_duration = elapsed;
                p.processed_rows_per_second =
                    stats.input_rows as f64 / elapsed.as_secs_f64().max(1e-9);
                p.offsets = from.clone();
                p.planned = from.clone();
                p.error = None;
            });
            self.refresh_lag(progress, &from, &watermarks, false).await;
            if entry.input_ended || self.options.trigger == Trigger::Once {
                return Ok(QueryStatus::Finished);
            }
        }
    }

    /// Measures what the sources hold beyond `committed` (the lag) and
    /// records it with the positions, at most once per [`LAG_EVERY`]
    /// unless `now`. A source that cannot tell right now keeps its last
    /// measure: the lag is for people watching, never a reason to fail.
    async fn refresh_lag(
        &mut self,
        progress: &SharedProgress,
        committed: &Offsets,
        watermarks: &Watermarks,
        now: bool,
    ) {
        if !now && self.lag_measured.is_some_and(|at| at.elapsed() < LAG_EVERY) {
            return;
        }
        self.lag_measured = Some(Instant::now());
        let end = match self.inputs.available_end(committed).await {
            Ok(end) => Some(end),
            Err(e) => {
                tracing::debug!(query = %self.name, error = %e, "cannot measure the lag");
                None
            }
        };
        update(progress, |p| {
            let planned = std::mem::take(&mut p.planned);
            self.inputs.fill_progress(
                &mut p.sources,
                committed,
                &planned,
                end.as_ref(),
                watermarks,
            );
            p.planned = planned;
        });
    }

    /// Aborts the process if the crash tests asked for a crash here.
    fn fault_point(&self, point: FaultPoint, epoch: u64) {
        if let Some(fault) = &self.fault
            && fault.point == point
            && fault.epoch == epoch
        {
            eprintln!(
                "EDDY_FAULT: query {} aborts the process at {point:?} of epoch {epoch}",
                self.name
            );
            std::process::abort();
        }
    }

    /// An idle epoch to run now, if the source has been silent for
    /// `watermark.idle_timeout` and advancing the watermark on processing
    /// time would close a window.
    fn idle_epoch(
        &self,
        from: &Offsets,
        epoch: u64,
        watermark: &mut Watermarks,
    ) -> Option<OffsetEntry> {
        let timeout = watermark.idle_timeout()?;
        let idle = self.last_data_at.elapsed();
        if idle < timeout {
            return None;
        }
        let candidate = watermark.idle_candidate(idle)?;
        let earliest_end = self.plan.root.earliest_close()?;
        (candidate > watermark.current() && earliest_end <= candidate).then(|| OffsetEntry {
            epoch,
            from: from.clone(),
            to: from.clone(),
            input_ended: false,
            idle_watermark: Some(candidate),
            inputs_ended: Vec::new(),
            idle_partitions: watermark.idle_partitions(from, from),
        })
    }

    /// Records that `entry`'s epoch is complete, with the state after it.
    fn commit(
        &mut self,
        entry: &OffsetEntry,
        watermarks: &Watermarks,
        totals: Totals,
    ) -> Result<()> {
        let Some(checkpoint) = &self.checkpoint else {
            return Ok(());
        };
        // A full snapshot every `snapshot_every` epochs, deltas (the windows
        // changed and removed) in between.
        let full = entry.epoch.is_multiple_of(self.options.snapshot_every);
        let mut state = BTreeMap::new();
        self.plan.root.checkpoint(full, &mut state)?;
        let (first_watermark, more_watermarks) = watermarks.state();
        let removed = state
            .iter_mut()
            .filter(|(_, s)| !s.removed.is_empty())
            .map(|(&id, s)| (id, std::mem::take(&mut s.removed)))
            .collect();
        checkpoint.commit(
            &CommitEntry {
                epoch: entry.epoch,
                offsets: entry.to.clone(),
                watermark: first_watermark,
                more_watermarks,
                has_state: !state.is_empty(),
                delta: !full,
                removed,
                totals,
            },
            &state,
        )
    }

    /// Opens the sink, retrying retryable errors. `Ok(false)`: a stop was
    /// requested meanwhile.
    async fn open_sink_with_retry(
        &mut self,
        progress: &SharedProgress,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool> {
        let mut backoff = Backoff::default();
        loop {
            match self.open_sink().await {
                Ok(()) => return Ok(true),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(query = %self.name, error = %e, "cannot open sink; retrying");
                    if !backoff.wait(&e, progress, stop).await {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads `[from, to)` through the operators; returns the epoch's output.
    async fn run_epoch(
        &mut self,
        entry: &OffsetEntry,
        watermarks: &mut Watermarks,
    ) -> Result<EpochStats> {
        let (epoch, from, to, input_ended) =
            (entry.epoch, &entry.from, &entry.to, entry.input_ended);
        let mut stats = EpochStats::default();
        let mut cx = EpochContext {
            watermark: watermarks.current(),
            keep_late: self.late_rows.is_some(),
            ..EpochContext::default()
        };
        let root = &mut self.plan.root;
        stats.source_rows = vec![0; self.inputs.len()];
        let reading = Instant::now();
        let mut batches = self.inputs.read(from, to);
        while let Some((input, batch)) = batches.next().await {
            let batch = batch?;
            let rows = batch.batch.num_rows() as u64;
            stats.input_rows += rows;
            stats.source_rows[input] += rows;
            if let Some((min, max)) = watermarks.observe(input, &batch) {
                let (lo, hi) = stats.event_times.get_or_insert((min, max));
                (*lo, *hi) = ((*lo).min(min), (*hi).max(max));
            }
            let computing = Instant::now();
            stats
                .output
                .extend(root.push(input, batch.batch, &mut cx).await?);
            stats.compute += computing.elapsed();
            tokio::task::consume_budget().await;
        }
        drop(batches);
        stats.read = reading.elapsed().saturating_sub(stats.compute);
        let next_watermark = if !watermarks.exists() {
            if input_ended { i64::MAX } else { NO_WATERMARK }
        } else if input_ended {
            watermarks.advance(&(0..self.watermarks.len()).collect(), &[])
        } else if let Some(t) = entry.idle_watermark {
            watermarks.advance_to(t, &entry.idle_partitions)
        } else {
            watermarks.advance(
                &entry.inputs_ended.iter().copied().collect(),
                &entry.idle_partitions,
            )
        };
        let closing = Instant::now();
        let closed = root.finish(next_watermark, &mut cx).await?;
        stats.compute += closing.elapsed();
        if closed.iter().any(|b| b.num_rows() > 0) {
            stats.closed_at = Some(closing);
        }
        stats.output.extend(closed);
        stats.late_rows = cx.late_rows;
        stats.null_time_rows = cx.null_time_rows;
        if let Some((table, _)) = &self.late_rows {
            let schema = table.schema();
            for late in &cx.late {
                stats
                    .late_output
                    .push(late_rows_batch(late, cx.watermark, epoch, &schema)?);
            }
        }
        tracing::debug!(query = %self.name, epoch, rows = stats.input_rows, ?from, ?to, "epoch processed");
        Ok(stats)
    }

    /// Hands the epoch's output to the sink, retrying retryable errors with
    /// exponential backoff (the error stays visible in the progress).
    async fn write_with_retry(
        &mut self,
        epoch: u64,
        output: &[RecordBatch],
        progress: &SharedProgress,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<u64>> {
        let mut backoff = Backoff::default();
        loop {
            match self.sink.write_epoch(epoch, output).await {
                Ok(rows) => return Ok(Some(rows)),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(query = %self.name, epoch, error = %e, "sink write failed; retrying");
                    if !backoff.wait(&e, progress, stop).await {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[derive(Default)]
struct EpochStats {
    input_rows: u64,
    /// Per input.
    source_rows: Vec<u64>,
    /// Smallest and largest event time read (inputs with a watermark).
    event_times: Option<(i64, i64)>,
    read: Duration,
    compute: Duration,
    /// When the watermark's advance closed windows that produced rows.
    closed_at: Option<Instant>,
    late_rows: u64,
    null_time_rows: u64,
    output: Vec<RecordBatch>,
    /// Late rows for the late-rows table (`late_rows = 'table'`).
    late_output: Vec<RecordBatch>,
}

/// Caps each partition's end at `target` (never below `from`).
fn cap_offsets(end: &mut Offsets, from: &Offsets, target: &Offsets) {
    for (partition, position) in end.iter_mut() {
        let floor = from.get(partition).copied().unwrap_or(0);
        let cap = target.get(partition).copied().unwrap_or(floor);
        *position = (*position).min(cap.max(floor));
    }
}

fn update(progress: &SharedProgress, f: impl FnOnce(&mut QueryProgress)) {
    f(&mut progress.lock().unwrap_or_else(|e| e.into_inner()));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::jobs_runtime;

    /// Jobs that keep every one of their threads busy do not stop the
    /// caller's runtime: here the jobs spin until a task of the test's own
    /// (single-threaded) runtime has run, which it could not if they
    /// shared it.
    #[tokio::test(flavor = "current_thread")]
    async fn busy_jobs_leave_the_callers_runtime_free() {
        let released = Arc::new(AtomicBool::new(false));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let busy: Vec<_> = (0..workers)
            .map(|_| {
                let released = released.clone();
                jobs_runtime().spawn(async move {
                    while !released.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    std::thread::current().name().map(str::to_owned)
                })
            })
            .collect();
        let release = released.clone();
        let on_caller = tokio::spawn(async move { release.store(true, Ordering::Release) });
        tokio::time::timeout(Duration::from_secs(30), on_caller)
            .await
            .expect("the caller's runtime ran while the jobs were busy")
            .expect("the releasing task finishes");
        for job in busy {
            assert_eq!(job.await.unwrap().as_deref(), Some("eddy-job"));
        }
    }
}
