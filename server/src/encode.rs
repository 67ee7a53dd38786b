//! Arrow → PostgreSQL: result column types, and rows encoded in text or
//! binary format as the client asked for each column.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Schema, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use rust_decimal::Decimal;

/// The PostgreSQL type a column of this Arrow type is reported as.
pub fn pg_type(dt: &DataType) -> Type {
    match dt {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Null => Type::TEXT,
        _ => Type::TEXT,
    }
}

/// Row descriptions for a schema, each column in the format requested.
pub fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type(f.data_type()),
                format.format_for(i),
            )
        })
        .collect()
}

/// Encodes every row of `batches`.
pub fn encode_rows(
    fields: &Arc<Vec<FieldInfo>>,
    batches: &[RecordBatch],
) -> Vec<PgWireResult<DataRow>> {
    let mut rows = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    let mut encoder = DataRowEncoder::new(fields.clone());
    for batch in batches {
        let columns: Vec<Column> = batch
            .columns()
            .iter()
            .zip(fields.iter())
            .map(|(array, field)| Column::new(array, field.format() == FieldFormat::Text))
            .collect();
        for row in 0..batch.num_rows() {
            let mut result = Ok(());
            for col in &columns {
                result = col.encode(row, &mut encoder);
                if result.is_err() {
                    break;
                }
            }
            rows.push(result.map(|_| encoder.take_row()));
        }
    }
    rows
}

/// A column downcast once per batch.
enum Column<'a> {
    Bool(&'a datafusion::arrow::array::BooleanArray),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(&'a datafusion::arrow::array::Float32Array),
    F64(&'a datafusion::arrow::array::Float64Array),
    Decimal(&'a datafusion::arrow::array::Decimal128Array, u32),
    Utf8(ArrayRef),
    Binary(ArrayRef),
    Date(&'a datafusion::arrow::array::Date32Array),
    /// Microseconds since the epoch, and whether the column has a time zone.
    Timestamp(Vec<Option<i64>>, bool),
    /// Timestamps in text format, rendered the way PostgreSQL does.
    TimestampText(Vec<Option<i64>>, bool),
    /// Anything else, through Arrow's display formatting.
    Display(ArrayRef),
}

impl<'a> Column<'a> {
    fn new(array: &'a ArrayRef, text: bool) -> Column<'a> {
        use datafusion::arrow::compute::cast;
        match array.data_type() {
            DataType::Boolean => Column::Bool(array.as_boolean()),
            DataType::Int8 => Column::I16(
                array
                    .as_primitive::<Int8Type>()
                    .iter()
                    .map(|v| v.map(i16::from))
                    .collect(),
            ),
            DataType::UInt8 => Column::I16(
                array
                    .as_primitive::<UInt8Type>()
                    .iter()
                    .map(|v| v.map(i16::from))
                    .collect(),
            ),
            DataType::Int16 => Column::I16(array.as_primitive::<Int16Type>().iter().collect()),
            DataType::UInt16 => Column::I32(
                array
                    .as_primitive::<UInt16Type>()
                    .iter()
                    .map(|v| v.map(i32::from))
                    .collect(),
            ),
            DataType::Int32 => Column::I32(array.as_primitive::<Int32Type>().iter().collect()),
            DataType::UInt32 => Column::I64(
                array
                    .as_primitive::<UInt32Type>()
                    .iter()
                    .map(|v| v.map(i64::from))
                    .collect(),
            ),
            DataType::Int64 => Column::I64(array.as_primitive::<Int64Type>().iter().collect()),
            DataType::UInt64 => {
                let _ = array.as_primitive::<UInt64Type>();
                Column::Display(array.clone())
            }
            DataType::Float32 => Column::F32(array.as_primitive::<Float32Type>()),
            DataType::Float64 => Column::F64(array.as_primitive::<Float64Type>()),
            DataType::Decimal128(_, scale) if (0..=28).contains(scale) => {
                Column::Decimal(array.as_primitive::<Decimal128Type>(), *scale as u32)
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Column::Utf8(cast(array, &DataType::Utf8).unwrap_or_else(|_| array.clone()))
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                Column::Binary(cast(array, &DataType::Binary).unwrap_or_else(|_| array.clone()))
            }
            DataType::Date32 => Column::Date(array.as_primitive::<Date32Type>()),
            DataType::Timestamp(unit, tz) => {
                let micros: Vec<Option<i64>> = match unit {
                    TimeUnit::Second => array
                        .as_primitive::<TimestampSecondType>()
                        .iter()
                        .map(|v| v.map(|v| v * 1_000_000))
                        .collect(),
                    TimeUnit::Millisecond => array
                        .as_primitive::<TimestampMillisecondType>()
                        .iter()
                        .map(|v| v.map(|v| v * 1_000))
                        .collect(),
                    TimeUnit::Microsecond => array
                        .as_primitive::<TimestampMicrosecondType>()
                        .iter()
                        .collect(),
                    TimeUnit::Nanosecond => array
                        .as_primitive::<TimestampNanosecondType>()
                        .iter()
                        .map(|v| v.map(|v| v.div_euclid(1_000)))
                        .collect(),
                };
                if text {
                    Column::TimestampText(micros, tz.is_some())
                } else {
                    Column::Timestamp(micros, tz.is_some())
                }
            }
            _ => Column::Display(array.clone()),
        }
    }

    fn encode(&self, row: usize, enc: &mut DataRowEncoder) -> PgWireResult<()> {
        match self {
            Column::Bool(a) => enc.encode_field(&a.is_valid(row).then(|| a.value(row))),
            Column::I16(v) => enc.encode_field(&v[row]),
            Column::I32(v) => enc.encode_field(&v[row]),
            Column::I64(v) => enc.encode_field(&v[row]),
            Column::F32(a) => enc.encode_field(&a.is_valid(row).then(|| a.value(row))),
            Column::F64(a) => enc.encode_field(&a.is_valid(row).then(|| a.value(row))),
            Column::Decimal(a, scale) => enc.encode_field(
                &a.is_valid(row)
                    .then(|| Decimal::try_from_i128_with_scale(a.value(row), *scale).ok())
                    .flatten(),
            ),
            Column::Utf8(a) => {
                let a = a.as_string::<i32>();
                enc.encode_field(&a.is_valid(row).then(|| a.value(row)))
            }
            Column::Binary(a) => {
                let a = a.as_binary::<i32>();
                enc.encode_field(&a.is_valid(row).then(|| a.value(row)))
            }
            Column::Date(a) => enc.encode_field(
                &a.is_valid(row)
                    .then(|| NaiveDate::from_num_days_from_ce_opt(a.value(row) + 719_163))
                    .flatten(),
            ),
            Column::Timestamp(v, false) => enc.encode_field(
                &v[row].and_then(|t| DateTime::from_timestamp_micros(t).map(|d| d.naive_utc())),
            ),
            Column::Timestamp(v, true) => {
                enc.encode_field(&v[row].and_then(DateTime::<Utc>::from_timestamp_micros))
            }
            Column::TimestampText(v, tz) => {
                enc.encode_field(&v[row].map(|t| format_timestamp(t, *tz)))
            }
            Column::Display(a) => {
                if a.is_null(row) {
                    enc.encode_field(&None::<String>)
                } else {
                    let formatter = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
                        .map_err(|e| pgwire::error::PgWireError::ApiError(Box::new(e)))?;
                    enc.encode_field(&Some(formatter.value(row).to_string()))
                }
            }
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` with trailing zeros of the fraction
/// dropped, and `+00` for time-zoned values: PostgreSQL's ISO output.
pub fn format_timestamp(micros: i64, with_time_zone: bool) -> String {
    let Some(dt) = DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let mut s = dt.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = micros.rem_euclid(1_000_000);
    if frac != 0 {
        let digits = format!("{frac:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    if with_time_zone {
        s.push_str("+00");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::format_timestamp;

    #[test]
    fn timestamps_render_like_postgres() {
        assert_eq!(format_timestamp(1_500_000, false), "1970-01-01 00:00:01.5");
        assert_eq!(format_timestamp(0, true), "1970-01-01 00:00:00+00");
        assert_eq!(format_timestamp(-1, false), "1969-12-31 23:59:59.999999");
    }
}
