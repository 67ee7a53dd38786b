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
use datafusion::catalog::{MemTable, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::{Expr, SessionContext};

use super::{CatalogContext, Snapshot, oids, types};

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
fn snapshot_now(ctx: &CatalogContext) -> Snapshot {
    let ctx = ctx.clone();
    let build = async move { ctx.snapshot().await };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(build))
        }
        _ => futures::executor::block_on(build),
    }
}

/// `"name"` if PostgreSQL would quote it.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !datafusion::sql::sqlparser::keywords::RESERVED_FOR_COLUMN_ALIAS
            .iter()
            .any(|k| format!("{k:?}").eq_ignore_ascii_case(name));
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn relation_name_of(ctx: &CatalogContext, oid: i64) -> Option<String> {
    if let Some((name, _)) = oids::SYSTEM_RELATIONS.iter().find(|(_, o)| *o == oid) {
        return Some(name.to_string());
    }
    let snapshot = snapshot_now(ctx);
    let r = snapshot.by_oid(oid)?;
    Some(quote_ident(&if r.oid == oid {
        r.name.clone()
    } else {
        r.pkey_name()
    }))
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
        .find(|r| !r.primary_key.is_empty() && r.pkey_name() == bare)
        .map(|r| r.pkey_oid())
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
        Ok(super::data::text_array(names))
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
        "obj_description",
        "col_description",
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
    register(ctx, "array_upper", &[2], DataType::Int64, |args| {
        Ok(match &args[0] {
            ScalarValue::List(l) if !l.is_null(0) => {
                ScalarValue::Int64(Some(l.value(0).len() as i64))
            }
            _ => ScalarValue::Int64(None),
        })
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
            Ok(ScalarValue::Int64(
                as_text(&args[0]).and_then(|n| relation_oid_of(&c, &n)),
            ))
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
                    .find(|r| !r.primary_key.is_empty() && r.constraint_oid() == oid)
                    .map(|r| format!("PRIMARY KEY ({})", quoted_list(&r.primary_key))),
            ))
        },
    );
    let c = cat.clone();
    register(ctx, "pg_get_indexdef", &[1, 3], text.clone(), move |args| {
        let Some(oid) = as_i64(&args[0]) else {
            return Ok(ScalarValue::Null);
        };
        let snapshot = snapshot_now(&c);
        let Some(r) = snapshot
            .relations
            .iter()
            .find(|r| !r.primary_key.is_empty() && r.pkey_oid() == oid)
        else {
            return Ok(ScalarValue::Null);
        };
        // With a column number, the definition of that column only.
        if let Some(n) = args.get(1).and_then(as_i64).filter(|n| *n > 0) {
            return Ok(utf8(
                r.primary_key.get(n as usize - 1).map(|k| quote_ident(k)),
            ));
        }
        Ok(utf8(Some(format!(
            "CREATE UNIQUE INDEX {} ON public.{} USING btree ({})",
            quote_ident(&r.pkey_name()),
            quote_ident(&r.name),
            quoted_list(&r.primary_key)
        ))))
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
            Ok(super::data::text_array(&shown))
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

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
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
