// loadConfig: defaults < INI file < .env file < environment < explicit options, validated by one
// convict schema that is built here from atrest's own keys and the schemas of the provider
// sections present. atrest owns [security.encryption], [security.encryption.<type>.<name>] and
// [secrets_migration] (an unknown key there is an error); in the sections it shares with the host
// application ([security], [database], root keys) it reads only its own keys.
import { readFile } from 'node:fs/promises';
import convict from 'convict';
import { parse as parseDotenv } from 'dotenv';
import { AtrestError } from '../errors.js';
import type { ErrorCode, ErrorDetails } from '../errors.js';
import type { ProviderConfigKey, ProviderConfigSchema } from '../providers/contract.js';
import {
  PROVIDER_ID_ALLOWED,
  PROVIDER_NAME_PATTERN,
  PROVIDER_TYPE_PATTERN,
  TARGETS_ALLOWED,
  assertProviderId,
  formatDuration,
  keyFormat,
  parseDuration,
  parseProviderId,
  parseTargets,
  splitList,
} from './formats.js';
import type { KeyFormat } from './formats.js';
import { parseIniSections } from './ini.js';
import type { IniSections } from './ini.js';
import { describeSetting, formatConfigOrigin, originDetails } from './origin.js';
import { envSegment, expandReferences, normalizeProviderName, providerEnvName, readValueFile } from './sources.js';
import { closest, didYouMean } from './suggest.js';
import type {
  AtrestConfig,
  ConfigEntry,
  ConfigOrigin,
  LoadConfigOptions,
  ProviderSectionConfig,
  TargetSpec,
} from './types.js';

const DEFAULT_APP = 'atrest';
const APP_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
/** Types whose env variables are recognised even when nothing else names them. */
const BUILTIN_TYPES = ['file', 'secret_key', 'awskms', 'azurekv'] as const;
const PROVIDER_SECTION_PREFIX = 'security.encryption.';
const PROVIDER_ENV_INFIX = 'SECURITY_ENCRYPTION_';
/** The canonical key of the passphrase shared by [security] and secret_key.default. */
const SECRET_KEY = 'security.secret_key';
const PASSPHRASE_MIN_CHARS = 16;
const DEFAULT_TTL_MS = 15 * 60_000;
const DEFAULT_CLEANUP_MS = 60_000;
// Cache timers are plain setTimeout-style durations; a day is far beyond any useful TTL.
const MAX_TTL_MS = 24 * 3_600_000;
const SCHEMA_KEY_PATTERN = /^[a-z][a-z0-9_]*$/;
/** A key core reads in every provider section, before the provider package is even loaded. */
const MODULE_KEY = 'module';

type Layer = 'ini' | 'dotenv' | 'env' | 'option';
const LAYERS_HIGH_FIRST: readonly Layer[] = ['option', 'env', 'dotenv', 'ini'];

/** A value as found: its text, or (for `<NAME>__FILE`) the file holding it. */
type RawValue = { readonly text: string } | { readonly file: string };
type Setting = { readonly raw: RawValue; readonly origin: ConfigOrigin };
type Effective = { readonly value: string; readonly origin: ConfigOrigin };

// ---------------------------------------------------------------------------------------------
// atrest's own keys

function passphraseValidator(value: unknown): void {
  if (typeof value !== 'string') throw new Error('must be text');
  // The length is checked only where the passphrase is used (checkSectionComplete): a host file such
  // as Grafana's keeps a short legacy secret_key beside a KMS provider, and that must load.
}

/** True when a passphrase is too short; counted in characters (code points), as people count them. */
function passphraseTooShort(value: string): boolean {
  return value !== '' && [...value].length < PASSPHRASE_MIN_CHARS;
}

const PASSPHRASE_FORMAT: KeyFormat = {
  convict: passphraseValidator,
  coerce: (text) => text,
  allowed: `a passphrase of ${PASSPHRASE_MIN_CHARS} or more characters`,
  trusted: true,
};

type OwnedKey = {
  /** Dotted INI path. */
  readonly key: string;
  /** Variable names after the prefix; the first is the one shown. */
  readonly env: readonly string[];
  readonly doc: string;
  readonly format: KeyFormat;
  readonly defaultValue: string | number;
  readonly sensitive: boolean;
};

/** A duration key of [security.encryption]: more than 0, at most 24h. */
function durationKey(key: string, env: string, doc: string, defaultValue: number): OwnedKey {
  return {
    key,
    env: [env],
    doc,
    format: {
      convict: (value: unknown) => {
        if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error('must be a duration');
        if (value <= 0 || value > MAX_TTL_MS) throw new Error('must be more than 0 and at most 24h');
      },
      coerce: parseDuration,
      allowed: 'a duration such as 30s, 15m, 1h, 1h30m or a whole number of milliseconds, more than 0 and at most 24h',
      trusted: true,
    },
    defaultValue,
    sensitive: false,
  };
}

const OWNED_KEYS: readonly OwnedKey[] = [
  {
    key: 'security.encryption_provider',
    env: ['SECURITY_ENCRYPTION_PROVIDER'],
    doc: 'Provider that wraps new data keys, <type>.<name>',
    format: {
      convict: (value: unknown) => {
        if (typeof value !== 'string') throw new Error('must be text');
        if (value !== '') assertProviderId(value);
      },
      coerce: (text) => text.trim(),
      allowed: PROVIDER_ID_ALLOWED,
      trusted: true,
    },
    defaultValue: '',
    sensitive: false,
  },
  {
    key: 'security.available_encryption_providers',
    env: ['SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS'],
    doc: 'Providers usable for decryption, space or comma separated; always includes the current one',
    format: {
      convict: (value: unknown) => {
        if (typeof value !== 'string') throw new Error('must be text');
        for (const id of splitList(value)) assertProviderId(id);
      },
      coerce: (text) => text,
      allowed: `provider ids separated by spaces or commas, each ${PROVIDER_ID_ALLOWED}`,
      trusted: true,
    },
    defaultValue: '',
    sensitive: false,
  },
  {
    key: SECRET_KEY,
    env: ['ENCRYPTION_SECRET_KEY', 'SECURITY_SECRET_KEY'],
    doc: `Passphrase of the secret_key.default provider (${PASSPHRASE_MIN_CHARS}+ characters)`,
    format: PASSPHRASE_FORMAT,
    defaultValue: '',
    sensitive: true,
  },
  durationKey(
    'security.encryption.data_keys_cache_ttl',
    'SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL',
    'How long unwrapped data keys stay in memory',
    DEFAULT_TTL_MS,
  ),
  durationKey(
    'security.encryption.data_keys_cache_cleanup_interval',
    'SECURITY_ENCRYPTION_DATA_KEYS_CACHE_CLEANUP_INTERVAL',
    "How often expired data keys are dropped from memory (Grafana's key of the same name)",
    DEFAULT_CLEANUP_MS,
  ),
  {
    key: 'database.path',
    env: ['DATABASE_PATH'],
    doc: 'Path of the application database (SQLite)',
    format: keyFormat(String, ''),
    defaultValue: '',
    sensitive: false,
  },
  {
    key: 'database.url',
    env: ['DATABASE_URL'],
    doc: 'URL of the application database',
    format: {
      convict: (value: unknown) => {
        if (typeof value !== 'string' || (value !== '' && !URL.canParse(value)))
          throw new Error('must be an absolute URL');
      },
      coerce: (text) => text,
      allowed: 'an absolute URL such as postgres://user@host:5432/db?sslmode=verify-full',
      trusted: true,
    },
    // A database URL commonly carries a password.
    defaultValue: '',
    sensitive: true,
  },
  {
    key: 'secrets_migration.targets',
    env: ['SECRETS_MIGRATION_TARGETS'],
    doc: "The application's encrypted columns, table.column[:json]",
    format: {
      convict: (value: unknown) => {
        if (typeof value !== 'string') throw new Error('must be text');
        parseTargets(value);
      },
      coerce: (text) => text,
      allowed: TARGETS_ALLOWED,
      trusted: true,
    },
    defaultValue: '',
    sensitive: false,
  },
];

const OWNED_BY_KEY = new Map(OWNED_KEYS.map((owned) => [owned.key, owned]));
/** Sections whose every key is atrest's: an unknown key there is an error. */
const OWNED_SECTIONS = new Set(['security.encryption', 'secrets_migration']);
/** Sections atrest shares with the host application: only atrest's keys are read. */
const SHARED_SECTIONS = new Set(['', 'security', 'database']);

function splitKey(key: string): { section: string; name: string } {
  const dot = key.lastIndexOf('.');
  return { section: key.slice(0, dot), name: key.slice(dot + 1) };
}

// ---------------------------------------------------------------------------------------------
// Provider schemas

type SchemaKeys = ReadonlyMap<string, ProviderConfigKey>;

/** Checks a provider package's schema and adds the keys core itself feeds (key_path, secret_key). */
function normalizeSchema(type: string, schema: ProviderConfigSchema): SchemaKeys {
  const invalid = (why: string): AtrestError =>
    new AtrestError(
      'ATREST_PROVIDER_INVALID',
      `The config schema of provider type "${type}" ${why}: the provider package is faulty; update or replace it.`,
      {
        details: { type },
      },
    );
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw invalid('is not an object of keys');
  const keys = new Map<string, ProviderConfigKey>();
  for (const [key, definition] of Object.entries(schema)) {
    if (!SCHEMA_KEY_PATTERN.test(key))
      throw invalid(`has key "${key}"; keys are lower-case letters, digits and "_", starting with a letter`);
    if (key === MODULE_KEY) throw invalid(`declares "${MODULE_KEY}", which core reserves for the package name`);
    const shape: unknown = definition;
    if (
      typeof shape !== 'object' ||
      shape === null ||
      !('default' in shape) ||
      typeof (shape as { doc?: unknown }).doc !== 'string'
    ) {
      throw invalid(`has key "${key}" without a doc string and a default`);
    }
    keys.set(key, definition);
  }
  // Core gives these built-in keys their values from shared keys, so they must exist whatever the package says.
  if (type === 'file' && !keys.has('key_path'))
    keys.set('key_path', { doc: 'Path of the key file', format: String, default: '' });
  if (type === 'secret_key') {
    const declared = keys.get('secret_key');
    keys.set('secret_key', { doc: declared?.doc ?? 'Passphrase', format: String, default: '', sensitive: true });
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Errors

function unknownKeyError(message: string, details: ErrorDetails): AtrestError {
  return new AtrestError('ATREST_CONFIG_UNKNOWN_KEY', message, { details });
}

/** One invalid value, for ATREST_CONFIG_INVALID. */
type Problem = { key: string; origin: ConfigOrigin; text: string; allowed: string };

function problemText(key: string, origin: ConfigOrigin, reason: string | undefined, allowed: string): string {
  return `Invalid value for ${key} (${describeSetting(key, origin)})${reason === undefined ? '' : `: ${reason}`}. Allowed: ${allowed}.`;
}

function invalidError(problems: readonly Problem[]): AtrestError {
  const first = problems[0];
  if (first === undefined) return new AtrestError('ATREST_CONFIG_INVALID', 'The configuration is invalid.');
  const message =
    problems.length === 1
      ? first.text
      : `${problems.length} configuration values are invalid:\n${problems.map((p) => `- ${p.text}`).join('\n')}`;
  return new AtrestError('ATREST_CONFIG_INVALID', message, {
    details: {
      key: first.key,
      ...originDetails(first.origin),
      allowed: first.allowed,
      problems: problems.map((p) => p.text),
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Reading files

async function readConfigFile(path: string, what: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'is not readable by this user'
          : code === 'EISDIR'
            ? 'is a directory'
            : `cannot be read (${code ?? 'error'})`;
    throw new AtrestError('ATREST_CONFIG_FILE', `The ${what} ${path} ${why}: fix ${flag} or create the file.`, {
      cause,
      details: { path },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The settings found, by canonical key and layer

class SettingTable {
  private readonly byKey = new Map<string, Map<Layer, Setting>>();

  /** Records a value; two different values for one key in one source (aliases) are an error. */
  add(key: string, displayKey: string, layer: Layer, setting: Setting): void {
    let layers = this.byKey.get(key);
    if (layers === undefined) {
      layers = new Map();
      this.byKey.set(key, layers);
    }
    const existing = layers.get(layer);
    if (existing !== undefined) {
      if (JSON.stringify(existing.raw) === JSON.stringify(setting.raw)) return;
      throw new AtrestError(
        'ATREST_CONFIG_INVALID',
        `${displayKey} is set twice with different values: by ${describeSetting(displayKey, existing.origin)} and by ${describeSetting(displayKey, setting.origin)}. Keep one of them.`,
        { details: { key: displayKey, ...originDetails(setting.origin), other: formatConfigOrigin(existing.origin) } },
      );
    }
    layers.set(layer, setting);
  }

  get(key: string): ReadonlyMap<Layer, Setting> | undefined {
    return this.byKey.get(key);
  }
}

/** A provider section's key, as written in the INI file or options, checked once the schema is known. */
type SectionKeyCheck = { type: string; name: string; key: string; origin: ConfigOrigin };
/** A variable under <APP>_SECURITY_ENCRYPTION_, parsed once provider types and schemas are known. */
type PendingVariable = {
  layer: Layer;
  base: string;
  rest: string;
  raw: RawValue;
  origin: ConfigOrigin;
  viaFile: boolean;
};
/** How a provider section is spelt: the INI section wins, then options, then encryption_provider values, then env. */
type SectionName = { type: string; name: string; rank: number };

const RANK_INI = 0;
const RANK_OPTION = 1;
const RANK_ID = 2;
const RANK_ENV = 3;
const RANK_IMPLIED = 4;

/** A convict leaf with everything needed to report on it. */
type Leaf = {
  convictPath: string;
  key: string;
  env: string | undefined;
  doc: string;
  format: KeyFormat;
  defaultValue: unknown;
  sensitive: boolean;
  effective: Effective | undefined;
  /** `module` is listed by `config show` only when set: unset, it means the conventional package. */
  listedOnlyWhenSet: boolean;
};

type ConvictTree = { [key: string]: ConvictTree | Record<string, unknown> };

function setPath(tree: ConvictTree, path: readonly string[], value: Record<string, unknown> | unknown): void {
  let node: Record<string, unknown> = tree;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (typeof next === 'object' && next !== null) {
      node = next as Record<string, unknown>;
    } else {
      const created: Record<string, unknown> = {};
      node[segment] = created;
      node = created;
    }
  }
  node[path[path.length - 1] ?? ''] = value;
}

/** A provider section about to be validated against its provider's schema. */
type SectionToValidate = { id: string; type: string; name: string; norm: string; schema: SchemaKeys };

function originOf(leaf: Leaf | undefined): ConfigOrigin {
  return leaf?.effective?.origin ?? { source: 'default' };
}

function entryValue(value: unknown): string | number | boolean | readonly string[] {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item) => String(item));
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

class ConfigLoader {
  private readonly app: string;
  private readonly envPrefix: string;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private dotenvVars: Readonly<Record<string, string>> = {};
  private readonly table = new SettingTable();
  /** Provider table key → its parts. */
  private readonly providerKeys = new Map<string, { type: string; norm: string; key: string }>();
  /** Normalised id (`type.normalised_name`) → spelling. */
  private readonly names = new Map<string, SectionName>();
  /** Normalised ids of the sections that exist in some source. */
  private readonly withSection = new Set<string>();
  private readonly sectionKeyChecks: SectionKeyCheck[] = [];
  private readonly pending: PendingVariable[] = [];
  private readonly schemas = new Map<string, Promise<SchemaKeys>>();
  private readonly resolved = new Map<string, Promise<Effective | undefined>>();
  private readonly fixedEnv: ReadonlyMap<string, string>;

  constructor(private readonly options: LoadConfigOptions) {
    const app = options.app ?? DEFAULT_APP;
    if (!APP_PATTERN.test(app)) {
      throw new AtrestError(
        'ATREST_CONFIG_INVALID',
        `Application name "${app}" is invalid: use lower-case letters, digits, "_" and "-", starting with a letter or digit.`,
        {
          details: { key: 'app', source: 'option' },
        },
      );
    }
    this.app = app;
    this.envPrefix = `${envSegment(app)}_`;
    this.env = options.env ?? process.env;
    const fixed = new Map<string, string>();
    for (const owned of OWNED_KEYS) for (const name of owned.env) fixed.set(name, owned.key);
    this.fixedEnv = fixed;
  }

  async load(): Promise<AtrestConfig> {
    if (this.options.configFile !== undefined) {
      const text = await readConfigFile(this.options.configFile, 'configuration file', '--config');
      this.collectIni(parseIniSections(text), this.options.configFile);
    }
    if (this.options.envFile !== undefined) {
      const text = await readConfigFile(this.options.envFile, '.env file', '--env-file');
      this.dotenvVars = parseDotenv(text);
      this.collectVariables('dotenv', this.dotenvVars);
    }
    this.collectVariables('env', this.env);
    this.collectOptions(this.options.options ?? {});

    await this.checkSectionKeys();
    const idSources = await this.providerIdSources();
    await this.parsePendingVariables();

    const { current, currentSource, available, sections } = await this.selectProviders(idSources);
    const leaves = await this.buildLeaves(sections);
    const values = this.validate(leaves);

    const dataKeysCacheTtlMs = values.get('security.encryption.data_keys_cache_ttl');
    const cleanupMs = values.get('security.encryption.data_keys_cache_cleanup_interval');
    const targets: TargetSpec[] = parseTargets(String(values.get('secrets_migration.targets') ?? ''));
    const databasePath = String(values.get('database.path') ?? '');
    const databaseUrl = String(values.get('database.url') ?? '');
    const leafByKey = new Map(leaves.map((leaf) => [leaf.key, leaf]));

    const providers = new Map<string, ProviderSectionConfig>();
    for (const section of sections) {
      const sectionValues: Record<string, unknown> = {};
      const origins: Record<string, ConfigOrigin> = {};
      for (const key of section.schema.keys()) {
        const path = this.sectionKeyPath(section.type, section.name, section.norm, key);
        sectionValues[key] = values.get(path);
        origins[key] = originOf(leafByKey.get(path));
      }
      const moduleValue = values.get(`${PROVIDER_SECTION_PREFIX}${section.id}.${MODULE_KEY}`);
      const config: ProviderSectionConfig = {
        id: section.id,
        type: section.type,
        name: section.name,
        values: sectionValues,
        origins,
      };
      if (typeof moduleValue === 'string' && moduleValue !== '') config.module = moduleValue;
      providers.set(section.id, config);
      this.checkSectionComplete(config, current, available);
    }

    // What `config show` lists: the effective values, after the default rule and parsing.
    const shown = new Map<string, unknown>([
      ['security.encryption_provider', current],
      ['security.available_encryption_providers', available],
      ['security.encryption.data_keys_cache_ttl', formatDuration(Number(dataKeysCacheTtlMs))],
      ['security.encryption.data_keys_cache_cleanup_interval', formatDuration(Number(cleanupMs))],
      ['secrets_migration.targets', targets.map((target) => target.spec)],
    ]);
    const entries: ConfigEntry[] = [];
    for (const leaf of leaves) {
      const value = shown.has(leaf.key) ? shown.get(leaf.key) : values.get(leaf.key);
      if (leaf.listedOnlyWhenSet && value === '') continue;
      const origin =
        leaf.key === 'security.encryption_provider' && currentSource === undefined
          ? { source: 'default' as const }
          : originOf(leaf);
      const entry: ConfigEntry = { key: leaf.key, value: entryValue(value), origin, sensitive: leaf.sensitive };
      if (leaf.env !== undefined) entry.env = leaf.env;
      entries.push(entry);
    }

    return {
      app: this.app,
      envPrefix: this.envPrefix,
      encryptionProvider: current,
      availableProviders: available,
      dataKeysCacheTtlMs: typeof dataKeysCacheTtlMs === 'number' ? dataKeysCacheTtlMs : DEFAULT_TTL_MS,
      dataKeysCacheCleanupIntervalMs: typeof cleanupMs === 'number' ? cleanupMs : DEFAULT_CLEANUP_MS,
      database: {
        path: databasePath === '' ? undefined : databasePath,
        url: databaseUrl === '' ? undefined : databaseUrl,
      },
      targets,
      providers,
      entries,
    };
  }

  /** The current provider (default rule applied), the available ones, and every section to validate. */
  private async selectProviders(idSources: { current: Effective | undefined; available: readonly string[] }): Promise<{
    current: string;
    currentSource: Effective | undefined;
    available: string[];
    sections: SectionToValidate[];
  }> {
    const secret = await this.effective(SECRET_KEY);
    const currentSource = idSources.current;
    const currentId = currentSource?.value ?? (secret !== undefined ? 'secret_key.default' : 'file.default');
    if (secret !== undefined) this.registerName('secret_key', 'default', RANK_IMPLIED);
    const currentParsed = parseProviderId(currentId);
    if (currentParsed !== undefined) this.registerName(currentParsed.type, currentParsed.name, RANK_IMPLIED);
    const current = this.canonicalId(currentId);
    const available = [current];
    for (const id of idSources.available) {
      const canonical = this.canonicalId(id);
      if (!available.includes(canonical)) available.push(canonical);
    }

    // Current and available first, then a configured passphrase, then every section some source has.
    const ids: string[] = [...available];
    if (secret !== undefined) ids.push(this.canonicalId('secret_key.default'));
    for (const normId of [...this.withSection].sort()) {
      const info = this.names.get(normId);
      if (info !== undefined) ids.push(`${info.type}.${info.name}`);
    }
    const sections: SectionToValidate[] = [];
    for (const id of new Set(ids)) {
      const parsed = parseProviderId(id);
      if (parsed === undefined) continue; // every id was checked before; kept for the type checker
      sections.push({
        id,
        ...parsed,
        norm: normalizeProviderName(parsed.name),
        schema: await this.schemaFor(parsed.type, id),
      });
    }
    return { current, currentSource, available, sections };
  }

  // ----- collecting raw settings -----------------------------------------------------------------

  private collectIni(sections: IniSections, file: string): void {
    for (const [section, values] of sections) {
      const origin = (key: string): ConfigOrigin => ({ source: 'ini', file, section, key });
      if (SHARED_SECTIONS.has(section) || OWNED_SECTIONS.has(section)) {
        for (const [key, value] of values) {
          const path = section === '' ? key : `${section}.${key}`;
          const owned = OWNED_BY_KEY.get(path);
          if (owned !== undefined && section !== '') {
            this.addSetting(owned.key, owned.key, 'ini', { raw: { text: value }, origin: origin(key) });
          } else if (OWNED_SECTIONS.has(section)) {
            const known = OWNED_KEYS.filter((k) => splitKey(k.key).section === section).map(
              (k) => splitKey(k.key).name,
            );
            const suggestion = didYouMean(key, known);
            throw unknownKeyError(
              `Unknown key "${key}" in [${section}] of ${file}${suggestion === undefined ? '' : `: did you mean "${suggestion}"?`} [${section}] belongs to atrest and takes only: ${known.join(', ')}.`,
              { key: `${section}.${key}`, ...originDetails(origin(key)), suggestion, validKeys: known },
            );
          }
          // Any other key of a shared section is the host application's.
        }
        continue;
      }
      if (!section.startsWith(PROVIDER_SECTION_PREFIX)) continue; // the host application's section
      const parts = section.slice(PROVIDER_SECTION_PREFIX.length).split('.');
      const [type = '', name] = parts;
      if (parts.length === 1 && PROVIDER_TYPE_PATTERN.test(type)) {
        throw new AtrestError(
          'ATREST_CONFIG_INVALID',
          `Section [${section}] in ${file} has no provider name: write [${section}.<name>], e.g. [${section}.main], and refer to it as ${type}.main.`,
          { details: { section, file, source: 'ini' } },
        );
      }
      if (
        parts.length !== 2 ||
        name === undefined ||
        !PROVIDER_TYPE_PATTERN.test(type) ||
        !PROVIDER_NAME_PATTERN.test(name)
      ) {
        throw new AtrestError(
          'ATREST_CONFIG_INVALID',
          `Section [${section}] in ${file} is not a provider section: write [security.encryption.<type>.<name>], with ${PROVIDER_ID_ALLOWED}.`,
          { details: { section, file, source: 'ini' } },
        );
      }
      this.registerName(type, name, RANK_INI, { source: 'ini', file, section });
      this.withSection.add(`${type}.${normalizeProviderName(name)}`);
      for (const [key, value] of values) {
        this.sectionKeyChecks.push({ type, name, key, origin: origin(key) });
        this.addProviderSetting(type, name, key, 'ini', { text: value }, origin(key));
      }
    }
  }

  private collectVariables(layer: 'dotenv' | 'env', vars: Readonly<Record<string, string | undefined>>): void {
    const prefix = this.envPrefix;
    for (const [variable, value] of Object.entries(vars)) {
      if (value === undefined || value === '') continue;
      const viaFile = variable.endsWith('__FILE');
      const base = viaFile ? variable.slice(0, -'__FILE'.length) : variable;
      if (!base.startsWith(prefix)) continue;
      const rest = base.slice(prefix.length);
      const fixed = this.fixedEnv.get(rest);
      const isKeyPath = rest === 'ENCRYPTION_KEY_PATH';
      const isProvider = fixed === undefined && rest.startsWith(PROVIDER_ENV_INFIX);
      const isOwned = rest.startsWith('SECRETS_MIGRATION_') || rest.startsWith('ENCRYPTION_');
      if (fixed === undefined && !isKeyPath && !isProvider && !isOwned) continue; // the host application's variable

      const origin: ConfigOrigin = { source: layer, variable };
      if (layer === 'dotenv' && this.options.envFile !== undefined) origin.file = this.options.envFile;
      if (viaFile) origin.valueFile = value;
      if (viaFile) {
        const plain = vars[base];
        if (plain !== undefined && plain !== '') {
          throw new AtrestError(
            'ATREST_CONFIG_INVALID',
            `Both ${base} and ${variable} are set${layer === 'dotenv' ? ` in ${this.options.envFile ?? '.env'}` : ''}: keep one of them.`,
            {
              details: { ...originDetails(origin), key: base },
            },
          );
        }
      }
      const raw: RawValue = viaFile ? { file: value } : { text: value };
      if (fixed !== undefined) {
        this.addSetting(fixed, fixed, layer, { raw, origin });
      } else if (isKeyPath) {
        this.registerName('file', 'default', RANK_ENV);
        this.withSection.add('file.default');
        this.addProviderSetting('file', 'default', 'key_path', layer, raw, origin);
      } else if (isProvider) {
        this.pending.push({ layer, base, rest, raw, origin, viaFile });
      } else {
        const candidates = [...this.fixedEnv.keys(), 'ENCRYPTION_KEY_PATH'].map((name) => prefix + name);
        const suggestion = didYouMean(base, candidates);
        throw unknownKeyError(
          `${describeSetting(base, origin)} is not an atrest setting${suggestion === undefined ? '' : `: did you mean ${suggestion}${viaFile ? '__FILE' : ''}?`}`,
          {
            ...originDetails(origin),
            key: variable,
            suggestion: suggestion === undefined ? undefined : suggestion + (viaFile ? '__FILE' : ''),
          },
        );
      }
    }
  }

  private collectOptions(options: Readonly<Record<string, string>>): void {
    for (const [key, value] of Object.entries(options)) {
      const origin: ConfigOrigin = { source: 'option', key };
      const owned = OWNED_BY_KEY.get(key);
      if (owned !== undefined) {
        this.addSetting(owned.key, owned.key, 'option', { raw: { text: value }, origin });
        continue;
      }
      const parts = key.startsWith(PROVIDER_SECTION_PREFIX) ? key.slice(PROVIDER_SECTION_PREFIX.length).split('.') : [];
      const [type = '', name = '', sectionKey = ''] = parts;
      if (parts.length === 3 && type !== '' && name !== '' && sectionKey !== '') {
        if (!PROVIDER_TYPE_PATTERN.test(type) || !PROVIDER_NAME_PATTERN.test(name)) {
          throw new AtrestError(
            'ATREST_CONFIG_INVALID',
            `Option ${key} does not name a provider section: write security.encryption.<type>.<name>.<key>, with ${PROVIDER_ID_ALLOWED}.`,
            {
              details: { key, source: 'option' },
            },
          );
        }
        this.registerName(type, name, RANK_OPTION);
        this.withSection.add(`${type}.${normalizeProviderName(name)}`);
        this.sectionKeyChecks.push({ type, name, key: sectionKey, origin });
        this.addProviderSetting(type, name, sectionKey, 'option', { text: value }, origin);
        continue;
      }
      const suggestion = didYouMean(
        key,
        OWNED_KEYS.map((k) => k.key),
      );
      throw unknownKeyError(
        `Option ${key} is not an atrest setting${suggestion === undefined ? '' : `: did you mean ${suggestion}?`} Options are keyed by dotted INI path, e.g. security.encryption_provider or security.encryption.file.default.key_path.`,
        { key, source: 'option', suggestion },
      );
    }
  }

  private addSetting(key: string, displayKey: string, layer: Layer, setting: Setting): void {
    // An empty value means "not set here": the next source down (or the default) applies.
    if ('text' in setting.raw && setting.raw.text === '') return;
    this.table.add(key, displayKey, layer, setting);
  }

  private addProviderSetting(
    type: string,
    name: string,
    key: string,
    layer: Layer,
    raw: RawValue,
    origin: ConfigOrigin,
  ): void {
    const norm = normalizeProviderName(name);
    const tableKey = this.sectionTableKey(type, norm, key);
    if (tableKey !== SECRET_KEY) this.providerKeys.set(tableKey, { type, norm, key });
    this.addSetting(tableKey, `${PROVIDER_SECTION_PREFIX}${type}.${name}.${key}`, layer, { raw, origin });
  }

  private sectionTableKey(type: string, norm: string, key: string): string {
    // secret_key.default's passphrase is [security] secret_key under another name.
    if (type === 'secret_key' && norm === 'default' && key === 'secret_key') return SECRET_KEY;
    return `${PROVIDER_SECTION_PREFIX}${type}.${norm}.${key}`;
  }

  /** The dotted key of a section's key as shown (secret_key.default's passphrase is security.secret_key). */
  private sectionKeyPath(type: string, name: string, norm: string, key: string): string {
    const tableKey = this.sectionTableKey(type, norm, key);
    return tableKey === SECRET_KEY ? SECRET_KEY : `${PROVIDER_SECTION_PREFIX}${type}.${name}.${key}`;
  }

  private registerName(type: string, name: string, rank: number, origin?: ConfigOrigin): void {
    const normId = `${type}.${normalizeProviderName(name)}`;
    const existing = this.names.get(normId);
    if (existing !== undefined && rank === RANK_INI && existing.rank === RANK_INI && existing.name !== name) {
      throw new AtrestError(
        'ATREST_CONFIG_INVALID',
        `Sections [security.encryption.${type}.${existing.name}] and [security.encryption.${type}.${name}]${origin?.file === undefined ? '' : ` in ${origin.file}`} are the same provider (names compare case-insensitively, "-" and "_" alike): merge them.`,
        {
          details: {
            section: `security.encryption.${type}.${name}`,
            ...(origin === undefined ? {} : originDetails(origin)),
          },
        },
      );
    }
    if (existing === undefined || rank < existing.rank) this.names.set(normId, { type, name, rank });
  }

  /** A provider id spelt as its section is (names compare case-insensitively, '-' and '_' alike). */
  private canonicalId(id: string): string {
    const parsed = parseProviderId(id);
    if (parsed === undefined) return id;
    const info = this.names.get(`${parsed.type}.${normalizeProviderName(parsed.name)}`);
    return `${parsed.type}.${info?.name ?? parsed.name}`;
  }

  // ----- values ------------------------------------------------------------------------------------

  private lookupEnv = (name: string): string | undefined => this.env[name] ?? this.dotenvVars[name];

  /** The value a key takes: the highest source with a non-empty value, expansions done. */
  private effective(key: string): Promise<Effective | undefined> {
    let result = this.resolved.get(key);
    if (result === undefined) {
      result = this.computeEffective(key);
      this.resolved.set(key, result);
    }
    return result;
  }

  private async computeEffective(key: string): Promise<Effective | undefined> {
    const layers = this.table.get(key);
    if (layers === undefined) return undefined;
    const displayKey = this.displayKey(key);
    for (const layer of LAYERS_HIGH_FIRST) {
      const setting = layers.get(layer);
      if (setting === undefined) continue;
      const { origin } = setting;
      let found: Effective;
      if ('file' in setting.raw) {
        // The file is the value, taken as is.
        const value = await readValueFile(setting.raw.file, `named by ${origin.variable ?? displayKey}`, {
          key: displayKey,
          ...originDetails(origin),
        });
        found = { value, origin };
      } else {
        const { value, references } = await expandReferences(setting.raw.text, displayKey, origin, this.lookupEnv);
        found = { value, origin: references.length > 0 ? { ...origin, references } : origin };
      }
      if (found.value !== '') return found;
    }
    return undefined;
  }

  private displayKey(tableKey: string): string {
    const parts = this.providerKeys.get(tableKey);
    if (parts === undefined) return tableKey;
    const name = this.names.get(`${parts.type}.${parts.norm}`)?.name ?? parts.norm;
    return `${PROVIDER_SECTION_PREFIX}${parts.type}.${name}.${parts.key}`;
  }

  // ----- provider ids, schemas and env sections --------------------------------------------------

  /** encryption_provider and available_encryption_providers as set (not defaulted), checked as ids. */
  private async providerIdSources(): Promise<{ current: Effective | undefined; available: string[] }> {
    const check = (key: string, effective: Effective, ids: readonly string[]): void => {
      const owned = OWNED_BY_KEY.get(key);
      for (const id of ids) {
        try {
          assertProviderId(id);
        } catch (cause) {
          throw invalidError([
            {
              key,
              origin: effective.origin,
              text: problemText(
                key,
                effective.origin,
                (cause as Error).message,
                owned?.format.allowed ?? PROVIDER_ID_ALLOWED,
              ),
              allowed: owned?.format.allowed ?? PROVIDER_ID_ALLOWED,
            },
          ]);
        }
        const parsed = parseProviderId(id);
        if (parsed !== undefined) this.registerName(parsed.type, parsed.name, RANK_ID);
      }
    };
    const current = await this.effective('security.encryption_provider');
    const trimmedCurrent = current === undefined ? undefined : { ...current, value: current.value.trim() };
    if (trimmedCurrent !== undefined) check('security.encryption_provider', trimmedCurrent, [trimmedCurrent.value]);
    const availableSetting = await this.effective('security.available_encryption_providers');
    const available = availableSetting === undefined ? [] : splitList(availableSetting.value);
    if (availableSetting !== undefined) check('security.available_encryption_providers', availableSetting, available);
    return { current: trimmedCurrent?.value === '' ? undefined : trimmedCurrent, available };
  }

  private schemaFor(type: string, id: string): Promise<SchemaKeys> {
    let schema = this.schemas.get(type);
    if (schema === undefined) {
      schema = this.fetchSchema(type, id);
      this.schemas.set(type, schema);
    }
    return schema;
  }

  private async fetchSchema(type: string, id: string): Promise<SchemaKeys> {
    // The `module` of the type's sections tells the loader which package to ask.
    const modules = new Map<string, Effective>();
    for (const [normId, info] of this.names) {
      if (info.type !== type) continue;
      const module = await this.effective(`${PROVIDER_SECTION_PREFIX}${normId}.${MODULE_KEY}`);
      if (module !== undefined) modules.set(module.value, module);
    }
    if (modules.size > 1) {
      const [first, second] = [...modules.values()];
      throw new AtrestError(
        'ATREST_CONFIG_INVALID',
        `Sections of provider type "${type}" name different packages in ${MODULE_KEY} (${[...modules.keys()].join(', ')}): one type is one package.`,
        {
          details: {
            type,
            first: first === undefined ? undefined : formatConfigOrigin(first.origin),
            second: second === undefined ? undefined : formatConfigOrigin(second.origin),
          },
        },
      );
    }
    const module = [...modules.keys()][0];
    const raw = await this.options.providerSchema(type, module === undefined ? { id } : { id, module });
    return normalizeSchema(type, raw);
  }

  private async checkSectionKeys(): Promise<void> {
    for (const check of this.sectionKeyChecks) {
      const section = `${PROVIDER_SECTION_PREFIX}${check.type}.${check.name}`;
      if (check.key === MODULE_KEY) continue;
      const schema = await this.schemaFor(check.type, `${check.type}.${check.name}`);
      if (schema.has(check.key)) continue;
      const validKeys = [...schema.keys(), MODULE_KEY];
      const suggestion = didYouMean(check.key, validKeys);
      const hint = suggestion === undefined ? '' : `: did you mean "${suggestion}"?`;
      const where =
        check.origin.source === 'ini'
          ? `[${section}] of ${check.origin.file ?? 'the INI file'}`
          : `option ${section}.${check.key}`;
      throw unknownKeyError(
        `Unknown key "${check.key}" in ${where}${hint} Provider type ${check.type} takes: ${validKeys.join(', ')}.`,
        {
          key: `${section}.${check.key}`,
          section,
          ...originDetails(check.origin),
          suggestion:
            suggestion === undefined
              ? undefined
              : check.origin.source === 'option'
                ? `${section}.${suggestion}`
                : suggestion,
          validKeys,
        },
      );
    }
  }

  /** Parses <APP>_SECURITY_ENCRYPTION_<TYPE>_<NAME>_<KEY> variables, now that types and names are known. */
  private async parsePendingVariables(): Promise<void> {
    for (const variable of this.pending) {
      const tail = variable.rest.slice(PROVIDER_ENV_INFIX.length).toUpperCase();
      const knownTypes = new Set<string>(BUILTIN_TYPES);
      for (const info of this.names.values()) knownTypes.add(info.type);
      const type = [...knownTypes]
        .sort((a, b) => b.length - a.length)
        .find((t) => tail.startsWith(`${envSegment(t)}_`));
      if (type === undefined) {
        const candidates = [...this.fixedEnv.keys()].map((name) => this.envPrefix + name);
        const suggestion = didYouMean(variable.base, candidates);
        throw unknownKeyError(
          `${describeSetting(variable.base, variable.origin)} is not an atrest setting${suggestion === undefined ? '' : `: did you mean ${suggestion}${variable.viaFile ? '__FILE' : ''}?`}` +
            ` [security.encryption] takes data_keys_cache_ttl and data_keys_cache_cleanup_interval, and <APP>_SECURITY_ENCRYPTION_<TYPE>_<NAME>_<KEY> variables need a known provider type (${[...knownTypes].join(', ')});` +
            ' a third-party type is known once encryption_provider, available_encryption_providers or an INI section names it.',
          {
            ...originDetails(variable.origin),
            key: variable.origin.variable,
            suggestion: suggestion === undefined ? undefined : suggestion + (variable.viaFile ? '__FILE' : ''),
          },
        );
      }
      const typeSegment = envSegment(type);
      const nameAndKey = tail.slice(typeSegment.length + 1);
      const knownNames = new Set(
        [...this.names.values()].filter((info) => info.type === type).map((info) => normalizeProviderName(info.name)),
      );
      const guessName = nameAndKey.split('_')[0]?.toLowerCase() ?? '';
      const schema = await this.schemaFor(type, `${type}.${guessName}`);
      const splits: { name: string; key: string }[] = [];
      for (const key of schema.keys()) {
        const suffix = `_${envSegment(key)}`;
        if (!nameAndKey.endsWith(suffix)) continue;
        const name = nameAndKey.slice(0, -suffix.length);
        if (/^[A-Z0-9][A-Z0-9_]*$/.test(name)) splits.push({ name: name.toLowerCase(), key });
      }
      const onKnownName = splits.filter((split) => knownNames.has(normalizeProviderName(split.name)));
      const pick = (onKnownName.length > 0 ? onKnownName : splits).sort((a, b) => b.key.length - a.key.length)[0];
      if (pick === undefined) throw this.unknownProviderVariable(variable, type, nameAndKey, schema, knownNames);
      this.registerName(type, pick.name, RANK_ENV);
      this.withSection.add(`${type}.${normalizeProviderName(pick.name)}`);
      this.addProviderSetting(type, pick.name, pick.key, variable.layer, variable.raw, variable.origin);
    }
  }

  private unknownProviderVariable(
    variable: PendingVariable,
    type: string,
    nameAndKey: string,
    schema: SchemaKeys,
    knownNames: ReadonlySet<string>,
  ): AtrestError {
    const segments = nameAndKey.split('_');
    let best: { name: string; keyPart: string; suggestion: string | undefined; score: number } | undefined;
    for (let i = 1; i < segments.length; i++) {
      const name = segments.slice(0, i).join('_').toLowerCase();
      const keyPart = segments.slice(i).join('_').toLowerCase();
      const match = closest(keyPart, schema.keys());
      // Prefer a split on a section name that exists, then the closest key.
      const score = (knownNames.has(name) ? 0 : 1000) + (match?.distance ?? 100);
      if (best === undefined || score < best.score) best = { name, keyPart, suggestion: match?.candidate, score };
    }
    const name = best?.name ?? nameAndKey.toLowerCase();
    const section = `${PROVIDER_SECTION_PREFIX}${type}.${name}`;
    const suggestedVariable =
      best?.suggestion === undefined
        ? undefined
        : providerEnvName(this.envPrefix, type, name, best.suggestion) + (variable.viaFile ? '__FILE' : '');
    const validKeys = [...schema.keys()];
    return unknownKeyError(
      `${describeSetting(variable.base, variable.origin)} names no key of provider type ${type}` +
        `${best === undefined ? '' : ` (read as section [${section}], key "${best.keyPart}")`}` +
        `${suggestedVariable === undefined ? '' : `: did you mean ${suggestedVariable}?`}` +
        ` Keys of ${type}: ${validKeys.join(', ')} (as ${this.envPrefix}SECURITY_ENCRYPTION_${envSegment(type)}_<NAME>_<KEY>).`,
      {
        ...originDetails(variable.origin),
        key: variable.origin.variable,
        section,
        suggestion: suggestedVariable,
        validKeys,
      },
    );
  }

  // ----- the convict schema ----------------------------------------------------------------------

  private async buildLeaves(sections: readonly SectionToValidate[]): Promise<Leaf[]> {
    const leaves: Leaf[] = [];
    for (const owned of OWNED_KEYS) {
      leaves.push({
        convictPath: owned.key,
        key: owned.key,
        env: `${this.envPrefix}${owned.env[0] ?? ''}`,
        doc: owned.doc,
        format: owned.format,
        defaultValue: owned.defaultValue,
        sensitive: owned.sensitive,
        effective: await this.effective(owned.key),
        listedOnlyWhenSet: false,
      });
    }
    let index = 0;
    for (const section of sections) {
      // Provider sections live under one internal node, one segment per section and per key, so that
      // a name such as `default` cannot be taken by convict for a schema property of its own.
      const node = `providers.s${index++}`;
      const isFileDefault = section.type === 'file' && section.norm === 'default';
      const moduleKey = `${PROVIDER_SECTION_PREFIX}${section.id}.${MODULE_KEY}`;
      leaves.push({
        convictPath: `${node}.k_${MODULE_KEY}`,
        key: moduleKey,
        env: undefined,
        doc: 'npm package of the provider, when not the conventional name',
        format: keyFormat(String, ''),
        defaultValue: '',
        sensitive: false,
        effective: await this.effective(this.sectionTableKey(section.type, section.norm, MODULE_KEY)),
        listedOnlyWhenSet: true,
      });
      for (const [key, definition] of section.schema) {
        const tableKey = this.sectionTableKey(section.type, section.norm, key);
        if (tableKey === SECRET_KEY) continue; // already a leaf: security.secret_key
        const isPassphrase = section.type === 'secret_key' && key === 'secret_key';
        const isKeyPath = isFileDefault && key === 'key_path';
        const defaultValue: unknown = isKeyPath ? `/srv/${this.app}-encryption.key` : (definition.default ?? '');
        leaves.push({
          convictPath: `${node}.k_${key}`,
          key: `${PROVIDER_SECTION_PREFIX}${section.id}.${key}`,
          env: isKeyPath
            ? `${this.envPrefix}ENCRYPTION_KEY_PATH`
            : providerEnvName(this.envPrefix, section.type, section.name, key),
          doc: definition.doc,
          format: isPassphrase ? PASSPHRASE_FORMAT : keyFormat(definition.format, definition.default),
          defaultValue,
          sensitive: definition.sensitive === true || isPassphrase,
          effective: await this.effective(tableKey),
          listedOnlyWhenSet: false,
        });
      }
    }
    return leaves;
  }

  /** Loads every value into one convict schema and validates it; returns the values by dotted key. */
  private validate(leaves: readonly Leaf[]): Map<string, unknown> {
    const schema: ConvictTree = {};
    const values: ConvictTree = {};
    const problems: Problem[] = [];
    for (const leaf of leaves) {
      const item: Record<string, unknown> = { doc: leaf.doc, format: leaf.format.convict, default: leaf.defaultValue };
      if (leaf.sensitive) item['sensitive'] = true;
      setPath(schema, leaf.convictPath.split('.'), item);
      if (leaf.effective === undefined) continue;
      const coerced = leaf.format.coerce(leaf.effective.value);
      if (coerced === undefined) {
        problems.push(this.problem(leaf, leaf.effective.origin, undefined));
      } else {
        setPath(values, leaf.convictPath.split('.'), coerced);
      }
    }

    let config: convict.Config<Record<string, unknown>>;
    try {
      // No env or argv: atrest has read every source itself, with origins.
      config = convict<Record<string, unknown>>(schema as convict.Schema<Record<string, unknown>>, {
        env: {},
        args: [],
      });
    } catch (cause) {
      const message = (cause as Error).message;
      const leaf = leaves.find((l) => message.includes(`'${l.convictPath}'`));
      throw new AtrestError(
        'ATREST_PROVIDER_INVALID',
        `The config schema for ${leaf?.key ?? 'a provider section'} is not usable (${message.replace(/'[^']*'\s*/, '')}): the provider package is faulty; update or replace it.`,
        {
          cause,
          details: { key: leaf?.key },
        },
      );
    }
    config.load(values);
    try {
      config.validate({ allowed: 'strict' });
    } catch (cause) {
      problems.push(...this.convictProblems((cause as Error).message, leaves));
    }
    const fromDefault = problems.find((p) => p.origin.source === 'default');
    if (fromDefault !== undefined) {
      throw new AtrestError(
        'ATREST_PROVIDER_INVALID',
        `The default of ${fromDefault.key} in its provider's config schema is not valid: the provider package is faulty; update or replace it.`,
        {
          details: { key: fromDefault.key },
        },
      );
    }
    if (problems.length > 0) throw invalidError(problems);

    const result = new Map<string, unknown>();
    for (const leaf of leaves) result.set(leaf.key, config.get(leaf.convictPath));
    return result;
  }

  private problem(leaf: Leaf, origin: ConfigOrigin, reason: string | undefined): Problem {
    // A provider's own validator might quote the value: never repeat it for a secret.
    const shownReason = leaf.sensitive && !leaf.format.trusted ? undefined : reason;
    return {
      key: leaf.key,
      origin,
      text: problemText(leaf.key, origin, shownReason, leaf.format.allowed),
      allowed: leaf.format.allowed,
    };
  }

  /** Rewords convict's "path: message: value was …" lines with the key, its origin and what is allowed. */
  private convictProblems(message: string, leaves: readonly Leaf[]): Problem[] {
    const byLength = [...leaves].sort((a, b) => b.convictPath.length - a.convictPath.length);
    const problems: Problem[] = [];
    for (const line of message.split('\n')) {
      const leaf = byLength.find((l) => line.startsWith(`${l.convictPath}: `));
      if (leaf === undefined) continue; // a continuation of a provider's multi-line message: not repeated
      let reason = line.slice(leaf.convictPath.length + 2);
      const cut = reason.indexOf(': value was ');
      if (cut >= 0) reason = reason.slice(0, cut);
      problems.push(this.problem(leaf, leaf.effective?.origin ?? { source: 'default' }, reason.trim()));
    }
    if (problems.length === 0) {
      problems.push({
        key: '(configuration)',
        origin: { source: 'default' },
        text: 'The configuration was rejected by its schema.',
        allowed: '',
      });
    }
    return problems;
  }

  // ----- checks that span keys -------------------------------------------------------------------

  private checkSectionComplete(section: ProviderSectionConfig, current: string, available: readonly string[]): void {
    const role =
      section.id === current
        ? 'the encryption provider'
        : available.includes(section.id)
          ? 'an available encryption provider'
          : undefined;
    const fail = (code: ErrorCode, message: string): never => {
      throw new AtrestError(code, message, {
        details: { section: `${PROVIDER_SECTION_PREFIX}${section.id}`, provider: section.id },
      });
    };
    if (section.type === 'secret_key' && section.values['secret_key'] === '' && role !== undefined) {
      const isDefault = normalizeProviderName(section.name) === 'default';
      fail(
        'ATREST_CONFIG_INVALID',
        `${section.id} is ${role} but has no passphrase: set ${
          isDefault
            ? `[security] secret_key, ${this.envPrefix}ENCRYPTION_SECRET_KEY or ${this.envPrefix}ENCRYPTION_SECRET_KEY__FILE`
            : `secret_key in [${PROVIDER_SECTION_PREFIX}${section.id}] or ${providerEnvName(this.envPrefix, section.type, section.name, 'secret_key')}`
        }.`,
      );
    }
    const passphrase = section.values['secret_key'];
    if (
      section.type === 'secret_key' &&
      role !== undefined &&
      typeof passphrase === 'string' &&
      passphraseTooShort(passphrase)
    ) {
      const isDefault = normalizeProviderName(section.name) === 'default';
      const key =
        isDefault && section.origins['secret_key']?.section !== `${PROVIDER_SECTION_PREFIX}${section.id}`
          ? SECRET_KEY
          : `${PROVIDER_SECTION_PREFIX}${section.id}.secret_key`;
      const origin = section.origins['secret_key'] ?? { source: 'default' as const };
      throw invalidError([
        {
          key,
          origin,
          text: problemText(
            key,
            origin,
            `too short for ${role} ${section.id}, a passphrase needs at least ${PASSPHRASE_MIN_CHARS} characters`,
            PASSPHRASE_FORMAT.allowed,
          ),
          allowed: PASSPHRASE_FORMAT.allowed,
        },
      ]);
    }
    if (
      section.type === 'file' &&
      normalizeProviderName(section.name) !== 'default' &&
      section.values['key_path'] === ''
    ) {
      fail(
        'ATREST_CONFIG_INVALID',
        `[${PROVIDER_SECTION_PREFIX}${section.id}] needs key_path (only file.default has a default path): set it in that section or ${providerEnvName(this.envPrefix, section.type, section.name, 'key_path')}.`,
      );
    }
  }
}

/** Reads, merges and validates atrest's configuration; see docs/CONFIGURATION.md. */
export async function loadConfig(options: LoadConfigOptions): Promise<AtrestConfig> {
  return new ConfigLoader(options).load();
}
