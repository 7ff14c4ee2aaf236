// Shared by this package's tests: a provider made through the package's definition, as core's
// loader would make it, pointing at a Vault emulator.
import type { KeyProvider, Logger } from '@atrest/core';
import { silentLogger } from '@atrest/core';
import { createOptions } from '@atrest/testkit';
import type { HashicorpVaultEmulator } from '@atrest/testkit';
import type { HashicorpVaultConfig } from '../src/index.js';
import { hashicorpVaultProvider } from '../src/index.js';

/** The emulator's INI keys with short retry settings (times in milliseconds, as core passes them), plus `overrides`. */
export function emulatorConfig(
  emulator: HashicorpVaultEmulator,
  overrides: Partial<HashicorpVaultConfig> = {},
): HashicorpVaultConfig {
  return {
    ...emulator.providerKeys,
    token_renewal_interval: 300_000,
    max_attempts: 3,
    retry_delay: 10,
    request_timeout: 2000,
    ...overrides,
  };
}

export function createProvider(
  emulator: HashicorpVaultEmulator,
  overrides: Partial<HashicorpVaultConfig> = {},
  logger: Logger = silentLogger,
  name = 'test',
): Promise<KeyProvider> {
  const config = emulatorConfig(emulator, overrides);
  return hashicorpVaultProvider.create(createOptions('hashicorpvault', config, { name, logger }));
}

export const context = { data_key_id: '0123456789abcdef0123456789abcdef', label: 'secrets/2026-01-01' } as const;
export const dataKey = (): Uint8Array => new Uint8Array(32).map((_, i) => i + 1);
