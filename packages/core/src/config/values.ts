// Effective values: for a table key, the highest source with a non-empty value, its `$__env{}` and
// `$__file{}` references expanded or its `<NAME>__FILE` file read. Only the winning value is ever
// expanded or read, so an overridden reference cannot fail.
import { originDetails } from './origin.js';
import type { SectionNames, SettingTable } from './settings.js';
import { LAYERS_HIGH_FIRST, displayKey } from './settings.js';
import { expandReferences, readValueFile } from './sources.js';
import type { EnvLookup } from './sources.js';
import type { ConfigOrigin } from './types.js';

export type Effective = { readonly value: string; readonly origin: ConfigOrigin };

/** Effective values of one table, each computed once. */
export type ValueResolver = (tableKey: string) => Promise<Effective | undefined>;

export function valueResolver(table: SettingTable, names: SectionNames, lookupEnv: EnvLookup): ValueResolver {
  const resolved = new Map<string, Promise<Effective | undefined>>();
  const compute = async (tableKey: string): Promise<Effective | undefined> => {
    const entry = table.get(tableKey);
    if (entry === undefined) return undefined;
    const key = displayKey(entry.target, names);
    for (const layer of LAYERS_HIGH_FIRST) {
      const setting = entry.layers.get(layer);
      if (setting === undefined) continue;
      const { origin } = setting;
      let found: Effective;
      if ('file' in setting.raw) {
        // The file is the value, taken as is.
        const details = { key, ...originDetails(origin) };
        found = { value: await readValueFile(setting.raw.file, `named by ${origin.variable ?? key}`, details), origin };
      } else {
        const { value, references } = await expandReferences(setting.raw.text, key, origin, lookupEnv);
        found = { value, origin: references.length > 0 ? { ...origin, references } : origin };
      }
      if (found.value !== '') return found;
    }
    return undefined;
  };
  return (tableKey) => {
    let result = resolved.get(tableKey);
    if (result === undefined) {
      result = compute(tableKey);
      resolved.set(tableKey, result);
    }
    return result;
  };
}
