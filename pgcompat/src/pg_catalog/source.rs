//! [`CatalogSource`]: what the system catalogs need of the server that
//! embeds them.
//!
//! The catalog tables describe a session's view of the database, which
//! only the server knows: its committed objects with the session's
//! uncommitted changes applied, the rows its tables hold, how a streaming
//! query's SELECT plans, who the users are. The server hands one
//! [`CatalogSource`] to each session's [`CatalogContext`]; this module
//! depends on nothing of the server beyond it, so that it sits below
//! sessions, DDL and transactions rather than beside them.
//!
//! The source is read only through [`Snapshot::build`] (relations) and the
//! few tables that list roles and databases; within one statement the
//! relations are read once (see [`StatementSnapshot`]).
//!
//! [`CatalogContext`]: super::CatalogContext
//! [`Snapshot::build`]: super::Snapshot::build
//! [`StatementSnapshot`]: super::StatementSnapshot

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::CatalogObject;

use crate::error::PgResult;

/// The server's side of `pg_catalog` and `information_schema`, for one
/// session.
#[async_trait]
pub trait CatalogSource: Send + Sync {
    /// Every object of the session's view: the committed catalog with the
    /// session's uncommitted changes applied (inside a transaction block
    /// the block's own tables are listed, its drops are not).
    fn objects(&self) -> PgResult<Vec<CatalogObject>>;

    /// The rows table `name` holds in the session's view; `None` when it
    /// cannot be told.
    fn table_rows(&self, name: &str) -> Option<i64>;

    /// The output columns of a streaming query's SELECT (its text as
    /// stored), planned as `CREATE STREAMING QUERY` planned it; `None`
    /// when it no longer plans.
    async fn streaming_query_schema(&self, query: &str) -> Option<SchemaRef>;

    /// The users created with `CREATE USER`, in any order. The session's
    /// own user is added by `pg_roles` whether listed here or not.
    fn roles(&self) -> Vec<RoleEntry>;

    /// The names a client may connect with, as `pg_database` lists them.
    fn databases(&self) -> &[DatabaseEntry];

    /// The relations of the `eddy_catalog` schema, with their columns.
    fn system_relations(&self) -> Vec<(String, SchemaRef)> {
        Vec::new()
    }
}

/// A user as `pg_roles` and `pg_user` show it; its password is never
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleEntry {
    pub name: String,
    pub can_login: bool,
}

/// One row of `pg_database`.
#[derive(Debug)]
pub struct DatabaseEntry {
    pub name: &'static str,
    pub oid: i64,
    pub is_template: bool,
}
