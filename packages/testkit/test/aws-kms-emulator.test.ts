// The AWS KMS emulator at the wire level: SigV4 against AWS's published vectors, raw signed JSON 1.1
// requests, errors as AWS sends them, faults and call counts, and the `atrest-emulator` command.
// (The real @aws-sdk/client-kms is run against it in packages/provider-awskms/test, where it is installed.)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { AwsKmsCredentials, AwsKmsEmulator } from '../src/index.js';
import { startAwsKmsEmulator } from '../src/index.js';
import { canonicalRequest, computeSignature, parseAuthorization, signRequest } from '../src/emulators/aws-sigv4.js';

type Reply = { status: number; headers: IncomingHttpHeaders; json: Record<string, unknown> };

/** POST `body` to the emulator as the SDK would: JSON 1.1 headers, signed with `credentials` unless null. */
function kmsRequest(
  emulator: { endpoint: string; region: string; caPem: string },
  operation: string,
  input: unknown,
  credentials: AwsKmsCredentials | null,
  options: {
    region?: string;
    service?: string;
    now?: Date;
    tamper?: (body: string) => string;
    contentType?: string;
  } = {},
): Promise<Reply> {
  const url = new URL(emulator.endpoint);
  const body = JSON.stringify(input);
  const headers: Record<string, string> = {
    host: url.host,
    'content-type': options.contentType ?? 'application/x-amz-json-1.1',
    'x-amz-target': `TrentService.${operation}`,
  };
  const signed =
    credentials === null
      ? {}
      : signRequest(
          { method: 'POST', path: '/', query: '', headers, body },
          credentials,
          options.region ?? emulator.region,
          options.service ?? 'kms',
          options.now,
        );
  const sent = options.tamper ? options.tamper(body) : body;
  return new Promise((resolve, reject) => {
    const req = request(
      // A fresh connection per request (no pooled socket), so outages show as ECONNREFUSED.
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/',
        ca: emulator.caPem,
        agent: false,
        headers: { ...headers, ...signed, 'content-length': Buffer.byteLength(sent) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
            });
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(sent);
  });
}

const ownCredentials = (e: AwsKmsEmulator): AwsKmsCredentials => ({
  accessKeyId: e.access_key_id,
  secretAccessKey: e.secret_access_key,
});

t.test('SigV4 matches the AWS published examples', async (t) => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const vanilla = {
    method: 'POST',
    path: '/',
    query: '',
    headers: { Host: 'example.amazonaws.com', 'X-Amz-Date': '20150830T123600Z' },
    body: '',
  };
  t.equal(
    canonicalRequest(vanilla, ['host', 'x-amz-date']),
    'POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n' +
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'post-vanilla canonical request',
  );
  t.equal(
    computeSignature(
      vanilla,
      ['host', 'x-amz-date'],
      credentials.secretAccessKey,
      '20150830T123600Z',
      'us-east-1',
      'service',
    ),
    '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    'post-vanilla signature',
  );
  const listUsers = {
    method: 'GET',
    path: '/',
    query: 'Version=2010-05-08&Action=ListUsers',
    headers: {
      host: 'iam.amazonaws.com',
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'x-amz-date': '20150830T123600Z',
    },
    body: '',
  };
  t.equal(
    computeSignature(
      listUsers,
      ['content-type', 'host', 'x-amz-date'],
      credentials.secretAccessKey,
      '20150830T123600Z',
      'us-east-1',
      'iam',
    ),
    '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
    'IAM ListUsers example signature (query sorted)',
  );
  const auth =
    signRequest(
      { ...vanilla, headers: { Host: 'example.amazonaws.com' } },
      credentials,
      'us-east-1',
      'service',
      new Date('2015-08-30T12:36:00Z'),
    )['authorization'] ?? '';
  t.equal(
    auth,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
      'SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    'signRequest builds the same Authorization header',
  );
  t.match(parseAuthorization(auth), {
    accessKeyId: 'AKIDEXAMPLE',
    date: '20150830',
    region: 'us-east-1',
    service: 'service',
    signedHeaders: ['host', 'x-amz-date'],
  });
  t.equal(parseAuthorization('AWS4-HMAC-SHA256 Credential=x'), undefined, 'a malformed header is refused');
});

t.test('wire protocol', async (t) => {
  const e = await startAwsKmsEmulator();
  t.teardown(() => e.close());
  const creds = ownCredentials(e);

  await t.test('signed Encrypt and Decrypt round trip, answers as AWS JSON 1.1', async (t) => {
    const plaintext = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
    const enc = await kmsRequest(
      e,
      'Encrypt',
      { KeyId: e.key.aliasName, Plaintext: plaintext, EncryptionContext: { a: '1' } },
      creds,
    );
    t.equal(enc.status, 200);
    t.equal(enc.headers['content-type'], 'application/x-amz-json-1.1');
    t.ok(enc.headers['x-amzn-requestid'], 'carries a request id');
    t.equal(enc.json['KeyId'], e.key.keyArn, 'KeyId is the key ARN');
    const blob = String(enc.json['CiphertextBlob']);
    t.notOk(
      Buffer.from(blob, 'base64').includes(Buffer.from('0123456789abcdef')),
      'the blob does not hold the plaintext',
    );
    const dec = await kmsRequest(e, 'Decrypt', { CiphertextBlob: blob, EncryptionContext: { a: '1' } }, creds);
    t.equal(dec.status, 200);
    t.equal(dec.json['Plaintext'], plaintext, 'decrypts without KeyId: the blob names its key');
    const ctx = await kmsRequest(e, 'Decrypt', { CiphertextBlob: blob, EncryptionContext: { a: '2' } }, creds);
    t.match(ctx, { status: 400, json: { __type: 'InvalidCiphertextException' } }, 'another context is refused');
  });

  await t.test('authentication failures', async (t) => {
    const input = { KeyId: e.key_id };
    t.match(
      await kmsRequest(e, 'DescribeKey', input, null),
      { status: 400, json: { __type: 'MissingAuthenticationTokenException' } },
      'unsigned',
    );
    const wrongSecret = { ...creds, secretAccessKey: `${creds.secretAccessKey}x` };
    t.match(
      await kmsRequest(e, 'DescribeKey', input, wrongSecret),
      { status: 400, json: { __type: 'InvalidSignatureException', message: /signature we calculated does not match/ } },
      'wrong secret',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', input, { ...creds, accessKeyId: 'AKIANOTKNOWNNOTKNOWN' }),
      { status: 400, json: { __type: 'UnrecognizedClientException' } },
      'unknown access key',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', input, creds, { tamper: (b) => b.replace(e.key_id, e.key.keyArn) }),
      { status: 400, json: { __type: 'InvalidSignatureException' } },
      'body changed after signing',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', input, creds, { region: 'us-east-1' }),
      { status: 400, json: { __type: 'InvalidSignatureException', message: /scoped to a valid region/ } },
      'signed for another region',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', input, creds, { service: 's3' }),
      { status: 400, json: { __type: 'InvalidSignatureException', message: /correct service/ } },
      'signed for another service',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', input, creds, { now: new Date(Date.now() - 10 * 60_000) }),
      { status: 400, json: { __type: 'InvalidSignatureException', message: /Signature expired/ } },
      'signed 10 minutes ago',
    );
    const temp = e.addCredentials({ sessionToken: true });
    t.match(await kmsRequest(e, 'DescribeKey', input, temp), { status: 200 }, 'temporary credentials with their token');
    const { sessionToken: _dropped, ...withoutToken } = temp;
    t.match(
      await kmsRequest(e, 'DescribeKey', input, withoutToken),
      { status: 400, json: { __type: 'UnrecognizedClientException' } },
      'temporary credentials without their token',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', input, { ...temp, sessionToken: 'forged' }),
      { status: 400, json: { __type: 'UnrecognizedClientException' } },
      'a forged token',
    );
  });

  await t.test('protocol errors', async (t) => {
    t.match(
      await kmsRequest(e, 'ScheduleKeyDeletion', { KeyId: e.key_id }, creds),
      { status: 400, json: { __type: 'UnknownOperationException' } },
      'unknown operation',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds, { contentType: 'application/json' }),
      { status: 400, json: { __type: 'SerializationException' } },
      'wrong content type',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', {}, creds),
      { status: 400, json: { __type: 'ValidationException' } },
      'missing KeyId',
    );
    t.match(
      await kmsRequest(e, 'Encrypt', { KeyId: e.key_id, Plaintext: '***' }, creds),
      { status: 400, json: { __type: 'SerializationException' } },
      'bad base64',
    );
    t.match(
      await kmsRequest(e, 'DescribeKey', { KeyId: 'alias/none' }, creds),
      { status: 400, json: { __type: 'NotFoundException' } },
      'unknown alias',
    );
  });

  await t.test('keys resolve by id, ARN, alias and alias ARN; blobs are bound to their key', async (t) => {
    for (const ref of [e.key.keyId, e.key.keyArn, e.key.aliasName, e.key.aliasArn]) {
      const r = await kmsRequest(e, 'DescribeKey', { KeyId: ref }, creds);
      t.match(
        r.json,
        { KeyMetadata: { KeyId: e.key.keyId, Arn: e.key.keyArn, KeyState: 'Enabled' } },
        `DescribeKey ${ref}`,
      );
    }
    const other = e.createKey({ aliasName: 'alias/other' });
    const enc = await kmsRequest(e, 'Encrypt', { KeyId: e.key_id, Plaintext: 'AAAA' }, creds);
    t.match(
      await kmsRequest(e, 'Decrypt', { CiphertextBlob: enc.json['CiphertextBlob'], KeyId: other.aliasName }, creds),
      { status: 400, json: { __type: 'IncorrectKeyException' } },
      'KeyId of another key',
    );
  });

  await t.test('faults and call counts', async (t) => {
    e.resetCalls();
    e.injectFault({ kind: 'throttling', times: 1, operations: ['Encrypt'] });
    t.match(
      await kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds),
      { status: 200 },
      'a fault for Encrypt leaves DescribeKey alone',
    );
    t.match(
      await kmsRequest(e, 'Encrypt', { KeyId: e.key_id, Plaintext: 'AAAA' }, creds),
      { status: 400, json: { __type: 'ThrottlingException' } },
      'throttled once',
    );
    t.match(
      await kmsRequest(e, 'Encrypt', { KeyId: e.key_id, Plaintext: 'AAAA' }, creds),
      { status: 200 },
      'then served',
    );
    e.injectFault({ kind: 'internal-failure', times: 1 });
    t.match(await kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds), {
      status: 500,
      json: { __type: 'InternalFailure' },
    });
    e.injectFault({ kind: 'service-unavailable' });
    t.match(await kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds), {
      status: 503,
      json: { __type: 'ServiceUnavailable' },
    });
    t.match(await kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds), { status: 503 }, 'until cleared');
    e.clearFaults();
    e.injectFault({ kind: 'drop', times: 1 });
    await t.rejects(
      kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds),
      { code: 'ECONNRESET' },
      'dropped connection',
    );
    e.injectFault({ kind: 'latency', ms: 300, times: 1 });
    const started = Date.now();
    t.match(await kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds), { status: 200 });
    t.ok(Date.now() - started >= 290, 'latency delays the answer');
    t.same(e.calls, { ...zeroCalls(), Encrypt: 2, DescribeKey: 6 }, 'every attempt counted per operation');
    t.throws(() => e.injectFault({ kind: 'latency' }), TypeError, 'latency needs ms');
  });

  await t.test('stop and start: an outage on the same port', async (t) => {
    await e.stop();
    await t.rejects(kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds), { code: 'ECONNREFUSED' });
    await e.start();
    t.match(await kmsRequest(e, 'DescribeKey', { KeyId: e.key_id }, creds), { status: 200 }, 'keys survive the outage');
  });
});

function zeroCalls(): Record<string, number> {
  return {
    Encrypt: 0,
    Decrypt: 0,
    GenerateDataKey: 0,
    DescribeKey: 0,
    CreateKey: 0,
    CreateAlias: 0,
    UpdateAlias: 0,
    EnableKey: 0,
    DisableKey: 0,
  };
}

const bin = fileURLToPath(new URL('../src/emulator-bin.js', import.meta.url));

function runBin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('atrest-emulator', async (t) => {
  const help = await runBin(['--help']);
  t.equal(help.code, 0, '--help exits 0');
  t.match(help.stdout, /Usage: atrest-emulator <emulator> \[--port N\][\s\S]*aws-kms/, '--help lists aws-kms');
  const unknown = await runBin(['gcp-kms']);
  t.equal(unknown.code, 2, 'an unknown emulator is a usage error');
  t.match(unknown.stderr, /unknown emulator "gcp-kms"/);
  const badPort = await runBin(['aws-kms', '--port', 'x']);
  t.equal(badPort.code, 2, 'a bad port is a usage error');

  const child = spawn(process.execPath, [bin, 'aws-kms', '--port', '0']);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out);
    });
    child.on('error', reject);
    child.on('close', () => reject(new Error(`exited before printing: ${out}`)));
  });
  t.equal(line.trim().split('\n').length, 1, 'one line');
  const facts = JSON.parse(line) as Record<string, string>;
  t.same(
    Object.keys(facts).sort(),
    ['access_key_id', 'ca_file', 'endpoint', 'key_id', 'region', 'secret_access_key'],
    "exactly the provider's INI keys",
  );
  const target = {
    endpoint: facts['endpoint'] ?? '',
    region: facts['region'] ?? '',
    caPem: readFileSync(facts['ca_file'] ?? '', 'utf8'),
  };
  const r = await kmsRequest(
    target,
    'DescribeKey',
    { KeyId: facts['key_id'] },
    { accessKeyId: facts['access_key_id'] ?? '', secretAccessKey: facts['secret_access_key'] ?? '' },
  );
  t.match(
    r,
    { status: 200, json: { KeyMetadata: { KeyId: facts['key_id'] } } },
    'a request signed with the printed facts is served',
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (/alias ARN/.test(err)) resolve(clearInterval(poll));
    }, 20);
  });
  const forms = [...err.matchAll(/^ {2}(key id|key ARN|alias|alias ARN) +(\S+)$/gm)].map((m) => [m[1], m[2] ?? '']);
  t.same(
    forms.map(([what]) => what),
    ['key id', 'key ARN', 'alias', 'alias ARN'],
    'every key_id form is listed on stderr',
  );
  t.equal(forms[0]?.[1], facts['key_id'], 'the key id is the one of the INI keys');
  for (const [what, ref] of forms) {
    const served = await kmsRequest(
      target,
      'DescribeKey',
      { KeyId: ref },
      { accessKeyId: facts['access_key_id'] ?? '', secretAccessKey: facts['secret_access_key'] ?? '' },
    );
    t.match(served, { status: 200, json: { KeyMetadata: { KeyId: facts['key_id'] } } }, `${what} is served`);
  }
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops it with exit code 0');
  t.notOk(existsSync(facts['ca_file'] ?? ''), 'its CA directory is removed');
});
