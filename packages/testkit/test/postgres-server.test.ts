// The PostgreSQL test server: a real server on 127.0.0.1 with TLS, password and client-certificate
// users, databases, a restart that keeps the data, a stop that leaves nothing running, and a
// server (and its directory) that does not outlive a test process killed with SIGKILL.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import t from 'tap';
import { startPostgres } from '@atrest/testkit';

const server = await startPostgres();
t.teardown(() => server.stop());

async function query(config: pg.ClientConfig, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

const sslOf = 'SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

t.test('listens on 127.0.0.1 with the superuser and a password', async (t) => {
  t.equal(server.host, '127.0.0.1');
  const rows = await query(
    { connectionString: server.url() },
    "SELECT current_user, current_setting('listen_addresses') AS l",
  );
  t.same(rows, [{ current_user: 'postgres', l: '127.0.0.1' }]);
  await t.rejects(
    query(
      { host: '127.0.0.1', port: server.port, user: 'postgres', password: 'wrong', database: 'postgres' },
      'SELECT 1',
    ),
    { code: '28P01' },
    'a wrong password is refused',
  );
});

t.test('serves TLS with a certificate of its CA for 127.0.0.1 and localhost', async (t) => {
  const ca = readFileSync(server.tls.caFile);
  for (const host of ['127.0.0.1', 'localhost']) {
    const rows = await query(
      { host, port: server.port, user: server.user, password: server.password, database: 'postgres', ssl: { ca } },
      sslOf,
    );
    t.same(rows, [{ ssl: true, client_dn: null }], `verified TLS to ${host}`);
  }
});

t.test('databases and password users', async (t) => {
  const alice = await server.createPasswordUser('alice', "it's @ secret/1");
  const db = await server.createDatabase({ owner: 'alice' });
  const config = { host: '127.0.0.1', port: server.port, user: 'alice', password: alice.password, database: db };
  await query(config, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1)');
  t.same(await query(config, 'SELECT current_database() AS d, count(*)::int AS n FROM t'), [{ d: db, n: 1 }]);
  t.not(await server.createDatabase(), db, 'each database gets a fresh name');
});

t.test('certificate users authenticate with their client certificate only, over TLS', async (t) => {
  const bob = await server.createCertificateUser('bob');
  t.equal((await import('node:fs')).statSync(bob.keyFile).mode & 0o777, 0o600, 'the key file is 0600');
  const base = { host: '127.0.0.1', port: server.port, user: 'bob', database: 'postgres' };
  const ca = readFileSync(server.tls.caFile);
  const ssl = { ca, cert: readFileSync(bob.certFile), key: readFileSync(bob.keyFile) };
  t.same(await query({ ...base, ssl }, sslOf), [{ ssl: true, client_dn: '/CN=bob' }]);
  await t.rejects(query({ ...base, ssl: { ca } }, 'SELECT 1'), { code: '28000' }, 'no certificate: refused');
  await t.rejects(query({ ...base, password: 'x', ssl: false }, 'SELECT 1'), { code: '28000' }, 'no TLS: refused');
});

t.test('a restart keeps the data and the port', async (t) => {
  const db = await server.createDatabase();
  const url = server.url(db);
  await query({ connectionString: url }, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')");
  const port = server.port;
  await server.restart();
  t.equal(server.port, port);
  t.same(await query({ connectionString: url }, 'SELECT v FROM kept'), [{ v: 'before' }]);
});

t.test('stop ends the server and removes its directory', async (t) => {
  const other = await startPostgres();
  const dataDir = await dataDirectory(other.url());
  t.ok(existsSync(dataDir));
  await other.stop();
  await other.stop();
  t.notOk(existsSync(dirname(dataDir)), 'directory removed');
  await t.rejects(query({ connectionString: other.url() }, 'SELECT 1'), { code: 'ECONNREFUSED' }, 'nothing listens');
});

t.test('a server outlives no test process: SIGKILL of its owner ends it', async (t) => {
  const testkit = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.js');
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { startPostgres } = await import(${JSON.stringify(testkit)});
const s = await startPostgres();
console.log(JSON.stringify({ url: s.url() }));
setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(String(d))));
  const { url } = JSON.parse(line) as { url: string };
  const dir = await dataDirectory(url);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  t.equal(await exited, null, 'the owner was killed');
  let refused = false;
  for (let i = 0; i < 300 && !refused; i++) {
    refused = await query({ connectionString: url }, 'SELECT 1').then(
      () => false,
      (err: { code?: string }) => err.code === 'ECONNREFUSED',
    );
    if (!refused) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(refused, 'the server went away with its owner');
  for (let i = 0; i < 100 && existsSync(dirname(dir)); i++) await new Promise((r) => setTimeout(r, 100));
  t.notOk(existsSync(dirname(dir)), 'and its directory with it');
});

async function dataDirectory(url: string): Promise<string> {
  const [row] = await query({ connectionString: url }, "SELECT current_setting('data_directory') AS dir");
  return String(row?.['dir']);
}
