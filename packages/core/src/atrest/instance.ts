// An open atrest instance: encrypt/decrypt with contexts and scopes, atrest's own secrets, status,
// the migrations, and close. Everything it stores goes through the Store seam.
import type { AtrestConfig, TargetSpec } from '../config/types.js';
import type { Envelope, ProviderRegistry } from '../envelope/envelope.js';
import {
  DATA_KEY_ID_LENGTH,
  DATA_KEY_ID_OFFSET,
  MAGIC,
  armor,
  damagedCiphertext,
  looksLikeCiphertext,
  looksLikeEnvelope,
  readDataKeyId,
  textCiphertext,
} from '../envelope/format.js';
import { errors } from '../errors.js';
import type { Logger } from '../logger.js';
import { createMigrations } from '../migration/migrations.js';
import type { MigrationsApi } from '../migration/types.js';
import type { CheckedProvider } from '../providers/checked.js';
import type { Store } from '../store/types.js';
import { SECRETS_SCOPE, secretContext, targetContext, targetScope } from '../targets.js';
import { createSecretFiles } from './secret-files.js';
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
};

function checkSecretName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || /\p{Cc}/u.test(name)) {
    throw errors.usage('A secret name is 1 to 255 characters without control characters.');
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
  throw errors.usage('The row option is the row key: a string or an integer.');
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
  const { config, store, envelope, providers, logger } = parts;
  let closed = false;
  const open = (): void => {
    if (closed) throw errors.closed();
  };
  const whenOpen = async <T>(run: () => Promise<T>): Promise<T> => {
    open();
    return run();
  };

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

  const decrypt = async (ciphertext: Uint8Array | string, options?: DecryptOptions): Promise<Buffer> => {
    open();
    const { context } = resolveCrypt(options, config.targets);
    let bytes: Buffer;
    if (typeof ciphertext === 'string') {
      const cipher = textCiphertext(ciphertext);
      if (cipher === undefined) {
        if (options?.allowPlaintext === true) return Buffer.from(ciphertext, 'utf8');
        throw errors.notEncrypted(
          'The value is not atrest ciphertext (no "atrest:v1:" prefix).',
          'Pass allowPlaintext to read legacy plaintext.',
        );
      }
      bytes = cipher;
    } else {
      bytes = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
      if (!looksLikeEnvelope(bytes) && options?.allowPlaintext === true) return plainBytes(bytes);
    }
    return envelope.decrypt(bytes, context);
  };

  const files = createSecretFiles();
  const secrets: SecretsApi = {
    async set(name, value) {
      open();
      checkSecretName(name);
      await store.putSecret(name, await envelope.encrypt(value, secretContext(name), SECRETS_SCOPE), true);
    },
    async get(name) {
      open();
      checkSecretName(name);
      const row = await store.getSecret(name);
      if (row === undefined) return undefined;
      if (!row.encrypted) return plainBytes(row.value);
      return envelope.decrypt(row.value, secretContext(name));
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
        size: s.size,
        encrypted: s.encrypted,
        createdAt: s.createdAt,
        updatedAt: s.updatedAt,
      }));
    },
    async delete(name) {
      open();
      checkSecretName(name);
      return store.deleteSecret(name);
    },
  };

  const migrator = createMigrations({
    store,
    envelope,
    registry: parts.registry,
    targets: config.targets,
    dataKeysCacheTtlMs: config.dataKeysCacheTtlMs,
  });
  const migrations: MigrationsApi = {
    reEncrypt: (options) => whenOpen(() => migrator.reEncrypt(options)),
    reEncryptDataKeys: () => whenOpen(() => migrator.reEncryptDataKeys()),
    cleanupDataKeys: () => whenOpen(() => migrator.cleanupDataKeys()),
    rotateDataKeys: () => whenOpen(() => migrator.rotateDataKeys()),
    rotateEncryptionKey: (options) => whenOpen(() => migrator.rotateEncryptionKey(options)),
    disableEncryption: (options) => whenOpen(() => migrator.disableEncryption(options)),
    pruneKeys: () => whenOpen(() => migrator.pruneKeys()),
  };

  return {
    config,
    async encrypt(plaintext, options) {
      open();
      const { context, scope } = resolveCrypt(options, config.targets);
      return envelope.encrypt(plaintext, context, scope);
    },
    decrypt,
    async encryptText(plaintext, options) {
      open();
      const { context, scope } = resolveCrypt(options, config.targets);
      return armor(await envelope.encrypt(plaintext, context, scope));
    },
    async decryptText(text, options) {
      return (await decrypt(text, options)).toString('utf8');
    },
    secrets,
    migrations,
    async status() {
      open();
      return computeStatus(config, store, providers);
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
    },
  };
}
