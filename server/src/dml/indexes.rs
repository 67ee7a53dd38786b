//! `COMMENT ON`, `CREATE [UNIQUE] INDEX` and `DROP INDEX`: recorded in the
//! table's definition (unique indexes are enforced on every write).

use datafusion::sql::sqlparser::ast::{CommentObject, CreateIndex, ObjectName};
use eddy_catalog::{CatalogObject, IndexDef, ObjectKind, TableDef};

use crate::ddl;
use crate::error::{UserError, UserResult};
use crate::names;
use crate::transaction::Workspace;

use super::table_def;
use crate::transaction::check_unique;

/// `COMMENT ON TABLE t IS '…'` and `COMMENT ON COLUMN t.c IS '…'` (`NULL`
/// or `''` removes the comment), kept with the table's definition.
pub fn comment_on(
    ws: &Workspace,
    object_type: &CommentObject,
    name: &ObjectName,
    comment: Option<&str>,
) -> UserResult<()> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(names::ident)
        .collect();
    let (table, column) = match (object_type, parts.as_slice()) {
        (CommentObject::Table, _) => (names::object_name(name)?, None),
        (CommentObject::Column, [t, c]) | (CommentObject::Column, [_, t, c]) => {
            (t.clone(), Some(c.clone()))
        }
        (CommentObject::Column, _) => {
            return Err(UserError::new(
                "42601",
                format!("column name must be qualified: {name}"),
            ));
        }
        (other, _) => {
            return Err(UserError::unsupported(format!(
                "COMMENT ON {other} is not supported: Eddy keeps comments on tables and their columns"
            )));
        }
    };
    let mut def = table_def(ws, &table)?;
    let key = match column {
        Some(c) if def.columns.iter().any(|d| d.name == c) => c,
        Some(c) => {
            return Err(UserError::new(
                "42703",
                format!("column \"{c}\" of relation \"{table}\" does not exist"),
            ));
        }
        None => String::new(),
    };
    match comment.filter(|c| !c.is_empty()) {
        Some(text) => def.comments.insert(key, text.to_string()),
        None => def.comments.remove(&key),
    };
    ws.put(CatalogObject::Table(def))?;
    Ok(())
}

/// Records an index; a unique one is enforced from now on. Returns a
/// notice when `IF NOT EXISTS` skipped it.
pub fn create_index(ws: &Workspace, create: &CreateIndex) -> UserResult<Option<String>> {
    let table = names::object_name(&create.table_name)?;
    let mut def = table_def(ws, &table)?;
    let columns = ddl::key_columns(&create.columns);
    for c in &columns {
        if !def.columns.iter().any(|d| &d.name == c) {
            return Err(UserError::new(
                "42703",
                format!("column \"{c}\" does not exist"),
            ));
        }
    }
    let name = match &create.name {
        Some(n) => names::object_name(n)?,
        None => format!("{table}_{}_idx", columns.join("_")),
    };
    if find_index(ws, &name)?.is_some() || ws.lookup(ObjectKind::Table, &name)?.is_some() {
        if create.if_not_exists {
            return Ok(Some(format!(
                "relation \"{name}\" already exists, skipping"
            )));
        }
        return Err(UserError::new(
            "42P07",
            format!("relation \"{name}\" already exists"),
        ));
    }
    def.indexes.push(IndexDef {
        name,
        columns,
        unique: create.unique,
        constraint: false,
    });
    if create.unique {
        let (_, rows) = ws.table_rows(&table)?;
        check_unique(&def, &[], &rows)?;
    }
    ws.put(CatalogObject::Table(def))?;
    Ok(None)
}

/// The table holding an index of that name.
fn find_index(ws: &Workspace, name: &str) -> UserResult<Option<TableDef>> {
    Ok(ws
        .list(ObjectKind::Table)?
        .into_iter()
        .find_map(|o| match o {
            CatalogObject::Table(t) if t.indexes.iter().any(|i| i.name == name) => Some(t),
            _ => None,
        }))
}

pub fn drop_indexes(
    ws: &Workspace,
    names: &[ObjectName],
    if_exists: bool,
) -> UserResult<Vec<String>> {
    let mut notices = Vec::new();
    for n in names {
        let name = names::object_name(n)?;
        match find_index(ws, &name)? {
            Some(mut def) => {
                def.indexes.retain(|i| i.name != name);
                ws.put(CatalogObject::Table(def))?;
            }
            None if if_exists => notices.push(format!("index \"{name}\" does not exist, skipping")),
            None => {
                return Err(UserError::new(
                    "42704",
                    format!("index \"{name}\" does not exist"),
                ));
            }
        }
    }
    Ok(notices)
}
