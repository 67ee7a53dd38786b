//! The listener: accepts connections up to the limit and serves each on a
//! task of its own (TLS when configured) until shutdown is signalled.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::BackendFactory;
use crate::handlers::Handlers;
use crate::tls::TlsConfig;

/// How connections are accepted.
#[derive(Clone)]
pub struct ServerConfig {
    /// `Some`: SSLRequest is answered `S` and the connection upgraded.
    pub tls: Option<TlsConfig>,
    /// Sessions beyond this get FATAL 53300.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tls: None,
            max_connections: 100,
        }
    }
}

/// Serves `listener` until `shutdown` turns true, then returns: no new
/// connection is accepted, and open ones end with their tasks (the
/// caller stops whatever they wait on).
pub async fn serve<F: BackendFactory>(
    listener: TcpListener,
    factory: Arc<F>,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let handlers = Arc::new(Handlers::new(factory, config.max_connections));
    let tls = config.tls.map(|t| t.acceptor);
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
                let tls = tls.clone();
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    Ok(())
}
