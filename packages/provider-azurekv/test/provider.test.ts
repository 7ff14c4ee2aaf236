// The azurekv provider against the emulator with the real SDK: key versions, algorithms, keyRef
// checks, credentials, TLS, health, describe, the definition and its config checks.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { EncryptionContext } from '@atrest/core';
import { isAtrestError } from '@atrest/core';
import { createOptions, createTestTls, recordingLogger, rejection } from '@atrest/testkit';
import t from 'tap';
import { azureKeyVaultConfigSchema, createAzureKeyVaultProvider, providers } from '../src/index.js';
import type { AzureTokenCredential } from '../src/index.js';
import { configFor, emulator, healthOf, providerOn } from './helpers/provider.js';

const context: EncryptionContext = { data_key_id: 'dk-1', label: 'secrets/2026-01-01' };
const dataKey = (): Uint8Array => new Uint8Array(randomBytes(32));

t.test('key rotation: old wrapped keys still unwrap, new wraps use the new version', async (t) => {
  const emu = await emulator(t);
  const p = await providerOn(t, emu);
  const v1 = emu.keyVersions()[0];
  const k1 = dataKey();
  const w1 = await p.wrapKey(k1, context);
  t.equal(w1.keyRef, v1?.kid, 'keyRef is the full key identifier with its version');
  t.equal(p.describe?.()['key_version'], v1?.version, 'describe names the version in use');

  const v2 = emu.rotateKey();
  const k2 = dataKey();
  const w2 = await p.wrapKey(k2, context);
  t.equal(w2.keyRef, v2.kid, 'the same provider wraps with the new version, no restart');
  t.equal(p.describe?.()['key_version'], v2.version, 'describe follows');
  t.same(Buffer.from(await p.unwrapKey(w1, context)), Buffer.from(k1), 'the old version still unwraps what it wrapped');
  t.same(Buffer.from(await p.unwrapKey(w2, context)), Buffer.from(k2), 'the new one unwraps its own');

  const fresh = await providerOn(t, emu);
  t.same(
    Buffer.from(await fresh.unwrapKey(w1, context)),
    Buffer.from(k1),
    'a fresh provider unwraps the old version too',
  );
  t.same(Buffer.from(await fresh.unwrapKey(w2, context)), Buffer.from(k2), 'and the new one');
  const swapped = await rejection(fresh.unwrapKey({ ciphertext: w1.ciphertext, keyRef: w2.keyRef }, context));
  t.equal(swapped?.code, 'ATREST_DECRYPT_FAILED', 'a wrapped key presented with another version fails, typed');

  const pinned = await providerOn(t, emu, { key_version: v1?.version ?? '' });
  t.equal((await pinned.wrapKey(dataKey(), context)).keyRef, v1?.kid, 'key_version pins wrapping to a version');
});

t.test('both algorithms; each wrapped key records its own', async (t) => {
  const emu = await emulator(t);
  const oaep = await providerOn(t, emu, { algorithm: 'RSA-OAEP' });
  const oaep256 = await providerOn(t, emu, { algorithm: 'RSA-OAEP-256' });
  const k = dataKey();
  const a = await oaep.wrapKey(k, context);
  const b = await oaep256.wrapKey(k, context);
  t.equal(a.ciphertext.length, 258, 'RSA-OAEP: format byte, algorithm byte, 256-byte RSA ciphertext');
  t.equal(b.ciphertext.length, 258, 'RSA-OAEP-256: same frame');
  t.not(a.ciphertext[1], b.ciphertext[1], 'the algorithm is recorded');
  t.same(
    Buffer.from(await oaep256.unwrapKey(a, context)),
    Buffer.from(k),
    'an RSA-OAEP-256 provider unwraps an RSA-OAEP key (config changed later)',
  );
  t.same(Buffer.from(await oaep.unwrapKey(b, context)), Buffer.from(k), 'and the other way round');
  t.equal(oaep.describe?.()['algorithm'], 'RSA-OAEP', 'describe names the algorithm');
  const forged = new Uint8Array(a.ciphertext);
  forged[1] = b.ciphertext[1] ?? 0;
  t.equal(
    (await rejection(oaep.unwrapKey({ ciphertext: forged, keyRef: a.keyRef }, context)))?.code,
    'ATREST_DECRYPT_FAILED',
    'a swapped algorithm byte fails, typed',
  );
});

t.test('keyRef names another vault, key or nothing: refused before any request', async (t) => {
  const emu = await emulator(t);
  const p = await providerOn(t, emu);
  const wrapped = await p.wrapKey(dataKey(), context);
  const version = wrapped.keyRef.split('/').at(-1) ?? '';
  emu.resetCalls();
  const refs = [
    `https://attacker.example/keys/${emu.key_id}/${version}`,
    `https://localhost:${emu.port}/keys/${emu.key_id}/${version}`,
    `${emu.vault_uri}/keys/another-key/${version}`,
    `${emu.vault_uri}/keys/${emu.key_id}`,
    `${emu.vault_uri}/secrets/${emu.key_id}/${version}`,
    'not a url',
  ];
  for (const keyRef of refs) {
    const err = await rejection(p.unwrapKey({ ciphertext: wrapped.ciphertext, keyRef }, context));
    t.equal(err?.code, 'ATREST_WRONG_KEY', `refused: ${keyRef}`);
  }
  t.same(
    Object.values(emu.calls).reduce((a, b) => a + b, 0),
    0,
    'no request reached the emulator (no token sent anywhere)',
  );
});

t.test('a vault whose challenge names a resource it does not belong to gets no token', async (t) => {
  const emu = await emulator(t, { challengeResource: 'https://vault.azure.net' });
  const p = await providerOn(t, emu);
  const err = await rejection(p.wrapKey(dataKey(), context));
  t.equal(err?.code, 'ATREST_PROVIDER_AUTH', 'refused, typed');
  t.match(err?.message, /vault\.azure\.net/, 'naming the resource');
  t.equal(emu.calls.token, 0, 'no token was requested');
  t.equal(emu.calls.challenges, 1, 'after the challenge');
});

t.test('wrong client secret → ATREST_PROVIDER_AUTH naming provider, tenant and client', async (t) => {
  const emu = await emulator(t);
  const secret = 'Xq8~wrong-secret-value-0123456789';
  const p = await providerOn(t, emu, { client_secret: secret });
  for (const [what, op] of [
    ['wrap', () => p.wrapKey(dataKey(), context)],
    ['health', () => healthOf(p)],
  ] as const) {
    const err = await rejection(op());
    t.equal(err?.code, 'ATREST_PROVIDER_AUTH', `${what}: ATREST_PROVIDER_AUTH`);
    t.match(err?.message, 'azurekv.main', `${what}: names the provider`);
    t.match(err?.message, emu.tenant_id, `${what}: names the tenant`);
    t.match(err?.message, emu.client_id, `${what}: names the client id`);
    t.match(err?.message, /AADSTS7000215/, `${what}: says why`);
    t.notMatch(err?.message, secret, `${what}: never the secret`);
    t.notMatch(JSON.stringify(err?.details), secret, `${what}: not in details either`);
  }
  t.equal(emu.calls.wrapKey + emu.calls.unwrapKey, 0, 'no key operation ran');
});

t.test('TLS: no ca_file, a wrong CA, a wrong host name → ATREST_TLS; verification is never off', async (t) => {
  const emu = await emulator(t);
  const host = `127.0.0.1:${emu.port}`;
  const none = await rejection((await providerOn(t, emu, { ca_file: '' })).wrapKey(dataKey(), context));
  t.equal(none?.code, 'ATREST_TLS', 'no ca_file: ATREST_TLS');
  t.match(none?.message, host, 'naming the host');
  t.match(none?.message, /ca_file/, 'and what to set');

  const other = await createTestTls({ name: 'some other CA' });
  const wrongCa = await rejection(healthOf(await providerOn(t, emu, { ca_file: other.caFile })));
  t.equal(wrongCa?.code, 'ATREST_TLS', 'a CA that did not sign the certificate: ATREST_TLS');
  t.match(wrongCa?.message, other.caFile, 'naming the CA file');
  t.match(wrongCa?.message, host, 'and the host');

  const misnamed = await emulator(t, { certificateHosts: ['vault.atrest.invalid'] });
  const err = await rejection((await providerOn(t, misnamed)).wrapKey(dataKey(), context));
  t.equal(err?.code, 'ATREST_TLS', 'a certificate for another host name: ATREST_TLS, even with the right CA');
  t.match(err?.message, /ERR_TLS_CERT_ALTNAME_INVALID/, 'a host name mismatch');
  t.match(err?.message, misnamed.ca_file, 'naming the CA file');
  t.equal(misnamed.calls.token + misnamed.calls.getKey, 0, 'nothing was served over it');
  t.notOk(
    Object.keys(azureKeyVaultConfigSchema).some((k) => /verify|insecure|reject/i.test(k)),
    'no config key turns verification off',
  );
});

t.test('the token endpoint behind another CA: ATREST_TLS names it', async (t) => {
  const vault = await emulator(t);
  const identity = await emulator(t);
  // The vault's CA only: the token endpoint (another emulator, another CA) does not verify.
  const p = await providerOn(t, vault, { authority_host: identity.authority_host });
  const err = await rejection(p.wrapKey(dataKey(), context));
  t.equal(err?.code, 'ATREST_TLS', 'the token endpoint certificate is verified with the same trust');
  t.match(err?.message, `127.0.0.1:${identity.port}`, 'naming the token host');
});

t.test('health and describe', async (t) => {
  const emu = await emulator(t);
  const p = await providerOn(t, emu);
  await t.resolves(healthOf(p), 'health resolves on a usable key');
  const facts = p.describe?.() ?? {};
  t.match(
    facts,
    {
      vault_uri: emu.vault_uri,
      key_id: emu.key_id,
      algorithm: 'RSA-OAEP-256',
      credential: 'client secret',
      tenant_id: emu.tenant_id,
      client_id: emu.client_id,
      ca_file: emu.ca_file,
    },
    'non-secret facts',
  );
  t.notMatch(JSON.stringify(facts), emu.client_secret, 'never the secret');

  emu.setKeyOperations(emu.key_id, ['encrypt', 'decrypt', 'wrapKey']);
  const ops = await rejection(healthOf(p));
  t.equal(ops?.code, 'ATREST_PROVIDER_FAILED', 'a key without unwrapKey fails health');
  t.match(ops?.message, /unwrapKey/, 'saying which operation');
  emu.setKeyOperations(emu.key_id, ['wrapKey', 'unwrapKey']);
  emu.setKeyEnabled(emu.key_id, false);
  const disabled = await rejection(healthOf(p));
  t.equal(disabled?.code, 'ATREST_PROVIDER_FAILED', 'a disabled key fails health');
  t.match(disabled?.message, /disabled/, 'saying so');
  emu.setKeyEnabled(emu.key_id, true);
  const missing = await rejection(healthOf(await providerOn(t, emu, { key_id: 'no-such-key' })));
  t.equal(missing?.code, 'ATREST_KEY_MISSING', 'an unknown key: ATREST_KEY_MISSING');
  t.match(missing?.message, 'no-such-key', 'naming it');
  const gone = await rejection(
    (await providerOn(t, emu, { key_version: '0123456789abcdef0123456789abcdef' })).wrapKey(dataKey(), context),
  );
  t.equal(gone?.code, 'ATREST_KEY_MISSING', 'an unknown pinned version: ATREST_KEY_MISSING');
});

t.test('an injected credential is used instead of the configured one', async (t) => {
  const emu = await emulator(t);
  let asked: string[] = [];
  const credential: AzureTokenCredential = {
    async getToken(scopes) {
      asked = Array.isArray(scopes) ? scopes : [scopes];
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: emu.client_id,
        client_secret: emu.client_secret,
        scope: asked.join(' '),
      }).toString();
      const reply = await new Promise<string>((resolve, reject) => {
        const req = request(
          `${emu.authority_host}/${emu.tenant_id}/oauth2/v2.0/token`,
          { method: 'POST', ca: emu.caPem, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString('utf8')));
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      return {
        token: String((JSON.parse(reply) as { access_token: string }).access_token),
        expiresOnTimestamp: Date.now() + 3_600_000,
      };
    },
  };
  const p = await providerOn(t, emu, { client_secret: '', tenant_id: '', client_id: '' }, { credential });
  const k = dataKey();
  t.same(
    Buffer.from(await p.unwrapKey(await p.wrapKey(k, context), context)),
    Buffer.from(k),
    'round trip with the injected credential',
  );
  t.same(asked, [`${emu.vault_uri}/.default`], 'asked for the vault resource named by the challenge');
  t.equal(p.describe?.()['credential'], 'injected', 'describe says so');
  t.equal(emu.calls.openidConfiguration, 0, 'the SDK credential was not used');
});

t.test('close', async (t) => {
  const emu = await emulator(t);
  const p = await providerOn(t, emu);
  const wrapped = await p.wrapKey(dataKey(), context);
  await p.close?.();
  await p.close?.();
  t.pass('close is idempotent');
  t.equal((await rejection(p.unwrapKey(wrapped, context)))?.code, 'ATREST_CLOSED', 'a closed provider refuses work');
});

t.test('the definition', async (t) => {
  t.equal(providers.length, 1, 'one definition');
  const def = providers[0];
  t.equal(def?.type, 'azurekv', 'type azurekv');
  t.equal(def?.apiVersion, 1, 'apiVersion, a literal');
  const keys = [
    'tenant_id',
    'client_id',
    'client_secret',
    'key_id',
    'vault_uri',
    'key_version',
    'algorithm',
    'authority_host',
    'ca_file',
    'max_attempts',
    'request_timeout',
    'retry_delay',
    'max_retry_delay',
    'total_timeout',
    'max_retries',
  ];
  t.same(Object.keys(def?.configSchema ?? {}).sort(), [...keys].sort(), 'every config key in the schema');
  for (const [key, spec] of Object.entries(def?.configSchema ?? {})) {
    t.ok(spec.doc.length > 10 && spec.format !== undefined && 'default' in spec, `${key}: doc, format, default`);
    t.equal(spec.sensitive === true, key === 'client_secret', `${key}: sensitive only for client_secret`);
  }
  t.same(def?.configSchema['algorithm']?.format, ['RSA-OAEP-256', 'RSA-OAEP'], 'algorithm: one of two');
  t.equal(def?.configSchema['algorithm']?.default, 'RSA-OAEP-256', 'RSA-OAEP-256 by default');

  const emu = await emulator(t);
  const p = await def?.create({
    id: 'azurekv.grafana',
    type: 'azurekv',
    name: 'grafana',
    config: configFor(emu),
    app: 'atrest',
    appRoot: process.cwd(),
    firstUse: true,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  t.teardown(() => p?.close?.());
  const k = dataKey();
  t.same(
    Buffer.from((await p?.unwrapKey(await p.wrapKey(k, context), context)) ?? []),
    Buffer.from(k),
    'create() makes a working provider',
  );
});

t.test('config checks name the key and what is allowed', async (t) => {
  const emu = await emulator(t);
  const bad: [string, Record<string, string | number>, string, RegExp][] = [
    ['no vault_uri', { vault_uri: '' }, 'ATREST_CONFIG_INVALID', /vault_uri: is required/],
    ['http vault', { vault_uri: 'http://my-vault.vault.azure.net' }, 'ATREST_CONFIG_INVALID', /vault_uri.*https/],
    ['vault with a path', { vault_uri: `${emu.vault_uri}/keys/x` }, 'ATREST_CONFIG_INVALID', /vault_uri.*base URL/],
    ['no key_id', { key_id: '' }, 'ATREST_CONFIG_INVALID', /key_id: is required/],
    ['key_id as a URL', { key_id: `${emu.vault_uri}/keys/atrest-kek` }, 'ATREST_CONFIG_INVALID', /key_id.*name only/],
    ['secret without tenant', { tenant_id: '' }, 'ATREST_CONFIG_INVALID', /tenant_id: is required with client_secret/],
    ['secret without client', { client_id: '' }, 'ATREST_CONFIG_INVALID', /client_id: is required with client_secret/],
    ['unknown algorithm', { algorithm: 'RSA1_5' }, 'ATREST_CONFIG_INVALID', /algorithm/],
    ['http authority', { authority_host: 'http://login.example' }, 'ATREST_CONFIG_INVALID', /authority_host.*https/],
    [
      'missing ca_file',
      { ca_file: '/nonexistent/ca.pem' },
      'ATREST_TLS',
      /ca_file: \/nonexistent\/ca\.pem cannot be read/,
    ],
    ['bad duration', { request_timeout: 'soon' }, 'ATREST_CONFIG_INVALID', /request_timeout/],
    ['too many attempts', { max_attempts: 99 }, 'ATREST_CONFIG_INVALID', /max_attempts/],
    ['too many retries (the old spelling)', { max_retries: 99 }, 'ATREST_CONFIG_INVALID', /max_retries/],
  ];
  for (const [what, overrides, code, message] of bad) {
    const err = await rejection(
      createAzureKeyVaultProvider(createOptions('azurekv', { ...configFor(emu), ...overrides }, { name: 'main' })),
    );
    t.ok(isAtrestError(err), `${what}: an AtrestError`);
    t.equal(err?.code, code, `${what}: ${code}`);
    t.match(err?.message, message, `${what}: says what`);
    t.match(err?.message, '[security.encryption.azurekv.main]', `${what}: names the section`);
  }
  const noCerts = `${emu.ca_file}.empty`;
  writeFileSync(noCerts, 'not a certificate\n');
  t.equal(
    (
      await rejection(
        createAzureKeyVaultProvider(createOptions('azurekv', configFor(emu, { ca_file: noCerts }), { name: 'main' })),
      )
    )?.code,
    'ATREST_TLS',
    'a ca_file without certificates: ATREST_TLS',
  );
  const durations = async (request_timeout: string | number): Promise<unknown> => {
    const p = await createAzureKeyVaultProvider(
      createOptions('azurekv', configFor(emu, { request_timeout }), { name: 'main' }),
    );
    await p.close?.();
    return p;
  };
  await t.resolves(durations('250ms'), 'durations: ms');
  await t.resolves(durations('10s'), 'seconds');
  await t.resolves(durations(1500), 'numbers are milliseconds');
  t.equal((await rejection(durations('1 fortnight')))?.code, 'ATREST_CONFIG_INVALID', 'unknown units refused');
});

t.test('max_retries, the old spelling of max_attempts, still works with a deprecation warning', async (t) => {
  const emu = await emulator(t);
  const logger = recordingLogger();
  const p = await providerOn(t, emu, { max_retries: 1, retry_delay: '10ms' }, { logger });
  await healthOf(p);
  const warnings = logger.records.filter((r) => r.level === 'warn').map((r) => r.message);
  t.same(warnings, ['[security.encryption.azurekv.main] max_retries is deprecated: use max_attempts'], 'warned');
  emu.resetCalls();
  emu.injectFault({ kind: 'service-unavailable', operations: ['getKey'] });
  const err = await rejection(healthOf(p));
  t.equal(err?.code, 'ATREST_PROVIDER_UNAVAILABLE', 'unavailable');
  t.equal(emu.calls.getKey, 2, 'max_retries 1: two attempts');
  emu.clearFaults();
});
