//! Sessionization end to end: user activity split into sessions by 5 minutes
//! of inactivity, checked against the same sessions computed by PostgreSQL.
//!
//! A bounded, seeded datagen source of 20,000 clicks by 50 users, event
//! times 3.6 s apart (so a user clicks every 3 minutes on average, and often
//! pauses for more than 5), up to a minute out of order, 3 % of them pushed
//! 20 minutes back, feeds a raw copy into PostgreSQL and sessions per user
//! (`SESSION(clicks, ts, INTERVAL '5' MINUTE)`, and the same through Spark's
//! `session_window(ts, '5 minutes')`). Read unthrottled with 500 rows per
//! epoch, epoch k covers exactly the rows with `id` in [500k, 500(k+1)):
//!
//! ```text
//! watermark(k) = max(ts of rows with id < 500k) - 30 s      (none for k = 0)
//! late(row)    = row.ts < watermark(row.id / 500)
//! session      = the not-late rows of a user, split where the time to the
//!                previous row is 5 minutes or more; [first ts, last ts + 5 min)
//! ```
//!
//! PostgreSQL computes that with window functions over the raw rows, and both
//! session tables must equal it exactly; the `late_rows` counters and the
//! late-rows table must hold exactly the late rows. A second run crashes the
//! server at each dangerous point of an epoch (and SIGKILLs it once) and
//! must end with the very same rows in PostgreSQL.
//!
//! The crash-and-restart sequence and the checks of raw rows, counters and
//! late-rows tables are shared with `hopping`.

use std::time::Duration;

use anyhow::{Result, ensure};
use eddy_tests::{DEFAULT_WAIT, TestPostgres, execute, query_i64, query_values};
use tokio_postgres::Client;

use crate::{QueryStatus, TestEddy, wait_for_epoch, wait_for_status, with_logs};

const ROWS: i64 = 20_000;
const ROWS_PER_EPOCH: i64 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_match_batch_sessionization() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_exactly_once_across_crashes() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = crash_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

/// The source, the raw copy and the session query with `late_rows =
/// 'table'`, at `trigger`.
fn pipeline(pg: &TestPostgres, trigger: &str) -> String {
    format!(
        "CREATE SOURCE clicks (
            id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '30' SECOND
         ) WITH (
            connector = 'datagen',
            'rows.per.second' = '0',
            'number.of.rows' = '{ROWS}',
            'rows.per.epoch' = '{ROWS_PER_EPOCH}',
            seed = '777',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
            'fields.user_id.kind' = 'random', 'fields.user_id.min' = '1', 'fields.user_id.max' = '50',
            'fields.amount.kind' = 'random', 'fields.amount.min' = '1', 'fields.amount.max' = '100',
            'fields.ts.kind' = 'event_time',
            'fields.ts.start' = '2026-01-01 00:00:00',
            'fields.ts.step' = '3600 milliseconds',
            'fields.ts.max_out_of_order' = '1 minute',
            'fields.ts.late_rate' = '0.03',
            'fields.ts.late_by' = '20 minutes'
         );
         CREATE SINK raw_sink WITH (
            connector = 'postgres', url = '{url}', table = 'raw_clicks', create_table = 'true'
         );
         CREATE SINK session_sink WITH (
            connector = 'postgres', url = '{url}', table = 'user_sessions', create_table = 'true'
         );
         CREATE STREAMING QUERY raw_copy
            WITH (trigger = '{trigger}', output_mode = 'append')
            AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;
         CREATE STREAMING QUERY sessions
            WITH (trigger = '{trigger}', output_mode = 'append', late_rows = 'table')
            AS INSERT INTO session_sink
            SELECT session_start, session_end, user_id, count(*) AS events, sum(amount) AS total
            FROM SESSION(clicks, ts, INTERVAL '5' MINUTE)
            GROUP BY session_start, session_end, user_id;",
        url = pg.url(),
    )
}

async fn scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{}
             CREATE SINK spark_sink WITH (
                connector = 'postgres', url = '{url}', table = 'spark_sessions', create_table = 'true'
             );
             CREATE STREAMING QUERY spark_sessions
                WITH (trigger = '100 milliseconds', output_mode = 'append')
                AS INSERT INTO spark_sink
                SELECT session_window.start, session_window.end, user_id,
                       count(*) AS events, sum(amount) AS total
                FROM clicks
                GROUP BY session_window(ts, '5 minutes'), user_id;",
            pipeline(pg, "100 milliseconds"),
            url = pg.url(),
        ),
    )
    .await?;
    let raw = wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    let sessions = wait_for_status(&client, "sessions", "finished", DEFAULT_WAIT).await?;
    let spark = wait_for_status(&client, "spark_sessions", "finished", DEFAULT_WAIT).await?;
    ensure!(
        (raw.input_rows, raw.output_rows) == (ROWS, ROWS),
        "raw_copy counters: {raw:?}"
    );

    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client, ROWS).await?;
    compute_expected(&pg_client).await?;
    check_scenario_shape(&pg_client).await?;

    ensure_columns(
        &pg_client,
        "user_sessions",
        "session_start,session_end,user_id,events,total",
    )
    .await?;
    ensure_matches(
        &pg_client,
        "SELECT * FROM expected",
        "SELECT session_start::timestamp, session_end::timestamp, user_id::bigint,
                events::bigint, total::bigint FROM user_sessions",
        "user_sessions (SESSION) against PostgreSQL's sessionization",
    )
    .await?;
    // Spark names the bounds of `session_window.start` / `.end` like the
    // other windows' bounds.
    ensure_columns(
        &pg_client,
        "spark_sessions",
        "window_start,window_end,user_id,events,total",
    )
    .await?;
    ensure_matches(
        &pg_client,
        "SELECT * FROM expected",
        "SELECT window_start::timestamp, window_end::timestamp, user_id::bigint,
                events::bigint, total::bigint FROM spark_sessions",
        "spark_sessions (session_window) against PostgreSQL's sessionization",
    )
    .await?;

    let late = query_i64(&pg_client, "SELECT count(*) FROM classified WHERE late").await?;
    check_counters(&sessions, ROWS, late, &pg_client, "user_sessions").await?;
    check_counters(&spark, ROWS, late, &pg_client, "spark_sessions").await?;
    check_late_rows_table(&client, &pg_client, "sessions_late_rows").await
}

/// Crashes after the sink committed epoch 8 but before the checkpoint did,
/// before the sink of epoch 15, after the commit of epoch 22, then a SIGKILL
/// at no particular point; the tables must be exactly those of a clean run.
async fn crash_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    crash_and_recover(
        eddy,
        &pipeline(pg, "100 milliseconds"),
        &["after_sink@8", "before_sink@15", "after_commit@22"],
        ("sessions", 28),
    )
    .await?;
    let client = eddy.client().await?;
    let raw = wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    let sessions = wait_for_status(&client, "sessions", "finished", DEFAULT_WAIT).await?;
    ensure!(
        (raw.input_rows, raw.output_rows) == (ROWS, ROWS),
        "raw_copy counters after the crashes: {raw:?}"
    );

    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client, ROWS).await?;
    compute_expected(&pg_client).await?;
    ensure_matches(
        &pg_client,
        "SELECT * FROM expected",
        "SELECT session_start::timestamp, session_end::timestamp, user_id::bigint,
                events::bigint, total::bigint FROM user_sessions",
        "user_sessions after crashes and restarts against PostgreSQL's sessionization",
    )
    .await?;
    let late = query_i64(&pg_client, "SELECT count(*) FROM classified WHERE late").await?;
    check_counters(&sessions, ROWS, late, &pg_client, "user_sessions").await?;
    check_late_rows_table(&client, &pg_client, "sessions_late_rows").await
}

/// Starts the pipeline `setup` on a server that aborts at each of `faults`
/// (`EDDY_FAULT` values) in turn, restarting it after each, then SIGKILLs it
/// once `kill_at.0` has completed epoch `kill_at.1`, and starts it again.
pub(crate) async fn crash_and_recover(
    eddy: &mut TestEddy,
    setup: &str,
    faults: &[&str],
    kill_at: (&str, i64),
) -> Result<()> {
    let Some((first, rest)) = faults.split_first() else {
        anyhow::bail!("no fault to inject");
    };
    eddy.set_env("EDDY_FAULT", first);
    eddy.stop().await?;
    eddy.start_again().await?;
    execute(&eddy.client().await?, setup).await?;
    for (fault, next) in faults.iter().zip(rest.iter().chain([&""])) {
        let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
        let (_, epoch) = fault.split_once('@').unwrap_or_default();
        let log = eddy.log_tail();
        ensure!(
            !status.success()
                && log.lines().any(|l| l.starts_with("EDDY_FAULT: query")
                    && l.ends_with(&format!(" of epoch {epoch}"))),
            "the server exited ({status}) but not at the injected fault {fault}"
        );
        if next.is_empty() {
            eddy.clear_env();
        } else {
            eddy.set_env("EDDY_FAULT", next);
        }
        eddy.start_again().await?;
    }
    let (query, epoch) = kill_at;
    let client = eddy.client().await?;
    wait_for_epoch(&client, query, epoch, false).await?;
    eddy.kill()?;
    eddy.start_again().await
}

/// `raw_clicks` holds ids 0..rows, once each.
pub(crate) async fn check_raw_rows(pg: &Client, rows: i64) -> Result<()> {
    let summary = query_values(
        pg,
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM raw_clicks",
    )
    .await?;
    let expected: Vec<Option<String>> = [rows, rows, 0, rows - 1]
        .iter()
        .map(|n| Some(n.to_string()))
        .collect();
    ensure!(
        summary == vec![expected.clone()],
        "raw_clicks (count, distinct ids, min id, max id) = {summary:?}, expected {expected:?}"
    );
    Ok(())
}

/// Builds, in `pg`'s session, the temporary table `classified` (every raw
/// row with its epoch and that epoch's watermark) for a source read
/// `rows_per_epoch` rows per epoch with watermark delay `delay`.
pub(crate) async fn classify_by_epoch(pg: &Client, rows_per_epoch: i64, delay: &str) -> Result<()> {
    execute(
        pg,
        &format!(
            "SET TimeZone = 'UTC';
             CREATE TEMP TABLE epochs AS
             SELECT id, user_id, amount, ts::timestamp AS ts, id / {rows_per_epoch} AS epoch
             FROM raw_clicks;
             CREATE TEMP TABLE classified AS
             WITH epoch_max AS (
                 SELECT epoch, max(ts) AS max_ts FROM epochs GROUP BY epoch
             ), watermarks AS (
                 SELECT epoch,
                        max(max_ts) OVER (ORDER BY epoch ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                            - interval '{delay}' AS watermark
                 FROM epoch_max
             )
             SELECT e.*, w.watermark FROM epochs e JOIN watermarks w USING (epoch);"
        ),
    )
    .await
}

/// `classified` with the session rule of lateness, and `expected`: the
/// sessions of the rows that are not late.
async fn compute_expected(pg: &Client) -> Result<()> {
    classify_by_epoch(pg, ROWS_PER_EPOCH, "30 seconds").await?;
    execute(
        pg,
        "ALTER TABLE classified ADD COLUMN late BOOLEAN;
         UPDATE classified SET late = coalesce(ts < watermark, false);
         CREATE TEMP TABLE expected AS
         WITH gaps AS (
             SELECT *, ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts, id) AS since_previous
             FROM classified WHERE NOT late
         ), numbered AS (
             SELECT *, count(*) FILTER (WHERE since_previous IS NULL OR since_previous >= interval '5 minutes')
                       OVER (PARTITION BY user_id ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS session
             FROM gaps
         )
         SELECT min(ts) AS session_start, max(ts) + interval '5 minutes' AS session_end, user_id,
                count(*)::bigint AS events, sum(amount)::bigint AS total
         FROM numbered GROUP BY user_id, session;",
    )
    .await
}

/// The data must exercise what the test is about: sessions of many rows,
/// many sessions per user, late rows of both kinds (pushed back, and merely
/// out of order across an epoch boundary), and rows out of order that are
/// not late.
async fn check_scenario_shape(pg: &Client) -> Result<()> {
    let shape = query_values(
        pg,
        "SELECT (SELECT count(*) FROM expected),
                (SELECT count(*) FROM expected WHERE events >= 5),
                (SELECT min(n) FROM (SELECT count(*) AS n FROM expected GROUP BY user_id) s),
                (SELECT count(*) FROM classified WHERE late
                    AND ts < timestamp '2026-01-01' + id * interval '3.6 seconds' - interval '10 minutes'),
                (SELECT count(*) FROM classified WHERE late
                    AND ts >= timestamp '2026-01-01' + id * interval '3.6 seconds' - interval '10 minutes'),
                (SELECT count(*) FROM classified WHERE NOT late
                    AND ts < timestamp '2026-01-01' + id * interval '3.6 seconds' - interval '10 minutes')",
    )
    .await?;
    let numbers: Vec<i64> = shape
        .first()
        .map(|row| {
            row.iter()
                .map(|v| v.as_deref().unwrap_or("0").parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let [
        sessions,
        long,
        fewest_per_user,
        late_pushed,
        late_jittered,
        early_pushed,
    ] = numbers[..]
    else {
        anyhow::bail!("unexpected shape query result {shape:?}");
    };
    ensure!(
        sessions >= 2_000
            && long >= 500
            && fewest_per_user >= 20
            && late_pushed >= 100
            && late_jittered >= 10
            && early_pushed >= 50,
        "the data does not exercise sessionization: {sessions} sessions, {long} of 5 rows or more, \
         at least {fewest_per_user} per user; late rows: {late_pushed} pushed back, {late_jittered} \
         only out of order; {early_pushed} pushed-back rows not late"
    );
    Ok(())
}

/// The query's counters: each of the source's `rows` read once, the late
/// rows counted, one output row per row in `table`.
pub(crate) async fn check_counters(
    status: &QueryStatus,
    rows: i64,
    late: i64,
    pg: &Client,
    table: &str,
) -> Result<()> {
    let written = query_i64(pg, &format!("SELECT count(*) FROM {table}")).await?;
    ensure!(
        (status.input_rows, status.late_rows, status.output_rows) == (rows, late, written),
        "{} counters (input, late, output) = ({}, {}, {}); expected ({rows}, {late}, {written}) \
         ({late} late rows per PostgreSQL, {written} rows in {table})",
        status.name,
        status.input_rows,
        status.late_rows,
        status.output_rows
    );
    Ok(())
}

/// The Eddy late-rows table holds exactly the rows `classified` marks late,
/// once each, with the epoch that read them (Eddy counts epochs from 1).
pub(crate) async fn check_late_rows_table(eddy: &Client, pg: &Client, table: &str) -> Result<()> {
    let in_eddy = query_values(eddy, &format!("SELECT id, epoch FROM {table} ORDER BY id")).await?;
    let expected = query_values(
        pg,
        "SELECT id::text, (epoch + 1)::text FROM classified WHERE late ORDER BY classified.id",
    )
    .await?;
    ensure!(
        !expected.is_empty(),
        "no row is late; the scenario does not exercise lateness"
    );
    let first_difference = in_eddy
        .iter()
        .zip(&expected)
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!("{a:?} in Eddy where PostgreSQL has {b:?}"));
    ensure!(
        in_eddy == expected,
        "{table} holds {} rows, PostgreSQL finds {} late rows; first difference: {}",
        in_eddy.len(),
        expected.len(),
        first_difference.unwrap_or_else(|| "past the shorter list's end".into())
    );
    Ok(())
}

/// The column names of `table` in PostgreSQL, in order, must be `expected`
/// (comma-separated).
pub(crate) async fn ensure_columns(pg: &Client, table: &str, expected: &str) -> Result<()> {
    let columns = query_values(
        pg,
        &format!(
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
             FROM information_schema.columns WHERE table_name = '{table}'"
        ),
    )
    .await?;
    let columns = columns
        .first()
        .and_then(|row| row[0].clone())
        .unwrap_or_default();
    ensure!(
        columns == expected,
        "{table} has columns {columns:?}, expected {expected:?}"
    );
    Ok(())
}

/// The multisets of rows of `expected` and `actual` (two queries in `pg`)
/// are equal and not empty; on a difference, says how many rows differ and
/// shows a few from each side.
pub(crate) async fn ensure_matches(
    pg: &Client,
    expected: &str,
    actual: &str,
    what: &str,
) -> Result<()> {
    let diff = |a: &str, b: &str| format!("SELECT * FROM (({a}) EXCEPT ALL ({b})) d ORDER BY 1, 3");
    let count = |sql: String| async move {
        query_i64(pg, &format!("SELECT count(*) FROM ({sql}) c")).await
    };
    let missing = count(diff(expected, actual)).await?;
    let unexpected = count(diff(actual, expected)).await?;
    let rows = count(actual.to_owned()).await?;
    let expected_rows = count(expected.to_owned()).await?;
    if missing == 0 && unexpected == 0 && rows > 0 {
        return Ok(());
    }
    let sample = |sql: String| async move { query_values(pg, &format!("{sql} LIMIT 5")).await };
    anyhow::bail!(
        "{what}: {rows} rows, expected {expected_rows}; {missing} expected rows missing, \
         e.g. {:?}; {unexpected} rows not expected, e.g. {:?}",
        sample(diff(expected, actual)).await?,
        sample(diff(actual, expected)).await?,
    )
}
