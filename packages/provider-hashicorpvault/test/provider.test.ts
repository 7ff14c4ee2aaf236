// The hashicorpvault provider against the Vault emulator: key versions and rewrap, each failure as
// its own typed error (sealed, refused token, denied path, missing key, untrusted certificate),
// AppRole with a new login when its token expires, namespaces, token renewal, retries counted.
import t from 'tap';
import { recordingLogger, rejection, startHashicorpVaultEmulator } from '@atrest/testkit';
import { context, createProvider, dataKey } from './helpers.js';

const emu = await startHashicorpVaultEmulator();
t.teardown(() => emu.close());

t.test('versions: wraps under the latest, unwraps old ones, rewraps without the data key', async (t) => {
  const p = await createProvider(emu);
  t.teardown(() => p.close?.());
  const v1 = await p.wrapKey(dataKey(), context);
  t.equal(v1.keyRef, `${emu.url}/v1/transit/keys/atrest:v1`);
  emu.rotateKey();
  const v2 = await p.wrapKey(dataKey(), context);
  t.equal(v2.keyRef, `${emu.url}/v1/transit/keys/atrest:v2`);
  t.same(Buffer.from(await p.unwrapKey(v1, context)), Buffer.from(dataKey()), 'version 1 still unwraps');
  emu.resetCalls();
  const moved = await (p.rewrapKey?.(v1, context) ?? Promise.reject(new Error('no rewrapKey')));
  t.equal(moved.keyRef, v2.keyRef, 'rewrapped to the latest version');
  t.match(emu.calls, { rewrap: 1, decrypt: 0, encrypt: 0 }, 'one rewrap call; nothing decrypted outside Vault');
  t.same(Buffer.from(await p.unwrapKey(moved, context)), Buffer.from(dataKey()));
  t.match(p.describe?.(), { url: emu.url, transit_engine_path: 'transit', key_ring: 'atrest', login: 'token' });
});

t.test('context mismatch and min_decryption_version', async (t) => {
  const local = await startHashicorpVaultEmulator();
  t.teardown(() => local.close());
  const p = await createProvider(local);
  t.teardown(() => p.close?.());
  const v1 = await p.wrapKey(dataKey(), context);
  const mismatch = await rejection(p.unwrapKey(v1, { ...context, label: 'secrets/2026-01-02' }));
  t.match(mismatch, { code: 'ATREST_DECRYPT_FAILED' });
  local.rotateKey();
  local.setMinDecryptionVersion(2);
  const retired = await rejection(p.unwrapKey(v1, context));
  t.match(retired, { code: 'ATREST_KEY_MISSING', message: /min_decryption_version/ });
});

t.test('sealed, refused token, denied path and missing key are distinct errors', async (t) => {
  const local = await startHashicorpVaultEmulator();
  t.teardown(() => local.close());
  local.seal();
  const logger = recordingLogger();
  const sealed = await rejection((await createProvider(local, {}, logger)).wrapKey(dataKey(), context));
  t.match(sealed, { code: 'ATREST_PROVIDER_UNAVAILABLE', message: /is sealed/, details: { reason: 'sealed' } });
  t.equal(logger.warnings.length, 0, 'a sealed Vault is not retried');
  local.unseal();

  const revoked = local.createToken({ policies: ['default', 'atrest'], period: 3600 });
  local.revokeToken(revoked);
  const invalid = await rejection((await createProvider(local, { token: revoked })).wrapKey(dataKey(), context));
  t.match(invalid, { code: 'ATREST_PROVIDER_AUTH', message: /expired, revoked or unknown/ });
  t.notMatch(String((invalid as Error).message), revoked, 'the token is never in the message');

  const weak = local.createToken({ policies: ['default'], period: 3600 });
  const denied = await rejection((await createProvider(local, { token: weak })).wrapKey(dataKey(), context));
  t.match(denied, { code: 'ATREST_PROVIDER_AUTH', message: /permission denied on transit\/encrypt\/atrest/ });

  const wrapped = await (await createProvider(local)).wrapKey(dataKey(), context);
  const absent = await createProvider(local, { token: local.rootToken, key_ring: 'absent' });
  const missing = await rejection(absent.unwrapKey(wrapped, context));
  t.match(missing, { code: 'ATREST_KEY_MISSING', message: /transit key absent does not exist/ });
  const nowhere = await createProvider(local, { token: local.rootToken, transit_engine_path: 'nowhere' });
  const unmounted = await rejection(nowhere.wrapKey(dataKey(), context));
  t.match(unmounted, { code: 'ATREST_CONFIG_INVALID', message: /transit_engine_path/ });
});

t.test('an untrusted certificate is refused, with or without ca_file', async (t) => {
  const other = await startHashicorpVaultEmulator();
  t.teardown(() => other.close());
  const noCa = await rejection((await createProvider(emu, { ca_file: '' })).wrapKey(dataKey(), context));
  t.match(noCa, { code: 'ATREST_TLS', message: /There is no ca_file set/ });
  const wrongCa = await rejection((await createProvider(emu, { ca_file: other.ca_file })).wrapKey(dataKey(), context));
  t.match(wrongCa, { code: 'ATREST_TLS', message: /does not verify/ });
});

t.test('AppRole: logs in on first use, and again when its token expires', async (t) => {
  const local = await startHashicorpVaultEmulator({ namespace: 'team-a' });
  t.teardown(() => local.close());
  const p = await createProvider(local, { token: '', ...local.appRole });
  t.teardown(() => p.close?.());
  const wrapped = await p.wrapKey(dataKey(), context);
  t.match(local.calls, { appRoleLogin: 1, encrypt: 1 });
  t.match(wrapped.keyRef, `${local.url}/v1/team-a/transit/keys/atrest:v1`, 'the namespace is in the key reference');
  local.expireAppRoleTokens();
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey()), 'works on with a new login');
  t.match(local.calls, { appRoleLogin: 2, decrypt: 2 }, 'refused once, logged in again, served');
  const badSecret = await createProvider(local, { token: '', role_id: local.appRole.role_id, secret_id: 'x' });
  const wrong = await rejection(badSecret.wrapKey(dataKey(), context));
  t.match(wrong, { code: 'ATREST_PROVIDER_AUTH', message: /AppRole login .* was refused/ });
});

t.test('the token is renewed on token_renewal_interval', async (t) => {
  const local = await startHashicorpVaultEmulator({ tokenPeriodSeconds: 3600 });
  t.teardown(() => local.close());
  const p = await createProvider(local, { token_renewal_interval: 20 });
  t.teardown(() => p.close?.());
  for (let i = 0; i < 200 && local.calls.renewSelf < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(local.calls.renewSelf >= 2, `renew-self called ${local.calls.renewSelf} times`);
  await p.close?.();
  // A renewal already on the wire when close() ran may still arrive: count from a moment later.
  await new Promise((r) => setTimeout(r, 50));
  const after = local.calls.renewSelf;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(local.calls.renewSelf, after, 'no renewal after close');
});

t.test('a token that cannot be renewed: said once, then renewal stops', async (t) => {
  const local = await startHashicorpVaultEmulator();
  t.teardown(() => local.close());
  const logger = recordingLogger();
  const fixed = local.createToken({ policies: ['default', 'atrest'], ttl: 3600, renewable: false });
  const p = await createProvider(local, { token: fixed, token_renewal_interval: 20 }, logger);
  t.teardown(() => p.close?.());
  for (let i = 0; i < 200 && local.calls.renewSelf < 1; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 150));
  t.equal(local.calls.renewSelf, 1, 'one renew-self, refused');
  t.match(logger.warnings, [{ message: /renewing the token failed.*lease is not renewable/ }]);
  t.ok(await p.wrapKey(dataKey(), context), 'the token still serves until it expires');
});

t.test('transient failures are retried, within max_attempts', async (t) => {
  const local = await startHashicorpVaultEmulator();
  t.teardown(() => local.close());
  const logger = recordingLogger();
  const p = await createProvider(local, { max_attempts: 3 }, logger);
  t.teardown(() => p.close?.());
  local.injectFault({ kind: 'throttling', times: 1, retryAfterSeconds: 0 });
  local.injectFault({ kind: 'drop', times: 1 });
  const wrapped = await p.wrapKey(dataKey(), context);
  t.ok(wrapped.keyRef, 'the third attempt is served');
  t.equal(local.calls.encrypt, 3);
  t.equal(logger.warnings.length, 2, 'two retries logged');
  local.injectFault({ kind: 'internal-failure' });
  const gaveUp = await rejection(p.unwrapKey(wrapped, context));
  t.match(gaveUp, { code: 'ATREST_PROVIDER_UNAVAILABLE', message: /after 3 attempts/ });
  t.equal(local.calls.decrypt, 3);
  local.clearFaults();
});
