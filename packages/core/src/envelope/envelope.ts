// The envelope engine: data keys (creation, encryption budget, cache with single-flight unwrap)
// and AES-256-GCM over the binary format. Data keys are used directly: no per-value KDF.
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { AtrestError, isAtrestError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EncryptionContext } from '../providers/contract.js';
import type { CheckedProvider } from '../providers/checked.js';
import type { DataKeyRow, Store } from '../store/store.js';
import {
  DATA_KEY_ID_LENGTH,
  DATA_KEY_ID_OFFSET,
  FORMAT_VERSION,
  HEADER_LENGTH,
  MAGIC,
  MIN_CIPHERTEXT_LENGTH,
  NONCE_LENGTH,
  TAG_LENGTH,
  readDataKeyId,
} from './format.js';

/**
 * Encryptions allowed under one data key. Random 96-bit nonces stay far below NIST SP 800-38D's
 * 2^32 bound at 2^30; past it a new data key is made for the label.
 */
export const MAX_ENCRYPTIONS_PER_DATA_KEY = 2 ** 30;
/** Encryptions a process reserves at once (one UPDATE per block), so the cap holds across processes. */
const RESERVATION_BLOCK = 2 ** 16;

/** The wrap/unwrap context bound to a data key by its provider. */
export function dataKeyContext(row: Pick<DataKeyRow, 'id' | 'label'>): EncryptionContext {
  return { atrest_data_key: row.id, atrest_label: row.label };
}

/** Providers by id, as configured (current and available). */
export type ProviderRegistry = {
  readonly currentId: string;
  get(id: string): CheckedProvider;
};

type CachedKey = { key: Buffer; expiresAt: number };
/** An active data key with this process's remaining encryption budget. */
export type ActiveKey = { id: string; header: Buffer; key: Buffer; remaining: number; expiresAt: number };

/** Counters for status and benchmarks. */
export type EnvelopeStats = { wraps: number; unwraps: number; dataKeysCreated: number };

/** Nonces come from a refilled random pool: one syscall per 4096 nonces instead of one each. */
class NoncePool {
  private pool = Buffer.alloc(NONCE_LENGTH * 4096);
  private offset = this.pool.length;
  next(into: Buffer, at: number): void {
    if (this.offset === this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    this.pool.copy(into, at, this.offset, this.offset + NONCE_LENGTH);
    this.offset += NONCE_LENGTH;
  }
}

function toBytes(value: string | Uint8Array | undefined): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Encrypts and decrypts values; owns the data key cache. */
export class Envelope {
  readonly stats: EnvelopeStats = { wraps: 0, unwraps: 0, dataKeysCreated: 0 };
  private readonly cache = new Map<string, CachedKey>();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private readonly active = new Map<string, ActiveKey>();
  private readonly activeInflight = new Map<string, Promise<ActiveKey>>();
  private readonly nonces = new NoncePool();
  private day = '';
  private dayEndsAt = 0;

  private readonly cleanup: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    cleanupIntervalMs?: number,
  ) {
    // Expired keys leave memory on a timer, not only when next looked up; it never keeps the process alive.
    if (cleanupIntervalMs !== undefined)
      this.cleanup = setInterval(() => this.purgeExpired(), cleanupIntervalMs).unref();
  }

  /** Drop expired cache entries, zeroing keys no active entry still holds. */
  purgeExpired(now = Date.now()): number {
    const inUse = new Set<Buffer>();
    for (const [label, a] of this.active) {
      if (a.expiresAt <= now) this.active.delete(label);
      else inUse.add(a.key);
    }
    let n = 0;
    for (const [id, c] of this.cache) {
      if (c.expiresAt > now) continue;
      this.cache.delete(id);
      if (!inUse.has(c.key)) c.key.fill(0);
      n++;
    }
    return n;
  }

  /** Encrypt under the active data key of `scope` for today (made and committed first if needed). */
  async encrypt(
    plaintext: string | Uint8Array,
    context: string | Uint8Array | undefined,
    scope: string,
  ): Promise<Buffer> {
    const now = Date.now();
    const label = `${scope}/${this.today(now)}`;
    let active = this.active.get(label);
    if (active === undefined || active.remaining <= 0 || active.expiresAt <= now) active = await this.activeKey(label);
    return this.seal(active, plaintext, context);
  }

  /** The active data key of `scope` for today, with at least `count` encryptions of budget (count ≤ 65536). */
  async activeKeyFor(scope: string, count = 1): Promise<ActiveKey> {
    const now = Date.now();
    const label = `${scope}/${this.today(now)}`;
    let active = this.active.get(label);
    if (active === undefined || active.remaining < count || active.expiresAt <= now) {
      if (active !== undefined) active.remaining = 0;
      active = await this.activeKey(label);
    }
    return active;
  }

  /** Encrypt under a key from `activeKeyFor` (synchronous: for batches that resolved their key once). */
  seal(active: ActiveKey, plaintext: string | Uint8Array, context: string | Uint8Array | undefined): Buffer {
    const data = toBytes(plaintext);
    if (active.remaining <= 0)
      throw new AtrestError('ATREST_STORE', 'Internal: the data key budget was used up; get a new active key.');
    active.remaining--;
    const out = Buffer.allocUnsafe(HEADER_LENGTH + data.length + TAG_LENGTH);
    active.header.copy(out, 0, 0, HEADER_LENGTH - NONCE_LENGTH);
    this.nonces.next(out, HEADER_LENGTH - NONCE_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', active.key, out.subarray(HEADER_LENGTH - NONCE_LENGTH, HEADER_LENGTH));
    // GCM takes the AAD in pieces: header then context, as if concatenated (no copy).
    cipher.setAAD(out.subarray(0, HEADER_LENGTH));
    if (context !== undefined) cipher.setAAD(toBytes(context));
    const n = cipher.update(data).copy(out, HEADER_LENGTH);
    cipher.final();
    cipher.getAuthTag().copy(out, HEADER_LENGTH + n);
    return out;
  }

  /** The cached key of `id` if present and fresh (synchronous fast path), else undefined. */
  cachedKey(id: string): Buffer | undefined {
    const cached = this.cache.get(id);
    return cached !== undefined && cached.expiresAt > Date.now() ? cached.key : undefined;
  }

  /** Decrypt a binary envelope; a wrong context or any changed byte is ATREST_DECRYPT_FAILED. */
  async decrypt(ciphertext: Uint8Array, context: string | Uint8Array | undefined): Promise<Buffer> {
    const bytes = toBytes(ciphertext);
    const id = readDataKeyId(bytes);
    const cached = this.cache.get(id);
    const key = cached !== undefined && cached.expiresAt > Date.now() ? cached.key : await this.dataKey(id);
    return this.decryptWith(key, bytes, context);
  }

  /** Decrypt with a known key (also used by migrations that hold the key already). */
  decryptWith(key: Buffer, bytes: Buffer, context: string | Uint8Array | undefined): Buffer {
    if (bytes.length < MIN_CIPHERTEXT_LENGTH)
      throw new AtrestError('ATREST_FORMAT_INVALID', 'The ciphertext is truncated.');
    const header = bytes.subarray(0, HEADER_LENGTH);
    const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(HEADER_LENGTH - NONCE_LENGTH));
    decipher.setAAD(header);
    if (context !== undefined) decipher.setAAD(toBytes(context));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_LENGTH));
    const body = decipher.update(bytes.subarray(HEADER_LENGTH, bytes.length - TAG_LENGTH));
    try {
      decipher.final();
    } catch (cause) {
      body.fill(0);
      throw new AtrestError(
        'ATREST_DECRYPT_FAILED',
        'Decryption failed: the value was changed, or it is decrypted with another context than it was encrypted with (a value copied to another row or column).',
        { cause },
      );
    }
    return body;
  }

  /** The unwrapped data key `id`, from the cache or its provider (one provider call per key, however many callers wait). */
  dataKey(id: string): Promise<Buffer> {
    const cached = this.cache.get(id);
    if (cached !== undefined && cached.expiresAt > Date.now()) return Promise.resolve(cached.key);
    let pending = this.inflight.get(id);
    if (pending === undefined) {
      pending = this.unwrap(id).finally(() => this.inflight.delete(id));
      this.inflight.set(id, pending);
    }
    return pending;
  }

  private async unwrap(id: string): Promise<Buffer> {
    const row = this.store.dataKey(id);
    if (row === undefined) {
      throw new AtrestError(
        'ATREST_DATA_KEY_NOT_FOUND',
        `The value was encrypted with data key ${id}, which is not in this database's atrest_data_keys table: the value was changed, or it comes from another database.`,
        {
          details: { dataKeyId: id },
        },
      );
    }
    const provider = this.providers.get(row.provider);
    this.stats.unwraps++;
    const key = Buffer.from(
      await provider.unwrapKey({ ciphertext: row.wrapped, keyRef: row.key_ref }, dataKeyContext(row)),
    );
    this.remember(id, key);
    return key;
  }

  private remember(id: string, key: Buffer): void {
    // An expired entry's buffer is not zeroed here: an active key may still hold it until its own expiry.
    this.cache.set(id, { key, expiresAt: Date.now() + this.ttlMs });
  }

  private today(now: number): string {
    if (now >= this.dayEndsAt) {
      this.day = utcDay(now);
      this.dayEndsAt = Date.parse(`${this.day}T00:00:00.000Z`) + 86_400_000;
    }
    return this.day;
  }

  private activeKey(label: string): Promise<ActiveKey> {
    let pending = this.activeInflight.get(label);
    if (pending === undefined) {
      pending = this.loadActiveKey(label).finally(() => this.activeInflight.delete(label));
      this.activeInflight.set(label, pending);
    }
    return pending;
  }

  /** Find or make the active data key of `label` for the current provider and reserve an encryption budget. */
  private async loadActiveKey(label: string): Promise<ActiveKey> {
    const providerId = this.providers.currentId;
    for (let attempt = 0; attempt < 5; attempt++) {
      let row = this.store.activeDataKey(label, providerId);
      let key: Buffer;
      if (row !== undefined) {
        if (!this.store.reserveEncryptions(row.id, RESERVATION_BLOCK, MAX_ENCRYPTIONS_PER_DATA_KEY)) {
          // Budget used up (or retired meanwhile): retire it and make a new one.
          this.store.retireDataKey(row.id);
          continue;
        }
        key = await this.dataKey(row.id);
      } else {
        const created = await this.createDataKey(label, providerId);
        row = created.row;
        key = created.key;
        if (
          row.id !== created.ownId &&
          !this.store.reserveEncryptions(row.id, RESERVATION_BLOCK, MAX_ENCRYPTIONS_PER_DATA_KEY)
        )
          continue;
      }
      const header = Buffer.alloc(HEADER_LENGTH);
      Buffer.from(MAGIC).copy(header, 0);
      header[MAGIC.length] = FORMAT_VERSION;
      Buffer.from(row.id, 'hex').copy(header, DATA_KEY_ID_OFFSET);
      const active: ActiveKey = {
        id: row.id,
        header,
        key,
        remaining: RESERVATION_BLOCK,
        expiresAt: Date.now() + this.ttlMs,
      };
      this.active.set(label, active);
      return active;
    }
    throw new AtrestError(
      'ATREST_STORE',
      `Could not obtain an active data key for ${label}: other processes keep retiring it. Try again.`,
    );
  }

  /** Make a data key, wrap it, commit it; cached only after the commit. Another process may win the race: then theirs is used. */
  private async createDataKey(
    label: string,
    providerId: string,
  ): Promise<{ row: DataKeyRow; key: Buffer; ownId: string }> {
    const provider = this.providers.get(providerId);
    const id = randomBytes(DATA_KEY_ID_LENGTH).toString('hex');
    const key = randomBytes(32);
    const now = new Date().toISOString();
    this.stats.wraps++;
    const wrapped = await provider.wrapKey(key, dataKeyContext({ id, label }));
    const row = this.store.insertActiveDataKey({
      id,
      label,
      provider: providerId,
      key_ref: wrapped.keyRef,
      wrapped: Buffer.from(wrapped.ciphertext),
      encryptions_reserved: RESERVATION_BLOCK,
      created_at: now,
    });
    if (row.id !== id) {
      key.fill(0);
      return { row, key: await this.dataKey(row.id), ownId: id };
    }
    this.stats.dataKeysCreated++;
    this.logger.info('atrest: new data key', { dataKeyId: id, label, provider: providerId, keyRef: wrapped.keyRef });
    this.remember(id, key);
    return { row, key, ownId: id };
  }

  /** Forget active data keys so the next encryption looks them up (after rotation). */
  forgetActiveKeys(): void {
    this.active.clear();
  }

  /** Zero and drop every cached key. */
  clear(): void {
    if (this.cleanup !== undefined) clearInterval(this.cleanup);
    for (const { key } of this.cache.values()) key.fill(0);
    this.cache.clear();
    this.active.clear();
  }

  /** Unwrap one data key as a check that the configured keys match the data (canary). */
  async check(row: DataKeyRow): Promise<void> {
    try {
      await this.dataKey(row.id);
    } catch (err) {
      if (isAtrestError(err)) throw err;
      throw new AtrestError('ATREST_PROVIDER_FAILED', `Checking data key ${row.id} with ${row.provider} failed.`, {
        cause: err,
      });
    }
  }
}
