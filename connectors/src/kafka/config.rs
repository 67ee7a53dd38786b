//! The options of the Kafka source and sink, parsed and checked, and the
//! librdkafka configurations built from them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use eddy_catalog::{SinkDef, SourceDef};
use eddy_engine::{EngineError, Result};
use rdkafka::ClientConfig;

use crate::format::{Format, OnError};
use crate::option_reader::OptionReader;

/// Records per epoch over all partitions when `max.records.per.epoch` is
/// not given.
pub const DEFAULT_MAX_RECORDS_PER_EPOCH: i64 = 100_000;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The source's `fetch.wait.max.ms` unless the user sets one (see
/// [`KafkaSourceConfig::client_config`]).
pub const DEFAULT_FETCH_WAIT_MAX_MS: &str = "100";

/// Where a query without a checkpoint starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupMode {
    /// Each partition's low watermark (the oldest record kept).
    Earliest,
    /// Each partition's high watermark: only records produced from now on.
    Latest,
    /// The first record whose timestamp is at or after this many
    /// milliseconds since 1970 (the high watermark if there is none).
    Timestamp(i64),
}

/// A column filled from the Kafka message rather than from its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataColumn {
    Key,
    Partition,
    Offset,
    Timestamp,
}

impl MetadataColumn {
    pub const NAMES: [&'static str; 4] = ["_key", "_partition", "_offset", "_timestamp"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "_key" => Some(MetadataColumn::Key),
            "_partition" => Some(MetadataColumn::Partition),
            "_offset" => Some(MetadataColumn::Offset),
            "_timestamp" => Some(MetadataColumn::Timestamp),
            _ => None,
        }
    }

    /// The type the value is produced in before being cast to the declared
    /// column type.
    pub fn native_type(self, declared: &DataType) -> DataType {
        match self {
            MetadataColumn::Key if matches!(declared, DataType::Utf8 | DataType::LargeUtf8) => {
                DataType::Utf8
            }
            MetadataColumn::Key => DataType::Binary,
            MetadataColumn::Partition => DataType::Int32,
            MetadataColumn::Offset => DataType::Int64,
            MetadataColumn::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        }
    }
}

/// Where each declared column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnSource {
    /// The payload column at this index of the payload schema.
    Payload(usize),
    Metadata(MetadataColumn),
}

/// A Kafka source's options, parsed.
#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    pub topic: String,
    /// `properties.*` without the prefix (includes `bootstrap.servers`).
    pub properties: BTreeMap<String, String>,
    pub startup: StartupMode,
    pub format: Format,
    pub on_error: OnError,
    pub max_records_per_epoch: i64,
    /// How long reading or fetching metadata may go without progress.
    pub timeout: Duration,
    /// The declared columns that come from the payload, in order.
    pub payload_schema: SchemaRef,
    /// Where each declared column comes from, in declaration order.
    pub columns: Vec<ColumnSource>,
}

impl KafkaSourceConfig {
    pub fn parse(def: &SourceDef, schema: &SchemaRef) -> Result<Self> {
        let owner = format!("kafka source '{}'", def.name);
        let options = OptionReader::new(&owner, &def.options);
        let startup = match options
            .get("scan.startup.mode")
            .unwrap_or("latest")
            .to_ascii_lowercase()
            .as_str()
        {
            "earliest" => StartupMode::Earliest,
            "latest" => StartupMode::Latest,
            "timestamp" => {
                StartupMode::Timestamp(options.i64("scan.startup.timestamp_millis")?.ok_or_else(
                    || {
                        EngineError::Config(format!(
                            "{owner}: scan.startup.mode = 'timestamp' needs option \
                             'scan.startup.timestamp_millis'"
                        ))
                    },
                )?)
            }
            other => {
                return Err(EngineError::Config(format!(
                    "invalid value '{other}' for option 'scan.startup.mode' of {owner}; \
                     expected one of earliest, latest, timestamp"
                )));
            }
        };
        if options.get("scan.startup.timestamp_millis").is_some()
            && !matches!(startup, StartupMode::Timestamp(_))
        {
            return Err(EngineError::Config(format!(
                "{owner}: option 'scan.startup.timestamp_millis' needs scan.startup.mode = 'timestamp'"
            )));
        }
        let (payload_schema, columns) = split_columns(&owner, schema)?;
        Ok(KafkaSourceConfig {
            topic: options.required("topic")?.to_string(),
            properties: properties(&options, &def.options)?,
            startup,
            format: format_with_default(&def.options)?,
            on_error: OnError::from_options(&options, &def.name)?,
            max_records_per_epoch: options
                .i64("max.records.per.epoch")?
                .unwrap_or(DEFAULT_MAX_RECORDS_PER_EPOCH)
                .max(1),
            timeout: options.duration("read.timeout")?.unwrap_or(DEFAULT_TIMEOUT),
            payload_schema,
            columns,
        })
    }

    /// The consumer's configuration: Eddy's defaults, the user's
    /// properties, then what Eddy must own (no group commits, no automatic
    /// offset store, and no silent jump when a recorded offset is gone: an
    /// epoch replayed after the topic's retention deleted its records must
    /// fail visibly, not read a different range).
    ///
    /// The one default that differs from librdkafka's is
    /// `fetch.wait.max.ms` (500 there): librdkafka keeps one fetch request
    /// in flight per broker, and the one sent once a partition has been
    /// read to its end waits that long for new records, holding back the
    /// next epoch's first fetch.
    pub fn client_config(&self, query: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("group.id", format!("eddy-{query}"));
        config.set("fetch.wait.max.ms", DEFAULT_FETCH_WAIT_MAX_MS);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config.set("auto.offset.reset", "error");
        config.set("enable.auto.commit", "false");
        config.set("enable.auto.offset.store", "false");
        config.set("enable.partition.eof", "false");
        config
    }
}

/// A Kafka sink's options, parsed.
#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    pub topic: String,
    pub properties: BTreeMap<String, String>,
    /// Columns forming the message key; empty for no key.
    pub key: Vec<String>,
    /// How long an epoch may wait for its deliveries.
    pub timeout: Duration,
}

/// The only `guarantee` a Kafka sink offers.
pub const AT_LEAST_ONCE: &str = "at_least_once";

impl KafkaSinkConfig {
    pub fn parse(def: &SinkDef) -> Result<Self> {
        let owner = format!("kafka sink '{}'", def.name);
        let options = OptionReader::new(&owner, &def.options);
        let key = options
            .get("key")
            .map(|k| {
                k.split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        check_guarantee(&owner, options.get("guarantee"))?;
        Ok(KafkaSinkConfig {
            topic: options.required("topic")?.to_string(),
            properties: properties(&options, &def.options)?,
            key,
            timeout: options
                .duration("write.timeout")?
                .unwrap_or(DEFAULT_TIMEOUT),
        })
    }

    /// The producer's configuration: the user's properties, then
    /// idempotence, which keeps librdkafka's retries from duplicating or
    /// reordering messages within a partition.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config.set("enable.idempotence", "true");
        config.set(
            "message.timeout.ms",
            self.timeout.as_millis().max(1).to_string(),
        );
        config
    }
}

/// `guarantee`: only `at_least_once`. `exactly_once` needs Kafka
/// transactions, which cannot be tested against librdkafka's mock cluster
/// (see `mock_cluster_neither_isolates_nor_fences_transactions`), so it is
/// refused with the reason rather than offered untested.
fn check_guarantee(owner: &str, value: Option<&str>) -> Result<()> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some(AT_LEAST_ONCE) => Ok(()),
        Some("exactly_once") => Err(EngineError::Config(format!(
            "{owner}: guarantee 'exactly_once' is not available for kafka sinks: it needs \
             Kafka transactions, which Eddy does not use yet, so an epoch replayed after a \
             crash is produced again; use guarantee = 'at_least_once' (the default) and \
             deduplicate downstream, or a postgres sink for exactly-once"
        ))),
        Some(other) => Err(EngineError::Config(format!(
            "invalid value '{other}' for option 'guarantee' of {owner}; expected {AT_LEAST_ONCE}"
        ))),
    }
}

/// `properties.*` without the prefix; `bootstrap.servers` must be set.
fn properties(
    options: &OptionReader<'_>,
    all: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    options.required("properties.bootstrap.servers")?;
    Ok(all
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("properties.")?.to_string(), v.clone())))
        .collect())
}

/// `format`, JSON when absent.
fn format_with_default(options: &BTreeMap<String, String>) -> Result<Format> {
    let mut with_format;
    let options = if options.contains_key("format") {
        options
    } else {
        with_format = options.clone();
        with_format.insert("format".into(), "json".into());
        &with_format
    };
    Format::from_options(&OptionReader::new("kafka", options))
}

/// Splits the declared columns into payload columns and metadata columns,
/// checking that each metadata column has a type its value converts to.
fn split_columns(owner: &str, schema: &SchemaRef) -> Result<(SchemaRef, Vec<ColumnSource>)> {
    let mut payload: Vec<Field> = Vec::new();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match MetadataColumn::from_name(field.name()) {
            None => {
                columns.push(ColumnSource::Payload(payload.len()));
                payload.push(field.as_ref().clone());
            }
            Some(meta) => {
                let declared = field.data_type();
                let fits = match meta {
                    MetadataColumn::Key => matches!(
                        declared,
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary
                    ),
                    MetadataColumn::Timestamp => matches!(declared, DataType::Timestamp(_, _)),
                    _ => {
                        declared.is_integer()
                            && can_cast_types(&meta.native_type(declared), declared)
                    }
                };
                if !fits {
                    let expected = match meta {
                        MetadataColumn::Key => "TEXT or BYTEA",
                        MetadataColumn::Partition => "INT",
                        MetadataColumn::Offset => "BIGINT",
                        MetadataColumn::Timestamp => "TIMESTAMP",
                    };
                    return Err(EngineError::Config(format!(
                        "{owner}: metadata column '{}' must be {expected}, not {declared}",
                        field.name()
                    )));
                }
                columns.push(ColumnSource::Metadata(meta));
            }
        }
    }
    Ok((Arc::new(Schema::new(payload)), columns))
}
