//! # eddy-server
//!
//! The `eddy` binary's library: Eddy's sessions behind the wire front end
//! (`eddy_wire`), and everything else that is not the engine.
//!
//! ## Layout
//!
//! - [`cli`]: command line, logging, runtime, signals.
//! - [`server`]: hands the listener to `eddy_wire::serve` and drains the
//!   streaming queries on shutdown.
//! - [`backend`]: what the front end talks to — [`backend::EddyBackends`]
//!   (who must log in, a session per connection) and
//!   [`backend::EddyBackend`] (a [`session::Session`] behind the
//!   `eddy_wire::Backend` trait); [`prepare`] infers the parameter types
//!   and result columns of prepared statements from the SQL;
//!   [`parameters`] turns bound values into DataFusion scalars.
//! - [`database`]: shared state — catalog, tables, connectors, running
//!   streaming queries; [`databases`]: the names clients connect with
//!   (`eddy`, and `postgres` / `template1` for the tools that expect them).
//! - [`session`]: per-connection settings, transaction state, statement
//!   execution; [`ddl`] for Eddy's objects (`ddl::tables` for CREATE
//!   TABLE and keys, `ddl::show` for SHOW), [`query`] for ad-hoc SQL
//!   through DataFusion, [`settings`] for SET/SHOW/RESET, [`transaction`]
//!   for a session's uncommitted changes (a catalog transaction, table rows
//!   committed through the storage's write sets, role changes) and how
//!   COMMIT applies them, `dml` for UPDATE/DELETE/ALTER TABLE;
//!   [`side_tables`]: late-row and dead-letter tables.
//! - [`pg_catalog`]: `pg_catalog` and `information_schema` built from the
//!   live catalog, and the functions clients call; [`pg_compat`] rewrites
//!   PostgreSQL-only syntax (`::regclass`, `OPERATOR(…)`) before planning;
//!   [`advisory`] holds `pg_advisory_lock` and friends;
//!   [`catalog_view`] is what the catalogs read of a session's database.
//! - [`auth`]: when passwords are required (`--auth`), with [`users`]
//!   (CREATE/ALTER/DROP USER, verifiers in `users.json`);
//!   [`redact`]: secrets masked wherever definitions are shown or logged.
//! - [`outcome`]: what a statement answers; [`error`]: SQLSTATEs.
//! - [`demo`]: the demo pipeline `eddy serve --demo` creates.
//!
//! Startup, TLS, the simple and extended protocols, row encoding, cancel,
//! `statement_timeout` enforcement and panics caught as XX000 are
//! `eddy_wire`'s.

pub mod advisory;
pub mod auth;
pub mod backend;
pub mod catalog_view;
pub mod cli;
pub mod database;
pub mod databases;
pub mod ddl;
pub mod demo;
mod dml;
pub mod error;
mod names;
pub mod outcome;
pub mod parameters;
pub mod pg_catalog;
pub mod pg_compat;
pub mod prepare;
pub mod query;
pub mod redact;
pub mod server;
pub mod session;
pub mod settings;
pub mod side_tables;
mod subquery;
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
