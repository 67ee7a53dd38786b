//! Joins end to end:
//!
//! - a stream with an Eddy table: INNER, LEFT, RIGHT with the table first,
//!   extra `ON` conditions, keys matching several rows, NULL keys; rows
//!   inserted into the table while the query runs;
//! - a stream with a PostgreSQL table (`postgres` source): the same join as
//!   PostgreSQL's, keys pushed down (`= ANY($1)`, `unnest` for two key
//!   columns), never a full read, as PostgreSQL's own statistics show;
//! - two streams within a time interval, late rows dropped, state bounded,
//!   an input that ends early;
//! - crashes at the sink-commit points and SIGKILL, exactly once;
//! - the joins and sink targets refused at CREATE time, with SQLSTATEs.
//!
//! Results are checked against the same join computed by PostgreSQL over
//! a plain copy of the stream (a copy query into a `postgres` sink).
//! Sources are seeded, unthrottled datagen with a fixed `rows.per.epoch`,
//! so epoch k (from 1) reads exactly the rows with `id` in
//! `[(k-1)·n, k·n)` and which rows are late follows from the rows alone.
//!
//! The interval join's expected result simulates the query's watermark:
//!
//! ```text
//! watermark(k) = min over both sources of (max ts read in epochs < k) - 5 s
//! late(row)    = row.ts <= watermark(epoch of row)       (none in epoch 1)
//! expected     = every pair of non-late rows with i.ad = c.ad
//!                and c.ts BETWEEN i.ts AND i.ts + 10 s, once
//! ```
//!
//! An input that has been read to its end no longer holds the watermark
//! back. The main scenario keeps both inputs running for the same number of
//! epochs (3,000 impressions at 300 per epoch, 1,000 clicks at 100); another
//! ends the clicks halfway.

use std::cell::Cell;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use eddy_tests::{
    DEFAULT_WAIT, Progress, TestPostgres, execute, expect_db_error, query_i64, query_rows,
    query_values, wait_until,
};
use tokio_postgres::Client;

use crate::{TestEddy, query_status, wait_for_epoch, wait_for_status, with_logs};

/// Rows of the stream joined with tables.
const CLICKS: i64 = 6_000;

/// Products in the PostgreSQL lookup table (ids 1..=PRODUCTS); orders ask
/// for ids up to 25,000, so some find none.
const PRODUCTS: i64 = 20_000;

/// Joins by name (of the query and of its PostgreSQL table), each a
/// SELECT reading the stream `{s}`.
type Joins = [(&'static str, &'static str)];

/// A `postgres` sink and a streaming query per join, reading `stream`.
fn join_queries(joins: &Joins, stream: &str, url: &str) -> String {
    joins
        .iter()
        .map(|(name, select)| {
            format!(
                "CREATE SINK {name}_sink WITH (connector = 'postgres', url = '{url}',
                    table = '{name}', create_table = 'true');
                 CREATE STREAMING QUERY {name} WITH (trigger = '50 milliseconds')
                    AS INSERT INTO {name}_sink {};",
                select.replace("{s}", stream)
            )
        })
        .collect()
}

/// Each join's table equals the same join computed by PostgreSQL over
/// `raw`, the raw copy of the stream; its counters agree.
async fn check_joins(
    client: &Client,
    pg: &Client,
    joins: &Joins,
    raw: &str,
    input_rows: i64,
) -> Result<()> {
    for (name, select) in joins {
        let status = wait_for_status(client, name, "finished", DEFAULT_WAIT).await?;
        let expected = select.replace("{s}", raw);
        let actual = format!("SELECT * FROM {name}");
        let rows = ensure_equal_rows(pg, &expected, &actual, name).await?;
        ensure!(
            status.input_rows == input_rows && status.output_rows == rows,
            "{name}: counters {status:?}, expected {input_rows} input rows and {rows} output rows"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Stream–table joins with an Eddy table
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Stream–table joins with a PostgreSQL table
// ---------------------------------------------------------------------------

/// The joins with the `products` postgres source.
const LOOKUP_JOINS: &Joins = &[
    (
        "orders_named",
        "SELECT o.id, o.product_id, p.name, p.price, o.qty
         FROM {s} o JOIN products p ON o.product_id = p.id",
    ),
    (
        "orders_pricey",
        "SELECT o.id, o.product_id, p.name, p.price, o.qty
         FROM {s} o LEFT JOIN products p ON o.product_id = p.id AND p.price >= 500",
    ),
];

/// A lookup by two key columns, without a cache.
const STOCK_JOIN: &Joins = &[(
    "orders_stocked",
    "SELECT o.id, o.product_id, o.region, s.on_hand
     FROM {s} o JOIN stock s ON o.product_id = s.product_id AND o.region = s.region",
)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lookups_push_the_keys_down() -> Result<()> {
    let mut pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = lookup_scenario(&mut pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

/// Per-table counters of PostgreSQL's statistics collector.
#[derive(Debug, Clone, Copy)]
struct TableStats {
    seq_tup_read: i64,
    idx_tup_fetch: i64,
}

async fn products_stats(pg: &Client) -> Result<TableStats> {
    let rows = query_values(
        pg,
        "SELECT seq_tup_read, coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables
         WHERE relname = 'products'",
    )
    .await?;
    let row = rows
        .first()
        .context("products is not in pg_stat_user_tables")?;
    let value = |i: usize| -> Result<i64> { Ok(row[i].as_deref().context("NULL")?.parse()?) };
    Ok(TableStats {
        seq_tup_read: value(0)?,
        idx_tup_fetch: value(1)?,
    })
}

/// 6,000 orders (500 per epoch) looked up in a 20,000-row PostgreSQL table
/// by two queries, cached for an hour. Besides matching PostgreSQL's own
/// join, each distinct key must have been fetched once per query, through
/// the index, in `= ANY($1)` queries (pg_stat_statements), and the table
/// never read in full (pg_stat_user_tables).
async fn lookup_scenario(pg: &mut TestPostgres, eddy: &TestEddy) -> Result<()> {
    const ORDERS: i64 = 6_000;
    {
        let setup = pg.client().await?;
        execute(
            &setup,
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
        )
        .await?;
    }
    pg.restart().await?;
    let setup = pg.client().await?;
    execute(
        &setup,
        &format!(
            "CREATE EXTENSION pg_stat_statements;
             CREATE TABLE products (id BIGINT PRIMARY KEY, name VARCHAR(40), price INTEGER,
                                    description TEXT) WITH (autovacuum_enabled = false);
             INSERT INTO products
                SELECT i, 'product_' || i, (i * 37) % 1000, repeat('x', 100)
                FROM generate_series(1, {PRODUCTS}) i;
             CREATE TABLE stock (product_id BIGINT, region TEXT, on_hand INTEGER,
                                 PRIMARY KEY (product_id, region));
             INSERT INTO stock SELECT p, r::text, (p * r) % 50
                FROM generate_series(1, {PRODUCTS}) p, generate_series(1, 3) r;
             ANALYZE products;"
        ),
    )
    .await?;
    // Flush this session's statistics before the baseline is taken.
    execute(&setup, "SELECT pg_stat_force_next_flush()").await?;
    execute(&setup, "SELECT pg_stat_statements_reset()").await?;
    drop(setup);
    let pg_client = pg.client().await?;
    let baseline = products_stats(&pg_client).await?;

    let client = eddy.client().await?;
    let ddl = format!(
        "CREATE SOURCE products (id BIGINT, name VARCHAR, price BIGINT)
         WITH (connector = 'postgres', url = '{jdbc}', table = 'products',
               'lookup.cache.ttl' = '1 hour');
         CREATE SOURCE stock (product_id BIGINT, region VARCHAR, on_hand BIGINT)
         WITH (connector = 'postgres', url = '{url}', table = 'stock');
         CREATE SOURCE orders (id BIGINT, product_id BIGINT, region TEXT, qty BIGINT,
                               ts TIMESTAMP)
         WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{ORDERS}',
               'rows.per.epoch' = '500', seed = '33',
               'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
               'fields.product_id.min' = '1', 'fields.product_id.max' = '25000',
               'fields.product_id.null_rate' = '0.02',
               'fields.region.kind' = 'sequence', 'fields.region.end' = '4',
               'fields.qty.min' = '1', 'fields.qty.max' = '9');
         CREATE SINK raw_sink WITH (connector = 'postgres', url = '{url}',
            table = 'raw_orders', create_table = 'true');
         CREATE STREAMING QUERY raw_copy WITH (trigger = '50 milliseconds')
            AS INSERT INTO raw_sink SELECT id, product_id, region, qty, ts FROM orders;
         {joins}",
        jdbc = pg.jdbc_url(),
        url = pg.url(),
        joins = join_queries(LOOKUP_JOINS, "orders", &pg.url())
            + &join_queries(STOCK_JOIN, "orders", &pg.url()),
    );
    execute(&client, &ddl).await?;
    wait_for_status(&client, "raw_copy", "finished", DEFAULT_WAIT).await?;
    for (name, _) in LOOKUP_JOINS.iter().chain(STOCK_JOIN) {
        wait_for_status(&client, name, "finished", DEFAULT_WAIT).await?;
    }
    ensure_ids_once(&pg_client, "raw_orders", ORDERS).await?;

    // Read before anything of ours touches `products`.
    let keys = query_i64(
        &pg_client,
        &format!(
            "SELECT count(DISTINCT product_id) FROM raw_orders WHERE product_id <= {PRODUCTS}"
        ),
    )
    .await?;
    let fetched_rows = 2 * keys;
    check_lookup_statements(&pg_client, fetched_rows).await?;
    // A backend's counters reach pg_stat_user_tables when it is idle, up
    // to 10 s later.
    let stats = wait_until(
        Duration::from_secs(60),
        "the lookups' index fetches in pg_stat_user_tables",
        || async {
            let now = products_stats(&pg_client).await?;
            Ok(
                if now.idx_tup_fetch - baseline.idx_tup_fetch >= fetched_rows {
                    Progress::Done(now)
                } else {
                    Progress::Pending(format!("{now:?} (baseline {baseline:?})"))
                },
            )
        },
    )
    .await?;
    let (seq_read, idx_fetched) = (
        stats.seq_tup_read - baseline.seq_tup_read,
        stats.idx_tup_fetch - baseline.idx_tup_fetch,
    );
    ensure!(
        seq_read < PRODUCTS,
        "PostgreSQL read {seq_read} rows of products sequentially: a full read ({PRODUCTS} rows) happened"
    );
    ensure!(
        idx_fetched == fetched_rows,
        "{idx_fetched} rows fetched through the index, expected each of the {keys} existing keys once per query ({fetched_rows})"
    );

    check_joins(&client, &pg_client, LOOKUP_JOINS, "raw_orders", ORDERS).await?;
    check_joins(&client, &pg_client, STOCK_JOIN, "raw_orders", ORDERS).await
}

/// Every statement Eddy sent about `products` pushes keys down with
/// `= ANY(…)`, and together they returned `fetched_rows` rows.
async fn check_lookup_statements(pg: &Client, fetched_rows: i64) -> Result<()> {
    let statements = query_values(
        pg,
        "SELECT query, calls::text, rows::text FROM pg_stat_statements
         WHERE query ILIKE '%products%' AND query NOT ILIKE '%pg_stat%'",
    )
    .await?;
    let mut calls = 0;
    let mut rows = 0;
    for s in &statements {
        let text = s[0].as_deref().unwrap_or_default();
        ensure!(
            text.contains("= ANY("),
            "a statement reads products without pushing keys down: {text}"
        );
        calls += s[1].as_deref().unwrap_or("0").parse::<i64>()?;
        rows += s[2].as_deref().unwrap_or("0").parse::<i64>()?;
    }
    let by_pairs = query_values(
        pg,
        "SELECT query FROM pg_stat_statements WHERE query LIKE '%FROM \"stock\"%'",
    )
    .await?;
    ensure!(
        !by_pairs.is_empty()
            && by_pairs
                .iter()
                .all(|q| q[0].as_deref().is_some_and(|q| q.contains("unnest("))),
        "lookups by (product_id, region) should send both key columns with unnest: {by_pairs:?}"
    );
    // 12 epochs of one batch each, two queries: at most one lookup each.
    ensure!(
        (2..=24).contains(&calls) && rows == fetched_rows,
        "lookups: {calls} calls returning {rows} rows, expected 2..=24 calls returning {fetched_rows} \
         (each existing key once per query); statements: {statements:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Stream–stream interval joins
// ---------------------------------------------------------------------------

/// One input of the interval join: a datagen source of `rows` rows,
/// `per_epoch` per epoch, event times `step` apart.
struct JoinInput {
    name: &'static str,
    rows: i64,
    per_epoch: i64,
    step: &'static str,
}

/// Impressions and clicks over the same 300 s of event time, in 10 epochs
/// each.
const IMPS: JoinInput = JoinInput {
    name: "imps",
    rows: 3_000,
    per_epoch: 300,
    step: "100 milliseconds",
};
const CLKS: JoinInput = JoinInput {
    name: "clks",
    rows: 1_000,
    per_epoch: 100,
    step: "300 milliseconds",
};

/// Both inputs, up to 3 s out of order, 3 % of rows pushed a minute back
/// (late), ads 1..=10; each copied raw into PostgreSQL (`<name>_raw`).
fn interval_sources(url: &str, seed: u64, inputs: [&JoinInput; 2]) -> String {
    let mut ddl = String::new();
    for (n, input) in (0..).zip(inputs) {
        let JoinInput {
            name,
            rows,
            per_epoch,
            step,
        } = input;
        ddl.push_str(&format!(
            "CREATE SOURCE {name} (id BIGINT, ad BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{rows}',
                   'rows.per.epoch' = '{per_epoch}', seed = '{seed}',
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                   'fields.ad.min' = '1', 'fields.ad.max' = '10',
                   'fields.ts.start' = '2026-01-01 00:00:00', 'fields.ts.step' = '{step}',
                   'fields.ts.max_out_of_order' = '3 seconds',
                   'fields.ts.late_rate' = '0.03', 'fields.ts.late_by' = '1 minute');
             CREATE SINK {name}_raw_sink WITH (connector = 'postgres', url = '{url}',
                table = '{name}_raw', create_table = 'true');
             CREATE STREAMING QUERY {name}_raw_copy WITH (trigger = '50 milliseconds')
                AS INSERT INTO {name}_raw_sink SELECT id, ad, ts FROM {name};",
            seed = seed + n,
        ));
    }
    ddl
}

const INTERVAL_JOIN: &str = "SELECT i.id AS imp, c.id AS clk, i.ad, i.ts AS imp_ts, c.ts AS clk_ts
     FROM imps i JOIN clks c
       ON i.ad = c.ad AND c.ts BETWEEN i.ts AND i.ts + INTERVAL '10' SECOND";

/// Waits for the raw copies and checks them.
async fn wait_for_raw_copies(client: &Client, pg: &Client, inputs: [&JoinInput; 2]) -> Result<()> {
    for input in inputs {
        let query = format!("{}_raw_copy", input.name);
        wait_for_status(client, &query, "finished", DEFAULT_WAIT).await?;
        ensure_ids_once(pg, &format!("{}_raw", input.name), input.rows).await?;
    }
    Ok(())
}

/// Builds, in `pg`'s session, `classified` (every input row with its epoch,
/// the query's watermark then, and whether it is late) and `expected` (the
/// join of the rows that are not late). Returns the number of late rows.
///
/// An input's watermark in epoch k is the largest event time it delivered
/// in earlier epochs minus 5 s; once the input has delivered its last
/// epoch it no longer holds the query's watermark back (infinity).
async fn compute_interval_expected(pg: &Client, imps: &JoinInput, clks: &JoinInput) -> Result<i64> {
    execute(
        pg,
        &format!(
            "CREATE TEMP TABLE classified AS
             WITH input AS (
                 SELECT 'imp' AS side, id, ad, ts::timestamp AS ts, id / {imp_n} AS epoch
                 FROM imps_raw
                 UNION ALL
                 SELECT 'clk', id, ad, ts::timestamp, id / {clk_n} FROM clks_raw
             ), epoch_max AS (
                 SELECT side, epoch, max(ts) AS max_ts FROM input GROUP BY side, epoch
             ), source_watermarks AS (
                 SELECT s.side, e.epoch,
                        CASE WHEN e.epoch > s.last_epoch THEN timestamp 'infinity'
                             ELSE (SELECT max(m.max_ts) FROM epoch_max m
                                   WHERE m.side = s.side AND m.epoch < e.epoch)
                                  - interval '5 seconds'
                        END AS watermark
                 FROM (SELECT side, max(epoch) AS last_epoch FROM input GROUP BY side) s
                 CROSS JOIN (SELECT DISTINCT epoch FROM input) e
             ), query_watermarks AS (
                 SELECT epoch, CASE WHEN count(watermark) = 2 THEN min(watermark) END AS watermark
                 FROM source_watermarks GROUP BY epoch
             )
             SELECT i.*, w.watermark, coalesce(i.ts <= w.watermark, false) AS late
             FROM input i JOIN query_watermarks w USING (epoch);
             CREATE TEMP TABLE expected AS
             SELECT i.id AS imp, c.id AS clk, i.ad, i.ts AS imp_ts, c.ts AS clk_ts
             FROM classified i JOIN classified c
               ON i.ad = c.ad AND c.ts BETWEEN i.ts AND i.ts + interval '10 seconds'
             WHERE i.side = 'imp' AND c.side = 'clk' AND NOT i.late AND NOT c.late;",
            imp_n = imps.per_epoch,
            clk_n = clks.per_epoch,
        ),
    )
    .await?;
    let late = query_i64(pg, "SELECT count(*) FROM classified WHERE late").await?;
    // Lateness must matter: some rows are late, and they had partners.
    let all_pairs = query_i64(
        pg,
        "SELECT count(*) FROM imps_raw i JOIN clks_raw c
           ON i.ad = c.ad AND c.ts BETWEEN i.ts AND i.ts + interval '10 seconds'",
    )
    .await?;
    let expected = query_i64(pg, "SELECT count(*) FROM expected").await?;
    ensure!(
        late > 0 && all_pairs > expected,
        "the scenario does not exercise lateness: {late} late rows, {all_pairs} pairs of all rows, \
         {expected} of non-late rows"
    );
    Ok(late)
}

/// Query `pairs` (into `ad_pairs`) equals `expected`, and its counters
/// agree.
async fn check_interval_result(client: &Client, pg: &Client, late: i64, input: i64) -> Result<()> {
    let expected = "SELECT * FROM expected";
    check_interval_query(client, pg, ("pairs", "ad_pairs", expected), late, input).await
}

/// Query `name`, writing into `table`, equals `expected` (SQL over the
/// temporary tables of [`compute_interval_expected`]); its counters agree.
async fn check_interval_query(
    client: &Client,
    pg: &Client,
    (name, table, expected): (&str, &str, &str),
    late: i64,
    input: i64,
) -> Result<()> {
    let status = wait_for_status(client, name, "finished", DEFAULT_WAIT).await?;
    let actual = format!("SELECT imp, clk, ad, imp_ts, clk_ts FROM {table}");
    let rows = ensure_equal_rows(pg, expected, &actual, name).await?;
    ensure!(
        status.late_rows == late,
        "{name} counted {} late rows, PostgreSQL computes {late}: {status:?}",
        status.late_rows
    );
    ensure!(
        status.input_rows == input && status.output_rows == rows,
        "{name} counters {status:?}, expected {input} input rows and {rows} output rows"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_join_matches_postgres_and_drops_late_rows() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = interval_scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn interval_scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{sources}
             CREATE SINK pairs_sink WITH (connector = 'postgres', url = '{url}',
                table = 'ad_pairs', create_table = 'true');
             CREATE STREAMING QUERY pairs WITH (trigger = '300 milliseconds')
                AS INSERT INTO pairs_sink {INTERVAL_JOIN};
             CREATE SINK offset_sink WITH (connector = 'postgres', url = '{url}',
                table = 'offset_pairs', create_table = 'true');
             CREATE STREAMING QUERY offset_pairs WITH (trigger = '50 milliseconds')
                AS INSERT INTO offset_sink
                SELECT i.id AS imp, c.id AS clk, c.ad, i.ts AS imp_ts, c.ts AS clk_ts
                FROM clks c JOIN imps i
                  ON c.ad = i.ad
                 AND c.ts BETWEEN i.ts + INTERVAL '2' SECOND AND i.ts + INTERVAL '10' SECOND;",
            sources = interval_sources(&pg.url(), 101, [&IMPS, &CLKS]),
            url = pg.url(),
        ),
    )
    .await?;

    // State is bounded by the watermark: about 15 s of impressions and 5 s
    // of clicks (~170 rows), never the 4,000 rows read.
    let most = Cell::new(0i64);
    let samples = Cell::new(0u32);
    wait_until(DEFAULT_WAIT, "pairs to finish", || async {
        let rows = query_rows(&client, "SHOW STREAMING QUERIES").await?;
        let row = rows
            .iter()
            .find(|r| r.get("name") == Some("pairs"))
            .context("pairs not listed")?;
        let status = row.get("status").unwrap_or_default().to_owned();
        let epoch: i64 = row.get("epoch").unwrap_or("0").parse()?;
        ensure!(status != "failed", "pairs failed: {:?}", row.get("error"));
        if status == "finished" {
            return Ok(Progress::Done(()));
        }
        if epoch >= 2 {
            let state: i64 = row.get("state_rows").unwrap_or("0").parse()?;
            most.set(most.get().max(state));
            samples.set(samples.get() + 1);
        }
        Ok(Progress::Pending(format!("{status} at epoch {epoch}")))
    })
    .await?;
    ensure!(
        samples.get() > 0 && most.get() > 0 && most.get() < 1_000,
        "state_rows mid-run: at most {} in {} samples; expected some, well below the {} rows read",
        most.get(),
        samples.get(),
        IMPS.rows + CLKS.rows
    );

    let pg_client = pg.client().await?;
    wait_for_raw_copies(&client, &pg_client, [&IMPS, &CLKS]).await?;
    let late = compute_interval_expected(&pg_client, &IMPS, &CLKS).await?;
    check_interval_result(&client, &pg_client, late, IMPS.rows + CLKS.rows).await?;
    // The clicks on the left, and a lower bound above zero: the same
    // watermark, so the same late rows, and a subset of the pairs.
    let expected = "SELECT * FROM expected WHERE clk_ts >= imp_ts + interval '2 seconds'";
    let query = ("offset_pairs", "offset_pairs", expected);
    check_interval_query(&client, &pg_client, query, late, IMPS.rows + CLKS.rows).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_input_stops_holding_the_watermark_back() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = ended_input_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

/// Clicks come slower in event time (20 s per epoch against 30 s of
/// impressions) and end after 5 of the 10 epochs: until then they hold the
/// watermark back; from then on the impressions' own watermark applies.
/// The server also dies right after the clicks ended (after the sink of
/// epoch 6) and again before the sink of epoch 8: the ended input must stay
/// ended across recovery.
async fn ended_input_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    const SHORT_CLKS: JoinInput = JoinInput {
        name: "clks",
        rows: 500,
        per_epoch: 100,
        step: "200 milliseconds",
    };
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{sources}
             CREATE SINK pairs_sink WITH (connector = 'postgres', url = '{url}',
                table = 'ad_pairs', create_table = 'true');",
            sources = interval_sources(&pg.url(), 303, [&IMPS, &SHORT_CLKS]),
            url = pg.url(),
        ),
    )
    .await?;
    let pg_client = pg.client().await?;
    wait_for_raw_copies(&client, &pg_client, [&IMPS, &SHORT_CLKS]).await?;
    drop(client);
    create_and_crash(
        eddy,
        "pairs",
        &format!(
            "CREATE STREAMING QUERY pairs WITH (trigger = '50 milliseconds')
                AS INSERT INTO pairs_sink {INTERVAL_JOIN}"
        ),
        &["after_sink@6", "before_sink@8"],
    )
    .await?;

    let late = compute_interval_expected(&pg_client, &IMPS, &SHORT_CLKS).await?;
    // Impressions late only for their own watermark: had the ended clicks
    // kept holding the watermark back, they would not have been late.
    let late_after_end = query_i64(
        &pg_client,
        "SELECT count(*) FROM classified
         WHERE late AND side = 'imp' AND ts > (SELECT max(ts) FROM clks_raw) - interval '5 seconds'",
    )
    .await?;
    ensure!(
        late_after_end > 0,
        "no impression is late only because the clicks ended; the scenario shows nothing"
    );
    let client = eddy.client().await?;
    check_interval_result(&client, &pg_client, late, IMPS.rows + SHORT_CLKS.rows).await
}

// ---------------------------------------------------------------------------
// Crashes
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_survive_crashes_exactly_once() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = crash_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

const CRASHED_LOOKUP: &Joins = &[(
    "orders_named",
    "SELECT o.id, o.product_id, p.name, p.price
     FROM {s} o LEFT JOIN products p ON o.product_id = p.id",
)];

/// A lookup join and the interval join into PostgreSQL, each crashed in
/// turn so that every fault lands in a known query. The raw copies the
/// expected results are computed from run first, without faults.
///
/// 1. `orders_named` (orders LEFT JOIN products, 20 epochs) dies after its
///    sink committed epoch 3, before the checkpoint commit; started again,
///    it is killed (SIGKILL) a few epochs later and then runs to the end.
/// 2. `pairs` (the interval join) dies after the sink of epoch 3, then
///    before the sink of epoch 6, then runs to the end.
async fn crash_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    const ORDERS: i64 = 4_000;
    let pg_client = pg.client().await?;
    execute(
        &pg_client,
        "CREATE TABLE products (id BIGINT PRIMARY KEY, name TEXT, price BIGINT);
         INSERT INTO products SELECT i, 'product_' || i, i % 100 FROM generate_series(1, 3000) i;",
    )
    .await?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{sources}
             CREATE SOURCE orders (id BIGINT, product_id BIGINT, ts TIMESTAMP)
             WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{ORDERS}',
                   'rows.per.epoch' = '200', seed = '44',
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                   'fields.product_id.min' = '1', 'fields.product_id.max' = '4000');
             CREATE SINK raw_orders_sink WITH (connector = 'postgres', url = '{url}',
                table = 'raw_orders', create_table = 'true');
             CREATE STREAMING QUERY raw_orders_copy WITH (trigger = '50 milliseconds')
                AS INSERT INTO raw_orders_sink SELECT id, product_id FROM orders;
             CREATE SOURCE products (id BIGINT, name VARCHAR, price BIGINT)
             WITH (connector = 'postgres', url = '{url}', table = 'products',
                   'lookup.cache.ttl' = '1 minute');
             CREATE SINK pairs_sink WITH (connector = 'postgres', url = '{url}',
                table = 'ad_pairs', create_table = 'true');",
            sources = interval_sources(&pg.url(), 202, [&IMPS, &CLKS]),
            url = pg.url(),
        ),
    )
    .await?;
    wait_for_raw_copies(&client, &pg_client, [&IMPS, &CLKS]).await?;
    wait_for_status(&client, "raw_orders_copy", "finished", DEFAULT_WAIT).await?;
    ensure_ids_once(&pg_client, "raw_orders", ORDERS).await?;
    drop(client);

    // Finished queries run no more epochs, so each fault below is reached
    // by the one query still running.
    create_and_crash(
        eddy,
        "orders_named",
        &join_queries(CRASHED_LOOKUP, "orders", &pg.url()),
        &["after_sink@3"],
    )
    .await?;
    wait_for_epoch(&eddy.client().await?, "orders_named", 8, false).await?;
    eddy.kill()?;
    eddy.start_again().await?;
    let client = eddy.client().await?;
    check_joins(&client, &pg_client, CRASHED_LOOKUP, "raw_orders", ORDERS).await?;
    drop(client);

    create_and_crash(
        eddy,
        "pairs",
        &format!(
            "CREATE STREAMING QUERY pairs WITH (trigger = '100 milliseconds')
                AS INSERT INTO pairs_sink {INTERVAL_JOIN}"
        ),
        &["after_sink@3", "before_sink@6"],
    )
    .await?;
    let client = eddy.client().await?;
    let late = compute_interval_expected(&pg_client, &IMPS, &CLKS).await?;
    check_interval_result(&client, &pg_client, late, IMPS.rows + CLKS.rows).await
}

/// Restarts the server with the first of `faults`, creates `query` and
/// lets the server die at each fault in turn (in `query`, as its log must
/// say); then starts it without one.
async fn create_and_crash(
    eddy: &mut TestEddy,
    query: &str,
    create: &str,
    faults: &[&str],
) -> Result<()> {
    eddy.set_env("EDDY_FAULT", faults[0]);
    eddy.stop().await?;
    eddy.start_again().await?;
    execute(&eddy.client().await?, create).await?;
    let marker = format!("EDDY_FAULT: query {query} aborts");
    let before = eddy.log_tail().matches(&marker).count();
    for (i, next) in faults[1..].iter().map(Some).chain([None]).enumerate() {
        let status = eddy.wait_for_exit(Duration::from_secs(120)).await?;
        ensure!(
            !status.success(),
            "the server exited cleanly instead of at fault {}",
            faults[i]
        );
        ensure!(
            eddy.log_tail().matches(&marker).count() == before + i + 1,
            "fault {} was not reached by query {query}",
            faults[i]
        );
        match next {
            Some(fault) => eddy.set_env("EDDY_FAULT", fault),
            None => eddy.clear_env(),
        }
        eddy.start_again().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Refused at CREATE time
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_joins_and_sink_targets_are_refused_at_create() -> Result<()> {
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
            "CREATE TABLE users (id BIGINT PRIMARY KEY, country TEXT, since TIMESTAMP);
             CREATE SOURCE clicks (id BIGINT, user_id BIGINT, ad BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH (connector = 'datagen', 'number.of.rows' = '10');
             CREATE SOURCE imps (id BIGINT, ad BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH (connector = 'datagen', 'number.of.rows' = '10');
             CREATE SOURCE products (id BIGINT, name VARCHAR)
             WITH (connector = 'postgres', url = '{url}', table = 'products');
             CREATE SINK out WITH (connector = 'blackhole');",
            url = pg.url()
        ),
    )
    .await?;
    let query = |select: &str| format!("CREATE STREAMING QUERY q AS INSERT INTO out {select}");
    let refused: [(&str, &[&str]); 7] = [
        (
            "SELECT c.id, u.country FROM clicks c JOIN users u ON c.ts > u.since",
            &["users", "equat"],
        ),
        (
            "SELECT i.id AS imp, c.id AS clk FROM imps i JOIN clicks c ON i.ad = c.ad",
            &["time interval"],
        ),
        (
            "SELECT i.id AS imp, c.id AS clk FROM imps i JOIN clicks c
               ON c.ts BETWEEN i.ts AND i.ts + INTERVAL '10' SECOND",
            &["equality"],
        ),
        (
            "SELECT i.id AS imp, c.id AS clk FROM imps i LEFT JOIN clicks c
               ON i.ad = c.ad AND c.ts BETWEEN i.ts AND i.ts + INTERVAL '10' SECOND",
            &["inner"],
        ),
        (
            "SELECT c.id, u.country FROM clicks c RIGHT JOIN users u ON c.user_id = u.id",
            &["right join", "left join"],
        ),
        (
            "SELECT c.id, u.country FROM clicks c FULL JOIN users u ON c.user_id = u.id",
            &["full join"],
        ),
        ("SELECT * FROM products", &["products", "not a stream"]),
    ];
    for (select, words) in refused {
        let sql = query(select);
        let error = expect_db_error(&client, &sql).await?;
        ensure!(
            error.code().code() == "0A000",
            "{sql}\nfailed with {} ({}), expected 0A000",
            error.code().code(),
            error.message()
        );
        for word in words {
            ensure!(
                error.message().to_lowercase().contains(word),
                "{sql}\nerror {:?} does not mention {word:?}",
                error.message()
            );
        }
    }
    let queries = query_rows(&client, "SHOW STREAMING QUERIES").await?;
    ensure!(
        queries.is_empty(),
        "refused queries were left behind: {} listed",
        queries.len()
    );

    let pg_client = pg.client().await?;
    execute(&pg_client, "CREATE TABLE no_key (id BIGINT, v TEXT)").await?;
    let sinks = [
        (
            "CREATE SINK upsert_no_key WITH (connector = 'postgres', url = '{url}',
                table = 'no_key', mode = 'upsert', primary_key = 'id')",
            "42P10",
            "no_key",
        ),
        (
            "CREATE SINK missing WITH (connector = 'postgres', url = '{url}',
                table = 'missing_table', create_table = 'false')",
            "42P01",
            "missing_table",
        ),
    ];
    for (sql, code, word) in sinks {
        let sql = sql.replace("{url}", &pg.url());
        let error = expect_db_error(&client, &sql).await?;
        ensure!(
            error.code().code() == code && error.message().contains(word),
            "{sql}\nfailed with {} ({}), expected {code} naming {word}",
            error.code().code(),
            error.message()
        );
    }
    let sinks = crate::shown_names(&client, "SHOW SINKS").await?;
    ensure!(sinks == ["out"], "SHOW SINKS after the refusals: {sinks:?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Checks in PostgreSQL
// ---------------------------------------------------------------------------

/// `table` holds ids 0..rows, each once.
async fn ensure_ids_once(pg: &Client, table: &str, rows: i64) -> Result<()> {
    let summary = query_values(
        pg,
        &format!("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {table}"),
    )
    .await?;
    let expected: Vec<Option<String>> = [rows, rows, 0, rows - 1]
        .iter()
        .map(|v| Some(v.to_string()))
        .collect();
    ensure!(
        summary == [expected],
        "{table} (count, distinct ids, min, max) = {summary:?}, expected ids 0..{rows} once each"
    );
    Ok(())
}

/// The two queries give the same multiset of rows (some); returns how many.
/// A failure shows a few rows on each side of the difference.
async fn ensure_equal_rows(pg: &Client, expected: &str, actual: &str, what: &str) -> Result<i64> {
    let diff = |a: &str, b: &str| format!("SELECT * FROM (({a}) EXCEPT ALL ({b})) d");
    let count = |sql: String| async move {
        query_i64(pg, &format!("SELECT count(*) FROM ({sql}) n")).await
    };
    let missing = count(diff(expected, actual)).await?;
    let extra = count(diff(actual, expected)).await?;
    let rows = count(actual.to_owned()).await?;
    let wanted = count(expected.to_owned()).await?;
    if missing > 0 || extra > 0 || rows == 0 {
        let sample = |sql: String| async move {
            query_values(pg, &format!("{sql} ORDER BY 1 LIMIT 5")).await
        };
        let missing_rows = sample(diff(expected, actual)).await?;
        let extra_rows = sample(diff(actual, expected)).await?;
        anyhow::bail!(
            "{what}: {rows} rows, expected {wanted}; {missing} expected rows missing \
             (first: {missing_rows:?}), {extra} unexpected rows (first: {extra_rows:?})"
        );
    }
    Ok(rows)
}
