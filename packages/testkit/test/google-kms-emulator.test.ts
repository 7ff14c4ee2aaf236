// The Google Cloud KMS emulator on the wire: the JWT-bearer token grant verifying the assertion a
// service account key signs, self-signed JWTs, encrypt/decrypt with versions, AAD and CRC32C both
// ways, IAM grants, disabled versions, tampered answers, faults, call counts, an outage and the
// `atrest-emulator google-kms` command. (The same emulator under Google's own libraries is tested
// in packages/provider-googlekms.)
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { startGoogleKmsEmulator } from '../src/index.js';
import type { GoogleKmsEmulator, ServiceAccountCredentials } from '../src/index.js';
import { call, startEmulatorCommand } from './helpers/https-call.js';
import type { Reply } from './helpers/https-call.js';

const KMS_SCOPE = 'https://www.googleapis.com/auth/cloudkms';
const b64 = (text: string) => Buffer.from(text).toString('base64');
/** CRC32C of "123456789", the check value of the Castagnoli polynomial. */
const CHECK_VALUE = String(0xe3069283);

function jwt(credentials: ServiceAccountCredentials, claims: Record<string, unknown>, key = credentials.private_key) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid: credentials.private_key_id };
  const payload = { iss: credentials.client_email, iat: now, exp: now + 3600, ...claims };
  const encode = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
}

function credentialsOf(emu: GoogleKmsEmulator): ServiceAccountCredentials {
  return JSON.parse(readFileSync(emu.credentials_file, 'utf8')) as ServiceAccountCredentials;
}

function tokenRequest(emu: GoogleKmsEmulator, assertion: string): Promise<Reply> {
  return call(emu.caPem, 'POST', `${emu.origin}/token`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
  });
}

async function accessToken(emu: GoogleKmsEmulator): Promise<string> {
  const credentials = credentialsOf(emu);
  const reply = await tokenRequest(emu, jwt(credentials, { aud: credentials.token_uri, scope: KMS_SCOPE }));
  return String(reply.json['access_token']);
}

function kms(emu: GoogleKmsEmulator, token: string, action: string, body: object, name = emu.key_id) {
  return call(emu.caPem, 'POST', `${emu.endpoint}/v1/${name}:${action}?%24alt=json%3Benum-encoding%3Dint`, {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  });
}

const errorOf = (reply: Reply) => reply.json['error'] as { code: number; status: string; message: string };

t.test('the token endpoint verifies the JWT-bearer assertion', async (t) => {
  const emu = await startGoogleKmsEmulator();
  t.teardown(() => emu.close());
  t.same(Object.keys(emu.providerKeys).sort(), ['ca_file', 'credentials_file', 'endpoint', 'key_id']);
  t.match(emu.key_id, /^projects\/atrest-test\/locations\/global\/keyRings\/atrest\/cryptoKeys\/atrest-kek$/);
  const credentials = credentialsOf(emu);
  t.match(credentials, { type: 'service_account', client_email: emu.serviceAccount, token_uri: `${emu.origin}/token` });
  const good = await tokenRequest(emu, jwt(credentials, { aud: credentials.token_uri, scope: KMS_SCOPE }));
  t.match(good.json, { token_type: 'Bearer', expires_in: 3599, access_token: /^ya29\./ });

  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const cases: [string, string, string][] = [
    [
      jwt(
        credentials,
        { aud: credentials.token_uri, scope: KMS_SCOPE },
        other.export({ format: 'pem', type: 'pkcs8' }).toString(),
      ),
      'invalid_grant',
      'Invalid JWT Signature.',
    ],
    [
      jwt(credentials, { aud: 'https://oauth2.googleapis.com/token', scope: KMS_SCOPE }),
      'invalid_grant',
      'Failed audience check',
    ],
    [
      jwt(credentials, { aud: credentials.token_uri, scope: 'https://www.googleapis.com/auth/drive' }),
      'invalid_scope',
      'scope',
    ],
    [
      jwt(credentials, { aud: credentials.token_uri, scope: KMS_SCOPE, exp: Math.floor(Date.now() / 1000) + 7200 }),
      'invalid_grant',
      'short-lived',
    ],
    [
      jwt(
        { ...credentials, client_email: 'nobody@x.iam.gserviceaccount.com' },
        { aud: credentials.token_uri, scope: KMS_SCOPE },
      ),
      'invalid_grant',
      'account not found',
    ],
  ];
  for (const [assertion, error, description] of cases) {
    const reply = await tokenRequest(emu, assertion);
    t.equal(reply.status, 400);
    t.equal(reply.json['error'], error);
    t.match(String(reply.json['error_description']), description);
  }
  emu.deleteServiceAccountKey(credentials.client_email, credentials.private_key_id);
  const deleted = await tokenRequest(emu, jwt(credentials, { aud: credentials.token_uri, scope: KMS_SCOPE }));
  t.equal(deleted.json['error'], 'invalid_grant', 'a deleted key signs nothing');
  t.equal(emu.calls.token, 7);
});

t.test('encrypt and decrypt: versions, AAD, CRC32C both ways', async (t) => {
  const emu = await startGoogleKmsEmulator();
  t.teardown(() => emu.close());
  const token = await accessToken(emu);
  const aad = b64('data key 1');
  const sealed = await kms(emu, token, 'encrypt', {
    plaintext: b64('123456789'),
    additionalAuthenticatedData: aad,
    plaintextCrc32c: CHECK_VALUE,
  });
  t.equal(sealed.status, 200);
  t.match(sealed.json, {
    name: `${emu.key_id}/cryptoKeyVersions/1`,
    verifiedPlaintextCrc32c: true,
    verifiedAdditionalAuthenticatedDataCrc32c: false,
    protectionLevel: 1,
  });
  const ciphertext = String(sealed.json['ciphertext']);
  const opened = await kms(emu, token, 'decrypt', {
    ciphertext,
    additionalAuthenticatedData: aad,
    ciphertextCrc32c: sealed.json['ciphertextCrc32c'],
  });
  t.match(opened.json, { plaintext: b64('123456789'), plaintextCrc32c: CHECK_VALUE, usedPrimary: true });

  const wrongAad = await kms(emu, token, 'decrypt', { ciphertext, additionalAuthenticatedData: b64('data key 2') });
  t.match(errorOf(wrongAad), { code: 400, status: 'INVALID_ARGUMENT', message: /Decryption failed/ });
  const badCrc = await kms(emu, token, 'encrypt', { plaintext: b64('x'), plaintextCrc32c: '1' });
  t.match(errorOf(badCrc), {
    code: 400,
    message: 'The checksum in field plaintext_crc32c did not match the data in field plaintext.',
  });
  const badCiphertextCrc = await kms(emu, token, 'decrypt', { ciphertext, ciphertextCrc32c: '7' });
  t.match(errorOf(badCiphertextCrc).message, /ciphertext_crc32c/);

  const v2 = emu.rotateKey();
  t.equal(v2, `${emu.key_id}/cryptoKeyVersions/2`);
  const again = await kms(emu, token, 'encrypt', { plaintext: b64('x') });
  t.equal(again.json['name'], v2, 'the new primary encrypts');
  const old = await kms(emu, token, 'decrypt', { ciphertext, additionalAuthenticatedData: aad });
  t.match(old.json, { usedPrimary: false }, 'the old version still decrypts');
  emu.setVersionEnabled(`${emu.key_id}/cryptoKeyVersions/1`, false);
  const disabled = await kms(emu, token, 'decrypt', { ciphertext, additionalAuthenticatedData: aad });
  t.match(errorOf(disabled), { status: 'FAILED_PRECONDITION' });

  const otherKey = emu.createCryptoKey('other');
  emu.grant(emu.serviceAccount, otherKey);
  const elsewhere = await kms(emu, token, 'decrypt', { ciphertext: String(again.json['ciphertext']) }, otherKey);
  t.match(errorOf(elsewhere), { status: 'INVALID_ARGUMENT' }, 'no decryption under another crypto key');
});

t.test('authentication, grants, self-signed JWTs, tampered answers', async (t) => {
  const emu = await startGoogleKmsEmulator();
  t.teardown(() => emu.close());
  const body = { plaintext: b64('x') };
  const anonymous = await kms(emu, 'nope', 'encrypt', body);
  t.match(
    [anonymous.status, errorOf(anonymous).status, anonymous.headers['www-authenticate']],
    [401, 'UNAUTHENTICATED', /Bearer/],
  );
  const credentials = credentialsOf(emu);
  const selfSigned = jwt(credentials, { sub: credentials.client_email, scope: KMS_SCOPE });
  t.equal((await kms(emu, selfSigned, 'encrypt', body)).status, 200, 'a self-signed JWT, as Google clients send');

  const stranger = emu.createServiceAccountKey('stranger@atrest-test.iam.gserviceaccount.com');
  const strangerReply = await tokenRequest(
    emu,
    jwt(stranger.credentials, { aud: stranger.credentials.token_uri, scope: KMS_SCOPE }),
  );
  const denied = await kms(emu, String(strangerReply.json['access_token']), 'encrypt', body);
  t.match(errorOf(denied), {
    code: 403,
    status: 'PERMISSION_DENIED',
    message: /cloudkms\.cryptoKeyVersions\.useToEncrypt/,
  });
  const missing = `${emu.keyRingName}/cryptoKeys/absent`;
  emu.grant(emu.serviceAccount, missing);
  const token = await accessToken(emu);
  t.match(errorOf(await kms(emu, token, 'encrypt', body, missing)), { code: 404, status: 'NOT_FOUND' });
  emu.revokeTokens();
  t.equal((await kms(emu, token, 'encrypt', body)).status, 401, 'revoked tokens are unauthenticated');

  const fresh = await accessToken(emu);
  const honest = await kms(emu, fresh, 'encrypt', { plaintext: b64('123456789') });
  emu.tamperResponses('data');
  const damaged = await kms(emu, fresh, 'decrypt', { ciphertext: honest.json['ciphertext'] });
  t.not(damaged.json['plaintext'], b64('123456789'), 'the plaintext arrives damaged');
  t.equal(damaged.json['plaintextCrc32c'], CHECK_VALUE, 'its checksum is of the real plaintext');
  emu.tamperResponses('unverified');
  const unverified = await kms(emu, fresh, 'encrypt', { plaintext: b64('123456789'), plaintextCrc32c: CHECK_VALUE });
  t.equal(unverified.json['verifiedPlaintextCrc32c'], false);
});

t.test('faults, call counts, outage', async (t) => {
  const emu = await startGoogleKmsEmulator();
  t.teardown(() => emu.close());
  const token = await accessToken(emu);
  const body = { plaintext: b64('x') };
  emu.resetCalls();
  emu.injectFault({ kind: 'throttling', times: 1 });
  t.match(errorOf(await kms(emu, token, 'encrypt', body)), { code: 429, status: 'RESOURCE_EXHAUSTED' });
  emu.injectFault({ kind: 'internal-failure', times: 1 });
  t.match(errorOf(await kms(emu, token, 'encrypt', body)), { code: 500, status: 'INTERNAL' });
  emu.injectFault({ kind: 'service-unavailable', times: 1 });
  t.match(errorOf(await kms(emu, token, 'encrypt', body)), { code: 503, status: 'UNAVAILABLE' });
  emu.injectFault({ kind: 'drop', times: 1 });
  await t.rejects(kms(emu, token, 'encrypt', body));
  emu.injectFault({ kind: 'service-unavailable', times: 1, operations: ['token'] });
  const credentials = credentialsOf(emu);
  const tokenFault = await tokenRequest(emu, jwt(credentials, { aud: credentials.token_uri, scope: KMS_SCOPE }));
  t.match([tokenFault.status, tokenFault.json['error']], [503, 'temporarily_unavailable']);
  t.same(emu.calls, { token: 1, encrypt: 4, decrypt: 0 });
  await emu.stop();
  await t.rejects(kms(emu, token, 'encrypt', body));
  await emu.start();
  t.equal((await kms(emu, token, 'encrypt', body)).status, 200, 'back with the same keys and tokens');
});

t.test('atrest-emulator google-kms prints the INI keys and serves', async (t) => {
  const { child, keys } = await startEmulatorCommand('google-kms');
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  t.same(Object.keys(keys).sort(), ['ca_file', 'credentials_file', 'endpoint', 'key_id'], 'one JSON line of INI keys');
  const credentials = JSON.parse(readFileSync(String(keys['credentials_file']), 'utf8')) as ServiceAccountCredentials;
  const reply = await call(readFileSync(String(keys['ca_file']), 'utf8'), 'POST', credentials.token_uri, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: jwt(credentials, { aud: credentials.token_uri, scope: KMS_SCOPE }),
    }).toString(),
  });
  t.equal(reply.status, 200);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
