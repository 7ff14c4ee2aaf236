// The shared provider conformance suite, against the Vault emulator.
import t from 'tap';
import { runProviderConformance, startHashicorpVaultEmulator } from '@atrest/testkit';
import { hashicorpVaultProvider } from '../src/index.js';
import { emulatorConfig } from './helpers.js';

const emulator = await startHashicorpVaultEmulator();
t.teardown(() => emulator.close());
emulator.createKey('other');
emulator.definePolicy('other', { 'transit/encrypt/other': ['update'], 'transit/decrypt/other': ['update'] });
const otherToken = emulator.createToken({ policies: ['default', 'other'], period: 3600 });

await runProviderConformance(t, {
  definition: hashicorpVaultProvider,
  type: 'hashicorpvault',
  config: emulatorConfig(emulator),
  otherConfig: emulatorConfig(emulator, { key_ring: 'other', token: otherToken }),
});

t.test('every conformance call reached the emulator', async (t) => {
  const calls = emulator.calls;
  t.ok(calls.encrypt > 0, `encrypt called ${calls.encrypt} times`);
  t.ok(calls.decrypt > 0, `decrypt called ${calls.decrypt} times`);
});
