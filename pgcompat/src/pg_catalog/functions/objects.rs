//! Object identifiers and definitions: `format_type`, the `regclass` /
//! `regtype` / `regnamespace` / `regrole` casts [`crate::dialect`]
//! rewrites into `eddy_reg*` calls (and `to_regclass`, `to_regtype`),
//! `obj_description` / `col_description`, `pg_get_constraintdef`,
//! `pg_get_indexdef`, `pg_get_viewdef`, and the options of a foreign table
//! as psql's `\d` shows them. Those that read the catalog read the
//! statement's snapshot, as its catalog tables do.

use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

use super::super::context::CatalogContext;
use super::super::snapshot::Snapshot;
use super::super::{oids, types};
use eddy_sql::identifiers::quote_if_needed as quote_ident;

use crate::udf::{as_i64, as_text, block_on, register, utf8};

/// The statement's catalog snapshot, from a synchronous function body.
fn snapshot_now(ctx: &CatalogContext) -> Arc<Snapshot> {
    let ctx = ctx.clone();
    block_on(async move { ctx.snapshot().await })
}

fn relation_name_of(ctx: &CatalogContext, oid: i64) -> Option<String> {
    if let Some((name, _)) = oids::SYSTEM_RELATIONS.iter().find(|(_, o)| *o == oid) {
        return Some(name.to_string());
    }
    let snapshot = snapshot_now(ctx);
    if let Some((_, index)) = snapshot.index_by_oid(oid) {
        return Some(quote_ident(&index.name));
    }
    // Relations off the search path print with their schema.
    let r = snapshot.by_oid(oid)?;
    Some(match r.schema {
        "public" => quote_ident(&r.name),
        schema => format!("{schema}.{}", quote_ident(&r.name)),
    })
}

fn relation_oid_of(ctx: &CatalogContext, name: &str) -> Option<i64> {
    let bare = name
        .trim()
        .strip_prefix("pg_catalog.")
        .unwrap_or(name.trim());
    if let Some((_, oid)) = oids::SYSTEM_RELATIONS.iter().find(|(n, _)| *n == bare) {
        return Some(*oid);
    }
    let snapshot = snapshot_now(ctx);
    if let Some(r) = snapshot.by_name(name) {
        return Some(r.oid);
    }
    snapshot
        .relations
        .iter()
        .flat_map(|r| &r.indexes)
        .find(|i| i.name == bare)
        .map(|i| i.oid())
}

fn namespace_name(oid: i64) -> Option<&'static str> {
    match oid {
        oids::PG_CATALOG => Some("pg_catalog"),
        oids::PUBLIC => Some("public"),
        oids::INFORMATION_SCHEMA => Some("information_schema"),
        oids::EDDY_CATALOG => Some(oids::EDDY_CATALOG_SCHEMA),
        _ => None,
    }
}

pub(super) fn register_all(ctx: &SessionContext, cat: &CatalogContext) {
    let text = DataType::Utf8;
    let oid = DataType::Int64;
    let list_of_text = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));

    register(ctx, "format_type", &[2], text.clone(), |args| {
        let Some(oid) = as_i64(&args[0]) else {
            return Ok(ScalarValue::Null);
        };
        let typmod = as_i64(&args[1]).map(|m| m as i32);
        Ok(utf8(Some(
            types::format_type(oid, typmod).unwrap_or_else(|| "???".into()),
        )))
    });
    // Comments (`COMMENT ON TABLE` / `COLUMN`): `obj_description(oid[,
    // catalog])` of a relation, `col_description(oid, attnum)`.
    let c = cat.clone();
    register(
        ctx,
        "obj_description",
        &[1, 2],
        DataType::Utf8,
        move |args| {
            let catalog = args.get(1).and_then(as_text);
            if catalog.as_deref().is_some_and(|c| c != "pg_class") {
                return Ok(ScalarValue::Utf8(None));
            }
            Ok(ScalarValue::Utf8(
                as_i64(&args[0]).and_then(|oid| snapshot_now(&c).comment(oid, 0)),
            ))
        },
    );
    let c = cat.clone();
    register(ctx, "col_description", &[2], DataType::Utf8, move |args| {
        let (Some(oid), Some(column)) = (as_i64(&args[0]), as_i64(&args[1])) else {
            return Ok(ScalarValue::Utf8(None));
        };
        Ok(ScalarValue::Utf8(if column > 0 {
            snapshot_now(&c).comment(oid, column)
        } else {
            None
        }))
    });
    // Object identifiers (see `dialect`).
    for name in ["eddy_regtype_oid", "to_regtype"] {
        register(ctx, name, &[1], oid.clone(), |args| {
            Ok(ScalarValue::Int64(
                as_text(&args[0])
                    .and_then(|n| types::by_name(&n))
                    .map(|t| t.oid),
            ))
        });
    }
    for name in ["eddy_regclass_oid", "to_regclass"] {
        let c = cat.clone();
        register(ctx, name, &[1], oid.clone(), move |args| {
            // regclass input: a name, or an OID in digits.
            Ok(ScalarValue::Int64(as_text(&args[0]).and_then(
                |n| match n.trim().parse::<i64>() {
                    Ok(oid) => Some(oid),
                    Err(_) => relation_oid_of(&c, &n),
                },
            )))
        });
    }
    // On the search path: every relation but the `eddy_catalog` ones, so
    // psql's `\d` lists them only when asked (`\d eddy_catalog.*`).
    let c = cat.clone();
    register(
        ctx,
        "pg_table_is_visible",
        &[1],
        DataType::Boolean,
        move |args| {
            Ok(ScalarValue::Boolean(as_i64(&args[0]).map(|oid| {
                snapshot_now(&c)
                    .by_oid(oid)
                    .is_none_or(|r| r.schema != oids::EDDY_CATALOG_SCHEMA)
            })))
        },
    );
    let c = cat.clone();
    register(ctx, "eddy_regclass_name", &[1], text.clone(), move |args| {
        Ok(utf8(as_i64(&args[0]).map(|o| {
            relation_name_of(&c, o).unwrap_or_else(|| o.to_string())
        })))
    });
    register(ctx, "eddy_regnamespace_oid", &[1], oid.clone(), |args| {
        Ok(ScalarValue::Int64(as_text(&args[0]).and_then(|n| {
            [
                oids::PG_CATALOG,
                oids::PUBLIC,
                oids::INFORMATION_SCHEMA,
                oids::EDDY_CATALOG,
            ]
            .into_iter()
            .find(|o| namespace_name(*o) == Some(n.as_str()))
        })))
    });
    register(ctx, "eddy_regnamespace_name", &[1], text.clone(), |args| {
        Ok(utf8(as_i64(&args[0]).map(|o| {
            namespace_name(o).map_or_else(|| o.to_string(), str::to_string)
        })))
    });
    let user = cat.clone();
    register(ctx, "eddy_regrole_oid", &[1], oid.clone(), move |args| {
        Ok(ScalarValue::Int64(
            as_text(&args[0])
                .filter(|n| *n == user.user())
                .map(|_| oids::BOOTSTRAP_SUPERUSER),
        ))
    });

    // Definitions.
    let c = cat.clone();
    register(
        ctx,
        "pg_get_constraintdef",
        &[1, 2],
        text.clone(),
        move |args| {
            let Some(oid) = as_i64(&args[0]) else {
                return Ok(ScalarValue::Null);
            };
            let snapshot = snapshot_now(&c);
            Ok(utf8(
                snapshot
                    .relations
                    .iter()
                    .find_map(|r| r.constraint_by_oid(oid)),
            ))
        },
    );
    let c = cat.clone();
    register(ctx, "pg_get_indexdef", &[1, 3], text.clone(), move |args| {
        let Some(oid) = as_i64(&args[0]) else {
            return Ok(ScalarValue::Null);
        };
        let snapshot = snapshot_now(&c);
        let Some((r, index)) = snapshot.index_by_oid(oid) else {
            return Ok(ScalarValue::Null);
        };
        // With a column number, the definition of that column only.
        if let Some(n) = args.get(1).and_then(as_i64).filter(|n| *n > 0) {
            return Ok(utf8(
                index.columns.get(n as usize - 1).map(|k| quote_ident(k)),
            ));
        }
        Ok(utf8(Some(index.definition(&r.name))))
    });
    let c = cat.clone();
    register(ctx, "pg_get_viewdef", &[1, 2], text.clone(), move |args| {
        let Some(oid) = as_i64(&args[0]) else {
            return Ok(ScalarValue::Null);
        };
        let snapshot = snapshot_now(&c);
        Ok(utf8(
            snapshot
                .by_oid(oid)
                .filter(|r| r.relkind == "m")
                .and_then(|r| r.definition.clone()),
        ))
    });
    // `pg_options_to_table(ftoptions)` under `ARRAY(SELECT …)`, as psql's
    // `\d` of a foreign table writes it (see `dialect`).
    register(
        ctx,
        "eddy_options_array",
        &[1],
        list_of_text.clone(),
        |args| {
            let ScalarValue::List(list) = &args[0] else {
                return Ok(ScalarValue::Null);
            };
            if list.is_null(0) {
                return Ok(ScalarValue::Null);
            }
            let values = list.value(0);
            let Some(values) = values.as_any().downcast_ref::<StringArray>() else {
                return Ok(ScalarValue::Null);
            };
            let shown: Vec<String> = values
                .iter()
                .flatten()
                .map(|o| match o.split_once('=') {
                    Some((k, v)) => format!("{} '{}'", quote_ident(k), v.replace('\'', "''")),
                    None => o.to_string(),
                })
                .collect();
            let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
            Ok(super::super::rows::text_array(&shown))
        },
    );
}
