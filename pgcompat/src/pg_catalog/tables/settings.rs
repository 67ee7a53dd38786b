//! `pg_settings`: the session's settings (see [`crate::settings`]).

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::super::context::CatalogContext;
use super::super::rows::{Col::*, boolean, null, table, text};

pub(super) fn pg_settings(ctx: &CatalogContext) -> DfResult<MemTable> {
    let all = ctx.settings.read().unwrap_or_else(|e| e.into_inner()).all();
    let rows = all
        .into_iter()
        .map(|(name, value)| {
            let is_bool = value == "on" || value == "off";
            let numeric = value.parse::<i64>().is_ok();
            vec![
                text(&name),
                text(&value),
                null(),
                text("Eddy"),
                text(""),
                null(),
                text("user"),
                text(if is_bool {
                    "bool"
                } else if numeric {
                    "integer"
                } else {
                    "string"
                }),
                text("default"),
                null(),
                null(),
                null(),
                text(&value),
                text(&value),
                null(),
                null(),
                boolean(false),
            ]
        })
        .collect();
    table(
        &[
            ("name", Text),
            ("setting", Text),
            ("unit", Text),
            ("category", Text),
            ("short_desc", Text),
            ("extra_desc", Text),
            ("context", Text),
            ("vartype", Text),
            ("source", Text),
            ("min_val", Text),
            ("max_val", Text),
            ("enumvals", TextArray),
            ("boot_val", Text),
            ("reset_val", Text),
            ("sourcefile", Text),
            ("sourceline", I32),
            ("pending_restart", Bool),
        ],
        rows,
    )
}
