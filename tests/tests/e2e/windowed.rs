//! Windowed aggregation end to end, checked against an independent batch
//! computation.
//!
//! A bounded, seeded datagen source of 20,000 clicks (event times 10 ms apart,
//! up to 3 s out of order, 2 % of rows pushed a minute back) feeds two
//! streaming queries into a private PostgreSQL: a plain copy of every row
//! (`raw_clicks`) and a 10-second tumbling-window aggregate per user
//! (`click_windows`). Read unthrottled with 1,000 rows per epoch, epoch k
//! covers exactly the rows with `id` in [1000k, 1000(k+1)), so which rows are
//! late follows from the rows alone:
//!
//! ```text
//! watermark(k) = max(ts of rows with id < 1000k) - 5 s      (none for k = 0)
//! late(row)    = window_end(row.ts) <= watermark(row.id / 1000)
//! ```
//!
//! PostgreSQL computes that over `raw_clicks`, and the aggregate of the rows
//! that are not late must equal `click_windows` exactly, the number of late
//! rows must equal the query's `late_rows` counter, and (with
//! `late_rows = 'table'`) the late rows themselves, with their epoch, must be
//! exactly those in `click_stats_late_rows`.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{TestPostgres, execute, query_i64, query_values};
use tokio_postgres::Client;

use crate::{TestEddy, query_status, wait_for_status, with_logs};

const ROWS: i64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_aggregation_matches_batch_computation() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE clicks (
                id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
             ) WITH (
                connector = 'datagen',
                'rows.per.second' = '0',
                'number.of.rows' = '{ROWS}',
                'rows.per.epoch' = '1000',
                seed = '20260101',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                'fields.user_id.kind' = 'random', 'fields.user_id.min' = '1', 'fields.user_id.max' = '20',
                'fields.amount.kind' = 'random', 'fields.amount.min' = '1', 'fields.amount.max' = '100',
                'fields.ts.kind' = 'event_time',
                'fields.ts.start' = '2026-01-01 00:00:00',
                'fields.ts.step' = '10 milliseconds',
                'fields.ts.max_out_of_order' = '3 seconds',
                'fields.ts.late_rate' = '0.02',
                'fields.ts.late_by' = '1 minute'
             );
             CREATE SINK raw_sink WITH (
                connector = 'postgres', url = '{jdbc}', table = 'raw_clicks',
                create_table = 'true', mode = 'append'
             );
             CREATE SINK window_sink WITH (
                connector = 'postgres', url = '{url}', table = 'click_windows',
                create_table = 'true', mode = 'append'
             );
             CREATE STREAMING QUERY raw_copy
                WITH (trigger = '100 milliseconds', output_mode = 'append')
                AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;
             CREATE STREAMING QUERY click_stats
                WITH (trigger = '100 milliseconds', output_mode = 'append', late_rows = 'table')
                AS INSERT INTO window_sink
                SELECT window_start, window_end, user_id,
                       count(*) AS cnt, sum(amount) AS total, max(amount) AS top
                FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
                GROUP BY window_start, window_end, user_id;",
            jdbc = pg.jdbc_url(),
            url = pg.url(),
        ),
    )
    .await?;

    let bound = Duration::from_secs(300);
    let raw = wait_for_status(&client, "raw_copy", "finished", bound).await?;
    let stats = wait_for_status(&client, "click_stats", "finished", bound).await?;

    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client).await?;
    ensure!(
        raw.input_rows == ROWS && raw.output_rows == ROWS,
        "raw_copy counters: {raw:?}"
    );

    compute_expected(&pg_client).await?;
    check_windows(&pg_client).await?;

    let late = query_i64(&pg_client, "SELECT count(*) FROM classified WHERE late").await?;
    // Rows generated late sit about a minute behind their place in the
    // sequence; on-time rows are at most 3 s behind.
    let generated_late = query_i64(
        &pg_client,
        "SELECT count(*) FROM classified
         WHERE ts < timestamp '2026-01-01 00:00:00' + id * interval '10 milliseconds' - interval '30 seconds'",
    )
    .await?;
    ensure!(
        (ROWS / 100..=ROWS * 3 / 100).contains(&generated_late),
        "late_rate 0.02 of {ROWS} rows produced {generated_late} late rows"
    );
    ensure!(
        late > 0,
        "no row was late for the watermark; the scenario does not exercise lateness"
    );
    ensure!(
        late <= generated_late,
        "{late} rows late for the watermark, but only {generated_late} were generated late"
    );
    let stats_now = query_status(&client, "click_stats").await?;
    ensure!(
        stats.late_rows == late,
        "click_stats counted {} late rows, PostgreSQL computes {late}; status: {stats_now:?}",
        stats.late_rows
    );
    ensure!(stats.input_rows == ROWS, "click_stats counters: {stats:?}");

    // late_rows = 'table': exactly the late rows, with their epoch, are in
    // the Eddy table click_stats_late_rows.
    let in_eddy = query_values(
        &client,
        "SELECT id, epoch FROM click_stats_late_rows ORDER BY id",
    )
    .await?;
    let expected = query_values(
        &pg_client,
        "SELECT id::text, (epoch + 1)::text FROM classified WHERE late ORDER BY classified.id",
    )
    .await?;
    ensure!(
        in_eddy == expected,
        "click_stats_late_rows holds {} rows, PostgreSQL finds {} late rows; first: {:?} vs {:?}",
        in_eddy.len(),
        expected.len(),
        in_eddy.first(),
        expected.first()
    );
    let windows = query_i64(&pg_client, "SELECT count(*) FROM click_windows").await?;
    ensure!(
        stats.output_rows == windows,
        "click_stats output_rows vs {windows} rows in click_windows: {stats:?}"
    );
    Ok(())
}

async fn check_raw_rows(pg: &Client) -> Result<()> {
    let summary = query_values(
        pg,
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM raw_clicks",
    )
    .await?;
    let expected = [
        ROWS.to_string(),
        ROWS.to_string(),
        "0".into(),
        (ROWS - 1).to_string(),
    ];
    ensure!(
        summary == vec![expected.iter().cloned().map(Some).collect::<Vec<_>>()],
        "raw_clicks (count, distinct ids, min id, max id) = {summary:?}, expected {expected:?}"
    );
    Ok(())
}

/// Builds the temporary tables `classified` (every row with its epoch,
/// window, watermark and lateness) and `expected` (the aggregate over the
/// rows that are not late), in `pg`'s session.
async fn compute_expected(pg: &Client) -> Result<()> {
    execute(
        pg,
        "SET TimeZone = 'UTC';
         CREATE TEMP TABLE classified AS
         WITH rows AS (
             SELECT id, user_id, amount, ts::timestamp AS ts, id / 1000 AS epoch FROM raw_clicks
         ), epoch_max AS (
             SELECT epoch, max(ts) AS max_ts FROM rows GROUP BY epoch
         ), watermarks AS (
             SELECT epoch,
                    max(max_ts) OVER (ORDER BY epoch ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                        - interval '5 seconds' AS watermark
             FROM epoch_max
         ), windowed AS (
             SELECT r.*, date_bin('10 seconds', r.ts, timestamp '1970-01-01') AS window_start, w.watermark
             FROM rows r JOIN watermarks w USING (epoch)
         )
         SELECT *, coalesce(window_start + interval '10 seconds' <= watermark, false) AS late FROM windowed;
         CREATE TEMP TABLE expected AS
         SELECT window_start, window_start + interval '10 seconds' AS window_end, user_id,
                count(*)::bigint AS cnt, sum(amount)::bigint AS total, max(amount)::bigint AS top
         FROM classified WHERE NOT late
         GROUP BY window_start, user_id;
         CREATE TEMP TABLE actual AS
         SELECT window_start::timestamp AS window_start, window_end::timestamp AS window_end,
                user_id::bigint AS user_id, cnt::bigint AS cnt, total::bigint AS total, top::bigint AS top
         FROM click_windows;",
    )
    .await
}

async fn check_windows(pg: &Client) -> Result<()> {
    let duplicates = query_values(
        pg,
        "SELECT window_start, user_id, count(*) FROM actual
         GROUP BY window_start, user_id HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 5",
    )
    .await?;
    ensure!(
        duplicates.is_empty(),
        "click_windows has duplicate windows: {duplicates:?}"
    );
    let missing = query_values(
        pg,
        "SELECT * FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM actual) d ORDER BY 1, 3 LIMIT 5",
    )
    .await?;
    let unexpected = query_values(
        pg,
        "SELECT * FROM (SELECT * FROM actual EXCEPT ALL SELECT * FROM expected) d ORDER BY 1, 3 LIMIT 5",
    )
    .await?;
    let expected_count = query_i64(pg, "SELECT count(*) FROM expected").await?;
    let actual_count = query_i64(pg, "SELECT count(*) FROM actual").await?;
    ensure!(
        missing.is_empty() && unexpected.is_empty() && expected_count == actual_count,
        "click_windows differs from the batch computation: {actual_count} rows, expected {expected_count}; \
         expected but missing (first 5): {missing:?}; present but not expected (first 5): {unexpected:?}"
    );
    ensure!(
        expected_count > 0,
        "the batch computation produced no windows"
    );
    Ok(())
}
