//! A graceful restart keeps everything a user created: table rows, sources,
//! sinks, tables and streaming queries, and the queries resume running.
//!
//! The streaming query counts rows per key in 1-second tumbling windows into
//! an Eddy table. Its source emits exactly 200 rows per second of event time
//! (5 ms apart, in order, none late), so every window after the first holds
//! exactly 200 rows over all keys: a window lost or counted twice across the
//! restart shows up as a total other than 200, a gap or a duplicate.

use std::time::Duration;

use anyhow::{Result, ensure};
use chrono::{NaiveDateTime, TimeDelta};
use eddy_tests::client::{STATEMENT_TIMEOUT, within};
use eddy_tests::{DEFAULT_WAIT, Progress, execute, query_i64, query_values, wait_until};
use tokio_postgres::Client;

use crate::{TestEddy, shown_names, wait_for_status, with_logs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_data_and_queries_survive_a_graceful_restart() -> Result<()> {
    let mut eddy = TestEddy::start().await?;
    let result = scenario(&mut eddy).await;
    with_logs(result, &eddy, None)
}

async fn scenario(eddy: &mut TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        "CREATE TABLE settings (name TEXT, value BIGINT);
         INSERT INTO settings VALUES ('alpha', 1), ('beta', 2), ('gamma', 3);
         CREATE TABLE counts (window_start TIMESTAMP, window_end TIMESTAMP, k BIGINT, cnt BIGINT);
         CREATE SOURCE events (
            k BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
         ) WITH (
            connector = 'datagen',
            'rows.per.second' = '200',
            seed = '3',
            'fields.k.kind' = 'random', 'fields.k.min' = '1', 'fields.k.max' = '5',
            'fields.ts.kind' = 'event_time',
            'fields.ts.start' = '2026-01-01 00:00:00',
            'fields.ts.step' = '5 milliseconds',
            'fields.ts.max_out_of_order' = '0 seconds',
            'fields.ts.late_rate' = '0'
         );
         CREATE SINK counts_sink WITH (connector = 'table', table = 'counts');
         CREATE STREAMING QUERY per_key_counts
            WITH (trigger = '100 milliseconds', output_mode = 'append')
            AS INSERT INTO counts_sink
            SELECT window_start, window_end, k, count(*) AS cnt
            FROM TUMBLE(events, ts, INTERVAL '1' SECOND)
            GROUP BY window_start, window_end, k;",
    )
    .await?;
    wait_for_count_above(&client, 0).await?;
    drop(client);

    eddy.stop().await?;
    eddy.start_again().await?;
    let client = eddy.client().await?;

    ensure_listed(&client, "SHOW SOURCES", &["events"]).await?;
    ensure_listed(&client, "SHOW SINKS", &["counts_sink"]).await?;
    ensure_listed(&client, "SHOW TABLES", &["settings", "counts"]).await?;
    ensure_listed(&client, "SHOW STREAMING QUERIES", &["per_key_counts"]).await?;
    let settings = query_values(&client, "SELECT name, value FROM settings ORDER BY name").await?;
    let expected: Vec<Vec<Option<String>>> = [("alpha", "1"), ("beta", "2"), ("gamma", "3")]
        .iter()
        .map(|(n, v)| vec![Some(n.to_string()), Some(v.to_string())])
        .collect();
    ensure!(settings == expected, "settings after restart: {settings:?}");

    wait_for_status(&client, "per_key_counts", "running", DEFAULT_WAIT).await?;
    let after_restart = query_i64(&client, "SELECT count(*) FROM counts").await?;
    ensure!(after_restart > 0, "counts lost its rows over the restart");
    wait_for_count_above(&client, after_restart).await?;
    check_windows_exactly_once(&client).await
}

async fn wait_for_count_above(client: &Client, floor: i64) -> Result<i64> {
    let what = format!("SELECT count(*) FROM counts to exceed {floor}");
    wait_until(Duration::from_secs(120), &what, || async {
        let n = query_i64(client, "SELECT count(*) FROM counts").await?;
        if n > floor {
            return Ok(Progress::Done(n));
        }
        let status = crate::query_status(client, "per_key_counts").await?;
        ensure!(
            status.as_ref().is_none_or(|q| q.status != "failed"),
            "per_key_counts failed: {status:?}"
        );
        Ok(Progress::Pending(format!("{n} rows; query: {status:?}")))
    })
    .await
}

async fn ensure_listed(client: &Client, show: &str, expected: &[&str]) -> Result<()> {
    let names = shown_names(client, show).await?;
    for name in expected {
        ensure!(
            names.iter().any(|n| n == name),
            "{show} after restart lists {names:?}, not {name}"
        );
    }
    Ok(())
}

async fn check_windows_exactly_once(client: &Client) -> Result<()> {
    let duplicates = query_values(
        client,
        "SELECT window_start, k, count(*) FROM counts GROUP BY window_start, k HAVING count(*) > 1 LIMIT 5",
    )
    .await?;
    ensure!(
        duplicates.is_empty(),
        "windows written twice: {duplicates:?}"
    );
    // The first window may be short (the sequence may start at row 1), so it
    // is left out; every later window holds 200 rows.
    let wrong_totals = query_values(
        client,
        "SELECT window_start, sum(cnt) FROM counts
         WHERE window_start > (SELECT min(window_start) FROM counts)
         GROUP BY window_start HAVING sum(cnt) <> 200 ORDER BY window_start LIMIT 5",
    )
    .await?;
    ensure!(
        wrong_totals.is_empty(),
        "windows without exactly 200 rows: {wrong_totals:?}"
    );
    let sql = "SELECT DISTINCT window_start FROM counts ORDER BY window_start";
    let rows = within(STATEMENT_TIMEOUT, sql, client.query(sql, &[])).await??;
    let starts: Vec<NaiveDateTime> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let gaps: Vec<_> = starts
        .windows(2)
        .filter(|w| w[1] - w[0] != TimeDelta::seconds(1))
        .take(5)
        .collect();
    ensure!(
        gaps.is_empty(),
        "consecutive windows not 1 s apart (windows missing): {gaps:?}"
    );
    Ok(())
}
