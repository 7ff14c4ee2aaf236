// @atrest/testkit public API.
export { runProviderConformance } from './conformance.js';
export type { ConformanceOptions } from './conformance.js';
export { memoryStreams, rejection, spawnNode, tempDir, writeIn } from './test-helpers.js';
export type { MemoryStreams, Run, SpawnNodeOptions } from './test-helpers.js';
export { createTestTls } from './tls.js';
export type { TestTls } from './tls.js';
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
