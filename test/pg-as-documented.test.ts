// PostgreSQL as operators write it, through the CLI, against a real server with TLS: Metabase's
// SSL doc (`jdbc:postgresql://…?sslmode=verify-full&sslrootcert=…` in the connection string, the
// passphrase from MB_ENCRYPTION_SECRET_KEY, then rotate-encryption-key); a Grafana INI with
// `[database] type = postgres` and its keys (password through $__file{}, verify-full with
// server_cert_name, or a client certificate); and docs/SEVERAL-NODES.md's VACUUM step, run as
// printed, taking the plaintext re-encrypt left in dead tuples out of the table's file.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import t from 'tap';
import { runCli } from '@atrest/cli';
import type { AtrestStatus } from '@atrest/core';
import { createTestTls, memoryStreams, startPostgres, tempDir, writeIn } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const server = await startPostgres();
t.teardown(() => server.stop());

type Cli = (argv: string[], input?: string) => Promise<{ code: number; out: string; err: string }>;

function cliWith(env: Record<string, string>): Cli {
  return async (argv, input = '') => {
    const m = memoryStreams(input);
    const code = await runCli(argv, { env, appRoot: repoRoot, io: m.io });
    return { code, out: m.out().toString('utf8'), err: m.err() };
  };
}

t.test("Metabase's SSL doc as written: jdbc URL with sslmode=verify-full&sslrootcert, then rotate", async (t) => {
  const dir = tempDir('atrest-mb-');
  const { user, password } = await server.createPasswordUser('metabase');
  const name = await server.createDatabase({ owner: user });
  // Step 5 of the doc: the options appended to the connection string, with the certificate's path.
  const options = `sslmode=verify-full&sslrootcert=${server.tls.caFile}`;
  const jdbc = `jdbc:postgresql://localhost:${server.port}/${name}?user=${user}&password=${password}&${options}`;
  const env = { MB_DATABASE_URL: jdbc, MB_ENCRYPTION_SECRET_KEY: 'old passphrase of sixteen+ chars' };
  const cli = cliWith(env);
  t.equal((await cli(['--app', 'mb', 'init'])).code, 0, 'init on the TLS connection');
  const set = await cli(['--app', 'mb', 'secrets', 'set', 'db.keystore'], 'keystore bytes');
  t.equal(set.code, 0, set.err);
  const status = await cli(['--app', 'mb', 'status', '--json']);
  t.equal(status.code, 0, status.err);
  const shown = (JSON.parse(status.out) as AtrestStatus).database;
  t.notMatch(shown, password, 'status shows the database without its password');
  t.match(shown, `localhost:${server.port}/${name}`, 'and names host, port and database');
  // Metabase's rotate-encryption-key: the new passphrase from stdin, never argv.
  const rotate = await cli(['--app', 'mb', 'rotate-encryption-key'], 'new passphrase of sixteen+ chars');
  t.equal(rotate.code, 0, rotate.err);
  const after = cliWith({ ...env, MB_ENCRYPTION_SECRET_KEY: 'new passphrase of sixteen+ chars' });
  const get = await after(['--app', 'mb', 'secrets', 'get', 'db.keystore']);
  t.equal(get.out, 'keystore bytes', 'the secret reads back with the new passphrase');
  const old = await cli(['--app', 'mb', 'secrets', 'get', 'db.keystore']);
  t.not(old.code, 0, 'and no longer with the old one');

  // verify-full checks the server against the certificate given: another CA is refused.
  const otherCa = await createTestTls({ name: 'another CA', dir });
  const wrong = cliWith({ ...env, MB_DATABASE_URL: jdbc.replace(server.tls.caFile, otherCa.caFile) });
  const refused = await wrong(['--app', 'mb', 'status']);
  t.equal(refused.code, 2, 'a server certificate from another CA: refused (a configuration error)');
  t.match(refused.err, /verify-full/, 'naming the mode');
  t.match(refused.err, otherCa.caFile, 'and the certificate file');
  t.notMatch(refused.err, password, 'never the password');
});

t.test('a Grafana INI with [database] type = postgres and its keys, through the CLI', async (t) => {
  const dir = tempDir('atrest-gf-');
  const { user, password } = await server.createPasswordUser('grafana');
  const name = await server.createDatabase({ owner: user });
  const app = new pg.Pool({ connectionString: server.url(name), max: 1 });
  t.teardown(() => app.end());
  const passwordFile = writeIn(dir, 'db-password', `${password}\n`);
  const ini = writeIn(
    dir,
    'grafana.ini',
    [
      'app_mode = production',
      '[paths]',
      `data = ${dir}`,
      '[database]',
      'type = postgres',
      `host = 127.0.0.1:${server.port}`,
      `name = ${name}`,
      `user = ${user}`,
      `password = $__file{${passwordFile}}`,
      'ssl_mode = verify-full',
      `ca_cert_path = ${server.tls.caFile}`,
      'server_cert_name = localhost',
      'max_open_conn = 10',
      '[security]',
      'admin_user = admin',
      '[security.encryption.file.default]',
      `key_path = ${dir}/grafana-encryption.key`,
      '[secrets_migration]',
      'targets = data_source.password',
      '',
    ].join('\n'),
  );
  // Grafana's data_source table, with passwords stored before encryption existed.
  await app.query('CREATE TABLE data_source (id serial PRIMARY KEY, name text NOT NULL, password text)');
  await app.query("INSERT INTO data_source (name, password) VALUES ('prometheus', 'legacy-1'), ('loki', 'legacy-2')");
  await app.query(`ALTER TABLE data_source OWNER TO ${user}`);
  const cli = cliWith({});
  const run = (argv: string[], input?: string) => cli(['--app', 'gf', '--config', ini, ...argv], input);
  t.equal((await run(['init'])).code, 0, 'init');
  t.equal((await run(['secrets', 'set', 'smtp.password'], 'smtp-secret')).code, 0, 'secrets set');
  const reencrypt = await run(['secrets-migration', 're-encrypt', '--json']);
  t.equal(reencrypt.code, 0, reencrypt.err);
  const { rows } = await app.query<{ password: string }>('SELECT password FROM data_source ORDER BY id');
  t.same(
    rows.map((r) => r.password.startsWith('atrest:')),
    [true, true],
    'the legacy passwords are encrypted in PostgreSQL',
  );
  const status = JSON.parse((await run(['status', '--json'])).out) as AtrestStatus;
  t.match(status.database, `postgres://${user}:***@127.0.0.1:${server.port}/${name}?sslmode=verify-full`);
  t.equal(status.secrets.plaintext, 0, 'no plaintext left');
  const show = await run(['config', 'show']);
  t.notMatch(show.out, password, 'config show never prints the password');
  t.equal((await run(['secrets', 'get', 'smtp.password'])).out, 'smtp-secret', 'the secret reads back');
});

t.test('a Grafana INI with a client certificate (mutual TLS) instead of a password', async (t) => {
  const dir = tempDir('atrest-gf-cert-');
  const { user, certFile, keyFile } = await server.createCertificateUser('grafana_cert');
  const name = await server.createDatabase({ owner: user });
  const ini = writeIn(
    dir,
    'grafana.ini',
    [
      '[database]',
      'type = postgres',
      `host = localhost:${server.port}`,
      `name = ${name}`,
      `user = ${user}`,
      'ssl_mode = verify-full',
      `ca_cert_path = ${server.tls.caFile}`,
      `client_cert_path = ${certFile}`,
      `client_key_path = ${keyFile}`,
      '[security.encryption.file.default]',
      `key_path = ${dir}/grafana-encryption.key`,
      '',
    ].join('\n'),
  );
  const run = (argv: string[], input?: string) => cliWith({})(['--config', ini, ...argv], input);
  t.equal((await run(['secrets', 'set', 'cert.user'], 'through mutual TLS')).code, 0, 'secrets set');
  t.equal((await run(['secrets', 'get', 'cert.user'])).out, 'through mutual TLS', 'secrets get');
});

t.test("docs/SEVERAL-NODES.md's VACUUM step takes re-encrypt's leftover plaintext out of the table", async (t) => {
  const dir = tempDir('atrest-vacuum-');
  const name = await server.createDatabase();
  const url = server.url(name);
  const db = new pg.Pool({ connectionString: url, max: 1 });
  t.teardown(() => db.end());
  const legacy = 'legacy-plaintext-password-4242';
  await db.query('CREATE TABLE datasources (id integer PRIMARY KEY, password text)');
  await db.query('INSERT INTO datasources VALUES (1, $1)', [legacy]);
  const env = {
    ATREST_DATABASE_URL: url,
    ATREST_ENCRYPTION_KEY_PATH: `${dir}/atrest-encryption.key`,
    ATREST_SECRETS_MIGRATION_TARGETS: 'datasources.password',
  };
  const reencrypt = await cliWith(env)(['secrets-migration', 're-encrypt']);
  t.equal(reencrypt.code, 0, reencrypt.err);
  /** Whether the table's file on the server's disk holds the legacy plaintext (as superuser). */
  const onDisk = async () => {
    await db.query('CHECKPOINT');
    const { rows } = await db.query<{ found: boolean }>(
      "SELECT position($1::bytea IN pg_read_binary_file(pg_relation_filepath('datasources'))) > 0 AS found",
      [Buffer.from(legacy)],
    );
    return rows[0]?.found;
  };
  const { rows } = await db.query<{ password: string }>('SELECT password FROM datasources');
  t.match(rows[0]?.password, /^atrest:/, 're-encrypt encrypted the row');
  t.equal(await onDisk(), true, 'but the old row version, with the plaintext, is still in the table file');
  const doc = readFileSync(`${repoRoot}/docs/SEVERAL-NODES.md`, 'utf8');
  const step = /```sql\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  t.match(step, /VACUUM \(FULL/, 'the docs give the step');
  for (const statement of step.split(';').map((s) => s.replace(/--.*$/gm, '').trim())) {
    if (statement !== '') await db.query(statement);
  }
  t.equal(await onDisk(), false, 'after the step as printed, the plaintext is gone from the table file');
});
