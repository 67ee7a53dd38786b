//! The listener: accepts connections and hands each to pgwire with Eddy's
//! handlers; stops accepting and drains the streaming queries on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::database::Database;
use crate::handler::EddyHandlers;

/// Serves until `shutdown` turns true, then stops every streaming query
/// (each finishes its running epoch) and returns.
pub async fn serve(
    listener: TcpListener,
    db: Arc<Database>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let handlers = Arc::new(EddyHandlers { db: db.clone() });
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "eddy is listening for PostgreSQL clients");
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
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
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
