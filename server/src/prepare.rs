//! Statements prepared through the extended protocol: parsing, parameter
//! type inference (from DataFusion's plan, from `$n::type` casts, from an
//! INSERT's target columns and an UPDATE's assignments, as PostgreSQL
//! infers them) and result descriptions. Types are PostgreSQL OIDs, as
//! the wire front end describes them.

use datafusion::arrow::datatypes::{DataType, FieldRef};
use eddy_catalog::SqlType;
use eddy_pgtypes::oids::{TEXT, UNKNOWN};
use eddy_sql::{ParsedStatement, parse_statements};
use eddy_wire::{Backend, Prepared};

use crate::error::UserError;
use crate::outcome::Outcome;
use crate::session::{Session, returns_rows};

/// The PostgreSQL type of a column of this Arrow type.
fn pg_type(dt: &DataType) -> u32 {
    eddy_pgtypes::of_arrow(dt).oid
}

/// The PostgreSQL type of a column declared as `t`.
fn pg_type_of_sql(t: SqlType) -> u32 {
    eddy_pgtypes::of_field(&eddy_sql::types::arrow_field("", t, true)).oid
}

/// Parses a statement for the extended protocol and works out its
/// parameter types and result columns.
pub async fn prepare<B: Backend<Statement = ParsedStatement>>(
    session: &mut Session,
    sql: &str,
    declared: &[Option<u32>],
) -> Result<Prepared<B>, UserError> {
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
            return Ok(Prepared {
                statement: None,
                param_types: Vec::new(),
                columns: None,
            });
        };
        let mut param_types: Vec<u32> = declared.iter().map(|t| t.unwrap_or(UNKNOWN)).collect();
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
            if *t == UNKNOWN {
                *t = TEXT;
            }
        }
        Ok(Prepared {
            statement: Some(statement),
            param_types,
            columns: schema,
        })
    }
}

/// Fills the parameter types the client left unknown with those DataFusion
/// inferred (`$n` → field; a parameter compared with a uuid column is a
/// uuid, by the column's metadata).
fn fill_inferred(
    param_types: &mut Vec<u32>,
    inferred: impl IntoIterator<Item = (String, Option<FieldRef>)>,
) {
    for (name, dt) in inferred {
        let Some(idx) = placeholder_index(&name) else {
            continue;
        };
        // A parameter DataFusion could not type still counts.
        let t = dt.map_or(UNKNOWN, |field| param_type(&field));
        infer(param_types, idx, t);
    }
}

/// `INSERT INTO t (a, b) VALUES ($1, $2)`: each parameter standing alone
/// in a VALUES row takes the type of its target column, as in PostgreSQL.
fn infer_from_insert_target(
    session: &Session,
    insert: &datafusion::sql::sqlparser::ast::Insert,
    types: &mut Vec<u32>,
) {
    use datafusion::sql::sqlparser::ast::{SetExpr, TableObject};
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
            if let Some(idx) = lone_placeholder(expr) {
                infer(types, idx, pg_type_of_sql(column.data_type));
            }
        }
    }
}

/// `UPDATE t SET a = $1`: a parameter assigned alone takes the type of its
/// column.
fn infer_from_assignments(
    session: &Session,
    update: &datafusion::sql::sqlparser::ast::Update,
    types: &mut Vec<u32>,
) {
    use datafusion::sql::sqlparser::ast::{AssignmentTarget, TableFactor};
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
        if let Some(idx) = lone_placeholder(&assignment.value) {
            infer(types, idx, pg_type_of_sql(column.data_type));
        }
    }
}

/// The index of the parameter `expr` is, if it is one alone (`$3` → 2).
fn lone_placeholder(expr: &datafusion::sql::sqlparser::ast::Expr) -> Option<usize> {
    use datafusion::sql::sqlparser::ast::{Expr, Value};
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => placeholder_index(p),
            _ => None,
        },
        _ => None,
    }
}

/// Parameter `idx` is of type `t`, unless the client or an earlier rule
/// said otherwise.
fn infer(types: &mut Vec<u32>, idx: usize, t: u32) {
    if types.len() <= idx {
        types.resize(idx + 1, UNKNOWN);
    }
    if types[idx] == UNKNOWN {
        types[idx] = t;
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
fn infer_from_casts(stmt: &datafusion::sql::sqlparser::ast::Statement, types: &mut Vec<u32>) {
    use datafusion::sql::sqlparser::ast::{Expr, visit_expressions};
    use std::ops::ControlFlow;
    let _ = visit_expressions(stmt, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && let Some(idx) = lone_placeholder(inner)
            && let Some(declared) = cast_type(data_type)
        {
            infer(types, idx, declared);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The parameter type `$n::data_type` declares: a scalar type Eddy stores,
/// or a one-dimensional array of one.
fn cast_type(data_type: &datafusion::sql::sqlparser::ast::DataType) -> Option<u32> {
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
        ) => array_param_type(scalar(element)?),
        other => scalar(other),
    }
}

/// The array type of `element`, if array parameters of it are decoded.
fn array_param_type(element: u32) -> Option<u32> {
    eddy_pgtypes::mapping::array_of(element).filter(|oid| eddy_pgtypes::decode::is_known(*oid))
}

/// The PostgreSQL type of a parameter DataFusion inferred as `field`.
fn param_type(field: &FieldRef) -> u32 {
    match field.data_type() {
        DataType::List(f) | DataType::LargeList(f) => {
            array_param_type(pg_type(f.data_type())).unwrap_or(TEXT)
        }
        _ => eddy_pgtypes::of_field(field).oid,
    }
}
