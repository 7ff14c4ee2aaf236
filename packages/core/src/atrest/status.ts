// `atrest.status()` (`atrest status --json`): providers and their health, data keys per provider,
// and every value atrest knows of (its secrets and the registered targets) by provider.
import type { AtrestConfig, TargetSpec } from '../config/types.js';
import type { CheckedProvider, ProviderHealth } from '../providers/checked.js';
import type { Store } from '../store/types.js';
import { countTargetValues } from '../targets.js';

/** Counts of one registered target. */
export type TargetStatus = {
  target: string;
  rows: number;
  values: number;
  encrypted: number;
  plaintext: number;
  /** Rows of a :json target whose cell is not a JSON object. */
  invalid: number;
  byProvider: Record<string, number>;
  /** Why the target could not be counted (its table is missing, …). */
  error?: string;
};

/** What `status()` returns (`atrest status --json`). */
export type AtrestStatus = {
  app: string;
  currentProvider: string;
  providers: {
    id: string;
    type: string;
    current: boolean;
    healthy: boolean;
    reason?: string;
    details: Readonly<Record<string, string | number | boolean>>;
    dataKeys: { total: number; active: number };
  }[];
  /** Data keys in use; `dropped`: kept after encryption was turned off, no longer counted. */
  dataKeys: {
    total: number;
    active: number;
    dropped: number;
    /**
     * Retired or dropped data keys that no value names (`secrets-migration cleanup` deletes them once
     * retired longer than data_keys_cache_ttl ago); absent when a target could not be counted.
     */
    unused?: number;
    byProvider: Record<string, { total: number; active: number }>;
  };
  secrets: { total: number; encrypted: number; plaintext: number; byProvider: Record<string, number> };
  targets: TargetStatus[];
};

type Counts = AtrestStatus['secrets'];

/** Count a target's values by provider; a target that cannot be read says why instead. */
async function targetStatus(
  store: Store,
  target: TargetSpec,
  providerOf: ReadonlyMap<string, string>,
  used: Set<string>,
): Promise<TargetStatus> {
  const ts: TargetStatus = {
    target: target.spec,
    rows: 0,
    values: 0,
    encrypted: 0,
    plaintext: 0,
    invalid: 0,
    byProvider: {},
  };
  try {
    const counts = await countTargetValues(store, target);
    ts.rows = counts.rows;
    ts.invalid = counts.invalid;
    ts.plaintext = counts.plaintext;
    for (const [id, n] of counts.byDataKey) {
      used.add(id);
      const provider = providerOf.get(id) ?? '?';
      ts.byProvider[provider] = (ts.byProvider[provider] ?? 0) + n;
      ts.encrypted += n;
    }
    ts.values = ts.plaintext + ts.encrypted;
  } catch (err) {
    ts.error = err instanceof Error ? err.message : String(err);
  }
  return ts;
}

function add(into: Counts, plaintext: number, byProvider: Readonly<Record<string, number>>): void {
  into.plaintext += plaintext;
  into.total += plaintext;
  for (const [p, n] of Object.entries(byProvider)) {
    into.byProvider[p] = (into.byProvider[p] ?? 0) + n;
    into.encrypted += n;
    into.total += n;
  }
}

/** The status of an open atrest. */
export async function computeStatus(
  config: AtrestConfig,
  store: Store,
  providers: ReadonlyMap<string, CheckedProvider>,
): Promise<AtrestStatus> {
  const allKeys = await store.listDataKeys();
  const providerOf = new Map(allKeys.map((k) => [k.id, k.provider]));
  const keys = allKeys.filter((k) => k.droppedAt === null);
  const byProvider: Record<string, { total: number; active: number }> = {};
  for (const k of keys) {
    const e = byProvider[k.provider] ?? { total: 0, active: 0 };
    byProvider[k.provider] = e;
    e.total++;
    if (k.active) e.active++;
  }
  const health = new Map<string, ProviderHealth>();
  await Promise.all([...providers.values()].map(async (p) => health.set(p.id, await p.health())));
  const secrets: Counts = { total: 0, encrypted: 0, plaintext: 0, byProvider: {} };
  const secretsBy = await store.secretsByProvider();
  add(secrets, secretsBy.get('') ?? 0, Object.fromEntries([...secretsBy].filter(([p]) => p !== '')));
  const targets: TargetStatus[] = [];
  const used = new Set<string>();
  for (const t of config.targets) {
    const ts = await targetStatus(store, t, providerOf, used);
    add(secrets, ts.plaintext, ts.byProvider);
    targets.push(ts);
  }
  let unused: number | undefined;
  if (targets.every((t) => t.error === undefined)) {
    unused = 0;
    for (const k of allKeys) {
      if (!k.active && !used.has(k.id) && (await store.countSecretsUnder([k.id])) === 0) unused++;
    }
  }
  return {
    app: config.app,
    currentProvider: config.encryptionProvider,
    providers: [...providers.values()].map((p) => {
      const h = health.get(p.id) ?? { healthy: true };
      return {
        id: p.id,
        type: p.type,
        current: p.id === config.encryptionProvider,
        healthy: h.healthy,
        ...(h.reason !== undefined ? { reason: h.reason } : {}),
        details: p.describe(),
        dataKeys: byProvider[p.id] ?? { total: 0, active: 0 },
      };
    }),
    dataKeys: {
      total: keys.length,
      active: keys.filter((k) => k.active).length,
      dropped: allKeys.length - keys.length,
      ...(unused !== undefined ? { unused } : {}),
      byProvider,
    },
    secrets,
    targets,
  };
}
