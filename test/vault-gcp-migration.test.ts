// Moving an application's secrets from the key file to HashiCorp Vault, rotating the Vault key
// (re-encrypt-data-keys moves the data keys by Transit's rewrap, the data keys never leaving
// Vault), on to Google Cloud KMS, then to AWS KMS, with the operator's commands run as real
// processes and each old provider removed (its key file moved away, its service shut down).
// The provider sections are Grafana's, written as its guides show them. Nothing may be lost; N
// values under K data keys cost K unwrap calls; with the service down, cached keys keep working.
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import type { DataKeysReport, TargetReport } from '@atrest/core';
import {
  startAwsKmsEmulator,
  startGoogleKmsEmulator,
  startHashicorpVaultEmulator,
  tempDir,
  writeIn,
} from '@atrest/testkit';
import type { Run } from '@atrest/testkit';
import {
  TARGET,
  cloudEnv,
  fillIni,
  repoRoot,
  runAtrest,
  seedApplication,
  statusFrom,
  uncommentIni,
  unreadable,
} from './helpers.js';
import type { Seeded } from './helpers.js';

// Grafana's example sections (its guides for HashiCorp Vault and Google Cloud KMS), commented out
// as the guides print them.
const vaultDocSection = `# HashiCorp Vault provider setup
;[security.encryption.hashicorpvault.example-encryption-key]
# Token used to authenticate within Vault. We suggest to use periodic tokens
;token = hvs.CAESIFhjbV5wZnNzRmh1d2NUN0FQQm9LUzlDR3pXMlpzUmdZa0Y
# Location of the HashiCorp Vault server
;url = http://127.0.0.1:8200
# Mount point of the transit secret engine
;transit_engine_path = transit
# Key ring name
;key_ring = grafana-encryption-key
# Specifies how often to check if a token needs to be renewed, should be less than a token's period value
;token_renewal_interval = 5m
`;
const googleDocSection = `# Google Cloud KMS provider setup
;[security.encryption.googlekms.example-encryption-key]
# Google Cloud KMS key ID
;key_id = projects/my-project/locations/global/keyRings/my-ring/cryptoKeys/grafana-encryption-key
# Full path to the .json file that contains the Google Cloud KMS credentials
;credentials_file = /home/user/.config/gcloud/sample-project-credentials.json
`;

Object.assign(process.env, cloudEnv);
const vault = await startHashicorpVaultEmulator();
const google = await startGoogleKmsEmulator();
const kms = await startAwsKmsEmulator();
const closed = new Set<string>();
t.teardown(async () => {
  for (const [name, emulator] of [
    ['vault', vault],
    ['google', google],
    ['kms', kms],
  ] as const) {
    if (!closed.has(name)) await emulator.close();
  }
});

const dir = tempDir('atrest-vault-gcp-migration-');
const db = join(dir, 'app.db');
mkdirSync(join(dir, 'keys'));
const keyPath = join(dir, 'keys', 'app.key');
const VAULT = 'hashicorpvault.example-encryption-key';
const GOOGLE = 'googlekms.example-encryption-key';

function appIni(current: string, available: readonly string[], sections: readonly string[]): string {
  return writeIn(
    dir,
    'app.ini',
    [
      '[security]',
      `encryption_provider = ${current}`,
      `available_encryption_providers = ${available.join(' ')}`,
      ...sections,
      '[database]',
      `path = ${db}`,
      '[secrets_migration]',
      `targets = ${TARGET}`,
      '',
    ].join('\n'),
  );
}
const fileSection = `[security.encryption.file.default]\nkey_path = ${keyPath}\n`;
const vaultSection = fillIni(uncommentIni(vaultDocSection), { ...vault.providerKeys, request_timeout: '5s' });
const googleSection = fillIni(uncommentIni(googleDocSection), { ...google.providerKeys, request_timeout: '5s' });
const awsSection = `[security.encryption.awskms.main]\n${Object.entries(kms.providerKeys)
  .map(([k, v]) => `${k} = ${v}`)
  .join('\n')}\n`;

const cli = (ini: string, args: readonly string[]): Promise<Run> =>
  runAtrest(['--config', ini, ...args], { env: { ...cloudEnv } });
const json = <T>(run: Run): T => JSON.parse(run.stdout.toString('utf8')) as T;
const moved = (n: number): DataKeysReport => ({
  total: n,
  rewrapped: n,
  unchanged: 0,
  retired: 0,
  droppedLeft: 0,
  failed: [],
});

let seeded: Seeded;
/** Data keys: the secrets table's and the target's, in two generations. */
const K = 4;

t.test('the application stores secrets under the key file', async (t) => {
  const ini = appIni('file.default', ['file.default'], [fileSection]);
  const first = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  seeded = await seedApplication(first, db, { secrets: 60, encrypted: 40, plaintext: 10, prefix: 'v' });
  await first.close();
  t.same(json(await cli(ini, ['secrets-migration', 'rotate-data-keys', '--json'])), { retired: 2 });
  const second = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  await seedApplication(second, db, { secrets: 60, encrypted: 20, plaintext: 0, prefix: 'w' }, seeded);
  await second.close();
  t.same(statusFrom(await cli(ini, ['status', '--json'])).dataKeys.byProvider, {
    'file.default': { total: K, active: 2 },
  });
});

t.test('file.default → hashicorpvault: data keys wrapped by Transit, the key file then gone', async (t) => {
  const both = appIni(VAULT, ['file.default', VAULT], [fileSection, vaultSection]);
  vault.resetCalls();
  const run = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(run.code, 0, `re-encrypt-data-keys exits 0 (${run.stderr.trim()})`);
  t.same(json<DataKeysReport>(run), moved(K));
  t.equal(vault.calls.encrypt, K + 1, 'one Transit encrypt per data key, plus the probe of the current key');
  renameSync(keyPath, join(dir, 'moved-away.key'));

  const ini = appIni(VAULT, [VAULT], [vaultSection]);
  const s = statusFrom(await cli(ini, ['status', '--json']));
  t.same(s.dataKeys.byProvider, { [VAULT]: { total: K, active: 2 } });
  t.same(
    s.providers.map((p) => [p.id, p.healthy]),
    [[VAULT, true]],
  );
  vault.resetCalls();
  const atrest = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  t.same(await unreadable(atrest, db, seeded), [], `all ${seeded.secrets.size + seeded.rows.size} values read back`);
  t.equal(
    vault.calls.decrypt,
    K,
    `${seeded.secrets.size + seeded.rows.size - seeded.plaintextRows} values, ${K} data keys: ${K} decrypts`,
  );

  // Vault goes down: values whose data keys are cached keep working, nothing else is attempted.
  await vault.stop();
  t.same(await unreadable(atrest, db, seeded), [], 'with Vault stopped, every value still reads (cached data keys)');
  t.equal(vault.calls.decrypt, K, 'and no call was made');
  await vault.start();
  await atrest.close();
});

t.test('the Vault key is rotated: old data readable, re-encrypt-data-keys moves data keys by rewrap', async (t) => {
  const ini = appIni(VAULT, [VAULT], [vaultSection]);
  t.equal(vault.rotateKey().latestVersion, 2);
  const before = statusFrom(await cli(ini, ['status', '--json']));
  t.equal(before.providers[0]?.healthy, true);
  vault.resetCalls();
  const run = await cli(ini, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(run.code, 0, `re-encrypt-data-keys exits 0 (${run.stderr.trim()})`);
  t.same(json<DataKeysReport>(run), moved(K), 'every data key moved to version 2');
  t.match(vault.calls, { rewrap: K, encrypt: 1 }, 'one rewrap per data key, plus the probe of the current key');
  t.equal(vault.calls.decrypt, 1, "no data key decrypted outside Vault (the one decrypt is the start-up canary's)");
  const again = await cli(ini, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.match(json<DataKeysReport>(again), { total: K, rewrapped: 0, unchanged: K }, 'a second run changes nothing');

  // Version 1 retired in Vault: only data keys moved to version 2 can still be read.
  vault.setMinDecryptionVersion(2);
  const atrest = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  t.same(await unreadable(atrest, db, seeded), [], 'every value reads with version 1 retired');
  await atrest.close();
});

t.test('hashicorpvault → googlekms: re-encrypt-data-keys and re-encrypt, then Vault is gone', async (t) => {
  const both = appIni(GOOGLE, [VAULT, GOOGLE], [vaultSection, googleSection]);
  google.resetCalls();
  const rewrap = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(rewrap.code, 0, `re-encrypt-data-keys exits 0 (${rewrap.stderr.trim()})`);
  t.same(json<DataKeysReport>(rewrap), moved(K), 'every data key re-wrapped by Cloud KMS');
  t.match(google.calls, { encrypt: K + 1, token: 1 }, 'one access token from the key file token_uri');
  const run = await cli(both, ['secrets-migration', 're-encrypt', '--json']);
  t.equal(run.code, 0, `re-encrypt exits 0 (${run.stderr.trim()})`);
  const reports = json<TargetReport[]>(run);
  t.match(reports, [
    { target: 'atrest_secrets', failed: 0 },
    { target: TARGET, failed: 0, plaintextEncrypted: 10 },
  ]);

  await vault.close();
  closed.add('vault');
  const ini = appIni(GOOGLE, [GOOGLE], [googleSection]);
  const s = statusFrom(await cli(ini, ['status', '--json']));
  t.same(Object.keys(s.dataKeys.byProvider), [GOOGLE], 'every data key is under googlekms');
  t.equal(s.secrets.plaintext, 0, 'the legacy plaintext was encrypted');
  google.resetCalls();
  const atrest = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  t.same(await unreadable(atrest, db, seeded), [], 'every value reads with Vault gone');
  // re-encrypt moved every value onto the two active data keys (the secrets table's, the target's).
  t.equal(google.calls.decrypt, 2, `${seeded.secrets.size + seeded.rows.size} values on 2 data keys: 2 decrypts`);
  await atrest.close();
});

t.test('googlekms → awskms: nothing lost, Google Cloud KMS then gone', async (t) => {
  const both = appIni('awskms.main', [GOOGLE, 'awskms.main'], [googleSection, awsSection]);
  const run = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(run.code, 0, `re-encrypt-data-keys exits 0 (${run.stderr.trim()})`);
  const report = json<DataKeysReport>(run);
  t.match(report, { unchanged: 0, failed: [] });
  t.equal(report.rewrapped, report.total, `all ${report.total} data keys re-wrapped by AWS KMS`);
  await google.close();
  closed.add('google');
  const ini = appIni('awskms.main', ['awskms.main'], [awsSection]);
  const atrest = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  t.same(await unreadable(atrest, db, seeded), [], 'every value of the first boot reads under AWS KMS');
  await atrest.close();
  const get = await cli(ini, ['secrets', 'get', 'v-secret-3']);
  t.equal(get.stdout.toString('utf8'), seeded.secrets.get('v-secret-3'), 'the CLI reads an old secret too');
});
