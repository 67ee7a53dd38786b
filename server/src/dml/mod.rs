//! Changing tables in place: `UPDATE`, `DELETE`, `ALTER TABLE`, `CREATE
//! INDEX` / `DROP INDEX`, and the constraints every write must keep
//! (`PRIMARY KEY` and `UNIQUE`: 23505; `NOT NULL`: 23502; `SERIAL`).
//!
//! Tables are small and held in memory, so a write computes the table's
//! new contents with a DataFusion query over the rows the transaction sees
//! and hands them to the [`Workspace`] as a replacement; the commit makes
//! them durable. Unique keys are checked over the whole new contents.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, new_empty_array};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options, concat};
use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, SelectItem, TableFactor, TableWithJoins, Update,
};
use eddy_catalog::{CatalogObject, ObjectKind, SqlType, TableDef};
use eddy_sql::text_types::TextType;
use eddy_sql::types::arrow_schema;

mod alter;
mod indexes;

pub use alter::alter_table;
pub use indexes::{comment_on, create_index, drop_indexes};

use crate::ddl;
use crate::error::{UserError, UserResult};
use crate::names;
use crate::outcome::Outcome;
use crate::transaction::{Workspace, check_unique, not_a_table};
use eddy_sql::identifiers::quoted as quote;

const STRICT_CAST: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: datafusion::arrow::util::display::FormatOptions::new(),
};

/// A table's definition as the transaction sees it.
pub fn table_def(ws: &Workspace, name: &str) -> UserResult<TableDef> {
    match ws.lookup(ObjectKind::Table, name)? {
        Some(CatalogObject::Table(t)) => Ok(t),
        other => Err(not_a_table(name, other.as_ref())),
    }
}

/// The target of UPDATE / DELETE: one plain table, maybe with an alias.
fn target(table: &TableWithJoins) -> UserResult<(String, Option<String>)> {
    match &table.relation {
        TableFactor::Table { name, alias, .. } if table.joins.is_empty() => Ok((
            names::object_name(name)?,
            alias.as_ref().map(|a| names::ident(&a.name)),
        )),
        _ => Err(UserError::unsupported(
            "UPDATE and DELETE work on one table, without joins",
        )),
    }
}

/// Runs a SELECT over the session's view, parameters bound.
async fn select(
    ctx: &SessionContext,
    sql: &str,
    params: &[ScalarValue],
) -> UserResult<Vec<RecordBatch>> {
    let mut plan = ctx.state().create_logical_plan(sql).await?;
    if !params.is_empty() {
        plan = plan.with_param_values(ParamValues::List(
            params.iter().map(|p| p.clone().into()).collect(),
        ))?;
    }
    Ok(ctx.execute_logical_plan(plan).await?.collect().await?)
}

/// A column's values as stored: for `uuid`, `json` and `jsonb` checked
/// and made canonical (22P02 for a value that is not one); others as they
/// are. Every write into a table passes its cast values through this.
pub fn canonical_text(t: SqlType, array: ArrayRef) -> UserResult<ArrayRef> {
    match TextType::of_sql_type(t) {
        Some(text_type) => Ok(text_type.canonical_array(&array)?),
        None => Ok(array),
    }
}

/// Every column of `batches` as one array each, of the table's types.
fn columns_of(schema: &SchemaRef, batches: &[RecordBatch]) -> UserResult<Vec<ArrayRef>> {
    (0..schema.fields().len())
        .map(|i| {
            let field = schema.field(i);
            let text_type = TextType::of_field(field);
            let arrays: Vec<ArrayRef> = batches
                .iter()
                .map(|b| {
                    let array = cast_with_options(b.column(i), field.data_type(), &STRICT_CAST)
                        .map_err(|e| {
                            UserError::new(
                                "22P02",
                                format!("invalid value for column \"{}\": {e}", field.name()),
                            )
                        })?;
                    match text_type {
                        Some(t) => Ok(t.canonical_array(&array)?),
                        None => Ok(array),
                    }
                })
                .collect::<UserResult<_>>()?;
            if arrays.is_empty() {
                return Ok(new_empty_array(field.data_type()));
            }
            let refs: Vec<&dyn datafusion::arrow::array::Array> =
                arrays.iter().map(|a| a.as_ref()).collect();
            Ok(concat(&refs)?)
        })
        .collect()
}

/// Checks NOT NULL and builds the table's single batch.
fn table_batch(
    def: &TableDef,
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
) -> UserResult<Vec<RecordBatch>> {
    for (col, array) in def.columns.iter().zip(&columns) {
        if !col.nullable && array.null_count() > 0 {
            return Err(not_null_violation(&def.name, &col.name));
        }
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(if batch.num_rows() == 0 {
        Vec::new()
    } else {
        vec![batch]
    })
}

fn not_null_violation(table: &str, column: &str) -> UserError {
    UserError::new(
        "23502",
        format!(
            "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
        ),
    )
}

/// The SELECT computing an UPDATE's new table contents, with a last
/// column telling which rows it changed.
fn update_query(ws: &Workspace, update: &Update) -> UserResult<(TableDef, String)> {
    if update.from.is_some() || update.limit.is_some() {
        return Err(UserError::unsupported(
            "UPDATE … FROM and LIMIT are not supported",
        ));
    }
    let (name, alias) = target(&update.table)?;
    let def = table_def(ws, &name)?;
    let mut assigned: Vec<Option<&Expr>> = vec![None; def.columns.len()];
    for a in &update.assignments {
        let AssignmentTarget::ColumnName(column) = &a.target else {
            return Err(UserError::unsupported(
                "UPDATE … SET (a, b) = … is not supported",
            ));
        };
        let column = column
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(names::ident)
            .unwrap_or_default();
        let i = def
            .columns
            .iter()
            .position(|c| c.name == column)
            .ok_or_else(|| {
                UserError::new(
                    "42703",
                    format!("column \"{column}\" of relation \"{name}\" does not exist"),
                )
            })?;
        assigned[i] = Some(&a.value);
    }
    let condition = match &update.selection {
        Some(e) => format!("coalesce(({e}), false)"),
        None => "true".to_string(),
    };
    let mut list: Vec<String> = def
        .columns
        .iter()
        .zip(&assigned)
        .map(|(col, value)| match value {
            Some(v) => format!(
                "CASE WHEN {condition} THEN {v} ELSE {c} END AS {c}",
                c = quote(&col.name)
            ),
            None => quote(&col.name),
        })
        .collect();
    list.push(format!("{condition} AS \"eddy hit\""));
    let sql = format!(
        "SELECT {} FROM {}{}",
        list.join(", "),
        quote(&name),
        alias
            .map(|a| format!(" AS {}", quote(&a)))
            .unwrap_or_default()
    );
    Ok((def, sql))
}

pub async fn update(
    ctx: &SessionContext,
    ws: &Workspace,
    update: &Update,
    params: &[ScalarValue],
) -> UserResult<Outcome> {
    let (def, sql) = update_query(ws, update)?;
    let name = def.name.clone();
    ws.pin_rows(&name);
    let batches = select(ctx, &sql, params).await?;
    let hit = hit_mask(&batches, def.columns.len())?;
    let (schema, _) = ws.table_rows(&name)?;
    let columns = columns_of(&schema, &batches)?;
    let rows = table_batch(&def, &schema, columns)?;
    check_unique(&def, &[], &rows)?;
    let changed = filter_rows(&rows, &hit)?;
    ws.replace_rows(&name, schema.clone(), rows)?;
    match &update.returning {
        Some(items) => returning(ctx, &name, schema, changed, items)
            .await
            .map(|o| o.tagged("UPDATE")),
        None => Ok(Outcome::Command("UPDATE".into(), Some(hit.true_count()))),
    }
}

/// The `"eddy hit"` column (at `index`) of a DML query's batches.
fn hit_mask(batches: &[RecordBatch], index: usize) -> UserResult<BooleanArray> {
    let arrays: Vec<&dyn datafusion::arrow::array::Array> =
        batches.iter().map(|b| b.column(index).as_ref()).collect();
    if arrays.is_empty() {
        return Ok(BooleanArray::from(Vec::<bool>::new()));
    }
    let all = concat(&arrays)?;
    all.as_any()
        .downcast_ref::<BooleanArray>()
        .cloned()
        .ok_or_else(|| UserError::internal("the hit column is not boolean"))
}

/// The rows of a table's batches where `mask` holds.
fn filter_rows(rows: &[RecordBatch], mask: &BooleanArray) -> UserResult<Vec<RecordBatch>> {
    match rows {
        [] => Ok(Vec::new()),
        [one] => Ok(vec![datafusion::arrow::compute::filter_record_batch(
            one, mask,
        )?]),
        _ => Err(UserError::internal("a table batch was expected")),
    }
}

/// `RETURNING items` over the rows a statement inserted, changed or
/// deleted (the table's columns, qualified by its name), its columns
/// named as PostgreSQL names them.
pub async fn returning(
    ctx: &SessionContext,
    table: &str,
    schema: SchemaRef,
    rows: Vec<RecordBatch>,
    items: &[SelectItem],
) -> UserResult<Outcome> {
    let df = if rows.is_empty() {
        ctx.read_batch(RecordBatch::new_empty(schema))?
    } else {
        ctx.read_batches(rows)?
    }
    .alias(table)?;
    let mut exprs = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => exprs.extend(
                df.schema()
                    .columns()
                    .into_iter()
                    .map(datafusion::prelude::Expr::Column),
            ),
            SelectItem::UnnamedExpr(e) => exprs.push(df.parse_sql_expr(&e.to_string())?),
            SelectItem::ExprWithAlias { expr, alias } => exprs.push(
                df.parse_sql_expr(&expr.to_string())?
                    .alias(names::ident(alias)),
            ),
            other => {
                return Err(UserError::unsupported(format!(
                    "RETURNING {other} is not supported"
                )));
            }
        }
    }
    let df = df.select(exprs)?;
    // Named as PostgreSQL names them (`RETURNING id + 1` is `?column?`).
    let columns: Vec<_> = items
        .iter()
        .map(eddy_sql::column_names::item_column)
        .collect();
    let schema: SchemaRef = Arc::new(eddy_sql::column_names::rename_fields(
        df.schema().as_arrow(),
        &columns,
    ));
    let batches = df.collect().await?;
    Ok(Outcome::Rows(schema, batches))
}

/// The table a DELETE removes from, and the SELECT of its rows with a
/// last column telling which go (`None`: all rows go).
fn delete_query(ws: &Workspace, delete: &Delete) -> UserResult<(TableDef, Option<String>)> {
    let from = match &delete.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [table] = from.as_slice() else {
        return Err(UserError::unsupported("DELETE works on one table"));
    };
    if delete.using.is_some() || delete.limit.is_some() {
        return Err(UserError::unsupported(
            "DELETE … USING and LIMIT are not supported",
        ));
    }
    let (name, alias) = target(table)?;
    let def = table_def(ws, &name)?;
    let sql = delete.selection.as_ref().map(|e| {
        format!(
            "SELECT *, coalesce(({e}), false) AS \"eddy hit\" FROM {}{}",
            quote(&name),
            alias
                .map(|a| format!(" AS {}", quote(&a)))
                .unwrap_or_default()
        )
    });
    Ok((def, sql))
}

pub async fn delete(
    ctx: &SessionContext,
    ws: &Workspace,
    delete: &Delete,
    params: &[ScalarValue],
) -> UserResult<Outcome> {
    let (def, sql) = delete_query(ws, delete)?;
    let name = def.name.clone();
    ws.pin_rows(&name);
    let (schema, existing) = ws.table_rows(&name)?;
    let (kept, deleted) = match sql {
        None => (Vec::new(), existing),
        Some(sql) => {
            let batches = select(ctx, &sql, params).await?;
            let hit = hit_mask(&batches, def.columns.len())?;
            let rows = table_batch(&def, &schema, columns_of(&schema, &batches)?)?;
            let keep = datafusion::arrow::compute::not(&hit)?;
            (filter_rows(&rows, &keep)?, filter_rows(&rows, &hit)?)
        }
    };
    let count: usize = deleted.iter().map(|b| b.num_rows()).sum();
    ws.replace_rows(&name, schema.clone(), kept)?;
    match &delete.returning {
        Some(items) => returning(ctx, &name, schema, deleted, items)
            .await
            .map(|o| o.tagged("DELETE")),
        None => Ok(Outcome::Command("DELETE".into(), Some(count))),
    }
}

/// The columns `RETURNING` gives an INSERT, UPDATE or DELETE (`None`
/// without RETURNING), for Describe.
pub async fn returning_schema(
    ctx: &SessionContext,
    ws: &Workspace,
    stmt: &datafusion::sql::sqlparser::ast::Statement,
) -> UserResult<Option<SchemaRef>> {
    use datafusion::sql::sqlparser::ast::{Statement, TableObject};
    let (table, items) = match stmt {
        Statement::Insert(insert) => match (&insert.table, &insert.returning) {
            (TableObject::TableName(name), Some(items)) => (names::object_name(name)?, items),
            _ => return Ok(None),
        },
        Statement::Update(update) => match &update.returning {
            Some(items) => (target(&update.table)?.0, items),
            None => return Ok(None),
        },
        Statement::Delete(delete) => match (&delete.from, &delete.returning) {
            (FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t), Some(items))
                if t.len() == 1 =>
            {
                (target(&t[0])?.0, items)
            }
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let def = table_def(ws, &table)?;
    match returning(ctx, &table, arrow_schema(&def.columns), Vec::new(), items).await? {
        Outcome::Rows(schema, _) => Ok(Some(schema)),
        _ => Ok(None),
    }
}

/// The types of the parameters (`$1`, …) of an UPDATE or DELETE, as far
/// as the statement implies them (`None` for a statement of another kind).
pub async fn parameter_types(
    ctx: &SessionContext,
    ws: &Workspace,
    stmt: &datafusion::sql::sqlparser::ast::Statement,
) -> UserResult<Option<std::collections::HashMap<String, Option<FieldRef>>>> {
    use datafusion::sql::sqlparser::ast::Statement;
    let sql = match stmt {
        Statement::Update(update) => Some(update_query(ws, update)?.1),
        Statement::Delete(delete) => delete_query(ws, delete)?.1,
        _ => return Ok(None),
    };
    let Some(sql) = sql else {
        return Ok(Some(Default::default()));
    };
    let plan = ctx.state().create_logical_plan(&sql).await?;
    Ok(Some(plan.get_parameter_fields()?))
}

/// The next values of the table's SERIAL columns (0 for other columns):
/// one more than the largest value stored, so they survive a restart with
/// the rows.
pub fn next_serials(def: &TableDef, existing: &[RecordBatch]) -> UserResult<Vec<i64>> {
    def.columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            if !col.default.as_deref().is_some_and(ddl::is_nextval) {
                return Ok(0);
            }
            let mut max = 0i64;
            for b in existing {
                let values = cast(b.column(i), &DataType::Int64)?;
                let values = values
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("cast to Int64 gives Int64Array");
                if let Some(m) = datafusion::arrow::compute::max(values) {
                    max = max.max(m);
                }
            }
            Ok(max + 1)
        })
        .collect()
}

/// `rows` values of a SERIAL column from `next` on.
pub fn serial_values(next: &mut i64, data_type: &DataType, rows: usize) -> UserResult<ArrayRef> {
    let values = Int64Array::from_iter_values(*next..*next + rows as i64);
    *next += rows as i64;
    Ok(cast_with_options(&values, data_type, &STRICT_CAST)?)
}
