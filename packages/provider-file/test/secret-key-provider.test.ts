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
  const start = process.hrtime.bigint();
  const w = await p.wrapKey(k, ctx);
  const first = Number(process.hrtime.bigint() - start);
  const s2 = process.hrtime.bigint();
  for (let i = 0; i < 20; i++) await p.wrapKey(k, ctx);
  const twenty = Number(process.hrtime.bigint() - s2);
  t.ok(
    twenty < first,
    `20 more wraps (${twenty / 1e6} ms) cost less than the first one with its KDF (${first / 1e6} ms)`,
  );
  t.equal(w.ciphertext[2], 15, 'default scrypt N = 2^15 is recorded');
  t.same(Buffer.from(await p.unwrapKey(w, ctx)), Buffer.from(k));
});
