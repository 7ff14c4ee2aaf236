// Provider section schemas: asked of the provider packages once per type (the `module` of the
// type's sections says which package), checked for shape, and used to refuse unknown section keys.
import { errors, isAtrestError } from '../errors.js';
import type { ProviderConfigKey, ProviderConfigSchema } from '../providers/contract.js';
import type { KeyTable } from './keys.js';
import { MODULE_KEY, PROVIDER_SECTION_PREFIX } from './keys.js';
import { formatConfigOrigin, originDetails } from './origin.js';
import type { SectionKeyCheck } from './settings.js';
import { didYouMean, meantHint } from './suggest.js';
import type { LoadConfigOptions } from './types.js';
import type { Effective } from './values.js';

/** A provider's section keys, checked. */
export type SchemaKeys = ReadonlyMap<string, ProviderConfigKey>;

/** The schema of a type, for the section `id` that first needs it. */
export type SchemaSource = (type: string, id: string) => Promise<SchemaKeys>;

const SCHEMA_KEY_PATTERN = /^[a-z][a-z0-9_]*$/;
const REQUIRED = new Set<unknown>([undefined, 'always', 'in use']);

/** Why one key's definition is unusable, or undefined. */
function keyProblem(key: string, definition: unknown): string | undefined {
  if (!SCHEMA_KEY_PATTERN.test(key))
    return `has key "${key}"; keys are lower-case letters, digits and "_", starting with a letter`;
  if (key === MODULE_KEY) return `declares "${MODULE_KEY}", which core reserves for the package name`;
  if (typeof definition !== 'object' || definition === null || !('default' in definition)) {
    return `has key "${key}" without a doc string and a default`;
  }
  const { doc, required, minLength, label } = definition as Record<string, unknown>;
  if (typeof doc !== 'string') return `has key "${key}" without a doc string and a default`;
  if (!REQUIRED.has(required)) return `has key "${key}" with required ${String(required)}, not 'always' or 'in use'`;
  if (minLength !== undefined && !(Number.isInteger(minLength) && Number(minLength) > 0)) {
    return `has key "${key}" whose minLength is not a whole number above 0`;
  }
  if (label !== undefined && typeof label !== 'string') return `has key "${key}" whose label is not text`;
  return undefined;
}

/** Checks a provider package's schema, and that it has every key its shared keys feed. */
export function normalizeSchema(type: string, schema: ProviderConfigSchema, keys: KeyTable): SchemaKeys {
  const invalid = (why: string) =>
    errors.providerInvalid(
      `The config schema of provider type "${type}" ${why}:`,
      'the provider package is faulty; update or replace it.',
      { details: { type } },
    );
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw invalid('is not an object of keys');
  const checked = new Map<string, ProviderConfigKey>();
  for (const [key, definition] of Object.entries(schema)) {
    const problem = keyProblem(key, definition);
    if (problem !== undefined) throw invalid(problem);
    checked.set(key, definition);
  }
  for (const shared of keys.shared.values()) {
    if (shared.section.type === type && !checked.has(shared.section.key)) {
      throw invalid(`lacks "${shared.section.key}", which its shared key ${shared.displayKey} sets`);
    }
  }
  return checked;
}

/**
 * Schemas asked of `providerSchema` once per type. `modules(type)` gives the `module` values of the
 * type's sections: one type is one package.
 */
export function schemaSource(
  providerSchema: LoadConfigOptions['providerSchema'],
  modules: (type: string) => Promise<ReadonlyMap<string, Effective>>,
  keys: KeyTable,
): SchemaSource {
  const schemas = new Map<string, Promise<SchemaKeys>>();
  const fetch = async (type: string, id: string): Promise<SchemaKeys> => {
    const named = await modules(type);
    if (named.size > 1) {
      const [first, second] = [...named.values()];
      throw errors.configInvalid(
        `Sections of provider type "${type}" name different packages in ${MODULE_KEY}` +
          ` (${[...named.keys()].join(', ')}):`,
        `one type is one package; give its sections one ${MODULE_KEY}.`,
        {
          details: {
            type,
            first: first === undefined ? undefined : formatConfigOrigin(first.origin),
            second: second === undefined ? undefined : formatConfigOrigin(second.origin),
          },
        },
      );
    }
    const [module] = named.keys();
    return normalizeSchema(type, await providerSchema(type, module === undefined ? { id } : { id, module }), keys);
  };
  return (type, id) => {
    let schema = schemas.get(type);
    if (schema === undefined) {
      schema = fetch(type, id);
      schemas.set(type, schema);
    }
    return schema;
  };
}

/** The schema of a type whose package is not installed and that no current or available provider has. */
export const UNINSTALLED_SCHEMA: SchemaKeys = new Map();

/**
 * `schemaFor`, where a type whose package is not installed is an error only when `inUse(type)`:
 * otherwise its sections are left out (UNINSTALLED_SCHEMA) and a warning says so once per type
 * (a Grafana file may carry sample sections for providers the appliance does not use).
 */
export function skippingUninstalled(
  schemaFor: SchemaSource,
  inUse: (type: string) => boolean,
  warnings: string[],
): SchemaSource {
  const warned = new Set<string>();
  return async (type, id) => {
    try {
      return await schemaFor(type, id);
    } catch (err) {
      if (!isAtrestError(err, 'ATREST_PROVIDER_NOT_INSTALLED') || inUse(type)) throw err;
      if (!warned.has(type)) {
        warned.add(type);
        const pkg = err.details?.['package'];
        warnings.push(
          `The sections of provider type ${type} (${PROVIDER_SECTION_PREFIX}${type}.*) are ignored: ` +
            `its package ${typeof pkg === 'string' ? pkg : ''} is not installed, ` +
            `and no current or available provider is a ${type}.`,
        );
      }
      return UNINSTALLED_SCHEMA;
    }
  };
}

/** Refuses a key written in a provider section (INI, options) that its provider's schema does not have. */
export async function checkSectionKeys(checks: readonly SectionKeyCheck[], schemaFor: SchemaSource): Promise<void> {
  for (const check of checks) {
    if (check.key === MODULE_KEY) continue;
    const section = `${PROVIDER_SECTION_PREFIX}${check.type}.${check.name}`;
    const schema = await schemaFor(check.type, `${check.type}.${check.name}`);
    if (schema.has(check.key) || schema === UNINSTALLED_SCHEMA) continue;
    const validKeys = [...schema.keys(), MODULE_KEY];
    const suggestion = didYouMean(check.key, validKeys);
    const fromIni = check.origin.source === 'ini';
    const where = fromIni ? `[${section}] of ${check.origin.file ?? 'the INI file'}` : `option ${section}.${check.key}`;
    throw errors.configUnknownKey(
      `Unknown key "${check.key}" in ${where}${meantHint(suggestion, true)}`,
      `Provider type ${check.type} takes: ${validKeys.join(', ')}.`,
      {
        details: {
          key: `${section}.${check.key}`,
          section,
          ...originDetails(check.origin),
          suggestion: suggestion === undefined || fromIni ? suggestion : `${section}.${suggestion}`,
          validKeys,
        },
      },
    );
  }
}
