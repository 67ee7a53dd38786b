//! Exactly-once into PostgreSQL across crashes, from Kafka.
//!
//! 6,000 JSON events in 3 partitions (event times 100 ms apart, reversed in
//! runs of 10, so out of order by under a second) are produced before the
//! queries start. Two queries compute 10-second tumbling windows per user,
//! one into an append-mode table without a key, one into an upsert table
//! keyed by (window_start, user_id), 300 records per epoch, so there are
//! many epochs. The server is made to die inside an epoch at each of the
//! dangerous points — after processing but before the sink, after the sink
//! committed but before the checkpoint commit, after the commit — and is
//! also SIGKILLed at a random moment; it is started again each time. One
//! query checkpoints a full snapshot every 4 epochs (deltas in between) and
//! keeps 3 commits, the other uses the defaults.
//!
//! No row is late (disorder < watermark delay), so the expected result is the
//! `GROUP BY` over all events, for the windows the final watermark (max event
//! time − 5 s) has closed, computed by PostgreSQL over the events the test
//! inserted itself. Both tables must equal it exactly: no window lost, none
//! doubled, no count off.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::{DEFAULT_WAIT, Progress, TestPostgres, execute, wait_until};
use tokio_postgres::Client;

use crate::{TestEddy, ensure_same_rows, query_status, wait_for_epoch, wait_for_status, with_logs};

const EVENTS: i64 = 6_000;

/// (id, user, amount, event time in ms).
fn events() -> Vec<(i64, i64, i64, i64)> {
    (0..EVENTS)
        .map(|i| {
            let slot = (i / 10) * 10 + (9 - i % 10);
            (i, i % 11, i % 17 + 1, slot * 100)
        })
        .collect()
}

fn timestamp(millis: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + millis)
        .expect("in range")
        .naive_utc();
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_at_every_point_lose_and_double_nothing() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = scenario(&kafka, &pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn scenario(kafka: &TestKafka, pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    kafka.create_topic("clicks", 3)?;
    let events = events();
    let messages: Vec<OutgoingMessage> = events
        .iter()
        .map(|&(id, user, amount, millis)| OutgoingMessage {
            partition: Some((id % 3) as i32),
            key: None,
            payload: format!(
                r#"{{"id": {id}, "user_id": {user}, "amount": {amount}, "ts": "{}"}}"#,
                timestamp(millis)
            ),
            timestamp_ms: None,
        })
        .collect();
    kafka.produce("clicks", &messages)?;
    let pg_client = pg.client().await?;
    load_truth(&pg_client, &events).await?;

    // The first start dies after the sink has committed epoch 3 of a query
    // but before that epoch's checkpoint commit.
    eddy.set_env("EDDY_FAULT", "after_sink@3");
    eddy.stop().await?;
    eddy.start_again().await?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE clicks (id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH (connector = 'kafka', topic = 'clicks',
                   'properties.bootstrap.servers' = '{kafka}',
                   'scan.startup.mode' = 'earliest', format = 'json',
                   'max.records.per.epoch' = '300');
             CREATE SINK append_sink WITH (connector = 'postgres', url = '{url}',
                table = 'windows_append', create_table = 'true');
             CREATE SINK upsert_sink WITH (connector = 'postgres', url = '{url}',
                table = 'windows_upsert', create_table = 'true', mode = 'upsert',
                primary_key = 'window_start,user_id');
             CREATE STREAMING QUERY appended WITH (trigger = '20 milliseconds') AS
                INSERT INTO append_sink
                SELECT window_start, user_id, count(*) AS n, sum(amount) AS total
                FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, user_id;
             CREATE STREAMING QUERY upserted WITH (trigger = '20 milliseconds',
                'checkpoint.snapshot_every' = '4', 'checkpoint.retain' = '3') AS
                INSERT INTO upsert_sink
                SELECT window_start, user_id, count(*) AS n, sum(amount) AS total
                FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, user_id;",
            kafka = kafka.bootstrap_servers(),
            url = pg.url(),
        ),
    )
    .await?;
    drop(client);
    for next_fault in ["before_sink@7", "after_commit@10", "after_sink@14"] {
        let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
        ensure!(
            !status.success(),
            "the server exited cleanly instead of at the fault"
        );
        eddy.set_env("EDDY_FAULT", next_fault);
        eddy.start_again().await?;
    }
    eddy.wait_for_exit(Duration::from_secs(120)).await?;

    // One more crash at no particular point: SIGKILL once a query is a few
    // epochs further.
    eddy.clear_env();
    eddy.start_again().await?;
    wait_for_epoch(&eddy.client().await?, "appended", 17, false).await?;
    eddy.kill()?;
    eddy.start_again().await?;

    let client = eddy.client().await?;
    wait_for_caught_up(&client, "appended").await?;
    wait_for_caught_up(&client, "upserted").await?;
    check_equal(&pg_client, "windows_append").await?;
    check_equal(&pg_client, "windows_upsert").await
}

/// The events as the test produced them, for the expected result.
async fn load_truth(pg: &Client, events: &[(i64, i64, i64, i64)]) -> Result<()> {
    execute(
        pg,
        "CREATE TABLE truth (id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP)",
    )
    .await?;
    for chunk in events.chunks(1000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|&(id, user, amount, millis)| {
                format!("({id}, {user}, {amount}, '{}')", timestamp(millis))
            })
            .collect();
        execute(
            pg,
            &format!("INSERT INTO truth VALUES {}", values.join(", ")),
        )
        .await?;
    }
    Ok(())
}

/// Waits until the query has read every event (its counters are
/// checkpointed, so they count each event once across the restarts).
async fn wait_for_caught_up(client: &Client, query: &str) -> Result<()> {
    let what = format!("{query} to read all {EVENTS} events");
    wait_until(DEFAULT_WAIT, &what, || async {
        match query_status(client, query).await? {
            Some(q) if q.input_rows == EVENTS => Ok(Progress::Done(())),
            Some(q) => {
                ensure!(q.status != "failed", "{query} failed: {q:?}");
                ensure!(
                    q.input_rows <= EVENTS,
                    "{query} read more than every event once: {q:?}"
                );
                Ok(Progress::Pending(format!("{q:?}")))
            }
            None => Ok(Progress::Pending("not listed".into())),
        }
    })
    .await?;
    wait_for_status(client, query, "running", DEFAULT_WAIT).await?;
    Ok(())
}

async fn check_equal(pg: &Client, table: &str) -> Result<()> {
    let expected = "SELECT date_bin('10 seconds', ts, TIMESTAMP '1970-01-01') AS window_start, user_id,
                           count(*) AS n, sum(amount) AS total
                    FROM truth GROUP BY 1, 2
                    HAVING date_bin('10 seconds', max(ts), TIMESTAMP '1970-01-01') + INTERVAL '10 seconds'
                           <= (SELECT max(ts) FROM truth) - INTERVAL '5 seconds'";
    let actual = format!("SELECT window_start, user_id, n, total FROM {table}");
    ensure_same_rows(
        pg,
        expected,
        &actual,
        &format!("{table} against the expected windows"),
    )
    .await
}
