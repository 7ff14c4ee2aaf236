// The collectors: pure functions from one source (INI sections, variables, options) to settings,
// section mentions, section keys to check, and provider variables for later.
import t from 'tap';
import { collectVariables } from '../src/config/collect-env.js';
import { collectIni } from '../src/config/collect-ini.js';
import { collectOptions } from '../src/config/collect-options.js';
import { parseIniSections } from '../src/config/ini.js';
import { keyTable } from '../src/config/keys.js';
import { RANK } from '../src/config/settings.js';
import { builtins } from './config-fixtures.js';

const keys = keyTable(builtins, 'atrest');
const ini = (text: string) => collectIni(parseIniSections(text), '/etc/app.ini', keys);

t.test('INI: owned keys, provider sections, and nothing of the host', async (t) => {
  const found = ini(
    [
      'encryption_provider = root-is-the-hosts',
      '[security]',
      'admin_user = admin',
      'secret_key = a long enough passphrase',
      '[database]',
      'type = sqlite3',
      'path = /data/app.db',
      '[server]',
      'http_port = 3000',
      '[security.encryption.awskms.Main]',
      'region = eu-north-1',
      'module =',
    ].join('\n'),
  );
  t.same(
    found.settings.map((s) => [s.tableKey, s.displayKey, s.raw]),
    [
      [
        'security.encryption.secret_key.default.secret_key',
        'security.secret_key',
        { text: 'a long enough passphrase' },
      ],
      ['database.type', 'database.type', { text: 'sqlite3' }],
      ['database.path', 'database.path', { text: '/data/app.db' }],
      ['security.encryption.awskms.main.region', 'security.encryption.awskms.Main.region', { text: 'eu-north-1' }],
      ['security.encryption.awskms.main.module', 'security.encryption.awskms.Main.module', { text: '' }],
    ],
    'the shared [security] secret_key is the secret_key.default section key; an empty value is collected as empty',
  );
  t.same(found.settings[2]?.origin, { source: 'ini', file: '/etc/app.ini', section: 'database', key: 'path' });
  t.same(found.mentions, [
    {
      type: 'awskms',
      name: 'Main',
      rank: RANK.ini,
      origin: { source: 'ini', file: '/etc/app.ini', section: 'security.encryption.awskms.Main' },
    },
  ]);
  t.same(
    found.sectionKeys.map((c) => c.key),
    ['region', 'module'],
    'section keys wait for the schema',
  );
  t.same(found.providerVariables, []);
});

t.test('INI: an unknown key in an owned section, a malformed provider section', async (t) => {
  t.throws(() => ini('[security.encryption]\ndata_keys_cache_tl = 5m\n'), {
    code: 'ATREST_CONFIG_UNKNOWN_KEY',
    details: { suggestion: 'data_keys_cache_ttl', section: 'security.encryption', file: '/etc/app.ini' },
  });
  t.throws(() => ini('[secrets_migration]\nbatch = 1\n'), {
    code: 'ATREST_CONFIG_UNKNOWN_KEY',
    message:
      /Unknown key "batch" in \[secrets_migration\] of \/etc\/app\.ini\. \[secrets_migration\] belongs to atrest/,
  });
  t.throws(() => ini('[security.encryption.file]\n'), {
    code: 'ATREST_CONFIG_INVALID',
    message: /has no provider name/,
  });
  t.throws(() => ini('[security.encryption.File.x]\n'), { code: 'ATREST_CONFIG_INVALID', message: /not a provider/ });
});

t.test('variables: fixed names, provider variables kept for later, owned prefixes, the host', async (t) => {
  const found = collectVariables(
    'dotenv',
    {
      ATREST_DATABASE_PATH: '/data/app.db',
      ATREST_ENCRYPTION_KEY_PATH__FILE: '/run/secrets/path',
      ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGION: 'eu-north-1',
      ATREST_DATABASE_MAX_OPEN_CONN: '10', // the host's (ATREST_DATABASE_TYPE is atrest's since issue 8)
      ATREST_SECRETS_MIGRATION_TARGETS: '',
      OTHER_ENCRYPTION_SECRET_KEY: 'not ours',
    },
    keys,
    '/app/.env',
  );
  t.same(
    found.settings.map((s) => [s.tableKey, s.raw, s.origin]),
    [
      [
        'database.path',
        { text: '/data/app.db' },
        { source: 'dotenv', variable: 'ATREST_DATABASE_PATH', file: '/app/.env' },
      ],
      [
        'security.encryption.file.default.key_path',
        { file: '/run/secrets/path' },
        {
          source: 'dotenv',
          variable: 'ATREST_ENCRYPTION_KEY_PATH__FILE',
          file: '/app/.env',
          valueFile: '/run/secrets/path',
        },
      ],
    ],
    'an empty variable is not set; a shared variable sets its section key',
  );
  t.same(
    found.providerVariables.map((v) => [v.base, v.tail, v.viaFile]),
    [['ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGION', 'AWSKMS_MAIN_REGION', false]],
  );
  t.same(found.mentions, [], 'a variable names no section before its schema is known');
  t.throws(() => collectVariables('env', { ATREST_ENCRYPTION_SECRET: 'x' }, keys), {
    code: 'ATREST_CONFIG_UNKNOWN_KEY',
    message: /Every variable under ATREST_ENCRYPTION_ is atrest's/,
  });
  t.throws(() => collectVariables('env', { ATREST_DATABASE_PATH: '/a', ATREST_DATABASE_PATH__FILE: '/b' }, keys), {
    code: 'ATREST_CONFIG_INVALID',
    message: /Both ATREST_DATABASE_PATH and ATREST_DATABASE_PATH__FILE are set: keep one of them\./,
  });
});

t.test('options: owned keys, provider keys, anything else refused', async (t) => {
  const found = collectOptions(
    { 'database.path': '/opt/app.db', 'security.encryption.vault.Main.port': '8200', 'security.secret_key': 'x' },
    keys,
  );
  t.same(
    found.settings.map((s) => s.tableKey),
    ['database.path', 'security.encryption.vault.main.port', 'security.encryption.secret_key.default.secret_key'],
  );
  t.same(found.mentions, [{ type: 'vault', name: 'Main', rank: RANK.option }]);
  t.same(found.sectionKeys, [
    {
      type: 'vault',
      name: 'Main',
      key: 'port',
      origin: { source: 'option', key: 'security.encryption.vault.Main.port' },
    },
  ]);
  t.throws(() => collectOptions({ 'security.encryption_providr': 'x' }, keys), {
    code: 'ATREST_CONFIG_UNKNOWN_KEY',
    details: { suggestion: 'security.encryption_provider' },
  });
  t.throws(() => collectOptions({ 'security.encryption.Vault.main.port': '1' }, keys), {
    code: 'ATREST_CONFIG_INVALID',
  });
});
