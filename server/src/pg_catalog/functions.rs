//! The PostgreSQL functions clients call while introspecting:
//! `format_type`, `pg_get_userbyid`, `pg_table_is_visible`,
//! `has_*_privilege`, `pg_get_expr`, `pg_get_constraintdef`,
//! `current_schemas`, `set_config`, `pg_get_keywords()` and the functions
//! behind [`crate::pg_compat`]'s rewrites of `::regclass` and friends.
//!
//! They work row by row on [`ScalarValue`]s: they run over catalog-sized
//! inputs, never over stream data.

use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemTable, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::{Expr, SessionContext};

use super::{CatalogContext, Snapshot, oids, types};

/// PostgreSQL's `quote_ident()`, also used for names in catalog text.
pub use eddy_sql::identifiers::quote_if_needed as quote_ident;

type RowFn = dyn Fn(&[ScalarValue]) -> DfResult<ScalarValue> + Send + Sync;

/// A scalar function evaluated row by row.
struct RowUdf {
    name: String,
    signature: Signature,
    returns: DataType,
    f: Arc<RowFn>,
}

impl std::fmt::Debug for RowUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RowUdf({})", self.name)
    }
}

impl PartialEq for RowUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for RowUdf {}

impl std::hash::Hash for RowUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for RowUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let typed = |v: ScalarValue| -> DfResult<ScalarValue> {
            if v.is_null() {
                ScalarValue::try_from(&self.returns)
            } else if v.data_type() != self.returns {
                v.cast_to(&self.returns)
            } else {
                Ok(v)
            }
        };
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            let values: Vec<ScalarValue> = args
                .args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Scalar(s) => s.clone(),
                    ColumnarValue::Array(_) => unreachable!("all scalars"),
                })
                .collect();
            return Ok(ColumnarValue::Scalar(typed((self.f)(&values)?)?));
        }
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<DfResult<_>>()?;
        let mut out = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let values = arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<DfResult<Vec<_>>>()?;
            out.push(typed((self.f)(&values)?)?);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(new_empty_array(&self.returns)));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// Registers `name` accepting any arguments in one of `arities`.
pub(crate) fn register(
    ctx: &SessionContext,
    name: &str,
    arities: &[usize],
    returns: DataType,
    f: impl Fn(&[ScalarValue]) -> DfResult<ScalarValue> + Send + Sync + 'static,
) {
    let signatures = arities
        .iter()
        .map(|n| {
            if *n == 0 {
                TypeSignature::Nullary
            } else {
                TypeSignature::Any(*n)
            }
        })
        .collect();
    ctx.register_udf(ScalarUDF::new_from_impl(RowUdf {
        name: name.into(),
        signature: Signature::one_of(signatures, Volatility::Volatile),
        returns,
        f: Arc::new(f),
    }));
}

/// An argument as an integer (OIDs arrive as integers or numeric text).
pub fn as_i64(v: &ScalarValue) -> Option<i64> {
    if v.is_null() {
        return None;
    }
    match v.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(n) => n,
        _ => None,
    }
}

pub fn as_text(v: &ScalarValue) -> Option<String> {
    if v.is_null() {
        return None;
    }
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.clone(),
        other => Some(other.to_string()),
    }
}

fn utf8(s: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(s)
}

/// Runs an async snapshot from a synchronous function body.
fn snapshot_now(ctx: &CatalogContext) -> Arc<Snapshot> {
    let ctx = ctx.clone();
    block_on(async move { ctx.snapshot().await })
}

/// Waits for `future` from synchronous code running on the server's
/// runtime (a function's body): the worker hands its other tasks to
/// another thread first (`block_in_place`), so that tasks `future` spawns,
/// or that were queued behind the caller, still run. Calls nest (a
/// catalog subquery inside another). Outside a multi-threaded runtime
/// the future is simply polled to completion here.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        _ => futures::executor::block_on(future),
    }
}

fn relation_name_of(ctx: &CatalogContext, oid: i64) -> Option<String> {
    if let Some((name, _)) = oids::SYSTEM_RELATIONS.iter().find(|(_, o)| *o == oid) {
        return Some(name.to_string());
    }
    let snapshot = snapshot_now(ctx);
    if let Some((_, index)) = snapshot.index_by_oid(oid) {
        return Some(quote_ident(&index.name));
    }
    Some(quote_ident(&snapshot.by_oid(oid)?.name))
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
        _ => None,
    }
}

/// Registers every function of this module on a session's context.
pub fn register_all(ctx: &SessionContext, cat: &CatalogContext) {
    let text = DataType::Utf8;
    let oid = DataType::Int64;
    let list_of_text = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));

    let user = cat.clone();
    for name in ["current_user", "session_user", "user", "current_role"] {
        let user = user.clone();
        register(ctx, name, &[0], text.clone(), move |_| {
            Ok(utf8(Some(user.user())))
        });
    }
    register(ctx, "current_schemas", &[1], list_of_text.clone(), |args| {
        let implicit = matches!(args[0], ScalarValue::Boolean(Some(true)));
        let names: &[&str] = if implicit {
            &["pg_catalog", "public"]
        } else {
            &["public"]
        };
        Ok(super::rows::text_array(names))
    });
    let settings = cat.settings.clone();
    register(ctx, "set_config", &[3], text.clone(), move |args| {
        set_config(&settings, args)
    });
    let user = cat.clone();
    register(ctx, "pg_get_userbyid", &[1], text.clone(), move |args| {
        Ok(utf8(as_i64(&args[0]).map(|o| {
            if o == oids::BOOTSTRAP_SUPERUSER {
                user.user()
            } else {
                format!("unknown (OID={o})")
            }
        })))
    });
    register(ctx, "format_type", &[2], text.clone(), |args| {
        let Some(oid) = as_i64(&args[0]) else {
            return Ok(ScalarValue::Null);
        };
        let typmod = as_i64(&args[1]).map(|m| m as i32);
        Ok(utf8(Some(
            types::format_type(oid, typmod).unwrap_or_else(|| "???".into()),
        )))
    });
    register(
        ctx,
        "format",
        &[1, 2, 3, 4, 5, 6, 7, 8],
        DataType::Utf8,
        |args| {
            let Some(template) = as_text(&args[0]) else {
                return Ok(ScalarValue::Utf8(None));
            };
            format_pg(&template, &args[1..])
                .map(|s| ScalarValue::Utf8(Some(s)))
                .map_err(|message| {
                    DataFusionError::External(Box::new(crate::error::UserError::new(
                        "22023", message,
                    )))
                })
        },
    );
    // No index is ever scanned: indexes are recorded, unique ones enforced.
    register(ctx, "pg_stat_get_numscans", &[1], DataType::Int64, |_| {
        Ok(ScalarValue::Int64(Some(0)))
    });
    // No rules.
    register(ctx, "pg_get_ruledef", &[1, 2], DataType::Utf8, |_| {
        Ok(ScalarValue::Utf8(None))
    });
    register(ctx, "pg_size_pretty", &[1], DataType::Utf8, |args| {
        Ok(ScalarValue::Utf8(as_i64(&args[0]).map(size_pretty)))
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
    // Eddy has no triggers (pg_trigger is empty).
    register(ctx, "pg_get_triggerdef", &[1, 2], DataType::Utf8, |_| {
        Ok(ScalarValue::Utf8(None))
    });
    // Eddy has no partitioned tables: a relation's only "ancestor" is itself.
    register(
        ctx,
        "pg_partition_ancestors",
        &[1],
        DataType::Int64,
        |args| Ok(ScalarValue::Int64(as_i64(&args[0]))),
    );
    // `LIKE p ESCAPE 'e'` with a pattern known only at execution
    // (rewritten by `pg_compat`): the pattern with backslash escapes.
    register(ctx, "eddy_like_pattern", &[2], DataType::Utf8, |args| {
        let (Some(pattern), Some(escape)) = (as_text(&args[0]), as_text(&args[1])) else {
            return Ok(ScalarValue::Utf8(None));
        };
        crate::pg_compat::backslash_escaped(&pattern, &escape)
            .map(|p| ScalarValue::Utf8(Some(p)))
            .ok_or_else(|| {
                DataFusionError::External(Box::new(crate::error::UserError::new(
                    "22025",
                    "invalid escape string",
                )))
            })
    });
    for name in [
        "pg_table_is_visible",
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_collation_is_visible",
        "pg_opclass_is_visible",
    ] {
        register(ctx, name, &[1], DataType::Boolean, |_| {
            Ok(ScalarValue::Boolean(Some(true)))
        });
    }
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_any_column_privilege",
        "has_sequence_privilege",
        "has_function_privilege",
        "pg_has_role",
    ] {
        register(ctx, name, &[2, 3, 4], DataType::Boolean, |_| {
            Ok(ScalarValue::Boolean(Some(true)))
        });
    }
    for name in ["pg_relation_is_publishable", "pg_is_in_recovery"] {
        register(ctx, name, &[0, 1], DataType::Boolean, |_| {
            Ok(ScalarValue::Boolean(Some(false)))
        });
    }
    // Expressions are stored as SQL text: `pg_get_expr` returns them as is.
    register(ctx, "pg_get_expr", &[2, 3], text.clone(), |args| {
        Ok(utf8(as_text(&args[0])))
    });
    for name in [
        "shobj_description",
        "pg_get_statisticsobjdef_columns",
        "pg_get_serial_sequence",
        "pg_get_partkeydef",
        "pg_get_function_identity_arguments",
        "pg_get_function_result",
    ] {
        register(ctx, name, &[1, 2], text.clone(), |_| Ok(ScalarValue::Null));
    }
    register(ctx, "pg_encoding_to_char", &[1], text.clone(), |args| {
        Ok(utf8(as_i64(&args[0]).map(|e| {
            if e == 6 { "UTF8" } else { "SQL_ASCII" }.to_string()
        })))
    });
    register(ctx, "pg_tablespace_location", &[1], text.clone(), |_| {
        Ok(utf8(Some(String::new())))
    });
    for name in [
        "pg_total_relation_size",
        "pg_relation_size",
        "pg_table_size",
        "pg_indexes_size",
    ] {
        register(ctx, name, &[1, 2], DataType::Int64, |_| {
            Ok(ScalarValue::Int64(Some(0)))
        });
    }
    register(ctx, "quote_ident", &[1], text.clone(), |args| {
        Ok(utf8(as_text(&args[0]).map(|s| quote_ident(&s))))
    });
    register(ctx, "quote_literal", &[1], text.clone(), |args| {
        Ok(utf8(
            as_text(&args[0]).map(|s| format!("'{}'", s.replace('\'', "''"))),
        ))
    });
    // Bounds of a one-dimensional array: NULL for an empty array or
    // another dimension, as in PostgreSQL.
    for (name, lower) in [("array_upper", false), ("array_lower", true)] {
        register(ctx, name, &[2], DataType::Int64, move |args| {
            let length = match &args[0] {
                ScalarValue::List(l) if !l.is_null(0) => l.value(0).len() as i64,
                _ => 0,
            };
            Ok(ScalarValue::Int64(
                (length > 0 && as_i64(&args[1]) == Some(1)).then_some(if lower {
                    1
                } else {
                    length
                }),
            ))
        });
    }
    let text_list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    register(ctx, "parse_ident", &[1, 2], text_list, |args| {
        let Some(name) = as_text(&args[0]) else {
            return Ok(ScalarValue::Null);
        };
        let parts = parse_ident(&name).ok_or_else(|| {
            DataFusionError::External(Box::new(crate::error::UserError::new(
                "22023",
                format!("string is not a valid identifier: \"{name}\""),
            )))
        })?;
        let values: Vec<ScalarValue> = parts
            .into_iter()
            .map(|p| ScalarValue::Utf8(Some(p)))
            .collect();
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(
            &values,
            &DataType::Utf8,
        )))
    });
    register(ctx, "txid_current", &[0], DataType::Int64, |_| {
        Ok(ScalarValue::Int64(Some(1)))
    });

    // Object identifiers (see `pg_compat`).
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
    let c = cat.clone();
    register(ctx, "eddy_regclass_name", &[1], text.clone(), move |args| {
        Ok(utf8(as_i64(&args[0]).map(|o| {
            relation_name_of(&c, o).unwrap_or_else(|| o.to_string())
        })))
    });
    register(ctx, "eddy_regnamespace_oid", &[1], oid.clone(), |args| {
        Ok(ScalarValue::Int64(as_text(&args[0]).and_then(|n| {
            [oids::PG_CATALOG, oids::PUBLIC, oids::INFORMATION_SCHEMA]
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
    // `\d` of a foreign table writes it (see `pg_compat`).
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
            Ok(super::rows::text_array(&shown))
        },
    );
    register(
        ctx,
        "json_build_object",
        &[0, 2, 4, 6, 8, 10, 12, 14, 16],
        DataType::Utf8,
        |args| {
            let mut object = serde_json::Map::new();
            for pair in args.chunks(2) {
                let key = as_text(&pair[0]).unwrap_or_default();
                object.insert(key, json_value(&pair[1]));
            }
            Ok(utf8(Some(serde_json::Value::Object(object).to_string())))
        },
    );
    ctx.register_udtf("pg_get_keywords", Arc::new(Keywords));
    // DataFusion's series functions take literals only; clients pass
    // constant expressions (`generate_series(1, array_upper(current_schemas(false), 1))`).
    for builtin in datafusion::functions_table::all_default_table_functions() {
        if matches!(builtin.name(), "generate_series" | "range") {
            ctx.register_udtf(
                builtin.name(),
                Arc::new(ConstantArguments {
                    inner: builtin.function().clone(),
                }),
            );
        }
    }
}

fn json_value(v: &ScalarValue) -> serde_json::Value {
    if v.is_null() {
        return serde_json::Value::Null;
    }
    match v {
        ScalarValue::Boolean(Some(b)) => serde_json::Value::Bool(*b),
        other => match as_i64(other) {
            Some(n) if !matches!(other, ScalarValue::Utf8(_)) => serde_json::Value::from(n),
            _ => serde_json::Value::String(as_text(other).unwrap_or_default()),
        },
    }
}

fn set_config(
    settings: &RwLock<crate::settings::Settings>,
    args: &[ScalarValue],
) -> DfResult<ScalarValue> {
    let (Some(name), Some(value)) = (as_text(&args[0]), as_text(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    let mut settings = settings.write().unwrap_or_else(|e| e.into_inner());
    settings
        .set(&name, &value)
        .map_err(|e| datafusion::error::DataFusionError::Execution(e.message))?;
    Ok(utf8(settings.get(&name).ok()))
}

/// `pg_size_pretty(bytes)` as PostgreSQL prints it: bytes below 10 kB,
/// then kB, MB, GB, TB, PB, each rounded half away from zero.
fn size_pretty(bytes: i64) -> String {
    // (name, below this many of the unit, rounded, bits of the unit)
    const UNITS: [(&str, i64, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let mut size = bytes;
    for (i, (name, limit, round, bits)) in UNITS.iter().enumerate() {
        let last = i + 1 == UNITS.len();
        if last || size.abs() < *limit {
            if *round {
                size = (size + if size < 0 { -1 } else { 1 }) / 2;
            }
            return format!("{size} {name}");
        }
        let (_, _, next_round, next_bits) = UNITS[i + 1];
        let shift = next_bits - bits - u32::from(next_round) + u32::from(*round);
        size /= 1i64 << shift;
    }
    unreachable!("the last unit always answers")
}

/// PostgreSQL's `format()`: `%s` (the value as text, NULL as empty),
/// `%I` (an identifier, quoted when needed), `%L` (a literal, NULL as
/// `NULL`), `%%`, and positions (`%2$s`).
fn format_pg(template: &str, args: &[ScalarValue]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let index = if digits.is_empty() {
            None
        } else if chars.next_if_eq(&'$').is_some() {
            Some(digits.parse::<usize>().map_err(|e| e.to_string())?)
        } else {
            return Err("unrecognized format() type specifier".into());
        };
        let conversion = chars.next().ok_or("unterminated format() type specifier")?;
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let i = match index {
            Some(0) => {
                return Err(
                    "format specifies argument 0, but arguments are numbered from 1".into(),
                );
            }
            Some(n) => n - 1,
            None => next,
        };
        next = i + 1;
        let value = args.get(i).ok_or("too few arguments for format()")?;
        let text = if value.is_null() {
            None
        } else {
            Some(as_text(value).unwrap_or_else(|| value.to_string()))
        };
        match conversion {
            's' => out.push_str(text.as_deref().unwrap_or("")),
            'I' => out.push_str(&quote_ident(
                &text.ok_or("null values cannot be formatted as an SQL identifier")?,
            )),
            'L' => match text {
                Some(t) => out.push_str(&format!("'{}'", t.replace('\'', "''"))),
                None => out.push_str("NULL"),
            },
            other => return Err(format!("unrecognized format() type specifier \"{other}\"")),
        }
    }
    Ok(out)
}

/// `parse_ident('a."B c".d')` → `["a", "B c", "d"]`: unquoted parts fold
/// to lower case, quoted ones keep their text (`""` is a quote). `None`
/// when the text is not a qualified identifier.
fn parse_ident(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
            if part.is_empty() {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c.is_whitespace() {
                    break;
                }
                if !(c.is_alphanumeric() || c == '_' || c == '$') {
                    return None;
                }
                part.push(c.to_lowercase().next().unwrap_or(c));
                chars.next();
            }
            if part.is_empty() {
                return None;
            }
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(parts),
            Some('.') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => return None,
        }
    }
}

/// A table function whose arguments are evaluated first when they are
/// constant expressions rather than literals; integers are widened to
/// BIGINT, the type DataFusion's series functions want.
#[derive(Debug)]
struct ConstantArguments {
    inner: Arc<dyn TableFunctionImpl>,
}

impl TableFunctionImpl for ConstantArguments {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let session = args.session();
        let empty = datafusion::common::DFSchema::empty();
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let exprs = args
            .exprs()
            .iter()
            .map(|e| {
                let value = match e {
                    Expr::Literal(v, _) => v.clone(),
                    other if other.column_refs().is_empty() => {
                        let physical = session.create_physical_expr(other.clone(), &empty)?;
                        match physical.evaluate(&one_row)? {
                            datafusion::logical_expr::ColumnarValue::Scalar(v) => v,
                            datafusion::logical_expr::ColumnarValue::Array(a) => {
                                ScalarValue::try_from_array(&a, 0)?
                            }
                        }
                    }
                    other => return Ok(other.clone()),
                };
                let value = match value.data_type() {
                    DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32 => value.cast_to(&DataType::Int64)?,
                    _ if value.is_null() => ScalarValue::Null,
                    _ => value,
                };
                Ok(Expr::Literal(value, None))
            })
            .collect::<DfResult<Vec<_>>>()?;
        self.inner
            .call_with_args(TableFunctionArgs::new(&exprs, session))
    }
}

/// `pg_get_keywords()`: the SQL keywords of the parser Eddy uses.
#[derive(Debug)]
struct Keywords;

impl TableFunctionImpl for Keywords {
    fn call(&self, _args: &[Expr]) -> DfResult<Arc<dyn TableProvider>> {
        let reserved = datafusion::sql::sqlparser::keywords::RESERVED_FOR_COLUMN_ALIAS;
        let words: Vec<String> = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .collect();
        let catcode: StringArray = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS_INDEX
            .iter()
            .map(|k| Some(if reserved.contains(k) { "R" } else { "U" }))
            .collect();
        let catdesc: StringArray = catcode
            .iter()
            .map(|c| {
                Some(if c == Some("R") {
                    "reserved"
                } else {
                    "unreserved"
                })
            })
            .collect();
        let barelabel: datafusion::arrow::array::BooleanArray =
            catcode.iter().map(|c| Some(c != Some("R"))).collect();
        let baredesc: StringArray = barelabel
            .iter()
            .map(|b| {
                Some(if b == Some(true) {
                    "can be bare label"
                } else {
                    "requires AS"
                })
            })
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("catcode", DataType::Utf8, false),
            Field::new("barelabel", DataType::Boolean, false),
            Field::new("catdesc", DataType::Utf8, false),
            Field::new("baredesc", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(words)),
                Arc::new(catcode),
                Arc::new(barelabel),
                Arc::new(catdesc),
                Arc::new(baredesc),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;

    use super::{format_pg, parse_ident};

    #[test]
    fn sizes_like_postgres() {
        use super::size_pretty;
        // Values checked against PostgreSQL 15's pg_size_pretty.
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(20_971_519), "20 MB");
        assert_eq!(size_pretty(20_971_520), "20 MB");
        assert_eq!(size_pretty(-10240), "-10 kB");
        assert_eq!(size_pretty(1_099_511_627_776), "1024 GB");
    }

    #[test]
    fn format_like_postgres() {
        let text = |s: &str| ScalarValue::Utf8(Some(s.into()));
        assert_eq!(
            format_pg(
                "%I.%I = %L, %s%%",
                &[
                    text("public"),
                    text("My T"),
                    text("it's"),
                    ScalarValue::Int64(Some(5))
                ]
            ),
            Ok("public.\"My T\" = 'it''s', 5%".into())
        );
        assert_eq!(
            format_pg("%2$s %1$s %s", &[text("a"), text("b")]),
            Ok("b a b".into())
        );
        assert_eq!(
            format_pg(
                "%L|%s|",
                &[ScalarValue::Utf8(None), ScalarValue::Utf8(None)]
            ),
            Ok("NULL||".into())
        );
        assert!(format_pg("%s %s", &[text("a")]).is_err());
    }

    #[test]
    fn parse_ident_splits_and_folds_like_postgres() {
        assert_eq!(
            parse_ident("public.T1"),
            Some(vec!["public".into(), "t1".into()])
        );
        assert_eq!(
            parse_ident("\"My \"\"x\"\" Table\" . b"),
            Some(vec!["My \"x\" Table".into(), "b".into()])
        );
        assert_eq!(parse_ident("a..b"), None);
        assert_eq!(parse_ident("a b"), None);
        assert_eq!(parse_ident("\"open"), None);
    }
}
