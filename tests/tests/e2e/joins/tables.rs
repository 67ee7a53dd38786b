//! Stream–table joins with an Eddy table: the joins PostgreSQL computes
//! too, and rows inserted into the table while the query runs.

use anyhow::{Context, Result, ensure};
use eddy_tests::{DEFAULT_WAIT, TestPostgres, execute, query_values};

use super::{Joins, check_joins, ensure_ids_once, join_queries};
use crate::{TestEddy, query_status, wait_for_epoch, wait_for_status, with_logs};

/// Rows of the stream joined with tables.
const CLICKS: i64 = 6_000;

/// Users 1..=40: every tenth without a country, every third gold. Clicks
/// name users 1..=50, so 41..=50 match nobody.
fn users_values() -> String {
    (1..=40)
        .map(|id| {
            let country = if id % 10 == 0 {
                "NULL".to_string()
            } else {
                format!("'country_{}'", id % 7)
            };
            let tier = if id % 3 == 0 { "gold" } else { "silver" };
            format!("({id}, {country}, '{tier}')")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The joins with `users`.
const TABLE_JOINS: &Joins = &[
    (
        "inner_join",
        "SELECT c.id, c.user_id, u.country, u.tier, c.amount
         FROM {s} c JOIN users u ON c.user_id = u.id",
    ),
    (
        "left_join",
        "SELECT c.id, c.user_id, u.country, u.tier, c.amount
         FROM {s} c LEFT JOIN users u ON c.user_id = u.id",
    ),
    (
        "gold_inner",
        "SELECT c.id, c.user_id, u.country, u.tier, c.amount
         FROM {s} c JOIN users u ON c.user_id = u.id AND u.tier = 'gold'",
    ),
    (
        "gold_left",
        "SELECT c.id, c.user_id, u.country, u.tier, c.amount
         FROM {s} c LEFT JOIN users u ON c.user_id = u.id AND u.tier = 'gold'",
    ),
    (
        // The table on the left: a RIGHT JOIN keeps the stream's rows.
        "table_first",
        "SELECT c.id, c.user_id, u.country, u.tier, c.amount
         FROM users u RIGHT JOIN {s} c ON u.id = c.user_id",
    ),
];

/// Accounts: user u has u % 4 of them (no key), so a click may match
/// several rows, and the extra condition keeps all, some or none.
fn accounts_values() -> String {
    let rows = (1..=40).flat_map(|u| (0..u % 4).map(move |a| (u, a, (u * 7 + a * 13) % 100)));
    let values: Vec<String> = rows.map(|(u, a, b)| format!("({u}, {a}, {b})")).collect();
    values.join(", ")
}

const ACCOUNT_JOINS: &Joins = &[
    (
        "account_inner",
        "SELECT c.id, c.user_id, a.account, a.balance
         FROM {s} c JOIN accounts a ON c.user_id = a.user_id AND a.balance > 40",
    ),
    (
        "account_left",
        "SELECT c.id, c.user_id, a.account, a.balance
         FROM {s} c LEFT JOIN accounts a ON c.user_id = a.user_id AND a.balance > 40",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_with_an_eddy_table_match_postgres() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = eddy_table_scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn eddy_table_scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    let users = format!(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, country TEXT, tier TEXT);
         INSERT INTO users VALUES {};
         CREATE TABLE accounts (user_id BIGINT, account BIGINT, balance BIGINT);
         INSERT INTO accounts VALUES {};",
        users_values(),
        accounts_values()
    );
    execute(&client, &users).await?;
    let ddl = format!(
        "CREATE SOURCE clicks (id BIGINT, user_id BIGINT, amount BIGINT, ts TIMESTAMP)
         WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{CLICKS}',
               'rows.per.epoch' = '1000', seed = '7',
               'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
               'fields.user_id.min' = '1', 'fields.user_id.max' = '50',
               'fields.user_id.null_rate' = '0.02',
               'fields.amount.min' = '1', 'fields.amount.max' = '100');
         CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
            table = 'raw_clicks', create_table = 'true');
         CREATE STREAMING QUERY raw_copy WITH (trigger = '50 milliseconds')
            AS INSERT INTO raw_sink SELECT id, user_id, amount, ts FROM clicks;
         {joins}",
        url = pg.url(),
        joins = join_queries(TABLE_JOINS, "clicks", &pg.url())
            + &join_queries(ACCOUNT_JOINS, "clicks", &pg.url()),
    );
    execute(&client, &ddl).await?;

    let pg_client = pg.client().await?;
    execute(&pg_client, &users).await?;
    wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    ensure_ids_once(&pg_client, "raw_clicks", CLICKS).await?;
    check_joins(&client, &pg_client, TABLE_JOINS, "raw_clicks", CLICKS).await?;
    check_joins(&client, &pg_client, ACCOUNT_JOINS, "raw_clicks", CLICKS).await?;
    // The scenario covers what it claims: clicks without a user, clicks of
    // users failing the extra condition (kept once by the LEFT JOIN).
    let coverage = query_values(
        &pg_client,
        "SELECT (SELECT count(*) FROM left_join WHERE tier IS NULL) > 0,
                (SELECT count(*) FROM gold_left g JOIN users u ON g.user_id = u.id
                 WHERE g.tier IS NULL) > 0,
                (SELECT count(*) FROM gold_left)::text",
    )
    .await?;
    let all = [Some("t".into()), Some("t".into()), Some(CLICKS.to_string())];
    ensure!(
        coverage == [all],
        "(clicks without a user, clicks of non-gold users, gold_left rows) = {coverage:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_inserted_into_the_table_are_seen_by_later_batches() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = insert_while_running_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

/// 4,000 clicks, 100 per epoch, an epoch every 150 ms, LEFT JOINed with
/// `users` into an Eddy table. Users 21..=30 are inserted while the query
/// runs: clicks of epochs completed before the INSERT find no user, clicks
/// of epochs started after it find theirs.
async fn insert_while_running_scenario(eddy: &TestEddy) -> Result<()> {
    const ROWS: i64 = 4_000;
    const PER_EPOCH: i64 = 100;
    let client = eddy.client().await?;
    let old_users: Vec<String> = (1..=20).map(|id| format!("({id}, 'old_{id}')")).collect();
    execute(
        &client,
        &format!(
            "CREATE TABLE users (id BIGINT PRIMARY KEY, country TEXT);
             INSERT INTO users VALUES {};
             CREATE TABLE enriched (id BIGINT, user_id BIGINT, country TEXT);
             CREATE SINK enriched_sink WITH (connector = 'table', table = 'enriched');
             CREATE SOURCE clicks (id BIGINT, user_id BIGINT, ts TIMESTAMP)
             WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{ROWS}',
                   'rows.per.epoch' = '{PER_EPOCH}', seed = '21',
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                   'fields.user_id.min' = '1', 'fields.user_id.max' = '35');
             CREATE STREAMING QUERY enrich WITH (trigger = '150 milliseconds')
                AS INSERT INTO enriched_sink
                SELECT c.id, c.user_id, u.country FROM clicks c LEFT JOIN users u ON c.user_id = u.id;",
            old_users.join(", ")
        ),
    )
    .await?;

    wait_for_epoch(&client, "enrich", 8, true).await?;
    let before = query_status(&client, "enrich")
        .await?
        .context("enrich")?
        .epoch;
    let new_users: Vec<String> = (21..=30).map(|id| format!("({id}, 'new_{id}')")).collect();
    execute(
        &client,
        &format!("INSERT INTO users VALUES {}", new_users.join(", ")),
    )
    .await?;
    let after = query_status(&client, "enrich")
        .await?
        .context("enrich")?
        .epoch;
    ensure!(
        after + 2 < ROWS / PER_EPOCH,
        "the query was at epoch {after} of {} after the INSERT: too late to see it take effect",
        ROWS / PER_EPOCH
    );
    wait_for_status(&client, "enrich", "finished", DEFAULT_WAIT).await?;

    // Epochs up to `before` ran before the INSERT; epochs from `after + 2`
    // were planned after it returned. Epoch k reads ids [(k-1)·100, k·100).
    let surely_old = before * PER_EPOCH;
    let surely_new = (after + 1) * PER_EPOCH;
    let rows = query_values(&client, "SELECT id, user_id, country FROM enriched").await?;
    ensure!(
        rows.len() as i64 == ROWS,
        "enriched holds {} rows, expected one per click ({ROWS})",
        rows.len()
    );
    let mut ids = std::collections::BTreeSet::new();
    let mut seen_new = 0;
    for row in &rows {
        let number = |i: usize| -> Result<i64> {
            row[i]
                .as_deref()
                .context("NULL")?
                .parse()
                .context("not a number")
        };
        let (id, user) = (number(0)?, number(1)?);
        ensure!(ids.insert(id), "click {id} appears twice in enriched");
        let country = row[2].as_deref();
        let ok = match user {
            1..=20 => country == Some(format!("old_{user}").as_str()),
            21..=30 if id < surely_old => country.is_none(),
            21..=30 if id >= surely_new => country == Some(format!("new_{user}").as_str()),
            21..=30 => country.is_none() || country == Some(format!("new_{user}").as_str()),
            _ => country.is_none(),
        };
        ensure!(
            ok,
            "click {id} of user {user} joined {country:?} (INSERT between epochs {before} and {after})"
        );
        seen_new += i64::from(country.is_some_and(|c| c.starts_with("new_")));
    }
    ensure!(
        seen_new > 0,
        "no click found a user inserted while the query ran"
    );
    Ok(())
}
