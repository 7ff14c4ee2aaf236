// Shared by this package's tests: provider options pointing at an AWS KMS emulator.
import type { KeyProvider, Logger } from '@atrest/core';
import { silentLogger } from '@atrest/core';
import { createOptions } from '@atrest/testkit';
import type { AwsKmsEmulator } from '@atrest/testkit';
import type { AwsKmsConfig } from '../src/index.js';
import { awsKmsProvider } from '../src/index.js';

/** The emulator's INI keys, with short retry settings so failing tests stay fast, plus `overrides`. */
export function emulatorConfig(emulator: AwsKmsEmulator, overrides: Partial<AwsKmsConfig> = {}): AwsKmsConfig {
  return { ...emulator.providerKeys, session_token: '', max_attempts: 3, request_timeout: 10_000, ...overrides };
}

/** A provider through the package's definition, as core's loader would make it. */
export function createProvider(
  emulator: AwsKmsEmulator,
  overrides: Partial<AwsKmsConfig> = {},
  name = 'test',
  logger: Logger = silentLogger,
): Promise<KeyProvider> {
  return awsKmsProvider.create(createOptions('awskms', emulatorConfig(emulator, overrides), { name, logger }));
}

export const context = { data_key_id: '0123456789abcdef0123456789abcdef', label: 'secrets/2026-01-01' } as const;

/** `provider.health()`, which the awskms provider always has. */
export function health(provider: KeyProvider): Promise<void> {
  if (!provider.health) throw new Error('the awskms provider has no health()');
  return provider.health();
}
