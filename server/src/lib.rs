//! # eddy-server
//!
//! The `eddy` binary's library: the pgwire front end and everything behind
//! it that is not the engine.
//!
//! ## Layout
//!
//! - [`cli`]: command line, logging, runtime, signals.
//! - [`server`]: the listener loop and graceful shutdown.
//! - [`database`]: shared state — catalog, tables, connectors, running
//!   streaming queries; [`databases`]: the names clients connect with
//!   (`eddy`, and `postgres` / `template1` for the tools that expect them).
//! - [`handler`]: pgwire handlers (startup, simple and extended query);
//!   [`extended`] prepares statements and decodes parameters.
//! - [`guard`]: what every statement runs under — cancel,
//!   `statement_timeout`, panics caught as XX000.
//! - [`session`]: per-connection settings, transaction state, statement
//!   execution; [`ddl`] for Eddy's objects, [`query`] for ad-hoc SQL through
//!   DataFusion, [`settings`] for SET/SHOW/RESET, [`transaction`] for a
//!   session's uncommitted changes, `dml` for UPDATE/DELETE/ALTER TABLE.
//! - [`pg_catalog`]: `pg_catalog` and `information_schema` built from the
//!   live catalog, and the functions clients call; [`pg_compat`] rewrites
//!   PostgreSQL-only syntax (`::regclass`, `OPERATOR(…)`) before planning;
//!   [`advisory`] holds `pg_advisory_lock` and friends;
//!   [`catalog_view`] is what the catalogs read of a session's database.
//! - [`auth`]: SCRAM-SHA-256 login, with [`users`] (CREATE/ALTER/DROP
//!   USER, verifiers in `users.json`); [`tls`]: `--tls-cert/--tls-key`;
//!   [`redact`]: secrets masked wherever definitions are shown or logged.
//! - [`live`]: simple-protocol answers flushed row by row as they come.
//! - [`encode`]: Arrow results → DataRows through `eddy_pgtypes`;
//!   [`error`]: SQLSTATEs.
//! - [`demo`]: the demo pipeline `eddy serve --demo` creates.

pub mod advisory;
pub mod auth;
pub mod catalog_view;
pub mod cli;
pub mod database;
pub mod databases;
pub mod ddl;
pub mod demo;
mod dml;
pub mod encode;
pub mod error;
pub mod extended;
pub mod guard;
pub mod handler;
pub mod live;
mod names;
pub mod outcome;
pub mod pg_catalog;
pub mod pg_compat;
pub mod query;
pub mod redact;
pub mod server;
pub mod session;
pub mod settings;
pub mod side_tables;
mod subquery;
pub mod tls;
pub mod transaction;
pub mod users;

/// The PostgreSQL version Eddy reports to clients.
pub const PG_SERVER_VERSION: &str = "16.6";
pub const PG_SERVER_VERSION_NUM: &str = "160006";

/// `SELECT version()`.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_SERVER_VERSION} (Eddy {}) on {}-{}, a streaming SQL server",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}
