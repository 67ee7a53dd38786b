//! The `table` sink: writes a streaming query's output to an Eddy table,
//! which is how BI tools read live results over pgwire.
//!
//! The output must have the table's columns, in order, with the same names
//! (case-sensitive) and types. With `output_mode` `append` each epoch is
//! one durable [`StoredTable::append_epoch`] (one segment file, written
//! atomically); with `complete` each epoch replaces the table's contents
//! with one [`StoredTable::replace_epoch`]. Both record the query's last
//! epoch in the same write, so an epoch replayed after a crash changes
//! nothing. `update` is refused: the table has no key to replace rows by.
//! `uuid`, `json` and `jsonb` values are checked and stored canonical, as
//! an `INSERT` stores them (see [`eddy_sql::text_types`]); a value that is
//! not one fails the epoch.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::SinkDef;
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::table_store::StoredTable;
use eddy_engine::{EngineError, OutputMode, Result, Sink, SinkConnector, SinkContext};
use eddy_sql::text_types::TextType;

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
            sink: def.name.clone(),
            name,
            table,
            writer: ctx.query,
            replace: false,
        }))
    }
}

pub struct TableSink {
    /// The sink's name, for errors.
    sink: String,
    /// The table's name.
    name: String,
    table: Arc<StoredTable>,
    /// The streaming query writing (with its incarnation): the table
    /// records the last epoch it wrote, so replays write nothing.
    writer: String,
    /// `complete` output: each epoch replaces the contents.
    replace: bool,
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
    fn set_output_mode(&mut self, mode: OutputMode) -> Result<()> {
        self.replace = match mode {
            OutputMode::Append => false,
            OutputMode::Complete => true,
            OutputMode::Update => {
                return Err(EngineError::Config(format!(
                    "output_mode 'update' does not fit table sink '{}': each epoch re-emits the rows whose \
                     result changed, and the table sink would add every version as a new row (an Eddy \
                     table has no key to replace rows by). Use output_mode 'complete' (the table then holds \
                     the whole result, replaced every epoch) or 'append', or a postgres sink with \
                     mode = 'upsert'",
                    self.sink
                )));
            }
        };
        Ok(())
    }

    async fn open(&mut self, schema: SchemaRef) -> Result<()> {
        check_schema(&self.name, &schema, &self.table.schema())
    }

    async fn write_epoch(&mut self, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        // Re-label with the table's schema (same columns; nullability and
        // metadata may differ); this checks NOT NULL columns get no NULLs.
        // A `complete` epoch without rows still empties the table.
        let schema = self.table.schema();
        let batches = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let failed = |e: String| {
                    EngineError::Data(format!("cannot append to table \"{}\": {e}", self.name))
                };
                let columns = b
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| match TextType::of_field(field) {
                        Some(t) => t.canonical_array(column).map_err(|e| failed(e.message)),
                        None => Ok(column.clone()),
                    })
                    .collect::<Result<Vec<_>>>()?;
                RecordBatch::try_new(schema.clone(), columns).map_err(|e| failed(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let table = self.table.clone();
        let writer = self.writer.clone();
        let replace = self.replace;
        tokio::task::spawn_blocking(move || {
            if replace {
                table.replace_epoch(&writer, epoch, &batches)
            } else {
                table.append_epoch(&writer, epoch, &batches)
            }
        })
        .await
        .map_err(|e| EngineError::Internal(format!("table write task failed: {e}")))?
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

    #[tokio::test]
    async fn uuid_and_jsonb_values_are_stored_canonical() {
        use datafusion::arrow::array::AsArray;
        let dir = tempfile::tempdir().unwrap();
        let tables = Arc::new(TableStore::open(dir.path()).unwrap());
        let field = |name, t| eddy_sql::types::arrow_field(name, t, true);
        let table_schema = Arc::new(Schema::new(vec![
            field("u", eddy_catalog::SqlType::Uuid),
            field("doc", eddy_catalog::SqlType::Jsonb),
        ]));
        tables.create_or_load("docs", table_schema).unwrap();
        let ctx = SinkContext {
            query: "q".into(),
            tables: tables.clone(),
        };
        let mut sink = TableSinkConnector.create(&def("docs"), ctx).unwrap();
        // A query's output names no types: plain text columns.
        let output = schema(&[("u", DataType::Utf8, true), ("doc", DataType::Utf8, true)]);
        sink.open(output.clone()).await.unwrap();
        let batch = |u: &str, doc: &str| {
            RecordBatch::try_new(
                output.clone(),
                vec![
                    Arc::new(StringArray::from(vec![u])),
                    Arc::new(StringArray::from(vec![doc])),
                ],
            )
            .unwrap()
        };
        let written = batch("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", r#"{"b":1,"a":2}"#);
        sink.write_epoch(1, &[written]).await.unwrap();
        let stored = tables.get("docs").unwrap().batches();
        assert_eq!(
            stored[0].column(0).as_string::<i32>().value(0),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert_eq!(
            stored[0].column(1).as_string::<i32>().value(0),
            r#"{"a": 2, "b": 1}"#
        );
        let err = sink
            .write_epoch(2, &[batch("nope", "{}")])
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot append to table \"docs\": invalid input syntax for type uuid: \"nope\""
        );
    }

    /// The table's `id` values, in order.
    fn ids(tables: &TableStore) -> Vec<i64> {
        tables
            .get("results")
            .unwrap()
            .batches()
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn complete_output_replaces_the_contents_once_per_epoch_and_update_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tables = Arc::new(TableStore::open(dir.path()).unwrap());
        let output = schema(&[("id", DataType::Int64, true)]);
        tables.create_or_load("results", output.clone()).unwrap();
        let ctx = SinkContext {
            query: "q#1".into(),
            tables: tables.clone(),
        };
        let batch = |ids: &[i64]| {
            RecordBatch::try_new(
                output.clone(),
                vec![Arc::new(Int64Array::from(ids.to_vec()))],
            )
            .unwrap()
        };

        let mut sink = TableSinkConnector
            .create(&def("results"), ctx.clone())
            .unwrap();
        let err = sink.set_output_mode(OutputMode::Update).unwrap_err();
        assert!(matches!(err, EngineError::Config(_)), "{err:?}");
        assert!(
            err.to_string().starts_with(
                "output_mode 'update' does not fit table sink 'out': each epoch re-emits the rows"
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("or a postgres sink with mode = 'upsert'"),
            "{err}"
        );

        sink.set_output_mode(OutputMode::Complete).unwrap();
        sink.open(output.clone()).await.unwrap();
        assert_eq!(sink.write_epoch(1, &[batch(&[1, 2])]).await.unwrap(), 2);
        assert_eq!(
            sink.write_epoch(2, &[batch(&[1]), batch(&[2, 3])])
                .await
                .unwrap(),
            3
        );
        assert_eq!(ids(&tables), [1, 2, 3]);
        // A replay after a crash (a new sink, the same query) changes nothing.
        let mut restarted = TableSinkConnector.create(&def("results"), ctx).unwrap();
        restarted.set_output_mode(OutputMode::Complete).unwrap();
        restarted.open(output.clone()).await.unwrap();
        assert_eq!(restarted.write_epoch(2, &[batch(&[9])]).await.unwrap(), 0);
        assert_eq!(ids(&tables), [1, 2, 3]);
        let reopened = TableStore::open(dir.path()).unwrap();
        reopened.create_or_load("results", output.clone()).unwrap();
        assert_eq!(ids(&reopened), [1, 2, 3]);
        // An empty result empties the table.
        assert_eq!(restarted.write_epoch(3, &[]).await.unwrap(), 0);
        assert_eq!(ids(&tables), Vec::<i64>::new());
        assert_eq!(restarted.write_epoch(4, &[batch(&[7])]).await.unwrap(), 1);
        assert_eq!(ids(&tables), [7]);
    }
}
