// Shared by this package's tests: a provider made through the package's definition, as core's
// loader would make it, pointing at a Google Cloud KMS emulator.
import type { KeyProvider, Logger } from '@atrest/core';
import { silentLogger } from '@atrest/core';
import { createOptions } from '@atrest/testkit';
import type { GoogleKmsEmulator } from '@atrest/testkit';
import type { GoogleKmsConfig } from '../src/index.js';
import { googleKmsProvider } from '../src/index.js';

/** The emulator's INI keys with short retry settings (times in milliseconds, as core passes them), plus `overrides`. */
export function emulatorConfig(emulator: GoogleKmsEmulator, overrides: Partial<GoogleKmsConfig> = {}): GoogleKmsConfig {
  return { ...emulator.providerKeys, max_attempts: 3, retry_delay: 10, request_timeout: 5000, ...overrides };
}

export function createProvider(
  emulator: GoogleKmsEmulator,
  overrides: Partial<GoogleKmsConfig> = {},
  logger: Logger = silentLogger,
  name = 'test',
): Promise<KeyProvider> {
  return googleKmsProvider.create(createOptions('googlekms', emulatorConfig(emulator, overrides), { name, logger }));
}

export const context = { data_key_id: '0123456789abcdef0123456789abcdef', label: 'secrets/2026-01-01' } as const;
export const dataKey = (): Uint8Array => new Uint8Array(32).map((_, i) => i + 1);
