// What only the PostgreSQL store has: targets on json/jsonb and varchar columns and on tables keyed
// by text, tables it cannot page (no or a composite primary key), nodes that open an empty database
// at once, and the application's own pg.Pool.
import pg from 'pg';
import t, { type Test } from 'tap';
import { type RowId, STORE_SCHEMA_VERSION, type TargetSpec } from '@atrest/core';
import { openPostgresStore, postgresSettings } from '@atrest/store-postgres';
import { startPostgres } from '@atrest/testkit';

const server = await startPostgres();
t.teardown(() => server.stop());

async function fresh(t: Test) {
  const url = server.url(await server.createDatabase());
  const app = new pg.Pool({ connectionString: url, max: 2 });
  const store = await openPostgresStore(postgresSettings({ url }));
  t.teardown(async () => {
    await store.close();
    await app.end();
  });
  return { url, app, store };
}

const target = (table: string, column: string, json = false): TargetSpec => ({
  spec: `${table}.${column}${json ? ':json' : ''}`,
  table,
  column,
  json,
});

t.test('json and jsonb cells are read as text and written back as JSON', async (t) => {
  const { app, store } = await fresh(t);
  await app.query('CREATE TABLE ds (id bigint PRIMARY KEY, a jsonb, b json, n integer)');
  await app.query(`INSERT INTO ds VALUES (1, '{"password": "x"}', '{"k":  1}', 5), (2, NULL, NULL, NULL)`);
  for (const [column, first] of [
    ['a', '{"password": "x"}'],
    ['b', '{"k":  1}'],
  ] as const) {
    const spec = target('ds', column, true);
    const rows = await store.readTargetRows(spec, undefined, 10);
    t.same(
      rows.map((r) => [String(r.id), r.cell]),
      [
        ['1', first],
        ['2', null],
      ],
      `${column}: the cells as the database prints them`,
    );
    const lost = await store.swapTargetCells(
      spec,
      rows.map((row) => ({ row, cell: '{"password": "atrest:v1:abc"}' })),
    );
    t.same(lost, [], `${column}: written`);
    const { rows: now } = await app.query(`SELECT ${column}->>'password' AS p FROM ds ORDER BY id`);
    t.same(now, [{ p: 'atrest:v1:abc' }, { p: 'atrest:v1:abc' }], `${column}: a JSON value in the column`);
  }
  t.same(
    (await store.readTargetRows(target('ds', 'n'), undefined, 10)).map((r) => r.cell),
    [null, null],
    'a column that is not text reads as null',
  );
});

t.test('a value too long for a varchar column is refused, never cut short', async (t) => {
  const { app, store } = await fresh(t);
  await app.query(
    "CREATE TABLE users (id serial PRIMARY KEY, secret varchar(12)); INSERT INTO users (secret) VALUES ('short')",
  );
  const spec = target('users', 'secret');
  const [row] = await store.readTargetRows(spec, undefined, 10);
  if (row === undefined) throw new Error('no row');
  await t.rejects(store.swapTargetCells(spec, [{ row, cell: 'atrest:v1:much-longer-than-twelve' }]), {
    code: 'ATREST_STORE',
    message: /write users\.secret to the PostgreSQL database .*too long.*SQLSTATE 22001/,
  });
  t.same((await app.query('SELECT secret FROM users')).rows, [{ secret: 'short' }], 'the cell is as it was');
  t.same(await store.swapTargetCells(spec, [{ row, cell: 'fits' }]), [], 'a value that fits is written');
});

t.test('a table keyed by text is paged in key order', async (t) => {
  const { app, store } = await fresh(t);
  await app.query('CREATE TABLE tokens (name text PRIMARY KEY, token text)');
  const names = ['b', 'a', 'd', 'c', 'e'];
  for (const n of names) await app.query('INSERT INTO tokens VALUES ($1, $2)', [n, `t-${n}`]);
  const spec = target('tokens', 'token');
  const seen: RowId[] = [];
  for (let after: RowId | undefined; ; ) {
    const page = await store.readTargetRows(spec, after, 2);
    const last = page.at(-1);
    if (last === undefined) break;
    seen.push(...page.map((r) => r.id));
    after = last.id;
  }
  t.same(seen, ['a', 'b', 'c', 'd', 'e']);
  t.same(
    (await store.rereadTargetRows(spec, ['c', 'zz'])).map((r) => [r.id, r.cell]),
    [['c', 't-c']],
  );
});

t.test('a table atrest cannot page is a clear configuration error', async (t) => {
  const { app, store } = await fresh(t);
  await app.query(
    'CREATE TABLE loose (name text, secret text); CREATE TABLE one (id int PRIMARY KEY, secret text);' +
      'CREATE TABLE pair (a int, b int, secret text, PRIMARY KEY (a, b))',
  );
  await t.rejects(store.countTargetRows(target('loose', 'secret')), {
    code: 'ATREST_CONFIG_INVALID',
    message: /loose\.secret: the table loose has no primary key, and atrest pages a target by a single-column/,
  });
  await t.rejects(store.readTargetRows(target('pair', 'secret'), undefined, 5), {
    code: 'ATREST_CONFIG_INVALID',
    message: /a primary key of 2 columns/,
  });
  await t.rejects(store.countTargetRows(target('missing', 'secret')), {
    code: 'ATREST_CONFIG_INVALID',
    message: /names the table missing, which is not in this database/,
  });
  await t.rejects(store.countTargetRows(target('one', 'nope')), {
    code: 'ATREST_CONFIG_INVALID',
    message: /the table one has no column nope/,
  });
});

t.test('nodes opening an empty database at once make one set of tables', async (t) => {
  const url = server.url(await server.createDatabase());
  const stores = await Promise.all(Array.from({ length: 6 }, () => openPostgresStore(postgresSettings({ url }))));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  t.same(
    await Promise.all(stores.map((s) => s.schemaVersion())),
    stores.map(() => STORE_SCHEMA_VERSION),
  );
  const app = new pg.Client({ connectionString: url });
  await app.connect();
  t.teardown(() => app.end());
  t.same(
    (await app.query('SELECT version FROM atrest_schema ORDER BY version')).rows,
    Array.from({ length: STORE_SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })),
    'each version recorded once',
  );
});

t.test("the application's own pg.Pool: used, and left open on close", async (t) => {
  const url = server.url(await server.createDatabase());
  const pool = new pg.Pool({ connectionString: url });
  t.teardown(() => pool.end());
  const store = await openPostgresStore(pool);
  await store.putSecret('s', Buffer.from('v'), false);
  await store.close();
  t.same((await pool.query('SELECT name FROM atrest_secrets')).rows, [{ name: 's' }], 'the pool still works');
  const broken = new pg.Pool({ connectionString: `${url}_missing` });
  t.teardown(() => broken.end());
  await t.rejects(
    openPostgresStore(broken),
    {
      code: 'ATREST_STORE',
      message:
        /set up its tables in the PostgreSQL database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1.*_missing.*not exist/,
    },
    'a pool that cannot connect: the error shows the pool without its password',
  );
});
