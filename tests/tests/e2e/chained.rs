//! An aggregation over the output of another aggregation (the shape of
//! Nexmark q5: the busiest user per window), end to end, against the same
//! computation in PostgreSQL.
//!
//! A bounded, seeded datagen source of 20,000 clicks (12 users, event times
//! 10 ms apart, up to 3 s out of order, 2 % of rows a minute back), read
//! unthrottled at 1,000 rows per epoch, so Eddy epoch e (from 1) holds the
//! rows with `id / 1000 = e - 1`, and which rows are late follows from the
//! rows alone (see `windowed`):
//!
//! ```text
//! watermark(e) = max(ts of rows in epochs < e) - 5 s      (none for e = 1)
//! late(row)    = window_end(row.ts) <= watermark(row's epoch)
//! ```
//!
//! The inner aggregation counts clicks per 10-second window and user and
//! emits each window whole when the watermark closes it; the outer one
//! aggregates each emitted window at once: its top count, its number of
//! users and its total. PostgreSQL computes the same over the rows that are
//! not late; the result must be equal, with one row per window, and the
//! late rows must be counted and stored (`late_rows = 'table'`).
//!
//! `chained_aggregation_survives_crashes` runs the same query with the
//! server made to die after the sink, before the sink and after the commit
//! of some epoch, then SIGKILLed: the result is still exact.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{DEFAULT_WAIT, TestPostgres, execute, query_i64, query_values};
use tokio_postgres::Client;

use crate::modes::{check_raw_rows, classify_clicks, ensure_rows_equal};
use crate::{QueryStatus, TestEddy, wait_for_epoch, wait_for_status, with_logs};

const ROWS: i64 = 20_000;
const ROWS_PER_EPOCH: i64 = 1_000;

fn clicks_source() -> String {
    format!(
        "CREATE SOURCE clicks (
            id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
         ) WITH (
            connector = 'datagen',
            'rows.per.second' = '0',
            'number.of.rows' = '{ROWS}',
            'rows.per.epoch' = '{ROWS_PER_EPOCH}',
            seed = '5150',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
            'fields.user_id.kind' = 'random', 'fields.user_id.min' = '1', 'fields.user_id.max' = '12',
            'fields.amount.kind' = 'random', 'fields.amount.min' = '1', 'fields.amount.max' = '100',
            'fields.ts.kind' = 'event_time',
            'fields.ts.start' = '2026-01-01 00:00:00',
            'fields.ts.step' = '10 milliseconds',
            'fields.ts.max_out_of_order' = '3 seconds',
            'fields.ts.late_rate' = '0.02',
            'fields.ts.late_by' = '1 minute'
         );"
    )
}

/// The busiest user's count, the number of users and the clicks per window.
const TOP_PER_WINDOW: &str = "
    SELECT window_start, max(n) AS top, count(*) AS users, sum(n) AS clicks
    FROM (
        SELECT window_start, user_id, count(*) AS n
        FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
        GROUP BY window_start, user_id
    ) per_user
    GROUP BY window_start";

const EXPECTED: &str = "
    SELECT window_start, max(n) AS top, count(*) AS users, sum(n) AS clicks
    FROM (
        SELECT window_start, user_id, count(*) AS n
        FROM classified WHERE NOT late
        GROUP BY window_start, user_id
    ) per_user
    GROUP BY window_start";

const ACTUAL: &str = "
    SELECT window_start::timestamp, top::bigint, users::bigint, clicks::bigint FROM top_per_window";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_aggregation_matches_batch_computation() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = chained_scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn chained_scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{source}
             CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
                table = 'raw_clicks', create_table = 'true');
             CREATE SINK top_sink WITH (connector = 'postgres', url = '{url}',
                table = 'top_per_window', create_table = 'true');
             CREATE STREAMING QUERY raw_copy WITH (trigger = '10 milliseconds')
                AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;
             CREATE STREAMING QUERY top_users
                WITH (trigger = '10 milliseconds', output_mode = 'append', late_rows = 'table')
                AS INSERT INTO top_sink {TOP_PER_WINDOW};",
            source = clicks_source(),
            url = pg.url(),
        ),
    )
    .await?;
    let bound = Duration::from_secs(120);
    wait_for_status(&client, "raw_copy", "finished", bound).await?;
    let top = wait_for_status(&client, "top_users", "finished", bound).await?;
    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client, ROWS).await?;
    classify_clicks(
        &pg_client,
        "raw_clicks",
        ROWS_PER_EPOCH,
        "5 seconds",
        "10 seconds",
    )
    .await?;
    check_top_per_window(&client, &pg_client, &top).await
}

/// `top_per_window` equals the expected windows, one row each; the late
/// rows were counted and stored with their epoch.
async fn check_top_per_window(eddy: &Client, pg: &Client, status: &QueryStatus) -> Result<()> {
    ensure_rows_equal(pg, EXPECTED, ACTUAL, "top_per_window").await?;
    let windows = query_i64(
        pg,
        "SELECT count(DISTINCT window_start) FROM top_per_window",
    )
    .await?;
    let late = query_i64(pg, "SELECT count(*) FROM classified WHERE late").await?;
    ensure!(
        late > 0,
        "no row was late; the scenario does not exercise lateness"
    );
    ensure!(
        (status.input_rows, status.output_rows, status.late_rows) == (ROWS, windows, late),
        "top_users: expected {ROWS} input rows, {windows} output rows (one per window), \
         {late} late rows: {status:?}"
    );
    let in_eddy = query_values(
        eddy,
        "SELECT id, epoch FROM top_users_late_rows ORDER BY id",
    )
    .await?;
    let expected = query_values(
        pg,
        "SELECT id::text, epoch::text FROM classified WHERE late ORDER BY classified.id",
    )
    .await?;
    ensure!(
        in_eddy == expected,
        "top_users_late_rows holds {} rows, {} rows are late; first difference (id, epoch): {:?}",
        in_eddy.len(),
        expected.len(),
        in_eddy.iter().zip(&expected).find(|(a, b)| a != b)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_aggregation_survives_crashes() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = crash_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn crash_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    // The raw rows first, by a query that is gone before the crashes (a
    // crash point stops the first query to reach it).
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{source}
             CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
                table = 'raw_clicks', create_table = 'true');
             CREATE STREAMING QUERY raw_copy WITH (trigger = '10 milliseconds')
                AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;",
            source = clicks_source(),
            url = pg.url(),
        ),
    )
    .await?;
    wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    execute(&client, "DROP STREAMING QUERY raw_copy").await?;
    drop(client);

    eddy.set_env("EDDY_FAULT", "after_sink@5");
    eddy.stop().await?;
    eddy.start_again().await?;
    execute(
        &eddy.client().await?,
        &format!(
            "CREATE SINK top_sink WITH (connector = 'postgres', url = '{url}',
                table = 'top_per_window', create_table = 'true');
             CREATE STREAMING QUERY top_users
                WITH (trigger = '200 milliseconds', output_mode = 'append', late_rows = 'table',
                      'checkpoint.snapshot_every' = '3')
                AS INSERT INTO top_sink {TOP_PER_WINDOW};",
            url = pg.url(),
        ),
    )
    .await?;
    for next_fault in ["before_sink@8", "after_commit@11"] {
        let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
        ensure!(
            !status.success(),
            "the server exited cleanly instead of at the fault"
        );
        eddy.set_env("EDDY_FAULT", next_fault);
        eddy.start_again().await?;
    }
    let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
    ensure!(
        !status.success(),
        "the server exited cleanly instead of at the fault"
    );

    eddy.clear_env();
    eddy.start_again().await?;
    wait_for_epoch(&eddy.client().await?, "top_users", 14, true).await?;
    eddy.kill()?;
    eddy.start_again().await?;

    let client = eddy.client().await?;
    let top = wait_for_status(&client, "top_users", "finished", DEFAULT_WAIT).await?;
    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client, ROWS).await?;
    classify_clicks(
        &pg_client,
        "raw_clicks",
        ROWS_PER_EPOCH,
        "5 seconds",
        "10 seconds",
    )
    .await?;
    check_top_per_window(&client, &pg_client, &top).await
}
