// The shared provider conformance suite, against the Vault emulator.
import t from 'tap';
import { runProviderConformance, startHashicorpVaultEmulator } from '@atrest/testkit';
import { createProvider } from './helpers.js';

const emulator = await startHashicorpVaultEmulator();
t.teardown(() => emulator.close());
emulator.createKey('other');
emulator.definePolicy('other', { 'transit/encrypt/other': ['update'], 'transit/decrypt/other': ['update'] });
const otherToken = emulator.createToken({ policies: ['default', 'other'], period: 3600 });

await runProviderConformance(t, {
  create: () => createProvider(emulator),
  createOther: () => createProvider(emulator, { key_ring: 'other', token: otherToken }, undefined, 'other'),
});

t.test('every conformance call reached the emulator', async (t) => {
  const calls = emulator.calls;
  t.ok(calls.encrypt > 0, `encrypt called ${calls.encrypt} times`);
  t.ok(calls.decrypt > 0, `decrypt called ${calls.decrypt} times`);
});
