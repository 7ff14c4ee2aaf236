// PostgreSQL wired in, on a real server: a Grafana INI with `type = postgres` keeps atrest's tables
// in PostgreSQL (no grafana.db appears), `openAtrest` takes a connection string or the application's
// pg.Pool (atrest's data keys committed on its own connection, never in the application's
// transaction), the CLI's `--db` takes a URL but never its password, `config show` redacts it, and a
// type atrest has no store for fails before any file is made; and the appliance walk-through (first boot,
// secrets, rotate, re-encrypt of a text and a jsonb target, status) on PostgreSQL.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { runCli } from '@atrest/cli';
import { openAtrest } from '@atrest/core';
import type { AtrestStatus } from '@atrest/core';
import { memoryStreams, rejection, startPostgres, tempDir, writeIn } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const server = await startPostgres();
t.teardown(() => server.stop());

/** A fresh database, and a directory with the key file's path for atrest on it. */
async function box(): Promise<{ dir: string; name: string; keyPath: string; shown: string }> {
  const dir = tempDir('atrest-pg-wiring-');
  const name = await server.createDatabase();
  return {
    dir,
    name,
    keyPath: join(dir, 'a.key'),
    shown: `postgres://${server.user}:***@127.0.0.1:${server.port}/${name}?sslmode=disable`,
  };
}

const keyOption = (keyPath: string): Record<string, string> => ({
  'security.encryption.file.default.key_path': keyPath,
});

async function count(url: string, sql: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(sql);
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

t.test('a Grafana INI with type = postgres: the tables are in PostgreSQL, no grafana.db is made', async (t) => {
  const b = await box();
  const ini = writeIn(
    b.dir,
    'grafana.ini',
    [
      '[paths]',
      `data = ${b.dir}`,
      '[database]',
      'type = postgres',
      `host = 127.0.0.1:${server.port}`,
      `name = ${b.name}`,
      `user = ${server.user}`,
      'path = grafana.db',
      '',
    ].join('\n'),
  );
  const env = { GF_DATABASE_PASSWORD: server.password };
  const a = await openAtrest({ app: 'gf', configFile: ini, env, options: keyOption(b.keyPath) });
  await a.secrets.set('datasource.token', 'value-in-postgres');
  t.equal(await a.secrets.getText('datasource.token'), 'value-in-postgres');
  t.equal((await a.status()).database, b.shown, 'status names the PostgreSQL database, password left out');
  await a.close();
  t.notOk(existsSync(join(b.dir, 'grafana.db')), 'no SQLite file beside the INI');
  t.equal(
    await count(server.url(b.name), 'SELECT count(*) AS n FROM atrest_secrets'),
    1,
    'the secret is in PostgreSQL',
  );
});

t.test('a type atrest has no store for fails before any file is made', async (t) => {
  const b = await box();
  const ini = writeIn(b.dir, 'grafana.ini', `[paths]\ndata = ${b.dir}\n[database]\ntype = mysql\npath = grafana.db\n`);
  const err = await rejection(openAtrest({ configFile: ini, env: {}, options: keyOption(b.keyPath) }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, /atrest has no MySQL store/);
  t.notOk(existsSync(join(b.dir, 'grafana.db')), 'no SQLite file');
  t.notOk(existsSync(b.keyPath), 'no key file');
});

t.test('openAtrest({ database }) with a connection string', async (t) => {
  const b = await box();
  const a = await openAtrest({ database: server.url(b.name), env: {}, options: keyOption(b.keyPath) });
  await a.secrets.set('s', 'v');
  t.equal(await a.secrets.getText('s'), 'v');
  t.equal((await a.status()).database, b.shown, 'the password of the connection string is not shown');
  await a.close();
});

t.test("openAtrest({ database }) with the application's pg.Pool: atrest commits on its own connection", async (t) => {
  const b = await box();
  const url = server.url(b.name);
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  t.teardown(() => pool.end());
  await pool.query('CREATE TABLE app_rows (id integer PRIMARY KEY, secret text)');
  const a = await openAtrest({ database: pool, env: {}, options: keyOption(b.keyPath) });
  const app = await pool.connect();
  await app.query('BEGIN');
  const sealed = await a.encrypt('in-the-application-transaction', { context: 'app_rows.secret:1' });
  await app.query('INSERT INTO app_rows VALUES (1, $1)', [sealed.toString('base64')]);
  await a.secrets.set('made-during-it', 'kept');
  await app.query('ROLLBACK');
  app.release();
  await a.close();
  t.equal(await count(url, 'SELECT count(*) AS n FROM app_rows'), 0, "the application's transaction rolled back");
  t.equal((await pool.query('SELECT 1 AS one')).rows[0]?.one, 1, "close() leaves the application's pool open");

  const again = await openAtrest({ database: url, env: {}, options: keyOption(b.keyPath) });
  t.equal(await again.secrets.getText('made-during-it'), 'kept', "atrest's writes outlived the rollback");
  t.equal(
    (await again.decrypt(sealed, { context: 'app_rows.secret:1' })).toString('utf8'),
    'in-the-application-transaction',
    "the data key of a value made inside the application's transaction was committed",
  );
  await again.close();
});

t.test('the CLI: --db takes a URL, the password from the environment, never from argv', async (t) => {
  const b = await box();
  const env = { ATREST_DATABASE_PASSWORD: server.password, ATREST_ENCRYPTION_KEY_PATH: b.keyPath };
  const cli = async (argv: string[], runEnv: Record<string, string> = env) => {
    const m = memoryStreams();
    const code = await runCli(argv, { env: runEnv, appRoot: repoRoot, io: m.io });
    return { code, out: m.out().toString('utf8'), err: m.err() };
  };
  const db = `postgres://${server.user}@127.0.0.1:${server.port}/${b.name}`;
  const init = await cli(['--db', db, 'init']);
  t.equal(init.code, 0, init.err);
  t.match(init.out, b.shown, 'init names the database, password left out');
  const status = await cli(['--db', db, 'status', '--json']);
  t.equal(status.code, 0, status.err);
  t.equal((JSON.parse(status.out) as AtrestStatus).database, b.shown);

  const onArgv = await cli(['--db', server.url(b.name), 'status']);
  t.equal(onArgv.code, 2, 'a password in --db is a usage error');
  t.match(onArgv.err, /ATREST_USAGE: --db postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
  t.match(onArgv.err, /ATREST_DATABASE_PASSWORD/, 'naming where the password goes');
  t.notMatch(onArgv.err, server.password, 'the password is not repeated');

  const show = await cli(['config', 'show'], { ATREST_DATABASE_URL: server.url(b.name) });
  t.equal(show.code, 0, show.err);
  t.match(show.out, `postgres://postgres:***@127.0.0.1:${server.port}/${b.name}`, 'host, port, database, user shown');
  t.notMatch(show.out, server.password, 'the password is not');
});

t.test('the appliance walk-through on PostgreSQL: first boot, secrets, rotate, re-encrypt, status', async (t) => {
  const b = await box();
  const url = server.url(b.name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  t.teardown(() => pool.end());
  await pool.query('CREATE TABLE datasources (id integer PRIMARY KEY, password text, json_data jsonb)');
  const options = {
    ...keyOption(b.keyPath),
    'secrets_migration.targets': 'datasources.password datasources.json_data:json',
  };
  const a = await openAtrest({ database: url, env: {}, options });
  const rows = 30;
  for (let id = 1; id <= rows; id++) {
    // Every third password is legacy plaintext, as before encryption was turned on.
    const password = id % 3 === 0 ? `pw-${id}` : await a.encryptText(`pw-${id}`, { target: 'datasources.password' });
    const token = await a.encryptText(`tok-${id}`, { target: 'datasources.json_data', field: 'token' });
    await pool.query('INSERT INTO datasources VALUES ($1, $2, $3)', [id, password, { token, port: id }]);
  }
  await a.secrets.set('smtp_password', 's3cret');
  await a.close();

  const env = { ATREST_DATABASE_URL: url, ATREST_ENCRYPTION_KEY_PATH: b.keyPath };
  const cli = async (argv: string[]) => {
    const m = memoryStreams();
    const code = await runCli(
      [
        '--config',
        writeIn(b.dir, 'app.ini', '[secrets_migration]\ntargets = datasources.password datasources.json_data:json\n'),
        ...argv,
      ],
      { env, appRoot: repoRoot, io: m.io },
    );
    return { code, out: m.out().toString('utf8'), err: m.err() };
  };
  const rotate = await cli(['rotate-encryption-key']);
  t.equal(rotate.code, 0, rotate.err);
  const re = await cli(['secrets-migration', 're-encrypt', '--json']);
  t.equal(re.code, 0, re.err);
  const reports = JSON.parse(re.out) as {
    target: string;
    scanned: number;
    failed: number;
    plaintextEncrypted: number;
  }[];
  t.same(
    reports.map((r) => [r.target, r.scanned, r.failed]),
    [
      ['atrest_secrets', 1, 0],
      ['datasources.password', rows, 0],
      ['datasources.json_data:json', rows, 0],
    ],
  );
  t.equal(reports[1]?.plaintextEncrypted, rows / 3, 'the legacy plaintext passwords were encrypted');
  const status = await cli(['status', '--json']);
  t.equal(status.code, 0, status.err);
  t.equal((JSON.parse(status.out) as AtrestStatus).database, b.shown);

  const after = await openAtrest({ database: url, env: {}, options });
  const { rows: stored } = await pool.query<{
    id: number;
    password: string;
    json_data: { token: string; port: number };
  }>('SELECT id, password, json_data FROM datasources ORDER BY id');
  let same = 0;
  for (const r of stored) {
    const password = await after.decryptText(r.password, { target: 'datasources.password' });
    const token = await after.decryptText(r.json_data.token, { target: 'datasources.json_data', field: 'token' });
    if (password === `pw-${r.id}` && token === `tok-${r.id}` && r.json_data.port === r.id) same++;
  }
  t.equal(same, rows, 'every value reads back, encrypted, after rotate and re-encrypt');
  t.equal(await after.secrets.getText('smtp_password'), 's3cret');
  await after.close();
});
