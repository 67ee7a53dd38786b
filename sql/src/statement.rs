//! The statements Eddy understands: its own DDL for streaming objects, and
//! every other statement as sqlparser parses it for PostgreSQL.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{Query, Statement};
use eddy_catalog::{ColumnDef, ObjectKind, WatermarkDef};

/// One statement of a query string, with where it stands in that string.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    pub stmt: EddyStatement,
    /// The statement's own text, without the trailing semicolon.
    pub text: String,
    /// Byte offset of `text` in the whole query string.
    pub offset: usize,
}

#[derive(Debug, Clone)]
pub enum EddyStatement {
    /// `CREATE [OR REPLACE] SOURCE [IF NOT EXISTS] name (cols…, WATERMARK FOR c AS c - INTERVAL …) WITH (…)`
    CreateSource {
        name: String,
        if_not_exists: bool,
        or_replace: bool,
        columns: Vec<ColumnDef>,
        watermark: Option<WatermarkDef>,
        /// All `WITH` options, `connector` included, keys as written
        /// (unquoted identifiers folded to lower case).
        options: BTreeMap<String, String>,
    },
    /// `CREATE [OR REPLACE] SINK [IF NOT EXISTS] name WITH (…)`
    CreateSink {
        name: String,
        if_not_exists: bool,
        or_replace: bool,
        options: BTreeMap<String, String>,
    },
    /// `CREATE [OR REPLACE] STREAMING QUERY [IF NOT EXISTS] name [WITH (…)] AS INSERT INTO sink SELECT …`
    CreateStreamingQuery {
        name: String,
        if_not_exists: bool,
        or_replace: bool,
        options: BTreeMap<String, String>,
        sink: String,
        query: Box<Query>,
        /// The SELECT's own text, as written.
        query_text: String,
    },
    /// `SHOW SOURCES | SINKS | STREAMING QUERIES | TABLES`
    ShowObjects(ObjectKind),
    /// `ALTER STREAMING QUERY name PAUSE | RESUME | SET (…)`
    AlterStreamingQuery {
        name: String,
        alteration: QueryAlteration,
    },
    /// `SHOW STREAMING QUERY name`: one query's progress, field by field.
    ShowStreamingQuery { name: String },
    /// `SHOW CREATE SOURCE | SINK | STREAMING QUERY | TABLE name`
    ShowCreate { kind: ObjectKind, name: String },
    /// `DESCRIBE name` (or `DESC name`): an object of any kind.
    Describe { name: String },
    /// `DROP SOURCE | SINK | STREAMING QUERY | TABLE [IF EXISTS] a, b [CASCADE | RESTRICT]`
    Drop {
        kind: ObjectKind,
        names: Vec<String>,
        if_exists: bool,
        cascade: bool,
    },
    /// Anything else, as sqlparser's PostgreSQL dialect parses it.
    Standard(Box<Statement>),
}

/// What `ALTER STREAMING QUERY` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAlteration {
    /// No more epochs; state and positions kept, across restarts.
    Pause,
    /// Epochs again, from where the query paused.
    Resume,
    /// `SET (option = value, …)`: options that can change while the query
    /// runs.
    Set(BTreeMap<String, String>),
}

impl EddyStatement {
    /// 54001 if the statement's syntax tree nests deeper than the server's
    /// stack allows (see [`crate::parser::depth`]).
    /// Long `AND`/`OR` chains are balanced on the way.
    pub(crate) fn check_depth(&mut self) -> Result<(), crate::SqlError> {
        use crate::parser::depth::check_tree_depth;
        match self {
            EddyStatement::CreateStreamingQuery { query, .. } => check_tree_depth(&mut **query),
            EddyStatement::Standard(stmt) => check_tree_depth(&mut **stmt),
            EddyStatement::CreateSource { .. }
            | EddyStatement::CreateSink { .. }
            | EddyStatement::ShowObjects(_)
            | EddyStatement::ShowStreamingQuery { .. }
            | EddyStatement::AlterStreamingQuery { .. }
            | EddyStatement::ShowCreate { .. }
            | EddyStatement::Describe { .. }
            | EddyStatement::Drop { .. } => Ok(()),
        }
    }
}
