// Throttling, 5xx, latency, dropped connections and outages: retried with backoff, bounded, then
// ATREST_PROVIDER_UNAVAILABLE naming the provider and the cause.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { isAtrestError } from '@atrest/core';
import type { AwsKmsFault } from '@atrest/testkit';
import { rejection, startAwsKmsEmulator } from '@atrest/testkit';
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
  const p = await createProvider(emulator, { timeout: 300 });
  emulator.injectFault({ kind: 'latency', ms: 1500, times: 1 });
  const started = Date.now();
  const wrapped = await p.wrapKey(dataKey, context);
  const elapsed = Date.now() - started;
  t.equal(wrapped.keyRef, emulator.key.keyArn, 'wrapped on the second attempt');
  t.equal(emulator.calls.Encrypt, 2, 'two attempts');
  t.ok(elapsed >= 300 && elapsed < 1400, `gave up on the slow attempt after the timeout (${elapsed} ms)`);
  await p.close?.();
});

t.test('latency under the timeout is just slow', async (t) => {
  const p = await createProvider(emulator, { timeout: 2000 });
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
  ['latency beyond the timeout', { kind: 'latency', ms: 5000 }, /TimeoutError/],
];
for (const [what, fault, cause] of persistent) {
  t.test(`persistent ${what}: ATREST_PROVIDER_UNAVAILABLE after max_attempts, in bounded time`, async (t) => {
    const p = await createProvider(emulator, { max_attempts: 3, timeout: 300 }, 'main');
    emulator.injectFault(fault);
    const started = Date.now();
    const err = await rejection(p.wrapKey(dataKey, context));
    const elapsed = Date.now() - started;
    t.ok(isAtrestError(err, 'ATREST_PROVIDER_UNAVAILABLE'), `ATREST_PROVIDER_UNAVAILABLE (got ${String(err)})`);
    t.match((err as Error).message, /awskms\.main/, 'names the provider');
    t.match((err as Error).message, cause, 'names the cause');
    t.match((err as Error).message, `127.0.0.1:${emulator.port}`, 'names the host');
    t.equal(emulator.calls.Encrypt, 3, 'exactly max_attempts attempts');
    // Backoff is at most 1 s then 2 s for throttling (50 ms, 100 ms otherwise), plus 3 × 300 ms timeouts.
    t.ok(elapsed < 4500, `gave up in ${elapsed} ms`);
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
  const p = await createProvider(emulator, { timeout: 500 });
  const wrapped = await p.wrapKey(dataKey, context);
  await emulator.stop();
  const started = Date.now();
  const err = await rejection(p.unwrapKey(wrapped, context));
  t.ok(isAtrestError(err, 'ATREST_PROVIDER_UNAVAILABLE'), `ATREST_PROVIDER_UNAVAILABLE (got ${String(err)})`);
  t.match((err as Error).message, /ECONNREFUSED/, 'names the cause');
  t.ok(Date.now() - started < 3000, 'in bounded time');
  await emulator.start();
  t.same(
    Buffer.from(await p.unwrapKey(wrapped, context)),
    Buffer.from(dataKey),
    'the same provider works once KMS is back',
  );
  await p.close?.();
});
