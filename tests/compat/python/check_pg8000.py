"""pg8000: the extended protocol with text-format parameters declared by
pg8000 (or left unknown), text results, an error then recovery."""

import pg8000.dbapi
import pg8000.native

from common import (CREATE, DATABASE, HOST, PORT, USER, VALUES, check, check_row,
                    fail)


def main():
    conn = pg8000.native.Connection(USER, host=HOST, port=PORT, database=DATABASE)
    conn.run(CREATE.format(table="compat_types"))
    names = ", ".join(VALUES)
    marks = ", ".join(f":{c}" for c in VALUES)
    # pg8000 sends a uuid.UUID as uuid and a dict as jsonb (in text), and
    # parses uuid, json and jsonb results.
    conn.run(f"INSERT INTO compat_types (id, {names}) VALUES (:id, {marks})", id=1, **VALUES)
    check("insert row count", conn.row_count, 1)
    rows = conn.run(f"SELECT {names} FROM compat_types WHERE id = :id", id=1)
    check_row("row read back", rows[0])

    check("parameterised SELECT",
          conn.run("SELECT i2 * :k, d FROM compat_types WHERE b = :b", k=2, b=True),
          [[-24690, VALUES["d"]]])

    ps = conn.prepare("SELECT ts FROM compat_types WHERE id = :id")
    for _ in range(3):
        check("prepared statement reused", ps.run(id=1), [[VALUES["ts"]]])
    ps.close()

    try:
        conn.run("SELECT * FROM no_such_table")
        fail("query of a missing table succeeded")
    except pg8000.native.DatabaseError as e:
        check("error SQLSTATE", e.args[0]["C"], "42P01")
    check("recovered after the error", conn.run("SELECT :x::integer + 1", x=1), [[2]])
    conn.close()


if __name__ == "__main__":
    main()
