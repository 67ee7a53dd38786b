//! Arrow columns → PostgreSQL values, a column at a time, in text or binary.
//!
//! [`encode_column`] turns one Arrow array into [`Encoded`]: every row's
//! value bytes back to back, with each row's length (`-1` for NULL). Each
//! column is downcast once and its loop is monomorphic; numbers, dates and
//! timestamps are printed straight into the buffer (no `String` per value).
//! [`write_rows`] then lays the columns out row-major, each value preceded
//! by its `i32` length: exactly the body of a `DataRow` message, and of a
//! binary `COPY` row after its `i16` field count. The wire encoder and the
//! COPY writer differ only in that prefix.
//!
//! The target type decides the encoding, and the array is converted to it
//! where Arrow holds it differently (any integer width into `int2`/`int4`/
//! `int8`, with a range check; any timestamp unit into microseconds; any
//! interval or duration into PostgreSQL's three fields). A target type the
//! codecs do not know is sent as text, as Arrow displays the value.

mod arrays;

use std::io::Write;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::BytesMut;

use crate::datetime::{PG_EPOCH_DAYS, PG_EPOCH_MICROS, write_date, write_timestamp};
use crate::mapping::{ColumnType, element_of, oids};
use crate::numeric::{Numeric, write_text as write_numeric};
use crate::{float, oid, uuid};

pub use arrays::intervals;

/// Text or binary, as the client asked for a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

/// A value that cannot be encoded as its target type, with its SQLSTATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EncodeError {}

type Result<T> = std::result::Result<T, EncodeError>;

/// One column of a batch, encoded.
#[derive(Debug, Default, Clone)]
pub struct Encoded {
    bytes: Vec<u8>,
    /// Each row's length in `bytes`; `-1` for NULL.
    lens: Vec<i32>,
}

impl Encoded {
    pub fn rows(&self) -> usize {
        self.lens.len()
    }

    /// Row `r`'s bytes (`None` for NULL); walks the rows before it, so
    /// for tests and single values, not loops.
    pub fn value(&self, r: usize) -> Option<&[u8]> {
        let start: usize = self.lens[..r].iter().map(|&l| l.max(0) as usize).sum();
        let len = self.lens[r];
        (len >= 0).then(|| &self.bytes[start..start + len as usize])
    }

    /// Every row's bytes in order (`None` for NULL).
    pub fn values(&self) -> impl Iterator<Item = Option<&[u8]>> {
        let mut start = 0;
        self.lens.iter().map(move |&len| {
            let value = (len >= 0).then(|| &self.bytes[start..start + len as usize]);
            start += len.max(0) as usize;
            value
        })
    }

    fn null(&mut self) {
        self.lens.push(-1);
    }

    /// Encodes each valid row of `array` with `write`, NULLs as NULL.
    fn each<A: Array + ?Sized>(
        &mut self,
        array: &A,
        mut write: impl FnMut(usize, &mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        self.lens.reserve(array.len());
        for r in 0..array.len() {
            if array.is_null(r) {
                self.null();
                continue;
            }
            let start = self.bytes.len();
            write(r, &mut self.bytes)?;
            self.lens.push((self.bytes.len() - start) as i32);
        }
        Ok(())
    }
}

/// Encodes `array` as values of `target` in `format`.
pub fn encode_column(array: &ArrayRef, target: ColumnType, format: Format) -> Result<Encoded> {
    let mut out = Encoded {
        bytes: Vec::with_capacity(array.len() * 8),
        lens: Vec::new(),
    };
    let text = format == Format::Text;
    match target.oid {
        oids::BOOL => {
            let a = cast(array, &DataType::Boolean, target)?;
            let a = a.as_boolean();
            out.each(a, |r, b| {
                b.push(match (text, a.value(r)) {
                    (true, true) => b't',
                    (true, false) => b'f',
                    (false, v) => u8::from(v),
                });
                Ok(())
            })?;
        }
        oids::INT2 | oids::INT4 | oids::INT8 | oids::OID => {
            integers(array, target, text, &mut out)?
        }
        oids::FLOAT4 => {
            let a = cast(array, &DataType::Float32, target)?;
            let a = a.as_primitive::<Float32Type>();
            out.each(a, |r, b| {
                match text {
                    true => float::write_f32(a.value(r), b),
                    false => b.extend_from_slice(&a.value(r).to_be_bytes()),
                }
                Ok(())
            })?;
        }
        oids::FLOAT8 => {
            let a = cast(array, &DataType::Float64, target)?;
            let a = a.as_primitive::<Float64Type>();
            out.each(a, |r, b| {
                match text {
                    true => float::write_f64(a.value(r), b),
                    false => b.extend_from_slice(&a.value(r).to_be_bytes()),
                }
                Ok(())
            })?;
        }
        oids::NUMERIC => {
            let a = match array.data_type() {
                DataType::Decimal128(..) => array.clone(),
                _ => cast(array, &DataType::Decimal128(38, 0), target)?,
            };
            let a = a.as_primitive::<Decimal128Type>();
            let scale = a.scale();
            out.each(a, |r, b| {
                match text {
                    true => write_numeric(a.value(r), scale, b),
                    false => Numeric::from_decimal(a.value(r), scale).append(b),
                }
                Ok(())
            })?;
        }
        oids::BYTEA => {
            let a = cast(array, &DataType::Binary, target)?;
            let a = a.as_binary::<i32>();
            out.each(a, |r, b| {
                match text {
                    true => write_hex(a.value(r), b),
                    false => b.extend_from_slice(a.value(r)),
                }
                Ok(())
            })?;
        }
        oids::DATE => {
            let a = cast(array, &DataType::Date32, target)?;
            let a = a.as_primitive::<Date32Type>();
            out.each(a, |r, b| {
                match text {
                    true => write_date(a.value(r).into(), b),
                    false => b.extend_from_slice(&(a.value(r) - PG_EPOCH_DAYS).to_be_bytes()),
                }
                Ok(())
            })?;
        }
        oids::TIMESTAMP | oids::TIMESTAMPTZ => timestamps(
            array,
            target,
            text,
            target.oid == oids::TIMESTAMPTZ,
            &mut out,
        )?,
        oids::INTERVAL => {
            let values = intervals(array);
            for v in values {
                match v {
                    None => out.null(),
                    Some(iv) => {
                        let start = out.bytes.len();
                        match text {
                            true => iv.write_text(&mut out.bytes),
                            false => out.bytes.extend_from_slice(&iv.to_binary()),
                        }
                        out.lens.push((out.bytes.len() - start) as i32);
                    }
                }
            }
        }
        oids::UUID if !text => {
            let a = strings(array)?;
            let a = a.as_string::<i32>();
            out.each(a, |r, b| {
                let v = a.value(r);
                let bytes = uuid::parse_uuid(v).ok_or_else(|| EncodeError {
                    code: "22P02",
                    message: format!("invalid input syntax for type uuid: \"{v}\""),
                })?;
                b.extend_from_slice(&bytes);
                Ok(())
            })?;
        }
        oids::JSONB if !text => {
            let a = strings(array)?;
            let a = a.as_string::<i32>();
            out.each(a, |r, b| {
                b.push(1);
                b.extend_from_slice(a.value(r).as_bytes());
                Ok(())
            })?;
        }
        oids::INT2VECTOR | oids::OIDVECTOR if matches!(array.data_type(), DataType::List(_)) => {
            arrays::encode_vectors(array, target.oid, text, &mut out)?
        }
        oid if element_of(oid).is_some() && matches!(array.data_type(), DataType::List(_)) => {
            arrays::encode_arrays(array, text, &mut out)?
        }
        _ => match array.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let a = strings(array)?;
                let a = a.as_string::<i32>();
                out.each(a, |r, b| {
                    b.extend_from_slice(a.value(r).as_bytes());
                    Ok(())
                })?;
            }
            _ => display(array, &mut out)?,
        },
    }
    Ok(out)
}

/// Anything else, as text through Arrow's display; a type Arrow cannot
/// even display is sent as NULLs.
fn display(array: &ArrayRef, out: &mut Encoded) -> Result<()> {
    const OPTIONS: FormatOptions<'static> = FormatOptions::new();
    let Ok(formatter) = ArrayFormatter::try_new(array.as_ref(), &OPTIONS) else {
        (0..array.len()).for_each(|_| out.null());
        return Ok(());
    };
    out.each(array.as_ref(), |r, b| {
        let _ = write!(b, "{}", formatter.value(r));
        Ok(())
    })
}

fn write_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 + 2 * bytes.len());
    out.extend_from_slice(b"\\x");
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// `array` as `to`; a cast that would lose a value fails.
fn cast(array: &ArrayRef, to: &DataType, target: ColumnType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(array, to, &options).map_err(|e| EncodeError {
        code: "22003",
        message: format!(
            "a {} value cannot be sent as {}: {e}",
            array.data_type(),
            oid::by_oid(target.oid.into()).map_or("text", |t| t.sql_name)
        ),
    })
}

fn strings(array: &ArrayRef) -> Result<ArrayRef> {
    cast(array, &DataType::Utf8, ColumnType::of(oids::TEXT))
}

/// Integers of any width as `int2`, `int4`, `int8` or `oid`; a value that
/// does not fit the target fails with 22003.
fn integers(array: &ArrayRef, target: ColumnType, text: bool, out: &mut Encoded) -> Result<()> {
    let (min, max, width): (i64, i64, usize) = match target.oid {
        oids::INT2 => (i16::MIN.into(), i16::MAX.into(), 2),
        oids::INT4 => (i32::MIN.into(), i32::MAX.into(), 4),
        oids::OID => (0, u32::MAX.into(), 4),
        _ => (i64::MIN, i64::MAX, 8),
    };
    let write = |v: i64, b: &mut Vec<u8>| -> Result<()> {
        if v < min || v > max {
            return Err(EncodeError {
                code: "22003",
                message: format!(
                    "value {v} does not fit PostgreSQL type {}",
                    oid::by_oid(target.oid.into()).map_or("bigint", |t| t.sql_name)
                ),
            });
        }
        if text {
            b.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        } else {
            b.extend_from_slice(&v.to_be_bytes()[8 - width..]);
        }
        Ok(())
    };
    match array.data_type() {
        DataType::Int16 => {
            let a = array.as_primitive::<Int16Type>();
            out.each(a, |r, b| write(a.value(r).into(), b))
        }
        DataType::Int32 => {
            let a = array.as_primitive::<Int32Type>();
            out.each(a, |r, b| write(a.value(r).into(), b))
        }
        _ => {
            let a = cast(array, &DataType::Int64, target)?;
            let a = a.as_primitive::<Int64Type>();
            out.each(a, |r, b| write(a.value(r), b))
        }
    }
}

/// A timestamp array of any unit (or anything Arrow casts to one) as
/// `timestamp` or `timestamptz`; a value beyond microseconds fails with
/// 22008.
fn timestamps(
    array: &ArrayRef,
    target: ColumnType,
    text: bool,
    zoned: bool,
    out: &mut Encoded,
) -> Result<()> {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            let a = array.as_primitive::<TimestampSecondType>();
            each_timestamp(a, |r| a.value(r).checked_mul(1_000_000), text, zoned, out)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let a = array.as_primitive::<TimestampMillisecondType>();
            each_timestamp(a, |r| a.value(r).checked_mul(1_000), text, zoned, out)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            each_timestamp(a, |r| Some(a.value(r)), text, zoned, out)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            let a = array.as_primitive::<TimestampNanosecondType>();
            each_timestamp(a, |r| Some(a.value(r).div_euclid(1_000)), text, zoned, out)
        }
        _ => {
            let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
            let a = cast(array, &micros, target)?;
            let a = a.as_primitive::<TimestampMicrosecondType>();
            each_timestamp(a, |r| Some(a.value(r)), text, zoned, out)
        }
    }
}

/// Encodes each row's microseconds since 1970 (`None`: out of range).
fn each_timestamp<A: Array>(
    array: &A,
    micros: impl Fn(usize) -> Option<i64>,
    text: bool,
    zoned: bool,
    out: &mut Encoded,
) -> Result<()> {
    out.each(array, |r, b| {
        let v = micros(r).ok_or_else(|| EncodeError {
            code: "22008",
            message: "timestamp out of range".into(),
        })?;
        match text {
            true => write_timestamp(v, zoned, b),
            false => b.extend_from_slice(&(v - PG_EPOCH_MICROS).to_be_bytes()),
        }
        Ok(())
    })
}

/// Appends rows `rows` of `columns` to `out`, row-major: for each row
/// `prefix` (a COPY row's field count; nothing for a DataRow), then each
/// column's value as an `i32` length (`-1` for NULL) and its bytes.
/// Returns where each row ends in `out`.
pub fn write_rows(
    columns: &[Encoded],
    rows: std::ops::Range<usize>,
    prefix: &[u8],
    out: &mut BytesMut,
) -> Vec<usize> {
    let value_bytes = |c: &Encoded, r: std::ops::Range<usize>| -> usize {
        c.lens[r].iter().map(|&l| l.max(0) as usize).sum()
    };
    let mut cursors: Vec<usize> = columns
        .iter()
        .map(|c| value_bytes(c, 0..rows.start))
        .collect();
    let total: usize = (prefix.len() + 4 * columns.len()) * rows.len()
        + columns
            .iter()
            .map(|c| value_bytes(c, rows.clone()))
            .sum::<usize>();
    out.reserve(total);
    let mut ends = Vec::with_capacity(rows.len());
    for r in rows {
        out.extend_from_slice(prefix);
        for (column, cursor) in columns.iter().zip(cursors.iter_mut()) {
            let len = column.lens[r];
            out.extend_from_slice(&len.to_be_bytes());
            if len > 0 {
                let end = *cursor + len as usize;
                out.extend_from_slice(&column.bytes[*cursor..end]);
                *cursor = end;
            }
        }
        ends.push(out.len());
    }
    ends
}

#[cfg(test)]
mod tests;
