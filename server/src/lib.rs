//! # eddy-server
//!
//! The `eddy` binary's library: Eddy's sessions behind the wire front end
//! (`eddy_wire`), statement dispatch and the job supervisor — everything
//! that is neither the engine, the wire protocol nor the PostgreSQL
//! emulation (`eddy_pgcompat`).
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
//!   through DataFusion (the session's DataFusion context, with
//!   `eddy_pgcompat`'s catalog schemas, functions and advisory locks
//!   registered), `session::set` for SET/SHOW/RESET over
//!   `eddy_pgcompat::settings`, [`transaction`]
//!   for a session's uncommitted changes (a catalog transaction, table rows
//!   committed through the storage's write sets, role changes) and how
//!   COMMIT applies them, `dml` for UPDATE/DELETE/ALTER TABLE;
//!   [`side_tables`]: late-row and dead-letter tables; [`progress`]: the
//!   `eddy_catalog` relations (every query's progress as rows) and `SHOW
//!   STREAMING QUERY name`.
//! - [`catalog_view`]: the server's `eddy_pgcompat::pg_catalog::CatalogSource`
//!   — what `pg_catalog` and `information_schema` read of a session's
//!   database (its workspace, row counts, users, database names).
//! - [`auth`]: when passwords are required (`--auth`), with [`users`]
//!   (CREATE/ALTER/DROP USER, verifiers in `users.json`);
//!   [`redact`]: secrets masked wherever definitions are shown or logged.
//! - [`outcome`]: what a statement answers; [`error`]: SQLSTATEs.
//! - [`metrics`]: `/metrics` for Prometheus — the streaming queries'
//!   progress read at scrape time, connections, statements and errors.
//! - [`demo`]: the demo pipeline `eddy serve --demo` creates.
//!
//! Startup, TLS, the simple and extended protocols, row encoding, cancel,
//! `statement_timeout` enforcement and panics caught as XX000 are
//! `eddy_wire`'s. The system catalogs, the functions clients call while
//! introspecting, the rewrites of PostgreSQL-only syntax before planning
//! (`::regclass`, `OPERATOR(…)`), advisory locks and the session settings
//! are `eddy_pgcompat`'s; its `PgError`s become [`error::UserError`]s
//! with their SQLSTATE.
//!
//! Two modules of `eddy_pgcompat` are re-exported under their old paths
//! until the code using them moves to the new ones: [`settings`] (the
//! benchmark builds its sessions with `eddy_server::settings::Settings`)
//! and, crate-private, `pg_catalog` (`dml`'s ALTER TABLE shows a foreign
//! key as `pg_get_constraintdef` does, through
//! `crate::pg_catalog::foreign_key_sql`).

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
pub mod metrics;
mod names;
pub mod outcome;
pub mod parameters;
pub mod prepare;
pub mod progress;
pub mod query;
pub mod redact;
pub mod server;
pub mod session;
pub mod side_tables;
mod subquery;
pub mod transaction;
pub mod users;

pub(crate) use eddy_pgcompat::pg_catalog;
pub use eddy_pgcompat::settings;

/// `SELECT version()`.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {} (Eddy {}) on {}-{}, a streaming SQL server",
        eddy_pgcompat::PG_SERVER_VERSION,
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}
