// Conformance, lifecycle: the section is checked like an application's (an unknown key refused),
// health and describe() (never a secret in it), the declared rotation does what it declares, and
// close() releases the provider.
import { randomBytes } from 'node:crypto';
import type { CheckedProvider, WrappedKey } from '@atrest/core';
import type { Test } from 'tap';
import type { ConformanceProviders } from './conformance-common.js';
import { conformanceContext as context, expectCode, rejectionOf } from './conformance-common.js';

const check = (id: string, wrapped: WrappedKey) => ({ id, wrapped, context, required: true });

async function rotation(t: Test, p: CheckedProvider, dataKey: Uint8Array): Promise<void> {
  const before = await p.wrapKey(dataKey, context);
  if (p.rotation === 'none') {
    expectCode(t, await rejectionOf(p.rotateKey()), ['ATREST_USAGE'], 'no rotation: rotateKey');
    expectCode(t, await rejectionOf(p.pruneKeys([check('a', before)])), ['ATREST_USAGE'], 'no rotation: --prune');
    return;
  }
  if (p.rotation === 'passphrase') {
    await p.rotateKey('conformance: a brand new passphrase');
    const after = await p.wrapKey(dataKey, context);
    t.same(Buffer.from(await p.unwrapKey(after, context)), Buffer.from(dataKey), 'passphrase: wraps under the new one');
    expectCode(
      t,
      await rejectionOf(p.pruneKeys([check('a', after)])),
      ['ATREST_USAGE'],
      'passphrase: nothing to prune',
    );
    return;
  }
  t.equal(p.currentKeyRef, before.keyRef, 'generated key: currentKeyRef is what wrapKey gives');
  await p.rotateKey();
  const after = await p.wrapKey(dataKey, context);
  t.not(after.keyRef, before.keyRef, 'generated key: new wraps use the new key');
  t.equal(p.currentKeyRef, after.keyRef, 'generated key: currentKeyRef follows');
  t.same(Buffer.from(await p.unwrapKey(before, context)), Buffer.from(dataKey), 'the old key still unwraps');
  // The old record under the current key's reference: the provider must tell by unwrapping.
  const lying = { ciphertext: before.ciphertext, keyRef: after.keyRef };
  const inUse = await rejectionOf(p.pruneKeys([check('a', after), check('b', lying)]));
  expectCode(t, inUse, ['ATREST_KEY_IN_USE'], 'prune while a data key needs the old key (its keyRef says otherwise)');
  t.same(Buffer.from(await p.unwrapKey(before, context)), Buffer.from(dataKey), 'the old key is still there');
  t.same(await p.pruneKeys([check('a', after)]), [before.keyRef], 'prune removes the old key once nothing needs it');
  t.same(Buffer.from(await p.unwrapKey(after, context)), Buffer.from(dataKey), 'the current key still unwraps');
}

export async function testLifecycle(t: Test, providers: ConformanceProviders): Promise<void> {
  const unknown = await rejectionOf(providers.createWith({ no_such_key_in_any_schema: 'x' }));
  expectCode(t, unknown, ['ATREST_CONFIG_UNKNOWN_KEY'], 'an unknown key in the section');

  const p = await providers.create();
  t.same(await p.health(), { healthy: true }, 'health: healthy');
  const facts = p.describe();
  for (const [key, value] of Object.entries(facts)) {
    t.ok(['string', 'number', 'boolean'].includes(typeof value), `describe(): ${key} is a plain value`);
  }
  const shown = JSON.stringify(facts);
  t.notOk(
    providers.sensitiveValues.some((secret) => shown.includes(secret)),
    'describe() shows no sensitive value of the section',
  );
  t.ok(['generated-key', 'passphrase', 'none'].includes(p.rotation), `declares its rotation: ${p.rotation}`);
  await rotation(t, p, new Uint8Array(randomBytes(32)));
  await t.resolves(p.close(), 'close resolves');
}
