//! The front end on its own: a real listener on a free port, the fake
//! backend of [`fake`] behind it, and real clients — tokio-postgres, and
//! [`raw`] where the exact bytes matter.

mod fake;
mod protocol;
mod raw;
mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;

use eddy_wire::{ServerConfig, serve};
use tokio::sync::watch;

use fake::{FakeFactory, Shared};

/// A running server; it stops when this is dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    _shutdown: watch::Sender<bool>,
}

impl TestServer {
    pub async fn start(shared: Shared) -> TestServer {
        TestServer::with_config(shared, ServerConfig::default()).await
    }

    pub async fn with_config(shared: Shared, config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(shared);
        let (tx, rx) = watch::channel(false);
        let factory = Arc::new(FakeFactory(shared.clone()));
        tokio::spawn(async move { serve(listener, factory, config, rx).await.unwrap() });
        TestServer {
            addr,
            shared,
            _shutdown: tx,
        }
    }

    /// `host=… port=… user=ada`, and `extra`.
    pub fn conninfo(&self, extra: &str) -> String {
        format!(
            "host={} port={} user=ada {extra}",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// A tokio-postgres client, its connection driven on a task.
    pub async fn client(
        &self,
        extra: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.conninfo(extra), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }
}
