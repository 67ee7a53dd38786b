//! Eddy's benchmark harness.
//!
//! `cargo run --release -p eddy-bench [-- --scenario NAME --rows N --repeat R]`
//!
//! A crate of its own, so that the server links nothing only the benchmark
//! needs (librdkafka's mock cluster, `getrusage`).
//!
//! Scenarios (all by default):
//! - `datagen-window`: an unthrottled datagen source with 10,000 keys →
//!   10-second tumbling windows computing count(*) and max() per key → a
//!   blackhole sink.
//! - `kafka-json-window`: the same query over JSON messages read from
//!   librdkafka's in-process mock cluster (16 partitions, produced before
//!   the clock starts; 900,000 messages by default, about what the mock
//!   broker retains).
//!   A plain consumer reading the same messages gives the rate the mock
//!   broker serves at, as a baseline.
//! - `json-decode`: decoding the same JSON messages into Arrow alone.
//! - `tables`: Eddy's table storage at its API: single-row inserts into a
//!   big vs an empty keyed table, upserts, point lookups, scans (see
//!   `tables.rs`).
//! - `tables-sql`: the same through SQL over pgwire, against an `eddy`
//!   server process (see `tables_sql.rs`; build `eddy-server` too).
//!
//! The pipelines run as streaming queries inside a real server instance
//! (catalog, planner, epoch loop, checkpoints), without a client. Reported:
//! events/s (wall clock) and events per CPU-second (user + system time of
//! the process), medians over the repetitions; MB/s for decoding.

mod kafka;
mod tables;
mod tables_sql;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eddy_engine::job::{QueryProgress, QueryStatus};
use eddy_server::database::Database;
use eddy_server::session::Session;
use eddy_server::settings::Settings;

struct Args {
    scenario: String,
    rows: Option<u64>,
    repeat: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        scenario: "all".into(),
        rows: None,
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--scenario" => args.scenario = value,
            "--rows" => args.rows = Some(value.parse()?),
            "--repeat" => args.repeat = value.parse()?,
            other => bail!(
                "unknown flag {other}; expected --scenario (all | datagen-window | datagen-hop | datagen-hop-copies | kafka-json-window | json-decode | tables | tables-sql), --rows N, --repeat R"
            ),
        }
    }
    Ok(args)
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Rates of one run of a pipeline.
struct Rates {
    events_per_second: f64,
    events_per_cpu_second: f64,
}

/// The windowed aggregation the tumbling scenarios run.
const WINDOW_QUERY: &str = "CREATE STREAMING QUERY bench WITH (trigger = 'available_now')
     AS INSERT INTO discard
     SELECT window_start, key, count(*) AS n, max(value) AS top
     FROM TUMBLE(events, ts, INTERVAL '10' SECOND) GROUP BY window_start, key";

/// Hopping windows (1 minute every 10 seconds: each row in 6 windows),
/// assembled from panes.
const HOP_QUERY: &str = "CREATE STREAMING QUERY bench WITH (trigger = 'available_now')
     AS INSERT INTO discard
     SELECT window_start, key, count(*) AS n, max(value) AS top
     FROM HOP(events, ts, INTERVAL '10' SECOND, INTERVAL '1' MINUTE) GROUP BY window_start, key";

/// The same windows with each row copied into each of its windows (a
/// filter on the window columns rules panes out).
const HOP_COPIES_QUERY: &str = "CREATE STREAMING QUERY bench WITH (trigger = 'available_now')
     AS INSERT INTO discard
     SELECT window_start, key, count(*) AS n, max(value) AS top
     FROM HOP(events, ts, INTERVAL '10' SECOND, INTERVAL '1' MINUTE)
     WHERE window_end > window_start GROUP BY window_start, key";

/// Creates `setup` (a source named `events`) and a blackhole sink in a
/// fresh server instance, then times `query` until it finishes.
async fn time_pipeline(setup: &str, query: &str, rows: u64) -> anyhow::Result<Rates> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path(), eddy_connectors::registry())?;
    let mut session = Session::new(db.clone(), Settings::default(), "eddy");
    let setup = format!("{setup}; CREATE SINK discard WITH (connector = 'blackhole')");
    for stmt in eddy_sql::parse_statements(&setup)? {
        session
            .run(&stmt, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let cpu_before = cpu_time();
    let started = Instant::now();
    for stmt in eddy_sql::parse_statements(query)? {
        session
            .run(&stmt, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let progress = wait_finished(&db).await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu_before).as_secs_f64();
    if progress.input_rows != rows {
        bail!("processed {} rows, expected {rows}", progress.input_rows);
    }
    println!(
        "  {rows} events, {} window rows out, {wall:.2} s wall, {cpu:.2} s CPU",
        progress.output_rows
    );
    db.stop_all().await;
    Ok(Rates {
        events_per_second: rows as f64 / wall,
        events_per_cpu_second: rows as f64 / cpu,
    })
}

async fn wait_finished(db: &Arc<Database>) -> anyhow::Result<QueryProgress> {
    loop {
        if let Some(p) = db.progress("bench") {
            match p.status {
                QueryStatus::Finished => return Ok(p),
                QueryStatus::Failed | QueryStatus::Stopped => bail!("bench query ended: {p:?}"),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn datagen_setup(rows: u64, run: usize) -> String {
    format!(
        "CREATE SOURCE events (key BIGINT, value BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{rows}',
               'rows.per.epoch' = '200000', seed = '{run}',
               'fields.key.min' = '1', 'fields.key.max' = '10000',
               'fields.value.min' = '0', 'fields.value.max' = '1000000',
               'fields.ts.step' = '100 microseconds', 'fields.ts.max_out_of_order' = '2 seconds')"
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report_pipeline(name: &str, runs: Vec<Rates>) {
    let rates = runs.iter().map(|r| r.events_per_second).collect();
    let per_cpu = runs.iter().map(|r| r.events_per_cpu_second).collect();
    println!(
        "{name}: median {:.0} events/s, {:.0} events per CPU-second over {} runs",
        median(rates),
        median(per_cpu),
        runs.len()
    );
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let wants = |name: &str| args.scenario == "all" || args.scenario == name;
    if wants("datagen-window") {
        let rows = args.rows.unwrap_or(20_000_000);
        println!("datagen-window (10,000 keys, 10 s tumbling count/max, blackhole):");
        let mut runs = Vec::new();
        for run in 0..args.repeat {
            runs.push(runtime.block_on(time_pipeline(
                &datagen_setup(rows, run),
                WINDOW_QUERY,
                rows,
            ))?);
        }
        report_pipeline("datagen-window", runs);
    }
    for (name, query, what) in [
        ("datagen-hop", HOP_QUERY, "panes"),
        (
            "datagen-hop-copies",
            HOP_COPIES_QUERY,
            "a copy of each row per window",
        ),
    ] {
        if !wants(name) {
            continue;
        }
        let rows = args.rows.unwrap_or(5_000_000);
        println!("{name} (10,000 keys, 1 min windows every 10 s, count/max, {what}):");
        let mut runs = Vec::new();
        for run in 0..args.repeat {
            runs.push(runtime.block_on(time_pipeline(&datagen_setup(rows, run), query, rows))?);
        }
        report_pipeline(name, runs);
    }
    if wants("kafka-json-window") || wants("json-decode") {
        let rows = args.rows.unwrap_or(900_000);
        let messages = kafka::json_messages(rows);
        if wants("json-decode") {
            kafka::report_json_decode(&messages, args.repeat)?;
        }
        if wants("kafka-json-window") {
            println!("kafka-json-window (mock cluster, 16 partitions, JSON, same query):");
            let cluster = kafka::Cluster::with_messages(&messages)?;
            let baseline: Vec<f64> = (0..args.repeat)
                .map(|_| cluster.consume_all(messages.len()))
                .collect::<anyhow::Result<_>>()?;
            println!(
                "  baseline: a plain consumer reads {:.0} messages/s from the mock broker (median)",
                median(baseline)
            );
            let mut runs = Vec::new();
            for _ in 0..args.repeat {
                runs.push(runtime.block_on(time_pipeline(
                    &cluster.source_sql(),
                    WINDOW_QUERY,
                    rows,
                ))?);
            }
            report_pipeline("kafka-json-window", runs);
        }
    }
    if wants("tables") {
        tables::report(args.repeat.min(2))?;
    }
    if wants("tables-sql") {
        tables_sql::report(args.repeat.min(2))?;
    }
    Ok(())
}
