//! `watermark.idle_timeout`: when a source goes quiet, its watermark
//! advances on processing time, so the last windows close.
//!
//! 30 events, one per second of event time (00:00:00 … 00:00:29), are in a
//! Kafka topic. With a 2-second watermark delay the data alone closes the
//! windows [0, 10) and [10, 20); [20, 30) needs the watermark at 00:00:30,
//! which no event will bring. The source with `'watermark.idle_timeout' =
//! '1 second'` closes it a few seconds after the data stops; the same query
//! over a source without the option keeps it open.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::{Progress, execute, query_i64, query_values, wait_until};

use crate::{TestEddy, with_logs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sources_close_their_last_windows() -> Result<()> {
    let kafka = TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = scenario(&kafka, &eddy).await;
    with_logs(result, &eddy, None)
}

async fn scenario(kafka: &TestKafka, eddy: &TestEddy) -> Result<()> {
    kafka.create_topic("quiet", 1)?;
    let events: Vec<OutgoingMessage> = (0..30)
        .map(|s| OutgoingMessage {
            partition: Some(0),
            key: None,
            payload: format!(r#"{{"n": {s}, "ts": "2026-01-01 00:00:{s:02}"}}"#),
            timestamp_ms: None,
        })
        .collect();
    kafka.produce("quiet", &events)?;
    let client = eddy.client().await?;
    let source = |name: &str, idle: &str| {
        format!(
            "CREATE SOURCE {name} (n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
             WITH (connector = 'kafka', topic = 'quiet', format = 'json',
                   'properties.bootstrap.servers' = '{}', 'scan.startup.mode' = 'earliest'{idle});",
            kafka.bootstrap_servers()
        )
    };
    let query = |name: &str, src: &str| {
        format!(
            "CREATE TABLE {name} (window_start TIMESTAMP, n BIGINT);
             CREATE SINK {name}_sink WITH (connector = 'table', table = '{name}');
             CREATE STREAMING QUERY {name}_query WITH (trigger = '100 milliseconds') AS
                INSERT INTO {name}_sink SELECT window_start, count(*) AS n
                FROM TUMBLE({src}, ts, INTERVAL '10' SECOND) GROUP BY window_start;"
        )
    };
    execute(
        &client,
        &format!(
            "{}{}{}{}",
            source("with_idle", ", 'watermark.idle_timeout' = '1 second'"),
            source("without_idle", ""),
            query("idle_windows", "with_idle"),
            query("busy_windows", "without_idle"),
        ),
    )
    .await?;

    wait_until(
        Duration::from_secs(60),
        "the idle source's last window",
        || async {
            let n = query_i64(&client, "SELECT count(*) FROM idle_windows").await?;
            Ok(if n == 3 {
                Progress::Done(())
            } else {
                Progress::Pending(format!("{n} windows"))
            })
        },
    )
    .await?;
    let windows = query_values(&client, "SELECT n FROM idle_windows ORDER BY window_start").await?;
    let ten = || vec![Some("10".to_owned())];
    ensure!(
        windows == [ten(), ten(), ten()],
        "idle_windows: {windows:?}"
    );
    let busy = query_i64(&client, "SELECT count(*) FROM busy_windows").await?;
    ensure!(
        busy == 2,
        "without watermark.idle_timeout the last window must stay open: {busy} windows"
    );

    let error = eddy_tests::expect_db_error(
        &client,
        "CREATE SOURCE no_wm (n BIGINT) WITH (connector = 'datagen', 'watermark.idle_timeout' = '1 second')",
    )
    .await?;
    ensure!(
        error.message().contains("WATERMARK FOR"),
        "idle timeout without a watermark: {error:?}"
    );
    let error = eddy_tests::expect_db_error(
        &client,
        "CREATE SOURCE bad_policy (n BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
         WITH (connector = 'datagen', 'watermark.policy' = 'fastest')",
    )
    .await?;
    ensure!(
        error.message().contains("'fastest'")
            && error.message().contains("min_partition")
            && error.message().contains("max_seen")
            && error.code() != &tokio_postgres::error::SqlState::INTERNAL_ERROR,
        "an unknown watermark.policy: {error:?}"
    );
    Ok(())
}
