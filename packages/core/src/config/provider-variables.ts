// `<APP>_SECURITY_ENCRYPTION_<TYPE>_<NAME>_<KEY>` variables, read once the provider types and their
// schemas are known: names and keys can both hold `_`, so a variable is read by the longest schema
// key it ends with, preferring a split whose name is a section some source already names.
import { errors } from '../errors.js';
import { variableSuggestion } from './collect-env.js';
import type { KeyTable } from './keys.js';
import { PROVIDER_SECTION_PREFIX, PROVIDER_VARIABLE_INFIX, sectionOf, sectionTarget } from './keys.js';
import { describeSetting, originDetails } from './origin.js';
import { UNINSTALLED_SCHEMA } from './schemas.js';
import type { SchemaKeys, SchemaSource } from './schemas.js';
import type { ProviderVariable, SectionMention, SectionNames, Setting } from './settings.js';
import { RANK } from './settings.js';
import { envSegment, normalizeProviderName, providerEnvName } from './sources.js';
import { closest, meantHint } from './suggest.js';

const ENV_NAME = /^[A-Z0-9][A-Z0-9_]*$/;

function unknownType(variable: ProviderVariable, knownTypes: readonly string[], keys: KeyTable): Error {
  const suggestion = variableSuggestion(variable.base, variable.viaFile, keys);
  const ownKeys = keys.owned
    .filter((key) => sectionOf(key.displayKey) === 'security.encryption')
    .map((key) => key.displayKey.slice('security.encryption.'.length));
  return errors.configUnknownKey(
    `${describeSetting(variable.base, variable.origin)} is not an atrest setting${meantHint(suggestion)}`,
    `[security.encryption] takes ${ownKeys.join(' and ')}, and ` +
      `${keys.envPrefix}${PROVIDER_VARIABLE_INFIX}<TYPE>_<NAME>_<KEY> variables need a known provider type ` +
      `(${knownTypes.join(', ')}): a third-party type is known once encryption_provider, ` +
      'available_encryption_providers or an INI section names it.',
    { details: { ...originDetails(variable.origin), key: variable.origin.variable, suggestion } },
  );
}

function unknownKey(
  variable: ProviderVariable,
  type: string,
  nameAndKey: string,
  schema: SchemaKeys,
  knownNames: ReadonlySet<string>,
  keys: KeyTable,
): Error {
  const segments = nameAndKey.split('_');
  let best: { name: string; keyPart: string; suggestion: string | undefined; score: number } | undefined;
  for (let i = 1; i < segments.length; i++) {
    const name = segments.slice(0, i).join('_').toLowerCase();
    const keyPart = segments.slice(i).join('_').toLowerCase();
    const match = closest(keyPart, schema.keys());
    // Prefer a split on a section name that exists, then the closest key.
    const score = (knownNames.has(name) ? 0 : 1000) + (match?.distance ?? 100);
    if (best === undefined || score < best.score) best = { name, keyPart, suggestion: match?.candidate, score };
  }
  const name = best?.name ?? nameAndKey.toLowerCase();
  const section = `${PROVIDER_SECTION_PREFIX}${type}.${name}`;
  const suggestion =
    best?.suggestion === undefined
      ? undefined
      : providerEnvName(keys.envPrefix, type, name, best.suggestion) + (variable.viaFile ? '__FILE' : '');
  const validKeys = [...schema.keys()];
  return errors.configUnknownKey(
    `${describeSetting(variable.base, variable.origin)} names no key of provider type ${type}` +
      `${best === undefined ? '' : ` (read as section [${section}], key "${best.keyPart}")`}` +
      `${meantHint(suggestion)}`,
    `Keys of ${type}: ${validKeys.join(', ')}` +
      ` (as ${keys.envPrefix}${PROVIDER_VARIABLE_INFIX}${envSegment(type)}_<NAME>_<KEY>).`,
    { details: { ...originDetails(variable.origin), key: variable.origin.variable, section, suggestion, validKeys } },
  );
}

/** The settings of the provider variables, and the sections they name, given the sections named so far. */
export async function readProviderVariables(
  variables: readonly ProviderVariable[],
  names: SectionNames,
  schemaFor: SchemaSource,
  keys: KeyTable,
): Promise<{ settings: Setting[]; mentions: SectionMention[] }> {
  const settings: Setting[] = [];
  const mentions: SectionMention[] = [];
  const named = [...names.values()];
  for (const variable of variables) {
    const tail = variable.tail.toUpperCase();
    const knownTypes = [...new Set([...keys.builtinTypes, ...named.map((section) => section.type)])];
    const type = [...knownTypes].sort((a, b) => b.length - a.length).find((t) => tail.startsWith(`${envSegment(t)}_`));
    if (type === undefined) throw unknownType(variable, knownTypes, keys);
    const nameAndKey = tail.slice(envSegment(type).length + 1);
    const knownNames = new Set(
      named.filter((section) => section.type === type).map((section) => normalizeProviderName(section.name)),
    );
    const schema = await schemaFor(type, `${type}.${nameAndKey.split('_')[0]?.toLowerCase() ?? ''}`);
    if (schema === UNINSTALLED_SCHEMA) continue;
    const splits: { name: string; key: string }[] = [];
    for (const key of schema.keys()) {
      const suffix = `_${envSegment(key)}`;
      const name = nameAndKey.slice(0, -suffix.length);
      if (nameAndKey.endsWith(suffix) && ENV_NAME.test(name)) splits.push({ name: name.toLowerCase(), key });
    }
    const onKnownName = splits.filter((split) => knownNames.has(normalizeProviderName(split.name)));
    const pick = (onKnownName.length > 0 ? onKnownName : splits).sort((a, b) => b.key.length - a.key.length)[0];
    if (pick === undefined) throw unknownKey(variable, type, nameAndKey, schema, knownNames, keys);
    // Later variables prefer this section's name too.
    named.push({ type, name: pick.name });
    mentions.push({ type, name: pick.name, rank: RANK.env });
    const { layer, raw, origin } = variable;
    settings.push({ ...sectionTarget(keys, type, pick.name, pick.key), layer, raw, origin });
  }
  return { settings, mentions };
}
