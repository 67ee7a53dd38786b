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
//!
//! The other tests, each with its own cluster and server:
//!
//! - `kafka_csv_messages_to_windows_in_postgres`: the same over CSV messages
//!   (quoted fields holding the delimiter and quotes, empty fields as NULL,
//!   two timestamp forms) in 3 partitions; every row and every closed window
//!   in PostgreSQL are compared with what the test computes from the
//!   messages it produced.
//! - `kafka_malformed_messages_under_each_on_error_policy`: one topic per
//!   policy, malformed messages between valid ones. `fail` stops its query
//!   with an error naming the partition and offset while the server and the
//!   other queries go on; `skip` and `dead_letter` deliver every valid record
//!   and count the bad ones in `bad_records`; `dead_letter` (a named table,
//!   and the default `<source>_errors` with CSV) holds exactly the bad
//!   messages with their payload, partition and offset.
//! - `kafka_startup_mode_latest_reads_only_new_messages`: a running query
//!   with `scan.startup.mode = 'latest'` reads only what is produced after it
//!   started, while an `earliest` query over the same topic reads everything.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::{
    Progress, TestPostgres, execute, query_i64, query_rows, query_values, wait_until,
};
use tokio_postgres::Client;

use crate::{TestEddy, query_status, wait_for_status, with_logs};

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

// ---------------------------------------------------------------------------
// CSV messages → TUMBLE → PostgreSQL
// ---------------------------------------------------------------------------

const CSV_EVENTS: i64 = 600;

/// One CSV event as the test produced it.
#[derive(Debug, Clone)]
struct CsvEvent {
    id: i64,
    user_id: i64,
    page: &'static str,
    /// `None`: an empty field (NULL).
    amount: Option<i64>,
    /// Milliseconds after 2026-01-01 00:00:00 UTC.
    millis: i64,
}

/// 2026-01-01 00:00:00 UTC in milliseconds since 1970.
const START_MILLIS: i64 = 1_767_225_600_000;

fn csv_events() -> Vec<CsvEvent> {
    const PAGES: [&str; 3] = ["home", "cart, checkout", "search \"shoes\""];
    (0..CSV_EVENTS)
        .map(|i| {
            // Each run of 12 events reversed: out of order by up to 1.7 s.
            // The last event, at 92.845 s, puts the final watermark
            // (87.845 s) inside the window [80 s, 90 s), which must stay
            // open: a wrong watermark delay changes the result.
            let slot = (i / 12) * 12 + (11 - i % 12);
            CsvEvent {
                id: i,
                user_id: i % 5,
                page: PAGES[(i % 3) as usize],
                amount: (i % 11 != 0).then_some(i % 17 + 1),
                millis: slot * 155,
            }
        })
        .collect()
}

/// `2026-01-01 00:mm:ss.fff`, or RFC 3339 with a `Z` for every fifth event.
fn csv_timestamp(i: i64, millis: i64) -> String {
    let (m, s, f) = (millis / 60_000, millis / 1000 % 60, millis % 1000);
    if i % 5 == 0 {
        format!("2026-01-01T00:{m:02}:{s:02}.{f:03}Z")
    } else {
        format!("2026-01-01 00:{m:02}:{s:02}.{f:03}")
    }
}

/// A CSV field, quoted when it holds the delimiter or a quote.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn csv_messages(events: &[CsvEvent]) -> Vec<OutgoingMessage> {
    events
        .iter()
        .map(|e| OutgoingMessage {
            partition: Some((e.id % 3) as i32),
            key: None,
            payload: format!(
                "{},{},{},{},{}",
                e.id,
                e.user_id,
                csv_field(e.page),
                e.amount.map(|a| a.to_string()).unwrap_or_default(),
                csv_timestamp(e.id, e.millis)
            ),
            timestamp_ms: None,
        })
        .collect()
}

fn utc_text(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(START_MILLIS + millis)
        .expect("in range")
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The rows `csv_windows` must hold, computed from the produced events:
/// (window start, user, count(*), count(amount), sum(amount)) for every
/// 10-second window the final watermark (max event time − 5 s) has closed.
fn expected_csv_windows(events: &[CsvEvent]) -> Vec<Vec<Option<String>>> {
    let watermark = events.iter().map(|e| e.millis).max().unwrap_or(0) - 5_000;
    let mut groups: std::collections::BTreeMap<(i64, i64), (i64, i64, Option<i64>)> =
        Default::default();
    for e in events {
        let start = e.millis.div_euclid(10_000) * 10_000;
        if start + 10_000 > watermark {
            continue;
        }
        let g = groups.entry((start, e.user_id)).or_insert((0, 0, None));
        g.0 += 1;
        if let Some(a) = e.amount {
            g.1 += 1;
            g.2 = Some(g.2.unwrap_or(0) + a);
        }
    }
    groups
        .into_iter()
        .map(|((start, user), (cnt, n_amount, total))| {
            vec![
                Some(utc_text(start)),
                Some(utc_text(start + 10_000)),
                Some(user.to_string()),
                Some(cnt.to_string()),
                Some(n_amount.to_string()),
                total.map(|t| t.to_string()),
            ]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_csv_messages_to_windows_in_postgres() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = csv_scenario(&kafka, &pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn csv_scenario(kafka: &TestKafka, pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let events = csv_events();
    kafka.create_topic("csv_clicks", 3)?;
    kafka.produce("csv_clicks", &csv_messages(&events))?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE csv_clicks (
                id BIGINT, user_id BIGINT, page VARCHAR, amount BIGINT, ts TIMESTAMP,
                _partition INT, _offset BIGINT,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
             ) WITH (
                connector = 'kafka', topic = 'csv_clicks',
                'properties.bootstrap.servers' = '{bootstrap}',
                'scan.startup.mode' = 'earliest', format = 'csv'
             );
             CREATE SINK csv_raw_sink WITH (
                connector = 'postgres', url = '{url}', table = 'csv_raw', create_table = 'true'
             );
             CREATE SINK csv_window_sink WITH (
                connector = 'postgres', url = '{url}', table = 'csv_windows', create_table = 'true'
             );
             CREATE STREAMING QUERY csv_raw_copy WITH (trigger = 'available_now')
                AS INSERT INTO csv_raw_sink
                SELECT id, user_id, page, amount, _partition, _offset FROM csv_clicks;
             CREATE STREAMING QUERY csv_stats
                WITH (trigger = 'available_now', output_mode = 'append')
                AS INSERT INTO csv_window_sink
                SELECT window_start, window_end, user_id, count(*) AS cnt,
                       count(amount) AS n_amount, sum(amount) AS total
                FROM TUMBLE(csv_clicks, ts, INTERVAL '10' SECOND)
                GROUP BY window_start, window_end, user_id;",
            bootstrap = kafka.bootstrap_servers(),
            url = pg.url(),
        ),
    )
    .await?;
    let bound = Duration::from_secs(120);
    let raw = wait_for_status(&client, "csv_raw_copy", "finished", bound).await?;
    let stats = wait_for_status(&client, "csv_stats", "finished", bound).await?;
    ensure!(
        raw.input_rows == CSV_EVENTS && raw.output_rows == CSV_EVENTS,
        "csv_raw_copy: {raw:?}"
    );
    ensure!(
        stats.input_rows == CSV_EVENTS && stats.late_rows == 0,
        "csv_stats: {stats:?}"
    );

    // Every message decoded field by field: quoted fields with the
    // delimiter or quotes, empty fields as NULL, partition and offset.
    let pg_client = pg.client().await?;
    let raw_rows = query_values(
        &pg_client,
        "SELECT id, user_id, page, amount, _partition, _offset FROM csv_raw ORDER BY id",
    )
    .await?;
    let expected_raw: Vec<Vec<Option<String>>> = events
        .iter()
        .map(|e| {
            vec![
                Some(e.id.to_string()),
                Some(e.user_id.to_string()),
                Some(e.page.to_string()),
                e.amount.map(|a| a.to_string()),
                Some((e.id % 3).to_string()),
                Some((e.id / 3).to_string()),
            ]
        })
        .collect();
    ensure!(
        raw_rows == expected_raw,
        "csv_raw: {} rows, expected {}; first difference: {:?}",
        raw_rows.len(),
        expected_raw.len(),
        raw_rows.iter().zip(&expected_raw).find(|(a, b)| a != b)
    );

    // The windows, against the aggregation computed here from the events.
    let expected = expected_csv_windows(&events);
    ensure!(expected.len() >= 30, "{} expected windows", expected.len());
    execute(&pg_client, "SET TimeZone = 'UTC'").await?;
    let actual = query_values(
        &pg_client,
        "SELECT to_char(window_start, 'YYYY-MM-DD HH24:MI:SS'),
                to_char(window_end, 'YYYY-MM-DD HH24:MI:SS'),
                user_id, cnt, n_amount, total
         FROM csv_windows ORDER BY window_start, user_id",
    )
    .await?;
    let missing: Vec<_> = expected
        .iter()
        .filter(|r| !actual.contains(r))
        .take(5)
        .collect();
    let unexpected: Vec<_> = actual
        .iter()
        .filter(|r| !expected.contains(r))
        .take(5)
        .collect();
    ensure!(
        actual == expected,
        "csv_windows: {} rows, expected {}; missing {missing:?}; unexpected {unexpected:?}",
        actual.len(),
        expected.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Malformed messages under each on_error policy
// ---------------------------------------------------------------------------

/// What a topic of the bad-records test was given: every message in
/// produce order, and where each valid and each malformed one landed.
#[derive(Debug, Default)]
struct Mixed {
    messages: Vec<OutgoingMessage>,
    /// (id, v, note, partition, offset) of every valid record.
    valid: Vec<(i64, i64, String, i32, i64)>,
    /// (partition, offset, payload) of every malformed message.
    bad: Vec<(i32, i64, String)>,
}

/// `valid` good records, spread round robin over 3 partitions, with
/// `bad` (position in the sequence, payload) slotted in between: message
/// `k` of the sequence goes to partition `k % 3`, so its offset is `k / 3`
/// in a fresh topic.
fn mixed(csv: bool, valid: i64, bad: &[(usize, &str)]) -> Mixed {
    let total = valid as usize + bad.len();
    let mut out = Mixed::default();
    let mut next_id = 0;
    for k in 0..total {
        let partition = (k % 3) as i32;
        let offset = (k / 3) as i64;
        let payload = match bad.iter().find(|(at, _)| *at == k) {
            Some((_, payload)) => {
                out.bad.push((partition, offset, payload.to_string()));
                payload.to_string()
            }
            None => {
                let (id, v, note) = (next_id, next_id * 10 + 1, format!("ok {next_id}"));
                next_id += 1;
                out.valid.push((id, v, note.clone(), partition, offset));
                if csv {
                    format!("{id},{v},{note}")
                } else {
                    format!(r#"{{"id": {id}, "v": {v}, "note": "{note}"}}"#)
                }
            }
        };
        out.messages.push(OutgoingMessage {
            partition: Some(partition),
            key: None,
            payload,
            timestamp_ms: None,
        });
    }
    assert_eq!(next_id, valid, "bad positions must lie inside the sequence");
    out
}

/// Malformed JSON messages: not JSON, a type mismatch, truncated, an array,
/// two objects. Position 1 is the first message of partition 1; the last
/// position is the last message of its partition.
const BAD_JSON: [(usize, &str); 6] = [
    (1, "not json at all"),
    (5, r#"{"id": 9001, "v": "abc", "note": "type mismatch"}"#),
    (6, r#"{"id": 9002, "v": 1"#),
    (22, "[1, 2, 3]"),
    (40, r#"{"id": 9003, "v": 1} {"id": 9004, "v": 2}"#),
    (64, r#"{"id": 9005, "v": 12.5.6}"#),
];

/// Malformed CSV messages: too few fields, too many, a type mismatch.
const BAD_CSV: [(usize, &str); 4] = [
    (0, "9101,1"),
    (11, "9102,2,too,many"),
    (12, "abc,3,not a number"),
    (30, "9104,4.5x,bad v"),
];

/// `bad_records` of query `name` in `SHOW STREAMING QUERIES`.
async fn bad_records(client: &Client, name: &str) -> Result<i64> {
    for row in query_rows(client, "SHOW STREAMING QUERIES").await? {
        if row.try_get("name")? == Some(name) {
            let text = row.try_get("bad_records")?.unwrap_or("0");
            return text
                .parse()
                .with_context(|| format!("bad_records = {text:?}"));
        }
    }
    bail!("query {name} is not listed")
}

/// The rows of Eddy table `table` (id, v, note, part, off), sorted.
async fn table_rows(client: &Client, table: &str) -> Result<Vec<(i64, i64, String, i32, i64)>> {
    let rows = query_values(
        client,
        &format!("SELECT id, v, note, part, off FROM {table}"),
    )
    .await?;
    let mut out = rows
        .into_iter()
        .map(|r| {
            let text = |i: usize| r[i].clone().unwrap_or_default();
            Ok((
                text(0).parse()?,
                text(1).parse()?,
                text(2),
                text(3).parse()?,
                text(4).parse()?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

async fn check_valid_rows(client: &Client, table: &str, given: &Mixed) -> Result<()> {
    let actual = table_rows(client, table).await?;
    let mut expected = given.valid.clone();
    expected.sort();
    ensure!(
        actual == expected,
        "{table}: {} rows, expected the {} valid records; first difference: {:?}",
        actual.len(),
        expected.len(),
        actual.iter().zip(&expected).find(|(a, b)| a != b)
    );
    Ok(())
}

/// The dead-letter table `table` holds exactly `given.bad`, read by `query`
/// from `source`, each with an error text and its payload as bytes too.
async fn check_dead_letters(
    client: &Client,
    table: &str,
    source: &str,
    query: &str,
    given: &Mixed,
) -> Result<()> {
    let rows = query_values(
        client,
        &format!(
            "SELECT \"partition\", record_offset, payload_text, source_name, query_name, error,
                    payload, error_time
             FROM {table}"
        ),
    )
    .await?;
    let mut actual = Vec::new();
    for r in &rows {
        let text = |i: usize| r[i].clone().unwrap_or_default();
        let payload_text = text(2);
        ensure!(
            text(3) == source && text(4) == query,
            "{table}: row not from source {source} / query {query}: {r:?}"
        );
        ensure!(
            !text(5).trim().is_empty(),
            "{table}: row without an error: {r:?}"
        );
        let hex: String = payload_text.bytes().map(|b| format!("{b:02x}")).collect();
        ensure!(
            text(6) == format!("\\x{hex}"),
            "{table}: payload {:?} is not the bytes of {payload_text:?}",
            text(6)
        );
        ensure!(r[7].is_some(), "{table}: row without error_time: {r:?}");
        actual.push((
            text(0).parse::<i32>()?,
            text(1).parse::<i64>()?,
            payload_text,
        ));
    }
    actual.sort();
    let mut expected = given.bad.clone();
    expected.sort();
    ensure!(
        actual == expected,
        "{table} holds (partition, offset, payload_text) {actual:?}\nexpected the malformed messages {expected:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_malformed_messages_under_each_on_error_policy() -> Result<()> {
    let kafka = TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = bad_records_scenario(&kafka, &eddy).await;
    with_logs(result, &eddy, None)
}

async fn bad_records_scenario(kafka: &TestKafka, eddy: &TestEddy) -> Result<()> {
    // `fail`: one malformed message, message 13 of the sequence, that is
    // partition 1 offset 4, with valid records before and after it in
    // every partition.
    let fail = mixed(false, 30, &[(13, r#"{"id": 77, "v": "seventy-seven"}"#)]);
    ensure!(fail.bad[0].0 == 1 && fail.bad[0].1 == 4, "{:?}", fail.bad);
    let skip = mixed(false, 60, &BAD_JSON);
    let dead = mixed(false, 60, &BAD_JSON);
    let dead_csv = mixed(true, 45, &BAD_CSV);
    for (topic, given) in [
        ("bad_fail", &fail),
        ("bad_skip", &skip),
        ("bad_dead", &dead),
        ("bad_dead_csv", &dead_csv),
    ] {
        kafka.create_topic(topic, 3)?;
        kafka.produce(topic, &given.messages)?;
    }

    let client = eddy.client().await?;
    let mut ddl = String::new();
    for (source, topic, format, policy, sink_table) in [
        (
            "src_fail",
            "bad_fail",
            "json",
            "on_error = 'fail'",
            "fail_rows",
        ),
        (
            "src_skip",
            "bad_skip",
            "json",
            "on_error = 'skip'",
            "skip_rows",
        ),
        (
            "src_dead",
            "bad_dead",
            "json",
            "on_error = 'dead_letter', 'dead_letter.table' = 'kafka_bad'",
            "dead_rows",
        ),
        (
            "src_dead_csv",
            "bad_dead_csv",
            "csv",
            "on_error = 'dead_letter'",
            "dead_csv_rows",
        ),
    ] {
        ddl.push_str(&format!(
            "CREATE SOURCE {source} (
                id BIGINT, v BIGINT, note VARCHAR, _partition INT, _offset BIGINT
             ) WITH (
                connector = 'kafka', topic = '{topic}',
                'properties.bootstrap.servers' = '{bootstrap}',
                'scan.startup.mode' = 'earliest', format = '{format}', {policy}
             );
             CREATE TABLE {sink_table} (id BIGINT, v BIGINT, note VARCHAR, part INT, off BIGINT);
             CREATE SINK {sink_table}_sink WITH (connector = 'table', table = '{sink_table}');
             CREATE STREAMING QUERY {sink_table}_q WITH (trigger = 'available_now')
                AS INSERT INTO {sink_table}_sink
                SELECT id, v, note, _partition AS part, _offset AS off FROM {source};\n",
            bootstrap = kafka.bootstrap_servers(),
        ));
    }
    execute(&client, &ddl).await?;
    let bound = Duration::from_secs(120);

    // fail: the query stops with an error naming the source, partition
    // and offset.
    let failed = wait_until(bound, "fail_rows_q to fail", || async {
        match query_status(&client, "fail_rows_q").await? {
            Some(q) if q.status == "failed" => Ok(Progress::Done(q)),
            Some(q) if q.status == "finished" => {
                bail!("fail_rows_q finished over a malformed message: {q:?}")
            }
            seen => Ok(Progress::Pending(format!("{seen:?}"))),
        }
    })
    .await?;
    let error = failed.error.clone().unwrap_or_default();
    let place = "partition 1 offset 4";
    let names_place = error
        .match_indices(place)
        .any(|(at, _)| !error[at + place.len()..].starts_with(|c: char| c.is_ascii_digit()));
    ensure!(
        names_place && error.contains("src_fail") && error.contains("bad record"),
        "the error of fail_rows_q should name source src_fail and {place}: {failed:?}"
    );

    // skip and dead_letter: every valid record, the malformed ones counted.
    for (query, table, given) in [
        ("skip_rows_q", "skip_rows", &skip),
        ("dead_rows_q", "dead_rows", &dead),
        ("dead_csv_rows_q", "dead_csv_rows", &dead_csv),
    ] {
        let status = wait_for_status(&client, query, "finished", bound).await?;
        let valid = given.valid.len() as i64;
        ensure!(
            status.input_rows == valid && status.output_rows == valid,
            "{query}: {valid} valid records were produced: {status:?}"
        );
        check_valid_rows(&client, table, given).await?;
        let bad = bad_records(&client, query).await?;
        ensure!(
            bad == given.bad.len() as i64,
            "{query}: bad_records = {bad}, produced {} malformed messages",
            given.bad.len()
        );
    }
    check_dead_letters(&client, "kafka_bad", "src_dead", "dead_rows_q", &dead).await?;
    check_dead_letters(
        &client,
        "src_dead_csv_errors",
        "src_dead_csv",
        "dead_csv_rows_q",
        &dead_csv,
    )
    .await?;

    // The failed query stays failed, and the server keeps answering.
    let still = query_status(&client, "fail_rows_q").await?;
    ensure!(
        still.as_ref().is_some_and(|q| q.status == "failed"),
        "fail_rows_q after the others finished: {still:?}"
    );
    let n = query_i64(&client, "SELECT count(*) FROM skip_rows").await?;
    ensure!(n == skip.valid.len() as i64, "skip_rows has {n} rows");
    Ok(())
}

// ---------------------------------------------------------------------------
// scan.startup.mode = 'latest'
// ---------------------------------------------------------------------------

/// JSON messages with ids `ids`, round robin over 3 partitions.
fn id_messages(ids: std::ops::Range<i64>) -> Vec<OutgoingMessage> {
    ids.map(|id| OutgoingMessage {
        partition: Some((id % 3) as i32),
        key: None,
        payload: format!(r#"{{"id": {id}}}"#),
        timestamp_ms: None,
    })
    .collect()
}

/// The ids in Eddy table `table`, sorted (duplicates kept).
async fn ids_in(client: &Client, table: &str) -> Result<Vec<i64>> {
    let mut ids = query_values(client, &format!("SELECT id FROM {table}"))
        .await?
        .into_iter()
        .map(|r| Ok(r[0].clone().context("NULL id")?.parse()?))
        .collect::<Result<Vec<i64>>>()?;
    ids.sort();
    Ok(ids)
}

/// Waits until Eddy table `table` holds at least `n` rows.
async fn wait_for_rows(client: &Client, table: &str, n: usize) -> Result<()> {
    wait_until(
        Duration::from_secs(60),
        &format!("{n} rows in {table}"),
        || async {
            let ids = ids_in(client, table).await?;
            Ok(if ids.len() >= n {
                Progress::Done(())
            } else {
                Progress::Pending(format!("{} rows", ids.len()))
            })
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_startup_mode_latest_reads_only_new_messages() -> Result<()> {
    let kafka = TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = latest_scenario(&kafka, &eddy).await;
    with_logs(result, &eddy, None)
}

async fn latest_scenario(kafka: &TestKafka, eddy: &TestEddy) -> Result<()> {
    const BEFORE: i64 = 30;
    const AFTER: i64 = 45;
    kafka.create_topic("live", 3)?;
    kafka.produce("live", &id_messages(0..BEFORE))?;

    // The same topic read from the latest and, for contrast, the earliest
    // position, by queries that keep running.
    let client = eddy.client().await?;
    let mut ddl = String::new();
    for mode in ["latest", "earliest"] {
        ddl.push_str(&format!(
            "CREATE SOURCE live_{mode} (id BIGINT) WITH (
                connector = 'kafka', topic = 'live',
                'properties.bootstrap.servers' = '{bootstrap}',
                'scan.startup.mode' = '{mode}', format = 'json'
             );
             CREATE TABLE rows_{mode} (id BIGINT);
             CREATE SINK rows_{mode}_sink WITH (connector = 'table', table = 'rows_{mode}');
             CREATE STREAMING QUERY read_{mode} WITH (trigger = '100 milliseconds')
                AS INSERT INTO rows_{mode}_sink SELECT id FROM live_{mode};\n",
            bootstrap = kafka.bootstrap_servers(),
        ));
    }
    execute(&client, &ddl).await?;
    let bound = Duration::from_secs(60);
    // `running` is shown once the start positions are fixed.
    wait_for_status(&client, "read_latest", "running", bound).await?;
    wait_for_status(&client, "read_earliest", "running", bound).await?;
    // The earliest reader gets the old messages: they are there to be read.
    wait_for_rows(&client, "rows_earliest", BEFORE as usize).await?;
    // Epochs run only when there is something to read: if read_latest
    // could see the old messages, it would have read them within a few of
    // its 100 ms ticks.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let early = ids_in(&client, "rows_latest").await?;
    ensure!(
        early.is_empty(),
        "read_latest read messages produced before it started: {early:?}"
    );

    kafka.produce("live", &id_messages(1000..1000 + AFTER))?;
    wait_for_rows(&client, "rows_latest", AFTER as usize).await?;
    wait_for_rows(&client, "rows_earliest", (BEFORE + AFTER) as usize).await?;
    // A few more ticks: anything read twice would show up now.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let latest = ids_in(&client, "rows_latest").await?;
    let expected: Vec<i64> = (1000..1000 + AFTER).collect();
    ensure!(
        latest == expected,
        "read_latest should hold exactly the {AFTER} messages produced after it started; \
         holds {} rows: {latest:?}",
        latest.len()
    );
    let earliest = ids_in(&client, "rows_earliest").await?;
    let expected_all: Vec<i64> = (0..BEFORE).chain(1000..1000 + AFTER).collect();
    ensure!(
        earliest == expected_all,
        "read_earliest should hold every message once; holds {earliest:?}"
    );
    let status = query_status(&client, "read_latest")
        .await?
        .context("read_latest")?;
    ensure!(
        status.status == "running" && status.input_rows == AFTER,
        "read_latest: {status:?}"
    );
    Ok(())
}
