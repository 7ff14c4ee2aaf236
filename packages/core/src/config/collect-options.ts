// The options collector: explicit values from the embedding code or CLI flags, keyed by dotted INI
// path (`database.path`, `security.encryption.awskms.main.region`). Anything else is an error.
import { errors } from '../errors.js';
import { PROVIDER_NAME_PATTERN, PROVIDER_TYPE_PATTERN } from './formats.js';
import type { KeyTable } from './keys.js';
import { PROVIDER_SECTION_PREFIX, sectionTarget } from './keys.js';
import type { Collected, SectionKeyCheck, SectionMention, Setting } from './settings.js';
import { RANK } from './settings.js';
import { didYouMean, meantHint } from './suggest.js';
import type { ConfigOrigin } from './types.js';

/** Collects the explicit options. */
export function collectOptions(options: Readonly<Record<string, string>>, keys: KeyTable): Collected {
  const settings: Setting[] = [];
  const mentions: SectionMention[] = [];
  const sectionKeys: SectionKeyCheck[] = [];
  for (const [key, value] of Object.entries(options)) {
    const origin: ConfigOrigin = { source: 'option', key };
    const owned = keys.ownedByKey.get(key);
    if (owned !== undefined) {
      settings.push({ ...owned, layer: 'option', raw: { text: value }, origin });
      continue;
    }
    const parts = key.startsWith(PROVIDER_SECTION_PREFIX) ? key.slice(PROVIDER_SECTION_PREFIX.length).split('.') : [];
    const [type = '', name = '', sectionKey = ''] = parts;
    if (parts.length === 3 && type !== '' && name !== '' && sectionKey !== '') {
      if (!PROVIDER_TYPE_PATTERN.test(type) || !PROVIDER_NAME_PATTERN.test(name)) {
        throw errors.configInvalid(
          `Option ${key} does not name a provider section:`,
          `write security.encryption.<type>.<name>.<key>, with ${keys.idAllowed}.`,
          { details: { key, source: 'option' } },
        );
      }
      mentions.push({ type, name, rank: RANK.option });
      sectionKeys.push({ type, name, key: sectionKey, origin });
      settings.push({ ...sectionTarget(keys, type, name, sectionKey), layer: 'option', raw: { text: value }, origin });
      continue;
    }
    const suggestion = didYouMean(
      key,
      keys.owned.map((k) => k.displayKey),
    );
    throw errors.configUnknownKey(
      `Option ${key} is not an atrest setting${meantHint(suggestion)}`,
      'Options are keyed by dotted INI path: database.path, security.encryption_provider, ' +
        'security.encryption.<type>.<name>.<key>.',
      { details: { key, source: 'option', suggestion } },
    );
  }
  return { settings, mentions, sectionKeys, providerVariables: [] };
}
