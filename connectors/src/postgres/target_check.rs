//! The check of a `postgres` sink's table at CREATE SINK.
//!
//! The query's columns are not known yet, so only what the sink's own
//! options decide is checked: the table exists (unless `create_table` will
//! create it) and, for `upsert`, the `primary_key` columns exist in it under
//! a primary key or UNIQUE constraint that `ON CONFLICT` can use. A table
//! that is missing now but will be created is fine; the column-by-column
//! check against the query's output happens when a streaming query opens
//! the sink.
//!
//! PostgreSQL being unreachable (or refusing the login, or the check
//! taking longer than [`CHECK_TIMEOUT`]) says nothing about the definition:
//! the answer is then [`TargetCheck::Unchecked`] and the sink is created
//! with a warning.

use std::time::Duration;

use eddy_engine::connector::TargetCheck;

use super::connection::{PgConnection, describe};
use super::target;
use super::{PostgresSinkConfig, WriteMode};

/// How long CREATE SINK waits for PostgreSQL before creating the sink
/// unchecked.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks the sink's table; never fails, see the module doc.
pub async fn check_target(sink: &str, config: &PostgresSinkConfig) -> TargetCheck {
    let context = format!("postgres sink '{sink}' ({})", config.url.display);
    let unchecked = |why: String| {
        TargetCheck::Unchecked(format!(
            "could not check PostgreSQL table {} of {context} now ({why}); the sink is created and the \
             table is checked when a streaming query starts writing to it",
            config.table
        ))
    };
    match tokio::time::timeout(CHECK_TIMEOUT, check(sink, &context, config)).await {
        Ok(Ok(found)) => found,
        Ok(Err(why)) => unchecked(why),
        Err(_) => unchecked(format!(
            "no answer within {} seconds",
            CHECK_TIMEOUT.as_secs()
        )),
    }
}

/// The check itself; `Err` when PostgreSQL could not answer.
async fn check(
    sink: &str,
    context: &str,
    config: &PostgresSinkConfig,
) -> Result<TargetCheck, String> {
    let conn = PgConnection::open(&config.url.config, context)
        .await
        .map_err(|e| match e {
            eddy_engine::EngineError::External { message, .. } => message,
            other => other.to_string(),
        })?;
    let client = &conn.client;
    let table = &config.table;
    let columns = match target::table_columns(client, table)
        .await
        .map_err(|e| describe(&e))?
    {
        Some(columns) => columns,
        None if config.create_table => return Ok(TargetCheck::Fits),
        None => {
            return Ok(TargetCheck::UndefinedTable(format!(
                "table {table} does not exist in PostgreSQL ({}); create it or set create_table = 'true' \
                 on sink '{sink}'",
                config.url.display
            )));
        }
    };
    let WriteMode::Upsert { key } = &config.mode else {
        return Ok(TargetCheck::Fits);
    };
    for name in key {
        if columns.iter().all(|c| &c.name != name) {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            let hint = columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .map(|c| format!(" (names are case-sensitive: did you mean \"{}\"?)", c.name))
                .unwrap_or_default();
            return Ok(TargetCheck::UndefinedColumn(format!(
                "primary_key column \"{name}\" of sink '{sink}' does not exist in PostgreSQL table \
                 {table}{hint}; its columns are {}",
                names.join(", ")
            )));
        }
    }
    let unique = target::unique_keys(client, table)
        .await
        .map_err(|e| describe(&e))?;
    Ok(match target::check_unique_key(table, key, &unique) {
        Ok(()) => TargetCheck::Fits,
        Err(e) => TargetCheck::NoUniqueKey(e.to_string()),
    })
}
