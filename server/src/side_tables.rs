//! Side tables: the tables Eddy makes for its own objects — a streaming
//! query's late rows (`late_rows = 'table'`), a source's dead letters —
//! with columns taken from an Arrow schema.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::{Catalog, CatalogObject, ColumnDef, TableDef};
use eddy_engine::table::TableStore;
use eddy_sql::types::{arrow_schema, sql_type_from_arrow};

use crate::error::{UserError, UserResult};

/// The definition of a side table with `schema`'s columns.
pub fn side_table_def(name: &str, schema: &SchemaRef) -> UserResult<TableDef> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let data_type = sql_type_from_arrow(f.data_type()).ok_or_else(|| {
                UserError::internal(format!("no SQL type for side table column {}", f.name()))
            })?;
            Ok(ColumnDef {
                name: f.name().clone(),
                data_type,
                nullable: f.is_nullable(),
                default: None,
            })
        })
        .collect::<UserResult<Vec<_>>>()?;
    let sql = format!(
        "CREATE TABLE {name} ({})",
        columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.data_type))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(TableDef {
        name: name.to_string(),
        columns,
        primary_key: Vec::new(),
        primary_key_name: None,
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        comments: Default::default(),
        sql,
    })
}

/// Creates, if missing, the late-row table of a query stored before such
/// tables were created with their query (at server start, outside any
/// session's transaction).
pub fn create_missing(
    catalog: &Arc<Catalog>,
    tables: &TableStore,
    name: &str,
    schema: &SchemaRef,
) -> UserResult<()> {
    let mut tx = catalog.begin();
    let def = side_table_def(name, schema)?;
    let schema = arrow_schema(&def.columns);
    let constraints = eddy_engine::table::TableConstraints::from_table_def(&def)
        .map_err(eddy_engine::EngineError::from)?;
    if tx.create(CatalogObject::Table(def), true)? {
        tables
            .create_or_load_with(name, schema, constraints)
            .map_err(eddy_engine::EngineError::from)?;
        catalog.commit(&tx)?;
    }
    Ok(())
}
