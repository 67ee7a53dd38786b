//! A fake [`CatalogSource`] and a context over it, for the unit tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::{CatalogObject, ColumnDef, SqlType, TableDef};

use super::context::CatalogContext;
use super::source::{CatalogSource, DatabaseEntry, RoleEntry};
use super::statement::StatementSnapshot;
use crate::error::PgResult;

/// A session's catalog context over `source`.
pub fn context(
    source: Arc<dyn CatalogSource>,
    statement: Arc<StatementSnapshot>,
) -> CatalogContext {
    CatalogContext {
        source,
        settings: Arc::new(RwLock::new(Default::default())),
        database_name: "eddy".into(),
        statement,
    }
}

/// A catalog that gains a table each time it is read: read `n` lists
/// `t1` … `tn`, each with one column.
#[derive(Default)]
pub struct GrowingCatalog {
    reads: AtomicUsize,
}

#[async_trait]
impl CatalogSource for GrowingCatalog {
    fn objects(&self) -> PgResult<Vec<CatalogObject>> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        Ok((1..=n)
            .map(|i| {
                CatalogObject::Table(TableDef {
                    name: format!("t{i}"),
                    columns: vec![ColumnDef {
                        name: "id".into(),
                        data_type: SqlType::BigInt,
                        nullable: false,
                        default: None,
                    }],
                    primary_key: vec![],
                    primary_key_name: None,
                    indexes: vec![],
                    foreign_keys: vec![],
                    comments: Default::default(),
                    sql: String::new(),
                })
            })
            .collect())
    }

    fn table_rows(&self, _name: &str) -> Option<i64> {
        Some(0)
    }

    async fn streaming_query_schema(&self, _query: &str) -> Option<SchemaRef> {
        None
    }

    fn roles(&self) -> Vec<RoleEntry> {
        vec![]
    }

    fn databases(&self) -> &[DatabaseEntry] {
        &[]
    }
}
