//! PostgreSQL's binary `COPY` format, encoded straight from Arrow arrays.
//!
//! ```text
//!   header   "PGCOPY\n\xff\r\n\0"  i32 flags = 0  i32 extension length = 0
//!   row      i16 field count, then per field: i32 length (-1 = NULL), value
//!   trailer  i16 -1
//! ```
//!
//! Values are big-endian in PostgreSQL's `*_recv` formats: timestamps are
//! microseconds since 2000-01-01, dates days since 2000-01-01, numerics
//! base-10000 digit groups (see [`Numeric`]); a uuid is its 16 bytes, json
//! its text, jsonb a version byte (1) and its text. Any text column can be
//! written into a uuid, json or jsonb column: a uuid is parsed here (in any
//! of PostgreSQL's input forms), JSON is checked by PostgreSQL on receipt.
//!
//! COPY is row-major but Arrow is columnar, so [`CopyEncoder::encode_rows`]
//! works in two column-wise passes over a chunk of rows: the first adds up
//! each row's encoded size, the second writes each column's values into
//! their rows' slots of a buffer sized once. Each column is downcast once per
//! chunk and its loop is monomorphic; nothing is allocated per row. The
//! encoder does no I/O.

use std::ops::Range;

use bytes::BytesMut;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int64Type, SchemaRef,
    TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result};
use eddy_sql::text_types::{TextType, parse_uuid};

use super::numeric::Numeric;

pub const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
pub(super) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub(super) const PG_EPOCH_DAYS: i32 = 10_957;

/// The PostgreSQL column types the sink writes, by base type OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    Bool,
    Bytea,
    Int8,
    Int2,
    Int4,
    Text,
    Float4,
    Float8,
    Bpchar,
    Varchar,
    Date,
    Timestamp,
    TimestampTz,
    Numeric,
    Uuid,
    Json,
    Jsonb,
}

impl PgType {
    pub fn from_oid(oid: u32) -> Option<PgType> {
        Some(match oid {
            16 => PgType::Bool,
            17 => PgType::Bytea,
            20 => PgType::Int8,
            21 => PgType::Int2,
            23 => PgType::Int4,
            25 => PgType::Text,
            700 => PgType::Float4,
            701 => PgType::Float8,
            1042 => PgType::Bpchar,
            1043 => PgType::Varchar,
            1082 => PgType::Date,
            1114 => PgType::Timestamp,
            1184 => PgType::TimestampTz,
            1700 => PgType::Numeric,
            2950 => PgType::Uuid,
            114 => PgType::Json,
            3802 => PgType::Jsonb,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PgType::Bool => "boolean",
            PgType::Bytea => "bytea",
            PgType::Int8 => "bigint",
            PgType::Int2 => "smallint",
            PgType::Int4 => "integer",
            PgType::Text => "text",
            PgType::Float4 => "real",
            PgType::Float8 => "double precision",
            PgType::Bpchar => "character",
            PgType::Varchar => "character varying",
            PgType::Date => "date",
            PgType::Timestamp => "timestamp without time zone",
            PgType::TimestampTz => "timestamp with time zone",
            PgType::Numeric => "numeric",
            PgType::Uuid => "uuid",
            PgType::Json => "json",
            PgType::Jsonb => "jsonb",
        }
    }
}

/// The PostgreSQL column type `create_table` declares for an output
/// column: the type its metadata names (`uuid`, `json`, `jsonb`), else by
/// its Arrow type.
pub fn column_ddl_type(field: &Field) -> Option<String> {
    match TextType::of_field(field) {
        Some(text_type) => Some(text_type.name().into()),
        None => ddl_type(field.data_type()),
    }
}

/// The PostgreSQL column type `create_table` declares for an Arrow type.
pub fn ddl_type(dt: &DataType) -> Option<String> {
    Some(match dt {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric(20,0)".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) if *s >= 0 => format!("numeric({p},{s})"),
        DataType::Decimal128(..) => "numeric".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        _ => return None,
    })
}

/// The PostgreSQL types an Arrow type can be written into.
pub fn compatible_targets(dt: &DataType) -> &'static [PgType] {
    use PgType::*;
    match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => &[Int2, Int4, Int8, Numeric],
        DataType::Float32 | DataType::Float64 => &[Float4, Float8],
        DataType::Decimal128(..) => &[Numeric],
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            &[Text, Varchar, Bpchar, Uuid, Json, Jsonb]
        }
        DataType::Boolean => &[Bool],
        DataType::Date32 | DataType::Date64 => &[Date],
        DataType::Timestamp(..) => &[Timestamp, TimestampTz],
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => &[Bytea],
        _ => &[],
    }
}

/// The Arrow type a column is cast to before encoding into `target`.
fn canonical_type(dt: &DataType, target: PgType) -> DataType {
    match (dt, target) {
        (_, PgType::Int2 | PgType::Int4 | PgType::Int8) => DataType::Int64,
        (DataType::Decimal128(..), PgType::Numeric) => dt.clone(),
        (_, PgType::Numeric) => DataType::Decimal128(38, 0),
        (_, PgType::Float4) => DataType::Float32,
        (_, PgType::Float8) => DataType::Float64,
        (
            _,
            PgType::Text
            | PgType::Varchar
            | PgType::Bpchar
            | PgType::Uuid
            | PgType::Json
            | PgType::Jsonb,
        ) => DataType::Utf8,
        (_, PgType::Bool) => DataType::Boolean,
        (_, PgType::Date) => DataType::Date32,
        (DataType::Timestamp(_, tz), _) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        (_, PgType::Timestamp | PgType::TimestampTz) => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        (_, PgType::Bytea) => DataType::Binary,
    }
}

/// One output column: its name (for errors), PostgreSQL type and the
/// Arrow type it is cast to before encoding.
#[derive(Debug, Clone)]
struct ColumnCodec {
    name: String,
    target: PgType,
    canonical: DataType,
}

/// Encodes batches of one schema into binary COPY rows for a table whose
/// columns have the given types.
#[derive(Debug, Clone)]
pub struct CopyEncoder {
    columns: Vec<ColumnCodec>,
}

/// A batch whose columns have been cast to the encoder's canonical types.
pub struct PreparedBatch {
    columns: Vec<ArrayRef>,
    rows: usize,
}

impl PreparedBatch {
    pub fn num_rows(&self) -> usize {
        self.rows
    }
}

impl CopyEncoder {
    /// `targets[i]` is the PostgreSQL type of `schema`'s column `i`; the
    /// caller has checked compatibility with [`compatible_targets`].
    pub fn new(schema: &SchemaRef, targets: &[PgType]) -> Result<CopyEncoder> {
        let columns = schema
            .fields()
            .iter()
            .zip(targets)
            .map(|(field, &target)| {
                if !compatible_targets(field.data_type()).contains(&target) {
                    return Err(EngineError::Internal(format!(
                        "column {} of type {} cannot be written as {}",
                        field.name(),
                        field.data_type(),
                        target.name()
                    )));
                }
                Ok(ColumnCodec {
                    name: field.name().clone(),
                    target,
                    canonical: canonical_type(field.data_type(), target),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CopyEncoder { columns })
    }

    pub fn write_header(&self, buf: &mut BytesMut) {
        buf.extend_from_slice(COPY_SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes());
        buf.extend_from_slice(&0i32.to_be_bytes());
    }

    pub fn write_trailer(&self, buf: &mut BytesMut) {
        buf.extend_from_slice(&(-1i16).to_be_bytes());
    }

    /// Casts the batch's columns to the types the encoder writes. Casts
    /// that would lose a value (an unsigned integer beyond bigint) fail.
    pub fn prepare(&self, batch: &RecordBatch) -> Result<PreparedBatch> {
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let columns = batch
            .columns()
            .iter()
            .zip(&self.columns)
            .map(|(array, codec)| {
                cast_with_options(array, &codec.canonical, &options).map_err(|e| {
                    EngineError::Data(format!(
                        "column {} cannot be written as {}: {e}",
                        codec.name,
                        codec.target.name()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PreparedBatch {
            columns,
            rows: batch.num_rows(),
        })
    }

    /// Appends rows `rows` of `batch` to `buf`.
    pub fn encode_rows(
        &self,
        batch: &PreparedBatch,
        rows: Range<usize>,
        buf: &mut BytesMut,
    ) -> Result<()> {
        let field_count = (self.columns.len() as i16).to_be_bytes();
        let mut sizes = vec![field_count.len(); rows.len()];
        for (codec, array) in self.columns.iter().zip(&batch.columns) {
            add_sizes(codec, array, rows.clone(), &mut sizes);
        }
        let base = buf.len();
        let total: usize = sizes.iter().sum();
        buf.resize(base + total, 0);
        let out = &mut buf[base..];
        // `sizes` becomes each row's write cursor.
        let mut offset = 0;
        for size in sizes.iter_mut() {
            let start = offset;
            offset += *size;
            *size = start;
        }
        let cursors = &mut sizes;
        for cursor in cursors.iter_mut() {
            put(out, cursor, &field_count);
        }
        for (codec, array) in self.columns.iter().zip(&batch.columns) {
            write_column(codec, array, rows.clone(), out, cursors)?;
        }
        Ok(())
    }
}

#[inline]
pub(super) fn put(out: &mut [u8], cursor: &mut usize, bytes: &[u8]) {
    out[*cursor..*cursor + bytes.len()].copy_from_slice(bytes);
    *cursor += bytes.len();
}

const NULL: [u8; 4] = (-1i32).to_be_bytes();

fn fixed_width(target: PgType) -> Option<usize> {
    Some(match target {
        PgType::Bool => 1,
        PgType::Int2 => 2,
        PgType::Int4 | PgType::Float4 | PgType::Date => 4,
        PgType::Int8 | PgType::Float8 | PgType::Timestamp | PgType::TimestampTz => 8,
        PgType::Uuid => 16,
        _ => return None,
    })
}

fn add_sizes(codec: &ColumnCodec, array: &ArrayRef, rows: Range<usize>, sizes: &mut [usize]) {
    let lengths = sizes.iter_mut().zip(rows);
    if let Some(width) = fixed_width(codec.target) {
        for (size, r) in lengths {
            *size += 4 + if array.is_null(r) { 0 } else { width };
        }
        return;
    }
    match codec.target {
        PgType::Numeric => {
            let values = array.as_primitive::<Decimal128Type>();
            let scale = values.scale();
            for (size, r) in lengths {
                *size += 4 + if values.is_null(r) {
                    0
                } else {
                    Numeric::from_decimal(values.value(r), scale).encoded_len()
                };
            }
        }
        PgType::Bytea => {
            let values = array.as_binary::<i32>();
            for (size, r) in lengths {
                *size += 4 + if values.is_null(r) {
                    0
                } else {
                    values.value_length(r) as usize
                };
            }
        }
        _ => {
            // jsonb's version byte.
            let prefix = usize::from(codec.target == PgType::Jsonb);
            let values = array.as_string::<i32>();
            for (size, r) in lengths {
                *size += 4 + if values.is_null(r) {
                    0
                } else {
                    prefix + values.value_length(r) as usize
                };
            }
        }
    }
}

fn out_of_range(codec: &ColumnCodec, value: i64) -> EngineError {
    EngineError::Data(format!(
        "value {value} of column {} does not fit PostgreSQL type {}",
        codec.name,
        codec.target.name()
    ))
}

/// Writes `value(r)` (or NULL) for every row through `write`.
macro_rules! each_row {
    ($array:expr, $rows:expr, $out:expr, $cursors:expr, |$r:ident, $cursor:ident| $body:block) => {
        for ($r, $cursor) in $rows.zip($cursors.iter_mut()) {
            if $array.is_null($r) {
                put($out, $cursor, &NULL);
            } else $body
        }
    };
}

fn write_column(
    codec: &ColumnCodec,
    array: &ArrayRef,
    rows: Range<usize>,
    out: &mut [u8],
    cursors: &mut [usize],
) -> Result<()> {
    match codec.target {
        PgType::Bool => {
            let a = array.as_boolean();
            each_row!(a, rows, out, cursors, |r, c| {
                put(out, c, &1i32.to_be_bytes());
                put(out, c, &[a.value(r) as u8]);
            });
        }
        PgType::Int2 | PgType::Int4 | PgType::Int8 => {
            let a = array.as_primitive::<Int64Type>();
            for (r, c) in rows.zip(cursors.iter_mut()) {
                if a.is_null(r) {
                    put(out, c, &NULL);
                    continue;
                }
                let v = a.value(r);
                match codec.target {
                    PgType::Int2 => {
                        let v = i16::try_from(v).map_err(|_| out_of_range(codec, v))?;
                        put(out, c, &2i32.to_be_bytes());
                        put(out, c, &v.to_be_bytes());
                    }
                    PgType::Int4 => {
                        let v = i32::try_from(v).map_err(|_| out_of_range(codec, v))?;
                        put(out, c, &4i32.to_be_bytes());
                        put(out, c, &v.to_be_bytes());
                    }
                    _ => {
                        put(out, c, &8i32.to_be_bytes());
                        put(out, c, &v.to_be_bytes());
                    }
                }
            }
        }
        PgType::Float4 => {
            let a = array.as_primitive::<Float32Type>();
            each_row!(a, rows, out, cursors, |r, c| {
                put(out, c, &4i32.to_be_bytes());
                put(out, c, &a.value(r).to_be_bytes());
            });
        }
        PgType::Float8 => {
            let a = array.as_primitive::<Float64Type>();
            each_row!(a, rows, out, cursors, |r, c| {
                put(out, c, &8i32.to_be_bytes());
                put(out, c, &a.value(r).to_be_bytes());
            });
        }
        PgType::Date => {
            let a = array.as_primitive::<Date32Type>();
            each_row!(a, rows, out, cursors, |r, c| {
                put(out, c, &4i32.to_be_bytes());
                put(out, c, &(a.value(r) - PG_EPOCH_DAYS).to_be_bytes());
            });
        }
        PgType::Timestamp | PgType::TimestampTz => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            each_row!(a, rows, out, cursors, |r, c| {
                put(out, c, &8i32.to_be_bytes());
                put(out, c, &(a.value(r) - PG_EPOCH_MICROS).to_be_bytes());
            });
        }
        PgType::Numeric => {
            let a = array.as_primitive::<Decimal128Type>();
            let scale = a.scale();
            each_row!(a, rows, out, cursors, |r, c| {
                let numeric = Numeric::from_decimal(a.value(r), scale);
                put(out, c, &(numeric.encoded_len() as i32).to_be_bytes());
                numeric.write(out, c);
            });
        }
        PgType::Bytea => {
            let a = array.as_binary::<i32>();
            each_row!(a, rows, out, cursors, |r, c| {
                let v = a.value(r);
                put(out, c, &(v.len() as i32).to_be_bytes());
                put(out, c, v);
            });
        }
        PgType::Text | PgType::Varchar | PgType::Bpchar | PgType::Json => {
            let a = array.as_string::<i32>();
            each_row!(a, rows, out, cursors, |r, c| {
                let v = a.value(r).as_bytes();
                put(out, c, &(v.len() as i32).to_be_bytes());
                put(out, c, v);
            });
        }
        PgType::Jsonb => {
            let a = array.as_string::<i32>();
            each_row!(a, rows, out, cursors, |r, c| {
                let v = a.value(r).as_bytes();
                put(out, c, &(v.len() as i32 + 1).to_be_bytes());
                put(out, c, &[1]);
                put(out, c, v);
            });
        }
        PgType::Uuid => {
            let a = array.as_string::<i32>();
            for (r, c) in rows.zip(cursors.iter_mut()) {
                if a.is_null(r) {
                    put(out, c, &NULL);
                    continue;
                }
                let bytes = parse_uuid(a.value(r)).ok_or_else(|| {
                    EngineError::Data(format!(
                        "value \"{}\" of column {} is not a uuid",
                        a.value(r),
                        codec.name
                    ))
                })?;
                put(out, c, &16i32.to_be_bytes());
                put(out, c, &bytes);
            }
        }
    }
    Ok(())
}
