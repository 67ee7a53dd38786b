//! # eddy-tests: the end-to-end test harness
//!
//! End-to-end tests drive Eddy the way a user does: SQL text over the
//! PostgreSQL wire protocol, with a real client, against the real server
//! process, with results checked in a real PostgreSQL. The tests themselves
//! live in one test binary, `tests/e2e/` (one binary links once); this
//! library is the harness they share.
//!
//! ## Layout
//!
//! - [`postgres`]: [`TestPostgres`], a private PostgreSQL cluster per test
//!   (`initdb` + `pg_ctl` on a free port in a temporary directory).
//! - [`eddy`]: [`EddyServer`], the Eddy server as a child process on a free
//!   port, with its log kept for failure messages.
//! - [`wire`]: [`WireClient`], a raw protocol client for what drivers hide
//!   (ParameterStatus, transaction status bytes, exact message sequences).
//! - [`client`]: tokio-postgres helpers, every call bounded in time.
//! - [`wait`]: [`wait_until`], bounded polling for streaming results.
//!
//! Nothing here sleeps for a fixed time or waits without a bound: a test that
//! cannot succeed fails with what it saw and the tail of the server log.

pub mod client;
pub mod eddy;
pub mod kafka;
pub mod postgres;
pub mod wait;
pub mod wire;

use std::net::TcpListener;
use std::path::Path;

pub use client::{execute, expect_db_error, query_i64, query_rows, query_scalar, query_values};
pub use eddy::EddyServer;
pub use postgres::TestPostgres;
pub use wait::{DEFAULT_WAIT, Progress, wait_until};
pub use wire::{BackendMessage, WireClient};

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The last `lines` lines of a log file, or a note saying why there are none.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PostgreSQL half of the harness works on its own: a cluster starts,
    /// answers, keeps its data over a restart, and is stopped on drop.
    #[tokio::test]
    async fn private_postgres_starts_answers_and_restarts() -> anyhow::Result<()> {
        let mut pg = TestPostgres::start().await?;
        let client = pg.client().await?;
        assert_eq!(query_scalar(&client, "SELECT 1").await?, "1");
        execute(
            &client,
            "CREATE TABLE kept (v INT); INSERT INTO kept VALUES (7)",
        )
        .await?;
        drop(client);

        pg.restart().await?;
        let client = pg.client().await?;
        assert_eq!(query_scalar(&client, "SELECT v FROM kept").await?, "7");
        assert!(pg.url().ends_with(&format!(":{}/postgres", pg.port())));
        assert!(pg.jdbc_url().starts_with("jdbc:postgresql://127.0.0.1:"));
        Ok(())
    }
}
