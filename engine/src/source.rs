//! The `Source` trait: how the engine reads input, one epoch at a time.
//!
//! A source describes its read position as [`Offsets`]: a map from a
//! partition name (a Kafka partition, a file, the single datagen stream) to a
//! position in it. An epoch reads the half-open range `[from, to)` of every
//! partition. The engine, not the source, remembers positions: it asks the
//! source to *plan* an epoch (fix `to`), records the range, then asks it to
//! *read* exactly that range. Reading the same range twice must yield the
//! same rows, which is what makes replay after a crash exact.
//!
//! ```text
//!   engine                         source
//!     │  plan_epoch(from) ────────────▶│  look at what is available
//!     │◀──────────── PlannedRange{to}  │
//!     │  (offset log: epoch N = from..to)
//!     │  read(from, to) ──────────────▶│
//!     │◀──── SourceBatch, SourceBatch… │
//! ```
//!
//! Every batch says which partition each of its rows came from, so that the
//! engine can track event time per partition (see [`crate::watermark`]).
//!
//! Outside of queries a source can be *sampled*: an ad-hoc `SELECT … FROM
//! source` asks it for a [`SampleRange`] (the newest input, bounded per
//! partition) and reads that range with the same `read`, so a look at the
//! source decodes exactly as a query would (see [`crate::sample`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::BoxStream;

use crate::Result;

/// Read position per partition.
pub type Offsets = BTreeMap<String, i64>;

/// Rows read from a source, with the partition each row came from.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    pub batch: RecordBatch,
    pub partitions: RowPartitions,
}

/// Which partition each row of a [`SourceBatch`] came from, by the
/// partition's name in [`Offsets`].
#[derive(Debug, Clone, PartialEq)]
pub enum RowPartitions {
    /// Every row comes from this partition.
    One(String),
    /// Row `i` comes from partition `names[rows[i]]`.
    PerRow { names: Vec<String>, rows: Vec<u32> },
}

impl SourceBatch {
    /// A batch whose rows all come from `partition`.
    pub fn of_partition(partition: impl Into<String>, batch: RecordBatch) -> Self {
        SourceBatch {
            batch,
            partitions: RowPartitions::One(partition.into()),
        }
    }
}

/// The range a look at a source reads (see [`Source::sample_range`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRange {
    pub from: Offsets,
    pub to: Offsets,
    /// What the range holds, for the user: "the last 1000 records of each
    /// of 3 partitions", "the newest file, 'b.jsonl'".
    pub description: String,
}

/// What `plan_epoch` decided.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRange {
    /// Exclusive end of the epoch per partition. Equal to `from` when no new
    /// input is available.
    pub end: Offsets,
    /// The source is bounded and nothing will ever come after `end`.
    pub exhausted: bool,
}

#[async_trait]
pub trait Source: Send {
    /// The schema of the batches `read` yields: the declared columns, in
    /// declaration order.
    fn schema(&self) -> SchemaRef;

    /// The position a query starts from when it has no checkpoint.
    async fn initial_offsets(&mut self) -> Result<Offsets>;

    /// Fixes the end of the next epoch starting at `from`: whatever is
    /// available now, capped by the source's per-epoch limit.
    async fn plan_epoch(&mut self, from: &Offsets) -> Result<PlannedRange>;

    /// The end of the input available right now, without the per-epoch
    /// cap: where a query with `trigger = 'available_now'` stops.
    async fn available_end(&mut self, from: &Offsets) -> Result<Offsets>;

    /// Reads exactly the rows in `[from, to)`. Must be deterministic.
    fn read<'a>(
        &'a mut self,
        from: &'a Offsets,
        to: &'a Offsets,
    ) -> BoxStream<'a, Result<SourceBatch>>;

    /// The range an ad-hoc look at the source reads: a bounded sample of
    /// at most about `rows` rows per partition, chosen from the input that
    /// is there now (never waiting for more), read with [`read`](Self::read)
    /// like an epoch's range. Choosing and reading it must change nothing a
    /// query or another system keeps: no committed offsets, no consumer
    /// group, no files. A source whose offsets do not count rows (bytes of
    /// a file) may return more; the reader stops at `rows` per partition.
    async fn sample_range(&mut self, rows: u64) -> Result<SampleRange> {
        let _ = rows;
        Err(crate::EngineError::Plan(
            "this source cannot be sampled by an ad-hoc query".into(),
        ))
    }

    /// Whether a partition has nothing more to give once its planned range
    /// has been read (each file of a file source is read once, whole): it
    /// then stops holding the watermark back. Kafka partitions never end.
    fn partitions_end_when_read(&self) -> bool {
        false
    }

    /// What the source's offsets count, and so its lag (`available_end`
    /// minus the position): `records` (Kafka), `bytes` (files), `rows`.
    fn offset_unit(&self) -> &'static str {
        "records"
    }
}
