//! Deduplication: `SELECT DISTINCT …` and `SELECT DISTINCT ON (…) …` over a
//! stream.
//!
//! The first row of each key is passed on; later rows with the same key
//! are dropped. State is the keys seen, each with the latest event time it
//! was seen at, and a key is forgotten once the watermark passes that time
//! (like Spark's `dropDuplicatesWithinWatermark`): duplicates arriving
//! within the watermark delay of each other are always caught, and rows
//! behind the watermark are late (counted, and kept with `late_rows =
//! 'table'`), since their key may have been forgotten.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimestampMicrosecondType,
};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use crate::state::OperatorState;
use crate::watermark::EventTime;
use crate::{EngineError, Result};

pub struct Dedup {
    key_exprs: Vec<Arc<dyn PhysicalExpr>>,
    output_exprs: Vec<Arc<dyn PhysicalExpr>>,
    output_schema: SchemaRef,
    time_expr: Arc<dyn PhysicalExpr>,
    converter: RowConverter,
    /// Encoded key → latest event time seen.
    seen: HashMap<Box<[u8]>, i64>,
}

impl Dedup {
    pub fn new(
        key_exprs: Vec<Arc<dyn PhysicalExpr>>,
        output_exprs: Vec<Arc<dyn PhysicalExpr>>,
        output_schema: SchemaRef,
        time_expr: Arc<dyn PhysicalExpr>,
        input_schema: &Schema,
    ) -> Result<Self> {
        let fields = key_exprs
            .iter()
            .map(|e| Ok(SortField::new(e.data_type(input_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Dedup {
            key_exprs,
            output_exprs,
            output_schema,
            time_expr,
            converter: RowConverter::new(fields)?,
            seen: HashMap::new(),
        })
    }

    /// Passes on the rows whose key was not seen before.
    pub fn process(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let keys = self
            .key_exprs
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(n))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        let ts = self.time_expr.evaluate(batch)?.into_array(n)?;
        let ts = ts
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| EngineError::Internal("event time is not a timestamp".into()))?;
        let mut keep = Vec::with_capacity(n);
        for i in 0..n {
            let t = if ts.is_null(i) { i64::MIN } else { ts.value(i) };
            match self.seen.get_mut(rows.row(i).as_ref()) {
                Some(latest) => {
                    *latest = (*latest).max(t);
                    keep.push(false);
                }
                None => {
                    self.seen.insert(rows.row(i).as_ref().into(), t);
                    keep.push(true);
                }
            }
        }
        let kept = filter_record_batch(batch, &BooleanArray::from(keep))?;
        let rows = kept.num_rows();
        let columns = self
            .output_exprs
            .iter()
            .map(|e| e.evaluate(&kept)?.into_array(rows))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.output_schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }

    /// Forgets keys whose latest event time the watermark has passed.
    pub fn finish_epoch(&mut self, watermark: EventTime) {
        if watermark == i64::MIN {
            return;
        }
        self.seen.retain(|_, t| *t > watermark);
    }

    fn state_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("key", DataType::Binary, false),
            Field::new("event_time", DataType::Int64, false),
        ]))
    }

    /// Every key held, written whole at every checkpoint.
    pub fn checkpoint(&self) -> Result<OperatorState> {
        let keys = BinaryArray::from_iter_values(self.seen.keys().map(|k| k.as_ref()));
        let times = Int64Array::from_iter_values(self.seen.values().copied());
        let batch =
            RecordBatch::try_new(Self::state_schema(), vec![Arc::new(keys), Arc::new(times)])?;
        Ok(OperatorState {
            schema: Self::state_schema(),
            batches: vec![batch],
            removed: Vec::new(),
        })
    }

    pub fn clear(&mut self) {
        self.seen.clear();
    }

    pub fn restore(&mut self, batches: &[RecordBatch]) -> Result<()> {
        self.seen.clear();
        for b in batches {
            let keys = b
                .column(0)
                .as_binary_opt::<i32>()
                .ok_or_else(|| EngineError::Internal("bad deduplication state".into()))?;
            let times = b.column(1).as_primitive::<Int64Type>();
            for (k, t) in keys.iter().zip(times.values()) {
                self.seen.insert(k.unwrap_or_default().into(), *t);
            }
        }
        Ok(())
    }

    pub fn state_rows(&self) -> usize {
        self.seen.len()
    }

    pub fn state_bytes(&self) -> usize {
        self.seen.keys().map(|k| k.len() + 8 + 16).sum()
    }
}
