//! Outages of the outside world: the query shows the error, retries, and
//! catches up when the system is back, with nothing lost or doubled.
//!
//! - PostgreSQL shut down in the middle of a run (datagen → PostgreSQL):
//!   the sink's retries show in `error`, and once PostgreSQL is back every
//!   id arrives exactly once.
//! - The Kafka broker down in the middle of a run (Kafka → PostgreSQL): the
//!   source's failures show in `error`; events produced after the broker is
//!   back are read, and the table holds every event once.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::{DEFAULT_WAIT, Progress, TestPostgres, execute, query_i64, wait_until};
use tokio_postgres::Client;

use crate::{TestEddy, query_status, wait_for_status, with_logs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_mid_run_then_back() -> Result<()> {
    let mut pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = postgres_scenario(&mut pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn postgres_scenario(pg: &mut TestPostgres, eddy: &TestEddy) -> Result<()> {
    const ROWS: i64 = 30_000;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE ids (id BIGINT) WITH (connector = 'datagen',
                'rows.per.second' = '5000', 'number.of.rows' = '{ROWS}',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '0');
             CREATE SINK pg WITH (connector = 'postgres', url = '{}', table = 'ids',
                create_table = 'true');
             CREATE STREAMING QUERY copy_ids WITH (trigger = '100 milliseconds')
                AS INSERT INTO pg SELECT id FROM ids;",
            pg.url()
        ),
    )
    .await?;
    wait_until(Duration::from_secs(60), "rows in PostgreSQL", || async {
        let n = query_i64(&pg.client().await?, "SELECT count(*) FROM ids").await?;
        Ok(if n > 0 {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{n} rows"))
        })
    })
    .await?;
    pg.shut_down().await?;
    let error = wait_for_error(&client, "copy_ids").await?;
    pg.start_again().await?;
    let done = wait_for_status(&client, "copy_ids", "finished", DEFAULT_WAIT).await?;
    ensure!(
        done.error.is_none(),
        "the error stayed after recovery: {done:?}"
    );

    let pg_client = pg.client().await?;
    let rows = query_i64(&pg_client, "SELECT count(*) FROM ids").await?;
    let distinct = query_i64(&pg_client, "SELECT count(DISTINCT id) FROM ids").await?;
    let max = query_i64(&pg_client, "SELECT max(id) FROM ids").await?;
    ensure!(
        (rows, distinct, max) == (ROWS, ROWS, ROWS - 1),
        "after the outage ({error}): {rows} rows, {distinct} distinct, max {max}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_down_mid_run_then_back() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = kafka_scenario(&kafka, &pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

fn id_messages(ids: std::ops::Range<i64>) -> Vec<OutgoingMessage> {
    ids.map(|id| OutgoingMessage {
        partition: Some((id % 3) as i32),
        key: None,
        payload: format!(r#"{{"id": {id}}}"#),
        timestamp_ms: None,
    })
    .collect()
}

async fn kafka_scenario(kafka: &TestKafka, pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    kafka.create_topic("ids", 3)?;
    kafka.produce("ids", &id_messages(0..600))?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE ids (id BIGINT) WITH (connector = 'kafka', topic = 'ids',
                'properties.bootstrap.servers' = '{}', 'scan.startup.mode' = 'earliest',
                format = 'json', 'read.timeout' = '2 seconds');
             CREATE SINK pg WITH (connector = 'postgres', url = '{}', table = 'ids',
                create_table = 'true');
             CREATE STREAMING QUERY copy_ids WITH (trigger = '100 milliseconds')
                AS INSERT INTO pg SELECT id FROM ids;",
            kafka.bootstrap_servers(),
            pg.url()
        ),
    )
    .await?;
    let pg_client = pg.client().await?;
    wait_for_rows(&pg_client, 600).await?;
    kafka.broker_down()?;
    let error = wait_for_error(&client, "copy_ids").await?;
    kafka.broker_up()?;
    kafka.produce("ids", &id_messages(600..1500))?;
    wait_for_rows(&pg_client, 1500).await?;
    let distinct = query_i64(&pg_client, "SELECT count(DISTINCT id) FROM ids").await?;
    let rows = query_i64(&pg_client, "SELECT count(*) FROM ids").await?;
    ensure!(
        (rows, distinct) == (1500, 1500),
        "after the broker outage ({error}): {rows} rows, {distinct} distinct ids"
    );
    let status = query_status(&client, "copy_ids").await?;
    ensure!(
        status.as_ref().is_some_and(|q| q.status == "running"),
        "copy_ids after the outage: {status:?}"
    );
    Ok(())
}

/// Waits until the query shows an error while still retrying (not failed).
async fn wait_for_error(client: &Client, query: &str) -> Result<String> {
    wait_until(
        Duration::from_secs(90),
        "the outage to show in SHOW STREAMING QUERIES",
        || async {
            match query_status(client, query).await? {
                Some(q) => {
                    ensure!(
                        q.status != "failed",
                        "{query} failed instead of retrying: {q:?}"
                    );
                    Ok(match q.error {
                        Some(e) => Progress::Done(e),
                        None => Progress::Pending(format!("{q:?}")),
                    })
                }
                None => Ok(Progress::Pending("not listed".into())),
            }
        },
    )
    .await
}

async fn wait_for_rows(pg: &Client, n: i64) -> Result<()> {
    wait_until(
        Duration::from_secs(120),
        &format!("{n} rows in PostgreSQL"),
        || async {
            let rows = query_i64(pg, "SELECT count(*) FROM ids").await?;
            ensure!(
                rows <= n,
                "{rows} rows in PostgreSQL, more than the {n} produced"
            );
            Ok(if rows == n {
                Progress::Done(())
            } else {
                Progress::Pending(format!("{rows} rows"))
            })
        },
    )
    .await
}
