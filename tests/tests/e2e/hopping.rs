//! Hopping windows end to end, checked against an independent batch
//! computation.
//!
//! A bounded, seeded datagen source of 20,000 clicks by 20 users (event
//! times 10 ms apart, up to 3 s out of order, 3 % of rows pushed 25 s back)
//! feeds a raw copy into PostgreSQL and per-user count/sum/max over 15-second
//! windows sliding by 5 s: `HOP(clicks, ts, INTERVAL '5' SECOND, INTERVAL
//! '15' SECOND)`, the same through Spark's `window(ts, '15 seconds', '5
//! seconds')`, and Spark's tumbling `window(ts, '10 seconds')`. Read
//! unthrottled with 1,000 rows per epoch, epoch k covers exactly the rows
//! with `id` in [1000k, 1000(k+1)):
//!
//! ```text
//! watermark(k)      = max(ts of rows with id < 1000k) - 5 s   (none for k = 0)
//! windows(row)      = the 3 windows [s, s + 15 s), s a multiple of 5 s, holding row.ts
//! kept(row, window) = window.end > watermark(row.id / 1000)
//! late(row)         = no window of the row is kept
//! ```
//!
//! Rows pushed 25 s back land 10 to 23 s behind the watermark: some lose all
//! three windows, some only one or two, so both the per-window drop and the
//! late rule are exercised. PostgreSQL expands each row over its windows with
//! `generate_series`, and the aggregate of the kept (row, window) pairs must
//! equal both hopping tables exactly; the late counters and the late-rows
//! table must hold exactly the late rows. A second run crashes the server
//! before a sink write, after a checkpoint commit, and with SIGKILL, and must
//! end with the very same rows in PostgreSQL.

use anyhow::{Result, ensure};
use eddy_tests::{DEFAULT_WAIT, TestPostgres, execute, query_i64, query_values};
use tokio_postgres::Client;

use crate::sessions::{
    check_counters, check_late_rows_table, check_raw_rows, classify_by_epoch, crash_and_recover,
    ensure_columns, ensure_matches,
};
use crate::{TestEddy, wait_for_status, with_logs};

const ROWS: i64 = 20_000;
const ROWS_PER_EPOCH: i64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hopping_windows_match_batch_computation() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hopping_windows_exactly_once_across_crashes() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = crash_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

/// The source, the raw copy and the HOP query with `late_rows = 'table'`,
/// at `trigger`.
fn pipeline(pg: &TestPostgres, trigger: &str) -> String {
    format!(
        "CREATE SOURCE clicks (
            id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
         ) WITH (
            connector = 'datagen',
            'rows.per.second' = '0',
            'number.of.rows' = '{ROWS}',
            'rows.per.epoch' = '{ROWS_PER_EPOCH}',
            seed = '515',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
            'fields.user_id.kind' = 'random', 'fields.user_id.min' = '1', 'fields.user_id.max' = '20',
            'fields.amount.kind' = 'random', 'fields.amount.min' = '1', 'fields.amount.max' = '100',
            'fields.ts.kind' = 'event_time',
            'fields.ts.start' = '2026-01-01 00:00:00',
            'fields.ts.step' = '10 milliseconds',
            'fields.ts.max_out_of_order' = '3 seconds',
            'fields.ts.late_rate' = '0.03',
            'fields.ts.late_by' = '25 seconds'
         );
         CREATE SINK raw_sink WITH (
            connector = 'postgres', url = '{url}', table = 'raw_clicks', create_table = 'true'
         );
         CREATE SINK hop_sink WITH (
            connector = 'postgres', url = '{url}', table = 'hop_windows', create_table = 'true'
         );
         CREATE STREAMING QUERY raw_copy
            WITH (trigger = '{trigger}', output_mode = 'append')
            AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;
         CREATE STREAMING QUERY hops
            WITH (trigger = '{trigger}', output_mode = 'append', late_rows = 'table')
            AS INSERT INTO hop_sink
            SELECT window_start, window_end, user_id,
                   count(*) AS cnt, sum(amount) AS total, max(amount) AS top
            FROM HOP(clicks, ts, INTERVAL '5' SECOND, INTERVAL '15' SECOND)
            GROUP BY window_start, window_end, user_id;",
        url = pg.url(),
    )
}

/// Selects a window table's rows with the types of the expected tables.
fn actual(table: &str) -> String {
    format!(
        "SELECT window_start::timestamp, window_end::timestamp, user_id::bigint,
                cnt::bigint, total::bigint, top::bigint FROM {table}"
    )
}

async fn scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{}
             CREATE SINK spark_hop_sink WITH (
                connector = 'postgres', url = '{url}', table = 'spark_hops', create_table = 'true'
             );
             CREATE SINK spark_tumble_sink WITH (
                connector = 'postgres', url = '{url}', table = 'spark_tumbles', create_table = 'true'
             );
             CREATE STREAMING QUERY spark_hops
                WITH (trigger = '100 milliseconds', output_mode = 'append')
                AS INSERT INTO spark_hop_sink
                SELECT window.start, window.end, user_id,
                       count(*) AS cnt, sum(amount) AS total, max(amount) AS top
                FROM clicks
                GROUP BY window(ts, '15 seconds', '5 seconds'), user_id;
             CREATE STREAMING QUERY spark_tumbles
                WITH (trigger = '100 milliseconds', output_mode = 'append')
                AS INSERT INTO spark_tumble_sink
                SELECT window.start, window.end, user_id,
                       count(*) AS cnt, sum(amount) AS total, max(amount) AS top
                FROM clicks
                GROUP BY window(ts, '10 seconds'), user_id;",
            pipeline(pg, "100 milliseconds"),
            url = pg.url(),
        ),
    )
    .await?;
    let raw = wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    let hops = wait_for_status(&client, "hops", "finished", DEFAULT_WAIT).await?;
    let spark_hops = wait_for_status(&client, "spark_hops", "finished", DEFAULT_WAIT).await?;
    let tumbles = wait_for_status(&client, "spark_tumbles", "finished", DEFAULT_WAIT).await?;
    ensure!(
        (raw.input_rows, raw.output_rows) == (ROWS, ROWS),
        "raw_copy counters: {raw:?}"
    );

    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client, ROWS).await?;
    compute_expected(&pg_client).await?;
    check_scenario_shape(&pg_client).await?;

    let columns = "window_start,window_end,user_id,cnt,total,top";
    for (table, what) in [
        ("hop_windows", "HOP"),
        ("spark_hops", "window(ts, '15 seconds', '5 seconds')"),
    ] {
        ensure_columns(&pg_client, table, columns).await?;
        ensure_matches(
            &pg_client,
            "SELECT * FROM expected_hops",
            &actual(table),
            &format!("{table} ({what}) against PostgreSQL's hopping windows"),
        )
        .await?;
    }
    ensure_columns(&pg_client, "spark_tumbles", columns).await?;
    ensure_matches(
        &pg_client,
        "SELECT * FROM expected_tumbles",
        &actual("spark_tumbles"),
        "spark_tumbles (window(ts, '10 seconds')) against PostgreSQL's tumbling windows",
    )
    .await?;

    let late = query_i64(&pg_client, "SELECT count(*) FROM classified WHERE late").await?;
    check_counters(&hops, ROWS, late, &pg_client, "hop_windows").await?;
    check_counters(&spark_hops, ROWS, late, &pg_client, "spark_hops").await?;
    let late_tumbling = query_i64(
        &pg_client,
        "SELECT count(*) FROM classified WHERE late_tumbling",
    )
    .await?;
    check_counters(&tumbles, ROWS, late_tumbling, &pg_client, "spark_tumbles").await?;
    check_late_rows_table(&client, &pg_client, "hops_late_rows").await?;
    // Each late row is kept with the last window it would have gone to,
    // which had ended.
    let open = query_i64(
        &client,
        "SELECT count(*) FROM hops_late_rows
         WHERE window_end > watermark OR window_end - window_start <> INTERVAL '15' SECOND",
    )
    .await?;
    ensure!(
        open == 0,
        "{open} rows of hops_late_rows have a window that had not ended or is not 15 s long"
    );
    Ok(())
}

/// Crashes before the sink write of epoch 5, after the checkpoint commit of
/// epoch 10, then a SIGKILL at no particular point; the tables must be
/// exactly those of a clean run.
async fn crash_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    crash_and_recover(
        eddy,
        &pipeline(pg, "200 milliseconds"),
        &["before_sink@5", "after_commit@10"],
        ("hops", 13),
    )
    .await?;
    let client = eddy.client().await?;
    let raw = wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    let hops = wait_for_status(&client, "hops", "finished", DEFAULT_WAIT).await?;
    ensure!(
        (raw.input_rows, raw.output_rows) == (ROWS, ROWS),
        "raw_copy counters after the crashes: {raw:?}"
    );

    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client, ROWS).await?;
    compute_expected(&pg_client).await?;
    ensure_matches(
        &pg_client,
        "SELECT * FROM expected_hops",
        &actual("hop_windows"),
        "hop_windows after crashes and restarts against PostgreSQL's hopping windows",
    )
    .await?;
    let late = query_i64(&pg_client, "SELECT count(*) FROM classified WHERE late").await?;
    check_counters(&hops, ROWS, late, &pg_client, "hop_windows").await?;
    check_late_rows_table(&client, &pg_client, "hops_late_rows").await
}

/// Builds, in `pg`'s session: `classified` (every row with its epoch's
/// watermark, and whether it is late for the hopping and for the tumbling
/// windows), `copies` (each row once per hopping window holding it, with
/// whether that copy is kept), `expected_hops` and `expected_tumbles`.
async fn compute_expected(pg: &Client) -> Result<()> {
    classify_by_epoch(pg, ROWS_PER_EPOCH, "5 seconds").await?;
    execute(
        pg,
        "CREATE TEMP TABLE copies AS
         SELECT c.id, c.user_id, c.amount, s AS window_start, s + interval '15 seconds' AS window_end,
                coalesce(s + interval '15 seconds' > c.watermark, true) AS kept
         FROM classified c
         CROSS JOIN LATERAL generate_series(
             date_bin('5 seconds', c.ts, timestamp '1970-01-01') - interval '10 seconds',
             date_bin('5 seconds', c.ts, timestamp '1970-01-01'),
             interval '5 seconds') AS s;
         ALTER TABLE classified ADD COLUMN late BOOLEAN, ADD COLUMN late_tumbling BOOLEAN;
         UPDATE classified c SET
             late = NOT EXISTS (SELECT 1 FROM copies p WHERE p.id = c.id AND p.kept),
             late_tumbling = coalesce(
                 date_bin('10 seconds', ts, timestamp '1970-01-01') + interval '10 seconds' <= watermark,
                 false);
         CREATE TEMP TABLE expected_hops AS
         SELECT window_start, window_end, user_id,
                count(*)::bigint AS cnt, sum(amount)::bigint AS total, max(amount)::bigint AS top
         FROM copies WHERE kept GROUP BY window_start, window_end, user_id;
         CREATE TEMP TABLE expected_tumbles AS
         SELECT date_bin('10 seconds', ts, timestamp '1970-01-01') AS window_start,
                date_bin('10 seconds', ts, timestamp '1970-01-01') + interval '10 seconds' AS window_end,
                user_id, count(*)::bigint AS cnt, sum(amount)::bigint AS total, max(amount)::bigint AS top
         FROM classified WHERE NOT late_tumbling GROUP BY 1, 2, 3;",
    )
    .await
}

/// The data must exercise what the test is about: every row in 3 windows,
/// rows losing all of them (late), rows losing only some, and late rows for
/// the tumbling windows too.
async fn check_scenario_shape(pg: &Client) -> Result<()> {
    let shape = query_values(
        pg,
        "SELECT (SELECT count(*) FROM copies) = 3 * (SELECT count(*) FROM classified),
                (SELECT count(*) FROM classified WHERE late),
                (SELECT count(*) FROM (SELECT id FROM copies GROUP BY id
                                       HAVING bool_or(kept) AND NOT bool_and(kept)) p),
                (SELECT count(*) FROM classified WHERE late_tumbling),
                (SELECT count(*) FROM expected_hops)",
    )
    .await?;
    let row: Vec<&str> = shape
        .first()
        .map(|r| r.iter().map(|v| v.as_deref().unwrap_or("")).collect())
        .unwrap_or_default();
    let [three_each, late, partly, late_tumbling, windows] = row[..] else {
        anyhow::bail!("unexpected shape query result {shape:?}");
    };
    let n = |s: &str| s.parse::<i64>().unwrap_or(0);
    ensure!(
        three_each == "t"
            && n(late) >= 100
            && n(partly) >= 100
            && n(late_tumbling) >= 100
            && n(windows) >= 500,
        "the data does not exercise hopping windows: every row in 3 windows: {three_each}; \
         {late} rows late, {partly} rows with some windows dropped, {late_tumbling} late for \
         the tumbling windows, {windows} expected windows"
    );
    Ok(())
}
