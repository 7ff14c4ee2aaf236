// `registerMetrics(registry, atrest)`: atrest's metrics in a prom-client Registry the application
// already serves (atrest opens no port). prom-client is an optional peer dependency, imported only
// here and only when this is called. Each scrape reads one `atrest.metrics()` snapshot: the metrics
// are computed from atrest's own counters, never kept twice.
import type { Histogram, Registry } from 'prom-client';
import type { Atrest } from '../atrest/types.js';
import { errors } from '../errors.js';
import { LATENCY_BUCKETS } from './provider-requests.js';
import type { MetricsSnapshot } from './metrics.js';

type Labels = Record<string, string>;
type HistogramExport = Awaited<ReturnType<Histogram<string>['get']>>;
type Sample = { labels: Labels; value: number };
/** One metric family: its name, help, type and how its samples are read from a snapshot. */
type Family = {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels: readonly string[];
  samples(s: MetricsSnapshot): Sample[];
};

/** Every counter and gauge atrest exports (the provider latency histogram is added apart). */
export const METRIC_FAMILIES: readonly Family[] = [
  {
    name: 'atrest_operations_total',
    help: 'Encryptions and decryptions through the API, by outcome',
    type: 'counter',
    labels: ['operation', 'outcome'],
    samples: (s) =>
      s.operations.map((o) => ({ labels: { operation: o.operation, outcome: o.outcome }, value: o.count })),
  },
  {
    name: 'atrest_operation_failures_total',
    help: 'Failed encryptions and decryptions by error code',
    type: 'counter',
    labels: ['operation', 'code'],
    samples: (s) => s.failures.map((f) => ({ labels: { operation: f.operation, code: f.code }, value: f.count })),
  },
  {
    name: 'atrest_data_key_cache_reads_total',
    help: 'Data key cache reads: hit (no provider call) or miss',
    type: 'counter',
    labels: ['result'],
    samples: (s) => [
      { labels: { result: 'hit' }, value: s.cache.hits },
      { labels: { result: 'miss' }, value: s.cache.misses },
    ],
  },
  {
    name: 'atrest_data_key_cache_entries',
    help: 'Unwrapped data keys in memory',
    type: 'gauge',
    labels: [],
    samples: (s) => [{ labels: {}, value: s.cache.entries }],
  },
  {
    name: 'atrest_provider_requests_total',
    help: 'Requests to key providers by provider, operation and outcome',
    type: 'counter',
    labels: ['provider', 'operation', 'outcome'],
    samples: (s) =>
      s.providerRequests.map((r) => ({
        labels: { provider: r.provider, operation: r.operation, outcome: r.outcome },
        value: r.count,
      })),
  },
  {
    name: 'atrest_provider_healthy',
    help: 'Whether the provider answered its last health check or request (1) or not (0)',
    type: 'gauge',
    labels: ['provider'],
    samples: (s) => s.providers.map((p) => ({ labels: { provider: p.provider }, value: p.healthy ? 1 : 0 })),
  },
  {
    name: 'atrest_provider_key_info',
    help: 'The key a provider last wrapped with, as a short hash of its key reference (always 1)',
    type: 'gauge',
    labels: ['provider', 'key_id_hash'],
    samples: (s) =>
      s.providers.flatMap((p) =>
        p.keyHash === undefined ? [] : [{ labels: { provider: p.provider, key_id_hash: p.keyHash }, value: 1 }],
      ),
  },
  {
    name: 'atrest_data_keys',
    help: 'Data keys by provider and state (active, retired, dropped)',
    type: 'gauge',
    labels: ['provider', 'state'],
    samples: (s) => s.dataKeys.map((k) => ({ labels: { provider: k.provider, state: k.state }, value: k.count })),
  },
  {
    name: 'atrest_migration_running',
    help: 'Whether this process runs a migration (re-encrypt, key rotation) now',
    type: 'gauge',
    labels: [],
    samples: (s) => [{ labels: {}, value: s.migration.running ? 1 : 0 }],
  },
  {
    name: 'atrest_migration_rows_done',
    help: 'Rows the running (or last) migration has processed, per target',
    type: 'gauge',
    labels: ['target'],
    samples: (s) => s.migration.targets.map((t) => ({ labels: { target: t.target }, value: t.rowsDone })),
  },
  {
    name: 'atrest_migration_rows_left',
    help: 'Rows the running (or last) migration has still to process, per target',
    type: 'gauge',
    labels: ['target'],
    samples: (s) => s.migration.targets.map((t) => ({ labels: { target: t.target }, value: t.rowsLeft })),
  },
  {
    name: 'atrest_migration_row_errors',
    help: 'Rows the running (or last) migration failed on, per target',
    type: 'gauge',
    labels: ['target'],
    samples: (s) => s.migration.targets.map((t) => ({ labels: { target: t.target }, value: t.errors })),
  },
];

export const LATENCY_METRIC = 'atrest_provider_request_duration_seconds';

/** The histogram's samples in prom-client's export form (`_bucket` with `le`, `_sum`, `_count`). */
function latencySamples(s: MetricsSnapshot): { metricName: string; labels: Labels; value: number }[] {
  return s.providerRequests.flatMap((r) => {
    const labels = { provider: r.provider, operation: r.operation, outcome: r.outcome };
    return [
      ...LATENCY_BUCKETS.map((le, i) => ({
        metricName: `${LATENCY_METRIC}_bucket`,
        labels: { ...labels, le: String(le) },
        value: r.buckets[i] ?? 0,
      })),
      { metricName: `${LATENCY_METRIC}_bucket`, labels: { ...labels, le: '+Inf' }, value: r.count },
      { metricName: `${LATENCY_METRIC}_sum`, labels, value: r.sumSeconds },
      { metricName: `${LATENCY_METRIC}_count`, labels, value: r.count },
    ];
  });
}

/**
 * Register atrest's metrics in `registry` (a prom-client Registry). Every scrape takes one
 * snapshot of `atrest`, shared by all of its metrics. Needs the `prom-client` package.
 */
export async function registerMetrics(registry: Registry, atrest: Atrest): Promise<void> {
  const prom = await import('prom-client').catch((cause: unknown) => {
    throw errors.usage(
      'registerMetrics needs the prom-client package, which is not installed.',
      'Add it to the application (npm install prom-client), or read atrest.metrics() instead.',
      { cause },
    );
  });
  // The metrics of one scrape are collected together: they share the snapshot taken first.
  let pending: Promise<MetricsSnapshot> | undefined;
  const snapshot = (): Promise<MetricsSnapshot> => {
    pending ??= atrest.metrics().finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };
  for (const f of METRIC_FAMILIES) {
    const options = { name: f.name, help: f.help, labelNames: [...f.labels], registers: [registry] };
    if (f.type === 'counter') {
      new prom.Counter({
        ...options,
        async collect() {
          this.reset();
          for (const { labels, value } of f.samples(await snapshot())) this.inc(labels, value);
        },
      });
    } else {
      new prom.Gauge({
        ...options,
        async collect() {
          this.reset();
          for (const { labels, value } of f.samples(await snapshot())) this.set(labels, value);
        },
      });
    }
  }
  // prom-client's histogram cannot be set from counts, so this one reports atrest's buckets itself.
  class LatencyHistogram extends prom.Histogram<string> {
    override async get(): Promise<HistogramExport> {
      return {
        name: LATENCY_METRIC,
        help: 'Latency of key provider requests in seconds, by provider, operation and outcome',
        // prom-client's types declare `type` as an enum its JavaScript does not have: it writes 'histogram'.
        type: 'histogram' as unknown as HistogramExport['type'],
        values: latencySamples(await snapshot()),
        aggregator: 'sum',
        collect: () => undefined,
      };
    }
    /** What the registry reads for the text format. */
    getForPromString(): Promise<HistogramExport> {
      return this.get();
    }
  }
  new LatencyHistogram({
    name: LATENCY_METRIC,
    help: 'Latency of key provider requests in seconds, by provider, operation and outcome',
    labelNames: ['provider', 'operation', 'outcome'],
    buckets: [...LATENCY_BUCKETS],
    registers: [registry],
  });
}
