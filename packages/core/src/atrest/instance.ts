// An open atrest instance: encrypt/decrypt with contexts and scopes, atrest's own secrets, status,
// the migrations, and close. Everything it stores goes through the Store seam.
import type { AtrestConfig, TargetSpec } from '../config/types.js';
import type { Envelope, ProviderRegistry } from '../envelope/envelope.js';
import {
  DATA_KEY_ID_LENGTH,
  DATA_KEY_ID_OFFSET,
  MAGIC,
  MIN_CIPHERTEXT_LENGTH,
  armor,
  damagedCiphertext,
  looksLikeCiphertext,
  looksLikeEnvelope,
  readDataKeyId,
  textCiphertext,
} from '../envelope/format.js';
import { dumpsAs } from '../config/redact.js';
import {
  CRYPT_OPTIONS,
  DECRYPT_OPTIONS,
  checkCiphertext,
  checkOptions,
  checkValue,
  checkedMigrations,
} from './arguments.js';
import { errors, isAtrestError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createMigrations } from '../migration/migrations.js';
import type { Auditor } from '../observability/audit.js';
import { OperationCounters, snapshotMetrics } from '../observability/metrics.js';
import type { MigrationProgress } from '../observability/metrics.js';
import { observeMigrations } from '../observability/observed-migrations.js';
import type { CheckedProvider } from '../providers/checked.js';
import { checkPlaintextAllowed } from '../seals.js';
import type { Store } from '../store/types.js';
import { SECRETS_SCOPE, secretContext, targetContext, targetScope } from '../targets.js';
import { createSecretFiles } from './secret-files.js';
import { checkHealth } from './health.js';
import type { AtrestHealth } from './health.js';
import { computeStatus } from './status.js';
import type { Atrest, CryptOptions, DecryptOptions, SecretsApi } from './types.js';

/** What an instance is made of (openAtrest builds it). */
type InstanceParts = {
  readonly config: AtrestConfig;
  readonly store: Store;
  readonly envelope: Envelope;
  readonly providers: ReadonlyMap<string, CheckedProvider>;
  readonly registry: ProviderRegistry;
  readonly logger: Logger;
  readonly auditor: Auditor;
};

function checkSecretName(call: string, name: unknown): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || /\p{Cc}/u.test(name)) {
    throw errors.invalidArgument(
      `${call}: the secret name must be a string of 1 to 255 characters without control characters ` +
        `(got ${typeof name === 'string' ? `${name.length} characters` : name === null ? 'null' : typeof name}).`,
      'Fix the name.',
      { details: { call, argument: 'name' } },
    );
  }
}

/** The target `name` (`table.column`, or a registered target's spec) names: registered, or bound to its column only. */
function cryptTarget(name: string, targets: readonly TargetSpec[]): TargetSpec {
  const registered = targets.find((t) => t.spec === name || targetScope(t) === name);
  if (registered !== undefined) return registered;
  const [table = '', column = ''] = name.split('.');
  return { spec: name, table, column, json: false };
}

/** The text a row key is bound as. */
function rowText(row: unknown): string {
  if (typeof row === 'string') return row;
  if ((typeof row === 'number' && Number.isInteger(row)) || typeof row === 'bigint') return String(row);
  throw errors.invalidArgument('The row option is the row key: a string or an integer.', 'Fix the value.');
}

/** The context and data key scope of an encryption. */
function resolveCrypt(
  options: CryptOptions | undefined,
  targets: readonly TargetSpec[],
): { context: string | Uint8Array | undefined; scope: string } {
  if (options?.target !== undefined) {
    const target = cryptTarget(options.target, targets);
    if (options.row !== undefined && target.rowKey === undefined) {
      throw errors.usage(
        `The target ${target.spec} is not bound to its rows, so it takes no row option.`,
        `Register it as ${targetScope(target)}@<key column> to bind its values to their rows, or drop row.`,
        { details: { target: target.spec } },
      );
    }
    const row = options.row === undefined ? undefined : rowText(options.row);
    return { context: targetContext(target, options.field, row), scope: targetScope(target) };
  }
  if (options?.row !== undefined) throw errors.usage('The row option goes with a row-bound target option.');
  return { context: options?.context, scope: options?.scope ?? 'default' };
}

export function makeAtrest(parts: InstanceParts): Atrest {
  const { config, store, envelope, providers, logger, auditor } = parts;
  let closed = false;
  const open = (): void => {
    if (closed) throw errors.closed();
  };
  const operations = new OperationCounters();
  // Counted in the API's own calls (secrets included); a migration's rows are counted as its progress.
  const counted = async <T>(operation: 'encrypt' | 'decrypt', run: Promise<T>): Promise<T> => {
    try {
      const result = await run;
      operations.success[operation]++;
      return result;
    } catch (err) {
      operations.failed(operation, err);
      throw err;
    }
  };
  const progress: MigrationProgress = { running: undefined, targets: new Map() };
  let health: { at: number; answer: Promise<AtrestHealth> } | undefined;

  /**
   * Bytes that are not an envelope, as they are: unless they start like ciphertext, or name one of
   * this database's data keys where an envelope names it (a damaged envelope is never plaintext).
   */
  const plainBytes = async (bytes: Buffer): Promise<Buffer> => {
    if (looksLikeCiphertext(bytes)) {
      // The exact magic: the header says what is wrong (a version atrest does not know, too short).
      if (bytes.subarray(0, MAGIC.length).equals(MAGIC)) readDataKeyId(bytes);
      throw damagedCiphertext();
    }
    if (bytes.length >= DATA_KEY_ID_OFFSET + DATA_KEY_ID_LENGTH) {
      const id = bytes.toString('hex', DATA_KEY_ID_OFFSET, DATA_KEY_ID_OFFSET + DATA_KEY_ID_LENGTH);
      if ((await store.dataKey(id)) !== undefined) throw damagedCiphertext();
    }
    return Buffer.from(bytes);
  };

  const decryptValue = async (
    call: string,
    input: Uint8Array | string,
    given: DecryptOptions | undefined,
  ): Promise<Buffer> => {
    open();
    const ciphertext = checkCiphertext(call, input, call === 'decryptText');
    const options = checkOptions<DecryptOptions>(call, given, DECRYPT_OPTIONS);
    const { context } = resolveCrypt(options, config.targets);
    let bytes: Buffer;
    if (typeof ciphertext === 'string') {
      const cipher = textCiphertext(ciphertext);
      if (cipher === undefined) {
        if (options?.allowPlaintext === true) {
          await checkPlaintextAllowed(store, config, context, 'The value');
          return Buffer.from(ciphertext, 'utf8');
        }
        throw errors.notEncrypted(
          'The value is not atrest ciphertext (no "atrest:v1:" prefix).',
          'Pass allowPlaintext to read legacy plaintext.',
        );
      }
      bytes = cipher;
    } else {
      bytes = Buffer.isBuffer(ciphertext)
        ? ciphertext
        : Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
      if (!looksLikeEnvelope(bytes) && options?.allowPlaintext === true) {
        const plain = await plainBytes(bytes);
        await checkPlaintextAllowed(store, config, context, 'The value');
        return plain;
      }
    }
    return envelope.decrypt(bytes, context);
  };
  const decrypt = (call: string, ciphertext: Uint8Array | string, options?: DecryptOptions): Promise<Buffer> =>
    counted('decrypt', decryptValue(call, ciphertext, options));

  const files = createSecretFiles();
  const secrets: SecretsApi = {
    async set(name, value) {
      open();
      checkSecretName('secrets.set', name);
      checkValue('secrets.set', 'the value', value);
      const sealed = await counted('encrypt', envelope.encrypt(value, secretContext(name), SECRETS_SCOPE));
      await store.putSecret(name, sealed, true);
    },
    async get(name) {
      open();
      checkSecretName('secrets.get', name);
      const row = await store.getSecret(name);
      if (row === undefined) return undefined;
      const read = row.encrypted
        ? counted('decrypt', envelope.decrypt(row.value, secretContext(name)))
        : plainBytes(row.value).then(async (plain) => {
            // A row marked unencrypted: legacy only while atrest's secrets are not sealed.
            await checkPlaintextAllowed(store, config, secretContext(name), `The secret ${name}`);
            return plain;
          });
      if (!config.audit.secretReads) return read;
      try {
        const value = await read;
        auditor.emit({ event: 'secret.read', secret: name, details: { encrypted: row.encrypted } });
        return value;
      } catch (err) {
        const code = isAtrestError(err) ? err.code : 'ATREST_UNKNOWN';
        auditor.emit({ event: 'secret.read', outcome: 'failure', secret: name, code });
        throw err;
      }
    },
    async getText(name) {
      return (await secrets.get(name))?.toString('utf8');
    },
    async file(name) {
      const value = await secrets.get(name);
      if (value === undefined) throw errors.secretNotFound(name);
      return files.write(name, value);
    },
    async list() {
      open();
      return (await store.listSecrets()).map((s) => ({
        name: s.name,
        // The value's size: an encrypted one is stored with its header and tag around it.
        size: s.encrypted ? Math.max(0, s.size - MIN_CIPHERTEXT_LENGTH) : s.size,
        encrypted: s.encrypted,
        createdAt: s.createdAt,
        updatedAt: s.updatedAt,
      }));
    },
    async delete(name) {
      open();
      checkSecretName('secrets.delete', name);
      return store.deleteSecret(name);
    },
  };

  const migrator = createMigrations({
    store,
    envelope,
    registry: parts.registry,
    targets: config.targets,
    dataKeysCacheTtlMs: config.dataKeysCacheTtlMs,
    seals: config,
  });
  const migrations = checkedMigrations(
    observeMigrations({
      migrator,
      store,
      auditor,
      progress,
      currentProvider: config.encryptionProvider,
      currentKeyRef: () => providers.get(config.encryptionProvider)?.currentKeyRef,
      open,
    }),
  );

  // What a dump of the instance shows: no provider internals, no key material, the configuration redacted.
  return dumpsAs<Atrest>(
    {
      config,
      async encrypt(plaintext, options) {
        open();
        checkValue('encrypt', 'the plaintext', plaintext);
        const { context, scope } = resolveCrypt(checkOptions('encrypt', options, CRYPT_OPTIONS), config.targets);
        return counted('encrypt', envelope.encrypt(plaintext, context, scope));
      },
      decrypt: (ciphertext, options) => decrypt('decrypt', ciphertext, options),
      async encryptText(plaintext, options) {
        open();
        checkValue('encryptText', 'the plaintext', plaintext);
        const { context, scope } = resolveCrypt(checkOptions('encryptText', options, CRYPT_OPTIONS), config.targets);
        return armor(await counted('encrypt', envelope.encrypt(plaintext, context, scope)));
      },
      async decryptText(text, options) {
        return (await decrypt('decryptText', text, options)).toString('utf8');
      },
      secrets,
      migrations,
      async status() {
        open();
        // The operator asked: every provider is checked now, and the probe's cache takes the answer.
        const answer = checkHealth(store, providers, config.encryptionProvider, 0);
        health = { at: Date.now(), answer };
        return computeStatus(config, store, providers, await answer, await this.metrics());
      },
      health() {
        open();
        const now = Date.now();
        if (health === undefined || now - health.at >= config.healthCheckIntervalMs) {
          const answer = checkHealth(store, providers, config.encryptionProvider, config.healthCheckIntervalMs);
          health = { at: now, answer };
        }
        return health.answer;
      },
      metrics() {
        open();
        const cache = { reads: envelope.cacheReads, entries: () => envelope.cacheEntries() };
        return snapshotMetrics({ operations, cache, providers, store, migration: progress });
      },
      async close() {
        if (closed) return;
        closed = true;
        files.removeAll();
        envelope.clear();
        for (const p of providers.values()) {
          await p
            .close()
            .catch((err: unknown) =>
              logger.warn('atrest: provider close failed', { provider: p.id, error: String(err) }),
            );
        }
        await store.close();
        auditor.close();
      },
    },
    () => ({ app: config.app, encryptionProvider: config.encryptionProvider, config, closed }),
  );
}
