"""asyncpg: the extended protocol with no declared parameter types (the
server infers them), binary format for parameters and results, named
prepared statements reused, a cursor fetching in pieces (Execute with
max_rows, PortalSuspended, Execute again), an error then recovery."""

import asyncio
import json

import asyncpg

from common import (CREATE, DATABASE, HOST, JSON_TEXT, JSONB_TEXT, PORT, USER, VALUES, check,
                    check_row, fail)


def cols():
    return list(VALUES)


async def main():
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database=DATABASE)
    await conn.execute(CREATE.format(table="compat_types"))
    marks = ", ".join(f"${i}" for i in range(1, len(VALUES) + 2))
    insert = f"INSERT INTO compat_types (id, {', '.join(cols())}) VALUES ({marks})"
    # The server infers each parameter's type from its column, and asyncpg
    # encodes by it in binary: a uuid.UUID as 16 bytes, json as its text,
    # jsonb as version 1 and its text. asyncpg's json and jsonb are strings.
    values = dict(VALUES, j=JSON_TEXT, jb=json.dumps(VALUES["jb"]))
    status = await conn.execute(insert, 1, *values.values())
    check("insert status", status, "INSERT 0 1")
    row = await conn.fetchrow(f"SELECT {', '.join(cols())} FROM compat_types WHERE id = $1", 1)
    check_row("row read back (binary)", tuple(row), dict(VALUES, j=JSON_TEXT, jb=JSONB_TEXT))
    check("uuid parameter compared with a uuid column",
          await conn.fetchval("SELECT id FROM compat_types WHERE u = $1", VALUES["u"]), 1)
    try:
        await conn.execute("INSERT INTO compat_types (id, jb) VALUES ($1, $2)", 9, "{oops")
        fail("invalid jsonb was accepted")
    except asyncpg.exceptions.InvalidTextRepresentationError as e:
        check("invalid jsonb SQLSTATE", e.sqlstate, "22P02")

    got = await conn.fetchrow("SELECT i4 + $1, f8 * $2 FROM compat_types WHERE id = $3",
                              5, 2.0, 1)
    check("parameterised SELECT (inferred types)", tuple(got), (2_000_000_005, -4.5e10))

    stmt = await conn.prepare("SELECT t, n FROM compat_types WHERE id = $1")
    for _ in range(3):
        check("prepared statement reused", tuple(await stmt.fetchrow(1)),
              (VALUES["t"], VALUES["n"]))

    await conn.executemany("INSERT INTO compat_types (id, t) VALUES ($1, $2)",
                           [(10 + i, f"row {i}") for i in range(5)])
    async with conn.transaction():
        cursor = await conn.cursor("SELECT id FROM compat_types WHERE id >= $1 ORDER BY id", 10)
        check("cursor fetch(2)", [r[0] for r in await cursor.fetch(2)], [10, 11])
        check("cursor fetch(2) again", [r[0] for r in await cursor.fetch(2)], [12, 13])
        check("cursor fetch rest", [r[0] for r in await cursor.fetch(10)], [14])

    try:
        await conn.fetch("SELECT * FROM no_such_table WHERE x = $1", 1)
        fail("query of a missing table succeeded")
    except asyncpg.exceptions.UndefinedTableError as e:
        check("error SQLSTATE", e.sqlstate, "42P01")
    check("recovered after the error", await conn.fetchval("SELECT $1::bigint + 1", 41), 42)
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
