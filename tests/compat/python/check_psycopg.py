"""psycopg 3: text and binary formats (params and results), server-side
prepared statements (prepare=True), an error then recovery, a transaction."""

import psycopg
from psycopg.types.json import Json, Jsonb

from common import (CREATE, DATABASE, HOST, PORT, USER, VALUES, check, check_row,
                    fail, insert_sql, select_sql)


def params(id_):
    values = dict(VALUES, j=Json(VALUES["j"]), jb=Jsonb(VALUES["jb"]))
    return [id_] + [values[c] for c in values]


def main():
    conn = psycopg.connect(host=HOST, port=PORT, user=USER, dbname=DATABASE, autocommit=True)
    cur = conn.cursor()
    cur.execute(CREATE.format(table="compat_types"))
    for id_, binary in [(1, False), (2, True)]:
        cur.execute(insert_sql("compat_types"), params(id_), binary=binary)
        check(f"insert (binary={binary}) rowcount", cur.rowcount, 1)
    for id_ in (1, 2):
        for binary in (False, True):
            cur.execute(select_sql("compat_types"), [id_], binary=binary)
            check_row(f"row {id_} read back (binary results={binary})", cur.fetchone())

    # psycopg 3 declares int2 for small Python ints: decoded by that OID.
    cur.execute("SELECT i4 + %s, t FROM compat_types WHERE id = %s", [1, 2])
    check("parameterised SELECT (int2-declared params)", cur.fetchone(),
          (2_000_000_001, VALUES["t"]))
    cur.execute("SELECT %s::bigint * 2, %s::text || '!'", [21, "hi"], binary=True)
    check("untyped SELECT params (binary)", cur.fetchone(), (42, "hi!"))
    for binary in (False, True):
        cur.execute("SELECT id FROM compat_types WHERE u = %s ORDER BY id", [VALUES["u"]],
                    binary=binary)
        check(f"uuid parameter (binary={binary})", cur.fetchall(), [(1,), (2,)])
    try:
        cur.execute("INSERT INTO compat_types (id, u) VALUES (%s, %s)", [9, "not-a-uuid"])
        fail("an invalid uuid was accepted")
    except psycopg.errors.InvalidTextRepresentation as e:
        check("invalid uuid SQLSTATE", e.sqlstate, "22P02")

    for i in range(4):
        id_ = 1 + i % 2
        cur.execute("SELECT id, i8 FROM compat_types WHERE id = %s", [id_], prepare=True)
        check(f"prepared statement, run {i + 1}", cur.fetchone(), (id_, VALUES["i8"]))

    try:
        cur.execute("SELECT * FROM no_such_table WHERE x = %s", [1])
        fail("query of a missing table succeeded")
    except psycopg.errors.UndefinedTable as e:
        check("error SQLSTATE", e.sqlstate, "42P01")
    cur.execute("SELECT %s::integer + 1", [1])
    check("recovered after the error", cur.fetchone()[0], 2)

    # A transaction: BEGIN, an INSERT with several rows, COMMIT.
    conn.autocommit = False
    with conn.transaction():
        cur.execute("INSERT INTO compat_types (id, t) VALUES (%s, %s), (%s, %s)",
                    [10, "a", 11, "b"])
    cur.execute("SELECT id, t FROM compat_types WHERE id >= %s ORDER BY id", [10])
    check("rows committed in a transaction", cur.fetchall(), [(10, "a"), (11, "b")])
    conn.close()


if __name__ == "__main__":
    main()
