// Configured as Grafana documents it: an INI [security.encryption.awskms.<name>] section (secret
// from the environment), read by core's config layer, the package resolved from the application's
// node_modules, and secrets encrypted through core with the emulator as KMS.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { formatConfigEntries, isAtrestError, loadAtrestConfig, openAtrest, silentLogger } from '@atrest/core';
import { createOptions, rejection, startAwsKmsEmulator } from '@atrest/testkit';
import { awsKmsProvider } from '../src/index.js';
import { context } from './helpers.js';
import type { AwsKmsConfig } from '../src/index.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const packageDir = fileURLToPath(new URL('../../', import.meta.url));

/** An application directory with this package installed, and its INI file. */
function application(dir: string, ini: string): string {
  mkdirSync(join(dir, 'node_modules', '@atrest'), { recursive: true });
  symlinkSync(packageDir, join(dir, 'node_modules', '@atrest', 'provider-awskms'), 'dir');
  writeFileSync(join(dir, 'grafana.ini'), ini);
  return join(dir, 'grafana.ini');
}

const grafanaIni = `
[security]
secret_key = AaaaAaaaAaaaAaaa
encryption_provider = awskms.example-encryption-key
available_encryption_providers = awskms.example-encryption-key

# AWS key management service provider setup
[security.encryption.awskms.example-encryption-key]
# Reference to a KMS key - either key ID, key ARN, alias name, or ARN
key_id = ${emulator.key.aliasArn}
# AWS access key ID
access_key_id = ${emulator.access_key_id}
# AWS region, for example eu-north-1
region = ${emulator.region}
endpoint = ${emulator.endpoint}
ca_file = ${emulator.ca_file}
timeout = 2s
`;
const secretVariable = 'ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_SECRET_ACCESS_KEY';

t.test('the Grafana-style section, validated by core, makes a working provider', async (t) => {
  const dir = t.testdir();
  const configFile = application(dir, grafanaIni);
  const config = await loadAtrestConfig({
    configFile,
    appRoot: dir,
    env: {
      [secretVariable]: emulator.secret_access_key,
      ATREST_SECURITY_ENCRYPTION_AWSKMS_EXAMPLE_ENCRYPTION_KEY_MAX_ATTEMPTS: '4',
    },
  });
  const section = config.providers.get('awskms.example-encryption-key');
  t.match(
    section?.values,
    {
      key_id: emulator.key.aliasArn,
      secret_access_key: emulator.secret_access_key,
      timeout: 2000,
      max_attempts: 4,
      session_token: '',
    },
    'INI, environment, durations and defaults',
  );
  const warnings: string[] = [];
  const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
  const p = await awsKmsProvider.create({
    ...createOptions('awskms', (section?.values ?? {}) as AwsKmsConfig, { name: 'example-encryption-key' }),
    logger,
  });
  t.match(p.describe?.(), { key_id: emulator.key.aliasArn, request_timeout_ms: 2000, max_attempts: 4 });
  t.same(
    warnings,
    ['[security.encryption.awskms.example-encryption-key] timeout is deprecated: use request_timeout'],
    'the old spelling `timeout` still works, with a deprecation warning',
  );
  const wrapped = await p.wrapKey(new Uint8Array(32).fill(9), context);
  t.equal(wrapped.keyRef, emulator.key.keyArn);
  await p.close?.();
  const entry = config.entries.find((e) => e.key.endsWith('.secret_access_key'));
  t.equal(entry?.sensitive, true, 'secret_access_key is marked sensitive');
  const shown = formatConfigEntries(config.entries);
  t.match(shown, /awskms\.example-encryption-key\.secret_access_key/, '`config show` lists it');
  t.notMatch(shown, emulator.secret_access_key, 'redacted');
});

t.test('an unknown key in the section is refused by core with a hint', async (t) => {
  const dir = t.testdir();
  const configFile = application(dir, `${grafanaIni}secret_acces_key = typo\n`);
  const err = await rejection(loadAtrestConfig({ configFile, appRoot: dir, env: {} }));
  t.ok(isAtrestError(err), `an AtrestError (got ${String(err)})`);
  t.match(
    (err as Error).message,
    /secret_acces_key[\s\S]*secret_access_key/,
    'names the key and suggests the right one',
  );
});

t.test('openAtrest encrypts and decrypts secrets with KMS-wrapped data keys', async (t) => {
  const dir = t.testdir();
  const configFile = application(dir, grafanaIni);
  emulator.resetCalls();
  const atrest = await openAtrest({
    configFile,
    appRoot: dir,
    database: join(dir, 'app.db'),
    env: { [secretVariable]: emulator.secret_access_key },
  });
  t.teardown(() => atrest.close());
  const values = await Promise.all(['db-password', 'api-token', 'tls-key'].map((v) => atrest.encrypt(v)));
  for (const [i, v] of ['db-password', 'api-token', 'tls-key'].entries()) {
    t.equal((await atrest.decrypt(values[i] ?? Buffer.alloc(0))).toString('utf8'), v, `${v} round trip`);
  }
  t.ok(emulator.calls.Encrypt >= 1, 'the data key was wrapped by KMS');
  t.ok(emulator.calls.Encrypt <= 2, `one data key serves many secrets (${emulator.calls.Encrypt} Encrypt calls)`);
});
