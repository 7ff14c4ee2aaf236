// `atrest.health()` (`atrest status --check`): a cheap probe for liveness and readiness scripts.
// Each provider's health check runs at most once per `health_check_interval` however often it is
// probed (a KMS called every second costs money and throttles); the answer says whether atrest
// can encrypt (unusable if not), whether every value can still be read and nothing needs the
// operator (degraded if not), and why, in one line.
import type { CheckedProvider } from '../providers/checked.js';
import type { Store } from '../store/types.js';

/** healthy: everything works; degraded: some values or a warning need the operator; unusable: no new encryption. */
export type HealthState = 'healthy' | 'degraded' | 'unusable';

/** One provider as the probe saw it. */
export type ProviderHealthReport = {
  id: string;
  current: boolean;
  healthy: boolean;
  /** True for the current provider and for one that data keys in use were wrapped by. */
  needed: boolean;
  reason?: string;
  code?: string;
  warnings: readonly string[];
};

/** What `health()` returns. */
export type AtrestHealth = {
  state: HealthState;
  /** One line: the state, then what makes it so. */
  summary: string;
  /** Each problem in one sentence; empty when healthy. */
  problems: string[];
  providers: ProviderHealthReport[];
  /** ISO-8601: when this answer was made. */
  checkedAt: string;
};

/** The exit code of `status --check`: 0 healthy, 1 degraded, 2 unusable. */
export function healthExitCode(state: HealthState): 0 | 1 | 2 {
  return state === 'healthy' ? 0 : state === 'degraded' ? 1 : 2;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Probe the providers (each at most once per `intervalMs`) and the data keys that need them. */
export async function checkHealth(
  store: Store,
  providers: ReadonlyMap<string, CheckedProvider>,
  currentId: string,
  intervalMs: number,
): Promise<AtrestHealth> {
  const problems: string[] = [];
  let state: HealthState = 'healthy';
  const worsen = (to: HealthState, problem: string): void => {
    problems.push(problem);
    if (to === 'unusable' || state === 'healthy') state = to;
  };
  const dataKeysOf = new Map<string, number>();
  try {
    for (const k of await store.listDataKeys()) {
      if (k.droppedAt === null) dataKeysOf.set(k.provider, (dataKeysOf.get(k.provider) ?? 0) + 1);
    }
  } catch (err) {
    worsen('unusable', `The database cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const reports = await Promise.all(
    [...providers.values()].map(async (p): Promise<ProviderHealthReport> => {
      const h = await p.health(intervalMs);
      const current = p.id === currentId;
      return {
        id: p.id,
        current,
        healthy: h.healthy,
        needed: current || (dataKeysOf.get(p.id) ?? 0) > 0,
        ...(h.reason !== undefined ? { reason: h.reason } : {}),
        ...(h.code !== undefined ? { code: h.code } : {}),
        warnings: p.warnings,
      };
    }),
  );
  for (const r of reports) {
    const why = r.reason ?? 'unhealthy';
    if (!r.healthy && r.current) worsen('unusable', `${r.id} (current) is unusable: ${why}`);
    else if (!r.healthy && r.needed) {
      worsen('degraded', `${r.id} is unusable while ${plural(dataKeysOf.get(r.id) ?? 0, 'data key')} need it: ${why}`);
    }
    for (const w of r.warnings) worsen('degraded', `${r.id}: ${w}`);
  }
  for (const [id, n] of dataKeysOf) {
    if (!providers.has(id)) worsen('degraded', `${plural(n, 'data key')} need ${id}, which is not configured`);
  }
  const summary =
    problems.length === 0 ? `healthy: ${reports.map((r) => r.id).join(', ')}` : `${state}: ${problems.join('; ')}`;
  return { state, summary, problems, providers: reports, checkedAt: new Date().toISOString() };
}
