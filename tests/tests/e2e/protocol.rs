//! Wire-protocol behaviour that clients depend on.
//!
//! Each check is one function that runs against a private PostgreSQL first
//! and then against Eddy: if PostgreSQL fails it, the expectation is wrong,
//! not Eddy. The raw [`WireClient`] shows what drivers hide: ParameterStatus
//! messages, transaction status bytes and exact message sequences.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::{Context, Result, ensure};
use eddy_tests::client::{STATEMENT_TIMEOUT, connect, within};
use eddy_tests::wire::{ErrorFields, parameter_statuses};
use eddy_tests::{BackendMessage, TestPostgres, WireClient, execute, query_values};
use tokio_postgres::Client;

use crate::{TestEddy, with_logs};

/// A server that a check runs against.
#[derive(Clone, Copy)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
}

impl Target {
    async fn wire(self) -> Result<WireClient> {
        WireClient::connect_default(self.addr).await
    }

    async fn client(self) -> Result<Client> {
        connect(self.addr, "postgres", "postgres").await
    }
}

/// Runs `check` against PostgreSQL, then against Eddy.
async fn on_both<F, Fut>(check: F) -> Result<()>
where
    F: Fn(Target) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let pg = TestPostgres::start().await?;
    check(Target {
        name: "postgres",
        addr: pg.addr(),
    })
    .await
    .context("PostgreSQL itself does not pass this check: the expectation is wrong")?;
    let eddy = TestEddy::start().await?;
    let result = check(Target {
        name: "eddy",
        addr: eddy.addr(),
    })
    .await
    .context("Eddy differs from PostgreSQL");
    with_logs(result, &eddy, None)
}

const READY_IDLE: BackendMessage = BackendMessage::ReadyForQuery(b'I');

fn ready(status: u8) -> BackendMessage {
    BackendMessage::ReadyForQuery(status)
}

fn row(values: &[&str]) -> BackendMessage {
    BackendMessage::DataRow(values.iter().map(|v| Some(v.to_string())).collect())
}

fn complete(tag: &str) -> BackendMessage {
    BackendMessage::CommandComplete(tag.to_owned())
}

/// The messages without ParameterStatus and NoticeResponse, which servers
/// may add without changing the meaning of a result.
fn essential(messages: &[BackendMessage]) -> Vec<BackendMessage> {
    messages
        .iter()
        .filter(|m| {
            !matches!(
                m,
                BackendMessage::ParameterStatus { .. } | BackendMessage::NoticeResponse(_)
            )
        })
        .cloned()
        .collect()
}

/// The ErrorResponse at `index` of `messages`.
fn error_at(messages: &[BackendMessage], index: usize) -> Result<&ErrorFields> {
    match messages.get(index) {
        Some(BackendMessage::ErrorResponse(e)) => Ok(e),
        other => {
            anyhow::bail!("expected an ErrorResponse at {index}, got {other:?} in {messages:?}")
        }
    }
}

#[tokio::test]
async fn startup_reports_the_parameters_drivers_read() -> Result<()> {
    on_both(|t| async move {
        let wire = t.wire().await?;
        let params = wire.startup_parameters();
        let value = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        for name in [
            "server_version",
            "server_encoding",
            "client_encoding",
            "DateStyle",
            "integer_datetimes",
            "standard_conforming_strings",
            "TimeZone",
            "application_name",
            "is_superuser",
            "session_authorization",
            "IntervalStyle",
            "default_transaction_read_only",
            "in_hot_standby",
        ] {
            ensure!(
                value(name).is_some(),
                "{}: no ParameterStatus {name}; got {params:?}",
                t.name
            );
        }
        for (name, expected) in [
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("IntervalStyle", "postgres"),
            ("application_name", "eddy-wire-test"),
            ("session_authorization", "postgres"),
            ("default_transaction_read_only", "off"),
            ("in_hot_standby", "off"),
        ] {
            ensure!(
                value(name) == Some(expected),
                "{}: {name} = {:?}, expected {expected:?}",
                t.name,
                value(name)
            );
        }
        let version = value("server_version").unwrap_or_default();
        let major: u32 = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("")
            .parse()?;
        ensure!(major >= 15, "{}: server_version {version:?}", t.name);
        ensure!(
            wire.startup
                .iter()
                .any(|m| matches!(m, BackendMessage::BackendKeyData { .. })),
            "{}: no BackendKeyData (query cancel needs it): {:?}",
            t.name,
            wire.startup
        );
        ensure!(
            wire.startup.last() == Some(&READY_IDLE),
            "{}: startup ends with {:?}",
            t.name,
            wire.startup.last()
        );
        wire.close().await
    })
    .await
}

#[tokio::test]
async fn multi_statement_query_stops_at_the_first_error() -> Result<()> {
    on_both(|t| async move {
        let mut wire = t.wire().await?;
        let messages = essential(&wire.simple_query("SELECT 1; SELECT 1/0; SELECT 3").await?);
        ensure!(messages.len() == 5, "{}: {messages:?}", t.name);
        ensure!(
            matches!(&messages[0], BackendMessage::RowDescription(c) if c.len() == 1)
                && messages[1] == row(&["1"])
                && messages[2] == complete("SELECT 1")
                && messages[4] == READY_IDLE,
            "{}: {messages:?}",
            t.name
        );
        let error = error_at(&messages, 3)?;
        ensure!(
            error.code == "22012",
            "{}: division by zero gave {error:?}",
            t.name
        );

        // The connection is usable and idle afterwards.
        let messages = essential(&wire.simple_query("SELECT 3").await?);
        ensure!(
            messages.len() == 4 && messages[1..] == [row(&["3"]), complete("SELECT 1"), READY_IDLE],
            "{}: {messages:?}",
            t.name
        );
        wire.close().await
    })
    .await
}

#[tokio::test]
async fn syntax_error_anywhere_runs_nothing() -> Result<()> {
    on_both(|t| async move {
        let mut wire = t.wire().await?;
        let messages = essential(&wire.simple_query("SELECT 1; SELEC 2").await?);
        ensure!(
            messages.len() == 2 && messages[1] == READY_IDLE,
            "{}: {messages:?}",
            t.name
        );
        let error = error_at(&messages, 0)?;
        // PostgreSQL parses the whole string first; the position counts from
        // the start of the query string and points at "SELEC".
        ensure!(
            error.code == "42601" && error.position == Some(11),
            "{}: expected 42601 at position 11, got {error:?}",
            t.name
        );
        wire.close().await
    })
    .await
}

#[tokio::test]
async fn empty_and_comment_only_queries() -> Result<()> {
    on_both(|t| async move {
        let mut wire = t.wire().await?;
        for sql in ["", "-- nothing", "  ;  "] {
            let messages = essential(&wire.simple_query(sql).await?);
            ensure!(
                messages == [BackendMessage::EmptyQueryResponse, READY_IDLE],
                "{}: {sql:?} gave {messages:?}",
                t.name
            );
        }
        wire.close().await
    })
    .await
}

#[tokio::test]
async fn transaction_status_bytes() -> Result<()> {
    on_both(|t| async move {
        let mut wire = t.wire().await?;
        let name = t.name;
        let messages = essential(&wire.simple_query("BEGIN").await?);
        ensure!(
            messages == [complete("BEGIN"), ready(b'T')],
            "{name}: BEGIN gave {messages:?}"
        );

        let messages = essential(&wire.simple_query("SELECT 1/0").await?);
        ensure!(
            messages.len() == 2 && messages[1] == ready(b'E'),
            "{name}: {messages:?}"
        );
        ensure!(
            error_at(&messages, 0)?.code == "22012",
            "{name}: {messages:?}"
        );

        let messages = essential(&wire.simple_query("SELECT 1").await?);
        ensure!(
            messages.len() == 2 && messages[1] == ready(b'E'),
            "{name}: {messages:?}"
        );
        let error = error_at(&messages, 0)?;
        ensure!(
            error.code == "25P02",
            "{name}: a statement in a failed transaction gave {error:?}"
        );

        let messages = essential(&wire.simple_query("ROLLBACK").await?);
        ensure!(
            messages == [complete("ROLLBACK"), READY_IDLE],
            "{name}: ROLLBACK gave {messages:?}"
        );

        let messages = essential(&wire.simple_query("BEGIN; COMMIT").await?);
        ensure!(
            messages == [complete("BEGIN"), complete("COMMIT"), READY_IDLE],
            "{name}: {messages:?}"
        );

        // COMMIT of a failed transaction rolls it back and says so.
        wire.simple_query("BEGIN").await?;
        wire.simple_query("SELECT 1/0").await?;
        let messages = essential(&wire.simple_query("COMMIT").await?);
        ensure!(
            messages == [complete("ROLLBACK"), READY_IDLE],
            "{name}: COMMIT after an error gave {messages:?}"
        );

        // A syntax error fails the transaction block like any other error.
        wire.simple_query("BEGIN").await?;
        let messages = essential(&wire.simple_query("SELEC 1").await?);
        ensure!(
            messages.len() == 2 && messages[1] == ready(b'E'),
            "{name}: a syntax error in a transaction gave {messages:?}"
        );
        let messages = essential(&wire.simple_query("SELECT 1").await?);
        ensure!(
            error_at(&messages, 0)?.code == "25P02",
            "{name}: after a syntax error in a transaction: {messages:?}"
        );
        let messages = essential(&wire.simple_query("COMMIT").await?);
        ensure!(
            messages == [complete("ROLLBACK"), READY_IDLE],
            "{name}: COMMIT after a syntax error gave {messages:?}"
        );

        // ROLLBACK TO SAVEPOINT takes a failed block back to T.
        wire.simple_query("BEGIN; SAVEPOINT a").await?;
        let messages = essential(&wire.simple_query("SELECT 1/0").await?);
        ensure!(
            messages.len() == 2 && messages[1] == ready(b'E'),
            "{name}: {messages:?}"
        );
        let messages = essential(&wire.simple_query("ROLLBACK TO SAVEPOINT a").await?);
        ensure!(
            messages == [complete("ROLLBACK"), ready(b'T')],
            "{name}: ROLLBACK TO from a failed block gave {messages:?}"
        );
        let messages = essential(&wire.simple_query("SELECT 1; COMMIT").await?);
        ensure!(
            messages.last() == Some(&READY_IDLE) && messages.contains(&complete("COMMIT")),
            "{name}: after ROLLBACK TO: {messages:?}"
        );
        wire.close().await
    })
    .await
}

#[tokio::test]
async fn set_reports_parameter_status() -> Result<()> {
    on_both(|t| async move {
        let mut wire = t.wire().await?;
        let messages = wire
            .simple_query("SET application_name = 'renamed'")
            .await?;
        ensure!(
            parameter_statuses(&messages).contains(&("application_name".into(), "renamed".into())),
            "{}: SET application_name gave {messages:?}",
            t.name
        );
        ensure!(
            essential(&messages) == [complete("SET"), READY_IDLE],
            "{}: {messages:?}",
            t.name
        );
        let messages = wire.simple_query("SET TIME ZONE 'UTC'").await?;
        ensure!(
            parameter_statuses(&messages).contains(&("TimeZone".into(), "UTC".into())),
            "{}: SET TIME ZONE gave {messages:?}",
            t.name
        );
        wire.close().await
    })
    .await
}

#[tokio::test]
async fn set_show_reset() -> Result<()> {
    on_both(|t| async move {
        let client = t.client().await?;
        let name = t.name;
        let shown =
            query_values(&client, "SET application_name = 'x'; SHOW application_name").await?;
        ensure!(
            shown == [[Some("x".to_owned())]],
            "{name}: SHOW application_name after SET gave {shown:?}"
        );
        execute(&client, "RESET application_name").await?;
        let shown = query_values(&client, "SHOW application_name").await?;
        ensure!(
            shown == [[Some(String::new())]],
            "{name}: SHOW application_name after RESET gave {shown:?}"
        );
        let shown = query_values(&client, "SHOW DateStyle").await?;
        ensure!(
            shown == [[Some("ISO, MDY".to_owned())]],
            "{name}: SHOW DateStyle gave {shown:?}"
        );
        execute(&client, "SET TIME ZONE 'UTC'").await?;
        let shown = query_values(&client, "SHOW TimeZone").await?;
        ensure!(
            shown == [[Some("UTC".to_owned())]],
            "{name}: SHOW TimeZone gave {shown:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn extended_protocol_with_parameters() -> Result<()> {
    on_both(|t| async move {
        let client = t.client().await?;
        let name = t.name;
        let sql = "SELECT $1::BIGINT + 1, $2::TEXT";
        let statement = within(STATEMENT_TIMEOUT, sql, client.prepare(sql)).await??;
        for (n, text) in [(41i64, "forty-two"), (-2, "")] {
            let rows = within(
                STATEMENT_TIMEOUT,
                sql,
                client.query(&statement, &[&n, &text]),
            )
            .await??;
            ensure!(rows.len() == 1, "{name}: {} rows", rows.len());
            let (sum, echoed): (i64, String) = (rows[0].try_get(0)?, rows[0].try_get(1)?);
            ensure!(
                (sum, echoed.as_str()) == (n + 1, text),
                "{name}: got ({sum}, {echoed:?}) for ({n}, {text:?})"
            );
        }

        execute(
            &client,
            "CREATE TABLE lookup (k BIGINT, v TEXT);
             INSERT INTO lookup VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        )
        .await?;
        let sql = "SELECT v FROM lookup WHERE k = $1";
        for (k, expected) in [(2i64, vec!["two"]), (9, vec![])] {
            let rows = within(STATEMENT_TIMEOUT, sql, client.query(sql, &[&k])).await??;
            let values: Vec<String> = rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            ensure!(values == expected, "{name}: k = {k} gave {values:?}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn version_names_postgres_16_and_eddy() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        let version = query_values(&client, "SELECT version()").await?;
        let text = version
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default();
        ensure!(
            text.starts_with("PostgreSQL 16.") && text.contains("Eddy"),
            "SELECT version() gave {version:?}"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
