//! Progress from SQL: `eddy_catalog.query_progress`, `_history`,
//! `query_sources`, `source_partitions`, `query_state` and `SHOW
//! STREAMING QUERY name`, each figure checked against a scenario where
//! its value is known.
//!
//! - `files_show_state_late_rows_bad_records_and_lag`: a file source and a
//!   10-second tumbling count over 5 keys. The first file's events fall in
//!   three windows and move the watermark (15 s delay) past the first one
//!   only: 5 rows out, 2 open windows × 5 keys = 10 state rows, 1 bad
//!   record. The second holds 3 events of the closed window: 3 late rows.
//!   A second query with an hourly trigger has read both files when a
//!   third arrives: its lag is that file, in bytes, while it waits.
//! - `a_throttled_generator_shows_its_rate`: datagen at 500 rows/s; the
//!   source's rows/s is about 500, the history is bounded and consecutive,
//!   durations and positions are consistent.
//! - `kafka_lag_per_partition_while_paused`: end offset − position per
//!   partition, growing by exactly what is produced while paused.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use chrono::DateTime;
use eddy_tests::{Progress, execute, expect_db_error, query_i64, query_values, wait_until};
use tokio_postgres::Client;

use crate::files::publish;
use crate::{TestEddy, rows, wait_for_status, with_logs};

/// 2026-01-01 00:00:00 UTC in seconds.
const START: i64 = 1_767_225_600;
const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

fn line(key: &str, second: i64) -> String {
    let ts = DateTime::from_timestamp(START + second, 0).expect("in range");
    format!(
        r#"{{"k": "{key}", "ts": "{}"}}"#,
        ts.format("%Y-%m-%d %H:%M:%S")
    )
}

/// One value of a relation, as text.
async fn value(client: &Client, sql: &str) -> Result<Option<String>> {
    let rows = query_values(client, sql).await?;
    ensure!(rows.len() == 1, "{sql}: {rows:?}, expected one row");
    Ok(rows[0][0].clone())
}

/// The `SHOW STREAMING QUERY` field `field` of query `name`.
async fn shown(client: &Client, name: &str, field: &str) -> Result<Option<String>> {
    let rows = query_values(client, &format!("SHOW STREAMING QUERY {name}")).await?;
    rows.into_iter()
        .find(|r| r[0].as_deref() == Some(field))
        .map(|r| r[1].clone())
        .with_context(|| format!("SHOW STREAMING QUERY {name} has no field {field:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_show_state_late_rows_bad_records_and_lag() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let dir = tempfile::tempdir()?;
    let result = files_scenario(&eddy, dir.path()).await;
    with_logs(result, &eddy, None)
}

async fn files_scenario(eddy: &TestEddy, input: &Path) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE events (
                k VARCHAR, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '15' SECOND
             ) WITH (connector = 'file', path = '{}', format = 'json', on_error = 'skip');
             CREATE TABLE counts (window_start TIMESTAMP, k VARCHAR, cnt BIGINT);
             CREATE SINK to_counts WITH (connector = 'table', table = 'counts');
             CREATE STREAMING QUERY windows
                WITH (trigger = '100 milliseconds', output_mode = 'append')
                AS INSERT INTO to_counts
                SELECT window_start, k, count(*) AS cnt
                FROM TUMBLE(events, ts, INTERVAL '10' SECOND)
                GROUP BY window_start, window_end, k",
            input.display()
        ),
    )
    .await?;
    let bound = Duration::from_secs(120);
    wait_for_status(&client, "windows", "running", bound).await?;

    // Seconds 1, 12, 25 and 29 of every key: windows [0,10), [10,20) and
    // [20,30); the watermark becomes 29 - 15 = 14 s, which closes [0,10).
    let mut first: Vec<String> = KEYS
        .iter()
        .flat_map(|k| [1, 12, 25, 29].map(|s| line(k, s)))
        .collect();
    first.insert(7, "not json at all".into());
    publish(input, "events-1.jsonl", &(first.join("\n") + "\n"))?;
    wait_until(bound, "the first window to be written", || async {
        // Written, and its epoch's progress recorded (just after).
        let n = query_i64(
            &client,
            "SELECT least((SELECT count(*) FROM counts),
                          (SELECT output_rows FROM eddy_catalog.query_progress
                           WHERE name = 'windows'))",
        )
        .await?;
        Ok(if n >= 5 {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{n} rows"))
        })
    })
    .await?;
    let written = rows(&client, "SELECT k, cnt FROM counts ORDER BY k").await?;
    let expected: Vec<String> = KEYS.iter().map(|k| format!("{k}|1")).collect();
    ensure!(written == expected, "counts: {written:?}");

    let progress = query_values(
        &client,
        "SELECT state_rows, output_rows, bad_records, late_rows, input_rows,
                watermark = TIMESTAMPTZ '2026-01-01 00:00:14+00',
                sink, sink_rows, sink_committed_epoch = epoch, status
         FROM eddy_catalog.query_progress WHERE name = 'windows'",
    )
    .await?;
    let text = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    ensure!(
        progress
            == vec![text(&[
                "10",
                "5",
                "1",
                "0",
                "20",
                "t",
                "to_counts",
                "5",
                "t",
                "running"
            ])],
        "query_progress after the first file: {progress:?}"
    );
    let state = rows(
        &client,
        "SELECT operator, rows FROM eddy_catalog.query_state WHERE name = 'windows'",
    )
    .await?;
    ensure!(state == ["window aggregate|10"], "query_state: {state:?}");
    // Only the epoch that closed the window has an emit delay.
    let delays = query_i64(
        &client,
        "SELECT count(emit_delay_ms) FROM eddy_catalog.query_progress_history
         WHERE name = 'windows'",
    )
    .await?;
    ensure!(delays == 1, "{delays} epochs with an emit delay");
    // The epoch that read the file: its event-time range and its rows.
    let epoch = rows(
        &client,
        "SELECT min_event_time, max_event_time, input_rows, output_rows, bad_records,
                emit_delay_ms >= 0 AND emit_delay_ms <= duration_ms
         FROM eddy_catalog.query_progress_history
         WHERE name = 'windows' AND input_rows > 0",
    )
    .await?;
    ensure!(
        epoch == ["2026-01-01 00:00:01+00|2026-01-01 00:00:29+00|20|5|1|t"],
        "the epoch of the first file: {epoch:?}"
    );

    // Three events of the closed window [0,10): late.
    let late: Vec<String> = KEYS[..3].iter().map(|k| line(k, 3)).collect();
    publish(input, "events-2.jsonl", &(late.join("\n") + "\n"))?;
    wait_until(bound, "the late rows to be counted", || async {
        let late = query_i64(
            &client,
            "SELECT late_rows FROM eddy_catalog.query_progress WHERE name = 'windows'",
        )
        .await?;
        Ok(if late >= 3 {
            Progress::Done(late)
        } else {
            Progress::Pending(format!("{late} late rows"))
        })
    })
    .await?;
    let totals = rows(
        &client,
        "SELECT p.late_rows, sum(h.late_rows), p.input_rows, sum(h.input_rows), p.state_rows
         FROM eddy_catalog.query_progress p
         JOIN eddy_catalog.query_progress_history h ON h.name = p.name
         WHERE p.name = 'windows'
         GROUP BY p.late_rows, p.input_rows, p.state_rows",
    )
    .await?;
    ensure!(totals == ["3|3|23|23|10"], "totals and history: {totals:?}");
    ensure!(
        shown(&client, "windows", "late_rows").await?.as_deref() == Some("3"),
        "SHOW STREAMING QUERY: late_rows"
    );
    let id = query_i64(
        &client,
        "SELECT operator_id FROM eddy_catalog.query_state WHERE name = 'windows'",
    )
    .await?;
    let field = format!("operator {id} (window aggregate): rows");
    ensure!(
        shown(&client, "windows", &field).await?.as_deref() == Some("10"),
        "SHOW STREAMING QUERY: {field}"
    );

    // A query that reads once an hour: it reads both files, then waits.
    execute(
        &client,
        "CREATE TABLE seen (k VARCHAR);
         CREATE SINK to_seen WITH (connector = 'table', table = 'seen');
         CREATE STREAMING QUERY hourly WITH (trigger = '1 hour')
             AS INSERT INTO to_seen SELECT k FROM events",
    )
    .await?;
    wait_until(bound, "hourly to read both files", || async {
        let n = query_i64(&client, "SELECT count(*) FROM seen").await?;
        Ok(if n >= 23 {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{n} rows"))
        })
    })
    .await?;
    let third = KEYS.map(|k| line(k, 40)).join("\n") + "\n";
    publish(input, "events-3.jsonl", &third)?;
    let size = third.len() as i64;
    let lag = wait_until(bound, "hourly's lag to show the third file", || async {
        let lag = rows(
            &client,
            "SELECT s.lag, s.lag_unit, s.unread_partitions, p.partition, p.committed_offset,
                    p.end_offset, p.lag
             FROM eddy_catalog.query_sources s
             JOIN eddy_catalog.source_partitions p ON p.name = s.name AND p.source = s.source
             WHERE s.name = 'hourly'",
        )
        .await?;
        Ok(if lag.len() == 1 && !lag[0].starts_with("0|") {
            Progress::Done(lag)
        } else {
            Progress::Pending(format!("{lag:?}"))
        })
    })
    .await?;
    ensure!(
        lag == [format!("{size}|bytes|1|events-3.jsonl|NULL|{size}|{size}")],
        "hourly's lag: {lag:?}"
    );
    ensure!(
        query_i64(&client, "SELECT count(*) FROM seen").await? == 23,
        "hourly read the third file before its trigger"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_generator_shows_its_rate() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = rate_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn rate_scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        "CREATE SOURCE numbers (id BIGINT) WITH (
            connector = 'datagen', 'rows.per.second' = '500',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '0');
         CREATE SINK nowhere WITH (connector = 'blackhole');
         CREATE STREAMING QUERY rated WITH (trigger = '100 milliseconds')
             AS INSERT INTO nowhere SELECT id FROM numbers",
    )
    .await?;
    wait_for_status(&client, "rated", "running", Duration::from_secs(60)).await?;
    // Four seconds of epochs.
    wait_until(Duration::from_secs(120), "rated to run for 4 s", || async {
        let ran = value(
            &client,
            "SELECT extract(epoch FROM committed_at - started_at) >= 4
             FROM eddy_catalog.query_progress WHERE name = 'rated'",
        )
        .await?;
        Ok(
            if ran.as_deref() == Some("true") || ran.as_deref() == Some("t") {
                Progress::Done(())
            } else {
                Progress::Pending(format!("{ran:?}"))
            },
        )
    })
    .await?;
    let rate: f64 = value(
        &client,
        "SELECT input_rows_per_second FROM eddy_catalog.query_sources WHERE name = 'rated'",
    )
    .await?
    .context("a rate")?
    .parse()?;
    ensure!(
        (250.0..=750.0).contains(&rate),
        "datagen at 500 rows/s measured at {rate} rows/s"
    );
    // The history holds consecutive epochs ending at the current one.
    let history = rows(
        &client,
        "SELECT count(*) = max(h.epoch) - min(h.epoch) + 1, max(h.epoch) <= max(p.epoch),
                count(*) <= 100, bool_and(h.duration_ms >= h.read_ms + h.compute_ms)
         FROM eddy_catalog.query_progress_history h
         JOIN eddy_catalog.query_progress p ON p.name = h.name
         WHERE h.name = 'rated'",
    )
    .await?;
    ensure!(history == ["t|t|t|t"], "history: {history:?}");
    let durations = rows(
        &client,
        "SELECT epoch_p50_ms <= epoch_p99_ms, read_p50_ms IS NOT NULL,
                compute_p50_ms IS NOT NULL, sink_p50_ms IS NOT NULL,
                checkpoint_p99_ms IS NOT NULL, processed_rows_per_second > 0
         FROM eddy_catalog.query_progress WHERE name = 'rated'",
    )
    .await?;
    ensure!(durations == ["t|t|t|t|t|t"], "durations: {durations:?}");
    let partition = rows(
        &client,
        "SELECT lag_unit, committed_offset <= end_offset, lag >= 0, planned_offset >= committed_offset
         FROM eddy_catalog.source_partitions WHERE name = 'rated'",
    )
    .await?;
    ensure!(partition == ["rows|t|t|t"], "partition: {partition:?}");
    ensure!(
        shown(&client, "rated", "source numbers: lag_unit")
            .await?
            .as_deref()
            == Some("rows"),
        "SHOW STREAMING QUERY lists the source"
    );
    let missing = expect_db_error(&client, "SHOW STREAMING QUERY nope").await?;
    ensure!(missing.code().code() == "42704", "{missing:?}");

    // BI tools find the relations through the catalogs.
    let listed = rows(
        &client,
        "SELECT c.relname, c.relkind FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'eddy_catalog' ORDER BY 1",
    )
    .await?;
    ensure!(
        listed
            == [
                "query_progress|v",
                "query_progress_history|v",
                "query_sources|v",
                "query_state|v",
                "source_partitions|v"
            ],
        "pg_class: {listed:?}"
    );
    let columns = rows(
        &client,
        "SELECT column_name, data_type FROM information_schema.columns
         WHERE table_schema = 'eddy_catalog' AND table_name = 'source_partitions'
           AND column_name IN ('end_offset', 'max_event_time') ORDER BY 1",
    )
    .await?;
    ensure!(
        columns
            == [
                "end_offset|bigint",
                "max_event_time|timestamp with time zone"
            ],
        "information_schema.columns: {columns:?}"
    );
    Ok(())
}

/// JSON messages `from..to` for partition `partition`.
fn messages(partition: i32, from: usize, to: usize) -> Vec<eddy_tests::kafka::OutgoingMessage> {
    (from..to)
        .map(|i| eddy_tests::kafka::OutgoingMessage {
            partition: Some(partition),
            key: None,
            payload: format!(r#"{{"p": {partition}, "i": {i}}}"#),
            timestamp_ms: None,
        })
        .collect()
}

/// Kafka's lag is end offset − position per partition: 0 once everything
/// is read, exactly the messages produced while the query is paused, 0
/// again after it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_lag_per_partition_while_paused() -> Result<()> {
    let kafka = eddy_tests::kafka::TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = kafka_lag_scenario(&eddy, &kafka).await;
    with_logs(result, &eddy, None)
}

async fn kafka_lag_scenario(eddy: &TestEddy, kafka: &eddy_tests::kafka::TestKafka) -> Result<()> {
    kafka.create_topic("lagged", 3)?;
    for (p, n) in [(0, 10), (1, 20), (2, 30)] {
        kafka.produce("lagged", &messages(p, 0, n))?;
    }
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE lagged (p INT, i BIGINT) WITH (
                connector = 'kafka', topic = 'lagged',
                'properties.bootstrap.servers' = '{}',
                'scan.startup.mode' = 'earliest', format = 'json');
             CREATE TABLE got (p INT, i BIGINT);
             CREATE SINK to_got WITH (connector = 'table', table = 'got');
             CREATE STREAMING QUERY reader WITH (trigger = '100 milliseconds')
                 AS INSERT INTO to_got SELECT p, i FROM lagged",
            kafka.bootstrap_servers()
        ),
    )
    .await?;
    let partitions = |expected: [&'static str; 3]| {
        let client = &client;
        async move {
            wait_until(
                Duration::from_secs(120),
                &format!("partitions to be {expected:?}"),
                || async {
                    let seen = rows(
                        client,
                        "SELECT partition, committed_offset, end_offset, lag, lag_unit
                         FROM eddy_catalog.source_partitions
                         WHERE name = 'reader' ORDER BY partition",
                    )
                    .await?;
                    Ok(if seen == expected {
                        Progress::Done(())
                    } else {
                        Progress::Pending(format!("{seen:?}"))
                    })
                },
            )
            .await
        }
    };
    partitions([
        "0|10|10|0|records",
        "1|20|20|0|records",
        "2|30|30|0|records",
    ])
    .await?;
    execute(&client, "ALTER STREAMING QUERY reader PAUSE").await?;
    wait_for_status(&client, "reader", "paused", Duration::from_secs(60)).await?;
    for (p, from, to) in [(0, 10, 15), (1, 20, 26), (2, 30, 37)] {
        kafka.produce("lagged", &messages(p, from, to))?;
    }
    partitions([
        "0|10|15|5|records",
        "1|20|26|6|records",
        "2|30|37|7|records",
    ])
    .await?;
    ensure!(
        value(
            &client,
            "SELECT lag FROM eddy_catalog.query_sources WHERE name = 'reader'"
        )
        .await?
        .as_deref()
            == Some("18"),
        "the source's lag is the partitions' sum"
    );
    ensure!(
        query_i64(&client, "SELECT count(*) FROM got").await? == 60,
        "rows written while paused"
    );
    execute(&client, "ALTER STREAMING QUERY reader RESUME").await?;
    partitions([
        "0|15|15|0|records",
        "1|26|26|0|records",
        "2|37|37|0|records",
    ])
    .await?;
    let got = rows(
        &client,
        "SELECT p, count(*), count(DISTINCT i), max(i) FROM got GROUP BY p ORDER BY p",
    )
    .await?;
    ensure!(
        got == ["0|15|15|14", "1|26|26|25", "2|37|37|36"],
        "rows per partition: {got:?}"
    );
    Ok(())
}
