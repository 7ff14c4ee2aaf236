// openAtrest: the embedding API. Loads configuration, opens the store, loads and checks the
// providers (canary: the configured keys must match the data before anything is written), and
// exposes encrypt/decrypt, the secrets table and status.
import type Database from 'better-sqlite3';
import { loadConfig } from './config/index.js';
import type { AtrestConfig, LoadConfigOptions } from './config/index.js';
import { AtrestError, isAtrestError } from './errors.js';
import { silentLogger } from './logger.js';
import type { Logger } from './logger.js';
import { Envelope } from './envelope/envelope.js';
import type { ProviderRegistry } from './envelope/envelope.js';
import { armor, dearmor, isArmored, looksLikeEnvelope } from './envelope/format.js';
import { CheckedProvider, providerFailure } from './providers/checked.js';
import type { KeyProvider } from './providers/contract.js';
import type { ProviderHealth } from './providers/checked.js';
import { ProviderLoader } from './providers/loader.js';
import { Store } from './store/store.js';
import type { DataKeyRow } from './store/store.js';
import { scanTarget, targetContext } from './store/targets.js';
import type { Target } from './store/targets.js';
import { Migrator } from './migration/migrate.js';
import type { MigrationsApi } from './migration/migrate.js';

/** Options of `openAtrest`. */
export type OpenAtrestOptions = {
  /** Application name: environment prefix `<APP>_` and default key path `/srv/<app>-encryption.key`. Default `atrest`. */
  app?: string;
  /** The application's INI file. */
  configFile?: string;
  /** A `.env` file. */
  envFile?: string;
  /** Environment variables (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Explicit configuration values by dotted INI path (`database.path`, `security.encryption.file.default.key_path`): highest precedence. */
  options?: Readonly<Record<string, string>>;
  /** The application database: a path, or an open better-sqlite3 handle. Default: `[database] path`. */
  database?: string | Database.Database;
  /** The application's directory: provider packages resolve from its node_modules. Default: the current directory. */
  appRoot?: string;
  /** Where atrest reports; default silent. */
  logger?: Logger;
};

/** Options of encrypt/decrypt. */
export type CryptOptions = {
  /** Bound to the ciphertext: decrypting with another context fails. E.g. 'table.column:42'. */
  context?: string | Uint8Array;
  /** Data key scope (a data key per scope per day). Default 'default'. */
  scope?: string;
  /** A registered target (`table.column`): sets context and scope the way the migration commands expect. */
  target?: string;
  /** With `target` of a JSON column: the field whose value this is. */
  field?: string;
};

/** Options of decrypt. */
export type DecryptOptions = CryptOptions & {
  /** Return a value that is not atrest ciphertext as is (legacy plaintext) instead of throwing ATREST_NOT_ENCRYPTED. */
  allowPlaintext?: boolean;
};

/** One entry of `secrets.list()`. */
export type SecretInfo = { name: string; size: number; encrypted: boolean; createdAt: string; updatedAt: string };

/** Counts of one registered target. */
export type TargetStatus = {
  target: string;
  rows: number;
  values: number;
  encrypted: number;
  plaintext: number;
  /** Rows of a :json target whose cell is not a JSON object. */
  invalid: number;
  byProvider: Record<string, number>;
  error?: string;
};

/** What `status()` returns (`atrest status --json`). */
export type AtrestStatus = {
  app: string;
  currentProvider: string;
  providers: {
    id: string;
    type: string;
    current: boolean;
    healthy: boolean;
    reason?: string;
    details: Readonly<Record<string, string | number | boolean>>;
    dataKeys: { total: number; active: number };
  }[];
  /** Data keys in use; `dropped`: kept after encryption was turned off, no longer counted. */
  dataKeys: {
    total: number;
    active: number;
    dropped: number;
    byProvider: Record<string, { total: number; active: number }>;
  };
  secrets: { total: number; encrypted: number; plaintext: number; byProvider: Record<string, number> };
  targets: TargetStatus[];
};

/** The secrets key/value table. */
export type SecretsApi = {
  set(name: string, value: string | Uint8Array): Promise<void>;
  get(name: string): Promise<Buffer | undefined>;
  getText(name: string): Promise<string | undefined>;
  list(): SecretInfo[];
  delete(name: string): boolean;
};

/** An open atrest instance. */
export type Atrest = {
  readonly config: AtrestConfig;
  encrypt(plaintext: string | Uint8Array, options?: CryptOptions): Promise<Buffer>;
  decrypt(ciphertext: Uint8Array | string, options?: DecryptOptions): Promise<Buffer>;
  encryptText(plaintext: string | Uint8Array, options?: CryptOptions): Promise<string>;
  decryptText(text: string, options?: DecryptOptions): Promise<string>;
  readonly secrets: SecretsApi;
  /** Re-encryption and key rotation (what the `secrets-migration` and `rotate-encryption-key` commands run). */
  readonly migrations: MigrationsApi;
  status(): Promise<AtrestStatus>;
  close(): Promise<void>;
  /** Internals for the migration engine and CLI of this package. */
  readonly internals: AtrestInternals;
};

/** Internals shared with the migration engine and the CLI (not a stable API). */
export type AtrestInternals = {
  readonly store: Store;
  readonly envelope: Envelope;
  readonly providers: ReadonlyMap<string, CheckedProvider>;
  readonly registry: ProviderRegistry;
  readonly targets: readonly Target[];
  readonly logger: Logger;
};

function secretContext(name: string): string {
  return `atrest_secrets:${name}`;
}

function checkSecretName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || /\p{Cc}/u.test(name)) {
    throw new AtrestError('ATREST_USAGE', 'A secret name is 1 to 255 characters without control characters.');
  }
}

function resolveCrypt(options: CryptOptions | undefined): { context: string | Uint8Array | undefined; scope: string } {
  if (options?.target !== undefined) {
    const [table = '', column = ''] = options.target.split('.');
    const ctx = targetContext({ table, column }, options.field);
    return { context: ctx, scope: `${table}.${column}` };
  }
  return { context: options?.context, scope: options?.scope ?? 'default' };
}

/** Load and validate the configuration only (what `config show` prints); opens nothing. */
export async function loadAtrestConfig(options: OpenAtrestOptions = {}): Promise<AtrestConfig> {
  const loader = new ProviderLoader(options.appRoot ?? process.cwd());
  return loadWith(loader, options);
}

async function loadWith(loader: ProviderLoader, options: OpenAtrestOptions): Promise<AtrestConfig> {
  const configOptions: LoadConfigOptions = {
    builtinProviders: await loader.builtinProviders(),
    providerSchema: async (type, context) => (await loader.definition(type, context.module)).configSchema,
    ...(options.app !== undefined ? { app: options.app } : {}),
    ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
    ...(options.envFile !== undefined ? { envFile: options.envFile } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.options !== undefined ? { options: options.options } : {}),
  };
  return loadConfig(configOptions);
}

/** Open atrest for an application. */
export async function openAtrest(options: OpenAtrestOptions = {}): Promise<Atrest> {
  const logger = options.logger ?? silentLogger;
  const appRoot = options.appRoot ?? process.cwd();
  const loader = new ProviderLoader(appRoot);
  const config = await loadWith(loader, options);
  const database = options.database ?? config.database.path ?? sqlitePathFromUrl(config.database.url);
  if (database === undefined || database === '') {
    throw new AtrestError(
      'ATREST_CONFIG_INVALID',
      `No database: set [database] path or ${config.envPrefix}DATABASE_PATH (or pass --db).`,
      { details: { key: 'database.path' } },
    );
  }
  const store = new Store(database);
  const providers = new Map<string, CheckedProvider>();
  try {
    for (const id of config.availableProviders) {
      const section = config.providers.get(id);
      const [type = '', name = ''] = id.split('.');
      const values = section?.values ?? {};
      const definition = await loader.definition(type, section?.module);
      let inner: KeyProvider;
      try {
        inner = await definition.create({
          id,
          type,
          name,
          config: values,
          app: config.app,
          appRoot,
          firstUse: store.countDataKeys(id) === 0,
          logger,
        });
      } catch (err) {
        const failure = providerFailure(id, 'start', err);
        if (failure.code === 'ATREST_KEY_MISSING') throw explainMissingKey(failure, store, config.targets, id);
        throw failure;
      }
      providers.set(id, new CheckedProvider(id, type, inner));
    }
    const registry: ProviderRegistry = {
      currentId: config.encryptionProvider,
      get(id: string): CheckedProvider {
        const p = providers.get(id);
        if (p === undefined) {
          throw new AtrestError(
            'ATREST_PROVIDER_UNKNOWN',
            `Data is encrypted with a data key of ${id}, which is not among the available providers (${[...providers.keys()].join(', ')}). Add ${id} to [security] available_encryption_providers.`,
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
    await canary(store, envelope, providers, config.encryptionProvider, logger);
    return makeAtrest(config, store, envelope, providers, registry, logger);
  } catch (err) {
    for (const p of providers.values()) await p.close().catch(() => undefined);
    store.close();
    throw err;
  }
}

/** `[database] url` for SQLite (`sqlite:/path`, `sqlite:///path`, `file:/path`); other databases are not supported yet. */
function sqlitePathFromUrl(url: string | undefined): string | undefined {
  if (url === undefined || url === '') return undefined;
  const m = /^(?:sqlite|sqlite3|file):(?:\/\/)?(\/[^?#]*)/.exec(url);
  if (m?.[1] !== undefined) return decodeURIComponent(m[1]);
  throw new AtrestError(
    'ATREST_CONFIG_INVALID',
    `[database] url names a database atrest cannot open yet (${url.split(':')[0]}:): this version stores its tables in SQLite. Set [database] path to a SQLite file.`,
    { details: { key: 'database.url' } },
  );
}

/** Add to ATREST_KEY_MISSING which keys are missing and how much data depends on them. */
function explainMissingKey(
  err: AtrestError,
  store: Store,
  targets: readonly Target[],
  providerId: string,
): AtrestError {
  const rows = store.dataKeys().filter((r) => r.provider === providerId && r.dropped_at === null);
  const ids = new Set(rows.map((r) => r.id));
  const fingerprints = [...new Set(rows.map((r) => r.key_ref))];
  let dependents = store.countSecretsUnder([...ids]);
  for (const t of targets) {
    try {
      for (const [id, n] of scanTarget(store.db, t).byDataKey) if (ids.has(id)) dependents += n;
    } catch {
      // a target that does not exist yet holds nothing
    }
  }
  return new AtrestError(
    'ATREST_KEY_MISSING',
    `${err.message} Missing key fingerprint${fingerprints.length > 1 ? 's' : ''}: ${fingerprints.join(', ')}; ${dependents} secret${dependents === 1 ? '' : 's'} depend${dependents === 1 ? 's' : ''} on ${fingerprints.length > 1 ? 'them' : 'it'}.`,
    { cause: err, details: { ...err.details, provider: providerId, fingerprints, dependents } },
  );
}

/**
 * Unwrap the newest data keys of each provider key in use: a wrong key file or passphrase stops here,
 * before anything is read or written. A damaged record is not a wrong key: another data key of the
 * same provider key that unwraps proves the key right.
 */
async function canary(
  store: Store,
  envelope: Envelope,
  providers: ReadonlyMap<string, CheckedProvider>,
  currentId: string,
  logger: Logger,
): Promise<void> {
  const rows = store.db
    .prepare(
      `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY provider, key_ref ORDER BY created_at DESC, id) AS n
       FROM atrest_data_keys WHERE dropped_at IS NULL) WHERE n <= 3 ORDER BY provider, key_ref, n`,
    )
    .all() as DataKeyRow[];
  const groups = new Map<string, DataKeyRow[]>();
  for (const row of rows)
    groups.set(`${row.provider}\u0000${row.key_ref}`, [
      ...(groups.get(`${row.provider}\u0000${row.key_ref}`) ?? []),
      row,
    ]);
  for (const group of groups.values()) {
    const first = group[0];
    if (first === undefined) continue;
    if (!providers.has(first.provider)) {
      logger.warn('atrest: data keys of a provider that is not configured', { provider: first.provider });
      continue;
    }
    let lastError: unknown;
    for (const row of group) {
      try {
        await envelope.check(row);
        lastError = undefined;
        break;
      } catch (err) {
        lastError = err;
        // A wrong key is wrong for every data key of the group; anything else may be this record only.
        if (!isAtrestError(err, 'ATREST_DECRYPT_FAILED')) break;
      }
    }
    if (lastError === undefined) continue;
    if (isAtrestError(lastError, 'ATREST_PROVIDER_UNAVAILABLE')) {
      logger.warn(
        'atrest: provider unavailable at start; values whose data keys it must unwrap will fail until it is back',
        { provider: first.provider },
      );
      continue;
    }
    if (isAtrestError(lastError, 'ATREST_DECRYPT_FAILED')) {
      // Damaged records, or a wrong key that does not say so. Under a provider that only decrypts,
      // the values concerned fail one by one with a typed error; the current one must not write.
      if (first.provider !== currentId) {
        logger.warn('atrest: the newest data keys of a provider do not unwrap; values under them will fail', {
          provider: first.provider,
          keyRef: first.key_ref,
        });
        continue;
      }
      throw new AtrestError(
        'ATREST_DECRYPT_FAILED',
        `None of the newest data keys of ${first.provider} (key ${first.key_ref}) unwraps: their records in atrest_data_keys were changed or damaged, or the configured key is not the one they were wrapped with. Restore the database or the key from backup.`,
        { cause: lastError, details: { provider: first.provider, keyRef: first.key_ref } },
      );
    }
    throw lastError;
  }
}

function makeAtrest(
  config: AtrestConfig,
  store: Store,
  envelope: Envelope,
  providers: Map<string, CheckedProvider>,
  registry: ProviderRegistry,
  logger: Logger,
): Atrest {
  let closed = false;
  const open = (): void => {
    if (closed) throw new AtrestError('ATREST_CLOSED', 'This atrest instance is closed.');
  };
  const targets = config.targets;

  const decrypt = async (ciphertext: Uint8Array | string, options?: DecryptOptions): Promise<Buffer> => {
    open();
    const { context } = resolveCrypt(options);
    let bytes: Buffer;
    if (typeof ciphertext === 'string') {
      if (!isArmored(ciphertext)) {
        if (options?.allowPlaintext === true) return Buffer.from(ciphertext, 'utf8');
        throw new AtrestError(
          'ATREST_NOT_ENCRYPTED',
          'The value is not atrest ciphertext (no "atrest:v1:" prefix). Pass allowPlaintext to read legacy plaintext.',
        );
      }
      bytes = dearmor(ciphertext);
    } else {
      bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
      if (!looksLikeEnvelope(bytes) && options?.allowPlaintext === true) return Buffer.from(bytes);
    }
    return envelope.decrypt(bytes, context);
  };

  const whenOpen = async <T>(run: () => Promise<T>): Promise<T> => {
    open();
    return run();
  };
  const internals: AtrestInternals = { store, envelope, providers, registry, targets, logger };
  const migrator = new Migrator(internals);
  const atrest: Atrest = {
    config,
    async encrypt(plaintext, options) {
      open();
      const { context, scope } = resolveCrypt(options);
      return envelope.encrypt(plaintext, context, scope);
    },
    decrypt,
    async encryptText(plaintext, options) {
      open();
      const { context, scope } = resolveCrypt(options);
      return armor(await envelope.encrypt(plaintext, context, scope));
    },
    async decryptText(text, options) {
      return (await decrypt(text, options)).toString('utf8');
    },
    secrets: {
      async set(name, value) {
        open();
        checkSecretName(name);
        store.putSecret(name, await envelope.encrypt(value, secretContext(name), 'secrets'), true);
      },
      async get(name) {
        open();
        checkSecretName(name);
        const row = store.getSecret(name);
        if (row === undefined) return undefined;
        if (row.encrypted === 0) return row.value;
        return envelope.decrypt(row.value, secretContext(name));
      },
      async getText(name) {
        return (await atrest.secrets.get(name))?.toString('utf8');
      },
      list() {
        open();
        return store.listSecrets().map((r) => ({
          name: r.name,
          size: r.size,
          encrypted: r.encrypted === 1,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
        }));
      },
      delete(name) {
        open();
        checkSecretName(name);
        return store.deleteSecret(name);
      },
    },
    async status() {
      open();
      return computeStatus(config, store, providers, targets);
    },
    async close() {
      if (closed) return;
      closed = true;
      envelope.clear();
      for (const p of providers.values())
        await p
          .close()
          .catch((err: unknown) =>
            logger.warn('atrest: provider close failed', { provider: p.id, error: String(err) }),
          );
      store.close();
    },
    migrations: {
      reEncrypt: (options) => whenOpen(() => migrator.reEncrypt(options)),
      reEncryptDataKeys: () => whenOpen(() => migrator.reEncryptDataKeys()),
      rotateDataKeys: () => whenOpen(() => migrator.rotateDataKeys()),
      rotateEncryptionKey: (options) => whenOpen(() => migrator.rotateEncryptionKey(options)),
      disableEncryption: (options) => whenOpen(() => migrator.disableEncryption(options)),
      pruneKeys: () => whenOpen(() => migrator.pruneKeys()),
    },
    internals,
  };
  return atrest;
}

async function computeStatus(
  config: AtrestConfig,
  store: Store,
  providers: ReadonlyMap<string, CheckedProvider>,
  targets: readonly Target[],
): Promise<AtrestStatus> {
  const allKeys = store.dataKeys();
  const providerOf = new Map(allKeys.map((k) => [k.id, k.provider]));
  const keys = allKeys.filter((k) => k.dropped_at === null);
  const byProvider: Record<string, { total: number; active: number }> = {};
  for (const k of keys) {
    const e = byProvider[k.provider] ?? { total: 0, active: 0 };
    byProvider[k.provider] = e;
    e.total++;
    if (k.active === 1) e.active++;
  }
  const health = new Map<string, ProviderHealth>();
  await Promise.all([...providers.values()].map(async (p) => health.set(p.id, await p.health())));
  const secretsBy = store.secretsByProvider();
  const secrets = { total: 0, encrypted: 0, plaintext: 0, byProvider: {} as Record<string, number> };
  for (const [provider, n] of secretsBy) {
    secrets.total += n;
    if (provider === '') secrets.plaintext += n;
    else {
      secrets.encrypted += n;
      secrets.byProvider[provider] = (secrets.byProvider[provider] ?? 0) + n;
    }
  }
  const targetStatus: TargetStatus[] = [];
  for (const t of targets) {
    const ts: TargetStatus = {
      target: t.spec,
      rows: 0,
      values: 0,
      encrypted: 0,
      plaintext: 0,
      invalid: 0,
      byProvider: {},
    };
    try {
      const scan = scanTarget(store.db, t);
      ts.rows = scan.rows;
      ts.invalid = scan.invalid;
      ts.plaintext = scan.plaintext;
      for (const [id, n] of scan.byDataKey) {
        const provider = providerOf.get(id) ?? '?';
        ts.byProvider[provider] = (ts.byProvider[provider] ?? 0) + n;
        ts.encrypted += n;
      }
      ts.values = ts.plaintext + ts.encrypted;
    } catch (err) {
      ts.error = err instanceof Error ? err.message : String(err);
    }
    secrets.total += ts.values;
    secrets.plaintext += ts.plaintext;
    secrets.encrypted += ts.encrypted;
    for (const [p, n] of Object.entries(ts.byProvider)) secrets.byProvider[p] = (secrets.byProvider[p] ?? 0) + n;
    targetStatus.push(ts);
  }
  return {
    app: config.app,
    currentProvider: config.encryptionProvider,
    providers: [...providers.values()].map((p) => {
      const h = health.get(p.id) ?? { healthy: true };
      return {
        id: p.id,
        type: p.type,
        current: p.id === config.encryptionProvider,
        healthy: h.healthy,
        ...(h.reason !== undefined ? { reason: h.reason } : {}),
        details: p.describe(),
        dataKeys: byProvider[p.id] ?? { total: 0, active: 0 },
      };
    }),
    dataKeys: {
      total: keys.length,
      active: keys.filter((k) => k.active === 1).length,
      dropped: allKeys.length - keys.length,
      byProvider,
    },
    secrets,
    targets: targetStatus,
  };
}
