//! Killed and restarted mid-run, a pipeline still writes every row exactly
//! once into PostgreSQL.
//!
//! A paced, bounded datagen source (40,000 rows, 10,000 per second, in event-
//! time order) feeds two queries into PostgreSQL: a raw copy and 1-second
//! tumbling-window counts per key. The Eddy process is killed with SIGKILL
//! twice while the queries run and started again each time. Each query
//! resumes from its checkpoint (re-running an epoch that was planned but not
//! committed over the same rows) and the PostgreSQL sink skips the epochs it
//! had already committed (and so does the `table` sink, into an Eddy table),
//! so at the end the raw tables hold every id once and the window table
//! equals the same GROUP BY computed by PostgreSQL over the raw rows.

use anyhow::{Result, ensure};
use eddy_tests::{DEFAULT_WAIT, TestPostgres, execute, query_i64};
use tokio_postgres::Client;

use crate::{TestEddy, ensure_same_rows, wait_for_epoch, wait_for_status, with_logs};

const ROWS: i64 = 40_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_lose_and_double_nothing() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE events (
                id BIGINT, k BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
             ) WITH (
                connector = 'datagen', 'rows.per.second' = '10000',
                'number.of.rows' = '{ROWS}', 'rows.per.epoch' = '2000', seed = '5',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                'fields.k.min' = '1', 'fields.k.max' = '7',
                'fields.ts.step' = '1 millisecond'
             );
             CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
                table = 'raw_events', create_table = 'true');
             CREATE SINK counts_sink WITH (connector = 'postgres', url = '{url}',
                table = 'event_counts', create_table = 'true');
             CREATE STREAMING QUERY raw_copy WITH (trigger = '100 milliseconds')
                AS INSERT INTO raw_sink SELECT id, k, ts FROM events;
             CREATE TABLE raw_table (id BIGINT, k BIGINT, ts TIMESTAMP);
             CREATE SINK table_sink WITH (connector = 'table', table = 'raw_table');
             CREATE STREAMING QUERY table_copy WITH (trigger = '100 milliseconds')
                AS INSERT INTO table_sink SELECT id, k, ts FROM events;
             CREATE STREAMING QUERY counts WITH (trigger = '100 milliseconds')
                AS INSERT INTO counts_sink
                SELECT window_start, k, count(*) AS n
                FROM TUMBLE(events, ts, INTERVAL '1' SECOND)
                GROUP BY window_start, k;",
            url = pg.url(),
        ),
    )
    .await?;

    for epoch in [5, 12] {
        wait_for_epoch(&eddy.client().await?, "counts", epoch, true).await?;
        eddy.kill()?;
        eddy.start_again().await?;
    }
    let client = eddy.client().await?;
    let raw = wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    let counts = wait_for_status(&client, "counts", "finished", DEFAULT_WAIT).await?;
    // The counters are checkpointed with the epochs: across the kills each
    // input row was counted once.
    ensure!(
        (raw.input_rows, counts.input_rows) == (ROWS, ROWS),
        "input_rows after the restarts: raw_copy {}, counts {}; expected {ROWS}",
        raw.input_rows,
        counts.input_rows
    );

    // The same rows in an Eddy table: the table sink skips replayed epochs
    // too.
    wait_for_status(&client, "table_copy", "finished", DEFAULT_WAIT).await?;
    let rows = query_i64(&client, "SELECT count(*) FROM raw_table").await?;
    let distinct = query_i64(&client, "SELECT count(DISTINCT id) FROM raw_table").await?;
    ensure!(
        (rows, distinct) == (ROWS, ROWS),
        "raw_table: {rows} rows, {distinct} distinct ids; expected {ROWS} once each"
    );
    let pg_client = pg.client().await?;
    check_raw(&pg_client).await?;
    check_counts(&pg_client).await
}

async fn check_raw(pg: &Client) -> Result<()> {
    let rows = query_i64(pg, "SELECT count(*) FROM raw_events").await?;
    let distinct = query_i64(pg, "SELECT count(DISTINCT id) FROM raw_events").await?;
    let max = query_i64(pg, "SELECT max(id) FROM raw_events").await?;
    ensure!(
        (rows, distinct, max) == (ROWS, ROWS, ROWS - 1),
        "raw_events: {rows} rows, {distinct} distinct ids, max id {max}; expected ids 0..{} once each",
        ROWS - 1
    );
    Ok(())
}

async fn check_counts(pg: &Client) -> Result<()> {
    let expected =
        "SELECT date_bin('1 second', ts, TIMESTAMP '1970-01-01') AS window_start, k, count(*) AS n
                    FROM raw_events GROUP BY 1, 2";
    let actual = "SELECT window_start, k, n FROM event_counts";
    ensure_same_rows(
        pg,
        expected,
        actual,
        "event_counts against PostgreSQL's GROUP BY over raw_events",
    )
    .await
}
