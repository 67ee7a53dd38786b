//! The `file` source and sink end to end: JSON-lines files dropped into a
//! directory while two streaming queries run are each processed exactly
//! once.
//!
//! Five files arrive one at a time, each written under a `.tmp` name and
//! renamed (the documented way to publish a file). File `i` holds events of
//! the 10-second window starting at `i × 10 s` plus malformed lines; the
//! last file also holds one event far ahead, which moves the watermark past
//! every earlier window. Two queries read the source with
//! `on_error = 'dead_letter'`:
//!
//! - `windows`: `TUMBLE` count per key into an Eddy table, compared with the
//!   counts the test computes from what it wrote;
//! - `raw`: every row into a `file` sink (CSV), whose directory must then
//!   hold exactly the valid rows, once each.
//!
//! Each query's `bad_records` must equal the malformed lines written.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, NaiveDateTime};
use eddy_tests::{Progress, execute, query_i64, query_rows, query_values, wait_until};
use tokio_postgres::Client;

use crate::{TestEddy, query_status, wait_for_status, with_logs};

/// 2026-01-01 00:00:00 UTC in seconds.
const START: i64 = 1_767_225_600;
const FILES: i64 = 5;
const KEYS: [&str; 3] = ["a", "b", "c"];

/// One valid event: key, value, seconds after `START`.
#[derive(Debug, Clone)]
struct Event {
    key: &'static str,
    value: i64,
    second: i64,
}

fn timestamp(second: i64) -> NaiveDateTime {
    DateTime::from_timestamp(START + second, 0)
        .expect("in range")
        .naive_utc()
}

/// The lines of file `i` and its valid events. Event times stay inside the
/// file's window, in a scrambled order, with a malformed line or two.
fn file_contents(i: i64) -> (String, Vec<Event>, i64) {
    let mut lines = Vec::new();
    let mut events = Vec::new();
    for j in 0..(10 + i * 3) {
        let event = Event {
            key: KEYS[((i + j * j) % 3) as usize],
            value: i * 1000 + j,
            second: i * 10 + (j * 7) % 10,
        };
        lines.push(format!(
            r#"{{"k": "{}", "v": {}, "ts": "{}"}}"#,
            event.key,
            event.value,
            timestamp(event.second).format("%Y-%m-%d %H:%M:%S")
        ));
        events.push(event);
    }
    let mut bad = 0;
    if i % 2 == 1 {
        lines.insert(
            3,
            r#"{"k": "a", "v": "not a number", "ts": "2026-01-01 00:00:00"}"#.into(),
        );
        lines.push("this is not json".into());
        bad += 2;
    }
    if i == FILES - 1 {
        // Closes every earlier window; its own window stays open.
        let event = Event {
            key: "z",
            value: -1,
            second: 1000,
        };
        lines.push(format!(
            r#"{{"k": "z", "v": -1, "ts": {}}}"#,
            (START + event.second) * 1000
        ));
        events.push(event);
    }
    (lines.join("\n") + "\n", events, bad)
}

/// Publishes `contents` as `dir/name` the way writers should: a temporary
/// name, then a rename.
pub(crate) fn publish(dir: &Path, name: &str, contents: &str) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

/// `bad_records` of query `name` in `SHOW STREAMING QUERIES`.
async fn bad_records(client: &Client, name: &str) -> Result<i64> {
    for row in query_rows(client, "SHOW STREAMING QUERIES").await? {
        if row.try_get("name")? == Some(name) {
            let text = row.try_get("bad_records")?.unwrap_or("0");
            return text
                .parse()
                .with_context(|| format!("bad_records = {text:?}"));
        }
    }
    anyhow::bail!("query {name} is not listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dropped_into_a_directory_are_each_processed_once() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let dirs = tempfile::tempdir()?;
    let result = scenario(&eddy, dirs.path()).await;
    with_logs(result, &eddy, None)
}

async fn scenario(eddy: &TestEddy, dirs: &Path) -> Result<()> {
    let input = dirs.join("in");
    let output = dirs.join("out");
    std::fs::create_dir_all(&input)?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE events (
                k VARCHAR, v BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
             ) WITH (
                connector = 'file', path = '{input}', format = 'json',
                on_error = 'dead_letter'
             );
             CREATE TABLE counts (window_start TIMESTAMP, window_end TIMESTAMP, k VARCHAR, cnt BIGINT);
             CREATE SINK to_counts WITH (connector = 'table', table = 'counts');
             CREATE SINK raw_files WITH (connector = 'file', path = '{output}', format = 'csv');
             CREATE STREAMING QUERY windows
                WITH (trigger = '200 milliseconds', output_mode = 'append')
                AS INSERT INTO to_counts
                SELECT window_start, window_end, k, count(*) AS cnt
                FROM TUMBLE(events, ts, INTERVAL '10' SECOND)
                GROUP BY window_start, window_end, k;
             CREATE STREAMING QUERY raw
                WITH (trigger = '200 milliseconds')
                AS INSERT INTO raw_files SELECT k, v FROM events;",
            input = input.display(),
            output = output.display(),
        ),
    )
    .await?;
    let bound = Duration::from_secs(120);
    wait_for_status(&client, "windows", "running", bound).await?;
    wait_for_status(&client, "raw", "running", bound).await?;

    let mut all_events = Vec::new();
    let mut all_bad = 0;
    for i in 0..FILES {
        let (contents, events, bad) = file_contents(i);
        all_events.extend(events);
        all_bad += bad;
        publish(&input, &format!("events-{i}.jsonl"), &contents)?;
        let expected = all_events.len() as i64;
        // Each file is picked up while the queries run before the next
        // arrives.
        wait_until(bound, &format!("raw to read {expected} rows"), || async {
            let status = query_status(&client, "raw").await?;
            match &status {
                Some(s) if s.input_rows >= expected => Ok(Progress::Done(())),
                _ => Ok(Progress::Pending(format!("{status:?}"))),
            }
        })
        .await?;
    }
    let valid = all_events.len() as i64;

    let expected_counts = expected_windows(&all_events);
    let expected_rows = expected_counts.len() as i64;
    wait_until(bound, "the windows to reach the counts table", || async {
        let n = query_i64(&client, "SELECT count(*) FROM counts").await?;
        Ok(if n >= expected_rows {
            Progress::Done(())
        } else {
            Progress::Pending(format!("{n} of {expected_rows} rows"))
        })
    })
    .await?;
    let raw = wait_until(bound, "raw to write every row", || async {
        let status = query_status(&client, "raw").await?;
        match status {
            Some(s) if s.output_rows >= valid => Ok(Progress::Done(s)),
            other => Ok(Progress::Pending(format!("{other:?}"))),
        }
    })
    .await?;
    // One more epoch each: anything read twice would show up now.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let windows = query_status(&client, "windows").await?.context("windows")?;
    let raw_now = query_status(&client, "raw").await?.context("raw")?;
    ensure!(
        windows.input_rows == valid && raw_now.input_rows == valid && raw_now.output_rows == valid,
        "every valid row once: wrote {valid}; windows {windows:?}; raw {raw:?} then {raw_now:?}"
    );
    ensure!(windows.late_rows == 0, "no row is late: {windows:?}");

    check_counts(&client, &expected_counts).await?;
    check_output_files(&output, &all_events)?;

    for query in ["windows", "raw"] {
        let bad = bad_records(&client, query).await?;
        ensure!(
            bad == all_bad,
            "{query}: bad_records = {bad}, wrote {all_bad} malformed lines"
        );
    }
    // The dead-letter table is queryable once the server registers it in
    // the catalog; until then only the counters are checked.
    if let Ok(rows) = query_values(
        &client,
        "SELECT query_name, count(*) FROM events_errors GROUP BY query_name ORDER BY 1",
    )
    .await
    {
        let expected: Vec<Vec<Option<String>>> = ["raw", "windows"]
            .iter()
            .map(|q| vec![Some(q.to_string()), Some(all_bad.to_string())])
            .collect();
        ensure!(
            rows == expected,
            "events_errors per query: {rows:?}, expected {expected:?}"
        );
    }
    Ok(())
}

/// (window start, key) → count for every window the watermark has closed.
fn expected_windows(events: &[Event]) -> BTreeMap<(String, String), i64> {
    let watermark = events.iter().map(|e| e.second).max().unwrap_or(0) - 1;
    let mut counts = BTreeMap::new();
    for e in events {
        let start = e.second.div_euclid(10) * 10;
        if start + 10 <= watermark {
            let start = timestamp(start).format("%Y-%m-%d %H:%M:%S").to_string();
            *counts.entry((start, e.key.to_string())).or_insert(0) += 1;
        }
    }
    counts
}

async fn check_counts(client: &Client, expected: &BTreeMap<(String, String), i64>) -> Result<()> {
    let rows = query_values(
        client,
        "SELECT window_start, k, cnt FROM counts ORDER BY window_start, k",
    )
    .await?;
    let actual: Vec<(String, String, i64)> = rows
        .into_iter()
        .map(|r| {
            let text = |i: usize| r[i].clone().unwrap_or_default();
            Ok((text(0), text(1), text(2).parse()?))
        })
        .collect::<Result<_>>()?;
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|((start, k), n)| (start.clone(), k.clone(), *n))
        .collect();
    ensure!(
        actual == expected,
        "counts table differs:\n actual   {actual:?}\n expected {expected:?}"
    );
    Ok(())
}

/// The sink's directory holds exactly the valid rows, each once, in
/// complete `part-…csv` files only.
fn check_output_files(dir: &Path, events: &[Event]) -> Result<()> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().into_string().unwrap_or_default();
        ensure!(
            name.starts_with("part-") && name.ends_with(".csv"),
            "unexpected file {name} in the sink directory"
        );
        for line in std::fs::read_to_string(entry.path())?.lines() {
            let (k, v) = line.split_once(',').context("a CSV line k,v")?;
            rows.push((k.to_string(), v.parse::<i64>()?));
        }
    }
    rows.sort();
    let mut expected: Vec<(String, i64)> = events
        .iter()
        .map(|e| (e.key.to_string(), e.value))
        .collect();
    expected.sort();
    ensure!(
        rows == expected,
        "file sink rows: {} rows, expected {}; first differing: {:?}",
        rows.len(),
        expected.len(),
        rows.iter().zip(&expected).find(|(a, b)| a != b)
    );
    Ok(())
}
