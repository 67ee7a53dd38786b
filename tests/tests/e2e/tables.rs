//! Plain tables: create, insert several types, query, drop, and keep the data
//! over a restart.

use anyhow::{Result, ensure};
use chrono::{NaiveDate, NaiveDateTime};
use eddy_tests::client::{STATEMENT_TIMEOUT, within};
use eddy_tests::{execute, expect_db_error, query_values};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{TestEddy, shown_names, with_logs};

#[tokio::test]
async fn create_insert_query_drop_and_persist() -> Result<()> {
    let mut eddy = TestEddy::start().await?;
    let result = scenario(&mut eddy).await;
    with_logs(result, &eddy, None)
}

fn at(date: (i32, u32, u32), time: (u32, u32, u32, u32)) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(date.0, date.1, date.2)
        .and_then(|d| d.and_hms_milli_opt(time.0, time.1, time.2, time.3))
        .expect("valid timestamp")
}

async fn scenario(eddy: &mut TestEddy) -> Result<()> {
    let client = eddy.client().await?;
    execute(
        &client,
        "CREATE TABLE readings (
            id BIGINT, sensor INT, value DOUBLE PRECISION, label TEXT, ok BOOLEAN, taken TIMESTAMP
         )",
    )
    .await?;
    let insert = "INSERT INTO readings VALUES
        (1, 10, 1.5, 'alpha', true, '2026-01-01 00:00:00'),
        (2, 10, 2.25, 'beta', false, '2026-01-01 00:00:01.5'),
        (3, 20, -3.0, 'gamma', true, '2026-01-02 12:30:00'),
        (4, 20, NULL, 'it''s', NULL, '2026-01-03 00:00:00')";
    let messages = within(STATEMENT_TIMEOUT, insert, client.simple_query(insert)).await??;
    let inserted: Vec<u64> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    ensure!(
        inserted == [4],
        "INSERT reported {inserted:?} rows, expected 4"
    );
    ensure!(
        shown_names(&client, "SHOW TABLES")
            .await?
            .contains(&"readings".to_owned()),
        "SHOW TABLES"
    );

    check_typed_rows(&client).await?;
    check_queries(&client).await?;

    execute(&client, "DROP TABLE readings").await?;
    let error = expect_db_error(&client, "SELECT * FROM readings").await?;
    ensure!(
        error.code().code() == "42P01",
        "SELECT from a dropped table: {} {}",
        error.code().code(),
        error.message()
    );

    execute(
        &client,
        "CREATE TABLE kept (name TEXT, score BIGINT);
         INSERT INTO kept VALUES ('ada', 36), ('grace', 85);
         INSERT INTO kept VALUES ('alan', 41);",
    )
    .await?;
    drop(client);
    eddy.stop().await?;
    eddy.start_again().await?;

    let client = eddy.client().await?;
    let kept = query_values(&client, "SELECT name, score FROM kept ORDER BY score").await?;
    let expected: Vec<Vec<Option<String>>> = [("ada", "36"), ("alan", "41"), ("grace", "85")]
        .iter()
        .map(|(n, s)| vec![Some(n.to_string()), Some(s.to_string())])
        .collect();
    ensure!(kept == expected, "kept after restart: {kept:?}");
    let error = expect_db_error(&client, "SELECT * FROM readings").await?;
    ensure!(
        error.code().code() == "42P01",
        "the dropped table came back after restart: {}",
        error.message()
    );
    Ok(())
}

/// Every type round-trips through the extended protocol (binary results).
async fn check_typed_rows(client: &Client) -> Result<()> {
    let sql = "SELECT id, sensor, value, label, ok, taken FROM readings ORDER BY id";
    let rows = within(STATEMENT_TIMEOUT, sql, client.query(sql, &[])).await??;
    let mut got = Vec::new();
    for row in &rows {
        let values: (i64, i32, Option<f64>, String, Option<bool>, NaiveDateTime) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
            row.try_get(5)?,
        );
        got.push(values);
    }
    let expected = vec![
        (
            1,
            10,
            Some(1.5),
            "alpha".to_owned(),
            Some(true),
            at((2026, 1, 1), (0, 0, 0, 0)),
        ),
        (
            2,
            10,
            Some(2.25),
            "beta".to_owned(),
            Some(false),
            at((2026, 1, 1), (0, 0, 1, 500)),
        ),
        (
            3,
            20,
            Some(-3.0),
            "gamma".to_owned(),
            Some(true),
            at((2026, 1, 2), (12, 30, 0, 0)),
        ),
        (
            4,
            20,
            None,
            "it's".to_owned(),
            None,
            at((2026, 1, 3), (0, 0, 0, 0)),
        ),
    ];
    ensure!(
        got == expected,
        "readings:\n got {got:?}\nwant {expected:?}"
    );
    Ok(())
}

/// Filters, ordering and aggregates, with PostgreSQL's text formats.
async fn check_queries(client: &Client) -> Result<()> {
    let text = |rows: &[&[Option<&str>]]| -> Vec<Vec<Option<String>>> {
        rows.iter()
            .map(|r| r.iter().map(|v| v.map(str::to_owned)).collect())
            .collect()
    };
    let cases: [(&str, Vec<Vec<Option<String>>>); 4] = [
        (
            "SELECT id, label FROM readings WHERE sensor = 20 ORDER BY id DESC",
            text(&[&[Some("4"), Some("it's")], &[Some("3"), Some("gamma")]]),
        ),
        (
            "SELECT ok, taken FROM readings WHERE id <= 2 ORDER BY id",
            text(&[
                &[Some("t"), Some("2026-01-01 00:00:00")],
                &[Some("f"), Some("2026-01-01 00:00:01.5")],
            ]),
        ),
        (
            "SELECT sensor, count(*), count(value), max(label) FROM readings GROUP BY sensor ORDER BY sensor",
            text(&[
                &[Some("10"), Some("2"), Some("2"), Some("beta")],
                &[Some("20"), Some("2"), Some("1"), Some("it's")],
            ]),
        ),
        (
            "SELECT label FROM readings WHERE ok IS NULL",
            text(&[&[Some("it's")]]),
        ),
    ];
    for (sql, expected) in cases {
        let got = query_values(client, sql).await?;
        ensure!(got == expected, "{sql}\n got {got:?}\nwant {expected:?}");
    }
    let sql = "SELECT sum(value) FROM readings WHERE value IS NOT NULL";
    let rows = within(STATEMENT_TIMEOUT, sql, client.query(sql, &[])).await??;
    ensure!(rows.len() == 1, "{sql}: {} rows", rows.len());
    let sum: f64 = rows[0].try_get(0)?;
    ensure!(sum == 0.75, "{sql}: sum = {sum}");
    Ok(())
}

/// Values that do not fit their column are refused with PostgreSQL's codes,
/// never stored as NULL; missing trailing values take their defaults.
#[tokio::test]
async fn insert_checks_values_against_column_types() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        execute(
            &client,
            "CREATE TABLE typed (a SMALLINT, b BIGINT NOT NULL, c TEXT DEFAULT 'none')",
        )
        .await?;
        for (sql, code) in [
            ("INSERT INTO typed VALUES (70000, 1, 'x')", "22003"),
            ("INSERT INTO typed VALUES (1, 'abc', 'x')", "22P02"),
            ("INSERT INTO typed (a) VALUES (1)", "23502"),
        ] {
            let error = expect_db_error(&client, sql).await?;
            ensure!(error.code().code() == code, "{sql}: {error:?}");
        }
        execute(&client, "INSERT INTO typed VALUES (5, 6)").await?;
        let rows = query_values(&client, "SELECT a, b, c FROM typed").await?;
        ensure!(
            rows == [[
                Some("5".to_owned()),
                Some("6".to_owned()),
                Some("none".to_owned())
            ]],
            "after the failed inserts and one good one: {rows:?}"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// Runs each statement on PostgreSQL and on Eddy: both must accept it, or
/// both refuse it with the SQLSTATE given.
async fn run_on_both(pg: &Client, eddy: &Client, steps: &[(&str, Option<&str>)]) -> Result<()> {
    for (sql, code) in steps {
        for (who, client) in [("PostgreSQL", pg), ("Eddy", eddy)] {
            match (client.batch_execute(sql).await, code) {
                (Ok(()), None) => {}
                (Err(e), Some(code)) if e.code().map(|c| c.code()) == Some(*code) => {}
                (result, _) => anyhow::bail!("{who}: {sql}: expected {code:?}, got {result:?}"),
            }
        }
    }
    Ok(())
}

/// Each query answers the same rows on PostgreSQL and on Eddy.
async fn same_answers(pg: &Client, eddy: &Client, queries: &[&str]) -> Result<()> {
    for sql in queries {
        let want = query_values(pg, sql).await?;
        let got = query_values(eddy, sql).await?;
        ensure!(
            got == want,
            "{sql}\nEddy:       {got:?}\nPostgreSQL: {want:?}"
        );
    }
    Ok(())
}

/// Keys and foreign keys run the same on PostgreSQL and on Eddy: the
/// statements a migration tool sends are accepted or refused with the same
/// SQLSTATE, and `pg_constraint` / `pg_indexes` show the same definitions
/// afterwards. Eddy records foreign keys without checking rows against
/// them (documented); everything else here is PostgreSQL's behaviour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_foreign_keys_match_postgres() -> Result<()> {
    let pg = eddy_tests::TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = async {
        let (pg, eddy_client) = (pg.client().await?, eddy.client().await?);
        let steps: &[(&str, Option<&str>)] = &[
            (
                "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL, \
                 CONSTRAINT customers_email_key UNIQUE (email))",
                None,
            ),
            ("CREATE TABLE bad1 (c integer REFERENCES missing (id))", Some("42P01")),
            ("CREATE TABLE bad2 (c text REFERENCES customers (email2))", Some("42703")),
            ("CREATE TABLE bad3 (c integer, FOREIGN KEY (c) REFERENCES customers (id, email))", Some("42830")),
            ("CREATE TABLE bad4 (c integer REFERENCES customers (email))", Some("42804")),
            ("CREATE TABLE bad5 (n numeric REFERENCES customers)", Some("42804")),
            ("CREATE TABLE wide (c bigint REFERENCES customers, s smallint REFERENCES customers)", None),
            ("DROP TABLE wide", None),
            (
                "CREATE TABLE orders (id bigint PRIMARY KEY, \
                 customer_id integer REFERENCES customers ON DELETE CASCADE, \
                 email text, note text)",
                None,
            ),
            ("ALTER TABLE orders ADD CONSTRAINT orders_email_fk FOREIGN KEY (email) REFERENCES customers (email) ON UPDATE SET NULL", None),
            ("ALTER TABLE orders ADD CONSTRAINT orders_note_fk FOREIGN KEY (note) REFERENCES customers (email)", None),
            ("ALTER TABLE orders DROP CONSTRAINT orders_note_fk", None),
            ("ALTER TABLE orders DROP CONSTRAINT orders_note_fk", Some("42704")),
            ("ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_note_fk", None),
            ("CREATE UNIQUE INDEX orders_note_idx ON orders (note)", None),
            ("CREATE INDEX orders_email_idx ON orders (email)", None),
            ("DROP TABLE customers", Some("2BP01")),
            ("ALTER TABLE customers RENAME TO clients", None),
        ];
        run_on_both(&pg, &eddy_client, steps).await?;
        let catalog = [
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'orders'::regclass ORDER BY conname",
            "SELECT conname, confrelid::regclass::text, confupdtype, confdeltype FROM pg_constraint \
             WHERE contype = 'f' ORDER BY conname",
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
            // PostgreSQL also lists each NOT NULL as a CHECK constraint; Eddy does not.
            "SELECT constraint_name, constraint_type FROM information_schema.table_constraints \
             WHERE table_schema = 'public' AND constraint_type <> 'CHECK' ORDER BY constraint_name",
            "SELECT constraint_name, unique_constraint_name, update_rule, delete_rule \
             FROM information_schema.referential_constraints ORDER BY constraint_name",
        ];
        same_answers(&pg, &eddy_client, &catalog).await?;
        // CASCADE drops the foreign keys, not the tables that hold them.
        for client in [&pg, &eddy_client] {
            client.batch_execute("DROP TABLE clients CASCADE").await?;
        }
        let sql = "SELECT conname, contype FROM pg_constraint WHERE conrelid = 'orders'::regclass \
                   ORDER BY conname";
        let (want, got) = (query_values(&pg, sql).await?, query_values(&eddy_client, sql).await?);
        ensure!(got == want, "after DROP … CASCADE\nEddy:       {got:?}\nPostgreSQL: {want:?}");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// `COMMENT ON` and `GRANT` as migrations write them, on PostgreSQL and on
/// Eddy: the same SQLSTATEs, the same comments in `pg_description` and
/// through `obj_description` / `col_description`, also after a column is
/// renamed and a comment removed. (`GRANT` changes nothing in Eddy, where
/// every user holds every privilege, but checks what it names; `REVOKE`
/// is refused, Eddy-only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_and_grants_match_postgres() -> Result<()> {
    let pg = eddy_tests::TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = async {
        let (pg, eddy_client) = (pg.client().await?, eddy.client().await?);
        let steps: &[(&str, Option<&str>)] = &[
            (
                "CREATE TABLE people (id integer PRIMARY KEY, name text, born date)",
                None,
            ),
            ("COMMENT ON TABLE people IS 'Everyone we know'", None),
            ("COMMENT ON COLUMN people.name IS 'As they sign'", None),
            (
                "COMMENT ON COLUMN public.people.born IS 'Day of birth'",
                None,
            ),
            ("COMMENT ON COLUMN people.nope IS 'x'", Some("42703")),
            ("COMMENT ON TABLE nobody IS 'x'", Some("42P01")),
            ("ALTER TABLE people RENAME COLUMN name TO full_name", None),
            ("COMMENT ON COLUMN people.born IS NULL", None),
            ("GRANT SELECT, INSERT ON people TO PUBLIC", None),
            ("GRANT SELECT ON TABLE nobody TO PUBLIC", Some("42P01")),
            ("GRANT SELECT ON people TO no_such_role", Some("42704")),
        ];
        run_on_both(&pg, &eddy_client, steps).await?;
        let queries = [
            "SELECT objsubid, description FROM pg_description \
             WHERE objoid = 'people'::regclass ORDER BY objsubid",
            "SELECT obj_description('people'::regclass, 'pg_class'), \
             col_description('people'::regclass, 2), col_description('people'::regclass, 3)",
        ];
        same_answers(&pg, &eddy_client, &queries).await?;
        let error = expect_db_error(&eddy_client, "REVOKE ALL ON people FROM PUBLIC").await?;
        ensure!(error.code().code() == "0A000", "REVOKE: {error:?}");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
