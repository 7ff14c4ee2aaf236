// atrest's metrics: plain counters kept where the work happens (operations in the instance, cache
// reads in the envelope, provider requests in core's provider guard, migration progress in the
// migrations) and `snapshotMetrics`, the one place they are read. Every label set is bounded:
// operations and outcomes are fixed words, providers come from the configuration, failures carry
// the catalogue's codes, and a provider's key reference appears only as a short hash.
import { createHash } from 'node:crypto';
import { isAtrestError } from '../errors.js';
import type { CheckedProvider } from '../providers/checked.js';
import type { Store } from '../store/types.js';
import type { Outcome, ProviderRequestSeries } from './provider-requests.js';

export type CryptOperation = 'encrypt' | 'decrypt';

/** A key reference as metrics show it: the first 12 hex digits of its SHA-256. */
function keyRefHash(keyRef: string | undefined): string | undefined {
  return keyRef === undefined ? undefined : createHash('sha256').update(keyRef).digest('hex').slice(0, 12);
}

/** Encryptions and decryptions through the API, and failures by error code. */
export class OperationCounters {
  readonly success: Record<CryptOperation, number> = { encrypt: 0, decrypt: 0 };
  readonly failure: Record<CryptOperation, number> = { encrypt: 0, decrypt: 0 };
  /** `<operation> <code>` → count; codes come from the catalogue (ATREST_UNKNOWN for anything else). */
  readonly failures = new Map<string, number>();

  failed(operation: CryptOperation, err: unknown): void {
    this.failure[operation]++;
    const key = `${operation} ${isAtrestError(err) ? err.code : 'ATREST_UNKNOWN'}`;
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
  }
}

/** Progress of the migration this process runs (or ran last), per target. */
export type MigrationProgress = {
  /** The command running, or undefined between migrations. */
  running: string | undefined;
  targets: Map<string, { done: number; left: number; errors: number }>;
};

/** What `atrest.metrics()` returns (and `registerMetrics` exports); see docs/OBSERVABILITY.md. */
export type MetricsSnapshot = {
  operations: { operation: CryptOperation; outcome: Outcome; count: number }[];
  failures: { operation: CryptOperation; code: string; count: number }[];
  cache: { hits: number; misses: number; entries: number };
  providerRequests: (ProviderRequestSeries & { provider: string })[];
  /**
   * The key each provider wraps new data keys with, as a short hash (known from its key file, or once
   * it wrapped one); healthy as last seen.
   */
  providers: { provider: string; keyHash: string | undefined; healthy: boolean }[];
  dataKeys: { provider: string; state: 'active' | 'retired' | 'dropped'; count: number }[];
  migration: {
    running: boolean;
    command: string | undefined;
    targets: { target: string; rowsDone: number; rowsLeft: number; errors: number }[];
  };
};

/** The parts of an open atrest that metrics are read from. */
export type MetricSources = {
  readonly operations: OperationCounters;
  readonly cache: { readonly reads: { hit: number; miss: number }; entries(): number };
  readonly providers: ReadonlyMap<string, CheckedProvider>;
  readonly store: Store;
  readonly migration: MigrationProgress;
};

/** A snapshot of every metric; data keys are counted in the store (one query). */
export async function snapshotMetrics(from: MetricSources): Promise<MetricsSnapshot> {
  const ops = from.operations;
  const operations: MetricsSnapshot['operations'] = [];
  for (const operation of ['encrypt', 'decrypt'] as const) {
    operations.push({ operation, outcome: 'success', count: ops.success[operation] });
    operations.push({ operation, outcome: 'failure', count: ops.failure[operation] });
  }
  const failures = [...ops.failures].map(([key, count]) => {
    const [operation = 'encrypt', code = ''] = key.split(' ') as [CryptOperation, string];
    return { operation, code, count };
  });
  const dataKeys = new Map<string, MetricsSnapshot['dataKeys'][number]>();
  for (const k of await from.store.listDataKeys()) {
    const state = k.droppedAt !== null ? 'dropped' : k.active ? 'active' : 'retired';
    const entry = dataKeys.get(`${k.provider} ${state}`) ?? { provider: k.provider, state, count: 0 };
    entry.count++;
    dataKeys.set(`${k.provider} ${state}`, entry);
  }
  const providers = [...from.providers.values()];
  return {
    operations,
    failures,
    cache: { hits: from.cache.reads.hit, misses: from.cache.reads.miss, entries: from.cache.entries() },
    providerRequests: providers.flatMap((p) => p.requests.list().map((s) => ({ provider: p.id, ...s }))),
    providers: providers.map((p) => ({
      provider: p.id,
      keyHash: keyRefHash(p.currentKeyRef ?? p.lastKeyRef),
      healthy: p.lastHealth.healthy,
    })),
    dataKeys: [...dataKeys.values()],
    migration: {
      running: from.migration.running !== undefined,
      command: from.migration.running,
      targets: [...from.migration.targets].map(([target, t]) => ({
        target,
        rowsDone: t.done,
        rowsLeft: t.left,
        errors: t.errors,
      })),
    },
  };
}
