// Conformance, refusals: another key, a changed or cut wrapped key and another context are each
// refused with the error code an application acts on, never with garbage or an untyped error.
import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '@atrest/core';
import type { Test } from 'tap';
import type { ConformanceProviders } from './conformance-common.js';
import { conformanceContext as context, expectCode, rejectionOf } from './conformance-common.js';

/** A key that is not the one: told apart from damage where the provider can, never a crash. */
const WRONG_KEY: readonly ErrorCode[] = ['ATREST_WRONG_KEY', 'ATREST_KEY_MISMATCH'];
/** A wrapped key that was changed: it does not authenticate (a changed key reference reads as another key). */
const DAMAGED: readonly ErrorCode[] = ['ATREST_DECRYPT_FAILED', 'ATREST_WRONG_KEY', 'ATREST_KEY_MISMATCH'];
/** Another context: the binding fails, as a changed value or as the wrong key. */
const OTHER_CONTEXT: readonly ErrorCode[] = ['ATREST_DECRYPT_FAILED', 'ATREST_WRONG_KEY'];

export async function testRefusals(t: Test, providers: ConformanceProviders): Promise<void> {
  const dataKey = new Uint8Array(randomBytes(32));
  const p = await providers.create();
  const wrapped = await p.wrapKey(dataKey, context);

  const other = await providers.createOther();
  expectCode(t, await rejectionOf(other.unwrapKey(wrapped, context)), WRONG_KEY, 'another key');
  await other.close();

  for (const at of [0, Math.floor(wrapped.ciphertext.length / 2), wrapped.ciphertext.length - 1]) {
    const bad = new Uint8Array(wrapped.ciphertext);
    bad[at] = (bad[at] ?? 0) ^ 0x01;
    const err = await rejectionOf(p.unwrapKey({ ciphertext: bad, keyRef: wrapped.keyRef }, context));
    expectCode(t, err, DAMAGED, `a flipped bit at byte ${at}`);
  }
  const cut = wrapped.ciphertext.subarray(0, wrapped.ciphertext.length - 1);
  expectCode(t, await rejectionOf(p.unwrapKey({ ciphertext: cut, keyRef: wrapped.keyRef }, context)), DAMAGED, 'cut');

  for (const changed of [
    { ...context, label: 'conformance/2026-01-02' },
    { data_key_id: context.data_key_id },
    { ...context, extra: 'x' },
  ]) {
    const err = await rejectionOf(p.unwrapKey(wrapped, changed));
    expectCode(t, err, OTHER_CONTEXT, `context ${JSON.stringify(changed)}`);
  }

  const wrongLength = await rejectionOf(p.wrapKey(new Uint8Array(16), context));
  expectCode(t, wrongLength, ['ATREST_PROVIDER_CONTRACT'], 'a 16-byte data key, refused by the guard');
  await p.close();
}
