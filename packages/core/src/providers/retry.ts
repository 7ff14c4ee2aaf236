// The provider kit, part two: one vocabulary for retries and timeouts (max_attempts,
// request_timeout, retry_delay, max_retry_delay, total_timeout) and the bounded retry loop behind
// it: backoff with jitter, Retry-After honoured up to max_retry_delay, and a total time budget.
import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt } from 'node:crypto';
import { parseDuration } from '../config/formats.js';
import { errors } from '../errors.js';
import type { AtrestError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProviderConfigSchema } from './contract.js';
import { configProblem, sectionKey } from './kit.js';

/** How one provider operation is retried; every time in milliseconds. */
export type RetrySettings = {
  /** Attempts of one operation, the first included. */
  readonly maxAttempts: number;
  /** Time limit of one attempt. */
  readonly requestTimeoutMs: number;
  /** First delay between two attempts; doubled each retry, with jitter. */
  readonly retryDelayMs: number;
  /** Longest delay between two attempts, also the cap on a Retry-After answer. */
  readonly maxRetryDelayMs: number;
  /** Budget of one operation, attempts and delays included: no attempt starts past it. */
  readonly totalTimeoutMs: number;
};

/** The vocabulary's keys in a section: numbers (milliseconds for times), or their text. */
export type RetryConfig = {
  readonly max_attempts?: number | string;
  readonly request_timeout?: number | string;
  readonly retry_delay?: number | string;
  readonly max_retry_delay?: number | string;
  readonly total_timeout?: number | string;
};

/** The section keys of the vocabulary, and the setting each one sets. */
const RETRY_KEYS = {
  max_attempts: 'maxAttempts',
  request_timeout: 'requestTimeoutMs',
  retry_delay: 'retryDelayMs',
  max_retry_delay: 'maxRetryDelayMs',
  total_timeout: 'totalTimeoutMs',
} as const satisfies Record<string, keyof RetrySettings>;

/** A key of the vocabulary. */
export type RetryKey = keyof typeof RETRY_KEYS;

/** An older spelling of a vocabulary key, still accepted with a deprecation warning. */
export type RenamedRetryKey = {
  readonly old: string;
  readonly key: RetryKey;
  /** From the old key's meaning to the new one's (max_retries 3 is max_attempts 4). */
  readonly convert?: (value: number) => number;
};

const LIMITS: Readonly<Record<RetryKey, readonly [number, number]>> = {
  max_attempts: [1, 25],
  request_timeout: [1, 600_000],
  retry_delay: [0, 600_000],
  max_retry_delay: [0, 600_000],
  total_timeout: [1, 3_600_000],
};

/** The vocabulary's schema entries with a provider's defaults, and its renamed keys (deprecated). */
export function retryConfigSchema(
  defaults: RetrySettings,
  renamed: readonly RenamedRetryKey[] = [],
): ProviderConfigSchema {
  const schema: ProviderConfigSchema = {
    max_attempts: {
      doc:
        'Attempts of one operation, the first included; throttling, 5xx, timeouts and dropped connections ' +
        'are retried',
      format: 'nat',
      default: defaults.maxAttempts,
    },
    request_timeout: {
      doc: 'Time limit of one attempt (connection, request and answer): a duration such as 10s or 500ms',
      format: 'duration',
      default: defaults.requestTimeoutMs,
    },
    retry_delay: {
      doc: 'First delay between two attempts (a duration such as 250ms), doubled each retry, with jitter',
      format: 'duration',
      default: defaults.retryDelayMs,
    },
    max_retry_delay: {
      doc: 'Longest delay between two attempts (a duration such as 10s), also the cap on a Retry-After answer',
      format: 'duration',
      default: defaults.maxRetryDelayMs,
    },
    total_timeout: {
      doc: 'Time budget of one operation, attempts and delays included (a duration such as 2m)',
      format: 'duration',
      default: defaults.totalTimeoutMs,
    },
  };
  const old = renamed.map((r): [string, ProviderConfigSchema[string]] => [
    r.old,
    // Durations keep their format (core turns 10s into milliseconds); counts are read here.
    { doc: `Deprecated: use ${r.key}`, format: r.key === 'max_attempts' ? String : 'duration', default: '' },
  ]);
  return { ...schema, ...Object.fromEntries(old) };
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

/** A count (max_attempts) or a duration, given as a number or its text; NaN when it is neither. */
function numberOf(kind: RetryKey, value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return Number.NaN;
  const text = value.trim();
  if (kind === 'max_attempts') return /^\d+$/.test(text) ? Number(text) : Number.NaN;
  return parseDuration(text) ?? Number.NaN;
}

/** The value of `key`, read as `kind`, within [min, max]. */
function readValue(providerId: string, key: string, kind: RetryKey, value: unknown, min: number, max: number): number {
  const n = numberOf(kind, value);
  const count = kind === 'max_attempts';
  if (!Number.isInteger(n) || n < min || n > max) {
    const what = count ? 'a whole number' : 'a duration (such as 250ms, 10s, 1m) or milliseconds';
    throw configProblem(
      providerId,
      key,
      `is ${JSON.stringify(value)}, not ${what} from ${min} to ${max}`,
      `Set ${key} to a value in that range.`,
    );
  }
  return n;
}

/**
 * The retry settings of a provider's validated section (values as numbers or text: milliseconds or
 * durations). A renamed key still works: the logger gets a deprecation warning naming its new name.
 */
export function readRetrySettings(
  providerId: string,
  config: Readonly<Record<string, unknown>>,
  defaults: RetrySettings,
  logger: Logger,
  renamed: readonly RenamedRetryKey[] = [],
): RetrySettings {
  const settings: Record<keyof RetrySettings, number> = { ...defaults };
  for (const [key, setting] of Object.entries(RETRY_KEYS) as [RetryKey, keyof RetrySettings][]) {
    const value = config[key];
    const [min, max] = LIMITS[key];
    if (isSet(value)) settings[setting] = readValue(providerId, key, key, value, min, max);
    for (const r of renamed.filter((x) => x.key === key && isSet(config[x.old]))) {
      if (isSet(value) && settings[setting] !== defaults[setting]) {
        throw configProblem(
          providerId,
          r.old,
          `and ${key} are both set; ${r.old} is the deprecated name of ${key}`,
          `Remove ${r.old}.`,
        );
      }
      logger.warn(`${sectionKey(providerId, r.old)} is deprecated: use ${key}`, {
        provider: providerId,
        key: r.old,
        replacement: key,
      });
      const old = readValue(providerId, r.old, key, config[r.old], 0, max);
      const converted = r.convert === undefined ? old : r.convert(old);
      settings[setting] = readValue(providerId, r.old, key, converted, min, max);
    }
  }
  return settings;
}

/** An attempt that ran past `request_timeout` (or past the rest of `total_timeout`). */
export class AttemptTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** What a provider makes of a failed attempt. */
export type AttemptVerdict =
  | { readonly retry: false; readonly error: AtrestError }
  | {
      readonly retry: true;
      /** What went wrong, for the log and the final error: never a secret. */
      readonly cause: string;
      /** The service asked to wait this long (Retry-After). */
      readonly retryAfterMs?: number;
      readonly error?: unknown;
    };

/** One operation run under `withRetries`. */
export type RetriedOperation<T> = {
  readonly providerId: string;
  /** What is done (`wrap`, `Decrypt`…), for the log and errors. */
  readonly operation: string;
  /** Where it is sent (`host:port`), for errors. */
  readonly target: string;
  readonly settings: RetrySettings;
  readonly logger: Logger;
  /** Aborts the attempt under way and the wait between two (the provider closing). */
  readonly signal?: AbortSignal;
  /** Throws when the provider was closed; called before each attempt and after each failure. */
  readonly checkOpen?: () => void;
  /** One attempt; `signal` aborts at its timeout. */
  attempt(signal: AbortSignal, attempt: number): Promise<T>;
  /** What a failure of attempt `attempt` means; AttemptTimeout for a timeout. */
  classify(err: unknown, attempt: number): AttemptVerdict;
};

async function attemptWithin<T>(run: RetriedOperation<T>, n: number, ms: number): Promise<T> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  run.signal?.addEventListener('abort', onAbort);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new AttemptTimeout(ms));
    }, ms);
  });
  const work = run.attempt(controller.signal, n);
  // The losing side of the race must not become an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    run.signal?.removeEventListener('abort', onAbort);
  }
}

function delayBefore(n: number, settings: RetrySettings, retryAfterMs: number | undefined): number {
  const backoff = Math.min(settings.maxRetryDelayMs, settings.retryDelayMs * 2 ** (n - 1));
  const jittered = Math.floor(backoff / 2) + randomInt(Math.floor(backoff / 2) + 1);
  return Math.min(settings.maxRetryDelayMs, Math.max(jittered, retryAfterMs ?? 0));
}

/**
 * Run one provider operation with bounded retries: a failure that `classify` says is transient is
 * retried after a backoff, until `max_attempts` or `total_timeout` is reached; then
 * ATREST_PROVIDER_UNAVAILABLE names the provider, the target, the attempts and the last cause.
 */
export async function withRetries<T>(run: RetriedOperation<T>): Promise<T> {
  const { settings } = run;
  const deadline = Date.now() + settings.totalTimeoutMs;
  for (let n = 1; ; n++) {
    run.checkOpen?.();
    let verdict: AttemptVerdict;
    try {
      return await attemptWithin(run, n, Math.max(1, Math.min(settings.requestTimeoutMs, deadline - Date.now())));
    } catch (err) {
      run.checkOpen?.();
      verdict = run.classify(err, n);
    }
    if (!verdict.retry) throw verdict.error;
    const delay = delayBefore(n, settings, verdict.retryAfterMs);
    const spent = Date.now() + delay >= deadline;
    if (n >= settings.maxAttempts || spent) {
      const budget =
        spent && n < settings.maxAttempts ? `, the total_timeout of ${settings.totalTimeoutMs} ms spent` : '';
      throw errors.providerUnavailable(
        `Provider ${run.providerId}: ${run.operation} on ${run.target} failed after ${n} attempt${n === 1 ? '' : 's'}` +
          `${budget}; last: ${verdict.cause}.`,
        'The key service is throttling, failing or unreachable: try again later (values whose data keys are cached ' +
          'keep working meanwhile), or raise max_attempts, request_timeout or total_timeout.',
        {
          cause: verdict.error,
          details: {
            provider: run.providerId,
            operation: run.operation,
            host: run.target,
            attempts: n,
            lastCause: verdict.cause,
          },
        },
      );
    }
    run.logger.warn(`${run.providerId}: retrying after a transient failure`, {
      provider: run.providerId,
      operation: run.operation,
      attempt: n,
      delayMs: delay,
      cause: verdict.cause,
    });
    try {
      await sleep(delay, undefined, run.signal === undefined ? {} : { signal: run.signal });
    } catch {
      run.checkOpen?.();
    }
  }
}
