// A provider's requests as metrics count them: by operation and outcome, with their latency in the
// buckets of a Prometheus histogram. Core's provider guard keeps one per provider; metrics.ts reads it.

/** Upper bounds (seconds) of the provider latency histogram: a local key file to a slow KMS. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type ProviderOperation = 'wrap' | 'unwrap' | 'rewrap' | 'health';
export type Outcome = 'success' | 'failure';

/** Requests of one provider by operation and outcome, with their latency in histogram buckets. */
export class ProviderRequestStats {
  private readonly series = new Map<string, ProviderRequestSeries>();

  /** Run `request`, counted under `operation` with its duration and outcome. */
  async time<T>(operation: ProviderOperation, request: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    let outcome: Outcome = 'failure';
    try {
      const result = await request();
      outcome = 'success';
      return result;
    } finally {
      this.observe(operation, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private observe(operation: ProviderOperation, outcome: Outcome, seconds: number): void {
    const key = `${operation} ${outcome}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { operation, outcome, count: 0, sumSeconds: 0, buckets: LATENCY_BUCKETS.map(() => 0) };
      this.series.set(key, s);
    }
    s.count++;
    s.sumSeconds += seconds;
    const i = LATENCY_BUCKETS.findIndex((bound) => seconds <= bound);
    if (i >= 0) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
  }

  /** Every series, buckets cumulative as Prometheus counts them. */
  list(): ProviderRequestSeries[] {
    return [...this.series.values()].map((s) => {
      let sum = 0;
      return { ...s, buckets: s.buckets.map((n) => (sum += n)) };
    });
  }
}

export type ProviderRequestSeries = {
  operation: ProviderOperation;
  outcome: Outcome;
  count: number;
  sumSeconds: number;
  /** Cumulative counts at each bound of LATENCY_BUCKETS (`le`); the +Inf bucket is `count`. */
  buckets: number[];
};
