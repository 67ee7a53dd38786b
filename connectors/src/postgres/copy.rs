//! PostgreSQL's binary `COPY` format, encoded straight from Arrow arrays.
//!
//! ```text
//!   header   "PGCOPY\n\xff\r\n\0"  i32 flags = 0  i32 extension length = 0
//!   row      i16 field count, then per field: i32 length (-1 = NULL), value
//!   trailer  i16 -1
//! ```
//!
//! The values are PostgreSQL's binary (`*_recv`) forms, encoded by
//! [`eddy_pgtypes::encode`] (the same codecs the wire uses): a column at a
//! time when a batch is prepared, then laid out row by row in chunks. Any
//! text column can be written into a uuid, json or jsonb column: a uuid is
//! parsed when encoded, JSON is checked by PostgreSQL on receipt. Which
//! Arrow types may be written into which PostgreSQL column types is this
//! sink's rule ([`compatible_targets`]); the encoder does no I/O.

use std::ops::Range;

use bytes::BytesMut;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_engine::{EngineError, Result};
use eddy_pgtypes::encode::{Encoded, Format, encode_column, write_rows};
use eddy_pgtypes::{ColumnType, oids};

pub use eddy_pgtypes::copy::SIGNATURE as COPY_SIGNATURE;

/// A PostgreSQL column type the sink writes, by base type OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgType(u32);

impl PgType {
    /// The column type of OID `oid`, if the sink writes it.
    pub fn from_oid(oid: u32) -> Option<PgType> {
        use oids::*;
        matches!(
            oid,
            BOOL | BYTEA
                | INT8
                | INT2
                | INT4
                | TEXT
                | FLOAT4
                | FLOAT8
                | BPCHAR
                | VARCHAR
                | DATE
                | TIMESTAMP
                | TIMESTAMPTZ
                | NUMERIC
                | UUID
                | JSON
                | JSONB
        )
        .then_some(PgType(oid))
    }

    pub fn oid(self) -> u32 {
        self.0
    }

    /// Its name as `format_type` prints it (`integer`, `character varying`).
    pub fn name(self) -> &'static str {
        eddy_pgtypes::oid::by_oid(self.0.into()).map_or("text", |t| t.sql_name)
    }
}

/// The PostgreSQL column type `create_table` declares for an output
/// column ([`eddy_pgtypes::of_field`], as `format_type` prints it), or
/// `None` if the sink cannot write the column.
pub fn column_ddl_type(field: &Field) -> Option<String> {
    if compatible_targets(field.data_type()).is_empty() {
        return None;
    }
    let t = eddy_pgtypes::of_field(field);
    eddy_pgtypes::oid::format_type(t.oid.into(), Some(t.typmod))
}

/// The PostgreSQL types an Arrow type can be written into.
pub fn compatible_targets(dt: &DataType) -> &'static [PgType] {
    use oids::*;
    const INTEGERS: &[PgType] = &[PgType(INT2), PgType(INT4), PgType(INT8), PgType(NUMERIC)];
    const FLOATS: &[PgType] = &[PgType(FLOAT4), PgType(FLOAT8)];
    const TEXTS: &[PgType] = &[
        PgType(TEXT),
        PgType(VARCHAR),
        PgType(BPCHAR),
        PgType(UUID),
        PgType(JSON),
        PgType(JSONB),
    ];
    match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => INTEGERS,
        DataType::Float32 | DataType::Float64 => FLOATS,
        DataType::Decimal128(..) => &[PgType(NUMERIC)],
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => TEXTS,
        DataType::Boolean => &[PgType(BOOL)],
        DataType::Date32 | DataType::Date64 => &[PgType(DATE)],
        DataType::Timestamp(..) => &[PgType(TIMESTAMP), PgType(TIMESTAMPTZ)],
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => &[PgType(BYTEA)],
        _ => &[],
    }
}

/// Encodes batches of one schema into binary COPY rows for a table whose
/// columns have the given types.
#[derive(Debug, Clone)]
pub struct CopyEncoder {
    /// Each output column's name (for errors) and PostgreSQL type.
    columns: Vec<(String, PgType)>,
}

/// A batch encoded column by column, ready to be laid out in rows.
pub struct PreparedBatch {
    columns: Vec<Encoded>,
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
                Ok((field.name().clone(), target))
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

    /// Encodes the batch's columns. A value that does not fit its column
    /// (an integer beyond `integer`, text that is not a uuid) fails here,
    /// before anything is sent.
    pub fn prepare(&self, batch: &RecordBatch) -> Result<PreparedBatch> {
        let columns = batch
            .columns()
            .iter()
            .zip(&self.columns)
            .map(|(array, (name, target))| {
                encode_column(array, ColumnType::of(target.oid()), Format::Binary)
                    .map_err(|e| EngineError::Data(format!("column {name}: {e}")))
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
        write_rows(&batch.columns, rows, &field_count, buf);
        Ok(())
    }
}
