//! Values between Arrow and PostgreSQL for lookups: key arrays sent as
//! array parameters, result rows read into Arrow arrays.
//!
//! Every declared column is read as one PostgreSQL type ([`read_type`]):
//! the lookup's `SELECT` casts each column to it (`"id"::int8`), so a table
//! column of another type (an `integer` declared BIGINT, a `varchar`
//! declared TEXT, a `numeric(12,4)` declared NUMERIC(10,2)) is converted by
//! PostgreSQL with its own rules, and the decoding here only ever sees the
//! declared type. Keys are sent as arrays of the same types
//! (`$1::int8[]`). Both directions use the binary format, through the
//! codecs of [`eddy_pgtypes`] (the ones the wire and COPY use).
//!
//! Reading walks the rows once per column, taking each value's raw bytes
//! and decoding them with [`eddy_pgtypes::decode`]; numerics are decoded
//! straight at the column's scale.

use std::error::Error;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{
    ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    IntervalMonthDayNanoBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
    TimestampMicrosecondType,
};
use eddy_engine::{EngineError, Result};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use eddy_pgtypes::datetime::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use eddy_pgtypes::decode::{Value, decode_binary};
use eddy_pgtypes::numeric::{Numeric, decode_numeric};
use eddy_pgtypes::oids;

type BoxError = Box<dyn Error + Sync + Send>;

/// The PostgreSQL type a column declared with Arrow type `dt` is read as,
/// or `None` if lookups cannot read it.
pub fn read_type(dt: &DataType) -> Option<String> {
    let readable = match dt {
        DataType::Boolean
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::Binary
        | DataType::Date32
        | DataType::Timestamp(TimeUnit::Microsecond, _)
        | DataType::Interval(IntervalUnit::MonthDayNano) => true,
        DataType::Decimal128(p, s) => *s >= 0 && (*s as u8) <= *p,
        _ => false,
    };
    if !readable {
        return None;
    }
    // The name of the type Arrow's maps to (as the wire describes it).
    let t = eddy_pgtypes::of_arrow(dt);
    match t.oid {
        oids::NUMERIC => eddy_pgtypes::oid::format_type(t.oid.into(), Some(t.typmod)),
        _ => Some(t.name().to_string()),
    }
}

/// A key column as an array parameter of its [`read_type`]. NULLs (which
/// the lookup contract excludes) are sent as NULL elements, which match
/// nothing.
pub fn key_param(array: &ArrayRef) -> Result<Box<dyn ToSql + Sync + Send + '_>> {
    Ok(match array.data_type() {
        DataType::Boolean => Box::new(array.as_boolean().iter().collect::<Vec<_>>()),
        DataType::Int16 => Box::new(array.as_primitive::<Int16Type>().iter().collect::<Vec<_>>()),
        DataType::Int32 => Box::new(array.as_primitive::<Int32Type>().iter().collect::<Vec<_>>()),
        DataType::Int64 => Box::new(array.as_primitive::<Int64Type>().iter().collect::<Vec<_>>()),
        DataType::Float32 => Box::new(
            array
                .as_primitive::<Float32Type>()
                .iter()
                .collect::<Vec<_>>(),
        ),
        DataType::Float64 => Box::new(
            array
                .as_primitive::<Float64Type>()
                .iter()
                .collect::<Vec<_>>(),
        ),
        DataType::Decimal128(_, scale) => Box::new(
            array
                .as_primitive::<Decimal128Type>()
                .iter()
                .map(|v| v.map(|v| PgNumeric(Numeric::from_decimal(v, *scale))))
                .collect::<Vec<_>>(),
        ),
        DataType::Utf8 => Box::new(array.as_string::<i32>().iter().collect::<Vec<_>>()),
        DataType::Binary => Box::new(array.as_binary::<i32>().iter().collect::<Vec<_>>()),
        DataType::Date32 => Box::new(
            array
                .as_primitive::<Date32Type>()
                .iter()
                .map(|v| v.map(PgDate))
                .collect::<Vec<_>>(),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Box::new(
            array
                .as_primitive::<TimestampMicrosecondType>()
                .iter()
                .map(|v| v.map(PgTimestamp))
                .collect::<Vec<_>>(),
        ),
        DataType::Interval(IntervalUnit::MonthDayNano) => Box::new(
            array
                .as_primitive::<IntervalMonthDayNanoType>()
                .iter()
                .map(|v| v.map(PgInterval))
                .collect::<Vec<_>>(),
        ),
        other => {
            return Err(EngineError::Internal(format!(
                "lookup key of type {other} cannot be sent to PostgreSQL"
            )));
        }
    })
}

/// Reads column `index` of `rows` as `field` (whose type has a
/// [`read_type`], which the query cast the column to).
pub fn read_column(rows: &[Row], index: usize, field: &Field) -> Result<ArrayRef> {
    let bad = |why: String| {
        EngineError::Data(format!(
            "cannot read column \"{}\" from PostgreSQL as {}: {why}",
            field.name(),
            field.data_type()
        ))
    };
    fn raw_value(row: &Row, index: usize) -> Result<Option<&[u8]>, tokio_postgres::Error> {
        Ok(row.try_get::<_, Option<Raw>>(index)?.map(|v| v.0))
    }
    let raw = |row| {
        raw_value(row, index).map_err(|e| {
            bad(e
                .source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string()))
        })
    };
    macro_rules! read {
        ($builder:expr, $oid:expr, $variant:ident) => {{
            let mut builder = $builder;
            for row in rows {
                match raw(row)? {
                    None => builder.append_null(),
                    Some(bytes) => match decode_binary($oid, bytes).map_err(|e| bad(e.message))? {
                        Value::$variant(v) => builder.append_value(v),
                        other => return Err(bad(format!("unexpected value {other:?}"))),
                    },
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    let n = rows.len();
    Ok(match field.data_type() {
        DataType::Boolean => read!(BooleanBuilder::with_capacity(n), oids::BOOL, Bool),
        DataType::Int16 => read!(Int16Builder::with_capacity(n), oids::INT2, Int2),
        DataType::Int32 => read!(Int32Builder::with_capacity(n), oids::INT4, Int4),
        DataType::Int64 => read!(Int64Builder::with_capacity(n), oids::INT8, Int8),
        DataType::Float32 => read!(Float32Builder::with_capacity(n), oids::FLOAT4, Float4),
        DataType::Float64 => read!(Float64Builder::with_capacity(n), oids::FLOAT8, Float8),
        DataType::Decimal128(p, s) => {
            let mut builder =
                Decimal128Builder::with_capacity(n).with_precision_and_scale(*p, *s)?;
            for row in rows {
                let value = raw(row)?
                    .map(|bytes| decode_numeric(bytes, *s))
                    .transpose()
                    .map_err(|why| bad(why.to_string()))?;
                builder.append_option(value);
            }
            Arc::new(builder.finish())
        }
        DataType::Utf8 => {
            let mut builder = StringBuilder::with_capacity(n, n * 16);
            for row in rows {
                match raw(row)? {
                    None => builder.append_null(),
                    Some(bytes) => builder
                        .append_value(std::str::from_utf8(bytes).map_err(|e| bad(e.to_string()))?),
                }
            }
            Arc::new(builder.finish())
        }
        DataType::Binary => {
            let mut builder = BinaryBuilder::with_capacity(n, n * 16);
            for row in rows {
                builder.append_option(raw(row)?);
            }
            Arc::new(builder.finish())
        }
        DataType::Date32 => read!(Date32Builder::with_capacity(n), oids::DATE, Date),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let builder =
                TimestampMicrosecondBuilder::with_capacity(n).with_timezone_opt(tz.clone());
            read!(builder, oids::TIMESTAMP, Timestamp)
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let mut builder = IntervalMonthDayNanoBuilder::with_capacity(n);
            for row in rows {
                match raw(row)? {
                    None => builder.append_null(),
                    Some(bytes) => match decode_binary(oids::INTERVAL, bytes) {
                        Ok(Value::Interval(iv)) => {
                            let nanoseconds = iv
                                .micros
                                .checked_mul(1_000)
                                .ok_or_else(|| bad("interval out of range".into()))?;
                            builder.append_value(IntervalMonthDayNano::new(
                                iv.months,
                                iv.days,
                                nanoseconds,
                            ))
                        }
                        Ok(other) => return Err(bad(format!("unexpected value {other:?}"))),
                        Err(e) => return Err(bad(e.message)),
                    },
                }
            }
            Arc::new(builder.finish())
        }
        other => {
            return Err(EngineError::Internal(format!(
                "column \"{}\" of type {other} cannot be read from PostgreSQL",
                field.name()
            )));
        }
    })
}

/// Any value's bytes as sent (binary format), decoded by the caller.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Microseconds since 1970-01-01 (UTC for `timestamptz`).
#[derive(Debug, Clone, Copy)]
pub struct PgTimestamp(pub i64);

impl ToSql for PgTimestamp {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let value = self
            .0
            .checked_sub(PG_EPOCH_MICROS)
            .ok_or("timestamp out of range")?;
        out.put_i64(value);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }

    to_sql_checked!();
}

/// Days since 1970-01-01.
#[derive(Debug, Clone, Copy)]
pub struct PgDate(pub i32);

impl ToSql for PgDate {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i32(
            self.0
                .checked_sub(PG_EPOCH_DAYS)
                .ok_or("date out of range")?,
        );
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }

    to_sql_checked!();
}

/// PostgreSQL's interval: microseconds, days, months (its three fields,
/// kept apart as Arrow's month-day-nano interval keeps them).
#[derive(Debug, Clone, Copy)]
pub struct PgInterval(pub IntervalMonthDayNano);

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.nanoseconds / 1_000);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

/// A numeric parameter.
#[derive(Debug)]
pub struct PgNumeric(Numeric);

impl ToSql for PgNumeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let start = out.len();
        out.resize(start + self.0.encoded_len(), 0);
        self.0.write(&mut out[start..], &mut 0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_type_has_a_read_type() {
        let types = [
            (DataType::Boolean, "bool"),
            (DataType::Int16, "int2"),
            (DataType::Int32, "int4"),
            (DataType::Int64, "int8"),
            (DataType::Float32, "float4"),
            (DataType::Float64, "float8"),
            (DataType::Decimal128(10, 2), "numeric(10,2)"),
            (DataType::Utf8, "text"),
            (DataType::Binary, "bytea"),
            (DataType::Date32, "date"),
            (
                DataType::Timestamp(TimeUnit::Microsecond, None),
                "timestamp",
            ),
            (
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                "timestamptz",
            ),
            (DataType::Interval(IntervalUnit::MonthDayNano), "interval"),
        ];
        for (dt, pg) in types {
            assert_eq!(read_type(&dt).as_deref(), Some(pg), "{dt}");
        }
        assert_eq!(read_type(&DataType::Decimal256(50, 2)), None);
    }
}
