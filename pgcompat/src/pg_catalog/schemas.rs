//! The two schemas a session's DataFusion context registers:
//! [`PgCatalogSchema`] and [`InformationSchema`], each building the table a
//! statement names when it names it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;

use super::context::CatalogContext;
use super::{information_schema, tables};

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
