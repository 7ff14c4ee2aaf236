// Shared setup for the provider tests: an emulator, the real SDK, and providers on it.
import { createAzureKeyVaultProvider } from '../../src/index.js';
import type { AzureKeyVaultConfig, AzureKeyVaultProviderDeps } from '../../src/index.js';
import type { KeyProvider, Logger } from '@atrest/core';
import { createOptions, startAzureKeyVaultEmulator } from '@atrest/testkit';
import type { AzureKeyVaultEmulator, AzureKeyVaultEmulatorOptions } from '@atrest/testkit';
import type { Test } from 'tap';

/** An emulator for this test, closed at its end. */
export async function emulator(t: Test, options: AzureKeyVaultEmulatorOptions = {}): Promise<AzureKeyVaultEmulator> {
  const emu = await startAzureKeyVaultEmulator(options);
  t.teardown(() => emu.close());
  return emu;
}

/** The emulator's INI keys, with short retry delays so tests stay fast. */
export function configFor(emu: AzureKeyVaultEmulator, overrides: AzureKeyVaultConfig = {}): AzureKeyVaultConfig {
  return { ...emu.providerKeys, retry_delay: '10ms', max_retry_delay: '200ms', request_timeout: '3s', ...overrides };
}

/** A provider on the emulator, closed at the end of the test. */
export async function providerOn(
  t: Test,
  emu: AzureKeyVaultEmulator,
  overrides: AzureKeyVaultConfig = {},
  extra: AzureKeyVaultProviderDeps & { readonly logger?: Logger } = {},
): Promise<KeyProvider> {
  const { logger, ...deps } = extra;
  const provider = await createAzureKeyVaultProvider(
    createOptions('azurekv', configFor(emu, overrides), { name: 'main', logger }),
    deps,
  );
  t.teardown(() => provider.close?.());
  return provider;
}

/** Run the provider's health check (every azurekv provider has one). */
export function healthOf(provider: KeyProvider): Promise<void> {
  if (!provider.health) throw new Error('the provider has no health()');
  return provider.health();
}
