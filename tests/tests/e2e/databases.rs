//! What a database is in Eddy: one database, `eddy`, which clients may also
//! connect to as `postgres` and `template1` (the maintenance databases that
//! `dbmate`, `createdb` and `psql -l` connect to first).
//!
//! - `one_database_under_three_names`: a table created through `eddy` is
//!   seen through the other two names; `current_database()` is the name
//!   connected with; `pg_database`, psql's `\l` and `psql -l` list the
//!   three; dbmate's existence check on `postgres` finds `eddy`; another
//!   name is refused at connect (3D000), `CREATE DATABASE eddy` fails with
//!   42P04 and `CREATE DATABASE other` with 0A000, as do their DROPs.
//!   `dbmate up` itself runs in `compat`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use eddy_tests::client::connect;
use eddy_tests::{execute, expect_db_error, query_scalar, query_values};

use crate::catalog::psql_on;
use crate::{TestEddy, with_logs};

const NAMES: [&str; 3] = ["eddy", "postgres", "template1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_database_under_three_names() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let main = connect(eddy.addr(), "postgres", "eddy").await?;
        execute(
            &main,
            "CREATE TABLE shared (id integer); INSERT INTO shared VALUES (7)",
        )
        .await?;
        for name in NAMES {
            let client = connect(eddy.addr(), "postgres", name).await?;
            ensure!(query_scalar(&client, "SELECT current_database()").await? == name);
            ensure!(
                query_scalar(&client, "SELECT id FROM shared").await? == "7",
                "{name}"
            );
            let listed =
                query_values(&client, "SELECT datname FROM pg_database ORDER BY datname").await?;
            ensure!(
                listed == NAMES.map(|n| [Some(n.to_string())]),
                "pg_database seen from {name}: {listed:?}"
            );
            // dbmate's question, asked on the maintenance database.
            let rows = client
                .query(
                    "select true from pg_database where datname = $1",
                    &[&"eddy"],
                )
                .await?;
            ensure!(rows.len() == 1, "{name}: eddy not found in pg_database");
        }

        let refused = match connect(eddy.addr(), "postgres", "shop").await {
            Ok(_) => bail!("a connection to database \"shop\" was accepted"),
            Err(e) => e
                .downcast_ref::<tokio_postgres::Error>()
                .and_then(|e| e.as_db_error())
                .cloned()
                .with_context(|| format!("refused without a server error: {e:#}"))?,
        };
        ensure!(
            refused.code().code() == "3D000"
                && refused.message() == "database \"shop\" does not exist",
            "{refused:?}"
        );

        for (sql, code, text) in [
            (
                "CREATE DATABASE eddy",
                "42P04",
                "database \"eddy\" already exists",
            ),
            (
                "create database \"postgres\"",
                "42P04",
                "database \"postgres\" already exists",
            ),
            (
                "CREATE DATABASE other",
                "0A000",
                "Eddy has one database, \"eddy\"",
            ),
            (
                "DROP DATABASE eddy",
                "0A000",
                "Eddy has one database, \"eddy\"",
            ),
            (
                "DROP DATABASE other",
                "3D000",
                "database \"other\" does not exist",
            ),
        ] {
            let error = expect_db_error(&main, sql).await?;
            ensure!(
                error.code().code() == code && error.message().contains(text),
                "{sql}: {} {}",
                error.code().code(),
                error.message()
            );
        }
        execute(&main, "DROP DATABASE IF EXISTS other").await?;

        // psql's `\l` and `psql -l` list the three names.
        let listing = psql_on(eddy.port(), "postgres", "postgres", r"\l").await?;
        let names: Vec<&str> = listing
            .lines()
            .filter_map(|l| l.split('|').next())
            .filter(|n| NAMES.contains(n))
            .collect();
        ensure!(names == NAMES, "\\l:\n{listing}");
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new("psql")
                .args(["-h", "127.0.0.1", "-p", &eddy.port().to_string()])
                .args(["-U", "postgres", "-X", "-A", "-l"])
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .context("psql -l did not finish")??;
        let text = String::from_utf8_lossy(&output.stdout);
        ensure!(
            output.status.success() && NAMES.iter().all(|n| text.contains(&format!("\n{n}|"))),
            "psql -l: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
