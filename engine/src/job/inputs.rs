//! The streams a query reads, as one: offsets, epochs and watermarks of
//! several sources (an interval join reads two).
//!
//! Offsets of a query reading one source are that source's. With several,
//! each source's offsets are kept under its name: partition `0` of source
//! `clicks` is `clicks/0`. The query's watermark is the minimum of the
//! sources' watermarks; a source that has ended no longer holds it back.
//! Each source's own watermark is tracked per partition (see
//! [`crate::watermark`]); [`Watermarks`] also decides, when an epoch is
//! planned, which partitions are idle.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;

use super::progress::{PartitionProgress, SourceProgress};
use crate::checkpoint::WatermarkState;
use crate::watermark::{EventTime, NO_WATERMARK, PartitionTime, WatermarkSpec, WatermarkTracker};
use crate::{Offsets, PlannedRange, Result, Source, SourceBatch};

/// The sources of a query, by input number.
pub struct Inputs {
    sources: Vec<(String, Box<dyn Source>)>,
    /// The ranges being read, per input.
    ranges: Vec<(Offsets, Offsets)>,
}

/// What planning an epoch decided for all inputs.
pub struct PlannedInputs {
    pub end: Offsets,
    /// Every input has ended.
    pub exhausted: bool,
    /// The inputs that have ended.
    pub ended: BTreeSet<usize>,
}

impl Inputs {
    pub fn new(sources: Vec<(String, Box<dyn Source>)>) -> Self {
        Inputs {
            sources,
            ranges: Vec::new(),
        }
    }

    /// Whether each input's partitions end once read (see
    /// [`Source::partitions_end_when_read`]).
    pub fn partitions_end_when_read(&self) -> Vec<bool> {
        self.sources
            .iter()
            .map(|(_, s)| s.partitions_end_when_read())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// One entry per input, for the query's progress, before anything is
    /// read.
    pub fn progress_entries(&self) -> Vec<SourceProgress> {
        self.sources
            .iter()
            .map(|(name, source)| SourceProgress {
                name: name.clone(),
                lag_unit: source.offset_unit(),
                ..SourceProgress::default()
            })
            .collect()
    }

    /// Updates each input's positions and lag in `sources`: `committed`
    /// and `planned` are the query's offsets, `end` what the sources hold
    /// (`None` when it could not be measured: the last measure stays).
    /// Partitions of a source whose partitions end when read (files) are
    /// listed only while not fully read.
    pub fn fill_progress(
        &self,
        sources: &mut [SourceProgress],
        committed: &Offsets,
        planned: &Offsets,
        end: Option<&Offsets>,
        watermarks: &Watermarks,
    ) {
        let (committed, planned) = (self.split(committed), self.split(planned));
        let end = end.map(|end| self.split(end));
        for (i, progress) in sources.iter_mut().enumerate() {
            let (Some((_, source)), Some(committed), Some(planned)) =
                (self.sources.get(i), committed.get(i), planned.get(i))
            else {
                continue;
            };
            let ends_when_read = source.partitions_end_when_read();
            let previous: HashMap<String, Option<i64>> = progress
                .partitions
                .drain(..)
                .map(|p| (p.partition, p.end))
                .collect();
            let end = end.as_ref().and_then(|e| e.get(i));
            let names: BTreeSet<&String> = committed
                .keys()
                .chain(planned.keys())
                .chain(end.into_iter().flat_map(|e| e.keys()))
                .chain(previous.keys())
                .collect();
            for name in names {
                let position = committed.get(name).copied();
                // A source holds at least what has been read from it (the
                // last measure may be older than the position).
                let last_end = match end {
                    Some(end) => end.get(name).copied(),
                    None => previous.get(name).copied().flatten(),
                }
                .map(|e| position.map_or(e, |p| e.max(p)));
                let lag = last_end.map(|e| (e - position.unwrap_or(0)).max(0));
                if ends_when_read && position.is_some() && lag.unwrap_or(0) == 0 {
                    continue;
                }
                let time = watermarks.partition(i, name);
                progress.partitions.push(PartitionProgress {
                    partition: name.clone(),
                    committed: position,
                    planned: planned.get(name).copied().or(position),
                    end: last_end,
                    lag,
                    max_event_time: time.map(|t| t.max_event_time),
                    idle: time.is_some_and(|t| t.idle),
                });
            }
            let measured = progress.partitions.iter().any(|p| p.end.is_some());
            progress.lag = measured.then(|| progress.partitions.iter().filter_map(|p| p.lag).sum());
            progress.unread_partitions = progress
                .partitions
                .iter()
                .filter(|p| p.committed.is_none())
                .count() as u64;
            if end.is_some() {
                progress.lag_measured_at = Some(std::time::SystemTime::now());
            }
        }
    }

    /// The names of the inputs, in order.
    pub fn names(&self) -> Vec<String> {
        self.sources.iter().map(|(n, _)| n.clone()).collect()
    }

    fn split(&self, offsets: &Offsets) -> Vec<Offsets> {
        if self.sources.len() == 1 {
            return vec![offsets.clone()];
        }
        self.sources
            .iter()
            .map(|(name, _)| {
                let prefix = format!("{name}/");
                offsets
                    .iter()
                    .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), *v)))
                    .collect()
            })
            .collect()
    }

    fn join(&self, parts: Vec<Offsets>) -> Offsets {
        if self.sources.len() == 1 {
            return parts.into_iter().next().unwrap_or_default();
        }
        let mut out = Offsets::new();
        for ((name, _), part) in self.sources.iter().zip(parts) {
            for (k, v) in part {
                out.insert(format!("{name}/{k}"), v);
            }
        }
        out
    }

    pub async fn initial_offsets(&mut self) -> Result<Offsets> {
        let mut parts = Vec::with_capacity(self.sources.len());
        for (_, source) in &mut self.sources {
            parts.push(source.initial_offsets().await?);
        }
        Ok(self.join(parts))
    }

    pub async fn plan_epoch(&mut self, from: &Offsets) -> Result<PlannedInputs> {
        let froms = self.split(from);
        let mut parts = Vec::with_capacity(froms.len());
        let mut ended = BTreeSet::new();
        for (i, ((_, source), from)) in self.sources.iter_mut().zip(&froms).enumerate() {
            let PlannedRange { end, exhausted } = source.plan_epoch(from).await?;
            if exhausted {
                ended.insert(i);
            }
            parts.push(end);
        }
        Ok(PlannedInputs {
            end: self.join(parts),
            exhausted: ended.len() == self.sources.len(),
            ended,
        })
    }

    pub async fn available_end(&mut self, from: &Offsets) -> Result<Offsets> {
        let froms = self.split(from);
        let mut parts = Vec::with_capacity(froms.len());
        for ((_, source), from) in self.sources.iter_mut().zip(&froms) {
            parts.push(source.available_end(from).await?);
        }
        Ok(self.join(parts))
    }

    /// Reads `[from, to)` of every input, one after the other; each batch
    /// comes with its input number.
    pub fn read<'a>(
        &'a mut self,
        from: &Offsets,
        to: &Offsets,
    ) -> BoxStream<'a, (usize, Result<SourceBatch>)> {
        self.ranges = self.split(from).into_iter().zip(self.split(to)).collect();
        let Inputs { sources, ranges } = self;
        let streams = sources
            .iter_mut()
            .zip(ranges.iter())
            .enumerate()
            .map(|(i, ((_, source), (from, to)))| source.read(from, to).map(move |b| (i, b)));
        futures::stream::iter(streams).flatten().boxed()
    }
}

/// Where a partition of an input appears in a query's offsets: under its
/// own name with one input, as `source/partition` with several.
#[derive(Debug, Clone)]
struct PartitionKeys {
    /// The input names; empty for a query with one input.
    prefixes: Vec<String>,
}

impl PartitionKeys {
    fn new(names: Vec<String>) -> Self {
        PartitionKeys {
            prefixes: if names.len() > 1 {
                names.into_iter().map(|n| format!("{n}/")).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The input and partition an offsets key names.
    fn split<'k>(&self, key: &'k str) -> Option<(usize, &'k str)> {
        if self.prefixes.is_empty() {
            return Some((0, key));
        }
        self.prefixes
            .iter()
            .enumerate()
            .find_map(|(i, prefix)| key.strip_prefix(prefix.as_str()).map(|p| (i, p)))
    }
}

/// The watermarks of the inputs; the query's is their minimum.
pub struct Watermarks {
    trackers: Vec<Option<WatermarkTracker>>,
    keys: PartitionKeys,
    /// Per partition (by offsets key): when an epoch last planned new data
    /// for it, for `watermark.idle_timeout`. Processing time, not
    /// checkpointed: what it decides is recorded in the offset log.
    data_planned_at: HashMap<String, Instant>,
}

impl Watermarks {
    /// One entry per input: its watermark, if declared, and whether its
    /// partitions end once read; `names` are the inputs' names.
    pub fn new(
        specs: &[Option<WatermarkSpec>],
        ends_when_read: &[bool],
        names: Vec<String>,
    ) -> Self {
        Watermarks {
            trackers: specs
                .iter()
                .zip(ends_when_read)
                .map(|(s, &ends)| s.map(|s| WatermarkTracker::new(s, ends)))
                .collect(),
            keys: PartitionKeys::new(names),
            data_planned_at: HashMap::new(),
        }
    }

    /// Whether the query has a watermark at all.
    pub fn exists(&self) -> bool {
        self.trackers.iter().all(Option::is_some)
    }

    /// The watermark in force: the minimum over the inputs (none if an
    /// input has no watermark).
    pub fn current(&self) -> EventTime {
        self.trackers
            .iter()
            .map(|t| t.as_ref().map_or(NO_WATERMARK, |t| t.current()))
            .min()
            .unwrap_or(NO_WATERMARK)
    }

    /// Records a batch's event times; returns its smallest and largest
    /// (`None` for an input without a watermark).
    pub fn observe(&mut self, input: usize, batch: &SourceBatch) -> Option<(EventTime, EventTime)> {
        match self.trackers.get_mut(input) {
            Some(Some(t)) => t.observe(batch),
            _ => None,
        }
    }

    /// What input `input`'s watermark knows of `partition`.
    pub fn partition(&self, input: usize, partition: &str) -> Option<PartitionTime> {
        match self.trackers.get(input) {
            Some(Some(t)) => t.partitions().get(partition).copied(),
            _ => None,
        }
    }

    /// The partitions (offsets keys) of an epoch planned as `[from, to)`
    /// that are idle: nothing new planned for them for their source's
    /// `watermark.idle_timeout`, or idle at the last epoch and still
    /// without data. Called once per planned epoch.
    pub fn idle_partitions(&mut self, from: &Offsets, to: &Offsets) -> Vec<String> {
        let now = Instant::now();
        let mut idle = Vec::new();
        for (key, end) in to {
            // Only partitions that can hold the watermark back can be
            // idle: not those of a source without a watermark or whose
            // partitions end once read (files).
            let Some((input, partition)) = self.keys.split(key) else {
                continue;
            };
            let Some(Some(tracker)) = self.trackers.get(input) else {
                continue;
            };
            if tracker.partitions_end_when_read() {
                continue;
            }
            let since = self.data_planned_at.entry(key.clone()).or_insert(now);
            if from.get(key) != Some(end) {
                *since = now;
                continue;
            }
            // Nor those that have not delivered a row yet.
            let Some(was_idle) = tracker.partition_idle(partition) else {
                continue;
            };
            let timed_out = tracker
                .spec()
                .idle_timeout
                .is_some_and(|timeout| now.duration_since(*since) >= timeout);
            if timed_out || was_idle {
                idle.push(key.clone());
            }
        }
        idle
    }

    /// Ends an epoch: inputs in `ended` close, the others advance, with
    /// the partitions in `idle` (offsets keys) left out.
    pub fn advance(&mut self, ended: &BTreeSet<usize>, idle: &[String]) -> EventTime {
        let mut idle_per_input = vec![Vec::new(); self.trackers.len()];
        for key in idle {
            if let Some((input, partition)) = self.keys.split(key)
                && let Some(list) = idle_per_input.get_mut(input)
            {
                list.push(partition.to_string());
            }
        }
        for (i, t) in self.trackers.iter_mut().enumerate() {
            if let Some(t) = t {
                if ended.contains(&i) {
                    t.close();
                } else {
                    t.advance(&idle_per_input[i]);
                }
            }
        }
        self.current()
    }

    /// An idle epoch: every input advances to at least `t`.
    pub fn advance_to(&mut self, t: EventTime, idle: &[String]) -> EventTime {
        self.advance(&BTreeSet::new(), idle);
        for tracker in self.trackers.iter_mut().flatten() {
            tracker.advance_to(t);
        }
        self.current()
    }

    /// How long the whole query must go without data before its watermark
    /// advances on processing time: the longest of its inputs'
    /// `watermark.idle_timeout`, if every input has one.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.trackers
            .iter()
            .map(|t| t.as_ref().and_then(|t| t.spec().idle_timeout))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// Where an idle epoch would take the watermark after `idle` without
    /// data on any input.
    pub fn idle_candidate(&self, idle: Duration) -> Option<EventTime> {
        if !self.exists() {
            return None;
        }
        self.trackers
            .iter()
            .flatten()
            .map(|t| t.idle_candidate(idle))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min()
    }

    /// What a checkpoint records: the first input's state, then the others'.
    pub fn state(&self) -> (WatermarkState, Vec<WatermarkState>) {
        let mut states = self
            .trackers
            .iter()
            .map(|t| t.as_ref().map(|t| t.state()).unwrap_or_default());
        let first = states.next().unwrap_or_default();
        (first, states.collect())
    }

    pub fn restore(&mut self, first: WatermarkState, others: &[WatermarkState]) {
        for (i, t) in self.trackers.iter_mut().enumerate() {
            if let Some(t) = t {
                let state = if i == 0 {
                    first.clone()
                } else {
                    others.get(i - 1).cloned().unwrap_or_default()
                };
                t.restore(state);
            }
        }
    }
}
