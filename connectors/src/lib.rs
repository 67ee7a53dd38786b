//! # eddy-connectors
//!
//! Every source and sink Eddy can name in `connector = '…'`. Each connector
//! has a folder or file of its own and registers a
//! [`SourceConnector`](eddy_engine::SourceConnector) or
//! [`SinkConnector`](eddy_engine::SinkConnector) in [`registry`]. Connectors
//! describe their options declaratively ([`eddy_engine::options::OptionSpec`]),
//! so the registry validates every option when the object is created; each
//! connector's own `validate` then checks what a spec cannot (that a field
//! option names a declared column, that a URL parses, that a table exists).
//!
//! ## Layout
//!
//! - [`datagen`]: the `datagen` source. Rows are a pure function of
//!   `(seed, column, row number)`, so any offset range replays exactly.
//! - [`postgres`]: the `postgres` sink: one transaction per epoch, rows sent
//!   with binary `COPY` encoded straight from Arrow arrays
//!   ([`postgres::copy`]), JDBC and `postgres://` URLs ([`postgres::url`]);
//!   and the `postgres` source, a lookup table for stream–table joins
//!   ([`postgres::lookup`]: keys pushed down per epoch, answers cached).
//! - [`kafka`]: the `kafka` source (Eddy owns the per-partition offsets;
//!   no consumer group) and sink (idempotent producer).
//! - `file`: the `file` source (a directory; each file read once, whole,
//!   tracked by name and size) and sink (one file per epoch).
//! - `format`: JSON and CSV records decoded straight into Arrow, and the
//!   bad-record policies (`on_error`: fail, skip, dead_letter).
//! - [`table`]: the `table` sink, appending to an Eddy table (or replacing
//!   its contents each epoch, for `complete` output).
//! - [`blackhole`]: the `blackhole` sink, which discards (for benchmarks).
//! - [`option_reader`]: typed access to already-validated `WITH` options.
//!
//! `docs/connectors.md` is the user-facing option reference.

pub mod blackhole;
pub mod datagen;
pub mod file;
pub mod format;
pub mod kafka;
pub mod option_reader;
pub mod postgres;
pub mod table;

use std::sync::Arc;

use eddy_engine::ConnectorRegistry;

/// All connectors of this crate, registered by name.
pub fn registry() -> ConnectorRegistry {
    let mut registry = ConnectorRegistry::default();
    registry.register_source(Arc::new(datagen::DatagenConnector));
    registry.register_source(Arc::new(file::FileSourceConnector));
    registry.register_sink(Arc::new(file::FileSinkConnector));
    registry.register_source(Arc::new(kafka::KafkaSourceConnector));
    registry.register_sink(Arc::new(kafka::KafkaSinkConnector));
    registry.register_source(Arc::new(postgres::PostgresSourceConnector));
    registry.register_sink(Arc::new(postgres::PostgresConnector));
    registry.register_sink(Arc::new(table::TableSinkConnector));
    registry.register_sink(Arc::new(blackhole::BlackholeConnector));
    registry
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_knows_every_connector() {
        let r = super::registry();
        for source in ["datagen", "kafka", "file", "postgres"] {
            assert_eq!(r.source(source).unwrap().name(), source);
        }
        for sink in ["postgres", "table", "blackhole", "kafka", "file"] {
            assert_eq!(r.sink(sink).unwrap().name(), sink);
        }
        let err = r.sink("kafkaa").err().unwrap().to_string();
        assert_eq!(
            err,
            "unknown sink connector 'kafkaa'; expected one of blackhole, file, kafka, postgres, table"
        );
    }
}
