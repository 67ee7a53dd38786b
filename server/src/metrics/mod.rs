//! `/metrics`: the figures of `SHOW STREAMING QUERIES` and of the sessions
//! in Prometheus' text exposition format (`eddy serve --metrics-listen`,
//! default `127.0.0.1:9544`), for Prometheus and Grafana. Every metric,
//! with its labels and unit, is listed in `docs/metrics.md`.
//!
//! The figures come from two places and are gathered two ways:
//!
//! - A streaming query's figures (status, epoch, rows, watermark, lag per
//!   source and partition, state per operator, epoch durations, the sink's
//!   epoch) already live in its `QueryProgress`, which its job updates
//!   after every epoch. [`queries::QueryCollector`] copies them at scrape
//!   time: nothing is counted twice, and a dropped query's series end with
//!   it.
//! - What the sessions do (connections, statements by kind and their
//!   latency, errors by SQLSTATE) happens nowhere else:
//!   [`sessions::SessionMetrics`] holds ordinary `prometheus` instruments
//!   that `crate::backend` updates as connections open and close and as
//!   statements finish.
//!
//! ```text
//!  Prometheus ── GET /metrics ──▶ endpoint ──▶ Metrics::render ── Registry::gather
//!                                                ├─ QueryCollector ──▶ Database::progress(q), each query
//!                                                └─ SessionMetrics ◀── EddyBackend: connect / drop,
//!                                                                      statement finished, error answered
//! ```
//!
//! - [`endpoint`]: `--metrics-listen` and the HTTP listener.
//! - [`queries`]: the collector of the streaming queries' figures.
//! - [`sessions`]: the session instruments.
//! - [`statement_kind`]: the `kind` label of statements.

pub mod endpoint;
pub mod queries;
pub mod sessions;
pub mod statement_kind;

use std::sync::Arc;

use prometheus::{Registry, TextEncoder};

use crate::database::Database;
use queries::QueryCollector;
use sessions::SessionMetrics;

/// Every figure of one server.
pub struct Metrics {
    registry: Registry,
    sessions: SessionMetrics,
}

impl Metrics {
    /// The instruments and the collector of `db`'s streaming queries. An
    /// error is a bug: a metric name or label that Prometheus refuses, or
    /// two metrics of one name.
    pub fn new(db: Arc<Database>) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let sessions = SessionMetrics::new(&registry)?;
        registry.register(Box::new(QueryCollector::new(db)?))?;
        Ok(Metrics { registry, sessions })
    }

    /// What the sessions update.
    pub fn sessions(&self) -> &SessionMetrics {
        &self.sessions
    }

    /// Every figure, now, in the text exposition format.
    pub fn render(&self) -> prometheus::Result<String> {
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Metrics over an empty database in a temporary directory.
    pub(crate) fn empty() -> (tempfile::TempDir, Metrics) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = Database::open(dir.path(), eddy_connectors::registry()).expect("database");
        let metrics = Metrics::new(db).expect("every metric registers");
        (dir, metrics)
    }

    #[test]
    fn an_idle_server_renders_its_session_figures() {
        let (_dir, metrics) = empty();
        let _connection = metrics.sessions().connection();
        let text = metrics.render().expect("renders");
        assert!(
            text.contains("# TYPE eddy_connections gauge\neddy_connections 1\n"),
            "{text}"
        );
        assert!(
            text.contains("eddy_statements_total{kind=\"select\"} 0\n"),
            "{text}"
        );
        // No query: no query series.
        assert!(!text.contains("eddy_query_"), "{text}");
    }

    /// docs/metrics.md lists every metric, and it and the Grafana
    /// dashboard name only metrics that exist.
    #[test]
    fn the_docs_and_the_dashboard_name_the_metrics_there_are() {
        let (_dir, metrics) = empty();
        metrics.sessions().connection().error("42601");
        let mut known: Vec<String> = metrics
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .chain(queries::names().map(str::to_owned))
            .collect();
        known.sort();
        let docs = include_str!("../../../docs/metrics.md");
        let dashboard = include_str!("../../../docs/grafana/eddy-dashboard.json");
        for name in &known {
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/metrics.md lacks {name}"
            );
        }
        for (file, text) in [("docs/metrics.md", docs), ("the dashboard", dashboard)] {
            for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !word.starts_with("eddy_") || word.starts_with("eddy_catalog") {
                    continue;
                }
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| word.strip_suffix(suffix))
                    .filter(|base| known.iter().any(|k| k == base))
                    .unwrap_or(word);
                assert!(
                    known.iter().any(|k| k == base),
                    "{file} names {word}, which is not a metric"
                );
            }
        }
    }
}
