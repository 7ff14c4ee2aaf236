// The key table: core's own keys, what the built-in providers declare, and the loader's preloading.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { keyTable, sectionTableKey, sectionTarget } from '../src/config/keys.js';
import { ProviderLoader } from '../src/providers/loader.js';
import { rejection, tempDir } from '@atrest/testkit';
import { builtins, load } from './config-fixtures.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

t.test("core's keys: each variable is its path upper-cased after the prefix", async (t) => {
  const keys = keyTable([], 'my-app');
  t.equal(keys.envPrefix, 'MY_APP_');
  t.same(
    keys.owned.map((key) => [key.displayKey, key.variable]),
    [
      ['security.encryption_provider', 'MY_APP_SECURITY_ENCRYPTION_PROVIDER'],
      ['security.available_encryption_providers', 'MY_APP_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS'],
      ['security.encryption.data_keys_cache_ttl', 'MY_APP_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL'],
      [
        'security.encryption.data_keys_cache_cleanup_interval',
        'MY_APP_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_CLEANUP_INTERVAL',
      ],
      ['security.encryption.health_check_interval', 'MY_APP_SECURITY_ENCRYPTION_HEALTH_CHECK_INTERVAL'],
      ['security.encryption.audit_log', 'MY_APP_SECURITY_ENCRYPTION_AUDIT_LOG'],
      ['security.encryption.audit_secret_reads', 'MY_APP_SECURITY_ENCRYPTION_AUDIT_SECRET_READS'],
      ['security.encryption.reopen_plaintext', 'MY_APP_SECURITY_ENCRYPTION_REOPEN_PLAINTEXT'],
      ['security.encryption.algorithm', 'MY_APP_SECURITY_ENCRYPTION_ALGORITHM'],
      ['database.type', 'MY_APP_DATABASE_TYPE'],
      ['database.path', 'MY_APP_DATABASE_PATH'],
      ['database.url', 'MY_APP_DATABASE_URL'],
      ...['host', 'name', 'user', 'password', 'ssl_mode', 'ca_cert_path', 'client_cert_path', 'client_key_path'].map(
        (key) => [`database.${key}`, `MY_APP_DATABASE_${key.toUpperCase()}`],
      ),
      ['database.server_cert_name', 'MY_APP_DATABASE_SERVER_CERT_NAME'],
      ['paths.data', 'MY_APP_PATHS_DATA'],
      ['secrets_migration.targets', 'MY_APP_SECRETS_MIGRATION_TARGETS'],
    ],
  );
  t.equal(keys.variables.get('DATABASE_PATH')?.tableKey, 'database.path');
  t.equal(keys.shared.size, 0, 'no provider declared anything');
  t.same(keys.defaultRules, []);
  t.equal(keys.parseId('secretKey.v1'), undefined, 'no alias without its declaration');
  t.same(keys.parseId('awskms.main'), { type: 'awskms', name: 'main' });
});

t.test('what the built-in providers declare joins the table', async (t) => {
  const keys = keyTable(builtins, 'mb');
  const listed = keys.owned.map((key) => key.displayKey);
  t.equal(listed.indexOf('security.secret_key'), 2, 'a shared [security] key is listed after core [security] keys');
  const secret = keys.ownedByKey.get('security.secret_key');
  t.equal(secret?.tableKey, 'security.encryption.secret_key.default.secret_key', 'it is the section key');
  t.equal(secret?.variable, 'MB_ENCRYPTION_SECRET_KEY', 'the first variable is the one named');
  t.equal(secret?.sensitive, true);
  t.equal(keys.variables.get('SECURITY_SECRET_KEY')?.tableKey, secret?.tableKey, 'both variables set it');
  const keyPath = keys.shared.get(sectionTableKey('file', 'default', 'key_path'));
  t.equal(keyPath?.defaultValue, '/srv/mb-encryption.key', 'the default follows the application name');
  t.equal(keyPath?.variable, 'MB_ENCRYPTION_KEY_PATH');
  t.notOk(keys.ownedByKey.has(keyPath?.displayKey ?? ''), 'a shared key without an INI path is not listed on its own');
  t.same(keyPath?.places, ['MB_ENCRYPTION_KEY_PATH', 'MB_ENCRYPTION_KEY_PATH__FILE']);
  t.same(secret === undefined ? [] : keys.shared.get(secret.tableKey)?.places, [
    '[security] secret_key',
    'MB_ENCRYPTION_SECRET_KEY',
    'MB_ENCRYPTION_SECRET_KEY__FILE',
  ]);
  t.same(keys.parseId('secretKey.v1'), { type: 'secret_key', name: 'default' }, "Grafana's id, declared");
  t.same(keys.defaultRules, [
    { type: 'file', section: 'default', when: 'otherwise' },
    { type: 'secret_key', section: 'default', when: 'configured' },
  ]);
  t.same(keys.builtinTypes, ['file', 'secret_key', 'awskms', 'azurekv']);
  t.match(keys.idAllowed, '(file, secret_key, awskms, azurekv, …)');
  t.equal(
    sectionTarget(keys, 'secret_key', 'Default', 'secret_key').displayKey,
    'security.secret_key',
    'a section key a shared INI key feeds is named as that key',
  );
  t.same(sectionTarget(keys, 'awskms', 'Main', 'region'), {
    tableKey: 'security.encryption.awskms.main.region',
    displayKey: 'security.encryption.awskms.Main.region',
    section: { type: 'awskms', name: 'Main', key: 'region' },
  });
});

t.test("a built-in package's faulty declarations are its fault", async (t) => {
  const key = { section: 'default', key: 'token', env: ['VAULT_TOKEN'], doc: 'Token' };
  const cases = [
    { keys: [{ ...key, ini: 'server.token' }] },
    { keys: [{ ...key, ini: 'token' }] },
    { keys: [{ ...key, env: [] }] },
    { keys: [{ ...key, env: ['DATABASE_PATH'] }] },
  ];
  for (const sharedConfig of cases) {
    t.throws(() => keyTable([{ type: 'vault', sharedConfig }], 'atrest'), { code: 'ATREST_PROVIDER_INVALID' });
  }
});

t.test('the loader reads the declarations of the preloaded built-in package only', async (t) => {
  const found = await new ProviderLoader(repoRoot).builtinProviders();
  t.same(
    found.map((builtin) => builtin.type),
    ['file', 'secret_key', 'awskms', 'azurekv', 'hashicorpvault', 'googlekms'],
  );
  t.match(found[0]?.sharedConfig?.keys, [{ key: 'key_path', env: ['ENCRYPTION_KEY_PATH'] }]);
  t.match(found[1]?.sharedConfig, { idAliases: { 'secretKey.v1': 'default' } });
  t.notOk(
    found.slice(2).some((builtin) => builtin.sharedConfig !== undefined),
    'the cloud packages are not loaded for it',
  );

  const empty = tempDir('atrest-noapp-');
  // Neither the application nor the running program (the loader's second place for built-ins) has them.
  const program = process.argv[1];
  writeFileSync(join(empty, 'app.js'), '');
  process.argv[1] = join(empty, 'app.js');
  const bare = await new ProviderLoader(empty).builtinProviders().finally(() => {
    process.argv[1] = program ?? '';
  });
  t.same(
    bare,
    ['file', 'secret_key', 'awskms', 'azurekv', 'hashicorpvault', 'googlekms'].map((type) => ({ type })),
    'not installed',
  );
  const err = await rejection(load({ builtinProviders: bare }));
  t.equal(err.code, 'ATREST_CONFIG_INVALID', 'without a declared default, a provider must be named');
  t.match(err.message, 'no installed provider package offers a default');
  t.match(err.message, 'ATREST_SECURITY_ENCRYPTION_PROVIDER');
  const named = await load({ builtinProviders: bare, env: { ATREST_SECURITY_ENCRYPTION_PROVIDER: 'awskms.main' } });
  t.equal(named.encryptionProvider, 'awskms.main');
});
