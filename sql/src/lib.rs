//! # eddy-sql
//!
//! From SQL text to something the engine can run.
//!
//! - [`parser`]: splits a query string into statements and parses Eddy's
//!   own DDL (`CREATE SOURCE`, `CREATE SINK`, `CREATE STREAMING QUERY`,
//!   `SHOW SOURCES`, `DROP SOURCE`, …) on top of sqlparser's PostgreSQL
//!   dialect; everything else is left to sqlparser.
//! - [`types`]: SQL type names ↔ catalog [`eddy_catalog::SqlType`] ↔ Arrow.
//! - [`text_types`]: `uuid`, `json` and `jsonb`, stored as canonical text in
//!   `Utf8` columns whose field metadata names the type.
//! - [`column_names`]: PostgreSQL's names for result columns
//!   (`count(*)` is `count`, `1 + 1` is `?column?`).
//! - [`identifiers`]: PostgreSQL's identifier folding.
//! - [`streaming`]: rewrites a streaming SELECT's window table functions
//!   (`TUMBLE(src, ts, size)`) into plain relations and plans it with
//!   DataFusion.
//!
//! sqlparser is DataFusion's own (`datafusion::sql::sqlparser`), so Eddy's
//! statements and DataFusion's planner share one AST.

pub mod column_names;
mod error;
pub mod identifiers;
pub mod parser;
mod spark_window;
pub mod statement;
pub mod streaming;
pub mod text_types;
pub mod types;

pub use error::SqlError;
pub use parser::depth::{STATEMENT_STACK_SIZE, stack_depth_hint};
pub use parser::parse_statements;
pub use statement::{EddyStatement, ParsedStatement, QueryAlteration};
