//! The `tables` scenario: Eddy's table storage at its API
//! (`eddy_engine::table`), without SQL or a client.
//!
//! - single-row `INSERT`s into a keyed table of 1,000,000 rows vs into an
//!   empty one: median latency of each and their ratio (a write must not
//!   grow with the table), durable (fsync per write) and, to show the
//!   storage's own cost, without fsync;
//! - upserts in batches of 10,000 rows (90% existing keys) into a table of
//!   1,000,000 keys: rows/s, durable and without fsync;
//! - point lookups by primary key in a table of 10,000,000 rows: median
//!   and 99th-percentile latency;
//! - full scans (`batches()` plus a sum over a column): rows/s, with no
//!   deleted rows and right after deleting 1% of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::sum;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::scalar::ScalarValue;
use eddy_engine::table::{KeyConstraint, StoredTable, TableConstraints, TableStore, WriteSet};

/// xorshift64*: reproducible keys without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn constraints() -> TableConstraints {
    TableConstraints {
        primary_key: Some(KeyConstraint {
            name: "t_pkey".into(),
            columns: vec![0],
        }),
        ..TableConstraints::default()
    }
}

fn rows(keys: impl Iterator<Item = i64>) -> RecordBatch {
    let keys: Vec<i64> = keys.collect();
    let names: Vec<String> = keys.iter().map(|k| format!("name-{}", k % 1000)).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(Int64Array::from(keys)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .expect("columns fit the schema")
}

/// A keyed table `name` holding keys `0..n`, loaded in batches of 1M rows.
fn table_of(store: &TableStore, name: &str, n: i64) -> anyhow::Result<Arc<StoredTable>> {
    let t = store.create_or_load_with(name, schema(), constraints())?;
    let mut start = 0;
    while start < n {
        let end = (start + 1_000_000).min(n);
        t.write(WriteSet::insert(vec![rows(start..end)]))?;
        start = end;
    }
    Ok(t)
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Median latency of `n` single-row inserts of new keys into `t`.
fn single_row_inserts(t: &StoredTable, first_key: i64, n: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let row = rows(std::iter::once(first_key + i));
        let started = Instant::now();
        t.write(WriteSet::insert(vec![row]))?;
        times.push(started.elapsed());
    }
    Ok(percentile(times, 0.5))
}

fn report_inserts(durable: bool, n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = TableStore::open(dir.path())?;
    if !durable {
        store = store.without_fsync();
    }
    let empty = store.create_or_load_with("empty", schema(), constraints())?;
    let big = table_of(&store, "big", 1_000_000)?;
    let on_empty = single_row_inserts(&empty, 0, n)?;
    let on_big = single_row_inserts(&big, 1_000_000, n)?;
    println!(
        "  single-row insert ({}): median {:.1} µs into an empty table, {:.1} µs into 1,000,000 rows: ratio {:.2} ({n} inserts each)",
        if durable {
            "fsync per write"
        } else {
            "no fsync"
        },
        micros(on_empty),
        micros(on_big),
        on_big.as_secs_f64() / on_empty.as_secs_f64()
    );
    Ok(())
}

fn report_upserts(durable: bool, change_log: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = TableStore::open(dir.path())?;
    if !durable {
        store = store.without_fsync();
    }
    let t = table_of(&store, "t", 1_000_000)?;
    if change_log {
        // As after a SQL transaction wrote the table: from now on every
        // write records its keys for the 40001 checks.
        t.read_version();
    }
    let mut rng = Rng(7);
    let (batches, batch_rows) = (200, 10_000);
    let inputs: Vec<RecordBatch> = (0..batches)
        .map(|_| rows((0..batch_rows).map(|_| rng.below(1_100_000) as i64)))
        .collect();
    let started = Instant::now();
    for batch in inputs {
        t.write(WriteSet::upsert(vec![batch]))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let total = (batches * batch_rows) as f64;
    println!(
        "  upsert: {:.0} rows/s into 1,000,000 keys ({batches} batches of {batch_rows}, {}; {} rows after)",
        total / secs,
        match (durable, change_log) {
            (true, _) => "fsync per batch",
            (false, false) => "no fsync",
            (false, true) => "no fsync, change log on",
        },
        t.row_count()
    );
    Ok(())
}

fn report_lookups_and_scans() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Loading ten million rows durably measures the disk, not the lookups.
    let store = TableStore::open(dir.path())?.without_fsync();
    let n = 10_000_000;
    let started = Instant::now();
    let t = table_of(&store, "t", n)?;
    println!(
        "  loaded {n} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut rng = Rng(11);
    let mut times = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let k = ScalarValue::Int64(Some(rng.below(n as u64) as i64));
        let started = Instant::now();
        let found = t.get(&[k])?;
        times.push(started.elapsed());
        anyhow::ensure!(found.is_some(), "a stored key was not found");
    }
    println!(
        "  point lookup in {n} rows: median {:.2} µs, p99 {:.2} µs (100,000 lookups)",
        micros(percentile(times.clone(), 0.5)),
        micros(percentile(times, 0.99))
    );
    let scan = |t: &StoredTable| -> anyhow::Result<f64> {
        let started = Instant::now();
        let mut total = 0i64;
        let mut count = 0usize;
        for b in t.batches() {
            let v = b
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("v is BIGINT");
            total = total.wrapping_add(sum(v).unwrap_or(0));
            count += b.num_rows();
        }
        anyhow::ensure!(
            count == t.row_count() && total != 0,
            "scan saw {count} rows"
        );
        Ok(count as f64 / started.elapsed().as_secs_f64())
    };
    let clean = (0..3)
        .map(|_| scan(&t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deletes: Vec<i64> = (0..n / 100).map(|_| rng.below(n as u64) as i64).collect();
    t.write(WriteSet::new().delete_keys(vec![Arc::new(Int64Array::from(deletes))]))?;
    let after_deletes = scan(&t)?;
    let cached = scan(&t)?;
    println!(
        "  full scan + sum: {:.0} M rows/s without deleted rows; {:.0} M rows/s right after deleting 1% ({:.0} M rows/s on the next scan)",
        clean.iter().cloned().fold(0.0, f64::max) / 1e6,
        after_deletes / 1e6,
        cached / 1e6
    );
    Ok(())
}

pub fn report(repeat: usize) -> anyhow::Result<()> {
    println!(
        "tables (eddy_engine::table API, keyed table k BIGINT PRIMARY KEY, v BIGINT, name TEXT):"
    );
    for _ in 0..repeat.max(1) {
        report_inserts(true, 2000)?;
        report_inserts(false, 2000)?;
    }
    report_upserts(true, false)?;
    report_upserts(false, false)?;
    report_upserts(false, true)?;
    report_lookups_and_scans()
}
