// Schema shape checks, the schema requirements across keys (required, minLength), one validation
// with every problem at once, and the frozen, redacted result.
import t from 'tap';
import { keyFormat } from '../src/config/formats.js';
import { keyTable } from '../src/config/keys.js';
import type { Leaf } from '../src/config/leaves.js';
import { REDACTED, shownReason, shownValue } from '../src/config/redact.js';
import { checkRequirements } from '../src/config/requirements.js';
import { normalizeSchema } from '../src/config/schemas.js';
import type { SectionToValidate } from '../src/config/select.js';
import type { ProviderSectionConfig } from '../src/config/types.js';
import { validateLeaves } from '../src/config/validate.js';
import type { ProviderConfigSchema } from '../src/providers/contract.js';
import { builtins, load, schemas } from './config-fixtures.js';

const keys = keyTable(builtins, 'atrest');

function section(type: string, name: string): SectionToValidate {
  const schema = schemas[type];
  if (schema === undefined) throw new Error(`no fixture schema for ${type}`);
  return { id: `${type}.${name}`, type, name, schema: normalizeSchema(type, schema, keys) };
}

function config(of: SectionToValidate, values: Record<string, unknown>): ProviderSectionConfig {
  const origins = Object.fromEntries(
    Object.keys(values).map((key) => [key, { source: 'env' as const, variable: 'V' }]),
  );
  return { id: of.id, type: of.type, name: of.name, values, origins };
}

t.test('schema keys: required, minLength and label must be well formed; shared keys need their key', async (t) => {
  const faulty: Record<string, unknown>[] = [
    { required: 'sometimes' },
    { minLength: 0 },
    { minLength: 1.5 },
    { label: 7 },
  ];
  for (const extra of faulty) {
    const schema = {
      token: { doc: 'Token', format: String, default: '', ...extra },
    } as unknown as ProviderConfigSchema;
    t.throws(() => normalizeSchema('vault', schema, keys), { code: 'ATREST_PROVIDER_INVALID' }, JSON.stringify(extra));
  }
  t.throws(() => normalizeSchema('file', { path: { doc: 'x', format: String, default: '' } }, keys), {
    code: 'ATREST_PROVIDER_INVALID',
    message: /lacks "key_path", which its shared key security\.encryption\.file\.default\.key_path sets/,
  });
});

t.test("required: 'always' in every section; 'in use' only where the section is in use", async (t) => {
  const backup = section('file', 'backup');
  t.throws(() => checkRequirements(backup, config(backup, { key_path: '' }), undefined, keys), {
    code: 'ATREST_CONFIG_INVALID',
    message:
      '[security.encryption.file.backup] needs key_path: set key_path in [security.encryption.file.backup] or ' +
      'ATREST_SECURITY_ENCRYPTION_FILE_BACKUP_KEY_PATH.',
  });
  const old = section('secret_key', 'old');
  checkRequirements(old, config(old, { secret_key: '' }), undefined, keys);
  t.throws(() => checkRequirements(old, config(old, { secret_key: '' }), 'an available encryption provider', keys), {
    message: /^secret_key\.old is an available encryption provider but has no passphrase: set secret_key in/,
  });
  const fed = section('secret_key', 'default');
  t.throws(() => checkRequirements(fed, config(fed, { secret_key: '' }), 'the encryption provider', keys), {
    message:
      'secret_key.default is the encryption provider but has no passphrase: set [security] secret_key, ' +
      'ATREST_ENCRYPTION_SECRET_KEY or ATREST_ENCRYPTION_SECRET_KEY__FILE.',
    details: { key: 'security.secret_key', provider: 'secret_key.default' },
  });
});

t.test('minLength: counted in code points, only where the section is in use, never quoting the value', async (t) => {
  const fed = section('secret_key', 'default');
  const short = '😀'.repeat(15);
  t.throws(() => checkRequirements(fed, config(fed, { secret_key: short }), 'the encryption provider', keys), {
    code: 'ATREST_CONFIG_INVALID',
    message: /too short for the encryption provider secret_key\.default, a passphrase needs at least 16 characters/,
  });
  checkRequirements(fed, config(fed, { secret_key: short }), undefined, keys);
  checkRequirements(fed, config(fed, { secret_key: '😀'.repeat(16) }), 'the encryption provider', keys);
  const err = (() => {
    try {
      checkRequirements(fed, config(fed, { secret_key: short }), 'the encryption provider', keys);
    } catch (caught) {
      return caught as Error;
    }
    return undefined;
  })();
  t.notMatch(err?.message ?? '', short);
});

t.test('one validation reports every problem at once, in the words of the key and its origin', async (t) => {
  const leaf = (key: string, format: unknown, value: string, sensitive = false): Leaf => ({
    convictPath: key,
    key,
    env: undefined,
    doc: key,
    format: keyFormat(format, undefined),
    defaultValue: format === 'port' ? 80 : '',
    sensitive,
    effective: { value, origin: { source: 'env', variable: key.toUpperCase() } },
    listedOnlyWhenSet: false,
  });
  const quoting = (value: unknown): void => {
    if (value !== 'long enough') throw new Error(`"${String(value)}" is wrong`);
  };
  try {
    validateLeaves([
      leaf('a.port', 'port', 'x80'),
      leaf('a.token', quoting, 'hunter2', true),
      leaf('a.ok', String, 'y'),
    ]);
    t.fail('expected a rejection');
  } catch (caught) {
    const err = caught as Error & { code: string; details: { problems: readonly string[] } };
    t.equal(err.code, 'ATREST_CONFIG_INVALID');
    t.same(err.details.problems, [
      'Invalid value for a.port (environment variable A.PORT). Allowed: a port number, 0 to 65535.',
      'Invalid value for a.token (environment variable A.TOKEN). Allowed: a value this key accepts.',
    ]);
    t.notMatch(err.message, 'hunter2', "a provider validator's reason about a secret is not repeated");
  }
  t.same([...validateLeaves([leaf('a.port', 'port', '8443')])], [['a.port', 8443]]);
});

t.test('redaction: one rule, and the result is frozen', async (t) => {
  t.equal(shownValue('hunter2', true), REDACTED);
  t.equal(shownValue('', true), '', 'an unset secret shows as not set');
  t.same(shownValue(['a'], false), ['a']);
  t.equal(shownReason('quotes it', true, false), undefined);
  t.equal(shownReason('says why', true, true), 'says why');
  const loaded = await load({ env: { ATREST_ENCRYPTION_SECRET_KEY: 'the passphrase itself' } });
  const entry = loaded.entries.find((e) => e.key === 'security.secret_key');
  t.equal(entry?.value, REDACTED, 'entries hold no secret');
  t.equal(loaded.providers.get('secret_key.default')?.values['secret_key'], 'the passphrase itself');
  t.ok(Object.isFrozen(loaded) && Object.isFrozen(loaded.entries) && Object.isFrozen(entry));
  t.ok(Object.isFrozen(loaded.providers.get('secret_key.default')?.values));
  t.equal(loaded.entries.find((e) => e.key === 'database.url')?.value, '', 'an unset secret is not set');
});
