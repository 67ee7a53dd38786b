//! No statement can take the server down: statements nested deeper than
//! the server's stack allows are refused with 54001 (as PostgreSQL refuses
//! those deeper than its `max_stack_depth`), long AND/OR chains are
//! answered, and a panic inside a statement ends that statement with XX000.
//! After each, the session and other sessions still answer.

use anyhow::{Context, Result, anyhow, bail, ensure};
use eddy_tests::client::{STATEMENT_TIMEOUT, within};
use eddy_tests::{execute, expect_db_error, query_scalar};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{TestEddy, wait_for_status, with_logs};

/// `SELECT 1 + 1 + … + 1` with `terms` terms.
fn sum_of_ones(terms: usize) -> String {
    format!("SELECT {}", vec!["1"; terms].join(" + "))
}

/// `column = 0 OR column = 1 OR …` with `items` items.
fn or_chain(column: &str, items: usize) -> String {
    (0..items)
        .map(|i| format!("{column} = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Runs `sql`, which must either answer `expected` or fail with 54001
/// (with the hint naming the limits); then both `client` and a new session
/// must still answer.
async fn answered_or_too_deep(
    eddy: &TestEddy,
    client: &Client,
    what: &str,
    sql: &str,
    expected: &str,
) -> Result<&'static str> {
    let outcome = match within(STATEMENT_TIMEOUT, what, client.simple_query(sql)).await? {
        Ok(messages) => {
            let answer = messages.iter().find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            });
            ensure!(
                answer.as_deref() == Some(expected),
                "{what}: answered {answer:?}, expected {expected:?}"
            );
            "answered"
        }
        Err(e) => {
            let db = e.as_db_error().with_context(|| format!("{what}: {e}"))?;
            ensure!(
                db.code().code() == "54001",
                "{what}: failed with {} ({}), expected 54001 or an answer",
                db.code().code(),
                db.message()
            );
            ensure!(
                db.hint().is_some_and(|h| h.contains("nested up to")),
                "{what}: 54001 without the hint: {:?}",
                db.hint()
            );
            "refused"
        }
    };
    still_answering(eddy, client, what).await?;
    Ok(outcome)
}

/// Runs `sql`, named `what` in errors (the statements here are too long to
/// quote).
async fn run(client: &Client, what: &str, sql: &str) -> Result<()> {
    within(STATEMENT_TIMEOUT, what, client.batch_execute(sql))
        .await?
        .map_err(|e| anyhow!("{what}: {e}"))
}

/// Runs `sql`, which must fail with `code`.
async fn expect_code(client: &Client, what: &str, sql: &str, code: &str) -> Result<()> {
    match within(STATEMENT_TIMEOUT, what, client.batch_execute(sql)).await? {
        Ok(()) => bail!("{what} succeeded, expected {code}"),
        Err(e) => {
            let db = e.as_db_error().with_context(|| format!("{what}: {e}"))?;
            ensure!(
                db.code().code() == code,
                "{what}: {} {}, expected {code}",
                db.code().code(),
                db.message()
            );
            Ok(())
        }
    }
}

async fn still_answering(eddy: &TestEddy, client: &Client, what: &str) -> Result<()> {
    ensure!(
        query_scalar(client, "SELECT 1").await? == "1",
        "after {what} the session does not answer"
    );
    let other = eddy
        .client()
        .await
        .with_context(|| format!("after {what}"))?;
    ensure!(
        query_scalar(&other, "SELECT 2").await? == "2",
        "after {what} a new session does not answer"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_statements_are_answered_or_refused_with_54001() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        let cases = [
            ("10,000 terms", sum_of_ones(10_000), "10000", "refused"),
            ("200,000 terms", sum_of_ones(200_000), "200000", "refused"),
            ("1,000 terms", sum_of_ones(1_000), "1000", "answered"),
            (
                "a 10,000-item OR chain",
                format!(
                    "SELECT count(*) FROM (VALUES (1), (7), (20000)) t(a) WHERE {}",
                    or_chain("a", 10_000)
                ),
                "2",
                "answered",
            ),
            (
                "subqueries nested 300 deep in FROM",
                format!(
                    "SELECT a FROM {}(VALUES (42)) v(a){}",
                    "(SELECT a FROM ".repeat(300),
                    ") s".repeat(300)
                ),
                "42",
                "answered",
            ),
            (
                "scalar subqueries nested 40 deep",
                format!("SELECT {}1{}", "(SELECT ".repeat(40), ")".repeat(40)),
                "1",
                "refused",
            ),
            (
                "parentheses 20,000 deep",
                format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000)),
                "1",
                "refused",
            ),
        ];
        for (what, sql, expected, outcome) in cases {
            let seen = answered_or_too_deep(&eddy, &client, what, &sql, expected).await?;
            ensure!(seen == outcome, "{what}: {seen}, expected {outcome}");
        }
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_streaming_and_catalog_queries_are_refused_or_run() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        execute(
            &client,
            "CREATE SOURCE numbers (id BIGINT, ts TIMESTAMP)
                 WITH (connector = 'datagen', 'number.of.rows' = '100');
             CREATE SINK discard WITH (connector = 'blackhole');
             CREATE TABLE marker (a INT);",
        )
        .await?;
        let terms = vec!["id"; 10_000].join(" + ");
        let sql = format!(
            "CREATE STREAMING QUERY deep AS INSERT INTO discard SELECT {terms} FROM numbers"
        );
        expect_code(&client, "a 10,000-term streaming query", &sql, "54001").await?;
        still_answering(&eddy, &client, "a deep streaming query").await?;

        // Balanced, a long OR chain plans, and runs on the jobs' threads.
        let sql = format!(
            "CREATE STREAMING QUERY wide AS INSERT INTO discard SELECT id FROM numbers WHERE {}",
            or_chain("id", 10_000)
        );
        run(&client, "a 10,000-item OR chain in a streaming query", &sql).await?;
        let status = wait_for_status(
            &client,
            "wide",
            "finished",
            std::time::Duration::from_secs(120),
        )
        .await?;
        ensure!(
            status.input_rows == 100,
            "the OR-chain query read {status:?}"
        );
        still_answering(
            &eddy,
            &client,
            "a 10,000-item OR chain in a streaming query",
        )
        .await?;

        let catalog = format!(
            "SELECT count(*) FROM pg_catalog.pg_class WHERE {} = 0",
            vec!["oid"; 10_000].join(" + ")
        );
        let seen =
            answered_or_too_deep(&eddy, &client, "a deep catalog query", &catalog, "0").await?;
        ensure!(seen == "refused", "a deep catalog query was {seen}");
        let catalog = format!(
            "SELECT count(*) > 0 FROM pg_catalog.pg_class WHERE relname = 'marker' OR {}",
            or_chain("oid", 10_000)
        );
        let seen = answered_or_too_deep(&eddy, &client, "an OR-chain catalog query", &catalog, "t")
            .await?;
        ensure!(seen == "answered", "an OR-chain catalog query was {seen}");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// `eddy_test_panic()` exists only in the test server
/// (`tests/src/bin/eddy-test-server.rs`): a real panic inside a statement.
const PANICKING_STATEMENT: &str = "SELECT eddy_test_panic()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_ends_the_statement_with_xx000_not_the_session() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        let error = expect_db_error(&client, PANICKING_STATEMENT).await?;
        ensure!(
            error.code().code() == "XX000" && error.message().starts_with("internal error"),
            "the panicking statement gave {} {:?}",
            error.code().code(),
            error.message()
        );
        still_answering(&eddy, &client, "a panic").await?;

        // In a block, as after any error: failed until ROLLBACK.
        execute(&client, "BEGIN").await?;
        let error = expect_db_error(&client, PANICKING_STATEMENT).await?;
        ensure!(error.code().code() == "XX000", "in a block: {error:?}");
        let error = expect_db_error(&client, "SELECT 1").await?;
        ensure!(
            error.code().code() == "25P02",
            "after the panic in a block: {error:?}"
        );
        execute(&client, "ROLLBACK").await?;
        still_answering(&eddy, &client, "a panic in a block").await?;

        // A timestamp beyond microseconds is an error, as in PostgreSQL,
        // not an overflow in the row encoder.
        let error = expect_db_error(&client, "SELECT from_unixtime(9223372036854775807)").await?;
        ensure!(
            error.code().code() == "22008" && error.message() == "timestamp out of range",
            "a timestamp out of range gave {} {:?}",
            error.code().code(),
            error.message()
        );

        let log = std::fs::read_to_string(eddy.log_path())?;
        let panics = log.lines().filter(|l| l.contains("panic: ")).count();
        let ended = log
            .lines()
            .filter(|l| l.contains("statement ended by an internal error"))
            .count();
        ensure!(
            panics == 2 && ended == 2,
            "expected one panic line and one statement line per panic, got {panics} and {ended}"
        );
        ensure!(
            !log.contains("stack backtrace") && !log.contains("panicked at"),
            "the log has a raw panic report"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
