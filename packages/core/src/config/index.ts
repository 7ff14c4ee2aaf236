// config/: atrest's configuration layer. It owns reading the host application's INI file, a .env
// file, the environment and explicit options into one validated AtrestConfig (defaults < INI <
// .env < env < options), with the origin of every value and secrets marked for redaction.
export { loadConfig } from './load.js';
export { formatConfigEntries, formatConfigOrigin } from './origin.js';
export { formatDuration, parseDuration, parseProviderId, parseTargets } from './formats.js';
export { normalizeProviderName, providerEnvName } from './sources.js';
export type {
  AtrestConfig,
  ConfigEntry,
  ConfigOrigin,
  ConfigSource,
  ConfigSources,
  LoadConfigOptions,
  ProviderSchemaContext,
  ProviderSectionConfig,
  TargetSpec,
} from './types.js';
