// The INI collector: atrest's keys out of the host application's file. In the sections atrest owns
// an unknown key is an error; in the sections it shares with the host only atrest's keys are read;
// every other section is the host's, except the provider sections under [security.encryption.].
import { errors } from '../errors.js';
import { PROVIDER_NAME_PATTERN, PROVIDER_TYPE_PATTERN } from './formats.js';
import type { IniSections } from './ini.js';
import type { KeyTable } from './keys.js';
import { OWNED_SECTIONS, PROVIDER_SECTION_PREFIX, SHARED_SECTIONS, sectionOf, sectionTarget } from './keys.js';
import { originDetails } from './origin.js';
import type { Collected, SectionKeyCheck, SectionMention, Setting } from './settings.js';
import { RANK } from './settings.js';
import { didYouMean, meantHint, nearMiss } from './suggest.js';
import type { ConfigOrigin } from './types.js';

/** A provider section's header split in two; throws when it is not `[security.encryption.<type>.<name>]`. */
function providerSection(section: string, file: string, keys: KeyTable): { type: string; name: string } {
  const parts = section.slice(PROVIDER_SECTION_PREFIX.length).split('.');
  const [type = '', name] = parts;
  const details = { section, file, source: 'ini' };
  if (parts.length === 1 && PROVIDER_TYPE_PATTERN.test(type)) {
    throw errors.configInvalid(
      `Section [${section}] in ${file} has no provider name:`,
      `write [${section}.<name>], e.g. [${section}.main], and refer to it as ${type}.main.`,
      { details },
    );
  }
  if (
    parts.length !== 2 ||
    name === undefined ||
    !PROVIDER_TYPE_PATTERN.test(type) ||
    !PROVIDER_NAME_PATTERN.test(name)
  ) {
    throw errors.configInvalid(
      `Section [${section}] in ${file} is not a provider section:`,
      `write [security.encryption.<type>.<name>], with ${keys.idAllowed}.`,
      { details },
    );
  }
  return { type, name };
}

/** Collects atrest's settings from the sections of the INI file `file`. */
export function collectIni(sections: IniSections, file: string, keys: KeyTable): Collected {
  const settings: Setting[] = [];
  const mentions: SectionMention[] = [];
  const sectionKeys: SectionKeyCheck[] = [];
  for (const [section, values] of sections) {
    const origin = (key: string): ConfigOrigin => ({ source: 'ini', file, section, key });
    if (SHARED_SECTIONS.has(section) || OWNED_SECTIONS.has(section)) {
      for (const [key, value] of values) {
        const owned = section === '' ? undefined : keys.ownedByKey.get(`${section}.${key}`);
        if (owned !== undefined) {
          settings.push({ ...owned, layer: 'ini', raw: { text: value }, origin: origin(key) });
        } else if (OWNED_SECTIONS.has(section)) {
          const known = keys.owned
            .filter((k) => sectionOf(k.displayKey) === section)
            .map((k) => k.displayKey.slice(section.length + 1));
          const suggestion = didYouMean(key, known);
          throw errors.configUnknownKey(
            `Unknown key "${key}" in [${section}] of ${file}${meantHint(suggestion, true)}`,
            `[${section}] belongs to atrest and takes only: ${known.join(', ')}.`,
            { details: { key: `${section}.${key}`, ...originDetails(origin(key)), suggestion, validKeys: known } },
          );
        } else if (section === 'security') {
          // Any other key of a shared section is the host application's, unless it is a slip of atrest's own.
          const ours = keys.owned
            .filter((k) => sectionOf(k.displayKey) === section)
            .map((k) => k.displayKey.slice(section.length + 1));
          const meant = nearMiss(key, ours);
          if (meant !== undefined) {
            throw errors.configUnknownKey(
              `Unknown key "${key}" in [${section}] of ${file}${meantHint(meant, true)}`,
              `atrest reads ${ours.join(', ')} in [${section}]; a key this close to one of them is taken for a ` +
                'typo rather than ignored (it would leave atrest on another provider). Correct it.',
              { details: { key: `${section}.${key}`, ...originDetails(origin(key)), suggestion: meant } },
            );
          }
        }
      }
      continue;
    }
    if (!section.startsWith(PROVIDER_SECTION_PREFIX)) continue; // the host application's section
    const { type, name } = providerSection(section, file, keys);
    mentions.push({ type, name, rank: RANK.ini, origin: { source: 'ini', file, section } });
    for (const [key, value] of values) {
      sectionKeys.push({ type, name, key, origin: origin(key) });
      settings.push({
        ...sectionTarget(keys, type, name, key),
        layer: 'ini',
        raw: { text: value },
        origin: origin(key),
      });
    }
  }
  return { settings, mentions, sectionKeys, providerVariables: [] };
}
