//! Security: users with SCRAM-SHA-256 passwords (refused with 28P01, kept
//! across restarts, stored as verifiers only), TLS with `--tls-cert` /
//! `--tls-key` checked with psql, `--max-connections`, `statement_timeout`
//! and CancelRequest (57014, the session stays usable), and connector
//! passwords that never come back in output or logs.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use eddy_tests::client::{STATEMENT_TIMEOUT, within};
use eddy_tests::{EddyServer, execute, expect_db_error, query_rows, query_scalar};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::{SERVER_BIN, TestEddy, with_logs};

/// A query that runs for minutes unless stopped.
const SLOW_QUERY: &str = "SELECT count(*) FROM generate_series(1, 100000000000)";

async fn start_with(args: &[&str], env: &[(&str, &str)]) -> Result<TestEddy> {
    let data = tempfile::Builder::new()
        .prefix("eddy-test-data-")
        .tempdir()?;
    let server = EddyServer::start_with_options(
        SERVER_BIN,
        data.path(),
        args.iter().map(|a| a.to_string()).collect(),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .await?;
    Ok(TestEddy {
        server,
        _data: data,
    })
}

/// Connects as `user`, with a password and startup `options` if given.
async fn connect_as(
    addr: SocketAddr,
    user: &str,
    password: Option<&str>,
    options: Option<&str>,
) -> Result<Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(addr.ip().to_string())
        .port(addr.port())
        .user(user)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(10));
    if let Some(password) = password {
        config.password(password);
    }
    if let Some(options) = options {
        config.options(options);
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The SQLSTATE and message of a refused connection.
async fn refused(addr: SocketAddr, user: &str, password: Option<&str>) -> Result<(String, String)> {
    match connect_as(addr, user, password, None).await {
        Ok(_) => bail!("{user} with password {password:?} was let in"),
        Err(e) => {
            let db = e
                .as_db_error()
                .with_context(|| format!("{user}: refused without a server error: {e}"))?;
            Ok((db.code().code().to_owned(), db.message().to_owned()))
        }
    }
}

async fn ensure_login(addr: SocketAddr, user: &str, password: &str) -> Result<()> {
    let client = connect_as(addr, user, Some(password), None)
        .await
        .with_context(|| format!("{user} could not log in with the right password"))?;
    let who = query_scalar(&client, "SELECT 1").await?;
    ensure!(who == "1", "{user}: SELECT 1 gave {who:?}");
    Ok(())
}

async fn ensure_refused(addr: SocketAddr, user: &str, password: Option<&str>) -> Result<()> {
    let (code, message) = refused(addr, user, password).await?;
    ensure!(
        code == "28P01" && message == format!("password authentication failed for user \"{user}\""),
        "{user} with {password:?}: {code} {message}"
    );
    Ok(())
}

#[tokio::test]
async fn users_log_in_with_scram_passwords_that_survive_a_restart() -> Result<()> {
    let mut eddy = TestEddy::start().await?;
    let result = async {
        let addr = eddy.addr();
        // Nobody has a password yet: local connections are trusted.
        let admin = eddy.client().await?;
        execute(&admin, "CREATE USER alice WITH PASSWORD 'alice-first-pw'").await?;
        execute(&admin, "CREATE ROLE bob LOGIN PASSWORD 'bob-pw'").await?;
        let dup = expect_db_error(&admin, "CREATE USER alice PASSWORD 'x'").await?;
        ensure!(dup.code() == &SqlState::DUPLICATE_OBJECT, "{dup:?}");

        // Now that users have passwords, every new connection needs one.
        ensure_refused(addr, "alice", Some("wrong")).await?;
        ensure_refused(addr, "alice", Some("")).await?;
        ensure_refused(addr, "mallory", Some("alice-first-pw")).await?;
        ensure_refused(addr, "postgres", Some("postgres")).await?;
        ensure_login(addr, "alice", "alice-first-pw").await?;
        ensure_login(addr, "bob", "bob-pw").await?;

        let alice = connect_as(addr, "alice", Some("alice-first-pw"), None).await?;
        execute(&alice, "ALTER USER alice WITH PASSWORD 'alice-second-pw'").await?;
        ensure_refused(addr, "alice", Some("alice-first-pw")).await?;
        ensure_login(addr, "alice", "alice-second-pw").await?;
        execute(&alice, "DROP USER bob").await?;
        ensure_refused(addr, "bob", Some("bob-pw")).await?;
        let missing = expect_db_error(&alice, "DROP USER bob").await?;
        ensure!(missing.code() == &SqlState::UNDEFINED_OBJECT, "{missing:?}");
        execute(&alice, "DROP USER IF EXISTS bob").await?;

        let file = std::fs::read_to_string(eddy.data_dir().join("users.json"))?;
        for secret in ["alice-first-pw", "alice-second-pw", "bob-pw"] {
            ensure!(!file.contains(secret), "users.json holds {secret}:\n{file}");
        }
        ensure!(
            file.contains("stored_key"),
            "no verifier in users.json:\n{file}"
        );

        eddy.restart().await?;
        ensure_refused(addr, "alice", Some("alice-first-pw")).await?;
        ensure_login(addr, "alice", "alice-second-pw").await?;
        let log = std::fs::read_to_string(eddy.log_path())?;
        ensure!(!log.contains("alice-second-pw"), "the log shows a password");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

#[tokio::test]
async fn the_bootstrap_password_lets_the_superuser_in() -> Result<()> {
    let eddy = start_with(
        &["--auth", "password"],
        &[("EDDY_PASSWORD", "bootstrap-pw")],
    )
    .await?;
    let result = async {
        ensure_refused(eddy.addr(), "eddy", Some("not-it")).await?;
        ensure_login(eddy.addr(), "eddy", "bootstrap-pw").await
    }
    .await;
    with_logs(result, &eddy, None)?;
    // Requiring passwords while nobody has one would lock everyone out.
    let data = tempfile::tempdir()?;
    let output = tokio::process::Command::new(SERVER_BIN)
        .args(["serve", "--auth", "password", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("EDDY_PASSWORD")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .context("the server started although nobody can log in")??;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        !output.status.success() && stderr.contains("EDDY_PASSWORD"),
        "{}: {stderr}",
        output.status
    );
    Ok(())
}

fn make_certificate(dir: &Path) -> Result<()> {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running openssl")?;
    ensure!(status.success(), "openssl req: {status}");
    Ok(())
}

fn psql(addr: SocketAddr, conninfo: &str, command: &str) -> Result<(bool, String)> {
    let output = Command::new("psql")
        .arg("-X")
        .arg("-At")
        .arg(format!(
            "host={} port={} user=postgres dbname=postgres connect_timeout=10 {conninfo}",
            addr.ip(),
            addr.port()
        ))
        .args(["-c", command])
        .output()
        .context("running psql")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

#[tokio::test]
async fn tls_with_the_certificate_flags() -> Result<()> {
    let certs = tempfile::tempdir()?;
    make_certificate(certs.path())?;
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let eddy = start_with(
        &[
            "--tls-cert",
            cert.to_str().context("path")?,
            "--tls-key",
            key.to_str().context("path")?,
        ],
        &[],
    )
    .await?;
    let result = async {
        let (ok, text) = psql(eddy.addr(), "sslmode=require", "\\conninfo")?;
        ensure!(ok && text.contains("SSL connection"), "{text}");
        let (ok, text) = psql(eddy.addr(), "sslmode=require", "SELECT 40 + 2")?;
        ensure!(ok && text.trim() == "42", "{text}");
        // Plain connections are still accepted.
        let (ok, text) = psql(eddy.addr(), "sslmode=disable", "SELECT 1")?;
        ensure!(ok && text.trim() == "1", "{text}");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)?;
    // Without the flags, SSLRequest is refused and sslmode=require fails.
    let plain = TestEddy::start().await?;
    let (ok, text) = psql(plain.addr(), "sslmode=require", "SELECT 1")?;
    ensure!(!ok && text.contains("does not support SSL"), "{text}");
    Ok(())
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() -> Result<()> {
    let eddy = start_with(&["--max-connections", "2"], &[]).await?;
    let result = async {
        // The harness's readiness probe may still hold a slot for a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let first = connect_as(eddy.addr(), "postgres", None, None).await?;
        let second = connect_as(eddy.addr(), "postgres", None, None).await?;
        let Err(e) = connect_as(eddy.addr(), "postgres", None, None).await else {
            bail!("a third connection was accepted with --max-connections 2");
        };
        let db = e.as_db_error().context("no server error")?;
        ensure!(
            db.code() == &SqlState::TOO_MANY_CONNECTIONS
                && db.message() == "sorry, too many clients already",
            "{db:?}"
        );
        query_scalar(&second, "SELECT 1").await?;
        drop(first);
        // The slot frees when the server sees the connection end.
        let mut third = None;
        for _ in 0..50 {
            if let Ok(c) = connect_as(eddy.addr(), "postgres", None, None).await {
                third = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let third = third.context("no connection after one closed")?;
        query_scalar(&third, "SELECT 1").await?;
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// `sql` must fail with 57014 and `message`; then the session must work.
async fn ensure_cancelled(client: &Client, sql: &str, message: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let error = expect_db_error(client, sql).await?;
    ensure!(
        error.code() == &SqlState::QUERY_CANCELED && error.message() == message,
        "{sql}: {error:?}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(20),
        "stopped only after {:?}",
        started.elapsed()
    );
    let one = query_scalar(client, "SELECT 1").await?;
    ensure!(one == "1", "after the cancel: {one:?}");
    Ok(())
}

#[tokio::test]
async fn statement_timeout_cancels_long_statements() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        execute(&client, "SET statement_timeout = '300ms'").await?;
        ensure_cancelled(
            &client,
            SLOW_QUERY,
            "canceling statement due to statement timeout",
        )
        .await?;
        // Extended protocol too.
        let error = within(STATEMENT_TIMEOUT, "query", client.query(SLOW_QUERY, &[]))
            .await?
            .err()
            .context("the slow query succeeded")?;
        ensure!(error.code() == Some(&SqlState::QUERY_CANCELED), "{error:?}");
        execute(&client, "RESET statement_timeout").await?;
        // In a transaction, the timeout fails the block like any error.
        execute(&client, "SET statement_timeout = 200").await?;
        execute(&client, "BEGIN").await?;
        expect_db_error(&client, SLOW_QUERY).await?;
        let aborted = expect_db_error(&client, "SELECT 1").await?;
        ensure!(
            aborted.code() == &SqlState::IN_FAILED_SQL_TRANSACTION,
            "{aborted:?}"
        );
        execute(&client, "ROLLBACK").await?;

        // From the startup packet (PGOPTIONS).
        let from_options = connect_as(
            eddy.addr(),
            "postgres",
            None,
            Some("-c statement_timeout=250"),
        )
        .await?;
        let shown = query_scalar(&from_options, "SHOW statement_timeout").await?;
        ensure!(shown == "250", "{shown:?}");
        ensure_cancelled(
            &from_options,
            SLOW_QUERY,
            "canceling statement due to statement timeout",
        )
        .await
    }
    .await;
    with_logs(result, &eddy, None)
}

#[tokio::test]
async fn cancel_requests_stop_the_running_statement() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        for protocol in ["simple", "extended"] {
            let token = client.cancel_token();
            let canceller = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                token.cancel_query(NoTls).await
            });
            let started = std::time::Instant::now();
            let outcome = match protocol {
                "simple" => client.simple_query(SLOW_QUERY).await.map(|_| ()),
                _ => client.query(SLOW_QUERY, &[]).await.map(|_| ()),
            };
            canceller.await??;
            let error = outcome.err().context("the slow query was not cancelled")?;
            let db = error.as_db_error().context("no server error")?;
            ensure!(
                db.code() == &SqlState::QUERY_CANCELED
                    && db.message() == "canceling statement due to user request",
                "{protocol}: {db:?}"
            );
            ensure!(
                started.elapsed() < Duration::from_secs(20),
                "{protocol}: slow cancel"
            );
            let one = query_scalar(&client, "SELECT 1").await?;
            ensure!(one == "1", "{protocol}: after the cancel: {one:?}");
        }
        // A cancel with no statement running changes nothing.
        client.cancel_token().cancel_query(NoTls).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let two = query_scalar(&client, "SELECT 2").await?;
        ensure!(two == "2", "{two:?}");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// Every text a statement sends back: rows, notices aside, or its error.
async fn everything_shown(client: &Client, sql: &str) -> String {
    match within(STATEMENT_TIMEOUT, sql, client.simple_query(sql)).await {
        Ok(Ok(messages)) => messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(Err(e)) => format!("{e:?}"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn connector_passwords_are_never_shown() -> Result<()> {
    // Debug logging, so that the log of failed statements is checked too.
    let eddy = start_with(&[], &[("RUST_LOG", "debug")]).await?;
    let result = async {
        let client = eddy.client().await?;
        // An unreachable PostgreSQL: the sink is created with a warning.
        execute(
            &client,
            "CREATE SINK leaky WITH (connector = 'postgres', \
             url = 'postgres://app:url-secret-1@127.0.0.1:1/db?password=query-secret-2', \
             password = 'option-secret-3', table = 'target')",
        )
        .await?;
        // Failing statements are logged (at debug level).
        expect_db_error(
            &client,
            "CREATE SINK broken WITH (connector = 'nonexistent', password = 'option-secret-4')",
        )
        .await?;
        let mut shown = String::new();
        for sql in [
            "SHOW SINKS",
            "SHOW SOURCES",
            "SHOW CREATE SINK leaky",
            "DESCRIBE leaky",
            "DESCRIBE SINK leaky",
            "SELECT * FROM pg_catalog.pg_class",
            "SELECT * FROM information_schema.tables",
        ] {
            shown.push_str(&format!(
                "--- {sql}\n{}\n",
                everything_shown(&client, sql).await
            ));
        }
        let rows = query_rows(&client, "SHOW SINKS").await?;
        ensure!(rows.len() == 1, "SHOW SINKS: {} rows", rows.len());
        let log = std::fs::read_to_string(eddy.log_path())?;
        for secret in [
            "url-secret-1",
            "query-secret-2",
            "option-secret-3",
            "option-secret-4",
        ] {
            ensure!(!shown.contains(secret), "{secret} is shown:\n{shown}");
            ensure!(!log.contains(secret), "{secret} is in the log");
        }
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
