//! Kafka end to end, against librdkafka's in-process mock cluster.
//!
//! 900 JSON click events, spread over 3 partitions with event times out of
//! order inside each partition, are produced before any query starts. With
//! `scan.startup.mode = 'earliest'`, `trigger = 'available_now'` and one
//! epoch holding everything, no row can be late, so:
//!
//! - `raw_copy` copies every event into PostgreSQL (`raw_clicks`);
//! - `click_stats` (10-second tumbling windows per user, append mode) must
//!   equal PostgreSQL's `GROUP BY` over `raw_clicks` for the windows the
//!   final watermark (max event time − 5 s) has closed;
//! - `to_kafka` writes every event back to another topic, keyed by user,
//!   read back with a plain consumer.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::{TestPostgres, execute, query_i64, query_values};

use crate::{TestEddy, wait_for_status, with_logs};

const EVENTS: i64 = 900;

/// Event `i`: user `i % 7`, amount `i % 13 + 1`, event time `i` × 100 ms
/// with each run of 10 events reversed (out of order by up to 0.9 s).
fn events() -> Vec<OutgoingMessage> {
    (0..EVENTS)
        .map(|i| {
            let slot = (i / 10) * 10 + (9 - i % 10);
            let millis = slot * 100;
            let ts = format!(
                "2026-01-01 00:{:02}:{:02}.{:03}",
                millis / 60_000,
                millis / 1000 % 60,
                millis % 1000
            );
            OutgoingMessage {
                partition: Some((i % 3) as i32),
                key: Some(format!("user-{}", i % 7)),
                payload: format!(
                    r#"{{"id": {i}, "user_id": {}, "amount": {}, "ts": "{ts}"}}"#,
                    i % 7,
                    i % 13 + 1
                ),
                timestamp_ms: None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_to_windows_in_postgres_and_back_to_kafka() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = scenario(&kafka, &pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn scenario(kafka: &TestKafka, pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    kafka.create_topic("clicks", 3)?;
    kafka.create_topic("clicks_out", 3)?;
    kafka.produce("clicks", &events())?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE clicks (
                id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP,
                _partition INT, _offset BIGINT,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
             ) WITH (
                connector = 'kafka', topic = 'clicks',
                'properties.bootstrap.servers' = '{bootstrap}',
                'scan.startup.mode' = 'earliest', format = 'json'
             );
             CREATE SINK raw_sink WITH (
                connector = 'postgres', url = '{url}', table = 'raw_clicks', create_table = 'true'
             );
             CREATE SINK window_sink WITH (
                connector = 'postgres', url = '{url}', table = 'click_windows', create_table = 'true'
             );
             CREATE SINK kafka_out WITH (
                connector = 'kafka', topic = 'clicks_out',
                'properties.bootstrap.servers' = '{bootstrap}', key = 'user_id'
             );
             CREATE STREAMING QUERY raw_copy WITH (trigger = 'available_now')
                AS INSERT INTO raw_sink SELECT id, user_id, amount, ts, _partition, _offset FROM clicks;
             CREATE STREAMING QUERY click_stats
                WITH (trigger = 'available_now', output_mode = 'append')
                AS INSERT INTO window_sink
                SELECT window_start, window_end, user_id, count(*) AS cnt, sum(amount) AS total
                FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND)
                GROUP BY window_start, window_end, user_id;
             CREATE STREAMING QUERY to_kafka WITH (trigger = 'available_now')
                AS INSERT INTO kafka_out SELECT id, user_id, amount FROM clicks;",
            bootstrap = kafka.bootstrap_servers(),
            url = pg.url(),
        ),
    )
    .await?;
    let bound = Duration::from_secs(120);
    let raw = wait_for_status(&client, "raw_copy", "finished", bound).await?;
    let stats = wait_for_status(&client, "click_stats", "finished", bound).await?;
    let out = wait_for_status(&client, "to_kafka", "finished", bound).await?;
    ensure!(
        raw.input_rows == EVENTS && raw.output_rows == EVENTS,
        "raw_copy: {raw:?}"
    );
    ensure!(
        stats.input_rows == EVENTS && stats.late_rows == 0,
        "click_stats: {stats:?}"
    );
    ensure!(out.output_rows == EVENTS, "to_kafka: {out:?}");

    let pg_client = pg.client().await?;
    let summary = query_values(
        &pg_client,
        "SELECT count(DISTINCT id), count(DISTINCT (_partition, _offset)), min(_offset), max(_offset)
         FROM raw_clicks",
    )
    .await?;
    let expected_summary = [
        EVENTS.to_string(),
        EVENTS.to_string(),
        "0".into(),
        "299".into(),
    ];
    ensure!(
        summary
            == vec![
                expected_summary
                    .iter()
                    .cloned()
                    .map(Some)
                    .collect::<Vec<_>>()
            ],
        "raw_clicks (ids, positions, min offset, max offset) = {summary:?}"
    );
    let partition_of_id = query_i64(
        &pg_client,
        "SELECT count(*) FROM raw_clicks WHERE _partition <> id % 3",
    )
    .await?;
    ensure!(
        partition_of_id == 0,
        "{partition_of_id} rows with the wrong _partition"
    );

    execute(
        &pg_client,
        "SET TimeZone = 'UTC';
         CREATE TEMP TABLE expected AS
         WITH w AS (
             SELECT date_bin('10 seconds', ts::timestamp, timestamp '1970-01-01') AS window_start,
                    user_id, amount FROM raw_clicks
         )
         SELECT window_start, window_start + interval '10 seconds' AS window_end, user_id::bigint,
                count(*)::bigint AS cnt, sum(amount)::bigint AS total
         FROM w GROUP BY 1, 3
         HAVING window_start + interval '10 seconds'
                <= (SELECT max(ts::timestamp) - interval '5 seconds' FROM raw_clicks);
         CREATE TEMP TABLE actual AS
         SELECT window_start::timestamp, window_end::timestamp, user_id::bigint,
                cnt::bigint, total::bigint FROM click_windows;",
    )
    .await?;
    let differences = query_values(
        &pg_client,
        "(SELECT 'missing', * FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM actual) a)
         UNION ALL
         (SELECT 'unexpected', * FROM (SELECT * FROM actual EXCEPT ALL SELECT * FROM expected) b)
         ORDER BY 2, 4 LIMIT 10",
    )
    .await?;
    let expected_windows = query_i64(&pg_client, "SELECT count(*) FROM expected").await?;
    ensure!(
        differences.is_empty() && expected_windows > 0,
        "click_windows differs from PostgreSQL's GROUP BY ({expected_windows} windows): {differences:?}"
    );

    let messages = kafka.consume_all("clicks_out", Duration::from_secs(30))?;
    ensure!(
        messages.len() as i64 == EVENTS,
        "{} messages in clicks_out",
        messages.len()
    );
    for m in &messages {
        let payload = m.payload.as_deref().unwrap_or_default();
        let key = m.key.as_deref().unwrap_or_default();
        ensure!(
            payload.contains(&format!(r#""user_id":{key}"#)),
            "message key {key:?} does not match its payload {payload}"
        );
    }
    let ids: std::collections::BTreeSet<&str> = messages
        .iter()
        .filter_map(|m| m.payload.as_deref()?.split(',').next())
        .collect();
    ensure!(
        ids.len() as i64 == EVENTS,
        "{} distinct ids read back",
        ids.len()
    );
    Ok(())
}
