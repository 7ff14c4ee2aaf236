// The provider kit: configuration problems naming the section key, the CA bundle of ca_file, TLS
// and network failures told apart through wrapped causes, the retry vocabulary with its renamed
// keys, and the bounded retry loop (attempts, total budget, timeouts, final errors), by counts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '@atrest/testkit';
import type { LogFields, Logger, RetrySettings } from '../src/index.js';
import {
  AttemptTimeout,
  configProblem,
  errors,
  readCaBundle,
  readRetrySettings,
  retryConfigSchema,
  silentLogger,
  transportFailure,
  withRetries,
} from '../src/index.js';
import { rootCertificates } from 'node:tls';

const defaults: RetrySettings = {
  maxAttempts: 3,
  requestTimeoutMs: 1000,
  retryDelayMs: 1,
  maxRetryDelayMs: 5,
  totalTimeoutMs: 60_000,
};

function recorder(): Logger & { warnings: { message: string; fields?: LogFields }[] } {
  const warnings: { message: string; fields?: LogFields }[] = [];
  return {
    ...silentLogger,
    warnings,
    warn: (message, fields) => warnings.push({ message, ...(fields ? { fields } : {}) }),
  };
}

t.test('configProblem names the section key', async (t) => {
  const err = configProblem('vendor.main', 'endpoint', 'is not a URL', 'Give https://host.');
  t.match(err, {
    code: 'ATREST_CONFIG_INVALID',
    message: '[security.encryption.vendor.main] endpoint: is not a URL. Give https://host.',
    details: { provider: 'vendor.main', key: 'endpoint' },
  });
});

t.test('readCaBundle reads and checks the PEM certificates of ca_file', async (t) => {
  const dir = tempDir('atrest-kit-');
  const bundle = join(dir, 'ca.pem');
  writeFileSync(bundle, `${rootCertificates[0]}\n${rootCertificates[1]}\n`);
  t.equal(readCaBundle('vendor.main', bundle).length, 2, 'every certificate of the file');
  t.throws(() => readCaBundle('vendor.main', join(dir, 'missing.pem')), {
    code: 'ATREST_TLS',
    message: /\[security\.encryption\.vendor\.main\] ca_file: .*missing\.pem cannot be read \(ENOENT\)/,
  });
  writeFileSync(join(dir, 'none.pem'), 'not a certificate');
  t.throws(() => readCaBundle('vendor.main', join(dir, 'none.pem')), { code: 'ATREST_TLS', message: /no PEM/ });
  writeFileSync(join(dir, 'bad.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  t.throws(() => readCaBundle('vendor.main', join(dir, 'bad.pem')), { code: 'ATREST_TLS', message: /does not parse/ });
});

t.test('transportFailure finds TLS and network codes through wrapped causes', async (t) => {
  const tlsCause = Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
  t.match(transportFailure(new Error('request failed', { cause: tlsCause })), {
    kind: 'tls',
    code: 'SELF_SIGNED_CERT_IN_CHAIN',
  });
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  t.match(transportFailure({ name: 'SdkError', cause: reset }), { kind: 'network', code: 'ECONNRESET' });
  t.equal(transportFailure(new Error('AccessDenied')), undefined, 'anything else is not a transport failure');
});

t.test('the retry vocabulary: schema, values, renamed keys with a warning', async (t) => {
  const schema = retryConfigSchema(defaults, [{ old: 'timeout', key: 'request_timeout' }]);
  t.same(Object.keys(schema), [
    'max_attempts',
    'request_timeout',
    'retry_delay',
    'max_retry_delay',
    'total_timeout',
    'timeout',
  ]);
  t.equal(schema['max_attempts']?.default, 3, 'the provider’s defaults');
  t.same(readRetrySettings('vendor.main', {}, defaults, silentLogger), defaults, 'unset: the defaults');
  t.match(readRetrySettings('vendor.main', { max_attempts: '5', request_timeout: '2s' }, defaults, silentLogger), {
    maxAttempts: 5,
    requestTimeoutMs: 2000,
  });
  const logger = recorder();
  const renamed = [{ old: 'max_retries', key: 'max_attempts' as const, convert: (n: number) => n + 1 }];
  t.equal(readRetrySettings('vendor.main', { max_retries: 0 }, defaults, logger, renamed).maxAttempts, 1);
  t.same(
    logger.warnings.map((w) => w.message),
    ['[security.encryption.vendor.main] max_retries is deprecated: use max_attempts'],
  );
  t.throws(() => readRetrySettings('vendor.main', { max_retries: 2, max_attempts: 4 }, defaults, logger, renamed), {
    code: 'ATREST_CONFIG_INVALID',
    message: /max_retries: and max_attempts are both set/,
  });
  t.throws(() => readRetrySettings('vendor.main', { max_attempts: 0 }, defaults, logger), {
    code: 'ATREST_CONFIG_INVALID',
    message: /max_attempts: is 0, not a whole number from 1 to 25/,
  });
  t.throws(() => readRetrySettings('vendor.main', { retry_delay: 'soon' }, defaults, logger), {
    code: 'ATREST_CONFIG_INVALID',
    message: /retry_delay: is "soon", not a duration/,
  });
});

/** Run `attempt` under withRetries, counting attempts; `transient` failures are retried. */
async function retried(
  settings: Partial<RetrySettings>,
  attempt: (n: number, signal: AbortSignal) => Promise<string>,
  logger: Logger = silentLogger,
): Promise<{ result: unknown; attempts: number }> {
  let attempts = 0;
  const result = await withRetries({
    providerId: 'vendor.main',
    operation: 'wrap',
    target: 'kms.example:443',
    settings: { ...defaults, ...settings },
    logger,
    attempt: (signal, n) => {
      attempts = n;
      return attempt(n, signal);
    },
    classify: (err) =>
      (err as Error).message === 'transient' || err instanceof AttemptTimeout
        ? { retry: true, cause: (err as Error).message, error: err }
        : { retry: false, error: errors.providerAuth('refused', 'Fix the credentials.') },
  }).catch((err: unknown) => err);
  return { result, attempts };
}

t.test('withRetries: transient failures are retried, then the attempt that works wins', async (t) => {
  const logger = recorder();
  const { result, attempts } = await retried(
    {},
    async (n) => {
      if (n < 3) throw new Error('transient');
      return 'done';
    },
    logger,
  );
  t.equal(result, 'done');
  t.equal(attempts, 3, 'three attempts');
  t.same(
    logger.warnings.map((w) => w.fields?.['attempt']),
    [1, 2],
    'each retry logged with its attempt',
  );
  t.ok(
    logger.warnings.every((w) => Number(w.fields?.['delayMs']) <= defaults.maxRetryDelayMs),
    'each wait bounded by max_retry_delay',
  );
});

t.test('withRetries: max_attempts, then ATREST_PROVIDER_UNAVAILABLE with the facts', async (t) => {
  const { result, attempts } = await retried({ maxAttempts: 4 }, async () => {
    throw new Error('transient');
  });
  t.equal(attempts, 4);
  t.match(result, {
    code: 'ATREST_PROVIDER_UNAVAILABLE',
    message: /vendor\.main: wrap on kms\.example:443 failed after 4 attempts; last: transient/,
    details: { provider: 'vendor.main', attempts: 4, lastCause: 'transient' },
  });
});

t.test('withRetries: a final failure is not retried', async (t) => {
  const { result, attempts } = await retried({}, async () => {
    throw new Error('refused');
  });
  t.equal(attempts, 1);
  t.match(result, { code: 'ATREST_PROVIDER_AUTH' });
});

t.test('withRetries: an attempt past request_timeout is abandoned and its signal aborted', async (t) => {
  const signals: AbortSignal[] = [];
  const { result, attempts } = await retried({ requestTimeoutMs: 20, maxAttempts: 2 }, (_n, signal) => {
    signals.push(signal);
    return new Promise<string>(() => undefined);
  });
  t.equal(attempts, 2);
  t.match(result, { code: 'ATREST_PROVIDER_UNAVAILABLE', message: /TimeoutError|no answer within 20 ms/ });
  t.ok(
    signals.every((s) => s.aborted),
    'every abandoned attempt was told to stop',
  );
});

t.test('withRetries: no retry starts past total_timeout', async (t) => {
  const { result, attempts } = await retried(
    { maxAttempts: 25, retryDelayMs: 100_000, maxRetryDelayMs: 100_000, totalTimeoutMs: 50_000 },
    async () => {
      throw new Error('transient');
    },
  );
  t.equal(attempts, 1, 'the first wait would cross the budget: one attempt');
  t.match(result, { code: 'ATREST_PROVIDER_UNAVAILABLE', message: /the total_timeout of 50000 ms spent/ });
});
