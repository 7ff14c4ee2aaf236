// openAtrest: the embedding API's entry. Loads the configuration, opens the store, starts and
// checks the providers (the canary: the configured keys must match the data before anything is
// written), then hands everything to the instance.
import { loadConfig } from '../config/index.js';
import type { AtrestConfig } from '../config/index.js';
import type { TargetSpec } from '../config/types.js';
import { Envelope } from '../envelope/envelope.js';
import type { ProviderRegistry } from '../envelope/envelope.js';
import { errors, isAtrestError } from '../errors.js';
import type { AtrestError } from '../errors.js';
import { silentLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { CheckedProvider, providerFailure } from '../providers/checked.js';
import { ProviderLoader } from '../providers/loader.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { countTargetValues } from '../targets.js';
import { canary } from './canary.js';
import { makeAtrest } from './instance.js';
import type { Atrest, OpenAtrestOptions } from './types.js';

/** Load and validate the configuration only (what `config show` prints); opens nothing. */
export async function loadAtrestConfig(options: OpenAtrestOptions = {}): Promise<AtrestConfig> {
  return loadWith(loaderFor(options), options);
}

function loaderFor(options: OpenAtrestOptions): ProviderLoader {
  return new ProviderLoader(options.appRoot ?? process.cwd());
}

async function loadWith(loader: ProviderLoader, options: OpenAtrestOptions): Promise<AtrestConfig> {
  const { database: _database, appRoot: _appRoot, logger: _logger, ...sources } = options;
  return loadConfig({
    ...sources,
    builtinProviders: await loader.builtinProviders(),
    providerSchema: async (type, context) => (await loader.definition(type, context.module)).configSchema,
  });
}

/** Open atrest for an application. */
export async function openAtrest(options: OpenAtrestOptions = {}): Promise<Atrest> {
  const logger = options.logger ?? silentLogger;
  const loader = loaderFor(options);
  const config = await loadWith(loader, options);
  const store = await openStore(options.database, config);
  const providers = new Map<string, CheckedProvider>();
  try {
    for (const id of config.availableProviders) {
      providers.set(id, await startProvider(id, config, loader, store, options.appRoot ?? process.cwd(), logger));
    }
    const registry: ProviderRegistry = {
      currentId: config.encryptionProvider,
      get(id: string): CheckedProvider {
        const p = providers.get(id);
        if (p === undefined) {
          throw errors.providerUnknown(
            `Data is encrypted with a data key of ${id}, which is not among the available providers ` +
              `(${[...providers.keys()].join(', ')}).`,
            `Add ${id} to [security] available_encryption_providers.`,
            { details: { provider: id } },
          );
        }
        return p;
      },
    };
    const envelope = new Envelope(
      store,
      registry,
      config.dataKeysCacheTtlMs,
      logger,
      config.dataKeysCacheCleanupIntervalMs,
    );
    await canary(store, envelope, new Set(providers.keys()), config.encryptionProvider, logger);
    return makeAtrest({ config, store, envelope, providers, registry, logger });
  } catch (err) {
    for (const p of providers.values()) await p.close().catch(() => undefined);
    await store.close();
    throw err;
  }
}

async function startProvider(
  id: string,
  config: AtrestConfig,
  loader: ProviderLoader,
  store: Store,
  appRoot: string,
  logger: Logger,
): Promise<CheckedProvider> {
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
      firstUse: (await store.countDataKeys(id)) === 0,
      logger,
    });
    return new CheckedProvider(id, type, inner);
  } catch (err) {
    const failure = providerFailure(id, 'start', err);
    if (failure.code === 'ATREST_KEY_MISSING') throw await explainMissingKey(failure, store, config.targets, id);
    throw failure;
  }
}

/** Add to ATREST_KEY_MISSING which keys are missing and how much data depends on them. */
async function explainMissingKey(
  err: AtrestError,
  store: Store,
  targets: readonly TargetSpec[],
  providerId: string,
): Promise<AtrestError> {
  const rows = (await store.listDataKeys()).filter((r) => r.provider === providerId && r.droppedAt === null);
  const ids = new Set(rows.map((r) => r.id));
  const fingerprints = [...new Set(rows.map((r) => r.keyRef))];
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
  const many = fingerprints.length > 1;
  const counted =
    uncounted.length === 0
      ? `${dependents} secret${dependents === 1 ? '' : 's'} depend${dependents === 1 ? 's' : ''}`
      : `at least ${dependents} secret${dependents === 1 ? '' : 's'} depend${dependents === 1 ? 's' : ''}`;
  return errors.keyMissing(
    `${err.message} Missing key fingerprint${many ? 's' : ''}: ${fingerprints.join(', ')}; ` +
      `${counted} on ${many ? 'them' : 'it'}` +
      (uncounted.length === 0 ? '.' : `; not counted: ${uncounted.join('; ')}.`),
    '',
    { cause: err, details: { ...err.details, provider: providerId, fingerprints, dependents } },
  );
}
