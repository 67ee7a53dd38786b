//! DDL: creating, dropping and listing sources, sinks, streaming queries
//! and tables. Every definition is validated completely (options,
//! connector checks, query planning) before it is stored — in the
//! session's [`Workspace`], which the session commits at the end of the
//! statement or of its transaction block. Nothing here starts or stops a
//! streaming query: the commit does.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, DataType as AstDataType, ForeignKeyConstraint, TableConstraint,
};
use eddy_catalog::{
    CatalogObject, ColumnDef, ForeignKeyDef, IndexDef, ObjectKind, SinkDef, SourceDef, SqlType,
    StreamingQueryDef, TableDef, WatermarkDef,
};
use eddy_engine::SinkContext;
use eddy_engine::connector::TargetCheck;
use eddy_engine::watermark::format_event_time;
use eddy_sql::types::{arrow_schema, sql_type_from_ast};

use crate::database::{Database, Purpose};
use crate::error::{UserError, UserResult};
use crate::transaction::Workspace;

/// `IF NOT EXISTS` / `OR REPLACE` of a CREATE.
#[derive(Debug, Clone, Copy)]
pub struct CreateMode {
    pub if_not_exists: bool,
    pub or_replace: bool,
}

/// Outcome of a CREATE: created, or skipped because of IF NOT EXISTS.
pub enum Created {
    Yes,
    AlreadyExists(String),
    /// Created, with a warning for the user.
    WithWarning(String),
}

fn split_connector(
    kind: &str,
    mut options: BTreeMap<String, String>,
) -> UserResult<(String, BTreeMap<String, String>)> {
    let connector = options.remove("connector").ok_or_else(|| {
        UserError::new(
            "22023",
            format!("missing required option 'connector' for {kind}"),
        )
    })?;
    Ok((connector.to_ascii_lowercase(), options))
}

fn skipped(kind: ObjectKind, name: &str) -> Created {
    Created::AlreadyExists(format!("{kind} \"{name}\" already exists, skipping"))
}

/// The schema of a relation as the transaction sees it.
pub fn relation_schema(ws: &Workspace, name: &str) -> Option<SchemaRef> {
    match ws.lookup(ObjectKind::Table, name).ok()?? {
        CatalogObject::Source(s) => Some(arrow_schema(&s.columns)),
        CatalogObject::Table(t) => Some(arrow_schema(&t.columns)),
        _ => None,
    }
}

pub fn create_source(
    ws: &Workspace,
    name: String,
    columns: Vec<ColumnDef>,
    watermark: Option<WatermarkDef>,
    options: BTreeMap<String, String>,
    mode: CreateMode,
    sql: &str,
) -> UserResult<Created> {
    let db = ws.db();
    if mode.if_not_exists && ws.lookup(ObjectKind::Source, &name)?.is_some() {
        return Ok(skipped(ObjectKind::Source, &name));
    }
    let (connector, options) = split_connector("a source", options)?;
    let def = SourceDef {
        name: name.clone(),
        columns,
        watermark,
        connector,
        options,
        sql: sql.to_string(),
    };
    db.connectors
        .validate_source(&def, &arrow_schema(&def.columns))?;
    let side_tables = db.connectors.source(&def.connector)?.side_tables(&def)?;
    let created = store(ws, CatalogObject::Source(def), mode)?;
    for (table, schema) in side_tables {
        if ws.lookup(ObjectKind::Table, &table)?.is_none() {
            let def = crate::side_tables::side_table_def(&table, &schema)?;
            ws.create(CatalogObject::Table(def), true)?;
            ws.create_table_rows(&table, schema);
        }
    }
    Ok(created)
}

pub async fn create_sink(
    ws: &Workspace,
    name: String,
    options: BTreeMap<String, String>,
    mode: CreateMode,
    sql: &str,
) -> UserResult<Created> {
    let db = ws.db();
    if mode.if_not_exists && ws.lookup(ObjectKind::Sink, &name)?.is_some() {
        return Ok(skipped(ObjectKind::Sink, &name));
    }
    let (connector, options) = split_connector("a sink", options)?;
    let def = SinkDef {
        name: name.clone(),
        connector,
        options,
        sql: sql.to_string(),
    };
    let pending_table = def
        .options
        .get("table")
        .filter(|t| def.connector == "table" && ws.has_pending_rows(t));
    if let Some(table) = pending_table {
        // The table exists only in this transaction: the connector cannot
        // see it yet, so check the options and the table here.
        let c = db.connectors.sink(&def.connector)?;
        eddy_engine::options::validate_options(
            &format!("sink connector '{}'", c.name()),
            &def.options,
            c.options(),
        )?;
        if !matches!(
            ws.lookup(ObjectKind::Table, table)?,
            Some(CatalogObject::Table(_))
        ) {
            return Err(UserError::new(
                "42P01",
                format!("table \"{table}\" does not exist"),
            ));
        }
        return store(ws, CatalogObject::Sink(def), mode);
    }
    let ctx = SinkContext {
        query: String::new(),
        tables: db.tables.clone(),
    };
    db.connectors.validate_sink(&def, &ctx)?;
    // The target is checked as far as it can be without the query's
    // columns (which CREATE STREAMING QUERY checks). An unreachable target
    // is no reason to refuse the sink; a missing table or key is.
    let warning = match db
        .connectors
        .sink(&def.connector)?
        .check_target(&def)
        .await?
    {
        TargetCheck::Fits => None,
        TargetCheck::Unchecked(why) => Some(why),
        TargetCheck::UndefinedTable(message) => return Err(UserError::new("42P01", message)),
        TargetCheck::UndefinedColumn(message) => return Err(UserError::new("42703", message)),
        TargetCheck::NoUniqueKey(message) => return Err(UserError::new("42P10", message)),
    };
    Ok(
        match (store(ws, CatalogObject::Sink(def), mode)?, warning) {
            (Created::Yes, Some(warning)) => Created::WithWarning(warning),
            (created, _) => created,
        },
    )
}

fn store(ws: &Workspace, obj: CatalogObject, mode: CreateMode) -> UserResult<Created> {
    let (kind, name) = (obj.kind(), obj.name().to_string());
    if mode.or_replace {
        ws.create_or_replace(obj)?;
        return Ok(Created::Yes);
    }
    if ws.create(obj, mode.if_not_exists)? {
        Ok(Created::Yes)
    } else {
        Ok(skipped(kind, &name))
    }
}

/// Validates and stores a streaming query. It starts when the transaction
/// commits (an `OR REPLACE` stops the old one then).
pub async fn create_streaming_query(
    ws: &Workspace,
    name: String,
    options: BTreeMap<String, String>,
    sink: String,
    query_text: String,
    mode: CreateMode,
    sql: &str,
) -> UserResult<Created> {
    let db = ws.db();
    if let Some(existing) = ws.lookup(ObjectKind::StreamingQuery, &name)? {
        if mode.if_not_exists {
            return Ok(skipped(existing.kind(), &name));
        }
        if !mode.or_replace || existing.kind() != ObjectKind::StreamingQuery {
            return Err(eddy_catalog::CatalogError::AlreadyExists {
                kind: existing.kind(),
                name,
            }
            .into());
        }
    }
    let query = crate::database::parse_query(&query_text)?;
    let inputs = collect_inputs(ws, &query).await?;
    let def = StreamingQueryDef {
        name: name.clone(),
        options,
        sink,
        query: query_text,
        inputs,
        incarnation: chrono::Utc::now().timestamp_micros(),
        sql: sql.to_string(),
    };
    // The job is built now, against the transaction's view, to report at
    // CREATE time whatever is wrong, and dropped: the commit builds it
    // again and starts it. Nothing outside Eddy changes here: the sink's
    // target is checked, not created. A table the query reads or writes
    // that this transaction creates has no storage yet: the commit is the
    // first moment such a job can be built.
    let mut warning = None;
    let sink_table = match ws.lookup(ObjectKind::Sink, &def.sink)? {
        Some(CatalogObject::Sink(s)) if s.connector == "table" => s.options.get("table").cloned(),
        _ => None,
    };
    let view = ws.catalog_view();
    let uses_new_table = def.inputs.iter().chain(&sink_table).any(|n| {
        ws.has_pending_rows(n)
            && matches!(
                ws.lookup(ObjectKind::Table, n),
                Ok(Some(CatalogObject::Table(_)))
            )
    });
    if !uses_new_table {
        let mut job = db.prepare_job(&def, &view, Purpose::Check).await?;
        // A sink that is down right now does not stop the query from
        // being created: the query retries until it is back. A sink that
        // cannot take the query's output (missing table, wrong columns) is
        // refused now.
        warning = match job.check_sink().await {
            Ok(()) => None,
            Err(e) if e.is_retryable() => Some(format!(
                "the sink is not reachable yet ({e}); the query will keep retrying"
            )),
            Err(e) => return Err(e.into()),
        };
    }
    // Its late-row table, created with it.
    if let Some((table, schema)) = db.late_rows_table(&def, &view)?
        && ws.lookup(ObjectKind::Table, &table)?.is_none()
    {
        let table_def = crate::side_tables::side_table_def(&table, &schema)?;
        let schema = arrow_schema(&table_def.columns);
        ws.create(CatalogObject::Table(table_def), false)?;
        ws.create_table_rows(&table, schema);
    }
    store(
        ws,
        CatalogObject::StreamingQuery(def),
        CreateMode {
            if_not_exists: false,
            ..mode
        },
    )?;
    Ok(match warning {
        Some(w) => Created::WithWarning(w),
        None => Created::Yes,
    })
}

async fn collect_inputs(
    ws: &Workspace,
    query: &datafusion::sql::sqlparser::ast::Query,
) -> UserResult<Vec<String>> {
    let planned =
        eddy_sql::streaming::plan_streaming_query(query, &|name| relation_schema(ws, name)).await?;
    let mut inputs: Vec<String> = planned.inputs.into_iter().map(|i| i.relation).collect();
    inputs.sort();
    inputs.dedup();
    Ok(inputs)
}

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

/// Drops objects; returns notices for `IF EXISTS` on missing ones. The
/// commit stops dropped streaming queries and removes dropped tables' rows.
pub fn drop_objects(
    ws: &Workspace,
    kind: ObjectKind,
    names: &[String],
    if_exists: bool,
    cascade: bool,
) -> UserResult<Vec<String>> {
    let mut notices = Vec::new();
    for name in names {
        let dropped = ws.drop_object(kind, name, if_exists, cascade)?;
        if dropped.is_empty() {
            notices.push(format!("{kind} \"{name}\" does not exist, skipping"));
        }
    }
    Ok(notices)
}

pub fn show_objects(ws: &Workspace, kind: ObjectKind) -> UserResult<RecordBatch> {
    let db = ws.db();
    let objects = ws.list(kind)?;
    let text = |values: Vec<Option<String>>| Arc::new(StringArray::from(values)) as ArrayRef;
    let int = |values: Vec<i64>| Arc::new(Int64Array::from(values)) as ArrayRef;
    let field = |name: &str, dt: DataType| Field::new(name, dt, true);
    let names: Vec<Option<String>> = objects.iter().map(|o| Some(o.name().to_string())).collect();
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = match kind {
        ObjectKind::Source => {
            let defs: Vec<&SourceDef> = objects
                .iter()
                .filter_map(|o| match o {
                    CatalogObject::Source(s) => Some(s),
                    _ => None,
                })
                .collect();
            (
                vec![
                    field("name", DataType::Utf8),
                    field("connector", DataType::Utf8),
                    field("columns", DataType::Utf8),
                    field("watermark", DataType::Utf8),
                ],
                vec![
                    text(names),
                    text(defs.iter().map(|d| Some(d.connector.clone())).collect()),
                    text(
                        defs.iter()
                            .map(|d| {
                                Some(
                                    d.columns
                                        .iter()
                                        .map(|c| format!("{} {}", c.name, c.data_type))
                                        .collect::<Vec<_>>()
                                        .join(", "),
                                )
                            })
                            .collect(),
                    ),
                    text(
                        defs.iter()
                            .map(|d| {
                                d.watermark
                                    .as_ref()
                                    .map(|w| format!("{} - {} ms", w.column, w.delay_micros / 1000))
                            })
                            .collect(),
                    ),
                ],
            )
        }
        ObjectKind::Sink => {
            let connectors = objects
                .iter()
                .map(|o| match o {
                    CatalogObject::Sink(s) => Some(s.connector.clone()),
                    _ => None,
                })
                .collect();
            let targets = objects
                .iter()
                .map(|o| match o {
                    CatalogObject::Sink(s) => {
                        s.options.get("table").or(s.options.get("topic")).cloned()
                    }
                    _ => None,
                })
                .collect();
            (
                vec![
                    field("name", DataType::Utf8),
                    field("connector", DataType::Utf8),
                    field("target", DataType::Utf8),
                ],
                vec![text(names), text(connectors), text(targets)],
            )
        }
        ObjectKind::Table => {
            let rows = objects
                .iter()
                .map(|o| {
                    ws.table_rows(o.name())
                        .map(|(_, b)| b.iter().map(|b| b.num_rows() as i64).sum())
                        .unwrap_or(0)
                })
                .collect();
            (
                vec![
                    field("name", DataType::Utf8),
                    field("rows", DataType::Int64),
                ],
                vec![text(names), int(rows)],
            )
        }
        ObjectKind::StreamingQuery => return show_streaming_queries(db, &objects),
    };
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn show_streaming_queries(db: &Database, objects: &[CatalogObject]) -> UserResult<RecordBatch> {
    let mut cols: [Vec<Option<String>>; 5] = Default::default();
    let mut nums: [Vec<i64>; 7] = Default::default();
    for obj in objects {
        let CatalogObject::StreamingQuery(def) = obj else {
            continue;
        };
        let p = db.progress(&def.name).unwrap_or_default();
        cols[0].push(Some(def.name.clone()));
        cols[1].push(Some(p.status.as_str().to_string()));
        cols[2].push(Some(def.sink.clone()));
        cols[3].push(format_event_time(p.watermark));
        cols[4].push(p.error.clone());
        nums[0].push(p.epoch as i64);
        nums[1].push(p.input_rows as i64);
        nums[2].push(p.output_rows as i64);
        nums[3].push(p.late_rows as i64);
        nums[4].push(p.state_rows as i64);
        nums[5].push(p.processed_rows_per_second.round() as i64);
        nums[6].push(p.bad_records as i64);
    }
    let [names, status, sinks, watermarks, errors] = cols;
    let [epoch, input, output, late, state, rate, bad] = nums;
    let text = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let int = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("sink", DataType::Utf8, true),
        Field::new("epoch", DataType::Int64, true),
        Field::new("input_rows", DataType::Int64, true),
        Field::new("output_rows", DataType::Int64, true),
        Field::new("late_rows", DataType::Int64, true),
        Field::new("bad_records", DataType::Int64, true),
        Field::new("watermark", DataType::Utf8, true),
        Field::new("state_rows", DataType::Int64, true),
        Field::new("processed_rows_per_second", DataType::Int64, true),
        Field::new("error", DataType::Utf8, true),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(names),
            text(status),
            text(sinks),
            int(epoch),
            int(input),
            int(output),
            int(late),
            int(bad),
            text(watermarks),
            int(state),
            int(rate),
            text(errors),
        ],
    )?)
}
