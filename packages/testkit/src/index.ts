// @atrest/testkit public API.
export { runProviderConformance } from './conformance.js';
export type { ConformanceOptions } from './conformance.js';
export { runStoreConformance } from './store-conformance.js';
export { spawnLockHolder } from './store-harness.js';
export type { MakeStoreHarness, StoreHarness } from './store-harness.js';
export {
  createOptions,
  memoryStreams,
  recordingLogger,
  rejection,
  spawnNode,
  tempDir,
  writeIn,
} from './test-helpers.js';
export type { LogRecord, MemoryStreams, RecordingLogger, Run, SpawnNodeOptions } from './test-helpers.js';
export { createTestTls } from './tls.js';
export type { TestTls } from './tls.js';
export { startPostgres } from './postgres-server.js';
export type { StartPostgresOptions, TestPostgres } from './postgres-server.js';
export { awsKmsOperations, startAwsKmsEmulator } from './emulators/aws-kms.js';
export type {
  AwsKmsCredentials,
  AwsKmsEmulator,
  AwsKmsEmulatorOptions,
  AwsKmsFault,
  AwsKmsFaultKind,
  AwsKmsKeyFacts,
  AwsKmsOperation,
  AwsKmsProviderKeys,
} from './emulators/aws-kms.js';
export { azureKeyVaultOperations, startAzureKeyVaultEmulator } from './emulators/azure-keyvault.js';
export type {
  AzureKeyVaultEmulator,
  AzureKeyVaultEmulatorOptions,
  AzureKeyVaultFault,
  AzureKeyVaultFaultKind,
  AzureKeyVaultKeyOperation,
  AzureKeyVaultKeyVersion,
  AzureKeyVaultOperation,
  AzureKeyVaultProviderKeys,
} from './emulators/azure-keyvault.js';
export { hashicorpVaultOperations, startHashicorpVaultEmulator } from './emulators/hashicorp-vault.js';
export type {
  HashicorpVaultEmulator,
  HashicorpVaultEmulatorOptions,
  HashicorpVaultFault,
  HashicorpVaultFaultKind,
  HashicorpVaultOperation,
  HashicorpVaultProviderKeys,
  VaultKeyLocation,
} from './emulators/hashicorp-vault.js';
export type { VaultCapability, VaultPolicyRules, VaultTokenOptions } from './emulators/vault-auth.js';
export type { TransitKeyFacts, TransitKeyType } from './emulators/vault-transit.js';
export { googleKmsOperations, startGoogleKmsEmulator } from './emulators/google-kms.js';
export type {
  GoogleKmsEmulator,
  GoogleKmsEmulatorOptions,
  GoogleKmsFault,
  GoogleKmsFaultKind,
  GoogleKmsOperation,
  GoogleKmsProviderKeys,
  GoogleKmsTamper,
} from './emulators/google-kms.js';
export type { ServiceAccountCredentials } from './emulators/google-oauth.js';
