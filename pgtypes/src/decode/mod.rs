//! PostgreSQL values → Rust values, from text or binary: bound parameters
//! (by the type the statement declared or inferred) and the rows a lookup
//! reads from PostgreSQL.
//!
//! [`decode`] returns a [`Value`] the caller turns into its own
//! representation (a DataFusion scalar, an Arrow builder's next value).
//! uuid, json and jsonb are returned as their text (a binary uuid turned
//! into its canonical text, the version byte of a binary jsonb checked and
//! dropped); making JSON canonical is the SQL layer's business. An
//! interval in text is returned as [`Value::Text`] too: its grammar
//! (`1 day 02:00`, ISO 8601, `ago`) is the SQL parser's
//! (`eddy_sql::types::parse_interval`).

mod arrays;
mod text;

use crate::datetime::{PG_EPOCH_DAYS, PG_EPOCH_MICROS, PgInterval};
use crate::mapping::{element_of, oids};
use crate::numeric::decode_numeric;
use crate::uuid::format_uuid;

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    /// `unscaled × 10^-scale`.
    Numeric {
        unscaled: i128,
        scale: i8,
    },
    Text(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 (UTC for `timestamptz`).
    Timestamp(i64),
    TimestampTz(i64),
    Interval(PgInterval),
    /// A one-dimensional array of `element` values.
    Array {
        element: u32,
        values: Vec<Value>,
    },
}

/// A value that is not of its declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

pub(crate) fn invalid(message: impl Into<String>) -> DecodeError {
    DecodeError {
        code: "22P02",
        message: message.into(),
    }
}

/// Whether values of `oid` are decoded here as their own kind (anything
/// else is decoded as text).
pub fn is_known(oid: u32) -> bool {
    use oids::*;
    matches!(
        oid,
        BOOL | INT2
            | INT4
            | INT8
            | OID
            | FLOAT4
            | FLOAT8
            | NUMERIC
            | BYTEA
            | DATE
            | TIMESTAMP
            | TIMESTAMPTZ
            | INTERVAL
            | UUID
            | JSON
            | JSONB
    ) || arrays::is_array(oid)
}

/// Decodes `bytes` (`None`: NULL) as a value of type `oid`, sent in
/// binary or text.
pub fn decode(oid: u32, bytes: Option<&[u8]>, binary: bool) -> Result<Value, DecodeError> {
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    if element_of(oid).is_some() {
        return arrays::decode_array(oid, bytes, binary);
    }
    if binary {
        decode_binary(oid, bytes)
    } else {
        text::decode_text(oid, utf8(bytes)?)
    }
}

pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|e| invalid(format!("invalid UTF-8: {e}")))
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    bytes.try_into().map_err(|_| {
        invalid(format!(
            "binary {what} of {} bytes, expected {N}",
            bytes.len()
        ))
    })
}

/// The binary (`*_send`) form of a value of type `oid`.
pub fn decode_binary(oid: u32, b: &[u8]) -> Result<Value, DecodeError> {
    use oids::*;
    Ok(match oid {
        BOOL => Value::Bool(fixed::<1>(b, "boolean")?[0] != 0),
        INT2 => Value::Int2(i16::from_be_bytes(fixed(b, "smallint")?)),
        INT4 => Value::Int4(i32::from_be_bytes(fixed(b, "integer")?)),
        OID => Value::Int8(u32::from_be_bytes(fixed(b, "oid")?).into()),
        INT8 => Value::Int8(i64::from_be_bytes(fixed(b, "bigint")?)),
        FLOAT4 => Value::Float4(f32::from_be_bytes(fixed(b, "real")?)),
        FLOAT8 => Value::Float8(f64::from_be_bytes(fixed(b, "double precision")?)),
        NUMERIC => {
            // The value at the scale it was sent with (its dscale).
            let dscale = b
                .get(6..8)
                .map(|s| u16::from_be_bytes([s[0], s[1]]))
                .ok_or_else(|| invalid("truncated numeric"))?;
            let scale = i8::try_from(dscale.min(38)).unwrap_or(38);
            let unscaled = decode_numeric(b, scale).map_err(invalid)?;
            Value::Numeric { unscaled, scale }
        }
        BYTEA => Value::Bytes(b.to_vec()),
        DATE => {
            let days = i32::from_be_bytes(fixed(b, "date")?);
            Value::Date(
                days.checked_add(PG_EPOCH_DAYS)
                    .ok_or_else(|| out_of_range("date"))?,
            )
        }
        TIMESTAMP | TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(b, "timestamp")?)
                .checked_add(PG_EPOCH_MICROS)
                .ok_or_else(|| out_of_range("timestamp"))?;
            match oid {
                TIMESTAMP => Value::Timestamp(micros),
                _ => Value::TimestampTz(micros),
            }
        }
        INTERVAL => Value::Interval(PgInterval::from_binary(b).map_err(invalid)?),
        UUID => Value::Text(format_uuid(&fixed(b, "uuid")?)),
        // jsonb's binary form is a version byte (1) and the JSON text.
        JSONB => match b.split_first() {
            Some((1, json)) => Value::Text(utf8(json)?.to_owned()),
            _ => return Err(invalid("unsupported binary jsonb version")),
        },
        _ => Value::Text(utf8(b)?.to_owned()),
    })
}

fn out_of_range(what: &str) -> DecodeError {
    DecodeError {
        code: "22008",
        message: format!("{what} out of range (infinite values have no Arrow value)"),
    }
}

#[cfg(test)]
mod tests;
