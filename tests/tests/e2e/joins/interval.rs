//! Stream–stream interval joins: the same pairs as PostgreSQL's, late rows
//! dropped, state bounded by the watermark, an input that ends early.
//!
//! The expected result simulates the query's watermark:
//!
//! ```text
//! watermark(k) = min over both sources of (max ts read in epochs < k) - 5 s
//! late(row)    = row.ts <= watermark(epoch of row)       (none in epoch 1)
//! expected     = every pair of non-late rows with i.ad = c.ad
//!                and c.ts BETWEEN i.ts AND i.ts + 10 s, once
//! ```
//!
//! An input that has been read to its end no longer holds the watermark
//! back. The main scenario keeps both inputs running for the same number of
//! epochs (3,000 impressions at 300 per epoch, 1,000 clicks at 100); another
//! ends the clicks halfway.

use std::cell::Cell;

use anyhow::{Context, Result, ensure};
use eddy_tests::{
    DEFAULT_WAIT, Progress, TestPostgres, execute, query_i64, query_rows, wait_until,
};
use tokio_postgres::Client;

use super::{create_and_crash, ensure_equal_rows, ensure_ids_once};
use crate::{TestEddy, wait_for_status, with_logs};

/// One input of the interval join: a datagen source of `rows` rows,
/// `per_epoch` per epoch, event times `step` apart.
pub(super) struct JoinInput {
    pub(super) name: &'static str,
    pub(super) rows: i64,
    pub(super) per_epoch: i64,
    pub(super) step: &'static str,
}

/// Impressions and clicks over the same 300 s of event time, in 10 epochs
/// each.
pub(super) const IMPS: JoinInput = JoinInput {
    name: "imps",
    rows: 3_000,
    per_epoch: 300,
    step: "100 milliseconds",
};
pub(super) const CLKS: JoinInput = JoinInput {
    name: "clks",
    rows: 1_000,
    per_epoch: 100,
    step: "300 milliseconds",
};

/// Both inputs, up to 3 s out of order, 3 % of rows pushed a minute back
/// (late), ads 1..=10; each copied raw into PostgreSQL (`<name>_raw`).
pub(super) fn interval_sources(url: &str, seed: u64, inputs: [&JoinInput; 2]) -> String {
    let mut ddl = String::new();
    for (n, input) in (0..).zip(inputs) {
        let JoinInput {
            name,
            rows,
            per_epoch,
            step,
        } = input;
        ddl.push_str(&format!(
            "CREATE SOURCE {name} (id BIGINT, ad BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH (connector = 'datagen', 'rows.per.second' = '0', 'number.of.rows' = '{rows}',
                   'rows.per.epoch' = '{per_epoch}', seed = '{seed}',
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                   'fields.ad.min' = '1', 'fields.ad.max' = '10',
                   'fields.ts.start' = '2026-01-01 00:00:00', 'fields.ts.step' = '{step}',
                   'fields.ts.max_out_of_order' = '3 seconds',
                   'fields.ts.late_rate' = '0.03', 'fields.ts.late_by' = '1 minute');
             CREATE SINK {name}_raw_sink WITH (connector = 'postgres', url = '{url}',
                table = '{name}_raw', create_table = 'true');
             CREATE STREAMING QUERY {name}_raw_copy WITH (trigger = '50 milliseconds')
                AS INSERT INTO {name}_raw_sink SELECT id, ad, ts FROM {name};",
            seed = seed + n,
        ));
    }
    ddl
}

pub(super) const INTERVAL_JOIN: &str =
    "SELECT i.id AS imp, c.id AS clk, i.ad, i.ts AS imp_ts, c.ts AS clk_ts
     FROM imps i JOIN clks c
       ON i.ad = c.ad AND c.ts BETWEEN i.ts AND i.ts + INTERVAL '10' SECOND";

/// Waits for the raw copies and checks them.
pub(super) async fn wait_for_raw_copies(
    client: &Client,
    pg: &Client,
    inputs: [&JoinInput; 2],
) -> Result<()> {
    for input in inputs {
        let query = format!("{}_raw_copy", input.name);
        wait_for_status(client, &query, "finished", DEFAULT_WAIT).await?;
        ensure_ids_once(pg, &format!("{}_raw", input.name), input.rows).await?;
    }
    Ok(())
}

/// Builds, in `pg`'s session, `classified` (every input row with its epoch,
/// the query's watermark then, and whether it is late) and `expected` (the
/// join of the rows that are not late). Returns the number of late rows.
///
/// An input's watermark in epoch k is the largest event time it delivered
/// in earlier epochs minus 5 s; once the input has delivered its last
/// epoch it no longer holds the query's watermark back (infinity).
pub(super) async fn compute_interval_expected(
    pg: &Client,
    imps: &JoinInput,
    clks: &JoinInput,
) -> Result<i64> {
    execute(
        pg,
        &format!(
            "CREATE TEMP TABLE classified AS
             WITH input AS (
                 SELECT 'imp' AS side, id, ad, ts::timestamp AS ts, id / {imp_n} AS epoch
                 FROM imps_raw
                 UNION ALL
                 SELECT 'clk', id, ad, ts::timestamp, id / {clk_n} FROM clks_raw
             ), epoch_max AS (
                 SELECT side, epoch, max(ts) AS max_ts FROM input GROUP BY side, epoch
             ), source_watermarks AS (
                 SELECT s.side, e.epoch,
                        CASE WHEN e.epoch > s.last_epoch THEN timestamp 'infinity'
                             ELSE (SELECT max(m.max_ts) FROM epoch_max m
                                   WHERE m.side = s.side AND m.epoch < e.epoch)
                                  - interval '5 seconds'
                        END AS watermark
                 FROM (SELECT side, max(epoch) AS last_epoch FROM input GROUP BY side) s
                 CROSS JOIN (SELECT DISTINCT epoch FROM input) e
             ), query_watermarks AS (
                 SELECT epoch, CASE WHEN count(watermark) = 2 THEN min(watermark) END AS watermark
                 FROM source_watermarks GROUP BY epoch
             )
             SELECT i.*, w.watermark, coalesce(i.ts <= w.watermark, false) AS late
             FROM input i JOIN query_watermarks w USING (epoch);
             CREATE TEMP TABLE expected AS
             SELECT i.id AS imp, c.id AS clk, i.ad, i.ts AS imp_ts, c.ts AS clk_ts
             FROM classified i JOIN classified c
               ON i.ad = c.ad AND c.ts BETWEEN i.ts AND i.ts + interval '10 seconds'
             WHERE i.side = 'imp' AND c.side = 'clk' AND NOT i.late AND NOT c.late;",
            imp_n = imps.per_epoch,
            clk_n = clks.per_epoch,
        ),
    )
    .await?;
    let late = query_i64(pg, "SELECT count(*) FROM classified WHERE late").await?;
    // Lateness must matter: some rows are late, and they had partners.
    let all_pairs = query_i64(
        pg,
        "SELECT count(*) FROM imps_raw i JOIN clks_raw c
           ON i.ad = c.ad AND c.ts BETWEEN i.ts AND i.ts + interval '10 seconds'",
    )
    .await?;
    let expected = query_i64(pg, "SELECT count(*) FROM expected").await?;
    ensure!(
        late > 0 && all_pairs > expected,
        "the scenario does not exercise lateness: {late} late rows, {all_pairs} pairs of all rows, \
         {expected} of non-late rows"
    );
    Ok(late)
}

/// Query `pairs` (into `ad_pairs`) equals `expected`, and its counters
/// agree.
pub(super) async fn check_interval_result(
    client: &Client,
    pg: &Client,
    late: i64,
    input: i64,
) -> Result<()> {
    let expected = "SELECT * FROM expected";
    check_interval_query(client, pg, ("pairs", "ad_pairs", expected), late, input).await
}

/// Query `name`, writing into `table`, equals `expected` (SQL over the
/// temporary tables of [`compute_interval_expected`]); its counters agree.
async fn check_interval_query(
    client: &Client,
    pg: &Client,
    (name, table, expected): (&str, &str, &str),
    late: i64,
    input: i64,
) -> Result<()> {
    let status = wait_for_status(client, name, "finished", DEFAULT_WAIT).await?;
    let actual = format!("SELECT imp, clk, ad, imp_ts, clk_ts FROM {table}");
    let rows = ensure_equal_rows(pg, expected, &actual, name).await?;
    ensure!(
        status.late_rows == late,
        "{name} counted {} late rows, PostgreSQL computes {late}: {status:?}",
        status.late_rows
    );
    ensure!(
        status.input_rows == input && status.output_rows == rows,
        "{name} counters {status:?}, expected {input} input rows and {rows} output rows"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_join_matches_postgres_and_drops_late_rows() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = interval_scenario(&pg, &eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn interval_scenario(pg: &TestPostgres, eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{sources}
             CREATE SINK pairs_sink WITH (connector = 'postgres', url = '{url}',
                table = 'ad_pairs', create_table = 'true');
             CREATE STREAMING QUERY pairs WITH (trigger = '300 milliseconds')
                AS INSERT INTO pairs_sink {INTERVAL_JOIN};
             CREATE SINK offset_sink WITH (connector = 'postgres', url = '{url}',
                table = 'offset_pairs', create_table = 'true');
             CREATE STREAMING QUERY offset_pairs WITH (trigger = '50 milliseconds')
                AS INSERT INTO offset_sink
                SELECT i.id AS imp, c.id AS clk, c.ad, i.ts AS imp_ts, c.ts AS clk_ts
                FROM clks c JOIN imps i
                  ON c.ad = i.ad
                 AND c.ts BETWEEN i.ts + INTERVAL '2' SECOND AND i.ts + INTERVAL '10' SECOND;",
            sources = interval_sources(&pg.url(), 101, [&IMPS, &CLKS]),
            url = pg.url(),
        ),
    )
    .await?;

    // State is bounded by the watermark: about 15 s of impressions and 5 s
    // of clicks (~170 rows), never the 4,000 rows read.
    let most = Cell::new(0i64);
    let samples = Cell::new(0u32);
    wait_until(DEFAULT_WAIT, "pairs to finish", || async {
        let rows = query_rows(&client, "SHOW STREAMING QUERIES").await?;
        let row = rows
            .iter()
            .find(|r| r.get("name") == Some("pairs"))
            .context("pairs not listed")?;
        let status = row.get("status").unwrap_or_default().to_owned();
        let epoch: i64 = row.get("epoch").unwrap_or("0").parse()?;
        ensure!(status != "failed", "pairs failed: {:?}", row.get("error"));
        if status == "finished" {
            return Ok(Progress::Done(()));
        }
        if epoch >= 2 {
            let state: i64 = row.get("state_rows").unwrap_or("0").parse()?;
            most.set(most.get().max(state));
            samples.set(samples.get() + 1);
        }
        Ok(Progress::Pending(format!("{status} at epoch {epoch}")))
    })
    .await?;
    ensure!(
        samples.get() > 0 && most.get() > 0 && most.get() < 1_000,
        "state_rows mid-run: at most {} in {} samples; expected some, well below the {} rows read",
        most.get(),
        samples.get(),
        IMPS.rows + CLKS.rows
    );

    let pg_client = pg.client().await?;
    wait_for_raw_copies(&client, &pg_client, [&IMPS, &CLKS]).await?;
    let late = compute_interval_expected(&pg_client, &IMPS, &CLKS).await?;
    check_interval_result(&client, &pg_client, late, IMPS.rows + CLKS.rows).await?;
    // The clicks on the left, and a lower bound above zero: the same
    // watermark, so the same late rows, and a subset of the pairs.
    let expected = "SELECT * FROM expected WHERE clk_ts >= imp_ts + interval '2 seconds'";
    let query = ("offset_pairs", "offset_pairs", expected);
    check_interval_query(&client, &pg_client, query, late, IMPS.rows + CLKS.rows).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_input_stops_holding_the_watermark_back() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let mut eddy = TestEddy::start().await?;
    let result = ended_input_scenario(&pg, &mut eddy).await;
    with_logs(result, &eddy, Some(&pg))
}

/// Clicks come slower in event time (20 s per epoch against 30 s of
/// impressions) and end after 5 of the 10 epochs: until then they hold the
/// watermark back; from then on the impressions' own watermark applies.
/// The server also dies right after the clicks ended (after the sink of
/// epoch 6) and again before the sink of epoch 8: the ended input must stay
/// ended across recovery.
async fn ended_input_scenario(pg: &TestPostgres, eddy: &mut TestEddy) -> Result<()> {
    const SHORT_CLKS: JoinInput = JoinInput {
        name: "clks",
        rows: 500,
        per_epoch: 100,
        step: "200 milliseconds",
    };
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{sources}
             CREATE SINK pairs_sink WITH (connector = 'postgres', url = '{url}',
                table = 'ad_pairs', create_table = 'true');",
            sources = interval_sources(&pg.url(), 303, [&IMPS, &SHORT_CLKS]),
            url = pg.url(),
        ),
    )
    .await?;
    let pg_client = pg.client().await?;
    wait_for_raw_copies(&client, &pg_client, [&IMPS, &SHORT_CLKS]).await?;
    drop(client);
    create_and_crash(
        eddy,
        "pairs",
        &format!(
            "CREATE STREAMING QUERY pairs WITH (trigger = '50 milliseconds')
                AS INSERT INTO pairs_sink {INTERVAL_JOIN}"
        ),
        &["after_sink@6", "before_sink@8"],
    )
    .await?;

    let late = compute_interval_expected(&pg_client, &IMPS, &SHORT_CLKS).await?;
    // Impressions late only for their own watermark: had the ended clicks
    // kept holding the watermark back, they would not have been late.
    let late_after_end = query_i64(
        &pg_client,
        "SELECT count(*) FROM classified
         WHERE late AND side = 'imp' AND ts > (SELECT max(ts) FROM clks_raw) - interval '5 seconds'",
    )
    .await?;
    ensure!(
        late_after_end > 0,
        "no impression is late only because the clicks ended; the scenario shows nothing"
    );
    let client = eddy.client().await?;
    check_interval_result(&client, &pg_client, late, IMPS.rows + SHORT_CLKS.rows).await
}
