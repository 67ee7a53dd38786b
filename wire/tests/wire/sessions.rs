//! Connections: startup, authentication, the connection limit, cancel,
//! timeouts, panics, malformed input.

use std::sync::atomic::Ordering;
use std::time::Duration;

use eddy_wire::ServerConfig;
use tokio_postgres::error::SqlState;

use crate::TestServer;
use crate::fake::Shared;
use crate::raw::{RawClient, framed, tags};

fn with_password() -> Shared {
    Shared {
        passwords: vec![("ada".into(), "lovelace".into())],
        ..Shared::default()
    }
}

#[tokio::test]
async fn startup_sends_the_backends_parameters_and_a_cancel_key() {
    let server = TestServer::start(Shared::default()).await;
    let (_client, startup) = RawClient::connect(server.addr).await;
    // AuthenticationOk, two ParameterStatus, BackendKeyData, ReadyForQuery.
    assert_eq!(tags(&startup), "RSSKZ");
    assert_eq!(startup[0].body, 0i32.to_be_bytes());
    assert_eq!(
        startup[1..3]
            .iter()
            .map(|m| m.parameter())
            .collect::<Vec<_>>(),
        [
            ("server_version".to_string(), "16.6".to_string()),
            ("session_authorization".to_string(), "ada".to_string()),
        ]
    );
    assert_eq!(startup[3].body.len(), 8, "process id and secret");
    assert_eq!(startup[4].body, b"I");
}

#[tokio::test]
async fn trusted_and_scram_logins_succeed() {
    let trusting = TestServer::start(Shared::default()).await;
    let client = trusting
        .client("")
        .await
        .expect("trusted without a password");
    let rows = client.query("SELECT * FROM people", &[]).await.unwrap();
    assert_eq!(rows.len(), 3);

    let server = TestServer::start(with_password()).await;
    let client = server
        .client("password=lovelace")
        .await
        .expect("SCRAM login");
    let row = client
        .query_one("SELECT * FROM people WHERE id = $1", &[&2i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>("name"), "bob");
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_user_is_28p01() {
    let server = TestServer::start(with_password()).await;
    for (extra, user) in [("password=babbage", "ada"), ("user=eve password=x", "eve")] {
        let err = server.client(extra).await.expect_err("login refused");
        let db = err.as_db_error().expect("an ErrorResponse");
        assert_eq!(db.code(), &SqlState::INVALID_PASSWORD, "{extra}");
        assert_eq!(db.severity(), "FATAL");
        assert_eq!(
            db.message(),
            format!("password authentication failed for user \"{user}\"")
        );
    }
    let err = server.client("").await.expect_err("no password given");
    assert!(format!("{err:?}").contains("password missing"), "{err:?}");
    // The server carries on.
    server
        .client("password=lovelace")
        .await
        .expect("then a good login");
}

#[tokio::test]
async fn the_backend_refusing_a_session_is_fatal() {
    let server = TestServer::start(Shared::default()).await;
    let err = server.client("dbname=nowhere").await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::INVALID_CATALOG_NAME);
    assert_eq!(db.message(), "database \"nowhere\" does not exist");
}

#[tokio::test]
async fn connections_beyond_the_limit_get_53300() {
    let config = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(Shared::default(), config).await;
    let first = server.client("").await.unwrap();
    let err = server.client("").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::TOO_MANY_CONNECTIONS));
    drop(first);
    // The slot frees itself when the connection ends.
    let mut retries = 0;
    while server.client("").await.is_err() {
        retries += 1;
        assert!(retries < 50, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cancel_request_stops_a_running_statement_with_57014() {
    let server = TestServer::start(Shared::default()).await;
    let client = server.client("").await.unwrap();
    let cancel = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let started = std::time::Instant::now();
    let err = client.simple_query("SLEEP").await.unwrap_err();
    canceller.await.unwrap();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::QUERY_CANCELED);
    assert_eq!(db.message(), "canceling statement due to user request");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not the full sleep"
    );
    assert_eq!(server.shared.abandoned.load(Ordering::SeqCst), 1);
    // The session carries on.
    let rows = client.query("SELECT * FROM people", &[]).await.unwrap();
    assert_eq!(rows.len(), 3);
}

#[tokio::test]
async fn statement_timeout_and_panics_end_the_statement_not_the_session() {
    let server = TestServer::start(Shared::default()).await;
    let client = server.client("").await.unwrap();
    client
        .simple_query("SET statement_timeout = 100")
        .await
        .unwrap();
    let err = client.simple_query("SLEEP").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED));
    assert_eq!(
        err.as_db_error().unwrap().message(),
        "canceling statement due to statement timeout"
    );

    for attempt in [
        client.simple_query("PANIC").await.map(|_| ()),
        client.prepare("PANIC").await.map(|_| ()),
    ] {
        let err = attempt.unwrap_err();
        let db = err.as_db_error().unwrap();
        assert_eq!(db.code(), &SqlState::INTERNAL_ERROR);
        assert!(
            db.message().starts_with("internal error: the fake panics"),
            "{db:?}"
        );
    }
    assert_eq!(
        server.shared.abandoned.load(Ordering::SeqCst),
        2,
        "timeout, panic"
    );
    let rows = client.query("SELECT * FROM people", &[]).await.unwrap();
    assert_eq!(rows.len(), 3);
}

#[tokio::test]
async fn a_malformed_message_is_fatal_08p01_and_the_listener_carries_on() {
    let server = TestServer::start(Shared::default()).await;
    let (mut client, _) = RawClient::connect(server.addr).await;
    // A Bind whose parameter count promises far more than follows.
    client
        .send(&framed(b'B', &[0, 0, 0, 1, 0, 0, 0x02, 0x58, 0, 0]))
        .await;
    let answer = client.next().await.expect("an ErrorResponse");
    assert_eq!(answer.tag, b'E');
    let fields = answer.fields();
    assert_eq!(fields[&'S'], "FATAL");
    assert_eq!(fields[&'C'], "08P01");
    assert!(client.next().await.is_none(), "the connection is closed");

    let (mut again, _) = RawClient::connect(server.addr).await;
    let answer = again.query("SELECT * FROM people").await;
    assert_eq!(tags(&answer), "TDDDCZ");
}
