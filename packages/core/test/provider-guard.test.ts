// Core's guard around a provider: the contract it enforces (lengths, no echoed plaintext, keyRef),
// the data key copies it zeroes, how a provider's errors become catalogue errors, health, and the
// declared rotation (rotate, --prune) with the usage and key-in-use refusals.
import t from 'tap';
import type { KeyProvider, KeyRotation, WrappedKey } from '../src/index.js';
import { CheckedProvider } from '../src/providers/checked.js';

const context = { data_key_id: 'dk', label: 'guard/2026-01-01' };
const dataKey = (): Uint8Array => new Uint8Array(32).fill(7);

/** A provider that XORs with a fixed byte: enough to tell what the guard checks. */
function xorProvider(extra: Partial<KeyProvider> = {}): KeyProvider & { seen: Uint8Array[] } {
  const seen: Uint8Array[] = [];
  return {
    seen,
    async wrapKey(key) {
      seen.push(key);
      return { ciphertext: Uint8Array.from(key, (b) => b ^ 0x5a), keyRef: 'xor' };
    },
    async unwrapKey(wrapped) {
      return Uint8Array.from(wrapped.ciphertext, (b) => b ^ 0x5a);
    },
    ...extra,
  };
}

const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

t.test('the copy of the data key given to the provider is zeroed once it is done', async (t) => {
  const inner = xorProvider();
  const guard = new CheckedProvider('xor.main', 'xor', inner);
  const key = dataKey();
  const wrapped = await guard.wrapKey(key, context);
  t.same([...key], [...dataKey()], "the caller's data key is left as it was");
  t.equal(inner.seen.length, 1, 'the provider saw one copy');
  t.not(inner.seen[0], key, 'a copy, not the caller’s array');
  t.ok(
    inner.seen[0]?.every((b) => b === 0),
    'zeroed after the wrap',
  );
  t.same([...(await guard.unwrapKey(wrapped, context))], [...dataKey()], 'round trip');
});

t.test('contract breaches are ATREST_PROVIDER_CONTRACT naming the provider', async (t) => {
  const short = await rejection(
    new CheckedProvider('xor.main', 'xor', xorProvider()).wrapKey(new Uint8Array(16), context),
  );
  t.match(short, { code: 'ATREST_PROVIDER_CONTRACT', details: { provider: 'xor.main' } }, 'a 16-byte data key');
  const echo = new CheckedProvider(
    'echo.main',
    'echo',
    xorProvider({ wrapKey: async (key) => ({ ciphertext: Uint8Array.from([1, ...key, 2]), keyRef: 'e' }) }),
  );
  t.match(await rejection(echo.wrapKey(dataKey(), context)), { code: 'ATREST_PROVIDER_CONTRACT' }, 'echoed plaintext');
  const noRef = new CheckedProvider(
    'noref.main',
    'noref',
    xorProvider({ wrapKey: async () => ({ ciphertext: new Uint8Array(8), keyRef: '' }) }),
  );
  t.match(await rejection(noRef.wrapKey(dataKey(), context)), { code: 'ATREST_PROVIDER_CONTRACT' }, 'empty keyRef');
  let returned: Uint8Array | undefined;
  const long = new CheckedProvider(
    'long.main',
    'long',
    xorProvider({
      unwrapKey: async () => {
        returned = new Uint8Array(33).fill(9);
        return returned;
      },
    }),
  );
  const err = await rejection(long.unwrapKey({ ciphertext: new Uint8Array(4), keyRef: 'x' }, context));
  t.match(err, { code: 'ATREST_PROVIDER_CONTRACT', message: /33 bytes instead of 32/ }, 'a 33-byte data key');
  t.ok(
    returned?.every((b) => b === 0),
    'the refused bytes are zeroed',
  );
});

t.test("a provider's errors become catalogue errors naming the provider", async (t) => {
  const failing = (err: unknown): CheckedProvider =>
    new CheckedProvider(
      'third.main',
      'third',
      xorProvider({
        unwrapKey: async () => {
          throw err;
        },
      }),
    );
  const wrapped: WrappedKey = { ciphertext: new Uint8Array(4), keyRef: 'x' };
  const known = Object.assign(new Error('no such key'), { code: 'ATREST_WRONG_KEY' });
  t.match(
    await rejection(failing(known).unwrapKey(wrapped, context)),
    { code: 'ATREST_WRONG_KEY', message: 'no such key', details: { provider: 'third.main' } },
    'a known code carried by a plain error is kept',
  );
  const unknown = Object.assign(new Error('boom'), { code: 'EWHATEVER' });
  const failed = await rejection(failing(unknown).unwrapKey(wrapped, context));
  t.match(failed, { code: 'ATREST_PROVIDER_FAILED', message: /third\.main failed to unwrap a data key: boom/ });
  const guard = failing(new Error('down'));
  await rejection(guard.unwrapKey(wrapped, context));
  t.same(guard.lastHealth.healthy, false, 'a failure marks the provider unhealthy for status');
});

t.test('health never throws; it reports the code and the reason', async (t) => {
  const sick = new CheckedProvider(
    'sick.main',
    'sick',
    xorProvider({
      health: async () => {
        throw Object.assign(new Error('unreachable'), { code: 'ATREST_PROVIDER_UNAVAILABLE' });
      },
    }),
  );
  t.same(await sick.health(), { healthy: false, reason: 'unreachable.', code: 'ATREST_PROVIDER_UNAVAILABLE' });
  t.same(await new CheckedProvider('ok.main', 'ok', xorProvider()).health(), { healthy: true });
});

t.test('no rotation of its own: rotate and --prune are usage errors', async (t) => {
  const guard = new CheckedProvider('kms.main', 'kms', xorProvider());
  t.equal(guard.rotation, 'none');
  t.match(await rejection(guard.rotateKey()), { code: 'ATREST_USAGE', message: /no key of its own to rotate/ });
  t.match(
    await rejection(guard.pruneKeys([check('a', { ciphertext: new Uint8Array(32), keyRef: 'arn:one' })])),
    { code: 'ATREST_USAGE', message: /nothing to prune/ },
    '--prune with data keys under several key refs is still a usage error, not ATREST_KEY_IN_USE',
  );
});

t.test('a passphrase rotation needs the new passphrase and prunes nothing', async (t) => {
  const passphrases: string[] = [];
  const rotation: KeyRotation = {
    kind: 'passphrase',
    rotate: async (next) => {
      passphrases.push(next);
      return xorProvider();
    },
  };
  const guard = new CheckedProvider('secret_key.default', 'secret_key', xorProvider({ rotation }));
  t.equal(guard.rotation, 'passphrase');
  t.match(await rejection(guard.rotateKey()), { code: 'ATREST_USAGE' }, 'no passphrase given');
  await guard.rotateKey('a new passphrase of length');
  t.same(passphrases, ['a new passphrase of length'], 'the provider got it');
  t.equal(guard.rotation, 'none', 'the guard now wraps the provider the rotation returned');
  t.match(await rejection(guard.pruneKeys([])), { code: 'ATREST_USAGE' });
});

/** A key ring of XOR bytes (version n XORs with n): its record names the version in its first byte. */
function ringProvider(versions: number[], pruned: (readonly string[])[], claimedRef?: string): KeyProvider {
  const current = Math.max(...versions);
  const rotation: KeyRotation = {
    kind: 'generated-key',
    rotate: async () => ringProvider([...versions, current + 1], pruned, claimedRef),
    prune: async (keep) => {
      pruned.push(keep);
      return versions.filter((v) => v !== current).map((v) => `v${v}`);
    },
    currentKeyOnly: () => ringProvider([current], pruned, claimedRef),
  };
  return {
    currentKeyRef: `v${current}`,
    rotation,
    async wrapKey(key) {
      return {
        ciphertext: Uint8Array.of(current, ...key.map((b) => b ^ current)),
        keyRef: claimedRef ?? `v${current}`,
      };
    },
    async unwrapKey(wrapped) {
      const version = wrapped.ciphertext[0] ?? 0;
      if (!versions.includes(version))
        throw Object.assign(new Error(`no key v${version}`), { code: 'ATREST_KEY_MISMATCH' });
      return wrapped.ciphertext.subarray(1).map((b) => b ^ version);
    },
  };
}

const check = (id: string, wrapped: WrappedKey, required = true) => ({ id, wrapped, context, required });

t.test(
  'a generated-key rotation: --prune refuses while a data key unwraps only with an old key, then prunes',
  async (t) => {
    const pruned: (readonly string[])[] = [];
    const guard = new CheckedProvider('file.default', 'file', ringProvider([1], pruned));
    t.equal(guard.rotation, 'generated-key');
    t.equal(guard.currentKeyRef, 'v1');
    const old = await guard.wrapKey(dataKey(), context);
    await guard.rotateKey();
    t.equal(guard.currentKeyRef, 'v2', 'the rotated provider is the one in use');
    const fresh = await guard.wrapKey(dataKey(), context);
    // The stored key reference claims the current key: only unwrapping tells.
    const lying = { ciphertext: old.ciphertext, keyRef: 'v2' };
    const inUse = await rejection(guard.pruneKeys([check('a', fresh), check('b', lying), check('c', lying, false)]));
    t.match(inUse, { code: 'ATREST_KEY_IN_USE', details: { dataKeys: ['b', 'c'] } }, 'two data keys need v1');
    t.same(pruned, [], 'nothing was pruned');
    const gone = { ciphertext: Uint8Array.of(9, ...dataKey()), keyRef: 'v2' };
    t.match(
      await rejection(guard.pruneKeys([check('a', fresh), check('d', gone)])),
      { code: 'ATREST_KEY_IN_USE', details: { dataKeys: ['d'] }, message: /unwrap with none of its keys/ },
      'a data key that unwraps with no key at all: not proven, nothing pruned',
    );
    t.same(pruned, [], 'still nothing pruned');
    t.same(await guard.pruneKeys([check('a', fresh), check('d', gone, false)]), ['v1'], 'prunes once proven');
    t.same(pruned, [['v2']], 'keeping the current key');
  },
);

t.test('a generated-key rotation without currentKeyOnly: --prune is refused, nothing pruned', async (t) => {
  const pruned: (readonly string[])[] = [];
  const inner = ringProvider([1, 2], pruned);
  const rotation = inner.rotation;
  if (rotation?.kind !== 'generated-key') throw new Error('unreachable');
  const { currentKeyOnly: _, ...withoutProof } = rotation;
  const guard = new CheckedProvider('third.main', 'third', { ...inner, rotation: withoutProof });
  const wrapped = await guard.wrapKey(dataKey(), context);
  t.match(await rejection(guard.pruneKeys([check('a', wrapped)])), { code: 'ATREST_USAGE', message: /cannot show/ });
  t.same(pruned, [], 'nothing was pruned');
});
