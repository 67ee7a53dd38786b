//! The `on_error` policy: what a source does with records that do not
//! decode.
//!
//! - `fail` (default): the epoch fails with an error naming where the record
//!   is ("bad record at partition 2 offset 17: …"); the query stops.
//! - `skip`: the record is counted (`bad_records` in `SHOW STREAMING
//!   QUERIES`) and dropped.
//! - `dead_letter`: counted, and written to an Eddy table (default
//!   `<source>_errors`, schema [`dead_letter_schema`]) that is created when
//!   the first query reading the source starts.
//!
//! Dead-letter rows are appended as the records are read, before the epoch
//! commits, so an epoch replayed after a crash may append its bad records a
//! second time (at least once, not exactly once).
//!
//! A look at a source (an ad-hoc `SELECT`, `SourceContext::sample`) applies
//! the same policy except that it writes nothing: `dead_letter` only counts,
//! as `skip` does.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::SourceDef;
use eddy_engine::table_store::StoredTable;
use eddy_engine::{EngineError, Result, SourceContext};

use crate::option_reader::OptionReader;

/// What to do with a record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnError {
    Fail,
    Skip,
    DeadLetter { table: String },
}

impl OnError {
    /// Reads `on_error` and `dead_letter.table` of source `source`.
    pub fn from_options(options: &OptionReader<'_>, source: &str) -> Result<OnError> {
        let policy = options
            .get("on_error")
            .unwrap_or("fail")
            .to_ascii_lowercase();
        let table = options.get("dead_letter.table");
        match (policy.as_str(), table) {
            ("dead_letter", table) => Ok(OnError::DeadLetter {
                table: table.map_or_else(|| format!("{source}_errors"), str::to_string),
            }),
            (_, Some(_)) => Err(EngineError::Config(
                "option 'dead_letter.table' needs on_error = 'dead_letter'".into(),
            )),
            ("fail", None) => Ok(OnError::Fail),
            ("skip", None) => Ok(OnError::Skip),
            (other, None) => Err(EngineError::Config(format!(
                "invalid value '{other}' for option 'on_error'; expected one of fail, skip, dead_letter"
            ))),
        }
    }
}

/// The dead-letter table a source definition writes to, if any: what the
/// server registers in the catalog so that it can be queried.
pub fn dead_letter_table(def: &SourceDef) -> Result<Option<String>> {
    let options = OptionReader::new(format!("source '{}'", def.name), &def.options);
    Ok(match OnError::from_options(&options, &def.name)? {
        OnError::DeadLetter { table } => Some(table),
        _ => None,
    })
}

/// The dead-letter table of a source as a side table for
/// [`SourceConnector::side_tables`](eddy_engine::SourceConnector::side_tables):
/// the server creates it when the source is created.
pub fn dead_letter_side_tables(def: &SourceDef) -> Result<Vec<(String, SchemaRef)>> {
    Ok(dead_letter_table(def)?
        .map(|table| vec![(table, dead_letter_schema())])
        .unwrap_or_default())
}

/// The columns of every dead-letter table:
///
/// | column | type | content |
/// |---|---|---|
/// | `error_time` | TIMESTAMP | when the record was read (UTC) |
/// | `query_name` | TEXT | the streaming query that read it |
/// | `source_name` | TEXT | the source |
/// | `partition` | TEXT | the Kafka partition, or the file name |
/// | `record_offset` | BIGINT | the Kafka offset, or the 1-based line number |
/// | `error` | TEXT | why it was rejected |
/// | `payload` | BYTEA | the raw record |
/// | `payload_text` | TEXT | the record as text; NULL if it is not UTF-8 |
pub fn dead_letter_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "error_time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("query_name", DataType::Utf8, false),
        Field::new("source_name", DataType::Utf8, false),
        Field::new("partition", DataType::Utf8, true),
        Field::new("record_offset", DataType::Int64, true),
        Field::new("error", DataType::Utf8, false),
        Field::new("payload", DataType::Binary, true),
        Field::new("payload_text", DataType::Utf8, true),
    ]))
}

/// One bad record with where it was found.
#[derive(Debug, Clone, Copy)]
pub struct BadRecordInfo<'a> {
    pub payload: &'a [u8],
    pub error: &'a str,
    /// The Kafka partition, the file name.
    pub partition: &'a str,
    /// The Kafka offset, the line number.
    pub offset: i64,
}

/// Applies a source's [`OnError`] policy.
pub struct BadRecordHandler {
    on_error: OnError,
    source: String,
    query: String,
    /// The query's counter, shown in `SHOW STREAMING QUERIES`.
    bad_records: Arc<std::sync::atomic::AtomicU64>,
    /// The dead-letter table, for `OnError::DeadLetter` outside a look.
    table: Option<Arc<StoredTable>>,
    /// The reader serves a look at the source: nothing is written.
    sample: bool,
    /// How errors name `BadRecordInfo::partition` and `offset`.
    partition_label: &'static str,
    offset_label: &'static str,
}

/// Serialises get-or-create of dead-letter tables: two queries starting
/// together must not both create (and so both own) the same table.
static CREATE_TABLE: Mutex<()> = Mutex::new(());

impl BadRecordHandler {
    /// For source `source` read by the query of `ctx`. Creates the
    /// dead-letter table in `ctx.tables` when it does not exist yet, except
    /// for a look at the source, which writes none.
    pub fn new(on_error: OnError, source: &str, ctx: &SourceContext) -> Result<BadRecordHandler> {
        let table = match &on_error {
            OnError::DeadLetter { table } if !ctx.sample => {
                Some(open_dead_letter_table(ctx, table)?)
            }
            _ => None,
        };
        Ok(BadRecordHandler {
            on_error,
            source: source.to_string(),
            query: ctx.query.clone(),
            bad_records: ctx.bad_records.clone(),
            table,
            sample: ctx.sample,
            partition_label: "partition",
            offset_label: "offset",
        })
    }

    /// How errors name a record's location, e.g. `("file", "line")`; the
    /// default is `("partition", "offset")`.
    pub fn with_location_labels(mut self, partition: &'static str, offset: &'static str) -> Self {
        self.partition_label = partition;
        self.offset_label = offset;
        self
    }

    pub fn on_error(&self) -> &OnError {
        &self.on_error
    }

    /// Fails, counts, or counts and stores `bad`, per the policy.
    pub fn handle(&self, bad: &[BadRecordInfo<'_>]) -> Result<()> {
        let Some(first) = bad.first() else {
            return Ok(());
        };
        self.bad_records
            .fetch_add(bad.len() as u64, Ordering::Relaxed);
        match &self.on_error {
            OnError::Fail => Err(EngineError::Data(format!(
                "bad record in source '{}' at {} {} {} {}: {} (set on_error = 'skip' or \
                 'dead_letter' to keep going)",
                self.source,
                self.partition_label,
                first.partition,
                self.offset_label,
                first.offset,
                first.error
            ))),
            OnError::Skip => Ok(()),
            OnError::DeadLetter { .. } => match &self.table {
                Some(table) => {
                    table.append(&[self.dead_letter_rows(bad)?])?;
                    Ok(())
                }
                // A look at the source: counted only.
                None if self.sample => Ok(()),
                None => Err(EngineError::Internal("dead-letter table not opened".into())),
            },
        }
    }

    fn dead_letter_rows(&self, bad: &[BadRecordInfo<'_>]) -> Result<RecordBatch> {
        let now = chrono::Utc::now().timestamp_micros();
        let n = bad.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(vec![now; n])),
            Arc::new(StringArray::from(vec![self.query.as_str(); n])),
            Arc::new(StringArray::from(vec![self.source.as_str(); n])),
            Arc::new(StringArray::from_iter_values(
                bad.iter().map(|b| b.partition),
            )),
            Arc::new(Int64Array::from_iter_values(bad.iter().map(|b| b.offset))),
            Arc::new(StringArray::from_iter_values(bad.iter().map(|b| b.error))),
            Arc::new(BinaryArray::from_iter_values(bad.iter().map(|b| b.payload))),
            Arc::new(StringArray::from_iter(
                bad.iter().map(|b| std::str::from_utf8(b.payload).ok()),
            )),
        ];
        Ok(RecordBatch::try_new(dead_letter_schema(), columns)?)
    }
}

fn open_dead_letter_table(ctx: &SourceContext, name: &str) -> Result<Arc<StoredTable>> {
    let _guard = CREATE_TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let expected = dead_letter_schema();
    let table = match ctx.tables.get(name) {
        Ok(table) => table,
        Err(_) => ctx.tables.create_or_load(name, expected.clone())?,
    };
    let actual = table.schema();
    let fits = actual.fields().len() == expected.fields().len()
        && actual
            .fields()
            .iter()
            .zip(expected.fields())
            .all(|(a, e)| a.name() == e.name() && a.data_type() == e.data_type());
    if !fits {
        return Err(EngineError::Config(format!(
            "table \"{name}\" exists but is not a dead-letter table; expected columns \
             (error_time TIMESTAMP, query_name TEXT, source_name TEXT, partition TEXT, \
             record_offset BIGINT, error TEXT, payload BYTEA, payload_text TEXT)"
        )));
    }
    Ok(table)
}
