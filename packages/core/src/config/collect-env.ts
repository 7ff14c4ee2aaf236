// The variables collector: atrest's settings out of the environment or a .env file. A fixed name
// (core's keys, the shared keys providers declare) is a setting; `<APP>_SECURITY_ENCRYPTION_…` is
// kept for later, when provider types and schemas are known; any other name under a prefix atrest
// owns is an error; the rest are the host application's. `<NAME>__FILE` gives a value by file.
import { errors } from '../errors.js';
import type { KeyTable } from './keys.js';
import { OWNED_VARIABLE_PREFIXES, PROVIDER_VARIABLE_INFIX } from './keys.js';
import { describeSetting, originDetails } from './origin.js';
import type { Collected, ProviderVariable, RawValue, Setting } from './settings.js';
import { didYouMean, meantHint, nearMiss } from './suggest.js';
import type { ConfigOrigin } from './types.js';

const FILE_SUFFIX = '__FILE';

/** The closest fixed variable to `base`, with `__FILE` again when the variable had it. */
export function variableSuggestion(base: string, viaFile: boolean, keys: KeyTable): string | undefined {
  const suggestion = didYouMean(
    base,
    [...keys.variables.keys()].map((name) => keys.envPrefix + name),
  );
  return suggestion === undefined ? undefined : suggestion + (viaFile ? FILE_SUFFIX : '');
}

/** Collects atrest's variables of one source (`envFile` names the .env file for origins). */
export function collectVariables(
  layer: 'dotenv' | 'env',
  vars: Readonly<Record<string, string | undefined>>,
  keys: KeyTable,
  envFile?: string,
): Collected {
  const settings: Setting[] = [];
  const providerVariables: ProviderVariable[] = [];
  for (const [variable, value] of Object.entries(vars)) {
    if (value === undefined || value === '') continue;
    const viaFile = variable.endsWith(FILE_SUFFIX);
    const base = viaFile ? variable.slice(0, -FILE_SUFFIX.length) : variable;
    if (!base.startsWith(keys.envPrefix)) continue;
    const rest = base.slice(keys.envPrefix.length);
    const target = keys.variables.get(rest);
    const ownedPrefix = OWNED_VARIABLE_PREFIXES.find((prefix) => rest.startsWith(prefix));
    if (target === undefined && ownedPrefix === undefined) {
      // The host application's variable, unless it is a slip of one of atrest's [security] variables.
      const ours = [...keys.variables.keys()].filter((name) => name.startsWith('SECURITY_'));
      const meant = rest.startsWith('SECURITY_') ? nearMiss(rest, ours) : undefined;
      if (meant === undefined) continue;
      const suggestion = keys.envPrefix + meant + (viaFile ? FILE_SUFFIX : '');
      throw errors.configUnknownKey(
        `Environment variable ${variable} is not an atrest setting${meantHint(suggestion)}`,
        "A variable this close to one of atrest's is taken for a typo rather than ignored. Correct it.",
        { details: { source: layer, variable, key: variable, suggestion } },
      );
    }

    const origin: ConfigOrigin = { source: layer, variable };
    if (layer === 'dotenv' && envFile !== undefined) origin.file = envFile;
    if (viaFile) origin.valueFile = value;
    const plain = vars[base];
    if (viaFile && plain !== undefined && plain !== '') {
      throw errors.configInvalid(
        `Both ${base} and ${variable} are set${layer === 'dotenv' ? ` in ${envFile ?? '.env'}` : ''}:`,
        'keep one of them.',
        { details: { ...originDetails(origin), key: base } },
      );
    }
    const raw: RawValue = viaFile ? { file: value } : { text: value };
    if (target !== undefined) {
      settings.push({ ...target, layer, raw, origin });
    } else if (ownedPrefix === PROVIDER_VARIABLE_INFIX) {
      providerVariables.push({ layer, base, tail: rest.slice(PROVIDER_VARIABLE_INFIX.length), raw, origin, viaFile });
    } else {
      const suggestion = variableSuggestion(base, viaFile, keys);
      throw errors.configUnknownKey(
        `${describeSetting(base, origin)} is not an atrest setting${meantHint(suggestion)}`,
        `Every variable under ${keys.envPrefix}${ownedPrefix} is atrest's: correct its name or remove it.`,
        { details: { ...originDetails(origin), key: variable, suggestion } },
      );
    }
  }
  return { settings, mentions: [], sectionKeys: [], providerVariables };
}
