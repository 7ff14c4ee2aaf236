// A data_keys_cache_ttl shorter than a provider's wrap (a millisecond against a KMS round trip):
// every encryption still succeeds and reads back. Found by the metrics test: the data key an
// encryption had just made and committed had expired by the time it sealed, and encrypt failed with
// ATREST_INTERNAL. Many concurrent encryptions awaiting one new key, and sequential ones after
// pauses (each finding its key expired), on the AWS KMS emulator.
import { join } from 'node:path';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import { startAwsKmsEmulator, tempDir } from '@atrest/testkit';
import { cloudEnv, repoRoot } from './helpers.js';

Object.assign(process.env, cloudEnv);

t.test('a 1ms data key cache: every encryption succeeds and reads back', async (t) => {
  const kms = await startAwsKmsEmulator();
  t.teardown(() => kms.close());
  const section = Object.fromEntries(
    Object.entries(kms.providerKeys).map(([key, value]) => [`security.encryption.awskms.main.${key}`, value]),
  );
  const a = await openAtrest({
    database: join(tempDir('atrest-short-ttl-'), 'app.db'),
    appRoot: repoRoot,
    env: {},
    options: {
      ...section,
      'security.encryption_provider': 'awskms.main',
      'security.encryption.data_keys_cache_ttl': '1ms',
    },
  });
  t.teardown(() => a.close());
  const values = Array.from({ length: 200 }, (_, i) => `value ${i}`);
  const concurrent = await Promise.all(values.map((v, i) => a.encryptText(v, { context: `t.c:${i}` })));
  const sequential: string[] = [];
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 3));
    sequential.push(await a.encryptText(`later ${i}`, { context: `t.s:${i}` }));
  }
  const read = await Promise.all(concurrent.map((c, i) => a.decryptText(c, { context: `t.c:${i}` })));
  t.same(read, values, 'the 200 concurrent encryptions read back');
  for (let i = 0; i < 20; i++) {
    t.equal(await a.decryptText(sequential[i] ?? '', { context: `t.s:${i}` }), `later ${i}`);
  }
});
