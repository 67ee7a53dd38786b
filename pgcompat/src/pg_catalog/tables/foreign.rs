//! Sources as foreign tables: `pg_foreign_table` (each source, with its
//! connector as its only option) and `pg_foreign_server` (one server per
//! connector a source uses). `pg_foreign_data_wrapper` is empty.

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::oids::relation_oid;
use super::super::rows::{Col::*, int, null, table, text, text_array};
use super::super::snapshot::Snapshot;

/// The foreign server of a source: one per connector.
fn server_oid(connector: &str) -> i64 {
    relation_oid("server", connector)
}

pub(super) fn pg_foreign_table(snapshot: &Snapshot) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "f")
        .map(|r| {
            let connector = r.definition.clone().unwrap_or_default();
            // Only the connector: other options may hold secrets.
            let option = format!("connector={connector}");
            vec![
                int(r.oid),
                int(server_oid(&connector)),
                text_array(&[option.as_str()]),
            ]
        })
        .collect();
    table(
        &[
            ("ftrelid", Oid),
            ("ftserver", Oid),
            ("ftoptions", TextArray),
        ],
        rows,
    )
}

/// One foreign server per connector that a source uses.
pub(super) fn pg_foreign_server(snapshot: &Snapshot) -> DfResult<MemTable> {
    let mut connectors: Vec<String> = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "f")
        .filter_map(|r| r.definition.clone())
        .collect();
    connectors.sort();
    connectors.dedup();
    let rows = connectors
        .iter()
        .map(|c| {
            vec![
                int(server_oid(c)),
                text(c),
                int(10),
                int(0),
                null(),
                null(),
                null(),
                null(),
            ]
        })
        .collect();
    table(
        &[
            ("oid", Oid),
            ("srvname", Text),
            ("srvowner", Oid),
            ("srvfdw", Oid),
            ("srvtype", Text),
            ("srvversion", Text),
            ("srvacl", TextArray),
            ("srvoptions", TextArray),
        ],
        rows,
    )
}
