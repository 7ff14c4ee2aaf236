// The leaves of the one schema: atrest's owned keys, then each provider section's `module` and its
// schema's keys, each with its effective value, default, variable and whether it is a secret. A
// section key that a listed shared key feeds (`secret_key.default`'s passphrase is `[security]
// secret_key`) is that shared key's leaf, not one of its own.
import { keyFormat } from './formats.js';
import type { KeyFormat } from './formats.js';
import type { KeyTable } from './keys.js';
import { MODULE_KEY, PROVIDER_SECTION_PREFIX, sectionTableKey } from './keys.js';
import type { SectionToValidate } from './select.js';
import { providerEnvName } from './sources.js';
import type { Effective, ValueResolver } from './values.js';

/** One key of the schema, with everything needed to validate and report on it. */
export type Leaf = {
  /** Its path in the convict schema. */
  readonly convictPath: string;
  /** Dotted key, as `config show` lists it. */
  readonly key: string;
  readonly env: string | undefined;
  readonly doc: string;
  readonly format: KeyFormat;
  readonly defaultValue: unknown;
  readonly sensitive: boolean;
  readonly effective: Effective | undefined;
  /** `module` is listed by `config show` only when set: unset, it means the conventional package. */
  readonly listedOnlyWhenSet: boolean;
};

/** The dotted key under which a section's key is validated and listed. */
export function sectionKeyPath(section: SectionToValidate, key: string, keys: KeyTable): string {
  const shared = keys.shared.get(sectionTableKey(section.type, section.name, key));
  if (shared !== undefined && keys.ownedByKey.has(shared.displayKey)) return shared.displayKey;
  return `${PROVIDER_SECTION_PREFIX}${section.id}.${key}`;
}

/** Every leaf: owned keys first, then the sections in order. */
export async function buildLeaves(
  keys: KeyTable,
  sections: readonly SectionToValidate[],
  resolve: ValueResolver,
): Promise<Leaf[]> {
  const leaves: Leaf[] = [];
  for (const owned of keys.owned) {
    leaves.push({
      convictPath: owned.displayKey,
      key: owned.displayKey,
      env: owned.variable,
      doc: owned.doc,
      format: owned.format,
      defaultValue: owned.defaultValue,
      sensitive: owned.sensitive,
      effective: await resolve(owned.tableKey),
      listedOnlyWhenSet: false,
    });
  }
  for (const [index, section] of sections.entries()) {
    // Provider sections live under one internal node, one segment per section and per key, so that
    // a name such as `default` cannot be taken by convict for a schema property of its own.
    const node = `providers.s${index}`;
    leaves.push({
      convictPath: `${node}.k_${MODULE_KEY}`,
      key: `${PROVIDER_SECTION_PREFIX}${section.id}.${MODULE_KEY}`,
      env: undefined,
      doc: 'npm package of the provider, when not the conventional name',
      format: keyFormat(String, ''),
      defaultValue: '',
      sensitive: false,
      effective: await resolve(sectionTableKey(section.type, section.name, MODULE_KEY)),
      listedOnlyWhenSet: true,
    });
    for (const [key, definition] of section.schema) {
      const path = sectionKeyPath(section, key, keys);
      if (keys.ownedByKey.has(path)) continue; // already a leaf, as the shared key
      const tableKey = sectionTableKey(section.type, section.name, key);
      const shared = keys.shared.get(tableKey);
      leaves.push({
        convictPath: `${node}.k_${key}`,
        key: path,
        env: shared?.variable ?? providerEnvName(keys.envPrefix, section.type, section.name, key),
        doc: definition.doc,
        format: keyFormat(definition.format, definition.default),
        defaultValue: shared?.defaultValue ?? definition.default ?? '',
        sensitive: definition.sensitive === true,
        effective: await resolve(tableKey),
        listedOnlyWhenSet: false,
      });
    }
  }
  return leaves;
}
