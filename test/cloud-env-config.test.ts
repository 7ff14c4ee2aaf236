// An appliance with no INI file at all: every setting, provider sections included, comes from
// environment variables, and the secrets from `<NAME>__FILE` files (as a container's secrets
// mount gives them). The same migration as cloud-migration.test.ts, key file → AWS KMS → Azure
// Key Vault, driven by the CLI as real processes.
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import type { ConfigEntry, DataKeysReport, TargetReport } from '@atrest/core';
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

const dir = tempDir('atrest-cloud-env-');
const secretsDir = tempDir('atrest-run-secrets-');
const db = join(dir, 'app.db');
const keyPath = join(dir, 'app.key');
const awsSecretFile = writeIn(secretsDir, 'kms_secret_access_key', `${kms.secret_access_key}\n`);
const azureSecretFile = writeIn(secretsDir, 'azure_client_secret', `${vault.client_secret}\n`);

const base = { ATREST_DATABASE_PATH: db, ATREST_SECRETS_MIGRATION_TARGETS: TARGET };
const fileEnv = { ATREST_ENCRYPTION_KEY_PATH: keyPath };
const awsEnv = {
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_KEY_ID: kms.key.aliasName,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_REGION: kms.region,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_ACCESS_KEY_ID: kms.access_key_id,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_SECRET_ACCESS_KEY__FILE: awsSecretFile,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_ENDPOINT: kms.endpoint,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_CA_FILE: kms.ca_file,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_TIMEOUT: '5s',
};
const azureEnv = {
  ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_TENANT_ID: vault.tenant_id,
  ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_CLIENT_ID: vault.client_id,
  ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_CLIENT_SECRET__FILE: azureSecretFile,
  ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_KEY_ID: vault.key_id,
  ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_VAULT_URI: vault.vault_uri,
  ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_AUTHORITY_HOST: vault.authority_host,
  ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_CA_FILE: vault.ca_file,
};

/** The CLI with `env` as its whole environment: no --config, no INI file anywhere. */
const cli = (env: Record<string, string>, args: readonly string[]): Promise<Run> =>
  runAtrest(args, { env: { ...cloudEnv, ...env }, cwd: repoRoot });
const json = <T>(run: Run): T => JSON.parse(run.stdout.toString('utf8')) as T;

let seeded: Seeded;

t.test('first boot on the key file, configured by the environment only', async (t) => {
  const env = { ...base, ...fileEnv };
  const atrest = await openAtrest({ env, appRoot: repoRoot });
  seeded = await seedApplication(atrest, db, { secrets: 200, encrypted: 150, plaintext: 25 });
  await atrest.close();
  const s = statusFrom(await cli(env, ['status', '--json']));
  t.equal(s.currentProvider, 'file.default', 'no provider set: the key file');
  t.same(s.secrets.byProvider, { 'file.default': 350 });
  t.match(
    s.targets,
    [{ target: TARGET, rows: 175, plaintext: 25 }],
    'the target comes from ATREST_SECRETS_MIGRATION_TARGETS',
  );
});

t.test('to AWS KMS: ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_* and the secret access key from a __FILE', async (t) => {
  const both = {
    ...base,
    ...fileEnv,
    ...awsEnv,
    ATREST_SECURITY_ENCRYPTION_PROVIDER: 'awskms.main',
    ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'file.default,awskms.main',
  };
  const shown = await cli(both, ['config', 'show', '--json']);
  t.equal(shown.code, 0, `config show (${shown.stderr.trim()})`);
  const entries = json<ConfigEntry[]>(shown);
  const entry = (key: string): ConfigEntry | undefined => entries.find((e) => e.key === key);
  t.match(
    entry('security.encryption.awskms.main.key_id'),
    { value: kms.key.aliasName, origin: { source: 'env', variable: 'ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_KEY_ID' } },
    'key_id from its variable',
  );
  t.match(
    entry('security.encryption.awskms.main.ca_file'),
    { value: kms.ca_file, origin: { source: 'env', variable: 'ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_CA_FILE' } },
    'ca_file from its variable',
  );
  t.match(entry('security.encryption.awskms.main.timeout'), { value: 5000 }, 'a duration from the environment');
  t.match(
    entry('security.encryption.awskms.main.secret_access_key'),
    {
      value: '<redacted>',
      sensitive: true,
      origin: {
        source: 'env',
        variable: 'ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_SECRET_ACCESS_KEY__FILE',
        valueFile: awsSecretFile,
      },
    },
    'the secret access key from its file, redacted',
  );
  t.match(
    entry('security.available_encryption_providers'),
    { value: ['awskms.main', 'file.default'] },
    'the available list, comma separated, current first',
  );
  t.notMatch(shown.stdout.toString('utf8'), kms.secret_access_key, 'the secret is never printed');

  const run = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
  t.equal(run.code, 0, `re-encrypt-data-keys exits 0 (${run.stderr.trim()})`);
  t.same(
    json<DataKeysReport>(run),
    { total: 2, rewrapped: 2, unchanged: 0, retired: 0, droppedLeft: 0, failed: [] },
    'both data keys re-wrapped by KMS',
  );

  const only = { ...base, ...awsEnv, ATREST_SECURITY_ENCRYPTION_PROVIDER: 'awskms.main' };
  renameSync(keyPath, join(dir, 'moved-away.key'));
  const s = statusFrom(await cli(only, ['status', '--json']));
  t.same(
    s.providers.map((p) => [p.id, p.healthy]),
    [['awskms.main', true]],
    'only awskms.main, healthy',
  );
  t.same(s.dataKeys.byProvider, { 'awskms.main': { total: 2, active: 2 } }, 'every data key under awskms.main');
  const atrest = await openAtrest({ env: only, appRoot: repoRoot });
  t.same(
    await unreadable(atrest, db, seeded),
    [],
    `all ${seeded.secrets.size + seeded.rows.size} values read back without the key file`,
  );
  await atrest.close();
});

t.test('the CLI on AWS KMS prints no AWS SDK notice of its own, whatever the Node version', async (t) => {
  const only = { ...base, ...awsEnv, ATREST_SECURITY_ENCRYPTION_PROVIDER: 'awskms.main' };
  // The operator's environment: without the switch the tests set (cloudEnv).
  const run = await runAtrest(['secrets', 'list'], { env: { ...only, AWS_EC2_METADATA_DISABLED: 'true' } });
  t.equal(run.code, 0, run.stderr);
  t.notMatch(run.stderr, /NodeVersionSupportWarning|AWS SDK for JavaScript/, "no dependency's warning");
});

t.test(
  'to Azure Key Vault: ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_* and the client secret from a __FILE',
  async (t) => {
    const both = {
      ...base,
      ...awsEnv,
      ...azureEnv,
      ATREST_SECURITY_ENCRYPTION_PROVIDER: 'azurekv.main',
      ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'awskms.main azurekv.main',
    };
    const shown = json<ConfigEntry[]>(await cli(both, ['config', 'show', '--json']));
    t.match(
      shown.find((e) => e.key === 'security.encryption.azurekv.main.client_secret'),
      {
        value: '<redacted>',
        sensitive: true,
        origin: { variable: 'ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_CLIENT_SECRET__FILE', valueFile: azureSecretFile },
      },
      'the client secret from its file, redacted',
    );
    const rewrap = await cli(both, ['secrets-migration', 're-encrypt-data-keys', '--json']);
    t.same(
      json<DataKeysReport>(rewrap),
      { total: 2, rewrapped: 2, unchanged: 0, retired: 0, droppedLeft: 0, failed: [] },
      `re-wrapped by the vault (${rewrap.stderr.trim()})`,
    );
    const run = await cli(both, ['secrets-migration', 're-encrypt', '--json']);
    t.equal(run.code, 0, `re-encrypt exits 0 (${run.stderr.trim()})`);
    t.match(
      json<TargetReport[]>(run),
      [
        { target: 'atrest_secrets', failed: 0, alreadyCurrent: 200 },
        { target: TARGET, failed: 0, alreadyCurrent: 150, plaintextEncrypted: 25 },
      ],
      'the plaintext encrypted, nothing failed',
    );

    const only = { ...base, ...azureEnv, ATREST_SECURITY_ENCRYPTION_PROVIDER: 'azurekv.main' };
    await kms.close();
    kmsClosed = true;
    const s = statusFrom(await cli(only, ['status', '--json']));
    t.same(
      s.providers.map((p) => [p.id, p.healthy]),
      [['azurekv.main', true]],
      'only azurekv.main, healthy',
    );
    t.same(s.dataKeys.byProvider, { 'azurekv.main': { total: 2, active: 2 } });
    const { seal, ...secretCounts } = s.secrets;
    t.match(seal, { state: 'sealed', plaintext: 0 }, "atrest's own secrets sealed");
    t.same(
      secretCounts,
      {
        total: 375,
        encrypted: 375,
        plaintext: 0,
        byProvider: { 'azurekv.main': 375 },
        workLeft: { plaintext: 0, onRetiredDataKeys: 0, onOtherProviders: 0 },
      },
      'every value encrypted under azurekv.main, no work left',
    );
    const atrest = await openAtrest({ env: only, appRoot: repoRoot });
    t.same(
      await unreadable(atrest, db, seeded),
      [],
      `all ${seeded.secrets.size + seeded.rows.size} values read back with KMS gone`,
    );
    await atrest.close();
    const get = await cli(only, ['secrets', 'get', 'v-secret-3']);
    t.equal(get.stdout.toString('utf8'), seeded.secrets.get('v-secret-3'), 'through the CLI too');
  },
);
