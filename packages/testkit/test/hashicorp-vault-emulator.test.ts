// The Vault emulator on the wire: transit encrypt/decrypt/rewrap with versions, rotation and
// min_decryption_version, associated data (and rewrap not honouring it, as in Vault), tokens with
// renew-self, revocation and expiry, policies, AppRole, namespaces, the sealed state, faults, call
// counts, an outage, and the `atrest-emulator hashicorp-vault` command.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { startHashicorpVaultEmulator } from '../src/index.js';
import type { HashicorpVaultEmulator } from '../src/index.js';
import { call, startEmulatorCommand } from './helpers/https-call.js';
import type { Reply } from './helpers/https-call.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function vault(
  emu: HashicorpVaultEmulator,
  method: string,
  path: string,
  options: { token?: string; namespace?: string; body?: object } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = options.token ?? emu.token;
  if (token !== '') headers['x-vault-token'] = token;
  if (options.namespace !== undefined) headers['x-vault-namespace'] = options.namespace;
  return call(emu.caPem, method, `${emu.url}/v1/${path}`, {
    headers,
    ...(options.body ? { body: options.body } : {}),
  });
}

const data = (reply: Reply) => (reply.json['data'] ?? {}) as Record<string, unknown>;
const errorsOf = (reply: Reply) => reply.json['errors'] as string[];

t.test('transit: encrypt, decrypt, rotate, rewrap, min_decryption_version', async (t) => {
  const emu = await startHashicorpVaultEmulator();
  t.teardown(() => emu.close());
  t.same(
    Object.keys(emu.providerKeys).sort(),
    ['ca_file', 'key_ring', 'token', 'token_renewal_interval', 'transit_engine_path', 'url'],
    "Grafana's keys and ca_file",
  );
  const sealed = await vault(emu, 'POST', 'transit/encrypt/atrest', { body: { plaintext: b64('data key') } });
  t.equal(sealed.status, 200);
  const v1 = String(data(sealed)['ciphertext']);
  t.match(v1, /^vault:v1:[A-Za-z0-9+/]+=*$/, "Vault's ciphertext format");
  t.equal(data(sealed)['key_version'], 1);
  const opened = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext: v1 } });
  t.equal(Buffer.from(String(data(opened)['plaintext']), 'base64').toString(), 'data key');

  t.equal(emu.rotateKey().latestVersion, 2);
  const v2 = String(
    data(await vault(emu, 'POST', 'transit/encrypt/atrest', { body: { plaintext: b64('x') } }))['ciphertext'],
  );
  t.match(v2, /^vault:v2:/, 'new encryptions use the new version');
  const old = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext: v1 } });
  t.equal(old.status, 200, 'old versions still decrypt');
  const rewrapped = await vault(emu, 'POST', 'transit/rewrap/atrest', { body: { ciphertext: v1 } });
  t.match(data(rewrapped), { key_version: 2 });
  t.match(String(data(rewrapped)['ciphertext']), /^vault:v2:/);
  t.notOk('plaintext' in data(rewrapped), 'rewrap returns no plaintext');
  const again = await vault(emu, 'POST', 'transit/decrypt/atrest', {
    body: { ciphertext: data(rewrapped)['ciphertext'] },
  });
  t.equal(Buffer.from(String(data(again)['plaintext']), 'base64').toString(), 'data key');

  const key = await vault(emu, 'GET', 'transit/keys/atrest');
  t.match(data(key), { name: 'atrest', type: 'aes256-gcm96', latest_version: 2, min_decryption_version: 1 });
  emu.setMinDecryptionVersion(2);
  const tooOld = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext: v1 } });
  t.equal(tooOld.status, 400);
  t.same(errorsOf(tooOld), ['ciphertext or signature version is disallowed by policy (too old)']);

  const tampered = `${v2.slice(0, -4)}AAA=`;
  const bad = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext: tampered } });
  t.same(errorsOf(bad), ['cipher: message authentication failed']);
  const noPrefix = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext: 'abc' } });
  t.same(errorsOf(noPrefix), ['invalid ciphertext: no prefix']);
  const tooNew = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext: v2.replace('v2', 'v9') } });
  t.same(errorsOf(tooNew), ['invalid ciphertext: version is too new']);
});

t.test('associated data binds encrypt to decrypt; rewrap ignores it, as Vault does', async (t) => {
  const emu = await startHashicorpVaultEmulator({ keyType: 'chacha20-poly1305' });
  t.teardown(() => emu.close());
  const aad = b64('data key 7');
  const sealed = await vault(emu, 'POST', 'transit/encrypt/atrest', {
    body: { plaintext: b64('k'), associated_data: aad },
  });
  const ciphertext = data(sealed)['ciphertext'];
  const ok = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext, associated_data: aad } });
  t.equal(Buffer.from(String(data(ok)['plaintext']), 'base64').toString(), 'k');
  for (const other of [undefined, b64('data key 8')]) {
    const reply = await vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext, associated_data: other } });
    t.equal(reply.status, 400, 'other or no associated data: refused');
    t.same(errorsOf(reply), ['cipher: message authentication failed']);
  }
  const rewrap = await vault(emu, 'POST', 'transit/rewrap/atrest', { body: { ciphertext, associated_data: aad } });
  t.equal(rewrap.status, 400, 'a ciphertext bound to associated data does not rewrap');
  const plain = await vault(emu, 'POST', 'transit/encrypt/atrest', { body: { plaintext: b64('k') } });
  const warned = await vault(emu, 'POST', 'transit/rewrap/atrest', {
    body: { ciphertext: data(plain)['ciphertext'], associated_data: aad },
  });
  t.same(warned.json['warnings'], ['Endpoint ignored these unrecognized parameters: [associated_data]']);
});

t.test('tokens: lookup, renew-self, revoke-self, expiry, policies, missing keys', async (t) => {
  const emu = await startHashicorpVaultEmulator({ tokenPeriodSeconds: 600 });
  t.teardown(() => emu.close());
  const self = await vault(emu, 'GET', 'auth/token/lookup-self');
  t.match(data(self), { period: 600, renewable: true, type: 'service', policies: ['default', 'atrest'] });
  const renewed = await vault(emu, 'POST', 'auth/token/renew-self', { body: { increment: '1h' } });
  t.match(
    renewed.json['auth'],
    { client_token: emu.token, renewable: true, lease_duration: 600 },
    'periodic: its period again',
  );

  const other = emu.createToken({ policies: ['default'], ttl: 60, renewable: false });
  const denied = await vault(emu, 'POST', 'transit/encrypt/atrest', { token: other, body: { plaintext: b64('x') } });
  t.equal(denied.status, 403);
  t.same(errorsOf(denied), ['1 error occurred:\n\t* permission denied\n\n'], 'a valid token without the policy');
  const notRenewable = await vault(emu, 'POST', 'auth/token/renew-self', { token: other });
  t.same(errorsOf(notRenewable), ['lease is not renewable']);

  const missing = await vault(emu, 'POST', 'transit/decrypt/nokey', {
    token: emu.rootToken,
    body: { ciphertext: 'vault:v1:AAAA' },
  });
  t.same([missing.status, errorsOf(missing)], [400, ['encryption key not found']]);
  const noUpsert = await vault(emu, 'POST', 'transit/encrypt/nokey', { body: { plaintext: b64('x') } });
  t.equal(noUpsert.status, 403, 'encrypting to a missing key needs the create capability');
  const upsert = await vault(emu, 'POST', 'transit/encrypt/newkey', {
    token: emu.rootToken,
    body: { plaintext: b64('x') },
  });
  t.equal(upsert.status, 200, 'with it, the key is created (upsert)');
  t.equal(emu.key('newkey')?.latestVersion, 1);
  const unread = await vault(emu, 'GET', 'transit/keys/absent', { token: emu.rootToken });
  t.same([unread.status, errorsOf(unread)], [404, []]);

  const revoked = await vault(emu, 'POST', 'auth/token/revoke-self', { token: other });
  t.equal(revoked.status, 204);
  for (const token of [other, 'hvs.unknown', '']) {
    const reply = await vault(emu, 'GET', 'auth/token/lookup-self', { token });
    t.same(
      [reply.status, errorsOf(reply)],
      [403, ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n']],
    );
  }
  t.ok(emu.tokenTtl(emu.token) > 0);
  emu.expireToken(emu.token);
  t.equal(emu.tokenTtl(emu.token), 0);
  const expired = await vault(emu, 'POST', 'transit/encrypt/atrest', { body: { plaintext: b64('x') } });
  t.equal(expired.status, 403, 'an expired token is an invalid token');
  t.match(errorsOf(expired)[0], /invalid token/);
});

t.test('AppRole login and namespaces', async (t) => {
  const emu = await startHashicorpVaultEmulator({ namespace: 'team-a' });
  t.teardown(() => emu.close());
  t.equal(emu.providerKeys.namespace, 'team-a');
  const wrong = await vault(emu, 'POST', 'auth/approle/login', {
    token: '',
    namespace: 'team-a',
    body: { role_id: emu.appRole.role_id, secret_id: 'nope' },
  });
  t.same([wrong.status, errorsOf(wrong)], [400, ['invalid role or secret ID']]);
  const login = await vault(emu, 'POST', 'auth/approle/login', {
    token: '',
    namespace: 'team-a',
    body: emu.appRole,
  });
  const auth = login.json['auth'] as { client_token: string; lease_duration: number; renewable: boolean };
  t.match(auth, { lease_duration: 3600, renewable: true });
  t.match(auth.client_token, /^hvs\./);
  const body = { plaintext: b64('x') };
  const viaHeader = await vault(emu, 'POST', 'transit/encrypt/atrest', {
    token: auth.client_token,
    namespace: 'team-a',
    body,
  });
  t.equal(viaHeader.status, 200, 'namespace in X-Vault-Namespace');
  const viaPath = await vault(emu, 'POST', 'team-a/transit/encrypt/atrest', { token: auth.client_token, body });
  t.equal(viaPath.status, 200, 'namespace as a path prefix');
  const rootNs = await vault(emu, 'POST', 'transit/encrypt/atrest', { token: auth.client_token, body });
  t.equal(rootNs.status, 403, "a namespace's token is nothing in the root namespace");
  const unknownNs = await vault(emu, 'POST', 'transit/encrypt/atrest', { namespace: 'team-b', body });
  t.equal(unknownNs.status, 404);
});

t.test('sealed, faults, call counts, outage', async (t) => {
  const emu = await startHashicorpVaultEmulator();
  t.teardown(() => emu.close());
  const body = { plaintext: b64('x') };
  emu.seal();
  const sealed = await vault(emu, 'POST', 'transit/encrypt/atrest', { body });
  t.same([sealed.status, errorsOf(sealed)], [503, ['Vault is sealed']]);
  const health = await vault(emu, 'GET', 'sys/health', { token: '' });
  t.match([health.status, health.json], [503, { sealed: true, initialized: true }]);
  emu.unseal();
  t.equal((await vault(emu, 'GET', 'sys/health', { token: '' })).status, 200);

  emu.resetCalls();
  emu.injectFault({ kind: 'throttling', times: 1, operations: ['encrypt'], retryAfterSeconds: 2 });
  const throttled = await vault(emu, 'POST', 'transit/encrypt/atrest', { body });
  t.same([throttled.status, throttled.headers['retry-after']], [429, '2']);
  t.match(errorsOf(throttled)[0], /rate limit quota exceeded/);
  emu.injectFault({ kind: 'internal-failure', times: 1 });
  t.equal((await vault(emu, 'POST', 'transit/encrypt/atrest', { body })).status, 500);
  emu.injectFault({ kind: 'service-unavailable', times: 1 });
  t.equal((await vault(emu, 'POST', 'transit/encrypt/atrest', { body })).status, 503);
  emu.injectFault({ kind: 'drop', times: 1, operations: ['decrypt'] });
  await t.rejects(vault(emu, 'POST', 'transit/decrypt/atrest', { body: { ciphertext: 'vault:v1:AAAA' } }));
  emu.injectFault({ kind: 'latency', ms: 50, times: 1 });
  t.equal((await vault(emu, 'POST', 'transit/encrypt/atrest', { body })).status, 200, 'latency, then served');
  t.match(emu.calls, { encrypt: 4, decrypt: 1, health: 0 });

  await emu.stop();
  await t.rejects(vault(emu, 'POST', 'transit/encrypt/atrest', { body }), 'stopped: nothing listens');
  await emu.start();
  const back = await vault(emu, 'POST', 'transit/encrypt/atrest', { body });
  t.equal(back.status, 200, 'started again: the same token and key');
});

t.test('atrest-emulator hashicorp-vault prints the INI keys and serves', async (t) => {
  const { child, keys } = await startEmulatorCommand('hashicorp-vault');
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  t.same(
    Object.keys(keys).sort(),
    ['ca_file', 'key_ring', 'token', 'token_renewal_interval', 'transit_engine_path', 'url'],
    'one JSON line of INI keys',
  );
  const reply = await call(
    readFileSync(String(keys['ca_file']), 'utf8'),
    'POST',
    `${keys['url']}/v1/transit/encrypt/atrest`,
    {
      headers: { 'x-vault-token': String(keys['token']) },
      body: { plaintext: b64('x') },
    },
  );
  t.equal(reply.status, 200);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
});
