//! Statements prepared through the extended protocol: parsing, parameter
//! type inference (from DataFusion's plan and from `$n::type` casts, as
//! PostgreSQL infers them), result descriptions, and decoding bound
//! parameters by their declared types in text or binary format.

mod arrays;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNano};
use datafusion::common::ScalarValue;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};
use pgwire::error::{PgWireError, PgWireResult};

use crate::database::Database;
use crate::encode::{field_infos, pg_type, pg_type_of_field, pg_type_of_sql};
use crate::error::UserError;
use crate::guard::catching_panics;
use crate::handler::session;
use crate::session::{Outcome, Session, returns_rows};
use eddy_sql::text_types::TextType;
use eddy_sql::{ParsedStatement, parse_statements};

/// A statement prepared through the extended protocol.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub statement: Option<ParsedStatement>,
    pub param_types: Vec<Type>,
    /// Result columns (text format; the portal picks formats).
    pub schema: Option<datafusion::arrow::datatypes::SchemaRef>,
}

pub struct EddyQueryParser {
    pub db: Arc<Database>,
}

#[async_trait]
impl QueryParser for EddyQueryParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = session(client, &self.db);
        let mut session = session.lock().await;
        let prepared = catching_panics(sql, prepare(&mut session, sql, types)).await;
        if prepared.is_err() {
            session.note_error();
        }
        prepared.map_err(UserError::into_pgwire)
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.cloned().unwrap_or(Format::UnifiedText);
        Ok(stmt
            .schema
            .as_ref()
            .map(|schema| field_infos(schema, &format))
            .unwrap_or_default())
    }
}

/// Parses a statement for the extended protocol and works out its
/// parameter types and result columns.
async fn prepare(
    session: &mut Session,
    sql: &str,
    types: &[Option<Type>],
) -> Result<Option<Prepared>, UserError> {
    {
        let sql = crate::users::rewrite_user_statements(sql);
        let mut statements = parse_statements(&sql)?;
        if statements.len() > 1 {
            return Err(UserError::new(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let mut param_types: Vec<Type> = types
            .iter()
            .map(|t| t.clone().unwrap_or(Type::UNKNOWN))
            .collect();
        let mut schema = None;
        if let eddy_sql::EddyStatement::Standard(stmt) = &statement.stmt {
            let plannable = match stmt.as_ref() {
                datafusion::sql::sqlparser::ast::Statement::Query(_) => Some(stmt.as_ref().clone()),
                datafusion::sql::sqlparser::ast::Statement::Insert(i) => i
                    .source
                    .as_ref()
                    .map(|q| datafusion::sql::sqlparser::ast::Statement::Query(q.clone())),
                _ => None,
            };
            if let Some(mut plannable) = plannable {
                crate::query::rewrite_for_planning(&mut plannable)?;
                let plan = session.plan_unbound(&plannable).await?;
                let inferred = plan.get_parameter_fields().map_err(UserError::from)?;
                fill_inferred(&mut param_types, inferred);
                if matches!(
                    stmt.as_ref(),
                    datafusion::sql::sqlparser::ast::Statement::Query(_)
                ) {
                    schema = Some(crate::query::result_schema(stmt, plan.schema().as_arrow()));
                }
            }
        }
        if let eddy_sql::EddyStatement::Standard(stmt) = &statement.stmt {
            if let Some(inferred) = session.dml_parameter_types(stmt).await? {
                fill_inferred(&mut param_types, inferred);
            }
            if schema.is_none() {
                schema = session.returning_schema(stmt).await?;
            }
            infer_from_casts(stmt, &mut param_types);
            match stmt.as_ref() {
                datafusion::sql::sqlparser::ast::Statement::Insert(insert) => {
                    infer_from_insert_target(session, insert, &mut param_types)
                }
                datafusion::sql::sqlparser::ast::Statement::Update(update) => {
                    infer_from_assignments(session, update, &mut param_types)
                }
                _ => {}
            }
        }
        if schema.is_none() && returns_rows(&statement.stmt) {
            // SHOW statements have no side effects: run them to learn their
            // columns, so that the description cannot drift from the result.
            if let Ok(Outcome::Rows(shown, _)) = session.run(&statement, &[]).await {
                schema = Some(shown);
            }
        }
        for t in &mut param_types {
            if *t == Type::UNKNOWN {
                *t = Type::TEXT;
            }
        }
        Ok(Some(Prepared {
            statement: Some(statement),
            param_types,
            schema,
        }))
    }
}

/// Fills the parameter types the client left unknown with those DataFusion
/// inferred (`$n` → field; a parameter compared with a uuid column is a
/// uuid, by the column's metadata).
fn fill_inferred(
    param_types: &mut Vec<Type>,
    inferred: impl IntoIterator<Item = (String, Option<FieldRef>)>,
) {
    for (name, dt) in inferred {
        let Some(idx) = placeholder_index(&name) else {
            continue;
        };
        if param_types.len() <= idx {
            param_types.resize(idx + 1, Type::UNKNOWN);
        }
        if let Some(field) = dt
            && param_types[idx] == Type::UNKNOWN
        {
            param_types[idx] = param_type(&field);
        }
    }
}

/// `INSERT INTO t (a, b) VALUES ($1, $2)`: each parameter standing alone
/// in a VALUES row takes the type of its target column, as in PostgreSQL.
fn infer_from_insert_target(
    session: &Session,
    insert: &datafusion::sql::sqlparser::ast::Insert,
    types: &mut Vec<Type>,
) {
    use datafusion::sql::sqlparser::ast::{Expr, SetExpr, TableObject, Value};
    let TableObject::TableName(name) = &insert.table else {
        return;
    };
    let Ok(def) = crate::names::object_name(name).and_then(|n| session.table_def(&n)) else {
        return;
    };
    let targets: Vec<&eddy_catalog::ColumnDef> = if insert.columns.is_empty() {
        def.columns.iter().collect()
    } else {
        insert
            .columns
            .iter()
            .filter_map(|c| {
                let name = c.0.last()?.as_ident().map(crate::names::ident)?;
                def.columns.iter().find(|col| col.name == name)
            })
            .collect()
    };
    let Some(SetExpr::Values(values)) = insert.source.as_ref().map(|q| q.body.as_ref()) else {
        return;
    };
    for row in &values.rows {
        for (expr, column) in row.iter().zip(&targets) {
            if let Expr::Value(v) = expr
                && let Value::Placeholder(p) = &v.value
                && let Some(idx) = placeholder_index(p)
            {
                if types.len() <= idx {
                    types.resize(idx + 1, Type::UNKNOWN);
                }
                if types[idx] == Type::UNKNOWN {
                    types[idx] = pg_type_of_sql(column.data_type);
                }
            }
        }
    }
}

/// `UPDATE t SET a = $1`: a parameter assigned alone takes the type of its
/// column.
fn infer_from_assignments(
    session: &Session,
    update: &datafusion::sql::sqlparser::ast::Update,
    types: &mut Vec<Type>,
) {
    use datafusion::sql::sqlparser::ast::{AssignmentTarget, Expr, TableFactor, Value};
    let TableFactor::Table { name, .. } = &update.table.relation else {
        return;
    };
    let Ok(def) = crate::names::object_name(name).and_then(|n| session.table_def(&n)) else {
        return;
    };
    for assignment in &update.assignments {
        let AssignmentTarget::ColumnName(target) = &assignment.target else {
            continue;
        };
        let Some(column) = target
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(crate::names::ident)
            .and_then(|name| def.columns.iter().find(|c| c.name == name))
        else {
            continue;
        };
        if let Expr::Value(v) = &assignment.value
            && let Value::Placeholder(p) = &v.value
            && let Some(idx) = placeholder_index(p)
        {
            if types.len() <= idx {
                types.resize(idx + 1, Type::UNKNOWN);
            }
            if types[idx] == Type::UNKNOWN {
                types[idx] = pg_type_of_sql(column.data_type);
            }
        }
    }
}

/// `$3` → 2.
fn placeholder_index(placeholder: &str) -> Option<usize> {
    placeholder
        .strip_prefix('$')?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

/// `$n::type` declares the parameter's type, as in PostgreSQL, where
/// DataFusion's inference does not look through casts.
fn infer_from_casts(stmt: &datafusion::sql::sqlparser::ast::Statement, types: &mut Vec<Type>) {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions};
    use std::ops::ControlFlow;
    let _ = visit_expressions(stmt, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && let Expr::Value(v) = inner.as_ref()
            && let Value::Placeholder(p) = &v.value
            && let Some(idx) = p
                .trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .and_then(|i| i.checked_sub(1))
            && let Some(declared) = cast_type(data_type)
        {
            if types.len() <= idx {
                types.resize(idx + 1, Type::UNKNOWN);
            }
            if types[idx] == Type::UNKNOWN {
                types[idx] = declared;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The parameter type `$n::data_type` declares: a scalar type Eddy stores,
/// or a one-dimensional array of one.
fn cast_type(data_type: &datafusion::sql::sqlparser::ast::DataType) -> Option<Type> {
    use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as D};
    let scalar = |dt: &D| {
        eddy_sql::types::sql_type_from_ast(dt)
            .ok()
            .map(pg_type_of_sql)
    };
    match data_type {
        D::Array(
            ArrayElemTypeDef::SquareBracket(element, _)
            | ArrayElemTypeDef::AngleBracket(element)
            | ArrayElemTypeDef::Parenthesis(element),
        ) => arrays::array_of(&scalar(element)?),
        other => scalar(other),
    }
}

/// The PostgreSQL type of a parameter DataFusion inferred as `field`.
fn param_type(field: &FieldRef) -> Type {
    match field.data_type() {
        DataType::List(f) | DataType::LargeList(f) => {
            arrays::array_of(&pg_type(f.data_type())).unwrap_or(Type::TEXT)
        }
        _ => pg_type_of_field(field),
    }
}

/// Parameter `i`'s bytes and whether they are in binary format; `None` for
/// NULL.
fn raw_param(portal: &Portal<Prepared>, i: usize) -> Option<(&[u8], bool)> {
    let bytes = portal.parameters.get(i)?.as_deref()?;
    Some((bytes, portal.parameter_format.is_binary(i)))
}

/// A numeric in text, as PostgreSQL reads it: plain (`-0.5`) or with an
/// exponent (`1e3`, `2.5E-2`).
fn decode_numeric_text(bytes: &[u8]) -> Result<rust_decimal::Decimal, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| e.to_string())?
        .trim();
    let parsed = if text.contains(['e', 'E']) {
        rust_decimal::Decimal::from_scientific(text)
    } else {
        text.parse()
    };
    parsed.map_err(|_| format!("invalid input syntax for type numeric: \"{text}\""))
}

/// An interval parameter: binary is µs (i64), days (i32), months (i32).
fn decode_interval(bytes: &[u8], binary: bool) -> Result<IntervalMonthDayNano, String> {
    let (months, days, micros) = if binary {
        let bytes: [u8; 16] = bytes
            .try_into()
            .map_err(|_| format!("binary interval of {} bytes, expected 16", bytes.len()))?;
        let [
            m0,
            m1,
            m2,
            m3,
            m4,
            m5,
            m6,
            m7,
            d0,
            d1,
            d2,
            d3,
            n0,
            n1,
            n2,
            n3,
        ] = bytes;
        (
            i32::from_be_bytes([n0, n1, n2, n3]),
            i32::from_be_bytes([d0, d1, d2, d3]),
            i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
        )
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let iv = eddy_sql::types::parse_interval(text).map_err(|e| e.message)?;
        (iv.months, iv.days, iv.micros)
    };
    let nanoseconds = micros
        .checked_mul(1_000)
        .ok_or_else(|| "interval out of range".to_string())?;
    Ok(IntervalMonthDayNano::new(months, days, nanoseconds))
}

/// A parameter kept as text: text types, and `uuid`, `json` and `jsonb`,
/// whose binary forms are turned into text, and whose text is made canonical
/// as stored (so that `u = $1` compares like with like).
fn decode_text(t: &Type, bytes: &[u8], binary: bool) -> Result<String, String> {
    fn utf8(b: &[u8]) -> Result<&str, String> {
        std::str::from_utf8(b).map_err(|e| format!("invalid UTF-8: {e}"))
    }
    let text_type = match *t {
        Type::UUID => Some(TextType::Uuid),
        Type::JSON => Some(TextType::Json),
        Type::JSONB => Some(TextType::Jsonb),
        _ => None,
    };
    let text = match (text_type, binary) {
        (Some(TextType::Uuid), true) => {
            let bytes: [u8; 16] = bytes
                .try_into()
                .map_err(|_| format!("binary uuid of {} bytes, expected 16", bytes.len()))?;
            return Ok(eddy_sql::text_types::format_uuid(&bytes));
        }
        // jsonb's binary form is a version byte (1) and the JSON text.
        (Some(TextType::Jsonb), true) => match bytes.split_first() {
            Some((1, json)) => utf8(json)?,
            _ => return Err("unsupported binary jsonb version".into()),
        },
        _ => utf8(bytes)?,
    };
    match text_type {
        Some(text_type) => text_type
            .canonical(text)
            .map(|c| c.into_owned())
            .map_err(|e| e.message),
        None => Ok(text.to_owned()),
    }
}

/// Decodes bound parameters by their declared (or inferred) types.
pub fn decode_params(
    portal: &Portal<Prepared>,
    types: &[Type],
) -> Result<Vec<ScalarValue>, UserError> {
    let bad = |i: usize, e: PgWireError| {
        UserError::new(
            "22P02",
            format!("invalid value for parameter ${}: {e}", i + 1),
        )
    };
    (0..portal.parameter_len())
        .map(|i| {
            let t = types.get(i).cloned().unwrap_or(Type::TEXT);
            let v = match t {
                Type::BOOL => {
                    ScalarValue::Boolean(portal.parameter::<bool>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::INT2 => {
                    ScalarValue::Int16(portal.parameter::<i16>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::INT4 => {
                    ScalarValue::Int32(portal.parameter::<i32>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::INT8 => {
                    ScalarValue::Int64(portal.parameter::<i64>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::FLOAT4 => {
                    ScalarValue::Float32(portal.parameter::<f32>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::FLOAT8 => {
                    ScalarValue::Float64(portal.parameter::<f64>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
                    portal
                        .parameter::<chrono::NaiveDateTime>(i, &t)
                        .map_err(|e| bad(i, e))?
                        .map(|d| d.and_utc().timestamp_micros()),
                    None,
                ),
                Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
                    portal
                        .parameter::<chrono::DateTime<chrono::FixedOffset>>(i, &t)
                        .map_err(|e| bad(i, e))?
                        .map(|d| d.timestamp_micros()),
                    Some("+00:00".into()),
                ),
                Type::DATE => ScalarValue::Date32(
                    portal
                        .parameter::<chrono::NaiveDate>(i, &t)
                        .map_err(|e| bad(i, e))?
                        .map(|d| {
                            (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days()
                                as i32
                        }),
                ),
                Type::BYTEA => {
                    ScalarValue::Binary(portal.parameter::<Vec<u8>>(i, &t).map_err(|e| bad(i, e))?)
                }
                Type::NUMERIC => {
                    let d = match raw_param(portal, i) {
                        Some((text, false)) => Some(decode_numeric_text(text).map_err(|e| {
                            UserError::new("22P02", format!("parameter ${}: {e}", i + 1))
                        })?),
                        _ => portal
                            .parameter::<rust_decimal::Decimal>(i, &t)
                            .map_err(|e| bad(i, e))?,
                    };
                    match d {
                        None => ScalarValue::Decimal128(None, 38, 10),
                        Some(d) => {
                            let s = ScalarValue::Utf8(Some(d.to_string()));
                            s.cast_to(&DataType::Decimal128(38, d.scale().min(38) as i8))
                                .map_err(|e| UserError::new("22P02", e.to_string()))?
                        }
                    }
                }
                Type::INTERVAL => ScalarValue::IntervalMonthDayNano(
                    raw_param(portal, i)
                        .map(|(bytes, binary)| decode_interval(bytes, binary))
                        .transpose()
                        .map_err(|e| {
                            UserError::new("22007", format!("parameter ${}: {e}", i + 1))
                        })?,
                ),
                t if arrays::is_array(&t) => arrays::decode_array(&t, raw_param(portal, i))
                    .map_err(|e| UserError::new("22P02", format!("parameter ${}: {e}", i + 1)))?,
                _ => ScalarValue::Utf8(
                    raw_param(portal, i)
                        .map(|(bytes, binary)| decode_text(&t, bytes, binary))
                        .transpose()
                        .map_err(|e| {
                            UserError::new("22P02", format!("parameter ${}: {e}", i + 1))
                        })?,
                ),
            };
            Ok(v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use pgwire::api::Type;

    use super::decode_text;

    const UUID: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    #[test]
    fn uuid_and_json_parameters_arrive_canonical() {
        let upper = "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}";
        assert_eq!(
            decode_text(&Type::UUID, upper.as_bytes(), false).unwrap(),
            UUID
        );
        let bytes = eddy_sql::text_types::parse_uuid(UUID).unwrap();
        assert_eq!(decode_text(&Type::UUID, &bytes, true).unwrap(), UUID);
        assert_eq!(
            decode_text(&Type::UUID, b"nope", false).unwrap_err(),
            r#"invalid input syntax for type uuid: "nope""#
        );
        assert_eq!(
            decode_text(&Type::UUID, &bytes[..10], true).unwrap_err(),
            "binary uuid of 10 bytes, expected 16"
        );

        let doc = br#"{"b":1,"a":2}"#;
        assert_eq!(
            decode_text(&Type::JSON, doc, true).unwrap(),
            r#"{"b":1,"a":2}"#
        );
        let binary_jsonb = [&[1u8][..], doc].concat();
        assert_eq!(
            decode_text(&Type::JSONB, &binary_jsonb, true).unwrap(),
            r#"{"a": 2, "b": 1}"#
        );
        assert_eq!(
            decode_text(&Type::JSONB, &[&[2u8][..], doc].concat(), true).unwrap_err(),
            "unsupported binary jsonb version"
        );
        assert_eq!(
            decode_text(&Type::JSON, b"{", false).unwrap_err(),
            "invalid input syntax for type json"
        );
        // Text stays as sent.
        assert_eq!(decode_text(&Type::TEXT, b" A ", false).unwrap(), " A ");
    }
}
