// The Azure Key Vault emulator under the real Azure SDK, used directly (not through the provider):
// @azure/identity's client-credentials flow via MSAL, Key Vault's challenge, keys, versions,
// wrap/unwrap with both algorithms, faults and the SDK's own retries, call counts. It lives here
// because @atrest/testkit does not depend on the SDK (its own test checks the wire protocol).
import { randomBytes } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import type { AzureKeyVaultEmulator } from '@atrest/testkit';
import t from 'tap';
import { emulator } from './helpers/provider.js';

async function sdkFor(emu: AzureKeyVaultEmulator, secret = emu.client_secret) {
  const { ClientSecretCredential } = await import('@azure/identity');
  const { KeyClient, CryptographyClient } = await import('@azure/keyvault-keys');
  // The SDK's own HTTP client, trusting the emulator's CA; fast retries.
  const pipeline = {
    tlsOptions: { ca: [...rootCertificates, emu.caPem] },
    retryOptions: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 50 },
  };
  const credential = new ClientSecretCredential(emu.tenant_id, emu.client_id, secret, {
    ...pipeline,
    authorityHost: emu.authority_host,
    disableInstanceDiscovery: true,
  });
  // The emulator's challenge names the vault's own origin as the resource, which the SDK's
  // domain check (built for *.vault.azure.net) cannot accept; the provider checks it itself.
  const options = { ...pipeline, disableChallengeResourceVerification: true };
  return {
    credential,
    keys: new KeyClient(emu.vault_uri, credential, options),
    crypto: (id: string) => new CryptographyClient(id, credential, options),
  };
}

t.test('token flow and challenge', async (t) => {
  const emu = await emulator(t);
  const sdk = await sdkFor(emu);
  // enableCae as Key Vault's auth policy asks, so the Key Vault client below reuses this token.
  const token = await sdk.credential.getToken(`${emu.vault_uri}/.default`, { enableCae: true });
  t.type(token?.token, 'string', 'ClientSecretCredential gets a token through MSAL');
  t.equal(emu.calls.openidConfiguration, 1, 'MSAL read the OpenID configuration');
  t.equal(emu.calls.token, 1, 'and called the token endpoint once');
  const key = await sdk.keys.getKey(emu.key_id);
  t.equal(key.id, emu.keyVersions()[0]?.kid, 'KeyClient.getKey returns the versioned key');
  t.same(
    [...(key.keyOperations ?? [])].sort(),
    ['decrypt', 'encrypt', 'sign', 'unwrapKey', 'verify', 'wrapKey'],
    'with its operations',
  );
  t.equal(key.properties.enabled, true, 'enabled');
  t.equal(emu.calls.challenges, 1, 'the first vault request was challenged');
  t.equal(emu.calls.getKey, 2, 'then sent again with the token');
  t.equal(emu.calls.token, 1, 'the token was cached');

  const bad = await sdkFor(emu, 'wrong');
  const err = await bad.keys.getKey(emu.key_id).then(
    () => undefined,
    (e: Error) => e,
  );
  t.match(err?.message, /AADSTS7000215/, 'a wrong secret fails in the SDK with AADSTS7000215');
});

t.test('wrap and unwrap with both algorithms, across versions', async (t) => {
  const emu = await emulator(t);
  const sdk = await sdkFor(emu);
  const v1 = emu.keyVersions()[0]?.kid ?? '';
  const secret = new Uint8Array(randomBytes(64));
  for (const alg of ['RSA-OAEP', 'RSA-OAEP-256'] as const) {
    const wrapped = await sdk.crypto(v1).wrapKey(alg, secret);
    t.equal(wrapped.keyID, v1, `${alg}: wrapped by the version asked`);
    const unwrapped = await sdk.crypto(v1).unwrapKey(alg, wrapped.result);
    t.same(Buffer.from(unwrapped.result), Buffer.from(secret), `${alg}: unwraps`);
  }
  t.equal(
    emu.calls.unwrapKey > 0 && emu.calls.wrapKey > 0,
    true,
    'RSA-OAEP-256 wraps in the vault (RSA-OAEP may wrap locally with the public key)',
  );

  const old = await sdk.crypto(v1).wrapKey('RSA-OAEP-256', secret);
  const v2 = emu.rotateKey().kid;
  t.equal((await sdk.keys.getKey(emu.key_id)).id, v2, 'after rotation the latest is the new version');
  t.same(
    Buffer.from((await sdk.crypto(v1).unwrapKey('RSA-OAEP-256', old.result)).result),
    Buffer.from(secret),
    'the old version still unwraps',
  );
  const wrongVersion = await sdk
    .crypto(v2)
    .unwrapKey('RSA-OAEP-256', old.result)
    .then(
      () => undefined,
      (e: { statusCode?: number; code?: string }) => e,
    );
  t.equal(wrongVersion?.statusCode, 400, 'the new version cannot unwrap it: 400');
  t.equal(wrongVersion?.code, 'BadParameter', 'BadParameter');
  const missing = await sdk.keys.getKey('nope').then(
    () => undefined,
    (e: { statusCode?: number; code?: string }) => e,
  );
  t.equal(missing?.statusCode, 404, 'an unknown key: 404');
  t.equal(missing?.code, 'KeyNotFound', 'KeyNotFound');
});

t.test("faults meet the SDK's retry policy; calls are counted", async (t) => {
  const emu = await emulator(t);
  const sdk = await sdkFor(emu);
  await sdk.keys.getKey(emu.key_id);
  emu.resetCalls();
  emu.injectFault({ kind: 'service-unavailable', times: 2, operations: ['getKey'] });
  t.ok(await sdk.keys.getKey(emu.key_id), 'two 503s are retried by the SDK');
  t.equal(emu.calls.getKey, 3, 'three getKey requests counted');
  emu.injectFault({ kind: 'throttling', times: 1, retryAfterSeconds: 0, operations: ['getKey'] });
  t.ok(await sdk.keys.getKey(emu.key_id), 'a 429 with Retry-After is retried');
  emu.injectFault({ kind: 'drop', times: 1, operations: ['getKey'] });
  t.ok(await sdk.keys.getKey(emu.key_id), 'a dropped connection is retried');
  emu.injectFault({ kind: 'internal-failure', operations: ['getKey'] });
  const err = await sdk.keys.getKey(emu.key_id).then(
    () => undefined,
    (e: { statusCode?: number }) => e,
  );
  t.equal(err?.statusCode, 500, 'a persistent 500 surfaces after the retries');
  emu.clearFaults();
  t.equal(emu.calls.token, 0, 'no new token was needed');
});
