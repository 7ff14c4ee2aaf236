// What to tell an operator whose data needs a provider that is not configured: the variable or key
// that configures it (a forgotten MB_ENCRYPTION_SECRET_KEY is the common case), not only that it
// should be listed as available.
import { envSegment, normalizeProviderName } from '../config/sources.js';
import type { AtrestConfig, BuiltinProvider } from '../config/types.js';

const AVAILABLE = '[security] available_encryption_providers';

/** How to configure provider `id` (not among the available providers) so that the data it wrapped reads. */
export function configureProviderHint(id: string, config: AtrestConfig, builtins: readonly BuiltinProvider[]): string {
  const addIt = `add ${id} to ${AVAILABLE} (${config.envPrefix}SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS)`;
  if (config.providers.has(id)) return `${capitalized(addIt)}.`;
  const [type = '', name = ''] = id.split('.');
  const shared = builtins.find((b) => b.type === type)?.sharedConfig;
  const keys = (shared?.keys ?? []).filter((k) => normalizeProviderName(k.section) === normalizeProviderName(name));
  if (keys.length === 0) {
    const variables = `${config.envPrefix}SECURITY_ENCRYPTION_${envSegment(type)}_${envSegment(name)}_…`;
    return `Configure [security.encryption.${id}] (or its ${variables} variables) and ${addIt}.`;
  }
  const places = keys.map((k) => {
    const ini = k.ini === undefined ? '' : ` (or [${k.ini.replace('.', '] ')})`;
    return `${config.envPrefix}${k.env[0] ?? ''}${ini}`;
  });
  // A passphrase alone makes secret_key.default the provider, unless another one is set explicitly.
  const byDefault =
    shared?.defaultProvider?.when === 'configured' &&
    normalizeProviderName(shared.defaultProvider.section) === normalizeProviderName(name) &&
    config.entries.find((e) => e.key === 'security.encryption_provider')?.origin.source === 'default';
  const andAdd = byDefault ? '' : `, and ${addIt}`;
  return `Set ${places.join(' and ')} as it was when ${id} encrypted the data${andAdd}.`;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
