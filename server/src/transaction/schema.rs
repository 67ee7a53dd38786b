//! The session's `public` schema for DataFusion: the committed tables with
//! the transaction's own laid over them.

use std::sync::Arc;

use datafusion::catalog::MemTable;
use datafusion::datasource::TableProvider;
use eddy_catalog::{CatalogObject, ObjectKind};

use super::Workspace;

/// The session's `public` schema: the committed schema (the query
/// module's), with the workspace's tables laid over it, so that queries
/// inside a transaction see its own uncommitted tables and rows.
pub struct PendingSchema {
    pub committed: Arc<dyn datafusion::catalog::SchemaProvider>,
    pub workspace: Workspace,
}

impl std::fmt::Debug for PendingSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingSchema")
    }
}

impl PendingSchema {
    /// `Some(answer)` when the workspace decides; `None` to ask the
    /// committed schema.
    fn pending_table(&self, name: &str) -> Option<Option<Arc<dyn TableProvider>>> {
        let changes = self.workspace.lock();
        match changes.catalog.pending(ObjectKind::Table, name) {
            Some(Some(CatalogObject::Table(_))) | None => {}
            Some(_) => return Some(None),
        }
        let table = changes.tables.get(name)?;
        let provider = MemTable::try_new(table.schema.clone(), vec![table.batches.clone()]).ok()?;
        Some(Some(Arc::new(provider)))
    }
}

#[async_trait::async_trait]
impl datafusion::catalog::SchemaProvider for PendingSchema {
    fn table_names(&self) -> Vec<String> {
        self.workspace
            .list(ObjectKind::Table)
            .unwrap_or_default()
            .iter()
            .map(|o| o.name().to_string())
            .collect()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        match self.pending_table(name) {
            Some(answer) => Ok(answer),
            None => self.committed.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        match self.workspace.lookup(ObjectKind::Table, name) {
            Ok(Some(CatalogObject::Table(_))) => true,
            Ok(_) => false,
            Err(_) => self.committed.table_exist(name),
        }
    }
}
