//! The `pg_catalog` tables: PostgreSQL's column names and order (the
//! columns clients read), rows from the live catalog. One file per system
//! relation or small family of them:
//!
//! | file | relations |
//! |---|---|
//! | [`class`] | `pg_class` |
//! | [`attribute`] | `pg_attribute`, `pg_attrdef` |
//! | [`index`] | `pg_index`, `pg_indexes` |
//! | [`constraint`] | `pg_constraint` |
//! | [`description`] | `pg_description` |
//! | [`relation_views`] | `pg_tables`, `pg_matviews` |
//! | [`foreign`] | `pg_foreign_table`, `pg_foreign_server` |
//! | [`stat`] | `pg_stat_user_tables`, `pg_stat_activity` |
//! | [`type_`] | `pg_type` |
//! | [`roles`] | `pg_roles`, `pg_authid`, `pg_user` |
//! | [`settings`] | `pg_settings` |
//! | [`database`] | `pg_database`, `pg_namespace`, `pg_tablespace` |
//! | [`builtin`] | `pg_am`, `pg_language`, `pg_collation`, `pg_extension` |
//! | [`empty`] | the relations Eddy has no rows for (`pg_proc`, `pg_trigger`, …) |
//!
//! The relations of Eddy's objects read the statement's [`Snapshot`];
//! the others read nothing of the catalog.

mod attribute;
mod builtin;
mod class;
mod constraint;
mod database;
mod description;
mod empty;
mod foreign;
mod index;
mod relation_views;
mod roles;
mod settings;
mod stat;
mod type_;

use datafusion::catalog::MemTable;
use datafusion::error::Result as DfResult;

use super::context::CatalogContext;
use super::rows::table;
use super::snapshot::Snapshot;

/// Every relation of `pg_catalog`, sorted.
pub const NAMES: &[&str] = &[
    "pg_am",
    "pg_attrdef",
    "pg_attribute",
    "pg_auth_members",
    "pg_authid",
    "pg_class",
    "pg_collation",
    "pg_constraint",
    "pg_database",
    "pg_description",
    "pg_enum",
    "pg_extension",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_foreign_table",
    "pg_index",
    "pg_indexes",
    "pg_inherits",
    "pg_language",
    "pg_matviews",
    "pg_namespace",
    "pg_opclass",
    "pg_policy",
    "pg_proc",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_range",
    "pg_rewrite",
    "pg_roles",
    "pg_sequence",
    "pg_sequences",
    "pg_settings",
    "pg_shdescription",
    "pg_stat_activity",
    "pg_stat_user_tables",
    "pg_statistic_ext",
    "pg_tables",
    "pg_tablespace",
    "pg_trigger",
    "pg_type",
    "pg_user",
    "pg_views",
];

/// Builds `name`, or `None` if `pg_catalog` has no such table.
pub async fn build(ctx: &CatalogContext, name: &str) -> DfResult<Option<MemTable>> {
    if !NAMES.contains(&name) {
        return Ok(None);
    }
    if let Some(columns) = empty::columns(name) {
        return table(columns, vec![]).map(Some);
    }
    let fixed = match name {
        "pg_type" => Some(type_::pg_type()),
        "pg_database" => Some(database::pg_database(ctx)),
        "pg_namespace" => Some(database::pg_namespace()),
        "pg_tablespace" => Some(database::pg_tablespace()),
        "pg_am" => Some(builtin::pg_am()),
        "pg_language" => Some(builtin::pg_language()),
        "pg_collation" => Some(builtin::pg_collation()),
        "pg_extension" => Some(builtin::pg_extension()),
        "pg_roles" | "pg_authid" => Some(roles::pg_roles(&roles::roles(ctx))),
        "pg_user" => Some(roles::pg_user(&roles::roles(ctx))),
        "pg_settings" => Some(settings::pg_settings(ctx)),
        "pg_stat_activity" => Some(stat::pg_stat_activity(ctx, &ctx.user())),
        _ => None,
    };
    if let Some(table) = fixed {
        return table.map(Some);
    }
    let snapshot = ctx.snapshot().await;
    of_snapshot(&snapshot, name, &ctx.user()).transpose()
}

/// The relations that describe Eddy's objects, built from `snapshot`.
fn of_snapshot(snapshot: &Snapshot, name: &str, user: &str) -> Option<DfResult<MemTable>> {
    Some(match name {
        "pg_class" => class::pg_class(snapshot),
        "pg_attribute" => attribute::pg_attribute(snapshot),
        "pg_attrdef" => attribute::pg_attrdef(snapshot),
        "pg_index" => index::pg_index(snapshot),
        "pg_indexes" => index::pg_indexes(snapshot),
        "pg_constraint" => constraint::pg_constraint(snapshot),
        "pg_description" => description::pg_description(snapshot),
        "pg_tables" => relation_views::pg_tables(snapshot, user),
        "pg_matviews" => relation_views::pg_matviews(snapshot, user),
        "pg_foreign_table" => foreign::pg_foreign_table(snapshot),
        "pg_foreign_server" => foreign::pg_foreign_server(snapshot),
        "pg_stat_user_tables" => stat::pg_stat_user_tables(snapshot),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::datasource::TableProvider;

    use super::super::testing::{GrowingCatalog, context};
    use super::*;

    #[tokio::test]
    async fn every_listed_relation_builds_and_no_other() {
        let ctx = context(Arc::new(GrowingCatalog::default()), Default::default());
        assert!(NAMES.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        for name in NAMES {
            let table = build(&ctx, name).await.unwrap();
            let schema = table.unwrap_or_else(|| panic!("{name} builds")).schema();
            assert!(!schema.fields().is_empty(), "{name} has columns");
        }
        assert!(build(&ctx, "pg_no_such_table").await.unwrap().is_none());
    }
}
