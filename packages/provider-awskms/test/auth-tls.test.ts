// Credentials refused by KMS, session tokens, and TLS: ca_file trusted, anything else refused.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { isAtrestError } from '@atrest/core';
import { recordingLogger, rejection, startAwsKmsEmulator } from '@atrest/testkit';
import { context, createProvider, health } from './helpers.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const dataKey = new Uint8Array(randomBytes(32));

t.test('a wrong secret access key is ATREST_PROVIDER_AUTH naming the provider and the access key id', async (t) => {
  const wrongSecret = randomBytes(30).toString('base64');
  const p = await createProvider(emulator, { secret_access_key: wrongSecret }, 'main');
  const before = emulator.calls.Encrypt;
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_AUTH'), `ATREST_PROVIDER_AUTH (got ${String(err)})`);
  const message = (err as Error).message;
  t.match(message, /awskms\.main/, 'names the provider');
  t.match(message, emulator.access_key_id, 'names the access key id');
  t.match(message, /InvalidSignatureException/, 'says what KMS answered');
  t.notMatch(message, wrongSecret, 'does not contain the secret given');
  t.notMatch(message, emulator.secret_access_key, 'does not contain the real secret');
  t.equal(emulator.calls.Encrypt, before + 1, 'an auth failure is not retried');
  const viaHealth = await rejection(health(p));
  t.ok(isAtrestError(viaHealth, 'ATREST_PROVIDER_AUTH'), 'health() reports it too');
  await p.close?.();
});

t.test('an unknown access key id is ATREST_PROVIDER_AUTH', async (t) => {
  const p = await createProvider(emulator, { access_key_id: 'AKIAUNKNOWNUNKNOWN00' });
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_AUTH'), `ATREST_PROVIDER_AUTH (got ${String(err)})`);
  t.match((err as Error).message, /AKIAUNKNOWNUNKNOWN00.*UnrecognizedClientException/);
  await p.close?.();
});

t.test('temporary credentials: session_token is sent, and a wrong one is refused', async (t) => {
  const temp = emulator.addCredentials({ sessionToken: true });
  const overrides = {
    access_key_id: temp.accessKeyId,
    secret_access_key: temp.secretAccessKey,
    session_token: temp.sessionToken ?? '',
  };
  const p = await createProvider(emulator, overrides);
  const wrapped = await p.wrapKey(dataKey, context);
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'round trip with a session token');
  await p.close?.();
  const wrongToken = await createProvider(emulator, { ...overrides, session_token: 'not-the-token' });
  const err = await rejection(wrongToken.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_AUTH'), `wrong token: ATREST_PROVIDER_AUTH (got ${String(err)})`);
  t.notMatch((err as Error).message, 'not-the-token', 'the token is not in the message');
  await wrongToken.close?.();
  const noToken = await createProvider(emulator, { ...overrides, session_token: '' });
  t.ok(
    isAtrestError(await rejection(noToken.wrapKey(dataKey, context)), 'ATREST_PROVIDER_AUTH'),
    'missing token: ATREST_PROVIDER_AUTH',
  );
  await noToken.close?.();
});

t.test('without ca_file the emulator certificate is untrusted: ATREST_TLS naming the host', async (t) => {
  const logger = recordingLogger();
  const p = await createProvider(emulator, { ca_file: '' }, 'test', logger);
  const before = emulator.calls.Encrypt;
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_TLS'), `ATREST_TLS (got ${String(err)})`);
  t.match((err as Error).message, `127.0.0.1:${emulator.port}`, 'names the host');
  t.match((err as Error).message, /no ca_file set/, 'says no CA file was given');
  t.equal(emulator.calls.Encrypt, before, 'no request was sent over the untrusted connection');
  t.same(logger.warnings, [], 'a certificate problem is not retried');
  await p.close?.();
});

t.test('ca_file of another CA: ATREST_TLS naming the CA file', async (t) => {
  const other = await startAwsKmsEmulator();
  t.teardown(() => other.close());
  const p = await createProvider(emulator, { ca_file: other.ca_file });
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_TLS'), `ATREST_TLS (got ${String(err)})`);
  t.match((err as Error).message, other.ca_file, 'names the CA file');
  t.match((err as Error).message, `127.0.0.1:${emulator.port}`, 'names the host');
  await p.close?.();
});

t.test('ca_file trusted but the certificate names another host: refused', async (t) => {
  const elsewhere = await startAwsKmsEmulator({ certificateHosts: ['kms.internal.example'] });
  t.teardown(() => elsewhere.close());
  const p = await createProvider(elsewhere);
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_TLS'), `ATREST_TLS (got ${String(err)})`);
  t.match((err as Error).message, /ERR_TLS_CERT_ALTNAME_INVALID/, 'the host name check failed');
  t.equal(elsewhere.calls.Encrypt, 0, 'nothing was sent');
  await p.close?.();
});

t.test('ca_file adds to the default roots for this provider only', async (t) => {
  const p = await createProvider(emulator, { endpoint: `https://localhost:${emulator.port}` });
  const wrapped = await p.wrapKey(dataKey, context);
  t.same(
    Buffer.from(await p.unwrapKey(wrapped, context)),
    Buffer.from(dataKey),
    'localhost is a name of the certificate: works',
  );
  const untrusted = await createProvider(emulator, { ca_file: '' }, 'other');
  t.ok(
    isAtrestError(await rejection(untrusted.wrapKey(dataKey, context)), 'ATREST_TLS'),
    'another provider without ca_file still refuses the certificate',
  );
  await p.close?.();
  await untrusted.close?.();
});
