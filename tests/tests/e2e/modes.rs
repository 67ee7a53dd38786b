//! Output modes end to end: `update` and `complete` into PostgreSQL and an
//! Eddy table, the combinations refused at CREATE, and an `update` query
//! crashed and restarted.
//!
//! A bounded, seeded datagen source of 10,000 clicks (1,000 users, so that
//! an epoch sees about two thirds of them; event times 10 ms apart, up to
//! 3 s out of order, 3 % of rows a minute back), read unthrottled at 1,000
//! rows per epoch, so Eddy epoch e (from 1) holds the rows with
//! `id / 1000 = e - 1` and the watermark follows from the rows:
//!
//! ```text
//! watermark(e) = max(ts of rows in epochs < e) - 5 s      (none for e = 1)
//! late(row)    = window_end(row.ts) <= watermark(row's epoch)   (TUMBLE only)
//! ```
//!
//! - `update_and_complete_modes_match_batch_computation`: per-user totals
//!   without a window in `update` mode (postgres `upsert`), in `complete`
//!   mode (postgres `overwrite`, and an Eddy table), and 10-second tumbling
//!   windows in `update` mode (postgres `upsert` keyed by window and user).
//!   The final tables equal PostgreSQL's GROUP BY over the raw rows (windows:
//!   over the rows that are not late); `output_rows` equals, per mode, the
//!   groups changed in each epoch or the whole result of each epoch, summed;
//!   and every snapshot of the totals taken while the queries run is the
//!   result of a whole number of epochs (a multiple of 1,000 clicks, no
//!   user twice): each epoch replaces or upserts in one transaction.
//! - `invalid_output_mode_combinations_are_refused_at_create`: append
//!   without a window, append without a watermark, complete without an
//!   aggregation, and each sink that cannot represent the mode.
//! - `update_mode_survives_crashes`: the same update queries, the server
//!   made to die after the sink, before the sink and after the commit of
//!   some epoch, then SIGKILLed; the final tables and counters are exact.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use eddy_tests::{
    DEFAULT_WAIT, Progress, TestPostgres, execute, expect_db_error, query_i64, query_values,
    wait_until,
};
use tokio_postgres::Client;

use crate::{
    QueryStatus, TestEddy, query_status, shown_names, wait_for_epoch, wait_for_status, with_logs,
};

const ROWS: i64 = 10_000;
const ROWS_PER_EPOCH: i64 = 1_000;

/// The clicks source: `rows` rows, `ROWS_PER_EPOCH` per epoch.
fn clicks_source(rows: i64) -> String {
    format!(
        "CREATE SOURCE clicks (
            id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
         ) WITH (
            connector = 'datagen',
            'rows.per.second' = '0',
            'number.of.rows' = '{rows}',
            'rows.per.epoch' = '{ROWS_PER_EPOCH}',
            seed = '7031',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
            'fields.user_id.kind' = 'random', 'fields.user_id.min' = '1', 'fields.user_id.max' = '1000',
            'fields.amount.kind' = 'random', 'fields.amount.min' = '1', 'fields.amount.max' = '100',
            'fields.ts.kind' = 'event_time',
            'fields.ts.start' = '2026-01-01 00:00:00',
            'fields.ts.step' = '10 milliseconds',
            'fields.ts.max_out_of_order' = '3 seconds',
            'fields.ts.late_rate' = '0.03',
            'fields.ts.late_by' = '1 minute'
         );"
    )
}

/// Per-user totals, without a window.
const TOTALS: &str =
    "SELECT user_id, count(*) AS n, sum(amount) AS total FROM clicks GROUP BY user_id";

/// 10-second tumbling windows per user.
const WINDOWS: &str = "SELECT window_start, user_id, count(*) AS n, sum(amount) AS total
     FROM TUMBLE(clicks, ts, INTERVAL '10' SECOND) GROUP BY window_start, user_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_complete_modes_match_batch_computation() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = modes_scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn modes_scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    // The totals queries tick every 300 ms, so that their tables can be
    // watched between epochs.
    execute(
        &client,
        &format!(
            "{source}
             CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
                table = 'raw_clicks', create_table = 'true');
             CREATE SINK upsert_totals WITH (connector = 'postgres', url = '{url}',
                table = 'totals_upsert', create_table = 'true',
                mode = 'upsert', primary_key = 'user_id');
             CREATE SINK overwrite_totals WITH (connector = 'postgres', url = '{url}',
                table = 'totals_overwrite', create_table = 'true', mode = 'overwrite');
             CREATE TABLE totals_live (user_id BIGINT, n BIGINT, total BIGINT);
             CREATE SINK table_totals WITH (connector = 'table', table = 'totals_live');
             CREATE SINK upsert_windows WITH (connector = 'postgres', url = '{url}',
                table = 'windows_upsert', create_table = 'true',
                mode = 'upsert', primary_key = 'window_start,user_id');
             CREATE STREAMING QUERY raw_copy WITH (trigger = '100 milliseconds')
                AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;
             CREATE STREAMING QUERY totals_update
                WITH (trigger = '300 milliseconds', output_mode = 'update')
                AS INSERT INTO upsert_totals {TOTALS};
             CREATE STREAMING QUERY totals_complete
                WITH (trigger = '300 milliseconds', output_mode = 'complete')
                AS INSERT INTO overwrite_totals {TOTALS};
             CREATE STREAMING QUERY totals_table
                WITH (trigger = '300 milliseconds', output_mode = 'complete')
                AS INSERT INTO table_totals {TOTALS};
             CREATE STREAMING QUERY windows_update
                WITH (trigger = '100 milliseconds', output_mode = 'update')
                AS INSERT INTO upsert_windows {WINDOWS};",
            source = clicks_source(ROWS),
            url = pg.url(),
        ),
    )
    .await?;

    let pg_client = pg.client().await?;
    watch_totals_while_running(&client, &pg_client).await?;
    let bound = Duration::from_secs(120);
    let raw = wait_for_status(&client, "raw_copy", "finished", bound).await?;
    ensure!(raw.output_rows == ROWS, "raw_copy: {raw:?}");
    check_raw_rows(&pg_client, ROWS).await?;
    classify_clicks(
        &pg_client,
        "raw_clicks",
        ROWS_PER_EPOCH,
        "5 seconds",
        "10 seconds",
    )
    .await?;

    // Without a window nothing is late: the totals are over every row.
    let expected_totals = "SELECT user_id, count(*) AS n, sum(amount) AS total
                           FROM classified GROUP BY user_id";
    let actual =
        |table: &str| format!("SELECT user_id::bigint, n::bigint, total::bigint FROM {table}");
    ensure_rows_equal(
        &pg_client,
        expected_totals,
        &actual("totals_upsert"),
        "totals_upsert (update)",
    )
    .await?;
    ensure_rows_equal(
        &pg_client,
        expected_totals,
        &actual("totals_overwrite"),
        "totals_overwrite (complete)",
    )
    .await?;
    let expected_values = query_values(
        &pg_client,
        &format!("SELECT * FROM ({expected_totals}) e ORDER BY user_id"),
    )
    .await?;
    let in_table = query_values(
        &client,
        "SELECT user_id, n, total FROM totals_live ORDER BY user_id",
    )
    .await?;
    ensure!(
        in_table == expected_values,
        "Eddy table totals_live (complete mode) holds {in_table:?}\nexpected {expected_values:?}"
    );

    // update: each epoch emits the users it saw; complete: every user seen
    // so far, every epoch.
    let changed = query_i64(
        &pg_client,
        "SELECT sum(users)::bigint FROM
            (SELECT count(DISTINCT user_id) AS users FROM classified GROUP BY epoch) e",
    )
    .await?;
    let whole = query_i64(
        &pg_client,
        "SELECT sum((SELECT count(DISTINCT user_id) FROM classified c WHERE c.epoch <= e.epoch))::bigint
         FROM (SELECT DISTINCT epoch FROM classified) e",
    )
    .await?;
    let users = query_i64(&pg_client, "SELECT count(DISTINCT user_id) FROM classified").await?;
    ensure!(
        users < changed && changed < whole,
        "the scenario does not tell the modes apart: {users} users, {changed} changed per epoch, \
         {whole} in the whole results"
    );
    for (query, expected) in [
        ("totals_update", changed),
        ("totals_complete", whole),
        ("totals_table", whole),
    ] {
        let status = wait_for_status(&client, query, "finished", bound).await?;
        ensure!(
            status.input_rows == ROWS && status.output_rows == expected,
            "{query}: expected {ROWS} input rows and {expected} output rows: {status:?}"
        );
    }

    let windows = wait_for_status(&client, "windows_update", "finished", bound).await?;
    check_windows_update(&pg_client, "windows_upsert", &windows, ROWS).await
}

/// Until the totals queries finish, every snapshot of their tables must be
/// the result of a whole number of epochs: each user once, and the counts
/// adding up to a multiple of the epoch size.
async fn watch_totals_while_running(eddy: &Client, pg: &Client) -> Result<()> {
    let snapshot_ok = |what: &str, row: &[Option<String>]| -> Result<()> {
        let number = |i: usize| -> Result<i64> { Ok(row[i].as_deref().unwrap_or("0").parse()?) };
        let (rows, users, clicks) = (number(0)?, number(1)?, number(2)?);
        ensure!(
            rows == users && clicks % ROWS_PER_EPOCH == 0 && clicks <= ROWS,
            "{what} caught between epochs: {rows} rows, {users} users, {clicks} clicks \
             (each epoch adds {ROWS_PER_EPOCH})"
        );
        Ok(())
    };
    let summary = "SELECT count(*), count(DISTINCT user_id), coalesce(sum(n), 0)::bigint FROM";
    wait_until(DEFAULT_WAIT, "the totals queries to finish", || async {
        for table in ["totals_upsert", "totals_overwrite"] {
            let exists =
                query_values(pg, &format!("SELECT to_regclass('{table}') IS NOT NULL")).await?;
            if exists[0][0].as_deref() == Some("t") {
                let row = query_values(pg, &format!("{summary} {table}")).await?;
                snapshot_ok(table, &row[0])?;
            }
        }
        let row = query_values(eddy, &format!("{summary} totals_live")).await?;
        snapshot_ok("totals_live", &row[0])?;
        let mut running = Vec::new();
        for query in ["totals_update", "totals_complete", "totals_table"] {
            let status = query_status(eddy, query).await?.context("not listed")?;
            ensure!(status.status != "failed", "{query} failed: {status:?}");
            if status.status != "finished" {
                running.push(status);
            }
        }
        Ok(if running.is_empty() {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{running:?}"))
        })
    })
    .await
}

/// The tumbling windows in update mode: the final table equals the windows
/// over the rows that are not late; each epoch emitted the (window, user)
/// groups it changed; the late rows were counted.
async fn check_windows_update(
    pg: &Client,
    table: &str,
    status: &QueryStatus,
    rows: i64,
) -> Result<()> {
    let expected = "SELECT window_start, user_id, count(*) AS n, sum(amount) AS total
                    FROM classified WHERE NOT late GROUP BY window_start, user_id";
    let actual = format!(
        "SELECT window_start::timestamp, user_id::bigint, n::bigint, total::bigint FROM {table}"
    );
    ensure_rows_equal(pg, expected, &actual, table).await?;
    let changed = query_i64(
        pg,
        "SELECT sum(groups)::bigint FROM
            (SELECT count(DISTINCT (window_start, user_id)) AS groups
             FROM classified WHERE NOT late GROUP BY epoch) e",
    )
    .await?;
    let windows = query_i64(pg, &format!("SELECT count(*) FROM {table}")).await?;
    let late = query_i64(pg, "SELECT count(*) FROM classified WHERE late").await?;
    ensure!(
        late > 0,
        "no row was late; the scenario does not exercise lateness"
    );
    ensure!(
        changed > windows,
        "no window was updated in two epochs; the scenario does not exercise update mode"
    );
    ensure!(
        status.output_rows == changed && status.late_rows == late && status.input_rows == rows,
        "{}: expected {changed} output rows (groups changed per epoch, summed) and {late} late rows: {status:?}",
        status.name
    );
    Ok(())
}

/// `raw_clicks` holds ids 0..rows once each.
pub(crate) async fn check_raw_rows(pg: &Client, rows: i64) -> Result<()> {
    let summary = query_values(
        pg,
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM raw_clicks",
    )
    .await?;
    let expected: Vec<Option<String>> = [rows, rows, 0, rows - 1]
        .iter()
        .map(|v| Some(v.to_string()))
        .collect();
    ensure!(
        summary == vec![expected.clone()],
        "raw_clicks (count, distinct ids, min id, max id) = {summary:?}, expected {expected:?}"
    );
    Ok(())
}

/// Builds the temporary table `classified` in `pg`'s session from the raw
/// datagen rows in `raw` (id, user_id, amount, ts): each row with its Eddy
/// epoch (from 1), the epoch's watermark (`delay` behind the latest event
/// time of the earlier epochs), its tumbling window of `window`, and
/// whether it is late.
pub(crate) async fn classify_clicks(
    pg: &Client,
    raw: &str,
    rows_per_epoch: i64,
    delay: &str,
    window: &str,
) -> Result<()> {
    execute(
        pg,
        &format!(
            "SET TimeZone = 'UTC';
             CREATE TEMP TABLE classified AS
             WITH rows AS (
                 SELECT id::bigint AS id, user_id::bigint AS user_id, amount::bigint AS amount,
                        ts::timestamp AS ts, id / {rows_per_epoch} + 1 AS epoch
                 FROM {raw}
             ), epoch_max AS (
                 SELECT epoch, max(ts) AS max_ts FROM rows GROUP BY epoch
             ), watermarks AS (
                 SELECT epoch,
                        max(max_ts) OVER (ORDER BY epoch ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                            - interval '{delay}' AS watermark
                 FROM epoch_max
             ), windowed AS (
                 SELECT r.*, date_bin('{window}', r.ts, timestamp '1970-01-01') AS window_start,
                        w.watermark
                 FROM rows r JOIN watermarks w USING (epoch)
             )
             SELECT *, coalesce(window_start + interval '{window}' <= watermark, false) AS late
             FROM windowed;"
        ),
    )
    .await
}

/// Checks, in PostgreSQL, that `actual` returns exactly the rows of
/// `expected` (as multisets, and some), listing the first differences.
pub(crate) async fn ensure_rows_equal(
    pg: &Client,
    expected: &str,
    actual: &str,
    what: &str,
) -> Result<()> {
    let differences = query_values(
        pg,
        &format!(
            "(SELECT 'missing' AS diff, * FROM (({expected}) EXCEPT ALL ({actual})) a)
             UNION ALL
             (SELECT 'unexpected', * FROM (({actual}) EXCEPT ALL ({expected})) b)
             ORDER BY 2, 3 LIMIT 10"
        ),
    )
    .await?;
    let expected_rows = query_i64(pg, &format!("SELECT count(*) FROM ({expected}) e")).await?;
    let actual_rows = query_i64(pg, &format!("SELECT count(*) FROM ({actual}) a")).await?;
    ensure!(
        differences.is_empty() && expected_rows > 0,
        "{what}: {actual_rows} rows, expected {expected_rows}; first differences: {differences:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Refusals at CREATE
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_output_mode_combinations_are_refused_at_create() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = refusals_scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn refusals_scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{source}
             CREATE SOURCE no_watermark (user_id BIGINT, ts TIMESTAMP)
                WITH (connector = 'datagen', 'number.of.rows' = '100');
             CREATE SINK append_sink WITH (connector = 'postgres', url = '{url}',
                table = 'refused_append', create_table = 'true', mode = 'append');
             CREATE SINK upsert_sink WITH (connector = 'postgres', url = '{url}',
                table = 'refused_upsert', create_table = 'true',
                mode = 'upsert', primary_key = 'user_id');
             CREATE SINK overwrite_sink WITH (connector = 'postgres', url = '{url}',
                table = 'refused_overwrite', create_table = 'true', mode = 'overwrite');
             CREATE TABLE eddy_totals (user_id BIGINT, n BIGINT, total BIGINT);
             CREATE SINK table_sink WITH (connector = 'table', table = 'eddy_totals');",
            source = clicks_source(1_000),
            url = pg.url(),
        ),
    )
    .await?;

    let create = |mode: &str, sink: &str, select: &str| {
        format!(
            "CREATE STREAMING QUERY refused WITH (output_mode = '{mode}')
             AS INSERT INTO {sink} {select}"
        )
    };
    let nowm_windows = "SELECT window_start, user_id, count(*) AS n
                        FROM TUMBLE(no_watermark, ts, INTERVAL '10' SECOND)
                        GROUP BY window_start, user_id";
    let cases = [
        (
            "append without a window",
            create("append", "append_sink", TOTALS),
            vec!["append", "window", "update", "complete"],
        ),
        (
            "append over windows without a watermark",
            create("append", "append_sink", nowm_windows),
            vec!["append", "watermark", "no_watermark"],
        ),
        (
            "complete without an aggregation",
            create(
                "complete",
                "overwrite_sink",
                "SELECT id, user_id FROM clicks",
            ),
            vec!["complete", "aggregation"],
        ),
        (
            "update into an append-mode postgres sink",
            create("update", "append_sink", TOTALS),
            vec!["update", "append", "upsert", "append_sink"],
        ),
        (
            "complete into an upsert-mode postgres sink",
            create("complete", "upsert_sink", TOTALS),
            vec!["complete", "upsert", "overwrite", "upsert_sink"],
        ),
        (
            "append into an overwrite-mode postgres sink",
            create("append", "overwrite_sink", WINDOWS),
            vec!["append", "overwrite", "overwrite_sink"],
        ),
        (
            "update into an Eddy table sink",
            create("update", "table_sink", TOTALS),
            vec!["update", "table_sink"],
        ),
    ];
    let mut failures = Vec::new();
    for (what, sql, words) in &cases {
        let outcome = expect_refusal(&client, sql, "refused", words).await;
        if let Err(e) = outcome {
            failures.push(format!("{what}: {e:#}"));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} of {} invalid combinations were not refused as expected:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Nothing was left behind: the name is free, and valid combinations of
    // the same sinks are accepted.
    execute(
        &client,
        &format!(
            "{};
             CREATE STREAMING QUERY accepted_complete WITH (output_mode = 'complete')
                AS INSERT INTO overwrite_sink {TOTALS};
             CREATE STREAMING QUERY accepted_table WITH (output_mode = 'complete')
                AS INSERT INTO table_sink {TOTALS};",
            create("update", "upsert_sink", TOTALS)
        ),
    )
    .await?;
    let mut names = shown_names(&client, "SHOW STREAMING QUERIES").await?;
    names.sort();
    ensure!(
        names == ["accepted_complete", "accepted_table", "refused"],
        "streaming queries after the refusals: {names:?}"
    );
    Ok(())
}

/// Runs `sql`, a CREATE STREAMING QUERY of `query` that must be refused: a
/// client error (SQLSTATE class 0A, 22 or 42) whose message mentions each of
/// `words` (lower case), and no query created.
pub(crate) async fn expect_refusal(
    client: &Client,
    sql: &str,
    query: &str,
    words: &[&str],
) -> Result<()> {
    let error = expect_db_error(client, sql).await?;
    let code = error.code().code();
    ensure!(
        ["0A", "22", "42"]
            .iter()
            .any(|class| code.starts_with(class)),
        "SQLSTATE {code} is not a client error: {}",
        error.message()
    );
    let message = error.message().to_lowercase();
    let missing: Vec<&&str> = words.iter().filter(|w| !message.contains(*w)).collect();
    ensure!(
        missing.is_empty(),
        "the message does not mention {missing:?}: {} ({code})",
        error.message()
    );
    let listed = shown_names(client, "SHOW STREAMING QUERIES").await?;
    ensure!(
        !listed.iter().any(|n| n == query),
        "the refused query is listed: {listed:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Crashes
// ---------------------------------------------------------------------------

const CRASH_ROWS: i64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_mode_survives_crashes() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = crash_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn crash_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    // First the raw rows, for the expected result, by a query that is gone
    // before the crashes (a crash point stops the first query to reach it).
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{source}
             CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
                table = 'raw_clicks', create_table = 'true');
             CREATE STREAMING QUERY raw_copy WITH (trigger = '10 milliseconds')
                AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;",
            source = clicks_source(CRASH_ROWS),
            url = pg.url(),
        ),
    )
    .await?;
    wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    execute(&client, "DROP STREAMING QUERY raw_copy").await?;
    drop(client);

    // The first start with the queries dies after the sink committed epoch
    // 4 of one of them, before its checkpoint commit.
    eddy.set_env("EDDY_FAULT", "after_sink@4");
    eddy.stop().await?;
    eddy.start_again().await?;
    execute(
        &eddy.client().await?,
        &format!(
            "CREATE SINK upsert_totals WITH (connector = 'postgres', url = '{url}',
                table = 'totals_upsert', create_table = 'true',
                mode = 'upsert', primary_key = 'user_id');
             CREATE SINK upsert_windows WITH (connector = 'postgres', url = '{url}',
                table = 'windows_upsert', create_table = 'true',
                mode = 'upsert', primary_key = 'window_start,user_id');
             CREATE STREAMING QUERY totals_update
                WITH (trigger = '200 milliseconds', output_mode = 'update')
                AS INSERT INTO upsert_totals {TOTALS};
             CREATE STREAMING QUERY windows_update
                WITH (trigger = '200 milliseconds', output_mode = 'update')
                AS INSERT INTO upsert_windows {WINDOWS};",
            url = pg.url(),
        ),
    )
    .await?;
    for next_fault in ["before_sink@7", "after_commit@9"] {
        let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
        ensure!(
            !status.success(),
            "the server exited cleanly instead of at the fault"
        );
        eddy.set_env("EDDY_FAULT", next_fault);
        eddy.start_again().await?;
    }
    let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
    ensure!(
        !status.success(),
        "the server exited cleanly instead of at the fault"
    );

    // And a crash at no particular point.
    eddy.clear_env();
    eddy.start_again().await?;
    wait_for_epoch(&eddy.client().await?, "windows_update", 13, true).await?;
    eddy.kill()?;
    eddy.start_again().await?;

    let client = eddy.client().await?;
    let totals = wait_for_status(&client, "totals_update", "finished", DEFAULT_WAIT).await?;
    let windows = wait_for_status(&client, "windows_update", "finished", DEFAULT_WAIT).await?;
    let pg_client = pg.client().await?;
    check_raw_rows(&pg_client, CRASH_ROWS).await?;
    classify_clicks(
        &pg_client,
        "raw_clicks",
        ROWS_PER_EPOCH,
        "5 seconds",
        "10 seconds",
    )
    .await?;
    ensure_rows_equal(
        &pg_client,
        "SELECT user_id, count(*) AS n, sum(amount) AS total FROM classified GROUP BY user_id",
        "SELECT user_id::bigint, n::bigint, total::bigint FROM totals_upsert",
        "totals_upsert after the crashes",
    )
    .await?;
    let changed = query_i64(
        &pg_client,
        "SELECT sum(users)::bigint FROM
            (SELECT count(DISTINCT user_id) AS users FROM classified GROUP BY epoch) e",
    )
    .await?;
    ensure!(
        totals.input_rows == CRASH_ROWS && totals.output_rows == changed,
        "totals_update after the crashes: expected {CRASH_ROWS} input rows, {changed} output rows: {totals:?}"
    );
    check_windows_update(&pg_client, "windows_upsert", &windows, CRASH_ROWS).await
}
