// openAtrest: the embedding API's entry. Loads the configuration, opens the store, starts and
// checks the providers (the canary: the configured keys must match the data before anything is
// written), then hands everything to the instance.
import { databaseOptions } from '../config/database.js';
import { loadConfig } from '../config/index.js';
import type { AtrestConfig } from '../config/index.js';
import { Envelope } from '../envelope/envelope.js';
import type { ProviderRegistry } from '../envelope/envelope.js';
import { errors } from '../errors.js';
import { silentLogger } from '../logger.js';
import { Auditor } from '../observability/audit.js';
import type { CheckedProvider } from '../providers/checked.js';
import { checkKeyRecord } from '../providers/key-record.js';
import { ProviderLoader } from '../providers/loader.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { checkOpenOptions } from './arguments.js';
import { canary } from './canary.js';
import { makeAtrest } from './instance.js';
import { configureProviderHint } from './provider-hint.js';
import { startProvider } from './start-provider.js';
import type { ProviderStart } from './start-provider.js';
import type { Atrest, OpenAtrestOptions } from './types.js';

/** Load and validate the configuration only (what `config show` prints); opens nothing. */
export async function loadAtrestConfig(options: OpenAtrestOptions = {}): Promise<AtrestConfig> {
  checkOpenOptions('loadAtrestConfig', options);
  return loadWith(loaderFor(options), options);
}

function loaderFor(options: OpenAtrestOptions): ProviderLoader {
  return new ProviderLoader(options.appRoot ?? process.cwd());
}

async function loadWith(loader: ProviderLoader, options: OpenAtrestOptions): Promise<AtrestConfig> {
  const {
    database,
    appRoot: _appRoot,
    logger: _logger,
    create: _create,
    onAudit: _onAudit,
    actor: _actor,
    ...sources
  } = options;
  return loadConfig({
    ...sources,
    // A path or URL in code names the database as --db does: over every other source.
    ...(typeof database === 'string' ? { options: { ...sources.options, ...databaseOptions(database) } } : {}),
    builtinProviders: await loader.builtinProviders(),
    providerSchema: async (type, context) => (await loader.definition(type, context.module)).configSchema,
  });
}

/** Open atrest for an application. */
export async function openAtrest(options: OpenAtrestOptions = {}): Promise<Atrest> {
  checkOpenOptions('openAtrest', options);
  const logger = options.logger ?? silentLogger;
  const loader = loaderFor(options);
  const config = await loadWith(loader, options);
  for (const warning of config.warnings) logger.warn(`atrest: ${warning}`);
  const create = options.create ?? true;
  const handle = typeof options.database === 'string' ? undefined : options.database;
  const store = await openStore(handle, config, { create, appRoot: options.appRoot ?? process.cwd(), logger });
  const providers = new Map<string, CheckedProvider>();
  let auditor: Auditor | undefined;
  try {
    const builtins = await loader.builtinProviders();
    const start: ProviderStart = {
      config,
      loader,
      builtins,
      store,
      appRoot: options.appRoot ?? process.cwd(),
      logger,
      create,
      dataKeys: (await store.listDataKeys()).filter((r) => r.droppedAt === null),
    };
    for (const id of config.availableProviders) {
      const provider = await startProvider(id, start);
      providers.set(id, provider);
      await checkKeyRecord(store, provider, create);
      for (const warning of provider.warnings) logger.warn(`atrest: ${id}: ${warning}`, { provider: id });
    }
    const registry: ProviderRegistry = {
      currentId: config.encryptionProvider,
      get(id: string): CheckedProvider {
        const p = providers.get(id);
        if (p === undefined) {
          throw errors.providerUnknown(
            `Data is encrypted with a data key of ${id}, which is not among the available providers ` +
              `(${[...providers.keys()].join(', ')}).`,
            configureProviderHint(id, config, builtins),
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
    auditor = new Auditor({ file: config.audit.log, hook: options.onAudit, actor: options.actor, logger });
    const audit = auditor;
    envelope.onDataKeyCreated = (k) =>
      audit.emit({ event: 'data_key.created', provider: k.provider, dataKeyId: k.id, keyRef: k.keyRef });
    await auditProviderChange(store, audit, config.encryptionProvider, create);
    return makeAtrest({ config, store, envelope, providers, registry, logger, auditor: audit });
  } catch (err) {
    auditor?.close();
    for (const p of providers.values()) await p.close().catch(() => undefined);
    await store.close();
    throw err;
  }
}

/** The meta row that remembers the current provider, so that a change of it is audited once. */
const AUDITED_PROVIDER = 'audit.current_provider';

/**
 * Audit `provider.changed` when the current provider is not the one the last start had. A start
 * that only reads (`create: false`) writes nothing: the next one that may write records it.
 */
async function auditProviderChange(store: Store, auditor: Auditor, current: string, create: boolean): Promise<void> {
  if (!auditor.enabled || !create) return;
  const previous = await store.getMeta(AUDITED_PROVIDER);
  if (previous === current) return;
  if (previous !== undefined) auditor.emit({ event: 'provider.changed', provider: current, details: { previous } });
  await store.setMeta(AUDITED_PROVIDER, current);
}
