//! The `eddy` binary, rebuilt inside the test crate so that `cargo test`
//! builds it before the end-to-end tests and hands them its path
//! (`CARGO_BIN_EXE_eddy-test-server`). It takes the same arguments as `eddy`,
//! and adds one function for tests: `eddy_test_panic()`, which panics, so
//! that tests can check what a bug inside a statement does (XX000, the
//! session and the server carry on).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};

fn main() -> anyhow::Result<()> {
    eddy_server::query::add_functions(vec![create_udf(
        "eddy_test_panic",
        vec![],
        DataType::Int32,
        Volatility::Volatile,
        Arc::new(
            |_: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
                panic!("eddy_test_panic() was called")
            },
        ),
    )]);
    eddy_server::cli::main()
}
