// Starting one configured provider for openAtrest: a local provider may make its key on first boot
// only (a command that may create, on a database without any data key), and a key that is missing
// is explained: which data keys need it and how many values depend on them, or which providers the
// data belongs to instead and how to configure them.
import type { AtrestConfig, BuiltinProvider, TargetSpec } from '../config/types.js';
import { errors, isAtrestError } from '../errors.js';
import type { AtrestError } from '../errors.js';
import type { Logger } from '../logger.js';
import { CheckedProvider, providerFailure } from '../providers/checked.js';
import type { ProviderLoader } from '../providers/loader.js';
import type { DataKeyRecord, Store } from '../store/types.js';
import { countTargetValues } from '../targets.js';
import { asMissingSection } from './missing-section.js';
import { configureProviderHint } from './provider-hint.js';

/** What starting a provider needs besides its id. */
export type ProviderStart = {
  readonly config: AtrestConfig;
  readonly loader: ProviderLoader;
  readonly builtins: readonly BuiltinProvider[];
  readonly store: Store;
  readonly appRoot: string;
  readonly logger: Logger;
  /** The command may create (the application's start, init, a write), not only read. */
  readonly create: boolean;
  /** The data keys that count (not dropped), oldest first. */
  readonly dataKeys: readonly DataKeyRecord[];
};

const FIRST_START = "the application's first start, 'atrest init', or a first write";

/** Create provider `id` from its section and wrap it in core's guard. */
export async function startProvider(id: string, start: ProviderStart): Promise<CheckedProvider> {
  const { config, loader, appRoot, logger } = start;
  const section = config.providers.get(id);
  const [type = '', name = ''] = id.split('.');
  const definition = await loader.definition(type, section?.module);
  try {
    const inner = await definition.create({
      id,
      type,
      name,
      config: section?.values ?? {},
      app: config.app,
      appRoot,
      // A new key only on first boot: never over data keys of any provider (another one may simply
      // not be configured, as a forgotten passphrase), never for a command that only reads.
      firstUse: start.create && start.dataKeys.length === 0,
      logger,
    });
    return new CheckedProvider(id, type, inner);
  } catch (err) {
    const failure = providerFailure(id, 'start', err);
    if (failure.code === 'ATREST_KEY_MISSING') throw await explainMissingKey(failure, id, start);
    throw asMissingSection(failure, id, config, start.builtins);
  }
}

/** ATREST_KEY_MISSING with why no key was made and what to do. */
async function explainMissingKey(err: AtrestError, providerId: string, start: ProviderStart): Promise<AtrestError> {
  const own = start.dataKeys.filter((r) => r.provider === providerId);
  const extra = { cause: err, details: { ...err.details, provider: providerId } };
  if (own.length > 0) return missingForData(err, own, providerId, start);
  if (start.dataKeys.length > 0) {
    const byProvider = new Map<string, number>();
    for (const r of start.dataKeys) byProvider.set(r.provider, (byProvider.get(r.provider) ?? 0) + 1);
    const listed = [...byProvider].map(([p, n]) => `${p}: ${n}`).join(', ');
    const hints = [...byProvider.keys()]
      .filter((p) => !start.config.availableProviders.includes(p))
      .map((p) => {
        const hint = configureProviderHint(p, start.config, start.builtins);
        return `If the data is ${p}'s, ${hint.charAt(0).toLowerCase()}${hint.slice(1)}`;
      });
    return errors.keyMissing(
      `${err.message} This database's data keys belong to other providers (${listed}), and atrest makes a ` +
        'new key only for a database without any data key.',
      [...hints, `If ${providerId} is meant as a new key beside them, put its key in place first.`].join(' '),
      { ...extra, details: { ...extra.details, dataKeyProviders: [...byProvider.keys()] } },
    );
  }
  if (!start.create) {
    return errors.keyMissing(
      `${err.message} A key is made on first boot only (${FIRST_START}), never by a command that only reads.`,
      "Check the key path (and --app), or run 'atrest init' to set this database up.",
      extra,
    );
  }
  return err;
}

/** ATREST_KEY_MISSING for a key that data keys need: their fingerprints and how many values depend on them. */
async function missingForData(
  err: AtrestError,
  own: readonly DataKeyRecord[],
  providerId: string,
  start: ProviderStart,
): Promise<AtrestError> {
  const ids = new Set(own.map((r) => r.id));
  const fingerprints = [...new Set(own.map((r) => r.keyRef))];
  const { dependents, uncounted } = await countDependents(start.store, start.config.targets, ids);
  const many = fingerprints.length > 1;
  const s = dependents === 1 ? '' : 's';
  const counted = `${uncounted.length === 0 ? '' : 'at least '}${dependents} value${s} depend${s === '' ? 's' : ''}`;
  return errors.keyMissing(
    `${err.message} The database holds data keys wrapped by it: restore it from your backup, copy it from ` +
      'another node (or point the key path at it); atrest never creates a new key over existing data. ' +
      `Missing key fingerprint${many ? 's' : ''}: ${fingerprints.join(', ')}; ${counted} on ${many ? 'them' : 'it'}` +
      (uncounted.length === 0 ? '.' : `; not counted: ${uncounted.join('; ')}.`),
    '',
    { cause: err, details: { ...err.details, provider: providerId, fingerprints, dependents } },
  );
}

/** Values under the data keys `ids`: atrest's secrets and every registered target that can be read. */
async function countDependents(
  store: Store,
  targets: readonly TargetSpec[],
  ids: ReadonlySet<string>,
): Promise<{ dependents: number; uncounted: string[] }> {
  let dependents = await store.countSecretsUnder([...ids]);
  const uncounted: string[] = [];
  for (const t of targets) {
    try {
      for (const [id, n] of (await countTargetValues(store, t)).byDataKey) if (ids.has(id)) dependents += n;
    } catch (scanError) {
      // A target whose table does not exist yet holds nothing; any other failure is said, not hidden.
      if (!(isAtrestError(scanError, 'ATREST_CONFIG_INVALID') && scanError.details['missing'] === 'table')) {
        uncounted.push(`${t.spec} (${scanError instanceof Error ? scanError.message : String(scanError)})`);
      }
    }
  }
  return { dependents, uncounted };
}
