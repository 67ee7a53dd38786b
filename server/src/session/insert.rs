//! `INSERT`: rows from VALUES or a query, conformed to the table's
//! columns (defaults, serials, strict casts, canonical text types), checked
//! against its constraints, then added to the session's workspace.

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{Insert, Statement, TableObject};
use eddy_catalog::TableDef;

use super::Session;
use crate::ddl;
use crate::error::{UserError, UserResult};
use crate::names;
use crate::outcome::Outcome;

/// Casts for INSERT fail on values that do not fit instead of storing NULL.
const STRICT_CAST: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: datafusion::arrow::util::display::FormatOptions::new(),
};

impl Session {
    pub(super) async fn insert(
        &mut self,
        insert: &Insert,
        params: &[ScalarValue],
    ) -> UserResult<Outcome> {
        let TableObject::TableName(target) = &insert.table else {
            return Err(UserError::unsupported(
                "INSERT INTO a table function is not supported",
            ));
        };
        let def = self.table_def(&names::object_name(target)?)?;
        if insert.on.is_some() {
            return Err(UserError::unsupported(
                "INSERT … ON CONFLICT is not supported yet",
            ));
        }
        let Some(source) = &insert.source else {
            return Err(UserError::unsupported(
                "INSERT without VALUES or SELECT is not supported",
            ));
        };
        let targets: Vec<usize> = if insert.columns.is_empty() {
            (0..def.columns.len()).collect()
        } else {
            insert
                .columns
                .iter()
                .map(|c| {
                    let name =
                        c.0.last()
                            .and_then(|p| p.as_ident())
                            .map(names::ident)
                            .unwrap_or_default();
                    def.columns
                        .iter()
                        .position(|col| col.name == name)
                        .ok_or_else(|| {
                            UserError::new(
                                "42703",
                                format!(
                                    "column \"{name}\" of relation \"{}\" does not exist",
                                    def.name
                                ),
                            )
                        })
                })
                .collect::<UserResult<_>>()?
        };
        let plan = self.plan(Statement::Query(source.clone()), params).await?;
        let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
        let (schema, existing) = self.ws.table_rows(&def.name)?;
        let mut next_serial = crate::dml::next_serials(&def, &existing)?;
        let mut out = Vec::with_capacity(batches.len());
        let mut rows = 0;
        let mut targets = targets;
        if insert.columns.is_empty()
            && let Some(width) = batches.first().map(|b| b.num_columns())
            && width < targets.len()
        {
            // Without a column list, missing trailing values take defaults.
            targets.truncate(width);
        }
        for batch in batches {
            if batch.num_columns() != targets.len() {
                return Err(UserError::new(
                    "42601",
                    if batch.num_columns() > targets.len() {
                        "INSERT has more expressions than target columns"
                    } else {
                        "INSERT has more target columns than expressions"
                    },
                ));
            }
            rows += batch.num_rows();
            out.push(
                self.conform(&def, &schema, &targets, &batch, &mut next_serial)
                    .await?,
            );
        }
        self.ws.check_insert(&def, &out)?;
        self.ws.append_rows(&def.name, out.clone())?;
        if let Some(items) = &insert.returning {
            return crate::dml::returning(&self.ctx, &def.name, schema, out, items)
                .await
                .map(|o| o.tagged("INSERT 0"));
        }
        Ok(Outcome::Command("INSERT 0".into(), Some(rows)))
    }

    /// Reshapes an INSERT's rows to the table: casts, defaults for the
    /// columns not given, NOT NULL checks.
    async fn conform(
        &self,
        def: &TableDef,
        schema: &SchemaRef,
        targets: &[usize],
        batch: &RecordBatch,
        next_serial: &mut [i64],
    ) -> UserResult<RecordBatch> {
        let n = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(def.columns.len());
        for (i, col) in def.columns.iter().enumerate() {
            let field = schema.field(i);
            let array = match targets.iter().position(|&t| t == i) {
                Some(j) => cast_with_options(batch.column(j), field.data_type(), &STRICT_CAST)
                    .map_err(|e| cast_error(&col.name, col.data_type, &e))
                    .and_then(|a| crate::dml::canonical_text(col.data_type, a))?,
                None => match &col.default {
                    Some(expr) if ddl::is_nextval(expr) => {
                        crate::dml::serial_values(&mut next_serial[i], field.data_type(), n)?
                    }
                    Some(expr) => crate::dml::canonical_text(
                        col.data_type,
                        self.default_value(expr, field.data_type(), n).await?,
                    )?,
                    None => new_null_array(field.data_type(), n),
                },
            };
            if !col.nullable && array.null_count() > 0 {
                return Err(UserError::new(
                    "23502",
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        col.name, def.name
                    ),
                ));
            }
            columns.push(array);
        }
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }

    async fn default_value(
        &self,
        expr: &str,
        data_type: &DataType,
        rows: usize,
    ) -> UserResult<ArrayRef> {
        let batches = self
            .ctx
            .sql(&format!("SELECT {expr}"))
            .await?
            .collect()
            .await?;
        let value = batches
            .first()
            .filter(|b| b.num_rows() == 1)
            .map(|b| b.column(0).clone())
            .ok_or_else(|| UserError::internal(format!("DEFAULT {expr} gave no value")))?;
        let scalar = ScalarValue::try_from_array(&cast(&value, data_type)?, 0)?;
        Ok(scalar.to_array_of_size(rows)?)
    }
}

/// PostgreSQL's errors for a value that does not fit its column: 22003 when
/// out of range, 22P02 when not of the type at all.
fn cast_error(
    column: &str,
    sql_type: eddy_catalog::SqlType,
    e: &datafusion::arrow::error::ArrowError,
) -> UserError {
    let text = e.to_string();
    let code = if text.contains("Can't cast value") || text.contains("overflow") {
        "22003"
    } else {
        "22P02"
    };
    UserError::new(
        code,
        format!("invalid value for column \"{column}\" of type {sql_type}: {text}"),
    )
}
