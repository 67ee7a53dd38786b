//! How streaming queries are doing, readable from SQL: the `eddy_catalog`
//! schema's relations (`relations.rs`) and `SHOW STREAMING QUERY name`.
//!
//! The figures come from each running query's
//! [`QueryProgress`](eddy_engine::job::QueryProgress), copied when a
//! statement reads them; a query of the catalog that is not running (it
//! failed to start, or the server is starting) shows with its last known
//! status.

mod relations;

pub use relations::{NAMES, QueryEntry, SCHEMA, schema};

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use eddy_catalog::{CatalogObject, ObjectKind};

use crate::database::Database;
use crate::error::{UserError, UserResult};
use crate::transaction::Workspace;

/// Every streaming query of the catalog with its progress, by name.
pub fn queries(db: &Database) -> Vec<QueryEntry> {
    db.catalog
        .list(ObjectKind::StreamingQuery)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| match o {
            CatalogObject::StreamingQuery(def) => Some(QueryEntry {
                progress: db.progress(&def.name).unwrap_or_default(),
                name: def.name,
                sink: def.sink,
            }),
            _ => None,
        })
        .collect()
}

/// The `eddy_catalog` schema: its relations are built from the live
/// progress each time a statement names them.
pub struct EddyCatalogSchema {
    pub db: Arc<Database>,
}

impl std::fmt::Debug for EddyCatalogSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EddyCatalogSchema")
    }
}

#[async_trait]
impl SchemaProvider for EddyCatalogSchema {
    fn table_names(&self) -> Vec<String> {
        NAMES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(batch) = relations::rows(name, &queries(&self.db))? else {
            return Ok(None);
        };
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        NAMES.contains(&name)
    }
}

/// `SHOW STREAMING QUERY name`: (field, value) rows. A query this
/// transaction created shows as starting.
pub fn show_streaming_query(ws: &Workspace, name: &str) -> UserResult<RecordBatch> {
    let def = ws
        .list(ObjectKind::StreamingQuery)?
        .into_iter()
        .find_map(|o| match o {
            CatalogObject::StreamingQuery(def) if def.name == name => Some(def),
            _ => None,
        });
    let Some(def) = def else {
        return Err(UserError::new(
            "42704",
            format!("streaming query \"{name}\" does not exist"),
        ));
    };
    let query = QueryEntry {
        progress: ws.db().progress(&def.name).unwrap_or_default(),
        name: def.name,
        sink: def.sink,
    };
    let (fields, values): (Vec<_>, Vec<_>) = relations::fields_of(&query)?
        .into_iter()
        .map(|(f, v)| (Some(f), v))
        .unzip();
    let schema = Schema::new(vec![
        Field::new("field", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(fields)) as ArrayRef,
            Arc::new(StringArray::from(values)),
        ],
    )?)
}
