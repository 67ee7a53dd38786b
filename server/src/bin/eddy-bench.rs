//! Eddy's benchmark harness.
//!
//! `cargo run --release --bin eddy-bench [-- --rows N --repeat R]`
//!
//! Scenario `datagen-window`: an unthrottled datagen source with 10,000 keys
//! → 10-second tumbling windows computing count(*) and max() per key → a
//! blackhole sink. The whole pipeline runs as a streaming query inside a
//! real server instance (catalog, planner, epoch loop), without a client.
//! Reports events/s (wall clock) and events per CPU-second (user + system
//! time of the process), the median over the repetitions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eddy_server::database::Database;
use eddy_server::session::Session;
use eddy_server::settings::Settings;

struct Args {
    rows: u64,
    repeat: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        rows: 20_000_000,
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rows" => args.rows = value.parse()?,
            "--repeat" => args.repeat = value.parse()?,
            other => bail!("unknown flag {other}; expected --rows N, --repeat R"),
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

async fn run_once(rows: u64, run: usize) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path(), eddy_connectors::registry())?;
    let mut session = Session::new(db.clone(), Settings::default(), "eddy");
    let sql = format!(
        "CREATE SOURCE events (key BIGINT, value BIGINT, ts TIMESTAMP,
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{rows}',
               'rows.per.epoch' = '200000', seed = '{run}',
               'fields.key.min' = '1', 'fields.key.max' = '10000',
               'fields.value.min' = '0', 'fields.value.max' = '1000000',
               'fields.ts.step' = '100 microseconds', 'fields.ts.max_out_of_order' = '2 seconds');
         CREATE SINK discard WITH (connector = 'blackhole');"
    );
    for stmt in eddy_sql::parse_statements(&sql)? {
        session
            .run(&stmt, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let query = "CREATE STREAMING QUERY bench WITH (trigger = 'continuous') AS INSERT INTO discard
         SELECT window_start, key, count(*) AS n, max(value) AS top
         FROM TUMBLE(events, ts, INTERVAL '10' SECOND) GROUP BY window_start, key";
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
        "run {run}: {rows} events, {} window rows out, {wall:.2} s wall, {cpu:.2} s CPU",
        progress.output_rows
    );
    db.stop_all().await;
    Ok((rows as f64 / wall, rows as f64 / cpu))
}

async fn wait_finished(db: &Arc<Database>) -> anyhow::Result<eddy_engine::job::QueryProgress> {
    use eddy_engine::job::QueryStatus;
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rates = Vec::new();
    let mut per_cpu = Vec::new();
    for run in 0..args.repeat {
        let (rate, cpu_rate) = runtime.block_on(run_once(args.rows, run))?;
        rates.push(rate);
        per_cpu.push(cpu_rate);
    }
    println!(
        "datagen-window (10,000 keys, 10 s tumbling count/max, blackhole): median {:.0} events/s, {:.0} events per CPU-second over {} runs",
        median(rates),
        median(per_cpu),
        args.repeat
    );
    Ok(())
}
