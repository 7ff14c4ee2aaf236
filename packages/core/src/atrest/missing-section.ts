// A provider in use whose section no source gives a single value, and that fails to start for want
// of one: the section is missing, and the error says so rather than naming the first key the
// provider missed. Grafana's sample sections come with the header commented out
// (`;[security.encryption.…]`): pasted as they are, their keys land in the section above.
import type { AtrestConfig, BuiltinProvider } from '../config/types.js';
import { errors } from '../errors.js';
import type { AtrestError } from '../errors.js';

/** ATREST_CONFIG_INVALID from a provider's start, said as a missing section when it is one. */
export function asMissingSection(
  failure: AtrestError,
  id: string,
  config: AtrestConfig,
  builtins: readonly BuiltinProvider[],
): AtrestError {
  const section = config.providers.get(id);
  const [type = '', name = ''] = id.split('.');
  const given = section !== undefined && Object.values(section.origins).some((o) => o.source !== 'default');
  // A provider with a default section (the key file) works without one.
  const hasDefault = builtins.some((b) => b.type === type && b.sharedConfig?.defaultProvider !== undefined);
  if (failure.code !== 'ATREST_CONFIG_INVALID' || given || hasDefault) return failure;
  const header = `[security.encryption.${id}]`;
  const role = id === config.encryptionProvider ? 'the encryption provider' : 'an available encryption provider';
  const prefix = `${config.envPrefix}SECURITY_ENCRYPTION_${type}_${name}_`.toUpperCase().replace(/-/g, '_');
  return errors.configInvalid(
    `${id} is ${role}, but its section ${header} is missing (no INI section, no ${prefix}* variable):`,
    `add the section header ${header} above its keys. A header commented out with ";" or "#", as in ` +
      "Grafana's sample, leaves the keys below it in the section above, where they are not read.",
    { cause: failure, details: { provider: id, section: header.slice(1, -1), missing: 'section' } },
  );
}
