// The Azure Key Vault emulator on the wire: Entra ID discovery and token grant, Key Vault's
// challenge, keys and versions, RSA-OAEP / RSA-OAEP-256 checked against node:crypto, faults,
// call counts, outage, and the `atrest-emulator azure-keyvault` command. (The same emulator under
// the real Azure SDK is tested in packages/provider-azurekv/test/emulator-sdk.test.ts.)
import { spawn } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startAzureKeyVaultEmulator } from '../src/index.js';
import type { AzureKeyVaultEmulator } from '../src/index.js';

type Reply = { status: number; headers: IncomingHttpHeaders; json: Record<string, unknown> };

function call(
  emu: { caPem: string },
  method: string,
  url: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: emu.caPem, headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function form(values: Record<string, string>): { body: string; headers: Record<string, string> } {
  return {
    body: new URLSearchParams(values).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
}

async function token(emu: AzureKeyVaultEmulator, overrides: Record<string, string> = {}): Promise<Reply> {
  return call(
    emu,
    'POST',
    `${emu.authority_host}/${emu.tenant_id}/oauth2/v2.0/token`,
    form({
      grant_type: 'client_credentials',
      client_id: emu.client_id,
      client_secret: emu.client_secret,
      scope: `${emu.vault_uri}/.default`,
      ...overrides,
    }),
  );
}

async function bearer(emu: AzureKeyVaultEmulator): Promise<Record<string, string>> {
  const reply = await token(emu);
  return { authorization: `Bearer ${String(reply.json['access_token'])}`, 'content-type': 'application/json' };
}

function errorOf(reply: Reply): { code?: unknown; message?: unknown } {
  return (reply.json['error'] ?? {}) as { code?: unknown; message?: unknown };
}

const API = 'api-version=2025-07-01';

t.test('identity: discovery and the client-credentials grant', async (t) => {
  const emu = await startAzureKeyVaultEmulator();
  t.teardown(() => emu.close());
  t.same(
    Object.keys(emu.providerKeys).sort(),
    ['authority_host', 'ca_file', 'client_id', 'client_secret', 'key_id', 'tenant_id', 'vault_uri'],
    "facts are the provider's INI keys",
  );
  t.ok(existsSync(emu.ca_file), 'the CA is written to ca_file');
  t.match(emu.vault_uri, /^https:\/\/127\.0\.0\.1:\d+$/, 'vault on 127.0.0.1');

  const oidc = await call(emu, 'GET', `${emu.authority_host}/${emu.tenant_id}/v2.0/.well-known/openid-configuration`);
  t.equal(oidc.status, 200, 'OpenID configuration served');
  t.equal(oidc.json['token_endpoint'], `${emu.authority_host}/${emu.tenant_id}/oauth2/v2.0/token`, 'token endpoint');
  t.equal(
    oidc.json['issuer'],
    `${emu.authority_host}/${emu.tenant_id}/v2.0`,
    'issuer on the authority host (MSAL checks it)',
  );
  for (const k of ['authorization_endpoint', 'jwks_uri'])
    t.type(oidc.json[k], 'string', `${k} present (MSAL requires it)`);
  const unknownTenant = await call(
    emu,
    'GET',
    `${emu.authority_host}/not-a-tenant/v2.0/.well-known/openid-configuration`,
  );
  t.equal(unknownTenant.status, 400, 'unknown tenant refused');
  t.match(String(unknownTenant.json['error_description']), /AADSTS90002/, 'with AADSTS90002');
  const discovery = await call(
    emu,
    'GET',
    `${emu.authority_host}/common/discovery/instance?api-version=1.1&authorization_endpoint=x`,
  );
  t.equal(discovery.status, 200, 'instance discovery served');
  t.type(discovery.json['tenant_discovery_endpoint'], 'string', 'with a tenant discovery endpoint');

  const ok = await token(emu);
  t.equal(ok.status, 200, 'token issued');
  t.equal(ok.json['token_type'], 'Bearer', 'bearer token');
  t.type(ok.json['access_token'], 'string', 'access token');
  t.equal(ok.json['expires_in'], 3600, 'lifetime');

  const badSecret = await token(emu, { client_secret: 'wrong' });
  t.equal(badSecret.status, 401, 'wrong secret: 401');
  t.equal(badSecret.json['error'], 'invalid_client', 'invalid_client');
  t.match(String(badSecret.json['error_description']), /AADSTS7000215/, 'AADSTS7000215');
  t.notMatch(String(badSecret.json['error_description']), emu.client_secret, 'the secret is not echoed');
  const badClient = await token(emu, { client_id: '00000000-0000-0000-0000-000000000000' });
  t.equal(badClient.json['error'], 'unauthorized_client', 'unknown client refused');
  const badScope = await token(emu, { scope: 'https://vault.azure.net/.default' });
  t.equal(badScope.json['error'], 'invalid_resource', 'a token for another resource is refused');
  const badGrant = await token(emu, { grant_type: 'password' });
  t.equal(badGrant.json['error'], 'unsupported_grant_type', 'only client credentials');
  t.equal(emu.calls.token, 5, 'token calls counted');
  t.equal(emu.calls.openidConfiguration, 2, 'discovery calls counted');
});

t.test('vault: challenge, keys, versions, wrap and unwrap', async (t) => {
  const emu = await startAzureKeyVaultEmulator({ keyName: 'kek' });
  t.teardown(() => emu.close());
  const keyUrl = `${emu.vault_uri}/keys/kek`;

  const challenge = await call(emu, 'GET', `${keyUrl}?${API}`);
  t.equal(challenge.status, 401, 'no token: 401');
  const header = String(challenge.headers['www-authenticate']);
  t.match(header, /^Bearer /, 'a Bearer challenge');
  t.match(header, `authorization="${emu.authority_host}/${emu.tenant_id}"`, 'naming the authority and tenant');
  t.match(header, `resource="${emu.vault_uri}"`, 'and the resource');
  t.equal(errorOf(challenge).code, 'Unauthorized', "Key Vault's error shape");
  t.equal(emu.calls.challenges, 1, 'challenge counted');
  const forged = await call(emu, 'GET', `${keyUrl}?${API}`, { headers: { authorization: 'Bearer forged' } });
  t.equal(forged.status, 401, 'unknown token: 401');

  const headers = await bearer(emu);
  const latest = await call(emu, 'GET', `${keyUrl}/?${API}`, { headers });
  t.equal(latest.status, 200, 'GET key');
  const jwk = latest.json['key'] as { kid: string; kty: string; key_ops: string[]; n: string; e: string };
  const v1 = emu.keyVersions('kek')[0];
  t.equal(jwk.kid, v1?.kid, 'kid is the versioned identifier');
  t.equal(jwk.kty, 'RSA', 'RSA key');
  t.ok(jwk.key_ops.includes('wrapKey') && jwk.key_ops.includes('unwrapKey'), 'wrap/unwrap allowed');
  const publicKey = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
  t.equal(publicKey.asymmetricKeyDetails?.modulusLength, 2048, 'RSA-2048');
  t.equal((latest.json['attributes'] as { enabled: boolean }).enabled, true, 'enabled');

  const noVersion = await call(emu, 'GET', keyUrl, { headers });
  t.equal(noVersion.status, 400, 'api-version is required');
  const missing = await call(emu, 'GET', `${emu.vault_uri}/keys/nope?${API}`, { headers });
  t.equal(missing.status, 404, 'unknown key: 404');
  t.equal(errorOf(missing).code, 'KeyNotFound', 'KeyNotFound');

  const dataKey = randomBytes(64);
  for (const [alg, hash] of [
    ['RSA-OAEP', 'sha1'],
    ['RSA-OAEP-256', 'sha256'],
  ] as const) {
    const wrapped = await call(emu, 'POST', `${keyUrl}/${v1?.version ?? ''}/wrapkey?${API}`, {
      headers,
      body: JSON.stringify({ alg, value: dataKey.toString('base64url') }),
    });
    t.equal(wrapped.status, 200, `${alg}: wrapkey`);
    t.equal(wrapped.json['kid'], v1?.kid, `${alg}: answers with the versioned kid`);
    const ciphertext = String(wrapped.json['value']);
    t.equal(Buffer.from(ciphertext, 'base64url').length, 256, `${alg}: a 2048-bit RSA ciphertext`);
    const unwrapped = await call(emu, 'POST', `${keyUrl}/${v1?.version ?? ''}/unwrapkey?${API}`, {
      headers,
      body: JSON.stringify({ alg, value: ciphertext }),
    });
    t.equal(
      Buffer.from(String(unwrapped.json['value']), 'base64url').toString('hex'),
      dataKey.toString('hex'),
      `${alg}: unwrapkey gives the key back`,
    );
    // Encrypted here with the published public key: proves real RSA-OAEP with the right hash.
    const local = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, dataKey);
    const viaVault = await call(emu, 'POST', `${keyUrl}/${v1?.version ?? ''}/decrypt?${API}`, {
      headers,
      body: JSON.stringify({ alg, value: local.toString('base64url') }),
    });
    t.equal(
      Buffer.from(String(viaVault.json['value']), 'base64url').toString('hex'),
      dataKey.toString('hex'),
      `${alg}: decrypts what node:crypto encrypted`,
    );
    const other = alg === 'RSA-OAEP' ? 'RSA-OAEP-256' : 'RSA-OAEP';
    const mismatch = await call(emu, 'POST', `${keyUrl}/${v1?.version ?? ''}/unwrapkey?${API}`, {
      headers,
      body: JSON.stringify({ alg: other, value: ciphertext }),
    });
    t.equal(mismatch.status, 400, `${alg}: unwrapping with ${other} fails`);
    t.equal(errorOf(mismatch).code, 'BadParameter', `${alg}: as BadParameter`);
  }
  const badAlg = await call(emu, 'POST', `${keyUrl}//wrapkey?${API}`, {
    headers,
    body: JSON.stringify({ alg: 'RSA1_5', value: 'AAAA' }),
  });
  t.equal(badAlg.status, 400, 'other algorithms refused');

  // Versions: rotate, the latest moves, the old version still unwraps what it wrapped.
  const old = await call(emu, 'POST', `${keyUrl}//wrapkey?${API}`, {
    headers,
    body: JSON.stringify({ alg: 'RSA-OAEP-256', value: dataKey.toString('base64url') }),
  });
  t.equal(old.json['kid'], v1?.kid, 'empty version: the latest');
  const v2 = emu.rotateKey('kek');
  t.not(v2.version, v1?.version, 'rotation makes a new version');
  t.equal(emu.keyVersions('kek').length, 2, 'two versions');
  const afterRotation = await call(emu, 'GET', `${keyUrl}?${API}`, { headers });
  t.equal((afterRotation.json['key'] as { kid: string }).kid, v2.kid, 'latest is the new version');
  const byVersion = await call(emu, 'GET', `${keyUrl}/${v1?.version ?? ''}?${API}`, { headers });
  t.equal((byVersion.json['key'] as { kid: string }).kid, v1?.kid, 'an old version by its id');
  const oldBack = await call(emu, 'POST', `${keyUrl}/${v1?.version ?? ''}/unwrapkey?${API}`, {
    headers,
    body: JSON.stringify({ alg: 'RSA-OAEP-256', value: old.json['value'] }),
  });
  t.equal(oldBack.status, 200, 'the old version unwraps what it wrapped');
  const wrongVersion = await call(emu, 'POST', `${keyUrl}/${v2.version}/unwrapkey?${API}`, {
    headers,
    body: JSON.stringify({ alg: 'RSA-OAEP-256', value: old.json['value'] }),
  });
  t.equal(wrongVersion.status, 400, 'the new version does not');
  const newWrap = await call(emu, 'POST', `${keyUrl}//wrapkey?${API}`, {
    headers,
    body: JSON.stringify({ alg: 'RSA-OAEP-256', value: dataKey.toString('base64url') }),
  });
  t.equal(newWrap.json['kid'], v2.kid, 'new wraps use the new version');

  emu.setKeyEnabled('kek', false, v1?.version);
  const disabled = await call(emu, 'GET', `${keyUrl}/${v1?.version ?? ''}?${API}`, { headers });
  t.equal(disabled.status, 403, 'a disabled version is refused');
  emu.setKeyEnabled('kek', true);
  emu.setKeyOperations('kek', ['encrypt', 'decrypt']);
  const notAllowed = await call(emu, 'POST', `${keyUrl}//wrapkey?${API}`, {
    headers,
    body: JSON.stringify({ alg: 'RSA-OAEP-256', value: 'AAAA' }),
  });
  t.equal(notAllowed.status, 403, 'an operation the key does not allow is refused');

  const second = emu.createKey('other');
  t.match(second.kid, `${emu.vault_uri}/keys/other/`, 'createKey makes another key');
  t.throws(() => emu.createKey('other'), 'a key name is used once');

  emu.revokeTokens();
  const revoked = await call(emu, 'GET', `${keyUrl}?${API}`, { headers });
  t.equal(revoked.status, 401, 'revoked tokens get a challenge');
  t.equal(emu.calls.getKey, 9, 'getKey calls counted, challenged ones included');
  t.equal(emu.calls.wrapKey, 6, 'wrapKey calls counted');
  emu.resetCalls();
  t.equal(emu.calls.getKey, 0, 'resetCalls');
});

t.test('faults, latency, outage', async (t) => {
  const emu = await startAzureKeyVaultEmulator();
  t.teardown(() => emu.close());
  const headers = await bearer(emu);
  const keyUrl = `${emu.vault_uri}/keys/${emu.key_id}?${API}`;

  emu.injectFault({ kind: 'throttling', times: 2, retryAfterSeconds: 3 });
  for (const n of [1, 2]) {
    const throttled = await call(emu, 'GET', keyUrl, { headers });
    t.equal(throttled.status, 429, `throttled ${n}`);
    t.equal(throttled.headers['retry-after'], '3', 'with Retry-After');
    t.equal(errorOf(throttled).code, 'Throttled', "in Key Vault's shape");
  }
  t.equal((await call(emu, 'GET', keyUrl, { headers })).status, 200, 'served after `times` faults');

  emu.injectFault({ kind: 'internal-failure', times: 1 });
  const failed = await call(emu, 'GET', keyUrl, { headers });
  t.equal(failed.status, 500, 'internal failure: 500');
  t.equal(errorOf(failed).code, 'InternalServerError', 'InternalServerError');
  emu.injectFault({ kind: 'service-unavailable', times: 1 });
  t.equal((await call(emu, 'GET', keyUrl, { headers })).status, 503, 'service unavailable: 503');

  emu.injectFault({ kind: 'drop', times: 1 });
  const dropped = await call(emu, 'GET', keyUrl, { headers }).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  t.ok(dropped, 'a dropped connection fails the request');
  t.match(dropped?.code, /ECONNRESET|EPIPE/, 'as a reset');

  emu.injectFault({ kind: 'latency', ms: 300, times: 1 });
  const started = Date.now();
  t.equal((await call(emu, 'GET', keyUrl, { headers })).status, 200, 'latency: then served');
  t.ok(Date.now() - started >= 290, 'after the delay');

  emu.injectFault({ kind: 'service-unavailable', operations: ['wrapKey'] });
  t.equal((await call(emu, 'GET', keyUrl, { headers })).status, 200, 'a fault for wrapKey leaves getKey alone');
  const wrapUrl = `${emu.vault_uri}/keys/${emu.key_id}//wrapkey?${API}`;
  const body = JSON.stringify({ alg: 'RSA-OAEP-256', value: randomBytes(32).toString('base64url') });
  t.equal((await call(emu, 'POST', wrapUrl, { headers, body })).status, 503, 'and hits wrapKey');
  t.equal((await call(emu, 'POST', wrapUrl, { headers, body })).status, 503, 'until cleared');
  t.equal((await token(emu)).status, 200, 'identity endpoints are hit only when listed');
  emu.clearFaults();
  t.equal((await call(emu, 'POST', wrapUrl, { headers, body })).status, 200, 'clearFaults');
  emu.injectFault({ kind: 'throttling', times: 1, operations: ['token'], retryAfterSeconds: 0 });
  const throttledToken = await token(emu);
  t.equal(throttledToken.status, 429, 'a fault listed for the token endpoint hits it');
  t.equal(throttledToken.json['error'], 'temporarily_unavailable', "in Entra ID's shape");

  await emu.stop();
  const down = await call(emu, 'GET', keyUrl, { headers }).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  t.equal(down?.code, 'ECONNREFUSED', 'stopped: connection refused');
  await emu.start();
  t.equal(
    (await call(emu, 'GET', keyUrl, { headers })).status,
    200,
    'started again on the same port, keys and tokens kept',
  );
});

t.test('atrest-emulator azure-keyvault prints the INI keys and serves', async (t) => {
  const bin = fileURLToPath(new URL('../src/emulator-bin.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'azure-keyvault', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const end = out.indexOf('\n');
      if (end >= 0) resolve(out.slice(0, end));
    });
    child.on('exit', (code) => reject(new Error(`exited with ${String(code)} before printing`)));
  });
  const keys = JSON.parse(line) as AzureKeyVaultEmulator['providerKeys'];
  t.same(
    Object.keys(keys).sort(),
    ['authority_host', 'ca_file', 'client_id', 'client_secret', 'key_id', 'tenant_id', 'vault_uri'],
    'one JSON line of INI keys',
  );
  const reply = await call(
    { caPem: readFileSync(keys.ca_file, 'utf8') },
    'POST',
    `${keys.authority_host}/${keys.tenant_id}/oauth2/v2.0/token`,
    form({
      grant_type: 'client_credentials',
      client_id: keys.client_id,
      client_secret: keys.client_secret,
      scope: `${keys.vault_uri}/.default`,
    }),
  );
  t.equal(reply.status, 200, 'it serves tokens with the printed credentials');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops it cleanly');
});
