//! # eddy-catalog
//!
//! The catalog owns the *definitions* of every object a user declares —
//! sources, sinks, streaming queries and tables — and nothing else: no data,
//! no running state. Definitions are plain serde structs kept in a sled tree
//! and flushed to disk on every change, so that what a client was told
//! succeeded survives a crash.
//!
//! Invariants:
//! - Sources, tables and streaming queries share one relation namespace (as
//!   tables, foreign tables and materialized views do in PostgreSQL); sinks
//!   have their own.
//! - Every object records the objects it depends on. An object that others
//!   depend on cannot be dropped unless the drop cascades; the dependents are
//!   then dropped first.
//! - Every change goes through a [`Transaction`]: an overlay of the
//!   session's uncommitted definitions, checked for conflicts with other
//!   commits and applied in one sled transaction by [`Catalog::commit`].
//! - Names are stored folded to lower case unless quoted, as PostgreSQL does;
//!   folding is the parser's job, the catalog compares names verbatim.

mod error;
mod object;
mod store;
mod transaction;

pub use error::CatalogError;
pub use object::{
    CatalogObject, ColumnDef, ForeignKeyDef, IndexDef, ObjectKind, ObjectName, SinkDef, SourceDef,
    SqlType, StreamingQueryDef, TableDef, WatermarkDef,
};
pub use store::Catalog;
pub use transaction::{Change, CommitGuard, Objects, Transaction};
