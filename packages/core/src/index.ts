// @atrest/core public API. Every export is named here; there is no `export *`.
export { AtrestError, errorCodes, errors, isAtrestError } from './errors.js';
export type { ErrorCode, ErrorDetails, ErrorExtra, LockHolder } from './errors.js';
export { silentLogger } from './logger.js';
export type { Logger, LogFields } from './logger.js';
export { PROVIDER_API_VERSION, defineProvider } from './providers/contract.js';
export { openProvider } from './providers/open.js';
export type { CheckedProvider, DataKeyCheck, ProviderHealth } from './providers/checked.js';
export { configProblem, isTlsErrorCode, readCaBundle, tlsRefused, transportFailure } from './providers/kit.js';
export type { TlsRefusal, TransportFailure } from './providers/kit.js';
export { AttemptTimeout, readRetrySettings, retryConfigSchema, withRetries } from './providers/retry.js';
export type {
  AttemptVerdict,
  RenamedRetryKey,
  RetriedOperation,
  RetryConfig,
  RetryKey,
  RetrySettings,
} from './providers/retry.js';
export type {
  EncryptionContext,
  KeyProvider,
  ProviderConfigKey,
  ProviderConfigSchema,
  ProviderCreateOptions,
  ProviderDefinition,
  KeyRotation,
  KeyRotationKind,
  SharedConfigDeclaration,
  SharedConfigKey,
  WrappedKey,
} from './providers/contract.js';
export {
  ARMOR_PREFIX,
  DATA_KEY_ID_LENGTH,
  DATA_KEY_ID_OFFSET,
  armor,
  dearmor,
  encodeContext,
  isArmored,
  looksLikeCiphertext,
  readDataKeyId,
} from './envelope/format.js';
export { loadAtrestConfig, openAtrest } from './atrest/open.js';
export { createSecretFiles } from './atrest/secret-files.js';
export type { SecretFiles } from './atrest/secret-files.js';
export { MAX_VALUE_BYTES } from './atrest/arguments.js';
export { FileRefused, readBoundedFile } from './bounded-file.js';
export type {
  Atrest,
  CryptOptions,
  DecryptOptions,
  OpenAtrestOptions,
  SecretInfo,
  SecretsApi,
} from './atrest/types.js';
export type {
  AtrestStatus,
  KeyVersionStatus,
  ProviderStatus,
  RetiredDataKeyStatus,
  SealStatus,
  TargetStatus,
  WorkLeft,
} from './atrest/status.js';
export { healthExitCode } from './atrest/health.js';
export type { SealState } from './seals.js';
export type { AtrestHealth, HealthState, ProviderHealthReport } from './atrest/health.js';
export { registerMetrics } from './observability/prometheus.js';
export type { MetricsSnapshot } from './observability/metrics.js';
export type { AuditEvent, AuditEventName } from './observability/audit.js';
export { databaseOptions, formatConfigEntries, redactUrl } from './config/index.js';
export { didYouMean } from './config/suggest.js';
export type {
  AtrestConfig,
  ConfigEntry,
  ConfigOrigin,
  ConfigSource,
  ConfigSources,
  LoadConfigOptions,
  ProviderSectionConfig,
  TargetSpec,
} from './config/index.js';
export { SECRETS_TARGET } from './targets.js';
export type {
  DataKeysCleanup,
  DataKeysReport,
  MigrationsApi,
  Progress,
  ReEncryptOptions,
  RotateEncryptionKeyOptions,
  RotationReport,
  RowFailure,
  TargetReport,
} from './migration/types.js';
export { STORE_SCHEMA_VERSION } from './store/types.js';
export { parseJsonRecord } from './store/json-record.js';
export type {
  DataKeyRecord,
  DataKeyRewrap,
  LockClearing,
  MigrationLock,
  NewDataKey,
  RewrapOutcome,
  RowId,
  SecretRecord,
  SecretRow,
  SecretSummary,
  SecretSwap,
  Store,
  StoreOpenOptions,
  TargetRow,
  TargetSwap,
  VacuumOutcome,
} from './store/types.js';
