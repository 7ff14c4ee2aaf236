// Which providers: `encryption_provider` and `available_encryption_providers` as set, the default
// rule the built-in providers declare when no provider is set, and every section to validate (the
// current and available ones, then every section some source names or gives a value).
import { errors } from '../errors.js';
import { splitList } from './formats.js';
import type { KeyTable } from './keys.js';
import { invalidError, problem } from './problems.js';
import { UNINSTALLED_SCHEMA } from './schemas.js';
import type { SchemaKeys, SchemaSource } from './schemas.js';
import type { SectionMention, SettingTable } from './settings.js';
import { RANK, sectionNames, spelledName } from './settings.js';
import { normalizeProviderName } from './sources.js';
import type { Effective, ValueResolver } from './values.js';

type ProviderRef = { readonly type: string; readonly name: string };

/** The provider ids as set (not defaulted), read through the declared aliases. */
export type ProviderIds = {
  readonly current: { readonly ref: ProviderRef; readonly source: Effective } | undefined;
  readonly available: readonly ProviderRef[];
  readonly mentions: readonly SectionMention[];
};

/** A provider section about to be validated against its provider's schema. */
export type SectionToValidate = {
  readonly id: string;
  readonly type: string;
  readonly name: string;
  readonly schema: SchemaKeys;
};

export type Selection = {
  readonly current: string;
  /** True when the current provider comes from the default rule. */
  readonly currentIsDefault: boolean;
  /** Unique, the current one first. */
  readonly available: readonly string[];
  readonly sections: readonly SectionToValidate[];
};

/** Reads `encryption_provider` and `available_encryption_providers`; an id that is not `<type>.<name>` is an error. */
export async function readProviderIds(resolve: ValueResolver, keys: KeyTable): Promise<ProviderIds> {
  const parse = (key: string, source: Effective, ids: readonly string[]): ProviderRef[] =>
    ids.map((id) => {
      const ref = keys.parseId(id);
      if (ref !== undefined) return ref;
      const allowed = keys.ownedByKey.get(key)?.format.allowed ?? '';
      throw invalidError([problem(key, source.origin, `"${id}" is not <type>.<name>`, allowed)]);
    });
  const currentKey = 'security.encryption_provider';
  const availableKey = 'security.available_encryption_providers';
  const setCurrent = await resolve(currentKey);
  const trimmed = setCurrent === undefined ? undefined : { ...setCurrent, value: setCurrent.value.trim() };
  const [currentRef] = trimmed === undefined ? [] : parse(currentKey, trimmed, [trimmed.value]);
  const setAvailable = await resolve(availableKey);
  const available = setAvailable === undefined ? [] : parse(availableKey, setAvailable, splitList(setAvailable.value));
  const refs = [...(currentRef === undefined ? [] : [currentRef]), ...available];
  return {
    current: currentRef === undefined || trimmed === undefined ? undefined : { ref: currentRef, source: trimmed },
    available,
    mentions: refs.map((ref) => ({ ...ref, rank: RANK.id })),
  };
}

/** The sections some setting of `table` gives a value (a shared key counts for the section it feeds). */
async function sectionsWithValues(table: SettingTable, resolve: ValueResolver): Promise<ProviderRef[]> {
  const found: ProviderRef[] = [];
  for (const [tableKey, { target }] of table) {
    if (target.section !== undefined && (await resolve(tableKey)) !== undefined) found.push(target.section);
  }
  return found;
}

/** The default rule: the first `'configured'` provider whose section has a value, else the first `'otherwise'` one. */
function defaultProvider(keys: KeyTable, withValues: readonly ProviderRef[]): ProviderRef {
  const configured = keys.defaultRules.find(
    (rule) =>
      rule.when === 'configured' &&
      withValues.some(
        (s) => s.type === rule.type && normalizeProviderName(s.name) === normalizeProviderName(rule.section),
      ),
  );
  const rule = configured ?? keys.defaultRules.find((r) => r.when === 'otherwise');
  if (rule === undefined) {
    throw errors.configInvalid(
      'No encryption provider: encryption_provider is not set, and no installed provider package offers a default:',
      `set [security] encryption_provider or ${keys.envPrefix}SECURITY_ENCRYPTION_PROVIDER.`,
      { details: { key: 'security.encryption_provider' } },
    );
  }
  return { type: rule.type, name: rule.section };
}

/**
 * The current and available providers, and every section to validate with its schema; `mentions` are
 * the sections the sources name (INI sections, options, variables).
 */
export async function selectProviders(
  ids: ProviderIds,
  mentions: readonly SectionMention[],
  table: SettingTable,
  resolve: ValueResolver,
  schemaFor: SchemaSource,
  keys: KeyTable,
): Promise<Selection> {
  const withValues = await sectionsWithValues(table, resolve);
  const current = ids.current?.ref ?? defaultProvider(keys, withValues);
  const implied = [current, ...withValues].map((ref) => ({ ...ref, rank: RANK.implied }));
  const names = sectionNames([...mentions, ...ids.mentions, ...implied]);
  const canonical = (ref: ProviderRef): string => `${ref.type}.${spelledName(names, ref.type, ref.name)}`;
  const available = [...new Set([current, ...ids.available].map(canonical))];
  // Current and available first, then every section some source names or gives a value, in a stable order.
  const present = [...mentions, ...withValues].map((ref) => `${ref.type}.${normalizeProviderName(ref.name)}`).sort();
  const sections: SectionToValidate[] = [];
  const seen = new Set<string>();
  for (const ref of [...available.map((id) => keys.parseId(id)), ...present.map((id) => names.get(id))]) {
    if (ref === undefined) continue; // every id was checked before; kept for the type checker
    const id = canonical(ref);
    if (seen.has(id)) continue;
    seen.add(id);
    const schema = await schemaFor(ref.type, id);
    if (schema === UNINSTALLED_SCHEMA) continue;
    sections.push({ id, type: ref.type, name: spelledName(names, ref.type, ref.name), schema });
  }
  return { current: canonical(current), currentIsDefault: ids.current === undefined, available, sections };
}
