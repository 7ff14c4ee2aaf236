// Validation: owned sections, provider sections and ids, formats, passphrases, targets.
import t from 'tap';
import type { ProviderConfigSchema } from '../src/providers/contract.js';
import { rejection, tempDir, writeIn } from '@atrest/testkit';
import { load, schemaSource } from './config-fixtures.js';

t.test('unknown key in a provider section: did you mean, with file and section', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[security]\nadmin_user = admin\n[security.encryption.awskms.main]\nkey_id = alias/app\nregoin = eu-north-1\n',
  );
  const err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.match(err.message, 'Unknown key "regoin" in [security.encryption.awskms.main]');
  t.match(err.message, ini);
  t.match(err.message, 'did you mean "region"?');
  t.equal(err.details['suggestion'], 'region');
  t.equal(err.details['file'], ini);
  t.equal(err.details['section'], 'security.encryption.awskms.main');
  t.equal(err.details['key'], 'security.encryption.awskms.main.regoin');
  t.equal(err.details['source'], 'ini');
  t.ok((err.details['validKeys'] as readonly string[]).includes('module'));
  t.equal(err.exitCode, 2);
});

t.test('unknown keys in [security.encryption] and [secrets_migration]', async (t) => {
  const dir = tempDir('atrest-config-');
  let ini = writeIn(dir, 'a.ini', '[security.encryption]\ndata_key_cache_ttl = 5m\n');
  let err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err.details['suggestion'], 'data_keys_cache_ttl');
  t.equal(err.details['section'], 'security.encryption');
  t.match(err.message, 'did you mean "data_keys_cache_ttl"?');
  ini = writeIn(dir, 'b.ini', '[secrets_migration]\ntarget = a.b\n');
  err = await rejection(load({ configFile: ini }));
  t.equal(err.details['suggestion'], 'targets');
  ini = writeIn(dir, 'c.ini', '[secrets_migration]\nbatch_size = 100\n');
  err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.equal(err.details['suggestion'], undefined, 'nothing close: no suggestion');
  t.match(err.message, 'takes only: targets');
});

t.test('malformed provider section names', async (t) => {
  const dir = tempDir('atrest-config-');
  const cases: [string, RegExp][] = [
    [
      '[security.encryption.awskms]\nregion = x\n',
      /has no provider name: write \[security\.encryption\.awskms\.<name>\]/,
    ],
    ['[security.encryption.awskms.a.b]\nregion = x\n', /is not a provider section/],
    ['[security.encryption.AWSKMS.main]\nregion = x\n', /is not a provider section/],
    ['[security.encryption.awskms.-bad]\n', /is not a provider section/],
    ['[security.encryption.]\n', /is not a provider section/],
  ];
  for (const [text, message] of cases) {
    const err = await rejection(load({ configFile: writeIn(dir, 'x.ini', text) }));
    t.equal(err.code, 'ATREST_CONFIG_INVALID', text.split('\n')[0] ?? text);
    t.match(err.message, message);
    t.ok(typeof err.details['section'] === 'string');
  }
});

t.test('provider ids must be <type>.<name>', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(dir, 'grafana.ini', '[security]\nencryption_provider = secretKey.v2\n');
  let err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.equal(err.details['key'], 'security.encryption_provider');
  t.equal(err.details['file'], ini);
  t.match(err.message, 'encryption_provider in [security]');
  t.match(err.message, '"secretKey.v2" is not <type>.<name>');
  t.match(err.message, 'Allowed: <type>.<name>');
  err = await rejection(load({ env: { ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'file.default awskms' } }));
  t.equal(err.details['key'], 'security.available_encryption_providers');
  t.equal(err.details['variable'], 'ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS');
  t.match(err.message, '"awskms" is not <type>.<name>');
  err = await rejection(load({ options: { 'security.encryption_provider': 'file.' } }));
  t.equal(err.details['source'], 'option');
});

t.test('default provider rule and the available list', async (t) => {
  t.equal((await load()).encryptionProvider, 'file.default');
  t.equal(
    (await load({ env: { ATREST_ENCRYPTION_SECRET_KEY: 'sixteen chars ok' } })).encryptionProvider,
    'secret_key.default',
  );
  const dir = tempDir('atrest-config-');
  const ini = writeIn(dir, 'app.ini', '[security.encryption.secret_key.default]\nsecret_key = section passphrase ok\n');
  t.equal(
    (await load({ configFile: ini })).encryptionProvider,
    'secret_key.default',
    'a section key counts as a configured secret',
  );
  const explicit = await load({
    env: { ATREST_ENCRYPTION_SECRET_KEY: 'sixteen chars ok', ATREST_SECURITY_ENCRYPTION_PROVIDER: 'file.default' },
  });
  t.equal(explicit.encryptionProvider, 'file.default');
  t.same(explicit.availableProviders, ['file.default'], 'a configured secret is not made available by itself');
  t.same(
    [...explicit.providers.keys()].sort(),
    ['file.default', 'secret_key.default'],
    'but its section is validated and handed over',
  );

  const listed = await load({
    env: { ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: ' awskms.a,awskms.b  file.default , awskms.A ' },
  });
  t.same(
    listed.availableProviders,
    ['file.default', 'awskms.a', 'awskms.b'],
    'current first, unique, space or comma separated',
  );
});

t.test('a provider in use must be complete', async (t) => {
  let err = await rejection(load({ env: { ATREST_SECURITY_ENCRYPTION_PROVIDER: 'secret_key.default' } }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, 'secret_key.default is the encryption provider but has no passphrase');
  t.match(err.message, 'ATREST_ENCRYPTION_SECRET_KEY');
  err = await rejection(load({ env: { ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'secret_key.old' } }));
  t.match(err.message, 'secret_key.old is an available encryption provider but has no passphrase');
  err = await rejection(load({ env: { ATREST_SECURITY_ENCRYPTION_PROVIDER: 'file.backup' } }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, '[security.encryption.file.backup] needs key_path');
  t.match(err.message, 'ATREST_SECURITY_ENCRYPTION_FILE_BACKUP_KEY_PATH');
  const dir = tempDir('atrest-config-');
  const ini = writeIn(dir, 'app.ini', '[security.encryption.file.backup]\nkey_path =\n');
  err = await rejection(load({ configFile: ini }));
  t.match(
    err.message,
    '[security.encryption.file.backup] needs key_path',
    'a section that exists is checked even when not in use',
  );
  const ok = await load({
    env: {
      ATREST_SECURITY_ENCRYPTION_PROVIDER: 'file.backup',
      ATREST_SECURITY_ENCRYPTION_FILE_BACKUP_KEY_PATH: '/k/backup.key',
    },
  });
  t.equal(ok.providers.get('file.backup')?.values['key_path'], '/k/backup.key');
});

t.test('a short passphrase names where it came from, never the passphrase', async (t) => {
  const passphrase = 'tooShort#42';
  let err = await rejection(load({ env: { ATREST_ENCRYPTION_SECRET_KEY: passphrase } }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, 'environment variable ATREST_ENCRYPTION_SECRET_KEY');
  t.match(err.message, 'at least 16 characters');
  t.notMatch(err.message, passphrase);
  t.notMatch(err.message, String(passphrase.length));
  t.notMatch(JSON.stringify(err.details), passphrase);
  t.equal(err.details['variable'], 'ATREST_ENCRYPTION_SECRET_KEY');
  t.equal(err.details['key'], 'security.secret_key');

  const dir = tempDir('atrest-config-');
  const ini = writeIn(dir, 'app.ini', `[security]\nsecret_key = ${passphrase}\n`);
  err = await rejection(load({ configFile: ini }));
  t.match(err.message, `secret_key in [security] of ${ini}`);
  t.notMatch(err.message, passphrase);
  t.notMatch(JSON.stringify(err.details), passphrase);

  const file = writeIn(dir, 'secret', `${passphrase}\n`);
  err = await rejection(load({ env: { ATREST_SECURITY_SECRET_KEY__FILE: file } }));
  t.match(err.message, 'ATREST_SECURITY_SECRET_KEY__FILE');
  t.notMatch(err.message, passphrase);

  err = await rejection(
    load({
      env: {
        ATREST_SECURITY_ENCRYPTION_SECRET_KEY_NEXT_SECRET_KEY: passphrase,
        ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'secret_key.next',
      },
    }),
  );
  t.match(err.message, 'ATREST_SECURITY_ENCRYPTION_SECRET_KEY_NEXT_SECRET_KEY', 'other secret_key sections too');
  t.notMatch(err.message, passphrase);

  // A short passphrase nothing uses is not an error: Grafana's guides keep `secret_key = AaaaAaaa` beside a KMS
  // provider.
  const unused = await load({
    configFile: writeIn(
      dir,
      'kms.ini',
      `[security]\nsecret_key = AaaaAaaa\nencryption_provider = file.main\n\n[security.encryption.file.main]\n` +
        `key_path = /tmp/x.key\n`,
    ),
  });
  t.equal(unused.encryptionProvider, 'file.main');
  t.same(unused.availableProviders, ['file.main']);

  // 16 characters counted as people count them.
  const config = await load({ env: { ATREST_ENCRYPTION_SECRET_KEY: 'ключ-ключ-ключ-1' } });
  t.equal(config.encryptionProvider, 'secret_key.default');
});

t.test('data_keys_cache_ttl: durations', async (t) => {
  const cases: [string, number][] = [
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['120000', 120_000],
    ['1.5m', 90_000],
  ];
  for (const [text, ms] of cases) {
    t.equal(
      (await load({ env: { ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: text } })).dataKeysCacheTtlMs,
      ms,
      text,
    );
  }
  for (const bad of ['15 minutes', '0', '-5m', '2d', 'soon']) {
    const err = await rejection(load({ env: { ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: bad } }));
    t.equal(err.code, 'ATREST_CONFIG_INVALID', bad);
    t.equal(err.details['key'], 'security.encryption.data_keys_cache_ttl');
    t.equal(err.details['variable'], 'ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL');
    t.match(err.message, 'Allowed: a duration such as 30s');
  }
});

t.test('targets: table.column[:json], identifiers checked, no duplicates', async (t) => {
  const config = await load({
    env: {
      ATREST_SECRETS_MIGRATION_TARGETS:
        'data_source.secure_json_data:json,  user_auth.o_auth_access_token\talert.settings:json',
    },
  });
  t.same(config.targets, [
    { spec: 'data_source.secure_json_data:json', table: 'data_source', column: 'secure_json_data', json: true },
    { spec: 'user_auth.o_auth_access_token', table: 'user_auth', column: 'o_auth_access_token', json: false },
    { spec: 'alert.settings:json', table: 'alert', column: 'settings', json: true },
  ]);
  for (const bad of ['bad-table.col', 'table', 'a.b.c', 'a.b:yaml', '1a.b', 'a.b a.b:json', 'a."b"']) {
    const err = await rejection(load({ env: { ATREST_SECRETS_MIGRATION_TARGETS: bad } }));
    t.equal(err.code, 'ATREST_CONFIG_INVALID', bad);
    t.equal(err.details['key'], 'secrets_migration.targets');
    t.match(err.message, 'Allowed: table.column[:json][@row_key_column]');
  }
});

t.test('provider key formats: reworded with key, origin and what is allowed', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[security]\nencryption_provider = vault.main\n[security.encryption.vault.main]\nport = 99999\nretries = 3x\n' +
      'verify_tls = maybe\nmode = secret\nratio = half\naddress = not a url\ntimeout = 5 minutes\n',
  );
  const err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  const problems = err.details['problems'] as readonly string[];
  t.equal(problems.length, 7, 'every bad value is reported at once');
  const about = (key: string) =>
    problems.find((p) => p.startsWith(`Invalid value for security.encryption.vault.main.${key} `)) ?? '';
  t.match(about('port'), `port in [security.encryption.vault.main] of ${ini}`);
  t.match(about('port'), 'Allowed: a port number, 0 to 65535');
  t.match(about('retries'), 'Allowed: a whole number, 0 or more', '3x is not read as 3');
  t.match(about('verify_tls'), 'Allowed: true or false');
  t.match(about('mode'), 'Allowed: one of: transit, kv');
  t.match(about('ratio'), 'Allowed: a number');
  t.match(about('address'), 'Allowed: an absolute URL');
  t.match(about('timeout'), 'Allowed: a duration');
  t.notMatch(err.message, /value was/, "convict's own wording is not passed on");

  const good = await load({
    env: {
      ATREST_SECURITY_ENCRYPTION_PROVIDER: 'vault.main',
      ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_PORT: '8443',
      ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_MODE: 'kv',
      ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_RATIO: '0.25',
      ATREST_SECURITY_ENCRYPTION_VAULT_MAIN_RETRIES: '0',
    },
  });
  const values = good.providers.get('vault.main')?.values;
  t.equal(values?.['port'], 8443);
  t.equal(values?.['mode'], 'kv');
  t.equal(values?.['ratio'], 0.25);
  t.equal(values?.['retries'], 0);
});

t.test('a provider validator that quotes a secret is not repeated', async (t) => {
  const leaky = schemaSource({
    leaky: {
      token: {
        doc: 'Token',
        default: '',
        sensitive: true,
        format: (value: unknown) => {
          if (value !== '' && String(value).length < 40) throw new Error(`token ${String(value)} is too short`);
        },
      },
    },
  });
  const err = await rejection(
    load({
      env: {
        ATREST_SECURITY_ENCRYPTION_PROVIDER: 'leaky.main',
        ATREST_SECURITY_ENCRYPTION_LEAKY_MAIN_TOKEN: 'hunter2-secret',
      },
      providerSchema: leaky.providerSchema,
    }),
  );
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, 'ATREST_SECURITY_ENCRYPTION_LEAKY_MAIN_TOKEN');
  t.notMatch(err.message, 'hunter2');
  t.notMatch(JSON.stringify(err.details), 'hunter2');
});

t.test("a faulty provider schema is the provider package's fault", async (t) => {
  const cases = {
    upper: { Region: { doc: 'x', format: String, default: '' } },
    nodefault: { region: { doc: 'x', format: String } },
    reserved: { module: { doc: 'x', format: String, default: '' } },
    baddefault: { port: { doc: 'x', format: 'port', default: 'eighty' } },
    badformat: { region: { doc: 'x', format: 'no-such-format', default: '' } },
  };
  for (const type of Object.keys(cases)) {
    // Deliberately malformed schemas, as a faulty package could export them.
    const source = schemaSource(cases as unknown as Record<string, ProviderConfigSchema>);
    const err = await rejection(
      load({ env: { ATREST_SECURITY_ENCRYPTION_PROVIDER: `${type}.main` }, providerSchema: source.providerSchema }),
    );
    t.equal(err.code, 'ATREST_PROVIDER_INVALID', type);
    t.match(err.message, /provider package is faulty/);
  }
});

t.test('several sections of one type may not name different modules', async (t) => {
  const dir = tempDir('atrest-config-');
  const ini = writeIn(
    dir,
    'app.ini',
    '[security.encryption.vault.a]\nmodule = pkg-one\n[security.encryption.vault.b]\nmodule = pkg-two\n',
  );
  const err = await rejection(load({ configFile: ini }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID');
  t.match(err.message, 'pkg-one');
  t.match(err.message, 'pkg-two');
});

t.test('format helpers', async (t) => {
  const { formatDuration, parseDuration, parseProviderId } = await import('../src/config/formats.js');
  const { didYouMean } = await import('../src/config/suggest.js');
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('250'), 250);
  t.equal(parseDuration('1 h'), undefined);
  t.equal(parseDuration(''), undefined);
  t.equal(formatDuration(5_400_000), '1h30m');
  t.equal(formatDuration(900_000), '15m');
  t.equal(formatDuration(1_500), '1s500ms');
  t.same(parseProviderId('awskms.example-encryption-key'), { type: 'awskms', name: 'example-encryption-key' });
  t.equal(parseProviderId('awskms.a.b'), undefined);
  t.equal(parseProviderId('.x'), undefined);
  t.equal(didYouMean('regoin', ['key_id', 'region', 'endpoint']), 'region');
  t.equal(didYouMean('acess_key_id', ['key_id', 'access_key_id', 'secret_access_key']), 'access_key_id');
  t.equal(didYouMean('batch_size', ['targets']), undefined);
});

t.test(
  "Grafana's own ini: secretKey.v1 is read as secret_key.default, data_keys_cache_cleanup_interval is known",
  async (t) => {
    const ini = writeIn(
      tempDir('atrest-config-'),
      'defaults.ini',
      '[security]\nadmin_user = admin\nsecret_key = SW2YcwTIb9zpOOhoPsMm\nencryption_provider = secretKey.v1\n' +
        'available_encryption_providers =\n\n[security.encryption]\ndata_keys_cache_ttl = 15m\n' +
        'data_keys_cache_cleanup_interval = 1m\n',
    );
    const config = await load({ configFile: ini });
    t.equal(config.encryptionProvider, 'secret_key.default');
    t.same(config.availableProviders, ['secret_key.default']);
    t.equal(config.dataKeysCacheCleanupIntervalMs, 60_000);
  },
);
