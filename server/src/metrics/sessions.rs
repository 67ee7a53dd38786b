//! What the sessions do: connections, statements by kind with their
//! latency, errors by SQLSTATE. Plain `prometheus` instruments, updated by
//! `crate::backend` through a [`ConnectionMetrics`] per connection.

use std::time::Duration;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use super::statement_kind::StatementKind;

/// Upper bounds of the statement latency buckets, in seconds: from half a
/// millisecond (a point lookup) to half a minute (a large DDL or COPY).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The server-wide instruments; clones share them.
#[derive(Clone)]
pub struct SessionMetrics {
    connections: IntGauge,
    accepted: IntCounter,
    statements: IntCounterVec,
    latency: HistogramVec,
    errors: IntCounterVec,
}

impl SessionMetrics {
    /// The instruments, registered in `registry`, every statement kind at 0.
    pub fn new(registry: &Registry) -> prometheus::Result<SessionMetrics> {
        let metrics = SessionMetrics {
            connections: IntGauge::new("eddy_connections", "Client sessions open now.")?,
            accepted: IntCounter::new(
                "eddy_connections_accepted_total",
                "Client sessions started (after authentication).",
            )?,
            statements: IntCounterVec::new(
                Opts::new(
                    "eddy_statements_total",
                    "Statements executed, failed ones included, by kind.",
                ),
                &["kind"],
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "eddy_statement_duration_seconds",
                    "Time from a statement's execution starting to its answer being ready, by kind.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["kind"],
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "eddy_errors_total",
                    "Errors answered to clients, by SQLSTATE.",
                ),
                &["sqlstate"],
            )?,
        };
        registry.register(Box::new(metrics.connections.clone()))?;
        registry.register(Box::new(metrics.accepted.clone()))?;
        registry.register(Box::new(metrics.statements.clone()))?;
        registry.register(Box::new(metrics.latency.clone()))?;
        registry.register(Box::new(metrics.errors.clone()))?;
        for kind in StatementKind::ALL {
            metrics.statements.with_label_values(&[kind.as_str()]);
            metrics.latency.with_label_values(&[kind.as_str()]);
        }
        Ok(metrics)
    }

    /// Counts a new session; it counts as open until the value returned is
    /// dropped.
    pub fn connection(&self) -> ConnectionMetrics {
        self.accepted.inc();
        self.connections.inc();
        ConnectionMetrics {
            metrics: self.clone(),
        }
    }
}

/// One open session's handle on the instruments.
pub struct ConnectionMetrics {
    metrics: SessionMetrics,
}

impl ConnectionMetrics {
    /// A statement of `kind` finished (successfully or not) after
    /// `duration`.
    pub fn statement(&self, kind: StatementKind, duration: Duration) {
        let kind = [kind.as_str()];
        self.metrics.statements.with_label_values(&kind).inc();
        self.metrics
            .latency
            .with_label_values(&kind)
            .observe(duration.as_secs_f64());
    }

    /// An error with SQLSTATE `code` is answered to the client.
    pub fn error(&self, code: &str) {
        self.metrics.errors.with_label_values(&[code]).inc();
    }
}

impl Drop for ConnectionMetrics {
    fn drop(&mut self) {
        self.metrics.connections.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(registry: &Registry, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        let family = registry.gather().into_iter().find(|f| f.name() == name)?;
        let metric = family.get_metric().iter().find(|m| {
            label.is_none_or(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == k && l.value() == v)
            })
        })?;
        Some(match family.get_field_type() {
            prometheus::proto::MetricType::GAUGE => metric.get_gauge().get_value(),
            prometheus::proto::MetricType::HISTOGRAM => {
                metric.get_histogram().get_sample_count() as f64
            }
            _ => metric.get_counter().get_value(),
        })
    }

    #[test]
    fn connections_count_while_open_and_statements_by_kind() {
        let registry = Registry::new();
        let metrics = SessionMetrics::new(&registry).expect("registers");
        let first = metrics.connection();
        let second = metrics.connection();
        assert_eq!(value(&registry, "eddy_connections", None), Some(2.0));
        drop(first);
        assert_eq!(value(&registry, "eddy_connections", None), Some(1.0));
        assert_eq!(
            value(&registry, "eddy_connections_accepted_total", None),
            Some(2.0)
        );

        second.statement(StatementKind::Insert, Duration::from_millis(3));
        second.statement(StatementKind::Insert, Duration::from_millis(4));
        second.error("42601");
        let kind = Some(("kind", "insert"));
        assert_eq!(value(&registry, "eddy_statements_total", kind), Some(2.0));
        assert_eq!(
            value(&registry, "eddy_statement_duration_seconds", kind),
            Some(2.0)
        );
        // Kinds nothing ran as are there, at 0.
        let copy = Some(("kind", "copy"));
        assert_eq!(value(&registry, "eddy_statements_total", copy), Some(0.0));
        assert_eq!(
            value(&registry, "eddy_errors_total", Some(("sqlstate", "42601"))),
            Some(1.0)
        );
    }
}
