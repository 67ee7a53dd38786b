//! Event time per source partition: windows do not depend on how a Kafka
//! topic's partitions interleave, nor on crashes.
//!
//! Three partitions carry events whose times run at the same pace but at
//! different points (partition 1 is 3 s behind partition 0, partition 2 is
//! 6 s behind), each in order within the declared 2-second delay. Events
//! keep arriving while the Eddy process is SIGKILLed and restarted three
//! times, so that after each restart the query reads a backlog. The
//! watermark is the minimum over the partitions, so no row is late and the
//! windows committed into PostgreSQL equal those PostgreSQL computes over
//! every produced row, however the epochs fell. The same topic read with
//! `watermark.policy = 'max_seen'` (Spark's rule: the fastest partition
//! moves the watermark) counts the slow partitions' rows as late.
//!
//! The second scenario stops one partition early: with
//! `watermark.idle_timeout` it stops holding the watermark back (also
//! across a restart), and every window still closes. The third reads
//! files: each file is a partition during the epoch that reads it.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka, produce_to};
use eddy_tests::{Progress, TestPostgres, execute, wait_until};
use tokio_postgres::Client;

use crate::{TestEddy, ensure_same_rows, query_status, wait_for_epoch, with_logs};

const PARTITIONS: i64 = 3;
/// Events per partition per round; a round covers 500 ms of event time.
const PER_ROUND: i64 = 50;
const STEP_MILLIS: i64 = 10;
/// `k` of the rows that close the last windows (left out of the checks).
const FLUSH_KEY: i64 = -1;

/// Round `round` of partition `p`: event times start `3 s × p` behind
/// partition 0 and are reversed in runs of 10 (out of order by 90 ms).
fn round(round: i64, partitions: &[i64]) -> Vec<(i64, i64, i64, i64)> {
    let mut rows = Vec::new();
    for &p in partitions {
        for j in 0..PER_ROUND {
            let i = round * PER_ROUND + j;
            let slot = (i / 10) * 10 + (9 - i % 10);
            let millis = 60_000 + slot * STEP_MILLIS - p * 3_000;
            let id = (i * PARTITIONS + p) + 1;
            rows.push((id, p, id % 5, millis));
        }
    }
    rows
}

fn ts_text(millis: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + millis)
        .expect("a valid time")
        .naive_utc();
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn messages(rows: &[(i64, i64, i64, i64)]) -> Vec<OutgoingMessage> {
    rows.iter()
        .map(|&(id, p, k, millis)| OutgoingMessage {
            partition: Some(p as i32),
            key: None,
            payload: format!(r#"{{"id": {id}, "k": {k}, "ts": "{}"}}"#, ts_text(millis)),
            timestamp_ms: None,
        })
        .collect()
}

/// Produces `rows` to Kafka and records them in PostgreSQL's `produced`.
async fn produce(bootstrap: &str, pg: &Client, rows: Vec<(i64, i64, i64, i64)>) -> Result<()> {
    let values: Vec<String> = rows
        .iter()
        .map(|&(id, p, k, millis)| format!("({id}, {p}, {k}, '{}')", ts_text(millis)))
        .collect();
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || produce_to(&bootstrap, "events", &messages(&rows)))
        .await??;
    execute(
        pg,
        &format!(
            "INSERT INTO produced (id, p, k, ts) VALUES {}",
            values.join(", ")
        ),
    )
    .await
}

/// `CREATE SOURCE name` over the topic, with a 2-second delay and the
/// connector `options` besides the usual ones.
fn source_sql(name: &str, kafka: &TestKafka, options: &str) -> String {
    format!(
        "CREATE SOURCE {name} (
            id BIGINT, k BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
         ) WITH (
            connector = 'kafka', topic = 'events',
            'properties.bootstrap.servers' = '{}',
            'scan.startup.mode' = 'earliest', format = 'json', {options}
         );",
        kafka.bootstrap_servers()
    )
}

/// Creates the topic, the record of what was produced, the source and the
/// window query into PostgreSQL.
async fn set_up(
    kafka: &TestKafka,
    pg: &TestPostgres,
    eddy: &TestEddy,
    source_options: &str,
) -> Result<Client> {
    kafka.create_topic("events", PARTITIONS as i32)?;
    let pg_client = pg.client().await?;
    execute(
        &pg_client,
        "CREATE TABLE produced (id BIGINT, p BIGINT, k BIGINT, ts TIMESTAMP)",
    )
    .await?;
    // Every partition has data before the query starts.
    produce(&kafka.bootstrap_servers(), &pg_client, round(0, &[0, 1, 2])).await?;
    execute(
        &eddy.client().await?,
        &format!(
            "{source}
             CREATE SINK windows_sink WITH (connector = 'postgres', url = '{url}',
                table = 'windows', create_table = 'true');
             CREATE STREAMING QUERY counts WITH (trigger = '100 milliseconds')
                AS INSERT INTO windows_sink
                SELECT window_start, k, count(*) AS n, max(id) AS top
                FROM TUMBLE(events, ts, INTERVAL '1' SECOND)
                GROUP BY window_start, k;",
            source = source_sql(
                "events",
                kafka,
                &format!("'max.records.per.epoch' = '150'{source_options}")
            ),
            url = pg.url(),
        ),
    )
    .await?;
    Ok(pg_client)
}

/// Produces rounds `rounds` of `partitions`, 150 ms apart, SIGKILLing and
/// restarting Eddy before the rounds in `kill_before`.
async fn produce_with_kills(
    kafka: &TestKafka,
    pg: &Client,
    eddy: &mut TestEddy,
    rounds: std::ops::Range<i64>,
    partitions: &[i64],
    kill_before: &[i64],
) -> Result<()> {
    let mut epoch = 0;
    for r in rounds {
        if kill_before.contains(&r) {
            // Killed mid-run, after some progress since the last start.
            epoch += 3;
            wait_for_epoch(&eddy.client().await?, "counts", epoch, true).await?;
            eddy.kill()?;
            // Data keeps arriving while Eddy is down.
            produce(&kafka.bootstrap_servers(), pg, round(r, partitions)).await?;
            eddy.start_again().await?;
            continue;
        }
        produce(&kafka.bootstrap_servers(), pg, round(r, partitions)).await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Ok(())
}

/// Far-future rows on each partition in `partitions` close every window of
/// the produced rows; then, once the watermark has passed them, checks the
/// windows in PostgreSQL against PostgreSQL's own GROUP BY over
/// `produced`. The far-future rows keep coming every 300 ms meanwhile, so
/// the source is never silent for its idle timeout: only the partitions'
/// own watermarks can close the windows.
async fn close_and_check(
    kafka: &TestKafka,
    pg: &Client,
    eddy: &TestEddy,
    partitions: &[i64],
) -> Result<()> {
    let flush: Vec<_> = partitions
        .iter()
        .map(|&p| (-(p + 1), p, FLUSH_KEY, 3_600_000))
        .collect();
    let bootstrap = kafka.bootstrap_servers();
    let keep_alive = tokio::spawn(async move {
        loop {
            let (bootstrap, flush) = (bootstrap.clone(), flush.clone());
            tokio::task::spawn_blocking(move || {
                produce_to(&bootstrap, "events", &messages(&flush))
            })
            .await??;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        #[allow(unreachable_code)]
        anyhow::Ok(())
    });
    let checked = check_windows(pg, eddy).await;
    keep_alive.abort();
    checked
}

async fn check_windows(pg: &Client, eddy: &TestEddy) -> Result<()> {
    let expected = "SELECT date_bin('1 second', ts, timestamp '1970-01-01') AS window_start,
                           k, count(*) AS n, max(id) AS top
                    FROM produced GROUP BY 1, 2";
    let actual = format!("SELECT window_start, k, n, top FROM windows WHERE k <> {FLUSH_KEY}");
    // Once the watermark has passed the last produced window, the epoch
    // that emitted it is committed: compare then (a missing window fails
    // at once rather than by a timeout).
    // (The produced rows span the first two minutes; the far-future rows
    // are at one hour.)
    let closed = ts_text(600_000);
    let client = eddy.client().await?;
    wait_until(
        Duration::from_secs(120),
        "the watermark to pass every produced window",
        || async {
            let seen = watermark_of(&client, "counts").await?;
            Ok(match seen {
                Some(w) if w >= closed => Progress::Done(()),
                other => Progress::Pending(format!("watermark {other:?}")),
            })
        },
    )
    .await?;
    ensure_same_rows(pg, expected, &actual, "windows after the kills").await?;
    let status = query_status(&eddy.client().await?, "counts")
        .await?
        .expect("counts is listed");
    ensure!(
        status.late_rows == 0,
        "rows in order within the delay of their own partition counted late: {status:?}"
    );
    Ok(())
}

/// The `watermark` column of query `name` in `SHOW STREAMING QUERIES`.
async fn watermark_of(client: &Client, name: &str) -> Result<Option<String>> {
    for row in eddy_tests::query_rows(client, "SHOW STREAMING QUERIES").await? {
        if row.try_get("name")? == Some(name) {
            return Ok(row.try_get("watermark")?.map(str::to_owned));
        }
    }
    Ok(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_with_sigkills_equal_postgres_over_all_rows() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = async {
        let pg_client = set_up(&kafka, &pg, &eddy, "").await?;
        // The same topic under Spark's rule, into an Eddy table.
        execute(
            &eddy.client().await?,
            &format!(
                "{}
                 CREATE TABLE max_seen_windows (window_start TIMESTAMP, n BIGINT);
                 CREATE SINK max_seen_sink WITH (connector = 'table', table = 'max_seen_windows');
                 CREATE STREAMING QUERY max_seen_counts WITH (trigger = '100 milliseconds')
                    AS INSERT INTO max_seen_sink
                    SELECT window_start, count(*) AS n
                    FROM TUMBLE(events_max_seen, ts, INTERVAL '1' SECOND)
                    GROUP BY window_start;",
                source_sql("events_max_seen", &kafka, "'watermark.policy' = 'max_seen'")
            ),
        )
        .await?;
        produce_with_kills(
            &kafka,
            &pg_client,
            &mut eddy,
            1..40,
            &[0, 1, 2],
            &[8, 18, 28],
        )
        .await?;
        close_and_check(&kafka, &pg_client, &eddy, &[0, 1, 2]).await?;
        let spark = query_status(&eddy.client().await?, "max_seen_counts")
            .await?
            .expect("max_seen_counts is listed");
        ensure!(
            spark.late_rows > 0,
            "under max_seen the slow partitions' rows are late: {spark:?}"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, Some(&pg))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_partition_stops_holding_the_watermark_back() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = async {
        let pg_client = set_up(
            &kafka,
            &pg,
            &eddy,
            ", 'watermark.idle_timeout' = '1 second'",
        )
        .await?;
        // Partition 2 had round 0 only: after a second without data it no
        // longer holds the watermark back, before and after the kill.
        produce_with_kills(&kafka, &pg_client, &mut eddy, 1..30, &[0, 1], &[20]).await?;
        close_and_check(&kafka, &pg_client, &eddy, &[0, 1]).await
    }
    .await;
    with_logs(result, &eddy, Some(&pg))
}

/// A file of `count` events one per 100 ms from second `first` on.
fn file_events(first: i64, count: i64) -> String {
    (0..count)
        .map(|i| {
            let ts = ts_text(first * 1000 + i * 100);
            format!("{{\"id\": {}, \"ts\": \"{ts}\"}}\n", first * 1000 + i)
        })
        .collect()
}

/// Each file is a partition while it is read. Files `a` (seconds 0–9) and
/// `b` (20–29) are read in one epoch: the watermark after it is the
/// minimum over them, so file `c` (12–17), published later, is on time;
/// under `max_seen` it is late (a whole file, 60 rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_each_hold_the_watermark_back_while_read() -> Result<()> {
    let input = tempfile::tempdir()?;
    let eddy = TestEddy::start().await?;
    let result = async {
        let publish = |name: &str, contents: String| -> Result<()> {
            let tmp = input.path().join(format!("{name}.tmp"));
            std::fs::write(&tmp, contents)?;
            Ok(std::fs::rename(tmp, input.path().join(name))?)
        };
        publish("a.json", file_events(0, 100))?;
        publish("b.json", file_events(20, 100))?;
        let client = eddy.client().await?;
        for (name, policy) in [("by_file", "min_partition"), ("max_seen", "max_seen")] {
            execute(
                &client,
                &format!(
                    "CREATE SOURCE {name} (id BIGINT, ts TIMESTAMP,
                        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                     WITH (connector = 'file', path = '{dir}', format = 'json',
                        'watermark.policy' = '{policy}');
                     CREATE TABLE {name}_windows (window_start TIMESTAMP, n BIGINT);
                     CREATE SINK {name}_sink WITH (connector = 'table', table = '{name}_windows');
                     CREATE STREAMING QUERY {name}_counts WITH (trigger = '100 milliseconds')
                        AS INSERT INTO {name}_sink
                        SELECT window_start, count(*) AS n
                        FROM TUMBLE({name}, ts, INTERVAL '1' SECOND)
                        GROUP BY window_start;",
                    dir = input.path().display(),
                ),
            )
            .await?;
        }
        let read = |rows: i64| {
            let client = &client;
            async move {
                for query in ["by_file_counts", "max_seen_counts"] {
                    wait_until(Duration::from_secs(60), "files read", || async {
                        Ok(match query_status(client, query).await? {
                            Some(q) if q.input_rows >= rows => Progress::Done(()),
                            seen => Progress::Pending(format!("{seen:?}")),
                        })
                    })
                    .await?;
                }
                anyhow::Ok(())
            }
        };
        read(200).await?;
        publish("c.json", file_events(12, 60))?;
        // The far-future file in an epoch of its own (read with `c`, it
        // would not move the watermark past `c`).
        read(260).await?;
        publish("d.json", file_events(3_600, 1))?;
        wait_until(Duration::from_secs(60), "every window closed", || async {
            Ok(match watermark_of(&client, "by_file_counts").await? {
                Some(w) if w >= ts_text(600_000) => Progress::Done(()),
                other => Progress::Pending(format!("watermark {other:?}")),
            })
        })
        .await?;
        let mut expected: Vec<Vec<Option<String>>> = (0..10)
            .chain(12..18)
            .chain(20..30)
            .map(|s| {
                let start = ts_text(s * 1000);
                vec![Some(start[..19].to_string()), Some("10".to_string())]
            })
            .collect();
        expected.sort();
        let windows = eddy_tests::query_values(
            &client,
            "SELECT window_start, n FROM by_file_windows
             WHERE window_start < TIMESTAMP '2026-01-01 00:10:00' ORDER BY window_start",
        )
        .await?;
        ensure!(windows == expected, "by_file windows: {windows:?}");
        let by_file = query_status(&client, "by_file_counts").await?;
        ensure!(
            by_file.as_ref().is_some_and(|q| q.late_rows == 0),
            "{by_file:?}"
        );
        let max_seen = query_status(&client, "max_seen_counts").await?;
        ensure!(
            max_seen.as_ref().is_some_and(|q| q.late_rows == 60),
            "under max_seen file c is late: {max_seen:?}"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
