//! The text forms of values, as PostgreSQL's `*_in` functions read them.

use super::{DecodeError, Value, invalid};
use crate::datetime::parse_timestamp;
use crate::mapping::oids;
use crate::uuid::{format_uuid, parse_uuid};

/// The text form of a value of type `oid`.
pub fn decode_text(oid: u32, text: &str) -> Result<Value, DecodeError> {
    use oids::*;
    let syntax = |name: &str| invalid(format!("invalid input syntax for type {name}: \"{text}\""));
    let trimmed = text.trim();
    Ok(match oid {
        BOOL => Value::Bool(boolean(trimmed).ok_or_else(|| syntax("boolean"))?),
        INT2 => Value::Int2(trimmed.parse().map_err(|_| syntax("smallint"))?),
        INT4 => Value::Int4(trimmed.parse().map_err(|_| syntax("integer"))?),
        INT8 | OID => Value::Int8(trimmed.parse().map_err(|_| syntax("bigint"))?),
        FLOAT4 => Value::Float4(float(trimmed).ok_or_else(|| syntax("real"))? as f32),
        FLOAT8 => Value::Float8(float(trimmed).ok_or_else(|| syntax("double precision"))?),
        NUMERIC => {
            let (unscaled, scale) = numeric(trimmed).ok_or_else(|| syntax("numeric"))?;
            Value::Numeric { unscaled, scale }
        }
        BYTEA => Value::Bytes(bytea(text).ok_or_else(|| syntax("bytea"))?),
        DATE => {
            let (micros, _) = parse_timestamp(trimmed).map_err(|_| syntax("date"))?;
            Value::Date(micros.div_euclid(86_400_000_000) as i32)
        }
        TIMESTAMP => {
            let (micros, _) = parse_timestamp(trimmed).map_err(invalid)?;
            Value::Timestamp(micros)
        }
        TIMESTAMPTZ => {
            let (micros, offset) = parse_timestamp(trimmed).map_err(invalid)?;
            let offset = i64::from(offset.unwrap_or(0)) * 1_000_000;
            Value::TimestampTz(micros - offset)
        }
        UUID => Value::Text(format_uuid(
            &parse_uuid(trimmed).ok_or_else(|| syntax("uuid"))?,
        )),
        _ => Value::Text(text.to_owned()),
    })
}

/// `t`, `true`, `yes`, `on`, `1` and their opposites, any case, and any
/// unambiguous prefix of the words, as `boolin` accepts.
pub(crate) fn boolean(s: &str) -> Option<bool> {
    let s = s.to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| s.len() >= min && word.starts_with(&s);
    if s == "1" || prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) {
        Some(true)
    } else if s == "0" || prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) {
        Some(false)
    } else {
        None
    }
}

/// A float, with PostgreSQL's spellings of the special values.
pub(crate) fn float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// A numeric, plain (`-0.50`) or with an exponent (`1e3`, `2.5E-2`): its
/// unscaled value and scale (the digits after the point, as written).
pub(crate) fn numeric(s: &str) -> Option<(i128, i8)> {
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (negative, mantissa) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut unscaled: i128 = 0;
    for c in int.bytes().chain(frac.bytes()) {
        if !c.is_ascii_digit() {
            return None;
        }
        unscaled = unscaled
            .checked_mul(10)?
            .checked_add(i128::from(c - b'0'))?;
    }
    let mut scale = frac.len() as i32 - exponent;
    while scale < 0 {
        unscaled = unscaled.checked_mul(10)?;
        scale += 1;
    }
    if scale > 38 {
        return None;
    }
    Some((if negative { -unscaled } else { unscaled }, scale as i8))
}

/// bytea text: `\x0a1b` (hex) or the escape format (`\\`, `\012`).
fn bytea(s: &str) -> Option<Vec<u8>> {
    if let Some(hex) = s.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        return digits
            .chunks(2)
            .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
            .collect();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = std::str::from_utf8(b.get(i + 1..i + 4)?).ok()?;
            out.push(u8::from_str_radix(octal, 8).ok()?);
            i += 4;
        }
    }
    Some(out)
}
