//! DDL: creating, dropping and listing sources, sinks, streaming queries
//! and tables. Every definition is validated completely (options,
//! connector checks, query planning) before it is stored — in the
//! session's [`Workspace`], which the session commits at the end of the
//! statement or of its transaction block. Nothing here starts or stops a
//! streaming query: the commit does.
//!
//! - this module: sources, sinks, streaming queries, DROP;
//! - `tables`: `CREATE TABLE`, columns, keys and foreign keys (also for
//!   `ALTER TABLE … ADD CONSTRAINT`);
//! - `show`: `SHOW SOURCES | SINKS | TABLES | STREAMING QUERIES`;
//!   [`describe`]: `SHOW CREATE …` and `DESCRIBE`.

mod describe;
mod show;
mod tables;

pub use describe::{describe, show_create};
pub use show::show_objects;
pub use tables::{
    add_constraint, add_key, column_def, column_foreign_keys, create_table, is_nextval,
    key_columns, serial_default,
};

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::SchemaRef;
use eddy_catalog::{
    CatalogObject, ColumnDef, ObjectKind, SinkDef, SourceDef, StreamingQueryDef, WatermarkDef,
};
use eddy_engine::SinkContext;
use eddy_engine::connector::TargetCheck;
use eddy_sql::types::arrow_schema;

use crate::database::Purpose;
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
        paused: false,
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

/// Options of a streaming query that `ALTER STREAMING QUERY … SET` can
/// change: they decide when epochs run and how checkpoints are kept, not
/// what the query computes or what its state holds.
pub const RUNTIME_QUERY_OPTIONS: [&str; 3] =
    ["trigger", "checkpoint.snapshot_every", "checkpoint.retain"];

/// `ALTER STREAMING QUERY name PAUSE | RESUME | SET (…)`: the query's
/// definition with its new state or options. The commit stops the running
/// job at an epoch boundary and starts it again from its checkpoint: the
/// same query (its incarnation is kept), so its state and positions stay.
/// Returns a notice when nothing changes.
pub fn alter_streaming_query(
    ws: &Workspace,
    name: &str,
    alteration: &eddy_sql::QueryAlteration,
) -> UserResult<Option<String>> {
    use eddy_sql::QueryAlteration;
    let CatalogObject::StreamingQuery(mut def) = ws.get(ObjectKind::StreamingQuery, name)? else {
        return Err(UserError::internal(format!(
            "\"{name}\" is not a streaming query"
        )));
    };
    match alteration {
        QueryAlteration::Pause | QueryAlteration::Resume => {
            let paused = *alteration == QueryAlteration::Pause;
            if def.paused == paused {
                let state = if paused { "paused" } else { "not paused" };
                return Ok(Some(format!(
                    "streaming query \"{name}\" is already {state}"
                )));
            }
            def.paused = paused;
        }
        QueryAlteration::Set(options) => {
            if let Some(fixed) = options
                .keys()
                .find(|k| !RUNTIME_QUERY_OPTIONS.contains(&k.as_str()))
            {
                return Err(UserError::new(
                    "0A000",
                    format!(
                        "option \"{fixed}\" of streaming query \"{name}\" cannot change while it runs"
                    ),
                )
                .with_hint(format!(
                    "ALTER STREAMING QUERY … SET changes {}; for the others, CREATE OR REPLACE STREAMING QUERY",
                    RUNTIME_QUERY_OPTIONS.join(", ")
                )));
            }
            let mut merged = def.options.clone();
            merged.extend(options.clone());
            if merged == def.options {
                return Ok(Some(format!(
                    "streaming query \"{name}\" already has these options"
                )));
            }
            eddy_engine::job::QueryOptions::from_map(&merged)?;
            def.options = merged;
            def.sql = create_sql(&def);
        }
    }
    ws.put(CatalogObject::StreamingQuery(def))?;
    Ok(None)
}

/// The `CREATE STREAMING QUERY` statement of `def` as it stands, for
/// `SHOW CREATE` after an `ALTER … SET`.
fn create_sql(def: &StreamingQueryDef) -> String {
    use eddy_sql::identifiers::quote_if_needed;
    let options: Vec<String> = def
        .options
        .iter()
        .map(|(k, v)| format!("'{}' = '{}'", k.replace('\'', "''"), v.replace('\'', "''")))
        .collect();
    format!(
        "CREATE STREAMING QUERY {} WITH ({}) AS INSERT INTO {} {}",
        quote_if_needed(&def.name),
        options.join(", "),
        quote_if_needed(&def.sink),
        def.query
    )
}
