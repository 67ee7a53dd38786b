//! A checkpoint damaged on disk is detected and never used.
//!
//! Two queries read the same paced, bounded datagen source (in event-time
//! order, so nothing is late) into PostgreSQL: `raw_copy` copies the rows,
//! `windows` counts them in 1-second windows per key. After a dozen epochs
//! the server is stopped and files are damaged:
//!
//! - `windows`: its newest commit entry and newest state file get a flipped
//!   byte. On restart the checksums catch both, the query falls back to an
//!   older intact commit and replays the epochs after it from the offset
//!   log; the PostgreSQL sink skips what it already holds, so the final
//!   table equals PostgreSQL's own `GROUP BY` over the raw rows.
//! - `fragile`: every commit entry is damaged and the offset log no longer
//!   reaches back to epoch 1, so nothing can be recovered: the query must
//!   fail with a clear error instead of running on wrong state.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use eddy_tests::{DEFAULT_WAIT, TestPostgres, execute, query_i64};
use tokio_postgres::Client;

use crate::{TestEddy, ensure_same_rows, query_status, wait_for_epoch, wait_for_status, with_logs};

const ROWS: i64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_checkpoints_are_detected_and_never_used() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    let window_query = "SELECT window_start, k, count(*) AS n
                        FROM TUMBLE(events, ts, INTERVAL '1' SECOND) GROUP BY window_start, k";
    execute(
        &client,
        &format!(
            "CREATE SOURCE events (id BIGINT, k BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH (connector = 'datagen', 'rows.per.second' = '6000',
                'number.of.rows' = '{ROWS}', 'rows.per.epoch' = '500', seed = '9',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                'fields.k.min' = '1', 'fields.k.max' = '5', 'fields.ts.step' = '1 millisecond');
             CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}', table = 'raw', create_table = 'true');
             CREATE SINK windows_sink WITH (connector = 'postgres', url = '{url}', table = 'windows', create_table = 'true');
             CREATE SINK fragile_sink WITH (connector = 'postgres', url = '{url}', table = 'fragile', create_table = 'true');
             CREATE STREAMING QUERY raw_copy WITH (trigger = '50 milliseconds')
                AS INSERT INTO raw_sink SELECT id, k, ts FROM events;
             CREATE STREAMING QUERY windows WITH (trigger = '50 milliseconds',
                'checkpoint.snapshot_every' = '3') AS INSERT INTO windows_sink {window_query};
             CREATE STREAMING QUERY fragile WITH (trigger = '50 milliseconds',
                'checkpoint.retain' = '3', 'checkpoint.snapshot_every' = '2')
                AS INSERT INTO fragile_sink {window_query};",
            url = pg.url()
        ),
    )
    .await?;
    for query in ["windows", "fragile"] {
        wait_for_epoch(&client, query, 12, true).await?;
    }
    eddy.stop().await?;

    let windows = checkpoint_dir(eddy.data_dir(), "windows");
    let newest_commit = newest(&windows.join("commits"))?;
    flip_last_byte(&newest_commit)?;
    flip_last_byte(&newest(&windows.join("state"))?)?;
    let fragile = checkpoint_dir(eddy.data_dir(), "fragile");
    ensure!(
        !fragile.join("offsets").join(format!("{:020}", 1)).exists(),
        "fragile's offset log still reaches epoch 1; the scenario needs it pruned"
    );
    for entry in std::fs::read_dir(fragile.join("commits"))? {
        flip_last_byte(&entry?.path())?;
    }

    eddy.start_again().await?;
    let client = eddy.client().await?;
    let failed = wait_for_status(&client, "fragile", "failed", DEFAULT_WAIT).await?;
    let error = failed.error.unwrap_or_default();
    ensure!(
        error.contains("no intact checkpoint"),
        "fragile should fail with a clear error about its checkpoints, got: {error:?}"
    );
    let raw = wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    wait_for_status(&client, "windows", "finished", DEFAULT_WAIT).await?;
    ensure!(
        raw.input_rows == ROWS,
        "raw_copy read {} rows",
        raw.input_rows
    );
    let status = query_status(&client, "fragile").await?;
    ensure!(
        status.as_ref().is_some_and(|q| q.status == "failed"),
        "fragile after the restart: {status:?}"
    );

    let pg_client = pg.client().await?;
    check_windows(&pg_client).await
}

fn checkpoint_dir(data_dir: &Path, query: &str) -> PathBuf {
    let hex: String = query.bytes().map(|b| format!("{b:02x}")).collect();
    data_dir.join("queries").join(hex)
}

fn newest(dir: &Path) -> Result<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    files
        .pop()
        .with_context(|| format!("no files in {}", dir.display()))
}

fn flip_last_byte(path: &Path) -> Result<()> {
    let mut bytes = std::fs::read(path)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a;
    std::fs::write(path, bytes)?;
    Ok(())
}

async fn check_windows(pg: &Client) -> Result<()> {
    let raw = query_i64(pg, "SELECT count(DISTINCT id) FROM raw").await?;
    ensure!(raw == ROWS, "raw holds {raw} distinct ids, expected {ROWS}");
    let expected =
        "SELECT date_bin('1 second', ts, TIMESTAMP '1970-01-01') AS window_start, k, count(*) AS n
                    FROM raw GROUP BY 1, 2";
    let actual = "SELECT window_start, k, n FROM windows";
    ensure_same_rows(
        pg,
        expected,
        actual,
        "windows against the GROUP BY over raw",
    )
    .await
}
