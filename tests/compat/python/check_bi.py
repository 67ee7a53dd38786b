"""The catalog queries BI tools send at connect and during schema sync,
sent through psycopg (extended protocol, parameters where the tools bind
them), with the answers they rely on checked.

- Grafana: its PostgreSQL data source's version, schema, table and column
  queries (search_path parsing with generate_series, string_to_array in
  FROM, parse_ident).
- Metabase: its PostgreSQL driver's table, field, foreign-key and index
  sync queries (pgjdbc's DatabaseMetaData is checked by Meta.java).
- Superset: SQLAlchemy's inspector, every reflection method it calls.
- DBeaver: its navigator's schema, table, column, constraint, index and
  dependency queries.
"""

import sys

import psycopg
import sqlalchemy as sa

from common import DATABASE, HOST, PORT, USER, check, fail

SCHEMA = """
CREATE TABLE customers (
    id integer PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name varchar(40) DEFAULT 'anonymous'
);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    amount numeric(10,2),
    placed_at timestamptz DEFAULT now()
);
CREATE INDEX orders_placed_at ON orders (placed_at);
COMMENT ON TABLE orders IS 'Placed orders';
COMMENT ON COLUMN orders.amount IS 'In euros';
"""


def rows(conn, sql, params=None):
    try:
        return conn.execute(sql, params).fetchall()
    except psycopg.Error as e:
        fail(f"{sql.split(chr(10))[0][:80]}…: {type(e).__name__}: {e}")


def named(conn, sql, params=None):
    """Rows as dicts: DBeaver reads its `c.oid, c.*` queries by name."""
    try:
        cur = conn.execute(sql, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    except psycopg.Error as e:
        fail(f"{sql.split(chr(10))[0][:80]}…: {type(e).__name__}: {e}")


def grafana(conn):
    check("grafana: version", rows(conn, "SELECT current_setting('server_version_num')::int/100 AS version"),
          [(1600,)])
    check("grafana: timescaledb",
          rows(conn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"), [])
    check("grafana: schemas", rows(conn, """
        SELECT schema_name AS "name" FROM information_schema.schemata
        WHERE schema_name NOT IN ('information_schema', 'pg_catalog', 'pg_toast',
                                  '_timescaledb_cache', '_timescaledb_catalog')
        ORDER BY schema_name"""), [("eddy_catalog",), ("public",)])
    in_search_path = """
        quote_ident(table_schema) IN (
          SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM generate_series(
                 array_lower(string_to_array(current_setting('search_path'), ','), 1),
                 array_upper(string_to_array(current_setting('search_path'), ','), 1)
               ) AS i,
               string_to_array(current_setting('search_path'), ',') s)"""
    check("grafana: tables", rows(conn, f"""
        SELECT CASE WHEN {in_search_path}
                 THEN quote_ident(table_name)
                 ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
               END AS "table"
        FROM information_schema.tables
        WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog')
        ORDER BY CASE WHEN {in_search_path} THEN 0 ELSE 1 END, 1"""),
          # Eddy's progress relations, off the search path, qualified.
          [("customers",), ("orders",)]
          + [(f"eddy_catalog.{r}",) for r in ("query_progress", "query_progress_history",
                                              "query_sources", "query_state",
                                              "source_partitions")])
    check("grafana: tables of a schema", rows(conn, """
        SELECT quote_ident(table_name) AS "table" FROM information_schema.tables
        WHERE quote_ident(table_schema) = 'public' ORDER BY 1"""), [("customers",), ("orders",)])
    for table in ("orders", "public.orders"):
        check(f"grafana: columns of {table}", rows(conn, f"""
            SELECT quote_ident(column_name) AS "column", data_type AS "type"
            FROM information_schema.columns
            WHERE CASE WHEN array_length(parse_ident('{table}'), 1) = 2
                    THEN quote_ident(table_schema) = (parse_ident('{table}'))[1]
                     AND quote_ident(table_name) = (parse_ident('{table}'))[2]
                    ELSE quote_ident(table_name) = '{table}' AND {in_search_path}
                  END"""),
              [("id", "bigint"), ("customer_id", "integer"), ("amount", "numeric"),
               ("placed_at", "timestamp with time zone")])


def metabase(conn):
    got = rows(conn, """
        SELECT n.nspname AS schema, c.relname AS name,
               CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE'
                 WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                 WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS type,
               d.description AS description, stat.n_live_tup AS estimated_row_count
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
        LEFT JOIN pg_catalog.pg_description AS d
          ON (c.oid = d.objoid) AND (d.objsubid = 0) AND (d.classoid = 'pg_class'::regclass)
        LEFT JOIN pg_stat_user_tables AS stat
          ON (n.nspname = stat.schemaname) AND (c.relname = stat.relname)
        WHERE (c.relnamespace = n.oid) AND (n.nspname !~ '^pg_')
          AND (n.nspname <> 'information_schema') AND c.relkind IN ('r', 'p', 'v', 'f', 'm')
          AND n.nspname IN ('public')
        ORDER BY type ASC, schema ASC, name ASC""")
    check("metabase: tables", [r[:4] for r in got],
          [("public", "customers", "TABLE", None), ("public", "orders", "TABLE", "Placed orders")])
    for schema, table in [("public", "customers"), ("public", "orders")]:
        check(f"metabase: select privilege on {table}", rows(conn,
              "SELECT has_table_privilege(%s, 'SELECT')", (f'"{schema}"."{table}"',)), [(True,)])
    got = rows(conn, """
        SELECT c.column_name AS name,
               CASE WHEN c.udt_schema IN ('public', 'pg_catalog') THEN format('%s', c.udt_name)
                    ELSE format('"%s"."%s"', c.udt_schema, c.udt_name) END AS "database-type",
               c.ordinal_position - 1 AS "database-position",
               c.table_schema AS "table-schema", c.table_name AS "table-name",
               pk.column_name IS NOT NULL AS "pk?",
               col_description(CAST(CAST(format('%I.%I', CAST(c.table_schema AS TEXT),
                                                CAST(c.table_name AS TEXT)) AS REGCLASS) AS OID),
                               c.ordinal_position) AS "field-comment",
               ((column_default IS NULL) OR (LOWER(column_default) = 'null'))
                 AND (is_nullable = 'NO')
                 AND NOT (((column_default IS NOT NULL) AND (column_default LIKE '%nextval(%'))
                          OR (is_identity <> 'NO')) AS "database-required",
               ((column_default IS NOT NULL) AND (column_default LIKE '%nextval(%'))
                 OR (is_identity <> 'NO') AS "database-is-auto-increment"
        FROM information_schema.columns AS c
        LEFT JOIN (SELECT tc.table_schema, tc.table_name, kc.column_name
                   FROM information_schema.table_constraints AS tc
                   INNER JOIN information_schema.key_column_usage AS kc
                     ON (tc.constraint_name = kc.constraint_name)
                    AND (tc.table_schema = kc.table_schema) AND (tc.table_name = kc.table_name)
                   WHERE tc.constraint_type = 'PRIMARY KEY') AS pk
          ON (c.table_schema = pk.table_schema) AND (c.table_name = pk.table_name)
         AND (c.column_name = pk.column_name)
        WHERE c.table_schema !~ '^information_schema|catalog_history|pg_'
          AND (c.table_schema IN ('public'))
        ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC""")
    check("metabase: fields", [(r[0], r[1], r[2], r[4], r[5], r[7]) for r in got], [
        ("id", "int4", 0, "customers", True, True),
        ("email", "text", 1, "customers", False, True),
        ("name", "text", 2, "customers", False, False),  # varchar is stored as text
        ("id", "int8", 0, "orders", True, True),
        ("customer_id", "int4", 1, "orders", False, True),
        ("amount", "numeric", 2, "orders", False, False),
        ("placed_at", "timestamptz", 3, "orders", False, False),
    ])
    check("metabase: foreign keys", rows(conn, """
        SELECT fk_ns.nspname AS "fk-table-schema", fk_table.relname AS "fk-table-name",
               fk_column.attname AS "fk-column-name", pk_ns.nspname AS "pk-table-schema",
               pk_table.relname AS "pk-table-name", pk_column.attname AS "pk-column-name"
        FROM pg_constraint AS c
        INNER JOIN pg_class AS fk_table ON c.conrelid = fk_table.oid
        INNER JOIN pg_namespace AS fk_ns ON c.connamespace = fk_ns.oid
        INNER JOIN pg_attribute AS fk_column ON c.conrelid = fk_column.attrelid
        INNER JOIN pg_class AS pk_table ON c.confrelid = pk_table.oid
        INNER JOIN pg_namespace AS pk_ns ON pk_table.relnamespace = pk_ns.oid
        INNER JOIN pg_attribute AS pk_column ON c.confrelid = pk_column.attrelid
        WHERE (fk_ns.nspname !~ '^information_schema|catalog_history|pg_')
          AND (c.contype = 'f'::char) AND (fk_column.attnum = ANY(c.conkey))
          AND (pk_column.attnum = ANY(c.confkey)) AND (fk_ns.nspname IN ('public'))
        ORDER BY "fk-table-schema" ASC, "fk-table-name" ASC"""),
          [("public", "orders", "customer_id", "public", "customers", "id")])
    check("metabase: indexes", sorted(rows(conn, """
        SELECT tmp.table_schema, tmp.table_name,
               TRIM(BOTH '"' FROM pg_catalog.pg_get_indexdef(tmp.ci_oid, tmp.pos, FALSE)) AS field_name
        FROM (SELECT n.nspname AS table_schema, ct.relname AS table_name, ci.oid AS ci_oid,
                     (information_schema._pg_expandarray(i.indkey)).n AS pos
              FROM pg_catalog.pg_class AS ct
              INNER JOIN pg_catalog.pg_namespace AS n ON ct.relnamespace = n.oid
              INNER JOIN pg_catalog.pg_index AS i ON ct.oid = i.indrelid
              INNER JOIN pg_catalog.pg_class AS ci ON ci.oid = i.indexrelid
              WHERE (pg_catalog.pg_get_expr(i.indpred, i.indrelid) IS NULL)
                AND n.nspname !~ '^information_schema|catalog_history|pg_'
                AND (n.nspname IN ('public'))) AS tmp
        WHERE tmp.pos = 1""")), [
        ("public", "customers", "email"),
        ("public", "customers", "id"),
        ("public", "orders", "id"),
        ("public", "orders", "placed_at"),
    ])


def superset():
    engine = sa.create_engine(f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{DATABASE}")
    inspector = sa.inspect(engine)
    check("superset: schemas", inspector.get_schema_names(), ["eddy_catalog", "information_schema", "public"])
    check("superset: tables", inspector.get_table_names(), ["customers", "orders"])
    check("superset: views", inspector.get_view_names(), [])
    columns = inspector.get_columns("orders")
    check("superset: columns", [(c["name"], str(c["type"]), c["nullable"]) for c in columns], [
        ("id", "BIGINT", False), ("customer_id", "INTEGER", False),
        ("amount", "NUMERIC(10, 2)", True), ("placed_at", "TIMESTAMP", True),
    ])
    check("superset: defaults", [c["default"] for c in inspector.get_columns("customers")],
          [None, None, "'anonymous'::text"])
    check("superset: primary key", inspector.get_pk_constraint("orders")["constrained_columns"],
          ["id"])
    check("superset: foreign keys", [
        (f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"],
         f["options"]) for f in inspector.get_foreign_keys("orders")],
        [("orders_customer_id_fkey", ["customer_id"], "customers", ["id"],
          {"ondelete": "CASCADE"})])
    check("superset: indexes", [(i["name"], i["column_names"], i["unique"])
                                for i in inspector.get_indexes("orders")],
          [("orders_placed_at", ["placed_at"], False)])
    check("superset: unique constraints", [(u["name"], u["column_names"])
                                           for u in inspector.get_unique_constraints("customers")],
          [("customers_email_key", ["email"])])
    check("superset: table comment", inspector.get_table_comment("orders"),
          {"text": "Placed orders"})
    check("superset: column comments", [c["comment"] for c in columns],
          [None, None, "In euros", None])
    check("superset: check constraints", inspector.get_check_constraints("orders"), [])
    meta = sa.MetaData()
    meta.reflect(engine)
    check("superset: MetaData.reflect", sorted(meta.tables), ["customers", "orders"])
    check("superset: reflected foreign key",
          [str(fk.column) for fk in meta.tables["orders"].foreign_keys], ["customers.id"])
    engine.dispose()


def dbeaver(conn):
    check("dbeaver: session", rows(conn, "SELECT current_schema(), session_user"),
          [("public", USER)])
    rows(conn, "SHOW TRANSACTION ISOLATION LEVEL")
    rows(conn, "SELECT db.oid, db.* FROM pg_catalog.pg_database db WHERE datname = %s",
         (DATABASE,))
    namespaces = named(conn, """
        SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n
        LEFT OUTER JOIN pg_catalog.pg_description d
          ON d.objoid = n.oid AND d.objsubid = 0 AND d.classoid = 'pg_namespace'::regclass
        ORDER BY nspname""")
    public = [r["oid"] for r in namespaces if r["nspname"] == "public"]
    check("dbeaver: public namespace", len(public), 1)
    tables = rows(conn, """
        SELECT c.oid, c.relname, c.relkind, d.description,
               pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS partition_expr,
               pg_catalog.pg_get_partkeydef(c.oid) AS partition_key
        FROM pg_catalog.pg_class c
        LEFT OUTER JOIN pg_catalog.pg_description d
          ON d.objoid = c.oid AND d.objsubid = 0 AND d.classoid = 'pg_class'::regclass
        WHERE c.relnamespace = %s AND c.relkind NOT IN ('i', 'I', 'c')
        ORDER BY c.relname""", (public[0],))
    check("dbeaver: tables", [(r[1], r[2]) for r in tables], [("customers", "r"), ("orders", "r")])
    orders = [r[0] for r in tables if r[1] == "orders"][0]
    got = rows(conn, """
        SELECT c.relname, a.attname, a.attnum, a.attnotnull,
               pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) AS def_value, dsc.description
        FROM pg_catalog.pg_attribute a
        INNER JOIN pg_catalog.pg_class c ON (a.attrelid = c.oid)
        LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid = ad.adrelid AND a.attnum = ad.adnum)
        LEFT OUTER JOIN pg_catalog.pg_description dsc
          ON (c.oid = dsc.objoid AND a.attnum = dsc.objsubid)
        WHERE NOT a.attisdropped AND c.relkind NOT IN ('i', 'I', 'c') AND c.oid = %s
        ORDER BY a.attnum""", (orders,))
    check("dbeaver: columns", [r[1:5] for r in got], [
        ("id", 1, True, None), ("customer_id", 2, True, None), ("amount", 3, False, None),
        ("placed_at", 4, False, "now()")])
    got = named(conn, """
        SELECT c.oid, c.*, t.relname AS tabrelname, rt.relnamespace AS refnamespace,
               d.description,
               CASE WHEN c.contype = 'c' THEN "substring"(pg_get_constraintdef(c.oid), 7)
                    ELSE NULL END consrc_copy
        FROM pg_catalog.pg_constraint c
        INNER JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
        LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid = c.confrelid
        LEFT OUTER JOIN pg_catalog.pg_description d
          ON d.objoid = c.oid AND d.objsubid = 0 AND d.classoid = 'pg_constraint'::regclass
        WHERE c.conrelid = %s ORDER BY c.oid""", (orders,))
    check("dbeaver: constraints", sorted((r["conname"], r["contype"], r["tabrelname"]) for r in got),
          [("orders_customer_id_fkey", "f", "orders"), ("orders_pkey", "p", "orders")])
    got = rows(conn, """
        SELECT i.*, i.indkey AS keys, c.relname, c.relnamespace, c.relam, c.reltablespace,
               tc.relname AS tabrelname, dsc.description,
               pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS pred_expr,
               pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) AS expr,
               pg_catalog.pg_relation_size(i.indexrelid) AS index_rel_size,
               pg_catalog.pg_stat_get_numscans(i.indexrelid) AS index_num_scans
        FROM pg_catalog.pg_index i
        INNER JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
        INNER JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
        LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid = dsc.objoid
        WHERE i.indrelid = %s ORDER BY c.relname""", (orders,))
    check("dbeaver: indexes", len(got), 2)
    rows(conn, """
        SELECT x.oid, x.*, p.pronamespace AS func_schema_id, d.description
        FROM pg_catalog.pg_trigger x
        LEFT OUTER JOIN pg_catalog.pg_proc p ON p.oid = x.tgfoid
        LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = x.oid AND d.objsubid = 0
        WHERE x.tgrelid = %s AND NOT x.tgisinternal""", (orders,))
    rows(conn, "SELECT i.*, c.relnamespace FROM pg_catalog.pg_inherits i, pg_catalog.pg_class c "
               "WHERE i.inhrelid = %s AND c.oid = i.inhparent ORDER BY i.inhseqno", (orders,))
    rows(conn, "SELECT DISTINCT connamespace FROM pg_catalog.pg_constraint WHERE confrelid = %s",
         (orders,))
    rows(conn, "SELECT a.oid, a.*, pd.description FROM pg_catalog.pg_roles a "
               "LEFT JOIN pg_catalog.pg_shdescription pd ON a.oid = pd.objoid ORDER BY a.rolname")
    rows(conn, "SELECT t.oid, t.*, pg_tablespace_location(t.oid) loc "
               "FROM pg_catalog.pg_tablespace t ORDER BY t.oid")
    rows(conn, "SELECT c.oid, pg_catalog.pg_total_relation_size(c.oid) AS total_rel_size, "
               "pg_catalog.pg_relation_size(c.oid) AS rel_size FROM pg_class c "
               "WHERE c.relnamespace = %s", (public[0],))
    rows(conn, "SELECT string_agg(word, ',') FROM pg_catalog.pg_get_keywords() "
               "WHERE word <> ALL ('{a,abs,absolute,action}'::text[])")
    print("ok: dbeaver navigator queries")


def main():
    with psycopg.connect(host=HOST, port=PORT, user=USER, dbname=DATABASE,
                         autocommit=True) as conn:
        conn.execute(SCHEMA)
        grafana(conn)
        metabase(conn)
        dbeaver(conn)
    superset()


if __name__ == "__main__":
    sys.exit(main())
