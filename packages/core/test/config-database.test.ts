// The application database out of `[database]` and `[paths] data`: Grafana's keys and URL, the
// store chosen by type (never a SQLite file for a type atrest has no store for), a relative SQLite
// path in `[paths] data`, `--db` / `openAtrest({ database })` over every source, and the URL shown
// by config show with its password redacted.
import { isAbsolute, join } from 'node:path';
import t from 'tap';
import { databaseOptions } from '../src/config/database.js';
import { formatConfigEntries } from '../src/config/origin.js';
import { rejection, tempDir, writeIn } from '@atrest/testkit';
import { load } from './config-fixtures.js';

/** Grafana's defaults.ini has `path = grafana.db` whatever the type: a PostgreSQL INI keeps it. */
const GRAFANA_POSTGRES_INI = [
  'app_mode = production',
  '[paths]',
  'data = /var/lib/grafana',
  'logs = /var/log/grafana',
  '[database]',
  'type = postgres',
  'host = db.example.com:5432',
  'name = grafana',
  'user = grafana',
  'password = """p@ss;word#1"""',
  'ssl_mode = verify-full',
  'ca_cert_path = /etc/grafana/db-ca.pem',
  'server_cert_name = db.internal',
  'path = grafana.db',
  'max_open_conn = 10',
  '[security]',
  'admin_user = admin',
  '',
].join('\n');

t.test("a Grafana INI with type = postgres: PostgreSQL's keys, no SQLite file", async (t) => {
  const dir = tempDir('atrest-config-db-');
  const config = await load({ configFile: writeIn(dir, 'grafana.ini', GRAFANA_POSTGRES_INI) });
  t.same(config.database, {
    type: 'postgres',
    path: undefined,
    url: undefined,
    postgres: {
      host: 'db.example.com:5432',
      name: 'grafana',
      user: 'grafana',
      password: 'p@ss;word#1',
      ssl_mode: 'verify-full',
      ca_cert_path: '/etc/grafana/db-ca.pem',
      server_cert_name: 'db.internal',
    },
  });
  const text = formatConfigEntries(config.entries);
  t.notMatch(text, 'p@ss;word#1', 'the password is not shown');
  t.match(text, /database\.password\s+<redacted>\s+ini /);
  t.match(text, /database\.type\s+postgres\s+ini /);
  t.notMatch(text, 'max_open_conn', "the host's own [database] keys are left alone");
});

t.test('a type atrest has no store for is an error that lists the stores, never a SQLite file', async (t) => {
  const dir = tempDir('atrest-config-db-');
  for (const [type, why] of [
    ['mysql', /atrest has no MySQL store/],
    ['sqlite', /atrest has no store of type "sqlite"/],
    ['mssql', /no store of type "mssql"/],
  ] as const) {
    const ini = writeIn(dir, `${type}.ini`, `[database]\ntype = ${type}\npath = grafana.db\n`);
    const err = await rejection(load({ configFile: ini }));
    t.equal(err.code, 'ATREST_CONFIG_INVALID', type);
    t.match(err.message, why, type);
    t.match(err.message, /Invalid value for database\.type \(type in \[database\] of .*\.ini\)/, `${type}: where`);
    t.match(err.message, /Allowed: sqlite3 or postgres \(the stores atrest has/, `${type}: the stores`);
  }
  const env = await rejection(load({ env: { ATREST_DATABASE_TYPE: 'mysql' } }));
  t.match(env.message, /environment variable ATREST_DATABASE_TYPE/);
  const url = await rejection(load({ env: { ATREST_DATABASE_URL: 'mysql://u:secret@db/app' } }));
  t.equal(url.code, 'ATREST_CONFIG_INVALID');
  t.match(url.message, /database\.url .*its scheme "mysql" names no store atrest has/);
  t.notMatch(url.message, 'secret', 'the url is not quoted');
});

t.test('the type follows the url, and a url of another store than the type is refused', async (t) => {
  for (const [url, type] of [
    ['postgres://app@db/app', 'postgres'],
    ['postgresql://app@db/app', 'postgres'],
    ['jdbc:postgresql://db:5432/app?user=app&password=x&sslmode=verify-full&sslrootcert=/ca.pem', 'postgres'],
    ['sqlite:///data/app.db', 'sqlite3'],
    ['file:/data/app.db', 'sqlite3'],
  ] as const) {
    const config = await load({ env: { ATREST_DATABASE_URL: url } });
    t.equal(config.database.type, type, url);
    t.equal(config.database.path, type === 'sqlite3' ? '/data/app.db' : undefined, `${url}: the file`);
  }
  const dir = tempDir('atrest-config-db-');
  const ini = writeIn(dir, 'app.ini', '[database]\ntype = sqlite3\nurl = postgres://app@db/app\n');
  const err = await rejection(load({ configFile: ini }));
  t.match(
    err.message,
    /database\.type .*it is sqlite3, but database\.url \(url in \[database\] of .*\) names a postgres/,
  );
  const overIni = await load({ configFile: ini, env: { ATREST_DATABASE_URL: 'postgres://ops@db/app' } });
  t.same(
    [overIni.database.type, overIni.database.url],
    ['postgres', 'postgres://ops@db/app'],
    "a url from a higher source than the type wins with its store, as Grafana's url does",
  );
});

t.test('a relative SQLite path is in [paths] data (Grafana), or <APP>_PATHS_DATA', async (t) => {
  const dir = tempDir('atrest-config-db-');
  const ini = writeIn(
    dir,
    'grafana.ini',
    '[paths]\ndata = /var/lib/grafana\n[database]\ntype = sqlite3\npath = grafana.db\n',
  );
  t.equal((await load({ configFile: ini })).database.path, '/var/lib/grafana/grafana.db');
  const fromEnv = await load({ configFile: ini, env: { ATREST_PATHS_DATA: '/data' } });
  t.equal(fromEnv.database.path, '/data/grafana.db', 'the environment wins over the INI, as for every key');
  const absolute = writeIn(dir, 'abs.ini', '[paths]\ndata = /var/lib/grafana\n[database]\npath = /srv/app.db\n');
  t.equal((await load({ configFile: absolute })).database.path, '/srv/app.db', 'an absolute path stays');
  const relativeData = await load({ env: { ATREST_PATHS_DATA: 'data', ATREST_DATABASE_PATH: 'app.db' } });
  const resolved = relativeData.database.path ?? '';
  t.ok(
    isAbsolute(resolved) && resolved === join(process.cwd(), 'data', 'app.db'),
    'a relative data directory is in the cwd',
  );
  t.equal(
    (await load({ env: { ATREST_DATABASE_PATH: 'app.db' } })).database.path,
    'app.db',
    'no [paths] data: as given',
  );
});

t.test('the password from a file: <APP>_DATABASE_PASSWORD__FILE and $__file{}', async (t) => {
  const dir = tempDir('atrest-config-db-');
  const file = writeIn(dir, 'db-password', 'from-a-file\n');
  const viaVariable = await load({
    env: { ATREST_DATABASE_TYPE: 'postgres', ATREST_DATABASE_PASSWORD__FILE: file },
  });
  t.equal(viaVariable.database.postgres.password, 'from-a-file');
  const ini = writeIn(dir, 'app.ini', `[database]\ntype = postgres\npassword = $__file{${file}}\n`);
  t.equal((await load({ configFile: ini })).database.postgres.password, 'from-a-file');
});

t.test('--db and openAtrest({ database }): a path or a URL over every other source', async (t) => {
  const dir = tempDir('atrest-config-db-');
  const ini = writeIn(dir, 'grafana.ini', GRAFANA_POSTGRES_INI);
  const sqlite = await load({ configFile: ini, options: databaseOptions('/tmp/other.db') });
  t.equal(sqlite.database.type, 'sqlite3', 'a path: SQLite, whatever the INI says');
  t.equal(sqlite.database.path, '/tmp/other.db');
  const urlIni = writeIn(dir, 'url.ini', '[database]\nurl = postgres://app@db/app\n');
  const overUrl = await load({ configFile: urlIni, options: databaseOptions('/tmp/other.db') });
  t.same([overUrl.database.type, overUrl.database.path, overUrl.database.url], ['sqlite3', '/tmp/other.db', undefined]);
  const pg = await load({
    configFile: writeIn(dir, 'sqlite.ini', '[database]\ntype = sqlite3\npath = /data/app.db\n'),
    options: databaseOptions('postgres://ops@db.example.com/app?sslmode=verify-full&sslrootcert=/ca.pem'),
  });
  t.same([pg.database.type, pg.database.path], ['postgres', undefined], 'a URL: its store');
});

t.test('config show: the URL with its password redacted; host, port, database and user visible', async (t) => {
  for (const [url, shown] of [
    ['postgres://grafana:s3cr%40t@db.example.com:5432/grafana', 'postgres://grafana:***@db.example.com:5432/grafana'],
    [
      'jdbc:postgresql://db:5432/metabase?user=mb&password=s3cr%40t&sslmode=verify-full&sslrootcert=/ca.pem',
      'jdbc:postgresql://db:5432/metabase?user=mb&password=***&sslmode=verify-full&sslrootcert=/ca.pem',
    ],
    ['postgres://app@db/app', 'postgres://app@db/app'],
  ] as const) {
    const config = await load({ env: { ATREST_DATABASE_URL: url } });
    const entry = config.entries.find((e) => e.key === 'database.url');
    t.equal(entry?.value, shown, url.split(':')[0] ?? '');
    t.equal(entry?.sensitive, true);
    t.notMatch(formatConfigEntries(config.entries), 's3cr');
  }
});
