// loadConfig, the configuration pipeline, read top to bottom: the key table (core's keys and what
// the built-in providers declare) → collectors for the INI file, the .env file, the environment and
// the options → the settings table with origins → provider ids, schemas and variables → the
// providers and sections in use → one convict validation → requirements across keys → a frozen,
// redacted AtrestConfig. Precedence: defaults < INI < .env < environment < options.
import { parse as parseDotenv } from 'dotenv';
import { errors } from '../errors.js';
import { collectVariables } from './collect-env.js';
import { collectIni } from './collect-ini.js';
import { collectOptions } from './collect-options.js';
import { parseIniSections } from './ini.js';
import type { KeyTable } from './keys.js';
import { MODULE_KEY, keyTable, sectionTableKey } from './keys.js';
import { buildLeaves } from './leaves.js';
import { readProviderVariables } from './provider-variables.js';
import { checkRequirements } from './requirements.js';
import { buildResult, sectionConfig } from './result.js';
import { checkSectionKeys, schemaSource, skippingUninstalled } from './schemas.js';
import type { Selection } from './select.js';
import { readProviderIds, selectProviders } from './select.js';
import type { Collected, SectionNames } from './settings.js';
import { mergeCollected, sectionNames, settingTable } from './settings.js';
import { readConfigFile } from './sources.js';
import type { AtrestConfig, LoadConfigOptions } from './types.js';
import { validateLeaves } from './validate.js';
import type { Effective, ValueResolver } from './values.js';
import { valueResolver } from './values.js';

const DEFAULT_APP = 'atrest';
/** The types the default rule may pick when encryption_provider is not set. */
const DEFAULT_TYPES = ['file', 'secret_key'];
const APP_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
const NOTHING: Collected = { settings: [], mentions: [], sectionKeys: [], providerVariables: [] };

function checkedApp(app: string): string {
  if (APP_PATTERN.test(app)) return app;
  throw errors.configInvalid(
    `Application name "${app}" is invalid:`,
    'use lower-case letters, digits, "_" and "-", starting with a letter or digit.',
    { details: { key: 'app', source: 'option' } },
  );
}

/** The `module` values of a type's sections (INI or options only), by package name. */
async function modulesOf(type: string, names: SectionNames, resolve: ValueResolver): Promise<Map<string, Effective>> {
  const modules = new Map<string, Effective>();
  for (const section of names.values()) {
    if (section.type !== type) continue;
    const module = await resolve(sectionTableKey(type, section.name, MODULE_KEY));
    if (module !== undefined) modules.set(module.value, module);
  }
  return modules;
}

function roleOf(id: string, selection: Selection): string | undefined {
  if (id === selection.current) return 'the encryption provider';
  return selection.available.includes(id) ? 'an available encryption provider' : undefined;
}

/** The INI and .env files' settings (a file that was given must exist), and the .env variables for `$__env{}`. */
async function collectFiles(options: LoadConfigOptions, keys: KeyTable) {
  const { configFile, envFile } = options;
  const fromIni =
    configFile === undefined
      ? NOTHING
      : collectIni(
          parseIniSections(await readConfigFile(configFile, 'configuration file', '--config')),
          configFile,
          keys,
        );
  const dotenv = envFile === undefined ? {} : parseDotenv(await readConfigFile(envFile, '.env file', '--env-file'));
  return { fromIni, dotenv, fromDotenv: collectVariables('dotenv', dotenv, keys, envFile) };
}

/** Reads, merges and validates atrest's configuration; see docs/CONFIGURATION.md. */
export async function loadConfig(options: LoadConfigOptions): Promise<AtrestConfig> {
  const app = checkedApp(options.app ?? DEFAULT_APP);
  const keys = keyTable(options.builtinProviders, app);
  const env = options.env ?? process.env;

  // Sources, lowest precedence first.
  const { fromIni, dotenv, fromDotenv } = await collectFiles(options, keys);
  const fromEnv = collectVariables('env', env, keys);
  const collected = mergeCollected([fromIni, fromDotenv, fromEnv, collectOptions(options.options ?? {}, keys)]);
  const lookupEnv = (name: string): string | undefined => env[name] ?? dotenv[name];

  // What the sources name: section keys checked against their schemas, then the provider ids.
  const named = sectionNames(collected.mentions);
  const namedValues = valueResolver(settingTable(collected.settings), named, lookupEnv);
  const ids = await readProviderIds(namedValues, keys);
  // A type no current or available provider has may be uninstalled (a sample section): a warning.
  const inUse = new Set([...(ids.current === undefined ? DEFAULT_TYPES : [ids.current.ref.type])]);
  for (const ref of ids.available) inUse.add(ref.type);
  const warnings: string[] = [];
  const schemaFor = skippingUninstalled(
    schemaSource(options.providerSchema, (type) => modulesOf(type, named, namedValues), keys),
    (type) => inUse.has(type),
    warnings,
  );
  await checkSectionKeys(collected.sectionKeys, schemaFor);

  // The provider sections' variables, now that types, names and schemas are known.
  const variables = await readProviderVariables(
    collected.providerVariables,
    sectionNames([...collected.mentions, ...ids.mentions]),
    schemaFor,
    keys,
  );
  const table = settingTable([...collected.settings, ...variables.settings]);
  const mentions = [...collected.mentions, ...variables.mentions];
  const values = valueResolver(table, sectionNames([...mentions, ...ids.mentions]), lookupEnv);

  // The providers in use and every section, validated in one schema, then what spans keys.
  const selection = await selectProviders(ids, mentions, table, values, schemaFor, keys);
  const leaves = await buildLeaves(keys, selection.sections, values);
  const validated = validateLeaves(leaves);
  const leafByKey = new Map(leaves.map((leaf) => [leaf.key, leaf]));
  const providers = new Map(
    selection.sections.map((section) => {
      const config = sectionConfig(section, validated, leafByKey, keys);
      checkRequirements(section, config, roleOf(section.id, selection), keys);
      return [section.id, config] as const;
    }),
  );
  return buildResult(app, keys, selection, leaves, validated, providers, warnings);
}
