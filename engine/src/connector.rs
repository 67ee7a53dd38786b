//! Connector registry: how the server finds the implementation of
//! `connector = '…'` and validates its options when an object is created.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::{SinkDef, SourceDef};
use futures::future::BoxFuture;

use crate::options::OptionSpec;
use crate::table_store::TableStore;
use crate::{EngineError, Result, Sink, Source};

/// Options every source takes, whatever its connector.
pub const COMMON_SOURCE_OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(
        "watermark.idle_timeout",
        crate::options::OptionValue::Duration,
        "a partition without data for this long stops holding the watermark back; when the whole source is silent this long, the watermark advances with processing time, so windows close when traffic stops",
    ),
    OptionSpec::new(
        "watermark.policy",
        crate::options::OptionValue::OneOf(crate::watermark::WATERMARK_POLICIES),
        "min_partition (default): the watermark is the minimum over the source's partitions of their largest event time minus the delay; max_seen: the largest event time of all partitions minus the delay (Spark's rule)",
    ),
];

/// Builds sources of one connector type.
pub trait SourceConnector: Send + Sync {
    /// The value of `connector = '…'`.
    fn name(&self) -> &'static str;
    /// Every option the connector accepts (for validation and docs).
    fn options(&self) -> &'static [OptionSpec];
    /// Checks a definition beyond the per-option checks (e.g. that a field
    /// option names a declared column). Called at CREATE SOURCE.
    fn validate(&self, def: &SourceDef, schema: &SchemaRef) -> Result<()>;
    /// Eddy tables the source writes to besides its output (a dead-letter
    /// table for bad records), as (name, schema). The server creates them,
    /// in the catalog and in storage, when the source is created, so users
    /// can query them.
    fn side_tables(&self, _def: &SourceDef) -> Result<Vec<(String, SchemaRef)>> {
        Ok(Vec::new())
    }

    /// Creates a reader for one streaming query.
    fn create(
        &self,
        def: &SourceDef,
        schema: SchemaRef,
        ctx: SourceContext,
    ) -> Result<Box<dyn Source>>;

    /// The source can only be looked up by key (the table side of a
    /// join), never read as a stream.
    fn is_lookup_only(&self) -> bool {
        false
    }

    /// Creates a lookup on the source, keyed by `key_columns`, for the table
    /// side of a stream–table join. Most sources are streams only.
    fn create_lookup(
        &self,
        def: &SourceDef,
        _schema: SchemaRef,
        _key_columns: &[String],
    ) -> Result<Box<dyn crate::Lookup>> {
        Err(EngineError::Plan(format!(
            "source \"{}\" (connector '{}') cannot be the table side of a join; join with an Eddy table or a 'postgres' source",
            def.name,
            self.name()
        )))
    }
}

/// What a source may need from the server besides its definition.
#[derive(Clone)]
pub struct SourceContext {
    /// The streaming query reading the source.
    pub query: String,
    /// Eddy's own tables, for dead-letter tables.
    pub tables: Arc<TableStore>,
    /// Records that could not be decoded, skipped or sent to a dead-letter
    /// table; shown in `SHOW STREAMING QUERIES`.
    pub bad_records: Arc<AtomicU64>,
    /// The reader serves a look at the source (an ad-hoc `SELECT`, see
    /// [`crate::sample`]), not a query: it writes nothing, not even bad
    /// records into a dead-letter table (they are only counted).
    pub sample: bool,
}

impl SourceContext {
    /// The context of a look at source `source`; `query` is only a name
    /// for the clients it opens (no query exists).
    pub fn for_sample(source: &str, tables: Arc<TableStore>) -> SourceContext {
        SourceContext {
            query: format!("{source}-peek"),
            tables,
            bad_records: Arc::new(AtomicU64::new(0)),
            sample: true,
        }
    }
}

/// What a sink may need from the server besides its definition.
#[derive(Clone)]
pub struct SinkContext {
    /// The streaming query writing into the sink.
    pub query: String,
    /// Eddy's own tables, for the `table` sink.
    pub tables: Arc<TableStore>,
}

/// Builds sinks of one connector type.
pub trait SinkConnector: Send + Sync {
    fn name(&self) -> &'static str;
    fn options(&self) -> &'static [OptionSpec];
    /// Checks a definition beyond the per-option checks. Called at CREATE SINK.
    fn validate(&self, def: &SinkDef, ctx: &SinkContext) -> Result<()>;
    fn create(&self, def: &SinkDef, ctx: SinkContext) -> Result<Box<dyn Sink>>;

    /// Checks the sink's target in the outside system at CREATE SINK, after
    /// [`validate`](Self::validate): what can be checked before the query's
    /// columns are known (that the table exists, that a key is unique). The
    /// full check against the query's output happens in [`Sink::open`].
    /// The default has nothing to check.
    fn check_target<'a>(&'a self, _def: &'a SinkDef) -> BoxFuture<'a, Result<TargetCheck>> {
        Box::pin(async { Ok(TargetCheck::Fits) })
    }
}

/// What [`SinkConnector::check_target`] found. The last three are definite
/// problems of the definition: CREATE SINK fails with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetCheck {
    /// The target fits the definition, or there is nothing to check.
    Fits,
    /// The target could not be checked now (the system is unreachable, the
    /// check timed out, …): not a problem of the definition. The sink is
    /// created; the message tells the user what was not checked.
    Unchecked(String),
    /// The target table does not exist and will not be created.
    UndefinedTable(String),
    /// A column the definition names (a key) is not in the target table.
    UndefinedColumn(String),
    /// The definition needs a unique key the target table does not have.
    NoUniqueKey(String),
}

/// All connectors the server knows, by name.
#[derive(Default, Clone)]
pub struct ConnectorRegistry {
    sources: BTreeMap<&'static str, Arc<dyn SourceConnector>>,
    sinks: BTreeMap<&'static str, Arc<dyn SinkConnector>>,
}

impl ConnectorRegistry {
    pub fn register_source(&mut self, c: Arc<dyn SourceConnector>) {
        self.sources.insert(c.name(), c);
    }

    pub fn register_sink(&mut self, c: Arc<dyn SinkConnector>) {
        self.sinks.insert(c.name(), c);
    }

    pub fn source(&self, name: &str) -> Result<&Arc<dyn SourceConnector>> {
        self.sources.get(name).ok_or_else(|| {
            EngineError::Config(format!(
                "unknown source connector '{name}'; expected one of {}",
                self.sources.keys().copied().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    pub fn sink(&self, name: &str) -> Result<&Arc<dyn SinkConnector>> {
        self.sinks.get(name).ok_or_else(|| {
            EngineError::Config(format!(
                "unknown sink connector '{name}'; expected one of {}",
                self.sinks.keys().copied().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// Validates a source definition: every option known and well-formed,
    /// then the connector's own checks.
    pub fn validate_source(&self, def: &SourceDef, schema: &SchemaRef) -> Result<()> {
        let c = self.source(&def.connector)?;
        let (common, own): (BTreeMap<String, String>, BTreeMap<String, String>) = def
            .options
            .clone()
            .into_iter()
            .partition(|(k, _)| k.starts_with("watermark."));
        crate::options::validate_options("a source", &common, COMMON_SOURCE_OPTIONS)?;
        if !common.is_empty() && def.watermark.is_none() {
            let names: Vec<&str> = common.keys().map(String::as_str).collect();
            return Err(EngineError::Config(format!(
                "'{}' needs a WATERMARK FOR clause on the source",
                names.join("', '")
            )));
        }
        crate::options::validate_options(
            &format!("source connector '{}'", c.name()),
            &own,
            c.options(),
        )?;
        c.validate(def, schema)
    }

    pub fn validate_sink(&self, def: &SinkDef, ctx: &SinkContext) -> Result<()> {
        let c = self.sink(&def.connector)?;
        crate::options::validate_options(
            &format!("sink connector '{}'", c.name()),
            &def.options,
            c.options(),
        )?;
        c.validate(def, ctx)
    }
}
