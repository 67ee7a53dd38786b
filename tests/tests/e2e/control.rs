//! `ALTER STREAMING QUERY … PAUSE | RESUME | SET`: a paused query runs no
//! epoch while its source's lag grows, stays paused across a crash
//! (SIGKILL) and restart and a change of its trigger, and once resumed
//! writes exactly what it would have: the ids 0..3999 of a bounded
//! generator, once each. Options that change what it computes are refused.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{DEFAULT_WAIT, Progress, execute, expect_db_error, query_i64, wait_until};
use tokio_postgres::Client;

use crate::{TestEddy, query_status, rows, wait_for_status, with_logs};

const ROWS: i64 = 4000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_query_keeps_its_place_across_a_crash_and_resumes_exactly() -> Result<()> {
    let mut eddy = TestEddy::start().await?;
    let result = scenario(&mut eddy).await;
    with_logs(result, &eddy, None)
}

/// The source's lag and the query's epoch, once the lag has been measured.
async fn lag_and_epoch(client: &Client) -> Result<(i64, i64)> {
    wait_until(DEFAULT_WAIT, "the lag to be measured", || async {
        let row = rows(
            client,
            "SELECT s.lag, p.epoch FROM eddy_catalog.query_sources s
             JOIN eddy_catalog.query_progress p ON p.name = s.name
             WHERE s.name = 'q' AND s.lag IS NOT NULL",
        )
        .await?;
        Ok(match row.first().and_then(|r| r.split_once('|')) {
            Some((lag, epoch)) => Progress::Done((lag.parse()?, epoch.parse()?)),
            None => Progress::Pending(format!("{row:?}")),
        })
    })
    .await
}

async fn scenario(eddy: &mut TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE numbers (id BIGINT) WITH (
                connector = 'datagen', 'rows.per.second' = '1000', 'number.of.rows' = '{ROWS}',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '0');
             CREATE TABLE out (id BIGINT);
             CREATE SINK to_out WITH (connector = 'table', table = 'out');
             CREATE STREAMING QUERY q WITH (trigger = '100 milliseconds')
                 AS INSERT INTO to_out SELECT id FROM numbers"
        ),
    )
    .await?;
    wait_until(DEFAULT_WAIT, "q to read 500 rows", || async {
        let status = query_status(&client, "q").await?;
        Ok(match status {
            Some(s) if s.input_rows >= 500 => Progress::Done(()),
            other => Progress::Pending(format!("{other:?}")),
        })
    })
    .await?;
    execute(&client, "ALTER STREAMING QUERY q PAUSE").await?;
    let paused = wait_for_status(&client, "q", "paused", DEFAULT_WAIT).await?;
    ensure!(paused.input_rows < ROWS, "q finished before it was paused");
    let written = query_i64(&client, "SELECT count(*) FROM out").await?;
    ensure!(
        written == paused.input_rows,
        "paused after {} rows read, {written} written",
        paused.input_rows
    );
    // Paused: no epoch, and the lag grows.
    let (lag, epoch) = lag_and_epoch(&client).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (later_lag, later_epoch) = lag_and_epoch(&client).await?;
    ensure!(
        later_epoch == epoch && later_lag > lag,
        "while paused: epoch {epoch} → {later_epoch}, lag {lag} → {later_lag}"
    );
    ensure!(
        query_i64(&client, "SELECT count(*) FROM out").await? == written,
        "rows written while paused"
    );
    ensure!(
        expect_db_error(&client, "ALTER STREAMING QUERY nope PAUSE")
            .await?
            .code()
            .code()
            == "42704",
        "ALTER of a missing query"
    );
    ensure!(
        expect_db_error(&client, "ALTER STREAMING QUERY q FLY")
            .await?
            .code()
            .code()
            == "42601",
        "ALTER with an unknown action"
    );
    drop(client);

    // A crash while paused: it starts again paused, where it was.
    eddy.kill()?;
    eddy.start_again().await?;
    let client = eddy.client().await?;
    let restarted = wait_for_status(&client, "q", "paused", DEFAULT_WAIT).await?;
    ensure!(
        restarted.epoch == epoch && restarted.input_rows == paused.input_rows,
        "after the crash: {restarted:?}, paused at epoch {epoch} with {} rows",
        paused.input_rows
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(
        query_i64(&client, "SELECT count(*) FROM out").await? == written,
        "rows written after the restart while paused"
    );

    // Options that decide when epochs run change in place (the query
    // stays paused); what it computes does not.
    let fixed = expect_db_error(
        &client,
        "ALTER STREAMING QUERY q SET (output_mode = 'append')",
    )
    .await?;
    ensure!(
        fixed.code().code() == "0A000" && fixed.hint().is_some_and(|h| h.contains("trigger")),
        "SET of an option that cannot change: {fixed:?}"
    );
    let bad = expect_db_error(
        &client,
        "ALTER STREAMING QUERY q SET (trigger = 'sometimes')",
    )
    .await?;
    ensure!(
        bad.code().code() == "22023",
        "SET of a bad trigger: {bad:?}"
    );
    execute(
        &client,
        "ALTER STREAMING QUERY q SET (trigger = '50 milliseconds')",
    )
    .await?;
    wait_for_status(&client, "q", "paused", DEFAULT_WAIT).await?;
    let create = rows(&client, "SHOW CREATE STREAMING QUERY q").await?;
    ensure!(
        create.len() == 1 && create[0].contains("'trigger' = '50 milliseconds'"),
        "SHOW CREATE after SET: {create:?}"
    );

    execute(&client, "ALTER STREAMING QUERY q RESUME").await?;
    wait_for_status(&client, "q", "finished", Duration::from_secs(120)).await?;
    let ids = rows(
        &client,
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM out",
    )
    .await?;
    ensure!(
        ids == [format!("{ROWS}|{ROWS}|0|{}", ROWS - 1)],
        "after resuming: {ids:?}"
    );
    Ok(())
}
