//! `/metrics`, scraped over HTTP and read back with an independent parser
//! of the Prometheus text format (`prometheus-parse`), each figure checked
//! against a scenario where its value is known:
//!
//! - `a_bounded_generator_shows_its_rows_epochs_and_sink`: datagen of
//!   3,000 rows, 1,000 per epoch, into a table: input, source and sink rows
//!   are 3,000, the epoch and status are SHOW STREAMING QUERIES', the
//!   epoch summaries cover the epochs run.
//! - `state_and_lag_match_a_file_scenario`: a 10-second tumbling count over
//!   5 keys of a file whose events leave 2 windows open: 10 state rows, as
//!   SHOW STREAMING QUERIES says; a query with an hourly trigger shows a
//!   new file's size as its lag in bytes.
//! - `errors_are_counted_by_sqlstate`: one syntax error in each protocol
//!   adds exactly 1 to `sqlstate="42601"` each time.
//! - `statements_are_counted_by_kind`: exactly what a session ran.
//! - `the_connections_gauge_follows_open_sessions`.
//! - `other_paths_and_methods_are_refused`: 404 and 405.
//! - `a_taken_metrics_port_stops_the_start_with_a_clear_error`, and `off`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use eddy_tests::{DEFAULT_WAIT, EddyServer, Progress, execute, query_i64, query_rows, wait_until};
use prometheus_parse::{Scrape, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::Client;

use crate::files::publish;
use crate::{SERVER_BIN, TestEddy, wait_for_status, with_logs};

/// An HTTP answer: status code, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// Sends `method path` to `addr` and reads the whole answer (the server
/// closes the connection after it).
async fn http(addr: SocketAddr, method: &str, path: &str) -> Result<Answer> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await?;
        anyhow::Ok(String::from_utf8(bytes)?)
    };
    let text = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .with_context(|| format!("{method} {path}: no answer within 10 s"))??;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("not an HTTP answer: {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// One scrape of `/metrics`, parsed.
struct Metrics(Scrape);

impl Metrics {
    async fn scrape(eddy: &EddyServer) -> Result<Metrics> {
        let answer = http(eddy.metrics_addr(), "GET", "/metrics").await?;
        ensure!(
            answer.status == 200,
            "GET /metrics: {} {}",
            answer.status,
            answer.body
        );
        let lines = answer.body.lines().map(|l| Ok(l.to_owned()));
        Ok(Metrics(Scrape::parse(lines)?))
    }

    /// The values of the samples of `name` whose labels include `labels`.
    fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .filter_map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    /// The value of the one sample of `name` with `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Result<f64> {
        match self.values(name, labels).as_slice() {
            [one] => Ok(*one),
            other => bail!("{name}{labels:?}: {} samples {other:?}", other.len()),
        }
    }

    /// The quantiles of summary `name` with `labels`, by quantile.
    fn quantiles(&self, name: &str, labels: &[(&str, &str)]) -> Result<Vec<(f64, f64)>> {
        let mut found =
            self.0.samples.iter().filter(|s| {
                s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
            });
        match (found.next().map(|s| &s.value), found.next()) {
            (Some(Value::Summary(qs)), None) => {
                Ok(qs.iter().map(|q| (q.quantile, q.count)).collect())
            }
            other => bail!("{name}{labels:?}: not one summary: {other:?}"),
        }
    }

    /// What the `# TYPE` line says of `name`, through the parsed value.
    fn is_counter(&self, name: &str) -> bool {
        self.0
            .samples
            .iter()
            .any(|s| s.metric == name && matches!(s.value, Value::Counter(_)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_generator_shows_its_rows_epochs_and_sink() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = bounded_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

const ROWS: i64 = 3000;

async fn bounded_scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE numbers (id BIGINT) WITH (
                connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{ROWS}',
                'rows.per.epoch' = '1000', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0');
             CREATE TABLE copied (id BIGINT);
             CREATE SINK to_copied WITH (connector = 'table', table = 'copied');
             CREATE STREAMING QUERY copy WITH (trigger = '100 milliseconds')
                 AS INSERT INTO to_copied SELECT id FROM numbers"
        ),
    )
    .await?;
    let shown = wait_for_status(&client, "copy", "finished", DEFAULT_WAIT).await?;
    let m = Metrics::scrape(eddy).await?;
    let query = [("query", "copy")];
    let source = [("query", "copy"), ("source", "numbers")];
    let sink = [("query", "copy"), ("sink", "to_copied")];
    let rows = ROWS as f64;
    ensure!(shown.input_rows == ROWS, "SHOW: {shown:?}");
    ensure!(m.value("eddy_query_input_rows_total", &query)? == rows);
    ensure!(m.is_counter("eddy_query_input_rows_total"));
    ensure!(m.value("eddy_query_output_rows_total", &query)? == rows);
    ensure!(m.value("eddy_source_input_rows_total", &source)? == rows);
    ensure!(m.value("eddy_sink_rows_total", &sink)? == rows);
    ensure!(query_i64(&client, "SELECT count(*) FROM copied").await? == ROWS);
    // The generator's one partition holds every row and has given them
    // all; its positions are those of eddy_catalog.source_partitions.
    ensure!(m.value("eddy_source_partition_end_offset", &source)? == rows);
    ensure!(m.value("eddy_source_partition_committed_offset", &source)? == rows);
    ensure!(m.value("eddy_source_partition_lag", &source)? == 0.0);
    let partitions = crate::rows(
        &client,
        "SELECT partition, committed_offset, end_offset, lag
         FROM eddy_catalog.source_partitions WHERE name = 'copy'",
    )
    .await?;
    let partition = |name: &str| m.value(name, &source).map(|v| v.to_string());
    let scraped = format!(
        "rows|{}|{}|{}",
        partition("eddy_source_partition_committed_offset")?,
        partition("eddy_source_partition_end_offset")?,
        partition("eddy_source_partition_lag")?
    );
    ensure!(
        partitions == [scraped.clone()],
        "source_partitions {partitions:?}, /metrics {scraped}"
    );
    let epoch = m.value("eddy_query_epoch", &query)?;
    ensure!(
        epoch == shown.epoch as f64 && epoch >= 3.0,
        "epoch {epoch}, SHOW STREAMING QUERIES says {}",
        shown.epoch
    );
    ensure!(m.value("eddy_sink_committed_epoch", &sink)? == epoch);
    for (status, expected) in [("finished", 1.0), ("running", 0.0), ("failed", 0.0)] {
        let labels = [("query", "copy"), ("status", status)];
        ensure!(
            m.value("eddy_query_status", &labels)? == expected,
            "status {status}"
        );
    }
    // Every epoch is in the (bounded) history the summaries cover.
    let count = m.value("eddy_query_epoch_duration_seconds_count", &query)?;
    ensure!(
        count == epoch.min(100.0),
        "summary count {count}, epoch {epoch}"
    );
    let quantiles = m.quantiles("eddy_query_epoch_duration_seconds", &query)?;
    ensure!(
        matches!(quantiles.as_slice(), [(0.5, p50), (0.99, p99)] if 0.0 < *p50 && p50 <= p99),
        "epoch duration quantiles {quantiles:?}"
    );
    for phase in ["read", "compute", "sink", "checkpoint"] {
        let labels = [("query", "copy"), ("phase", phase)];
        let quantiles = m.quantiles("eddy_query_epoch_phase_duration_seconds", &labels)?;
        ensure!(quantiles.len() == 2, "{phase}: {quantiles:?}");
    }

    // Dropped: its series are gone.
    execute(&client, "DROP STREAMING QUERY copy").await?;
    let m = Metrics::scrape(eddy).await?;
    ensure!(m.values("eddy_query_epoch", &query).is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_lag_match_a_file_scenario() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let dir = tempfile::tempdir()?;
    let result = file_scenario(&eddy, dir.path()).await;
    with_logs(result, &eddy, None)
}

/// A JSON line of `key` at second `second` of 2026-01-01.
fn event(key: &str, second: u32) -> String {
    format!(r#"{{"k": "{key}", "ts": "2026-01-01 00:00:{second:02}"}}"#)
}

const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

async fn file_scenario(eddy: &TestEddy, input: &Path) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE events (
                k VARCHAR, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '15' SECOND
             ) WITH (connector = 'file', path = '{}', format = 'json');
             CREATE TABLE counts (window_start TIMESTAMP, k VARCHAR, cnt BIGINT);
             CREATE SINK to_counts WITH (connector = 'table', table = 'counts');
             CREATE STREAMING QUERY windows
                WITH (trigger = '100 milliseconds', output_mode = 'append')
                AS INSERT INTO to_counts
                SELECT window_start, k, count(*) AS cnt
                FROM TUMBLE(events, ts, INTERVAL '10' SECOND)
                GROUP BY window_start, window_end, k",
            input.display()
        ),
    )
    .await?;
    wait_for_status(&client, "windows", "running", DEFAULT_WAIT).await?;
    // Seconds 1, 12, 25 and 29 of every key: windows [0,10), [10,20) and
    // [20,30); the watermark, 29 - 15 = 14 s, closes [0,10) only.
    let events: Vec<String> = KEYS
        .iter()
        .flat_map(|k| [1, 12, 25, 29].map(|s| event(k, s)))
        .collect();
    publish(input, "events-1.jsonl", &(events.join("\n") + "\n"))?;
    wait_until(DEFAULT_WAIT, "the first window to be written", || async {
        // Written, and its epoch's progress recorded (just after).
        let n = query_i64(
            &client,
            "SELECT least((SELECT count(*) FROM counts),
                          (SELECT output_rows FROM eddy_catalog.query_progress
                           WHERE name = 'windows'))",
        )
        .await?;
        Ok(if n >= 5 {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{n} rows"))
        })
    })
    .await?;

    let show = query_rows(&client, "SHOW STREAMING QUERIES").await?;
    let row = show
        .iter()
        .find(|r| r.get("name") == Some("windows"))
        .context("windows is not shown")?;
    let shown_state: f64 = row.get("state_rows").context("state_rows")?.parse()?;
    let m = Metrics::scrape(eddy).await?;
    let query = [("query", "windows")];
    let state = m.values("eddy_query_state_rows", &query);
    ensure!(
        state.iter().sum::<f64>() == shown_state && shown_state == 10.0,
        "state rows per operator {state:?}; SHOW STREAMING QUERIES says {shown_state}, 2 open windows x 5 keys are 10"
    );
    let labels = [("query", "windows"), ("operator", "window aggregate")];
    ensure!(m.value("eddy_query_state_rows", &labels)? == 10.0);
    ensure!(m.value("eddy_query_state_bytes", &labels)? > 0.0);
    // 2026-01-01 00:00:14 UTC.
    ensure!(m.value("eddy_query_watermark_seconds", &query)? == 1_767_225_614.0);
    ensure!(m.value("eddy_query_output_rows_total", &query)? == 5.0);

    // A query that reads once an hour: it reads the first file, then waits
    // while a second one arrives.
    execute(
        &client,
        "CREATE TABLE seen (k VARCHAR);
         CREATE SINK to_seen WITH (connector = 'table', table = 'seen');
         CREATE STREAMING QUERY hourly WITH (trigger = '1 hour')
             AS INSERT INTO to_seen SELECT k FROM events",
    )
    .await?;
    wait_until(DEFAULT_WAIT, "hourly to read the first file", || async {
        let n = query_i64(&client, "SELECT count(*) FROM seen").await?;
        Ok(if n >= 20 {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{n} rows"))
        })
    })
    .await?;
    let second = KEYS.map(|k| event(k, 40)).join("\n") + "\n";
    publish(input, "events-2.jsonl", &second)?;
    let size = second.len() as f64;
    let lag = [("query", "hourly"), ("source", "events"), ("unit", "bytes")];
    let seen = wait_until(DEFAULT_WAIT, "hourly's lag to be the new file", || async {
        let m = Metrics::scrape(eddy).await?;
        Ok(match m.values("eddy_source_lag", &lag).as_slice() {
            [l] if *l == size => Progress::Done(m),
            other => Progress::Pending(format!("lag {other:?}, file of {size} bytes")),
        })
    })
    .await?;
    let partition = [
        ("query", "hourly"),
        ("source", "events"),
        ("partition", "events-2.jsonl"),
    ];
    ensure!(seen.value("eddy_source_partition_end_offset", &partition)? == size);
    ensure!(seen.value("eddy_source_partition_lag", &partition)? == size);
    ensure!(
        seen.values("eddy_source_partition_committed_offset", &partition)
            .is_empty(),
        "a file not read yet has no committed offset"
    );
    ensure!(
        seen.value("eddy_source_unread_partitions", &lag[..2])? == 1.0,
        "one unread file"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_sqlstate() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = errors_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn errors_scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    let errors = |m: &Metrics, code: &str| {
        let v = m.values("eddy_errors_total", &[("sqlstate", code)]);
        v.first().copied().unwrap_or(0.0)
    };
    let before = Metrics::scrape(eddy).await?;
    ensure!(before.is_counter("eddy_statements_total"));
    // The simple protocol.
    ensure!(client.simple_query("SELEC 1").await.is_err());
    let simple = Metrics::scrape(eddy).await?;
    ensure!(
        errors(&simple, "42601") == errors(&before, "42601") + 1.0,
        "42601 went from {} to {}",
        errors(&before, "42601"),
        errors(&simple, "42601")
    );
    // The extended protocol: the error is Parse's.
    ensure!(client.prepare("SELEC 2").await.is_err());
    let extended = Metrics::scrape(eddy).await?;
    ensure!(errors(&extended, "42601") == errors(&simple, "42601") + 1.0);
    // Another SQLSTATE is counted apart.
    ensure!(client.simple_query("SELECT * FROM missing").await.is_err());
    let missing = Metrics::scrape(eddy).await?;
    ensure!(errors(&missing, "42P01") == errors(&extended, "42P01") + 1.0);
    ensure!(errors(&missing, "42601") == errors(&extended, "42601"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_counted_by_kind() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = statements_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn statements_scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    let before = Metrics::scrape(eddy).await?;
    let run: &[(&str, &str)] = &[
        ("ddl", "CREATE TABLE t (a INT)"),
        ("insert", "INSERT INTO t VALUES (1)"),
        ("insert", "INSERT INTO t VALUES (2)"),
        ("select", "SELECT a FROM t"),
        ("update", "UPDATE t SET a = 3 WHERE a = 1"),
        ("delete", "DELETE FROM t WHERE a = 2"),
        ("show", "SHOW STREAMING QUERIES"),
        ("set", "SET application_name = 'metrics'"),
        ("transaction", "BEGIN"),
        ("select", "SELECT 1"),
        ("transaction", "COMMIT"),
        ("ddl", "DROP TABLE t"),
    ];
    for (_, sql) in run {
        client.simple_query(sql).await?;
    }
    // The extended protocol counts too.
    client.query("SELECT $1::INT", &[&7i32]).await?;
    let after = Metrics::scrape(eddy).await?;
    let mut expected: HashMap<&str, f64> = HashMap::new();
    for (kind, _) in run {
        *expected.entry(kind).or_default() += 1.0;
    }
    *expected.entry("select").or_default() += 1.0;
    for kind in [
        "select",
        "insert",
        "update",
        "delete",
        "ddl",
        "show",
        "set",
        "transaction",
        "copy",
        "other",
    ] {
        let labels = [("kind", kind)];
        let ran = expected.get(kind).copied().unwrap_or(0.0);
        for name in [
            "eddy_statements_total",
            "eddy_statement_duration_seconds_count",
        ] {
            let delta = after.value(name, &labels)? - before.value(name, &labels)?;
            ensure!(
                delta == ran,
                "{name}{{kind={kind:?}}} grew by {delta}, {ran} ran"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connections_gauge_follows_open_sessions() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = connections_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

/// Waits until `eddy_connections` is `expected`; returns the scrape.
async fn wait_for_connections(eddy: &EddyServer, expected: f64) -> Result<Metrics> {
    let what = format!("{expected} open connections");
    wait_until(Duration::from_secs(30), &what, || async {
        let m = Metrics::scrape(eddy).await?;
        Ok(match m.value("eddy_connections", &[])? {
            n if n == expected => Progress::Done(m),
            n => Progress::Pending(format!("{n}")),
        })
    })
    .await
}

async fn connections_scenario(eddy: &TestEddy) -> Result<()> {
    // The harness's probe at startup has gone.
    let idle = wait_for_connections(eddy, 0.0).await?;
    let accepted = |m: &Metrics| m.value("eddy_connections_accepted_total", &[]);
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..3 {
        clients.push(eddy.client().await?);
    }
    let open = wait_for_connections(eddy, 3.0).await?;
    ensure!(accepted(&open)? == accepted(&idle)? + 3.0);
    clients.truncate(1);
    let one = wait_for_connections(eddy, 1.0).await?;
    ensure!(
        accepted(&one)? == accepted(&open)?,
        "closing accepts nothing"
    );
    ensure!(clients[0].simple_query("SELECT 1").await.is_ok());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_paths_and_methods_are_refused() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let addr = eddy.metrics_addr();
    let ok = http(addr, "GET", "/metrics").await?;
    ensure!(ok.status == 200);
    ensure!(
        ok.headers.get("content-type").map(String::as_str) == Some("text/plain; version=0.0.4"),
        "content type {:?}",
        ok.headers.get("content-type")
    );
    ensure!(ok.body.contains("# TYPE eddy_connections gauge"));
    for path in ["/", "/metric", "/metrics/queries", "/favicon.ico"] {
        let answer = http(addr, "GET", path).await?;
        ensure!(answer.status == 404, "GET {path}: {}", answer.status);
    }
    let post = http(addr, "POST", "/metrics").await?;
    ensure!(post.status == 405, "POST /metrics: {}", post.status);
    ensure!(post.headers.get("allow").map(String::as_str) == Some("GET, HEAD"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_stops_the_start_with_a_clear_error() -> Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?;
    let data = tempfile::tempdir()?;
    let args = vec!["--metrics-listen".to_owned(), addr.to_string()];
    // Without a backtrace after it, the error stays within the log's tail.
    let env = ["RUST_BACKTRACE", "RUST_LIB_BACKTRACE"].map(|v| (v.to_owned(), "0".to_owned()));
    let error =
        match EddyServer::start_with_options(SERVER_BIN, data.path(), args, env.into()).await {
            Ok(_) => bail!("the server started although {addr} is taken"),
            Err(e) => format!("{e:#}"),
        };
    ensure!(
        error.contains(&format!("cannot serve /metrics on {addr}")),
        "{error}"
    );

    // `off`: nothing listens.
    let data = tempfile::tempdir()?;
    let args = vec!["--metrics-listen".to_owned(), "off".to_owned()];
    let eddy = EddyServer::start_with_options(SERVER_BIN, data.path(), args, vec![]).await?;
    ensure!(eddy.client().await?.simple_query("SELECT 1").await.is_ok());
    // Not "nothing answers on some port": another test's server may have
    // taken the one the harness picked.
    let log = std::fs::read_to_string(eddy.log_path())?;
    ensure!(
        !log.contains("serving Prometheus metrics"),
        "metrics served with --metrics-listen off:\n{log}"
    );
    Ok(())
}
