// Metrics read through a real prom-client registry after a run on the AWS KMS emulator with provider
// faults and data key cache expiry: operations by outcome and error code, cache hits and misses,
// provider requests with their latency histogram, data keys by state, migration progress; key ids
// only as short hashes; label sets bounded; `status --json` carries the same figures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { isAtrestError, openAtrest, registerMetrics } from '@atrest/core';
import type { Atrest, AtrestStatus } from '@atrest/core';
import { runCli } from '@atrest/cli';
import { memoryStreams, startAwsKmsEmulator, tempDir, writeIn } from '@atrest/testkit';
import { TARGET, cloudEnv, repoRoot, seedApplication } from './helpers.js';

Object.assign(process.env, cloudEnv);
const kms = await startAwsKmsEmulator();
t.teardown(() => kms.close());

const dir = tempDir('atrest-obs-metrics-');
const db = join(dir, 'app.db');
const ini = (ttl: string): string =>
  writeIn(
    dir,
    `app-${ttl}.ini`,
    `[security]\nencryption_provider = awskms.main\n[security.encryption]\ndata_keys_cache_ttl = ${ttl}\n` +
      `[security.encryption.awskms.main]\n${Object.entries(kms.providerKeys)
        .map(([k, v]) => `${k} = ${v}`)
        .join('\n')}\nmax_attempts = 2\nretry_delay = 10ms\nrequest_timeout = 1s\n` +
      `[secrets_migration]\ntargets = ${TARGET}\n[database]\npath = ${db}\n`,
  );
const open = (ttl: string): Promise<Atrest> => openAtrest({ configFile: ini(ttl), appRoot: repoRoot, env: {} });

/** `name{labels} value` lines of a Prometheus text scrape, as a map. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(atrest_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m?.[1] !== undefined) out.set(m[1], Number(m[2]));
  }
  return out;
}

t.test('a run with faults and cache expiry, scraped through prom-client', async (t) => {
  const seeding = await open('15m');
  await seedApplication(seeding, db, { secrets: 3, encrypted: 5, plaintext: 2 });
  const sealed = await seeding.encryptText('a value', { context: 'app.t:1' });
  await seeding.close();

  // A cache TTL of 1ms: every read after a pause is a miss and one unwrap at KMS.
  const app = await open('1ms');
  t.teardown(() => app.close());
  const registry = new Registry();
  await registerMetrics(registry, app);
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
  await pause();
  kms.resetCalls();
  t.equal(await app.decryptText(sealed, { context: 'app.t:1' }), 'a value');
  await pause();
  kms.injectFault({ kind: 'internal-failure', operations: ['Decrypt'], times: 1 });
  t.equal(await app.decryptText(sealed, { context: 'app.t:1' }), 'a value', 'one fault: retried, read');
  await pause();
  kms.injectFault({ kind: 'service-unavailable', operations: ['Decrypt'] });
  const failed = await app.decryptText(sealed, { context: 'app.t:1' }).catch((err: unknown) => err);
  t.ok(isAtrestError(failed, 'ATREST_PROVIDER_UNAVAILABLE'), 'a lasting fault: ATREST_PROVIDER_UNAVAILABLE');
  kms.clearFaults();
  const wrong = await app.decryptText(sealed, { context: 'app.t:other' }).catch((err: unknown) => err);
  t.ok(isAtrestError(wrong), 'a wrong context fails');
  const kmsDecrypts = kms.calls.Decrypt;

  const text = await registry.metrics();
  const s = samples(text);
  t.equal(s.get('atrest_operations_total{operation="decrypt",outcome="success"}'), 2, 'two decrypts');
  t.equal(s.get('atrest_operations_total{operation="decrypt",outcome="failure"}'), 2, 'two failures');
  t.equal(
    s.get('atrest_operation_failures_total{operation="decrypt",code="ATREST_PROVIDER_UNAVAILABLE"}'),
    1,
    'the failures by code',
  );
  const misses = s.get('atrest_data_key_cache_reads_total{result="miss"}') ?? 0;
  t.ok(misses >= 3, `cache expiry: every read after a pause missed (${misses} misses)`);
  const unwraps = (outcome: string): number =>
    s.get(`atrest_provider_requests_total{provider="awskms.main",operation="unwrap",outcome="${outcome}"}`) ?? 0;
  t.ok(unwraps('success') >= 2, `unwraps that answered: ${unwraps('success')}`);
  t.equal(unwraps('failure'), 1, 'the unwrap that failed after its retries');
  t.ok(kmsDecrypts >= unwraps('success') + 2, 'KMS saw every attempt, retries included');
  const histogramCount = s.get(
    'atrest_provider_request_duration_seconds_count{provider="awskms.main",operation="unwrap",outcome="success"}',
  );
  t.equal(histogramCount, unwraps('success'), 'the latency histogram counts the same requests');
  t.equal(
    s.get(
      'atrest_provider_request_duration_seconds_bucket' +
        '{provider="awskms.main",operation="unwrap",outcome="success",le="+Inf"}',
    ),
    unwraps('success'),
    'its +Inf bucket too',
  );
  t.match(text, /# TYPE atrest_provider_request_duration_seconds histogram/);
  const dashboard = readFileSync(join(repoRoot, 'docs', 'grafana-dashboard.json'), 'utf8');
  const queried = new Set([...dashboard.matchAll(/atrest_[a-z_]+/g)].map((m) => m[0].replace(/_bucket$/, '')));
  t.ok(queried.size >= 8, `the dashboard queries ${queried.size} metrics`);
  for (const name of queried) t.match(text, `# TYPE ${name} `, `the dashboard's ${name} is exported`);
  t.match(text, /# TYPE atrest_operations_total counter/);
  t.ok((s.get('atrest_data_keys{provider="awskms.main",state="active"}') ?? 0) >= 1, 'data keys by state');

  t.notMatch(text, kms.key.keyId, 'no KMS key id in the metrics');
  const dataKeyIds = (await app.status()).workLeft.retiredDataKeys.map((k) => k.id);
  for (const id of dataKeyIds) t.notMatch(text, id, 'no data key id');

  // Bounded labels: more operations under distinct contexts and scopes add no series. (On an
  // instance with the default TTL: an active data key that expires between its wrap and its first
  // use fails the encryption, see the report of this change.)
  const app2 = await open('15m');
  t.teardown(() => app2.close());
  const registry2 = new Registry();
  await registerMetrics(registry2, app2);
  await app2.decryptText(sealed, { context: 'app.t:1' });
  const s2 = samples(await registry2.metrics());
  for (let i = 0; i < 20; i++) {
    const c = await app2.encryptText(`v${i}`, { context: `app.t:${i}`, scope: `s${i % 3}` });
    await app2.decryptText(c, { context: `app.t:${i}` });
  }
  const afterText = await registry2.metrics();
  const after = samples(afterText);
  t.match(afterText, /atrest_provider_key_info\{provider="awskms.main",key_id_hash="[0-9a-f]{12}"\} 1/, 'a short hash');
  t.notMatch(afterText, kms.key.keyId, 'and no KMS key id after wrapping either');
  const grown = [...after.keys()].filter((k) => !k.startsWith('atrest_provider_request_duration') && !s2.has(k));
  t.same(
    grown.filter((k) => !/provider_requests_total|operations_total|data_keys\{|provider_key_info/.test(k)),
    [],
    'no new label values from contexts, scopes or values',
  );
  t.equal(after.get('atrest_operations_total{operation="encrypt",outcome="success"}'), 20, 'counted');

  // The migration's progress, then the same figures in `status --json` for the CLI's own run.
  await app2.migrations.reEncrypt();
  const migrated = samples(await registry2.metrics());
  t.equal(migrated.get('atrest_migration_running'), 0, 'no migration running afterwards');
  t.equal(migrated.get(`atrest_migration_rows_left{target="${TARGET}"}`), 0, 'nothing left');
  t.equal(migrated.get(`atrest_migration_rows_done{target="${TARGET}"}`), 7, 'every row of the target done');
  t.equal(migrated.get(`atrest_migration_row_errors{target="${TARGET}"}`), 0);

  const m = memoryStreams();
  const code = await runCli(['--config', ini('15m'), 'status', '--json'], { env: {}, appRoot: repoRoot, io: m.io });
  t.equal(code, 0, m.err());
  const status = JSON.parse(m.out().toString('utf8')) as AtrestStatus;
  t.match(status.metrics.cache, { hits: Number, misses: Number, entries: Number }, 'status --json has the figures');
  t.ok(
    status.metrics.providerRequests.some((r) => r.operation === 'unwrap' && r.outcome === 'success' && r.count > 0),
    "the CLI's own provider requests",
  );
  t.same(
    status.metrics.dataKeys.filter((k) => k.state === 'active'),
    (await app2.metrics()).dataKeys.filter((k) => k.state === 'active'),
    'the same data keys as the application sees',
  );
});
