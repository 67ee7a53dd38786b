//! Object definitions. They are what `CREATE` statements declare, stored as
//! JSON in the catalog; the original SQL text is kept beside the structured
//! fields for `SHOW CREATE` and so that a later version can re-parse it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Source,
    Sink,
    StreamingQuery,
    Table,
}

impl ObjectKind {
    /// Kinds that live in the relation namespace (can be named in `FROM`).
    pub fn is_relation(self) -> bool {
        !matches!(self, ObjectKind::Sink)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Source => "source",
            ObjectKind::Sink => "sink",
            ObjectKind::StreamingQuery => "streaming query",
            ObjectKind::Table => "table",
        })
    }
}

pub type ObjectName = String;

/// The SQL types Eddy stores. Kept independent of Arrow so that the catalog
/// format does not change when Arrow does; `eddy-sql` maps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlType {
    Boolean,
    SmallInt,
    Int,
    BigInt,
    Real,
    Double,
    /// NUMERIC(precision, scale)
    Numeric(u8, i8),
    Text,
    Bytea,
    Date,
    Timestamp,
    TimestampTz,
    Interval,
    /// Stored as its canonical text (`a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`).
    Uuid,
    /// Stored as the text given, checked to be JSON.
    Json,
    /// Stored as PostgreSQL prints it: keys sorted, duplicates removed.
    Jsonb,
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("boolean"),
            SqlType::SmallInt => f.write_str("smallint"),
            SqlType::Int => f.write_str("integer"),
            SqlType::BigInt => f.write_str("bigint"),
            SqlType::Real => f.write_str("real"),
            SqlType::Double => f.write_str("double precision"),
            SqlType::Numeric(p, s) => write!(f, "numeric({p},{s})"),
            SqlType::Text => f.write_str("text"),
            SqlType::Bytea => f.write_str("bytea"),
            SqlType::Date => f.write_str("date"),
            SqlType::Timestamp => f.write_str("timestamp without time zone"),
            SqlType::TimestampTz => f.write_str("timestamp with time zone"),
            SqlType::Interval => f.write_str("interval"),
            SqlType::Uuid => f.write_str("uuid"),
            SqlType::Json => f.write_str("json"),
            SqlType::Jsonb => f.write_str("jsonb"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub data_type: SqlType,
    pub nullable: bool,
    /// SQL text of the DEFAULT expression, if any.
    #[serde(default)]
    pub default: Option<String>,
}

/// `WATERMARK FOR column AS column - INTERVAL ...`: the source's watermark is
/// the maximum event time seen minus `delay_micros`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatermarkDef {
    pub column: String,
    pub delay_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDef {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub watermark: Option<WatermarkDef>,
    pub connector: String,
    /// Options other than `connector`, validated by the connector at CREATE.
    pub options: BTreeMap<String, String>,
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkDef {
    pub name: String,
    pub connector: String,
    pub options: BTreeMap<String, String>,
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamingQueryDef {
    pub name: String,
    /// Query options (`trigger`, `output_mode`, …), validated at CREATE.
    pub options: BTreeMap<String, String>,
    /// The sink the query inserts into.
    pub sink: String,
    /// The SELECT text that feeds the sink.
    pub query: String,
    /// Relations (sources and tables) the SELECT reads.
    pub inputs: Vec<String>,
    /// Distinguishes this query from an earlier one of the same name (its
    /// creation time in microseconds): sinks record progress under it, so a
    /// re-created query does not inherit the progress of a dropped one.
    #[serde(default)]
    pub incarnation: i64,
    pub sql: String,
    /// `ALTER STREAMING QUERY … PAUSE`: runs no epochs until resumed,
    /// across restarts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub primary_key: Vec<String>,
    /// The name of the primary-key constraint (`CONSTRAINT … PRIMARY KEY`),
    /// when one was given.
    #[serde(default)]
    pub primary_key_name: Option<String>,
    /// Indexes: unique ones (`UNIQUE` constraints, `CREATE UNIQUE INDEX`)
    /// are enforced on every write; the others are recorded only.
    #[serde(default)]
    pub indexes: Vec<IndexDef>,
    /// `REFERENCES` / `FOREIGN KEY` constraints: recorded for catalogs and
    /// tools, not enforced on writes.
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKeyDef>,
    /// `COMMENT ON TABLE` (key `""`) and `COMMENT ON COLUMN` (the column's
    /// name).
    #[serde(default)]
    pub comments: std::collections::BTreeMap<String, String>,
    pub sql: String,
}

/// An index or `UNIQUE` constraint of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// Declared as a `UNIQUE` constraint rather than with `CREATE INDEX`.
    #[serde(default)]
    pub constraint: bool,
}

/// A foreign key: `columns` of this table reference `referenced_columns`
/// of `references`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKeyDef {
    pub name: String,
    pub columns: Vec<String>,
    pub references: String,
    pub referenced_columns: Vec<String>,
    /// `NO ACTION`, `RESTRICT`, `CASCADE`, `SET NULL` or `SET DEFAULT`.
    pub on_delete: String,
    pub on_update: String,
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CatalogObject {
    Source(SourceDef),
    Sink(SinkDef),
    StreamingQuery(StreamingQueryDef),
    Table(TableDef),
}

impl CatalogObject {
    pub fn kind(&self) -> ObjectKind {
        match self {
            CatalogObject::Source(_) => ObjectKind::Source,
            CatalogObject::Sink(_) => ObjectKind::Sink,
            CatalogObject::StreamingQuery(_) => ObjectKind::StreamingQuery,
            CatalogObject::Table(_) => ObjectKind::Table,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            CatalogObject::Source(d) => &d.name,
            CatalogObject::Sink(d) => &d.name,
            CatalogObject::StreamingQuery(d) => &d.name,
            CatalogObject::Table(d) => &d.name,
        }
    }

    pub fn sql(&self) -> &str {
        match self {
            CatalogObject::Source(d) => &d.sql,
            CatalogObject::Sink(d) => &d.sql,
            CatalogObject::StreamingQuery(d) => &d.sql,
            CatalogObject::Table(d) => &d.sql,
        }
    }

    /// The objects this one cannot exist without, as (kind, name).
    pub fn dependencies(&self) -> Vec<(ObjectKind, String)> {
        match self {
            CatalogObject::StreamingQuery(q) => {
                let mut deps = vec![(ObjectKind::Sink, q.sink.clone())];
                deps.extend(q.inputs.iter().map(|i| (ObjectKind::Source, i.clone())));
                deps
            }
            CatalogObject::Sink(s) if s.connector == "table" => s
                .options
                .get("table")
                .map(|t| vec![(ObjectKind::Table, t.clone())])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_keep_their_stored_names() {
        // Catalogs written before uuid/json/jsonb existed hold only the
        // older names; both must keep loading.
        let old: ColumnDef =
            serde_json::from_str(r#"{"name":"u","data_type":"text","nullable":true}"#).unwrap();
        assert_eq!(old.data_type, SqlType::Text);
        for (t, stored) in [
            (SqlType::Uuid, "\"uuid\""),
            (SqlType::Json, "\"json\""),
            (SqlType::Jsonb, "\"jsonb\""),
            (SqlType::Numeric(10, 2), "{\"numeric\":[10,2]}"),
        ] {
            assert_eq!(serde_json::to_string(&t).unwrap(), stored);
            assert_eq!(serde_json::from_str::<SqlType>(stored).unwrap(), t);
        }
        assert_eq!(SqlType::Jsonb.to_string(), "jsonb");
    }
}
