// Wrong JavaScript types to the API (issue 9 §6): every public method of an instance and every
// option of openAtrest, given values of the wrong type, rejects with ATREST_INVALID_ARGUMENT naming
// the call, never a raw TypeError; nothing stored is lost or changed, and the instance keeps working.
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { MAX_VALUE_BYTES, isAtrestError, openAtrest } from '@atrest/core';
import type { Atrest, OpenAtrestOptions } from '@atrest/core';
import { tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const dir = tempDir('atrest-bad-arguments-');
const database = join(dir, 'app.db');
const base: OpenAtrestOptions = {
  appRoot: repoRoot,
  database,
  env: { ATREST_SECRETS_MIGRATION_TARGETS: 'ds.password' },
  options: { 'security.encryption.file.default.key_path': join(dir, 'k.key') },
};

const WRONG: readonly unknown[] = [null, 42, true, {}, [], () => 1, Symbol('s'), 10n, new Date(0), Number.NaN];
const WRONG_OPTIONS: readonly unknown[] = [
  null,
  42,
  'context',
  [],
  { context: null },
  { context: 42 },
  { context: [] },
  { target: 42 },
  { target: null },
  { target: {} },
  { scope: 42 },
  { field: 7 },
  { row: {} },
  { row: 1.5 },
  { allowPlaintext: 'yes' },
  { allowPlainText: true },
];
const WRONG_MIGRATION_OPTIONS: readonly unknown[] = [
  null,
  42,
  'x',
  [],
  { dryRun: 'x' },
  { batchSize: 'x' },
  { batchSize: 0 },
  { workers: 'x' },
  { targets: 'ds.password' },
  { targets: [1] },
  { onProgress: 1 },
  { newSecret: 42 },
  { full: 'x' },
  { dryrun: true },
];

const label = (v: unknown): string =>
  typeof v === 'symbol' || typeof v === 'bigint' || typeof v === 'function' ? typeof v : JSON.stringify(v);

/** Runs `call`; the outcome as the test counts it: 'typed' (ATREST_INVALID_ARGUMENT), else what it was. */
async function outcome(call: () => unknown): Promise<string> {
  try {
    await call();
    return 'resolved';
  } catch (err) {
    if (isAtrestError(err, 'ATREST_INVALID_ARGUMENT')) return 'typed';
    return isAtrestError(err) ? err.code : `raw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`;
  }
}

async function expectTyped(t: Test, what: string, call: () => unknown): Promise<void> {
  t.equal(await outcome(call), 'typed', what);
}

t.test('every method of an instance refuses wrong types with ATREST_INVALID_ARGUMENT', async (t) => {
  const a: Atrest = await openAtrest(base);
  t.teardown(() => a.close());
  await a.secrets.set('kept', 'the value');
  const ciphertext = await a.encrypt('plain', { context: 'c' });
  const text = await a.encryptText('plain', { context: 'c' });
  const api = a as unknown as Record<string, (...args: unknown[]) => unknown>;
  const secrets = a.secrets as unknown as Record<string, (...args: unknown[]) => unknown>;
  const migrations = a.migrations as unknown as Record<string, (...args: unknown[]) => unknown>;
  let calls = 0;
  const check = async (what: string, call: () => unknown) => {
    calls++;
    await expectTyped(t, what, call);
  };
  for (const m of ['encrypt', 'encryptText', 'decrypt', 'decryptText']) {
    for (const v of WRONG) await check(`${m}(${label(v)})`, () => api[m]?.(v));
  }
  for (const o of WRONG_OPTIONS) {
    await check(`encrypt('x', ${label(o)})`, () => api.encrypt?.('x', o));
    await check(`encryptText('x', ${label(o)})`, () => api.encryptText?.('x', o));
    await check(`decrypt(ciphertext, ${label(o)})`, () => api.decrypt?.(ciphertext, o));
    await check(`decryptText(text, ${label(o)})`, () => api.decryptText?.(text, o));
  }
  await check('decryptText(bytes)', () => api.decryptText?.(ciphertext));
  for (const m of ['set', 'get', 'getText', 'file', 'delete']) {
    for (const v of [...WRONG, '', 'a\nb', 'x'.repeat(256)])
      await check(`secrets.${m}(${label(v)})`, () => secrets[m]?.(v, 'v'));
  }
  for (const v of WRONG) await check(`secrets.set('kept', ${label(v)})`, () => secrets.set?.('kept', v));
  for (const m of ['reEncrypt', 'disableEncryption', 'rotateEncryptionKey']) {
    for (const o of WRONG_MIGRATION_OPTIONS) {
      const own =
        m === 'rotateEncryptionKey'
          ? ['newSecret', 'full', 'onProgress']
          : ['dryRun', 'batchSize', 'workers', 'targets', 'onProgress'];
      // An option of the other call is an unknown option here: refused too.
      if (typeof o === 'object' && o !== null && !Array.isArray(o) && !Object.keys(o).some((k) => own.includes(k))) {
        await check(`migrations.${m}(${label(o)}) (not its option)`, () => migrations[m]?.(o));
        continue;
      }
      await check(`migrations.${m}(${label(o)})`, () => migrations[m]?.(o));
    }
  }
  t.equal(calls, 222, 'every wrong call was made');
  // Nothing lost, nothing made, and the instance still works.
  t.equal(await a.secrets.getText('kept'), 'the value', 'the secret kept its value');
  t.same(
    (await a.secrets.list()).map((s) => s.name),
    ['kept'],
    'no secret was created by a wrong call',
  );
  t.equal((await a.decrypt(ciphertext, { context: 'c' })).toString(), 'plain', 'the instance still decrypts');
});

t.test('a value over the documented limit is refused before it is copied', async (t) => {
  const a = await openAtrest(base);
  t.teardown(() => a.close());
  t.equal(MAX_VALUE_BYTES, 64 * 1024 * 1024, 'the limit is 64 MiB, as docs/errors.md says');
  const big = Buffer.alloc(MAX_VALUE_BYTES + 1);
  for (const [what, call] of [
    ['encrypt', () => a.encrypt(big)],
    ['encryptText', () => a.encryptText(big)],
    ['secrets.set', () => a.secrets.set('big', big)],
  ] as const) {
    const err = await call().catch((e: unknown) => e);
    t.ok(isAtrestError(err, 'ATREST_INVALID_ARGUMENT'), `${what} of ${big.length} bytes is refused`);
    t.match((err as Error).message, /over atrest's limit of 67108864 bytes/, 'saying the limit');
  }
  t.equal(await a.secrets.get('big'), undefined, 'nothing was stored');
  const atLimit = await a.encrypt(big.subarray(0, MAX_VALUE_BYTES));
  t.equal((await a.decrypt(atLimit)).length, MAX_VALUE_BYTES, 'a value of exactly the limit encrypts and decrypts');
});

t.test('openAtrest and loadAtrestConfig refuse options of the wrong type', async (t) => {
  const wrong: readonly unknown[] = [
    null,
    42,
    'path.db',
    { ...base, app: 42 },
    { ...base, configFile: 42 },
    { ...base, envFile: {} },
    { ...base, env: 42 },
    { ...base, env: { ATREST_SECURITY_ENCRYPTION_PROVIDER: 42 } },
    { ...base, options: [] },
    { ...base, options: { 'security.encryption_provider': 42 } },
    { ...base, database: 42 },
    { ...base, database: {} },
    { ...base, database: null },
    { ...base, appRoot: 42 },
    { ...base, logger: 42 },
    { ...base, logger: {} },
    { ...base, create: 'yes' },
    { ...base, onAudit: 42 },
    { ...base, actor: 42 },
    { ...base, datbase: database },
  ];
  const { loadAtrestConfig } = await import('@atrest/core');
  for (const o of wrong) {
    const shown =
      typeof o === 'object' && o !== null
        ? label(Object.fromEntries(Object.entries(o).filter(([k, v]) => (base as Record<string, unknown>)[k] !== v)))
        : label(o);
    await expectTyped(t, `openAtrest(${shown})`, async () => (await openAtrest(o as OpenAtrestOptions)).close());
    await expectTyped(t, `loadAtrestConfig(${shown})`, () => loadAtrestConfig(o as OpenAtrestOptions));
  }
  const a = await openAtrest(base);
  t.equal(await a.secrets.getText('kept'), 'the value', 'the database still opens with its secret');
  await a.close();
});
