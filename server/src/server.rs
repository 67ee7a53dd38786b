//! The listener: accepts connections and hands each to pgwire with Eddy's
//! handlers (TLS when configured); stops accepting and drains the streaming
//! queries on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{AuthMode, Security};
use crate::database::Database;
use crate::handler::EddyHandlers;

/// How connections are accepted.
pub struct ServerConfig {
    /// `Some`: SSLRequest is answered `S` and the connection upgraded.
    pub tls: Option<TlsAcceptor>,
    pub auth: AuthMode,
    /// Sessions beyond this get FATAL 53300.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tls: None,
            auth: AuthMode::Auto,
            max_connections: 100,
        }
    }
}

/// Serves until `shutdown` turns true, then stops every streaming query
/// (each finishes its running epoch) and returns.
pub async fn serve(
    listener: TcpListener,
    db: Arc<Database>,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let security = Arc::new(Security::new(
        db.clone(),
        config.auth,
        !addr.ip().is_loopback(),
        config.max_connections,
    ));
    let handlers = Arc::new(EddyHandlers::new(db.clone(), security));
    tracing::info!(
        %addr,
        tls = config.tls.is_some(),
        auth = ?config.auth,
        max_connections = config.max_connections,
        "eddy is listening for PostgreSQL clients"
    );
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                let handlers = handlers.clone();
                let tls = config.tls.clone();
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("shutting down: finishing running epochs");
    db.stop_all().await;
    Ok(())
}
