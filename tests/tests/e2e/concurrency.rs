//! Concurrent writers: two transaction blocks on one name, a block that
//! rewrites rows while another session or a streaming query writes the
//! same table. Nothing another writer committed is lost: the block's
//! COMMIT keeps it, or fails with 40001 and changes nothing. The outcome
//! of the interleaving without conflicts is compared with PostgreSQL's
//! for the same statements in the same order.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{Progress, TestPostgres, execute, expect_db_error, wait_until};

use crate::{TestEddy, rows, shown_names, wait_for_status, with_logs};

/// Two blocks that change the same name: the second COMMIT fails with
/// 40001 and applies nothing of its block, not even its other changes.
#[tokio::test]
async fn concurrent_blocks_on_one_name_conflict_at_commit() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let a = eddy.client().await?;
        let b = eddy.client().await?;
        execute(&a, "BEGIN; CREATE TABLE shared (v BIGINT);").await?;
        execute(
            &b,
            "BEGIN; CREATE TABLE shared (v BIGINT, w TEXT); CREATE TABLE other (v BIGINT);",
        )
        .await?;
        execute(&a, "COMMIT").await?;
        let e = expect_db_error(&b, "COMMIT").await?;
        ensure!(e.code().code() == "40001", "{e:?}");
        ensure!(e.message().contains("shared"), "{e:?}");
        ensure!(shown_names(&b, "SHOW TABLES").await? == ["shared"]);
        ensure!(
            rows(
                &b,
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'shared'"
            )
            .await?
                == ["1"]
        );

        // A dropped name another block still uses: its COMMIT fails too.
        execute(&a, "BEGIN; DROP TABLE shared;").await?;
        execute(
            &b,
            "BEGIN; INSERT INTO shared VALUES (1); CREATE TABLE other (v BIGINT);",
        )
        .await?;
        execute(&a, "COMMIT").await?;
        let e = expect_db_error(&b, "COMMIT").await?;
        ensure!(e.code().code() == "40001", "{e:?}");
        ensure!(shown_names(&b, "SHOW TABLES").await?.is_empty());
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// A block's UPDATE and another session's writes to other rows of the same
/// table: both survive, as in PostgreSQL (same statements, same order). A
/// write to the same row makes the block's COMMIT fail with 40001.
#[tokio::test]
async fn an_update_keeps_what_another_session_wrote_meanwhile() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let pg = TestPostgres::start().await?;
    let result = async {
        let (a, b) = (eddy.client().await?, eddy.client().await?);
        let (pa, pb) = (pg.client().await?, pg.client().await?);
        let steps: [(bool, &str); 6] = [
            (true, "CREATE TABLE t (k BIGINT PRIMARY KEY, v BIGINT)"),
            (
                true,
                "INSERT INTO t SELECT k, k FROM generate_series(1, 100) AS s(k)",
            ),
            (true, "BEGIN; UPDATE t SET v = v + 1000 WHERE k <= 50"),
            (
                false,
                "INSERT INTO t SELECT k, k FROM generate_series(101, 110) AS s(k)",
            ),
            (
                false,
                "UPDATE t SET v = -1 WHERE k = 99; DELETE FROM t WHERE k = 98",
            ),
            (true, "COMMIT"),
        ];
        for (on_a, sql) in steps {
            let (eddy_client, pg_client) = if on_a { (&a, &pa) } else { (&b, &pb) };
            execute(eddy_client, sql).await?;
            execute(pg_client, sql).await?;
        }
        let all = "SELECT k, v FROM t ORDER BY k";
        let (ours, theirs) = (rows(&b, all).await?, rows(&pb, all).await?);
        ensure!(ours.len() == 109, "{} rows", ours.len());
        ensure!(ours == theirs, "Eddy: {ours:?}\nPostgreSQL: {theirs:?}");

        // The same row: the block's COMMIT fails and applies nothing.
        execute(
            &a,
            "BEGIN; UPDATE t SET v = v * 10 WHERE k = 1; INSERT INTO t VALUES (200, 200)",
        )
        .await?;
        execute(&b, "UPDATE t SET v = 7 WHERE k = 1").await?;
        let e = expect_db_error(&a, "COMMIT").await?;
        ensure!(e.code().code() == "40001", "{e:?}");
        ensure!(rows(&b, "SELECT v FROM t WHERE k IN (1, 200) ORDER BY k").await? == ["7"]);
        // A row deleted meanwhile, too.
        execute(&a, "BEGIN; DELETE FROM t WHERE k = 2").await?;
        execute(&b, "DELETE FROM t WHERE k = 2").await?;
        let e = expect_db_error(&a, "COMMIT").await?;
        ensure!(e.code().code() == "40001", "{e:?}");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, Some(&pg))
}

/// A streaming query appends to a table while a block deletes some of its
/// rows: every row the query wrote after the block read the table is
/// still there after the COMMIT.
#[tokio::test]
async fn a_delete_keeps_the_rows_a_streaming_query_appends_meanwhile() -> Result<()> {
    const ROWS: i64 = 3000;
    let eddy = TestEddy::start().await?;
    let result = async {
        let c = eddy.client().await?;
        execute(
            &c,
            &format!(
                "CREATE TABLE events (id BIGINT, v BIGINT);
                 CREATE SOURCE gen (id BIGINT, v BIGINT) WITH (connector = 'datagen',
                    'rows.per.second' = '2000', 'number.of.rows' = '{ROWS}', seed = '4',
                    'fields.id.kind' = 'sequence', 'fields.id.start' = '0');
                 CREATE SINK events_sink WITH (connector = 'table', table = 'events');
                 CREATE STREAMING QUERY copy WITH (trigger = '20 milliseconds')
                    AS INSERT INTO events_sink SELECT id, v FROM gen;"
            ),
        )
        .await?;
        wait_until(Duration::from_secs(30), "the first rows", || async {
            let n = rows(&c, "SELECT count(*) FROM events").await?;
            Ok(if n[0].parse::<i64>()? >= 100 {
                Progress::Done(())
            } else {
                Progress::Pending(format!("{n:?} rows"))
            })
        })
        .await?;
        execute(&c, "BEGIN; DELETE FROM events WHERE id < 50").await?;
        let during = rows(&c, "SELECT count(*) FROM events").await?;
        // The query goes on writing while the block is open.
        tokio::time::sleep(Duration::from_millis(500)).await;
        execute(&c, "COMMIT").await?;
        wait_for_status(&c, "copy", "finished", Duration::from_secs(60)).await?;
        let after = rows(
            &c,
            "SELECT count(*), min(id), count(DISTINCT id) FROM events",
        )
        .await?;
        let expected = format!("{}|50|{}", ROWS - 50, ROWS - 50);
        ensure!(
            after == [expected.clone()],
            "after: {after:?}, expected {expected}; in the block: {during:?}"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// A block writing two tables, one of which another session wrote a
/// conflicting row into meanwhile: the COMMIT fails and neither table has
/// anything of the block — the first table's rows are not left behind.
#[tokio::test]
async fn a_block_over_two_tables_is_refused_whole() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let (a, b) = (eddy.client().await?, eddy.client().await?);
        execute(
            &a,
            "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT);
             CREATE TABLE zlog (id BIGINT PRIMARY KEY, note TEXT);
             INSERT INTO accounts VALUES (1, 100), (2, 100);",
        )
        .await?;
        // A key taken meanwhile in the second table (by name).
        execute(
            &a,
            "BEGIN;
             UPDATE accounts SET balance = balance - 10 WHERE id = 1;
             INSERT INTO accounts VALUES (3, 10);
             INSERT INTO zlog VALUES (1, 'moved 10');",
        )
        .await?;
        execute(&b, "INSERT INTO zlog VALUES (1, 'taken')").await?;
        let e = expect_db_error(&a, "COMMIT").await?;
        ensure!(e.code().code() == "23505", "{e:?}");
        ensure!(
            rows(&b, "SELECT id, balance FROM accounts ORDER BY id").await? == ["1|100", "2|100"]
        );
        ensure!(rows(&b, "SELECT note FROM zlog").await? == ["taken"]);
        // A row changed meanwhile in the second table: 40001, same.
        execute(
            &a,
            "BEGIN;
             INSERT INTO accounts VALUES (4, 40);
             UPDATE zlog SET note = 'mine' WHERE id = 1;",
        )
        .await?;
        execute(&b, "UPDATE zlog SET note = 'theirs' WHERE id = 1").await?;
        let e = expect_db_error(&a, "COMMIT").await?;
        ensure!(e.code().code() == "40001", "{e:?}");
        ensure!(rows(&b, "SELECT count(*) FROM accounts").await? == ["2"]);
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
