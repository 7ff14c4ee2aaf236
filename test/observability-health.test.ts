// Health as an operator and a probe see it, on the AWS KMS emulator: a key that does not exist, is
// disabled or is asymmetric makes the provider unhealthy (init refuses, status exits 1, status
// --check exits 2); a provider no data key needs does not make status fail; health() hammered while
// the KMS is down and back calls the KMS at most once per interval; status shows the work left per
// target and the key versions still needed (Azure key versions too); Grafana's published
// passphrase is flagged.
import { join } from 'node:path';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import type { Atrest, AtrestHealth, AtrestStatus } from '@atrest/core';
import { runCli } from '@atrest/cli';
import {
  memoryStreams,
  recordingLogger,
  startAwsKmsEmulator,
  startAzureKeyVaultEmulator,
  tempDir,
  writeIn,
} from '@atrest/testkit';
import { TARGET, cloudEnv, repoRoot, seedApplication } from './helpers.js';

Object.assign(process.env, cloudEnv);
const kms = await startAwsKmsEmulator();
t.teardown(() => kms.close());

const GRAFANA_DEFAULT_PASSPHRASE = 'SW2YcwTIb9zpOOhoPsMm';

function kmsSection(keyId: string, extra = ''): string {
  const keys = { ...kms.providerKeys, key_id: keyId };
  return `[security.encryption.awskms.main]\n${Object.entries(keys)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n')}\nmax_attempts = 2\nrequest_timeout = 1s\n${extra}`;
}

/** An appliance configured by INI: its directory, database and configuration file. */
function appliance(ini: (db: string) => string): { dir: string; db: string; ini: string } {
  const dir = tempDir('atrest-obs-health-');
  const db = join(dir, 'app.db');
  return { dir, db, ini: writeIn(dir, 'app.ini', ini(db)) };
}

async function cli(ini: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const m = memoryStreams();
  const code = await runCli(['--config', ini, ...argv], { env: {}, appRoot: repoRoot, io: m.io });
  return { code, out: m.out().toString('utf8'), err: m.err() };
}

t.test('a KMS key that does not exist, is disabled or is asymmetric is unusable', async (t) => {
  const disabled = kms.createKey({ description: 'disabled' });
  kms.setKeyEnabled(disabled.keyId, false);
  const cases = [
    { name: 'missing', keyId: 'alias/no-such-key', why: /no-such-key/ },
    { name: 'disabled', keyId: disabled.keyArn, why: /Disabled/ },
    { name: 'asymmetric', keyId: kms.createKey({ keySpec: 'RSA_2048' }).keyArn, why: /RSA_2048/ },
    {
      name: 'signing',
      keyId: kms.createKey({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' }).keyArn,
      why: /SIGN/,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const a = appliance(
        (db) => `[security]\nencryption_provider = awskms.main\n${kmsSection(c.keyId)}[database]\npath = ${db}\n`,
      );
      const init = await cli(a.ini, ['init']);
      t.equal(init.code, 1, `init exits 1: ${init.err}`);
      t.match(init.err, /error ATREST_PROVIDER_\w+: .*awskms\.main/, 'naming the code and the provider');
      t.match(init.err, c.why, 'and what is wrong with the key');
      const status = await cli(a.ini, ['status', '--json']);
      t.equal(status.code, 1, 'status exits 1');
      const s = JSON.parse(status.out) as AtrestStatus;
      t.match(s.providers, [{ id: 'awskms.main', current: true, healthy: false, needed: true, reason: c.why }]);
      t.equal(s.health.state, 'unusable', 'the verdict: unusable');
      const check = await cli(a.ini, ['status', '--check']);
      t.equal(check.code, 2, 'status --check exits 2');
      t.equal(check.out.trimEnd().split('\n').length, 1, 'in one line');
      t.match(check.out, /^unusable: awskms\.main \(current\) is unusable: /);
    });
  }
});

t.test('status --check: healthy 0; a needed old provider down 1; one no value needs does not count', async (t) => {
  const a = appliance(
    (db) =>
      `[security]\nencryption_provider = file.default\navailable_encryption_providers = awskms.main\n` +
      `${kmsSection(kms.key.keyArn)}[security.encryption.file.default]\nkey_path = ${join(db, '..', 'k.key')}\n` +
      `[database]\npath = ${db}\n`,
  );
  t.equal((await cli(a.ini, ['init'])).code, 0);
  const healthy = await cli(a.ini, ['status', '--check', '--json']);
  t.equal(healthy.code, 0, healthy.err);
  t.match(JSON.parse(healthy.out) as AtrestHealth, { state: 'healthy', problems: [] });

  await kms.stop();
  try {
    const unneeded = await cli(a.ini, ['status']);
    t.equal(unneeded.code, 0, 'awskms.main is down but no data key needs it: status exits 0');
    t.match(unneeded.out, /provider awskms\.main\n {2}health: UNHEALTHY: .*\n {2}not needed: /);
    t.equal((await cli(a.ini, ['status', '--check'])).code, 0, 'and --check says healthy');
  } finally {
    await kms.start();
  }
  // A data key wrapped by the KMS: from now on values need it.
  const app = await openAtrest({
    configFile: a.ini,
    appRoot: repoRoot,
    env: {},
    options: { 'security.encryption_provider': 'awskms.main' },
  });
  await app.secrets.set('smtp-password', 'kms-wrapped');
  await app.close();
  await kms.stop();
  try {
    const degraded = await cli(a.ini, ['status', '--check']);
    t.equal(degraded.code, 1, 'a needed old provider down: degraded, exit 1');
    t.match(degraded.out, /^degraded: awskms\.main is unusable while 1 data key need it/);
    t.equal((await cli(a.ini, ['status'])).code, 1, 'status exits 1 too');
  } finally {
    await kms.start();
  }
});

t.test('health() hammered while the KMS is down and back: one DescribeKey per interval', async (t) => {
  const a = appliance(
    (db) =>
      `[security]\nencryption_provider = awskms.main\n${kmsSection(kms.key.keyArn)}` +
      `[security.encryption]\nhealth_check_interval = 1h\n[database]\npath = ${db}\n`,
  );
  const app: Atrest = await openAtrest({ configFile: a.ini, appRoot: repoRoot, env: {} });
  t.teardown(() => app.close());
  await app.encryptText('x');
  kms.resetCalls();
  const probes = await Promise.all(Array.from({ length: 50 }, () => app.health()));
  for (let i = 0; i < 50; i++) probes.push(await app.health());
  t.ok(
    probes.every((h) => h.state === 'healthy'),
    'healthy',
  );
  t.equal(kms.calls.DescribeKey, 1, '100 probes, concurrent and one after another: one DescribeKey');

  await kms.stop();
  try {
    const down = await app.status();
    t.equal(down.health.state, 'unusable', 'status() checks now: the KMS is down');
    const states = new Set<string>();
    for (let i = 0; i < 100; i++) states.add((await app.health()).state);
    t.same([...states], ['unusable'], '100 probes: unusable');
    t.equal(kms.calls.DescribeKey, 1, 'probes after status() reuse its answer: no request to a KMS that is down');
  } finally {
    await kms.start();
  }
  const back = await app.status();
  t.equal(back.health.state, 'healthy', 'status() sees the KMS back');
  t.equal((await app.health()).state, 'healthy', 'and so do the probes, without a restart');
  t.equal(kms.calls.DescribeKey, 2, 'one more DescribeKey: the one status() made');
});

t.test('status: work left per target, key versions and retired data keys still needed', async (t) => {
  const a = appliance(
    (db) =>
      `[security]\nencryption_provider = awskms.main\n${kmsSection(kms.key.keyArn)}` +
      `[secrets_migration]\ntargets = ${TARGET}\n[database]\npath = ${db}\n`,
  );
  const open = (): Promise<Atrest> => openAtrest({ configFile: a.ini, appRoot: repoRoot, env: {} });
  let app = await open();
  await seedApplication(app, a.db, { secrets: 2, encrypted: 3, plaintext: 4 });
  await app.migrations.rotateDataKeys();
  await app.secrets.set('after-rotation', 'on a new data key');
  const s = await app.status();
  t.match(s.targets, [{ target: TARGET, encrypted: 3, plaintext: 4 }]);
  t.same(s.targets[0]?.workLeft, { plaintext: 4, onRetiredDataKeys: 3, onOtherProviders: 0 }, 'per target');
  t.same(s.secrets.workLeft, { plaintext: 0, onRetiredDataKeys: 2, onOtherProviders: 0 }, "atrest's secrets");
  t.match(s.workLeft, { values: 9, plaintext: 4, onRetiredDataKeys: 5, onOtherProviders: 0 });
  t.equal(
    s.workLeft.retiredDataKeys.reduce((n, k) => n + k.values, 0),
    5,
    'the retired data keys still needed, with their values',
  );
  t.match(s.providers[0]?.keyVersions, [{ keyRef: kms.key.keyArn, current: true, values: 6 }]);
  const text = await cli(a.ini, ['status']);
  t.match(text.out, /work left: 9 values for secrets-migration re-encrypt \(4 plaintext, 5 on retired data keys/);
  t.match(text.out, /health_check_interval 30s/, 'durations as configured');
  t.notMatch(text.out, /30000/);

  await app.migrations.reEncrypt();
  const done = await app.status();
  t.match(done.workLeft, { values: 0, retiredDataKeys: [] }, 'after re-encrypt: nothing left');
  await app.close();
  app = await open();
  t.match((await app.status()).workLeft, { values: 0 }, 'and so after a restart');
  await app.close();
});

t.test("Grafana's published default passphrase is flagged by status and in the log", async (t) => {
  const a = appliance((db) => `[security]\nsecret_key = ${GRAFANA_DEFAULT_PASSPHRASE}\n[database]\npath = ${db}\n`);
  const logger = recordingLogger();
  const app = await openAtrest({ configFile: a.ini, appRoot: repoRoot, env: {}, logger });
  t.teardown(() => app.close());
  t.match(
    logger.warnings,
    [{ message: /secret_key\.default: .*Grafana's published default/ }],
    'a warning in the log at start',
  );
  const h = await app.health();
  t.equal(h.state, 'degraded', 'health: degraded');
  t.match(h.summary, /published default/);
  const text = await cli(a.ini, ['status']);
  t.equal(text.code, 1, 'status exits 1');
  t.match(text.out, /WARNING: .*Grafana's published default/);
  t.notMatch(text.out + text.err + JSON.stringify(logger.records), GRAFANA_DEFAULT_PASSPHRASE, 'never the passphrase');
});

t.test('status: the Azure key versions data keys still need, and when the old one is no longer needed', async (t) => {
  const vault = await startAzureKeyVaultEmulator();
  t.teardown(() => vault.close());
  const keys = Object.entries(vault.providerKeys).map(([k, v]) => `${k} = ${v}`);
  const a = appliance(
    (db) =>
      `[security]\nencryption_provider = azurekv.main\n[security.encryption.azurekv.main]\n${keys.join('\n')}\n` +
      `[database]\npath = ${db}\n`,
  );
  const app = await openAtrest({ configFile: a.ini, appRoot: repoRoot, env: {} });
  t.teardown(() => app.close());
  await app.secrets.set('before', 'wrapped under the first version');
  vault.rotateKey();
  await app.migrations.rotateDataKeys();
  await app.secrets.set('after', 'wrapped under the second version');
  const [first, second] = vault.keyVersions();
  const versions = (await app.status()).providers[0]?.keyVersions ?? [];
  t.equal(versions.length, 2, 'two key versions');
  t.match(versions, [
    { keyRef: new RegExp(`/${second?.version ?? '-'}$`), current: true, dataKeys: 1, values: 1 },
    { keyRef: new RegExp(`/${first?.version ?? '-'}$`), current: false, dataKeys: 1, values: 1 },
  ]);
  await app.migrations.reEncrypt();
  const after = (await app.status()).providers[0]?.keyVersions ?? [];
  t.match(
    after.find((v) => !v.current),
    { values: 0 },
    'after re-encrypt no value needs the old version',
  );
  const text = await cli(a.ini, ['status']);
  t.match(
    text.out,
    new RegExp(`key \\S+/${first?.version ?? '-'}: wraps 1 data key, encrypting 0 values`),
    'and status says so',
  );
});
