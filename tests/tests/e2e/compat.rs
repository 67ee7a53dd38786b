//! The compatibility suite: real client programs (`tests/compat/`) against a
//! running Eddy.
//!
//! Each test starts its own Eddy, runs one program with the server's address
//! in `EDDY_COMPAT_HOST` / `EDDY_COMPAT_PORT`, and fails with the program's
//! output when it exits non-zero. The programs check what they read back
//! themselves (every type, both formats where the driver lets one choose).
//!
//! The toolchains are installed by `.ci/run`: a Python venv in
//! `tests/compat/python/.venv`, `npm ci` in `tests/compat/node` (node-postgres
//! and dbmate), and Debian's `libpostgresql-jdbc-java` with a JDK. A missing
//! toolchain fails the test with the command that installs it, unless
//! `EDDY_COMPAT_SKIP_MISSING=1` is set (local runs only).
//!
//! Checks that depend on work not done yet are listed as [`Expect::Fails`]
//! with the reason: they must still fail, so that the day they pass the test
//! says so and the expectation is removed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use eddy_tests::{query_i64, query_values};
use tempfile::TempDir;
use tokio::process::Command;

use crate::{TestEddy, shown_names, with_logs};

/// How long one client program may run.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(180);

/// Opt-out for machines without the client toolchains (never set in CI).
const SKIP_MISSING: &str = "EDDY_COMPAT_SKIP_MISSING";

const JDBC_JAR: &str = "/usr/share/java/postgresql.jar";

/// npm's x86-64 Linux build of dbmate (the `dbmate` wrapper package cannot be
/// locked for `npm ci` without every platform's package in the registry).
const DBMATE: &str = "node/node_modules/@dbmate/linux-x64/bin/dbmate";

/// What a check is expected to do today.
#[derive(Clone, Copy)]
enum Expect {
    Passes,
    /// Fails until the named work lands; passing is an error.
    Fails(&'static str),
}

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compat")
}

/// `Ok(None)` when the toolchain is there; `Ok(Some(reason))` to skip
/// (opt-out set); an error saying how to install it otherwise.
fn toolchain(missing: Vec<String>, install: &str) -> Result<Option<String>> {
    if missing.is_empty() {
        return Ok(None);
    }
    let what = missing.join(", ");
    if std::env::var(SKIP_MISSING).is_ok_and(|v| v == "1") {
        eprintln!("skipped ({SKIP_MISSING}=1): missing {what}");
        return Ok(Some(what));
    }
    bail!(
        "compatibility suite: missing {what}; install with `{install}` (or run .ci/run), \
         or set {SKIP_MISSING}=1 to skip locally"
    )
}

fn missing_files(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect()
}

fn missing_commands(commands: &[&str]) -> Vec<String> {
    commands
        .iter()
        .filter(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .map(|c| format!("`{c}`"))
        .collect()
}

fn python() -> Result<Option<PathBuf>> {
    let venv = compat_dir().join("python/.venv/bin/python");
    let install = "python3 -m venv tests/compat/python/.venv && \
                   tests/compat/python/.venv/bin/pip install -r tests/compat/python/requirements.txt";
    Ok(
        toolchain(missing_files(std::slice::from_ref(&venv)), install)?
            .map_or(Some(venv), |_| None),
    )
}

fn node_modules() -> Result<bool> {
    let dir = compat_dir().join("node/node_modules");
    let mut missing = missing_commands(&["node"]);
    missing.extend(missing_files(&[dir.join("pg"), compat_dir().join(DBMATE)]));
    Ok(toolchain(missing, "cd tests/compat/node && npm ci")?.is_none())
}

fn java() -> Result<bool> {
    let mut missing = missing_commands(&["java", "javac"]);
    missing.extend(missing_files(&[PathBuf::from(JDBC_JAR)]));
    let install = "apt-get install -y --no-install-recommends default-jdk-headless \
                   libpostgresql-jdbc-java";
    Ok(toolchain(missing, install)?.is_none())
}

/// Runs `command` to completion (bounded), returning its output; an error
/// with the whole output if it fails.
async fn run(mut command: Command, what: &str) -> Result<String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(PROGRAM_TIMEOUT, command.output())
        .await
        .with_context(|| format!("{what}: still running after {PROGRAM_TIMEOUT:?}"))?
        .with_context(|| format!("{what}: could not start {command:?}"))?;
    let text = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        output.status.success(),
        "{what} failed ({})\n{text}",
        output.status
    );
    Ok(text)
}

fn client_command(program: impl AsRef<std::ffi::OsStr>, eddy: &TestEddy) -> Command {
    let mut command = Command::new(program);
    command
        .env("EDDY_COMPAT_HOST", "127.0.0.1")
        .env("EDDY_COMPAT_PORT", eddy.port().to_string());
    command
}

/// Applies `expect` to a check's result.
fn expected(what: &str, expect: Expect, result: Result<String>) -> Result<()> {
    match (expect, result) {
        (Expect::Passes, Ok(output)) => {
            println!("{what} passed\n{output}");
            Ok(())
        }
        (Expect::Passes, Err(e)) => Err(e),
        (Expect::Fails(reason), Err(e)) => {
            println!("{what} fails, as expected until {reason}:\n{e:#}");
            Ok(())
        }
        (Expect::Fails(reason), Ok(output)) => bail!(
            "{what} passes now: remove its expected failure (\"{reason}\") from \
             tests/tests/e2e/compat.rs\n{output}"
        ),
    }
}

async fn python_client(script: &str, expect: Expect) -> Result<()> {
    let Some(python) = python()? else {
        return Ok(());
    };
    let eddy = TestEddy::start().await?;
    let mut command = client_command(&python, &eddy);
    command
        .arg(compat_dir().join("python").join(script))
        .current_dir(compat_dir().join("python"));
    let result = run(command, script).await;
    with_logs(expected(script, expect, result), &eddy, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_text_and_binary() -> Result<()> {
    python_client("check_psycopg.py", Expect::Passes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2() -> Result<()> {
    python_client("check_psycopg2.py", Expect::Passes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_binary_untyped_params_and_cursor() -> Result<()> {
    python_client("check_asyncpg.py", Expect::Passes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg8000() -> Result<()> {
    python_client("check_pg8000.py", Expect::Passes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_core_and_reflection() -> Result<()> {
    let reason = "pg_catalog lands (the dialect calls pg_catalog.version() at connect; \
                  reflection reads pg_class, pg_attribute, pg_constraint)";
    python_client("check_sqlalchemy.py", Expect::Fails(reason)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres() -> Result<()> {
    if !node_modules()? {
        return Ok(());
    }
    let eddy = TestEddy::start().await?;
    let mut command = client_command("node", &eddy);
    command
        .arg("check_pg.js")
        .current_dir(compat_dir().join("node"));
    let result = run(command, "node-postgres").await;
    with_logs(
        expected("node-postgres", Expect::Passes, result),
        &eddy,
        None,
    )
}

async fn pgjdbc(mode: &str, expect: Expect) -> Result<()> {
    if !java()? {
        return Ok(());
    }
    let classes = TempDir::new()?;
    let mut javac = Command::new("javac");
    javac
        .args(["-cp", JDBC_JAR, "-d"])
        .arg(classes.path())
        .arg(compat_dir().join("java/Check.java"));
    run(javac, "javac Check.java").await?;
    let eddy = TestEddy::start().await?;
    let mut command = client_command("java", &eddy);
    command
        .arg("-cp")
        .arg(format!("{}:{JDBC_JAR}", classes.path().display()))
        .args(["Check", mode]);
    let what = format!("pgjdbc ({mode})");
    let result = run(command, &what).await;
    with_logs(expected(&what, expect, result), &eddy, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_text() -> Result<()> {
    pgjdbc("text", Expect::Passes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_binary() -> Result<()> {
    let reason = "Describe of a statement with parameters and no result columns answers \
                  NoData (pgwire 0.42 sends an empty RowDescription; handler.rs)";
    pgjdbc("binary", Expect::Fails(reason)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_pgobject() -> Result<()> {
    let reason = "pg_type lands (pgjdbc looks up interval, json and jsonb there)";
    pgjdbc("pgobject", Expect::Fails(reason)).await
}

/// dbmate's command line against `eddy`, with migrations from `dir`.
fn dbmate(eddy: &TestEddy, dir: &Path) -> Command {
    let mut command = Command::new(compat_dir().join(DBMATE));
    command
        .arg("--url")
        .arg(format!(
            "postgres://eddy@127.0.0.1:{}/eddy?sslmode=disable",
            eddy.port()
        ))
        .arg("--migrations-dir")
        .arg(dir)
        .args(["--no-dump-schema", "up"]);
    command
}

/// The versions dbmate recorded, in order.
async fn applied_versions(eddy: &TestEddy) -> Result<Vec<String>> {
    let client = eddy.client().await?;
    let rows = query_values(
        &client,
        "SELECT version FROM schema_migrations ORDER BY version",
    )
    .await?;
    Ok(rows.into_iter().flatten().flatten().collect())
}

const MIGRATIONS: [&str; 2] = ["20240101000000", "20240102000000"];

async fn migrations_twice(eddy: &TestEddy) -> Result<String> {
    let dir = compat_dir().join("dbmate/migrations");
    let first = run(dbmate(eddy, &dir), "dbmate up").await?;
    for version in MIGRATIONS {
        ensure!(
            first.contains(&format!("Applying: {version}")),
            "first run did not apply {version}:\n{first}"
        );
    }
    let second = run(dbmate(eddy, &dir), "dbmate up (again)").await?;
    ensure!(
        !second.contains("Applying"),
        "second run applied something:\n{second}"
    );
    ensure!(
        applied_versions(eddy).await? == MIGRATIONS,
        "schema_migrations"
    );
    let client = eddy.client().await?;
    let accounts = query_i64(&client, "SELECT count(*) FROM accounts").await?;
    let events = query_i64(&client, "SELECT count(*) FROM events WHERE kind = 'signup'").await?;
    ensure!(
        (accounts, events) == (1, 1),
        "rows after two runs: {accounts} accounts, {events} events (expected 1 and 1)"
    );
    Ok(format!("{first}\n{second}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbmate_migrations_run_twice() -> Result<()> {
    if !node_modules()? {
        return Ok(());
    }
    let eddy = TestEddy::start().await?;
    let result = migrations_twice(&eddy).await;
    let reason = "pg_catalog lands (dbmate calls quote_ident() before migrating)";
    with_logs(
        expected("dbmate, twice", Expect::Fails(reason), result),
        &eddy,
        None,
    )
}

/// The good migrations, then one that fails half-way: it leaves no table,
/// no row and no version behind.
async fn failing_migration(eddy: &TestEddy) -> Result<String> {
    let dir = TempDir::new()?;
    for source in ["migrations", "failing"] {
        for entry in std::fs::read_dir(compat_dir().join("dbmate").join(source))? {
            let path = entry?.path();
            std::fs::copy(
                &path,
                dir.path().join(path.file_name().context("file name")?),
            )?;
        }
    }
    let failed = run(dbmate(eddy, dir.path()), "dbmate up (failing migration)").await;
    let Err(failed) = failed else {
        bail!("dbmate succeeded with a failing migration");
    };
    let failed = format!("{failed:#}");
    ensure!(
        failed.contains("no_such_table"),
        "dbmate failed, but not on the failing statement:\n{failed}"
    );
    ensure!(
        applied_versions(eddy).await? == MIGRATIONS,
        "schema_migrations"
    );
    let tables = shown_names(&eddy.client().await?, "SHOW TABLES").await?;
    ensure!(
        !tables.iter().any(|t| t == "half_done"),
        "the failed migration's table survived: {tables:?}"
    );
    Ok(failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbmate_failing_migration_leaves_no_trace() -> Result<()> {
    if !node_modules()? {
        return Ok(());
    }
    let eddy = TestEddy::start().await?;
    let result = failing_migration(&eddy).await;
    let reason = "pg_catalog (quote_ident) and transactional DDL land (the failed \
                  migration's CREATE TABLE must be rolled back)";
    with_logs(
        expected("dbmate, failing migration", Expect::Fails(reason), result),
        &eddy,
        None,
    )
}
