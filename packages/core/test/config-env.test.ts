// Environment variables: names, provider sections from env only, <NAME>__FILE, $__env and $__file.
import t from 'tap';
import { rejection, tempDir, writeIn } from '@atrest/testkit';
import { load } from './config-fixtures.js';

t.test('every fixed variable of the table', async (t) => {
  const config = await load({
    env: {
      ATREST_SECURITY_ENCRYPTION_PROVIDER: 'secret_key.default',
      ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'file.default,awskms.main',
      ATREST_ENCRYPTION_SECRET_KEY: 'sixteen chars ok',
      ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: '90s',
      ATREST_ENCRYPTION_KEY_PATH: '/data/keys/app.key',
      ATREST_DATABASE_PATH: '/data/app.db',
      ATREST_DATABASE_URL: 'postgres://app@db:5432/app?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem',
      ATREST_SECRETS_MIGRATION_TARGETS: 'report_card.dataset_query:json',
      ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_KEY_ID: 'alias/app',
    },
  });
  t.equal(config.encryptionProvider, 'secret_key.default');
  t.same(config.availableProviders, ['secret_key.default', 'file.default', 'awskms.main']);
  t.equal(config.providers.get('secret_key.default')?.values['secret_key'], 'sixteen chars ok');
  t.equal(config.dataKeysCacheTtlMs, 90_000);
  t.equal(config.providers.get('file.default')?.values['key_path'], '/data/keys/app.key');
  t.same(config.providers.get('file.default')?.origins['key_path'], {
    source: 'env',
    variable: 'ATREST_ENCRYPTION_KEY_PATH',
  });
  // A postgres:// url makes the store PostgreSQL: the SQLite path is read but not used.
  t.equal(config.entries.find((e) => e.key === 'database.path')?.value, '/data/app.db');
  t.equal(config.database.type, 'postgres');
  t.equal(config.database.path, undefined);
  t.equal(config.database.url, 'postgres://app@db:5432/app?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem');
  t.same(config.targets, [
    { spec: 'report_card.dataset_query:json', table: 'report_card', column: 'dataset_query', json: true },
  ]);
  t.equal(config.providers.get('awskms.main')?.values['key_id'], 'alias/app');
});

t.test('Metabase style: one variable turns on the passphrase provider', async (t) => {
  const config = await load({ app: 'mb', env: { MB_ENCRYPTION_SECRET_KEY: 'a-very-long-random-passphrase-value' } });
  t.equal(config.encryptionProvider, 'secret_key.default');
  t.same(config.availableProviders, ['secret_key.default']);
  t.same(config.providers.get('secret_key.default')?.origins['secret_key'], {
    source: 'env',
    variable: 'MB_ENCRYPTION_SECRET_KEY',
  });
  const alias = await load({ app: 'mb', env: { MB_SECURITY_SECRET_KEY: 'a-very-long-random-passphrase-value' } });
  t.equal(alias.encryptionProvider, 'secret_key.default', '<APP>_SECURITY_SECRET_KEY works too');
});

t.test('secret_key.default may also be written as its own section, in INI or env', async (t) => {
  const config = await load({
    env: { ATREST_SECURITY_ENCRYPTION_SECRET_KEY_DEFAULT_SECRET_KEY: 'section passphrase from env' },
  });
  t.equal(config.encryptionProvider, 'secret_key.default');
  t.equal(config.providers.get('secret_key.default')?.values['secret_key'], 'section passphrase from env');
  const entry = config.entries.find((e) => e.key === 'security.secret_key');
  t.same(entry?.origin, { source: 'env', variable: 'ATREST_SECURITY_ENCRYPTION_SECRET_KEY_DEFAULT_SECRET_KEY' });
  t.notOk(
    config.entries.some((e) => e.key === 'security.encryption.secret_key.default.secret_key'),
    'listed once, as security.secret_key',
  );
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[security]\nsecret_key = one passphrase value\n[security.encryption.secret_key.default]\n' +
      'secret_key = another passphrase value\n',
  );
  const err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, 'set twice');
  t.notMatch(err.message, /passphrase value/);
});

t.test('PMM style: the key path from the environment', async (t) => {
  const config = await load({ app: 'pmm', env: { PMM_ENCRYPTION_KEY_PATH: '/srv/custom/pmm.key' } });
  t.equal(config.encryptionProvider, 'file.default');
  t.equal(config.providers.get('file.default')?.values['key_path'], '/srv/custom/pmm.key');
  const entry = config.entries.find((e) => e.key === 'security.encryption.file.default.key_path');
  t.same(entry?.origin, { source: 'env', variable: 'PMM_ENCRYPTION_KEY_PATH' });
  t.equal(entry?.env, 'PMM_ENCRYPTION_KEY_PATH');
});

t.test('a provider section defined entirely in the environment', async (t) => {
  const env = {
    ATREST_SECURITY_ENCRYPTION_PROVIDER: 'awskms.example-encryption-key',
    ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_KEY_ID:
      'arn:aws:kms:eu-north-1:111122223333:alias/ExampleAlias',
    ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_REGION: 'eu-north-1',
    ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_SECRET_ACCESS_KEY:
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_ENDPOINT: 'https://127.0.0.1:4566',
  };
  const config = await load({ env });
  t.equal(config.encryptionProvider, 'awskms.example-encryption-key', 'spelt as encryption_provider spells it');
  const kms = config.providers.get('awskms.example-encryption-key');
  t.same(
    kms?.values,
    {
      key_id: 'arn:aws:kms:eu-north-1:111122223333:alias/ExampleAlias',
      region: 'eu-north-1',
      access_key_id: 'AKIAIOSFODNN7EXAMPLE',
      secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      session_token: '',
      endpoint: 'https://127.0.0.1:4566',
      ca_file: '',
    },
    'ACCESS_KEY_ID is not read as name EXAMPLE_ENCRYPTION_KEY_ACCESS + KEY_ID',
  );
  t.same(kms?.origins['access_key_id'], {
    source: 'env',
    variable: 'ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_ACCESS_KEY_ID',
  });
  const entry = config.entries.find(
    (e) => e.key === 'security.encryption.awskms.example-encryption-key.secret_access_key',
  );
  t.equal(entry?.env, 'ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_SECRET_ACCESS_KEY');
  t.equal(entry?.sensitive, true);

  // Without any id naming it, the section is still there, its name lower-cased.
  const alone = await load({
    env: {
      ATREST_SECURITY_ENCRYPTION_AZUREKV_PROD_EU_VAULT_URI: 'https://prod.vault.azure.net',
      ATREST_SECURITY_ENCRYPTION_AZUREKV_PROD_EU_KEY_ID: 'k',
    },
  });
  t.same([...alone.providers.keys()].sort(), ['azurekv.prod_eu', 'file.default']);
  t.equal(alone.providers.get('azurekv.prod_eu')?.values['vault_uri'], 'https://prod.vault.azure.net');
  t.equal(alone.encryptionProvider, 'file.default');
});

t.test('env overrides an INI provider section key by key', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(dir, 'app.ini', '[security.encryption.awskms.main]\nregion = eu-north-1\nkey_id = alias/ini\n');
  const config = await load({ configFile: ini, env: { ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGION: 'us-east-2' } });
  const kms = config.providers.get('awskms.main');
  t.equal(kms?.values['region'], 'us-east-2');
  t.equal(kms?.values['key_id'], 'alias/ini');
  t.equal(kms?.origins['region']?.source, 'env');
  t.equal(kms?.origins['key_id']?.source, 'ini');
});

t.test('a third-party type in env is known once an id names it', async (t) => {
  const config = await load({
    env: {
      ATREST_SECURITY_ENCRYPTION_PROVIDER: 'vault.main',
      ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_ADDRESS: 'https://vault.internal',
      ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_VERIFY_TLS: 'no',
      ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_TIMEOUT: '2m',
    },
  });
  t.same(config.providers.get('vault.main')?.values, {
    address: 'https://vault.internal',
    port: 8200,
    retries: 3,
    timeout: 120_000,
    verify_tls: false,
    mode: 'transit',
    ratio: 0.5,
    token: '',
  });
  const err = await rejection(
    load({ env: { ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_ADDRESS: 'https://vault.internal' } }),
  );
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY', 'nothing names type vault: the variable is not understood');
  t.match(err.message, 'ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_ADDRESS');
  t.match(err.message, /third-party type/);
});

t.test('unknown variables under atrest-owned prefixes: did you mean', async (t) => {
  let err = await rejection(load({ env: { ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGOIN: 'eu-north-1' } }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err.details['suggestion'], 'ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGION');
  t.equal(err.details['variable'], 'ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGOIN');
  t.equal(err.details['source'], 'env');
  t.equal(err.details['section'], 'security.encryption.awskms.main');
  t.match(err.message, /did you mean ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGION\?/);

  err = await rejection(
    load({ env: { ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_SECRET_ACESS_KEY: 'x' } }),
  );
  t.equal(err.details['suggestion'], 'ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_SECRET_ACCESS_KEY');
  t.notMatch(err.message, /=x|"x"/, 'the value is not shown');

  err = await rejection(load({ env: { ATREST_SECURITY_ENCRYPTION_DATA_KEY_CACHE_TTL: '5m' } }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err.details['suggestion'], 'ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL');

  err = await rejection(load({ env: { ATREST_SECRETS_MIGRATION_TARGET: 'a.b' } }));
  t.equal(err.details['suggestion'], 'ATREST_SECRETS_MIGRATION_TARGETS');

  err = await rejection(load({ env: { ATREST_ENCRYPTION_SECRET_KEY_FILE: '/run/secrets/key' } }));
  t.equal(err.details['suggestion'], 'ATREST_ENCRYPTION_SECRET_KEY');

  err = await rejection(load({ env: { ATREST_ENCRYPTION_KEYPATH__FILE: '/run/secrets/path' } }));
  t.equal(err.details['suggestion'], 'ATREST_ENCRYPTION_KEY_PATH__FILE');

  err = await rejection(load({ env: { ATREST_SECURITY_ENCRYPTION_SECRET_KEY: 'sixteen chars ok' } }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err.details['suggestion'], undefined, 'no far-fetched suggestion (such as ..._PROVIDER)');
  t.match(err.message, 'ATREST_SECURITY_ENCRYPTION_SECRET_KEY is not an atrest setting');
  t.notMatch(err.message, 'sixteen chars ok');

  const dir = tempDir('atrest-config-');
  const dotenv = writeIn(dir, '.env', 'ATREST_SECURITY_ENCRYPTION_PROVIDR=file.default\n');
  err = await rejection(load({ envFile: dotenv }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err.details['suggestion'], 'ATREST_SECURITY_ENCRYPTION_PROVIDER');
  t.equal(err.details['source'], 'dotenv');
  t.equal(err.details['file'], dotenv);
  t.match(err.message, dotenv);
});

t.test("variables of other prefixes and the host application's own names are ignored", async (t) => {
  const config = await load({
    env: {
      ATREST_SECURITY_ADMIN_USER: 'admin',
      ATREST_SECURITY_COOKIE_SECURE: 'true',
      ATREST_DATABASE_TYPE: 'postgres',
      ATREST_DATABASE_HOST: 'db:5432',
      ATREST_LOG_LEVEL: 'debug',
      ATREST_SERVER_HTTP_PORT: '3000',
      ATREST_ADMIN_PASSWORD__FILE: '/does/not/exist',
      GF_SECURITY_ENCRYPTION_PROVIDER: 'awskms.nope',
      GF_SECURITY_ENCRYPTION_AWSKMS_X_REGOIN: 'x',
      atrest_security_encryption_provider: 'awskms.lower',
      PATH: '/usr/bin',
    },
  });
  t.equal(config.encryptionProvider, 'file.default');
  t.same([...config.providers.keys()], ['file.default']);
});

t.test('<NAME>__FILE: the value is the file, one trailing newline stripped', async (t) => {
  const dir = tempDir('atrest-config-');
  const secretFile = writeIn(dir, 'secret', 'passphrase-from-a-file\n');
  const kmsSecret = writeIn(dir, 'kms', 'wJalrXUtnFEMI/K7MDENG\r\n');
  const pathFile = writeIn(dir, 'path', '/data/key\n\n');
  const dotenv = writeIn(dir, '.env', `ATREST_ENCRYPTION_KEY_PATH__FILE=${pathFile}\n`);
  const config = await load({
    envFile: dotenv,
    env: {
      ATREST_ENCRYPTION_SECRET_KEY__FILE: secretFile,
      ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_SECRET_ACCESS_KEY__FILE: kmsSecret,
    },
  });
  const secret = config.providers.get('secret_key.default');
  t.equal(secret?.values['secret_key'], 'passphrase-from-a-file');
  t.same(secret?.origins['secret_key'], {
    source: 'env',
    variable: 'ATREST_ENCRYPTION_SECRET_KEY__FILE',
    valueFile: secretFile,
  });
  t.equal(config.providers.get('awskms.main')?.values['secret_access_key'], 'wJalrXUtnFEMI/K7MDENG');
  t.equal(config.providers.get('file.default')?.values['key_path'], '/data/key\n', 'only one newline is stripped');
  t.same(config.providers.get('file.default')?.origins['key_path'], {
    source: 'dotenv',
    variable: 'ATREST_ENCRYPTION_KEY_PATH__FILE',
    file: dotenv,
    valueFile: pathFile,
  });

  const missing = `${dir}/missing-secret`;
  const err = await rejection(load({ env: { ATREST_ENCRYPTION_SECRET_KEY__FILE: missing } }));
  t.equal(err.code, 'ATREST_CONFIG_FILE');
  t.match(err.message, missing);
  t.match(err.message, 'ATREST_ENCRYPTION_SECRET_KEY__FILE');
  t.equal(err.details['variable'], 'ATREST_ENCRYPTION_SECRET_KEY__FILE');
  t.equal(err.details['path'], missing);

  const both = await rejection(load({ env: { ATREST_DATABASE_PATH: '/a', ATREST_DATABASE_PATH__FILE: pathFile } }));
  t.equal(both.code, 'ATREST_CONFIG_INVALID');
  t.match(both.message, /Both ATREST_DATABASE_PATH and ATREST_DATABASE_PATH__FILE/);

  // A higher source's __FILE beats a lower source's plain value, and the lower one's file is never read.
  const dotenv2 = writeIn(dir, '.env2', `ATREST_ENCRYPTION_SECRET_KEY__FILE=${missing}\n`);
  const layered = await load({ envFile: dotenv2, env: { ATREST_ENCRYPTION_SECRET_KEY__FILE: secretFile } });
  t.equal(layered.providers.get('secret_key.default')?.values['secret_key'], 'passphrase-from-a-file');
});

t.test('$__env{NAME} and $__file{path} in values from every source', async (t) => {
  const dir = tempDir('atrest-config-');
  const kmsSecret = writeIn(dir, 'aws-secret', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n');
  const ini = writeIn(
    dir,
    'app.ini',
    `[security.encryption.awskms.main]\nregion = $__env{AWS_REGION}\nsecret_access_key = $__file{${kmsSecret}}\n` +
      `key_id = arn:aws:kms:$__env{AWS_REGION}:111122223333:alias/$__env{KEY_ALIAS}\n`,
  );
  const dotenv = writeIn(dir, '.env', 'KEY_ALIAS=from-dotenv\nATREST_DATABASE_PATH=$__env{DATA_DIR}/app.db\n');
  const config = await load({
    configFile: ini,
    envFile: dotenv,
    env: {
      AWS_REGION: 'eu-north-1',
      DATA_DIR: '/var/lib/app',
      ATREST_SECRETS_MIGRATION_TARGETS: '$__env{TARGETS}',
      TARGETS: 'a.b',
    },
    options: { 'security.encryption.awskms.main.ca_file': '$__env{DATA_DIR}/ca.pem' },
  });
  const kms = config.providers.get('awskms.main');
  t.equal(kms?.values['region'], 'eu-north-1');
  t.equal(kms?.values['secret_access_key'], 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
  t.equal(
    kms?.values['key_id'],
    'arn:aws:kms:eu-north-1:111122223333:alias/from-dotenv',
    'several references; $__env sees the .env file too',
  );
  t.equal(kms?.values['ca_file'], '/var/lib/app/ca.pem');
  t.same(kms?.origins['secret_access_key'], {
    source: 'ini',
    file: ini,
    section: 'security.encryption.awskms.main',
    key: 'secret_access_key',
    references: [`$__file{${kmsSecret}}`],
  });
  t.equal(config.database.path, '/var/lib/app/app.db');
  t.same(
    config.targets.map((x) => x.spec),
    ['a.b'],
  );

  const regionOnly = writeIn(dir, 'region.ini', '[security.encryption.awskms.main]\nregion = $__env{AWS_REGION}\n');
  let err = await rejection(load({ configFile: regionOnly, env: { KEY_ALIAS: 'x' } }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, 'AWS_REGION');
  t.match(err.message, 'region in [security.encryption.awskms.main]');
  t.equal(err.details['key'], 'security.encryption.awskms.main.region');
  t.equal(err.details['reference'], '$__env{AWS_REGION}');

  const missingFile = writeIn(dir, 'app2.ini', `[security]\nsecret_key = $__file{${dir}/nope}\n`);
  err = await rejection(load({ configFile: missingFile }));
  t.equal(err.code, 'ATREST_CONFIG_FILE');
  t.match(err.message, `${dir}/nope`);
  t.match(err.message, 'secret_key in [security]');
  t.equal(err.details['key'], 'security.secret_key');

  // A value overridden by a higher source is never expanded, so its references cannot fail.
  const overridden = await load({ configFile: missingFile, env: { ATREST_ENCRYPTION_SECRET_KEY: 'sixteen chars ok' } });
  t.equal(overridden.providers.get('secret_key.default')?.values['secret_key'], 'sixteen chars ok');
});

t.test('two aliases of one key set differently in one source', async (t) => {
  const err = await rejection(
    load({
      env: {
        ATREST_ENCRYPTION_SECRET_KEY: 'first passphrase value',
        ATREST_SECURITY_SECRET_KEY: 'second passphrase value',
      },
    }),
  );
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, 'ATREST_ENCRYPTION_SECRET_KEY');
  t.match(err.message, 'ATREST_SECURITY_SECRET_KEY');
  t.notMatch(err.message, /first passphrase|second passphrase/);
  t.notMatch(JSON.stringify(err.details), /first passphrase|second passphrase/);
  const same = await load({
    env: { ATREST_ENCRYPTION_SECRET_KEY: 'same passphrase value', ATREST_SECURITY_SECRET_KEY: 'same passphrase value' },
  });
  t.equal(same.encryptionProvider, 'secret_key.default');
});
