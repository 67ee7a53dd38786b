//! The `table` sink: appends a streaming query's output to an Eddy table,
//! which is how BI tools read live results over pgwire.
//!
//! The output must have the table's columns, in order, with the same names
//! (case-sensitive) and types. Each epoch is one durable
//! [`StoredTable::append`] (one segment file, written atomically).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::SinkDef;
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::table_store::StoredTable;
use eddy_engine::{EngineError, Result, Sink, SinkConnector, SinkContext};

use crate::option_reader::OptionReader;

static OPTIONS: &[OptionSpec] =
    &[OptionSpec::new("table", OptionValue::Text, "the Eddy table to append to").required()];

/// `connector = 'table'`.
pub struct TableSinkConnector;

fn table_name(def: &SinkDef) -> Result<&str> {
    let owner = format!("table sink '{}'", def.name);
    OptionReader::new(&owner, &def.options).required("table")
}

impl SinkConnector for TableSinkConnector {
    fn name(&self) -> &'static str {
        "table"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn validate(&self, def: &SinkDef, ctx: &SinkContext) -> Result<()> {
        ctx.tables.get(table_name(def)?).map(|_| ())
    }

    fn create(&self, def: &SinkDef, ctx: SinkContext) -> Result<Box<dyn Sink>> {
        let name = table_name(def)?.to_string();
        let table = ctx.tables.get(&name)?;
        Ok(Box::new(TableSink {
            name,
            table,
            writer: ctx.query,
        }))
    }
}

pub struct TableSink {
    name: String,
    table: Arc<StoredTable>,
    /// The streaming query writing (with its incarnation): the table
    /// records the last epoch it appended, so replays append nothing.
    writer: String,
}

fn describe(schema: &SchemaRef) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    format!("({})", columns.join(", "))
}

/// Checks that `output` has `table`'s column names and types, in order.
pub fn check_schema(name: &str, output: &SchemaRef, table: &SchemaRef) -> Result<()> {
    let mismatch = |what: String| {
        EngineError::Plan(format!(
            "the query's output does not fit table \"{name}\": {what}; output {}, table {}",
            describe(output),
            describe(table)
        ))
    };
    if output.fields().len() != table.fields().len() {
        return Err(mismatch(format!(
            "{} columns instead of {}",
            output.fields().len(),
            table.fields().len()
        )));
    }
    for (i, (out, col)) in output.fields().iter().zip(table.fields()).enumerate() {
        if out.name() != col.name() {
            return Err(mismatch(format!(
                "column {} is named \"{}\" but the table's is \"{}\"",
                i + 1,
                out.name(),
                col.name()
            )));
        }
        if out.data_type() != col.data_type() {
            return Err(mismatch(format!(
                "column \"{}\" has type {} but the table's has type {}",
                out.name(),
                out.data_type(),
                col.data_type()
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl Sink for TableSink {
    async fn open(&mut self, schema: SchemaRef) -> Result<()> {
        check_schema(&self.name, &schema, &self.table.schema())
    }

    async fn write_epoch(&mut self, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        // Re-label with the table's schema (same columns; nullability and
        // metadata may differ); this checks NOT NULL columns get no NULLs.
        let schema = self.table.schema();
        let batches = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| {
                    EngineError::Data(format!("cannot append to table \"{}\": {e}", self.name))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let table = self.table.clone();
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || table.append_epoch(&writer, epoch, &batches))
            .await
            .map_err(|e| EngineError::Internal(format!("table append task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use eddy_engine::table_store::TableStore;

    use super::*;

    fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
                .collect::<Vec<_>>(),
        ))
    }

    fn def(table: &str) -> SinkDef {
        SinkDef {
            name: "out".into(),
            connector: "table".into(),
            options: BTreeMap::from([("table".to_string(), table.to_string())]),
            sql: String::new(),
        }
    }

    #[tokio::test]
    async fn appends_and_checks_columns() {
        let dir = tempfile::tempdir().unwrap();
        let tables = Arc::new(TableStore::open(dir.path()).unwrap());
        let table_schema = schema(&[
            ("id", DataType::Int64, false),
            ("name", DataType::Utf8, true),
        ]);
        tables.create_or_load("results", table_schema).unwrap();
        let ctx = SinkContext {
            query: "q".into(),
            tables: tables.clone(),
        };
        let registry = crate::registry();
        let err = registry.validate_sink(&def("nope"), &ctx).unwrap_err();
        assert_eq!(err.to_string(), "table \"nope\" does not exist");
        registry.validate_sink(&def("results"), &ctx).unwrap();

        let mut sink = TableSinkConnector
            .create(&def("results"), ctx.clone())
            .unwrap();
        let wrong = schema(&[
            ("id", DataType::Int64, true),
            ("title", DataType::Utf8, true),
        ]);
        let err = sink.open(wrong).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "the query's output does not fit table \"results\": column 2 is named \"title\" but the table's is \
             \"name\"; output (id Int64, title Utf8), table (id Int64, name Utf8)"
        );
        let wrong = schema(&[
            ("id", DataType::Int32, true),
            ("name", DataType::Utf8, true),
        ]);
        let err = sink.open(wrong).await.unwrap_err().to_string();
        assert!(
            err.contains("column \"id\" has type Int32 but the table's has type Int64"),
            "{err}"
        );

        let output = schema(&[
            ("id", DataType::Int64, true),
            ("name", DataType::Utf8, true),
        ]);
        sink.open(output.clone()).await.unwrap();
        let batch = RecordBatch::try_new(
            output.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap();
        assert_eq!(sink.write_epoch(1, &[batch]).await.unwrap(), 2);
        assert_eq!(sink.write_epoch(2, &[]).await.unwrap(), 0);
        assert_eq!(tables.get("results").unwrap().row_count(), 2);

        let with_null_id = RecordBatch::try_new(
            output,
            vec![
                Arc::new(Int64Array::from(vec![None])),
                Arc::new(StringArray::from(vec![Some("x")])),
            ],
        )
        .unwrap();
        let err = sink
            .write_epoch(3, &[with_null_id])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot append to table \"results\""),
            "{err}"
        );
    }
}
