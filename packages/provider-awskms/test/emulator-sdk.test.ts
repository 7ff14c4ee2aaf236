// The AWS KMS emulator driven by the real @aws-sdk/client-kms (installed here, not in testkit):
// SigV4 as the SDK signs, aliases, encryption context, key binding, faults and call counts.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import t from 'tap';
import { KMS } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsKmsCredentials } from '@atrest/testkit';
import { startAwsKmsEmulator } from '@atrest/testkit';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const agent = new Agent({ ca: [...rootCertificates, readFileSync(emulator.ca_file, 'utf8')] });
t.teardown(() => agent.destroy());

function client(
  credentials: AwsKmsCredentials = { accessKeyId: emulator.access_key_id, secretAccessKey: emulator.secret_access_key },
  region = emulator.region,
): KMS {
  const kms = new KMS({
    region,
    endpoint: emulator.endpoint,
    credentials,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: agent }),
  });
  t.teardown(() => kms.destroy());
  return kms;
}

/** The error an SDK call failed with (the SDK's own errors, not atrest's), or undefined when it succeeded. */
function sdkError(
  promise: Promise<unknown>,
): Promise<{ name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined> {
  return promise.then(
    () => undefined,
    (err: unknown) => err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } },
  );
}

/** The AWS error name (and HTTP status) a call failed with. */
async function failure(promise: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  const err = await sdkError(promise);
  return { name: err?.name ?? 'resolved', status: err?.$metadata?.httpStatusCode };
}

const kms = client();
const plaintext = new Uint8Array(32).fill(7);

t.test('SigV4 as the SDK signs it', async (t) => {
  t.match(
    await kms.describeKey({ KeyId: emulator.key_id }),
    { KeyMetadata: { KeyId: emulator.key_id } },
    'the right credentials are accepted',
  );
  t.same(
    await failure(
      client({ accessKeyId: emulator.access_key_id, secretAccessKey: 'wrong' }).describeKey({ KeyId: emulator.key_id }),
    ),
    { name: 'InvalidSignatureException', status: 400 },
    'wrong secret',
  );
  t.same(
    await failure(
      client({ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' }).describeKey({ KeyId: emulator.key_id }),
    ),
    { name: 'UnrecognizedClientException', status: 400 },
    'unknown access key',
  );
  t.same(
    await failure(client(undefined, 'us-west-2').describeKey({ KeyId: emulator.key_id })),
    { name: 'InvalidSignatureException', status: 400 },
    'signed for another region',
  );
  const temp = emulator.addCredentials({ sessionToken: true });
  t.match(
    await client(temp).describeKey({ KeyId: emulator.key_id }),
    { KeyMetadata: { Enabled: true } },
    'session token accepted',
  );
  t.same(
    await failure(client({ ...temp, sessionToken: 'forged' }).describeKey({ KeyId: emulator.key_id })),
    { name: 'UnrecognizedClientException', status: 400 },
    'forged session token',
  );
});

t.test('keys by id, ARN, alias and alias ARN; CreateKey, CreateAlias, UpdateAlias', async (t) => {
  for (const ref of [emulator.key.keyId, emulator.key.keyArn, emulator.key.aliasName, emulator.key.aliasArn]) {
    const out = await kms.encrypt({ KeyId: ref, Plaintext: plaintext });
    t.equal(out.KeyId, emulator.key.keyArn, `Encrypt with ${ref} answers the key ARN`);
  }
  const created = await kms.createKey({ Description: 'made by the SDK' });
  const keyId = created.KeyMetadata?.KeyId ?? '';
  t.match(created.KeyMetadata, {
    Arn: `arn:aws:kms:${emulator.region}:${emulator.accountId}:key/${keyId}`,
    KeyState: 'Enabled',
    KeySpec: 'SYMMETRIC_DEFAULT',
  });
  await kms.createAlias({ AliasName: 'alias/sdk-made', TargetKeyId: keyId });
  t.match(await kms.describeKey({ KeyId: 'alias/sdk-made' }), {
    KeyMetadata: { KeyId: keyId, Description: 'made by the SDK' },
  });
  t.same(await failure(kms.createAlias({ AliasName: 'alias/sdk-made', TargetKeyId: keyId })), {
    name: 'AlreadyExistsException',
    status: 400,
  });
  t.same(await failure(kms.createAlias({ AliasName: 'alias/aws/reserved', TargetKeyId: keyId })), {
    name: 'ValidationException',
    status: 400,
  });
  t.same(
    await failure(kms.createAlias({ AliasName: 'alias/to-alias', TargetKeyId: 'alias/sdk-made' })),
    { name: 'NotFoundException', status: 400 },
    'an alias cannot target an alias',
  );
  await kms.updateAlias({ AliasName: 'alias/sdk-made', TargetKeyId: emulator.key_id });
  t.match(
    await kms.describeKey({ KeyId: 'alias/sdk-made' }),
    { KeyMetadata: { KeyId: emulator.key_id } },
    'UpdateAlias moved it',
  );
  t.same(
    await failure(kms.describeKey({ KeyId: `arn:aws:kms:us-east-1:${emulator.accountId}:key/${keyId}` })),
    { name: 'NotFoundException', status: 400 },
    'an ARN of another region',
  );
});

t.test('encryption context and key binding are enforced', async (t) => {
  const other = emulator.createKey();
  const out = await kms.encrypt({
    KeyId: emulator.key_id,
    Plaintext: plaintext,
    EncryptionContext: { table: 'secrets', row: '1' },
  });
  const blob = out.CiphertextBlob ?? new Uint8Array();
  const back = await kms.decrypt({
    CiphertextBlob: blob,
    KeyId: emulator.key.aliasName,
    EncryptionContext: { row: '1', table: 'secrets' },
  });
  t.same(Buffer.from(back.Plaintext ?? []), Buffer.from(plaintext), 'same context in another order: decrypts');
  t.same(
    await failure(kms.decrypt({ CiphertextBlob: blob, EncryptionContext: { table: 'secrets', row: '2' } })),
    { name: 'InvalidCiphertextException', status: 400 },
    'another value',
  );
  t.same(
    await failure(kms.decrypt({ CiphertextBlob: blob, EncryptionContext: { table: 'secrets' } })),
    { name: 'InvalidCiphertextException', status: 400 },
    'a pair missing',
  );
  t.same(
    await failure(kms.decrypt({ CiphertextBlob: blob })),
    { name: 'InvalidCiphertextException', status: 400 },
    'no context',
  );
  t.same(
    await failure(
      kms.decrypt({ CiphertextBlob: blob, KeyId: other.keyArn, EncryptionContext: { table: 'secrets', row: '1' } }),
    ),
    { name: 'IncorrectKeyException', status: 400 },
    'KeyId of another key',
  );
  const flipped = new Uint8Array(blob);
  flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
  t.same(
    await failure(kms.decrypt({ CiphertextBlob: flipped, EncryptionContext: { table: 'secrets', row: '1' } })),
    { name: 'InvalidCiphertextException', status: 400 },
    'a flipped bit',
  );
});

t.test('GenerateDataKey, DisableKey and EnableKey', async (t) => {
  const dk = await kms.generateDataKey({
    KeyId: emulator.key.aliasArn,
    KeySpec: 'AES_256',
    EncryptionContext: { purpose: 'test' },
  });
  t.equal(dk.Plaintext?.length, 32, 'a 32-byte data key');
  const back = await kms.decrypt({
    CiphertextBlob: dk.CiphertextBlob ?? new Uint8Array(),
    EncryptionContext: { purpose: 'test' },
  });
  t.same(Buffer.from(back.Plaintext ?? []), Buffer.from(dk.Plaintext ?? []), 'its ciphertext decrypts to it');
  const key = emulator.createKey();
  await kms.disableKey({ KeyId: key.keyId });
  t.match(await kms.describeKey({ KeyId: key.keyId }), { KeyMetadata: { Enabled: false, KeyState: 'Disabled' } });
  t.same(await failure(kms.encrypt({ KeyId: key.keyId, Plaintext: plaintext })), {
    name: 'DisabledException',
    status: 400,
  });
  await kms.enableKey({ KeyId: key.keyId });
  await t.resolves(kms.encrypt({ KeyId: key.keyId, Plaintext: plaintext }), 'enabled again');
});

t.test('faults as the SDK sees them, and call counts', async (t) => {
  emulator.resetCalls();
  emulator.injectFault({ kind: 'throttling', times: 1 });
  t.same(await failure(kms.describeKey({ KeyId: emulator.key_id })), { name: 'ThrottlingException', status: 400 });
  emulator.injectFault({ kind: 'internal-failure', times: 1 });
  t.same(await failure(kms.describeKey({ KeyId: emulator.key_id })), { name: 'InternalFailure', status: 500 });
  emulator.injectFault({ kind: 'service-unavailable', times: 1 });
  t.same(await failure(kms.describeKey({ KeyId: emulator.key_id })), { name: 'ServiceUnavailable', status: 503 });
  emulator.injectFault({ kind: 'drop', times: 1, operations: ['Decrypt'] });
  t.match(
    await kms.describeKey({ KeyId: emulator.key_id }),
    { KeyMetadata: { KeyId: emulator.key_id } },
    'a Decrypt fault leaves DescribeKey alone',
  );
  const enc = await kms.encrypt({ KeyId: emulator.key_id, Plaintext: plaintext });
  const dropped = await sdkError(kms.decrypt({ CiphertextBlob: enc.CiphertextBlob ?? new Uint8Array() }));
  t.match(dropped?.message, /socket hang up|ECONNRESET/, 'the connection was dropped');
  t.same(
    emulator.calls,
    {
      Encrypt: 1,
      Decrypt: 1,
      GenerateDataKey: 0,
      DescribeKey: 4,
      CreateKey: 0,
      CreateAlias: 0,
      UpdateAlias: 0,
      EnableKey: 0,
      DisableKey: 0,
    },
    'counted per operation',
  );
  const retrying = new KMS({
    region: emulator.region,
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: emulator.access_key_id, secretAccessKey: emulator.secret_access_key },
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({ httpsAgent: agent }),
  });
  emulator.injectFault({ kind: 'service-unavailable', times: 2 });
  const out = await retrying.describeKey({ KeyId: emulator.key_id });
  t.equal(out.$metadata.attempts, 3, 'the SDK retried the two 503s and the third attempt passed');
  retrying.destroy();
});
