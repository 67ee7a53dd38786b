//! The `kafka` source and sink (librdkafka through `rdkafka`).
//!
//! **Eddy owns the read positions.** The source never joins a consumer
//! group, never commits offsets and never subscribes: it `assign`s every
//! partition of the topic explicitly at the offsets the engine hands it. Its
//! [`Offsets`](eddy_engine::Offsets) map has one entry per partition, keyed
//! by the partition number as text (`"0"`, `"1"`, …), whose value is the
//! next offset to read. An epoch `[from, to)` is replayable because a Kafka
//! offset names one record forever (until retention deletes it).
//!
//! ```text
//!   engine                 KafkaSource                     Kafka
//!     │ plan_epoch(from) ──────▶│ metadata(topic) ───────────▶│ partitions (new ones too)
//!     │                         │ watermarks(p) ─────────────▶│ high per partition
//!     │◀── to = min(high, from + share of max.records.per.epoch)
//!     │ read(from, to) ────────▶│ assign(p @ from[p]) ───────▶│
//!     │                         │ poll … until every p reached to[p]
//!     │◀──────── RecordBatch    │ decode payloads (arrow-json / arrow-csv)
//! ```
//!
//! Planning goes through a second client, so that its requests never queue
//! behind a fetch the broker holds on the reading consumer's connection;
//! why that and `fetch.wait.max.ms` decide the latency of an epoch is in
//! [`KafkaSourceConfig::client_config`].
//!
//! A partition that appears in the topic's metadata but not in `from` was
//! added while the query ran: it is read from its beginning (the engine
//! also treats a missing partition as position 0).
//!
//! A look at the source (an ad-hoc `SELECT`, see `eddy_engine::sample`)
//! reads a range fixed the same way, from the watermarks observed when it
//! starts: by default the last n records of each partition. It goes through
//! the same `assign`, so it commits nothing and joins no group either.
//!
//! The sink produces one JSON object per row with an idempotent producer,
//! flushes at the end of each epoch and fails the epoch if any delivery
//! failed. It is **at-least-once**: an epoch replayed after a crash is
//! produced again. Kafka transactions tied to epochs (a transactional
//! producer fenced at open, the epoch's rows and a progress marker in one
//! transaction) would make it exactly-once, but librdkafka's mock cluster,
//! which every Kafka test here runs on, accepts the transactional calls
//! without their guarantees — no isolation of aborted or open transactions,
//! no fencing — so such a sink could not be tested; `guarantee =
//! 'exactly_once'` is refused with that reason.
//!
//! Modules: [`config`] parses the options, [`source`] plans epochs and
//! reads them (polling in [`reader`]), [`sink`] produces.

pub mod config;
pub mod reader;
pub mod sink;
pub mod source;
#[cfg(test)]
mod tests;

use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::{SinkDef, SourceDef};
use eddy_engine::options::{OptionSpec, OptionValue};
use eddy_engine::{
    EngineError, Result, Sink, SinkConnector, SinkContext, Source, SourceConnector, SourceContext,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub use config::{KafkaSinkConfig, KafkaSourceConfig, StartupMode};
pub use sink::KafkaSink;
pub use source::KafkaSource;

const SOURCE_OPTIONS: &[OptionSpec] = &[
    OptionSpec::new("topic", OptionValue::Text, "the topic to read").required(),
    OptionSpec::new(
        "properties.bootstrap.servers",
        OptionValue::Text,
        "Kafka brokers, host:port[,host:port…]",
    )
    .required(),
    OptionSpec::new(
        "properties.**",
        OptionValue::Text,
        "passed to librdkafka as is (e.g. properties.acks); any name librdkafka knows",
    ),
    OptionSpec::new(
        "scan.startup.mode",
        OptionValue::OneOf(&["earliest", "latest", "timestamp"]),
        "where a query without a checkpoint starts (default latest)",
    ),
    OptionSpec::new(
        "scan.startup.timestamp_millis",
        OptionValue::Integer {
            min: 0,
            max: i64::MAX,
        },
        "with scan.startup.mode = timestamp: first record at or after this time (ms since 1970)",
    ),
    OptionSpec::new(
        "format",
        OptionValue::OneOf(&["json", "csv"]),
        "payload format (default json)",
    ),
    OptionSpec::new(
        "csv.delimiter",
        OptionValue::Text,
        "field delimiter of csv payloads, one character (default ,)",
    ),
    OptionSpec::new(
        "on_error",
        OptionValue::OneOf(&["fail", "skip", "dead_letter"]),
        "what a record that cannot be decoded does (default fail)",
    ),
    OptionSpec::new(
        "dead_letter.table",
        OptionValue::Text,
        "with on_error = dead_letter: the Eddy table for bad records (default <source>_errors)",
    ),
    OptionSpec::new(
        "max.records.per.epoch",
        OptionValue::Integer {
            min: 1,
            max: i64::MAX,
        },
        "at most this many records per epoch over all partitions (default 100000)",
    ),
    OptionSpec::new(
        "read.timeout",
        OptionValue::Duration,
        "how long a read may wait for Kafka without progress before failing (default 30 seconds)",
    ),
];

const SINK_OPTIONS: &[OptionSpec] = &[
    OptionSpec::new("topic", OptionValue::Text, "the topic to write").required(),
    OptionSpec::new(
        "properties.bootstrap.servers",
        OptionValue::Text,
        "Kafka brokers, host:port[,host:port…]",
    )
    .required(),
    OptionSpec::new(
        "properties.**",
        OptionValue::Text,
        "passed to librdkafka as is",
    ),
    OptionSpec::new(
        "format",
        OptionValue::OneOf(&["json"]),
        "message format (default json)",
    ),
    OptionSpec::new(
        "key",
        OptionValue::Text,
        "comma-separated columns forming the message key (default: no key)",
    ),
    OptionSpec::new(
        "write.timeout",
        OptionValue::Duration,
        "how long an epoch may wait for deliveries before failing (default 30 seconds)",
    ),
    OptionSpec::new(
        "guarantee",
        OptionValue::OneOf(&["at_least_once", "exactly_once"]),
        "delivery guarantee; only at_least_once (the default) is available",
    ),
];

/// `connector = 'kafka'` as a source.
pub struct KafkaSourceConnector;

impl SourceConnector for KafkaSourceConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn options(&self) -> &'static [OptionSpec] {
        SOURCE_OPTIONS
    }

    fn side_tables(&self, def: &SourceDef) -> Result<Vec<(String, SchemaRef)>> {
        crate::format::dead_letter_side_tables(def)
    }

    /// Checks the options and the metadata columns only: Kafka need not be
    /// reachable at CREATE.
    fn validate(&self, def: &SourceDef, schema: &SchemaRef) -> Result<()> {
        KafkaSourceConfig::parse(def, schema).map(|_| ())
    }

    fn create(
        &self,
        def: &SourceDef,
        schema: SchemaRef,
        ctx: SourceContext,
    ) -> Result<Box<dyn Source>> {
        let config = KafkaSourceConfig::parse(def, &schema)?;
        Ok(Box::new(KafkaSource::new(&def.name, schema, config, ctx)?))
    }
}

/// `connector = 'kafka'` as a sink.
pub struct KafkaSinkConnector;

impl SinkConnector for KafkaSinkConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn options(&self) -> &'static [OptionSpec] {
        SINK_OPTIONS
    }

    fn validate(&self, def: &SinkDef, _ctx: &SinkContext) -> Result<()> {
        KafkaSinkConfig::parse(def).map(|_| ())
    }

    fn create(&self, def: &SinkDef, _ctx: SinkContext) -> Result<Box<dyn Sink>> {
        let config = KafkaSinkConfig::parse(def)?;
        Ok(Box::new(KafkaSink::new(&def.name, config)?))
    }
}

/// Whether Kafka may accept the same request later: broker or network
/// trouble, leadership changes, timeouts and full queues are transient;
/// authorization, configuration and oversize errors are not.
pub fn is_retryable(err: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    match err.rdkafka_error_code() {
        None => matches!(err, KafkaError::Canceled),
        Some(code) => !matches!(
            code,
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::InvalidRecord
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::GroupAuthorizationFailed
                | C::TransactionalIdAuthorizationFailed
                | C::SaslAuthenticationFailed
                | C::Authentication
                | C::InvalidArgument
                | C::InvalidConfig
                | C::InvalidTopic
                | C::UnsupportedVersion
                | C::UnsupportedFeature
                | C::Fatal
        ),
    }
}

/// An `External` error about Kafka, classified by [`is_retryable`].
pub fn kafka_error(context: impl Into<String>, err: &KafkaError) -> EngineError {
    EngineError::external(context, err, is_retryable(err))
}
