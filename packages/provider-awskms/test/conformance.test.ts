// The shared provider conformance suite, against the AWS KMS emulator with the real SDK.
import t from 'tap';
import { runProviderConformance, startAwsKmsEmulator } from '@atrest/testkit';
import { createProvider } from './helpers.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const other = emulator.createKey({ description: 'another key' });

await runProviderConformance(t, {
  create: () => createProvider(emulator),
  createOther: () => createProvider(emulator, { key_id: other.keyId }, 'other'),
});

t.test('every conformance call reached the emulator', async (t) => {
  const calls = emulator.calls;
  t.ok(calls.Encrypt > 0, `Encrypt called ${calls.Encrypt} times`);
  t.ok(calls.Decrypt > 0, `Decrypt called ${calls.Decrypt} times`);
  t.ok(calls.DescribeKey > 0, 'health() called DescribeKey');
});
