//! `pg_catalog` and `information_schema`, built from the live catalog.
//!
//! Clients learn what a database holds by querying PostgreSQL's system
//! catalogs: psql's `\d`, drivers' type look-ups, SQLAlchemy's reflection,
//! BI tools' schema sync. Eddy answers those queries with DataFusion over
//! in-memory tables built from the catalog when a statement names them,
//! so they are never stale and hold no state between statements.
//!
//! Eddy's relations map onto PostgreSQL's relation kinds:
//!
//! | Eddy | `relkind` | psql shows |
//! |---|---|---|
//! | table | `r` | table |
//! | source | `f` | foreign table (its server is the connector) |
//! | streaming query | `m` | materialized view (its columns are the SELECT's output) |
//! | a table's primary key | `i` | index `<table>_pkey` |
//!
//! OIDs are stable: a relation's OID is a hash of its kind and name (see
//! [`relation_oid`]), so the same object keeps its OID across sessions and
//! restarts; type OIDs are PostgreSQL's. Sinks are not relations and do not
//! appear.
//!
//! # Layout
//!
//! From the bottom up (each imports only those above it):
//!
//! - [`oids`]: PostgreSQL's fixed OIDs and [`relation_oid`]; [`types`]:
//!   PostgreSQL's built-in types, from `eddy_pgtypes`.
//! - [`CatalogSource`] (`source.rs`): all this module reads of the server
//!   — the session's objects (uncommitted ones included), row counts, a
//!   streaming query's output columns, users, database names. The server
//!   implements it; nothing here imports sessions, DDL or transactions.
//! - [`Snapshot`] (`snapshot.rs`): the relations of the catalog at one
//!   moment, in PostgreSQL's terms (columns with type OIDs, indexes,
//!   constraints, comments), and the SQL text shown for them.
//! - [`StatementSnapshot`] (`statement.rs`): one snapshot per statement,
//!   shared by every catalog table and function the statement reads, so a
//!   join of `pg_class` and `pg_attribute` sees one catalog.
//! - [`CatalogContext`] (`context.rs`): what a session's catalog tables
//!   and functions are built from — its source, its settings
//!   ([`crate::settings`]), its statement snapshot.
//! - `rows.rs`: the builder of in-memory tables; `tables/`: the
//!   `pg_catalog` relations, one file per relation or family (`class.rs`,
//!   `attribute.rs`, `constraint.rs`, …; `empty.rs` declares those Eddy has
//!   no rows for); `information_schema.rs`: the SQL-standard views.
//! - [`functions`]: the functions clients call while introspecting
//!   (`format_type`, `pg_get_indexdef`, `::regclass` once
//!   [`crate::dialect`] has rewritten it, …), registered through
//!   [`crate::udf`].
//! - [`PgCatalogSchema`] and [`InformationSchema`] (`schemas.rs`): the
//!   schema providers a session registers.
//!
//! This file only declares the modules and re-exports what the server
//! uses.

pub mod functions;
pub mod oids;
pub mod types;

mod context;
mod information_schema;
mod rows;
mod schemas;
mod snapshot;
mod source;
mod statement;
mod tables;
#[cfg(test)]
mod testing;

pub use context::CatalogContext;
pub use oids::relation_oid;
pub use schemas::{InformationSchema, PgCatalogSchema, is_catalog_table};
pub use snapshot::{Snapshot, foreign_key_sql, relkind};
pub use source::{CatalogSource, DatabaseEntry, RoleEntry};
pub use statement::{StatementScope, StatementSnapshot};
