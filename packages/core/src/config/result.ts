// The result: validated values into the AtrestConfig the application gets, frozen, with the entries
// `config show` lists (the effective values after the default rule and parsing, secrets redacted).
import { databaseConfig } from './database.js';
import { formatDuration, parseTargets, splitList } from './formats.js';
import type { KeyTable } from './keys.js';
import { MODULE_KEY, PROVIDER_SECTION_PREFIX } from './keys.js';
import type { Leaf } from './leaves.js';
import { sectionKeyPath } from './leaves.js';
import { dumpsAs, redactUrl, shownValue } from './redact.js';
import type { SectionToValidate, Selection } from './select.js';
import type { AtrestConfig, ConfigEntry, ConfigOrigin, ProviderSectionConfig } from './types.js';

const DEFAULT_ORIGIN: ConfigOrigin = { source: 'default' };

/** Freezes plain objects and arrays all the way down. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && (Array.isArray(value) || value.constructor === Object)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** One section's validated values and their origins, keys as in the provider's schema. */
export function sectionConfig(
  section: SectionToValidate,
  values: ReadonlyMap<string, unknown>,
  leaves: ReadonlyMap<string, Leaf>,
  keys: KeyTable,
): ProviderSectionConfig {
  const sectionValues: Record<string, unknown> = {};
  const origins: Record<string, ConfigOrigin> = {};
  for (const key of section.schema.keys()) {
    const path = sectionKeyPath(section, key, keys);
    sectionValues[key] = values.get(path);
    origins[key] = leaves.get(path)?.effective?.origin ?? DEFAULT_ORIGIN;
  }
  dumpsAs(sectionValues, () =>
    Object.fromEntries(
      Object.entries(sectionValues).map(([k, v]) => [k, shownValue(v, section.schema.get(k)?.sensitive === true)]),
    ),
  );
  const module = values.get(`${PROVIDER_SECTION_PREFIX}${section.id}.${MODULE_KEY}`);
  const { id, type, name } = section;
  const config = { id, type, name, values: sectionValues, origins };
  return deepFreeze(typeof module === 'string' && module !== '' ? { ...config, module } : config);
}

function entryValue(value: unknown): string | number | boolean | readonly string[] {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item) => String(item));
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

/** The AtrestConfig of validated `values`, its sections already checked. */
export function buildResult(
  app: string,
  keys: KeyTable,
  selection: Selection,
  leaves: readonly Leaf[],
  values: ReadonlyMap<string, unknown>,
  providers: ReadonlyMap<string, ProviderSectionConfig>,
  warnings: readonly string[],
): AtrestConfig {
  const number = (key: string): number => Number(values.get(key));
  const text = (key: string): string => String(values.get(key) ?? '');
  const targets = parseTargets(text('secrets_migration.targets'));
  // What `config show` lists for the keys whose value is read further: after the default rule and parsing.
  const shown = new Map<string, unknown>([
    ['security.encryption_provider', selection.current],
    ['security.available_encryption_providers', selection.available],
    ['security.encryption.data_keys_cache_ttl', formatDuration(number('security.encryption.data_keys_cache_ttl'))],
    [
      'security.encryption.data_keys_cache_cleanup_interval',
      formatDuration(number('security.encryption.data_keys_cache_cleanup_interval')),
    ],
    ['security.encryption.health_check_interval', formatDuration(number('security.encryption.health_check_interval'))],
    ['secrets_migration.targets', targets.map((target) => target.spec)],
    ['security.encryption.reopen_plaintext', splitList(text('security.encryption.reopen_plaintext'))],
    [
      'security.encryption.algorithm',
      text('security.encryption.algorithm') === ''
        ? ''
        : `${text('security.encryption.algorithm')} (not used: atrest's format is fixed, AES-256-GCM)`,
    ],
  ]);
  const entries: ConfigEntry[] = [];
  for (const leaf of leaves) {
    const value = shown.has(leaf.key) ? shown.get(leaf.key) : values.get(leaf.key);
    if (leaf.listedOnlyWhenSet && value === '') continue;
    const defaulted = leaf.key === 'security.encryption_provider' && selection.currentIsDefault;
    const origin = defaulted ? DEFAULT_ORIGIN : (leaf.effective?.origin ?? DEFAULT_ORIGIN);
    const entry: ConfigEntry = {
      key: leaf.key,
      // A URL shows everything but its password: host, port, database and user are what an operator checks.
      value: leaf.key === 'database.url' ? redactUrl(String(value)) : shownValue(entryValue(value), leaf.sensitive),
      origin,
      sensitive: leaf.sensitive,
    };
    if (leaf.env !== undefined) entry.env = leaf.env;
    entries.push(entry);
  }
  const optional = (key: string): string | undefined => (text(key) === '' ? undefined : text(key));
  const leafByKey = new Map(leaves.map((leaf) => [leaf.key, leaf]));
  const database = databaseConfig(values, (key) => leafByKey.get(key)?.effective?.origin ?? DEFAULT_ORIGIN);
  // Dumps of the configuration show the URL and the PostgreSQL password redacted, as `config show` does.
  dumpsAs(database, () => ({
    ...database,
    url: database.url === undefined ? undefined : redactUrl(database.url),
    postgres: { ...database.postgres, password: shownValue(database.postgres.password ?? '', true) },
  }));
  return deepFreeze({
    app,
    envPrefix: keys.envPrefix,
    encryptionProvider: selection.current,
    availableProviders: selection.available,
    dataKeysCacheTtlMs: number('security.encryption.data_keys_cache_ttl'),
    dataKeysCacheCleanupIntervalMs: number('security.encryption.data_keys_cache_cleanup_interval'),
    healthCheckIntervalMs: number('security.encryption.health_check_interval'),
    audit: {
      log: optional('security.encryption.audit_log'),
      secretReads: values.get('security.encryption.audit_secret_reads') === true,
    },
    reopenPlaintext: splitList(text('security.encryption.reopen_plaintext')),
    database,
    targets,
    providers,
    entries,
    warnings: [...warnings],
  });
}
