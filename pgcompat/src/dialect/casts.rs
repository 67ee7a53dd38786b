//! Casts: object-identifier types (`::regclass`, `::regtype`, `::oid`, …)
//! as the functions that compute them, and PostgreSQL types DataFusion
//! does not know as the types that hold the same values.

use datafusion::sql::sqlparser::ast::{DataType, Expr, Value};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::ast::{call, function_name, is_string_literal};

/// The lower-case name of a type, without a `pg_catalog.` prefix.
fn type_name(data_type: &DataType) -> Option<String> {
    match data_type {
        DataType::Regclass => Some("regclass".into()),
        DataType::Custom(name, _) => function_name(name),
        _ => None,
    }
}

/// The replacement of `inner::data_type`, or `None` when the cast stays
/// (`data_type` possibly made plain).
pub(super) fn rewrite_cast(inner: &Expr, data_type: &mut DataType) -> Option<Expr> {
    if let Some(name) = type_name(data_type) {
        // A parameter cast to an OID type is that type's input, as text
        // (`$1::regclass` with 'pg_catalog.pg_class', SQLAlchemy's way).
        let literal = is_string_literal(inner)
            || matches!(inner, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)));
        let arg = || vec![inner.clone()];
        match name.as_str() {
            "regclass" if literal => return Some(call("eddy_regclass_oid", arg())),
            "regclass" => return Some(call("eddy_regclass_name", arg())),
            "regtype" if literal => return Some(call("eddy_regtype_oid", arg())),
            "regtype" => {
                return Some(call(
                    "format_type",
                    vec![inner.clone(), Expr::value(Value::Null)],
                ));
            }
            "regnamespace" if literal => return Some(call("eddy_regnamespace_oid", arg())),
            "regnamespace" => return Some(call("eddy_regnamespace_name", arg())),
            "regrole" if literal => return Some(call("eddy_regrole_oid", arg())),
            "regrole" => return Some(call("pg_get_userbyid", arg())),
            "regproc" | "regprocedure" => {
                *data_type = DataType::Text;
                return None;
            }
            "oid" | "regoper" | "regoperator" | "regconfig" | "regdictionary" | "xid" | "cid"
            | "tid" => {
                *data_type = DataType::BigInt(None);
                return None;
            }
            _ => {}
        }
    }
    if let Some(plain) = plain_type(data_type) {
        *data_type = plain;
    }
    // `'orders'::regclass::text` is the name again.
    if matches!(data_type, DataType::Text | DataType::Varchar(_))
        && let Expr::Function(f) = inner
        && function_name(&f.name).as_deref() == Some("eddy_regclass_oid")
    {
        return Some(call("eddy_regclass_name", vec![inner.clone()]));
    }
    None
}

/// PostgreSQL types DataFusion does not know, as the types that hold the
/// same values; `pg_catalog.`-qualified types as their plain names.
fn plain_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Array(elem) => {
            use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
            let rewrite = |t: &DataType| plain_type(t).map(Box::new);
            match elem {
                ArrayElemTypeDef::SquareBracket(t, size) => Some(DataType::Array(
                    ArrayElemTypeDef::SquareBracket(rewrite(t)?, *size),
                )),
                ArrayElemTypeDef::AngleBracket(t) => {
                    Some(DataType::Array(ArrayElemTypeDef::AngleBracket(rewrite(t)?)))
                }
                ArrayElemTypeDef::Parenthesis(t) => {
                    Some(DataType::Array(ArrayElemTypeDef::Parenthesis(rewrite(t)?)))
                }
                ArrayElemTypeDef::None => None,
            }
        }
        DataType::Custom(name, modifiers) => {
            let last = function_name(name)?;
            let mapped = match last.as_str() {
                "name" | "char" | "bpchar" | "citext" | "unknown" | "regproc" | "xml" => {
                    return Some(DataType::Text);
                }
                "oid" | "regclass" | "regtype" | "xid" => return Some(DataType::BigInt(None)),
                "int2vector" => return Some(smallint_array()),
                "oidvector" => return Some(bigint_array()),
                _ if name.0.len() > 1 => last,
                _ => return None,
            };
            let text = if modifiers.is_empty() {
                mapped
            } else {
                format!("{mapped}({})", modifiers.join(","))
            };
            Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .ok()?
                .parse_data_type()
                .ok()
        }
        DataType::Char(_) | DataType::Character(_) => Some(DataType::Text),
        _ => None,
    }
}

fn smallint_array() -> DataType {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    DataType::Array(ArrayElemTypeDef::SquareBracket(
        Box::new(DataType::SmallInt(None)),
        None,
    ))
}

fn bigint_array() -> DataType {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    DataType::Array(ArrayElemTypeDef::SquareBracket(
        Box::new(DataType::BigInt(None)),
        None,
    ))
}
