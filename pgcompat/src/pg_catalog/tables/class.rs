//! `pg_class`: every relation — Eddy's tables (`r`), sources (`f`) and
//! streaming queries (`m`), and the indexes of tables (`i`) — and the
//! rows it shares with `pg_attribute` ([`class_rows`]).

use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;

use super::super::oids;
use super::super::rows::{Col::*, boolean, int, null, table, text};
use super::super::snapshot::{Index, Relation, Snapshot};

/// One row of `pg_class`: an Eddy relation, or an index of a table.
pub(super) struct ClassRow<'a> {
    pub oid: i64,
    pub name: String,
    pub relkind: &'static str,
    pub relation: &'a Relation,
    pub index: Option<&'a Index>,
}

/// The relations of `pg_class`: Eddy's and their indexes.
pub(super) fn class_rows(snapshot: &Snapshot) -> Vec<ClassRow<'_>> {
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        rows.push(ClassRow {
            oid: r.oid,
            name: r.name.clone(),
            relkind: r.relkind,
            relation: r,
            index: None,
        });
        for index in &r.indexes {
            rows.push(ClassRow {
                oid: index.oid(),
                name: index.name.clone(),
                relkind: "i",
                relation: r,
                index: Some(index),
            });
        }
    }
    rows
}

pub(super) fn pg_class(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("oid", Oid),
        ("relname", Text),
        ("relnamespace", Oid),
        ("reltype", Oid),
        ("reloftype", Oid),
        ("relowner", Oid),
        ("relam", Oid),
        ("relfilenode", Oid),
        ("reltablespace", Oid),
        ("relpages", I32),
        ("reltuples", F32),
        ("relallvisible", I32),
        ("reltoastrelid", Oid),
        ("relhasindex", Bool),
        ("relisshared", Bool),
        ("relpersistence", Text),
        ("relkind", Text),
        ("relnatts", I16),
        ("relchecks", I16),
        ("relhasrules", Bool),
        ("relhastriggers", Bool),
        ("relhassubclass", Bool),
        ("relrowsecurity", Bool),
        ("relforcerowsecurity", Bool),
        ("relispopulated", Bool),
        ("relreplident", Text),
        ("relispartition", Bool),
        ("relrewrite", Oid),
        ("relfrozenxid", I64),
        ("relminmxid", I64),
        ("relacl", TextArray),
        ("reloptions", TextArray),
        ("relpartbound", Text),
    ];
    let in_foreign_keys: std::collections::HashSet<i64> = snapshot
        .relations
        .iter()
        .flat_map(|r| {
            r.foreign_keys
                .iter()
                .flat_map(move |f| [r.oid, f.referenced_oid])
        })
        .collect();
    let rows = class_rows(snapshot)
        .into_iter()
        .map(|row| {
            let ClassRow {
                oid,
                name,
                relkind,
                relation: r,
                index,
            } = row;
            let is_index = index.is_some();
            let am = match relkind {
                "r" | "m" => oids::HEAP_AM,
                "i" => oids::BTREE_AM,
                _ => 0,
            };
            let natts = index.map_or(r.columns.len(), |i| i.columns.len());
            let tuples = if is_index { None } else { r.rows };
            vec![
                int(oid),
                text(name),
                int(oids::namespace_oid(r.schema)),
                int(0),
                int(0),
                int(oids::BOOTSTRAP_SUPERUSER),
                int(am),
                int(oid),
                int(0),
                int(0),
                ScalarValue::Float32(Some(tuples.map_or(-1.0, |n| n as f32))),
                int(0),
                int(0),
                boolean(!is_index && !r.indexes.is_empty()),
                boolean(false),
                text("p"),
                text(relkind),
                int(natts as i64),
                int(0),
                boolean(false),
                // PostgreSQL's foreign keys are triggers; psql lists them
                // only for tables that have some.
                boolean(!is_index && in_foreign_keys.contains(&r.oid)),
                boolean(false),
                boolean(false),
                boolean(false),
                boolean(true),
                text(if is_index { "n" } else { "d" }),
                boolean(false),
                int(0),
                int(0),
                int(0),
                null(),
                null(),
                null(),
            ]
        })
        .collect();
    table(&columns, rows)
}
