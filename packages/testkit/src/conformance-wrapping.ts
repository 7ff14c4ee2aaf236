// Conformance, wrapping: a data key round-trips, the wrapped bytes never hold it, two wraps
// differ, and a fresh instance on the same key unwraps what another one wrapped.
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import type { ConformanceProviders } from './conformance-common.js';
import { conformanceContext as context } from './conformance-common.js';

export async function testWrapping(t: Test, providers: ConformanceProviders): Promise<void> {
  const dataKey = new Uint8Array(randomBytes(32));
  const original = Buffer.from(dataKey);
  const p = await providers.create();
  const wrapped = await p.wrapKey(dataKey, context);
  t.same(Buffer.from(dataKey), original, "the caller's data key is left as it was");
  t.type(wrapped.ciphertext, Uint8Array, 'ciphertext is bytes');
  t.ok(wrapped.keyRef.length > 0, 'keyRef is a non-empty string');
  t.notOk(Buffer.from(wrapped.ciphertext).includes(Buffer.from(dataKey)), 'the wrapped key does not hold the data key');
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'unwraps to the same data key');
  const again = await p.wrapKey(dataKey, context);
  t.notSame(Buffer.from(again.ciphertext), Buffer.from(wrapped.ciphertext), 'wrapping twice gives different bytes');
  const fresh = await providers.create();
  t.same(
    Buffer.from(await fresh.unwrapKey(wrapped, context)),
    Buffer.from(dataKey),
    'a new instance with the same key unwraps it',
  );
  const empty = await p.wrapKey(dataKey, {});
  t.same(Buffer.from(await p.unwrapKey(empty, {})), Buffer.from(dataKey), 'an empty context works too');
  await p.close();
  await fresh.close();
}
