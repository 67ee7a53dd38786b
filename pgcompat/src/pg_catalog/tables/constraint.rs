//! `pg_constraint`: primary keys (`p`) and `UNIQUE` constraints (`u`),
//! each backed by its index, and foreign keys (`f`).

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::oids;
use super::super::rows::{Col::*, boolean, int, int2_array, null, table, text};
use super::super::snapshot::{ForeignKey, Snapshot, unique_index_over};

pub(super) fn pg_constraint(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("oid", Oid),
        ("conname", Text),
        ("connamespace", Oid),
        ("contype", Text),
        ("condeferrable", Bool),
        ("condeferred", Bool),
        ("convalidated", Bool),
        ("conrelid", Oid),
        ("contypid", Oid),
        ("conindid", Oid),
        ("conparentid", Oid),
        ("confrelid", Oid),
        ("confupdtype", Text),
        ("confdeltype", Text),
        ("confmatchtype", Text),
        ("conislocal", Bool),
        ("coninhcount", I32),
        ("connoinherit", Bool),
        ("conkey", I16Array),
        ("confkey", I16Array),
        ("conpfeqop", OidArray),
        ("conppeqop", OidArray),
        ("conffeqop", OidArray),
        ("conexclop", OidArray),
        ("conbin", Text),
    ];
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for index in &r.indexes {
            let Some(contype) = index.contype() else {
                continue;
            };
            rows.push(vec![
                int(index.constraint_oid()),
                text(&index.name),
                int(oids::PUBLIC),
                text(contype),
                boolean(false),
                boolean(false),
                boolean(true),
                int(r.oid),
                int(0),
                int(index.oid()),
                int(0),
                int(0),
                text(" "),
                text(" "),
                text(" "),
                boolean(true),
                int(0),
                boolean(true),
                int2_array(&r.attnums(&index.columns)),
                null(),
                null(),
                null(),
                null(),
                null(),
                null(),
            ]);
        }
        for fk in &r.foreign_keys {
            // The referenced table's unique index over the referenced columns.
            let referenced_index =
                unique_index_over(&snapshot.relations, &fk.references, &fk.referenced_columns)
                    .map_or(0, |i| i.oid());
            rows.push(vec![
                int(fk.constraint_oid()),
                text(&fk.name),
                int(oids::PUBLIC),
                text("f"),
                boolean(false),
                boolean(false),
                boolean(true),
                int(r.oid),
                int(0),
                int(referenced_index),
                int(0),
                int(fk.referenced_oid),
                text(ForeignKey::action_code(&fk.on_update)),
                text(ForeignKey::action_code(&fk.on_delete)),
                text("s"),
                boolean(true),
                int(0),
                boolean(true),
                int2_array(&r.attnums(&fk.columns)),
                int2_array(&fk.referenced_attnums),
                null(),
                null(),
                null(),
                null(),
                null(),
            ]);
        }
    }
    table(&columns, rows)
}
