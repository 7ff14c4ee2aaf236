// Transient failures are retried with bounded backoff; persistent ones end, in bounded time, as
// ATREST_PROVIDER_UNAVAILABLE naming the provider and the cause.
import { randomBytes } from 'node:crypto';
import type { EncryptionContext } from '@atrest/core';
import type { AzureKeyVaultFault } from '@atrest/testkit';
import t from 'tap';
import { recordingLogger, rejection } from '@atrest/testkit';
import { emulator, healthOf, providerOn } from './helpers/provider.js';

const context: EncryptionContext = { data_key_id: 'dk-retry', label: 'retry/2026-01-01' };

const transient: [string, AzureKeyVaultFault][] = [
  ['throttling (429 + Retry-After)', { kind: 'throttling', times: 2, retryAfterSeconds: 0 }],
  ['internal failure (500)', { kind: 'internal-failure', times: 2 }],
  ['service unavailable (503)', { kind: 'service-unavailable', times: 2 }],
  ['dropped connections', { kind: 'drop', times: 2 }],
  ['a slow answer (timeout)', { kind: 'latency', ms: 20_000, times: 1 }],
];

t.test('transient faults are retried, then the operation succeeds', async (t) => {
  const emu = await emulator(t);
  for (const [what, fault] of transient) {
    await t.test(what, async (t) => {
      const logger = recordingLogger();
      // Far apart, so a busy machine cannot blur them: a 2 s limit against a 20 s delay.
      const p = await providerOn(t, emu, { request_timeout: '2s' }, { logger });
      await healthOf(p); // token and challenge done: the faults below hit key operations
      const dataKey = new Uint8Array(randomBytes(32));
      emu.resetCalls();
      emu.injectFault({ ...fault, operations: ['getKey', 'wrapKey', 'unwrapKey'] });
      const wrapped = await p.wrapKey(dataKey, context);
      emu.injectFault({ ...fault, operations: ['unwrapKey'] });
      t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'wrap and unwrap succeed');
      emu.clearFaults();
      const retries = logger.records.filter((r) => r.level === 'warn' && r.message.includes('retrying'));
      t.equal(retries.length, (fault.times ?? 0) * 2, 'each fault cost one retry, logged');
      t.match(
        retries[0]?.fields,
        { provider: 'azurekv.main', operation: 'wrap', attempt: 1 },
        'the log names provider, operation and attempt',
      );
      t.ok(emu.calls.getKey + emu.calls.wrapKey >= (fault.times ?? 0) + 1, 'the vault saw the retried requests');
    });
  }
});

t.test('a throttled token endpoint is retried too', async (t) => {
  const emu = await emulator(t);
  emu.injectFault({ kind: 'service-unavailable', times: 1, operations: ['token'] });
  const p = await providerOn(t, emu);
  await t.resolves(healthOf(p), 'health succeeds after the token endpoint recovers');
  t.equal(emu.calls.token, 2, 'the token request was sent twice');
});

t.test('Retry-After is honoured, up to max_retry_delay', async (t) => {
  const emu = await emulator(t);
  const delays = (logger: ReturnType<typeof recordingLogger>): unknown[] =>
    logger.records.filter((r) => r.level === 'warn').map((r) => r.fields?.['delayMs']);
  const honouredLog = recordingLogger();
  const honoured = await providerOn(t, emu, { max_retry_delay: '5s' }, { logger: honouredLog });
  await healthOf(honoured);
  emu.injectFault({ kind: 'throttling', times: 1, retryAfterSeconds: 1, operations: ['getKey'] });
  await healthOf(honoured);
  t.same(delays(honouredLog), [1000], 'one retry, after the Retry-After second');

  const cappedLog = recordingLogger();
  const capped = await providerOn(t, emu, { max_retry_delay: '200ms' }, { logger: cappedLog });
  await healthOf(capped);
  emu.injectFault({ kind: 'throttling', times: 1, retryAfterSeconds: 30, operations: ['getKey'] });
  await healthOf(capped);
  t.same(delays(cappedLog), [200], 'a 30 s Retry-After is capped by max_retry_delay');
});

t.test('persistent 5xx → ATREST_PROVIDER_UNAVAILABLE in bounded time', async (t) => {
  const emu = await emulator(t);
  const logger = recordingLogger();
  const p = await providerOn(t, emu, { max_retries: 3, retry_delay: '20ms', max_retry_delay: '100ms' }, { logger });
  await healthOf(p);
  emu.resetCalls();
  emu.injectFault({ kind: 'service-unavailable' });
  const err = await rejection(p.wrapKey(new Uint8Array(randomBytes(32)), context));
  t.equal(err?.code, 'ATREST_PROVIDER_UNAVAILABLE', 'ATREST_PROVIDER_UNAVAILABLE');
  t.match(err?.message, 'azurekv.main', 'naming the provider');
  t.match(err?.message, /HTTP 503 ServiceUnavailable/, 'and the cause');
  t.match(err?.message, /failed after 4 attempts/, 'after max_retries + 1 attempts');
  t.equal(err?.details?.['attempts'], 4, 'attempts in details');
  t.equal(emu.calls.getKey, 4, 'exactly that many requests');
  const waits = logger.records.filter((r) => r.message.includes('retrying')).map((r) => Number(r.fields?.['delayMs']));
  t.equal(waits.length, 3, 'three retries');
  t.ok(
    waits.every((ms) => ms <= 100),
    `each after a backoff bounded by max_retry_delay (${waits.join(', ')} ms)`,
  );
  emu.clearFaults();
  await t.resolves(p.wrapKey(new Uint8Array(randomBytes(32)), context), 'works again once the vault recovers');
});

t.test('an outage (vault down) → ATREST_PROVIDER_UNAVAILABLE, then recovery', async (t) => {
  const emu = await emulator(t);
  const p = await providerOn(t, emu, { max_retries: 2 });
  const dataKey = new Uint8Array(randomBytes(32));
  const wrapped = await p.wrapKey(dataKey, context);
  await emu.stop();
  const err = await rejection(p.unwrapKey(wrapped, context));
  t.equal(err?.code, 'ATREST_PROVIDER_UNAVAILABLE', 'unavailable while down');
  t.match(err?.message, /ECONNREFUSED/, 'connection refused, said');
  await emu.start();
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey), 'unwraps once the vault is back');
});

t.test('a hanging vault is bounded by request_timeout', async (t) => {
  const emu = await emulator(t);
  const p = await providerOn(t, emu, { max_retries: 1, request_timeout: '1s', retry_delay: '10ms' });
  await healthOf(p);
  emu.injectFault({ kind: 'latency', ms: 20_000, operations: ['getKey'] });
  const err = await rejection(healthOf(p));
  t.equal(err?.code, 'ATREST_PROVIDER_UNAVAILABLE', 'unavailable');
  t.match(err?.message, /within 1000 ms/, 'saying it timed out');
  t.equal(err?.details?.['attempts'], 2, 'after max_retries + 1 attempts, each cut at request_timeout');
  emu.clearFaults();
});
