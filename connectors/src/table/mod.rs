//! The `table` sink: writes a streaming query's output to an Eddy table,
//! which is how BI tools read live results over pgwire.
//!
//! The output must have the table's columns, in order, with the same names
//! (case-sensitive) and types. Every epoch is one atomic, durable write
//! through the table storage ([`StoredTable::write`]), so the table's
//! primary key, unique keys and NOT NULL columns hold for sink writes as
//! for `INSERT`: a row that violates one fails the epoch (and the query)
//! with an error naming the sink, the table and the constraint.
//!
//! | output_mode ↓, mode → | `append` (default) | `upsert` |
//! |---|---|---|
//! | `append`   | each epoch's rows are inserted | rows replace those of the same key |
//! | `update`   | refused (every version would be a new row) | rows replace those of the same key |
//! | `complete` | each epoch replaces the contents | refused (rows no longer in the result would stay) |
//!
//! `mode = 'upsert'` needs the table to have a primary key. Each write
//! records the query's epoch in the same segment, so an epoch replayed
//! after a crash changes nothing: an upsert applies exactly once per epoch.
//! The engine's `update` output carries no retractions (a group whose row
//! disappears emits nothing), so an upsert never deletes rows.
//! `uuid`, `json` and `jsonb` values are checked and stored canonical, as
//! an `INSERT` stores them (see [`eddy_sql::text_types`]); a value that is
//! not one fails the epoch.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::SinkDef;
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::table::{StoredTable, TableError, WriteSet};
use eddy_engine::{EngineError, OutputMode, Result, Sink, SinkConnector, SinkContext};
use eddy_sql::text_types::TextType;

use crate::option_reader::OptionReader;

/// The sink's `mode` values.
const MODES: &[&str] = &["append", "upsert"];

static OPTIONS: &[OptionSpec] = &[
    OptionSpec::new("table", OptionValue::Text, "the Eddy table to write to").required(),
    OptionSpec::new(
        "mode",
        OptionValue::OneOf(MODES),
        "append (insert every row; the default) or upsert (replace the row with the same primary key)",
    ),
];

/// `connector = 'table'`.
pub struct TableSinkConnector;

/// How rows are written, from the `mode` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Append,
    Upsert,
}

/// The options of a `table` sink: the table and the mode.
struct TableSinkConfig<'a> {
    table: &'a str,
    mode: WriteMode,
}

impl<'a> TableSinkConfig<'a> {
    fn parse(def: &'a SinkDef) -> Result<TableSinkConfig<'a>> {
        let owner = format!("table sink '{}'", def.name);
        let options = OptionReader::new(&owner, &def.options);
        let mode = match options.get("mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("append") => WriteMode::Append,
            Some("upsert") => WriteMode::Upsert,
            Some(other) => {
                return Err(EngineError::Config(format!(
                    "invalid value '{other}' for option 'mode' of {owner}; expected one of {}",
                    MODES.join(", ")
                )));
            }
        };
        Ok(TableSinkConfig {
            table: options.required("table")?,
            mode,
        })
    }

    /// The table, checked to fit the mode.
    fn open_table(&self, sink: &str, ctx: &SinkContext) -> Result<Arc<StoredTable>> {
        let table = ctx.tables.get(self.table)?;
        if self.mode == WriteMode::Upsert && table.constraints().primary_key.is_none() {
            return Err(EngineError::Config(format!(
                "mode 'upsert' of table sink '{sink}' needs table \"{}\" to have a primary key: \
                 the key says which row a new row replaces",
                self.table
            )));
        }
        Ok(table)
    }
}

impl SinkConnector for TableSinkConnector {
    fn name(&self) -> &'static str {
        "table"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn validate(&self, def: &SinkDef, ctx: &SinkContext) -> Result<()> {
        TableSinkConfig::parse(def)?
            .open_table(&def.name, ctx)
            .map(|_| ())
    }

    fn create(&self, def: &SinkDef, ctx: SinkContext) -> Result<Box<dyn Sink>> {
        let config = TableSinkConfig::parse(def)?;
        let table = config.open_table(&def.name, &ctx)?;
        Ok(Box::new(TableSink {
            sink: def.name.clone(),
            name: config.table.to_string(),
            table,
            writer: ctx.query,
            mode: config.mode,
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
    mode: WriteMode,
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
    fn set_output_mode(&mut self, output: OutputMode) -> Result<()> {
        let why = match (output, self.mode) {
            (OutputMode::Append, _) | (OutputMode::Update, WriteMode::Upsert) => {
                self.replace = false;
                return Ok(());
            }
            (OutputMode::Complete, WriteMode::Append) => {
                self.replace = true;
                return Ok(());
            }
            (OutputMode::Update, WriteMode::Append) => {
                "each epoch re-emits the rows whose result changed, and mode 'append' would add every \
                 version as a new row. Set mode = 'upsert' on the sink (it replaces the row with the same \
                 primary key; the table needs one), or use output_mode 'complete' (the table then holds \
                 the whole result, replaced every epoch) or 'append'"
            }
            (OutputMode::Complete, WriteMode::Upsert) => {
                "each epoch emits the whole result, and mode 'upsert' would keep rows that are no longer \
                 in it. Use mode = 'append' (with output_mode 'complete' each epoch then replaces the \
                 table's contents), or output_mode 'update'"
            }
        };
        let mode = match self.mode {
            WriteMode::Append => "append",
            WriteMode::Upsert => "upsert",
        };
        Err(EngineError::Config(format!(
            "output_mode '{}' does not fit table sink '{}' with mode '{mode}': {why}",
            output.name(),
            self.sink
        )))
    }

    async fn check(&mut self, schema: SchemaRef) -> Result<()> {
        check_schema(&self.name, &schema, &self.table.schema())
    }

    async fn open(&mut self, schema: SchemaRef) -> Result<()> {
        check_schema(&self.name, &schema, &self.table.schema())
    }

    async fn write_epoch(&mut self, epoch: u64, batches: &[RecordBatch]) -> Result<u64> {
        let failed = |e: String| {
            EngineError::Data(format!(
                "table sink '{}' cannot write epoch {epoch} to table \"{}\": {e}",
                self.sink, self.name
            ))
        };
        // Text types stored canonical. The table checks NOT NULL (with
        // PostgreSQL's message) and re-labels the rows with its schema.
        // A `complete` epoch without rows still empties the table.
        let schema = self.table.schema();
        let batches = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let columns = b
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| match TextType::of_field(field) {
                        Some(t) => t.canonical_array(column).map_err(|e| failed(e.message)),
                        None => Ok(column.clone()),
                    })
                    .collect::<Result<Vec<_>>>()?;
                RecordBatch::try_new(b.schema(), columns).map_err(|e| failed(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let table = self.table.clone();
        let writer = self.writer.clone();
        let (replace, mode) = (self.replace, self.mode);
        let written =
            tokio::task::spawn_blocking(move || -> std::result::Result<u64, TableError> {
                if replace {
                    return Ok(table
                        .replace_all(&batches, Some((&writer, epoch)))?
                        .unwrap_or(0));
                }
                let ws = match mode {
                    WriteMode::Append => WriteSet::insert(batches),
                    WriteMode::Upsert => WriteSet::upsert(batches),
                };
                Ok(table.write(ws.for_epoch(&writer, epoch))?.inserted)
            })
            .await
            .map_err(|e| EngineError::Internal(format!("table write task failed: {e}")))?;
        written.map_err(|e| match e {
            TableError::Io(io) => EngineError::Io(io),
            e => failed(e.full_message()),
        })
    }
}

#[cfg(test)]
mod tests;
