//! `SHOW CREATE SOURCE | SINK | STREAMING QUERY | TABLE name` and
//! `DESCRIBE name`, as the session's transaction sees the catalog, with
//! secrets redacted.
//!
//! `SHOW CREATE` answers one row, `(name, create_sql)`: the definition's
//! statement as stored (a table's as its last `ALTER TABLE` left it).
//! `DESCRIBE` answers a row per column of a table, source or streaming
//! query — `(name, type, nullable, default, extra)`, `extra` naming the
//! primary key, unique keys and the watermark — and a row per option of
//! a sink, `(option, value)`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::{CatalogObject, ColumnDef, ObjectKind, SinkDef, SourceDef, TableDef};
use eddy_sql::types::sql_type_from_arrow;

use super::relation_schema;
use crate::database::parse_query;
use crate::error::{UserError, UserResult};
use crate::redact::{redact_options, redact_sql};
use crate::transaction::Workspace;

fn text(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

pub fn show_create(ws: &Workspace, kind: ObjectKind, name: &str) -> UserResult<RecordBatch> {
    let obj = ws.get(kind, name)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("create_sql", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            text(vec![Some(obj.name().to_string())]),
            text(vec![Some(redact_sql(obj.sql()))]),
        ],
    )?)
}

pub async fn describe(ws: &Workspace, name: &str) -> UserResult<RecordBatch> {
    let obj = match ws.lookup(ObjectKind::Table, name)? {
        Some(obj) => obj,
        None => ws.lookup(ObjectKind::Sink, name)?.ok_or_else(|| {
            UserError::new("42P01", format!("relation \"{name}\" does not exist"))
        })?,
    };
    let columns = match &obj {
        CatalogObject::Table(t) => table_columns(t),
        CatalogObject::Source(s) => source_columns(s),
        CatalogObject::StreamingQuery(q) => {
            let query = parse_query(&q.query)?;
            let planned = eddy_sql::streaming::plan_streaming_query(&query, &|input| {
                relation_schema(ws, input)
            })
            .await?;
            planned
                .plan
                .schema()
                .fields()
                .iter()
                .map(|f| Column {
                    name: f.name().clone(),
                    type_name: sql_type_from_arrow(f.data_type())
                        .map_or_else(|| f.data_type().to_string(), |t| t.to_string()),
                    nullable: f.is_nullable(),
                    default: None,
                    extra: None,
                })
                .collect()
        }
        CatalogObject::Sink(s) => return sink_options(s),
    };
    column_rows(columns)
}

/// One row of `DESCRIBE`.
struct Column {
    name: String,
    type_name: String,
    nullable: bool,
    default: Option<String>,
    extra: Option<String>,
}

fn column(c: &ColumnDef, extra: Option<String>) -> Column {
    Column {
        name: c.name.clone(),
        type_name: c.data_type.to_string(),
        nullable: c.nullable,
        default: c.default.clone(),
        extra,
    }
}

fn table_columns(t: &TableDef) -> Vec<Column> {
    t.columns
        .iter()
        .map(|c| {
            let mut extra = Vec::new();
            if t.primary_key.contains(&c.name) {
                extra.push("primary key".to_string());
            }
            for index in t
                .indexes
                .iter()
                .filter(|i| i.unique && i.columns.contains(&c.name))
            {
                extra.push(format!("unique ({})", index.name));
            }
            for fk in t
                .foreign_keys
                .iter()
                .filter(|f| f.columns.contains(&c.name))
            {
                extra.push(format!("references {}", fk.references));
            }
            column(c, (!extra.is_empty()).then(|| extra.join(", ")))
        })
        .collect()
}

fn source_columns(s: &SourceDef) -> Vec<Column> {
    s.columns
        .iter()
        .map(|c| {
            let watermark = s
                .watermark
                .as_ref()
                .filter(|w| w.column == c.name)
                .map(|w| {
                    format!(
                        "watermark: {} - INTERVAL '{}' MILLISECOND",
                        w.column,
                        w.delay_micros / 1000
                    )
                });
            column(c, watermark)
        })
        .collect()
}

fn column_rows(columns: Vec<Column>) -> UserResult<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("nullable", DataType::Boolean, false),
        Field::new("default", DataType::Utf8, true),
        Field::new("extra", DataType::Utf8, true),
    ]));
    let nullable: BooleanArray = columns.iter().map(|c| Some(c.nullable)).collect();
    let mut names = Vec::new();
    let mut types = Vec::new();
    let mut defaults = Vec::new();
    let mut extras = Vec::new();
    for c in columns {
        names.push(Some(c.name));
        types.push(Some(c.type_name));
        defaults.push(c.default);
        extras.push(c.extra);
    }
    Ok(RecordBatch::try_new(
        schema,
        vec![
            text(names),
            text(types),
            Arc::new(nullable),
            text(defaults),
            text(extras),
        ],
    )?)
}

fn sink_options(s: &SinkDef) -> UserResult<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("option", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]));
    let (keys, values): (Vec<_>, Vec<_>) = redact_options(&s.options)
        .into_iter()
        .map(|(k, v)| (Some(k), Some(v)))
        .unzip();
    Ok(RecordBatch::try_new(
        schema,
        vec![text(keys), text(values)],
    )?)
}
