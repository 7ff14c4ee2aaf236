// The settings table, section names, and effective values (precedence, expansion, files read only
// for the winning value).
import t from 'tap';
import { keyTable, sectionTarget } from '../src/config/keys.js';
import type { Layer, RawValue, Setting } from '../src/config/settings.js';
import { RANK, displayKey, sectionNames, settingTable } from '../src/config/settings.js';
import { valueResolver } from '../src/config/values.js';
import type { ConfigOrigin } from '../src/config/types.js';
import { tempDir, writeIn } from '@atrest/testkit';
import { builtins } from './config-fixtures.js';

const keys = keyTable(builtins, 'atrest');
const secret = keys.ownedByKey.get('security.secret_key');

function setting(layer: Layer, raw: RawValue, origin: ConfigOrigin, target = secret): Setting {
  if (target === undefined) throw new Error('the fixtures declare security.secret_key');
  return { ...target, layer, raw, origin };
}

t.test('one key, one value per source; an empty value is not set', async (t) => {
  const table = settingTable([
    setting('ini', { text: 'from the ini file!' }, { source: 'ini', file: '/a.ini', section: 'security' }),
    setting('env', { text: '' }, { source: 'env', variable: 'ATREST_ENCRYPTION_SECRET_KEY' }),
    setting('env', { text: 'same in two names' }, { source: 'env', variable: 'ATREST_ENCRYPTION_SECRET_KEY' }),
    setting('env', { text: 'same in two names' }, { source: 'env', variable: 'ATREST_SECURITY_SECRET_KEY' }),
  ]);
  const entry = table.get('security.encryption.secret_key.default.secret_key');
  t.same([...(entry?.layers.keys() ?? [])], ['ini', 'env']);
  t.same(entry?.layers.get('env')?.origin, { source: 'env', variable: 'ATREST_ENCRYPTION_SECRET_KEY' });
  t.throws(
    () =>
      settingTable([
        setting('env', { text: 'first passphrase' }, { source: 'env', variable: 'ATREST_ENCRYPTION_SECRET_KEY' }),
        setting('env', { file: '/run/secrets/k' }, { source: 'env', variable: 'ATREST_SECURITY_SECRET_KEY__FILE' }),
      ]),
    { code: 'ATREST_CONFIG_INVALID', message: /security\.secret_key is set twice with different values/ },
  );
});

t.test('section names: the best-ranked spelling wins; two INI spellings of one section are refused', async (t) => {
  const names = sectionNames([
    { type: 'awskms', name: 'from_env', rank: RANK.env },
    { type: 'awskms', name: 'From-Env', rank: RANK.id },
    { type: 'awskms', name: 'FROM_ENV', rank: RANK.implied },
  ]);
  t.same(names.get('awskms.from_env'), { type: 'awskms', name: 'From-Env', rank: RANK.id });
  const target = sectionTarget(keys, 'awskms', 'from_env', 'region');
  t.equal(displayKey(target, names), 'security.encryption.awskms.From-Env.region', 'messages spell it so');
  t.equal(displayKey(keys.ownedByKey.get('security.secret_key') ?? target, names), 'security.secret_key');
  t.throws(
    () =>
      sectionNames([
        { type: 'awskms', name: 'a-b', rank: RANK.ini, origin: { source: 'ini', file: '/x.ini' } },
        { type: 'awskms', name: 'A_B', rank: RANK.ini, origin: { source: 'ini', file: '/x.ini' } },
      ]),
    { code: 'ATREST_CONFIG_INVALID', message: /are the same provider .*: merge them\./ },
  );
});

t.test('effective values: the highest source that sets one, its references expanded once', async (t) => {
  const dir = tempDir('atrest-config-');
  const file = writeIn(dir, 'secret', 'passphrase from a file\n');
  const env = { ATREST_ENCRYPTION_SECRET_KEY__FILE: file, WHO: 'env' };
  const table = settingTable([
    setting('ini', { text: '$__file{/does/not/exist}' }, { source: 'ini', file: '/a.ini', section: 'security' }),
    setting('env', { file }, { source: 'env', variable: 'ATREST_ENCRYPTION_SECRET_KEY__FILE', valueFile: file }),
    setting('option', { text: '$__env{EMPTY}' }, { source: 'option', key: 'security.secret_key' }),
  ]);
  const resolve = valueResolver(table, new Map(), (name) => (name === 'EMPTY' ? '' : env[name as keyof typeof env]));
  const found = await resolve('security.encryption.secret_key.default.secret_key');
  t.same(
    found,
    {
      value: 'passphrase from a file',
      origin: { source: 'env', variable: 'ATREST_ENCRYPTION_SECRET_KEY__FILE', valueFile: file },
    },
    'an option that expands to nothing is not set; the INI reference below is never read',
  );
  t.equal(await resolve('database.path'), undefined, 'nothing set');
  const memo = resolve('security.encryption.secret_key.default.secret_key');
  t.equal(memo, resolve('security.encryption.secret_key.default.secret_key'), 'computed once');
  const references = valueResolver(
    settingTable([
      setting('ini', { text: 'from $__env{WHO}' }, { source: 'ini', file: '/a.ini', section: 'security' }),
    ]),
    new Map(),
    (name) => env[name as keyof typeof env],
  );
  t.same(await references('security.encryption.secret_key.default.secret_key'), {
    value: 'from env',
    origin: { source: 'ini', file: '/a.ini', section: 'security', references: ['$__env{WHO}'] },
  });
});
