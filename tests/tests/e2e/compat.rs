//! The compatibility suite: real client programs (`tests/compat/`) against a
//! running Eddy.
//!
//! tokio-postgres is checked in process (every type in binary, declared and
//! inferred parameter types, array parameters and results, UPDATE and DELETE with
//! parameters, a portal read in pieces). For the others, each
//! test starts its own Eddy, runs one program with the server's address
//! in `EDDY_COMPAT_HOST` / `EDDY_COMPAT_PORT`, and fails with the program's
//! output when it exits non-zero. The programs check what they read back
//! themselves (every type, both formats where the driver lets one choose).
//!
//! The toolchains are installed by `.ci/run`: a Python venv in
//! `tests/compat/python/.venv`, `npm ci` in `tests/compat/node` (node-postgres
//! and dbmate), and Debian's `libpostgresql-jdbc-java` with a JDK. A missing
//! toolchain fails the test with the command that installs it, unless
//! `EDDY_COMPAT_SKIP_MISSING=1` is set (local runs only).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use eddy_tests::{query_i64, query_values};
use tempfile::TempDir;
use tokio::process::Command;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::{TestEddy, shown_names, with_logs};

/// How long one client program may run.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(180);

/// Opt-out for machines without the client toolchains (never set in CI).
const SKIP_MISSING: &str = "EDDY_COMPAT_SKIP_MISSING";

const JDBC_JAR: &str = "/usr/share/java/postgresql.jar";

/// npm's x86-64 Linux build of dbmate (the `dbmate` wrapper package cannot be
/// locked for `npm ci` without every platform's package in the registry).
const DBMATE: &str = "node/node_modules/@dbmate/linux-x64/bin/dbmate";

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

/// A check's result, its output printed when it passed.
fn expected(what: &str, result: Result<String>) -> Result<()> {
    let output = result?;
    println!("{what} passed\n{output}");
    Ok(())
}

async fn python_client(script: &str) -> Result<()> {
    let Some(python) = python()? else {
        return Ok(());
    };
    let eddy = TestEddy::start().await?;
    let mut command = client_command(&python, &eddy);
    command
        .arg(compat_dir().join("python").join(script))
        .current_dir(compat_dir().join("python"));
    let result = run(command, script).await;
    with_logs(expected(script, result), &eddy, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg3_text_and_binary() -> Result<()> {
    python_client("check_psycopg.py").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2() -> Result<()> {
    python_client("check_psycopg2.py").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_binary_untyped_params_and_cursor() -> Result<()> {
    python_client("check_asyncpg.py").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg8000() -> Result<()> {
    python_client("check_pg8000.py").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_core_and_reflection() -> Result<()> {
    python_client("check_sqlalchemy.py").await
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
    with_logs(expected("node-postgres", result), &eddy, None)
}

/// Compiles and runs the Java program `class` (`tests/compat/java/{class}.java`)
/// with `mode` as its argument.
async fn pgjdbc(class: &str, mode: &str) -> Result<()> {
    if !java()? {
        return Ok(());
    }
    let classes = TempDir::new()?;
    let mut javac = Command::new("javac");
    javac
        .args(["-cp", JDBC_JAR, "-d"])
        .arg(classes.path())
        .arg(compat_dir().join(format!("java/{class}.java")));
    run(javac, &format!("javac {class}.java")).await?;
    let eddy = TestEddy::start().await?;
    let mut command = client_command("java", &eddy);
    command
        .arg("-cp")
        .arg(format!("{}:{JDBC_JAR}", classes.path().display()))
        .args([class, mode]);
    let what = format!("pgjdbc {class} ({mode})");
    let result = run(command, &what).await;
    with_logs(expected(&what, result), &eddy, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_text() -> Result<()> {
    pgjdbc("Check", "text").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_binary() -> Result<()> {
    pgjdbc("Check", "binary").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_pgobject() -> Result<()> {
    pgjdbc("Check", "pgobject").await
}

/// DatabaseMetaData as Metabase and DBeaver use it to sync a schema:
/// getSchemas, getTables, getColumns, getPrimaryKeys, getImportedKeys,
/// getIndexInfo and getTypeInfo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_database_metadata() -> Result<()> {
    pgjdbc("Meta", "metadata").await
}

/// Alembic itself: two revisions up (DDL in one transaction, a foreign key,
/// an index), again as a no-op, `alembic check` against the models, and
/// down to base.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alembic_upgrade_check_downgrade() -> Result<()> {
    python_client("check_alembic.py").await
}

/// The queries Grafana, Metabase, Superset and DBeaver send at connect and
/// during schema sync, sent through psycopg as those tools send them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bi_tool_queries() -> Result<()> {
    python_client("check_bi.py").await
}

/// dbmate's command line against `eddy`, with migrations from `dir`.
fn dbmate(eddy: &TestEddy, dir: &Path) -> Command {
    dbmate_command(eddy, "eddy", dir, "migrate")
}

/// `dbmate <verb>` against database `database` of `eddy`.
fn dbmate_command(eddy: &TestEddy, database: &str, dir: &Path, verb: &str) -> Command {
    let mut command = Command::new(compat_dir().join(DBMATE));
    command
        .arg("--url")
        .arg(format!(
            "postgres://eddy@127.0.0.1:{}/{database}?sslmode=disable",
            eddy.port()
        ))
        .arg("--migrations-dir")
        .arg(dir)
        .args(["--no-dump-schema", verb]);
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
    let first = run(dbmate(eddy, &dir), "dbmate migrate").await?;
    for version in MIGRATIONS {
        ensure!(
            first.contains(&format!("Applying: {version}")),
            "first run did not apply {version}:\n{first}"
        );
    }
    let second = run(dbmate(eddy, &dir), "dbmate migrate (again)").await?;
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
    with_logs(expected("dbmate, twice", result), &eddy, None)
}

/// `dbmate up` on a fresh Eddy: dbmate asks the maintenance database
/// `postgres` whether `eddy` exists (`pg_database`), finds it, so creates
/// nothing, and migrates; for a database Eddy does not have, `dbmate up`
/// stops at CREATE DATABASE with Eddy's explanation.
async fn up_on_fresh_eddy(eddy: &TestEddy) -> Result<String> {
    let dir = compat_dir().join("dbmate/migrations");
    let up = run(dbmate_command(eddy, "eddy", &dir, "up"), "dbmate up").await?;
    ensure!(
        !up.contains("Creating"),
        "dbmate up created a database:\n{up}"
    );
    ensure!(
        applied_versions(eddy).await? == MIGRATIONS,
        "schema_migrations after dbmate up:\n{up}"
    );
    let other = run(
        dbmate_command(eddy, "other", &dir, "up"),
        "dbmate up (other)",
    )
    .await;
    let Err(other) = other else {
        bail!("dbmate up succeeded on database \"other\"");
    };
    let other = format!("{other:#}");
    ensure!(
        other.contains("CREATE DATABASE is not supported") && other.contains("0A000"),
        "dbmate up on \"other\" failed otherwise:\n{other}"
    );
    Ok(format!("{up}\n{other}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbmate_up_on_a_fresh_eddy() -> Result<()> {
    if !node_modules()? {
        return Ok(());
    }
    let eddy = TestEddy::start().await?;
    let result = up_on_fresh_eddy(&eddy).await;
    with_logs(expected("dbmate up", result), &eddy, None)
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
    let failed = run(
        dbmate(eddy, dir.path()),
        "dbmate migrate (failing migration)",
    )
    .await;
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
    with_logs(expected("dbmate, failing migration", result), &eddy, None)
}

/// A value passed and read in binary exactly as given, whatever the type:
/// for types tokio-postgres has no Rust type for here (numeric, interval,
/// uuid, json, jsonb).
#[derive(Debug, PartialEq)]
struct RawBinary(Vec<u8>);

impl ToSql for RawBinary {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for RawBinary {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBinary(raw.to_vec()))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

const CREATE_TYPES: &str = "CREATE TABLE compat_types (
    id integer NOT NULL,
    b boolean, i2 smallint, i4 integer, i8 bigint,
    f4 real, f8 double precision, n numeric(12,4),
    t text, v varchar(20), by bytea,
    d date, ts timestamp, tstz timestamptz, iv interval,
    u uuid, j json, jb jsonb)";

/// 12345678.1234 as PostgreSQL's binary numeric: 3 base-10000 digits,
/// weight 1, positive, 4 decimal digits.
const NUMERIC: [u8; 14] = [0, 3, 0, 1, 0, 0, 0, 4, 0x04, 0xd2, 0x16, 0x2e, 0x04, 0xd2];

/// 1 day 02:03:04.5: microseconds, days, months.
fn interval_binary() -> Vec<u8> {
    let mut v = 7_384_500_000i64.to_be_bytes().to_vec();
    v.extend_from_slice(&1i32.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes());
    v
}

const UUID_TEXT: &str = "12345678-1234-5678-9abc-def012345678";
const UUID_BINARY: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78,
];

/// tokio-postgres: every parameter in binary, declared by the client with
/// `prepare_typed` (one row) or inferred by the server (another row); every
/// result in binary; a portal read two rows at a time (Execute with
/// max_rows); an error then recovery.
async fn tokio_postgres_checks(eddy: &TestEddy) -> Result<()> {
    let mut client = eddy.client().await?;
    client.batch_execute(CREATE_TYPES).await?;
    let ts = NaiveDate::from_ymd_opt(2024, 2, 29)
        .and_then(|d| d.and_hms_micro_opt(12, 34, 56, 789_012))
        .context("timestamp")?;
    let tstz = ts.and_utc();
    let insert = "INSERT INTO compat_types (id, b, i2, i4, i8, f4, f8, n, t, v, by, d, ts, tstz, \
                  iv, u, j, jb) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                  $14, $15, $16, $17, $18)";
    let declared = [
        Type::INT4,
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::TEXT,
        Type::VARCHAR,
        Type::BYTEA,
        Type::DATE,
        Type::TIMESTAMP,
        Type::TIMESTAMPTZ,
        Type::INTERVAL,
        Type::UUID,
        Type::JSON,
        Type::JSONB,
    ];
    let typed = client.prepare_typed(insert, &declared).await?;
    let (n, iv) = (RawBinary(NUMERIC.to_vec()), RawBinary(interval_binary()));
    let by = vec![0u8, 1, 0xfe, 0xff];
    let date = ts.date();
    // json keeps its text; jsonb is stored as PostgreSQL prints it.
    let (j, jb) = (r#"{"b":1, "a": [1, 2]}"#, r#"{"b":true,"a" : [1,2]}"#);
    let jb_stored = r#"{"a": [1, 2], "b": true}"#;
    let shared: [&(dyn ToSql + Sync); 14] = [
        &true,
        &-12345i16,
        &2_000_000_000i32,
        &9_000_000_000_000_000_000i64,
        &1.5f32,
        &-2.25e10f64,
        &n,
        &"hello, ☃",
        &"varchar",
        &by,
        &date,
        &ts,
        &tstz,
        &iv,
    ];
    let uuid = RawBinary(UUID_BINARY.to_vec());
    let (json, jsonb) = (
        RawBinary(j.as_bytes().to_vec()),
        RawBinary([&[1u8], jb.as_bytes()].concat()),
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&1i32];
    params.extend(shared);
    params.extend([&uuid as &(dyn ToSql + Sync), &json, &jsonb]);
    ensure!(client.execute(&typed, &params).await? == 1, "typed insert");

    // The server infers the types from the columns (varchar is text), so
    // uuid, json and jsonb parameters are sent in those types' binary forms.
    let inferred = client.prepare(insert).await?;
    let inferred_types: Vec<Type> = inferred.params().to_vec();
    let mut expected_types = declared.to_vec();
    expected_types[9] = Type::TEXT;
    ensure!(
        inferred_types == expected_types,
        "inferred parameter types: {inferred_types:?}"
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&2i32];
    params.extend(shared);
    params.extend([&uuid as &(dyn ToSql + Sync), &json, &jsonb]);
    ensure!(
        client.execute(&inferred, &params).await? == 1,
        "inferred insert"
    );

    let select = client
        .prepare(
            "SELECT b, i2, i4, i8, f4, f8, n, t, v, by, d, ts, tstz, iv, u, j, jb, upper(u) \
             FROM compat_types WHERE id = $1",
        )
        .await?;
    let described: Vec<&Type> = select.columns()[14..].iter().map(|c| c.type_()).collect();
    ensure!(
        described == [&Type::UUID, &Type::JSON, &Type::JSONB, &Type::TEXT],
        "uuid, json, jsonb and an expression over a uuid described as {described:?}"
    );
    for id in [1i32, 2] {
        let row = client.query_one(&select, &[&id]).await?;
        let what = format!("row {id}");
        ensure!(row.try_get::<_, bool>("b")?, "{what}: b");
        ensure!(row.try_get::<_, i16>("i2")? == -12345, "{what}: i2");
        ensure!(row.try_get::<_, i32>("i4")? == 2_000_000_000, "{what}: i4");
        ensure!(
            row.try_get::<_, i64>("i8")? == 9_000_000_000_000_000_000,
            "{what}: i8"
        );
        ensure!(row.try_get::<_, f32>("f4")? == 1.5, "{what}: f4");
        ensure!(row.try_get::<_, f64>("f8")? == -2.25e10, "{what}: f8");
        ensure!(
            row.try_get::<_, RawBinary>("n")? == n,
            "{what}: n = {:?}",
            row.try_get::<_, RawBinary>("n")?
        );
        ensure!(row.try_get::<_, String>("t")? == "hello, ☃", "{what}: t");
        ensure!(row.try_get::<_, String>("v")? == "varchar", "{what}: v");
        ensure!(row.try_get::<_, Vec<u8>>("by")? == by, "{what}: by");
        ensure!(row.try_get::<_, NaiveDate>("d")? == date, "{what}: d");
        ensure!(row.try_get::<_, NaiveDateTime>("ts")? == ts, "{what}: ts");
        ensure!(
            row.try_get::<_, DateTime<Utc>>("tstz")? == tstz,
            "{what}: tstz"
        );
        ensure!(
            row.try_get::<_, RawBinary>("iv")? == iv,
            "{what}: iv = {:?}",
            row.try_get::<_, RawBinary>("iv")?
        );
        let raw = |column: &str| row.try_get::<_, RawBinary>(column).map(|r| r.0);
        ensure!(raw("u")? == UUID_BINARY, "{what}: u = {:?}", raw("u")?);
        ensure!(raw("j")? == j.as_bytes(), "{what}: j = {:?}", raw("j")?);
        let jb_binary = [&[1u8], jb_stored.as_bytes()].concat();
        ensure!(raw("jb")? == jb_binary, "{what}: jb = {:?}", raw("jb")?);
        ensure!(
            row.try_get::<_, String>(17)? == UUID_TEXT.to_uppercase(),
            "{what}: upper(u)"
        );
    }

    // In text format too, and compared with a parameter (inferred as uuid,
    // sent in binary) or with a literal in another of uuid's input forms.
    let by_uuid = client
        .prepare("SELECT id FROM compat_types WHERE u = $1 ORDER BY id")
        .await?;
    ensure!(
        by_uuid.params() == [Type::UUID],
        "WHERE u = $1 parameter: {:?}",
        by_uuid.params()
    );
    let ids: Vec<i32> = client
        .query(&by_uuid, &[&uuid])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    ensure!(ids == [1, 2], "WHERE u = $1: {ids:?}");
    let shown = eddy_tests::query_values(
        &client,
        &format!(
            "SELECT u, j, jb FROM compat_types WHERE u = '{{{}}}'::uuid AND id = 2",
            UUID_TEXT.to_uppercase().replace('-', "")
        ),
    )
    .await?;
    ensure!(
        shown == [[Some(UUID_TEXT), Some(j), Some(jb_stored)].map(|v| v.map(str::to_owned))],
        "uuid, json and jsonb in text: {shown:?}"
    );
    let shown = eddy_tests::query_values(
        &client,
        "SELECT data_type FROM information_schema.columns \
         WHERE table_name = 'compat_types' AND column_name IN ('u', 'j', 'jb') ORDER BY ordinal_position",
    )
    .await?;
    ensure!(
        shown == [["uuid"], ["json"], ["jsonb"]].map(|r| r.map(|v| Some(v.to_owned()))),
        "information_schema data types: {shown:?}"
    );

    // Values that are not of the column's type fail as in PostgreSQL.
    for (column, value, message) in [
        (
            "u",
            "'not-a-uuid'",
            r#"invalid input syntax for type uuid: "not-a-uuid""#,
        ),
        (
            "u",
            "'not-a-uuid'::uuid",
            r#"invalid input syntax for type uuid: "not-a-uuid""#,
        ),
        ("j", "'{\"a\": }'", "invalid input syntax for type json"),
        ("jb", "'[1, 2'", "invalid input syntax for type jsonb"),
    ] {
        let sql = format!("INSERT INTO compat_types (id, {column}) VALUES (9, {value})");
        let err = client
            .batch_execute(&sql)
            .await
            .err()
            .with_context(|| format!("{sql} succeeded"))?;
        let db = err
            .as_db_error()
            .with_context(|| format!("{sql}: {err:?}"))?;
        ensure!(
            (db.code().code(), db.message()) == ("22P02", message),
            "{sql}: {} {}",
            db.code().code(),
            db.message()
        );
    }
    let bad_uuid = RawBinary(b"not-a-uuid".to_vec());
    let err = client
        .query(&by_uuid, &[&bad_uuid])
        .await
        .err()
        .context("a 10-byte binary uuid parameter was accepted")?;
    let code = err.code().map(|c| c.code().to_owned());
    ensure!(code.as_deref() == Some("22P02"), "bad binary uuid: {err:?}");

    // Parameters decoded by the OIDs the client declares, narrower than the
    // columns they meet.
    let narrow = client
        .prepare_typed(
            "SELECT i4 + $1, i8 - $2 FROM compat_types WHERE id = $3",
            &[Type::INT2, Type::INT4, Type::INT8],
        )
        .await?;
    let row = client.query_one(&narrow, &[&1i16, &1i32, &1i64]).await?;
    let (sum, difference): (i32, i64) = (row.try_get(0)?, row.try_get(1)?);
    ensure!(
        (sum, difference) == (2_000_000_001, 8_999_999_999_999_999_999),
        "declared int2/int4/int8 parameters: {sum}, {difference}"
    );

    // Array parameters, binary (dbmate binds text[] in text format).
    let names = vec!["public", "schema_migrations"];
    let rows = client
        .query("SELECT unnest($1::text[]) AS name", &[&names])
        .await?;
    let unnested: Vec<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    ensure!(unnested == names, "unnest($1::text[]): {unnested:?}");
    let row = client
        .query_one(
            "SELECT count(*) FROM compat_types WHERE id = ANY($1::int4[])",
            &[&vec![2i32, 3]],
        )
        .await?;
    ensure!(row.try_get::<_, i64>(0)? == 1, "= ANY($1::int4[])");

    let tx = client.transaction().await?;
    let portal = tx
        .bind(
            "SELECT id FROM compat_types WHERE id >= $1 ORDER BY id",
            &[&1i32],
        )
        .await?;
    let mut pieces = Vec::new();
    for _ in 0..2 {
        let rows = tx.query_portal(&portal, 1).await?;
        pieces.push(
            rows.iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<i32>, _>>()?,
        );
    }
    let rest = tx.query_portal(&portal, 5).await?;
    pieces.push(
        rest.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?,
    );
    ensure!(
        pieces == [vec![1], vec![2], vec![]],
        "portal read in pieces: {pieces:?}"
    );
    tx.commit().await?;

    // Lists come back as PostgreSQL arrays, in binary and in text.
    let row = client
        .query_one("SELECT make_array(1, 2), make_array('a', 'b c')", &[])
        .await?;
    let (ints, texts): (Vec<i64>, Vec<String>) = (row.try_get(0)?, row.try_get(1)?);
    ensure!(
        ints == [1, 2] && texts == ["a", "b c"],
        "arrays: {ints:?} {texts:?}"
    );
    let shown = eddy_tests::query_values(&client, "SELECT make_array('a', 'b c')").await?;
    ensure!(
        shown == [[Some(r#"{a,"b c"}"#.to_owned())]],
        "text array: {shown:?}"
    );

    // UPDATE and DELETE parameters take their types from the statement.
    let updated = client
        .execute(
            "UPDATE compat_types SET t = $1, i8 = $2 WHERE id = $3",
            &[&"updated", &7i64, &2i32],
        )
        .await?;
    ensure!(updated == 1, "UPDATE with parameters: {updated} rows");
    let row = client
        .query_one("SELECT t, i8 FROM compat_types WHERE id = $1", &[&2i32])
        .await?;
    let (t, i8): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
    ensure!(
        (t.as_str(), i8) == ("updated", 7),
        "after UPDATE: {t}, {i8}"
    );
    let deleted = client
        .execute(
            "DELETE FROM compat_types WHERE id = $1 AND i8 = $2",
            &[&2i32, &7i64],
        )
        .await?;
    ensure!(deleted == 1, "DELETE with parameters: {deleted} rows");
    let returned = client
        .query(
            "INSERT INTO compat_types (id, t) VALUES ($1, $2) RETURNING id, t",
            &[&3i32, &"returned"],
        )
        .await?;
    let returned: Vec<(i32, String)> = returned
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    ensure!(
        returned == [(3, "returned".to_owned())],
        "INSERT … RETURNING with parameters: {returned:?}"
    );

    let err = client
        .query("SELECT * FROM no_such_table WHERE x = $1", &[&1i32])
        .await
        .err()
        .context("query of a missing table succeeded")?;
    let code = err.code().map(|c| c.code().to_owned());
    ensure!(code.as_deref() == Some("42P01"), "error: {err:?}");
    let row = client.query_one("SELECT $1::bigint * 2", &[&21i64]).await?;
    ensure!(row.try_get::<_, i64>(0)? == 42, "recovered after the error");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_binary_every_type() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = tokio_postgres_checks(&eddy).await;
    with_logs(result, &eddy, None)
}
