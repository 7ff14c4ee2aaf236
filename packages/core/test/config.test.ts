// Configuration sources, precedence, origins and the host's INI file.
import { join } from 'node:path';
import t from 'tap';
import { rejection, tempDir, writeIn } from '@atrest/testkit';
import { GRAFANA_STYLE_INI, builtins, load, schemaSource } from './config-fixtures.js';

t.test('built-in defaults: file.default at /srv/<app>-encryption.key, 15m cache', async (t) => {
  const config = await load();
  t.equal(config.app, 'atrest');
  t.equal(config.envPrefix, 'ATREST_');
  t.equal(config.encryptionProvider, 'file.default');
  t.same(config.availableProviders, ['file.default']);
  t.equal(config.dataKeysCacheTtlMs, 15 * 60_000);
  t.same(config.database, { type: 'sqlite3', path: undefined, url: undefined, postgres: {} });
  t.same(config.targets, []);
  t.same([...config.providers.keys()], ['file.default']);
  const file = config.providers.get('file.default');
  t.equal(file?.type, 'file');
  t.equal(file?.name, 'default');
  t.same(file?.values, { key_path: '/srv/atrest-encryption.key' });
  t.same(file?.origins['key_path'], { source: 'default' });
  const provider = config.entries.find((e) => e.key === 'security.encryption_provider');
  t.same(provider, {
    key: 'security.encryption_provider',
    env: 'ATREST_SECURITY_ENCRYPTION_PROVIDER',
    value: 'file.default',
    origin: { source: 'default' },
    sensitive: false,
  });
  const keyPath = config.entries.find((e) => e.key === 'security.encryption.file.default.key_path');
  t.equal(keyPath?.env, 'ATREST_ENCRYPTION_KEY_PATH');
  t.equal(keyPath?.value, '/srv/atrest-encryption.key');
  const ttl = config.entries.find((e) => e.key === 'security.encryption.data_keys_cache_ttl');
  t.equal(ttl?.value, '15m');
});

t.test('the application name sets the env prefix and the default key file', async (t) => {
  const config = await load({
    app: 'my-app',
    env: { MY_APP_DATABASE_PATH: '/var/lib/my-app/app.db', ATREST_DATABASE_PATH: '/ignored' },
  });
  t.equal(config.app, 'my-app');
  t.equal(config.envPrefix, 'MY_APP_');
  t.equal(config.database.path, '/var/lib/my-app/app.db');
  t.equal(config.providers.get('file.default')?.values['key_path'], '/srv/my-app-encryption.key');
  for (const bad of ['My App', 'UPPER', '-dash', '', 'a/b']) {
    const err = await rejection(load({ app: bad }));
    t.equal(err.code, 'ATREST_CONFIG_INVALID', `app "${bad}" is refused`);
    t.equal(err.details['key'], 'app');
  }
});

t.test('precedence: default < ini < .env < env < option, each with its origin', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[security.encryption]\ndata_keys_cache_ttl = 10m\n[database]\npath = /ini/app.db\nurl = postgres://ini/db\n' +
      '[secrets_migration]\ntargets = ini_table.col\n',
  );
  const dotenv = writeIn(
    dir,
    '.env',
    'ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL=20m\nATREST_DATABASE_URL="postgres://dotenv/db"\n' +
      'ATREST_SECRETS_MIGRATION_TARGETS=dotenv_table.col\n',
  );
  const env = {
    ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: '30m',
    ATREST_SECRETS_MIGRATION_TARGETS: 'env_table.col',
  };
  const options = { 'security.encryption.data_keys_cache_ttl': '40m' };

  const all = await load({ configFile: ini, envFile: dotenv, env, options });
  t.equal(all.dataKeysCacheTtlMs, 40 * 60_000, 'option wins');
  t.equal(all.entries.find((e) => e.key === 'database.path')?.value, '/ini/app.db', 'only the INI sets database.path');
  t.equal(all.database.url, 'postgres://dotenv/db', '.env beats INI');
  t.equal(all.database.path, undefined, 'the postgres:// url makes the store PostgreSQL: no SQLite file');
  t.same(
    all.targets.map((x) => x.spec),
    ['env_table.col'],
    'env beats .env',
  );
  const origin = (key: string) => all.entries.find((e) => e.key === key)?.origin;
  t.same(origin('security.encryption.data_keys_cache_ttl'), {
    source: 'option',
    key: 'security.encryption.data_keys_cache_ttl',
  });
  t.same(origin('database.path'), { source: 'ini', file: ini, section: 'database', key: 'path' });
  t.same(origin('database.url'), { source: 'dotenv', variable: 'ATREST_DATABASE_URL', file: dotenv });
  t.same(origin('secrets_migration.targets'), { source: 'env', variable: 'ATREST_SECRETS_MIGRATION_TARGETS' });

  t.equal((await load({ configFile: ini, envFile: dotenv, env })).dataKeysCacheTtlMs, 30 * 60_000, 'env beats .env');
  t.equal((await load({ configFile: ini, envFile: dotenv })).dataKeysCacheTtlMs, 20 * 60_000, '.env beats INI');
  t.equal((await load({ configFile: ini })).dataKeysCacheTtlMs, 10 * 60_000, 'INI beats default');
  t.equal((await load({})).dataKeysCacheTtlMs, 15 * 60_000, 'default');
});

t.test('the .env file does not touch process.env', async (t) => {
  const dir = tempDir('atrest-config-');
  const dotenv = writeIn(dir, '.env', 'ATREST_TEST_ONLY_DATABASE_PATH=/x\nATREST_DATABASE_PATH=/from/dotenv.db\n');
  const before = process.env['ATREST_DATABASE_PATH'];
  const config = await load({ envFile: dotenv });
  t.equal(config.database.path, '/from/dotenv.db');
  t.equal(process.env['ATREST_DATABASE_PATH'], before);
  t.equal(process.env['ATREST_TEST_ONLY_DATABASE_PATH'], undefined);
});

t.test('process.env is the default environment', async (t) => {
  const saved = process.env['ATREST_DATABASE_PATH'];
  process.env['ATREST_DATABASE_PATH'] = '/from/process.env';
  t.teardown(() => {
    if (saved === undefined) delete process.env['ATREST_DATABASE_PATH'];
    else process.env['ATREST_DATABASE_PATH'] = saved;
  });
  const { loadConfig } = await import('../src/config/load.js');
  const config = await loadConfig({ builtinProviders: builtins, providerSchema: schemaSource().providerSchema });
  t.equal(config.database.path, '/from/process.env');
});

t.test('an empty value is "not set": the next source down applies', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[database]\npath = /ini/app.db\n[security]\nencryption_provider =\navailable_encryption_providers =\n',
  );
  const config = await load({ configFile: ini, env: { ATREST_DATABASE_PATH: '' } });
  t.equal(config.database.path, '/ini/app.db');
  t.equal(config.encryptionProvider, 'file.default', 'empty encryption_provider falls back to the default rule');
});

t.test('a Grafana-style host file: atrest reads its keys, ignores the rest', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(dir, 'defaults.ini', GRAFANA_STYLE_INI);
  const source = schemaSource();
  const config = await load({ configFile: ini, providerSchema: source.providerSchema });
  t.equal(config.encryptionProvider, 'awskms.example-encryption-key');
  t.same(config.availableProviders, ['awskms.example-encryption-key', 'secret_key.default']);
  t.equal(config.dataKeysCacheTtlMs, 15 * 60_000);
  t.equal(config.database.path, join(process.cwd(), 'data', 'grafana.db'), '[database] path, in [paths] data');
  t.equal(config.database.url, undefined);
  t.same(
    config.targets.map((x) => [x.table, x.column, x.json]),
    [
      ['data_source', 'secure_json_data', true],
      ['alert_configuration', 'alertmanager_configuration', true],
      ['user_auth', 'o_auth_access_token', false],
    ],
  );
  t.same([...config.providers.keys()].sort(), ['awskms.example-encryption-key', 'secret_key.default']);
  const kms = config.providers.get('awskms.example-encryption-key');
  t.same(kms?.values, {
    key_id: '1234abcd-12ab-34cd-56ef-1234567890ab',
    region: 'eu-north-1',
    access_key_id: 'AKIAIOSFODNN7EXAMPLE',
    secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    session_token: '',
    endpoint: '',
    ca_file: '',
  });
  t.same(kms?.origins['region'], {
    source: 'ini',
    file: ini,
    section: 'security.encryption.awskms.example-encryption-key',
    key: 'region',
  });
  t.same(kms?.origins['endpoint'], { source: 'default' });
  const secretKey = config.providers.get('secret_key.default');
  t.equal(secretKey?.values['secret_key'], 'SW2YcwTIb9zpOOhoPsMm', '[security] secret_key feeds secret_key.default');
  t.same(secretKey?.origins['secret_key'], { source: 'ini', file: ini, section: 'security', key: 'secret_key' });

  // Nothing of the host's own keys leaks into atrest's view. [database] type and host and [paths]
  // data are atrest's since issue 8 (PostgreSQL's keys, Grafana's data directory).
  const keys = config.entries.map((e) => e.key);
  for (const foreign of [
    'security.admin_user',
    'security.cookie_secure',
    'database.max_open_conn',
    'server.http_port',
    'app_mode',
    'paths.logs',
  ]) {
    t.notOk(keys.includes(foreign), `${foreign} is not atrest's`);
  }
  t.same(
    new Set(source.calls.map((c) => c.type)),
    new Set(['awskms', 'secret_key']),
    'only the schemas of the providers in use are asked for',
  );
});

t.test('foreign sections are ignored whatever they hold; shared sections keep their other keys', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    [
      'root_key = 1',
      'encryption_provider = bogus', // a root key, not [security]'s: the host's
      '[security]',
      'admin_user = admin',
      'secret_key_rotation = yes',
      // [database] type, host and password are atrest's since issue 8: these stay the host's.
      '[database]',
      'max_open_conn = 10',
      'cache_mode = """#private;"""',
      '[encryption]',
      'provider = whatever',
      '[security.encryption_extra]',
      'anything = 1',
      '[Security.Encryption]',
      'data_key_cache_ttl = 5m',
      '[security_encryption]',
      'x = 1',
    ].join('\n'),
  );
  const config = await load({ configFile: ini });
  t.equal(config.encryptionProvider, 'file.default');
  t.same(config.database, { type: 'sqlite3', path: undefined, url: undefined, postgres: {} });
});

t.test('INI values: quotes, ; and # comments, Grafana triple quotes, repeated sections', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    [
      '; a comment',
      '# another',
      '[security]',
      'secret_key = """#pass;phrase-long-enough"""',
      '[database]',
      'path = /data/app.db ; trailing comment',
      '[security.encryption.awskms.main]',
      'region = "eu-west-1"',
      '  [security.encryption.awskms.main]  ; indented, repeated',
      "key_id = 'alias/app'",
      '[secrets_migration]',
      'targets[] = a.b',
      'targets[] = c.d:json',
    ].join('\r\n'),
  );
  const config = await load({ configFile: ini });
  t.equal(config.providers.get('secret_key.default')?.values['secret_key'], '#pass;phrase-long-enough');
  t.equal(config.encryptionProvider, 'secret_key.default');
  t.equal(config.database.path, '/data/app.db');
  t.same(config.providers.get('awskms.main')?.values['region'], 'eu-west-1');
  t.same(config.providers.get('awskms.main')?.values['key_id'], 'alias/app');
  t.same(
    config.targets.map((x) => x.spec),
    ['a.b', 'c.d:json'],
  );
});

t.test('a configFile or envFile that was given must exist', async (t) => {
  const dir = tempDir('atrest-config-');
  const missingIni = `${dir}/nope.ini`;
  let err = await rejection(load({ configFile: missingIni }));
  t.equal(err.code, 'ATREST_CONFIG_FILE');
  t.match(err.message, missingIni);
  t.equal(err.details['path'], missingIni);
  const missingEnv = `${dir}/nope.env`;
  err = await rejection(load({ envFile: missingEnv }));
  t.equal(err.code, 'ATREST_CONFIG_FILE');
  t.match(err.message, missingEnv);
  err = await rejection(load({ configFile: dir }));
  t.equal(err.code, 'ATREST_CONFIG_FILE', 'a directory is not a file');
});

t.test('options: dotted INI paths, provider keys, unknown ones refused', async (t) => {
  const config = await load({
    options: {
      'database.path': '/opt/app.db',
      'security.encryption_provider': 'file.local',
      'security.encryption.file.local.key_path': '/tmp/local.key',
      'security.encryption.secret_key.default.secret_key': 'an option passphrase!',
    },
  });
  t.equal(config.database.path, '/opt/app.db');
  t.equal(config.encryptionProvider, 'file.local');
  t.same(config.providers.get('file.local')?.values, { key_path: '/tmp/local.key' });
  t.same(config.providers.get('file.local')?.origins['key_path'], {
    source: 'option',
    key: 'security.encryption.file.local.key_path',
  });
  t.equal(config.providers.get('secret_key.default')?.values['secret_key'], 'an option passphrase!');
  const err = await rejection(load({ options: { 'database.pth': '/x' } }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err.details['suggestion'], 'database.path');
  const err2 = await rejection(load({ options: { 'security.encryption.awskms.main.regoin': 'x' } }));
  t.equal(err2.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err2.details['suggestion'], 'security.encryption.awskms.main.region');
  t.equal(err2.details['source'], 'option');
});

t.test('provider section names match case-insensitively with - and _ alike; the INI spelling wins', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[security]\nencryption_provider = awskms.example_KEY\n' +
      'available_encryption_providers = AWSKMS.x, awskms.Example-Key file.default,file.default\n' +
      '[security.encryption.awskms.Example-Key]\nregion = eu-north-1\n',
  );
  const err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID', 'an upper-case type is not a provider id');
  t.equal(err.details['key'], 'security.available_encryption_providers');
  const ini2 = writeIn(
    dir,
    'app2.ini',
    '[security]\nencryption_provider = awskms.example_KEY\n' +
      'available_encryption_providers = awskms.Example-Key file.default,file.default\n' +
      '[security.encryption.awskms.Example-Key]\nregion = eu-north-1\n',
  );
  const config = await load({
    configFile: ini2,
    env: { ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_KEY_KEY_ID: 'alias/x' },
  });
  t.equal(config.encryptionProvider, 'awskms.Example-Key');
  t.same(config.availableProviders, ['awskms.Example-Key', 'file.default']);
  t.same(config.providers.get('awskms.Example-Key')?.values['key_id'], 'alias/x');
  t.same(config.providers.get('awskms.Example-Key')?.values['region'], 'eu-north-1');
  const dup = writeIn(
    dir,
    'dup.ini',
    '[security.encryption.awskms.a-b]\nregion = x\n[security.encryption.awskms.A_B]\nregion = y\n',
  );
  const err2 = await rejection(load({ configFile: dup }));
  t.equal(err2.code, 'ATREST_CONFIG_INVALID');
  t.match(err2.message, /same provider/);
});

t.test('the module key is handed to providerSchema and kept on the section', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[security]\nencryption_provider = vault.main\n[security.encryption.vault.main]\n' +
      'module = @acme/atrest-vault\naddress = https://vault.internal:8200\n',
  );
  const source = schemaSource();
  const config = await load({ configFile: ini, providerSchema: source.providerSchema });
  t.same(source.calls.find((c) => c.type === 'vault')?.context, { id: 'vault.main', module: '@acme/atrest-vault' });
  t.equal(config.providers.get('vault.main')?.module, '@acme/atrest-vault');
  t.notOk(
    'module' in (config.providers.get('vault.main')?.values ?? {}),
    'module is not one of the provider schema values',
  );
  t.ok(
    config.entries.some((e) => e.key === 'security.encryption.vault.main.module' && e.value === '@acme/atrest-vault'),
  );
  t.notOk(
    config.entries.some((e) => e.key === 'security.encryption.file.default.module'),
    'an unset module is not listed',
  );
});

t.test('errors of providerSchema pass through unchanged', async (t) => {
  const err = await rejection(load({ env: { ATREST_SECURITY_ENCRYPTION_PROVIDER: 'hsm.main' } }));
  t.equal(err.code, 'ATREST_PROVIDER_NOT_INSTALLED');
  t.match(err.message, 'atrest-provider-hsm');
});
