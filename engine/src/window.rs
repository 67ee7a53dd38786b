//! Window assignment: computes the `window_start` and `window_end` columns
//! of a window relation from the event-time column, and drops (and counts)
//! rows whose window has already closed.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;

use crate::watermark::EventTime;
use crate::{EngineError, Result};

/// `TUMBLE(src, ts, size)`: windows `[k * size, (k + 1) * size)` aligned to
/// the Unix epoch.
#[derive(Debug, Clone)]
pub struct TumblingWindow {
    pub size_micros: i64,
    /// Index of the event-time column in the input batches.
    pub time_column: usize,
    /// Schema of the output: input columns + window_start + window_end.
    pub output_schema: SchemaRef,
}

/// What assigning windows to a batch produced.
pub struct Assigned {
    pub batch: RecordBatch,
    /// Rows dropped because their window had closed.
    pub late_rows: usize,
    /// Rows dropped because their event time was NULL.
    pub null_time_rows: usize,
    /// The late rows themselves (the input's columns), when asked for and
    /// there are any.
    pub late: Option<RecordBatch>,
}

impl TumblingWindow {
    pub fn window_start(&self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.size_micros)
    }

    /// Adds the window columns and drops rows whose window ended at or
    /// before `watermark`, or whose event time is NULL. With `keep_late`,
    /// the late rows are returned too.
    pub fn assign(
        &self,
        batch: &RecordBatch,
        watermark: EventTime,
        keep_late: bool,
    ) -> Result<Assigned> {
        let size = self.size_micros;
        let end_of = move |t: i64| (t - t.rem_euclid(size)).saturating_add(size);
        let ts = self.time_column(batch)?;
        let null_time_rows = ts.null_count();
        let (kept, late_rows) = if watermark == i64::MIN && null_time_rows == 0 {
            (batch.clone(), 0)
        } else {
            let keep: BooleanArray = ts
                .iter()
                .map(|t| Some(matches!(t, Some(t) if end_of(t) > watermark)))
                .collect();
            let kept = filter_record_batch(batch, &keep)?;
            let late = batch.num_rows() - kept.num_rows() - null_time_rows;
            (kept, late)
        };
        let late = if keep_late && late_rows > 0 {
            let is_late: BooleanArray = ts
                .iter()
                .map(|t| Some(matches!(t, Some(t) if end_of(t) <= watermark)))
                .collect();
            Some(filter_record_batch(batch, &is_late)?)
        } else {
            None
        };
        let ts = self.time_column(&kept)?;
        let starts: PrimitiveArray<TimestampMicrosecondType> = ts.unary(|t| t - t.rem_euclid(size));
        let ends: PrimitiveArray<TimestampMicrosecondType> = ts.unary(end_of);
        let mut columns: Vec<ArrayRef> = kept.columns().to_vec();
        columns.push(Arc::new(starts.with_timezone_opt(None::<String>)));
        columns.push(Arc::new(ends.with_timezone_opt(None::<String>)));
        Ok(Assigned {
            batch: RecordBatch::try_new(self.output_schema.clone(), columns)?,
            late_rows,
            null_time_rows,
            late,
        })
    }

    fn time_column<'b>(
        &self,
        batch: &'b RecordBatch,
    ) -> Result<&'b PrimitiveArray<TimestampMicrosecondType>> {
        batch
            .column(self.time_column)
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| {
                EngineError::Internal("window time column is not a microsecond timestamp".into())
            })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    #[test]
    fn assigns_aligned_windows_and_drops_closed_ones() {
        let ts_type = DataType::Timestamp(TimeUnit::Microsecond, None);
        let input = Arc::new(Schema::new(vec![Field::new("ts", ts_type.clone(), true)]));
        let output = Arc::new(Schema::new(vec![
            Field::new("ts", ts_type.clone(), true),
            Field::new("window_start", ts_type.clone(), false),
            Field::new("window_end", ts_type, false),
        ]));
        let w = TumblingWindow {
            size_micros: 10,
            time_column: 0,
            output_schema: output,
        };
        let batch = RecordBatch::try_new(
            input,
            vec![Arc::new(TimestampMicrosecondArray::from(vec![
                Some(-1),
                Some(5),
                Some(10),
                Some(25),
                None,
            ]))],
        )
        .unwrap();
        let out = w.assign(&batch, 10, true).unwrap();
        assert_eq!(out.late.as_ref().map(|b| b.num_rows()), Some(2));
        // -1 → [-10, 0) and 5 → [0, 10) are closed at watermark 10.
        assert_eq!(out.late_rows, 2);
        assert_eq!(out.null_time_rows, 1);
        let starts = out
            .batch
            .column(1)
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(starts.values().to_vec(), vec![10, 20]);
        let ends = out
            .batch
            .column(2)
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ends.values().to_vec(), vec![20, 30]);
    }
}
