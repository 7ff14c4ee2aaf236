// A cloud key service that throttles, fails or goes away, seen from an application and from the
// CLI: a few faults are retried and nothing fails; persistent ones end, in bounded time, as
// ATREST_PROVIDER_UNAVAILABLE naming the provider; during an outage, values whose data keys are
// cached keep decrypting, status() says the provider is unhealthy and why, and once the service is
// back everything works again without a restart.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { isAtrestError, openAtrest } from '@atrest/core';
import type { Atrest } from '@atrest/core';
import { startAwsKmsEmulator, startAzureKeyVaultEmulator, tempDir, writeIn } from '@atrest/testkit';
import { cloudEnv, repoRoot, runAtrest, statusFrom } from './helpers.js';

Object.assign(process.env, cloudEnv);
const kms = await startAwsKmsEmulator();
t.teardown(() => kms.close());
const vault = await startAzureKeyVaultEmulator();
t.teardown(() => vault.close());

type Fault = 'throttling' | 'internal-failure' | 'service-unavailable';
type Spec = {
  name: string;
  id: string;
  section: string;
  unwraps(): number;
  wraps(): number;
  reset(): void;
  inject(kind: Fault, on: 'wrap' | 'unwrap', times?: number): void;
  clear(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
};

const specs: Spec[] = [
  {
    name: 'AWS KMS',
    id: 'awskms.main',
    section: `[security.encryption.awskms.main]\n${Object.entries(kms.providerKeys)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\nmax_attempts = 3\nrequest_timeout = 1s\n`,
    unwraps: () => kms.calls.Decrypt,
    wraps: () => kms.calls.Encrypt,
    reset: () => kms.resetCalls(),
    inject: (kind, on, times) =>
      kms.injectFault({
        kind,
        operations: [on === 'wrap' ? 'Encrypt' : 'Decrypt'],
        ...(times !== undefined ? { times } : {}),
      }),
    clear: () => kms.clearFaults(),
    stop: () => kms.stop(),
    start: () => kms.start(),
  },
  {
    name: 'Azure Key Vault',
    id: 'azurekv.main',
    section: `[security.encryption.azurekv.main]\n${Object.entries(vault.providerKeys)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\nmax_attempts = 3\nretry_delay = 50ms\nmax_retry_delay = 200ms\nrequest_timeout = 1s\n`,
    unwraps: () => vault.calls.unwrapKey,
    wraps: () => vault.calls.wrapKey,
    reset: () => vault.resetCalls(),
    inject: (kind, on, times) =>
      vault.injectFault({
        kind,
        retryAfterSeconds: 0,
        operations: [on === 'wrap' ? 'wrapKey' : 'unwrapKey'],
        ...(times !== undefined ? { times } : {}),
      }),
    clear: () => vault.clearFaults(),
    stop: () => vault.stop(),
    start: () => vault.start(),
  },
];

type Sealed = { c: string; p: string; context: string };

/** Values in several scopes (each its own data key), the last written is the one the start-up canary unwraps. */
async function seed(open: () => Promise<Atrest>, scopes: readonly string[]): Promise<Map<string, Sealed[]>> {
  const atrest = await open();
  await atrest.secrets.set('db-password', 'pw-from-before-the-outage');
  await new Promise((r) => setTimeout(r, 5));
  const by = new Map<string, Sealed[]>();
  for (const scope of scopes) {
    const list: Sealed[] = [];
    for (let i = 0; i < 20; i++) {
      const p = `${scope}-${i}`;
      const context = `app.t:${scope}:${i}`;
      list.push({ c: await atrest.encryptText(p, { context, scope }), p, context });
    }
    by.set(scope, list);
    await new Promise((r) => setTimeout(r, 5)); // distinct created_at: the canary's choice is known
  }
  await atrest.close();
  return by;
}

/** The error `p` rejects with, and the attempts it says were made (bounded: max_attempts = 3). */
async function settled<T>(p: Promise<T>): Promise<{ error: unknown; attempts: unknown }> {
  try {
    await p;
    return { error: undefined, attempts: undefined };
  } catch (error) {
    return { error, attempts: (error as { details?: Record<string, unknown> }).details?.['attempts'] };
  }
}

const readAll = (a: Atrest, list: readonly Sealed[]): Promise<boolean> =>
  Promise.all(list.map((v) => a.decryptText(v.c, { context: v.context }))).then((got) =>
    got.every((g, i) => g === list[i]?.p),
  );

for (const spec of specs) {
  t.test(spec.name, async (t) => {
    const dir = tempDir('atrest-cloud-faults-');
    const db = join(dir, 'app.db');
    const ini = writeIn(
      dir,
      'app.ini',
      `[security]\nencryption_provider = ${spec.id}\n${spec.section}[database]\npath = ${db}\n`,
    );
    const open = (): Promise<Atrest> => openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
    const values = await seed(open, ['throttled', 'failing', 'outage', 'cached']);
    const list = (scope: string): Sealed[] => values.get(scope) ?? [];
    const cli = (args: readonly string[]) => runAtrest(['--config', ini, ...args], { env: { ...cloudEnv } });

    // The application's long-lived instance: its start-up canary cached the 'cached' scope's data key.
    const app = await open();
    t.teardown(() => app.close());

    await t.test('throttling, twice: retried, the decrypt succeeds', async (t) => {
      spec.reset();
      spec.inject('throttling', 'unwrap', 2);
      t.ok(await readAll(app, list('throttled')), 'every value of an uncached data key decrypted');
      t.equal(spec.unwraps(), 3, 'the unwrap took three attempts, one for all 20 values');
      spec.clear();
    });

    await t.test('500 then 503: retried, a new data key is wrapped', async (t) => {
      spec.reset();
      spec.inject('internal-failure', 'wrap', 1);
      spec.inject('service-unavailable', 'wrap', 1);
      const c = await app.encryptText('made during 5xx', { scope: 'new', context: 'app.t:new' });
      t.equal(await app.decryptText(c, { context: 'app.t:new' }), 'made during 5xx', 'encrypted under a new data key');
      t.ok(spec.wraps() >= 3, `the wrap was retried (${spec.wraps()} wrap requests)`);
      spec.clear();
    });

    await t.test('persistent 5xx: ATREST_PROVIDER_UNAVAILABLE naming the provider, in bounded time', async (t) => {
      spec.reset();
      spec.inject('service-unavailable', 'unwrap');
      const { error, attempts } = await settled(
        app.decryptText(list('failing')[0]?.c ?? '', { context: list('failing')[0]?.context ?? '' }),
      );
      t.ok(isAtrestError(error, 'ATREST_PROVIDER_UNAVAILABLE'), `ATREST_PROVIDER_UNAVAILABLE (got ${String(error)})`);
      t.match((error as Error).message, spec.id, 'the message names the provider');
      t.equal(attempts, 3, 'gave up after max_attempts');
      t.equal(spec.unwraps(), 3, 'after three attempts');

      // The operator's view: a fresh process, same fault.
      const get = await cli(['secrets', 'get', 'db-password']);
      t.equal(get.code, 1, 'secrets get exits 1 (operation failed)');
      t.match(
        get.stderr,
        new RegExp(`error ATREST_PROVIDER_UNAVAILABLE: .*${spec.id.replace('.', '\\.')}`),
        'stderr names the code and the provider',
      );
      t.notMatch(get.stderr, /\n\s+at /, 'no stack trace');
      t.equal(get.stdout.length, 0, 'nothing on stdout');

      spec.clear();
      t.ok(await readAll(app, list('failing')), 'once the fault is gone the same values decrypt');
    });

    await t.test('outage: cached data keys keep working, status says unhealthy, then recovers', async (t) => {
      await spec.stop();
      try {
        t.ok(await readAll(app, list('cached')), "values under the canary's cached data key decrypt");
        t.ok(await readAll(app, list('throttled')), 'values under a data key cached earlier decrypt');
        const c = await app.encryptText('written during the outage', { scope: 'new', context: 'app.t:outage' });
        t.equal(
          await app.decryptText(c, { context: 'app.t:outage' }),
          'written during the outage',
          'encryption under the cached active data key goes on',
        );

        const { error, attempts } = await settled(
          app.decryptText(list('outage')[0]?.c ?? '', { context: list('outage')[0]?.context ?? '' }),
        );
        t.ok(
          isAtrestError(error, 'ATREST_PROVIDER_UNAVAILABLE'),
          `an uncached data key: ATREST_PROVIDER_UNAVAILABLE (got ${String(error)})`,
        );
        t.match((error as Error).message, spec.id, 'naming the provider');
        t.equal(attempts, 3, 'after max_attempts');

        // The data key rows as the database holds them.
        const dataKeyRows = (): number => {
          const raw = new Database(db, { readonly: true });
          try {
            return (raw.prepare('SELECT count(*) AS n FROM atrest_data_keys').get() as { n: number }).n;
          } finally {
            raw.close();
          }
        };
        const keysBefore = dataKeyRows();
        const wrap = await settled(app.encryptText('needs a new data key', { scope: 'made-during-outage' }));
        t.ok(
          isAtrestError(wrap.error, 'ATREST_PROVIDER_UNAVAILABLE'),
          `a new data key cannot be wrapped: ATREST_PROVIDER_UNAVAILABLE (got ${String(wrap.error)})`,
        );
        t.equal(wrap.attempts, 3, 'after max_attempts');
        t.equal(dataKeyRows(), keysBefore, 'and no data key row was left behind');

        const s = await app.status();
        const p = s.providers.find((x) => x.id === spec.id);
        t.equal(p?.healthy, false, 'status() reports the provider unhealthy');
        t.match(
          p?.reason,
          new RegExp(`${spec.id.replace('.', '\\.')}[\\s\\S]*(unreachable|ECONNREFUSED|refused)`, 'i'),
          `with the reason: ${p?.reason ?? '(none)'}`,
        );
        t.match(p?.reason, /after 3 attempts/, 'status() gives up too, after max_attempts');

        const status = await cli(['status', '--json']);
        t.equal(status.code, 1, 'atrest status exits 1 while a provider is unhealthy');
        t.match(
          statusFrom(status).providers,
          [{ id: spec.id, healthy: false, reason: new RegExp(spec.id.replace('.', '\\.')) }],
          'and says so in JSON',
        );
      } finally {
        await spec.start();
      }
      const s = await app.status();
      t.same(
        s.providers.map((p) => [p.id, p.healthy, p.reason]),
        [[spec.id, true, undefined]],
        'healthy again once the service is back, no restart',
      );
      t.ok(await readAll(app, list('outage')), 'the values that failed during the outage decrypt');
      const get = await cli(['secrets', 'get', 'db-password']);
      t.equal(
        `${String(get.code)} ${get.stdout.toString('utf8')}`,
        '0 pw-from-before-the-outage',
        'and a fresh process reads secrets again',
      );
    });
  });
}
