//! Arrow results → PostgreSQL rows on the wire, through
//! [`eddy_pgtypes`]: a column's type is [`eddy_pgtypes::of_field`] (the
//! mapping `pg_attribute` uses too), and each batch is encoded a column at
//! a time in the format the client asked for each column, then laid out as
//! DataRow bodies split from one buffer.

use std::sync::Arc;

use bytes::BytesMut;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_pgtypes::encode::{Format as Encoding, encode_column, write_rows};
use eddy_pgtypes::{ColumnType, of_field};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use eddy_catalog::SqlType;

/// The wire type of a PostgreSQL type.
pub fn wire_type(t: ColumnType) -> Type {
    Type::from_oid(t.oid).unwrap_or(Type::TEXT)
}

/// The PostgreSQL type a column of this Arrow type is reported as.
pub fn pg_type(dt: &datafusion::arrow::datatypes::DataType) -> Type {
    wire_type(eddy_pgtypes::of_arrow(dt))
}

/// The PostgreSQL type a result column is reported as.
pub fn pg_type_of_field(field: &Field) -> Type {
    wire_type(of_field(field))
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

/// Encodes every row of `batches` as described by `fields`. A value that
/// cannot be sent as its column's type ends the rows with its error.
pub fn encode_rows(
    fields: &Arc<Vec<FieldInfo>>,
    batches: &[RecordBatch],
) -> Vec<PgWireResult<DataRow>> {
    let mut rows = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    let field_count = fields.len() as i16;
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .zip(fields.iter())
            .map(|(array, field)| {
                let encoding = match field.format() {
                    FieldFormat::Text => Encoding::Text,
                    FieldFormat::Binary => Encoding::Binary,
                };
                encode_column(array, ColumnType::of(field.datatype().oid()), encoding)
            })
            .collect::<Result<Vec<_>, _>>();
        let columns = match columns {
            Ok(columns) => columns,
            Err(e) => {
                rows.push(Err(
                    crate::error::UserError::new(e.code, e.message).into_pgwire()
                ));
                return rows;
            }
        };
        let mut buf = BytesMut::new();
        let rows_in_batch = batch.num_rows();
        let ends = write_rows(&columns, 0..rows_in_batch, &[], &mut buf);
        let mut start = 0;
        for end in ends {
            let data = buf.split_to(end - start);
            start = end;
            rows.push(Ok(DataRow::new(data, field_count)));
        }
    }
    rows
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

    use super::{encode_rows, field_infos};

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
        assert_eq!(row.field_count, 4);
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
}
