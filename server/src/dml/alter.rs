//! `ALTER TABLE`: renames, columns added, dropped, renamed or retyped,
//! constraints added or dropped; the table's rows rewritten to match and
//! checked against its new constraints.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::{cast, cast_with_options};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, RenameTableNameKind, TableConstraint,
};
use eddy_catalog::{CatalogObject, IndexDef, ObjectKind, TableDef};
use eddy_sql::types::arrow_schema;

use crate::ddl;
use crate::error::{UserError, UserResult};
use crate::names;
use crate::outcome::Outcome;
use crate::transaction::{Workspace, check_unique, not_a_table};
use eddy_sql::identifiers::quoted as quote;

use super::{STRICT_CAST, canonical_text, columns_of, select, serial_values, table_batch};

/// The CREATE TABLE text of a definition changed by ALTER TABLE.
fn create_table_sql(def: &TableDef) -> String {
    let mut parts: Vec<String> = def
        .columns
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", quote(&c.name), c.data_type);
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            if let Some(d) = &c.default {
                s.push_str(&format!(" DEFAULT {d}"));
            }
            s
        })
        .collect();
    let list = |cols: &[String]| cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    if !def.primary_key.is_empty() {
        let name = def
            .primary_key_name
            .as_ref()
            .map(|n| format!("CONSTRAINT {} ", quote(n)))
            .unwrap_or_default();
        parts.push(format!("{name}PRIMARY KEY ({})", list(&def.primary_key)));
    }
    for index in def.indexes.iter().filter(|i| i.unique && i.constraint) {
        parts.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            quote(&index.name),
            list(&index.columns)
        ));
    }
    for fk in &def.foreign_keys {
        parts.push(format!(
            "CONSTRAINT {} {}",
            quote(&fk.name),
            crate::pg_catalog::foreign_key_sql(fk)
        ));
    }
    format!("CREATE TABLE {} ({})", quote(&def.name), parts.join(", "))
}

/// A table being altered: its definition and its rows as columns.
struct Altered {
    def: TableDef,
    columns: Vec<ArrayRef>,
    rows: usize,
}

pub async fn alter_table(
    ctx: &SessionContext,
    ws: &Workspace,
    alter: &AlterTable,
) -> UserResult<Outcome> {
    let name = names::object_name(&alter.name)?;
    let def = match ws.lookup(ObjectKind::Table, &name)? {
        Some(CatalogObject::Table(t)) => t,
        None if alter.if_exists => return Ok(Outcome::Command("ALTER TABLE".into(), None)),
        other => return Err(not_a_table(&name, other.as_ref())),
    };
    ws.pin_rows(&name);
    let (schema, batches) = ws.table_rows(&name)?;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let original_columns = def.columns.clone();
    let mut t = Altered {
        def,
        columns: columns_of(&schema, &batches)?,
        rows,
    };
    let mut new_name = None;
    for op in &alter.operations {
        match op {
            AlterTableOperation::RenameTable { table_name } => {
                let (RenameTableNameKind::To(n) | RenameTableNameKind::As(n)) = table_name;
                new_name = Some(names::object_name(n)?);
            }
            other => alter_one(ctx, ws, &mut t, other).await?,
        }
    }
    let writers = writing_sinks(ws, &t.def.name)?;
    if t.def.columns != original_columns && !writers.is_empty() {
        // A running query's sink holds the table's storage as it is.
        return Err(UserError::new(
            "2BP01",
            format!(
                "cannot change the columns of table \"{}\" because other objects depend on it: {}",
                t.def.name,
                writers.join(", ")
            ),
        ));
    }
    let schema = arrow_schema(&t.def.columns);
    let rows = table_batch(&t.def, &schema, t.columns)?;
    check_unique(&t.def, &[], &rows)?;
    let mut def = t.def;
    if let Some(new_name) = new_name {
        rename_table(ws, &mut def, &new_name)?;
    }
    def.sql = create_table_sql(&def);
    let table = def.name.clone();
    ws.put(CatalogObject::Table(def))?;
    ws.replace_rows(&table, schema, rows)?;
    Ok(Outcome::Command("ALTER TABLE".into(), None))
}

/// The sinks that write into a table, as `sink "name"`.
fn writing_sinks(ws: &Workspace, table: &str) -> UserResult<Vec<String>> {
    Ok(ws
        .list(ObjectKind::Sink)?
        .iter()
        .filter(|s| {
            s.dependencies()
                .iter()
                .any(|(k, n)| *k == ObjectKind::Table && n == table)
        })
        .map(|s| format!("sink \"{}\"", s.name()))
        .collect())
}

fn rename_table(ws: &Workspace, def: &mut TableDef, new_name: &str) -> UserResult<()> {
    if let Some(existing) = ws.lookup(ObjectKind::Table, new_name)? {
        return Err(UserError::new(
            "42P07",
            format!(
                "relation \"{new_name}\" already exists ({})",
                existing.kind()
            ),
        ));
    }
    let dependents = writing_sinks(ws, &def.name)?;
    if !dependents.is_empty() {
        return Err(UserError::new(
            "2BP01",
            format!(
                "cannot rename table \"{}\" because other objects depend on it: {}",
                def.name,
                dependents.join(", ")
            ),
        ));
    }
    // Foreign keys follow the table they reference, as in PostgreSQL.
    for obj in ws.list(ObjectKind::Table)? {
        if let CatalogObject::Table(mut other) = obj
            && other.name != def.name
            && other.foreign_keys.iter().any(|f| f.references == def.name)
        {
            for f in &mut other.foreign_keys {
                if f.references == def.name {
                    f.references = new_name.to_string();
                }
            }
            other.sql = create_table_sql(&other);
            ws.put(CatalogObject::Table(other))?;
        }
    }
    for f in &mut def.foreign_keys {
        if f.references == def.name {
            f.references = new_name.to_string();
        }
    }
    // The primary key keeps its name, as in PostgreSQL.
    if !def.primary_key.is_empty() && def.primary_key_name.is_none() {
        def.primary_key_name = Some(format!("{}_pkey", def.name));
    }
    ws.remove(ObjectKind::Table, &def.name)?;
    def.name = new_name.to_string();
    Ok(())
}

async fn alter_one(
    ctx: &SessionContext,
    ws: &Workspace,
    t: &mut Altered,
    op: &AlterTableOperation,
) -> UserResult<()> {
    let table = t.def.name.clone();
    let position = |def: &TableDef, column: &str| def.columns.iter().position(|c| c.name == column);
    match op {
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => {
            let (column, primary, unique) = ddl::column_def(&table, column_def)?;
            if position(&t.def, &column.name).is_some() {
                if *if_not_exists {
                    return Ok(());
                }
                return Err(UserError::new(
                    "42701",
                    format!(
                        "column \"{}\" of relation \"{table}\" already exists",
                        column.name
                    ),
                ));
            }
            let data_type = arrow_schema(std::slice::from_ref(&column))
                .field(0)
                .data_type()
                .clone();
            let values = match &column.default {
                Some(d) if ddl::is_nextval(d) => serial_values(&mut 1, &data_type, t.rows)?,
                Some(d) => {
                    let batches = select(ctx, &format!("SELECT {d}"), &[]).await?;
                    let value = batches
                        .first()
                        .filter(|b| b.num_rows() == 1)
                        .map(|b| b.column(0).clone())
                        .ok_or_else(|| UserError::internal(format!("DEFAULT {d} gave no value")))?;
                    let value = canonical_text(column.data_type, cast(&value, &data_type)?)?;
                    ScalarValue::try_from_array(&value, 0)?.to_array_of_size(t.rows)?
                }
                None => datafusion::arrow::array::new_null_array(&data_type, t.rows),
            };
            let name = column.name.clone();
            t.def.columns.push(column);
            t.columns.push(values);
            if primary {
                ddl::add_key(&mut t.def, None, vec![name.clone()], true)?;
            }
            if unique {
                t.def.indexes.push(IndexDef {
                    name: format!("{table}_{name}_key"),
                    columns: vec![name],
                    unique: true,
                    constraint: true,
                });
            }
            for fk in ddl::column_foreign_keys(column_def) {
                ddl::add_constraint(ws, &mut t.def, &TableConstraint::ForeignKey(fk))?;
            }
        }
        AlterTableOperation::DropConstraint {
            if_exists, name, ..
        } => {
            let name = names::ident(name);
            let pkey = (!t.def.primary_key.is_empty()).then(|| {
                t.def
                    .primary_key_name
                    .clone()
                    .unwrap_or_else(|| format!("{table}_pkey"))
            });
            let (indexes, fks) = (t.def.indexes.len(), t.def.foreign_keys.len());
            t.def.indexes.retain(|i| !(i.constraint && i.name == name));
            t.def.foreign_keys.retain(|f| f.name != name);
            if pkey.as_deref() == Some(name.as_str()) {
                t.def.primary_key.clear();
                t.def.primary_key_name = None;
            } else if indexes == t.def.indexes.len()
                && fks == t.def.foreign_keys.len()
                && !*if_exists
            {
                return Err(UserError::new(
                    "42704",
                    format!("constraint \"{name}\" of relation \"{table}\" does not exist"),
                ));
            }
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            ..
        } => {
            for column in column_names {
                let column = names::ident(column);
                let Some(i) = position(&t.def, &column) else {
                    if *if_exists {
                        continue;
                    }
                    return Err(UserError::new(
                        "42703",
                        format!("column \"{column}\" of relation \"{table}\" does not exist"),
                    ));
                };
                t.def.columns.remove(i);
                t.columns.remove(i);
                if t.def.primary_key.contains(&column) {
                    t.def.primary_key.clear();
                    t.def.primary_key_name = None;
                }
                t.def.indexes.retain(|x| !x.columns.contains(&column));
                t.def.foreign_keys.retain(|f| !f.columns.contains(&column));
                t.def.comments.remove(&column);
            }
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let (old, new) = (names::ident(old_column_name), names::ident(new_column_name));
            let Some(i) = position(&t.def, &old) else {
                return Err(UserError::new(
                    "42703",
                    format!("column \"{old}\" does not exist"),
                ));
            };
            if position(&t.def, &new).is_some() {
                return Err(UserError::new(
                    "42701",
                    format!("column \"{new}\" of relation \"{table}\" already exists"),
                ));
            }
            t.def.columns[i].name = new.clone();
            let rename = |cols: &mut Vec<String>| {
                for c in cols.iter_mut().filter(|c| **c == old) {
                    *c = new.clone();
                }
            };
            rename(&mut t.def.primary_key);
            for index in &mut t.def.indexes {
                rename(&mut index.columns);
            }
            if let Some(comment) = t.def.comments.remove(&old) {
                t.def.comments.insert(new.clone(), comment);
            }
            for fk in &mut t.def.foreign_keys {
                rename(&mut fk.columns);
                if fk.references == table {
                    rename(&mut fk.referenced_columns);
                }
            }
        }
        AlterTableOperation::AddConstraint { constraint, .. } => {
            ddl::add_constraint(ws, &mut t.def, constraint)?;
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let column = names::ident(column_name);
            let Some(i) = position(&t.def, &column) else {
                return Err(UserError::new(
                    "42703",
                    format!("column \"{column}\" of relation \"{table}\" does not exist"),
                ));
            };
            alter_column(t, i, op)?;
        }
        other => {
            return Err(UserError::unsupported(format!(
                "ALTER TABLE … {other} is not supported"
            )));
        }
    }
    Ok(())
}

/// `ALTER COLUMN … SET/DROP NOT NULL | SET/DROP DEFAULT | TYPE`. The rows
/// are checked against the new definition by the caller.
fn alter_column(t: &mut Altered, i: usize, op: &AlterColumnOperation) -> UserResult<()> {
    let column = &mut t.def.columns[i];
    match op {
        AlterColumnOperation::SetNotNull => column.nullable = false,
        AlterColumnOperation::DropNotNull => {
            if t.def.primary_key.contains(&column.name) {
                return Err(UserError::new(
                    "42P16",
                    format!("column \"{}\" is in a primary key", column.name),
                ));
            }
            column.nullable = true;
        }
        AlterColumnOperation::SetDefault { value } => column.default = Some(value.to_string()),
        AlterColumnOperation::DropDefault => column.default = None,
        AlterColumnOperation::SetDataType {
            data_type,
            using: None,
            ..
        } => {
            column.data_type = eddy_sql::types::sql_type_from_ast(data_type)?;
            let target = arrow_schema(std::slice::from_ref(column))
                .field(0)
                .data_type()
                .clone();
            let cast = cast_with_options(&t.columns[i], &target, &STRICT_CAST).map_err(|e| {
                UserError::new(
                    "22P02",
                    format!(
                        "column \"{}\" cannot be cast to {data_type}: {e}",
                        column.name
                    ),
                )
            })?;
            t.columns[i] = canonical_text(column.data_type, cast)?;
        }
        other => {
            return Err(UserError::unsupported(format!(
                "ALTER COLUMN … {other} is not supported"
            )));
        }
    }
    Ok(())
}
