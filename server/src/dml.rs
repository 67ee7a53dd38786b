//! Changing tables in place: `UPDATE`, `DELETE`, `ALTER TABLE`, `CREATE
//! INDEX` / `DROP INDEX`, and the constraints every write must keep
//! (`PRIMARY KEY` and `UNIQUE`: 23505; `NOT NULL`: 23502; `SERIAL`).
//!
//! Tables are small and held in memory, so a write computes the table's
//! new contents with a DataFusion query over the rows the transaction sees
//! and hands them to the [`Workspace`] as a replacement; the commit makes
//! them durable. Unique keys are checked over the whole new contents.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, new_empty_array};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options, concat};
use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, AssignmentTarget, CommentObject,
    CreateIndex, Delete, Expr, FromTable, ObjectName, RenameTableNameKind, SelectItem,
    TableConstraint, TableFactor, TableWithJoins, Update,
};
use eddy_catalog::{CatalogObject, IndexDef, ObjectKind, SqlType, TableDef};
use eddy_sql::text_types::TextType;
use eddy_sql::types::arrow_schema;

use crate::ddl;
use crate::error::{UserError, UserResult};
use crate::names;
use crate::outcome::Outcome;
use crate::transaction::{Workspace, not_a_table};
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
    let batches = select(ctx, &sql, params).await?;
    let hit = hit_mask(&batches, def.columns.len())?;
    let (schema, _) = ws.table_rows(&name)?;
    let columns = columns_of(&schema, &batches)?;
    let rows = table_batch(&def, &schema, columns)?;
    check_unique(&def, &[], &rows)?;
    let changed = filter_rows(&rows, &hit)?;
    ws.replace_rows(&name, schema.clone(), rows);
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
    ws.replace_rows(&name, schema.clone(), kept);
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

/// The table's unique keys: (constraint name, column positions).
fn unique_keys(def: &TableDef) -> Vec<(String, Vec<usize>)> {
    let positions = |cols: &[String]| -> Vec<usize> {
        cols.iter()
            .filter_map(|c| def.columns.iter().position(|d| &d.name == c))
            .collect()
    };
    let mut keys = Vec::new();
    if !def.primary_key.is_empty() {
        let name = def
            .primary_key_name
            .clone()
            .unwrap_or_else(|| format!("{}_pkey", def.name));
        keys.push((name, positions(&def.primary_key)));
    }
    for index in def.indexes.iter().filter(|i| i.unique) {
        keys.push((index.name.clone(), positions(&index.columns)));
    }
    keys
}

/// Checks the primary key and unique indexes over `existing` and `added`
/// together (23505 on a duplicate). Rows with a NULL in a unique key never
/// conflict, as in PostgreSQL.
pub fn check_unique(
    def: &TableDef,
    existing: &[RecordBatch],
    added: &[RecordBatch],
) -> UserResult<()> {
    if added.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    for (constraint, key) in unique_keys(def) {
        if key.is_empty() {
            continue;
        }
        let fields = key
            .iter()
            .map(|&i| {
                let dt = added
                    .iter()
                    .chain(existing)
                    .next()
                    .map(|b| b.column(i).data_type().clone())
                    .unwrap_or(DataType::Null);
                SortField::new(dt)
            })
            .collect();
        let converter = RowConverter::new(fields)?;
        let mut seen = HashSet::new();
        for batch in existing.iter().chain(added) {
            let arrays: Vec<ArrayRef> = key.iter().map(|&i| batch.column(i).clone()).collect();
            let rows = converter.convert_columns(&arrays)?;
            for (r, row) in rows.iter().enumerate() {
                if arrays.iter().any(|a| a.is_null(r)) {
                    continue;
                }
                if !seen.insert(row.as_ref().to_vec()) {
                    return Err(duplicate_key(def, &constraint, &key, &arrays, r));
                }
            }
        }
    }
    Ok(())
}

fn duplicate_key(
    def: &TableDef,
    constraint: &str,
    key: &[usize],
    arrays: &[ArrayRef],
    row: usize,
) -> UserError {
    let columns: Vec<&str> = key.iter().map(|&i| def.columns[i].name.as_str()).collect();
    let values: Vec<String> = arrays
        .iter()
        .map(|a| {
            ScalarValue::try_from_array(a, row)
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    UserError::new(
        "23505",
        format!(
            "duplicate key value violates unique constraint \"{constraint}\": Key ({})=({}) already exists.",
            columns.join(", "),
            values.join(", ")
        ),
    )
}

/// The CREATE TABLE text of a definition changed by ALTER TABLE.
fn create_table_sql(def: &TableDef) -> String {
    let mut parts: Vec<String> = def
        .columns
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", quote(&c.name), c.data_type);
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            if let Some(d) = &c.default {
                s.push_str(&format!(" DEFAULT {d}"));
            }
            s
        })
        .collect();
    let list = |cols: &[String]| cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    if !def.primary_key.is_empty() {
        let name = def
            .primary_key_name
            .as_ref()
            .map(|n| format!("CONSTRAINT {} ", quote(n)))
            .unwrap_or_default();
        parts.push(format!("{name}PRIMARY KEY ({})", list(&def.primary_key)));
    }
    for index in def.indexes.iter().filter(|i| i.unique && i.constraint) {
        parts.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            quote(&index.name),
            list(&index.columns)
        ));
    }
    for fk in &def.foreign_keys {
        parts.push(format!(
            "CONSTRAINT {} {}",
            quote(&fk.name),
            crate::pg_catalog::foreign_key_sql(fk)
        ));
    }
    format!("CREATE TABLE {} ({})", quote(&def.name), parts.join(", "))
}

/// A table being altered: its definition and its rows as columns.
struct Altered {
    def: TableDef,
    columns: Vec<ArrayRef>,
    rows: usize,
}

pub async fn alter_table(
    ctx: &SessionContext,
    ws: &Workspace,
    alter: &AlterTable,
) -> UserResult<Outcome> {
    let name = names::object_name(&alter.name)?;
    let def = match ws.lookup(ObjectKind::Table, &name)? {
        Some(CatalogObject::Table(t)) => t,
        None if alter.if_exists => return Ok(Outcome::Command("ALTER TABLE".into(), None)),
        other => return Err(not_a_table(&name, other.as_ref())),
    };
    let (schema, batches) = ws.table_rows(&name)?;
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let original_columns = def.columns.clone();
    let mut t = Altered {
        def,
        columns: columns_of(&schema, &batches)?,
        rows,
    };
    let mut new_name = None;
    for op in &alter.operations {
        match op {
            AlterTableOperation::RenameTable { table_name } => {
                let (RenameTableNameKind::To(n) | RenameTableNameKind::As(n)) = table_name;
                new_name = Some(names::object_name(n)?);
            }
            other => alter_one(ctx, ws, &mut t, other).await?,
        }
    }
    let writers = writing_sinks(ws, &t.def.name)?;
    if t.def.columns != original_columns && !writers.is_empty() {
        // A running query's sink holds the table's storage as it is.
        return Err(UserError::new(
            "2BP01",
            format!(
                "cannot change the columns of table \"{}\" because other objects depend on it: {}",
                t.def.name,
                writers.join(", ")
            ),
        ));
    }
    let schema = arrow_schema(&t.def.columns);
    let rows = table_batch(&t.def, &schema, t.columns)?;
    check_unique(&t.def, &[], &rows)?;
    let mut def = t.def;
    if let Some(new_name) = new_name {
        rename_table(ws, &mut def, &new_name)?;
    }
    def.sql = create_table_sql(&def);
    let table = def.name.clone();
    ws.put(CatalogObject::Table(def))?;
    ws.replace_rows(&table, schema, rows);
    Ok(Outcome::Command("ALTER TABLE".into(), None))
}

/// The sinks that write into a table, as `sink "name"`.
fn writing_sinks(ws: &Workspace, table: &str) -> UserResult<Vec<String>> {
    Ok(ws
        .list(ObjectKind::Sink)?
        .iter()
        .filter(|s| {
            s.dependencies()
                .iter()
                .any(|(k, n)| *k == ObjectKind::Table && n == table)
        })
        .map(|s| format!("sink \"{}\"", s.name()))
        .collect())
}

fn rename_table(ws: &Workspace, def: &mut TableDef, new_name: &str) -> UserResult<()> {
    if let Some(existing) = ws.lookup(ObjectKind::Table, new_name)? {
        return Err(UserError::new(
            "42P07",
            format!(
                "relation \"{new_name}\" already exists ({})",
                existing.kind()
            ),
        ));
    }
    let dependents = writing_sinks(ws, &def.name)?;
    if !dependents.is_empty() {
        return Err(UserError::new(
            "2BP01",
            format!(
                "cannot rename table \"{}\" because other objects depend on it: {}",
                def.name,
                dependents.join(", ")
            ),
        ));
    }
    // Foreign keys follow the table they reference, as in PostgreSQL.
    for obj in ws.list(ObjectKind::Table)? {
        if let CatalogObject::Table(mut other) = obj
            && other.name != def.name
            && other.foreign_keys.iter().any(|f| f.references == def.name)
        {
            for f in &mut other.foreign_keys {
                if f.references == def.name {
                    f.references = new_name.to_string();
                }
            }
            other.sql = create_table_sql(&other);
            ws.put(CatalogObject::Table(other))?;
        }
    }
    for f in &mut def.foreign_keys {
        if f.references == def.name {
            f.references = new_name.to_string();
        }
    }
    // The primary key keeps its name, as in PostgreSQL.
    if !def.primary_key.is_empty() && def.primary_key_name.is_none() {
        def.primary_key_name = Some(format!("{}_pkey", def.name));
    }
    ws.remove(ObjectKind::Table, &def.name);
    def.name = new_name.to_string();
    Ok(())
}

async fn alter_one(
    ctx: &SessionContext,
    ws: &Workspace,
    t: &mut Altered,
    op: &AlterTableOperation,
) -> UserResult<()> {
    let table = t.def.name.clone();
    let position = |def: &TableDef, column: &str| def.columns.iter().position(|c| c.name == column);
    match op {
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => {
            let (column, primary, unique) = ddl::column_def(&table, column_def)?;
            if position(&t.def, &column.name).is_some() {
                if *if_not_exists {
                    return Ok(());
                }
                return Err(UserError::new(
                    "42701",
                    format!(
                        "column \"{}\" of relation \"{table}\" already exists",
                        column.name
                    ),
                ));
            }
            let data_type = arrow_schema(std::slice::from_ref(&column))
                .field(0)
                .data_type()
                .clone();
            let values = match &column.default {
                Some(d) if ddl::is_nextval(d) => serial_values(&mut 1, &data_type, t.rows)?,
                Some(d) => {
                    let batches = select(ctx, &format!("SELECT {d}"), &[]).await?;
                    let value = batches
                        .first()
                        .filter(|b| b.num_rows() == 1)
                        .map(|b| b.column(0).clone())
                        .ok_or_else(|| UserError::internal(format!("DEFAULT {d} gave no value")))?;
                    let value = canonical_text(column.data_type, cast(&value, &data_type)?)?;
                    ScalarValue::try_from_array(&value, 0)?.to_array_of_size(t.rows)?
                }
                None => datafusion::arrow::array::new_null_array(&data_type, t.rows),
            };
            let name = column.name.clone();
            t.def.columns.push(column);
            t.columns.push(values);
            if primary {
                ddl::add_key(&mut t.def, None, vec![name.clone()], true)?;
            }
            if unique {
                t.def.indexes.push(IndexDef {
                    name: format!("{table}_{name}_key"),
                    columns: vec![name],
                    unique: true,
                    constraint: true,
                });
            }
            for fk in ddl::column_foreign_keys(column_def) {
                ddl::add_constraint(ws, &mut t.def, &TableConstraint::ForeignKey(fk))?;
            }
        }
        AlterTableOperation::DropConstraint {
            if_exists, name, ..
        } => {
            let name = names::ident(name);
            let pkey = (!t.def.primary_key.is_empty()).then(|| {
                t.def
                    .primary_key_name
                    .clone()
                    .unwrap_or_else(|| format!("{table}_pkey"))
            });
            let (indexes, fks) = (t.def.indexes.len(), t.def.foreign_keys.len());
            t.def.indexes.retain(|i| !(i.constraint && i.name == name));
            t.def.foreign_keys.retain(|f| f.name != name);
            if pkey.as_deref() == Some(name.as_str()) {
                t.def.primary_key.clear();
                t.def.primary_key_name = None;
            } else if indexes == t.def.indexes.len()
                && fks == t.def.foreign_keys.len()
                && !*if_exists
            {
                return Err(UserError::new(
                    "42704",
                    format!("constraint \"{name}\" of relation \"{table}\" does not exist"),
                ));
            }
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            ..
        } => {
            for column in column_names {
                let column = names::ident(column);
                let Some(i) = position(&t.def, &column) else {
                    if *if_exists {
                        continue;
                    }
                    return Err(UserError::new(
                        "42703",
                        format!("column \"{column}\" of relation \"{table}\" does not exist"),
                    ));
                };
                t.def.columns.remove(i);
                t.columns.remove(i);
                if t.def.primary_key.contains(&column) {
                    t.def.primary_key.clear();
                    t.def.primary_key_name = None;
                }
                t.def.indexes.retain(|x| !x.columns.contains(&column));
                t.def.foreign_keys.retain(|f| !f.columns.contains(&column));
                t.def.comments.remove(&column);
            }
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let (old, new) = (names::ident(old_column_name), names::ident(new_column_name));
            let Some(i) = position(&t.def, &old) else {
                return Err(UserError::new(
                    "42703",
                    format!("column \"{old}\" does not exist"),
                ));
            };
            if position(&t.def, &new).is_some() {
                return Err(UserError::new(
                    "42701",
                    format!("column \"{new}\" of relation \"{table}\" already exists"),
                ));
            }
            t.def.columns[i].name = new.clone();
            let rename = |cols: &mut Vec<String>| {
                for c in cols.iter_mut().filter(|c| **c == old) {
                    *c = new.clone();
                }
            };
            rename(&mut t.def.primary_key);
            for index in &mut t.def.indexes {
                rename(&mut index.columns);
            }
            if let Some(comment) = t.def.comments.remove(&old) {
                t.def.comments.insert(new.clone(), comment);
            }
            for fk in &mut t.def.foreign_keys {
                rename(&mut fk.columns);
                if fk.references == table {
                    rename(&mut fk.referenced_columns);
                }
            }
        }
        AlterTableOperation::AddConstraint { constraint, .. } => {
            ddl::add_constraint(ws, &mut t.def, constraint)?;
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let column = names::ident(column_name);
            let Some(i) = position(&t.def, &column) else {
                return Err(UserError::new(
                    "42703",
                    format!("column \"{column}\" of relation \"{table}\" does not exist"),
                ));
            };
            alter_column(t, i, op)?;
        }
        other => {
            return Err(UserError::unsupported(format!(
                "ALTER TABLE … {other} is not supported"
            )));
        }
    }
    Ok(())
}

/// `ALTER COLUMN … SET/DROP NOT NULL | SET/DROP DEFAULT | TYPE`. The rows
/// are checked against the new definition by the caller.
fn alter_column(t: &mut Altered, i: usize, op: &AlterColumnOperation) -> UserResult<()> {
    let column = &mut t.def.columns[i];
    match op {
        AlterColumnOperation::SetNotNull => column.nullable = false,
        AlterColumnOperation::DropNotNull => {
            if t.def.primary_key.contains(&column.name) {
                return Err(UserError::new(
                    "42P16",
                    format!("column \"{}\" is in a primary key", column.name),
                ));
            }
            column.nullable = true;
        }
        AlterColumnOperation::SetDefault { value } => column.default = Some(value.to_string()),
        AlterColumnOperation::DropDefault => column.default = None,
        AlterColumnOperation::SetDataType {
            data_type,
            using: None,
            ..
        } => {
            column.data_type = eddy_sql::types::sql_type_from_ast(data_type)?;
            let target = arrow_schema(std::slice::from_ref(column))
                .field(0)
                .data_type()
                .clone();
            let cast = cast_with_options(&t.columns[i], &target, &STRICT_CAST).map_err(|e| {
                UserError::new(
                    "22P02",
                    format!(
                        "column \"{}\" cannot be cast to {data_type}: {e}",
                        column.name
                    ),
                )
            })?;
            t.columns[i] = canonical_text(column.data_type, cast)?;
        }
        other => {
            return Err(UserError::unsupported(format!(
                "ALTER COLUMN … {other} is not supported"
            )));
        }
    }
    Ok(())
}

/// Records an index; a unique one is enforced from now on. Returns a
/// notice when `IF NOT EXISTS` skipped it.
/// `COMMENT ON TABLE t IS '…'` and `COMMENT ON COLUMN t.c IS '…'` (`NULL`
/// or `''` removes the comment), kept with the table's definition.
pub fn comment_on(
    ws: &Workspace,
    object_type: &CommentObject,
    name: &ObjectName,
    comment: Option<&str>,
) -> UserResult<()> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(names::ident)
        .collect();
    let (table, column) = match (object_type, parts.as_slice()) {
        (CommentObject::Table, _) => (names::object_name(name)?, None),
        (CommentObject::Column, [t, c]) | (CommentObject::Column, [_, t, c]) => {
            (t.clone(), Some(c.clone()))
        }
        (CommentObject::Column, _) => {
            return Err(UserError::new(
                "42601",
                format!("column name must be qualified: {name}"),
            ));
        }
        (other, _) => {
            return Err(UserError::unsupported(format!(
                "COMMENT ON {other} is not supported: Eddy keeps comments on tables and their columns"
            )));
        }
    };
    let mut def = table_def(ws, &table)?;
    let key = match column {
        Some(c) if def.columns.iter().any(|d| d.name == c) => c,
        Some(c) => {
            return Err(UserError::new(
                "42703",
                format!("column \"{c}\" of relation \"{table}\" does not exist"),
            ));
        }
        None => String::new(),
    };
    match comment.filter(|c| !c.is_empty()) {
        Some(text) => def.comments.insert(key, text.to_string()),
        None => def.comments.remove(&key),
    };
    ws.put(CatalogObject::Table(def))?;
    Ok(())
}

pub fn create_index(ws: &Workspace, create: &CreateIndex) -> UserResult<Option<String>> {
    let table = names::object_name(&create.table_name)?;
    let mut def = table_def(ws, &table)?;
    let columns = ddl::key_columns(&create.columns);
    for c in &columns {
        if !def.columns.iter().any(|d| &d.name == c) {
            return Err(UserError::new(
                "42703",
                format!("column \"{c}\" does not exist"),
            ));
        }
    }
    let name = match &create.name {
        Some(n) => names::object_name(n)?,
        None => format!("{table}_{}_idx", columns.join("_")),
    };
    if find_index(ws, &name)?.is_some() || ws.lookup(ObjectKind::Table, &name)?.is_some() {
        if create.if_not_exists {
            return Ok(Some(format!(
                "relation \"{name}\" already exists, skipping"
            )));
        }
        return Err(UserError::new(
            "42P07",
            format!("relation \"{name}\" already exists"),
        ));
    }
    def.indexes.push(IndexDef {
        name,
        columns,
        unique: create.unique,
        constraint: false,
    });
    if create.unique {
        let (_, rows) = ws.table_rows(&table)?;
        check_unique(&def, &[], &rows)?;
    }
    ws.put(CatalogObject::Table(def))?;
    Ok(None)
}

/// The table holding an index of that name.
fn find_index(ws: &Workspace, name: &str) -> UserResult<Option<TableDef>> {
    Ok(ws
        .list(ObjectKind::Table)?
        .into_iter()
        .find_map(|o| match o {
            CatalogObject::Table(t) if t.indexes.iter().any(|i| i.name == name) => Some(t),
            _ => None,
        }))
}

pub fn drop_indexes(
    ws: &Workspace,
    names: &[ObjectName],
    if_exists: bool,
) -> UserResult<Vec<String>> {
    let mut notices = Vec::new();
    for n in names {
        let name = names::object_name(n)?;
        match find_index(ws, &name)? {
            Some(mut def) => {
                def.indexes.retain(|i| i.name != name);
                ws.put(CatalogObject::Table(def))?;
            }
            None if if_exists => notices.push(format!("index \"{name}\" does not exist, skipping")),
            None => {
                return Err(UserError::new(
                    "42704",
                    format!("index \"{name}\" does not exist"),
                ));
            }
        }
    }
    Ok(notices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};
    use eddy_catalog::{ColumnDef, SqlType};

    fn def() -> TableDef {
        TableDef {
            name: "t".into(),
            columns: vec![ColumnDef {
                name: "k".into(),
                data_type: SqlType::Text,
                nullable: true,
                default: None,
            }],
            primary_key: vec![],
            primary_key_name: None,
            indexes: vec![IndexDef {
                name: "t_k_key".into(),
                columns: vec!["k".into()],
                unique: true,
                constraint: true,
            }],
            foreign_keys: vec![],
            comments: Default::default(),
            sql: String::new(),
        }
    }

    fn batch(values: Vec<Option<&str>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(values))]).unwrap()
    }

    #[test]
    fn unique_keys_refuse_duplicates_but_not_nulls() {
        let existing = [batch(vec![Some("a"), None])];
        assert!(check_unique(&def(), &existing, &[batch(vec![Some("b"), None])]).is_ok());
        let err = check_unique(&def(), &existing, &[batch(vec![Some("a")])]).unwrap_err();
        assert_eq!(err.sqlstate, "23505");
        assert!(err.message.contains("\"t_k_key\""), "{}", err.message);
    }
}
