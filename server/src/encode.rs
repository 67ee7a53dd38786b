//! Arrow → PostgreSQL: result column types, and rows encoded in text or
//! binary format as the client asked for each column.
//!
//! A column's PostgreSQL type comes from its Arrow type, except for `uuid`,
//! `json` and `jsonb`, which are `Utf8` columns named by their field
//! metadata ([`eddy_sql::text_types`]). Each column is encoded by the type
//! it was described with, so the description and the bytes cannot differ.

mod arrays;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use eddy_catalog::SqlType;
use eddy_sql::text_types::{TextType, parse_uuid};

/// The PostgreSQL type a column of this Arrow type is reported as.
pub fn pg_type(dt: &DataType) -> Type {
    match dt {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 | DataType::Decimal128(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        DataType::Date32 => Type::DATE,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::List(f) => arrays::array_type(f.data_type()).unwrap_or(Type::TEXT),
        DataType::Null => Type::TEXT,
        _ => Type::TEXT,
    }
}

/// `field` (a list) marked as PostgreSQL's `int2vector` or `oidvector`:
/// catalog columns clients read as text of space-separated numbers.
pub fn vector_field(field: Field, pg_type: &str) -> Field {
    field.with_metadata(std::collections::HashMap::from([(
        eddy_sql::text_types::PG_TYPE_KEY.to_string(),
        pg_type.to_string(),
    )]))
}

/// The vector type a list field's metadata names, if any.
fn vector_type(field: &Field) -> Option<Type> {
    if !matches!(field.data_type(), DataType::List(_)) {
        return None;
    }
    match field
        .metadata()
        .get(eddy_sql::text_types::PG_TYPE_KEY)?
        .as_str()
    {
        "int2vector" => Some(Type::INT2_VECTOR),
        "oidvector" => Some(Type::OID_VECTOR),
        _ => None,
    }
}

/// The PostgreSQL type a result column is reported as: the type its
/// metadata names, else [`pg_type`] of its Arrow type.
pub fn pg_type_of_field(field: &Field) -> Type {
    if let Some(vector) = vector_type(field) {
        return vector;
    }
    match TextType::of_field(field) {
        Some(TextType::Uuid) => Type::UUID,
        Some(TextType::Json) => Type::JSON,
        Some(TextType::Jsonb) => Type::JSONB,
        None => pg_type(field.data_type()),
    }
}

/// The PostgreSQL type of a column declared as `t`.
pub fn pg_type_of_sql(t: SqlType) -> Type {
    pg_type_of_field(&eddy_sql::types::arrow_field("", t, true))
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
                pg_type_of_field(f),
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
            .map(|(array, field)| {
                Column::new(array, field.format() == FieldFormat::Text, field.datatype())
            })
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
    Decimal(&'a datafusion::arrow::array::Decimal128Array, i8),
    /// Unsigned 64-bit integers, sent as numeric.
    Decimal128Owned(Vec<Option<i128>>, i8),
    /// A type Arrow cannot even display: sent as NULLs.
    Null,
    Utf8(ArrayRef),
    /// uuid text sent in binary: its 16 bytes.
    UuidBinary(ArrayRef),
    /// jsonb text sent in binary: a version byte, then the text.
    JsonbBinary(ArrayRef),
    Binary(ArrayRef),
    Date(&'a datafusion::arrow::array::Date32Array),
    /// Microseconds since the epoch, and whether the column has a time zone.
    Timestamp(Vec<Option<i64>>, bool),
    /// Timestamps in text format, rendered the way PostgreSQL does.
    TimestampText(Vec<Option<i64>>, bool),
    /// Lists of scalars, as PostgreSQL arrays.
    List(Vec<Option<arrays::PgArray>>),
    /// Intervals, converted once per batch.
    Interval(Vec<Option<PgInterval>>),
    /// Anything else, as text through Arrow's display formatting (such
    /// columns are described as `text`).
    Display(&'a ArrayRef, ArrayFormatter<'a>),
}

impl<'a> Column<'a> {
    /// `described` is the type the column was described as (see
    /// [`pg_type_of_field`]).
    fn new(array: &'a ArrayRef, text: bool, described: &Type) -> Column<'a> {
        use datafusion::arrow::compute::cast;
        match array.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                if !text && matches!(*described, Type::UUID | Type::JSONB) =>
            {
                let utf8 = cast(array, &DataType::Utf8).unwrap_or_else(|_| array.clone());
                if *described == Type::UUID {
                    Column::UuidBinary(utf8)
                } else {
                    Column::JsonbBinary(utf8)
                }
            }
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
                let a = array.as_primitive::<UInt64Type>();
                let values = a.iter().map(|v| v.map(i128::from));
                Column::Decimal128Owned(values.collect(), 0)
            }
            DataType::Float32 => Column::F32(array.as_primitive::<Float32Type>()),
            DataType::Float64 => Column::F64(array.as_primitive::<Float64Type>()),
            DataType::Decimal128(_, scale) => {
                Column::Decimal(array.as_primitive::<Decimal128Type>(), *scale)
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
            DataType::Interval(_) | DataType::Duration(_) => Column::Interval(intervals(array)),
            DataType::List(_) if matches!(*described, Type::INT2_VECTOR | Type::OID_VECTOR) => {
                let lists = array.as_list::<i32>();
                Column::List(
                    (0..lists.len())
                        .map(|i| {
                            lists.is_valid(i).then(|| {
                                arrays::PgArray::encode_vector(&lists.value(i), text, described)
                            })
                        })
                        .collect(),
                )
            }
            DataType::List(f) if arrays::array_type(f.data_type()).is_some() => {
                let lists = array.as_list::<i32>();
                Column::List(
                    (0..lists.len())
                        .map(|i| {
                            lists
                                .is_valid(i)
                                .then(|| arrays::PgArray::encode(&lists.value(i), text))
                        })
                        .collect(),
                )
            }
            _ => match ArrayFormatter::try_new(array.as_ref(), &DISPLAY) {
                Ok(f) => Column::Display(array, f),
                Err(_) => Column::Null,
            },
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
            Column::Decimal(a, scale) => enc.encode_field(&a.is_valid(row).then(|| PgNumeric {
                unscaled: a.value(row),
                scale: *scale,
            })),
            Column::Decimal128Owned(v, scale) => {
                enc.encode_field(&v[row].map(|unscaled| PgNumeric {
                    unscaled,
                    scale: *scale,
                }))
            }
            Column::Null => enc.encode_field(&None::<String>),
            Column::Utf8(a) => {
                let a = a.as_string::<i32>();
                enc.encode_field(&a.is_valid(row).then(|| a.value(row)))
            }
            Column::UuidBinary(a) => {
                let a = a.as_string::<i32>();
                let bytes = match a.is_valid(row).then(|| a.value(row)) {
                    Some(text) => Some(parse_uuid(text).ok_or_else(|| {
                        crate::error::UserError::new(
                            "22P02",
                            format!("invalid input syntax for type uuid: \"{text}\""),
                        )
                        .into_pgwire()
                    })?),
                    None => None,
                };
                enc.encode_field(&bytes.as_ref().map(|b| &b[..]))
            }
            Column::JsonbBinary(a) => {
                let a = a.as_string::<i32>();
                enc.encode_field(&a.is_valid(row).then(|| JsonbBinary(a.value(row))))
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
            Column::Interval(v) => enc.encode_field(&v[row]),
            Column::List(v) => enc.encode_field(&v[row]),
            Column::Display(a, formatter) => {
                enc.encode_field(&a.is_valid(row).then(|| formatter.value(row).to_string()))
            }
        }
    }
}

const DISPLAY: FormatOptions<'static> = FormatOptions::new();

/// Any Arrow interval or duration as PostgreSQL's (months, days, µs).
fn intervals(array: &ArrayRef) -> Vec<Option<PgInterval>> {
    use datafusion::arrow::datatypes::{
        DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
        DurationSecondType, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit,
        IntervalYearMonthType,
    };
    let of = |months: i32, days: i32, micros: i64| PgInterval {
        months,
        days,
        micros,
    };
    match array.data_type() {
        DataType::Interval(IntervalUnit::MonthDayNano) => array
            .as_primitive::<IntervalMonthDayNanoType>()
            .iter()
            .map(|v| v.map(|v| of(v.months, v.days, v.nanoseconds.div_euclid(1_000))))
            .collect(),
        DataType::Interval(IntervalUnit::DayTime) => array
            .as_primitive::<IntervalDayTimeType>()
            .iter()
            .map(|v| v.map(|v| of(0, v.days, i64::from(v.milliseconds) * 1_000)))
            .collect(),
        DataType::Interval(IntervalUnit::YearMonth) => array
            .as_primitive::<IntervalYearMonthType>()
            .iter()
            .map(|v| v.map(|months| of(months, 0, 0)))
            .collect(),
        DataType::Duration(unit) => {
            let micros: Vec<Option<i64>> = match unit {
                TimeUnit::Second => array
                    .as_primitive::<DurationSecondType>()
                    .iter()
                    .map(|v| v.map(|v| v.saturating_mul(1_000_000)))
                    .collect(),
                TimeUnit::Millisecond => array
                    .as_primitive::<DurationMillisecondType>()
                    .iter()
                    .map(|v| v.map(|v| v.saturating_mul(1_000)))
                    .collect(),
                TimeUnit::Microsecond => array
                    .as_primitive::<DurationMicrosecondType>()
                    .iter()
                    .collect(),
                TimeUnit::Nanosecond => array
                    .as_primitive::<DurationNanosecondType>()
                    .iter()
                    .map(|v| v.map(|v| v.div_euclid(1_000)))
                    .collect(),
            };
            micros.into_iter().map(|m| m.map(|m| of(0, 0, m))).collect()
        }
        _ => vec![None; array.len()],
    }
}

/// An interval in PostgreSQL's encodings: binary is microseconds (i64),
/// days (i32), months (i32); text is the `postgres` IntervalStyle
/// (`1 year 2 mons 3 days 04:05:06.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgInterval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl PgInterval {
    pub fn to_text(self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let plural =
            |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let (years, months) = (self.months / 12, self.months % 12);
        if years != 0 {
            parts.push(plural(years.into(), "year", "years"));
        }
        if months != 0 {
            parts.push(plural(months.into(), "mon", "mons"));
        }
        if self.days != 0 {
            parts.push(plural(self.days.into(), "day", "days"));
        }
        if self.micros != 0 || parts.is_empty() {
            let negative = self.micros < 0;
            let magnitude = self.micros.unsigned_abs();
            let seconds = magnitude / 1_000_000;
            let mut clock = format!(
                "{}{:02}:{:02}:{:02}",
                if negative {
                    "-"
                } else if self.months < 0 || self.days < 0 {
                    "+"
                } else {
                    ""
                },
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60
            );
            let frac = magnitude % 1_000_000;
            if frac != 0 {
                clock.push('.');
                clock.push_str(format!("{frac:06}").trim_end_matches('0'));
            }
            parts.push(clock);
        }
        parts.join(" ")
    }
}

impl postgres_types::ToSql for PgInterval {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.micros.to_be_bytes());
        out.extend_from_slice(&self.days.to_be_bytes());
        out.extend_from_slice(&self.months.to_be_bytes());
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for PgInterval {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
        _format_options: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.to_text().as_bytes());
        Ok(postgres_types::IsNull::No)
    }
}

/// jsonb text whose binary form is version 1 followed by the text.
#[derive(Debug)]
struct JsonbBinary<'a>(&'a str);

impl postgres_types::ToSql for JsonbBinary<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0.as_bytes());
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for JsonbBinary<'_> {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
        _format_options: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(postgres_types::IsNull::No)
    }
}

/// A decimal (`unscaled × 10^-scale`) in PostgreSQL's numeric encodings:
/// base-10000 digits in binary, the plain decimal with `scale` fraction
/// digits in text. Covers all 38 digits of Arrow's Decimal128, which
/// `rust_decimal` (28 digits) cannot.
#[derive(Debug)]
pub struct PgNumeric {
    pub unscaled: i128,
    pub scale: i8,
}

impl PgNumeric {
    fn to_text(&self) -> String {
        let negative = self.unscaled < 0;
        let magnitude = self.unscaled.unsigned_abs();
        let mut s = String::new();
        if negative {
            s.push('-');
        }
        if self.scale <= 0 {
            s.push_str(&magnitude.to_string());
            s.extend(std::iter::repeat_n('0', self.scale.unsigned_abs() as usize));
            return s;
        }
        let digits = format!("{magnitude:0>width$}", width = self.scale as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - self.scale as usize);
        s.push_str(int);
        s.push('.');
        s.push_str(frac);
        s
    }
}

impl postgres_types::ToSql for PgNumeric {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let numeric =
            eddy_connectors::postgres::numeric::Numeric::from_decimal(self.unscaled, self.scale);
        let start = out.len();
        out.resize(start + numeric.encoded_len(), 0);
        let mut cursor = start;
        numeric.write(&mut out[..], &mut cursor);
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for PgNumeric {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
        _format_options: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.to_text().as_bytes());
        Ok(postgres_types::IsNull::No)
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
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::arrow::record_batch::RecordBatch;
    use eddy_catalog::SqlType;
    use pgwire::api::Type;
    use pgwire::api::portal::Format;

    use super::{encode_rows, field_infos, format_timestamp};

    /// One row of uuid, json, jsonb and text columns, described and encoded
    /// in `format`: the OIDs, and each value's bytes.
    fn encode_typed(format: Format) -> (Vec<Type>, Vec<Vec<u8>>) {
        let field = |name: &str, t| eddy_sql::types::arrow_field(name, t, true);
        let schema = Arc::new(Schema::new(vec![
            field("u", SqlType::Uuid),
            field("j", SqlType::Json),
            field("jb", SqlType::Jsonb),
            field("t", SqlType::Text),
        ]));
        let text = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                text(r#"{"b":1}"#),
                text(r#"{"a": 1}"#),
                text("x"),
            ],
        )
        .unwrap();
        let fields = Arc::new(field_infos(&schema, &format));
        let types = fields.iter().map(|f| f.datatype().clone()).collect();
        let row = encode_rows(&fields, &[batch]).pop().unwrap().unwrap();
        let mut data = &row.data[..];
        let mut values = Vec::new();
        while !data.is_empty() {
            let len = i32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
            values.push(data[4..4 + len].to_vec());
            data = &data[4 + len..];
        }
        (types, values)
    }

    #[test]
    fn uuid_and_json_columns_are_described_and_encoded_by_their_type() {
        let (types, values) = encode_typed(Format::UnifiedBinary);
        assert_eq!(types, [Type::UUID, Type::JSON, Type::JSONB, Type::TEXT]);
        let mut uuid = vec![0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8];
        uuid.extend([0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11]);
        assert_eq!(values[0], uuid);
        assert_eq!(values[1], br#"{"b":1}"#);
        assert_eq!(values[2], b"\x01{\"a\": 1}");
        assert_eq!(values[3], b"x");

        let (types, values) = encode_typed(Format::UnifiedText);
        assert_eq!(types, [Type::UUID, Type::JSON, Type::JSONB, Type::TEXT]);
        assert_eq!(values[0], b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(values[2], br#"{"a": 1}"#);
    }

    #[test]
    fn numerics_render_like_postgres() {
        let text = |unscaled, scale| super::PgNumeric { unscaled, scale }.to_text();
        assert_eq!(text(150, 2), "1.50");
        assert_eq!(text(-5, 3), "-0.005");
        assert_eq!(text(12, 0), "12");
        assert_eq!(text(12, -2), "1200");
        assert_eq!(
            text(i128::MAX, 10),
            "17014118346046923173168730371.5884105727"
        );
    }

    #[test]
    fn intervals_render_like_postgres() {
        let text = |months, days, micros| {
            super::PgInterval {
                months,
                days,
                micros,
            }
            .to_text()
        };
        assert_eq!(text(0, 0, 0), "00:00:00");
        assert_eq!(text(0, 1, 7_384_500_000), "1 day 02:03:04.5");
        assert_eq!(text(14, 3, 14_706_000_000), "1 year 2 mons 3 days 04:05:06");
        assert_eq!(text(0, -1, 7_200_000_000), "-1 days +02:00:00");
        assert_eq!(text(0, 0, -1), "-00:00:00.000001");
        assert_eq!(text(-1, 0, 0), "-1 mons");
    }

    #[test]
    fn timestamps_render_like_postgres() {
        assert_eq!(format_timestamp(1_500_000, false), "1970-01-01 00:00:01.5");
        assert_eq!(format_timestamp(0, true), "1970-01-01 00:00:00+00");
        assert_eq!(format_timestamp(-1, false), "1969-12-31 23:59:59.999999");
    }
}
