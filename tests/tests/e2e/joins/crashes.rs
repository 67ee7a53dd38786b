//! Joins crashed at the sink-commit points and killed, exactly once: a
//! lookup join and the interval join into PostgreSQL.

use anyhow::Result;
use eddy_tests::{DEFAULT_WAIT, TestPostgres, execute};

use super::interval::{
    CLKS, IMPS, INTERVAL_JOIN, check_interval_result, compute_interval_expected, interval_sources,
    wait_for_raw_copies,
};
use super::{Joins, check_joins, create_and_crash, ensure_ids_once, join_queries};
use crate::{TestEddy, wait_for_epoch, wait_for_status, with_logs};

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
