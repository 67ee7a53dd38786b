//! Scalar functions evaluated row by row, the way every function of this
//! crate is registered ([`register`]): the catalog functions, the
//! advisory-lock functions. They run over catalog-sized inputs and lock
//! keys, never over stream data, so a body sees one row's arguments as
//! [`ScalarValue`]s ([`as_i64`], [`as_text`]) and answers one value.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_empty_array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

type RowFn = dyn Fn(&[ScalarValue]) -> DfResult<ScalarValue> + Send + Sync;

/// A scalar function evaluated row by row.
struct RowUdf {
    name: String,
    signature: Signature,
    returns: DataType,
    f: Arc<RowFn>,
}

impl std::fmt::Debug for RowUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RowUdf({})", self.name)
    }
}

impl PartialEq for RowUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for RowUdf {}

impl std::hash::Hash for RowUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for RowUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let typed = |v: ScalarValue| -> DfResult<ScalarValue> {
            if v.is_null() {
                ScalarValue::try_from(&self.returns)
            } else if v.data_type() != self.returns {
                v.cast_to(&self.returns)
            } else {
                Ok(v)
            }
        };
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            let values: Vec<ScalarValue> = args
                .args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Scalar(s) => s.clone(),
                    ColumnarValue::Array(_) => unreachable!("all scalars"),
                })
                .collect();
            return Ok(ColumnarValue::Scalar(typed((self.f)(&values)?)?));
        }
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<DfResult<_>>()?;
        let mut out = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let values = arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<DfResult<Vec<_>>>()?;
            out.push(typed((self.f)(&values)?)?);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(new_empty_array(&self.returns)));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// Registers `name` accepting any arguments in one of `arities`.
pub fn register(
    ctx: &SessionContext,
    name: &str,
    arities: &[usize],
    returns: DataType,
    f: impl Fn(&[ScalarValue]) -> DfResult<ScalarValue> + Send + Sync + 'static,
) {
    let signatures = arities
        .iter()
        .map(|n| {
            if *n == 0 {
                TypeSignature::Nullary
            } else {
                TypeSignature::Any(*n)
            }
        })
        .collect();
    ctx.register_udf(ScalarUDF::new_from_impl(RowUdf {
        name: name.into(),
        signature: Signature::one_of(signatures, Volatility::Volatile),
        returns,
        f: Arc::new(f),
    }));
}

/// An argument as an integer (OIDs arrive as integers or numeric text).
pub fn as_i64(v: &ScalarValue) -> Option<i64> {
    if v.is_null() {
        return None;
    }
    match v.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(n) => n,
        _ => None,
    }
}

pub fn as_text(v: &ScalarValue) -> Option<String> {
    if v.is_null() {
        return None;
    }
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => s.clone(),
        other => Some(other.to_string()),
    }
}

/// A text value, NULL for `None`.
pub fn utf8(s: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(s)
}

/// Waits for `future` from synchronous code running on the server's
/// runtime (a function's body): the worker hands its other tasks to
/// another thread first (`block_in_place`), so that tasks `future` spawns,
/// or that were queued behind the caller, still run. Calls nest (a
/// catalog subquery inside another). Outside a multi-threaded runtime
/// the future is simply polled to completion here.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        _ => futures::executor::block_on(future),
    }
}
