//! The scripts in `examples/` run as written (with the addresses and paths
//! of the test's own Kafka, PostgreSQL and directories substituted) and
//! produce results.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::{Progress, TestPostgres, execute, query_i64, wait_until};
use tokio_postgres::Client;

use crate::{TestEddy, with_logs};

fn example(name: &str) -> Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

async fn wait_for_rows(client: &Client, sql: &str, what: &str) -> Result<i64> {
    wait_until(Duration::from_secs(120), what, || async {
        let n = query_i64(client, sql).await?;
        Ok(if n > 0 {
            Progress::Done(n)
        } else {
            Progress::Pending(format!("{n} rows"))
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_scripts_run() -> Result<()> {
    let kafka = TestKafka::start()?;
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = scenario(&kafka, &pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn scenario(kafka: &TestKafka, pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;

    execute(&client, &example("clicks_per_page.sql")?).await?;

    kafka.create_topic("orders", 2)?;
    let mut orders: Vec<OutgoingMessage> = (0..600)
        .map(|i| OutgoingMessage {
            partition: Some(i % 2),
            key: None,
            payload: format!(
                r#"{{"order_id": {i}, "customer": {}, "amount": 2.5, "ts": "2026-01-01 10:{:02}:{:02}"}}"#,
                i % 5,
                i / 60,
                i % 60
            ),
            timestamp_ms: None,
        })
        .collect();
    orders.push(OutgoingMessage {
        partition: Some(0),
        key: None,
        payload: "not json".into(),
        timestamp_ms: None,
    });
    kafka.produce("orders", &orders)?;
    let kafka_sql = example("kafka_to_postgres.sql")?
        .replace("localhost:9092", &kafka.bootstrap_servers())
        .replace(
            "jdbc:postgresql://localhost:5432/shop?user=app",
            &pg.jdbc_url(),
        );
    execute(&client, &kafka_sql).await?;

    let input = tempfile::tempdir()?;
    let output = tempfile::tempdir()?;
    let lines: String = (0..100)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"kind\": \"k{}\", \"ts\": \"2026-01-01 00:{:02}:00\"}}\n",
                i % 3,
                i / 10
            )
        })
        .collect();
    std::fs::write(input.path().join("batch.json.tmp"), lines)?;
    std::fs::rename(
        input.path().join("batch.json.tmp"),
        input.path().join("batch.json"),
    )?;
    let files_sql = example("files_to_files.sql")?
        .replace("/tmp/eddy-in", &input.path().display().to_string())
        .replace("/tmp/eddy-out", &output.path().display().to_string());
    execute(&client, &files_sql).await?;

    wait_for_rows(
        &client,
        "SELECT count(*) FROM clicks_per_page",
        "clicks_per_page windows",
    )
    .await?;
    let pg_client = pg.client().await?;
    wait_for_rows(
        &pg_client,
        "SELECT count(*) FROM customer_minutes",
        "customer_minutes in PostgreSQL",
    )
    .await?;
    wait_for_rows(
        &client,
        "SELECT count(*) FROM orders_errors",
        "the bad order in orders_errors",
    )
    .await?;
    wait_for_rows(
        &client,
        "SELECT count(*) FROM kinds_per_minute",
        "kinds_per_minute windows",
    )
    .await?;
    // The use cases of DESIGN §9.
    let pg_sql = |name: &str| -> Result<String> {
        Ok(example(name)?.replace(
            "jdbc:postgresql://localhost:5432/shop?user=app",
            &pg.jdbc_url(),
        ))
    };
    execute(&client, &pg_sql("sessionization.sql")?).await?;
    kafka.create_topic("transactions", 1)?;
    // Card 4111-0001 pays 6 times within a minute: an alert.
    let transactions: Vec<OutgoingMessage> = (0..40)
        .map(|i| OutgoingMessage {
            partition: Some(0),
            key: None,
            payload: format!(
                r#"{{"card": "4111-000{}", "amount": 20.0, "merchant": "m{i}", "ts": "2026-01-01 10:{:02}:{:02}"}}"#,
                if i < 6 { 1 } else { 2 + i % 7 },
                i / 4,
                (i % 4) * 10
            ),
            timestamp_ms: None,
        })
        .collect();
    kafka.produce("transactions", &transactions)?;
    let fraud_sql =
        pg_sql("fraud_alerts.sql")?.replace("localhost:9092", &kafka.bootstrap_servers());
    execute(&client, &fraud_sql).await?;
    execute(&client, &example("portfolio.sql")?).await?;
    execute(&client, &example("quote_fishing.sql")?).await?;

    wait_for_rows(
        &pg_client,
        "SELECT count(*) FROM user_sessions",
        "user_sessions in PostgreSQL",
    )
    .await?;
    let alerts = wait_for_rows(
        &pg_client,
        "SELECT count(*) FROM fraud_alerts WHERE card = '4111-0001'",
        "a fraud alert for card 4111-0001",
    )
    .await?;
    ensure!(alerts > 0);
    wait_for_rows(
        &client,
        "SELECT count(*) FROM portfolio_value",
        "portfolio_value rows",
    )
    .await?;
    wait_for_rows(
        &client,
        "SELECT count(*) FROM quote_fishing",
        "quote_fishing rows",
    )
    .await?;
    let csv_files = std::fs::read_dir(output.path())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".csv"))
        .count();
    ensure!(csv_files > 0, "files_to_files.sql wrote no CSV file");
    Ok(())
}
