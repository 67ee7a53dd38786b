//! A look at a source: `SELECT … FROM source` outside a streaming query.
//!
//! An ad-hoc query over a source reads a bounded sample of it and runs over
//! that, so a user can check a source's columns and parsing before writing
//! a streaming query. The sample goes through the source's own reader —
//! the connector's [`Source`], built from the same definition a query
//! would build it from, asked for a [`SampleRange`] and read with the
//! same `read` — so the rows are decoded exactly as a query sees them:
//! same formats, same metadata columns, same bad-record policy. What
//! differs is that a look changes nothing: the reader gets a
//! [`SourceContext::for_sample`], so bad records bound for a dead-letter
//! table are only counted, and no catalog entry, checkpoint or progress
//! exists for it.
//!
//! ```text
//!   DataFusion            SourceSample            connector's Source
//!     │ scan(limit) ───────────▶│                          │
//!     │◀── StreamingTableExec   │                          │
//!     │ execute ───────────────▶│ create(def, for_sample) ─▶│
//!     │                         │ sample_range(n) ─────────▶│ newest input, ≤ n per partition
//!     │                         │ read(from, to) ──────────▶│ decode as a query does
//!     │◀── batches (≤ n rows per partition), SampleReport in the SampleLog
//! ```
//!
//! The bound per partition is the query's `LIMIT` when DataFusion pushes it
//! into the scan (`SELECT * FROM s LIMIT 5`), else [`DEFAULT_SAMPLE_ROWS`].
//! Nothing is read before the plan executes: describing a statement reads
//! no source.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use eddy_catalog::SourceDef;
use futures::{StreamExt, TryStreamExt};

use crate::connector::{SourceConnector, SourceContext};
use crate::source::{RowPartitions, SampleRange, Source, SourceBatch};
use crate::table_store::TableStore;
use crate::{EngineError, Result};

/// Rows per partition a look reads when the query's `LIMIT` does not
/// reach the scan (filters, aggregates, joins, ORDER BY in between).
pub const DEFAULT_SAMPLE_ROWS: u64 = 1000;

/// What one look at a source read, for the notice sent with the result.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleReport {
    pub source: String,
    /// What the range held ([`SampleRange::description`]).
    pub description: String,
    /// Rows handed to the query.
    pub rows: u64,
    /// Records that did not decode and were skipped.
    pub bad_records: u64,
}

impl SampleReport {
    /// The notice telling the user the result is over a sample.
    pub fn notice(&self) -> String {
        let bad = match self.bad_records {
            0 => String::new(),
            1 => ", 1 bad record skipped".to_string(),
            n => format!(", {n} bad records skipped"),
        };
        format!(
            "source \"{}\" is a stream: this result is over a sample of it, {} ({} rows read{bad})",
            self.source, self.description, self.rows
        )
    }
}

/// The looks a statement made, in the order they finished; the session
/// takes them after the statement ran.
#[derive(Debug, Default)]
pub struct SampleLog {
    reports: Mutex<Vec<SampleReport>>,
}

impl SampleLog {
    fn push(&self, report: SampleReport) {
        self.reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(report);
    }

    /// Every report since the last call.
    pub fn take(&self) -> Vec<SampleReport> {
        std::mem::take(&mut *self.reports.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What a look needs to build the source's reader.
struct SampleSpec {
    connector: Arc<dyn SourceConnector>,
    def: SourceDef,
    schema: SchemaRef,
    tables: Arc<TableStore>,
    log: Arc<SampleLog>,
}

/// A source as a DataFusion table whose scan reads a bounded sample.
pub struct SourceSample {
    spec: Arc<SampleSpec>,
}

impl SourceSample {
    /// A look at the source `def` (of `schema`, its declared columns),
    /// reporting into `log`. `tables` is only there because the reader's
    /// context carries it; a look writes into no table.
    pub fn new(
        connector: Arc<dyn SourceConnector>,
        def: SourceDef,
        schema: SchemaRef,
        tables: Arc<TableStore>,
        log: Arc<SampleLog>,
    ) -> SourceSample {
        SourceSample {
            spec: Arc::new(SampleSpec {
                connector,
                def,
                schema,
                tables,
                log,
            }),
        }
    }
}

impl fmt::Debug for SourceSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSample")
            .field("source", &self.spec.def.name)
            .finish()
    }
}

#[async_trait]
impl TableProvider for SourceSample {
    fn schema(&self) -> SchemaRef {
        self.spec.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let rows = limit.map_or(DEFAULT_SAMPLE_ROWS, |l| l as u64);
        let partition = SamplePartition {
            spec: self.spec.clone(),
            rows,
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            self.spec.schema.clone(),
            vec![Arc::new(partition)],
            projection,
            [],
            false,
            limit,
        )?))
    }
}

/// The one partition of a look's scan: reads the sample when executed.
struct SamplePartition {
    spec: Arc<SampleSpec>,
    /// Rows per source partition.
    rows: u64,
}

impl fmt::Debug for SamplePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplePartition")
            .field("source", &self.spec.def.name)
            .field("rows", &self.rows)
            .finish()
    }
}

impl PartitionStream for SamplePartition {
    fn schema(&self) -> &SchemaRef {
        &self.spec.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let spec = self.spec.clone();
        let rows = self.rows;
        let batches = futures::stream::once(async move {
            let (batches, report) = read_sample(
                spec.connector.as_ref(),
                &spec.def,
                spec.schema.clone(),
                spec.tables.clone(),
                rows,
            )
            .await
            .map_err(DataFusionError::from)?;
            spec.log.push(report);
            Ok::<_, DataFusionError>(futures::stream::iter(batches.into_iter().map(Ok)))
        })
        .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(
            self.spec.schema.clone(),
            batches,
        ))
    }
}

/// Reads a sample of at most `rows` rows per partition of source `def`
/// through a reader built for a look ([`SourceContext::for_sample`]).
pub async fn read_sample(
    connector: &dyn SourceConnector,
    def: &SourceDef,
    schema: SchemaRef,
    tables: Arc<TableStore>,
    rows: u64,
) -> Result<(Vec<RecordBatch>, SampleReport)> {
    if connector.is_lookup_only() {
        return Err(EngineError::Plan(format!(
            "source \"{}\" (connector '{}') is a lookup table, not a stream: it can only be the table side of a join in a streaming query",
            def.name,
            connector.name()
        )));
    }
    let ctx = SourceContext::for_sample(&def.name, tables);
    let bad_records = ctx.bad_records.clone();
    let mut source = connector.create(def, schema, ctx)?;
    let read = read_range(source.as_mut(), rows).await;
    // Closing a client (librdkafka's threads) may block: not on the runtime.
    let _ = tokio::task::spawn_blocking(move || drop(source)).await;
    let (batches, description) = read?;
    let report = SampleReport {
        source: def.name.clone(),
        description,
        rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
        bad_records: bad_records.load(std::sync::atomic::Ordering::Relaxed),
    };
    Ok((batches, report))
}

/// Reads `source`'s sample range, keeping at most `rows` rows per
/// partition and stopping once every partition has given them.
async fn read_range(source: &mut dyn Source, rows: u64) -> Result<(Vec<RecordBatch>, String)> {
    let range = source.sample_range(rows).await?;
    let mut caps = RowCaps::new(&range, rows);
    let mut batches = Vec::new();
    let mut stream = source.read(&range.from, &range.to);
    while !caps.all_full() {
        let Some(batch) = stream.next().await else {
            break;
        };
        let batch = caps.take(batch?)?;
        if batch.num_rows() > 0 {
            batches.push(batch);
        }
    }
    Ok((batches, range.description))
}

/// How many more rows each partition of a sample may give.
struct RowCaps {
    rows: u64,
    taken: HashMap<String, u64>,
    /// Partitions the range reads something of.
    open: usize,
    full: usize,
}

impl RowCaps {
    fn new(range: &SampleRange, rows: u64) -> RowCaps {
        let open = range
            .to
            .iter()
            .filter(|(p, to)| range.from.get(*p).is_none_or(|from| from < to))
            .count();
        RowCaps {
            rows,
            taken: HashMap::new(),
            open,
            full: 0,
        }
    }

    fn all_full(&self) -> bool {
        self.rows == 0 || (self.open > 0 && self.full >= self.open)
    }

    fn left(&self, partition: &str) -> u64 {
        self.rows - self.taken.get(partition).copied().unwrap_or(0)
    }

    fn add(&mut self, partition: &str, n: u64) {
        if n == 0 {
            return;
        }
        let taken = self.taken.entry(partition.to_string()).or_insert(0);
        *taken += n;
        if *taken == self.rows {
            self.full += 1;
        }
    }

    /// The rows of `batch` still within their partition's cap.
    fn take(&mut self, batch: SourceBatch) -> Result<RecordBatch> {
        match &batch.partitions {
            RowPartitions::One(p) => {
                let n = self.left(p).min(batch.batch.num_rows() as u64);
                self.add(p, n);
                Ok(batch.batch.slice(0, n as usize))
            }
            RowPartitions::PerRow { names, rows } => {
                let mut left: Vec<u64> = names.iter().map(|n| self.left(n)).collect();
                let keep: Vec<bool> = rows
                    .iter()
                    .map(|&r| {
                        let left = &mut left[r as usize];
                        let kept = *left > 0;
                        *left = left.saturating_sub(1);
                        kept
                    })
                    .collect();
                for (name, left_after) in names.iter().zip(&left) {
                    let n = self.left(name) - left_after;
                    self.add(name, n);
                }
                if keep.iter().all(|&k| k) {
                    Ok(batch.batch)
                } else {
                    Ok(filter_record_batch(
                        &batch.batch,
                        &BooleanArray::from(keep),
                    )?)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::Offsets;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    fn values(batch: &RecordBatch) -> Vec<i64> {
        let array = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        (0..array.len()).map(|i| array.value(i)).collect()
    }

    fn range(partitions: &[(&str, i64, i64)]) -> SampleRange {
        SampleRange {
            from: partitions
                .iter()
                .map(|(p, from, _)| (p.to_string(), *from))
                .collect::<Offsets>(),
            to: partitions
                .iter()
                .map(|(p, _, to)| (p.to_string(), *to))
                .collect(),
            description: String::new(),
        }
    }

    #[test]
    fn each_partition_gives_at_most_its_cap() {
        let mut caps = RowCaps::new(&range(&[("a", 0, 10), ("b", 0, 10), ("c", 5, 5)]), 2);
        // Rows of a, b, a, a, b, b: the third a and the third b are over.
        let mixed = SourceBatch {
            batch: batch(&[1, 2, 3, 4, 5, 6]),
            partitions: RowPartitions::PerRow {
                names: vec!["a".into(), "b".into()],
                rows: vec![0, 1, 0, 0, 1, 1],
            },
        };
        assert_eq!(values(&caps.take(mixed).unwrap()), [1, 2, 3, 5]);
        // "c" has nothing in range, so a and b full is all of them.
        assert!(caps.all_full());
    }

    #[test]
    fn a_single_partition_batch_is_cut_at_the_cap() {
        let mut caps = RowCaps::new(&range(&[("f", 0, 100), ("g", 0, 100)]), 3);
        let first = caps
            .take(SourceBatch::of_partition("f", batch(&[1, 2])))
            .unwrap();
        assert_eq!(values(&first), [1, 2]);
        let second = caps
            .take(SourceBatch::of_partition("f", batch(&[3, 4, 5])))
            .unwrap();
        assert_eq!(values(&second), [3]);
        assert!(!caps.all_full(), "g has given nothing yet");
        let third = caps
            .take(SourceBatch::of_partition("f", batch(&[6])))
            .unwrap();
        assert_eq!(third.num_rows(), 0);
    }

    #[test]
    fn the_notice_says_it_is_a_sample() {
        let report = SampleReport {
            source: "clicks".into(),
            description: "its first 5 rows".into(),
            rows: 5,
            bad_records: 2,
        };
        assert_eq!(
            report.notice(),
            "source \"clicks\" is a stream: this result is over a sample of it, its first 5 rows (5 rows read, 2 bad records skipped)"
        );
    }
}
