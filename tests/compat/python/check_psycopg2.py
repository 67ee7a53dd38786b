"""psycopg2: client-side interpolation (simple protocol, text format), in a
transaction as psycopg2 opens one by default; an error, ROLLBACK, recovery."""

import psycopg2
import psycopg2.errors
import psycopg2.extras

from common import (COLUMNS, CREATE, DATABASE, HOST, PORT, USER, VALUES, check, check_row,
                    fail, insert_sql, select_sql)



def main():
    conn = psycopg2.connect(host=HOST, port=PORT, user=USER, dbname=DATABASE)
    cur = conn.cursor()
    cur.execute(CREATE.format(table="compat_types"))
    conn.commit()
    # psycopg2 reads json and jsonb as parsed values by default; uuids need
    # register_uuid(), which also sends uuid.UUID values as '…'::uuid.
    psycopg2.extras.register_uuid(conn_or_curs=conn)
    values = dict(VALUES, j=psycopg2.extras.Json(VALUES["j"]),
                  jb=psycopg2.extras.Json(VALUES["jb"]))
    cur.execute(insert_sql("compat_types"), [1] + list(values.values()))
    check("insert rowcount", cur.rowcount, 1)
    conn.commit()
    cur.execute(select_sql("compat_types"), [1])
    row = list(cur.fetchone())
    check_row("row read back", row)

    cur.execute("SELECT i8 - %s, v FROM compat_types WHERE t = %s", [1, VALUES["t"]])
    check("parameterised SELECT", cur.fetchone(), (VALUES["i8"] - 1, "varchar"))
    cur.execute("SELECT id FROM compat_types WHERE u = %s", [VALUES["u"]])
    check("uuid compared with '…'::uuid", cur.fetchone(), (1,))

    try:
        cur.execute("SELECT * FROM no_such_table")
        fail("query of a missing table succeeded")
    except psycopg2.errors.UndefinedTable as e:
        check("error SQLSTATE", e.pgcode, "42P01")
    try:
        cur.execute("SELECT 1")
        fail("a statement after an error in a transaction succeeded")
    except psycopg2.errors.InFailedSqlTransaction as e:
        check("statement in a failed transaction", e.pgcode, "25P02")
    conn.rollback()
    cur.execute("SELECT %s + 1", [1])
    check("recovered after ROLLBACK", cur.fetchone()[0], 2)
    conn.close()


if __name__ == "__main__":
    main()
