//! Transactions and migrations: DDL and table writes inside `BEGIN …
//! COMMIT` are seen by the session at once, by others only after COMMIT,
//! and by nobody after ROLLBACK; savepoints; the constraints and ALTER
//! TABLE forms migration tools use; dbmate and Alembic statement sequences
//! as recorded in `wire-captures/drivers.log`.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{Progress, execute, expect_db_error, wait_until};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{TestEddy, rows, shown_names, with_logs};

/// The SQLSTATE of a statement that must fail.
async fn error_code(client: &Client, sql: &str) -> Result<String> {
    let e = expect_db_error(client, sql).await?;
    Ok(e.code().code().to_string())
}

async fn expect_code(client: &Client, sql: &str, code: &str) -> Result<()> {
    let e = expect_db_error(client, sql).await?;
    ensure!(
        e.code().code() == code,
        "{sql}: expected {code}, got {} {}",
        e.code().code(),
        e.message()
    );
    Ok(())
}

/// The row counts of a simple query's statements (`UPDATE n`, …).
async fn counts(client: &Client, sql: &str) -> Result<Vec<u64>> {
    Ok(client
        .simple_query(sql)
        .await?
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect())
}

#[tokio::test]
async fn ddl_and_rows_apply_at_commit_and_vanish_at_rollback() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = atomic_blocks(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn atomic_blocks(eddy: &TestEddy) -> Result<()> {
    let a = eddy.client().await?;
    let b = eddy.client().await?;
    execute(
        &a,
        "CREATE TABLE kept (id INT); INSERT INTO kept VALUES (1)",
    )
    .await?;

    // Inside the block the session sees its own table and rows; others
    // see neither until COMMIT.
    execute(
        &a,
        "BEGIN READ WRITE;
         CREATE TABLE fresh (id INT PRIMARY KEY, v TEXT);
         INSERT INTO fresh VALUES (1, 'one'), (2, 'two');
         INSERT INTO kept VALUES (2);",
    )
    .await?;
    ensure!(rows(&a, "SELECT v FROM fresh ORDER BY id").await? == ["one", "two"]);
    ensure!(rows(&a, "SELECT count(*) FROM kept").await? == ["2"]);
    expect_code(&b, "SELECT * FROM fresh", "42P01").await?;
    ensure!(rows(&b, "SELECT count(*) FROM kept").await? == ["1"]);
    ensure!(
        !shown_names(&b, "SHOW TABLES")
            .await?
            .contains(&"fresh".into())
    );
    execute(&a, "COMMIT").await?;
    ensure!(rows(&b, "SELECT v FROM fresh ORDER BY id").await? == ["one", "two"]);
    ensure!(rows(&b, "SELECT count(*) FROM kept").await? == ["2"]);

    // ROLLBACK forgets tables, rows and drops.
    execute(
        &a,
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;
         CREATE TABLE gone (id INT);
         INSERT INTO gone VALUES (1);
         INSERT INTO kept VALUES (3);
         DROP TABLE fresh;",
    )
    .await?;
    expect_code(&a, "SELECT * FROM fresh", "42P01").await?;
    ensure!(rows(&b, "SELECT count(*) FROM fresh").await? == ["2"]);
    execute(&a, "ROLLBACK").await?;
    expect_code(&a, "SELECT * FROM gone", "42P01").await?;
    ensure!(rows(&a, "SELECT count(*) FROM kept").await? == ["2"]);
    ensure!(rows(&a, "SELECT count(*) FROM fresh").await? == ["2"]);

    // A migration that fails half-way leaves nothing behind: the block is
    // failed (25P02) until ROLLBACK, and COMMIT rolls back.
    let code = error_code(
        &a,
        "BEGIN;
         CREATE TABLE m1 (id INT);
         INSERT INTO m1 VALUES (1);
         INSERT INTO kept VALUES (4);
         CREATE TABLE m1 (id INT);
         COMMIT;",
    )
    .await?;
    ensure!(code == "42P07", "duplicate CREATE TABLE: {code}");
    expect_code(&a, "SELECT 1", "25P02").await?;
    execute(&a, "COMMIT").await?;
    expect_code(&b, "SELECT * FROM m1", "42P01").await?;
    expect_code(&a, "SELECT * FROM m1", "42P01").await?;
    ensure!(rows(&b, "SELECT count(*) FROM kept").await? == ["2"]);

    // Outside a block a failing statement leaves nothing either.
    expect_code(&a, "INSERT INTO fresh VALUES (3, 'x'), (1, 'dup')", "23505").await?;
    ensure!(rows(&a, "SELECT count(*) FROM fresh").await? == ["2"]);
    Ok(())
}

#[tokio::test]
async fn savepoints_undo_what_followed_them() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = savepoints(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn savepoints(eddy: &TestEddy) -> Result<()> {
    let c = eddy.client().await?;
    expect_code(&c, "SAVEPOINT a", "25P01").await?;
    execute(
        &c,
        "BEGIN;
         CREATE TABLE s (id INT);
         INSERT INTO s VALUES (1);
         SAVEPOINT a;
         INSERT INTO s VALUES (2);
         CREATE TABLE s2 (id INT);",
    )
    .await?;
    expect_code(&c, "SELECT * FROM missing", "42P01").await?;
    expect_code(&c, "SELECT 1", "25P02").await?;
    execute(&c, "ROLLBACK TO SAVEPOINT a").await?;
    ensure!(rows(&c, "SELECT id FROM s").await? == ["1"]);
    execute(
        &c,
        "INSERT INTO s VALUES (3);
         SAVEPOINT b;
         INSERT INTO s VALUES (4);
         RELEASE SAVEPOINT b;",
    )
    .await?;
    expect_code(&c, "ROLLBACK TO b", "3B001").await?;
    execute(&c, "ROLLBACK TO a").await?;
    execute(&c, "INSERT INTO s VALUES (5); RELEASE a; COMMIT").await?;
    ensure!(rows(&c, "SELECT id FROM s ORDER BY id").await? == ["1", "5"]);
    // The table created after savepoint a was undone with it.
    expect_code(&c, "SELECT * FROM s2", "42P01").await?;
    Ok(())
}

#[tokio::test]
async fn streaming_queries_start_only_at_commit() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = streaming_at_commit(&eddy).await;
    with_logs(result, &eddy, None)
}

pub const SOURCE: &str = "CREATE SOURCE events (k BIGINT, ts TIMESTAMP,
        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
    WITH (connector = 'datagen', 'rows.per.second' = '200', seed = '3',
        'fields.k.kind' = 'random', 'fields.k.min' = '1', 'fields.k.max' = '5',
        'fields.ts.kind' = 'event_time', 'fields.ts.start' = '2026-01-01 00:00:00',
        'fields.ts.step' = '5 milliseconds', 'fields.ts.max_out_of_order' = '0 seconds',
        'fields.ts.late_rate' = '0')";

fn query(name: &str, sink: &str) -> String {
    format!(
        "CREATE STREAMING QUERY {name}
            WITH (trigger = '100 milliseconds', output_mode = 'append')
            AS INSERT INTO {sink}
            SELECT window_start, window_end, k, count(*) AS cnt
            FROM TUMBLE(events, ts, INTERVAL '1' SECOND)
            GROUP BY window_start, window_end, k"
    )
}

const COUNTS: &str = "(window_start TIMESTAMP, window_end TIMESTAMP, k BIGINT, cnt BIGINT)";

async fn streaming_at_commit(eddy: &TestEddy) -> Result<()> {
    let c = eddy.client().await?;
    execute(&c, SOURCE).await?;
    execute(&c, &format!("CREATE TABLE counts {COUNTS}")).await?;
    // Rolled back: the query never runs, the sink never existed.
    execute(
        &c,
        &format!(
            "BEGIN; CREATE SINK counts_sink WITH (connector = 'table', table = 'counts'); {};",
            query("rolled_back", "counts_sink")
        ),
    )
    .await?;
    execute(&c, "ROLLBACK").await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(shown_names(&c, "SHOW STREAMING QUERIES").await?.is_empty());
    ensure!(shown_names(&c, "SHOW SINKS").await?.is_empty());
    ensure!(rows(&c, "SELECT count(*) FROM counts").await? == ["0"]);

    // Committed, with its sink's table created in the same block.
    execute(
        &c,
        &format!(
            "BEGIN;
             CREATE TABLE counts2 {COUNTS};
             CREATE SINK counts2_sink WITH (connector = 'table', table = 'counts2');
             {};
             COMMIT;",
            query("committed", "counts2_sink")
        ),
    )
    .await?;
    wait_until(
        Duration::from_secs(20),
        "rows from the committed query",
        || async {
            let n = rows(&c, "SELECT count(*) FROM counts2").await?;
            Ok(if n == ["0"] {
                Progress::Pending(format!("{n:?}"))
            } else {
                Progress::Done(())
            })
        },
    )
    .await?;
    ensure!(shown_names(&c, "SHOW STREAMING QUERIES").await? == ["committed"]);

    // Replaced in a block that rolls back: the running query is untouched.
    let replace = query("committed", "counts2_sink").replace(
        "CREATE STREAMING QUERY",
        "CREATE OR REPLACE STREAMING QUERY",
    );
    let before = crate::query_status(&c, "committed").await?;
    execute(&c, &format!("BEGIN; {replace}; ROLLBACK")).await?;
    let after = crate::query_status(&c, "committed").await?;
    ensure!(
        matches!((&before, &after), (Some(b), Some(a)) if a.status == "running" && a.epoch >= b.epoch),
        "a rolled-back replace restarted the query: {before:?} → {after:?}"
    );
    // Replaced for real.
    execute(&c, &format!("BEGIN; {replace}; COMMIT")).await?;
    crate::wait_for_status(&c, "committed", "running", Duration::from_secs(20)).await?;
    Ok(())
}

#[tokio::test]
async fn constraints_defaults_and_serial_across_a_restart() -> Result<()> {
    let mut eddy = TestEddy::start().await?;
    let result = constraints(&mut eddy).await;
    with_logs(result, &eddy, None)
}

async fn constraints(eddy: &mut TestEddy) -> Result<()> {
    let c = eddy.client().await?;
    execute(
        &c,
        "CREATE TABLE IF NOT EXISTS items (
            id SERIAL PRIMARY KEY,
            name TEXT NOT NULL,
            code TEXT UNIQUE,
            qty INT DEFAULT 7,
            added TIMESTAMPTZ DEFAULT now()
         );
         CREATE TABLE IF NOT EXISTS items (x INT);",
    )
    .await?;
    execute(
        &c,
        "INSERT INTO items (name, code) VALUES ('a', 'A'), ('b', NULL), ('c', NULL)",
    )
    .await?;
    ensure!(
        rows(
            &c,
            "SELECT id, name, qty, added IS NOT NULL FROM items ORDER BY id"
        )
        .await?
            == ["1|a|7|t", "2|b|7|t", "3|c|7|t"]
    );
    expect_code(
        &c,
        "INSERT INTO items (id, name) VALUES (1, 'dup')",
        "23505",
    )
    .await?;
    expect_code(
        &c,
        "INSERT INTO items (name, code) VALUES ('d', 'A')",
        "23505",
    )
    .await?;
    expect_code(&c, "INSERT INTO items (name) VALUES (NULL)", "23502").await?;
    expect_code(&c, "UPDATE items SET id = 1 WHERE id = 2", "23505").await?;
    expect_code(&c, "UPDATE items SET name = NULL", "23502").await?;
    execute(
        &c,
        "CREATE TABLE big (id BIGSERIAL, v TEXT); INSERT INTO big (v) VALUES ('x')",
    )
    .await?;
    drop(c);
    eddy.stop().await?;
    eddy.start_again().await?;
    let c = eddy.client().await?;
    execute(
        &c,
        "INSERT INTO items (name) VALUES ('e'); INSERT INTO big (v) VALUES ('y')",
    )
    .await?;
    ensure!(rows(&c, "SELECT max(id) FROM items").await? == ["4"]);
    ensure!(rows(&c, "SELECT id, v FROM big ORDER BY id").await? == ["1|x", "2|y"]);
    Ok(())
}

#[tokio::test]
async fn alter_update_delete_and_indexes() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = alter_update_delete(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn alter_update_delete(eddy: &TestEddy) -> Result<()> {
    let c = eddy.client().await?;
    execute(
        &c,
        "CREATE TABLE t (id INT, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    .await?;
    execute(&c, "ALTER TABLE t ADD COLUMN n INT DEFAULT 5").await?;
    execute(&c, "ALTER TABLE t ADD COLUMN IF NOT EXISTS n INT").await?;
    execute(&c, "ALTER TABLE t ADD COLUMN note TEXT").await?;
    ensure!(
        rows(&c, "SELECT id, n, note FROM t ORDER BY id").await?
            == ["1|5|NULL", "2|5|NULL", "3|5|NULL"]
    );
    expect_code(&c, "ALTER TABLE t ADD COLUMN n INT", "42701").await?;

    ensure!(counts(&c, "UPDATE t SET n = n + 1, note = 'x' WHERE id >= 2").await? == [2]);
    ensure!(counts(&c, "UPDATE t SET n = 0 WHERE id = 42").await? == [0]);
    let update = c
        .prepare_typed(
            "UPDATE t SET v = $1 WHERE id = $2",
            &[Type::TEXT, Type::INT4],
        )
        .await?;
    ensure!(c.execute(&update, &[&"z", &3i32]).await? == 1);
    ensure!(
        rows(&c, "SELECT id, v, n, note FROM t ORDER BY id").await?
            == ["1|a|5|NULL", "2|b|6|x", "3|z|6|x"]
    );

    execute(&c, "ALTER TABLE t ADD CONSTRAINT t_pk PRIMARY KEY (id)").await?;
    expect_code(&c, "INSERT INTO t (id, v) VALUES (1, 'again')", "23505").await?;
    execute(
        &c,
        "ALTER TABLE t ALTER COLUMN n SET DEFAULT 9, ALTER COLUMN n SET NOT NULL",
    )
    .await?;
    expect_code(&c, "ALTER TABLE t ALTER COLUMN note SET NOT NULL", "23502").await?;
    execute(&c, "ALTER TABLE t ALTER COLUMN n TYPE BIGINT").await?;
    execute(
        &c,
        "ALTER TABLE t ALTER COLUMN n DROP NOT NULL, ALTER COLUMN n DROP DEFAULT",
    )
    .await?;
    execute(&c, "ALTER TABLE t DROP COLUMN note").await?;
    execute(&c, "ALTER TABLE t RENAME COLUMN v TO label").await?;
    execute(&c, "ALTER TABLE t RENAME TO things").await?;
    expect_code(&c, "SELECT * FROM t", "42P01").await?;
    ensure!(
        rows(&c, "SELECT id, label, n FROM things ORDER BY id").await?
            == ["1|a|5", "2|b|6", "3|z|6"]
    );

    execute(&c, "CREATE UNIQUE INDEX things_label ON things (label)").await?;
    execute(
        &c,
        "CREATE INDEX IF NOT EXISTS things_label ON things (label)",
    )
    .await?;
    execute(&c, "CREATE INDEX ON things (n)").await?;
    expect_code(
        &c,
        "INSERT INTO things (id, label) VALUES (9, 'a')",
        "23505",
    )
    .await?;
    execute(&c, "DROP INDEX things_label").await?;
    execute(&c, "DROP INDEX IF EXISTS things_label").await?;
    execute(&c, "INSERT INTO things (id, label) VALUES (9, 'a')").await?;

    // RETURNING (simple protocol): the inserted, changed and deleted rows.
    ensure!(
        rows(
            &c,
            "INSERT INTO things (id, label, n) VALUES (20, 'r', 1) RETURNING id, n * 10 AS tens"
        )
        .await?
            == ["20|10"]
    );
    ensure!(
        rows(
            &c,
            "UPDATE things SET n = n + 1 WHERE id = 20 RETURNING things.n"
        )
        .await?
            == ["2"]
    );
    ensure!(rows(&c, "DELETE FROM things WHERE id = 20 RETURNING *").await? == ["20|r|2"]);

    let delete = c
        .prepare_typed("DELETE FROM things WHERE label = $1", &[Type::TEXT])
        .await?;
    ensure!(c.execute(&delete, &[&"a"]).await? == 2);
    ensure!(counts(&c, "DELETE FROM things WHERE id > 100").await? == [0]);
    ensure!(counts(&c, "DELETE FROM things").await? == [2]);
    execute(
        &c,
        "DROP TABLE IF EXISTS things CASCADE; DROP TABLE IF EXISTS things CASCADE",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn dbmate_and_alembic_sequences() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = migration_tools(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn migration_tools(eddy: &TestEddy) -> Result<()> {
    let c = eddy.client().await?;
    // dbmate, as in drivers.log: the migrations table, then each migration
    // file in a READ WRITE block with its version row.
    let migrate = |version: &'static str, body: &'static str| {
        let c = &c;
        async move {
            execute(
                c,
                "create table if not exists public.schema_migrations (version varchar primary key)",
            )
            .await?;
            execute(c, "BEGIN READ WRITE").await?;
            let result = async {
                execute(c, body).await?;
                let insert = c
                    .prepare("insert into public.schema_migrations (version) values ($1)")
                    .await?;
                c.execute(&insert, &[&version]).await?;
                anyhow::Ok(())
            }
            .await;
            if result.is_err() {
                execute(c, "ROLLBACK").await?;
                return result;
            }
            execute(c, "COMMIT").await
        }
    };
    migrate(
        "20240101000000",
        "-- migrate:up\ncreate table t1 (id int);\n-- a comment\ninsert into t1 values (1);\n",
    )
    .await?;
    let failed = migrate(
        "20240102000000",
        "-- migrate:up\ncreate table t2 (id int);\ninsert into t2 values (1);\nselect * from nowhere;\n",
    )
    .await;
    ensure!(failed.is_err(), "the failing migration failed");
    ensure!(rows(&c, "SELECT version FROM schema_migrations").await? == ["20240101000000"]);
    expect_code(&c, "SELECT * FROM t2", "42P01").await?;
    // The same migration twice: its version row is refused.
    ensure!(migrate("20240101000000", "select 1;").await.is_err());

    // sqlx-style migrations table.
    execute(
        &c,
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
            success BOOLEAN NOT NULL,
            checksum BYTEA NOT NULL,
            execution_time BIGINT NOT NULL
         )",
    )
    .await?;
    let insert = c
        .prepare_typed(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, $2, TRUE, $3, -1)",
            &[Type::INT8, Type::TEXT, Type::BYTEA],
        )
        .await?;
    c.execute(&insert, &[&1i64, &"init", &vec![1u8, 2, 3]])
        .await?;
    let update = c
        .prepare_typed(
            "UPDATE _sqlx_migrations SET execution_time = $1 WHERE version = $2",
            &[Type::INT8, Type::INT8],
        )
        .await?;
    ensure!(c.execute(&update, &[&25i64, &1i64]).await? == 1);
    ensure!(
        rows(
            &c,
            "SELECT version, execution_time, installed_on IS NOT NULL FROM _sqlx_migrations"
        )
        .await?
            == ["1|25|t"]
    );

    // Alembic, as in drivers.log.
    execute(
        &c,
        "BEGIN;
         CREATE TABLE alembic_version ( version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num) );
         CREATE TABLE alem_t ( id SERIAL NOT NULL, PRIMARY KEY (id) );
         INSERT INTO alembic_version (version_num) VALUES ('abc123');",
    )
    .await?;
    ensure!(
        rows(
            &c,
            "SELECT alembic_version.version_num FROM alembic_version"
        )
        .await?
            == ["abc123"]
    );
    execute(&c, "COMMIT").await?;
    ensure!(
        counts(&c, "UPDATE alembic_version SET version_num='def456' WHERE alembic_version.version_num = 'abc123'").await?
            == [1]
    );
    let e = expect_db_error(&c, "INSERT INTO alembic_version VALUES ('def456')").await?;
    ensure!(
        e.code().code() == "23505" && e.message().contains("alembic_version_pkc"),
        "{}",
        e.message()
    );
    ensure!(rows(&c, "SELECT version_num FROM alembic_version").await? == ["def456"]);
    Ok(())
}

/// Several statements in one query string without BEGIN are one implicit
/// transaction, as in PostgreSQL: a failure discards what the earlier ones
/// did; without a failure, all of it stays.
#[tokio::test]
async fn a_failing_query_string_is_undone_whole() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        expect_code(
            &client,
            "CREATE TABLE half (x BIGINT); INSERT INTO half VALUES (1); SELECT * FROM missing",
            "42P01",
        )
        .await?;
        expect_code(&client, "SELECT * FROM half", "42P01").await?;
        execute(
            &client,
            "CREATE TABLE whole (x BIGINT); INSERT INTO whole VALUES (1), (2)",
        )
        .await?;
        ensure!(rows(&client, "SELECT x FROM whole ORDER BY x").await? == ["1", "2"]);
        // Inside a block the string does not commit: ROLLBACK undoes it.
        execute(&client, "BEGIN; INSERT INTO whole VALUES (3); ROLLBACK").await?;
        ensure!(counts(&client, "SELECT count(*) FROM whole").await? == [1]);
        ensure!(rows(&client, "SELECT count(*) FROM whole").await? == ["2"]);
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// `… RETURNING` answers with its statement's tag, as drivers count rows
/// from it (`INSERT 0 n`, `UPDATE n`, `DELETE n`).
#[tokio::test]
async fn returning_answers_with_the_statement_tag() -> Result<()> {
    use eddy_tests::wire::{BackendMessage, WireClient};
    let eddy = TestEddy::start().await?;
    let result = async {
        let mut wire = WireClient::connect_default(eddy.addr()).await?;
        wire.simple_query("CREATE TABLE tagged (id BIGSERIAL PRIMARY KEY, v TEXT)")
            .await?;
        let mut tags = Vec::new();
        for sql in [
            "INSERT INTO tagged (v) VALUES ('a'), ('b') RETURNING id",
            "UPDATE tagged SET v = 'c' WHERE v = 'a' RETURNING id, v",
            "DELETE FROM tagged RETURNING id",
        ] {
            for m in wire.simple_query(sql).await? {
                if let BackendMessage::CommandComplete(tag) = m {
                    tags.push(tag);
                }
            }
        }
        ensure!(
            tags == ["INSERT 0 2", "UPDATE 1", "DELETE 2"],
            "tags: {tags:?}"
        );
        wire.close().await
    }
    .await;
    with_logs(result, &eddy, None)
}

/// Inside a block, `pg_class` and `information_schema.tables` list the
/// block's own uncommitted tables (Alembic looks for `alembic_version`
/// there before creating it); other sessions see them only after COMMIT.
#[tokio::test]
async fn catalogs_show_a_blocks_own_tables() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        let other = eddy.client().await?;
        let in_pg_class =
            "SELECT relname FROM pg_catalog.pg_class WHERE relname = 'alembic_version'";
        let in_tables =
            "SELECT table_name FROM information_schema.tables WHERE table_name = 'alembic_version'";
        execute(
            &client,
            "BEGIN; CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, \
             CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
        )
        .await?;
        ensure!(rows(&client, in_pg_class).await? == ["alembic_version"]);
        ensure!(rows(&client, in_tables).await? == ["alembic_version"]);
        ensure!(rows(&other, in_pg_class).await?.is_empty());
        execute(&client, "ROLLBACK").await?;
        ensure!(rows(&client, in_pg_class).await?.is_empty());
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
