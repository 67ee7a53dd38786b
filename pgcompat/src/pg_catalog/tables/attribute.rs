//! `pg_attribute` (the columns of relations and of indexes) and
//! `pg_attrdef` (column defaults, as SQL text).

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::oids::relation_oid;
use super::super::rows::{Col::*, boolean, int, null, table, text};
use super::super::snapshot::{Column, Snapshot};
use super::super::types;
use super::class::{ClassRow, class_rows};

pub(super) fn pg_attribute(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("attrelid", Oid),
        ("attname", Text),
        ("atttypid", Oid),
        ("attstattarget", I32),
        ("attlen", I16),
        ("attnum", I16),
        ("attndims", I32),
        ("attcacheoff", I32),
        ("atttypmod", I32),
        ("attbyval", Bool),
        ("attalign", Text),
        ("attstorage", Text),
        ("attcompression", Text),
        ("attnotnull", Bool),
        ("atthasdef", Bool),
        ("atthasmissing", Bool),
        ("attidentity", Text),
        ("attgenerated", Text),
        ("attisdropped", Bool),
        ("attislocal", Bool),
        ("attinhcount", I32),
        ("attcollation", Oid),
        ("attacl", TextArray),
        ("attoptions", TextArray),
        ("attfdwoptions", TextArray),
    ];
    let mut rows = Vec::new();
    for ClassRow {
        oid,
        relation: r,
        index,
        ..
    } in class_rows(snapshot)
    {
        let columns: Vec<&Column> = match index {
            Some(index) => index
                .columns
                .iter()
                .filter_map(|k| r.columns.iter().find(|c| &c.name == k))
                .collect(),
            None => r.columns.iter().collect(),
        };
        for (i, c) in columns.into_iter().enumerate() {
            let ty = types::by_oid(c.type_oid);
            // The type's collation, which clients show as "none".
            let collation = 0;
            rows.push(vec![
                int(oid),
                text(&c.name),
                int(c.type_oid),
                int(-1),
                int(ty.map_or(-1, |t| i64::from(t.len))),
                int(i as i64 + 1),
                int(0),
                int(-1),
                int(i64::from(c.typmod)),
                boolean(ty.is_some_and(|t| (1..=8).contains(&t.len))),
                text("i"),
                text("p"),
                text(""),
                boolean(c.not_null),
                boolean(index.is_none() && c.default.is_some()),
                boolean(false),
                text(""),
                text(""),
                boolean(false),
                boolean(true),
                int(0),
                int(collation),
                null(),
                null(),
                null(),
            ]);
        }
    }
    table(&columns, rows)
}

pub(super) fn pg_attrdef(snapshot: &Snapshot) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for (i, c) in r.columns.iter().enumerate() {
            if let Some(default) = &c.default {
                rows.push(vec![
                    int(relation_oid("default", &format!("{}.{}", r.name, c.name))),
                    int(r.oid),
                    int(i as i64 + 1),
                    text(default),
                ]);
            }
        }
    }
    table(
        &[
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", I16),
            ("adbin", Text),
        ],
        rows,
    )
}
