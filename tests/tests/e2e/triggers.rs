//! Triggers that stop by themselves: `once` runs one epoch over what is
//! available, `available_now` everything available when it starts, in as
//! many epochs as `rows.per.epoch` allows.
//!
//! The source is a bounded, unthrottled generator of 5,000 rows, at most
//! 1,000 per epoch, so "available" is all 5,000 rows: `once` must write
//! exactly the first 1,000 (ids 0..999), `available_now` all 5,000 in five
//! epochs, and both must reach `finished` without further input.

use anyhow::{Result, ensure};
use eddy_tests::{DEFAULT_WAIT, execute, query_i64};
use tokio_postgres::Client;

use crate::{TestEddy, wait_for_status, with_logs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_and_available_now_stop_after_the_available_input() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        "CREATE SOURCE numbers (id BIGINT) WITH (
            connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '5000',
            'rows.per.epoch' = '1000', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0');
         CREATE TABLE once_out (id BIGINT);
         CREATE TABLE all_out (id BIGINT);
         CREATE SINK once_sink WITH (connector = 'table', table = 'once_out');
         CREATE SINK all_sink WITH (connector = 'table', table = 'all_out');
         CREATE STREAMING QUERY q_once WITH (trigger = 'once')
             AS INSERT INTO once_sink SELECT id FROM numbers;
         CREATE STREAMING QUERY q_all WITH (trigger = 'available_now')
             AS INSERT INTO all_sink SELECT id FROM numbers",
    )
    .await?;
    let once = wait_for_status(&client, "q_once", "finished", DEFAULT_WAIT).await?;
    let all = wait_for_status(&client, "q_all", "finished", DEFAULT_WAIT).await?;
    ensure!(
        once.input_rows == 1000,
        "once read {} rows",
        once.input_rows
    );
    ensure!(
        all.input_rows == 5000,
        "available_now read {} rows",
        all.input_rows
    );
    check_ids(&client, "once_out", 1000).await?;
    check_ids(&client, "all_out", 5000).await?;
    ensure!(
        (once.epoch, all.epoch) == (1, 5),
        "epochs: once ran {}, available_now ran {}; expected 1 and 5",
        once.epoch,
        all.epoch
    );
    Ok(())
}

/// The table holds exactly the ids 0..n-1, once each.
async fn check_ids(client: &Client, table: &str, n: i64) -> Result<()> {
    let count = query_i64(client, &format!("SELECT count(*) FROM {table}")).await?;
    let distinct = query_i64(client, &format!("SELECT count(DISTINCT id) FROM {table}")).await?;
    let max = query_i64(client, &format!("SELECT max(id) FROM {table}")).await?;
    let min = query_i64(client, &format!("SELECT min(id) FROM {table}")).await?;
    ensure!(
        (count, distinct, min, max) == (n, n, 0, n - 1),
        "{table}: {count} rows, {distinct} distinct ids from {min} to {max}; expected ids 0..{}",
        n - 1
    );
    Ok(())
}
