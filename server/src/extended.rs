//! Statements prepared through the extended protocol: parsing, parameter
//! type inference (from DataFusion's plan and from `$n::type` casts, as
//! PostgreSQL infers them), result descriptions, and decoding bound
//! parameters by their declared types in text or binary format.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNano};
use datafusion::common::ScalarValue;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};
use pgwire::error::PgWireResult;

use crate::database::Database;
use crate::encode::{field_infos, pg_type, pg_type_of_field, pg_type_of_sql};
use crate::error::UserError;
use crate::guard::catching_panics;
use crate::handler::session;
use crate::outcome::Outcome;
use crate::session::{Session, returns_rows};
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
        ) => array_param_type(&scalar(element)?),
        other => scalar(other),
    }
}

/// The array type of `element`, if array parameters of it are decoded.
fn array_param_type(element: &Type) -> Option<Type> {
    eddy_pgtypes::mapping::array_of(element.oid())
        .filter(|oid| eddy_pgtypes::decode::is_known(*oid))
        .and_then(Type::from_oid)
}

/// The PostgreSQL type of a parameter DataFusion inferred as `field`.
fn param_type(field: &FieldRef) -> Type {
    match field.data_type() {
        DataType::List(f) | DataType::LargeList(f) => {
            array_param_type(&pg_type(f.data_type())).unwrap_or(Type::TEXT)
        }
        _ => pg_type_of_field(field),
    }
}

/// Parameter `i`'s bytes and whether they are in binary format; `None` for
/// NULL.
fn raw_param(portal: &Portal<Prepared>, i: usize) -> (Option<&[u8]>, bool) {
    let bytes = portal.parameters.get(i).and_then(|b| b.as_deref());
    (bytes, portal.parameter_format.is_binary(i))
}

/// Decodes bound parameters by their declared (or inferred) types.
pub fn decode_params(
    portal: &Portal<Prepared>,
    types: &[Type],
) -> Result<Vec<ScalarValue>, UserError> {
    (0..portal.parameter_len())
        .map(|i| {
            let t = types.get(i).cloned().unwrap_or(Type::TEXT);
            let (bytes, binary) = raw_param(portal, i);
            decode_param(&t, bytes, binary).map_err(|(code, message)| {
                UserError::new(
                    code,
                    format!("invalid value for parameter ${}: {message}", i + 1),
                )
            })
        })
        .collect()
}

/// One parameter of type `t` as the scalar its statement sees.
fn decode_param(
    t: &Type,
    bytes: Option<&[u8]>,
    binary: bool,
) -> Result<ScalarValue, (&'static str, String)> {
    use eddy_pgtypes::decode::decode;
    use eddy_pgtypes::oids;
    let oid = t.oid();
    let known = eddy_pgtypes::decode::is_known(oid);
    // Interval text has the SQL parser's grammar; everything else unknown
    // stays text.
    if oid == oids::INTERVAL && !binary {
        let Some(bytes) = bytes else {
            return Ok(ScalarValue::IntervalMonthDayNano(None));
        };
        let text = std::str::from_utf8(bytes).map_err(|e| ("22P02", e.to_string()))?;
        let iv = eddy_sql::types::parse_interval(text).map_err(|e| (e.sqlstate, e.message))?;
        return interval(iv.months, iv.days, iv.micros);
    }
    let value = decode(if known { oid } else { oids::TEXT }, bytes, binary)
        .map_err(|e| (e.code, e.message))?;
    scalar(oid, value)
}

/// The Arrow type a parameter of type `oid` is bound as.
fn param_data_type(oid: u32) -> DataType {
    use datafusion::arrow::datatypes::{IntervalUnit, TimeUnit};
    use eddy_pgtypes::oids;
    match oid {
        oids::BOOL => DataType::Boolean,
        oids::INT2 => DataType::Int16,
        oids::INT4 => DataType::Int32,
        oids::INT8 => DataType::Int64,
        oids::FLOAT4 => DataType::Float32,
        oids::FLOAT8 => DataType::Float64,
        oids::NUMERIC => DataType::Decimal128(38, 10),
        oids::BYTEA => DataType::Binary,
        oids::DATE => DataType::Date32,
        oids::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        oids::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        oids::INTERVAL => DataType::Interval(IntervalUnit::MonthDayNano),
        array if eddy_pgtypes::decode::is_known(array) => {
            match eddy_pgtypes::mapping::element_of(array) {
                Some(element) if element != array => {
                    DataType::new_list(param_data_type(element), true)
                }
                _ => DataType::Utf8,
            }
        }
        _ => DataType::Utf8,
    }
}

fn interval(months: i32, days: i32, micros: i64) -> Result<ScalarValue, (&'static str, String)> {
    let nanoseconds = micros
        .checked_mul(1_000)
        .ok_or(("22008", "interval out of range".to_string()))?;
    Ok(ScalarValue::IntervalMonthDayNano(Some(
        IntervalMonthDayNano::new(months, days, nanoseconds),
    )))
}

/// A decoded value as the scalar of its parameter type: uuid, json and
/// jsonb text made canonical as stored (so that `u = $1` compares like
/// with like).
fn scalar(
    oid: u32,
    value: eddy_pgtypes::decode::Value,
) -> Result<ScalarValue, (&'static str, String)> {
    use eddy_pgtypes::decode::Value;
    use eddy_pgtypes::oids;
    Ok(match value {
        Value::Null => {
            ScalarValue::try_from(&param_data_type(oid)).map_err(|e| ("22P02", e.to_string()))?
        }
        Value::Bool(v) => ScalarValue::Boolean(Some(v)),
        Value::Int2(v) => ScalarValue::Int16(Some(v)),
        Value::Int4(v) => ScalarValue::Int32(Some(v)),
        Value::Int8(v) => ScalarValue::Int64(Some(v)),
        Value::Float4(v) => ScalarValue::Float32(Some(v)),
        Value::Float8(v) => ScalarValue::Float64(Some(v)),
        Value::Numeric { unscaled, scale } => ScalarValue::Decimal128(Some(unscaled), 38, scale),
        Value::Bytes(v) => ScalarValue::Binary(Some(v)),
        Value::Date(v) => ScalarValue::Date32(Some(v)),
        Value::Timestamp(v) => ScalarValue::TimestampMicrosecond(Some(v), None),
        Value::TimestampTz(v) => ScalarValue::TimestampMicrosecond(Some(v), Some("+00:00".into())),
        Value::Interval(iv) => return interval(iv.months, iv.days, iv.micros),
        Value::Text(text) => {
            let text_type = match oid {
                oids::UUID => Some(TextType::Uuid),
                oids::JSON => Some(TextType::Json),
                oids::JSONB => Some(TextType::Jsonb),
                _ => None,
            };
            match text_type {
                Some(t) => ScalarValue::Utf8(Some(
                    t.canonical(&text)
                        .map(|c| c.into_owned())
                        .map_err(|e| (e.sqlstate, e.message))?,
                )),
                None => ScalarValue::Utf8(Some(text)),
            }
        }
        Value::Array { element, values } => {
            let values = values
                .into_iter()
                .map(|v| scalar(element, v))
                .collect::<Result<Vec<_>, _>>()?;
            ScalarValue::List(ScalarValue::new_list_nullable(
                &values,
                &param_data_type(element),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;
    use pgwire::api::Type;

    use super::decode_param;

    const UUID: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    fn text(t: &Type, bytes: &[u8], binary: bool) -> Result<String, String> {
        match decode_param(t, Some(bytes), binary) {
            Ok(ScalarValue::Utf8(Some(s))) => Ok(s),
            Ok(other) => panic!("not text: {other:?}"),
            Err((_, message)) => Err(message),
        }
    }

    #[test]
    fn uuid_and_json_parameters_arrive_canonical() {
        let upper = "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}";
        assert_eq!(text(&Type::UUID, upper.as_bytes(), false).unwrap(), UUID);
        let bytes = eddy_sql::text_types::parse_uuid(UUID).unwrap();
        assert_eq!(text(&Type::UUID, &bytes, true).unwrap(), UUID);
        assert_eq!(
            text(&Type::UUID, b"nope", false).unwrap_err(),
            r#"invalid input syntax for type uuid: "nope""#
        );
        assert_eq!(
            text(&Type::UUID, &bytes[..10], true).unwrap_err(),
            "binary uuid of 10 bytes, expected 16"
        );

        let doc = br#"{"b":1,"a":2}"#;
        assert_eq!(text(&Type::JSON, doc, true).unwrap(), r#"{"b":1,"a":2}"#);
        let binary_jsonb = [&[1u8][..], doc].concat();
        assert_eq!(
            text(&Type::JSONB, &binary_jsonb, true).unwrap(),
            r#"{"a": 2, "b": 1}"#
        );
        assert_eq!(
            text(&Type::JSONB, &[&[2u8][..], doc].concat(), true).unwrap_err(),
            "unsupported binary jsonb version"
        );
        assert_eq!(
            text(&Type::JSON, b"{", false).unwrap_err(),
            "invalid input syntax for type json"
        );
        // Text stays as sent.
        assert_eq!(text(&Type::TEXT, b" A ", false).unwrap(), " A ");
    }

    #[test]
    fn numbers_dates_and_arrays() {
        assert_eq!(
            decode_param(&Type::NUMERIC, Some(b"2.50"), false),
            Ok(ScalarValue::Decimal128(Some(250), 38, 2))
        );
        assert_eq!(
            decode_param(&Type::INT4, None, false),
            Ok(ScalarValue::Int32(None))
        );
        assert_eq!(
            decode_param(&Type::INTERVAL, Some(b"1 day"), false),
            Ok(ScalarValue::IntervalMonthDayNano(Some(
                datafusion::arrow::datatypes::IntervalMonthDayNano::new(0, 1, 0)
            )))
        );
        let list = decode_param(&Type::TEXT_ARRAY, Some(b"{a,b}"), false).unwrap();
        assert_eq!(list.to_string(), "[a, b]");
    }
}
