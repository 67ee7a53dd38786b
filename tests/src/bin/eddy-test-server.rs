//! The `eddy` binary, rebuilt inside the test crate so that `cargo test`
//! builds it before the end-to-end tests and hands them its path
//! (`CARGO_BIN_EXE_eddy-test-server`). It takes the same arguments as `eddy`.

fn main() -> anyhow::Result<()> {
    eddy_server::cli::main()
}
