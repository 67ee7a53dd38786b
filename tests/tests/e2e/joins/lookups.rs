//! Stream–table joins with a PostgreSQL table (a `postgres` source): the
//! same join as PostgreSQL's, with the keys pushed down and the table never
//! read in full, as PostgreSQL's own statistics show.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use eddy_tests::{
    DEFAULT_WAIT, Progress, TestPostgres, execute, query_i64, query_values, wait_until,
};
use tokio_postgres::Client;

use super::{Joins, check_joins, ensure_ids_once, join_queries};
use crate::{TestEddy, wait_for_status, with_logs};

/// Products in the PostgreSQL lookup table (ids 1..=PRODUCTS); orders ask
/// for ids up to 25,000, so some find none.
const PRODUCTS: i64 = 20_000;

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
