use datafusion::sql::sqlparser::ast::{SetExpr, Statement, TableFactor};
use eddy_catalog::{ObjectKind, SqlType};

use super::*;
use crate::{EddyStatement, QueryAlteration};

fn parse_one(sql: &str) -> EddyStatement {
    let mut statements = parse_statements(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    assert_eq!(statements.len(), 1, "{sql}");
    statements.remove(0).stmt
}

fn parse_err(sql: &str) -> SqlError {
    match parse_statements(sql) {
        Ok(statements) => panic!("{sql} parsed: {statements:?}"),
        Err(e) => e,
    }
}

fn options(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn create_source_from_the_design() {
    let sql = "CREATE SOURCE IF NOT EXISTS bids (
        auction BIGINT, bidder BIGINT NOT NULL, price BIGINT NULL, date_time TIMESTAMP,
        WATERMARK FOR date_time AS date_time - INTERVAL '5' SECOND
    ) WITH (
        connector = 'kafka', topic = 'bids',
        'properties.bootstrap.servers' = 'localhost:9092',
        'scan.startup.mode' = 'earliest', -- latest | earliest
        Format = 'json'
    )";
    let EddyStatement::CreateSource {
        name,
        if_not_exists,
        or_replace,
        columns,
        watermark,
        options: opts,
    } = parse_one(sql)
    else {
        panic!("not a CREATE SOURCE");
    };
    assert_eq!(name, "bids");
    assert!(if_not_exists && !or_replace);
    let described: Vec<_> = columns
        .iter()
        .map(|c| (c.name.as_str(), c.data_type, c.nullable))
        .collect();
    assert_eq!(
        described,
        [
            ("auction", SqlType::BigInt, true),
            ("bidder", SqlType::BigInt, false),
            ("price", SqlType::BigInt, true),
            ("date_time", SqlType::Timestamp, true),
        ]
    );
    let watermark = watermark.unwrap();
    assert_eq!(watermark.column, "date_time");
    assert_eq!(watermark.delay_micros, 5_000_000);
    assert_eq!(
        opts,
        options(&[
            ("connector", "kafka"),
            ("topic", "bids"),
            ("properties.bootstrap.servers", "localhost:9092"),
            ("scan.startup.mode", "earliest"),
            ("format", "json"),
        ])
    );
}

fn watermark_of(columns: &str) -> Result<Option<(String, i64)>, SqlError> {
    let sql = format!("CREATE SOURCE s ({columns}) WITH (connector = 'datagen')");
    match parse_statements(&sql)?.remove(0).stmt {
        EddyStatement::CreateSource { watermark, .. } => {
            Ok(watermark.map(|w| (w.column, w.delay_micros)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn watermark_forms() {
    let cases = [
        ("ts TIMESTAMP, WATERMARK FOR ts AS ts", 0),
        (
            "ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5 seconds'",
            5_000_000,
        ),
        (
            "ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE",
            60_000_000,
        ),
        (
            "ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '500' MILLISECOND",
            500_000,
        ),
        (
            "ts TIMESTAMP, WATERMARK FOR ts AS (ts - INTERVAL '2' SECOND)",
            2_000_000,
        ),
        (
            "ts TIMESTAMP, WATERMARK FOR ts AS ts - '3 seconds'::interval",
            3_000_000,
        ),
        (
            "ts TIMESTAMPTZ, WATERMARK FOR TS AS Ts - INTERVAL '1.5' SECOND",
            1_500_000,
        ),
        // Anywhere in the list, not only last.
        (
            "WATERMARK FOR ts AS ts - INTERVAL '1' HOUR, ts TIMESTAMP, v INT",
            3_600_000_000,
        ),
    ];
    for (columns, micros) in cases {
        assert_eq!(
            watermark_of(columns).unwrap(),
            Some(("ts".to_string(), micros)),
            "{columns}"
        );
    }
    assert_eq!(watermark_of("ts TIMESTAMP, v INT").unwrap(), None);
}

#[test]
fn watermark_errors_name_the_problem() {
    let e = watermark_of("v BIGINT, WATERMARK FOR v AS v - INTERVAL '5' SECOND").unwrap_err();
    assert_eq!(e.sqlstate, "42804");
    assert_eq!(
        e.message,
        "watermark column \"v\" must be of type timestamp or timestamptz, not bigint"
    );
    // "CREATE SOURCE s (" is 17 characters; `v` in WATERMARK FOR v is at 42.
    assert_eq!(e.position, Some(42));

    let e = watermark_of("ts TIMESTAMP, WATERMARK FOR tss AS tss").unwrap_err();
    assert_eq!(e.sqlstate, "42703");
    assert!(e.message.contains("\"tss\""), "{}", e.message);

    for expr in [
        "ts + INTERVAL '5' SECOND",
        "ts - 5",
        "now()",
        "other - INTERVAL '5' SECOND",
    ] {
        let e = watermark_of(&format!("ts TIMESTAMP, WATERMARK FOR ts AS {expr}")).unwrap_err();
        assert_eq!(e.sqlstate, "0A000", "{expr}");
        assert!(
            e.message.starts_with("unsupported WATERMARK expression"),
            "{expr}: {}",
            e.message
        );
        assert_eq!(e.position, Some(52), "{expr}");
    }
    let e = watermark_of("ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' MONTH").unwrap_err();
    assert!(e.message.contains("no fixed length"), "{}", e.message);
    let e =
        watermark_of("ts TIMESTAMP, WATERMARK FOR ts AS ts, WATERMARK FOR ts AS ts").unwrap_err();
    assert!(e.message.contains("only one WATERMARK"), "{}", e.message);
}

#[test]
fn source_column_errors() {
    let e = parse_err("CREATE SOURCE s (a BIGINT, b frob) WITH (connector = 'x')");
    assert_eq!(e.sqlstate, "42704");
    assert_eq!(e.message, "type \"frob\" does not exist");
    assert_eq!(e.position, Some(30));

    let e = parse_err("CREATE SOURCE s (a BIGINT, A INT) WITH (connector = 'x')");
    assert_eq!(e.sqlstate, "42701");
    assert_eq!(e.message, "column \"a\" specified more than once");
    assert_eq!(e.position, Some(28));

    let e = parse_err("CREATE SOURCE s (a BIGINT PRIMARY KEY) WITH (connector = 'x')");
    assert_eq!(e.sqlstate, "0A000");
}

#[test]
fn source_without_column_list() {
    let EddyStatement::CreateSource {
        columns,
        options: o,
        ..
    } = parse_one("CREATE SOURCE person WITH (connector = 'nexmark', table = 'person')")
    else {
        panic!()
    };
    assert!(columns.is_empty());
    assert_eq!(o, options(&[("connector", "nexmark"), ("table", "person")]));
}

#[test]
fn with_option_keys_and_values() {
    let sql = "CREATE SINK out WITH (
        connector = 'postgres', properties.bootstrap.servers = 'h:1', \"Mode\" = upsert,
        'fields.ts.kind' = 'event_time', batch_size = 10000, create_table = TRUE,
        rate = 0.5, offset = -3, format = JSON, note = $$it's$$
    )";
    let EddyStatement::CreateSink { options: o, .. } = parse_one(sql) else {
        panic!()
    };
    assert_eq!(o.get("properties.bootstrap.servers").unwrap(), "h:1");
    assert_eq!(o.get("Mode").unwrap(), "upsert");
    assert_eq!(o.get("fields.ts.kind").unwrap(), "event_time");
    assert_eq!(o.get("batch_size").unwrap(), "10000");
    assert_eq!(o.get("create_table").unwrap(), "true");
    assert_eq!(o.get("rate").unwrap(), "0.5");
    assert_eq!(o.get("offset").unwrap(), "-3");
    assert_eq!(o.get("format").unwrap(), "json");
    assert_eq!(o.get("note").unwrap(), "it's");
}

#[test]
fn with_option_errors() {
    let sql = "CREATE SINK s WITH (connector = 'a', Connector = 'b')";
    let e = parse_err(sql);
    assert_eq!(e.sqlstate, "42601");
    assert_eq!(e.message, "option \"connector\" specified more than once");
    assert_eq!(e.position, Some(38));

    let e = parse_err("CREATE SINK s WITH (connector = )");
    assert!(
        e.message.starts_with("syntax error at or near \")\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(33));

    let e = parse_err("CREATE SINK s WITH (connector 'a')");
    assert!(
        e.message.starts_with("syntax error at or near \"'a'\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(31));
}

#[test]
fn create_sink_variants() {
    let EddyStatement::CreateSink {
        name,
        if_not_exists,
        or_replace,
        options: o,
    } = parse_one("create or replace sink Pg_Out with (connector = 'blackhole')")
    else {
        panic!()
    };
    assert_eq!(name, "pg_out");
    assert!(or_replace && !if_not_exists);
    assert_eq!(o, options(&[("connector", "blackhole")]));

    let e = parse_err("CREATE OR REPLACE SINK IF NOT EXISTS s WITH (connector = 'x')");
    assert!(
        e.message.contains("cannot be used together"),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(24));
}

#[test]
fn create_streaming_query_with_tumble() {
    let query = "SELECT window_start, window_end, auction, count(*) AS bids, max(price) AS top\n\
                 FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)\n\
                 GROUP BY window_start, window_end, auction";
    let sql = format!(
        "CREATE STREAMING QUERY IF NOT EXISTS bid_counts\n\
         WITH (trigger = '1 second',           -- interval\n\
               output_mode = 'append')\n\
         AS INSERT INTO public.pg_out\n{query}  -- trailing comment\n;"
    );
    let EddyStatement::CreateStreamingQuery {
        name,
        if_not_exists,
        or_replace,
        options: o,
        sink,
        query: ast,
        query_text,
    } = parse_one(&sql)
    else {
        panic!()
    };
    assert_eq!(name, "bid_counts");
    assert!(if_not_exists && !or_replace);
    assert_eq!(
        o,
        options(&[("trigger", "1 second"), ("output_mode", "append")])
    );
    assert_eq!(sink, "pg_out");
    assert_eq!(query_text, query);
    let SetExpr::Select(select) = ast.body.as_ref() else {
        panic!("{ast}")
    };
    let relation = &select.from[0].relation;
    match relation {
        TableFactor::Table { name, args, .. } => {
            assert_eq!(name.to_string(), "TUMBLE");
            assert_eq!(args.as_ref().map(|a| a.args.len()), Some(3));
        }
        TableFactor::Function { name, args, .. } => {
            assert_eq!(name.to_string(), "TUMBLE");
            assert_eq!(args.len(), 3);
        }
        other => panic!("TUMBLE parsed as {other:?}"),
    }
}

#[test]
fn create_streaming_query_minimal() {
    let sql = "CREATE OR REPLACE STREAMING QUERY q AS INSERT INTO s SELECT * FROM t";
    let EddyStatement::CreateStreamingQuery {
        or_replace,
        options: o,
        sink,
        query_text,
        ..
    } = parse_one(sql)
    else {
        panic!()
    };
    assert!(or_replace);
    assert!(o.is_empty());
    assert_eq!(sink, "s");
    assert_eq!(query_text, "SELECT * FROM t");

    let e = parse_err("CREATE STREAMING QUERY q AS INSERT INTO s (a, b) SELECT 1, 2");
    assert_eq!(e.sqlstate, "0A000");
    assert_eq!(e.position, Some(43));
    let e = parse_err("CREATE STREAMING QUERY q AS SELECT 1");
    assert!(
        e.message.starts_with("syntax error at or near \"SELECT\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(29));
}

#[test]
fn show_create_and_describe() {
    let cases = [
        ("SHOW CREATE SOURCE clicks", ObjectKind::Source, "clicks"),
        ("show create sink Out_Sink", ObjectKind::Sink, "out_sink"),
        ("SHOW CREATE TABLE public.t", ObjectKind::Table, "t"),
        (
            "SHOW CREATE STREAMING QUERY \"Q\"",
            ObjectKind::StreamingQuery,
            "Q",
        ),
    ];
    for (sql, kind, name) in cases {
        match parse_one(sql) {
            EddyStatement::ShowCreate { kind: k, name: n } => {
                assert_eq!((k, n.as_str()), (kind, name), "{sql}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    for sql in ["DESCRIBE clicks", "desc clicks"] {
        assert!(
            matches!(parse_one(sql), EddyStatement::Describe { name } if name == "clicks"),
            "{sql}"
        );
    }
    // Other SHOW CREATE forms stay sqlparser's.
    assert!(matches!(
        parse_one("SHOW CREATE VIEW v"),
        EddyStatement::Standard(_)
    ));
}

#[test]
fn show_objects() {
    let cases = [
        ("SHOW SOURCES", ObjectKind::Source),
        ("show sinks", ObjectKind::Sink),
        ("SHOW STREAMING QUERIES", ObjectKind::StreamingQuery),
        ("SHOW TABLES", ObjectKind::Table),
    ];
    for (sql, kind) in cases {
        match parse_one(sql) {
            EddyStatement::ShowObjects(k) => assert_eq!(k, kind, "{sql}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert!(matches!(
        parse_one("SHOW search_path"),
        EddyStatement::Standard(_)
    ));
    let e = parse_err("SHOW SOURCES x");
    assert!(
        e.message.starts_with("syntax error at or near \"x\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(14));
}

#[test]
fn drop_objects() {
    let cases = [
        (
            "DROP SOURCE bids",
            ObjectKind::Source,
            vec!["bids"],
            false,
            false,
        ),
        (
            "DROP SINK IF EXISTS a, public.B",
            ObjectKind::Sink,
            vec!["a", "b"],
            true,
            false,
        ),
        (
            "drop streaming query \"Q\" CASCADE",
            ObjectKind::StreamingQuery,
            vec!["Q"],
            false,
            true,
        ),
        (
            "DROP TABLE IF EXISTS t RESTRICT",
            ObjectKind::Table,
            vec!["t"],
            true,
            false,
        ),
    ];
    for (sql, kind, expected_names, expected_if_exists, expected_cascade) in cases {
        match parse_one(sql) {
            EddyStatement::Drop {
                kind: k,
                names,
                if_exists,
                cascade,
            } => {
                assert_eq!(k, kind, "{sql}");
                assert_eq!(names, expected_names, "{sql}");
                assert_eq!(if_exists, expected_if_exists, "{sql}");
                assert_eq!(cascade, expected_cascade, "{sql}");
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    match parse_one("DROP VIEW v") {
        EddyStatement::Standard(stmt) => assert!(matches!(*stmt, Statement::Drop { .. })),
        other => panic!("{other:?}"),
    }
}

#[test]
fn names_fold_unless_quoted() {
    let name_of = |sql: &str| match parse_one(sql) {
        EddyStatement::CreateSink { name, .. } => name,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        name_of("CREATE SINK MySink WITH (connector = 'x')"),
        "mysink"
    );
    assert_eq!(
        name_of("CREATE SINK \"MySink\" WITH (connector = 'x')"),
        "MySink"
    );
    assert_eq!(
        name_of("CREATE SINK PUBLIC.MySink WITH (connector = 'x')"),
        "mysink"
    );
    assert_eq!(
        name_of("CREATE SINK \"my sink\" WITH (connector = 'x')"),
        "my sink"
    );

    let e = parse_err("CREATE SINK other.s WITH (connector = 'x')");
    assert_eq!(e.sqlstate, "3F000");
    assert!(
        e.message.starts_with("schema \"other\" does not exist"),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(13));
    let e = parse_err("DROP SOURCE a.b.c");
    assert_eq!(e.sqlstate, "42601");
}

#[test]
fn standard_statements_go_to_sqlparser() {
    for sql in [
        "CREATE TABLE t (a INT PRIMARY KEY, b TEXT)",
        "INSERT INTO t VALUES (1, 'x')",
        "SELECT * FROM t WHERE a > 1",
        "BEGIN",
        "SET search_path = public",
        "DROP INDEX i",
    ] {
        assert!(
            matches!(parse_one(sql), EddyStatement::Standard(_)),
            "{sql}"
        );
    }
}

#[test]
fn empty_and_comment_only_input() {
    for sql in [
        "",
        "   ",
        ";",
        ";;  ;",
        "-- only a comment",
        "/* a */ ; -- b\n;",
        "/* /* nested */ */",
    ] {
        assert!(parse_statements(sql).unwrap().is_empty(), "{sql:?}");
    }
}

#[test]
fn splits_statements_with_texts_and_offsets() {
    let sql = "-- lead\nSELECT 1;; /* c */ SELECT 'é;' ;\n  SHOW SOURCES -- tail";
    let statements = parse_statements(sql).unwrap();
    let found: Vec<_> = statements
        .iter()
        .map(|s| (s.text.as_str(), s.offset))
        .collect();
    assert_eq!(
        found,
        [("SELECT 1", 8), ("SELECT 'é;'", 27), ("SHOW SOURCES", 44)]
    );
    for s in &statements {
        assert_eq!(&sql[s.offset..s.offset + s.text.len()], s.text);
    }
    assert!(matches!(
        statements[2].stmt,
        EddyStatement::ShowObjects(ObjectKind::Source)
    ));
}

#[test]
fn offsets_after_multibyte_lines() {
    let sql = "SELECT 'ü€'\n;\n\tSELECT 'α' AS \"β\"; SELECT 2";
    let statements = parse_statements(sql).unwrap();
    let found: Vec<_> = statements
        .iter()
        .map(|s| (s.text.as_str(), s.offset))
        .collect();
    assert_eq!(
        found,
        [
            ("SELECT 'ü€'", 0),
            ("SELECT 'α' AS \"β\"", 18),
            ("SELECT 2", 39),
        ]
    );
}

#[test]
fn syntax_error_positions_match_postgres() {
    let e = parse_err("SELECT 1; SELEC 2");
    assert_eq!(e.sqlstate, "42601");
    assert!(
        e.message.starts_with("syntax error at or near \"SELEC\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(11));

    // Characters, not bytes.
    let e = parse_err("SELECT 'é', 1 FROMM x");
    assert!(
        e.message.starts_with("syntax error at or near \"x\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(21));

    let e = parse_err("SELECT 1,\n  2 FROM t WHERE");
    assert!(
        e.message.starts_with("syntax error at end of input"),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(27));

    let e = parse_err("SELECT 1 +   ");
    assert!(
        e.message.starts_with("syntax error at end of input"),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(14));

    let e = parse_err("SELECT (1; SELECT 2");
    assert!(
        e.message.starts_with("syntax error at or near \";\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(10));
}

#[test]
fn unterminated_string_like_postgres() {
    let sql = "SELECT 1; SELECT 'abc;";
    let e = parse_err(sql);
    assert_eq!(e.message, "unterminated quoted string at or near \"'abc;\"");
    assert_eq!(e.position, Some(18));

    let (statements, error) = parse_statements_partial(sql);
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].text, "SELECT 1");
    assert_eq!(error.unwrap().position, Some(18));

    // A complete-looking statement cut by the tokenizer error does not count.
    let (statements, error) = parse_statements_partial("SELECT 1; SELECT 2 'x");
    assert_eq!(statements.len(), 1);
    assert!(error.is_some());

    // An earlier syntax error wins over a later tokenizer error.
    let e = parse_err("SELEC 1; SELECT 'x");
    assert!(
        e.message.starts_with("syntax error at or near \"SELEC\""),
        "{}",
        e.message
    );
}

#[test]
fn partial_parse_returns_statements_before_the_error() {
    let (statements, error) = parse_statements_partial("SELECT 1; SHOW SINKS; SELEC 2; SELECT 3");
    let texts: Vec<_> = statements.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["SELECT 1", "SHOW SINKS"]);
    assert_eq!(error.unwrap().position, Some(23));

    let (statements, error) = parse_statements_partial("SELECT 1; SELECT 2");
    assert_eq!(statements.len(), 2);
    assert!(error.is_none());
}

#[test]
fn tokenizer_errors_use_postgres_wording() {
    let cases = [
        (
            "SELECT \"abc",
            "unterminated quoted identifier at or near \"\"abc\"",
            8,
        ),
        (
            "SELECT $$abc",
            "unterminated dollar-quoted string at or near \"$$abc\"",
            8,
        ),
        (
            "SELECT 1 /* abc",
            "unterminated /* comment at or near \"/* abc\"",
            10,
        ),
    ];
    for (sql, message, position) in cases {
        let e = parse_err(sql);
        assert_eq!(e.message, message, "{sql}");
        assert_eq!(e.position, Some(position), "{sql}");
    }
    let e = parse_err("CREATE SOURCE s (a BIGINT WITH (connector = 'x')");
    assert_eq!(
        e.message,
        "syntax error at or near \"WITH\" (expected \")\")"
    );
    assert_eq!(e.position, Some(27));
}

#[test]
fn show_and_alter_one_streaming_query() {
    assert!(matches!(
        parse_one("SHOW STREAMING QUERY clicks"),
        EddyStatement::ShowStreamingQuery { name } if name == "clicks"
    ));
    for (sql, expected) in [
        ("ALTER STREAMING QUERY q PAUSE", QueryAlteration::Pause),
        ("alter streaming query q resume;", QueryAlteration::Resume),
    ] {
        match parse_one(sql) {
            EddyStatement::AlterStreamingQuery { name, alteration } => {
                assert_eq!((name.as_str(), &alteration), ("q", &expected), "{sql}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    match parse_one("ALTER STREAMING QUERY q SET (trigger = '5 seconds')") {
        EddyStatement::AlterStreamingQuery {
            alteration: QueryAlteration::Set(options),
            ..
        } => assert_eq!(
            options.get("trigger").map(String::as_str),
            Some("5 seconds")
        ),
        other => panic!("{other:?}"),
    }
    let e = parse_err("ALTER STREAMING QUERY q FLY");
    assert!(e.message.contains("PAUSE, RESUME or SET"), "{}", e.message);
    assert!(matches!(
        parse_one("ALTER TABLE t ADD COLUMN c INT"),
        EddyStatement::Standard(_)
    ));
}
