// Throttling, 5xx, latency, dropped connections and outages: retried with backoff, bounded, then
// ATREST_PROVIDER_UNAVAILABLE naming the provider and the cause.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { isAtrestError } from '@atrest/core';
import type { AwsKmsFault } from '@atrest/testkit';
import { recordingLogger, rejection, startAwsKmsEmulator } from '@atrest/testkit';
import { context, createProvider } from './helpers.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const dataKey = new Uint8Array(randomBytes(32));

t.beforeEach(() => {
  emulator.clearFaults();
  emulator.resetCalls();
});

const transient: [string, AwsKmsFault][] = [
  ['throttling (400 ThrottlingException)', { kind: 'throttling', times: 2 }],
  ['500 InternalFailure', { kind: 'internal-failure', times: 2 }],
  ['503 ServiceUnavailable', { kind: 'service-unavailable', times: 2 }],
  ['a dropped connection', { kind: 'drop', times: 2 }],
];
for (const [what, fault] of transient) {
  t.test(`${what}, twice: retried, then the third attempt succeeds`, async (t) => {
    const p = await createProvider(emulator);
    const wrapped = await p.wrapKey(dataKey, context);
    emulator.injectFault({ ...fault, operations: ['Decrypt'] });
    t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'unwrapped');
    t.equal(emulator.calls.Decrypt, 3, 'three attempts');
    await p.close?.();
  });
}

t.test('latency beyond the timeout: the attempt is abandoned and retried', async (t) => {
  const logger = recordingLogger();
  // Timeouts far apart, so a busy machine cannot blur them: 1 s against a 20 s delay.
  const p = await createProvider(emulator, { request_timeout: 1000 }, 'test', logger);
  emulator.injectFault({ kind: 'latency', ms: 20_000, times: 1 });
  const wrapped = await p.wrapKey(dataKey, context);
  t.equal(wrapped.keyRef, emulator.key.keyArn, 'wrapped on the second attempt');
  t.equal(emulator.calls.Encrypt, 2, 'two attempts');
  t.equal(logger.warnings.length, 1, 'one retry');
  t.match(logger.warnings[0]?.fields, { cause: /TimeoutError/, attempt: 1 }, 'after the slow attempt timed out');
  await p.close?.();
});

t.test('latency under the timeout is just slow', async (t) => {
  const p = await createProvider(emulator, { request_timeout: 10_000 });
  emulator.injectFault({ kind: 'latency', ms: 200, times: 1 });
  await p.wrapKey(dataKey, context);
  t.equal(emulator.calls.Encrypt, 1, 'one attempt');
  await p.close?.();
});

const persistent: [string, AwsKmsFault, RegExp][] = [
  ['503 ServiceUnavailable', { kind: 'service-unavailable' }, /ServiceUnavailable/],
  ['500 InternalFailure', { kind: 'internal-failure' }, /InternalFailure/],
  ['throttling', { kind: 'throttling' }, /ThrottlingException/],
  ['dropped connections', { kind: 'drop' }, /ECONNRESET|socket hang up/],
  ['latency beyond the timeout', { kind: 'latency', ms: 20_000 }, /TimeoutError/],
];
for (const [what, fault, cause] of persistent) {
  t.test(`persistent ${what}: ATREST_PROVIDER_UNAVAILABLE after max_attempts, in bounded time`, async (t) => {
    const logger = recordingLogger();
    const requestTimeout = fault.kind === 'latency' ? 1000 : 10_000;
    const p = await createProvider(emulator, { max_attempts: 3, request_timeout: requestTimeout }, 'main', logger);
    emulator.injectFault(fault);
    const err = await rejection(p.wrapKey(dataKey, context));
    t.ok(isAtrestError(err, 'ATREST_PROVIDER_UNAVAILABLE'), `ATREST_PROVIDER_UNAVAILABLE (got ${String(err)})`);
    t.match((err as Error).message, /awskms\.main/, 'names the provider');
    t.match((err as Error).message, cause, 'names the cause');
    t.match((err as Error).message, `127.0.0.1:${emulator.port}`, 'names the host');
    t.equal(emulator.calls.Encrypt, 3, 'exactly max_attempts attempts');
    t.equal((err as { details?: { attempts?: number } }).details?.attempts, 3, 'the attempts, in details');
    // Bounded: two retries, each after a backoff of at most retry_delay × 2^n (100 ms, 200 ms).
    t.same(
      logger.warnings.map((w) => Number(w.fields?.['delayMs']) <= 100 * 2 ** (Number(w.fields?.['attempt']) - 1)),
      [true, true],
      'two retries, each after a bounded backoff',
    );
    emulator.clearFaults();
    await t.resolves(p.wrapKey(dataKey, context), 'works again once the fault is gone');
    await p.close?.();
  });
}

t.test('max_attempts = 1: no retry', async (t) => {
  const p = await createProvider(emulator, { max_attempts: 1 });
  emulator.injectFault({ kind: 'service-unavailable', times: 1 });
  const err = await rejection(p.wrapKey(dataKey, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_UNAVAILABLE'), `ATREST_PROVIDER_UNAVAILABLE (got ${String(err)})`);
  t.match((err as Error).message, /after 1 attempt\b/);
  t.equal(emulator.calls.Encrypt, 1);
  await p.close?.();
});

t.test('an outage (nothing listening): ATREST_PROVIDER_UNAVAILABLE, then back to work', async (t) => {
  const p = await createProvider(emulator, { request_timeout: 10_000 });
  const wrapped = await p.wrapKey(dataKey, context);
  await emulator.stop();
  const err = await rejection(p.unwrapKey(wrapped, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_UNAVAILABLE'), `ATREST_PROVIDER_UNAVAILABLE (got ${String(err)})`);
  t.match((err as Error).message, /ECONNREFUSED/, 'names the cause');
  t.equal((err as { details?: { attempts?: number } }).details?.attempts, 3, 'after max_attempts attempts');
  await emulator.start();
  t.same(
    Buffer.from(await p.unwrapKey(wrapped, context)),
    Buffer.from(dataKey),
    'the same provider works once KMS is back',
  );
  await p.close?.();
});
