//! A small builder of in-memory tables from rows of scalars, which every
//! catalog table is made with (catalog tables are small; clarity beats
//! speed here): [`Col`], the column types catalog tables use, [`table`],
//! and cell constructors.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;

/// The column types catalog tables use.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    /// OIDs are BIGINT in Eddy (PostgreSQL's `oid` is unsigned 32-bit).
    Oid,
    /// `name`, `"char"` and `text` are all text.
    Text,
    Bool,
    I16,
    I32,
    I64,
    F32,
    TextArray,
    I16Array,
    OidArray,
    /// `int2vector` (`pg_index.indkey`): an int2 array on the wire as `1 2`.
    Int2Vector,
    /// `oidvector` (`pg_index.indclass`): an oid array, `0 0` as text.
    OidVector,
    Timestamptz,
}

impl Col {
    fn data_type(self) -> DataType {
        let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
        match self {
            Col::Oid | Col::I64 => DataType::Int64,
            Col::Text => DataType::Utf8,
            Col::Bool => DataType::Boolean,
            Col::I16 => DataType::Int16,
            Col::I32 => DataType::Int32,
            Col::F32 => DataType::Float32,
            Col::TextArray => list(DataType::Utf8),
            Col::I16Array | Col::Int2Vector => list(DataType::Int16),
            Col::OidArray | Col::OidVector => list(DataType::Int64),
            Col::Timestamptz => DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Microsecond,
                Some("+00:00".into()),
            ),
        }
    }
}

/// A table of `columns` holding `rows`; `ScalarValue::Null` in a cell is a
/// NULL of the column's type, and numbers are cast to the column's type.
pub fn table(columns: &[(&str, Col)], rows: Vec<Vec<ScalarValue>>) -> DfResult<MemTable> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, col)| {
                let field = Field::new(*name, col.data_type(), true);
                match col {
                    Col::Int2Vector => vector_field(field, "int2vector"),
                    Col::OidVector => vector_field(field, "oidvector"),
                    _ => field,
                }
            })
            .collect::<Vec<_>>(),
    ));
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, (_, col)) in columns.iter().enumerate() {
        let data_type = col.data_type();
        if rows.is_empty() {
            arrays.push(new_empty_array(&data_type));
            continue;
        }
        let cells = rows
            .iter()
            .map(|row| {
                let cell = row.get(i).cloned().unwrap_or(ScalarValue::Null);
                if cell.is_null() {
                    ScalarValue::try_from(&data_type)
                } else if cell.data_type() == data_type {
                    Ok(cell)
                } else {
                    cell.cast_to(&data_type)
                }
            })
            .collect::<DfResult<Vec<_>>>()?;
        arrays.push(ScalarValue::iter_to_array(cells)?);
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    MemTable::try_new(schema, vec![vec![batch]])
}

/// `field` (a list) marked as PostgreSQL's `int2vector` or `oidvector`,
/// a type Arrow cannot express, named in the field metadata
/// (`eddy_pgtypes::mapping`): sent as space-separated numbers in text.
fn vector_field(field: Field, pg_type: &str) -> Field {
    field.with_metadata(eddy_pgtypes::mapping::metadata(pg_type))
}

/// Cell constructors.
pub fn text(s: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(s.into()))
}

pub fn int(n: i64) -> ScalarValue {
    ScalarValue::Int64(Some(n))
}

pub fn boolean(b: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(b))
}

pub fn null() -> ScalarValue {
    ScalarValue::Null
}

pub fn int2_array(values: &[i16]) -> ScalarValue {
    let values: Vec<ScalarValue> = values
        .iter()
        .map(|v| ScalarValue::Int16(Some(*v)))
        .collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int16))
}

pub fn oid_array(values: &[i64]) -> ScalarValue {
    let values: Vec<ScalarValue> = values
        .iter()
        .map(|v| ScalarValue::Int64(Some(*v)))
        .collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int64))
}

pub fn text_array(values: &[&str]) -> ScalarValue {
    let values: Vec<ScalarValue> = values.iter().map(|v| text(*v)).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Utf8))
}
