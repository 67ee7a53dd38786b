//! A session's view of the database as the system catalogs read it: the
//! server's implementation of [`CatalogSource`].
//!
//! Objects and row counts come from the session's [`Workspace`] (so a
//! transaction block sees its own uncommitted tables); a streaming query's
//! columns are its SELECT planned against the committed relations, as
//! `CREATE STREAMING QUERY` planned it; users from `users.json` with the transaction's role changes; database
//! names from [`crate::databases`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::CatalogObject;
use eddy_pgcompat::PgResult;
use eddy_pgcompat::pg_catalog::{CatalogSource, DatabaseEntry, RoleEntry};

use crate::database::{Database, parse_query};
use crate::transaction::Workspace;

/// The catalog source of one session.
pub struct SessionCatalog {
    db: Arc<Database>,
    /// The session's own workspace (shared with its `Session`).
    workspace: Workspace,
}

impl SessionCatalog {
    pub fn new(db: Arc<Database>, workspace: Workspace) -> SessionCatalog {
        SessionCatalog { db, workspace }
    }
}

#[async_trait]
impl CatalogSource for SessionCatalog {
    fn objects(&self) -> PgResult<Vec<CatalogObject>> {
        self.workspace
            .list_all()
            .map_err(|e| eddy_pgcompat::PgError::new(e.sqlstate, e.message))
    }

    fn table_rows(&self, name: &str) -> Option<i64> {
        let (_, batches) = self.workspace.table_rows(name).ok()?;
        Some(batches.iter().map(|b| b.num_rows() as i64).sum())
    }

    async fn streaming_query_schema(&self, query: &str) -> Option<SchemaRef> {
        let query = parse_query(query).ok()?;
        let planned = eddy_sql::streaming::plan_streaming_query(&query, &|name| {
            self.db.relation_schema(name)
        })
        .await
        .ok()?;
        Some(planned.plan.schema().inner().clone())
    }

    fn system_relations(&self) -> Vec<(String, SchemaRef)> {
        crate::progress::NAMES
            .iter()
            .filter_map(|name| Some((name.to_string(), crate::progress::schema(name)?)))
            .collect()
    }

    fn roles(&self) -> Vec<RoleEntry> {
        self.workspace
            .users()
            .map(|users| users.list())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, can_login, _)| RoleEntry { name, can_login })
            .collect()
    }

    fn databases(&self) -> &[DatabaseEntry] {
        &crate::databases::DATABASES
    }
}
