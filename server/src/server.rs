//! The listener: `eddy_wire` serves the connections, each with an
//! [`EddyBackend`](crate::backend::EddyBackend) session, and `/metrics`
//! is served beside it; on shutdown both stop accepting and the streaming
//! queries are drained.

use std::net::SocketAddr;
use std::sync::Arc;

use eddy_wire::TlsConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::AuthMode;
use crate::backend::EddyBackends;
use crate::database::Database;
use crate::metrics::Metrics;

/// How connections are accepted.
pub struct ServerConfig {
    /// `Some`: SSLRequest is answered `S` and the connection upgraded.
    pub tls: Option<TlsConfig>,
    pub auth: AuthMode,
    /// Sessions beyond this get FATAL 53300.
    pub max_connections: usize,
    /// `Some`: Prometheus scrapes `/metrics` here.
    pub metrics: Option<TcpListener>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tls: None,
            auth: AuthMode::Auto,
            max_connections: 100,
            metrics: None,
        }
    }
}

/// Serves until `shutdown` turns true, then stops every streaming query
/// (each finishes its running epoch) and returns.
pub async fn serve(
    listener: TcpListener,
    db: Arc<Database>,
    config: ServerConfig,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(
        %addr,
        tls = config.tls.is_some(),
        auth = ?config.auth,
        max_connections = config.max_connections,
        "eddy is listening for PostgreSQL clients"
    );
    let metrics = Arc::new(Metrics::new(db.clone())?);
    let endpoint = config.metrics.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("serving Prometheus metrics at http://{addr}/metrics");
        }
        tokio::spawn(crate::metrics::endpoint::serve(listener, metrics.clone()))
    });
    let backends = Arc::new(EddyBackends {
        db: db.clone(),
        auth: config.auth,
        beyond_loopback: !addr.ip().is_loopback(),
        metrics: metrics.sessions().clone(),
    });
    let wire = eddy_wire::ServerConfig {
        tls: config.tls,
        max_connections: config.max_connections,
    };
    let served = eddy_wire::serve(listener, backends, wire, shutdown).await;
    if let Some(endpoint) = endpoint {
        endpoint.abort();
    }
    served?;
    tracing::info!("shutting down: finishing running epochs");
    db.stop_all().await;
    Ok(())
}
