//! Statements: the simple protocol (several statements, notices, errors,
//! transaction status, live rows) and the extended one (parameters in text
//! and binary, descriptions).

use std::sync::atomic::Ordering;

use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::types::Type;

use crate::TestServer;
use crate::fake::Shared;
use crate::raw::{RawClient, bind, describe, execute, parse, sync, tags};

fn text(value: &Option<Vec<u8>>) -> &str {
    std::str::from_utf8(value.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn several_statements_answer_in_order_with_their_notices() {
    let server = TestServer::start(Shared::default()).await;
    let (mut client, _) = RawClient::connect(server.addr).await;
    let answer = client
        .query("SELECT * FROM people; NOTICE hello; SET DateStyle = ISO")
        .await;
    // Rows, then the notice before its CommandComplete, then the reported
    // setting before SET's.
    assert_eq!(tags(&answer), "TDDDCNCSCZ");
    assert_eq!(
        answer[1..4]
            .iter()
            .map(|m| text(&m.values()[1]).to_string())
            .collect::<Vec<_>>(),
        ["ada", "bob", "cy"]
    );
    assert_eq!(answer[4].body, b"SELECT 3\0");
    assert_eq!(answer[5].fields()[&'M'], "hello");
    assert_eq!(
        answer[7].parameter(),
        ("DateStyle".to_string(), "ISO".to_string())
    );
    assert_eq!(server.shared.implicit_finished.load(Ordering::SeqCst), 1);

    // The first error ends the string; the statements after it do not run.
    let answer = client
        .query("NOTICE one; SELECT * FROM nothing; NOTICE two")
        .await;
    assert_eq!(tags(&answer), "NCEZ");
    assert_eq!(answer[2].fields()[&'C'], "42P01");
    let executed = server.shared.executed.lock().unwrap().clone();
    assert!(!executed.iter().any(|s| s == "two"), "{executed:?}");

    // A syntax error anywhere: nothing runs.
    let answer = client.query("NOTICE three; GARBLE").await;
    assert_eq!(tags(&answer), "EZ");
    assert_eq!(answer[0].fields()[&'C'], "42601");

    assert_eq!(tags(&client.query(" ; ").await), "IZ", "the empty query");
}

#[tokio::test]
async fn errors_carry_sqlstate_position_and_hint() {
    let server = TestServer::start(Shared::default()).await;
    let client = server.client("").await.unwrap();
    let err = client
        .simple_query("SELECT * FROM missing")
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::UNDEFINED_TABLE);
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.message(), "relation \"missing\" does not exist");
    assert_eq!(db.position(), Some(&ErrorPosition::Original(15)));
    assert_eq!(db.hint(), Some("The only table is people."));
    // Through the extended protocol as well.
    let err = client
        .query("SELECT * FROM missing", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE));
}

#[tokio::test]
async fn ready_for_query_reports_the_backends_transaction_state() {
    let server = TestServer::start(Shared::default()).await;
    let (mut client, _) = RawClient::connect(server.addr).await;
    let status = |answer: &[crate::raw::Message]| answer.last().unwrap().body.clone();
    assert_eq!(status(&client.query("BEGIN").await), b"T");
    assert_eq!(status(&client.query("SELECT * FROM missing").await), b"E");
    let answer = client.query("SELECT * FROM people").await;
    assert_eq!(answer[0].fields()[&'C'], "25P02");
    let answer = client.query("COMMIT").await;
    assert_eq!(answer[0].body, b"ROLLBACK\0", "a failed block rolls back");
    assert_eq!(status(&answer), b"I");

    // Sync reports it too.
    client.query("BEGIN").await;
    let mut bytes = parse("SELECT * FROM people", &[]);
    bytes.extend(bind(&[], 0, 0));
    bytes.extend(execute());
    bytes.extend(sync());
    client.send(&bytes).await;
    let answer = client.until_ready().await;
    assert_eq!(tags(&answer), "12DDDCZ");
    assert_eq!(status(&answer), b"T");
}

#[tokio::test]
async fn parameters_in_binary_and_the_statements_description() {
    let server = TestServer::start(Shared::default()).await;
    let client = server.client("").await.unwrap();
    let stmt = client
        .prepare("SELECT * FROM people WHERE id = $1")
        .await
        .unwrap();
    assert_eq!(stmt.params(), [Type::INT4]);
    let columns: Vec<_> = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().clone()))
        .collect();
    assert_eq!(
        columns,
        [
            ("id".to_string(), Type::INT4),
            ("name".to_string(), Type::TEXT)
        ]
    );
    // tokio-postgres binds in binary and asks for binary results.
    let rows = client.query(&stmt, &[&3i32]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 3);
    assert_eq!(rows[0].get::<_, &str>(1), "cy");
    assert!(client.query(&stmt, &[&7i32]).await.unwrap().is_empty());

    // A declared type is the parameter's type.
    let echo = client
        .prepare_typed("ECHO $1", &[Type::INT8])
        .await
        .unwrap();
    assert_eq!(echo.params(), [Type::INT8]);
    let row = client.query_one(&echo, &[&-5i64]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "Some((Int8(-5), 20))");
}

#[tokio::test]
async fn parameters_in_text_and_results_in_text_or_binary() {
    let server = TestServer::start(Shared::default()).await;
    let (mut client, _) = RawClient::connect(server.addr).await;
    let mut bytes = parse("SELECT * FROM people WHERE id = $1", &[]);
    bytes.extend(describe(b'S'));
    bytes.extend(bind(&[Some(b"2")], 0, 0));
    bytes.extend(describe(b'P'));
    bytes.extend(execute());
    bytes.extend(bind(&[Some(&1i32.to_be_bytes())], 1, 1));
    bytes.extend(execute());
    bytes.extend(sync());
    client.send(&bytes).await;
    let answer = client.until_ready().await;
    // ParseComplete, ParameterDescription, RowDescription, BindComplete,
    // RowDescription, a row, CommandComplete; again in binary.
    assert_eq!(tags(&answer), "1tT2TDC2DCZ");
    assert_eq!(answer[1].body, [0, 1, 0, 0, 0, 23], "one parameter, int4");
    let text_row = answer[5].values();
    assert_eq!((text(&text_row[0]), text(&text_row[1])), ("2", "bob"));
    let binary_row = answer[8].values();
    assert_eq!(binary_row[0].as_deref(), Some(&1i32.to_be_bytes()[..]));
    assert_eq!(binary_row[1].as_deref(), Some(&b"ada"[..]));

    // A parameter that is not of its type: the error names it, and the
    // rest of the pipeline is skipped until Sync.
    let mut bytes = parse("SELECT * FROM people WHERE id = $1", &[]);
    bytes.extend(bind(&[Some(b"two")], 0, 0));
    bytes.extend(execute());
    bytes.extend(execute());
    bytes.extend(sync());
    client.send(&bytes).await;
    let answer = client.until_ready().await;
    assert_eq!(tags(&answer), "12EZ");
    let fields = answer[2].fields();
    assert_eq!(fields[&'C'], "22P02");
    assert_eq!(
        fields[&'M'],
        "invalid value for parameter $1: invalid input syntax for type integer: \"two\""
    );
}

#[tokio::test]
async fn a_statement_without_columns_is_described_with_nodata() {
    let server = TestServer::start(Shared::default()).await;
    let (mut client, _) = RawClient::connect(server.addr).await;
    let mut bytes = parse("INSERT $1", &[]);
    bytes.extend(describe(b'S'));
    bytes.extend(bind(&[Some(b"42")], 0, 0));
    bytes.extend(execute());
    bytes.extend(sync());
    client.send(&bytes).await;
    let answer = client.until_ready().await;
    assert_eq!(tags(&answer), "1tn2CZ");
    assert_eq!(answer[1].body, [0, 1, 0, 0, 0, 20], "one parameter, int8");
    assert_eq!(answer[4].body, b"INSERT 0 1\0");
}

#[tokio::test]
async fn live_rows_reach_the_client_before_the_result_ends() {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Shared {
        live: std::sync::Mutex::new(Some(rx)),
        ..Shared::default()
    };
    let server = TestServer::start(shared).await;
    let (mut client, _) = RawClient::connect(server.addr).await;
    tx.send(7).unwrap();
    let mut body = b"LIVE".to_vec();
    body.push(0);
    client.send(&crate::raw::framed(b'Q', &body)).await;
    assert_eq!(client.next().await.unwrap().tag, b'T');
    // The first row arrives while the second does not exist yet.
    let first = client.next().await.unwrap();
    assert_eq!(text(&first.values()[0]), "7");
    tx.send(8).unwrap();
    let second = client.next().await.unwrap();
    assert_eq!(text(&second.values()[0]), "8");
    drop(tx);
    let end = client.until_ready().await;
    assert_eq!(tags(&end), "CZ");
    assert_eq!(end[0].body, b"SELECT 2\0");
}
