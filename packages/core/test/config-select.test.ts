// Provider ids, the declared default rules, the sections to validate, and provider variables.
import t from 'tap';
import { collectVariables } from '../src/config/collect-env.js';
import { keyTable } from '../src/config/keys.js';
import { readProviderVariables } from '../src/config/provider-variables.js';
import type { SchemaSource } from '../src/config/schemas.js';
import { normalizeSchema } from '../src/config/schemas.js';
import { readProviderIds, selectProviders } from '../src/config/select.js';
import type { SectionMention, Setting } from '../src/config/settings.js';
import { RANK, sectionNames, settingTable } from '../src/config/settings.js';
import { valueResolver } from '../src/config/values.js';
import { builtins, schemas } from './config-fixtures.js';

const keys = keyTable(builtins, 'atrest');
const schemaFor: SchemaSource = async (type) => {
  const schema = schemas[type];
  if (schema === undefined) throw new Error(`no fixture schema for ${type}`);
  return normalizeSchema(type, schema, keys);
};

/** Ids, selection and sections for the variables `env` (collected as the loader collects them). */
async function select(env: Record<string, string>, mentions: readonly SectionMention[] = []) {
  const collected = collectVariables('env', env, keys);
  const table = settingTable(collected.settings);
  const resolve = valueResolver(table, new Map(), (name) => env[name]);
  const ids = await readProviderIds(resolve, keys);
  const variables = await readProviderVariables(
    collected.providerVariables,
    sectionNames([...mentions, ...ids.mentions]),
    schemaFor,
    keys,
  );
  const all: Setting[] = [...collected.settings, ...variables.settings];
  const final = settingTable(all);
  const values = valueResolver(final, new Map(), (name) => env[name]);
  return selectProviders(ids, [...mentions, ...variables.mentions], final, values, schemaFor, keys);
}

t.test('ids: aliases read as what they stand for; a malformed id names its key and origin', async (t) => {
  const resolve = valueResolver(
    settingTable(
      collectVariables(
        'env',
        {
          ATREST_SECURITY_ENCRYPTION_PROVIDER: ' secretKey.v1 ',
          ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'awskms.A, file.default',
        },
        keys,
      ).settings,
    ),
    new Map(),
    () => undefined,
  );
  const ids = await readProviderIds(resolve, keys);
  t.same(ids.current?.ref, { type: 'secret_key', name: 'default' });
  t.same(ids.available, [
    { type: 'awskms', name: 'A' },
    { type: 'file', name: 'default' },
  ]);
  t.same(
    ids.mentions.map((m) => m.rank),
    [RANK.id, RANK.id, RANK.id],
  );
  const bad = valueResolver(
    settingTable(collectVariables('env', { ATREST_SECURITY_ENCRYPTION_PROVIDER: 'awskms' }, keys).settings),
    new Map(),
    () => undefined,
  );
  await t.rejects(readProviderIds(bad, keys), {
    code: 'ATREST_CONFIG_INVALID',
    details: { key: 'security.encryption_provider', variable: 'ATREST_SECURITY_ENCRYPTION_PROVIDER' },
  });
});

t.test("default rules: a 'configured' provider whose section has a value, else the 'otherwise' one", async (t) => {
  const none = await select({});
  t.equal(none.current, 'file.default');
  t.ok(none.currentIsDefault);
  t.same(
    none.sections.map((s) => s.id),
    ['file.default'],
  );
  const passphrase = await select({ ATREST_ENCRYPTION_SECRET_KEY: 'a passphrase of some length' });
  t.equal(passphrase.current, 'secret_key.default');
  t.same(passphrase.available, ['secret_key.default']);
  const empty = await select({ ATREST_ENCRYPTION_SECRET_KEY: '$__env{NOTHING}', NOTHING: '' });
  t.equal(empty.current, 'file.default', 'a passphrase that expands to nothing is not configured');
  const named = await select({ ATREST_SECURITY_ENCRYPTION_PROVIDER: 'awskms.x', ATREST_ENCRYPTION_KEY_PATH: '/k' });
  t.equal(named.current, 'awskms.x');
  t.notOk(named.currentIsDefault);
  t.same(
    named.sections.map((s) => s.id),
    ['awskms.x', 'file.default'],
    'a section a shared key gives a value is validated, though not in use',
  );
});

t.test('sections: current and available first, then the others sorted, spelt as the sources spell them', async (t) => {
  const selection = await select(
    {
      ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'awskms.zeta',
      ATREST_SECURITY_ENCRYPTION_AZUREKV_BETA_KEY_ID: 'k',
      ATREST_SECURITY_ENCRYPTION_AWSKMS_ALPHA_REGION: 'eu-north-1',
    },
    [{ type: 'azurekv', name: 'Beta', rank: RANK.ini }],
  );
  t.same(
    selection.sections.map((s) => s.id),
    ['file.default', 'awskms.zeta', 'awskms.alpha', 'azurekv.Beta'],
  );
  t.same(selection.available, ['file.default', 'awskms.zeta']);
});

t.test('provider variables: the longest key at the end, a known section name first', async (t) => {
  const read = async (env: Record<string, string>, mentions: SectionMention[] = []) =>
    readProviderVariables(
      collectVariables('env', env, keys).providerVariables,
      sectionNames(mentions),
      schemaFor,
      keys,
    );
  const plain = await read({ ATREST_SECURITY_ENCRYPTION_AWSKMS_MY_KEY_ACCESS_KEY_ID: 'AKIA' });
  t.same(
    plain.settings.map((s) => s.tableKey),
    ['security.encryption.awskms.my_key.access_key_id'],
  );
  t.same(plain.mentions, [{ type: 'awskms', name: 'my_key', rank: RANK.env }]);
  const known = await read({ ATREST_SECURITY_ENCRYPTION_AWSKMS_MY_KEY_ACCESS_KEY_ID: 'AKIA' }, [
    { type: 'awskms', name: 'my-key-access', rank: RANK.id },
  ]);
  t.same(
    known.settings.map((s) => s.tableKey),
    ['security.encryption.awskms.my_key_access.key_id'],
    'a section some source names wins over the longer key',
  );
  await t.rejects(read({ ATREST_SECURITY_ENCRYPTION_HSM_MAIN_PIN: '1234' }), {
    code: 'ATREST_CONFIG_UNKNOWN_KEY',
    message: /\[security\.encryption\] takes data_keys_cache_ttl and data_keys_cache_cleanup_interval/,
  });
  await t.rejects(read({ ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGOIN: 'x' }), {
    code: 'ATREST_CONFIG_UNKNOWN_KEY',
    details: {
      suggestion: 'ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGION',
      section: 'security.encryption.awskms.main',
    },
  });
});
