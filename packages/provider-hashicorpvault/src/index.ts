// @atrest/provider-hashicorpvault public API: Vault's HTTP API on Node's own HTTPS stack, no SDK.
import type { ProviderDefinition } from '@atrest/core';
import type { HashicorpVaultConfig } from './config.js';
import { hashicorpVaultProvider } from './definition.js';

/** The provider definitions of this package (core's loader reads this). */
export const providers: readonly ProviderDefinition<HashicorpVaultConfig>[] = [hashicorpVaultProvider];

export { hashicorpVaultProvider } from './definition.js';
export type { HashicorpVaultConfig } from './config.js';
