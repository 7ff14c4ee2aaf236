// What an operator sees when Vault or Google Cloud KMS refuses: a revoked token, a sealed Vault, a
// wrong service account key, an untrusted certificate. The CLI (a real process) exits with the
// catalogue's code and says what is wrong and what to do; no secret is printed. And the same
// providers configured from the environment alone, their secrets from `__FILE` files.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import { startGoogleKmsEmulator, startHashicorpVaultEmulator, tempDir, writeIn } from '@atrest/testkit';
import { cloudEnv, repoRoot, runAtrest } from './helpers.js';

const vault = await startHashicorpVaultEmulator();
t.teardown(() => vault.close());
const google = await startGoogleKmsEmulator();
t.teardown(() => google.close());
const dir = tempDir('atrest-vault-gcp-refusals-');

function ini(name: string, provider: string, keys: Readonly<Record<string, string>>): string {
  const section = Object.entries(keys).map(([k, v]) => `${k} = ${v}`);
  return writeIn(
    dir,
    `${name}.ini`,
    [
      '[security]',
      `encryption_provider = ${provider}`,
      `[security.encryption.${provider}]`,
      ...section,
      'max_attempts = 2',
      'retry_delay = 10ms',
      '[database]',
      `path = ${join(dir, `${provider.split('.')[0]}.db`)}`,
      '',
    ].join('\n'),
  );
}
const getSecret = (file: string) =>
  runAtrest(['--config', file, 'secrets', 'get', 'greeting'], { env: { ...cloudEnv } });

for (const [provider, keys] of [
  ['hashicorpvault.main', vault.providerKeys],
  ['googlekms.main', google.providerKeys],
] as const) {
  const good = ini(`${provider}-good`, provider, keys);
  const atrest = await openAtrest({ configFile: good, appRoot: repoRoot, env: {} });
  await atrest.secrets.set('greeting', 'hello');
  await atrest.close();
}

t.test('hashicorpvault: a revoked token, a sealed Vault, an untrusted certificate', async (t) => {
  const good = ini('vault-good', 'hashicorpvault.main', vault.providerKeys);
  const ok = await getSecret(good);
  t.same([ok.code, ok.stdout.toString()], [0, 'hello'], 'the secret reads with the good configuration');

  const revoked = vault.createToken({ policies: ['default', 'atrest'], period: 3600 });
  vault.revokeToken(revoked);
  const refused = await getSecret(
    ini('vault-revoked', 'hashicorpvault.main', { ...vault.providerKeys, token: revoked }),
  );
  t.equal(refused.code, 2, 'exit 2: credentials');
  t.match(
    refused.stderr,
    /ATREST_PROVIDER_AUTH.*refused the token .*expired, revoked or unknown.*Create a new periodic token/s,
  );
  t.notMatch(refused.stderr, revoked, 'the token is not printed');

  vault.seal();
  const sealed = await getSecret(good);
  vault.unseal();
  t.equal(sealed.code, 1, 'exit 1: the service is unavailable');
  t.match(sealed.stderr, /ATREST_PROVIDER_UNAVAILABLE.*is sealed.*Unseal it/s);

  const untrusted = await getSecret(ini('vault-no-ca', 'hashicorpvault.main', { ...vault.providerKeys, ca_file: '' }));
  t.equal(untrusted.code, 2);
  t.match(untrusted.stderr, /ATREST_TLS.*TLS verification of 127\.0\.0\.1:\d+ failed.*ca_file/s);
});

t.test('googlekms: a wrong service account key, an untrusted certificate', async (t) => {
  const good = ini('google-good', 'googlekms.main', google.providerKeys);
  const ok = await getSecret(good);
  t.same([ok.code, ok.stdout.toString()], [0, 'hello']);

  const credentials = JSON.parse(readFileSync(google.credentials_file, 'utf8')) as Record<string, string>;
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    format: 'pem',
    type: 'pkcs8',
  });
  const wrongFile = writeIn(dir, 'wrong-sa.json', JSON.stringify({ ...credentials, private_key: otherKey }));
  const wrong = await getSecret(
    ini('google-wrong-key', 'googlekms.main', { ...google.providerKeys, credentials_file: wrongFile }),
  );
  t.equal(wrong.code, 2, 'exit 2: credentials');
  t.match(
    wrong.stderr,
    /ATREST_PROVIDER_AUTH.*token endpoint .* refused service account atrest@.*Invalid JWT Signature/s,
  );
  t.notMatch(wrong.stderr, /PRIVATE KEY/, 'no key material is printed');

  const untrusted = await getSecret(ini('google-no-ca', 'googlekms.main', { ...google.providerKeys, ca_file: '' }));
  t.equal(untrusted.code, 2);
  t.match(untrusted.stderr, /ATREST_TLS.*TLS verification of 127\.0\.0\.1:\d+ failed/s);
});

t.test('no INI file: both sections from the environment, their secrets from __FILE files', async (t) => {
  const tokenFile = writeIn(dir, 'vault-token', `${vault.token}\n`);
  const secretIdFile = writeIn(dir, 'vault-secret-id', vault.appRole.secret_id);
  const db = join(dir, 'env-only.db');
  const env = {
    ...cloudEnv,
    ATREST_DATABASE_PATH: db,
    ATREST_SECURITY_ENCRYPTION_PROVIDER: 'hashicorpvault.main',
    ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'hashicorpvault.main hashicorpvault.approle googlekms.main',
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_MAIN_URL: vault.url,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_MAIN_TOKEN__FILE: tokenFile,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_MAIN_KEY_RING: vault.key_ring,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_MAIN_CA_FILE: vault.ca_file,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_APPROLE_URL: vault.url,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_APPROLE_ROLE_ID: vault.appRole.role_id,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_APPROLE_SECRET_ID__FILE: secretIdFile,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_APPROLE_KEY_RING: vault.key_ring,
    ATREST_SECURITY_ENCRYPTION_HASHICORPVAULT_APPROLE_CA_FILE: vault.ca_file,
    ATREST_SECURITY_ENCRYPTION_GOOGLEKMS_MAIN_KEY_ID: google.key_id,
    ATREST_SECURITY_ENCRYPTION_GOOGLEKMS_MAIN_CREDENTIALS_FILE: google.credentials_file,
    ATREST_SECURITY_ENCRYPTION_GOOGLEKMS_MAIN_ENDPOINT: google.endpoint,
    ATREST_SECURITY_ENCRYPTION_GOOGLEKMS_MAIN_CA_FILE: google.ca_file,
  };
  const set = await runAtrest(['secrets', 'set', 'from-env'], { env, input: 'env value' });
  t.equal(set.code, 0, `secrets set exits 0 (${set.stderr.trim()})`);
  const shown = await runAtrest(['config', 'show'], { env });
  t.notMatch(shown.stdout.toString(), vault.token, 'config show redacts the token read from its file');
  t.notMatch(shown.stdout.toString(), vault.appRole.secret_id, 'and the AppRole secret ID');
  const status = await runAtrest(['status', '--json'], { env });
  const providers = (JSON.parse(status.stdout.toString()) as { providers: { id: string; healthy: boolean }[] })
    .providers;
  t.same(
    providers.map((p) => [p.id, p.healthy]),
    [
      ['hashicorpvault.main', true],
      ['hashicorpvault.approle', true],
      ['googlekms.main', true],
    ],
    'all three providers configured from the environment are healthy',
  );
  const get = await runAtrest(['secrets', 'get', 'from-env'], { env });
  t.equal(get.stdout.toString(), 'env value');
});
