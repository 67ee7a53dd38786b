//! `pg_index` (each index of a table: its key columns, uniqueness) and
//! the `pg_indexes` view (each index with its `CREATE INDEX` statement).

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::rows::{Col::*, boolean, int, int2_array, null, oid_array, table, text};
use super::super::snapshot::Snapshot;

pub(super) fn pg_index(snapshot: &Snapshot) -> DfResult<MemTable> {
    let columns = [
        ("indexrelid", Oid),
        ("indrelid", Oid),
        ("indnatts", I16),
        ("indnkeyatts", I16),
        ("indisunique", Bool),
        ("indnullsnotdistinct", Bool),
        ("indisprimary", Bool),
        ("indisexclusion", Bool),
        ("indimmediate", Bool),
        ("indisclustered", Bool),
        ("indisvalid", Bool),
        ("indcheckxmin", Bool),
        ("indisready", Bool),
        ("indislive", Bool),
        ("indisreplident", Bool),
        ("indkey", Int2Vector),
        ("indcollation", OidVector),
        ("indclass", OidVector),
        ("indoption", Int2Vector),
        ("indexprs", Text),
        ("indpred", Text),
    ];
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for index in &r.indexes {
            let keys = r.attnums(&index.columns);
            let n = keys.len() as i64;
            rows.push(vec![
                int(index.oid()),
                int(r.oid),
                int(n),
                int(n),
                boolean(index.unique),
                boolean(false),
                boolean(index.primary),
                boolean(false),
                boolean(true),
                boolean(false),
                boolean(true),
                boolean(false),
                boolean(true),
                boolean(true),
                boolean(false),
                int2_array(&keys),
                oid_array(&vec![0; keys.len()]),
                oid_array(&vec![0; keys.len()]),
                int2_array(&vec![0; keys.len()]),
                null(),
                null(),
            ]);
        }
    }
    table(&columns, rows)
}

/// The `pg_indexes` view: each index with its `CREATE INDEX` statement.
pub(super) fn pg_indexes(snapshot: &Snapshot) -> DfResult<MemTable> {
    let mut rows = Vec::new();
    for r in &snapshot.relations {
        for index in &r.indexes {
            rows.push(vec![
                text("public"),
                text(&r.name),
                text(&index.name),
                null(),
                text(index.definition(&r.name)),
            ]);
        }
    }
    table(
        &[
            ("schemaname", Text),
            ("tablename", Text),
            ("indexname", Text),
            ("tablespace", Text),
            ("indexdef", Text),
        ],
        rows,
    )
}
