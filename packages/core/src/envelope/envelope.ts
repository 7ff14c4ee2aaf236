// The envelope engine: data keys (creation, encryption budget, cache with single-flight unwrap)
// and AES-256-GCM over the binary format. Data keys are used directly: no per-value KDF. It reads
// and writes data keys through the Store seam only.
import { randomBytes } from 'node:crypto';
import { errors, isAtrestError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EncryptionContext } from '../providers/contract.js';
import type { CheckedProvider } from '../providers/checked.js';
import type { DataKeyRecord, Store } from '../store/types.js';
import {
  DATA_KEY_ID_LENGTH,
  DATA_KEY_ID_OFFSET,
  FORMAT_VERSION,
  HEADER_LENGTH,
  MAGIC,
  readDataKeyId,
} from './format.js';
import { NoncePool, openEnvelope, sealEnvelope } from './gcm.js';

/**
 * Encryptions allowed under one data key. Random 96-bit nonces stay far below NIST SP 800-38D's
 * 2^32 bound at 2^30; past it a new data key is made for the label.
 */
export const MAX_ENCRYPTIONS_PER_DATA_KEY = 2 ** 30;
/** Encryptions a process reserves at once (one UPDATE per block), so the cap holds across processes. */
const RESERVATION_BLOCK = 2 ** 16;

/** The wrap/unwrap context bound to a data key by its provider. */
export function dataKeyContext(row: Pick<DataKeyRecord, 'id' | 'label'>): EncryptionContext {
  return { atrest_data_key: row.id, atrest_label: row.label };
}

/** Providers by id, as configured (current and available). */
export type ProviderRegistry = {
  readonly currentId: string;
  get(id: string): CheckedProvider;
};

/**
 * A cached data key. Its buffer is zeroed once it has expired (or on close): whoever takes one
 * from the cache uses it in the same synchronous step, or copies it.
 */
type CachedKey = { key: Buffer; expiresAt: number };
/** An active data key with this process's remaining encryption budget. */
export type ActiveKey = { id: string; header: Buffer; key: Buffer; remaining: number; expiresAt: number };
/** Encryptions spent under an active data key, with copies of its header and key. */
export type SealingShare = { id: string; header: Buffer; key: Buffer; count: number };

/** The bytes of a value or context, read only: a Buffer as it is (no new view of it per operation). */
function toBytes(value: string | Uint8Array | undefined): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * The bytes of a context, read only. The last string context's bytes are kept: a caller that seals
 * or opens many values under one context (a column, a secret read again and again) encodes it once.
 */
class ContextBytes {
  private text: string | undefined;
  private bytes: Buffer = Buffer.alloc(0);
  of(context: string | Uint8Array | undefined): Buffer | undefined {
    if (typeof context !== 'string') return context === undefined ? undefined : toBytes(context);
    if (context !== this.text) {
      this.bytes = Buffer.from(context, 'utf8');
      this.text = context;
    }
    return this.bytes;
  }
}

function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Encrypts and decrypts values; owns the data key cache. */
export class Envelope {
  /** Data key cache reads (metrics). */
  readonly cacheReads = { hit: 0, miss: 0 };
  /** Told of every data key this envelope created (the audit trail). */
  onDataKeyCreated: ((key: DataKeyRecord) => void) | undefined;
  private readonly cache = new Map<string, CachedKey>();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private readonly active = new Map<string, ActiveKey>();
  /** Every active key handed out, until it expires: each holds its own copy of the key, zeroed then. */
  private readonly issued = new Set<ActiveKey>();
  private readonly activeInflight = new Map<string, Promise<ActiveKey>>();
  private readonly nonces = new NoncePool();
  private readonly contexts = new ContextBytes();
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

  /** Drop expired entries and zero their keys. */
  private purgeExpired(now = Date.now()): void {
    for (const [id, c] of this.cache) {
      if (c.expiresAt > now) continue;
      this.cache.delete(id);
      c.key.fill(0);
    }
    for (const [label, a] of this.active) if (a.expiresAt <= now) this.active.delete(label);
    for (const a of this.issued) {
      if (a.expiresAt > now) continue;
      this.issued.delete(a);
      a.key.fill(0);
    }
  }

  /** Encrypt under the active data key of `scope` for today (made and committed first if needed). */
  async encrypt(
    plaintext: string | Uint8Array,
    context: string | Uint8Array | undefined,
    scope: string,
  ): Promise<Buffer> {
    const label = this.labelOf(scope);
    for (;;) {
      const active = this.usableActive(label) ?? (await this.activeKey(label));
      // Concurrent callers awaited the same key: one whose budget they used up is fetched anew.
      if (active.remaining > 0 && this.issued.has(active)) return this.seal(active, plaintext, context);
    }
  }

  /** The active data key of `scope` for today, with budget left and not expired (see `usable`). */
  activeKeyFor(scope: string): Promise<ActiveKey> {
    const label = this.labelOf(scope);
    const active = this.usableActive(label);
    return active !== undefined ? Promise.resolve(active) : this.activeKey(label);
  }

  /**
   * Spend `count` encryptions of `scope` now, for sealing elsewhere (the re-encrypt workers): copies
   * of the usable active keys that cover them, each with its share. The caller zeroes the copies.
   */
  async takeEncryptions(scope: string, count: number): Promise<SealingShare[]> {
    const shares: SealingShare[] = [];
    for (let left = count; left > 0; ) {
      const active = await this.activeKeyFor(scope);
      // Copied in the step that found it usable: an expired key may be zeroed at any later tick.
      const share = Math.min(active.remaining, left);
      active.remaining -= share;
      left -= share;
      shares.push({ id: active.id, header: Buffer.from(active.header), key: Buffer.from(active.key), count: share });
    }
    return shares;
  }

  private usableActive(label: string): ActiveKey | undefined {
    const active = this.active.get(label);
    return active !== undefined && this.usable(active) ? active : undefined;
  }

  /** True while `active` may seal: budget left and not expired (an expired key may be zeroed). */
  usable(active: ActiveKey): boolean {
    return active.remaining > 0 && active.expiresAt > Date.now();
  }

  /**
   * Encrypt under a key from `activeKeyFor`. Its budget must be left and its key not zeroed (the
   * cleanup zeroes expired keys on a timer, and removes them from `issued` when it does). It may have
   * expired since it was chosen: a key just made or looked up is sealed with even when its lifetime
   * is shorter than the provider's wrap took (a data_keys_cache_ttl of a millisecond).
   */
  seal(active: ActiveKey, plaintext: string | Uint8Array, context: string | Uint8Array | undefined): Buffer {
    if (active.remaining <= 0 || !this.issued.has(active)) {
      throw errors.internal('a data key was used past its budget or after it was zeroed');
    }
    active.remaining--;
    return sealEnvelope(active.key, active.header, this.nonces, toBytes(plaintext), this.contexts.of(context));
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
    const cached = this.cachedKey(id);
    if (cached === undefined) return this.decryptWith(await this.dataKey(id), bytes, context);
    this.cacheReads.hit++;
    return this.decryptWith(cached, bytes, context);
  }

  /** Unexpired entries of the data key cache (metrics). */
  cacheEntries(now = Date.now()): number {
    let n = 0;
    for (const c of this.cache.values()) if (c.expiresAt > now) n++;
    return n;
  }

  /** Decrypt with a known key (also used by migrations that hold the key already). */
  decryptWith(key: Buffer, bytes: Buffer, context: string | Uint8Array | undefined): Buffer {
    return openEnvelope(key, bytes, this.contexts.of(context));
  }

  /** The unwrapped data key `id`, from the cache or its provider (one call per key, however many callers wait). */
  dataKey(id: string): Promise<Buffer> {
    const cached = this.cachedKey(id);
    if (cached !== undefined) {
      this.cacheReads.hit++;
      return Promise.resolve(cached);
    }
    this.cacheReads.miss++;
    let pending = this.inflight.get(id);
    if (pending === undefined) {
      pending = this.unwrap(id).finally(() => this.inflight.delete(id));
      this.inflight.set(id, pending);
    }
    return pending;
  }

  private async unwrap(id: string): Promise<Buffer> {
    const row = await this.store.dataKey(id);
    if (row === undefined) throw errors.dataKeyNotFound(id);
    const provider = this.providers.get(row.provider);
    const unwrapped = await provider.unwrapKey({ ciphertext: row.wrapped, keyRef: row.keyRef }, dataKeyContext(row));
    // The cache owns its copy; the provider's is zeroed.
    const key = Buffer.from(unwrapped);
    unwrapped.fill(0);
    this.logger.debug('atrest: data key unwrapped', { dataKeyId: id, provider: row.provider, keyRef: row.keyRef });
    this.remember(id, key);
    return key;
  }

  private remember(id: string, key: Buffer): void {
    // An entry replaced has expired; its users took what they needed synchronously.
    this.cache.get(id)?.key.fill(0);
    this.cache.set(id, { key, expiresAt: Date.now() + this.ttlMs });
  }

  /** A scope's data key label for today: `<scope>/<YYYY-MM-DD>` (UTC). */
  private labelOf(scope: string): string {
    const now = Date.now();
    if (now >= this.dayEndsAt) {
      this.day = utcDay(now);
      this.dayEndsAt = Date.parse(`${this.day}T00:00:00.000Z`) + 86_400_000;
    }
    return `${scope}/${this.day}`;
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
      // The hold is counted from before the key is read and reserved, not from when the provider's
      // unwrap returned (seconds, on a slow KMS): it ends within data_keys_cache_ttl of any
      // retirement after the reservation, which the data key cleanup waits for on another node.
      const asked = Date.now();
      const found = await this.store.activeDataKey(label, providerId);
      let id: string;
      let key: Buffer;
      if (found !== undefined) {
        if (!(await this.store.reserveEncryptions(found.id, RESERVATION_BLOCK, MAX_ENCRYPTIONS_PER_DATA_KEY))) {
          // Budget used up (or retired meanwhile): retire it and make a new one.
          await this.store.retireDataKey(found.id);
          continue;
        }
        id = found.id;
        key = Buffer.from(await this.dataKey(id));
      } else {
        const created = await this.createDataKey(label, providerId);
        if (created === undefined) continue; // another process's key won, and its budget was used up
        ({ id, key } = created);
      }
      const header = Buffer.alloc(HEADER_LENGTH);
      header.set(MAGIC, 0);
      header[MAGIC.length] = FORMAT_VERSION;
      header.write(id, DATA_KEY_ID_OFFSET, DATA_KEY_ID_LENGTH, 'hex');
      const active: ActiveKey = { id, header, key, remaining: RESERVATION_BLOCK, expiresAt: asked + this.ttlMs };
      this.active.set(label, active);
      this.issued.add(active);
      return active;
    }
    throw errors.store(
      `Could not obtain an active data key for ${label}: other processes keep retiring it.`,
      'Try again.',
    );
  }

  /**
   * Make a data key, wrap it, commit it; cached only after the commit. Another process may win the
   * race: then theirs is used, if a budget can be reserved under it (else undefined). Returns a copy
   * of the key for the active entry.
   */
  private async createDataKey(label: string, providerId: string): Promise<{ id: string; key: Buffer } | undefined> {
    const provider = this.providers.get(providerId);
    const id = randomBytes(DATA_KEY_ID_LENGTH).toString('hex');
    const key = randomBytes(32);
    let winner: DataKeyRecord;
    try {
      const wrapped = await provider.wrapKey(key, dataKeyContext({ id, label }));
      winner = await this.store.createActiveDataKey({
        id,
        label,
        provider: providerId,
        keyRef: wrapped.keyRef,
        wrapped: Buffer.from(wrapped.ciphertext),
        encryptionsReserved: RESERVATION_BLOCK,
        createdAt: new Date().toISOString(),
      });
    } catch (err) {
      key.fill(0);
      throw err;
    }
    if (winner.id !== id) {
      key.fill(0);
      if (!(await this.store.reserveEncryptions(winner.id, RESERVATION_BLOCK, MAX_ENCRYPTIONS_PER_DATA_KEY))) {
        return undefined;
      }
      return { id: winner.id, key: Buffer.from(await this.dataKey(winner.id)) };
    }
    this.logger.info('atrest: new data key', { dataKeyId: id, label, provider: providerId, keyRef: winner.keyRef });
    this.onDataKeyCreated?.(winner);
    this.remember(id, key);
    return { id, key: Buffer.from(key) };
  }

  /** Forget active data keys so the next encryption looks them up (after rotation). */
  forgetActiveKeys(): void {
    this.active.clear();
  }

  /** Zero and drop every key. */
  clear(): void {
    if (this.cleanup !== undefined) clearInterval(this.cleanup);
    for (const { key } of this.cache.values()) key.fill(0);
    for (const { key } of this.issued) key.fill(0);
    this.cache.clear();
    this.active.clear();
    this.issued.clear();
  }

  /** Unwrap one data key as a check that the configured keys match the data (canary). */
  async check(row: DataKeyRecord): Promise<void> {
    try {
      await this.dataKey(row.id);
    } catch (err) {
      if (isAtrestError(err)) throw err;
      throw errors.providerFailed(
        `Checking data key ${row.id} with ${row.provider} failed.`,
        "Read the cause; if it persists, report it to the provider's authors.",
        { cause: err },
      );
    }
  }
}
