//! Stream–table joins (lookup joins).
//!
//! For each batch of the stream, the join evaluates the stream's join keys,
//! asks the table side for the rows of the distinct keys (see
//! [`crate::lookup`]), and pairs every stream row with the table rows of its
//! key. `INNER` drops stream rows without a match, `LEFT` keeps them with
//! NULLs. A residual `ON` condition (anything besides the key equalities)
//! decides which pairs match. Rows with a NULL key match nothing, as in SQL.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use crate::arrays::{cast_each, null_as_false};
use crate::table_store::StoredTable;
use crate::{EngineError, Lookup, Result};

/// How rows without a match are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupJoinType {
    Inner,
    /// The stream is the left side; unmatched stream rows get NULLs.
    Left,
}

pub struct LookupJoin {
    /// The join keys, evaluated on the stream's batches.
    stream_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The table's key columns: their indices and types.
    table_keys: Vec<usize>,
    key_types: Vec<DataType>,
    lookup: Box<dyn Lookup>,
    join_type: LookupJoinType,
    /// The output has the stream's columns first (else the table's).
    stream_first: bool,
    /// Residual `ON` condition over the joined schema.
    filter: Option<Arc<dyn PhysicalExpr>>,
    output_schema: SchemaRef,
    converter: RowConverter,
    /// Lookups made and keys asked for (for progress).
    pub keys_looked_up: u64,
}

impl LookupJoin {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stream_keys: Vec<Arc<dyn PhysicalExpr>>,
        table_keys: Vec<usize>,
        key_types: Vec<DataType>,
        lookup: Box<dyn Lookup>,
        join_type: LookupJoinType,
        stream_first: bool,
        filter: Option<Arc<dyn PhysicalExpr>>,
        output_schema: SchemaRef,
    ) -> Result<Self> {
        let converter = RowConverter::new(
            key_types
                .iter()
                .map(|t| SortField::new(t.clone()))
                .collect(),
        )?;
        Ok(LookupJoin {
            stream_keys,
            table_keys,
            key_types,
            lookup,
            join_type,
            stream_first,
            filter,
            output_schema,
            converter,
            keys_looked_up: 0,
        })
    }

    pub async fn process(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let keys = self
            .stream_keys
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(n))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let keys = cast_each(keys, &self.key_types)?;
        let rows = self.converter.convert_columns(&keys)?;
        let has_null = |i: usize| keys.iter().any(|k| k.is_null(i));

        // Distinct, non-NULL keys of the batch.
        let mut first_of: HashMap<&[u8], u32> = HashMap::new();
        for i in 0..n {
            if !has_null(i) {
                first_of.entry(rows.row(i).data()).or_insert(i as u32);
            }
        }
        let mut wanted: Vec<u32> = first_of.values().copied().collect();
        wanted.sort_unstable();
        let table = if wanted.is_empty() {
            RecordBatch::new_empty(self.lookup.schema())
        } else {
            let indices = UInt32Array::from(wanted);
            let distinct = keys
                .iter()
                .map(|k| take(k.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?;
            self.keys_looked_up += indices.len() as u64;
            self.lookup.lookup(&distinct).await?
        };

        // Index the answer by key.
        let table_key_columns = cast_each(
            self.table_keys
                .iter()
                .map(|&i| table.column(i).clone())
                .collect(),
            &self.key_types,
        )?;
        let table_rows = self.converter.convert_columns(&table_key_columns)?;
        let mut matches: HashMap<&[u8], Vec<u32>> = HashMap::new();
        for j in 0..table.num_rows() {
            if table_key_columns.iter().all(|k| !k.is_null(j)) {
                matches
                    .entry(table_rows.row(j).data())
                    .or_default()
                    .push(j as u32);
            }
        }

        // Candidate pairs, then the residual condition.
        let mut left = Vec::new();
        let mut right = Vec::new();
        for i in 0..n {
            if has_null(i) {
                continue;
            }
            if let Some(js) = matches.get(rows.row(i).data()) {
                for &j in js {
                    left.push(i as u32);
                    right.push(Some(j));
                }
            }
        }
        let mut pairs = self.pair_batch(batch, &table, &left, &right)?;
        if let Some(filter) = &self.filter {
            let mask = filter.evaluate(&pairs)?.into_array(pairs.num_rows())?;
            let mask = mask
                .as_boolean_opt()
                .ok_or_else(|| EngineError::Plan("join condition is not boolean".into()))?;
            let mask = null_as_false(mask);
            pairs = filter_record_batch(&pairs, &mask)?;
            let mut kept_left = Vec::new();
            for (k, &l) in left.iter().enumerate() {
                if mask.value(k) {
                    kept_left.push(l);
                }
            }
            left = kept_left;
        }
        if self.join_type == LookupJoinType::Left {
            let mut matched = vec![false; n];
            for &l in &left {
                matched[l as usize] = true;
            }
            let unmatched: Vec<u32> = (0..n as u32).filter(|&i| !matched[i as usize]).collect();
            if !unmatched.is_empty() {
                let nulls = vec![None; unmatched.len()];
                let extra = self.pair_batch(batch, &table, &unmatched, &nulls)?;
                pairs = concat_batches(&self.output_schema, &[pairs, extra])?;
            }
        }
        Ok(pairs)
    }

    fn pair_batch(
        &self,
        stream: &RecordBatch,
        table: &RecordBatch,
        left: &[u32],
        right: &[Option<u32>],
    ) -> Result<RecordBatch> {
        let left = UInt32Array::from(left.to_vec());
        let right = UInt32Array::from(right.to_vec());
        let stream_cols = stream
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &left, None))
            .collect::<Result<Vec<_>, _>>()?;
        let table_cols = table
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &right, None))
            .collect::<Result<Vec<_>, _>>()?;
        let columns = if self.stream_first {
            [stream_cols, table_cols].concat()
        } else {
            [table_cols, stream_cols].concat()
        };
        let columns = cast_each(
            columns,
            self.output_schema.fields().iter().map(|f| f.data_type()),
        )?;
        Ok(RecordBatch::try_new_with_options(
            self.output_schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(left.len())),
        )?)
    }
}

/// An Eddy table as a lookup: by the table's primary-key index when the
/// join is on the primary key, otherwise an in-memory index over its rows,
/// rebuilt when the table changes.
pub struct TableLookup {
    table: Arc<StoredTable>,
    key_columns: Vec<usize>,
    version: Option<u64>,
    rows: RecordBatch,
    index: HashMap<Box<[u8]>, Vec<u32>>,
    converter: RowConverter,
}

impl TableLookup {
    pub fn new(table: Arc<StoredTable>, key_columns: Vec<usize>) -> Result<Self> {
        let schema = table.schema();
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )?;
        Ok(TableLookup {
            rows: RecordBatch::new_empty(schema),
            table,
            key_columns,
            version: None,
            index: HashMap::new(),
            converter,
        })
    }

    fn refresh(&mut self) -> Result<()> {
        let version = self.table.version();
        if self.version == Some(version) {
            return Ok(());
        }
        let schema = self.table.schema();
        self.rows = concat_batches(&schema, &self.table.batches())?;
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&i| self.rows.column(i).clone())
            .collect();
        let encoded = self.converter.convert_columns(&keys)?;
        self.index.clear();
        for j in 0..self.rows.num_rows() {
            if keys.iter().all(|k| !k.is_null(j)) {
                self.index
                    .entry(encoded.row(j).data().into())
                    .or_default()
                    .push(j as u32);
            }
        }
        self.version = Some(version);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Lookup for TableLookup {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    async fn lookup(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch> {
        // Joined on the primary key: the table's own index answers, with no
        // copy of the table to rebuild when it changes.
        let on_primary_key = self
            .table
            .constraints()
            .primary_key
            .is_some_and(|k| k.columns == self.key_columns);
        if on_primary_key {
            return Ok(self.table.get_many(keys)?);
        }
        self.refresh()?;
        let encoded = self.converter.convert_columns(keys)?;
        let mut picked = Vec::new();
        for i in 0..encoded.num_rows() {
            if let Some(js) = self.index.get(encoded.row(i).data()) {
                picked.extend_from_slice(js);
            }
        }
        let indices = UInt32Array::from(picked);
        let columns = self
            .rows
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.rows.schema(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(indices.len())),
        )?)
    }
}
