//! Joins and sink targets refused at CREATE time, each with its SQLSTATE
//! and a message naming what is wrong; nothing is left behind.

use anyhow::{Result, ensure};
use eddy_tests::{TestPostgres, execute, expect_db_error, query_rows};

use crate::{TestEddy, with_logs};

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
