// The shared provider conformance suite, against the Cloud KMS emulator with Google's own libraries.
import t from 'tap';
import { runProviderConformance, startGoogleKmsEmulator } from '@atrest/testkit';
import { googleKmsProvider } from '../src/index.js';
import { emulatorConfig } from './helpers.js';

const emulator = await startGoogleKmsEmulator();
t.teardown(() => emulator.close());
const other = emulator.createCryptoKey('other');
emulator.grant(emulator.serviceAccount, other);

await runProviderConformance(t, {
  definition: googleKmsProvider,
  type: 'googlekms',
  config: emulatorConfig(emulator),
  otherConfig: emulatorConfig(emulator, { key_id: other }),
});

t.test('every conformance call reached the emulator', async (t) => {
  const calls = emulator.calls;
  t.ok(calls.encrypt > 0, `encrypt called ${calls.encrypt} times`);
  t.ok(calls.decrypt > 0, `decrypt called ${calls.decrypt} times`);
  t.ok(calls.token > 0, `the token endpoint of token_uri was asked ${calls.token} times`);
});
