//! The PostgreSQL functions clients call while introspecting, and the
//! functions behind [`crate::dialect`]'s rewrites of `::regclass` and
//! friends, each registered as a [`crate::udf`] row function.
//!
//! - `session.rs`: who and where the session is — `current_user` and its
//!   synonyms, `current_schemas`, `set_config`, `pg_get_userbyid`;
//! - `objects.rs`: object identifiers and definitions, read from the
//!   statement's catalog snapshot — `format_type`, `to_regclass` and the
//!   `eddy_reg*` casts, `obj_description` / `col_description`,
//!   `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_viewdef`;
//! - `fixed_answers.rs`: functions whose answer Eddy knows without looking
//!   (every privilege granted, no rules, triggers, partitions or sizes);
//! - `text.rs`: text and value functions PostgreSQL has and DataFusion
//!   lacks — `format`, `quote_ident`, `parse_ident`, `pg_size_pretty`,
//!   `json_build_object`, array bounds;
//! - `table_functions.rs`: `pg_get_keywords()`, and `generate_series` /
//!   `range` taking constant expressions.

mod fixed_answers;
mod objects;
mod session;
mod table_functions;
mod text;

use datafusion::prelude::SessionContext;

use super::context::CatalogContext;

/// Registers every function of this module on a session's context.
pub fn register_all(ctx: &SessionContext, cat: &CatalogContext) {
    session::register_all(ctx, cat);
    objects::register_all(ctx, cat);
    fixed_answers::register_all(ctx);
    text::register_all(ctx);
    table_functions::register_all(ctx);
}
