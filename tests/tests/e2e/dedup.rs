//! `DISTINCT ON` and `DISTINCT` over a stream, end to end, against the same
//! deduplication computed by PostgreSQL.
//!
//! About 10,000 JSON events in one Kafka partition, produced before the
//! queries start and read 800 per epoch, so Eddy epoch e (from 1) reads
//! offsets [800(e-1), 800e). The events ([`events`]):
//!
//! - 5,000 events, one every 25 ms of event time, each sent 1 to 3 times;
//!   the copies of an event are within 2 s of each other in event time
//!   (about a third carry the very same time) and each arrives up to 3 s
//!   after the event's first time, so the stream is out of order by up to
//!   5 s;
//! - some events sent again a minute later with their old event time, and
//!   stragglers (ids of their own, sent once or twice) 45 s behind: late
//!   for a 10-second watermark delay.
//!
//! Every event carries `seq`, its offset. Then
//!
//! ```text
//! watermark(e) = max(ts of events in epochs < e) - 10 s      (none for e = 1)
//! late(event)  = ts <= watermark(its epoch)
//! ```
//!
//! and, since on-time copies are never more than 2 s apart while the
//! watermark stays 5 s behind any on-time event, a key is never forgotten
//! between its copies, so the answers are exact: `DISTINCT ON (id)` keeps
//! the first on-time copy of each id (`DISTINCT ON (id) … ORDER BY id, seq`
//! in PostgreSQL), `DISTINCT user_id, ts` each on-time pair once, the
//! late events are counted and (with `late_rows = 'table'`) stored with
//! their epoch, and after the last epoch only the keys ahead of the final
//! watermark are still held.
//!
//! `distinct_on_survives_crashes` runs the `DISTINCT ON` query with the
//! server made to die at three points of three epochs (each with ids whose
//! first copy was read before it and a duplicate after it) and SIGKILLed
//! once: the keys seen must survive, so no duplicate gets through.
//!
//! The refusal test: DISTINCT over a source without a watermark fails at
//! CREATE with the reason. `DISTINCT user_id` (the event time not
//! selected) deduplicates within the watermark: a hand-made case checks a
//! key is forgotten, and passed on again, once the watermark passes it.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::{
    DEFAULT_WAIT, Progress, TestPostgres, execute, query_i64, query_rows, query_values, wait_until,
};
use tokio_postgres::Client;

use crate::modes::{ensure_rows_equal, expect_refusal};
use crate::{TestEddy, query_status, wait_for_epoch, wait_for_status, with_logs};

const BASE_EVENTS: i64 = 5_000;
const RECORDS_PER_EPOCH: i64 = 800;
/// 2026-01-01 00:00:00 UTC in milliseconds since 1970.
const START_MILLIS: i64 = 1_767_225_600_000;

/// One message as produced, in offset order.
#[derive(Debug, Clone)]
struct Event {
    seq: i64,
    id: i64,
    user_id: i64,
    /// Milliseconds after the start.
    ts: i64,
    /// Built to be late (a resend a minute on, or a straggler).
    late: bool,
}

/// SplitMix64: a deterministic hash for the test data.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in `[0, n)`, from `(a, b)`.
fn draw(a: i64, b: i64, n: i64) -> i64 {
    (mix(mix(a as u64) ^ b as u64) % n as u64) as i64
}

/// The messages in the order they are produced (see the module docs).
fn events() -> Vec<Event> {
    // (arrival time, tie-breaker, event) sorted by arrival.
    let mut sent: Vec<(i64, i64, Event)> = Vec::new();
    let mut push = |arrival: i64, id: i64, user_id: i64, ts: i64, late: bool| {
        let tie = sent.len() as i64;
        sent.push((
            arrival,
            tie,
            Event {
                seq: 0,
                id,
                user_id,
                ts,
                late,
            },
        ));
    };
    for id in 0..BASE_EVENTS {
        let base = id * 25;
        let user_id = draw(id, 1, 40);
        let copies = 1 + draw(id, 2, 3);
        for copy in 0..copies {
            let shift = match copy {
                0 => 0,
                _ if draw(id, 10 + copy, 3) == 0 => 0,
                _ => 1 + draw(id, 20 + copy, 2_000),
            };
            push(
                base + draw(id, 30 + copy, 3_001),
                id,
                user_id,
                base + shift,
                false,
            );
        }
        // Sent again a minute later with its old event time.
        if (800..2_200).contains(&id) && draw(id, 3, 30) == 0 {
            push(base + 60_000 + draw(id, 4, 3_001), id, user_id, base, true);
        }
    }
    for m in 0..60 {
        let id = 100_000 + m;
        let arrival = 30_000 + m * 1_500;
        let ts = arrival - 45_000;
        push(arrival, id, draw(id, 1, 40), ts, true);
        if m % 3 == 0 {
            push(arrival + 500, id, draw(id, 1, 40), ts, true);
        }
    }
    sent.sort_by_key(|(arrival, tie, _)| (*arrival, *tie));
    sent.into_iter()
        .enumerate()
        .map(|(seq, (_, _, e))| Event {
            seq: seq as i64,
            ..e
        })
        .collect()
}

fn timestamp(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(START_MILLIS + millis)
        .expect("in range")
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

fn messages(events: &[Event]) -> Vec<OutgoingMessage> {
    events
        .iter()
        .map(|e| OutgoingMessage {
            partition: Some(0),
            key: None,
            payload: format!(
                r#"{{"id": {}, "user_id": {}, "ts": "{}", "seq": {}}}"#,
                e.id,
                e.user_id,
                timestamp(e.ts),
                e.seq
            ),
            timestamp_ms: None,
        })
        .collect()
}

fn events_source(kafka: &TestKafka) -> String {
    format!(
        "CREATE SOURCE events (
            id BIGINT, user_id BIGINT, ts TIMESTAMP, seq BIGINT,
            WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
         ) WITH (
            connector = 'kafka', topic = 'events',
            'properties.bootstrap.servers' = '{}',
            'scan.startup.mode' = 'earliest', format = 'json',
            'max.records.per.epoch' = '{RECORDS_PER_EPOCH}'
         );",
        kafka.bootstrap_servers()
    )
}

/// Loads the produced events into PostgreSQL as the temporary table `sent`,
/// each with its epoch, the epoch's watermark and whether it is late.
async fn load_sent(pg: &Client, events: &[Event]) -> Result<()> {
    execute(
        pg,
        "SET TimeZone = 'UTC';
         CREATE TEMP TABLE produced (seq BIGINT, id BIGINT, user_id BIGINT, ts TIMESTAMP)",
    )
    .await?;
    for chunk in events.chunks(1_000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|e| {
                format!(
                    "({}, {}, {}, '{}')",
                    e.seq,
                    e.id,
                    e.user_id,
                    timestamp(e.ts)
                )
            })
            .collect();
        execute(
            pg,
            &format!("INSERT INTO produced VALUES {}", values.join(", ")),
        )
        .await?;
    }
    execute(
        pg,
        &format!(
            "CREATE TEMP TABLE sent AS
             WITH rows AS (
                 SELECT *, seq / {RECORDS_PER_EPOCH} + 1 AS epoch FROM produced
             ), watermarks AS (
                 SELECT epoch,
                        max(max(ts)) OVER (ORDER BY epoch ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                            - interval '10 seconds' AS watermark
                 FROM rows GROUP BY epoch
             )
             SELECT r.*, w.watermark, coalesce(r.ts <= w.watermark, false) AS late
             FROM rows r JOIN watermarks w USING (epoch);"
        ),
    )
    .await?;
    // The data is built so that exactly the events meant to be late are.
    let late = query_i64(pg, "SELECT count(*) FROM sent WHERE late").await?;
    let built_late = events.iter().filter(|e| e.late).count() as i64;
    ensure!(
        late == built_late,
        "{late} events are late for the watermark, {built_late} were built to be late"
    );
    Ok(())
}

const FIRST_PER_ID: &str = "SELECT DISTINCT ON (id) id, user_id, ts, seq
                            FROM sent WHERE NOT late ORDER BY id, seq";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_and_distinct_on_match_batch_computation() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = dedup_scenario(&kafka, &pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn dedup_scenario(kafka: &TestKafka, pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let events = events();
    let total = events.len() as i64;
    kafka.create_topic("events", 1)?;
    kafka.produce("events", &messages(&events))?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{source}
             CREATE SINK first_sink WITH (connector = 'postgres', url = '{url}',
                table = 'first_events', create_table = 'true');
             CREATE SINK pairs_sink WITH (connector = 'postgres', url = '{url}',
                table = 'distinct_pairs', create_table = 'true');
             CREATE STREAMING QUERY first_per_id
                WITH (trigger = 'available_now', late_rows = 'table')
                AS INSERT INTO first_sink SELECT DISTINCT ON (id) id, user_id, ts, seq FROM events;
             CREATE STREAMING QUERY pairs
                WITH (trigger = 'available_now')
                AS INSERT INTO pairs_sink SELECT DISTINCT user_id, ts FROM events;",
            source = events_source(kafka),
            url = pg.url(),
        ),
    )
    .await?;
    let bound = Duration::from_secs(120);
    let first = wait_for_status(&client, "first_per_id", "finished", bound).await?;
    let pairs = wait_for_status(&client, "pairs", "finished", bound).await?;

    let pg_client = pg.client().await?;
    load_sent(&pg_client, &events).await?;
    let duplicates = query_i64(
        &pg_client,
        "SELECT count(*) - count(DISTINCT id) FROM sent WHERE NOT late",
    )
    .await?;
    ensure!(duplicates > 1_000, "only {duplicates} on-time duplicates");
    ensure_rows_equal(
        &pg_client,
        FIRST_PER_ID,
        "SELECT id::bigint, user_id::bigint, ts::timestamp, seq::bigint FROM first_events",
        "first_events (DISTINCT ON (id))",
    )
    .await?;
    let same_pair = query_i64(
        &pg_client,
        "SELECT count(*) - count(DISTINCT (user_id, ts)) FROM sent WHERE NOT late",
    )
    .await?;
    ensure!(
        same_pair > 500,
        "only {same_pair} repeated (user_id, ts) pairs"
    );
    ensure_rows_equal(
        &pg_client,
        "SELECT DISTINCT user_id, ts FROM sent WHERE NOT late",
        "SELECT user_id::bigint, ts::timestamp FROM distinct_pairs",
        "distinct_pairs (DISTINCT user_id, ts)",
    )
    .await?;

    let late = query_i64(&pg_client, "SELECT count(*) FROM sent WHERE late").await?;
    let kept = query_i64(
        &pg_client,
        &format!("SELECT count(*) FROM ({FIRST_PER_ID}) f"),
    )
    .await?;
    let pair_count = query_i64(
        &pg_client,
        "SELECT count(*) FROM (SELECT DISTINCT user_id, ts FROM sent WHERE NOT late) p",
    )
    .await?;
    ensure!(
        (first.input_rows, first.output_rows, first.late_rows) == (total, kept, late),
        "first_per_id: expected {total} input rows, {kept} output rows, {late} late rows: {first:?}"
    );
    ensure!(
        (pairs.input_rows, pairs.output_rows, pairs.late_rows) == (total, pair_count, late),
        "pairs: expected {total} input rows, {pair_count} output rows, {late} late rows: {pairs:?}"
    );
    check_late_table(&client, &pg_client).await?;
    check_state_forgotten(&client, &pg_client).await
}

/// After the last epoch each query holds only the keys whose latest event
/// time is ahead of the watermark that epoch ended with: the others were
/// forgotten.
async fn check_state_forgotten(eddy: &Client, pg: &Client) -> Result<()> {
    let final_watermark = "(SELECT max(ts) - interval '10 seconds' FROM sent)";
    let ids = query_i64(
        pg,
        &format!(
            "SELECT count(*) FROM (SELECT id FROM sent WHERE NOT late GROUP BY id
                                   HAVING max(ts) > {final_watermark}) k"
        ),
    )
    .await?;
    let pairs = query_i64(
        pg,
        &format!(
            "SELECT count(DISTINCT (user_id, ts)) FROM sent
             WHERE NOT late AND ts > {final_watermark}"
        ),
    )
    .await?;
    let all_ids = query_i64(pg, "SELECT count(DISTINCT id) FROM sent WHERE NOT late").await?;
    ensure!(
        0 < ids && ids * 10 < all_ids,
        "the scenario does not tell kept keys from forgotten ones: {ids} of {all_ids}"
    );
    for (query, expected) in [("first_per_id", ids), ("pairs", pairs)] {
        let rows = query_rows(eddy, "SHOW STREAMING QUERIES").await?;
        let row = rows
            .iter()
            .find(|r| r.get("name") == Some(query))
            .with_context(|| format!("{query} is not listed"))?;
        let state: i64 = row.get("state_rows").unwrap_or("-1").parse()?;
        ensure!(
            state == expected,
            "{query} holds {state} keys after the last epoch, expected the {expected} \
             whose latest event time is ahead of the final watermark"
        );
    }
    Ok(())
}

/// `first_per_id_late_rows` holds exactly the late events, with their epoch.
async fn check_late_table(eddy: &Client, pg: &Client) -> Result<()> {
    let in_eddy = query_values(
        eddy,
        "SELECT seq, id, epoch FROM first_per_id_late_rows ORDER BY seq",
    )
    .await?;
    let expected = query_values(
        pg,
        "SELECT seq::text, id::text, epoch::text FROM sent WHERE late ORDER BY sent.seq",
    )
    .await?;
    ensure!(
        in_eddy == expected,
        "first_per_id_late_rows holds {} rows, {} events are late; first (seq, id, epoch): {:?} vs {:?}",
        in_eddy.len(),
        expected.len(),
        in_eddy.iter().zip(&expected).find(|(a, b)| a != b),
        (in_eddy.first(), expected.first())
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Crashes
// ---------------------------------------------------------------------------

/// The epochs the server is made to die at, with the point in the epoch.
const FAULTS: [(&str, i64); 3] = [("after_sink", 4), ("before_sink", 7), ("after_commit", 9)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_on_survives_crashes() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = crash_scenario(&kafka, &pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn crash_scenario(kafka: &TestKafka, pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    let events = events();
    let total = events.len() as i64;
    kafka.create_topic("events", 1)?;
    kafka.produce("events", &messages(&events))?;
    let pg_client = pg.client().await?;
    load_sent(&pg_client, &events).await?;
    for (_, epoch) in FAULTS {
        let spanning = query_i64(
            &pg_client,
            &format!(
                "SELECT count(DISTINCT a.id) FROM sent a JOIN sent b USING (id)
                 WHERE NOT a.late AND NOT b.late AND a.epoch <= {epoch} AND b.epoch > {epoch}"
            ),
        )
        .await?;
        ensure!(
            spanning > 10,
            "only {spanning} ids have copies on both sides of epoch {epoch}"
        );
    }

    let fault = |(point, epoch): (&str, i64)| format!("{point}@{epoch}");
    eddy.set_env("EDDY_FAULT", &fault(FAULTS[0]));
    eddy.stop().await?;
    eddy.start_again().await?;
    execute(
        &eddy.client().await?,
        &format!(
            "{source}
             CREATE SINK first_sink WITH (connector = 'postgres', url = '{url}',
                table = 'first_events', create_table = 'true');
             CREATE STREAMING QUERY first_per_id
                WITH (trigger = '100 milliseconds', late_rows = 'table',
                      'checkpoint.snapshot_every' = '4')
                AS INSERT INTO first_sink SELECT DISTINCT ON (id) id, user_id, ts, seq FROM events;",
            source = events_source(kafka),
            url = pg.url(),
        ),
    )
    .await?;
    for next in &FAULTS[1..] {
        let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
        ensure!(
            !status.success(),
            "the server exited cleanly instead of at the fault"
        );
        eddy.set_env("EDDY_FAULT", &fault(*next));
        eddy.start_again().await?;
    }
    let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
    ensure!(
        !status.success(),
        "the server exited cleanly instead of at the fault"
    );

    eddy.clear_env();
    eddy.start_again().await?;
    wait_for_epoch(&eddy.client().await?, "first_per_id", 10, true).await?;
    eddy.kill()?;
    eddy.start_again().await?;

    let client = eddy.client().await?;
    let what = format!("first_per_id to read all {total} events");
    let status = wait_until(DEFAULT_WAIT, &what, || async {
        match query_status(&client, "first_per_id").await? {
            Some(q) if q.input_rows >= total => Ok(Progress::Done(q)),
            Some(q) => {
                ensure!(q.status != "failed", "first_per_id failed: {q:?}");
                Ok(Progress::Pending(format!("{q:?}")))
            }
            None => Ok(Progress::Pending("not listed".into())),
        }
    })
    .await?;

    ensure_rows_equal(
        &pg_client,
        FIRST_PER_ID,
        "SELECT id::bigint, user_id::bigint, ts::timestamp, seq::bigint FROM first_events",
        "first_events (DISTINCT ON (id)) after the crashes",
    )
    .await?;
    let late = query_i64(&pg_client, "SELECT count(*) FROM sent WHERE late").await?;
    let kept = query_i64(
        &pg_client,
        &format!("SELECT count(*) FROM ({FIRST_PER_ID}) f"),
    )
    .await?;
    ensure!(
        (status.input_rows, status.output_rows, status.late_rows) == (total, kept, late),
        "first_per_id after the crashes: expected {total} input rows, {kept} output rows, \
         {late} late rows: {status:?}"
    );
    check_late_table(&client, &pg_client).await
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

/// Sources with and without a watermark, and a sink that discards.
const REFUSAL_SETUP: &str = "
    CREATE SOURCE stamped (id BIGINT, user_id BIGINT, ts TIMESTAMP,
        WATERMARK FOR ts AS ts - INTERVAL '10' SECOND)
        WITH (connector = 'datagen', 'number.of.rows' = '100');
    CREATE SOURCE unstamped (id BIGINT, user_id BIGINT, ts TIMESTAMP)
        WITH (connector = 'datagen', 'number.of.rows' = '100');
    CREATE SINK discard WITH (connector = 'blackhole');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_over_a_source_without_watermark_is_refused() -> Result<()> {
    let cases: [(&str, &[&str]); 2] = [
        (
            "SELECT DISTINCT user_id, ts FROM unstamped",
            &["distinct", "watermark", "unstamped"],
        ),
        (
            "SELECT DISTINCT ON (id) id, user_id, ts FROM unstamped",
            &["distinct", "watermark", "unstamped"],
        ),
    ];
    expect_refusals(&cases).await
}

/// `SELECT DISTINCT user_id` (the event time not among the selected
/// columns) deduplicates within the watermark, like Spark's
/// `dropDuplicatesWithinWatermark`: a key is forgotten once the watermark
/// passes the latest event time it was seen with, and is then passed on
/// again. Two records per epoch, a 10 s delay:
///
/// ```text
/// epoch 1: user 1 @ 00:00:00, user 1 @ 00:00:02   → 1          (watermark after: none → 23:59:52)
/// epoch 2: user 2 @ 00:01:00, user 2 @ 00:01:00   → 2          (after: 00:00:50; user 1 forgotten)
/// epoch 3: user 1 @ 00:01:01, user 3 @ 00:00:40   → 1          (user 3 is late: 00:00:40 ≤ 00:00:50)
/// epoch 4: user 2 @ 00:01:03, user 1 @ 00:01:05   → nothing    (both still remembered)
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_without_the_event_time_forgets_keys_behind_the_watermark() -> Result<()> {
    let kafka = TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = async {
        kafka.create_topic("visits", 1)?;
        let visits = [
            (1, "00:00:00"),
            (1, "00:00:02"),
            (2, "00:01:00"),
            (2, "00:01:00"),
            (1, "00:01:01"),
            (3, "00:00:40"),
            (2, "00:01:03"),
            (1, "00:01:05"),
        ];
        let messages: Vec<OutgoingMessage> = visits
            .iter()
            .map(|(user, time)| OutgoingMessage {
                partition: Some(0),
                key: None,
                payload: format!(r#"{{"user_id": {user}, "ts": "2026-01-01 {time}"}}"#),
                timestamp_ms: None,
            })
            .collect();
        kafka.produce("visits", &messages)?;
        let client = eddy.client().await?;
        execute(
            &client,
            &format!(
                "CREATE SOURCE visits (user_id BIGINT, ts TIMESTAMP,
                    WATERMARK FOR ts AS ts - INTERVAL '10' SECOND)
                 WITH (connector = 'kafka', topic = 'visits',
                    'properties.bootstrap.servers' = '{}',
                    'scan.startup.mode' = 'earliest', format = 'json',
                    'max.records.per.epoch' = '2');
                 CREATE TABLE visitors (user_id BIGINT);
                 CREATE SINK visitors_sink WITH (connector = 'table', table = 'visitors');
                 CREATE STREAMING QUERY distinct_visitors
                    WITH (trigger = '10 milliseconds', late_rows = 'table')
                    AS INSERT INTO visitors_sink SELECT DISTINCT user_id FROM visits;",
                kafka.bootstrap_servers()
            ),
        )
        .await?;
        wait_for_epoch(&client, "distinct_visitors", 4, true).await?;
        let status = query_status(&client, "distinct_visitors")
            .await?
            .context("distinct_visitors is not shown")?;
        let rows = query_values(
            &client,
            "SELECT user_id FROM visitors ORDER BY user_id",
        )
        .await?;
        let users: Vec<String> = rows.into_iter().filter_map(|r| r[0].clone()).collect();
        ensure!(
            users == ["1", "1", "2"],
            "DISTINCT user_id emitted {users:?}; expected user 1 twice (forgotten behind the watermark) and user 2 once; status {status:?}"
        );
        ensure!(status.late_rows == 1, "late rows: {status:?}");
        let late = query_values(&client, "SELECT user_id FROM distinct_visitors_late_rows").await?;
        ensure!(
            late == [vec![Some("3".to_string())]],
            "late-rows table holds {late:?}; expected user 3"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// On a fresh server: each of `cases` (a SELECT and the words its refusal
/// must mention) is refused at CREATE, and the valid forms are accepted.
async fn expect_refusals(cases: &[(&str, &[&str])]) -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        execute(&client, REFUSAL_SETUP).await?;
        let mut failures = Vec::new();
        for (i, (select, words)) in cases.iter().enumerate() {
            let query = format!("refused_{i}");
            let sql = format!("CREATE STREAMING QUERY {query} AS INSERT INTO discard {select}");
            if let Err(e) = expect_refusal(&client, &sql, &query, words).await {
                failures.push(format!("{select}: {e:#}"));
            }
        }
        ensure!(
            failures.is_empty(),
            "DISTINCT queries not refused as expected:\n{}",
            failures.join("\n")
        );
        execute(
            &client,
            "CREATE STREAMING QUERY accepted_on AS INSERT INTO discard
                SELECT DISTINCT ON (id) id, user_id, ts FROM stamped;
             CREATE STREAMING QUERY accepted_pairs AS INSERT INTO discard
                SELECT DISTINCT user_id, ts FROM stamped;",
        )
        .await
    }
    .await;
    with_logs(result, &eddy, None)
}
