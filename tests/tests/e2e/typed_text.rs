//! uuid, json and jsonb columns: every way of writing a table stores the
//! canonical text (or fails with 22P02), and a streaming query carries the
//! types from a file source into an Eddy table and into PostgreSQL (a table
//! the sink creates, so with those column types), read back with their
//! OIDs, also after a restart.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{
    Progress, TestPostgres, execute, expect_db_error, query_i64, query_values, wait_until,
};
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::{TestEddy, wait_for_status, with_logs};

const UUID: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
/// The document written, as PostgreSQL (and Eddy) store jsonb.
const DOC_STORED: &str = r#"{"a": [true], "b": 1}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_writes_store_canonical_values() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = table_writes(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn table_writes(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        r#"CREATE TABLE t (id INT, u UUID, j JSON,
                           jb JSONB DEFAULT '{"z": 1, "y": 2}', s TEXT);
           INSERT INTO t (id, u, j) VALUES
               (1, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"b": 1,"a": 2}');
           INSERT INTO t (id, u, jb, s) VALUES
               (2, '{a0eebc999c0b4ef8bb6d6bb9bd380a12}', '{"a":1,"a":2}', '[3,  4]');
           UPDATE t SET u = 'a0eebc99-9c0b-4ef8-bb6d-6BB9BD380A13' WHERE id = 2;
           ALTER TABLE t ALTER COLUMN s TYPE JSONB;
           ALTER TABLE t ADD COLUMN v UUID DEFAULT '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A14}'::uuid;"#,
    )
    .await?;
    let shown = query_values(&client, "SELECT u, j, jb, s, v FROM t ORDER BY id").await?;
    let expected = [
        [
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Some(r#"{"b": 1,"a": 2}"#),
            Some(r#"{"y": 2, "z": 1}"#),
            None,
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14"),
        ],
        [
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13"),
            None,
            Some(r#"{"a": 2}"#),
            Some("[3, 4]"),
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14"),
        ],
    ]
    .map(|row| row.map(|v| v.map(str::to_owned)));
    ensure!(shown == expected, "stored: {shown:?}");
    for sql in [
        "SELECT id FROM t WHERE u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A13'::uuid",
        "SELECT id FROM t WHERE u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A13'",
        r#"SELECT id FROM t WHERE jb = '{"a":2}'::jsonb"#,
        "SELECT id FROM t WHERE s = '[3,4]'",
    ] {
        let found = query_i64(&client, sql).await?;
        ensure!(found == 2, "{sql}: row {found}");
    }

    for (sql, message) in [
        (
            "UPDATE t SET u = 'nope' WHERE id = 1",
            r#"invalid input syntax for type uuid: "nope""#,
        ),
        (
            "INSERT INTO t (id, jb) VALUES (3, '{\"a\" 1}')",
            "invalid input syntax for type jsonb",
        ),
        (
            "ALTER TABLE t ALTER COLUMN id TYPE UUID",
            r#"invalid input syntax for type uuid: "1""#,
        ),
        (
            "SELECT * FROM t WHERE u = 'nope'::uuid",
            r#"invalid input syntax for type uuid: "nope""#,
        ),
    ] {
        let err = expect_db_error(&client, sql).await?;
        ensure!(
            (err.code().code(), err.message()) == ("22P02", message),
            "{sql}: {} {}",
            err.code().code(),
            err.message()
        );
    }
    let rows = query_i64(&client, "SELECT count(*) FROM t").await?;
    ensure!(rows == 2, "{rows} rows after the failed writes");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_and_json_flow_from_a_source_to_postgres() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    let input = tempfile::tempdir()?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE docs (id BIGINT, u UUID, doc JSONB)
                WITH (connector = 'file', path = '{input}', format = 'json');
             CREATE TABLE kept (id BIGINT, u UUID, doc JSONB);
             CREATE SINK to_kept WITH (connector = 'table', table = 'kept');
             CREATE SINK to_pg WITH (connector = 'postgres', url = '{url}',
                table = 'docs_out', create_table = 'true');
             CREATE STREAMING QUERY keep WITH (trigger = '100 milliseconds')
                AS INSERT INTO to_kept SELECT id, u, doc FROM docs;
             CREATE STREAMING QUERY copy WITH (trigger = '100 milliseconds')
                AS INSERT INTO to_pg SELECT id, u, doc FROM docs;",
            input = input.path().display(),
            url = pg.url(),
        ),
    )
    .await?;
    let bound = Duration::from_secs(120);
    wait_for_status(&client, "keep", "running", bound).await?;
    wait_for_status(&client, "copy", "running", bound).await?;
    let line = format!(r#"{{"id": 1, "u": "{UUID}", "doc": "{{\"b\": 1, \"a\": [true]}}"}}"#);
    std::fs::write(input.path().join("docs.json.tmp"), line + "\n")?;
    std::fs::rename(
        input.path().join("docs.json.tmp"),
        input.path().join("docs.json"),
    )?;

    let pg_client = pg.client().await?;
    wait_until(bound, "the row to arrive", || async {
        let in_pg = pg_client.query("SELECT 1 FROM docs_out", &[]).await;
        let in_pg = in_pg.map(|rows| rows.len()).unwrap_or(0);
        let kept = query_i64(&client, "SELECT count(*) FROM kept").await?;
        Ok(if in_pg == 1 && kept == 1 {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{in_pg} in PostgreSQL, {kept} in kept"))
        })
    })
    .await?;

    let types = pg_client
        .query(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'docs_out'::regclass AND attnum > 0 ORDER BY attnum",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>();
    ensure!(
        types == ["bigint", "uuid", "jsonb"],
        "columns created: {types:?}"
    );
    let row = pg_client
        .query_one("SELECT u::text, doc::text FROM docs_out", &[])
        .await?;
    let (u, doc): (String, String) = (row.get(0), row.get(1));
    ensure!(
        (u.as_str(), doc.as_str()) == (UUID, DOC_STORED),
        "in PostgreSQL: {u} {doc}"
    );

    check_kept(&client).await?;
    eddy.restart().await?;
    check_kept(&eddy.client().await?).await
}

/// The Eddy table holds the row, canonical, described by its types.
async fn check_kept(client: &Client) -> Result<()> {
    let kept = client.prepare("SELECT u, doc FROM kept").await?;
    let described: Vec<&Type> = kept.columns().iter().map(|c| c.type_()).collect();
    ensure!(
        described == [&Type::UUID, &Type::JSONB],
        "kept described as {described:?}"
    );
    let shown = query_values(client, "SELECT u, doc FROM kept").await?;
    ensure!(
        shown == [[Some(UUID), Some(DOC_STORED)].map(|v| v.map(str::to_owned))],
        "kept: {shown:?}"
    );
    Ok(())
}
