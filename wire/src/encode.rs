//! Arrow results → PostgreSQL rows on the wire, through
//! [`eddy_pgtypes`]: a column's type is [`eddy_pgtypes::of_field`] (the
//! mapping `pg_attribute` uses too), and each batch is encoded a column at
//! a time in the format the client asked for each column, then laid out as
//! DataRow bodies split from one buffer.
//!
//! [`data_rows`] encodes the batches that are ready at once (under the
//! caller's panic guard, so that a bug there is an XX000 answer before any
//! row is sent) and the rest as they arrive.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use bytes::BytesMut;
use eddy_pgtypes::encode::{Format as Encoding, encode_column, write_rows};
use eddy_pgtypes::{ColumnType, of_field};
use futures::FutureExt;
use futures::stream::{self, BoxStream, StreamExt};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use crate::backend::BatchStream;
use crate::error::DbError;
use crate::guard::catching_panics_in;

/// The wire type of a column of PostgreSQL type `oid`; `text` for one
/// pgwire does not know.
pub(crate) fn wire_type(oid: u32) -> Type {
    Type::from_oid(oid).unwrap_or(Type::TEXT)
}

/// Row descriptions for a schema, each column in the format requested.
pub(crate) fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                wire_type(of_field(f).oid),
                format.format_for(i),
            )
        })
        .collect()
}

/// Encodes every row of `batch` as described by `fields`. A value that
/// cannot be sent as its column's type ends the rows with its error.
fn encode_batch(fields: &[FieldInfo], batch: &RecordBatch) -> Vec<PgWireResult<DataRow>> {
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
        Err(e) => return vec![Err(DbError::new(e.code, e.message).into_pgwire())],
    };
    let field_count = fields.len() as i16;
    let mut buf = BytesMut::new();
    let ends = write_rows(&columns, 0..batch.num_rows(), &[], &mut buf);
    let mut rows = Vec::with_capacity(ends.len());
    let mut start = 0;
    for end in ends {
        let data = buf.split_to(end - start);
        start = end;
        rows.push(Ok(DataRow::new(data, field_count)));
    }
    rows
}

/// What is left to send of a result: rows encoded, and batches to come.
struct Pending {
    fields: Arc<Vec<FieldInfo>>,
    rows: VecDeque<PgWireResult<DataRow>>,
    /// `None` once the rows have ended (all sent, or an error).
    batches: Option<BatchStream>,
    /// The statement, for the log line of a panic while encoding.
    sql: Arc<str>,
}

impl Pending {
    /// Encodes `batch` (or takes its error); an error ends the rows.
    fn push(&mut self, batch: Result<RecordBatch, DbError>) {
        let encoded = match batch {
            Ok(batch) => catching_panics_in(&self.sql, || encode_batch(&self.fields, &batch))
                .unwrap_or_else(|e| vec![Err(e.into_pgwire())]),
            Err(e) => vec![Err(e.into_pgwire())],
        };
        if encoded.last().is_some_and(|r| r.is_err()) {
            self.batches = None;
        }
        self.rows.extend(encoded);
    }
}

/// The DataRows of `batches`: those ready now encoded now (a panic there
/// is the caller's to catch), the rest as they come.
pub(crate) fn data_rows(
    fields: Arc<Vec<FieldInfo>>,
    mut batches: BatchStream,
    sql: Arc<str>,
) -> BoxStream<'static, PgWireResult<DataRow>> {
    let mut ready = VecDeque::new();
    let mut ended = false;
    while let Some(next) = batches.next().now_or_never() {
        match next {
            Some(Ok(batch)) => {
                let rows = encode_batch(&fields, &batch);
                ended = rows.last().is_some_and(|r| r.is_err());
                ready.extend(rows);
            }
            Some(Err(e)) => {
                ready.push_back(Err(e.into_pgwire()));
                ended = true;
            }
            None => ended = true,
        }
        if ended {
            break;
        }
    }
    let pending = Pending {
        fields,
        rows: ready,
        batches: (!ended).then_some(batches),
        sql,
    };
    stream::unfold(pending, |mut pending| async move {
        loop {
            if let Some(row) = pending.rows.pop_front() {
                return Some((row, pending));
            }
            let next = pending.batches.as_mut()?.next().await;
            match next {
                Some(batch) => pending.push(batch),
                None => pending.batches = None,
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use eddy_pgtypes::mapping::metadata;
    use futures::StreamExt;
    use pgwire::api::Type;
    use pgwire::api::portal::Format;

    use super::{data_rows, field_infos};
    use crate::backend::Outcome;

    /// The values of each row, as bytes.
    async fn values(
        schema: &Arc<Schema>,
        batches: Vec<RecordBatch>,
        format: Format,
    ) -> Vec<Vec<Vec<u8>>> {
        let fields = Arc::new(field_infos(schema, &format));
        let Outcome::Rows { batches, .. } = Outcome::rows(schema.clone(), batches) else {
            unreachable!()
        };
        let rows: Vec<_> = data_rows(fields, batches, "".into()).collect().await;
        rows.into_iter()
            .map(|row| {
                let row = row.unwrap();
                let mut data = &row.data[..];
                let mut values = Vec::new();
                while !data.is_empty() {
                    let len = i32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
                    values.push(data[4..4 + len].to_vec());
                    data = &data[4 + len..];
                }
                assert_eq!(values.len(), row.field_count as usize);
                values
            })
            .collect()
    }

    #[tokio::test]
    async fn uuid_and_json_columns_are_described_and_encoded_by_their_type() {
        let field = |name: &str, pg: Option<&str>| {
            let f = Field::new(name, DataType::Utf8, true);
            match pg {
                Some(pg) => f.with_metadata(metadata(pg)),
                None => f,
            }
        };
        let schema = Arc::new(Schema::new(vec![
            field("u", Some("uuid")),
            field("j", Some("json")),
            field("jb", Some("jsonb")),
            field("t", None),
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
        let types: Vec<Type> = field_infos(&schema, &Format::UnifiedBinary)
            .iter()
            .map(|f| f.datatype().clone())
            .collect();
        assert_eq!(types, [Type::UUID, Type::JSON, Type::JSONB, Type::TEXT]);

        let binary = values(&schema, vec![batch.clone()], Format::UnifiedBinary).await;
        let mut uuid = vec![0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8];
        uuid.extend([0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11]);
        assert_eq!(binary[0][0], uuid);
        assert_eq!(binary[0][1], br#"{"b":1}"#);
        assert_eq!(binary[0][2], b"\x01{\"a\": 1}");
        assert_eq!(binary[0][3], b"x");

        let text = values(&schema, vec![batch], Format::UnifiedText).await;
        assert_eq!(text[0][0], b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(text[0][2], br#"{"a": 1}"#);
    }

    #[tokio::test]
    async fn rows_of_several_batches_in_order() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = |v: Vec<i64>| {
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(v))]).unwrap()
        };
        let rows = values(
            &schema,
            vec![batch(vec![1, 2]), batch(vec![3])],
            Format::UnifiedText,
        );
        assert_eq!(
            rows.await,
            [
                vec![b"1".to_vec()],
                vec![b"2".to_vec()],
                vec![b"3".to_vec()]
            ]
        );
    }
}
