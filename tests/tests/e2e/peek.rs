//! A look at a source: `SELECT … FROM source` reads a bounded sample
//! through the source's own reader and creates no query.
//!
//! - `datagen_peek_reads_the_seeds_rows_unpaced`: a source paced at one row
//!   a second answers its 1000-row default sample at once; its rows equal
//!   the rows a streaming query of the same source wrote into a table; a
//!   pushed-down LIMIT gives the first rows of the sequence.
//! - `file_peek_reads_the_newest_file`: of two files only the newer one
//!   (by modification time) is read, its first 1000 lines by default; a
//!   projection, filter, aggregate and a join with a table over the peek
//!   equal PostgreSQL's answer over the same lines; the result comes with
//!   a NOTICE saying it is a sample; a bad line under `on_error = 'fail'`
//!   is an error naming the file and line; a `postgres` lookup source is
//!   refused with 0A000.
//! - `kafka_peek_reads_the_latest_records_of_each_partition`: three
//!   partitions holding 1100, 20 and 0 records: the latest 1000 of the
//!   first, all of the second, none of the third; `earliest` takes the
//!   first ones instead; a LIMIT bounds each partition; the payloads are
//!   the ones produced; a consumer group's committed offsets are untouched,
//!   and no query, table or source appears.
//! - `kafka_peek_bad_records_under_each_policy`: `fail` answers the error
//!   with SQLSTATE 22000 naming partition and offset; `skip` and
//!   `dead_letter` leave the bad record out, count it in the notice, and
//!   the dead-letter table stays empty.
//! - `kafka_peek_of_an_empty_topic_and_an_unreachable_broker`: zero rows at
//!   once; an unreachable broker is an error within the source's
//!   `read.timeout`, and the server carries on.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, ensure};
use eddy_tests::kafka::{OutgoingMessage, TestKafka};
use eddy_tests::wire::ErrorFields;
use eddy_tests::{
    BackendMessage, TestPostgres, WireClient, execute, expect_db_error, free_port, query_i64,
};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::files::publish;
use crate::{TestEddy, rows, shown_names, wait_for_status, with_logs};

/// The NOTICEs of a statement run over the raw wire client.
async fn notices(eddy: &TestEddy, sql: &str) -> Result<Vec<ErrorFields>> {
    let mut wire = WireClient::connect_default(eddy.addr()).await?;
    let messages = wire.simple_query(sql).await?;
    wire.close().await?;
    ensure!(
        !messages
            .iter()
            .any(|m| matches!(m, BackendMessage::ErrorResponse(_))),
        "{sql} failed: {messages:?}"
    );
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            BackendMessage::NoticeResponse(n) => Some(n),
            _ => None,
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagen_peek_reads_the_seeds_rows_unpaced() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = datagen_scenario(&eddy).await;
    with_logs(result, &eddy, None)
}

async fn datagen_scenario(eddy: &TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    let columns = "id BIGINT, v BIGINT, name TEXT";
    let fields = "seed = '7', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1',
                  'fields.v.min' = '0', 'fields.v.max' = '9', 'fields.name.length' = '4'";
    execute(
        &client,
        &format!(
            "CREATE SOURCE slow ({columns}) WITH (connector = 'datagen', 'rows.per.second' = '1', {fields});
             CREATE SOURCE bounded ({columns}) WITH (connector = 'datagen', 'rows.per.second' = '0',
                 'number.of.rows' = '300', {fields});
             CREATE TABLE copied ({columns});
             CREATE SINK copied_sink WITH (connector = 'table', table = 'copied');"
        ),
    )
    .await?;

    // Paced at one row a second, the 1000-row sample still comes at once.
    let started = Instant::now();
    let counts = rows(
        &client,
        "SELECT count(*), count(DISTINCT id), min(id), max(id), min(v) >= 0 AND max(v) <= 9 FROM slow",
    )
    .await?;
    ensure!(
        counts == ["1000|1000|1|1000|t"],
        "default sample of slow: {counts:?}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(20),
        "the sample took {:?}: it must not be paced",
        started.elapsed()
    );
    let limited = rows(&client, "SELECT id FROM slow LIMIT 3").await?;
    ensure!(limited == ["1", "2", "3"], "LIMIT 3: {limited:?}");
    // The extended protocol, with a parameter.
    let prepared = client
        .query("SELECT id FROM slow WHERE id <= $1 ORDER BY id", &[&2i64])
        .await?;
    let ids: Vec<i64> = prepared.iter().map(|r| r.get(0)).collect();
    ensure!(ids == [1, 2], "prepared: {ids:?}");

    // What a streaming query reads of the same seed.
    execute(
        &client,
        "CREATE STREAMING QUERY copy_bounded WITH (trigger = 'available_now')
         AS INSERT INTO copied_sink SELECT id, v, name FROM bounded",
    )
    .await?;
    wait_for_status(&client, "copy_bounded", "finished", Duration::from_secs(60)).await?;
    let streamed = rows(&client, "SELECT id, v, name FROM copied ORDER BY id").await?;
    ensure!(
        streamed.len() == 300,
        "the query copied {} rows",
        streamed.len()
    );
    // number.of.rows bounds the sample below the default.
    let peeked = rows(&client, "SELECT id, v, name FROM bounded ORDER BY id").await?;
    ensure!(
        peeked == streamed,
        "the peek differs from what the query read: {:?} vs {:?}",
        &peeked[..3.min(peeked.len())],
        &streamed[..3]
    );
    // The same seed and options: `slow` starts with the same rows.
    let slow = rows(
        &client,
        "SELECT id, v, name FROM slow ORDER BY id LIMIT 300",
    )
    .await?;
    ensure!(slow == streamed, "slow's first rows differ from bounded's");
    Ok(())
}

/// Line `i` of a file: a JSON object of keys `k0`..`k4`.
fn file_line(file: &str, i: i64) -> String {
    format!(
        r#"{{"id": {i}, "k": "k{}", "amount": {}, "origin": "{file}"}}"#,
        i % 5,
        (i * 37) % 50
    )
}

fn write_file(dir: &Path, name: &str, lines: i64, modified: SystemTime) -> Result<()> {
    let text: String = (0..lines).map(|i| file_line(name, i) + "\n").collect();
    publish(dir, name, &text)?;
    std::fs::File::options()
        .write(true)
        .open(dir.join(name))?
        .set_modified(modified)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_peek_reads_the_newest_file() -> Result<()> {
    let pg = TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let dirs = tempfile::tempdir()?;
    let result = file_scenario(&eddy, &pg, dirs.path()).await;
    with_logs(result, &eddy, Some(&pg))
}

async fn file_scenario(eddy: &TestEddy, pg: &TestPostgres, dirs: &Path) -> Result<()> {
    let input = dirs.join("in");
    let bad = dirs.join("bad");
    std::fs::create_dir_all(&input)?;
    std::fs::create_dir_all(&bad)?;
    let now = SystemTime::now();
    // `z_old` sorts last by name but is older: modification time decides.
    write_file(&input, "z_old.jsonl", 50, now - Duration::from_secs(3600))?;
    write_file(&input, "a_new.jsonl", 1200, now - Duration::from_secs(60))?;
    publish(
        &bad,
        "b.jsonl",
        &format!("{}\nnot json\n{}\n", file_line("b", 0), file_line("b", 2)),
    )?;

    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "CREATE SOURCE events (id BIGINT, k TEXT, amount BIGINT, origin TEXT, _file TEXT, _line BIGINT)
                 WITH (connector = 'file', path = '{}', format = 'json');
             CREATE SOURCE strict (id BIGINT, k TEXT, amount BIGINT, origin TEXT)
                 WITH (connector = 'file', path = '{}', format = 'json', on_error = 'fail');
             CREATE TABLE names (k TEXT PRIMARY KEY, name TEXT);
             INSERT INTO names VALUES ('k0', 'zero'), ('k1', 'one'), ('k2', 'two'), ('k3', 'three');",
            input.display(),
            bad.display()
        ),
    )
    .await?;

    let origins = rows(
        &client,
        "SELECT _file, origin, count(*), min(_line), max(_line), min(id), max(id) FROM events GROUP BY _file, origin",
    )
    .await?;
    ensure!(
        origins == ["a_new.jsonl|a_new.jsonl|1000|1|1000|0|999"],
        "the peek must read the first 1000 lines of the newest file only: {origins:?}"
    );
    let first = rows(&client, "SELECT id, _line FROM events LIMIT 3").await?;
    ensure!(first == ["0|1", "1|2", "2|3"], "LIMIT 3: {first:?}");

    // The same SQL over the same 1000 lines in PostgreSQL.
    let pg_client = pg.client().await?;
    let values: Vec<String> = (0..1000)
        .map(|i| format!("({i}, 'k{}', {})", i % 5, (i * 37) % 50))
        .collect();
    execute(
        &pg_client,
        &format!(
            "CREATE TABLE events (id BIGINT, k TEXT, amount BIGINT);
             INSERT INTO events VALUES {};
             CREATE TABLE names (k TEXT PRIMARY KEY, name TEXT);
             INSERT INTO names VALUES ('k0', 'zero'), ('k1', 'one'), ('k2', 'two'), ('k3', 'three');",
            values.join(", ")
        ),
    )
    .await?;
    for sql in [
        "SELECT k, count(*) AS n, sum(amount) AS total, max(id) AS top FROM events
         WHERE amount > 20 GROUP BY k ORDER BY k",
        "SELECT n.name, count(*) AS n, sum(e.amount) AS total FROM events e
         JOIN names n ON e.k = n.k WHERE e.id % 3 = 0 GROUP BY n.name ORDER BY n.name",
        "SELECT id, amount * 2 AS doubled FROM events WHERE k = 'k4' ORDER BY amount DESC, id LIMIT 7",
    ] {
        let eddy_rows = rows(&client, sql).await?;
        let pg_rows = rows(&pg_client, sql).await?;
        ensure!(
            eddy_rows == pg_rows && !pg_rows.is_empty(),
            "{sql}\neddy: {eddy_rows:?}\npostgres: {pg_rows:?}"
        );
    }

    let notices = notices(eddy, "SELECT count(*) FROM events").await?;
    ensure!(
        notices.len() == 1
            && notices[0].code == "00000"
            && notices[0].message
                == "source \"events\" is a stream: this result is over a sample of it, at most 1000 rows of its newest file, 'a_new.jsonl' (1000 rows read)",
        "notices: {notices:?}"
    );

    let error = expect_db_error(&client, "SELECT * FROM strict").await?;
    ensure!(
        error.code().code() == "22000"
            && error
                .message()
                .starts_with("bad record in source 'strict' at file b.jsonl line 2:"),
        "on_error = 'fail': {} {}",
        error.code().code(),
        error.message()
    );
    ensure!(query_i64(&client, "SELECT count(*) FROM names").await? == 4);

    // A postgres source is a lookup table: nothing to look at.
    execute(
        &client,
        &format!(
            "CREATE SOURCE pg_names (k TEXT, name TEXT)
             WITH (connector = 'postgres', url = '{}', table = 'names')",
            pg.url()
        ),
    )
    .await?;
    let error = expect_db_error(&client, "SELECT * FROM pg_names").await?;
    ensure!(
        error.code().code() == "0A000" && error.message().contains("is a lookup table"),
        "postgres source: {} {}",
        error.code().code(),
        error.message()
    );
    Ok(())
}

/// Message `offset` of `partition`: its id says where it was produced.
fn kafka_message(partition: i32, offset: i64) -> OutgoingMessage {
    OutgoingMessage {
        partition: Some(partition),
        key: Some(format!("key-{offset}")),
        payload: format!(
            r#"{{"id": {}, "amount": {}}}"#,
            partition as i64 * 100_000 + offset,
            offset % 10
        ),
        timestamp_ms: None,
    }
}

fn kafka_source(name: &str, topic: &str, bootstrap: &str, extra: &str) -> String {
    format!(
        "CREATE SOURCE {name} (id BIGINT, amount BIGINT, _partition INT, _offset BIGINT, _key TEXT)
         WITH (connector = 'kafka', topic = '{topic}', 'properties.bootstrap.servers' = '{bootstrap}'{extra});"
    )
}

/// The offsets group `group` committed on partitions 0..3 of `topic`
/// (`None` where it committed none).
fn committed(bootstrap: &str, group: &str, topic: &str) -> Result<Vec<Option<i64>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(topic, p);
    }
    let found = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok((0..3)
        .map(
            |p| match found.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_peek_reads_the_latest_records_of_each_partition() -> Result<()> {
    let kafka = TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = kafka_scenario(&kafka, &eddy).await;
    with_logs(result, &eddy, None)
}

async fn kafka_scenario(kafka: &TestKafka, eddy: &TestEddy) -> Result<()> {
    let bootstrap = kafka.bootstrap_servers();
    kafka.create_topic("orders", 3)?;
    let produced: Vec<OutgoingMessage> = (0..1100)
        .map(|o| kafka_message(0, o))
        .chain((0..20).map(|o| kafka_message(1, o)))
        .collect();
    kafka.produce("orders", &produced)?;
    // An application's group, which the source is told to use.
    let app: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "shop")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut commit = TopicPartitionList::new();
    commit.add_partition_offset("orders", 0, Offset::Offset(5))?;
    app.commit(&commit, CommitMode::Sync)?;
    drop(app);
    let before = committed(&bootstrap, "shop", "orders")?;
    ensure!(
        before == [Some(5), None, None],
        "committed before: {before:?}"
    );

    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{}{}",
            kafka_source(
                "latest",
                "orders",
                &bootstrap,
                ", 'properties.group.id' = 'shop'"
            ),
            kafka_source(
                "earliest",
                "orders",
                &bootstrap,
                ", 'scan.startup.mode' = 'earliest'"
            )
        ),
    )
    .await?;
    let tables_before = shown_names(&client, "SHOW TABLES").await?;

    let per_partition = "SELECT _partition, count(*), min(_offset), max(_offset), \
                         count(*) FILTER (WHERE id = _partition * 100000 + _offset) \
                         FROM {} GROUP BY _partition ORDER BY _partition";
    let latest = rows(&client, &per_partition.replace("{}", "latest")).await?;
    ensure!(
        latest == ["0|1000|100|1099|1000", "1|20|0|19|20"],
        "latest 1000 per partition: {latest:?}"
    );
    let earliest = rows(&client, &per_partition.replace("{}", "earliest")).await?;
    ensure!(
        earliest == ["0|1000|0|999|1000", "1|20|0|19|20"],
        "earliest 1000 per partition: {earliest:?}"
    );

    // LIMIT 4 reaches the scan: at most 4 records of each partition, the
    // latest ones.
    let limited = rows(&client, "SELECT _partition, _offset FROM latest LIMIT 4").await?;
    ensure!(limited.len() == 4, "LIMIT 4: {limited:?}");
    for row in &limited {
        ensure!(
            [
                "0|1096", "0|1097", "0|1098", "0|1099", "1|16", "1|17", "1|18", "1|19"
            ]
            .contains(&row.as_str()),
            "LIMIT 4 gave {row}, not among the last 4 of its partition"
        );
    }

    // Payloads, keys and metadata as produced.
    let partition_1 = rows(
        &client,
        "SELECT id, amount, _key FROM latest WHERE _partition = 1 ORDER BY _offset",
    )
    .await?;
    let expected: Vec<String> = (0..20)
        .map(|o| format!("{}|{}|key-{o}", 100_000 + o, o % 10))
        .collect();
    ensure!(partition_1 == expected, "partition 1: {partition_1:?}");

    let notices = notices(eddy, "SELECT count(*) FROM latest").await?;
    ensure!(
        notices.len() == 1
            && notices[0].message
                == "source \"latest\" is a stream: this result is over a sample of it, at most the last 1000 records of each of its 3 partitions (1020 rows read)",
        "notices: {notices:?}"
    );

    // Nothing moved or appeared.
    let after = committed(&bootstrap, "shop", "orders")?;
    ensure!(
        after == before,
        "group 'shop' committed {after:?}, was {before:?}"
    );
    let queries = shown_names(&client, "SHOW STREAMING QUERIES").await?;
    ensure!(queries.is_empty(), "queries: {queries:?}");
    let tables_after = shown_names(&client, "SHOW TABLES").await?;
    ensure!(tables_after == tables_before, "tables: {tables_after:?}");
    let sources = shown_names(&client, "SHOW SOURCES").await?;
    ensure!(sources == ["earliest", "latest"], "sources: {sources:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_peek_bad_records_under_each_policy() -> Result<()> {
    let kafka = TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = bad_records_scenario(&kafka, &eddy).await;
    with_logs(result, &eddy, None)
}

async fn bad_records_scenario(kafka: &TestKafka, eddy: &TestEddy) -> Result<()> {
    let bootstrap = kafka.bootstrap_servers();
    kafka.create_topic("mixed", 1)?;
    let mut messages = vec![kafka_message(0, 0), kafka_message(0, 1)];
    messages[1].payload = r#"{"id": "not a number"}"#.into();
    messages.push(kafka_message(0, 2));
    kafka.produce("mixed", &messages)?;
    let client = eddy.client().await?;
    execute(
        &client,
        &format!(
            "{}{}{}",
            kafka_source("failing", "mixed", &bootstrap, ", on_error = 'fail'"),
            kafka_source("skipping", "mixed", &bootstrap, ", on_error = 'skip'"),
            kafka_source(
                "lettered",
                "mixed",
                &bootstrap,
                ", on_error = 'dead_letter', 'dead_letter.table' = 'mixed_errors'"
            ),
        ),
    )
    .await?;

    let error = expect_db_error(&client, "SELECT id FROM failing").await?;
    ensure!(
        error.code().code() == "22000"
            && error
                .message()
                .starts_with("bad record in source 'failing' at partition 0 offset 1:"),
        "on_error = 'fail': {} {}",
        error.code().code(),
        error.message()
    );
    for source in ["skipping", "lettered"] {
        let got = rows(
            &client,
            &format!("SELECT id, _offset FROM {source} ORDER BY _offset"),
        )
        .await?;
        ensure!(got == ["0|0", "2|2"], "{source}: {got:?}");
        let notices = notices(eddy, &format!("SELECT * FROM {source}")).await?;
        ensure!(
            notices.len() == 1
                && notices[0]
                    .message
                    .ends_with("(2 rows read, 1 bad record skipped)"),
            "{source}: {notices:?}"
        );
    }
    let dead = query_i64(&client, "SELECT count(*) FROM mixed_errors").await?;
    ensure!(dead == 0, "a peek wrote {dead} dead letters");
    // The session goes on after the failed peek.
    ensure!(query_i64(&client, "SELECT count(*) FROM skipping").await? == 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_peek_of_an_empty_topic_and_an_unreachable_broker() -> Result<()> {
    let kafka = TestKafka::start()?;
    let eddy = TestEddy::start().await?;
    let result = empty_and_unreachable(&kafka, &eddy).await;
    with_logs(result, &eddy, None)
}

async fn empty_and_unreachable(kafka: &TestKafka, eddy: &TestEddy) -> Result<()> {
    kafka.create_topic("empty", 2)?;
    let client = eddy.client().await?;
    let nowhere = format!("127.0.0.1:{}", free_port()?);
    execute(
        &client,
        &format!(
            "{}{}",
            kafka_source("quiet", "empty", &kafka.bootstrap_servers(), ""),
            kafka_source(
                "unreachable",
                "empty",
                &nowhere,
                ", 'read.timeout' = '2 seconds'"
            ),
        ),
    )
    .await?;
    let started = Instant::now();
    ensure!(query_i64(&client, "SELECT count(*) FROM quiet").await? == 0);
    let empty = rows(&client, "SELECT * FROM quiet LIMIT 10").await?;
    ensure!(empty.is_empty(), "empty topic: {empty:?}");
    ensure!(
        started.elapsed() < Duration::from_secs(15),
        "an empty topic took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let error = expect_db_error(&client, "SELECT * FROM unreachable").await?;
    let took = started.elapsed();
    ensure!(
        error.code().code() == "58000"
            && error.message().starts_with("kafka source 'unreachable': "),
        "unreachable broker: {} {}",
        error.code().code(),
        error.message()
    );
    ensure!(
        took < Duration::from_secs(20),
        "the error took {took:?}, read.timeout is 2 seconds"
    );
    let alive = rows(&client, "SELECT 1").await.context("after the error")?;
    ensure!(alive == ["1"]);
    Ok(())
}
