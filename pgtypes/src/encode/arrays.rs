//! Intervals, and lists as PostgreSQL arrays and vectors.
//!
//! A list of booleans, integers, floats or text is an array: `{1,2,NULL}`,
//! `{a,"b c"}` in text, the one-dimensional binary array format in binary.
//! `int2vector` and `oidvector` (catalog columns) are space-separated
//! numbers in text and arrays numbered from 0 in binary, as PostgreSQL
//! sends them.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType, TimeUnit,
};

use super::{Encoded, Result, strings};
use crate::datetime::PgInterval;
use crate::float;
use crate::mapping::{of_arrow, oids};

/// Any Arrow interval or duration as PostgreSQL's (months, days, µs).
pub fn intervals(array: &ArrayRef) -> Vec<Option<PgInterval>> {
    let of = |months: i32, days: i32, micros: i64| PgInterval {
        months,
        days,
        micros,
    };
    let duration = |micros: &dyn Fn(usize) -> i64| -> Vec<Option<PgInterval>> {
        (0..array.len())
            .map(|r| array.is_valid(r).then(|| of(0, 0, micros(r))))
            .collect()
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
        DataType::Duration(TimeUnit::Second) => {
            let a = array.as_primitive::<DurationSecondType>();
            duration(&|r| a.value(r).saturating_mul(1_000_000))
        }
        DataType::Duration(TimeUnit::Millisecond) => {
            let a = array.as_primitive::<DurationMillisecondType>();
            duration(&|r| a.value(r).saturating_mul(1_000))
        }
        DataType::Duration(TimeUnit::Microsecond) => {
            let a = array.as_primitive::<DurationMicrosecondType>();
            duration(&|r| a.value(r))
        }
        DataType::Duration(TimeUnit::Nanosecond) => {
            let a = array.as_primitive::<DurationNanosecondType>();
            duration(&|r| a.value(r).div_euclid(1_000))
        }
        _ => vec![None; array.len()],
    }
}

/// One element of a list, borrowed from its values array.
enum Element<'a> {
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(&'a str),
}

/// The element of `values` (of a type [`of_arrow`] maps to an array) at
/// `i`.
fn element(values: &ArrayRef, i: usize) -> Element<'_> {
    match values.data_type() {
        DataType::Boolean => Element::Bool(values.as_boolean().value(i)),
        DataType::Int16 => Element::I16(values.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Element::I32(values.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Element::I64(values.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => Element::F32(values.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => Element::F64(values.as_primitive::<Float64Type>().value(i)),
        _ => Element::Text(values.as_string_opt::<i32>().map_or("", |a| a.value(i))),
    }
}

/// Lists as arrays of their element type.
pub(super) fn encode_arrays(array: &ArrayRef, text: bool, out: &mut Encoded) -> Result<()> {
    let lists = array.as_list::<i32>();
    let element_type = lists.value_type();
    let values = match element_type {
        DataType::LargeUtf8 | DataType::Utf8View => strings(lists.values())?,
        _ => lists.values().clone(),
    };
    let element_oid = of_arrow(&element_type).oid;
    let offsets = lists.value_offsets();
    out.each(lists, |r, b| {
        let range = offsets[r] as usize..offsets[r + 1] as usize;
        if text {
            text_array(&values, range, b);
        } else {
            binary_array(&values, range, element_oid, 1, b);
        }
        Ok(())
    })
}

/// Lists of numbers as `int2vector` or `oidvector`.
pub(super) fn encode_vectors(
    array: &ArrayRef,
    vector: u32,
    text: bool,
    out: &mut Encoded,
) -> Result<()> {
    let lists = array.as_list::<i32>();
    let values =
        arrow::compute::cast(lists.values(), &DataType::Int64).map_err(|e| super::EncodeError {
            code: "XX000",
            message: format!("vector of {}: {e}", lists.value_type()),
        })?;
    let values = values.as_primitive::<Int64Type>();
    let offsets = lists.value_offsets();
    let (element_oid, width) = match vector {
        oids::OIDVECTOR => (oids::OID, 4),
        _ => (oids::INT2, 2),
    };
    out.each(lists, |r, b| {
        let range = offsets[r] as usize..offsets[r + 1] as usize;
        if text {
            for (k, i) in range.enumerate() {
                if k > 0 {
                    b.push(b' ');
                }
                b.extend_from_slice(itoa::Buffer::new().format(values.value(i)).as_bytes());
            }
        } else {
            header(b, false, element_oid, range.len(), 0);
            for i in range {
                b.extend_from_slice(&(width as i32).to_be_bytes());
                b.extend_from_slice(&values.value(i).to_be_bytes()[8 - width..]);
            }
        }
        Ok(())
    })
}

fn text_array(values: &ArrayRef, range: std::ops::Range<usize>, b: &mut Vec<u8>) {
    b.push(b'{');
    for (k, i) in range.enumerate() {
        if k > 0 {
            b.push(b',');
        }
        if values.is_null(i) {
            b.extend_from_slice(b"NULL");
            continue;
        }
        match element(values, i) {
            Element::Bool(v) => b.push(if v { b't' } else { b'f' }),
            Element::I16(v) => b.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Element::I32(v) => b.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Element::I64(v) => b.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Element::F32(v) => float::write_f32(v, b),
            Element::F64(v) => float::write_f64(v, b),
            Element::Text(t) => quote_element(b, t),
        }
    }
    b.push(b'}');
}

/// Quotes an element when PostgreSQL would: empty, `NULL`, or containing
/// braces, commas, quotes, backslashes or spaces.
fn quote_element(b: &mut Vec<u8>, t: &str) {
    let needs_quotes = t.is_empty()
        || t.eq_ignore_ascii_case("null")
        || t.chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if !needs_quotes {
        b.extend_from_slice(t.as_bytes());
        return;
    }
    b.push(b'"');
    for c in t.bytes() {
        if c == b'"' || c == b'\\' {
            b.push(b'\\');
        }
        b.push(c);
    }
    b.push(b'"');
}

/// The binary array header: one dimension, the null flag, the element
/// type, the length and the lower bound.
fn header(b: &mut Vec<u8>, has_null: bool, element_oid: u32, len: usize, lower_bound: i32) {
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&i32::from(has_null).to_be_bytes());
    b.extend_from_slice(&element_oid.to_be_bytes());
    b.extend_from_slice(&(len as i32).to_be_bytes());
    b.extend_from_slice(&lower_bound.to_be_bytes());
}

fn binary_array(
    values: &ArrayRef,
    range: std::ops::Range<usize>,
    element_oid: u32,
    lower_bound: i32,
    b: &mut Vec<u8>,
) {
    let has_null = range.clone().any(|i| values.is_null(i));
    header(b, has_null, element_oid, range.len(), lower_bound);
    for i in range {
        if values.is_null(i) {
            b.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let mut put = |bytes: &[u8]| {
            b.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            b.extend_from_slice(bytes);
        };
        match element(values, i) {
            Element::Bool(v) => put(&[u8::from(v)]),
            Element::I16(v) => put(&v.to_be_bytes()),
            Element::I32(v) => put(&v.to_be_bytes()),
            Element::I64(v) => put(&v.to_be_bytes()),
            Element::F32(v) => put(&v.to_be_bytes()),
            Element::F64(v) => put(&v.to_be_bytes()),
            Element::Text(t) => put(t.as_bytes()),
        }
    }
}
