//! The `tables-sql` scenario: Eddy tables as a user reaches them, through
//! SQL over pgwire from a client (tokio-postgres) to an `eddy` server
//! process started for the run, with fsync on as in production.
//!
//! - single-row `INSERT … VALUES ($1, $2, $3)` (a prepared statement, each
//!   its own transaction) into an empty keyed table and into one of
//!   1,000,000 rows: median latency and their ratio;
//! - `SELECT … WHERE k = $1` on 10,000,000 rows: median and p99 latency;
//! - `SELECT sum(v)` over the 10,000,000 rows: rows per second;
//! - a streaming query upserting 4,000,000 rows with 1,000,000 keys into a
//!   `table` sink with `mode = 'upsert'`: rows per second (wall), and per
//!   CPU-second of the server process.
//!
//! The server is the `eddy` binary next to this one: build both with
//! `cargo build --release -p eddy-server -p eddy-bench`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_postgres::{Client, NoTls};

use crate::median;

/// A server process for one run, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> anyhow::Result<Server> {
        let binary = eddy_binary()?;
        let data = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(&binary)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data.path())
            .args(["--metrics-listen", "off"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .env("RUST_LOG", "warn")
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Server {
            child,
            port,
            _data: data,
        })
    }

    async fn connect(&self) -> anyhow::Result<Client> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let config = format!("host=127.0.0.1 port={} user=eddy dbname=eddy", self.port);
            match tokio_postgres::connect(&config, NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    return Ok(client);
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => return Err(e).context("connecting to the eddy server"),
            }
        }
    }

    /// User + system CPU time of the server process (from /proc).
    fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses).
        let rest = stat.rsplit_once(')').context("/proc stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
    }
}

fn eddy_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let binary = exe.with_file_name("eddy");
    if !binary.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p eddy-server -p eddy-bench`",
            binary.display()
        );
    }
    Ok(binary)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Fills `table` with keys `from..=to` in statements of a million rows.
async fn fill(client: &Client, table: &str, from: i64, to: i64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut start = from;
    while start <= to {
        let end = (start + 999_999).min(to);
        client
            .batch_execute(&format!(
                "INSERT INTO {table} SELECT k, k * 2, 'name ' || k FROM generate_series({start}, {end}) AS s(k)"
            ))
            .await?;
        start = end + 1;
    }
    Ok((to - from + 1) as f64 / started.elapsed().as_secs_f64())
}

/// Median latency in µs of single-row inserts of keys `from..from+n`.
async fn insert_latency(client: &Client, table: &str, from: i64, n: i64) -> anyhow::Result<f64> {
    let insert = client
        .prepare(&format!("INSERT INTO {table} VALUES ($1, $2, $3)"))
        .await?;
    let mut micros = Vec::with_capacity(n as usize);
    for k in from..from + n {
        let started = Instant::now();
        client
            .execute(&insert, &[&k, &(k * 2), &format!("name {k}")])
            .await?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(micros))
}

async fn run(repeat: usize) -> anyhow::Result<()> {
    let server = Server::start()?;
    let client = server.connect().await?;
    client
        .batch_execute(
            "CREATE TABLE small (k BIGINT PRIMARY KEY, v BIGINT, name TEXT);
             CREATE TABLE big (k BIGINT PRIMARY KEY, v BIGINT, name TEXT);",
        )
        .await?;
    let bulk = fill(&client, "big", 1, 1_000_000).await?;
    println!("  bulk INSERT … SELECT: {:.2} M rows/s", bulk / 1e6);
    let mut ratios = Vec::new();
    let mut next_small = 1;
    let mut next_big = 10_000_001;
    for _ in 0..repeat {
        let empty = insert_latency(&client, "small", next_small, 1000).await?;
        let full = insert_latency(&client, "big", next_big, 1000).await?;
        client.batch_execute("TRUNCATE small").await?;
        next_small += 1000;
        next_big += 1000;
        println!(
            "  single-row INSERT, median: {empty:.0} µs into an empty table, {full:.0} µs into 1 M rows: ratio {:.2}",
            full / empty
        );
        ratios.push(full / empty);
    }
    fill(&client, "big", 1_000_001, 10_000_000).await?;
    let lookup = client
        .prepare("SELECT v, name FROM big WHERE k = $1")
        .await?;
    let mut micros = Vec::new();
    let mut key: i64 = 12345;
    for _ in 0..2000 {
        key = (key * 7919 + 13) % 10_000_000 + 1;
        let started = Instant::now();
        let rows = client.query(&lookup, &[&key]).await?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        if rows.len() != 1 {
            bail!("key {key}: {} rows", rows.len());
        }
    }
    println!(
        "  SELECT … WHERE k = $1 on 10 M rows: median {:.0} µs, p99 {:.0} µs",
        median(micros.clone()),
        percentile(micros, 0.99)
    );
    let mut scans = Vec::new();
    for _ in 0..repeat.max(3) {
        let started = Instant::now();
        let row = client.query_one("SELECT sum(v) FROM big", &[]).await?;
        let seconds = started.elapsed().as_secs_f64();
        let sum: i64 = row.get(0);
        if sum <= 0 {
            bail!("sum {sum}");
        }
        scans.push(10_000_000.0 / seconds);
    }
    println!(
        "  SELECT sum(v) over 10 M rows: {:.0} M rows/s (median)",
        median(scans) / 1e6
    );
    drop(client);
    drop(server);
    for _ in 0..repeat {
        upsert_sink().await?;
    }
    println!(
        "  single-row INSERT ratio, median over the runs: {:.2}",
        median(ratios)
    );
    Ok(())
}

/// A streaming query upserting 4 M rows over 1 M keys into a table sink.
async fn upsert_sink() -> anyhow::Result<()> {
    const ROWS: i64 = 4_000_000;
    let server = Server::start()?;
    let client = server.connect().await?;
    client
        .batch_execute(&format!(
            "CREATE TABLE latest (k BIGINT PRIMARY KEY, v BIGINT);
             CREATE SINK latest_sink WITH (connector = 'table', table = 'latest', mode = 'upsert');
             CREATE SOURCE gen (k BIGINT, v BIGINT) WITH (connector = 'datagen',
                'rows.per.second' = '0', 'number.of.rows' = '{ROWS}', 'rows.per.epoch' = '100000',
                seed = '7', 'fields.k.kind' = 'random', 'fields.k.min' = '1',
                'fields.k.max' = '1000000');"
        ))
        .await?;
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    client
        .batch_execute(
            "CREATE STREAMING QUERY up WITH (output_mode = 'update', trigger = '0 seconds')
                AS INSERT INTO latest_sink SELECT k, v FROM gen",
        )
        .await?;
    loop {
        let status = show_status(&client).await?;
        match status {
            Some((s, _)) if s == "finished" => break,
            Some((s, e)) if s == "failed" => bail!("the upsert query failed: {e:?}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = (server.cpu_time()? - cpu_before).as_secs_f64();
    let keys: i64 = client
        .query_one("SELECT count(*) FROM latest", &[])
        .await?
        .get(0);
    println!(
        "  upsert sink: {ROWS} rows over {keys} keys in {wall:.2} s: {:.2} M rows/s, {:.2} M rows per server CPU-second",
        ROWS as f64 / wall / 1e6,
        ROWS as f64 / cpu / 1e6
    );
    Ok(())
}

/// The status and error of query `up` from `SHOW STREAMING QUERIES`.
async fn show_status(client: &Client) -> anyhow::Result<Option<(String, Option<String>)>> {
    for m in client.simple_query("SHOW STREAMING QUERIES").await? {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m
            && r.try_get("name")? == Some("up")
        {
            return Ok(Some((
                r.try_get("status")?.unwrap_or("").to_string(),
                r.try_get("error")?.map(str::to_string),
            )));
        }
    }
    Ok(None)
}

pub fn report(repeat: usize) -> anyhow::Result<()> {
    println!("tables-sql (an eddy server process, tokio-postgres, fsync on):");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(repeat))
}
