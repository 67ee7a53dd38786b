//! PostgreSQL's catalogs as clients read them: the real `psql` binary's
//! `\d` family, the reflection queries SQLAlchemy, pgjdbc and BI tools send
//! (copied from `reference/wire-captures/drivers.log`), `information_schema`,
//! and advisory locks held across two connections.
//!
//! One database holds a table with a primary key and a default (relkind
//! `r`), a datagen source (`f`, "foreign table") and a streaming query
//! (`m`, "materialized view", whose columns are its SELECT's output).

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use eddy_tests::{execute, query_scalar, query_values};
use tokio_postgres::Client;

use crate::{TestEddy, with_logs};

const SETUP: &[&str] = &[
    "CREATE TABLE orders (id BIGINT PRIMARY KEY, amount NUMERIC(10,2) NOT NULL, \
     note TEXT DEFAULT 'none', created_at TIMESTAMPTZ)",
    "INSERT INTO orders VALUES (1, 9.50, 'first', '2026-01-01 00:00:00+00')",
    "CREATE SOURCE clicks (user_id BIGINT, page VARCHAR, ts TIMESTAMP, \
     WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) \
     WITH (connector = 'datagen', 'rows.per.second' = '1')",
    "CREATE SINK nowhere WITH (connector = 'blackhole')",
    "CREATE STREAMING QUERY page_counts WITH (output_mode = 'update') AS \
     INSERT INTO nowhere SELECT page, count(*) AS views, max(ts) AS last_seen \
     FROM clicks GROUP BY page",
];

async fn setup(eddy: &TestEddy) -> Result<Client> {
    let client = eddy.client().await?;
    for sql in SETUP {
        execute(&client, sql).await?;
    }
    Ok(client)
}

/// Runs the real `psql` with `-c command` in unaligned mode and returns
/// its standard output; fails with its standard error if it printed any.
async fn psql(eddy: &TestEddy, command: &str) -> Result<String> {
    psql_on(eddy.port(), "eddy", "eddy", command).await
}

/// [`psql`] against any server: `user` on database `database` at `port`.
pub(crate) async fn psql_on(
    port: u16,
    user: &str,
    database: &str,
    command: &str,
) -> Result<String> {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", user, "-d", database, "-X", "-A", "-c", command])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .with_context(|| format!("psql -c '{command}' did not finish"))?
    .context("running psql")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    ensure!(
        output.status.success() && stderr.trim().is_empty(),
        "psql -c '{command}' failed: {stderr}\n{stdout}"
    );
    Ok(stdout)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_tables_sources_and_streaming_queries() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let _client = setup(&eddy).await?;

        let list = psql(&eddy, r"\d").await?;
        ensure!(
            lines(&list)
                == [
                    "List of relations",
                    "Schema|Name|Type|Owner",
                    "public|clicks|foreign table|eddy",
                    "public|orders|table|eddy",
                    "public|page_counts|materialized view|eddy",
                    "(3 rows)",
                ],
            "\\d:\n{list}"
        );
        let tables = psql(&eddy, r"\dt").await?;
        ensure!(
            lines(&tables)
                == [
                    "List of relations",
                    "Schema|Name|Type|Owner",
                    "public|orders|table|eddy",
                    "(1 row)",
                ],
            "\\dt:\n{tables}"
        );

        let orders = psql(&eddy, r"\d orders").await?;
        ensure!(
            lines(&orders)
                == [
                    "Table \"public.orders\"",
                    "Column|Type|Collation|Nullable|Default",
                    "id|bigint||not null|",
                    "amount|numeric(10,2)||not null|",
                    "note|text|||'none'::text",
                    "created_at|timestamp with time zone|||",
                    "Indexes:",
                    "    \"orders_pkey\" PRIMARY KEY, btree (id)",
                ],
            "\\d orders:\n{orders}"
        );

        let clicks = psql(&eddy, r"\d clicks").await?;
        ensure!(
            lines(&clicks).starts_with(&[
                "Foreign table \"public.clicks\"",
                "Column|Type|Collation|Nullable|Default|FDW options",
                "user_id|bigint||||",
                "page|text||||",
                "ts|timestamp without time zone||||",
            ]) && clicks.contains("Server: datagen"),
            "\\d clicks:\n{clicks}"
        );

        let query = psql(&eddy, r"\d page_counts").await?;
        ensure!(
            lines(&query).starts_with(&[
                "Materialized view \"public.page_counts\"",
                "Column|Type|Collation|Nullable|Default",
                "page|text|||",
                "views|bigint||not null|",
                "last_seen|timestamp without time zone|||",
            ]),
            "\\d page_counts:\n{query}"
        );

        let databases = psql(&eddy, r"\l").await?;
        ensure!(
            databases.contains("eddy|eddy|UTF8|C|C||libc|"),
            "\\l:\n{databases}"
        );
        let schemas = psql(&eddy, r"\dn").await?;
        ensure!(
            lines(&schemas)
                == [
                    "List of schemas",
                    "Name|Owner",
                    "eddy_catalog|eddy",
                    "public|eddy",
                    "(2 rows)"
                ],
            "\\dn:\n{schemas}"
        );
        let roles = psql(&eddy, r"\du").await?;
        ensure!(roles.contains("eddy|Superuser"), "\\du:\n{roles}");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// Indexes, unique constraints and foreign keys in psql's `\d NAME`, the
/// same text as PostgreSQL prints for the same tables ("Indexes",
/// "Foreign-key constraints", "Referenced by").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_shows_indexes_and_foreign_keys_as_postgres_does() -> Result<()> {
    let pg = eddy_tests::TestPostgres::start().await?;
    let eddy = TestEddy::start().await?;
    let result = async {
        let ddl = [
            "CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL UNIQUE, \
             name text DEFAULT 'anonymous')",
            "CREATE TABLE orders (id bigint PRIMARY KEY, \
             customer_id integer NOT NULL REFERENCES customers ON DELETE CASCADE, \
             email text, CONSTRAINT orders_email_fk FOREIGN KEY (email) \
             REFERENCES customers (email) ON UPDATE SET NULL)",
            "CREATE INDEX orders_customer ON orders (customer_id, id)",
            "CREATE UNIQUE INDEX orders_email_once ON orders (email)",
        ];
        let (pg_client, eddy_client) = (pg.client().await?, eddy.client().await?);
        for sql in ddl {
            pg_client.batch_execute(sql).await?;
            execute(&eddy_client, sql).await?;
        }
        for command in [r"\d orders", r"\d customers"] {
            let want = psql_on(pg.port(), "postgres", "postgres", command).await?;
            let got = psql(&eddy, command).await?;
            ensure!(got == want, "{command}\nEddy:\n{got}\nPostgreSQL:\n{want}");
        }
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// Queries psql's tab completion sends (psql 15, `tab-complete.c`).
const TAB_COMPLETION: &[&str] = &[
    "SELECT pg_catalog.quote_ident(c.relname) FROM pg_catalog.pg_class c \
     WHERE c.relkind IN ('r', 'p') AND substring(pg_catalog.quote_ident(c.relname),1,3)='ord' \
     AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid FROM \
     pg_catalog.pg_namespace WHERE nspname = 'pg_catalog') LIMIT 1000",
    "SELECT pg_catalog.quote_ident(attname) FROM pg_catalog.pg_attribute a, pg_catalog.pg_class c \
     WHERE c.oid = a.attrelid AND a.attnum > 0 AND NOT a.attisdropped \
     AND substring(pg_catalog.quote_ident(attname),1,0)='' \
     AND (pg_catalog.quote_ident(relname)='orders' OR '\"' || relname || '\"'='orders') \
     AND pg_catalog.pg_table_is_visible(c.oid) LIMIT 1000",
    "SELECT pg_catalog.quote_ident(nspname) || '.' FROM pg_catalog.pg_namespace \
     WHERE substring(pg_catalog.quote_ident(nspname) || '.',1,0) = '' LIMIT 1000",
    "SELECT pg_catalog.quote_ident(datname) FROM pg_catalog.pg_database \
     WHERE substring(pg_catalog.quote_ident(datname),1,0)='' LIMIT 1000",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_and_bi_tools_read_the_catalog() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = setup(&eddy).await?;
        for sql in TAB_COMPLETION {
            query_values(&client, sql).await?;
        }
        let tables = query_values(&client, TAB_COMPLETION[0]).await?;
        ensure!(tables == [[Some("orders".to_string())]], "{tables:?}");

        // SQLAlchemy: inspect(engine).get_table_names().
        let names = query_values(
            &client,
            "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace \
             ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace \
             WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p']) \
             AND pg_catalog.pg_class.relpersistence != 't' \
             AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) \
             AND pg_catalog.pg_namespace.nspname != 'pg_catalog'",
        )
        .await?;
        ensure!(names == [[Some("orders".to_string())]], "{names:?}");

        // get_pk_constraint. (get_columns' query does not plan yet: its
        // several correlated subqueries defeat DataFusion's decorrelation.)
        let oid = query_scalar(&client, "SELECT 'orders'::regclass::oid").await?;
        let pk = query_values(&client, &SQLALCHEMY_PK.replace("16384", &oid)).await?;
        ensure!(
            pk.len() == 1
                && pk[0][1].as_deref() == Some("{id}")
                && pk[0][2].as_deref() == Some("orders_pkey"),
            "{pk:?}"
        );

        // information_schema.
        let info = query_values(
            &client,
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name",
        )
        .await?;
        ensure!(
            info == [
                [Some("clicks".into()), Some("FOREIGN".into())],
                [Some("orders".into()), Some("BASE TABLE".into())],
                [Some("page_counts".into()), Some("VIEW".into())],
            ],
            "{info:?}"
        );
        let cols = query_values(
            &client,
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_name = 'page_counts' ORDER BY ordinal_position",
        )
        .await?;
        ensure!(
            cols.iter().map(|r| r[0].clone().unwrap_or_default()).collect::<Vec<_>>()
                == ["page", "views", "last_seen"],
            "{cols:?}"
        );
        let schemata = query_values(
            &client,
            "SELECT schema_name FROM information_schema.schemata ORDER BY 1",
        )
        .await?;
        // PostgreSQL's three and Eddy's own (the progress relations).
        ensure!(schemata.len() == 4, "{schemata:?}");
        let key = query_values(
            &client,
            "SELECT kcu.column_name FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name \
             WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_name = 'orders'",
        )
        .await?;
        ensure!(key == [[Some("id".to_string())]], "{key:?}");

        // What BI tools and drivers send at connect and schema sync.
        let scalar = |sql: &'static str| {
            let client = &client;
            async move { query_scalar(client, sql).await }
        };
        ensure!(scalar("SHOW TRANSACTION ISOLATION LEVEL").await? == "read committed");
        ensure!(scalar("SELECT current_setting('server_version_num')").await? == "160006");
        ensure!(scalar("SELECT version()").await?.starts_with("PostgreSQL 16"));
        ensure!(scalar("select pg_catalog.version()").await?.starts_with("PostgreSQL 16"));
        ensure!(scalar("select current_schema()").await? == "public");
        let database = scalar("SELECT current_database()").await?;
        ensure!(
            scalar("SELECT datname FROM pg_database WHERE oid = (SELECT datid FROM pg_stat_activity)")
                .await?
                == database
        );
        // The harness logs in as `postgres`; it owns what it sees.
        ensure!(scalar("SELECT current_user").await? == "postgres");
        ensure!(scalar("SELECT rolname FROM pg_roles").await? == "postgres");
        ensure!(
            scalar("SELECT array_to_string(current_schemas(true), ',')").await?
                == "pg_catalog,public"
        );
        ensure!(scalar("SELECT set_config('application_name', 'bi', false)").await? == "bi");
        ensure!(scalar("SHOW application_name").await? == "bi");
        ensure!(scalar("SELECT count(*) FROM pg_catalog.pg_get_keywords()").await?.parse::<i64>()? > 100);
        ensure!(
            scalar("SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'orders'").await?
                == "1"
        );
        ensure!(scalar("SELECT extname FROM pg_extension").await? == "plpgsql");
        ensure!(
            scalar("SELECT setting FROM pg_settings WHERE name = 'server_version_num'").await?
                == "160006"
        );
        ensure!(scalar("SELECT format_type(1043, 36)").await? == "character varying(32)");
        ensure!(scalar("SELECT 'int4'::regtype::oid").await? == "23");
        ensure!(scalar("SELECT to_regtype('text')").await? == "25");
        ensure!(
            scalar("SELECT typname FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid WHERE typname = 'int8'").await?
                == "int8"
        );
        ensure!(scalar("SELECT quote_ident('Order')").await? == "\"Order\"");
        ensure!(
            scalar("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p'").await?
                == "PRIMARY KEY (id)"
        );
        ensure!(scalar("SELECT has_table_privilege('orders', 'SELECT')").await? == "t");
        ensure!(scalar("SELECT pg_encoding_to_char(6)").await? == "UTF8");
        let oid_again = query_scalar(&client, "SELECT oid FROM pg_class WHERE relname = 'orders'").await?;
        ensure!(oid_again == oid, "OIDs are stable: {oid} vs {oid_again}");
        ensure!(
            scalar("SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c WHERE c.relname = 'orders'").await?
                == "orders"
        );

        // The extended protocol (pgjdbc, asyncpg) plans the same queries.
        let rows = client
            .query(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
                &[&"public", &"orders"],
            )
            .await?;
        ensure!(rows.len() == 1);
        let rows = client
            .query(
                "select true from pg_database where datname = $1",
                &[&database.as_str()],
            )
            .await?;
        ensure!(rows.len() == 1);

        let explain = query_values(&client, "EXPLAIN SELECT id FROM orders WHERE id = 1").await?;
        ensure!(!explain.is_empty(), "EXPLAIN gave no plan");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

const SQLALCHEMY_PK: &str = "SELECT attr.conrelid, array_agg(CAST(attr.attname AS TEXT) ORDER BY attr.ord) AS cols, attr.conname, min(attr.description) AS description, min(attr.indnkeyatts) AS indnkeyatts, bool_and(attr.indnullsnotdistinct) AS indnullsnotdistinct FROM (SELECT con.conrelid AS conrelid, con.conname AS conname, con.description AS description, con.ord AS ord, con.indnkeyatts AS indnkeyatts, con.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_attribute.attname AS attname FROM pg_catalog.pg_attribute JOIN (SELECT pg_catalog.pg_constraint.conrelid AS conrelid, pg_catalog.pg_constraint.conname AS conname, unnest(pg_catalog.pg_index.indkey) AS attnum, generate_subscripts(pg_catalog.pg_index.indkey, 1) AS ord, pg_catalog.pg_index.indnkeyatts AS indnkeyatts, pg_catalog.pg_index.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_description.description AS description FROM pg_catalog.pg_constraint JOIN pg_catalog.pg_index ON pg_catalog.pg_constraint.conindid = pg_catalog.pg_index.indexrelid LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_constraint.oid AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) WHERE pg_catalog.pg_constraint.contype = 'p' AND pg_catalog.pg_constraint.conrelid IN (16384)) AS con ON pg_catalog.pg_attribute.attnum = con.attnum AND pg_catalog.pg_attribute.attrelid = con.conrelid WHERE con.conrelid IN (16384)) AS attr GROUP BY attr.conrelid, attr.conname ORDER BY attr.conrelid, attr.conname";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisory_locks_block_other_sessions_until_released() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let first = eddy.client().await?;
        let second = eddy.client().await?;
        query_values(&first, "SELECT pg_advisory_lock(42)").await?;
        ensure!(query_scalar(&second, "SELECT pg_try_advisory_lock(42)").await? == "f");
        ensure!(query_scalar(&first, "SELECT pg_try_advisory_lock(43)").await? == "t");

        // The second session waits for the first to unlock.
        let started = Instant::now();
        let waiter = tokio::spawn(async move {
            query_values(&second, "SELECT pg_advisory_lock(42)").await?;
            anyhow::Ok((started.elapsed(), second))
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        ensure!(!waiter.is_finished(), "pg_advisory_lock did not wait");
        ensure!(query_scalar(&first, "SELECT pg_advisory_unlock(42)").await? == "t");
        let (waited, second) = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .context("the waiting session never got the lock")???;
        ensure!(
            waited >= Duration::from_millis(700),
            "waited only {waited:?}"
        );
        ensure!(query_scalar(&first, "SELECT pg_try_advisory_lock(42)").await? == "f");

        // Locks of a session that disconnects are released.
        drop(second);
        let third = eddy.client().await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if query_scalar(&third, "SELECT pg_try_advisory_lock(42)").await? == "t" {
                break;
            }
            ensure!(Instant::now() < deadline, "a closed session kept its lock");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(query_scalar(&first, "SELECT pg_advisory_unlock(42)").await? == "f");
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// `pg_roles` and `pg_user` (what `\du` reads) list the users created with
/// `CREATE USER`, never their passwords.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_list_created_users_without_passwords() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = eddy.client().await?;
        execute(
            &client,
            "CREATE USER alice WITH PASSWORD 'wonderland-secret'; CREATE ROLE reporting",
        )
        .await?;
        let roles = query_values(
            &client,
            "SELECT rolname, rolcanlogin, rolpassword FROM pg_catalog.pg_roles ORDER BY rolname",
        )
        .await?;
        let shown = format!("{roles:?}");
        ensure!(shown.contains("alice"), "pg_roles: {shown}");
        ensure!(shown.contains("reporting"), "pg_roles: {shown}");
        ensure!(!shown.contains("wonderland"), "a password shown: {shown}");
        let logins =
            query_values(&client, "SELECT usename FROM pg_catalog.pg_user ORDER BY 1").await?;
        let logins: Vec<_> = logins.into_iter().filter_map(|r| r[0].clone()).collect();
        ensure!(
            logins.contains(&"alice".to_string()) && !logins.contains(&"reporting".to_string()),
            "pg_user lists the roles that can log in: {logins:?}"
        );
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}

/// `SHOW CREATE` of every kind, secrets masked, and `DESCRIBE` of every
/// kind — columns with their types, keys and watermark; a sink's options —
/// in both protocols (a prepared statement is described as it answers).
#[tokio::test]
async fn show_create_and_describe_every_kind() -> Result<()> {
    let eddy = TestEddy::start().await?;
    let result = async {
        let client = setup(&eddy).await?;
        execute(
            &client,
            "CREATE SINK secret_sink WITH (connector = 'postgres', url = 'postgres://u@127.0.0.1:1/db', \
             password = 'hunter2', table = 'x')",
        )
        .await?;
        let create = |kind: &str, name: &str| format!("SHOW CREATE {kind} {name}");
        for (kind, name, fragment) in [
            ("TABLE", "orders", "CREATE TABLE orders"),
            ("SOURCE", "clicks", "WATERMARK FOR ts"),
            ("SINK", "nowhere", "connector = 'blackhole'"),
            ("STREAMING QUERY", "page_counts", "GROUP BY page"),
            ("SINK", "secret_sink", "password = '********'"),
        ] {
            let rows = query_values(&client, &create(kind, name)).await?;
            ensure!(rows.len() == 1, "{kind} {name}: {rows:?}");
            let (shown, sql) = (rows[0][0].clone(), rows[0][1].clone().unwrap_or_default());
            ensure!(shown.as_deref() == Some(name), "{rows:?}");
            ensure!(sql.contains(fragment), "{kind} {name}: {sql}");
            ensure!(!sql.contains("hunter2"), "{sql}");
        }
        let e = eddy_tests::expect_db_error(&client, "SHOW CREATE SOURCE orders").await?;
        ensure!(e.code().code() == "42809", "{e:?}");
        let e = eddy_tests::expect_db_error(&client, "SHOW CREATE SINK orders").await?;
        ensure!(e.code().code() == "42704", "{e:?}");
        let e = eddy_tests::expect_db_error(&client, "DESCRIBE nothing_here").await?;
        ensure!(e.code().code() == "42P01", "{e:?}");

        let described = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
            rows.into_iter()
                .map(|r| r.into_iter().map(|v| v.unwrap_or_else(|| "NULL".into())).collect::<Vec<_>>().join("|"))
                .collect()
        };
        ensure!(
            described(query_values(&client, "DESCRIBE orders").await?)
                == [
                    "id|bigint|f|NULL|primary key",
                    "amount|numeric(10,2)|f|NULL|NULL",
                    "note|text|t|'none'|NULL",
                    "created_at|timestamp with time zone|t|NULL|NULL",
                ],
            "{:?}",
            query_values(&client, "DESCRIBE orders").await?
        );
        let clicks = described(query_values(&client, "DESC clicks").await?);
        ensure!(clicks.len() == 3 && clicks[2].starts_with("ts|timestamp"), "{clicks:?}");
        ensure!(clicks[2].contains("watermark: ts - INTERVAL '5000' MILLISECOND"), "{clicks:?}");
        let query = described(query_values(&client, "DESCRIBE page_counts").await?);
        ensure!(
            query.len() == 3
                && query[0].starts_with("page|")
                && query[1].starts_with("views|bigint")
                && query[2].starts_with("last_seen|timestamp"),
            "{query:?}"
        );
        let sink = described(query_values(&client, "DESCRIBE secret_sink").await?);
        ensure!(sink.contains(&"password|********".to_string()), "{sink:?}");
        ensure!(sink.contains(&"table|x".to_string()), "{sink:?}");

        // Extended protocol: the description comes before the rows.
        let prepared = client.prepare("DESCRIBE orders").await?;
        let names: Vec<&str> = prepared.columns().iter().map(|c| c.name()).collect();
        ensure!(names == ["name", "type", "nullable", "default", "extra"], "{names:?}");
        let rows = client.query(&prepared, &[]).await?;
        ensure!(rows.len() == 4 && !rows[0].get::<_, bool>(2), "{} rows", rows.len());
        Ok(())
    }
    .await;
    with_logs(result, &eddy, None)
}
