import t from 'tap';
import { runProviderConformance } from '@atrest/testkit';
import { SecretKeyProvider, secretKeyProvider } from '@atrest/provider-file';

const ctx = { atrest_data_key: 'ab', atrest_label: 'x/2026-01-01' };
// Cheap KDF parameters keep the suite fast; the record carries them, as in production.
const fast = { log2N: 10, r: 8, p: 1 };

t.test('conformance', async (t) => {
  await runProviderConformance(t, {
    definition: secretKeyProvider,
    type: 'secret_key',
    config: { secret_key: 'correct horse battery staple' },
    otherConfig: { secret_key: 'another passphrase entirely' },
  });
});

t.test('short passphrase is a configuration error', async (t) => {
  t.throws(() => new SecretKeyProvider('short'), { code: 'ATREST_CONFIG_INVALID' });
});

t.test('wrong passphrase is a typed error, never garbage', async (t) => {
  const a = new SecretKeyProvider('correct horse battery staple', fast);
  const w = await a.wrapKey(new Uint8Array(32).fill(3), ctx);
  const b = new SecretKeyProvider('correct horse battery stapl3', fast);
  await t.rejects(b.unwrapKey(w, ctx), { code: 'ATREST_WRONG_KEY' });
});

t.test('the KDF runs once per salt, not per wrap', async (t) => {
  const p = new SecretKeyProvider('correct horse battery staple');
  const k = new Uint8Array(32).fill(9);
  const w = await p.wrapKey(k, ctx);
  const more = await Promise.all(Array.from({ length: 20 }, () => p.wrapKey(k, ctx)));
  // version ‖ kdf ‖ log2(N) ‖ r ‖ p ‖ salt: one salt for every wrap, so its scrypt key is derived once.
  const params = (c: Uint8Array): string => Buffer.from(c.subarray(0, 21)).toString('hex');
  t.same(new Set(more.map((m) => params(m.ciphertext))), new Set([params(w.ciphertext)]), '21 wraps, one KDF salt');
  t.equal(w.ciphertext[2], 15, 'default scrypt N = 2^15 is recorded');
  t.same(Buffer.from(await p.unwrapKey(w, ctx)), Buffer.from(k));
});
