//! Table functions: `pg_get_keywords()`, and DataFusion's
//! `generate_series` / `range` wrapped to take constant expressions.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemTable, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use datafusion::prelude::{Expr, SessionContext};

pub(super) fn register_all(ctx: &SessionContext) {
    ctx.register_udtf("pg_get_keywords", Arc::new(Keywords));
    // DataFusion's series functions take literals only; clients pass
    // constant expressions (`generate_series(1, array_upper(current_schemas(false), 1))`).
    for builtin in datafusion::functions_table::all_default_table_functions() {
        if matches!(builtin.name(), "generate_series" | "range") {
            ctx.register_udtf(
                builtin.name(),
                Arc::new(ConstantArguments {
                    inner: builtin.function().clone(),
                }),
            );
        }
    }
}

/// A table function whose arguments are evaluated first when they are
/// constant expressions rather than literals; integers are widened to
/// BIGINT, the type DataFusion's series functions want.
#[derive(Debug)]
struct ConstantArguments {
    inner: Arc<dyn TableFunctionImpl>,
}

impl TableFunctionImpl for ConstantArguments {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let session = args.session();
        let empty = datafusion::common::DFSchema::empty();
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let exprs = args
            .exprs()
            .iter()
            .map(|e| {
                let value = match e {
                    Expr::Literal(v, _) => v.clone(),
                    other if other.column_refs().is_empty() => {
                        let physical = session.create_physical_expr(other.clone(), &empty)?;
                        match physical.evaluate(&one_row)? {
                            datafusion::logical_expr::ColumnarValue::Scalar(v) => v,
                            datafusion::logical_expr::ColumnarValue::Array(a) => {
                                ScalarValue::try_from_array(&a, 0)?
                            }
                        }
                    }
                    other => return Ok(other.clone()),
                };
                let value = match value.data_type() {
                    DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32 => value.cast_to(&DataType::Int64)?,
                    _ if value.is_null() => ScalarValue::Null,
                    _ => value,
                };
                Ok(Expr::Literal(value, None))
            })
            .collect::<DfResult<Vec<_>>>()?;
        self.inner
            .call_with_args(TableFunctionArgs::new(&exprs, session))
    }
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
