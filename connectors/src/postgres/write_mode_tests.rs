//! The write modes (`append`, `upsert`, `overwrite`), the guarantees
//! (`exactly_once`, `at_least_once`) and the progress compare-and-set,
//! against a real, private PostgreSQL (see `test_server`).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use eddy_catalog::SinkDef;
use eddy_engine::{EngineError, SinkContext};

use super::test_server::TestPostgres;
use super::tests::{no_tables, rows_as_text, sink, texts};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k1", DataType::Int64, true),
        Field::new("k2", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]))
}

/// Rows `(k1, k2, v)`.
fn rows(rows: &[(i64, &str, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

/// `n` rows `(i, 'x', i)` from `from`.
fn numbered(from: i64, n: i64) -> RecordBatch {
    let ids: Vec<(i64, &str, i64)> = (from..from + n).map(|i| (i, "x", i)).collect();
    rows(&ids)
}

/// The table's rows as `k1 k2 v` strings, in key order.
async fn contents(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
    client
        .query(
            &format!("SELECT concat_ws(' ', k1, k2, v) FROM {table} ORDER BY k1, k2, v"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn progress(client: &tokio_postgres::Client) -> Vec<Vec<Option<String>>> {
    rows_as_text(
        client,
        "SELECT sink, query, partition::text, epoch::text FROM eddy_sink_progress ORDER BY sink",
    )
    .await
}

#[tokio::test]
async fn concurrent_writers_commit_each_epoch_once_and_a_stale_writer_is_skipped() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    let options = [("table", "out"), ("create_table", "true")];
    let mut a = sink(&pg, "s", &options);
    let mut b = sink(&pg, "s", &options);
    a.open(schema()).await.unwrap();
    b.open(schema()).await.unwrap();

    // Both write every epoch at the same time, on their own connections.
    for epoch in 1..=5u64 {
        let batch = numbered(epoch as i64 * 100, 10);
        let (ra, rb) = tokio::join!(
            a.write_epoch(epoch, std::slice::from_ref(&batch)),
            b.write_epoch(epoch, std::slice::from_ref(&batch))
        );
        let mut written = [ra.unwrap(), rb.unwrap()];
        written.sort();
        assert_eq!(written, [0, 10], "epoch {epoch}");
    }
    let count: i64 = client
        .query_one(
            "SELECT count(DISTINCT k1) FROM out HAVING count(*) = count(DISTINCT k1)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 50);

    // A stale writer replaying epoch 5 after epoch 6 is committed writes
    // nothing, nor does one replaying epoch 6.
    assert_eq!(a.write_epoch(6, &[numbered(600, 2)]).await.unwrap(), 2);
    assert_eq!(b.write_epoch(5, &[numbered(900, 3)]).await.unwrap(), 0);
    assert_eq!(b.write_epoch(6, &[numbered(900, 3)]).await.unwrap(), 0);
    let total: i64 = client
        .query_one("SELECT count(*) FROM out", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 52);
    assert_eq!(
        progress(&client).await,
        vec![texts(&[Some("s"), Some("q1"), Some("0"), Some("6")])]
    );

    // If the progress row does not move as the writer saw it (here a
    // trigger swallows the update), the epoch is rolled back with an error
    // that retrying cannot fix.
    client
        .batch_execute(
            "CREATE FUNCTION keep_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
             CREATE TRIGGER keep BEFORE UPDATE ON eddy_sink_progress FOR EACH ROW EXECUTE FUNCTION keep_row()",
        )
        .await
        .unwrap();
    let err = a.write_epoch(7, &[numbered(700, 4)]).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("another writer committed epoch 7 first: the row of eddy_sink_progress for sink 's', query 'q1' no longer read epoch 6"),
        "{err}"
    );
    client
        .batch_execute("DROP TRIGGER keep ON eddy_sink_progress")
        .await
        .unwrap();
    assert_eq!(a.write_epoch(7, &[numbered(700, 4)]).await.unwrap(), 4);
    let total: i64 = client
        .query_one("SELECT count(*) FROM out", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 56);
}

#[tokio::test]
async fn upsert_keeps_the_last_row_per_key_within_and_across_epochs() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    let mut s = sink(
        &pg,
        "up",
        &[
            ("table", "latest"),
            ("create_table", "true"),
            ("mode", "upsert"),
            ("primary_key", "k2, k1"),
            ("batch_size", "2"),
        ],
    );
    s.open(schema()).await.unwrap();
    let pk = rows_as_text(
        &client,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'latest'::regclass AND contype = 'p'",
    )
    .await;
    assert_eq!(pk, vec![texts(&[Some("PRIMARY KEY (k2, k1)")])]);

    // Within an epoch the last row of a key wins, across batches too.
    let epoch1 = [
        rows(&[(1, "a", 10), (2, "a", 20), (1, "a", 11)]),
        rows(&[(3, "b", 30), (2, "a", 21), (1, "b", 5)]),
    ];
    assert_eq!(s.write_epoch(1, &epoch1).await.unwrap(), 4);
    assert_eq!(
        contents(&client, "latest").await,
        ["1 a 11", "1 b 5", "2 a 21", "3 b 30"]
    );
    // Across epochs a later row replaces the earlier one.
    assert_eq!(
        s.write_epoch(2, &[rows(&[(1, "a", 12), (4, "c", 40)])])
            .await
            .unwrap(),
        2
    );
    // A replay of epoch 2 (even with other values) changes nothing.
    assert_eq!(s.write_epoch(2, &[rows(&[(1, "a", 99)])]).await.unwrap(), 0);
    assert_eq!(
        contents(&client, "latest").await,
        ["1 a 12", "1 b 5", "2 a 21", "3 b 30", "4 c 40"]
    );

    // A new connection gets its own staging table.
    client
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'",
        )
        .await
        .unwrap();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match s
            .write_epoch(3, &[rows(&[(3, "b", 31), (3, "b", 32)])])
            .await
        {
            Ok(written) => {
                assert_eq!(written, 1);
                break;
            }
            Err(e) => assert!(e.is_retryable() && attempts < 3, "{e}"),
        }
    }
    assert_eq!(
        contents(&client, "latest").await,
        ["1 a 12", "1 b 5", "2 a 21", "3 b 32", "4 c 40"]
    );

    // A NULL key violates the primary key: the epoch fails, is not
    // retryable, leaves nothing behind, and the sink keeps working.
    let mut null_key = rows(&[(5, "d", 50)]).columns().to_vec();
    null_key[1] = Arc::new(StringArray::from(vec![None::<&str>]));
    let null_key = RecordBatch::try_new(schema(), null_key).unwrap();
    let err = s
        .write_epoch(4, &[rows(&[(6, "e", 60)]), null_key])
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("SQLSTATE 23502"), "{err}");
    assert_eq!(s.write_epoch(4, &[rows(&[(6, "e", 60)])]).await.unwrap(), 1);
    assert_eq!(
        contents(&client, "latest").await,
        ["1 a 12", "1 b 5", "2 a 21", "3 b 32", "4 c 40", "6 e 60"]
    );

    // An existing table with a UNIQUE constraint (not a primary key) on the
    // key's columns in another order, and a column the query does not
    // produce, which keeps its default.
    client
        .batch_execute(
            "CREATE TABLE uniq (id serial, v bigint, k2 text, k1 bigint, seen text DEFAULT 'yes', UNIQUE (k1, k2))",
        )
        .await
        .unwrap();
    let mut u = sink(
        &pg,
        "uniq",
        &[
            ("table", "uniq"),
            ("mode", "upsert"),
            ("primary_key", "k2,k1"),
        ],
    );
    u.open(schema()).await.unwrap();
    u.write_epoch(1, &[rows(&[(1, "a", 1), (1, "a", 2)])])
        .await
        .unwrap();
    u.write_epoch(2, &[rows(&[(1, "a", 3), (2, "a", 1)])])
        .await
        .unwrap();
    assert_eq!(
        rows_as_text(
            &client,
            "SELECT concat_ws(' ', k1, k2, v, seen) FROM uniq ORDER BY k1"
        )
        .await,
        vec![texts(&[Some("1 a 3 yes")]), texts(&[Some("2 a 1 yes")])]
    );
}

#[tokio::test]
async fn overwrite_replaces_the_contents_each_epoch() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    let mut s = sink(
        &pg,
        "all",
        &[
            ("table", "totals"),
            ("create_table", "true"),
            ("mode", "overwrite"),
        ],
    );
    s.open(schema()).await.unwrap();
    assert_eq!(s.write_epoch(1, &[numbered(0, 5)]).await.unwrap(), 5);
    assert_eq!(
        s.write_epoch(2, &[rows(&[(7, "a", 1)]), rows(&[(8, "b", 2)])])
            .await
            .unwrap(),
        2
    );
    assert_eq!(contents(&client, "totals").await, ["7 a 1", "8 b 2"]);
    // A replay of epoch 1 does not bring its rows back.
    assert_eq!(s.write_epoch(1, &[numbered(0, 5)]).await.unwrap(), 0);
    assert_eq!(contents(&client, "totals").await, ["7 a 1", "8 b 2"]);
    // An empty result empties the table.
    assert_eq!(s.write_epoch(3, &[]).await.unwrap(), 0);
    assert!(contents(&client, "totals").await.is_empty());
    assert_eq!(
        progress(&client).await,
        vec![texts(&[Some("all"), Some("q1"), Some("0"), Some("3")])]
    );
}

#[tokio::test]
async fn at_least_once_writes_a_replayed_epoch_again_without_bookkeeping() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    let mut append = sink(
        &pg,
        "a",
        &[
            ("table", "log"),
            ("create_table", "true"),
            ("guarantee", "at_least_once"),
        ],
    );
    append.open(schema()).await.unwrap();
    assert_eq!(append.write_epoch(1, &[numbered(0, 3)]).await.unwrap(), 3);
    assert_eq!(append.write_epoch(1, &[numbered(0, 3)]).await.unwrap(), 3);
    assert_eq!(
        contents(&client, "log").await,
        ["0 x 0", "0 x 0", "1 x 1", "1 x 1", "2 x 2", "2 x 2"]
    );

    let mut upsert = sink(
        &pg,
        "u",
        &[
            ("table", "last"),
            ("create_table", "true"),
            ("mode", "upsert"),
            ("primary_key", "k1"),
            ("guarantee", "AT_LEAST_ONCE"),
        ],
    );
    upsert.open(schema()).await.unwrap();
    let epoch = [rows(&[(1, "a", 1), (1, "b", 2)])];
    assert_eq!(upsert.write_epoch(1, &epoch).await.unwrap(), 1);
    assert_eq!(upsert.write_epoch(1, &epoch).await.unwrap(), 1);
    assert_eq!(contents(&client, "last").await, ["1 b 2"]);

    let progress_exists: bool = client
        .query_one("SELECT to_regclass('eddy_sink_progress') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!progress_exists);
}

fn def(pg_url: String, options: &[(&str, &str)]) -> SinkDef {
    let mut all = BTreeMap::from([
        ("url".to_string(), pg_url),
        ("table".to_string(), "t".to_string()),
    ]);
    all.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    SinkDef {
        name: "bad".into(),
        connector: "postgres".into(),
        options: all,
        sql: String::new(),
    }
}

fn validation_error(options: &[(&str, &str)]) -> String {
    let ctx = SinkContext {
        query: "q".into(),
        tables: no_tables(),
    };
    let def = def("postgres://app@127.0.0.1:1/db".into(), options);
    let err = crate::registry().validate_sink(&def, &ctx).unwrap_err();
    assert!(matches!(err, EngineError::Config(_)), "{err:?}");
    err.to_string()
}

#[test]
fn mode_and_key_options_are_checked_at_create_sink() {
    assert_eq!(
        validation_error(&[("mode", "upsert")]),
        "mode 'upsert' of postgres sink 'bad' needs option 'primary_key' (e.g. primary_key = \
         'window_start,auction'): the columns whose values identify a row to replace"
    );
    assert_eq!(
        validation_error(&[("primary_key", "id")]),
        "option 'primary_key' of postgres sink 'bad' needs mode 'upsert' or 'overwrite'; mode 'append' \
         adds every row and uses no key"
    );
    assert_eq!(
        validation_error(&[("mode", "upsert"), ("primary_key", "a,,b")]),
        "invalid value 'a,,b' for option 'primary_key'; expected column names separated by commas"
    );
    assert_eq!(
        validation_error(&[("guarantee", "exactly-once")]),
        "invalid value 'exactly-once' for option 'guarantee'; expected one of exactly_once, at_least_once"
    );
}

#[tokio::test]
async fn upsert_keys_are_checked_against_the_output_and_the_table() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    let upsert = |key: &'static str| [("table", "t"), ("mode", "upsert"), ("primary_key", key)];

    let err = sink(&pg, "s", &upsert("k1,K2"))
        .open(schema())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "primary_key column \"K2\" is not an output column of the query (names are case-sensitive: did you \
         mean \"k2\"?); the output columns are k1, k2, v"
    );

    client
        .batch_execute(
            "CREATE TABLE t (k1 bigint, k2 text, v bigint, UNIQUE (k1), UNIQUE (k1, k2, v));
             CREATE UNIQUE INDEX partial ON t (k1, k2) WHERE v > 0;
             CREATE TABLE bare (k1 bigint, k2 text, v bigint)",
        )
        .await
        .unwrap();
    let err = sink(&pg, "s", &upsert("k1,k2"))
        .open(schema())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Config(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "PostgreSQL table \"t\" has no primary key or unique constraint on exactly (\"k1\", \"k2\"), which \
         mode 'upsert' needs to find the row to replace; its unique keys are (\"k1\"), (\"k1\", \"k2\", \"v\"). \
         Add one (ALTER TABLE \"t\" ADD PRIMARY KEY (\"k1\", \"k2\")) or change primary_key"
    );
    let err = sink(
        &pg,
        "s",
        &[("table", "bare"), ("mode", "upsert"), ("primary_key", "k1")],
    )
    .open(schema())
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("has no primary key or unique constraint on exactly (\"k1\"), which mode 'upsert' needs to find the row to replace; it has none."),
        "{err}"
    );
    // The same key on a table that has it opens.
    sink(&pg, "s", &upsert("k1")).open(schema()).await.unwrap();
}
