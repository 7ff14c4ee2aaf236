// The provider conformance suite: every provider, ours or a third party's, runs it first.
import { randomBytes } from 'node:crypto';
import type { EncryptionContext, KeyProvider } from '@atrest/core';
import { isAtrestError } from '@atrest/core';
import type { Test } from 'tap';

/** How the suite gets providers to test. */
export type ConformanceOptions = {
  /** Makes the provider under test (a fresh instance each call, same key). */
  readonly create: () => Promise<KeyProvider>;
  /** Makes a provider of the same type with a different key: what it wrapped must not unwrap with `create`'s. */
  readonly createOther: () => Promise<KeyProvider>;
};

const context: EncryptionContext = { data_key_id: '00112233445566778899aabbccddeeff', label: 'conformance/2026-01-01' };

function expectAtrestError(t: Test, err: unknown, what: string): void {
  t.ok(isAtrestError(err), `${what}: throws an AtrestError (got ${(err as { code?: unknown })?.code ?? String(err)})`);
}

/** Run the conformance suite as subtests of `t`. */
export async function runProviderConformance(t: Test, options: ConformanceOptions): Promise<void> {
  const dataKey = new Uint8Array(randomBytes(32));

  await t.test('round trip', async (t) => {
    const p = await options.create();
    const wrapped = await p.wrapKey(dataKey, context);
    t.type(wrapped.ciphertext, Uint8Array, 'ciphertext is bytes');
    t.type(wrapped.keyRef, 'string', 'keyRef is a string');
    t.ok(wrapped.keyRef.length > 0, 'keyRef is not empty');
    t.notOk(
      Buffer.from(wrapped.ciphertext).includes(Buffer.from(dataKey)),
      'wrapped key does not contain the data key',
    );
    const back = await p.unwrapKey(wrapped, context);
    t.same(Buffer.from(back), Buffer.from(dataKey), 'unwraps to the same data key');
    const again = await p.wrapKey(dataKey, context);
    t.notSame(Buffer.from(again.ciphertext), Buffer.from(wrapped.ciphertext), 'wrapping twice gives different bytes');
    const fresh = await options.create();
    t.same(
      Buffer.from(await fresh.unwrapKey(wrapped, context)),
      Buffer.from(dataKey),
      'a new instance with the same key unwraps it',
    );
    await p.close?.();
    await fresh.close?.();
  });

  await t.test('wrong key', async (t) => {
    const p = await options.create();
    const other = await options.createOther();
    const wrapped = await p.wrapKey(dataKey, context);
    const err = await other.unwrapKey(wrapped, context).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err, 'another key does not unwrap it');
    expectAtrestError(t, err, 'wrong key');
    await p.close?.();
    await other.close?.();
  });

  await t.test('tampered wrapped key', async (t) => {
    const p = await options.create();
    const wrapped = await p.wrapKey(dataKey, context);
    for (const at of [0, Math.floor(wrapped.ciphertext.length / 2), wrapped.ciphertext.length - 1]) {
      const bad = new Uint8Array(wrapped.ciphertext);
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      const err = await p.unwrapKey({ ciphertext: bad, keyRef: wrapped.keyRef }, context).then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(err, `a flipped bit at byte ${at} is refused`);
      expectAtrestError(t, err, `flipped byte ${at}`);
    }
    const cut = await p
      .unwrapKey(
        { ciphertext: wrapped.ciphertext.subarray(0, wrapped.ciphertext.length - 1), keyRef: wrapped.keyRef },
        context,
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expectAtrestError(t, cut, 'truncated');
    await p.close?.();
  });

  await t.test('context mismatch', async (t) => {
    const p = await options.create();
    const wrapped = await p.wrapKey(dataKey, context);
    for (const other of [
      { ...context, label: 'conformance/2026-01-02' },
      { data_key_id: context['data_key_id'] ?? '' },
      { ...context, extra: 'x' },
    ]) {
      const err = await p.unwrapKey(wrapped, other).then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(err, `context ${JSON.stringify(other)} is refused`);
      expectAtrestError(t, err, 'context mismatch');
    }
    await p.close?.();
  });

  await t.test('close', async (t) => {
    const p = await options.create();
    await p.wrapKey(dataKey, context);
    await p.close?.();
    t.pass('close resolves');
    const p2 = await options.create();
    if (p2.health) {
      await t.resolves(p2.health(), 'health resolves on a working provider');
    }
    await p2.close?.();
  });
}
