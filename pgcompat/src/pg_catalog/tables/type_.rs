//! `pg_type`: PostgreSQL's built-in types (see [`super::super::types`]),
//! with the OIDs drivers decode by.

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::rows::{Col::*, boolean, int, null, table, text};
use super::super::{oids, types};

pub(super) fn pg_type() -> DfResult<MemTable> {
    let columns = [
        ("oid", Oid),
        ("typname", Text),
        ("typnamespace", Oid),
        ("typowner", Oid),
        ("typlen", I16),
        ("typbyval", Bool),
        ("typtype", Text),
        ("typcategory", Text),
        ("typispreferred", Bool),
        ("typisdefined", Bool),
        ("typdelim", Text),
        ("typrelid", Oid),
        ("typsubscript", Text),
        ("typelem", Oid),
        ("typarray", Oid),
        ("typinput", Text),
        ("typoutput", Text),
        ("typreceive", Text),
        ("typsend", Text),
        ("typalign", Text),
        ("typstorage", Text),
        ("typnotnull", Bool),
        ("typbasetype", Oid),
        ("typtypmod", I32),
        ("typndims", I32),
        ("typcollation", Oid),
        ("typdefault", Text),
        ("typacl", TextArray),
    ];
    let rows = types::TYPES
        .iter()
        .map(|t| {
            let io = if t.elem != 0 { "array" } else { t.name };
            vec![
                int(t.oid),
                text(t.name),
                int(oids::PG_CATALOG),
                int(10),
                int(i64::from(t.len)),
                boolean((1..=8).contains(&t.len)),
                text("b"),
                text(t.category),
                boolean(false),
                boolean(true),
                text(","),
                int(0),
                text(if t.elem != 0 {
                    "array_subscript_handler"
                } else {
                    "-"
                }),
                int(t.elem),
                int(t.array),
                text(format!("{io}_in")),
                text(format!("{io}_out")),
                text(format!("{io}_recv")),
                text(format!("{io}_send")),
                text("i"),
                text("p"),
                boolean(false),
                int(0),
                int(-1),
                int(0),
                int(if t.oid == 25 || t.oid == 1043 {
                    oids::DEFAULT_COLLATION
                } else {
                    0
                }),
                null(),
                null(),
            ]
        })
        .collect();
    table(&columns, rows)
}
