//! The `datagen` source: synthetic rows at a given rate, reproducible.
//!
//! Position is a single partition `rows`: the number of rows before it.
//! Row `i` is a pure function of `(seed, column, i)` (see `generate.rs`), so
//! the engine can cut epochs anywhere and a replay of `[from, to)` after a
//! crash yields exactly the rows of the first run.
//!
//! Pacing: `plan_epoch` lets through the rows *due* by wall-clock time, i.e.
//! `rows.per.second × seconds since the reader planned its first epoch`,
//! counted from the position of that first epoch (so a restarted query does
//! not burst to catch up on the time it was down), capped at
//! `rows.per.epoch` per epoch and at `number.of.rows`. Generation is
//! CPU-bound and cheap, so `read` generates inline.

mod config;
mod generate;
#[cfg(test)]
mod tests;

use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::SourceDef;
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::{
    EngineError, Offsets, PlannedRange, Result, SampleRange, Source, SourceBatch, SourceConnector,
    SourceContext,
};
use futures::stream::{self, BoxStream, StreamExt};

pub use config::{ColumnGen, ColumnType, DatagenConfig, Generator};

/// The single partition of a datagen source.
pub const PARTITION: &str = "rows";
/// Rows per generated batch.
pub const BATCH_ROWS: u64 = 8192;

const KINDS: &[&str] = &["random", "sequence", "event_time"];

static OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(
        "rows.per.second",
        OptionValue::Integer {
            min: 0,
            max: i64::MAX,
        },
        "rows generated per second of wall-clock time; 0 = as fast as possible",
    ),
    OptionSpec::new(
        "number.of.rows",
        OptionValue::Integer {
            min: 1,
            max: i64::MAX,
        },
        "total rows, after which the source is exhausted; absent = unbounded",
    ),
    OptionSpec::new(
        "rows.per.epoch",
        OptionValue::Integer {
            min: 1,
            max: i64::MAX,
        },
        "at most this many rows per epoch (default 100000)",
    ),
    OptionSpec::new(
        "seed",
        OptionValue::Integer {
            min: i64::MIN,
            max: i64::MAX,
        },
        "seed of the generator: same seed, same rows (default 0)",
    ),
    OptionSpec::new(
        "fields.*.kind",
        OptionValue::OneOf(KINDS),
        "how the column is generated",
    ),
    OptionSpec::new(
        "fields.*.min",
        OptionValue::Text,
        "smallest random value (inclusive)",
    ),
    OptionSpec::new(
        "fields.*.max",
        OptionValue::Text,
        "largest random value (inclusive)",
    ),
    OptionSpec::new(
        "fields.*.start",
        OptionValue::Text,
        "first value of a sequence or event time",
    ),
    OptionSpec::new(
        "fields.*.end",
        OptionValue::Text,
        "last value of a sequence, after which it wraps to start",
    ),
    OptionSpec::new(
        "fields.*.length",
        OptionValue::Integer {
            min: 0,
            max: 1 << 20,
        },
        "length of random strings (default 8)",
    ),
    OptionSpec::new(
        "fields.*.null_rate",
        OptionValue::Float { min: 0.0, max: 1.0 },
        "share of NULL values (default 0)",
    ),
    OptionSpec::new(
        "fields.*.step",
        OptionValue::Duration,
        "event time between consecutive rows",
    ),
    OptionSpec::new(
        "fields.*.max_out_of_order",
        OptionValue::Duration,
        "event times are moved back by a uniform jitter up to this (default 0)",
    ),
    OptionSpec::new(
        "fields.*.late_rate",
        OptionValue::Float { min: 0.0, max: 1.0 },
        "share of rows whose event time is moved back by late_by (default 0)",
    ),
    OptionSpec::new(
        "fields.*.late_by",
        OptionValue::Duration,
        "how far late rows are moved back (default 1 minute)",
    ),
];

/// `connector = 'datagen'`.
pub struct DatagenConnector;

impl SourceConnector for DatagenConnector {
    fn name(&self) -> &'static str {
        "datagen"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn validate(&self, def: &SourceDef, schema: &SchemaRef) -> Result<()> {
        DatagenConfig::parse(&owner(def), &def.options, schema).map(|_| ())
    }

    fn create(
        &self,
        def: &SourceDef,
        schema: SchemaRef,
        _ctx: SourceContext,
    ) -> Result<Box<dyn Source>> {
        let config = DatagenConfig::parse(&owner(def), &def.options, &schema)?;
        Ok(Box::new(DatagenSource::new(schema, config)))
    }
}

fn owner(def: &SourceDef) -> String {
    format!("datagen source '{}'", def.name)
}

/// One query's reader of a datagen source.
pub struct DatagenSource {
    schema: SchemaRef,
    config: DatagenConfig,
    /// When the first epoch was planned and from which row: the origin of
    /// the rate clock.
    clock: Option<(Instant, u64)>,
}

impl DatagenSource {
    pub fn new(schema: SchemaRef, config: DatagenConfig) -> Self {
        DatagenSource {
            schema,
            config,
            clock: None,
        }
    }

    /// Rows due `elapsed` after the clock started at row `origin`
    /// (unlimited when unthrottled).
    fn rows_due(&self, origin: u64, elapsed: std::time::Duration) -> u64 {
        match self.config.rows_per_second {
            0 => u64::MAX,
            rate => {
                let rows = elapsed.as_micros() * rate as u128 / 1_000_000;
                origin.saturating_add(u64::try_from(rows).unwrap_or(u64::MAX))
            }
        }
    }

    /// The end of an epoch starting at `from`, `elapsed` after the clock
    /// started at row `origin`.
    fn plan_end(&self, from: u64, origin: u64, elapsed: std::time::Duration) -> u64 {
        let due = self.rows_due(origin, elapsed);
        let mut end = due.min(from.saturating_add(self.config.rows_per_epoch));
        if let Some(total) = self.config.number_of_rows {
            end = end.min(total);
        }
        end.max(from)
    }
}

/// The row position in `offsets` (0 when absent).
pub fn row_position(offsets: &Offsets) -> Result<u64> {
    match offsets.get(PARTITION) {
        None => Ok(0),
        Some(&n) if n >= 0 => Ok(n as u64),
        Some(n) => Err(EngineError::Internal(format!(
            "negative datagen offset {n}"
        ))),
    }
}

fn offsets_at(rows: u64) -> Offsets {
    Offsets::from([(PARTITION.to_string(), rows as i64)])
}

#[async_trait]
impl Source for DatagenSource {
    fn offset_unit(&self) -> &'static str {
        "rows"
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn initial_offsets(&mut self) -> Result<Offsets> {
        Ok(offsets_at(0))
    }

    async fn plan_epoch(&mut self, from: &Offsets) -> Result<PlannedRange> {
        let from = row_position(from)?;
        let (started, origin) = *self.clock.get_or_insert_with(|| (Instant::now(), from));
        let end = self.plan_end(from, origin, started.elapsed());
        Ok(PlannedRange {
            end: offsets_at(end),
            exhausted: self.config.number_of_rows.is_some_and(|total| end >= total),
        })
    }

    async fn available_end(&mut self, from: &Offsets) -> Result<Offsets> {
        let from = row_position(from)?;
        let (started, origin) = *self.clock.get_or_insert_with(|| (Instant::now(), from));
        let due = match self.config.rows_per_second {
            // Unthrottled: everything of a bounded source; an unbounded one
            // has no end, so "available" is one epoch's worth.
            0 => self
                .config
                .number_of_rows
                .unwrap_or(from.saturating_add(self.config.rows_per_epoch)),
            _ => self.rows_due(origin, started.elapsed()),
        };
        let capped = self
            .config
            .number_of_rows
            .map_or(due, |total| due.min(total));
        Ok(offsets_at(capped.max(from)))
    }

    /// The first `rows` rows of the seed (fewer if `number.of.rows` says
    /// so), at once: a look is not paced by `rows.per.second`.
    async fn sample_range(&mut self, rows: u64) -> Result<SampleRange> {
        let end = self
            .config
            .number_of_rows
            .map_or(rows, |total| total.min(rows));
        Ok(SampleRange {
            from: offsets_at(0),
            to: offsets_at(end),
            description: format!("its first {end} rows (seed {})", self.config.seed as i64),
        })
    }

    fn read<'a>(
        &'a mut self,
        from: &'a Offsets,
        to: &'a Offsets,
    ) -> BoxStream<'a, Result<SourceBatch>> {
        let range = match (row_position(from), row_position(to)) {
            (Ok(a), Ok(b)) if a <= b => a..b,
            (Err(e), _) | (_, Err(e)) => return stream::once(async { Err(e) }).boxed(),
            (Ok(a), Ok(b)) => {
                let e = EngineError::Internal(format!(
                    "datagen asked to read backwards, from {a} to {b}"
                ));
                return stream::once(async { Err(e) }).boxed();
            }
        };
        let this = &*self;
        let starts = (range.start..range.end).step_by(BATCH_ROWS as usize);
        stream::iter(starts)
            .map(move |start| {
                let end = (start + BATCH_ROWS).min(range.end);
                generate::generate_batch(
                    &this.schema,
                    this.config.seed,
                    &this.config.columns,
                    start..end,
                )
                .map(|batch| SourceBatch::of_partition(PARTITION, batch))
            })
            .boxed()
    }
}
