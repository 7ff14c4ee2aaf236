// Connecting with each configuration form against a real PostgreSQL: Grafana's [database] keys,
// Metabase's JDBC URL, a libpq URL with a client certificate; what a failed connection says (never
// the password); no PGPASSWORD; the warning for an unverified server off this machine; a pool that
// outlives a server restart, and idle connections the server ends.
import t from 'tap';
import type { LogFields, Logger } from '@atrest/core';
import { type PostgresDatabaseKeys, openPostgres, postgresSettings } from '@atrest/store-postgres';
import { startPostgres } from '@atrest/testkit';

const server = await startPostgres();
t.teardown(() => server.stop());
const database = await server.createDatabase();
const PASSWORD = "s3cret:@/?&%'word";
await server.createPasswordUser('app', PASSWORD);
const ca = server.tls.caFile;

function recordingLogger(): Logger & { warnings: { message: string; fields: LogFields | undefined }[] } {
  const warnings: { message: string; fields: LogFields | undefined }[] = [];
  const none = () => undefined;
  return {
    debug: none,
    info: none,
    error: none,
    warn: (message, fields) => warnings.push({ message, fields }),
    warnings,
  };
}

async function whoAmI(keys: PostgresDatabaseKeys, logger?: Logger): Promise<Record<string, unknown>> {
  const connection = await openPostgres(postgresSettings(keys), logger ? { logger } : {});
  try {
    const { rows } = await connection.pool.query(
      'SELECT current_user AS user, current_database() AS db, s.ssl FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()',
    );
    return rows[0] as Record<string, unknown>;
  } finally {
    await connection.close();
  }
}

t.test("Grafana's [database] keys, verify-full", async (t) => {
  const logger = recordingLogger();
  const keys = {
    type: 'postgres',
    host: `127.0.0.1:${server.port}`,
    name: database,
    user: 'app',
    password: PASSWORD,
    ssl_mode: 'verify-full',
    ca_cert_path: ca,
  };
  t.same(await whoAmI(keys, logger), { user: 'app', db: database, ssl: true });
  t.same(logger.warnings, [], 'a verified server: no warning');
});

t.test("Metabase's jdbc:postgresql:// URL with sslmode=verify-full&sslrootcert", async (t) => {
  const url =
    `jdbc:postgresql://127.0.0.1:${server.port}/${database}?user=app&password=${encodeURIComponent(PASSWORD)}` +
    `&ssl=true&sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`;
  t.same(await whoAmI({ url }), { user: 'app', db: database, ssl: true });
});

t.test('a postgresql:// URL with a client certificate and key', async (t) => {
  const cert = await server.createCertificateUser('appcert');
  const url =
    `postgresql://appcert@localhost:${server.port}/${database}?sslmode=verify-full` +
    `&sslrootcert=${ca}&sslcert=${cert.certFile}&sslkey=${cert.keyFile}`;
  t.same(await whoAmI({ url }), { user: 'appcert', db: database, ssl: true });
});

t.test('a failed connection says what to fix and never shows the password', async (t) => {
  const base = { host: `127.0.0.1:${server.port}`, name: database, user: 'app' };
  const failures: [PostgresDatabaseKeys, RegExp][] = [
    [{ ...base, password: `${PASSWORD}x` }, /the password of user "app" was refused\. Check \[database\] password/],
    [{ ...base, password: PASSWORD, name: 'missing' }, /the database "missing" does not exist.*CREATE DATABASE/],
    [{ ...base, password: PASSWORD, host: '127.0.0.1:1' }, /127\.0\.0\.1:1\/.*nothing accepts connections there/],
  ];
  for (const [keys, message] of failures) {
    const err = (await openPostgres(postgresSettings(keys)).then(
      () => t.fail('connected'),
      (e: unknown) => e,
    )) as Error & { code: string };
    t.match(err, { code: 'ATREST_STORE', message }, message.source);
    t.match(err.message, /postgres:\/\/app:\*\*\*@127\.0\.0\.1/, 'the URL shown, password redacted');
    t.notOk(err.message.includes('s3cret') || JSON.stringify(err).includes('s3cret'), 'no password');
  }
});

t.test('the password comes from the settings only, never from PGPASSWORD', async (t) => {
  const saved = process.env['PGPASSWORD'];
  process.env['PGPASSWORD'] = PASSWORD;
  t.teardown(() => {
    if (saved === undefined) delete process.env['PGPASSWORD'];
    else process.env['PGPASSWORD'] = saved;
  });
  await t.rejects(openPostgres(postgresSettings({ host: `127.0.0.1:${server.port}`, name: database, user: 'app' })), {
    code: 'ATREST_STORE',
    message: /the server wants a password for user "app", and none is set\. Set \[database\] password\./,
  });
});

t.test('an unverified server off this machine is warned about; on loopback it is not', async (t) => {
  const keys = { name: database, user: 'app', password: PASSWORD };
  const quiet = recordingLogger();
  t.same(await whoAmI({ ...keys, host: `127.0.0.1:${server.port}` }, quiet), { user: 'app', db: database, ssl: false });
  t.same(quiet.warnings, [], 'sslmode disable on 127.0.0.1: no warning');
  // 0.0.0.0 is not a loopback address, yet Linux delivers a connection to it locally: the one
  // non-loopback host a test reaches without leaving the machine.
  for (const ssl_mode of ['disable', 'require']) {
    const logger = recordingLogger();
    t.same(await whoAmI({ ...keys, host: `0.0.0.0:${server.port}`, ssl_mode }, logger), {
      user: 'app',
      db: database,
      ssl: ssl_mode === 'require',
    });
    t.equal(logger.warnings.length, 1, `sslmode ${ssl_mode}: one warning`);
    t.match(logger.warnings[0], {
      message: new RegExp(`0\\.0\\.0\\.0:${server.port} is reached with sslmode ${ssl_mode}.*verify-full`),
      fields: { server: `postgres://app:***@0.0.0.0:${server.port}/${database}?sslmode=${ssl_mode}` },
    });
  }
});

t.test('the pool outlives a server restart: the broken connection is logged, the next query reconnects', async (t) => {
  const logger = recordingLogger();
  const settings = postgresSettings({
    host: `127.0.0.1:${server.port}`,
    name: database,
    user: 'app',
    password: PASSWORD,
  });
  const connection = await openPostgres(settings, { logger });
  t.teardown(() => connection.close());
  await connection.pool.query('SELECT 1');
  await server.restart();
  const { rows } = await connection.pool.query('SELECT 2 AS n');
  t.same(rows, [{ n: 2 }]);
  t.match(logger.warnings, [{ message: /A PostgreSQL connection broke/, fields: { server: settings.shown } }]);
});

t.test('idle connections ended by the server (pg_terminate_backend) are logged, never crash the process', async (t) => {
  const logger = recordingLogger();
  const settings = postgresSettings({
    host: `127.0.0.1:${server.port}`,
    name: database,
    user: 'app',
    password: PASSWORD,
  });
  const connection = await openPostgres(settings, { logger });
  t.teardown(() => connection.close());
  // Three connections at once, then idle in the pool.
  await Promise.all([1, 2, 3].map(() => connection.pool.query('SELECT pg_sleep(0.05)')));
  t.equal(connection.pool.idleCount, 3, 'three idle connections');
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: server.url() });
  await admin.connect();
  try {
    const { rows } = await admin.query(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
       WHERE application_name = 'atrest' AND datname = $1`,
      [database],
    );
    t.same(rows, [{ ended: true }, { ended: true }, { ended: true }], 'the server ended the three');
  } finally {
    await admin.end();
  }
  for (let i = 0; i < 200 && logger.warnings.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(logger.warnings.length, 3, "one warning per ended connection: the pool's 'error' events were handled");
  t.match(
    logger.warnings,
    Array(3).fill({ message: /A PostgreSQL connection broke/, fields: { server: settings.shown } }),
  );
  const { rows } = await connection.pool.query('SELECT 3 AS n');
  t.same(rows, [{ n: 3 }], 'the next query opens a new connection');
});
