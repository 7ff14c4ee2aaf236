// The shapes of atrest's effective configuration, as `loadConfig` returns it.
import type { ProviderConfigSchema, ProviderDefinition } from '../providers/contract.js';

/** Where a value came from, lowest to highest precedence: default < ini < dotenv < env < option. */
export type ConfigSource = 'default' | 'ini' | 'dotenv' | 'env' | 'option';

/** The place a value was read from, for `config show` and error messages. */
export type ConfigOrigin = {
  source: ConfigSource;
  /** The INI file (source 'ini') or the .env file (source 'dotenv'). */
  file?: string;
  /** The environment variable as written, e.g. `ATREST_ENCRYPTION_SECRET_KEY__FILE` (sources 'env', 'dotenv'). */
  variable?: string;
  /** The INI section, e.g. `security.encryption.awskms.main` (source 'ini'; '' for keys before the first section). */
  section?: string;
  /** The key as written in its section (source 'ini') or the dotted option key (source 'option'). */
  key?: string;
  /** For `<NAME>__FILE` variables: the file whose contents are the value. */
  valueFile?: string;
  /** The `$__env{…}` / `$__file{…}` references expanded in the value, as written. */
  references?: readonly string[];
};

/** One effective value, for `atrest config show`. */
export type ConfigEntry = {
  /** Dotted INI path, e.g. 'security.encryption_provider', 'security.encryption.awskms.main.region'. */
  key: string;
  /** The environment variable that sets it, when there is one. */
  env?: string;
  /** The value as validated; '' when not set; `<redacted>` for a secret that is set. */
  value: string | number | boolean | readonly string[];
  origin: ConfigOrigin;
  /** A secret: its value, and its length, are never shown. */
  sensitive: boolean;
};

/** A store atrest keeps its tables in, as `[database] type` names it. */
export type StoreType = 'sqlite3' | 'postgres';

/** PostgreSQL's `[database]` keys as written (Grafana's names); the PostgreSQL store checks them. */
export type PostgresKeys = {
  readonly host?: string;
  readonly name?: string;
  readonly user?: string;
  readonly password?: string;
  readonly ssl_mode?: string;
  readonly ca_cert_path?: string;
  readonly client_cert_path?: string;
  readonly client_key_path?: string;
  readonly server_cert_name?: string;
};

/** The application database, from `[database]` and `[paths] data`. */
export type DatabaseConfig = {
  /** `[database] type`, else the scheme of `url`, else `sqlite3`. */
  type: StoreType;
  /** SQLite: the file (from `path` or a `sqlite:` url; a relative `path` resolved against `[paths] data`). */
  path: string | undefined;
  /** `[database] url` as configured (it may hold a password: `config show` redacts it). */
  url: string | undefined;
  /** PostgreSQL: the other `[database]` keys that are set. */
  postgres: PostgresKeys;
};

/** One `[secrets_migration] targets` item: an application column holding encrypted values. */
export type TargetSpec = {
  /** As written, e.g. 'data_source.secure_json_data:json'. */
  spec: string;
  table: string;
  column: string;
  /** True for `:json` (the column holds a JSON object whose values are encrypted). */
  json: boolean;
  /** For `@<column>`: the column whose value binds each row's values to that row (part of the context). */
  rowKey?: string;
};

/** One validated `[security.encryption.<type>.<name>]` section. */
export type ProviderSectionConfig = {
  /** `<type>.<name>`, with the name spelt as in the INI section (else as in encryption_provider, else lower case). */
  id: string;
  type: string;
  name: string;
  /** Validated values, every key of the provider's schema (defaults filled in), keys as in the schema. */
  values: Readonly<Record<string, unknown>>;
  /** Where each value of `values` came from. */
  origins: Readonly<Record<string, ConfigOrigin>>;
  /** The section's `module` key: the npm package of a third-party provider, when not the conventional name. */
  module?: string;
};

/** atrest's effective configuration. */
export type AtrestConfig = {
  /** Application name (default 'atrest'). */
  app: string;
  /** Environment prefix, e.g. 'ATREST_'. */
  envPrefix: string;
  /** The provider that wraps new data keys, `<type>.<name>`, after the default rule. */
  encryptionProvider: string;
  /** Providers usable for decryption: unique, the current one first. */
  availableProviders: readonly string[];
  /** How long unwrapped data keys stay cached, in milliseconds. */
  dataKeysCacheTtlMs: number;
  /** How often expired data keys are dropped from the cache, in milliseconds (default 1 minute). */
  dataKeysCacheCleanupIntervalMs: number;
  /** How long a provider's health check is reused, in milliseconds (default 30 seconds). */
  healthCheckIntervalMs: number;
  /** The audit trail: a JSON-lines file (undefined: none), and whether reads of atrest's secrets are audited. */
  audit: { log: string | undefined; secretReads: boolean };
  /**
   * `[security.encryption] reopen_plaintext`: sealed places (`atrest_secrets`, a target's
   * `table.column`, `*` for all) where plaintext is accepted again, as during a transition.
   */
  reopenPlaintext: readonly string[];
  /** The application database. */
  database: DatabaseConfig;
  /** The application's encrypted columns. */
  targets: readonly TargetSpec[];
  /** One per provider id that is current, available, or has a section (INI, .env, env or options). */
  providers: ReadonlyMap<string, ProviderSectionConfig>;
  /** Every effective value with its origin, secrets redacted. */
  entries: readonly ConfigEntry[];
  /** What the operator should know and is no error (sections of an uninstalled provider type nothing uses). */
  warnings: readonly string[];
};

/** What `providerSchema` is told besides the type. */
export type ProviderSchemaContext = {
  /** The first section of this type that needed the schema, `<type>.<name>`. */
  readonly id: string;
  /** The `module` key of the type's sections, when set. */
  readonly module?: string;
};

/** Options of `loadConfig`. */
export type LoadConfigOptions = {
  /** Application name: lower-case letters, digits, '_' and '-'. Default 'atrest'. */
  app?: string;
  /** The host application's INI file. A path that does not exist is an error. */
  configFile?: string;
  /** A .env file, read with dotenv (process.env is not touched). A path that does not exist is an error. */
  envFile?: string;
  /** The environment; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Explicit values from embedding code or CLI flags, keyed by dotted INI path; highest precedence. */
  options?: Readonly<Record<string, string>>;
  /**
   * Every built-in provider type (its variables are known without a section naming it), with the
   * `sharedConfig` of those read before the configuration: their shared keys and default provider.
   */
  builtinProviders: readonly BuiltinProvider[];
  /** A provider type's config schema; its AtrestError (not installed, …) goes through loadConfig unchanged. */
  providerSchema(type: string, context: ProviderSchemaContext): Promise<ProviderConfigSchema>;
};

/** A built-in provider type, as the configuration knows it before any section names it. */
export type BuiltinProvider = Pick<ProviderDefinition, 'type' | 'sharedConfig'>;

/** Where the configuration comes from: what `openAtrest` and `loadAtrestConfig` take besides their own options. */
export type ConfigSources = Omit<LoadConfigOptions, 'providerSchema' | 'builtinProviders'>;
