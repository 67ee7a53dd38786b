//! What CREATE SINK checks of a postgres sink: its table (against a real,
//! private PostgreSQL, see `test_server`) and which output modes its mode
//! can take.

use std::collections::BTreeMap;

use eddy_catalog::SinkDef;
use eddy_engine::connector::TargetCheck;
use eddy_engine::{EngineError, OutputMode, SinkConnector, SinkContext};

use super::PostgresConnector;
use super::test_server::TestPostgres;
use super::tests::no_tables;

fn def(url: &str, options: &[(&str, &str)]) -> SinkDef {
    let mut all = BTreeMap::from([("url".to_string(), url.to_string())]);
    all.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    SinkDef {
        name: "out".into(),
        connector: "postgres".into(),
        options: all,
        sql: String::new(),
    }
}

/// The check as CREATE SINK runs it: through the registry's connector.
async fn check(url: &str, options: &[(&str, &str)]) -> TargetCheck {
    let registry = crate::registry();
    let def = def(url, options);
    let ctx = SinkContext {
        query: String::new(),
        tables: no_tables(),
    };
    registry.validate_sink(&def, &ctx).unwrap();
    registry
        .sink("postgres")
        .unwrap()
        .check_target(&def)
        .await
        .unwrap()
}

#[tokio::test]
async fn create_sink_checks_the_table_and_the_upsert_key() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = pg.url();
    pg.client()
        .await
        .batch_execute(
            "CREATE TABLE keyed (k1 bigint, \"K2\" text, v bigint, PRIMARY KEY (k1, \"K2\"));
             CREATE TABLE bare (k1 bigint, v bigint);",
        )
        .await
        .unwrap();

    assert_eq!(
        check(&url, &[("table", "missing")]).await,
        TargetCheck::UndefinedTable(format!(
            "table \"missing\" does not exist in PostgreSQL (127.0.0.1:{}/postgres); create it or set \
             create_table = 'true' on sink 'out'",
            pg.port
        ))
    );
    // Created when a query starts writing.
    let created = [("table", "missing"), ("create_table", "true")];
    assert_eq!(check(&url, &created).await, TargetCheck::Fits);
    let upsert_created = [
        ("table", "missing"),
        ("create_table", "true"),
        ("mode", "upsert"),
        ("primary_key", "a"),
    ];
    assert_eq!(check(&url, &upsert_created).await, TargetCheck::Fits);
    assert_eq!(check(&url, &[("table", "bare")]).await, TargetCheck::Fits);

    let upsert = |table: &'static str, key: &'static str| {
        [("table", table), ("mode", "upsert"), ("primary_key", key)]
    };
    assert_eq!(
        check(&url, &upsert("keyed", "K2,k1")).await,
        TargetCheck::Fits
    );
    assert_eq!(
        check(&url, &upsert("keyed", "k1,k2")).await,
        TargetCheck::UndefinedColumn(
            "primary_key column \"k2\" of sink 'out' does not exist in PostgreSQL table \"keyed\" (names \
             are case-sensitive: did you mean \"K2\"?); its columns are k1, K2, v"
                .into()
        )
    );
    assert_eq!(
        check(&url, &upsert("keyed", "k1")).await,
        TargetCheck::NoUniqueKey(
            "PostgreSQL table \"keyed\" has no primary key or unique constraint on exactly (\"k1\"), which \
             mode 'upsert' needs to find the row to replace; its unique keys are (\"k1\", \"K2\"). Add one \
             (ALTER TABLE \"keyed\" ADD PRIMARY KEY (\"k1\")) or change primary_key"
                .into()
        )
    );
    // An existing table is checked even with create_table.
    let existing = [
        ("table", "bare"),
        ("create_table", "true"),
        ("mode", "upsert"),
        ("primary_key", "k1"),
    ];
    assert!(
        matches!(check(&url, &existing).await, TargetCheck::NoUniqueKey(m) if m.contains("it has none")),
    );
}

#[tokio::test]
async fn an_unreachable_postgres_leaves_the_sink_unchecked() {
    let found = check(
        "postgres://app@127.0.0.1:1/shop",
        &[("table", "t"), ("mode", "upsert"), ("primary_key", "id")],
    )
    .await;
    let TargetCheck::Unchecked(message) = found else {
        panic!("{found:?}");
    };
    assert!(
        message.starts_with(
            "could not check PostgreSQL table \"t\" of postgres sink 'out' (127.0.0.1:1/shop) now ("
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "); the sink is created and the table is checked when a streaming query starts writing to it"
        ),
        "{message}"
    );
}

/// The error of setting `output` on a sink with these options.
fn output_mode_error(options: &[(&str, &str)], output: OutputMode) -> Option<String> {
    let def = def("postgres://app@127.0.0.1:1/shop", options);
    let ctx = SinkContext {
        query: "q".into(),
        tables: no_tables(),
    };
    let mut sink = PostgresConnector.create(&def, ctx).unwrap();
    sink.set_output_mode(output)
        .map_err(|e| {
            assert!(matches!(e, EngineError::Config(_)), "{e:?}");
            e.to_string()
        })
        .err()
}

#[test]
fn each_output_mode_needs_a_matching_write_mode() {
    let append = [("table", "t")];
    let upsert = [("table", "t"), ("mode", "upsert"), ("primary_key", "k")];
    let overwrite = [("table", "t"), ("mode", "overwrite")];
    use OutputMode::*;
    for (options, fits) in [(&append[..], [Append]), (&overwrite[..], [Complete])] {
        for output in [Append, Update, Complete] {
            assert_eq!(
                output_mode_error(options, output).is_none(),
                fits.contains(&output),
                "{options:?} {output:?}"
            );
        }
    }
    assert_eq!(output_mode_error(&upsert, Append), None);
    assert_eq!(output_mode_error(&upsert, Update), None);

    assert_eq!(
        output_mode_error(&append, Update).unwrap(),
        "output_mode 'update' does not fit postgres sink 'out' with mode 'append': each epoch re-emits the \
         rows whose result changed, and mode 'append' would add every version as a new row. Set mode = \
         'upsert' and primary_key on the sink (upsert replaces the row with the same key), or use \
         output_mode 'append'"
    );
    assert_eq!(
        output_mode_error(&upsert, Complete).unwrap(),
        "output_mode 'complete' does not fit postgres sink 'out' with mode 'upsert': each epoch emits the \
         whole result, and mode 'upsert' would keep rows that are no longer in it. Set mode = 'overwrite' \
         on the sink (it replaces the table's contents in the epoch's transaction), or use output_mode \
         'update'"
    );
    assert!(
        output_mode_error(&append, Complete)
            .unwrap()
            .contains("mode 'append' would add it again every epoch. Set mode = 'overwrite'")
    );
    assert!(
        output_mode_error(&overwrite, Append).unwrap().contains(
            "mode 'overwrite' would keep only the last epoch's rows. Set mode = 'append'"
        )
    );
    assert!(
        output_mode_error(&overwrite, Update).unwrap().contains(
            "mode 'overwrite' would keep only the last epoch's rows. Set mode = 'upsert'"
        )
    );
}
