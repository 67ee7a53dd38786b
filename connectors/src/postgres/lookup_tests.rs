//! The `postgres` source as a lookup table, against a real, private
//! PostgreSQL (see `test_server`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use eddy_catalog::{ColumnDef, SourceDef, SqlType};
use eddy_engine::{EngineError, Lookup};
use eddy_sql::types::arrow_schema;

use super::lookup::PostgresLookup;
use super::source::PostgresLookupConfig;
use super::test_server::TestPostgres;

fn source(
    url: &str,
    table: &str,
    columns: &[(&str, SqlType)],
    extra: &[(&str, &str)],
) -> SourceDef {
    let mut options = BTreeMap::from([
        ("url".to_string(), url.to_string()),
        ("table".to_string(), table.to_string()),
    ]);
    options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    SourceDef {
        name: "dim".into(),
        columns: columns
            .iter()
            .map(|(name, t)| ColumnDef {
                name: name.to_string(),
                data_type: *t,
                nullable: true,
                default: None,
            })
            .collect(),
        watermark: None,
        connector: "postgres".into(),
        options,
        sql: String::new(),
    }
}

/// A lookup built the way the engine builds it: validated, then through
/// the registry's connector.
fn lookup_via_registry(def: &SourceDef, keys: &[&str]) -> Box<dyn Lookup> {
    let registry = crate::registry();
    let schema = arrow_schema(&def.columns);
    registry.validate_source(def, &schema).unwrap();
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    registry
        .source("postgres")
        .unwrap()
        .create_lookup(def, schema, &keys)
        .unwrap()
}

/// The concrete lookup, to see how many queries it sent.
fn lookup(def: &SourceDef, keys: &[&str]) -> PostgresLookup {
    crate::registry()
        .validate_source(def, &arrow_schema(&def.columns))
        .unwrap();
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    PostgresLookup::new(
        &def.name,
        PostgresLookupConfig::parse(def).unwrap(),
        arrow_schema(&def.columns),
        &keys,
    )
    .unwrap()
}

/// The rows as text, sorted.
fn rows(batch: &RecordBatch) -> Vec<String> {
    let mut rows: Vec<String> = (0..batch.num_rows())
        .map(|r| {
            batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, r).unwrap()
                    }
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    rows.sort();
    rows
}

fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn strs(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

#[tokio::test]
async fn keys_are_pushed_down_and_rows_cast_to_the_declared_types() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    client
        .batch_execute(
            "CREATE SCHEMA shop;
             CREATE TABLE shop.customers (
                id integer PRIMARY KEY, name varchar(20), tier char(6), score numeric(12,4),
                since date, seen timestamp, seen_tz timestamptz, vip boolean, ratio real,
                big bigint, small smallint, d double precision, data bytea, wait interval);
             INSERT INTO shop.customers VALUES
                (1, 'Ada', 'gold', 12.3456, '1999-12-31', '2026-01-02 03:04:05.123456',
                 '2026-01-02 03:04:05+02', true, 0.5, 7, -3, 1e-3, '\\x00ff',
                 '1 mon 2 days 00:00:01.5'),
                (2, 'Bob', 'silver', -0.005, '2000-01-01', '1969-07-20 20:17:40', NULL, false,
                 NULL, NULL, NULL, NULL, NULL, NULL),
                (3, 'Cy', 'gold', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                (4, 'Dee', 'plain', 5.25, '2024-02-29', '2024-02-29 12:00:00', NULL, NULL, NULL,
                 NULL, NULL, NULL, NULL, '3 days 04:05:06');
             CREATE TABLE orders (customer bigint, region text, item text);
             INSERT INTO orders VALUES (1, 'eu', 'pen'), (1, 'eu', 'ink'), (1, 'us', 'cap'),
                (2, 'eu', 'mug');",
        )
        .await
        .unwrap();
    let columns = [
        ("id", SqlType::BigInt),
        ("name", SqlType::Text),
        ("tier", SqlType::Text),
        ("score", SqlType::Numeric(10, 2)),
        ("since", SqlType::Date),
        ("seen", SqlType::TimestampTz),
        ("seen_tz", SqlType::Timestamp),
        ("vip", SqlType::Boolean),
        ("ratio", SqlType::Double),
        ("big", SqlType::Int),
        ("small", SqlType::SmallInt),
        ("d", SqlType::Double),
        ("data", SqlType::Bytea),
        ("wait", SqlType::Interval),
    ];
    let def = source(&pg.url(), "shop.customers", &columns, &[]);

    // One key column; a key without a row answers nothing. The keys come
    // as INT while the column is BIGINT (and integer in PostgreSQL).
    let mut by_id = lookup_via_registry(&def, &["id"]);
    let keys: ArrayRef = Arc::new(Int32Array::from(vec![2, 1, 99]));
    let batch = by_id.lookup(&[keys]).await.unwrap();
    assert_eq!(batch.schema(), arrow_schema(&def.columns));
    assert_eq!(
        rows(&batch),
        [
            "1 | Ada | gold | 12.35 | 1999-12-31 | 2026-01-02T03:04:05.123456Z | \
             2026-01-02T01:04:05 | true | 0.5 | 7 | -3 | 0.001 | 00ff | 1 mons 2 days 1.500000000 secs",
            "2 | Bob | silver | -0.01 | 2000-01-01 | 1969-07-20T20:17:40Z | NULL | false | NULL | \
             NULL | NULL | NULL | NULL | NULL",
        ]
    );
    assert_eq!(by_id.lookup(&[ints(&[98])]).await.unwrap().num_rows(), 0);

    // A non-unique key: several rows per key.
    let mut by_tier = lookup(&def, &["tier"]);
    let batch = by_tier.lookup(&[strs(&["gold", "bronze"])]).await.unwrap();
    let ids: Vec<String> = rows(&batch)
        .iter()
        .map(|r| r.split(" | ").next().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["1", "3"]);
    assert!(
        by_tier.sql().ends_with("WHERE \"tier\" = ANY($1::text[])"),
        "{}",
        by_tier.sql()
    );

    // Keys of every kind that is encoded by hand: date, numeric, timestamp,
    // interval. Keys are compared with the columns as stored: Ada's score
    // reads as 12.35 but is 12.3456 in PostgreSQL, so only Dee matches.
    let probe = by_id.lookup(&[ints(&[1, 4])]).await.unwrap();
    let keys: Vec<ArrayRef> = ["since", "score", "seen", "wait"]
        .iter()
        .map(|k| probe.column(probe.schema().index_of(k).unwrap()).clone())
        .collect();
    let names = |batch: &RecordBatch| -> Vec<String> {
        rows(batch)
            .iter()
            .map(|r| r.split(" | ").nth(1).unwrap().to_string())
            .collect()
    };
    let mut by_four = lookup(&def, &["since", "score", "seen", "wait"]);
    assert_eq!(names(&by_four.lookup(&keys).await.unwrap()), ["Dee"]);
    let mut by_two = lookup(&def, &["since", "seen"]);
    let batch = by_two
        .lookup(&[keys[0].clone(), keys[2].clone()])
        .await
        .unwrap();
    assert_eq!(names(&batch), ["Ada", "Dee"]);
    assert!(
        by_two.sql().ends_with(
            "WHERE (\"since\", \"seen\") IN (SELECT * FROM unnest($1::date[], $2::timestamptz[]))"
        ),
        "{}",
        by_two.sql()
    );

    // Composite keys, several rows per key, keys without rows.
    let orders = source(
        &pg.url(),
        "orders",
        &[
            ("customer", SqlType::BigInt),
            ("region", SqlType::Text),
            ("item", SqlType::Text),
        ],
        &[],
    );
    let mut by_customer_region = lookup(&orders, &["customer", "region"]);
    let batch = by_customer_region
        .lookup(&[ints(&[1, 2, 1, 3]), strs(&["eu", "us", "us", "eu"])])
        .await
        .unwrap();
    assert_eq!(
        rows(&batch),
        ["1 | eu | ink", "1 | eu | pen", "1 | us | cap"]
    );
    assert_eq!(by_customer_region.queries_sent(), 1);
}

/// uuid keys are compared as uuids (PostgreSQL casts the text Eddy sends),
/// whatever case the key arrives in being Eddy's canonical one; uuid and
/// jsonb values are read as the text Eddy stores.
#[tokio::test]
async fn uuid_keys_and_json_values() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    client
        .batch_execute(
            "CREATE TABLE accounts (id uuid PRIMARY KEY, doc jsonb);
             INSERT INTO accounts VALUES
                ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\"b\": 1, \"a\": [true]}'),
                ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', NULL);",
        )
        .await
        .unwrap();
    let columns = [("id", SqlType::Uuid), ("doc", SqlType::Jsonb)];
    let def = source(&pg.url(), "accounts", &columns, &[]);
    let mut by_id = lookup_via_registry(&def, &["id"]);
    let keys = strs(&[
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13",
    ]);
    let batch = by_id.lookup(&[keys]).await.unwrap();
    assert_eq!(batch.schema(), arrow_schema(&def.columns));
    assert_eq!(
        rows(&batch),
        [r#"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 | {"a": [true], "b": 1}"#]
    );
}

#[tokio::test]
async fn cached_answers_are_reused_until_the_ttl_passes() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    client
        .batch_execute(
            "CREATE TABLE prices (id int PRIMARY KEY, price bigint);
             INSERT INTO prices VALUES (1, 10), (2, 20);",
        )
        .await
        .unwrap();
    let columns = [("id", SqlType::BigInt), ("price", SqlType::BigInt)];
    let ttl = Duration::from_millis(1500);
    let def = source(
        &pg.url(),
        "prices",
        &columns,
        &[("lookup.cache.ttl", "1500 milliseconds")],
    );
    let mut prices = lookup(&def, &["id"]);
    let started = std::time::Instant::now();
    let batch = prices.lookup(&[ints(&[1, 2, 3])]).await.unwrap();
    assert_eq!(rows(&batch), ["1 | 10", "2 | 20"]);
    assert_eq!((prices.queries_sent(), prices.keys_sent()), (1, 3));

    client
        .batch_execute(
            "UPDATE prices SET price = 11 WHERE id = 1; INSERT INTO prices VALUES (3, 30), (4, 40)",
        )
        .await
        .unwrap();
    // Within the TTL: the cached answers, including "no rows" for 3, and
    // no query at all.
    let batch = prices.lookup(&[ints(&[3, 1])]).await.unwrap();
    assert_eq!(rows(&batch), ["1 | 10"]);
    assert_eq!((prices.queries_sent(), prices.keys_sent()), (1, 3));
    // Only the key the cache cannot answer is sent.
    let batch = prices.lookup(&[ints(&[1, 4, 2])]).await.unwrap();
    assert_eq!(rows(&batch), ["1 | 10", "2 | 20", "4 | 40"]);
    assert_eq!((prices.queries_sent(), prices.keys_sent()), (2, 4));
    assert!(
        started.elapsed() < ttl,
        "the test ran too slowly to check the TTL"
    );

    // After the TTL: PostgreSQL's current rows.
    tokio::time::sleep(ttl.saturating_sub(started.elapsed()) + Duration::from_millis(50)).await;
    let batch = prices.lookup(&[ints(&[1, 3])]).await.unwrap();
    assert_eq!(rows(&batch), ["1 | 11", "3 | 30"]);
    assert_eq!((prices.queries_sent(), prices.keys_sent()), (3, 6));

    // Without a TTL every lookup asks PostgreSQL.
    let mut uncached = lookup(&source(&pg.url(), "prices", &columns, &[]), &["id"]);
    uncached.lookup(&[ints(&[1])]).await.unwrap();
    client
        .batch_execute("UPDATE prices SET price = 12 WHERE id = 1")
        .await
        .unwrap();
    let batch = uncached.lookup(&[ints(&[1])]).await.unwrap();
    assert_eq!(rows(&batch), ["1 | 12"]);
    assert_eq!(uncached.queries_sent(), 2);

    // The cache holds at most max_rows rows; the oldest answers go first.
    let bounded = source(
        &pg.url(),
        "prices",
        &columns,
        &[
            ("lookup.cache.ttl", "1 hour"),
            ("lookup.cache.max_rows", "2"),
        ],
    );
    let mut bounded = lookup(&bounded, &["id"]);
    for id in [1, 2, 3] {
        bounded.lookup(&[ints(&[id])]).await.unwrap();
    }
    bounded.lookup(&[ints(&[2, 3])]).await.unwrap();
    assert_eq!(bounded.queries_sent(), 3);
    bounded.lookup(&[ints(&[1])]).await.unwrap();
    assert_eq!(bounded.queries_sent(), 4);
}

#[tokio::test]
async fn missing_tables_and_columns_are_named_and_lost_connections_are_retried() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let client = pg.client().await;
    client
        .batch_execute(
            "CREATE TABLE customers (id bigint PRIMARY KEY, \"Name\" text, tier text, vip boolean);
             INSERT INTO customers VALUES (1, 'Ada', 'gold', true);",
        )
        .await
        .unwrap();
    let columns = [("id", SqlType::BigInt), ("tier", SqlType::Text)];

    let err = lookup(&source(&pg.url(), "nope", &columns, &[]), &["id"])
        .lookup(&[ints(&[1])])
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Config(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        format!(
            "table \"nope\" of postgres source 'dim' does not exist in PostgreSQL (127.0.0.1:{}/postgres)",
            pg.port
        )
    );

    let wrong = [
        ("id", SqlType::BigInt),
        ("name", SqlType::Text),
        ("level", SqlType::Text),
    ];
    let err = lookup(&source(&pg.url(), "customers", &wrong, &[]), &["id"])
        .lookup(&[ints(&[1])])
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "columns \"name\" (names are case-sensitive: did you mean \"Name\"?), \"level\" of postgres source \
         'dim' do not exist in PostgreSQL table \"customers\"; its columns are id, Name, tier, vip"
    );

    // A column PostgreSQL cannot cast to the declared type, or whose
    // values do not convert.
    let uncastable = [("id", SqlType::BigInt), ("vip", SqlType::Date)];
    let err = lookup(&source(&pg.url(), "customers", &uncastable, &[]), &["id"])
        .lookup(&[ints(&[1])])
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("cannot cast type boolean to date (SQLSTATE 42846)"),
        "{err}"
    );
    let unconvertible = [("id", SqlType::BigInt), ("tier", SqlType::Date)];
    let err = lookup(
        &source(&pg.url(), "customers", &unconvertible, &[]),
        &["id"],
    )
    .lookup(&[ints(&[1])])
    .await
    .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .ends_with("invalid input syntax for type date: \"gold\" (SQLSTATE 22007)"),
        "{err}"
    );

    // Unreachable: retryable.
    let down = source(
        "postgres://postgres@127.0.0.1:1/postgres",
        "customers",
        &columns,
        &[],
    );
    let err = lookup(&down, &["id"])
        .lookup(&[ints(&[1])])
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("postgres source 'dim' (127.0.0.1:1/postgres): "),
        "{err}"
    );

    // A connection lost between lookups: the next lookup fails retryably
    // or reconnects at once; either way the one after answers.
    let url = format!("{}?application_name=eddy_lookup_test", pg.url());
    let mut customers = lookup(&source(&url, "customers", &columns, &[]), &["id"]);
    customers.lookup(&[ints(&[1])]).await.unwrap();
    client
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'eddy_lookup_test'",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Err(err) = customers.lookup(&[ints(&[1])]).await {
        assert!(err.is_retryable(), "{err:?}");
    }
    let batch = customers.lookup(&[ints(&[1])]).await.unwrap();
    assert_eq!(rows(&batch), ["1 | gold"]);
}

#[test]
fn a_postgres_source_is_a_lookup_table_not_a_stream() {
    let registry = crate::registry();
    let columns = [("id", SqlType::BigInt)];
    let def = source("postgres://app@db/shop", "customers", &columns, &[]);
    let schema = arrow_schema(&def.columns);
    registry.validate_source(&def, &schema).unwrap();
    assert!(registry.source("postgres").unwrap().is_lookup_only());
    let ctx = eddy_engine::SourceContext {
        query: "q".into(),
        tables: super::tests::no_tables(),
        bad_records: Default::default(),
        sample: false,
    };
    let err = registry
        .source("postgres")
        .unwrap()
        .create(&def, schema.clone(), ctx)
        .err()
        .unwrap();
    assert!(matches!(err, EngineError::Plan(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("postgres source 'dim' is a lookup table and cannot be read as a stream; use it on the table side of a JOIN with a stream"),
        "{err}"
    );

    let err = registry
        .source("postgres")
        .unwrap()
        .create_lookup(&def, schema.clone(), &["ID".to_string()])
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "join key \"ID\" is not a column of postgres source 'dim'; its columns are id"
    );

    let validation = |extra: &[(&str, &str)]| {
        let def = source("postgres://app@db/shop", "customers", &columns, extra);
        registry
            .validate_source(&def, &schema)
            .unwrap_err()
            .to_string()
    };
    assert!(
        validation(&[("lookup.cache.ttl", "soon")]).contains("'lookup.cache.ttl'"),
        "{}",
        validation(&[("lookup.cache.ttl", "soon")])
    );
    assert!(validation(&[("lookup.cache.max_rows", "-1")]).contains("'lookup.cache.max_rows'"));
    assert!(validation(&[("cache.ttl", "1 s")]).contains("unknown option 'cache.ttl'"));
    let mut with_watermark = source(
        "postgres://app@db/shop",
        "t",
        &[("ts", SqlType::Timestamp)],
        &[],
    );
    with_watermark.watermark = Some(eddy_catalog::WatermarkDef {
        column: "ts".into(),
        delay_micros: 0,
    });
    let err = registry
        .validate_source(&with_watermark, &arrow_schema(&with_watermark.columns))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "postgres source 'dim' is a lookup table and has no event time; remove the WATERMARK clause"
    );
    let bad_url = source("mysql://app@db/shop", "t", &columns, &[]);
    assert!(
        registry
            .validate_source(&bad_url, &schema)
            .unwrap_err()
            .to_string()
            .contains("unknown scheme")
    );
}
