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
//! - `tables/`: the `pg_catalog` relations, one file per relation or
//!   family (`class.rs`, `attribute.rs`, `constraint.rs`, …; `empty.rs`
//!   declares those Eddy has no rows for); `information_schema.rs`: the
//!   SQL-standard views; `rows.rs`: the builder of in-memory tables they
//!   share.
//! - [`functions`]: the functions clients call while introspecting
//!   (`format_type`, `pg_get_indexdef`, `::regclass` behind
//!   [`crate::pg_compat`], …); [`types`]: PostgreSQL's built-in types.
//! - Here: [`CatalogContext`] (what a session's catalog tables are built
//!   from), the two schema providers, [`oids`] and [`relation_oid`].
//!
//! What it may use besides DataFusion, `eddy_catalog` and `eddy_sql`:
//! [`crate::settings`], [`crate::pg_compat`], [`crate::advisory`] and
//! [`crate::error`], which belong to the same PostgreSQL emulation.

pub mod functions;
mod information_schema;
mod rows;
mod snapshot;
mod source;
mod statement;
mod tables;
pub mod types;

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use eddy_catalog::{CatalogObject, ObjectKind};

use crate::settings::Settings;

pub use snapshot::{Snapshot, foreign_key_sql};
pub use source::{CatalogSource, DatabaseEntry, RoleEntry};
pub use statement::{StatementScope, StatementSnapshot};

/// OIDs PostgreSQL gives its fixed objects.
pub mod oids {
    pub const BOOTSTRAP_SUPERUSER: i64 = 10;
    pub const PG_CATALOG: i64 = 11;
    pub const PUBLIC: i64 = 2200;
    pub const INFORMATION_SCHEMA: i64 = 13_183;
    pub const HEAP_AM: i64 = 2;
    pub const BTREE_AM: i64 = 403;
    pub const PG_DEFAULT_TABLESPACE: i64 = 1663;
    pub const DEFAULT_COLLATION: i64 = 100;
    /// `pg_class`'s own OID (the `classoid` of a relation's comment).
    pub const PG_CLASS: i64 = 1259;
    /// `pg_class` rows of the system catalogs themselves, for
    /// `'pg_class'::regclass` and `classoid` columns.
    pub const SYSTEM_RELATIONS: &[(&str, i64)] = &[
        ("pg_type", 1247),
        ("pg_attribute", 1249),
        ("pg_proc", 1255),
        ("pg_class", 1259),
        ("pg_database", 1262),
        ("pg_namespace", 2615),
        ("pg_constraint", 2606),
        ("pg_description", 2609),
        ("pg_index", 2610),
        ("pg_attrdef", 2604),
        ("pg_am", 2601),
        ("pg_authid", 1260),
        ("pg_roles", 12_001),
        ("pg_settings", 12_002),
    ];
}

/// The OID of an Eddy relation: FNV-1a of `kind:name`, folded into
/// PostgreSQL's range for user objects (≥ 16384, below 2³¹), so that it is
/// the same in every session and after a restart.
pub fn relation_oid(kind: &str, name: &str) -> i64 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in kind.bytes().chain([b':']).chain(name.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    16_385 + i64::from(hash % (0x7fff_ffff - 16_385))
}

/// What the catalog tables and functions of a session are built from.
#[derive(Clone)]
pub struct CatalogContext {
    /// The session's view of the database: inside a transaction block,
    /// its uncommitted objects are listed too (Alembic looks for its table
    /// in `pg_class` within its block).
    pub source: Arc<dyn CatalogSource>,
    pub settings: Arc<RwLock<Settings>>,
    /// The name the client connected with (`current_database()`).
    pub database_name: String,
    /// The snapshot of the statement running, which every catalog table
    /// and function of the statement reads; the session begins and ends
    /// its statements on it.
    pub statement: Arc<StatementSnapshot>,
}

impl CatalogContext {
    /// The user this session runs as (the owner of everything it sees).
    pub fn user(&self) -> String {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get("session_authorization")
            .unwrap_or_else(|_| "eddy".into())
    }

    /// The catalog as the running statement sees it (see
    /// [`StatementSnapshot`]).
    pub async fn snapshot(&self) -> Arc<Snapshot> {
        self.statement.get_or_build(self.source.as_ref()).await
    }
}

/// The `pg_catalog` schema. Its tables are also found without the schema
/// prefix (the server's default schema falls through to them), as
/// `search_path` makes them in PostgreSQL.
pub struct PgCatalogSchema {
    pub ctx: CatalogContext,
}

impl std::fmt::Debug for PgCatalogSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgCatalogSchema")
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogSchema {
    fn table_names(&self) -> Vec<String> {
        tables::NAMES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(tables::build(&self.ctx, name)
            .await?
            .map(|t| Arc::new(t) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        tables::NAMES.contains(&name)
    }
}

/// The `information_schema` schema.
pub struct InformationSchema {
    pub ctx: CatalogContext,
}

impl std::fmt::Debug for InformationSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InformationSchema")
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        information_schema::NAMES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(information_schema::build(&self.ctx, name)
            .await?
            .map(|t: MemTable| Arc::new(t) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        information_schema::NAMES.contains(&name)
    }
}

/// Whether a bare name is a `pg_catalog` table (found through the
/// search path when no Eddy relation has that name).
pub fn is_catalog_table(name: &str) -> bool {
    tables::NAMES.contains(&name)
}

/// The relation kinds of Eddy objects, in `relkind` letters.
pub fn relkind(kind: ObjectKind) -> Option<&'static str> {
    match kind {
        ObjectKind::Table => Some("r"),
        ObjectKind::Source => Some("f"),
        ObjectKind::StreamingQuery => Some("m"),
        ObjectKind::Sink => None,
    }
}

pub(crate) fn kind_key(obj: &CatalogObject) -> &'static str {
    match obj.kind() {
        ObjectKind::Table => "table",
        ObjectKind::Source => "source",
        ObjectKind::StreamingQuery => "streaming_query",
        ObjectKind::Sink => "sink",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_oids_are_stable_and_in_the_user_range() {
        let a = relation_oid("table", "orders");
        assert_eq!(a, relation_oid("table", "orders"));
        assert_ne!(a, relation_oid("source", "orders"));
        assert!((16_384..i64::from(i32::MAX)).contains(&a));
    }
}
