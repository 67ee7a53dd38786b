//! Statistics views: `pg_stat_user_tables` (each table's live rows,
//! nothing else is counted) and `pg_stat_activity` (the session's own
//! backend).

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::context::CatalogContext;
use super::super::rows::{Col::*, int, null, table, text};
use super::super::snapshot::Snapshot;

pub(super) fn pg_stat_user_tables(snapshot: &Snapshot) -> DfResult<MemTable> {
    let counters = [
        "seq_scan",
        "seq_tup_read",
        "idx_scan",
        "idx_tup_fetch",
        "n_tup_ins",
        "n_tup_upd",
        "n_tup_del",
        "n_tup_hot_upd",
        "n_live_tup",
        "n_dead_tup",
        "n_mod_since_analyze",
        "n_ins_since_vacuum",
    ];
    let mut columns = vec![("relid", Oid), ("schemaname", Text), ("relname", Text)];
    columns.extend(counters.iter().map(|c| (*c, I64)));
    for c in [
        "last_vacuum",
        "last_autovacuum",
        "last_analyze",
        "last_autoanalyze",
    ] {
        columns.push((c, Timestamptz));
    }
    for c in [
        "vacuum_count",
        "autovacuum_count",
        "analyze_count",
        "autoanalyze_count",
    ] {
        columns.push((c, I64));
    }
    let rows = snapshot
        .relations
        .iter()
        .filter(|r| r.relkind == "r")
        .map(|r| {
            let live = r.rows.unwrap_or(0);
            let mut row = vec![int(r.oid), text("public"), text(&r.name)];
            for c in counters {
                row.push(int(if c == "n_live_tup" || c == "n_tup_ins" {
                    live
                } else {
                    0
                }));
            }
            row.extend([null(), null(), null(), null()]);
            row.extend([int(0), int(0), int(0), int(0)]);
            row
        })
        .collect();
    table(&columns, rows)
}

pub(super) fn pg_stat_activity(ctx: &CatalogContext, user: &str) -> DfResult<MemTable> {
    table(
        &[
            ("datid", Oid),
            ("datname", Text),
            ("pid", I32),
            ("usesysid", Oid),
            ("usename", Text),
            ("application_name", Text),
            ("client_addr", Text),
            ("backend_start", Timestamptz),
            ("state", Text),
            ("query", Text),
            ("backend_type", Text),
        ],
        vec![vec![
            int(ctx
                .source
                .databases()
                .iter()
                .find(|d| d.name == ctx.database_name)
                .map_or(0, |d| d.oid)),
            text(&ctx.database_name),
            int(i64::from(std::process::id())),
            int(10),
            text(user),
            text(
                ctx.settings
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get("application_name")
                    .unwrap_or_default(),
            ),
            null(),
            null(),
            text("active"),
            null(),
            text("client backend"),
        ]],
    )
}
