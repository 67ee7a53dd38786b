//! `pg_description`: `COMMENT ON TABLE` / `COLUMN`. (`pg_shdescription`,
//! comments on shared objects, is empty: see [`super::empty`].)

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::oids;
use super::super::rows::{Col::*, int, table, text};
use super::super::snapshot::Snapshot;

/// Comments on tables (`objsubid` 0) and their columns, as rows of
/// `pg_class` (`classoid` 1259).
pub(super) fn pg_description(snapshot: &Snapshot) -> DfResult<MemTable> {
    let rows = snapshot
        .relations
        .iter()
        .flat_map(|r| {
            r.comments.iter().map(|(subid, comment)| {
                vec![int(r.oid), int(oids::PG_CLASS), int(*subid), text(comment)]
            })
        })
        .collect();
    table(
        &[
            ("objoid", Oid),
            ("classoid", Oid),
            ("objsubid", I32),
            ("description", Text),
        ],
        rows,
    )
}
