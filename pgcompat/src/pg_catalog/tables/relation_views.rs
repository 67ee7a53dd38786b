//! The views that list relations by kind: `pg_tables` (tables) and
//! `pg_matviews` (streaming queries, with their SELECT).

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::rows::{Col::*, boolean, null, table, text};
use super::super::snapshot::Snapshot;

pub(super) fn pg_tables(snapshot: &Snapshot, user: &str) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "r")
        .map(|r| {
            vec![
                text("public"),
                text(&r.name),
                text(user),
                null(),
                boolean(!r.indexes.is_empty()),
                boolean(false),
                boolean(false),
                boolean(false),
            ]
        })
        .collect();
    table(
        &[
            ("schemaname", Text),
            ("tablename", Text),
            ("tableowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("hasrules", Bool),
            ("hastriggers", Bool),
            ("rowsecurity", Bool),
        ],
        rows,
    )
}

pub(super) fn pg_matviews(snapshot: &Snapshot, user: &str) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "m")
        .map(|r| {
            vec![
                text("public"),
                text(&r.name),
                text(user),
                null(),
                boolean(false),
                boolean(true),
                text(r.definition.clone().unwrap_or_default()),
            ]
        })
        .collect();
    table(
        &[
            ("schemaname", Text),
            ("matviewname", Text),
            ("matviewowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("ispopulated", Bool),
            ("definition", Text),
        ],
        rows,
    )
}
