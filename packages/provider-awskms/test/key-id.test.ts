// key_id in its four forms, keyRef, describe(), health(), config checks and an injected client.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import t from 'tap';
import { KMS } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { isAtrestError, openProvider } from '@atrest/core';
import { createOptions, rejection, startAwsKmsEmulator } from '@atrest/testkit';
import { awsKmsProvider, createAwsKmsProvider, providers } from '../src/index.js';
import { context, createProvider, emulatorConfig, health } from './helpers.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const dataKey = new Uint8Array(randomBytes(32));

t.test('the package exports one awskms definition with its schema', async (t) => {
  t.equal(providers.length, 1);
  const def = providers[0];
  t.equal(def?.type, 'awskms');
  t.equal(def?.apiVersion, 1);
  const schema = def?.configSchema ?? {};
  t.same(Object.keys(schema).sort(), [
    'access_key_id',
    'ca_file',
    'endpoint',
    'key_id',
    'max_attempts',
    'max_retry_delay',
    'region',
    'request_timeout',
    'retry_delay',
    'secret_access_key',
    'session_token',
    'timeout',
    'total_timeout',
  ]);
  t.equal(schema['secret_access_key']?.sensitive, true, 'secret_access_key is sensitive');
  t.equal(schema['session_token']?.sensitive, true, 'session_token is sensitive');
  t.notOk(schema['access_key_id']?.sensitive, 'access_key_id is not');
  for (const [key, entry] of Object.entries(schema))
    t.ok(
      entry.doc.length > 10 && entry.format !== undefined && 'default' in entry,
      `${key} is documented in convict form`,
    );
});

const forms = {
  'key id': emulator.key.keyId,
  'key ARN': emulator.key.keyArn,
  'alias name': emulator.key.aliasName,
  'alias ARN': emulator.key.aliasArn,
};
for (const [form, keyId] of Object.entries(forms)) {
  t.test(`key_id as ${form}`, async (t) => {
    const p = await createProvider(emulator, { key_id: keyId });
    await t.resolves(health(p), 'health resolves');
    const wrapped = await p.wrapKey(dataKey, context);
    t.equal(wrapped.keyRef, emulator.key.keyArn, 'keyRef is the key ARN that KMS returned');
    t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'round trip');
    t.match(p.describe?.(), {
      key_id: keyId,
      region: emulator.region,
      endpoint: emulator.endpoint,
      key_arn: emulator.key.keyArn,
      credentials: 'static',
    });
    await p.close?.();
  });
}

t.test('what one form wrapped, every other form unwraps (same KMS key)', async (t) => {
  const byAlias = await createProvider(emulator, { key_id: forms['alias name'] });
  const wrapped = await byAlias.wrapKey(dataKey, context);
  for (const [form, keyId] of Object.entries(forms)) {
    const p = await createProvider(emulator, { key_id: keyId });
    t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), `unwrapped with key_id as ${form}`);
    await p.close?.();
  }
  await byAlias.close?.();
});

t.test('an alias moved to another key no longer unwraps what the old key wrapped', async (t) => {
  const old = emulator.createKey({ aliasName: 'alias/moving' });
  const p = await createProvider(emulator, { key_id: 'alias/moving' });
  const wrapped = await p.wrapKey(dataKey, context);
  const next = emulator.createKey();
  const kms = sdkClient();
  await kms.updateAlias({ AliasName: 'alias/moving', TargetKeyId: next.keyId });
  const err = await rejection(p.unwrapKey(wrapped, context));
  t.ok(isAtrestError(err, 'ATREST_WRONG_KEY'), `ATREST_WRONG_KEY (got ${String(err)})`);
  t.match((err as Error).message, /awskms\.test.*another KMS key than alias\/moving/);
  const byOld = await createProvider(emulator, { key_id: old.keyArn });
  t.same(Buffer.from(await byOld.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'the old key still unwraps it');
  kms.destroy();
  await p.close?.();
  await byOld.close?.();
});

t.test('a key that does not exist is ATREST_KEY_MISSING naming it', async (t) => {
  const p = await createProvider(emulator, { key_id: 'alias/nope' });
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_KEY_MISSING'), `ATREST_KEY_MISSING (got ${String(err)})`);
  t.match((err as Error).message, /alias\/nope.*eu-north-1/);
  await p.close?.();
});

t.test('a disabled key: health and calls fail with a typed error', async (t) => {
  const key = emulator.createKey();
  const p = await createProvider(emulator, { key_id: key.keyId });
  const wrapped = await p.wrapKey(dataKey, context);
  emulator.setKeyEnabled(key.keyId, false);
  const unhealthy = await rejection(health(p));
  t.ok(isAtrestError(unhealthy, 'ATREST_PROVIDER_FAILED'), `health: ATREST_PROVIDER_FAILED (got ${String(unhealthy)})`);
  t.match((unhealthy as Error).message, /is Disabled/);
  const unwrap = await rejection(p.unwrapKey(wrapped, context));
  t.ok(isAtrestError(unwrap, 'ATREST_PROVIDER_FAILED'), `unwrap: ATREST_PROVIDER_FAILED (got ${String(unwrap)})`);
  emulator.setKeyEnabled(key.keyId, true);
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'works again once enabled');
  await p.close?.();
});

t.test('a ciphertext that KMS decrypts to something else than 32 bytes is refused by the guard', async (t) => {
  const kms = sdkClient();
  const out = await kms.encrypt({
    KeyId: emulator.key_id,
    Plaintext: new Uint8Array(16).fill(1),
    EncryptionContext: { ...context },
  });
  kms.destroy();
  const p = await openProvider(awsKmsProvider, createOptions('awskms', emulatorConfig(emulator)));
  const err = await rejection(
    p.unwrapKey({ ciphertext: out.CiphertextBlob ?? new Uint8Array(), keyRef: out.KeyId ?? '' }, context),
  );
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_CONTRACT'), `ATREST_PROVIDER_CONTRACT (got ${String(err)})`);
  t.match((err as Error).message, /16 bytes instead of 32/);
  const contract = await rejection(p.wrapKey(new Uint8Array(16), context));
  t.ok(isAtrestError(contract, 'ATREST_PROVIDER_CONTRACT'), 'wrapKey refuses a data key that is not 32 bytes');
  await p.close?.();
});

t.test('a closed provider refuses calls', async (t) => {
  const p = await createProvider(emulator);
  await p.close?.();
  await p.close?.();
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_CLOSED'), `ATREST_CLOSED (got ${String(err)})`);
});

t.test('configuration errors name the key', async (t) => {
  const notPem = join(t.testdir(), 'not-a-ca.pem');
  writeFileSync(notPem, 'this is not a certificate\n');
  const cases: [string, Parameters<typeof emulatorConfig>[1], string, RegExp][] = [
    ['empty key_id', { key_id: '' }, 'ATREST_CONFIG_INVALID', /key_id: is required/],
    ['malformed key_id', { key_id: 'my-key' }, 'ATREST_CONFIG_INVALID', /key_id: "my-key" is not a KMS key reference/],
    [
      'ARN in another region',
      { key_id: emulator.key.keyArn, region: 'us-east-1' },
      'ATREST_CONFIG_INVALID',
      /region: is us-east-1 but key_id is an ARN in eu-north-1/,
    ],
    [
      'secret without id',
      { access_key_id: '' },
      'ATREST_CONFIG_INVALID',
      /access_key_id: is required with secret_access_key/,
    ],
    [
      'id without secret',
      { secret_access_key: '' },
      'ATREST_CONFIG_INVALID',
      /secret_access_key: is required with access_key_id/,
    ],
    [
      'http endpoint off loopback',
      { endpoint: 'http://kms.eu-north-1.amazonaws.com' },
      'ATREST_CONFIG_INVALID',
      /endpoint: must be an https:\/\/ URL/,
    ],
    [
      'max_attempts 0',
      { max_attempts: 0 },
      'ATREST_CONFIG_INVALID',
      /max_attempts: is 0, not a whole number from 1 to 25/,
    ],
    [
      'timeout text',
      { timeout: '10 seconds', request_timeout: '' },
      'ATREST_CONFIG_INVALID',
      /timeout: is "10 seconds", not a duration/,
    ],
    [
      'request_timeout text',
      { request_timeout: '10 seconds' },
      'ATREST_CONFIG_INVALID',
      /request_timeout: is "10 seconds", not a duration/,
    ],
    [
      'missing ca_file',
      { ca_file: '/nonexistent/ca.pem' },
      'ATREST_TLS',
      /ca_file: \/nonexistent\/ca\.pem cannot be read \(ENOENT\)/,
    ],
    ['ca_file without certificates', { ca_file: notPem }, 'ATREST_TLS', /holds no PEM certificate/],
  ];
  const before = emulator.calls;
  for (const [what, overrides, code, message] of cases) {
    const err = await rejection(createProvider(emulator, overrides));
    t.ok(isAtrestError(err, code as 'ATREST_TLS'), `${what}: ${code} (got ${String(err)})`);
    t.match((err as Error).message, message, `${what}: message`);
    t.notMatch((err as Error).message, emulator.secret_access_key, `${what}: no secret in the message`);
  }
  t.same(emulator.calls, before, 'a configuration error is found before any KMS call');
});

t.test('numbers given as text (environment values) are accepted', async (t) => {
  const p = await createProvider(emulator, { max_attempts: '2', request_timeout: '1500' });
  t.match(p.describe?.(), { max_attempts: 2, request_timeout_ms: 1500 });
  await p.close?.();
});

t.test('region is taken from a key ARN when unset', async (t) => {
  const p = await createProvider(emulator, { key_id: emulator.key.keyArn, region: '' });
  t.match(p.describe?.(), { region: emulator.region });
  await t.resolves(health(p));
  await p.close?.();
});

t.test('an injected KMS client is used as is', async (t) => {
  const kms = sdkClient();
  const before = emulator.calls.Encrypt;
  const p = await createAwsKmsProvider(
    createOptions('awskms', { key_id: emulator.key.aliasName, region: emulator.region }),
    {
      client: kms,
    },
  );
  const wrapped = await p.wrapKey(dataKey, context);
  t.equal(emulator.calls.Encrypt, before + 1, 'the call went through the injected client');
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey));
  await p.close?.();
  await t.resolves(kms.describeKey({ KeyId: emulator.key_id }), 'close() leaves an injected client open');
  kms.destroy();
});

/** A real SDK client on the emulator, for set-up steps the provider does not do. */
function sdkClient(): KMS {
  return new KMS({
    region: emulator.region,
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: emulator.access_key_id, secretAccessKey: emulator.secret_access_key },
    requestHandler: new NodeHttpHandler({
      httpsAgent: new Agent({ ca: [...rootCertificates, readFileSync(emulator.ca_file, 'utf8')] }),
    }),
  });
}
