// `atrest.status()` (`atrest status --json`): a plain, documented structure (docs/OBSERVABILITY.md)
// that the CLI renders and that other facts are added to as fields. It holds providers with their
// health and key facts, data keys per provider and key version, every value atrest knows of (its
// secrets and the registered targets) by provider, the work left (values not yet under an active
// data key of the current provider, and which old providers, key versions and data keys are still
// needed), the settings that shape it, the health verdict and the metrics.
import { formatDuration } from '../config/formats.js';
import type { AtrestConfig, TargetSpec } from '../config/types.js';
import type { MetricsSnapshot } from '../observability/metrics.js';
import type { CheckedProvider } from '../providers/checked.js';
import type { DataKeyRecord, Store } from '../store/types.js';
import { sealState } from '../seals.js';
import type { SealState } from '../seals.js';
import { SECRETS_TARGET, countTargetValues, targetScope } from '../targets.js';
import type { AtrestHealth } from './health.js';

/** Values not yet where re-encrypt puts them: plaintext, or under a retired data key or another provider. */
export type WorkLeft = { plaintext: number; onRetiredDataKeys: number; onOtherProviders: number };

/**
 * Whether plaintext is refused at a place (README, "Plaintext only during a transition"): `sealed`
 * (since `sealedAt`), `reopened` (sealed, but reopen_plaintext accepts plaintext again) or
 * `transition` (not sealed yet: re-encrypt seals it once it leaves no plaintext).
 */
export type SealStatus = {
  state: SealState;
  sealedAt?: string;
  /** Plaintext values there: legacy in a transition, refused when sealed (written behind atrest). */
  plaintext: number;
};

/** Counts of one registered target. */
export type TargetStatus = {
  target: string;
  seal: SealStatus;
  rows: number;
  values: number;
  encrypted: number;
  plaintext: number;
  /** Rows of a :json target whose cell is not a JSON object. */
  invalid: number;
  byProvider: Record<string, number>;
  /** Values that `secrets-migration re-encrypt` would still change. */
  workLeft: WorkLeft;
  /** Why the target could not be counted (its table is missing, …). */
  error?: string;
};

/** One key version (keyRef: a key-file fingerprint, a KMS key ARN, an Azure key version) data keys need. */
export type KeyVersionStatus = { keyRef: string; current: boolean; dataKeys: number; values: number };

/** One configured provider. */
export type ProviderStatus = {
  id: string;
  type: string;
  current: boolean;
  healthy: boolean;
  /** Data keys in use were wrapped by it (or it is current): unusable, it degrades health. */
  needed: boolean;
  reason?: string;
  /** What the operator must know although it works (a well-known passphrase, …). */
  warnings: readonly string[];
  details: Readonly<Record<string, string | number | boolean>>;
  dataKeys: { total: number; active: number };
  /** Values under its data keys. */
  values: number;
  keyVersions: KeyVersionStatus[];
};

/** A data key that is no longer active and still holds values: re-encrypt moves them off it. */
export type RetiredDataKeyStatus = { id: string; provider: string; label: string; values: number };

/** What `status()` returns (`atrest status --json`). */
export type AtrestStatus = {
  app: string;
  /** The database: SQLite's file, or PostgreSQL's URL with the password redacted. */
  database: string;
  currentProvider: string;
  /** The settings that shape the numbers below, durations as written in configuration (`15m`). */
  settings: { dataKeysCacheTtl: string; healthCheckInterval: string; auditLog: string | undefined };
  /** The verdict `status --check` exits with, and why. */
  health: AtrestHealth;
  providers: ProviderStatus[];
  /** Providers that data keys name but that are not configured: their values cannot be read. */
  unconfiguredProviders: { id: string; dataKeys: number; values: number }[];
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
  secrets: {
    total: number;
    encrypted: number;
    plaintext: number;
    /** Whether plaintext is refused in atrest's own table (the counts above include the targets'). */
    seal: SealStatus;
    byProvider: Record<string, number>;
    workLeft: WorkLeft;
  };
  targets: TargetStatus[];
  /** Everything re-encrypt would still do, and the retired data keys values still need. */
  workLeft: WorkLeft & { values: number; retiredDataKeys: RetiredDataKeyStatus[] };
  metrics: MetricsSnapshot;
};

type ValueCounts = { plaintext: number; byDataKey: Map<string, number> };

/** atrest's own secrets by data key, counted in the database. */
async function countSecretValues(store: Store): Promise<ValueCounts> {
  const byDataKey = await store.secretsByDataKey();
  const plaintext = byDataKey.get('') ?? 0;
  byDataKey.delete('');
  return { plaintext, byDataKey };
}

/** Values by provider, and the work left, of one set of counts. */
function tally(
  counts: ValueCounts,
  keyOf: ReadonlyMap<string, DataKeyRecord>,
  currentProvider: string,
): { encrypted: number; byProvider: Record<string, number>; workLeft: WorkLeft } {
  const byProvider: Record<string, number> = {};
  const workLeft: WorkLeft = { plaintext: counts.plaintext, onRetiredDataKeys: 0, onOtherProviders: 0 };
  let encrypted = 0;
  for (const [id, n] of counts.byDataKey) {
    const key = keyOf.get(id);
    const provider = key?.provider ?? '?';
    byProvider[provider] = (byProvider[provider] ?? 0) + n;
    encrypted += n;
    if (provider !== currentProvider) workLeft.onOtherProviders += n;
    else if (key?.active !== true) workLeft.onRetiredDataKeys += n;
  }
  return { encrypted, byProvider, workLeft };
}

async function targetStatus(
  store: Store,
  target: TargetSpec,
  keyOf: ReadonlyMap<string, DataKeyRecord>,
  currentProvider: string,
  valuesByKey: Map<string, number>,
): Promise<TargetStatus> {
  const empty: WorkLeft = { plaintext: 0, onRetiredDataKeys: 0, onOtherProviders: 0 };
  const ts: TargetStatus = {
    target: target.spec,
    seal: { state: 'transition', plaintext: 0 },
    rows: 0,
    values: 0,
    encrypted: 0,
    plaintext: 0,
    invalid: 0,
    byProvider: {},
    workLeft: empty,
  };
  try {
    const counts = await countTargetValues(store, target);
    const t = tally(counts, keyOf, currentProvider);
    Object.assign(ts, { rows: counts.rows, invalid: counts.invalid, plaintext: counts.plaintext, ...t });
    ts.values = ts.plaintext + ts.encrypted;
    addInto(valuesByKey, counts.byDataKey);
  } catch (err) {
    ts.error = err instanceof Error ? err.message : String(err);
  }
  return ts;
}

function addInto(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [id, n] of from) into.set(id, (into.get(id) ?? 0) + n);
}

function addWork(into: WorkLeft, from: WorkLeft): void {
  into.plaintext += from.plaintext;
  into.onRetiredDataKeys += from.onRetiredDataKeys;
  into.onOtherProviders += from.onOtherProviders;
}

/** The status of an open atrest. */
export async function computeStatus(
  config: AtrestConfig,
  store: Store,
  providers: ReadonlyMap<string, CheckedProvider>,
  health: AtrestHealth,
  metrics: MetricsSnapshot,
): Promise<AtrestStatus> {
  const current = config.encryptionProvider;
  const allKeys = await store.listDataKeys();
  const keyOf = new Map(allKeys.map((k) => [k.id, k]));
  const keys = allKeys.filter((k) => k.droppedAt === null);
  const byProvider: Record<string, { total: number; active: number }> = {};
  for (const k of keys) {
    const e = byProvider[k.provider] ?? { total: 0, active: 0 };
    byProvider[k.provider] = e;
    e.total++;
    if (k.active) e.active++;
  }
  const seals = await store.seals();
  const sealOf = (place: string, plaintext: number): SealStatus => {
    const sealedAt = seals.get(place);
    return { state: sealState(config, seals, place), ...(sealedAt !== undefined ? { sealedAt } : {}), plaintext };
  };
  const valuesByKey = new Map<string, number>();
  const own = await countSecretValues(store);
  addInto(valuesByKey, own.byDataKey);
  const ownTally = tally(own, keyOf, current);
  const secrets: AtrestStatus['secrets'] = {
    total: own.plaintext + ownTally.encrypted,
    encrypted: ownTally.encrypted,
    plaintext: own.plaintext,
    seal: sealOf(SECRETS_TARGET, own.plaintext),
    byProvider: { ...ownTally.byProvider },
    workLeft: { ...ownTally.workLeft },
  };
  const workLeft: AtrestStatus['workLeft'] = { ...ownTally.workLeft, values: 0, retiredDataKeys: [] };
  const targets: TargetStatus[] = [];
  for (const t of config.targets) {
    const ts = await targetStatus(store, t, keyOf, current, valuesByKey);
    ts.seal = sealOf(targetScope(t), ts.plaintext);
    // The secrets line counts every value atrest knows of, targets included (as it always has).
    secrets.total += ts.values;
    secrets.encrypted += ts.encrypted;
    secrets.plaintext += ts.plaintext;
    for (const [p, n] of Object.entries(ts.byProvider)) secrets.byProvider[p] = (secrets.byProvider[p] ?? 0) + n;
    addWork(workLeft, ts.workLeft);
    targets.push(ts);
  }
  workLeft.values = workLeft.plaintext + workLeft.onRetiredDataKeys + workLeft.onOtherProviders;
  for (const k of keys) {
    const n = valuesByKey.get(k.id) ?? 0;
    if (!k.active && n > 0)
      workLeft.retiredDataKeys.push({ id: k.id, provider: k.provider, label: k.label, values: n });
  }
  // Retired or dropped data keys no value names; unknown when a target could not be counted.
  const unused = targets.every((t) => t.error === undefined)
    ? allKeys.filter((k) => !k.active && !valuesByKey.has(k.id)).length
    : undefined;
  const valuesOf = (provider: string): number =>
    keys.filter((k) => k.provider === provider).reduce((sum, k) => sum + (valuesByKey.get(k.id) ?? 0), 0);
  const healthOf = new Map(health.providers.map((h) => [h.id, h]));
  const places = [
    { place: SECRETS_TARGET, seal: secrets.seal },
    ...targets.map((t) => ({ place: t.target, seal: t.seal })),
  ];
  return {
    app: config.app,
    database: store.location,
    currentProvider: current,
    settings: {
      dataKeysCacheTtl: formatDuration(config.dataKeysCacheTtlMs),
      healthCheckInterval: formatDuration(config.healthCheckIntervalMs),
      auditLog: config.audit.log,
    },
    health: withSealedPlaintext(health, places),
    providers: [...providers.values()].map((p): ProviderStatus => {
      const h = healthOf.get(p.id);
      return {
        id: p.id,
        type: p.type,
        current: p.id === current,
        healthy: h?.healthy ?? true,
        needed: h?.needed ?? true,
        ...(h?.reason !== undefined ? { reason: h.reason } : {}),
        warnings: p.warnings,
        details: p.describe(),
        dataKeys: byProvider[p.id] ?? { total: 0, active: 0 },
        values: valuesOf(p.id),
        keyVersions: keyVersions(keys, p, valuesByKey),
      };
    }),
    unconfiguredProviders: Object.entries(byProvider)
      .filter(([id]) => !providers.has(id))
      .map(([id, n]) => ({ id, dataKeys: n.total, values: valuesOf(id) })),
    dataKeys: {
      total: keys.length,
      active: keys.filter((k) => k.active).length,
      dropped: allKeys.length - keys.length,
      ...(unused !== undefined ? { unused } : {}),
      byProvider,
    },
    secrets,
    targets,
    workLeft,
    metrics,
  };
}

/**
 * Plaintext where it is refused (a sealed place: written behind atrest's back, by an old application
 * version or an attacker) degrades the verdict: reads of it fail, and `status` exits 1 naming it.
 */
function withSealedPlaintext(
  health: AtrestHealth,
  places: readonly { place: string; seal: SealStatus }[],
): AtrestHealth {
  const problems = places
    .filter((p) => p.seal.state === 'sealed' && p.seal.plaintext > 0)
    .map(
      (p) =>
        `${p.place} is sealed but holds ${p.seal.plaintext} plaintext value${p.seal.plaintext === 1 ? '' : 's'} ` +
        '(refused on read): find what wrote them, then re-encrypt with reopen_plaintext for it, or restore them',
    );
  if (problems.length === 0) return health;
  const state = health.state === 'unusable' ? 'unusable' : 'degraded';
  const all = [...health.problems, ...problems];
  return { ...health, state, problems: all, summary: `${state}: ${all.join('; ')}` };
}

/** The key versions a provider's data keys were wrapped under, the current one first. */
function keyVersions(
  keys: readonly DataKeyRecord[],
  provider: CheckedProvider,
  valuesByKey: ReadonlyMap<string, number>,
): KeyVersionStatus[] {
  const current = provider.currentKeyRef ?? provider.lastKeyRef;
  const byRef = new Map<string, KeyVersionStatus>();
  for (const k of keys.filter((x) => x.provider === provider.id)) {
    const v = byRef.get(k.keyRef) ?? { keyRef: k.keyRef, current: k.keyRef === current, dataKeys: 0, values: 0 };
    v.dataKeys++;
    v.values += valuesByKey.get(k.id) ?? 0;
    byRef.set(k.keyRef, v);
  }
  return [...byRef.values()].sort((a, b) => Number(b.current) - Number(a.current));
}
