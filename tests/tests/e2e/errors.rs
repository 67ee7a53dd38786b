//! Errors a user can act on: the right SQLSTATE, the position in the
//! statement, the valid values, the dependent object that blocks a DROP. And
//! after every error the server still answers.

use anyhow::{Result, ensure};
use eddy_tests::client::error_position;
use eddy_tests::{execute, expect_db_error, query_scalar};
use tokio_postgres::Client;
use tokio_postgres::error::DbError;

use crate::{TestEddy, shown_names, with_logs};

/// Runs `scenario` against a fresh Eddy, with its log on failure.
async fn with_eddy<F>(scenario: F) -> Result<()>
where
    F: AsyncFnOnce(&Client) -> Result<()>,
{
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        scenario(&client).await?;
        // A new session works too: no error took the server down.
        let fresh = eddy.client().await?;
        ensure!(
            query_scalar(&fresh, "SELECT 1").await? == "1",
            "a new session after the errors failed"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// Runs `sql`, which must fail with `code`, then checks that the session
/// still answers.
async fn expect_error(client: &Client, sql: &str, code: &str) -> Result<DbError> {
    let error = expect_db_error(client, sql).await?;
    ensure!(
        error.code().code() == code,
        "{sql}\nfailed with {} ({}), expected {code}",
        error.code().code(),
        error.message()
    );
    let answer = query_scalar(client, "SELECT 1").await?;
    ensure!(answer == "1", "after the error, SELECT 1 gave {answer:?}");
    Ok(error)
}

fn ensure_mentions(error: &DbError, words: &[&str]) -> Result<()> {
    for word in words {
        ensure!(
            error.message().contains(word),
            "error message {:?} does not mention {word:?}",
            error.message()
        );
    }
    Ok(())
}

#[tokio::test]
async fn syntax_errors_carry_42601_and_a_position() -> Result<()> {
    with_eddy(async |client| {
        let error = expect_error(client, "SELEC 1", "42601").await?;
        ensure!(
            error_position(&error) == Some(1),
            "SELEC 1: position {:?} (PostgreSQL says 1)",
            error.position()
        );

        let sql = "CREATE SOURCE broken (a BIGINT) WITH (connector = )";
        let error = expect_error(client, sql, "42601").await?;
        let position = error_position(&error);
        let len = sql.chars().count() as u32;
        ensure!(
            position.is_some_and(|p| (1..=len + 1).contains(&p)),
            "{sql}: position {position:?} is not inside the statement"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn option_errors_list_the_valid_choices() -> Result<()> {
    with_eddy(async |client| {
        let error = expect_error(
            client,
            "CREATE SINK s WITH (connector = 'postgres', url = 'postgres://x@localhost/db', table = 't', \
             modee = 'append')",
            "22023",
        )
        .await?;
        ensure_mentions(&error, &["unknown option 'modee'", "expected one of", "mode"])?;

        let error = expect_error(
            client,
            "CREATE SINK s WITH (connector = 'postgres', url = 'postgres://x@localhost/db', table = 't', \
             mode = 'merge')",
            "22023",
        )
        .await?;
        ensure_mentions(&error, &["mode", "append"])?;

        let error = expect_error(client, "CREATE SINK s WITH (connector = 'nosuch')", "22023").await?;
        ensure_mentions(&error, &["nosuch", "postgres", "table", "blackhole"])?;

        let error = expect_error(client, "CREATE SOURCE s (a BIGINT) WITH (connector = 'nosuch')", "22023").await?;
        ensure_mentions(&error, &["nosuch", "datagen"])?;

        for show in ["SHOW SOURCES", "SHOW SINKS"] {
            let names = shown_names(client, show).await?;
            ensure!(names.is_empty(), "{show} lists {names:?} after failed CREATEs");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn drop_source_in_use_needs_cascade() -> Result<()> {
    with_eddy(async |client| {
        execute(
            client,
            "CREATE SOURCE src (a BIGINT) WITH (connector = 'datagen', 'rows.per.second' = '10');
             CREATE SINK discard WITH (connector = 'blackhole');
             CREATE STREAMING QUERY uses_src WITH (trigger = '100 milliseconds', output_mode = 'append')
                AS INSERT INTO discard SELECT a FROM src;",
        )
        .await?;
        let error = expect_error(client, "DROP SOURCE src", "2BP01").await?;
        ensure_mentions(&error, &["uses_src"])?;
        ensure!(
            shown_names(client, "SHOW SOURCES").await? == ["src"],
            "the refused DROP removed the source"
        );
        ensure!(
            shown_names(client, "SHOW STREAMING QUERIES").await? == ["uses_src"],
            "the refused DROP removed the query"
        );

        execute(client, "DROP SOURCE src CASCADE").await?;
        let sources = shown_names(client, "SHOW SOURCES").await?;
        let queries = shown_names(client, "SHOW STREAMING QUERIES").await?;
        ensure!(
            sources.is_empty() && queries.is_empty(),
            "after CASCADE: sources {sources:?}, queries {queries:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn create_if_not_exists_and_duplicates() -> Result<()> {
    with_eddy(async |client| {
        let create = "CREATE SOURCE IF NOT EXISTS numbers (n BIGINT) WITH (connector = 'datagen')";
        execute(client, create).await?;
        execute(client, create).await?;
        ensure!(
            shown_names(client, "SHOW SOURCES").await? == ["numbers"],
            "IF NOT EXISTS created two sources"
        );

        let error = expect_error(
            client,
            "CREATE SOURCE numbers (n BIGINT) WITH (connector = 'datagen')",
            "42P07",
        )
        .await?;
        ensure_mentions(&error, &["numbers"])?;

        execute(client, "CREATE TABLE dup (a BIGINT)").await?;
        let error = expect_error(client, "CREATE TABLE dup (a BIGINT)", "42P07").await?;
        ensure_mentions(&error, &["dup"])?;
        Ok(())
    })
    .await
}
