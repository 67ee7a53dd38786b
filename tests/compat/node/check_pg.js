// node-postgres (pg): the extended protocol with text-format parameters
// (pg declares no types: the server infers them) and text results, a named
// prepared statement reused, an error then recovery.
//
// uuid, json and jsonb columns are described by their own OIDs: pg parses
// json and jsonb results (its default type parsers) and keeps uuids as
// strings.

'use strict';

const assert = require('node:assert/strict');
const { Client, types } = require('pg');

// Exact values: int8 and numeric as strings (pg's default), dates as text so
// that no local time zone is involved.
types.setTypeParser(types.builtins.DATE, (v) => v);
types.setTypeParser(types.builtins.TIMESTAMP, (v) => v);
types.setTypeParser(types.builtins.TIMESTAMPTZ, (v) => v);
types.setTypeParser(types.builtins.INTERVAL, (v) => v);

const CREATE = `CREATE TABLE compat_types (
    id integer NOT NULL,
    b boolean, i2 smallint, i4 integer, i8 bigint,
    f4 real, f8 double precision, n numeric(12,4),
    t text, v varchar(20), by bytea,
    d date, ts timestamp, tstz timestamptz, iv interval,
    u uuid, j json, jb jsonb
)`;

const WRITTEN = {
  b: true,
  i2: -12345,
  i4: 2000000000,
  i8: '9000000000000000000',
  f4: 1.5,
  f8: -2.25e10,
  n: '12345678.1234',
  t: "hello, ☃ 'quoted'",
  v: 'varchar',
  by: Buffer.from([0x00, 0x01, 0xfe, 0xff]),
  d: '2024-02-29',
  ts: '2024-02-29 12:34:56.789012',
  tstz: '2024-02-29 12:34:56.789012+00',
  iv: '1 day 02:03:04.5',
  u: '12345678-1234-5678-9abc-def012345678',
  j: JSON.stringify({ a: [1, 2, null], s: 'x"y' }),
  jb: JSON.stringify({ b: true, n: 1.5 }),
};

// What comes back: the server's text for each type, parsed by pg.
const EXPECTED = {
  ...WRITTEN,
  j: { a: [1, 2, null], s: 'x"y' },
  jb: { b: true, n: 1.5 },
};

function ok(what) {
  console.log(`ok: ${what}`);
}

async function main() {
  const client = new Client({
    host: process.env.EDDY_COMPAT_HOST || '127.0.0.1',
    port: Number(process.env.EDDY_COMPAT_PORT || 5433),
    user: 'eddy',
    database: 'eddy',
  });
  await client.connect();
  await client.query(CREATE);
  const columns = Object.keys(WRITTEN);
  const marks = columns.map((_, i) => `$${i + 2}`).join(', ');
  const inserted = await client.query(
    `INSERT INTO compat_types (id, ${columns.join(', ')}) VALUES ($1, ${marks})`,
    [1, ...columns.map((c) => WRITTEN[c])],
  );
  assert.equal(inserted.rowCount, 1);
  ok('insert');

  const { rows, fields } = await client.query(
    `SELECT ${columns.join(', ')} FROM compat_types WHERE id = $1`,
    [1],
  );
  assert.equal(rows.length, 1);
  for (const c of columns) {
    assert.deepEqual(rows[0][c], EXPECTED[c], `column ${c}`);
  }
  assert.deepEqual(
    fields.filter((f) => ['u', 'j', 'jb'].includes(f.name)).map((f) => f.dataTypeID),
    [2950, 114, 3802],
  );
  ok('row read back');

  // A uuid parameter in another of uuid's input forms matches the stored one.
  const byUuid = await client.query('SELECT id FROM compat_types WHERE u = $1', [
    '{12345678123456789ABCDEF012345678}',
  ]);
  assert.deepEqual(byUuid.rows, [{ id: 1 }]);
  ok('uuid parameter');
  await assert.rejects(
    client.query('INSERT INTO compat_types (id, j) VALUES ($1, $2)', [9, '{"a": }']),
    (e) => {
      assert.equal(e.code, '22P02');
      return true;
    },
  );
  ok('invalid json refused');

  const sum = await client.query('SELECT i4 + $1 AS s, t FROM compat_types WHERE v = $2', [
    7,
    'varchar',
  ]);
  assert.deepEqual(sum.rows, [{ s: 2000000007, t: WRITTEN.t }]);
  ok('parameterised SELECT');

  for (let i = 0; i < 3; i++) {
    const res = await client.query({
      name: 'by_id',
      text: 'SELECT id, i8 FROM compat_types WHERE id = $1',
      values: [1],
    });
    assert.deepEqual(res.rows, [{ id: 1, i8: WRITTEN.i8 }]);
  }
  ok('named prepared statement reused');

  await assert.rejects(client.query('SELECT * FROM no_such_table WHERE x = $1', [1]), (e) => {
    assert.equal(e.code, '42P01');
    return true;
  });
  ok('error SQLSTATE');
  const after = await client.query('SELECT $1::integer AS n', [2]);
  assert.deepEqual(after.rows, [{ n: 2 }]);
  ok('recovered after the error');
  await client.end();
}

main().catch((e) => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
