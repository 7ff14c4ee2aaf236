// The shared provider conformance suite, against the AWS KMS emulator with the real SDK.
import t from 'tap';
import { runProviderConformance, startAwsKmsEmulator } from '@atrest/testkit';
import { awsKmsProvider } from '../src/index.js';
import { emulatorConfig } from './helpers.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const other = emulator.createKey({ description: 'another key' });

await runProviderConformance(t, {
  definition: awsKmsProvider,
  type: 'awskms',
  config: emulatorConfig(emulator),
  otherConfig: emulatorConfig(emulator, { key_id: other.keyId }),
});

t.test('every conformance call reached the emulator', async (t) => {
  const calls = emulator.calls;
  t.ok(calls.Encrypt > 0, `Encrypt called ${calls.Encrypt} times`);
  t.ok(calls.Decrypt > 0, `Decrypt called ${calls.Decrypt} times`);
  t.ok(calls.DescribeKey > 0, 'health() called DescribeKey');
});
