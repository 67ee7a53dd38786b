//! Eddy's timestamp rules for decoded records: text in the formats the
//! module documentation lists, or an integer of epoch milliseconds.
//!
//! The Arrow decoders read timestamp columns as text; [`convert`] turns each
//! into the declared timestamp type in one pass over the string array and
//! reports, per row, the values that are not timestamps.

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::cast_utils::string_to_datetime;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

/// The columns of `batch` with those at `timestamp_columns` (text)
/// converted to their type in `schema`, and the rows whose value is not a
/// timestamp (row, reason). Such rows hold NULL in the converted column.
pub fn convert(
    batch: &RecordBatch,
    timestamp_columns: &[usize],
    schema: &SchemaRef,
) -> (Vec<ArrayRef>, Vec<(usize, String)>) {
    let mut columns = batch.columns().to_vec();
    let mut invalid = Vec::new();
    for &i in timestamp_columns {
        let field = schema.field(i);
        let DataType::Timestamp(unit, _) = field.data_type() else {
            continue;
        };
        let text = columns[i].as_string::<i32>();
        let values: Int64Array = text
            .iter()
            .enumerate()
            .map(|(row, value)| {
                let value = value?;
                let parsed = parse_timestamp(value, *unit);
                if parsed.is_none() {
                    invalid.push((
                        row,
                        format!(
                            "invalid timestamp '{value}' for column {}: expected \
                             'YYYY-MM-DD HH:MM:SS[.f]', RFC 3339 or epoch milliseconds",
                            field.name()
                        ),
                    ));
                }
                parsed
            })
            .collect();
        // Int64 to timestamp reinterprets the values in the target unit.
        columns[i] = cast(&values, field.data_type()).expect("int64 casts to any timestamp");
    }
    (columns, invalid)
}

/// One value in `unit` since the Unix epoch; `None` if it is not a timestamp.
pub fn parse_timestamp(value: &str, unit: TimeUnit) -> Option<i64> {
    let value = value.trim();
    if let Ok(millis) = value.parse::<i64>() {
        return match unit {
            TimeUnit::Second => Some(millis.div_euclid(1000)),
            TimeUnit::Millisecond => Some(millis),
            TimeUnit::Microsecond => millis.checked_mul(1000),
            TimeUnit::Nanosecond => millis.checked_mul(1_000_000),
        };
    }
    let t = string_to_datetime(&chrono::Utc, value).ok()?;
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
}
