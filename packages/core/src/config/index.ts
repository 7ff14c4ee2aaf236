// config/: atrest's configuration layer. It owns reading the host application's INI file, a .env
// file, the environment and explicit options into one validated AtrestConfig (defaults < INI <
// .env < env < options), with the origin of every value and secrets redacted; see load.ts.
export { databaseOptions } from './database.js';
export { loadConfig } from './load.js';
export { formatConfigEntries } from './origin.js';
export { redactUrl } from './redact.js';
export type {
  AtrestConfig,
  BuiltinProvider,
  ConfigEntry,
  ConfigOrigin,
  ConfigSource,
  ConfigSources,
  DatabaseConfig,
  LoadConfigOptions,
  ProviderSchemaContext,
  PostgresKeys,
  ProviderSectionConfig,
  StoreType,
  TargetSpec,
} from './types.js';
