// No static keys in the section: the AWS default credential chain (environment, shared credentials
// file + AWS_PROFILE) and region chain, against the emulator. Nothing is read from the real $HOME.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isAtrestError } from '@atrest/core';
import { recordingLogger, rejection, startAwsKmsEmulator } from '@atrest/testkit';
import { context, createProvider } from './helpers.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const dataKey = new Uint8Array(randomBytes(32));
const noStaticKeys = { access_key_id: '', secret_access_key: '', session_token: '' };

const chainVariables = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_EC2_METADATA_DISABLED',
];
const saved = Object.fromEntries(chainVariables.map((name) => [name, process.env[name]]));
t.teardown(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** A clean chain: no credentials anywhere, config files in a fresh directory, no instance metadata. */
function resetChain(dir: string): void {
  for (const name of chainVariables) delete process.env[name];
  process.env['AWS_CONFIG_FILE'] = join(dir, 'config');
  process.env['AWS_SHARED_CREDENTIALS_FILE'] = join(dir, 'credentials');
  writeFileSync(join(dir, 'config'), '');
  writeFileSync(join(dir, 'credentials'), '');
  // Otherwise the chain's last link waits for 169.254.169.254.
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
}

t.test('credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY', async (t) => {
  resetChain(t.testdir());
  const creds = emulator.addCredentials();
  process.env['AWS_ACCESS_KEY_ID'] = creds.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = creds.secretAccessKey;
  const p = await createProvider(emulator, noStaticKeys);
  t.match(p.describe?.(), { credentials: 'AWS default credential chain' });
  t.notOk(p.describe?.()['access_key_id'], 'describe() names no static key');
  const wrapped = await p.wrapKey(dataKey, context);
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'round trip');
  await p.close?.();
});

t.test('temporary credentials from the environment (AWS_SESSION_TOKEN)', async (t) => {
  resetChain(t.testdir());
  const creds = emulator.addCredentials({ sessionToken: true });
  process.env['AWS_ACCESS_KEY_ID'] = creds.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = creds.secretAccessKey;
  process.env['AWS_SESSION_TOKEN'] = creds.sessionToken ?? '';
  const p = await createProvider(emulator, noStaticKeys);
  await t.resolves(p.wrapKey(dataKey, context));
  await p.close?.();
});

t.test('credentials from a shared credentials file and AWS_PROFILE; region from the config file', async (t) => {
  const dir = t.testdir();
  resetChain(dir);
  const creds = emulator.addCredentials();
  writeFileSync(
    join(dir, 'credentials'),
    `[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\naws_secret_access_key = ` +
      `wrong\n\n[atrest]\naws_access_key_id = ${creds.accessKeyId}\naws_secret_access_key = ` +
      `${creds.secretAccessKey}\n`,
    { mode: 0o600 },
  );
  writeFileSync(join(dir, 'config'), `[profile atrest]\nregion = ${emulator.region}\n`);
  process.env['AWS_PROFILE'] = 'atrest';
  const p = await createProvider(emulator, { ...noStaticKeys, region: '' });
  t.match(p.describe?.(), { region: emulator.region }, 'region from the profile');
  const wrapped = await p.wrapKey(dataKey, context);
  t.same(
    Buffer.from(await p.unwrapKey(wrapped, context)),
    Buffer.from(dataKey),
    'round trip with the profile credentials',
  );
  await p.close?.();
});

t.test('a profile whose secret is wrong: ATREST_PROVIDER_AUTH naming the access key id the chain found', async (t) => {
  const dir = t.testdir();
  resetChain(dir);
  writeFileSync(
    join(dir, 'credentials'),
    `[atrest]\naws_access_key_id = ${emulator.access_key_id}\naws_secret_access_key = not-the-secret\n`,
  );
  process.env['AWS_PROFILE'] = 'atrest';
  const p = await createProvider(emulator, noStaticKeys, 'main');
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_AUTH'), `ATREST_PROVIDER_AUTH (got ${String(err)})`);
  t.match(
    (err as Error).message,
    `awskms.main: 127.0.0.1:${emulator.port} refused access key id ${emulator.access_key_id}`,
  );
  t.notMatch((err as Error).message, 'not-the-secret');
  await p.close?.();
});

t.test('no credentials anywhere: ATREST_PROVIDER_AUTH saying how to provide them', async (t) => {
  resetChain(t.testdir());
  const logger = recordingLogger();
  const p = await createProvider(emulator, noStaticKeys, 'test', logger);
  const before = emulator.calls.Encrypt;
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_AUTH'), `ATREST_PROVIDER_AUTH (got ${String(err)})`);
  t.match((err as Error).message, /no AWS credentials found.*access_key_id and secret_access_key.*AWS_PROFILE/);
  t.same(logger.warnings, [], 'fails at once: a missing credential is not retried');
  t.equal(emulator.calls.Encrypt, before, 'no unsigned request was sent');
  await p.close?.();
});

t.test('region from AWS_REGION when neither region nor a key ARN says it', async (t) => {
  resetChain(t.testdir());
  process.env['AWS_REGION'] = emulator.region;
  const p = await createProvider(emulator, { region: '' });
  t.match(p.describe?.(), { region: emulator.region });
  await t.resolves(p.wrapKey(dataKey, context));
  await p.close?.();
});

t.test('no region anywhere: ATREST_CONFIG_INVALID on region', async (t) => {
  resetChain(t.testdir());
  const err = await rejection(createProvider(emulator, { region: '' }));
  t.ok(isAtrestError(err, 'ATREST_CONFIG_INVALID'), `ATREST_CONFIG_INVALID (got ${String(err)})`);
  t.match((err as Error).message, /\[security\.encryption\.awskms\.test\] region: no AWS region/);
});
