//! Late rows kept instead of dropped (`late_rows = 'table'`).
//!
//! A row is late when the window it belongs to has already closed (its end
//! is at or before the watermark of the epoch that reads it; for sessions
//! and deduplication, when its event time is behind the watermark). With
//! `late_rows = 'table'` such rows go, with their window, the watermark,
//! the epoch and the reason, into an Eddy table, appended once per epoch
//! like a `table` sink (a replayed epoch appends nothing).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;

use crate::Result;
use crate::watermark::{EventTime, format_event_time};
use crate::window::LateRows;

/// The late-rows table's columns: the source's, then `window_start`,
/// `window_end`, `watermark`, `epoch` and `reason`.
pub fn late_rows_schema(source: &Schema) -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut fields: Vec<Field> = source
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new("window_start", ts(), true));
    fields.push(Field::new("window_end", ts(), true));
    fields.push(Field::new("watermark", ts(), true));
    fields.push(Field::new("epoch", DataType::Int64, true));
    fields.push(Field::new("reason", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// Builds the late-rows table's rows for `late` (rows of the source).
pub fn late_rows_batch(
    late: &LateRows,
    watermark: EventTime,
    epoch: u64,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let n = late.rows.num_rows();
    let reason = format!(
        "{} {}",
        late.reason,
        format_event_time(watermark).unwrap_or_default()
    );
    let mut columns: Vec<ArrayRef> = late.rows.columns().to_vec();
    columns.push(late.window_start.clone());
    columns.push(late.window_end.clone());
    columns.push(ScalarValue::TimestampMicrosecond(Some(watermark), None).to_array_of_size(n)?);
    columns.push(Arc::new(Int64Array::from_value(epoch as i64, n)));
    columns.push(ScalarValue::Utf8(Some(reason)).to_array_of_size(n)?);
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
