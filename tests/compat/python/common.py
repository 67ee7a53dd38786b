"""Shared by the Python compatibility checks: the connection settings the
Rust driver passes (EDDY_COMPAT_HOST / EDDY_COMPAT_PORT), the table of every
type, the values written and the exact values expected back.

Every column must come back as the Python type the driver maps its
PostgreSQL type to (decoded by the OID the server describes it with), equal
to what was written: uuid as `uuid.UUID`, json and jsonb parsed by the
drivers that parse them. A driver whose default mapping differs passes its
own expectations (asyncpg returns json and jsonb as the text PostgreSQL
prints: `JSON_TEXT`, `JSONB_TEXT`).
"""

import datetime as dt
import decimal
import json
import os
import sys
import uuid

HOST = os.environ.get("EDDY_COMPAT_HOST", "127.0.0.1")
PORT = int(os.environ.get("EDDY_COMPAT_PORT", "5433"))
USER = "eddy"
DATABASE = "eddy"

CREATE = """CREATE TABLE {table} (
    id integer NOT NULL,
    b boolean, i2 smallint, i4 integer, i8 bigint,
    f4 real, f8 double precision, n numeric(12,4),
    t text, v varchar(20), by bytea,
    d date, ts timestamp, tstz timestamptz, iv interval,
    u uuid, j json, jb jsonb
)"""

COLUMNS = ["b", "i2", "i4", "i8", "f4", "f8", "n", "t", "v", "by",
           "d", "ts", "tstz", "iv", "u", "j", "jb"]

UUID = uuid.UUID("12345678-1234-5678-9abc-def012345678")
JSON = {"a": [1, 2, None], "s": "x\"y"}
JSONB = {"n": 1.5, "b": True, "aa": "ü"}
# json keeps the text written; jsonb is stored as PostgreSQL prints it
# (keys shorter first, then in byte order; `": "` and `", "` separators).
JSON_TEXT = json.dumps(JSON, separators=(",", ":"))
JSONB_TEXT = '{"b": true, "n": 1.5, "aa": "ü"}'

# One row of values; floats are exact in binary so equality is exact.
VALUES = {
    "b": True,
    "i2": -12345,
    "i4": 2_000_000_000,
    "i8": 9_000_000_000_000_000_000,
    "f4": 1.5,
    "f8": -2.25e10,
    "n": decimal.Decimal("12345678.1234"),
    "t": "hello, ☃ 'quoted'",
    "v": "varchar",
    "by": b"\x00\x01\xfe\xff",
    "d": dt.date(2024, 2, 29),
    "ts": dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
    "tstz": dt.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=dt.timezone.utc),
    "iv": dt.timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=500000),
    "u": UUID,
    "j": JSON,
    "jb": JSONB,
}


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def normalise(column, value):
    """The value as compared: psycopg2 reads bytea as a memoryview, asyncpg
    uuids as its own subclass of uuid.UUID."""
    if column == "by" and isinstance(value, memoryview):
        return bytes(value)
    if column == "u" and isinstance(value, uuid.UUID):
        return uuid.UUID(bytes=value.bytes)
    return value


def check_row(what, row, expected=VALUES):
    """`row` is a sequence in COLUMNS order (id excluded)."""
    row = list(row)
    if len(row) != len(COLUMNS):
        fail(f"{what}: {len(row)} columns, expected {len(COLUMNS)}: {row!r}")
    for column, got in zip(COLUMNS, row):
        want = expected[column]
        got_n = normalise(column, got)
        if type(got_n) is not type(want) or got_n != want:
            fail(f"{what}: column {column}: got {got!r} ({type(got).__name__}), "
                 f"expected {want!r} ({type(want).__name__})")
    print(f"ok: {what}")


def check(what, got, want):
    if got != want:
        fail(f"{what}: got {got!r}, expected {want!r}")
    print(f"ok: {what}")


def select_sql(table):
    return f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE id = %s"


def insert_sql(table, placeholder="%s"):
    marks = ", ".join([placeholder] * (len(COLUMNS) + 1))
    return f"INSERT INTO {table} (id, {', '.join(COLUMNS)}) VALUES ({marks})"
