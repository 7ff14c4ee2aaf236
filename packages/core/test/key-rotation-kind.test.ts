// atrest.migrations.keyRotation says what rotate-encryption-key does with the current provider, as
// the provider declares it (the CLI asks for a new passphrase only when it is `passphrase`, whatever
// the provider's type is called): the key file makes its own new key, the passphrase takes a new
// one, a cloud key (AWS KMS here, on the emulator) is rotated in its own service.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import type { OpenAtrestOptions } from '@atrest/core';
import { startAwsKmsEmulator, tempDir } from '@atrest/testkit';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

async function keyRotationWith(options: Partial<OpenAtrestOptions>): Promise<string> {
  const dir = tempDir('atrest-rotation-kind-');
  const a = await openAtrest({
    database: join(dir, 'app.db'),
    appRoot: repoRoot,
    env: {},
    ...options,
    options: { 'security.encryption.file.default.key_path': join(dir, 'app.key'), ...options.options },
  });
  try {
    await a.secrets.set('probe', 'value');
    return a.migrations.keyRotation;
  } finally {
    await a.close();
  }
}

t.test('the key file generates its new key', async (t) => {
  t.equal(await keyRotationWith({}), 'generated-key');
});

t.test('the passphrase takes a new passphrase', async (t) => {
  t.equal(
    await keyRotationWith({ env: { ATREST_ENCRYPTION_SECRET_KEY: 'a passphrase of 16+ characters' } }),
    'passphrase',
  );
});

t.test('an AWS KMS key has no rotation of atrest (its service rotates it)', async (t) => {
  const kms = await startAwsKmsEmulator();
  t.teardown(() => kms.close());
  const section = Object.fromEntries(
    Object.entries(kms.providerKeys).map(([key, value]) => [`security.encryption.awskms.main.${key}`, value]),
  );
  t.equal(await keyRotationWith({ options: { ...section, 'security.encryption_provider': 'awskms.main' } }), 'none');
});
