//! DDL: creating, dropping and listing sources, sinks, streaming queries
//! and tables. Every definition is validated completely (options,
//! connector checks, query planning) before it is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{ColumnOption, CreateTable, TableConstraint};
use eddy_catalog::{
    CatalogObject, ColumnDef, ObjectKind, SinkDef, SourceDef, StreamingQueryDef, TableDef,
    WatermarkDef,
};
use eddy_engine::SinkContext;
use eddy_engine::connector::TargetCheck;
use eddy_engine::watermark::format_event_time;
use eddy_sql::types::{arrow_schema, sql_type_from_arrow, sql_type_from_ast};

use crate::database::Database;
use crate::error::{UserError, UserResult};

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

pub fn create_source(
    db: &Database,
    name: String,
    columns: Vec<ColumnDef>,
    watermark: Option<WatermarkDef>,
    options: BTreeMap<String, String>,
    mode: CreateMode,
    sql: &str,
) -> UserResult<Created> {
    if mode.if_not_exists && db.catalog.lookup(ObjectKind::Source, &name)?.is_some() {
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
    let created = store(db, CatalogObject::Source(def), mode)?;
    for (table, schema) in side_tables {
        create_side_table(db, &table, &schema)?;
    }
    Ok(created)
}

pub async fn create_sink(
    db: &Database,
    name: String,
    options: BTreeMap<String, String>,
    mode: CreateMode,
    sql: &str,
) -> UserResult<Created> {
    if mode.if_not_exists && db.catalog.lookup(ObjectKind::Sink, &name)?.is_some() {
        return Ok(skipped(ObjectKind::Sink, &name));
    }
    let (connector, options) = split_connector("a sink", options)?;
    let def = SinkDef {
        name: name.clone(),
        connector,
        options,
        sql: sql.to_string(),
    };
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
        match (store(db, CatalogObject::Sink(def), mode)?, warning) {
            (Created::Yes, Some(warning)) => Created::WithWarning(warning),
            (created, _) => created,
        },
    )
}

fn store(db: &Database, obj: CatalogObject, mode: CreateMode) -> UserResult<Created> {
    let (kind, name) = (obj.kind(), obj.name().to_string());
    if mode.or_replace {
        db.catalog.create_or_replace(obj)?;
        return Ok(Created::Yes);
    }
    if db.catalog.create(obj, mode.if_not_exists)? {
        Ok(Created::Yes)
    } else {
        Ok(skipped(kind, &name))
    }
}

pub async fn create_streaming_query(
    db: &Database,
    name: String,
    options: BTreeMap<String, String>,
    sink: String,
    query_text: String,
    mode: CreateMode,
    sql: &str,
) -> UserResult<Created> {
    if let Some(existing) = db.catalog.lookup(ObjectKind::StreamingQuery, &name)? {
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
    let inputs = collect_inputs(db, &query).await?;
    let def = StreamingQueryDef {
        name: name.clone(),
        options,
        sink,
        query: query_text,
        inputs,
        incarnation: chrono::Utc::now().timestamp_micros(),
        sql: sql.to_string(),
    };
    if !mode.or_replace {
        // Progress left by a query of the same name that was dropped.
        db.remove_checkpoints(&name)?;
    }
    let mut job = db.prepare_job(&def).await?;
    // A sink that is down right now does not stop the query from being
    // created: the query retries until it is back. A sink that cannot take
    // the query's output (missing table, wrong columns) is refused now.
    let warning = match job.open_sink().await {
        Ok(()) => None,
        Err(e) if e.is_retryable() => Some(format!(
            "the sink is not reachable yet ({e}); the query will keep retrying"
        )),
        Err(e) => return Err(e.into()),
    };
    if mode.or_replace {
        db.stop_query(&name).await;
        db.remove_checkpoints(&name)?;
    }
    store(
        db,
        CatalogObject::StreamingQuery(def),
        CreateMode {
            if_not_exists: false,
            ..mode
        },
    )?;
    db.run_job(job);
    Ok(match warning {
        Some(w) => Created::WithWarning(w),
        None => Created::Yes,
    })
}

async fn collect_inputs(
    db: &Database,
    query: &datafusion::sql::sqlparser::ast::Query,
) -> UserResult<Vec<String>> {
    let planned =
        eddy_sql::streaming::plan_streaming_query(query, &|name| db.relation_schema(name)).await?;
    let mut inputs: Vec<String> = planned.inputs.into_iter().map(|i| i.relation).collect();
    inputs.sort();
    inputs.dedup();
    Ok(inputs)
}

pub fn create_table(db: &Database, create: &CreateTable, sql: &str) -> UserResult<Created> {
    let name = crate::names::object_name(&create.name)?;
    if create.query.is_some() {
        return Err(UserError::unsupported(
            "CREATE TABLE … AS is not supported yet",
        ));
    }
    let mut primary_key = Vec::new();
    let mut columns = Vec::new();
    for col in &create.columns {
        let col_name = crate::names::ident(&col.name);
        let mut nullable = true;
        let mut default = None;
        for opt in &col.options {
            match &opt.option {
                ColumnOption::NotNull => nullable = false,
                ColumnOption::Null => nullable = true,
                ColumnOption::Default(e) => default = Some(e.to_string()),
                ColumnOption::PrimaryKey(_) => {
                    nullable = false;
                    primary_key.push(col_name.clone());
                }
                _ => {}
            }
        }
        columns.push(ColumnDef {
            name: col_name,
            data_type: sql_type_from_ast(&col.data_type)?,
            nullable,
            default,
        });
    }
    for constraint in &create.constraints {
        if let TableConstraint::PrimaryKey(pk) = constraint {
            for c in &pk.columns {
                primary_key.push(c.column.expr.to_string().trim_matches('"').to_string());
            }
        }
    }
    for key in &primary_key {
        if !columns.iter().any(|c| &c.name == key) {
            return Err(UserError::new(
                "42703",
                format!("column \"{key}\" named in key does not exist"),
            ));
        }
    }
    if create.if_not_exists && db.catalog.lookup(ObjectKind::Table, &name)?.is_some() {
        return Ok(Created::AlreadyExists(format!(
            "relation \"{name}\" already exists, skipping"
        )));
    }
    let schema = arrow_schema(&columns);
    let def = TableDef {
        name: name.clone(),
        columns,
        primary_key,
        sql: sql.to_string(),
    };
    let created = store(
        db,
        CatalogObject::Table(def),
        CreateMode {
            if_not_exists: create.if_not_exists,
            or_replace: false,
        },
    )?;
    if let Created::Yes = created {
        // Data left by a table of the same name dropped before a crash must
        // not reappear.
        db.tables.drop_table(&name)?;
        db.tables.create_or_load(&name, schema)?;
    }
    Ok(created)
}

/// Creates, if missing, a table a source writes to (e.g. its dead-letter
/// table), so that it can be queried and dropped like any table.
pub(crate) fn create_side_table(db: &Database, name: &str, schema: &SchemaRef) -> UserResult<()> {
    if db.catalog.lookup(ObjectKind::Table, name)?.is_some() {
        return Ok(());
    }
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
    let def = TableDef {
        name: name.to_string(),
        columns,
        primary_key: Vec::new(),
        sql,
    };
    let schema = arrow_schema(&def.columns);
    if db.catalog.create(CatalogObject::Table(def), true)? {
        db.tables.create_or_load(name, schema)?;
    }
    Ok(())
}

/// Drops objects; returns notices for `IF EXISTS` on missing ones.
pub async fn drop_objects(
    db: &Database,
    kind: ObjectKind,
    names: &[String],
    if_exists: bool,
    cascade: bool,
) -> UserResult<Vec<String>> {
    let mut notices = Vec::new();
    for name in names {
        let dropped = db.catalog.drop_object(kind, name, if_exists, cascade)?;
        if dropped.is_empty() {
            notices.push(format!("{kind} \"{name}\" does not exist, skipping"));
        }
        for obj in dropped {
            match obj.kind() {
                ObjectKind::StreamingQuery => {
                    db.stop_query(obj.name()).await;
                    db.remove_checkpoints(obj.name())?;
                }
                ObjectKind::Table => db.tables.drop_table(obj.name())?,
                _ => {}
            }
        }
    }
    Ok(notices)
}

/// The rows of `SHOW SOURCES | SINKS | STREAMING QUERIES | TABLES`.
pub fn show_objects(db: &Database, kind: ObjectKind) -> UserResult<RecordBatch> {
    let objects = db.catalog.list(kind)?;
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
                    db.tables
                        .get(o.name())
                        .map(|t| t.row_count() as i64)
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
