//! The streams a query reads, as one: offsets, epochs and watermarks of
//! several sources (an interval join reads two).
//!
//! Offsets of a query reading one source are that source's. With several,
//! each source's offsets are kept under its name: partition `0` of source
//! `clicks` is `clicks/0`. The query's watermark is the minimum of the
//! sources' watermarks; a source that has ended no longer holds it back.

use std::collections::BTreeSet;

use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::checkpoint::WatermarkState;
use crate::watermark::{EventTime, NO_WATERMARK, WatermarkTracker};
use crate::{Offsets, PlannedRange, Result, Source};

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
    ) -> BoxStream<'a, (usize, Result<RecordBatch>)> {
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

/// The watermarks of the inputs; the query's is their minimum.
pub struct Watermarks {
    trackers: Vec<Option<WatermarkTracker>>,
}

impl Watermarks {
    /// One entry per input: its watermark column and delay, if declared.
    pub fn new(specs: &[Option<(usize, i64)>]) -> Self {
        Watermarks {
            trackers: specs
                .iter()
                .map(|s| s.map(|(col, delay)| WatermarkTracker::new(col, delay)))
                .collect(),
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

    pub fn observe(&mut self, input: usize, batch: &RecordBatch) {
        if let Some(Some(t)) = self.trackers.get_mut(input) {
            t.observe(batch);
        }
    }

    /// Ends an epoch: inputs in `ended` close, the others advance.
    pub fn advance(&mut self, ended: &BTreeSet<usize>) -> EventTime {
        for (i, t) in self.trackers.iter_mut().enumerate() {
            if let Some(t) = t {
                if ended.contains(&i) {
                    t.close();
                } else {
                    t.advance();
                }
            }
        }
        self.current()
    }

    /// An idle epoch: every input advances to at least `t`.
    pub fn advance_to(&mut self, t: EventTime) -> EventTime {
        for tracker in self.trackers.iter_mut().flatten() {
            tracker.advance();
            tracker.advance_to(t);
        }
        self.current()
    }

    /// Where an idle epoch would take the watermark after `idle` without
    /// data on any input.
    pub fn idle_candidate(&self, idle: std::time::Duration) -> Option<EventTime> {
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
                    first
                } else {
                    others.get(i - 1).copied().unwrap_or_default()
                };
                t.restore(state);
            }
        }
    }
}
