// Connection settings from Grafana's [database] keys and from URLs (libpq's and Metabase's JDBC
// form): what each form sets, what wins, what is refused with which message, and that no password
// is ever shown.
import t from 'tap';
import { postgresSettings } from '@atrest/store-postgres';

const PASSWORD = 'pa:ss@w/rd?';

t.test('Grafana keys', async (t) => {
  const s = postgresSettings({
    type: 'postgres',
    host: 'db.example.com:6432',
    name: 'grafana',
    user: 'grafana',
    password: PASSWORD,
    ssl_mode: 'verify-full',
    ca_cert_path: '/etc/grafana/ca.pem',
    client_cert_path: '/etc/grafana/client.crt',
    client_key_path: '/etc/grafana/client.key',
    server_cert_name: 'db.internal',
  });
  t.match(s, {
    host: 'db.example.com',
    port: 6432,
    database: 'grafana',
    user: 'grafana',
    password: PASSWORD,
    sslMode: 'verify-full',
    sslRootCert: '/etc/grafana/ca.pem',
    sslCert: '/etc/grafana/client.crt',
    sslKey: '/etc/grafana/client.key',
    serverCertName: 'db.internal',
  });
  t.equal(
    s.shown,
    'postgres://grafana:***@db.example.com:6432/grafana?sslmode=verify-full&sslrootcert=/etc/grafana/ca.pem' +
      '&sslcert=/etc/grafana/client.crt&sslkey=/etc/grafana/client.key',
  );
});

t.test('defaults: localhost:5432, the database named after the user, sslmode disable (as in Grafana)', async (t) => {
  const s = postgresSettings({ user: 'app' });
  t.match(s, { host: 'localhost', port: 5432, database: 'app', password: undefined, sslMode: 'disable' });
  t.equal(s.shown, 'postgres://app@localhost:5432/app?sslmode=disable');
  t.match(postgresSettings({ user: 'app', host: '10.0.0.5' }), { host: '10.0.0.5', port: 5432 });
  t.match(postgresSettings({ user: 'app', host: '[::1]:5433' }), { host: '::1', port: 5433 });
  t.match(postgresSettings({ user: 'app', host: 'fd00::5' }), { host: 'fd00::5', port: 5432 });
  t.equal(postgresSettings({ user: 'app', host: '[::1]:5433' }).shown, 'postgres://app@[::1]:5433/app?sslmode=disable');
  t.match(postgresSettings({ user: 'app', host: '', name: '', password: '' }), {
    host: 'localhost',
    password: undefined,
  });
});

t.test('postgres:// and postgresql:// URLs with libpq parameters', async (t) => {
  const url =
    `postgresql://atrest:${encodeURIComponent(PASSWORD)}@db.example.com:5433/secrets%20db` +
    '?sslmode=verify-ca&sslrootcert=/run/ca.pem&sslcert=/run/c.crt&sslkey=/run/c.key';
  t.match(postgresSettings({ url }), {
    host: 'db.example.com',
    port: 5433,
    database: 'secrets db',
    user: 'atrest',
    password: PASSWORD,
    sslMode: 'verify-ca',
    sslRootCert: '/run/ca.pem',
    sslCert: '/run/c.crt',
    sslKey: '/run/c.key',
  });
  t.match(postgresSettings({ url: 'postgres://u@[fd00::1]/d' }), { host: 'fd00::1', port: 5432, database: 'd' });
  t.match(postgresSettings({ url: 'postgres://h/d?user=u&password=p' }), { user: 'u', password: 'p' });
});

t.test("Metabase's jdbc:postgresql:// form", async (t) => {
  const url =
    `jdbc:postgresql://db.example.com:5432/metabase?user=mb&password=${encodeURIComponent(PASSWORD)}` +
    '&ssl=true&sslmode=verify-full&sslrootcert=/app/certs/rds-combined-ca-bundle.pem';
  const s = postgresSettings({ url });
  t.match(s, {
    host: 'db.example.com',
    port: 5432,
    database: 'metabase',
    user: 'mb',
    password: PASSWORD,
    sslMode: 'verify-full',
    sslRootCert: '/app/certs/rds-combined-ca-bundle.pem',
  });
  t.notOk(s.shown.includes(PASSWORD) || s.shown.includes(encodeURIComponent(PASSWORD)), 'no password shown');
  const ca = 'sslrootcert=/ca.pem';
  t.match(
    postgresSettings({ url: `jdbc:postgresql://h/d?user=u&ssl=true&${ca}` }),
    { sslMode: 'verify-full' },
    'pgjdbc: ssl=true',
  );
  t.match(postgresSettings({ url: 'jdbc:postgresql://h/d?user=u&ssl=true&sslmode=require' }), { sslMode: 'require' });
  t.match(postgresSettings({ url: 'jdbc:postgresql://h/d?user=u&ssl=false' }), { sslMode: 'disable' });
});

t.test('url wins over host, name, user and password; its parameters over the ssl keys', async (t) => {
  const s = postgresSettings({
    host: '127.0.0.1:3306',
    name: 'grafana',
    user: 'root',
    password: 'keys-password',
    ssl_mode: 'verify-full',
    ca_cert_path: '/keys/ca.pem',
    url: 'postgres://app:url-password@db:5432/appdb?sslrootcert=/url/ca.pem',
  });
  t.match(s, {
    host: 'db',
    port: 5432,
    database: 'appdb',
    user: 'app',
    password: 'url-password',
    sslMode: 'verify-full',
    sslRootCert: '/url/ca.pem',
  });
});

t.test('sslrootcert=system: verify-full by default, nothing weaker', async (t) => {
  t.match(postgresSettings({ url: 'postgres://u@h/d?sslrootcert=system' }), {
    sslMode: 'verify-full',
    sslRootCert: 'system',
  });
  t.throws(() => postgresSettings({ url: 'postgres://u@h/d?sslrootcert=system&sslmode=require' }), {
    code: 'ATREST_CONFIG_INVALID',
    message: /sslrootcert of \[database\] url is "system" with sslmode require.*verify-full/,
  });
});

t.test('refused settings name the key at fault and say what to do', async (t) => {
  const refused = (keys: Parameters<typeof postgresSettings>[0], message: RegExp, what: string) =>
    t.throws(() => postgresSettings(keys), { code: 'ATREST_CONFIG_INVALID', message }, what);
  refused({ type: 'mysql', user: 'u' }, /\[database\] type is "mysql".*type = postgres/, 'another type');
  refused({}, /\[database\] user is not set/, 'no user');
  refused({ user: 'u', ssl_mode: 'prefer' }, /\[database\] ssl_mode is "prefer".*fall back.*verify-full/, 'prefer');
  refused({ user: 'u', ssl_mode: 'verify' }, /\[database\] ssl_mode is "verify", not one of disable, require/, 'typo');
  refused({ url: 'postgres://u@h/d?sslmode=allow' }, /sslmode of \[database\] url is "allow"/, 'allow in a URL');
  refused(
    { user: 'u', ssl_mode: 'verify-full' },
    /\[database\] ssl_mode is verify-full \(for localhost\), which needs the CA.*ca_cert_path/,
    'no CA',
  );
  refused({ user: 'u', ssl_mode: 'verify-ca' }, /ssl_mode is verify-ca .*needs the CA/, 'verify-ca without a CA');
  refused({ user: 'u', client_cert_path: '/c.crt' }, /client_cert_path is set without the client key/, 'cert, no key');
  refused(
    { url: 'postgres://u@h/d?sslkey=/c.key' },
    /sslkey of \[database\] url is set without a client certificate/,
    'key only',
  );
  refused({ user: 'u', host: 'db:99999' }, /port "99999", not a number from 1 to 65535/, 'port out of range');
  refused({ user: 'u', host: 'db:pg' }, /port "pg"/, 'port not a number');
  refused({ user: 'u', host: '/var/run/postgresql' }, /Unix socket directory/, 'socket directory');
  refused({ url: 'mysql://u:p@h/d' }, /is not a PostgreSQL URL.*postgres:\/\//, 'another scheme');
  refused({ url: 'postgres://u@h1:5432,h2:5432/d' }, /names several hosts/, 'several hosts');
  refused({ url: 'postgres://u@h/d/e' }, /has a path "\/d\/e"/, 'a path');
  refused(
    { url: 'postgres://u@h/d?ssl=true' },
    /"ssl".*sslmode=verify-full, as libpq has no ssl parameter/,
    'ssl=true',
  );
  refused({ url: 'postgres://u@h/d?sslcrl=/x' }, /"sslcrl", which atrest does not implement.*sslmode/, 'sslcrl');
  refused({ url: 'postgres://u@h:1234567/d' }, /is not a valid URL/, 'invalid URL');
  refused({ url: 'postgres://u@h/%E0%A4%A' }, /malformed percent-encoding/, 'bad percent-encoding');
  refused({ url: 'jdbc:postgresql:mydb' }, /is not a PostgreSQL URL/, 'JDBC without a host');
});

t.test('no refusal shows the password', async (t) => {
  const urls = [
    `postgres://u:${PASSWORD}@h:99999/d`,
    `postgres://u:${PASSWORD}@h/d?sslcrl=/x`,
    `postgres://u:${PASSWORD}@h1,h2/d`,
    `postgres://u:${PASSWORD}@h/a/b`,
    `postgres://u:${PASSWORD}@h/d?sslmode=prefer`,
    `jdbc:postgresql://h:99999/d?user=u&password=${PASSWORD}`,
    `jdbc:postgresql://h/d?password=${PASSWORD}&x=1`,
    `mysql://u:${PASSWORD}@h/d`,
  ];
  for (const url of urls) {
    const err = t.throws(() => postgresSettings({ url }), { code: 'ATREST_CONFIG_INVALID' }) as Error;
    t.notOk(err.message.includes('ss@w') || err.message.includes('pa:ss'), `not in: ${err.message}`);
    t.equal(err.cause, undefined, 'no cause that could hold the URL');
  }
});
