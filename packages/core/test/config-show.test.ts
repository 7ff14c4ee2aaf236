// `config show`: every value with its origin, secrets never printed.
import t from 'tap';
import { formatConfigEntries, formatConfigOrigin } from '../src/config/origin.js';
import { tempDir, writeIn } from '@atrest/testkit';
import { GRAFANA_STYLE_INI, load } from './config-fixtures.js';

t.test('origins as phrases', async (t) => {
  t.equal(formatConfigOrigin({ source: 'default' }), 'default');
  t.equal(
    formatConfigOrigin({ source: 'ini', file: '/etc/app/app.ini', section: 'security', key: 'secret_key' }),
    'ini /etc/app/app.ini [security]',
  );
  t.equal(formatConfigOrigin({ source: 'env', variable: 'ATREST_DATABASE_PATH' }), 'env ATREST_DATABASE_PATH');
  t.equal(
    formatConfigOrigin({ source: 'dotenv', file: '/app/.env', variable: 'ATREST_DATABASE_PATH' }),
    '.env /app/.env ATREST_DATABASE_PATH',
  );
  t.equal(formatConfigOrigin({ source: 'option', key: 'database.path' }), 'option');
  t.equal(
    formatConfigOrigin({ source: 'env', variable: 'ATREST_ENCRYPTION_SECRET_KEY__FILE', valueFile: '/run/secrets/k' }),
    'env ATREST_ENCRYPTION_SECRET_KEY__FILE (file /run/secrets/k)',
  );
  t.equal(
    formatConfigOrigin({
      source: 'ini',
      file: '/a.ini',
      section: 'database',
      key: 'path',
      references: ['$__env{DATA}'],
    }),
    'ini /a.ini [database] via $__env{DATA}',
  );
});

t.test('every secret is redacted, whatever its source; its length is not shown', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(dir, 'defaults.ini', GRAFANA_STYLE_INI);
  const tokenFile = writeIn(dir, 'token', 'IQoJb3JpZ2luX2VjEXAMPLETOKEN\n');
  const secrets = [
    'SW2YcwTIb9zpOOhoPsMm',
    'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'IQoJb3JpZ2luX2VjEXAMPLETOKEN',
    'dbpassword-123',
    'azure-client-secret-value',
  ];
  const config = await load({
    configFile: ini,
    env: {
      ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_SESSION_TOKEN__FILE: tokenFile,
      ATREST_DATABASE_URL: 'postgres://app:dbpassword-123@db:5432/app',
      ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_CLIENT_SECRET: 'azure-client-secret-value',
    },
  });
  const text = formatConfigEntries(config.entries);
  for (const secret of secrets) t.notMatch(text, secret, 'a secret is not printed');
  t.notMatch(text.replace('postgres://app:***@', ''), /\*{3,}/, 'no masks that give away a length');
  const line = (key: string) => text.split('\n').find((l) => l.startsWith(`${key} `)) ?? '';
  t.match(line('security.secret_key'), /<redacted>\s+ini .*defaults\.ini \[security\]$/);
  t.match(line('security.encryption.awskms.example-encryption-key.secret_access_key'), '<redacted>');
  t.match(line('security.encryption.awskms.example-encryption-key.session_token'), `<redacted>`);
  t.match(line('security.encryption.awskms.example-encryption-key.session_token'), `(file ${tokenFile})`);
  t.match(
    line('security.encryption.azurekv.main.client_secret'),
    /<redacted>\s+env ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_CLIENT_SECRET$/,
  );
  t.match(line('database.url'), /postgres:\/\/app:\*\*\*@db:5432\/app\s+env ATREST_DATABASE_URL$/);
  t.match(
    line('security.encryption.awskms.example-encryption-key.region'),
    /eu-north-1\s+ini .*\[security\.encryption\.awskms\.example-encryption-key\]$/,
  );
  t.match(line('security.encryption_provider'), /awskms\.example-encryption-key\s+ini/);
  t.match(line('security.available_encryption_providers'), 'awskms.example-encryption-key secret_key.default');
  t.match(line('security.encryption.data_keys_cache_ttl'), /15m\s+ini/);
  t.match(line('security.encryption.awskms.example-encryption-key.endpoint'), /\(not set\)\s+default$/);
  const sensitive = config.entries
    .filter((e) => e.sensitive)
    .map((e) => e.key)
    .sort();
  t.same(sensitive, [
    'database.password',
    'database.url',
    'security.encryption.awskms.example-encryption-key.secret_access_key',
    'security.encryption.awskms.example-encryption-key.session_token',
    'security.encryption.azurekv.main.client_secret',
    'security.secret_key',
  ]);
});

t.test('one line per key, aligned, ending with a newline', async (t) => {
  const config = await load({ options: { 'database.path': '/data/my app.db' } });
  const text = formatConfigEntries(config.entries);
  const lines = text.trimEnd().split('\n');
  t.equal(lines.length, config.entries.length);
  t.ok(text.endsWith('\n'));
  t.match(text, /database\.path\s+"\/data\/my app\.db"\s+option/, 'a value with spaces is quoted');
  t.match(text, /security\.secret_key\s+\(not set\)\s+default/);
  const valueColumn = lines.map((l) => l.search(/ {2}\S/));
  t.equal(new Set(valueColumn).size, 1, 'values start in one column');
  t.equal(formatConfigEntries([]), '');
});
