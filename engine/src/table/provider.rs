//! [`StoredTableProvider`]: a stored table as a DataFusion table. A query
//! whose filters fix every primary-key column to a literal
//! (`WHERE k = 42`, `WHERE a = 1 AND b = 'x'`) is answered by one index
//! probe, and those filters are reported `Exact` so DataFusion does not
//! re-check them; any other query scans the live batches, which are shared
//! with the table rather than copied.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::memory::MemorySourceConfig;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;

use super::stored::StoredTable;

pub struct StoredTableProvider {
    table: Arc<StoredTable>,
}

impl StoredTableProvider {
    pub fn new(table: Arc<StoredTable>) -> StoredTableProvider {
        StoredTableProvider { table }
    }

    /// The primary-key column a filter fixes, and to what: `k = lit` or
    /// `lit = k`.
    fn key_equality(&self, key: &[usize], filter: &Expr) -> Option<(usize, ScalarValue)> {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = filter
        else {
            return None;
        };
        let (column, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => {
                (c, v)
            }
            _ => return None,
        };
        let position = self.table.schema().index_of(&column.name).ok()?;
        let k = key.iter().position(|&c| c == position)?;
        Some((k, value.clone()))
    }

    /// For each filter whether it fixes a key column, if together they fix
    /// all of them.
    fn key_filters(&self, filters: &[&Expr]) -> Option<Vec<Option<(usize, ScalarValue)>>> {
        let key = self.table.constraints().primary_key?.columns;
        let found: Vec<_> = filters.iter().map(|f| self.key_equality(&key, f)).collect();
        let covered = (0..key.len()).all(|k| found.iter().flatten().any(|(i, _)| *i == k));
        covered.then_some(found)
    }

    /// The rows the key filters select: none if two of them disagree.
    fn lookup(&self, found: Vec<Option<(usize, ScalarValue)>>) -> Result<Vec<RecordBatch>> {
        let schema = self.table.schema();
        let key = self
            .table
            .constraints()
            .primary_key
            .map(|k| k.columns)
            .unwrap_or_default();
        let mut values: Vec<Option<ScalarValue>> = vec![None; key.len()];
        for (k, value) in found.into_iter().flatten() {
            let value = value.cast_to(schema.field(key[k]).data_type())?;
            match &values[k] {
                Some(v) if *v != value => return Ok(Vec::new()),
                _ => values[k] = Some(value),
            }
        }
        let values: Vec<ScalarValue> = values.into_iter().map(|v| v.expect("covered")).collect();
        if values.iter().any(ScalarValue::is_null) {
            return Ok(Vec::new());
        }
        let row = self
            .table
            .get(&values)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(row.into_iter().collect())
    }
}

impl fmt::Debug for StoredTableProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTableProvider")
            .field("table", &self.table.name())
            .finish()
    }
}

#[async_trait]
impl TableProvider for StoredTableProvider {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(match self.key_filters(filters) {
            Some(found) => found
                .iter()
                .map(|f| match f {
                    Some(_) => TableProviderFilterPushDown::Exact,
                    None => TableProviderFilterPushDown::Unsupported,
                })
                .collect(),
            None => vec![TableProviderFilterPushDown::Unsupported; filters.len()],
        })
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let filters: Vec<&Expr> = filters.iter().collect();
        let batches = match self.key_filters(&filters) {
            Some(found) => self.lookup(found)?,
            None => self.table.batches(),
        };
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.table.schema(),
            projection.cloned(),
        )?)
    }
}
