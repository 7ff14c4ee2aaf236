// The settings table: every value the collectors found, by table key and source, with its origin;
// and the provider sections' names as the sources spell them. Both are pure functions of what was
// collected; the loader builds them again when a later step has found more.
import { errors } from '../errors.js';
import type { KeyTarget } from './keys.js';
import { PROVIDER_SECTION_PREFIX } from './keys.js';
import { describeSetting, formatConfigOrigin, originDetails } from './origin.js';
import { normalizeProviderName } from './sources.js';
import type { ConfigOrigin } from './types.js';

/** The sources a collector reads, lowest precedence first (defaults are not collected). */
export type Layer = 'ini' | 'dotenv' | 'env' | 'option';
export const LAYERS_HIGH_FIRST: readonly Layer[] = ['option', 'env', 'dotenv', 'ini'];

/** A value as found: its text, or (for `<NAME>__FILE`) the file holding it. */
export type RawValue = { readonly text: string } | { readonly file: string };

/** One value found in one source. */
export type Setting = KeyTarget & { readonly layer: Layer; readonly raw: RawValue; readonly origin: ConfigOrigin };

/** How strongly a source decides a section name's spelling: the INI section, then options, ids, variables. */
export const RANK = { ini: 0, option: 1, id: 2, env: 3, implied: 4 } as const;

/** A provider section some source names. */
export type SectionMention = {
  readonly type: string;
  readonly name: string;
  readonly rank: (typeof RANK)[keyof typeof RANK];
  /** Where an INI section header was found, for the "same provider" error. */
  readonly origin?: ConfigOrigin;
};

/** A key written in a provider section (INI, options), checked against its schema once that is known. */
export type SectionKeyCheck = {
  readonly type: string;
  readonly name: string;
  readonly key: string;
  readonly origin: ConfigOrigin;
};

/** An `<APP>_SECURITY_ENCRYPTION_…` variable, read once provider types and schemas are known. */
export type ProviderVariable = {
  readonly layer: Layer;
  /** The variable without `__FILE`. */
  readonly base: string;
  /** What follows `<APP>_SECURITY_ENCRYPTION_`: `<TYPE>_<NAME>_<KEY>`. */
  readonly tail: string;
  readonly raw: RawValue;
  readonly origin: ConfigOrigin;
  readonly viaFile: boolean;
};

/** What a collector found in its source. */
export type Collected = {
  readonly settings: readonly Setting[];
  readonly mentions: readonly SectionMention[];
  readonly sectionKeys: readonly SectionKeyCheck[];
  readonly providerVariables: readonly ProviderVariable[];
};

/** Everything the collectors found, in the order given. */
export function mergeCollected(parts: readonly Collected[]): Collected {
  return {
    settings: parts.flatMap((part) => part.settings),
    mentions: parts.flatMap((part) => part.mentions),
    sectionKeys: parts.flatMap((part) => part.sectionKeys),
    providerVariables: parts.flatMap((part) => part.providerVariables),
  };
}

/** An empty value means "not set here": the next source down (or the default) applies. */
function isSet(raw: RawValue): boolean {
  return !('text' in raw) || raw.text !== '';
}

/** A table key's values by source, and how to name it. */
export type TableEntry = { readonly target: KeyTarget; readonly layers: ReadonlyMap<Layer, Setting> };
export type SettingTable = ReadonlyMap<string, TableEntry>;

/** Spelling of each section by `type.normalised_name`. */
export type SectionNames = ReadonlyMap<string, { readonly type: string; readonly name: string }>;

/** The table of `settings`; one key given two different values in one source (aliases) is an error. */
export function settingTable(settings: readonly Setting[]): SettingTable {
  const table = new Map<string, { target: KeyTarget; layers: Map<Layer, Setting> }>();
  for (const setting of settings) {
    if (!isSet(setting.raw)) continue;
    const entry = table.get(setting.tableKey) ?? { target: setting, layers: new Map<Layer, Setting>() };
    table.set(setting.tableKey, entry);
    const existing = entry.layers.get(setting.layer);
    if (existing === undefined) {
      entry.layers.set(setting.layer, setting);
      continue;
    }
    if (JSON.stringify(existing.raw) === JSON.stringify(setting.raw)) continue;
    const key = setting.displayKey;
    throw errors.configInvalid(
      `${key} is set twice with different values: by ${describeSetting(key, existing.origin)}` +
        ` and by ${describeSetting(key, setting.origin)}`,
      'Keep one of them.',
      { details: { key, ...originDetails(setting.origin), other: formatConfigOrigin(existing.origin) } },
    );
  }
  return table;
}

/** Each section's spelling: the best-ranked mention wins; two INI sections that are one section are an error. */
export function sectionNames(mentions: readonly SectionMention[]): SectionNames {
  const names = new Map<string, SectionMention>();
  for (const mention of mentions) {
    const normId = `${mention.type}.${normalizeProviderName(mention.name)}`;
    const existing = names.get(normId);
    if (existing?.rank === RANK.ini && mention.rank === RANK.ini && existing.name !== mention.name) {
      const file = mention.origin?.file;
      throw errors.configInvalid(
        `Sections [${PROVIDER_SECTION_PREFIX}${mention.type}.${existing.name}] and ` +
          `[${PROVIDER_SECTION_PREFIX}${mention.type}.${mention.name}]${file === undefined ? '' : ` in ${file}`}` +
          ' are the same provider (names compare case-insensitively, "-" and "_" alike):',
        'merge them.',
        {
          details: {
            section: `${PROVIDER_SECTION_PREFIX}${mention.type}.${mention.name}`,
            ...(mention.origin === undefined ? {} : originDetails(mention.origin)),
          },
        },
      );
    }
    if (existing === undefined || mention.rank < existing.rank) names.set(normId, mention);
  }
  return names;
}

/** The section's name as the sources spell it. */
export function spelledName(names: SectionNames, type: string, name: string): string {
  return names.get(`${type}.${normalizeProviderName(name)}`)?.name ?? name;
}

/** How messages name a table key: as its target says, a section key with its section spelt as the sources do. */
export function displayKey(target: KeyTarget, names: SectionNames): string {
  const { section } = target;
  if (section === undefined || !target.displayKey.startsWith(PROVIDER_SECTION_PREFIX)) return target.displayKey;
  return `${PROVIDER_SECTION_PREFIX}${section.type}.${spelledName(names, section.type, section.name)}.${section.key}`;
}
