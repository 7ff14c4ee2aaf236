// What a provider's schema requires of a section beyond each value's format: keys that must be set
// (`required`, in every section or only in one in use) and a least length (`minLength`, where the
// section is in use: a host file may keep a short legacy passphrase beside a KMS provider).
import { errors } from '../errors.js';
import type { KeyTable } from './keys.js';
import { PROVIDER_SECTION_PREFIX, sectionTableKey } from './keys.js';
import { sectionKeyPath } from './leaves.js';
import { invalidError, problem } from './problems.js';
import type { SectionToValidate } from './select.js';
import { providerEnvName } from './sources.js';
import type { ConfigOrigin, ProviderSectionConfig } from './types.js';

/** "a, b or c". */
function oneOf(places: readonly string[]): string {
  return places.length <= 1 ? (places[0] ?? '') : `${places.slice(0, -1).join(', ')} or ${places[places.length - 1]}`;
}

/** Every way to set a section's key, for messages. */
function placesOf(section: SectionToValidate, key: string, keys: KeyTable): string {
  const shared = keys.shared.get(sectionTableKey(section.type, section.name, key));
  if (shared !== undefined) return oneOf(shared.places);
  const env = providerEnvName(keys.envPrefix, section.type, section.name, key);
  return oneOf([`${key} in [${PROVIDER_SECTION_PREFIX}${section.id}]`, env]);
}

/**
 * Throws for the first requirement a section breaks. `role` says how the section is in use
 * ("the encryption provider", "an available encryption provider"), undefined when it is not.
 */
export function checkRequirements(
  section: SectionToValidate,
  config: ProviderSectionConfig,
  role: string | undefined,
  keys: KeyTable,
): void {
  for (const [key, definition] of section.schema) {
    const value = config.values[key];
    const label = definition.label ?? key;
    const unset = value === '' || value === undefined;
    const details = {
      key: sectionKeyPath(section, key, keys),
      section: `${PROVIDER_SECTION_PREFIX}${section.id}`,
      provider: section.id,
    };
    if (unset && definition.required === 'always') {
      throw errors.configInvalid(`[${details.section}] needs ${label}:`, `set ${placesOf(section, key, keys)}.`, {
        details,
      });
    }
    if (unset && definition.required === 'in use' && role !== undefined) {
      throw errors.configInvalid(
        `${section.id} is ${role} but has no ${label}:`,
        `set ${placesOf(section, key, keys)}.`,
        {
          details,
        },
      );
    }
    const least = definition.minLength;
    if (least !== undefined && role !== undefined && typeof value === 'string' && !unset && [...value].length < least) {
      const origin: ConfigOrigin = config.origins[key] ?? { source: 'default' };
      const why = `too short for ${role} ${section.id}, a ${label} needs at least ${least} characters`;
      throw invalidError([problem(details.key, origin, why, `a ${label} of ${least} or more characters`)]);
    }
  }
}
