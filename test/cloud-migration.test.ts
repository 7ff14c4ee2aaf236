// Moving an application's secrets from the key file to AWS KMS, then from AWS KMS to Azure Key
// Vault, with the operator's commands (`secrets-migration re-encrypt-data-keys`, `re-encrypt`) run
// as real processes, and the old provider then removed from the configuration (its key file moved
// away, its KMS shut down): nothing may be lost, every value decrypts.
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import type { DataKeysReport, TargetReport } from '@atrest/core';
import { startAwsKmsEmulator, startAzureKeyVaultEmulator, tempDir, writeIn } from '@atrest/testkit';
import type { Run } from '@atrest/testkit';
import { TARGET, cloudEnv, repoRoot, runAtrest, seedApplication, statusFrom, unreadable } from './helpers.js';
import type { Seeded } from './helpers.js';

// The AWS SDK reads its Node-version notice switch from this process's environment.
Object.assign(process.env, cloudEnv);
const kms = await startAwsKmsEmulator();
let kmsClosed = false;
t.teardown(() => (kmsClosed ? undefined : kms.close()));
const vault = await startAzureKeyVaultEmulator();
t.teardown(() => vault.close());

const dir = tempDir('atrest-cloud-migration-');
const db = join(dir, 'app.db');
mkdirSync(join(dir, 'keys'));
const keyPath = join(dir, 'keys', 'app.key');

/** The host application's INI file: its own sections, atrest's [security] keys, the provider sections given. */
function appIni(security: string, sections: readonly string[]): string {
  return writeIn(
    dir,
    'app.ini',
    [
      'app_mode = production',
      '[server]',
      'http_port = 3000',
      '[security]',
      'admin_user = admin',
      security,
      ...sections,
      '[database]',
      `path = ${db}`,
      '[secrets_migration]',
      `targets = ${TARGET}`,
      '',
    ].join('\n'),
  );
}
const fileSection = `[security.encryption.file.default]\nkey_path = ${keyPath}`;
const awsSection = `[security.encryption.awskms.main]\n${Object.entries(kms.providerKeys)
  .map(([k, v]) => `${k} = ${v}`)
  .join('\n')}\nmax_attempts = 3\nrequest_timeout = 5s`;
const azureSection = `[security.encryption.azurekv.main]\n${Object.entries(vault.providerKeys)
  .map(([k, v]) => `${k} = ${v}`)
  .join('\n')}\nrequest_timeout = 5s`;

const cli = (ini: string, args: readonly string[]): Promise<Run> =>
  runAtrest(['--config', ini, ...args], { env: { ...cloudEnv } });
const json = <T>(run: Run): T => JSON.parse(run.stdout.toString('utf8')) as T;

let seeded: Seeded;

t.test('the application stores secrets under the key file', async (t) => {
  const ini = appIni('encryption_provider = file.default', [fileSection]);
  const first = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  seeded = await seedApplication(first, db, { secrets: 150, encrypted: 120, plaintext: 30, prefix: 'v' });
  await first.close();
  // A second generation of data keys: values under retired keys and under active ones.
  const rotated = await cli(ini, ['secrets-migration', 'rotate-data-keys', '--json']);
  t.same(json(rotated), { retired: 2 }, `the secrets and the target data keys were retired (${rotated.stderr.trim()})`);
  const second = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  await seedApplication(second, db, { secrets: 150, encrypted: 60, plaintext: 0, prefix: 'w' }, seeded);
  await second.close();
  t.ok(existsSync(keyPath), 'the key file was made on first boot');
  const s = statusFrom(await cli(ini, ['status', '--json']));
  t.same(
    s.dataKeys.byProvider,
    { 'file.default': { total: 4, active: 2 } },
    'four data keys under the key file, two active',
  );
  t.same(s.secrets.byProvider, { 'file.default': 480 }, '300 secrets and 180 target values encrypted');
  t.match(s.targets, [{ target: TARGET, rows: 210, encrypted: 180, plaintext: 30 }], 'and 30 legacy plaintext rows');
});

t.test('switching to awskms.main without keeping file.default available: refused, nothing changed', async (t) => {
  const forgot = appIni('encryption_provider = awskms.main', [fileSection, awsSection]);
  const run = await cli(forgot, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(run.code, 1, 'exit 1: the data keys could not be re-wrapped');
  const report = json<DataKeysReport>(run);
  t.match(
    report,
    { total: 4, rewrapped: 0, failed: [{ provider: 'file.default', code: 'ATREST_PROVIDER_UNKNOWN' }] },
    'each failed data key is reported',
  );
  t.equal(report.failed.length, 4);
  t.match(
    report.failed[0]?.message,
    /Add file\.default to \[security\] available_encryption_providers/,
    'with the fix',
  );
  const get = await cli(forgot, ['secrets', 'get', 'v-secret-1']);
  t.equal(get.code, 2, 'reading a value under the key file: exit 2');
  t.match(get.stderr, /ATREST_PROVIDER_UNKNOWN: .*file\.default/, 'naming the missing provider');
  const status = statusFrom(await cli(forgot, ['status', '--json']));
  t.same(
    status.dataKeys.byProvider,
    { 'file.default': { total: 4, active: 2 } },
    'status shows the data keys still under file.default',
  );
  t.notOk(
    status.providers.some((p) => p.id === 'file.default'),
    'which is not among the configured providers',
  );
});

t.test('file.default → awskms.main: re-encrypt-data-keys, then the key file goes away', async (t) => {
  const both = appIni('encryption_provider = awskms.main\navailable_encryption_providers = file.default awskms.main', [
    fileSection,
    awsSection,
  ]);
  kms.resetCalls();
  const run = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(run.code, 0, `re-encrypt-data-keys exits 0 (${run.stderr.trim()})`);
  t.same(
    json<DataKeysReport>(run),
    { total: 4, rewrapped: 4, unchanged: 0, retired: 0, droppedLeft: 0, failed: [] },
    'every data key re-wrapped by KMS',
  );
  t.equal(kms.calls.Encrypt, 5, 'one KMS Encrypt per data key, plus the probe of the current key');
  const again = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.same(
    json<DataKeysReport>(again),
    { total: 4, rewrapped: 0, unchanged: 4, retired: 0, droppedLeft: 0, failed: [] },
    'a second run changes nothing',
  );

  const ini = appIni('encryption_provider = awskms.main\navailable_encryption_providers = awskms.main', [awsSection]);
  renameSync(keyPath, join(dir, 'moved-away.key'));
  const status = await cli(ini, ['status', '--json']);
  t.equal(status.code, 0, `status exits 0 without the key file (${status.stderr.trim()})`);
  const s = statusFrom(status);
  t.same(
    s.providers.map((p) => [p.id, p.healthy]),
    [['awskms.main', true]],
    'only awskms.main is configured, and healthy',
  );
  t.same(s.dataKeys.byProvider, { 'awskms.main': { total: 4, active: 2 } }, 'every data key is under awskms.main');
  t.same(s.secrets.byProvider, { 'awskms.main': 480 }, 'every encrypted value is under awskms.main');
  t.equal(s.secrets.plaintext, 30, 'the legacy plaintext is still plaintext (only keys moved)');

  kms.resetCalls();
  const atrest = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  t.same(await unreadable(atrest, db, seeded), [], `all ${seeded.secrets.size + seeded.rows.size} values read back`);
  t.equal(kms.calls.Decrypt, 4, 'reading 480 encrypted values under 4 data keys took 4 KMS Decrypt calls');
  await atrest.secrets.set('added-after-kms', 'new value');
  await atrest.close();
  const get = await cli(ini, ['secrets', 'get', 'v-secret-7']);
  t.equal(get.stdout.toString('utf8'), seeded.secrets.get('v-secret-7'), 'the CLI reads an old secret too');
  seeded.secrets.set('added-after-kms', 'new value');
});

t.test('awskms.main → azurekv.main: re-encrypt-data-keys and re-encrypt, then KMS is gone', async (t) => {
  const both = appIni('encryption_provider = azurekv.main\navailable_encryption_providers = awskms.main azurekv.main', [
    awsSection,
    azureSection,
  ]);
  kms.resetCalls();
  vault.resetCalls();
  const rewrap = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(rewrap.code, 0, `re-encrypt-data-keys exits 0 (${rewrap.stderr.trim()})`);
  t.same(
    json<DataKeysReport>(rewrap),
    { total: 4, rewrapped: 4, unchanged: 0, retired: 0, droppedLeft: 0, failed: [] },
    'every data key re-wrapped by the vault',
  );
  t.ok(kms.calls.Decrypt >= 4, `each was unwrapped by KMS first (${kms.calls.Decrypt} Decrypt calls)`);

  const run = await cli(both, ['secrets-migration', 're-encrypt', '--json', '--batch-size', '64']);
  t.equal(run.code, 0, `re-encrypt exits 0 (${run.stderr.trim()})`);
  const reports = json<TargetReport[]>(run);
  t.match(
    reports,
    [
      {
        target: 'atrest_secrets',
        scanned: 301,
        reEncrypted: 150,
        alreadyCurrent: 151,
        plaintextEncrypted: 0,
        failed: 0,
      },
      { target: TARGET, scanned: 210, reEncrypted: 120, alreadyCurrent: 60, plaintextEncrypted: 30, failed: 0 },
    ],
    'values under retired data keys moved to active ones, the legacy plaintext encrypted, nothing failed',
  );
  const again = await cli(both, ['secrets-migration', 're-encrypt', '--json']);
  t.match(
    json<TargetReport[]>(again),
    [
      { reEncrypted: 0, plaintextEncrypted: 0, alreadyCurrent: 301 },
      { reEncrypted: 0, plaintextEncrypted: 0, alreadyCurrent: 210 },
    ],
    'a second run changes nothing',
  );

  const ini = appIni('encryption_provider = azurekv.main\navailable_encryption_providers = azurekv.main', [
    azureSection,
  ]);
  await kms.close();
  kmsClosed = true;
  const status = await cli(ini, ['status', '--json']);
  t.equal(status.code, 0, `status exits 0 with KMS gone (${status.stderr.trim()})`);
  const s = statusFrom(status);
  t.same(
    s.providers.map((p) => [p.id, p.healthy]),
    [['azurekv.main', true]],
    'only azurekv.main, healthy',
  );
  t.same(s.dataKeys.byProvider, { 'azurekv.main': { total: 4, active: 2 } }, 'every data key is under azurekv.main');
  t.same(s.secrets.byProvider, { 'azurekv.main': 511 }, 'every value is under azurekv.main');
  t.equal(s.secrets.plaintext, 0, 'no plaintext left');
  t.match(s.targets, [{ target: TARGET, rows: 210, encrypted: 210, plaintext: 0 }]);

  const atrest = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  t.same(await unreadable(atrest, db, seeded), [], `all ${seeded.secrets.size + seeded.rows.size} values read back`);
  await atrest.close();
  const get = await cli(ini, ['secrets', 'get', 'added-after-kms']);
  t.equal(get.stdout.toString('utf8'), 'new value', 'the CLI reads the secret written under KMS');
});

t.test(
  'the vault key gets a new version: re-encrypt-data-keys moves every data key to it, the old version can be disabled',
  async (t) => {
    const ini = appIni('encryption_provider = azurekv.main\navailable_encryption_providers = azurekv.main', [
      azureSection,
    ]);
    const [old] = vault.keyVersions();
    const next = vault.rotateKey();
    const run = await cli(ini, ['secrets-migration', 're-encrypt-data-keys', '--json']);
    t.same(
      json<DataKeysReport>(run),
      { total: 4, rewrapped: 4, unchanged: 0, retired: 0, droppedLeft: 0, failed: [] },
      `every data key re-wrapped with the new version (${run.stderr.trim()})`,
    );
    vault.setKeyEnabled(vault.key_id, false, old?.version);
    const atrest = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
    t.same(await unreadable(atrest, db, seeded), [], 'every value reads with the old version disabled');
    const raw = new Database(db, { readonly: true });
    const keyRefs = (raw.prepare('SELECT key_ref FROM atrest_data_keys').all() as { key_ref: string }[]).map(
      (k) => k.key_ref,
    );
    raw.close();
    t.same([...new Set(keyRefs)], [next.kid], 'every data key names the new version');
    await atrest.close();
  },
);
