//! Transactions without side effects outside Eddy: nothing a block does
//! reaches a role file, a PostgreSQL database or the committed catalog
//! before COMMIT, ROLLBACK leaves no trace, and a COMMIT that cannot start
//! one of its streaming queries fails whole.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{Progress, TestPostgres, execute, expect_db_error, wait_until};

use crate::transactions::SOURCE;
use crate::{TestEddy, rows, shown_names, with_logs};

/// A table, a `table` sink into it and a source whose rows do not fit it.
const NARROW: [&str; 3] = [
    "CREATE TABLE narrow (a BIGINT)",
    "CREATE SINK narrow_sink WITH (connector = 'table', table = 'narrow')",
    "CREATE SOURCE pairs (x BIGINT, y VARCHAR) WITH (connector = 'datagen')",
];
/// A query that cannot start: two columns into a one-column table.
const WIDE: &str = "CREATE STREAMING QUERY wide AS INSERT INTO narrow_sink SELECT x, y FROM pairs";

/// A streaming query created together with its sink in one script is
/// started at the script's end; if its sink cannot take its output, the
/// whole script fails with the reason and leaves nothing behind: no table,
/// sink, source or query, and no PostgreSQL table of another query's sink.
#[tokio::test]
async fn a_commit_whose_query_cannot_start_fails_whole() -> Result<()> {
    use eddy_tests::wire::{BackendMessage, WireClient};
    let eddy = TestEddy::start().await?;
    let pg = TestPostgres::start().await?;
    let result = async {
        let mut wire = WireClient::connect_default(eddy.addr()).await?;
        // `a_copy` sorts first: its sink would be opened (its PostgreSQL
        // table created) before `wide` is found unable to start if sinks
        // were opened one query at a time.
        let messages = wire
            .simple_query(&format!(
                "CREATE TABLE narrow (a BIGINT);
                 CREATE SINK narrow_sink WITH (connector = 'table', table = 'narrow');
                 CREATE SINK copy_sink WITH (connector = 'postgres', url = '{url}',
                    table = 'pair_copy', create_table = 'true');
                 CREATE SOURCE pairs (x BIGINT, y VARCHAR) WITH (connector = 'datagen');
                 CREATE STREAMING QUERY a_copy AS INSERT INTO copy_sink SELECT x, y FROM pairs;
                 CREATE STREAMING QUERY wide AS INSERT INTO narrow_sink SELECT x, y FROM pairs",
                url = pg.url()
            ))
            .await?;
        let error = messages.iter().find_map(|m| match m {
            BackendMessage::ErrorResponse(e) => Some(e.clone()),
            _ => None,
        });
        ensure!(
            error.as_ref().is_some_and(
                |e| e.message.contains("\"wide\"") && e.message.contains("cannot start")
            ),
            "messages: {messages:?}"
        );
        let warned = messages
            .iter()
            .any(|m| matches!(m, BackendMessage::NoticeResponse(n) if n.severity == "WARNING"));
        ensure!(!warned, "messages: {messages:?}");
        wire.close().await?;
        let client = eddy.client().await?;
        for show in [
            "SHOW TABLES",
            "SHOW SINKS",
            "SHOW SOURCES",
            "SHOW STREAMING QUERIES",
        ] {
            let names = shown_names(&client, show).await?;
            ensure!(names.is_empty(), "{show}: {names:?}");
        }
        let pg_client = pg.client().await?;
        let in_pg = rows(
            &pg_client,
            "SELECT relname FROM pg_class WHERE relname = 'pair_copy'",
        )
        .await?;
        ensure!(in_pg.is_empty(), "PostgreSQL has {in_pg:?}");

        // The same block in an explicit transaction: COMMIT fails with the
        // cause's SQLSTATE, and the session is out of the block after it.
        execute(&client, "BEGIN").await?;
        for sql in NARROW {
            execute(&client, sql).await?;
        }
        execute(&client, WIDE).await?;
        let e = expect_db_error(&client, "COMMIT").await?;
        ensure!(e.message().contains("cannot start"), "{e:?}");
        let names = shown_names(&client, "SHOW TABLES").await?;
        ensure!(names.is_empty(), "SHOW TABLES: {names:?}");
        // The same statements, one by one outside a block, fail at the
        // query, which now checks its sink at once.
        // The session is out of the block: each statement commits alone.
        execute(&client, NARROW[0]).await?;
        let other = eddy.client().await?;
        ensure!(shown_names(&other, "SHOW TABLES").await? == ["narrow"]);
        for sql in &NARROW[1..] {
            execute(&client, sql).await?;
        }
        let alone = expect_db_error(&client, WIDE).await?;
        // COMMIT failed with the SQLSTATE of its cause.
        ensure!(alone.code() == e.code(), "{alone:?} vs {e:?}");
        ensure!(
            shown_names(&client, "SHOW STREAMING QUERIES")
                .await?
                .is_empty()
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, Some(&pg))
}

/// Nothing outside Eddy's catalog changes before COMMIT, and ROLLBACK
/// leaves no trace: a role (its password would turn authentication on), a
/// PostgreSQL table a sink would create, a query's late-row table.
#[tokio::test]
async fn rollback_leaves_no_role_no_postgres_table_and_no_late_row_table() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let pg = TestPostgres::start().await?;
    let result = async {
        let c = eddy.client().await?;
        let pg_client = pg.client().await?;
        let in_pg = "SELECT relname FROM pg_class WHERE relname = 'window_counts'";
        let block = format!(
            "BEGIN;
             CREATE ROLE carol LOGIN PASSWORD 'carol-pw';
             {SOURCE};
             CREATE SINK counts_sink WITH (connector = 'postgres', url = '{url}',
                table = 'window_counts', create_table = 'true');
             CREATE STREAMING QUERY counting
                WITH (trigger = '100 milliseconds', output_mode = 'append', late_rows = 'table')
                AS INSERT INTO counts_sink
                SELECT window_start, window_end, k, count(*) AS cnt
                FROM TUMBLE(events, ts, INTERVAL '1' SECOND)
                GROUP BY window_start, window_end, k;",
            url = pg.url()
        );
        for end in ["ROLLBACK", "COMMIT"] {
            execute(&c, &block).await?;
            // Inside the block: the session sees its own role and late-row
            // table; nothing else does.
            ensure!(
                rows(&c, "SELECT rolname FROM pg_roles WHERE rolname = 'carol'").await?
                    == ["carol"]
            );
            ensure!(rows(&c, "SELECT count(*) FROM counting_late_rows").await? == ["0"]);
            let other = eddy.client().await?;
            ensure!(
                rows(
                    &other,
                    "SELECT rolname FROM pg_roles WHERE rolname = 'carol'"
                )
                .await?
                .is_empty()
            );
            let tables = shown_names(&other, "SHOW TABLES").await?;
            ensure!(tables.is_empty(), "another session sees {tables:?}");
            let file =
                std::fs::read_to_string(eddy.data_dir().join("users.json")).unwrap_or_default();
            ensure!(!file.contains("carol"), "users.json before {end}: {file}");
            ensure!(
                rows(&pg_client, in_pg).await?.is_empty(),
                "PostgreSQL table before {end}"
            );
            execute(&c, end).await?;
            if end == "ROLLBACK" {
                // Still no password anywhere: connecting needs none.
                let again = eddy.client().await?;
                ensure!(
                    rows(
                        &again,
                        "SELECT rolname FROM pg_roles WHERE rolname = 'carol'"
                    )
                    .await?
                    .is_empty()
                );
                let tables = shown_names(&again, "SHOW TABLES").await?;
                ensure!(tables.is_empty(), "after ROLLBACK: {tables:?}");
                ensure!(
                    shown_names(&again, "SHOW STREAMING QUERIES")
                        .await?
                        .is_empty()
                );
                ensure!(
                    rows(&pg_client, in_pg).await?.is_empty(),
                    "PostgreSQL table after ROLLBACK"
                );
            }
        }
        // Committed: the role, the late-row table and the PostgreSQL table
        // are there, and the query runs.
        let file = std::fs::read_to_string(eddy.data_dir().join("users.json"))?;
        ensure!(file.contains("carol"), "users.json: {file}");
        ensure!(shown_names(&c, "SHOW TABLES").await? == ["counting_late_rows"]);
        ensure!(rows(&pg_client, in_pg).await? == ["window_counts"]);
        wait_until(Duration::from_secs(30), "windows in PostgreSQL", || async {
            let n = rows(&pg_client, "SELECT count(*) FROM window_counts").await?;
            Ok(if n == ["0"] {
                Progress::Pending("no rows".into())
            } else {
                Progress::Done(())
            })
        })
        .await?;
        Ok(())
    }
    .await;
    with_logs(result, &eddy, Some(&pg))
}
