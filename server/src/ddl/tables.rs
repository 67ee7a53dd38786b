//! `CREATE TABLE`: columns (types, defaults, `SERIAL`), primary and unique
//! keys, foreign keys checked against the tables they reference.

use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, DataType as AstDataType, ForeignKeyConstraint, TableConstraint,
};
use eddy_catalog::{
    CatalogObject, ColumnDef, ForeignKeyDef, IndexDef, ObjectKind, SqlType, TableDef,
};
use eddy_sql::types::{arrow_schema, sql_type_from_ast};

use crate::error::{UserError, UserResult};
use crate::transaction::Workspace;

use super::{CreateMode, Created, store};

/// `SERIAL` and friends: an integer column filled from a sequence.
fn is_serial(data_type: &AstDataType) -> bool {
    let text = data_type.to_string().to_ascii_lowercase();
    matches!(
        text.as_str(),
        "serial" | "bigserial" | "smallserial" | "serial4" | "serial8" | "serial2"
    )
}

/// The DEFAULT of a SERIAL column, as PostgreSQL shows it.
pub fn serial_default(table: &str, column: &str) -> String {
    format!("nextval('{table}_{column}_seq'::regclass)")
}

/// Whether a DEFAULT is a sequence's next value.
pub fn is_nextval(default: &str) -> bool {
    default.to_ascii_lowercase().starts_with("nextval(")
}

/// A column of CREATE TABLE or ALTER TABLE ADD COLUMN, with the keys it
/// declares (`PRIMARY KEY`, `UNIQUE`).
pub fn column_def(
    table: &str,
    col: &datafusion::sql::sqlparser::ast::ColumnDef,
) -> UserResult<(ColumnDef, bool, bool)> {
    let name = crate::names::ident(&col.name);
    let serial = is_serial(&col.data_type);
    let mut nullable = !serial;
    let mut default = serial.then(|| serial_default(table, &name));
    let (mut primary, mut unique) = (false, false);
    for opt in &col.options {
        match &opt.option {
            ColumnOption::NotNull => nullable = false,
            ColumnOption::Null => nullable = true,
            ColumnOption::Default(e) => default = Some(e.to_string()),
            ColumnOption::PrimaryKey(_) => {
                nullable = false;
                primary = true;
            }
            ColumnOption::Unique(_) => unique = true,
            _ => {}
        }
    }
    let def = ColumnDef {
        name,
        data_type: sql_type_from_ast(&col.data_type)?,
        nullable,
        default,
    };
    Ok((def, primary, unique))
}

/// The column names of a key constraint, folded as identifiers are.
pub fn key_columns(columns: &[datafusion::sql::sqlparser::ast::IndexColumn]) -> Vec<String> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            datafusion::sql::sqlparser::ast::Expr::Identifier(i) => crate::names::ident(i),
            other => other.to_string().trim_matches('"').to_string(),
        })
        .collect()
}

pub fn create_table(ws: &Workspace, create: &CreateTable, sql: &str) -> UserResult<Created> {
    let name = crate::names::object_name(&create.name)?;
    if create.query.is_some() {
        return Err(UserError::unsupported(
            "CREATE TABLE … AS is not supported yet",
        ));
    }
    if create.if_not_exists && ws.lookup(ObjectKind::Table, &name)?.is_some() {
        return Ok(Created::AlreadyExists(format!(
            "relation \"{name}\" already exists, skipping"
        )));
    }
    let mut def = TableDef {
        name: name.clone(),
        columns: Vec::new(),
        primary_key: Vec::new(),
        primary_key_name: None,
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        comments: Default::default(),
        sql: sql.to_string(),
    };
    for col in &create.columns {
        let (column, primary, unique) = column_def(&name, col)?;
        if primary {
            def.primary_key.push(column.name.clone());
        }
        if unique {
            def.indexes.push(IndexDef {
                name: format!("{name}_{}_key", column.name),
                columns: vec![column.name.clone()],
                unique: true,
                constraint: true,
            });
        }
        if def.columns.iter().any(|c| c.name == column.name) {
            return Err(UserError::new(
                "42701",
                format!("column \"{}\" specified more than once", column.name),
            ));
        }
        def.columns.push(column);
    }
    for col in &create.columns {
        for fk in column_foreign_keys(col) {
            add_constraint(ws, &mut def, &TableConstraint::ForeignKey(fk))?;
        }
    }
    for constraint in &create.constraints {
        add_constraint(ws, &mut def, constraint)?;
    }
    if def.primary_key.is_empty() {
        def.primary_key_name = None;
    }
    let schema = arrow_schema(&def.columns);
    let created = store(
        ws,
        CatalogObject::Table(def),
        CreateMode {
            if_not_exists: create.if_not_exists,
            or_replace: false,
        },
    )?;
    if let Created::Yes = created {
        ws.create_table_rows(&name, schema);
    }
    Ok(created)
}

/// A column's `REFERENCES t (c)`, as the table constraint it stands for.
pub fn column_foreign_keys(
    col: &datafusion::sql::sqlparser::ast::ColumnDef,
) -> Vec<ForeignKeyConstraint> {
    col.options
        .iter()
        .filter_map(|opt| match &opt.option {
            ColumnOption::ForeignKey(fk) => Some(ForeignKeyConstraint {
                name: opt.name.clone().or_else(|| fk.name.clone()),
                columns: vec![col.name.clone()],
                ..fk.clone()
            }),
            _ => None,
        })
        .collect()
}

/// Adds a `PRIMARY KEY`, `UNIQUE` or `FOREIGN KEY` constraint to a
/// definition (the rows are checked by the caller). Other constraints are
/// refused.
pub fn add_constraint(
    ws: &Workspace,
    def: &mut TableDef,
    constraint: &TableConstraint,
) -> UserResult<()> {
    let (name, columns, primary) = match constraint {
        TableConstraint::PrimaryKey(pk) => (pk.name.as_ref(), key_columns(&pk.columns), true),
        TableConstraint::Unique(u) => (u.name.as_ref(), key_columns(&u.columns), false),
        TableConstraint::ForeignKey(fk) => return add_foreign_key(ws, def, fk),
        other => {
            return Err(UserError::unsupported(format!(
                "constraint not supported by Eddy: {other}"
            )));
        }
    };
    add_key(def, name.map(crate::names::ident), columns, primary)
}

/// Adds a primary key or a unique key of `columns` to a definition.
pub fn add_key(
    def: &mut TableDef,
    name: Option<String>,
    columns: Vec<String>,
    primary: bool,
) -> UserResult<()> {
    for key in &columns {
        if !def.columns.iter().any(|c| &c.name == key) {
            return Err(UserError::new(
                "42703",
                format!("column \"{key}\" named in key does not exist"),
            ));
        }
    }
    if primary {
        if !def.primary_key.is_empty() {
            return Err(UserError::new(
                "42P16",
                format!(
                    "multiple primary keys for table \"{}\" are not allowed",
                    def.name
                ),
            ));
        }
        for c in &mut def.columns {
            if columns.contains(&c.name) {
                c.nullable = false;
            }
        }
        def.primary_key = columns;
        def.primary_key_name = name;
    } else {
        def.indexes.push(IndexDef {
            name: name.unwrap_or_else(|| format!("{}_{}_key", def.name, columns.join("_"))),
            columns,
            unique: true,
            constraint: true,
        });
    }
    Ok(())
}

/// Records a foreign key after checking what PostgreSQL checks: the
/// columns exist, the referenced table exists, and the referenced columns
/// (its primary key when none are named) are a primary key or unique.
fn add_foreign_key(
    ws: &Workspace,
    def: &mut TableDef,
    fk: &ForeignKeyConstraint,
) -> UserResult<()> {
    let columns: Vec<String> = fk.columns.iter().map(crate::names::ident).collect();
    for c in &columns {
        if !def.columns.iter().any(|d| &d.name == c) {
            return Err(UserError::new(
                "42703",
                format!("column \"{c}\" referenced in foreign key constraint does not exist"),
            ));
        }
    }
    let references = crate::names::object_name(&fk.foreign_table)?;
    let referenced = if references == def.name {
        def.clone()
    } else {
        match ws.lookup(ObjectKind::Table, &references)? {
            Some(CatalogObject::Table(t)) => t,
            _ => {
                return Err(UserError::new(
                    "42P01",
                    format!("relation \"{references}\" does not exist"),
                ));
            }
        }
    };
    let mut referenced_columns: Vec<String> = fk
        .referred_columns
        .iter()
        .map(crate::names::ident)
        .collect();
    if referenced_columns.is_empty() {
        if referenced.primary_key.is_empty() {
            return Err(UserError::new(
                "42830",
                format!("there is no primary key for referenced table \"{references}\""),
            ));
        }
        referenced_columns = referenced.primary_key.clone();
    }
    for c in &referenced_columns {
        if !referenced.columns.iter().any(|d| &d.name == c) {
            return Err(UserError::new(
                "42703",
                format!("column \"{c}\" referenced in foreign key constraint does not exist"),
            ));
        }
    }
    if referenced_columns.len() != columns.len() {
        return Err(UserError::new(
            "42830",
            "number of referencing and referenced columns for foreign key disagree",
        ));
    }
    let same = |key: &[String]| {
        key.len() == referenced_columns.len() && key.iter().all(|k| referenced_columns.contains(k))
    };
    if !same(&referenced.primary_key)
        && !referenced
            .indexes
            .iter()
            .any(|i| i.unique && same(&i.columns))
    {
        return Err(UserError::new(
            "42830",
            format!(
                "there is no unique constraint matching given keys for referenced table \"{references}\""
            ),
        ));
    }
    let name = fk
        .name
        .as_ref()
        .map(crate::names::ident)
        .unwrap_or_else(|| format!("{}_{}_fkey", def.name, columns.join("_")));
    let type_of =
        |t: &TableDef, c: &String| t.columns.iter().find(|d| &d.name == c).map(|d| d.data_type);
    for (c, r) in columns.iter().zip(&referenced_columns) {
        let (Some(from), Some(to)) = (type_of(def, c), type_of(&referenced, r)) else {
            continue;
        };
        if !comparable_key_types(from, to) {
            let mut error = UserError::new(
                "42804",
                format!("foreign key constraint \"{name}\" cannot be implemented"),
            );
            error.detail = Some(format!(
                "Key columns \"{c}\" and \"{r}\" are of incompatible types: {from} and {to}."
            ));
            return Err(error);
        }
    }
    let action = |a: &Option<datafusion::sql::sqlparser::ast::ReferentialAction>| {
        a.as_ref()
            .map_or_else(|| "NO ACTION".to_string(), |a| a.to_string().to_uppercase())
    };
    def.foreign_keys.retain(|f| f.name != name);
    def.foreign_keys.push(ForeignKeyDef {
        name,
        columns,
        references,
        referenced_columns,
        on_delete: action(&fk.on_delete),
        on_update: action(&fk.on_update),
    });
    Ok(())
}

/// Whether a foreign-key column of type `from` can reference a key of type
/// `to`: PostgreSQL wants an equality between them, possibly after an
/// implicit cast of `from` (integers among themselves, to numeric, to
/// floats).
fn comparable_key_types(from: SqlType, to: SqlType) -> bool {
    use SqlType::*;
    let integer = |t: SqlType| matches!(t, SmallInt | Int | BigInt);
    from == to
        || (integer(from) && integer(to))
        || (matches!(to, Numeric(..)) && (integer(from) || matches!(from, Numeric(..))))
        || (matches!(to, Real | Double)
            && (integer(from) || matches!(from, Numeric(..) | Real | Double)))
        || matches!(
            (from, to),
            (Timestamp, TimestampTz) | (TimestampTz, Timestamp)
        )
}
