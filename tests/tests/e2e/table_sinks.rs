//! The `table` sink through the table storage: constraints hold for sink
//! writes, and `mode = 'upsert'` takes `output_mode = 'update'` exactly once
//! across SIGKILLs.
//!
//! - `a_null_in_a_not_null_column_fails_the_query_naming_the_constraint`:
//!   a query whose 43rd row has a NULL id fails at that row's epoch with
//!   PostgreSQL's not-null message, naming the sink and the table; the
//!   epochs before it are in the table, nothing of the failed one.
//! - `upsert_mode_survives_sigkill_and_equals_postgres`: per-user totals in
//!   `update` mode upserted into an Eddy table keyed by user, the server
//!   SIGKILLed twice mid-run; the final table equals PostgreSQL's GROUP BY
//!   over the raw rows (copied to PostgreSQL by a second query).
//! - `a_duplicate_primary_key_fails_the_query_naming_the_constraint`.

use anyhow::{Result, ensure};
use eddy_tests::{
    DEFAULT_WAIT, Progress, TestPostgres, execute, query_i64, query_values, wait_until,
};
use tokio_postgres::Client;

use crate::{QueryStatus, TestEddy, query_status, wait_for_epoch, wait_for_status, with_logs};

/// Waits until query `name` fails; returns its status (with the error).
async fn wait_for_failure(client: &Client, name: &str) -> Result<QueryStatus> {
    let what = format!("streaming query {name} to fail");
    wait_until(DEFAULT_WAIT, &what, || async {
        match query_status(client, name).await? {
            Some(q) if q.status == "failed" => Ok(Progress::Done(q)),
            Some(q) if q.status == "finished" => anyhow::bail!("{name} finished: {q:?}"),
            seen => Ok(Progress::Pending(format!("{seen:?}"))),
        }
    })
    .await
}

/// 100 rows, ids 0..99 in order, 10 per epoch, unthrottled.
const SMALL_SOURCE: &str = "CREATE SOURCE events (id BIGINT, k BIGINT) WITH (
        connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '100',
        'rows.per.epoch' = '10', seed = '3',
        'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
        'fields.k.min' = '1', 'fields.k.max' = '5'
     );";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_in_a_not_null_column_fails_the_query_naming_the_constraint() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = not_null_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn not_null_scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{SMALL_SOURCE}
             CREATE TABLE strict (id BIGINT NOT NULL, k BIGINT);
             CREATE SINK strict_sink WITH (connector = 'table', table = 'strict');
             CREATE STREAMING QUERY q AS INSERT INTO strict_sink
                SELECT NULLIF(id, 42) AS id, k FROM events;"
        ),
    )
    .await?;
    let failed = wait_for_failure(&client, "q").await?;
    let error = failed.error.unwrap_or_default();
    ensure!(
        error.contains(
            "table sink 'strict_sink' cannot write epoch 5 to table \"strict\": null value in column \
             \"id\" of relation \"strict\" violates not-null constraint (Failing row contains (null, "
        ),
        "error: {error}"
    );
    let (rows, max) = (
        query_i64(&client, "SELECT count(*) FROM strict").await?,
        query_i64(&client, "SELECT max(id) FROM strict").await?,
    );
    ensure!(
        (rows, max) == (40, 39),
        "strict holds {rows} rows up to id {max}; expected the 4 epochs before the NULL (ids 0..39)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_primary_key_fails_the_query_naming_the_constraint() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = primary_key_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn primary_key_scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{SMALL_SOURCE}
             CREATE TABLE firsts (id BIGINT PRIMARY KEY, k BIGINT);
             CREATE SINK firsts_sink WITH (connector = 'table', table = 'firsts');
             CREATE STREAMING QUERY q AS INSERT INTO firsts_sink
                SELECT CASE WHEN id = 57 THEN 3 ELSE id END AS id, k FROM events;"
        ),
    )
    .await?;
    let failed = wait_for_failure(&client, "q").await?;
    let error = failed.error.unwrap_or_default();
    ensure!(
        error.contains(
            "table sink 'firsts_sink' cannot write epoch 6 to table \"firsts\": duplicate key value \
             violates unique constraint \"firsts_pkey\" (Key (id)=(3) already exists.)"
        ),
        "error: {error}"
    );
    let rows = query_i64(&client, "SELECT count(*) FROM firsts").await?;
    ensure!(
        rows == 50,
        "firsts holds {rows} rows; expected the 5 epochs before the duplicate"
    );
    Ok(())
}

/// 20,000 clicks of 500 users, 4,000 per second in epochs of 500 rows.
const CLICKS: i64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_mode_survives_sigkill_and_equals_postgres() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = upsert_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn upsert_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE clicks (id BIGINT, user_id BIGINT, amount BIGINT) WITH (
                connector = 'datagen', 'rows.per.second' = '4000',
                'number.of.rows' = '{CLICKS}', 'rows.per.epoch' = '500', seed = '11',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                'fields.user_id.min' = '1', 'fields.user_id.max' = '500',
                'fields.amount.min' = '1', 'fields.amount.max' = '100'
             );
             CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
                table = 'raw_clicks', create_table = 'true');
             CREATE STREAMING QUERY raw_copy WITH (trigger = '100 milliseconds')
                AS INSERT INTO raw_sink SELECT id, user_id, amount FROM clicks;
             CREATE TABLE totals (user_id BIGINT PRIMARY KEY, n BIGINT NOT NULL, total BIGINT);
             CREATE SINK totals_sink WITH (connector = 'table', table = 'totals', mode = 'upsert');
             CREATE STREAMING QUERY totals_q
                WITH (trigger = '100 milliseconds', output_mode = 'update')
                AS INSERT INTO totals_sink
                SELECT user_id, count(*) AS n, sum(amount) AS total FROM clicks GROUP BY user_id;",
            url = pg.url(),
        ),
    )
    .await?;
    for epoch in [6, 18] {
        wait_for_epoch(&eddy.client().await?, "totals_q", epoch, true).await?;
        eddy.kill()?;
        eddy.start_again().await?;
    }
    let client = eddy.client().await?;
    let totals = wait_for_status(&client, "totals_q", "finished", DEFAULT_WAIT).await?;
    wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    ensure!(
        totals.input_rows == CLICKS,
        "totals_q read {} rows across the kills; expected {CLICKS}",
        totals.input_rows
    );
    let eddy_rows = query_values(
        &client,
        "SELECT user_id, n, total FROM totals ORDER BY user_id",
    )
    .await?;
    let pg_client = pg.client().await?;
    let raw = query_i64(&pg_client, "SELECT count(DISTINCT id) FROM raw_clicks").await?;
    ensure!(
        raw == CLICKS,
        "raw_clicks holds {raw} distinct ids; expected {CLICKS}"
    );
    let expected = query_values(
        &pg_client,
        "SELECT user_id, count(*), sum(amount) FROM raw_clicks GROUP BY user_id ORDER BY user_id",
    )
    .await?;
    ensure!(
        eddy_rows == expected,
        "totals ({} rows) differ from PostgreSQL's GROUP BY over raw_clicks ({} rows); first \
         difference: {:?}",
        eddy_rows.len(),
        expected.len(),
        eddy_rows
            .iter()
            .zip(&expected)
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("eddy {a:?}, postgres {b:?}"))
    );
    // The key holds: one row per user.
    let users = query_i64(&client, "SELECT count(DISTINCT user_id) FROM totals").await?;
    ensure!(
        users as usize == eddy_rows.len(),
        "{} rows for {users} users",
        eddy_rows.len()
    );
    Ok(())
}
