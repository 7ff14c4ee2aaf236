// `secret_key`: data keys wrapped under a key derived from a passphrase (Metabase style). scrypt
// (salted, slow) runs once per wrapping salt and once per distinct salt on unwrap, never per
// value: its parameters and salt are stored in every wrapped record.
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { defineProvider, encodeContext, errors } from '@atrest/core';
import type { EncryptionContext, KeyProvider, KeyRotation, ProviderCreateOptions, WrappedKey } from '@atrest/core';

const RECORD_VERSION = 1;
const KDF_SCRYPT = 1;
const SALT = 16;
const NONCE = 12;
const TAG = 16;
/** version ‖ kdf ‖ log2(N) ‖ r ‖ p ‖ salt(16) ‖ nonce(12) ‖ wrapped key(32) ‖ tag(16) */
const PARAMS = 5 + SALT;
const RECORD_LENGTH = PARAMS + NONCE + 32 + TAG;
const AAD_PREFIX = Buffer.from('atrest-secret-key-wrap:v1');
/** Minimum passphrase length in Unicode code points (not UTF-16 units, not bytes), as Metabase requires. */
export const MIN_PASSPHRASE_LENGTH = 16;
/**
 * Passphrases published in other products' documentation and sample files: anyone can read data
 * wrapped under them. Grafana's default `secret_key`.
 */
const WELL_KNOWN_PASSPHRASES: readonly string[] = ['SW2YcwTIb9zpOOhoPsMm'];
/** Default scrypt cost: N = 2^15, r = 8, p = 1 (about 32 MiB and tens of milliseconds). */
export const DEFAULT_KDF = { log2N: 15, r: 8, p: 1 } as const;

export type SecretKeyProviderConfig = { secret_key: string };
type Kdf = { log2N: number; r: number; p: number };

function derive(passphrase: string, salt: Buffer, kdf: Kdf): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { N: 2 ** kdf.log2N, r: kdf.r, p: kdf.p, maxmem: 256 * 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** A `secret_key` provider for one passphrase. */
export class SecretKeyProvider implements KeyProvider {
  private readonly salt = randomBytes(SALT);
  private wrappingKey: Promise<Buffer> | undefined;
  private readonly unwrapKeys = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly passphrase: string,
    private readonly kdf: Kdf = DEFAULT_KDF,
  ) {
    // Counted in code points, as the configuration counts it: a rotation accepts only what a start accepts.
    if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
      throw errors.configInvalid(
        `The secret_key passphrase has fewer than ${MIN_PASSPHRASE_LENGTH} characters.`,
        'Use a longer one (openssl rand -base64 32).',
      );
    }
  }

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
    this.wrappingKey ??= derive(this.passphrase, this.salt, this.kdf);
    const params = Buffer.concat([
      Buffer.of(RECORD_VERSION, KDF_SCRYPT, this.kdf.log2N, this.kdf.r, this.kdf.p),
      this.salt,
    ]);
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', await this.wrappingKey, nonce);
    cipher.setAAD(Buffer.concat([AAD_PREFIX, params, encodeContext(context)]));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return { ciphertext: Buffer.concat([params, nonce, body, cipher.getAuthTag()]), keyRef: 'passphrase' };
  }

  async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
    const rec = Buffer.from(wrapped.ciphertext);
    if (rec.length !== RECORD_LENGTH || rec[0] !== RECORD_VERSION || rec[1] !== KDF_SCRYPT) {
      throw errors.decryptFailed(
        `A passphrase-wrapped data key record is malformed (${rec.length} bytes).`,
        'Restore the database row of that data key from your backup.',
      );
    }
    const kdf = { log2N: rec[2] ?? 0, r: rec[3] ?? 0, p: rec[4] ?? 0 };
    // Bounds keep a forged record from asking for gigabytes of scrypt memory.
    if (kdf.log2N < 10 || kdf.log2N > 20 || kdf.r < 1 || kdf.r > 32 || kdf.p < 1 || kdf.p > 16) {
      throw errors.decryptFailed(
        'A passphrase-wrapped data key record has out-of-range KDF parameters ' +
          `(N=2^${kdf.log2N}, r=${kdf.r}, p=${kdf.p}).`,
        'Restore the database row of that data key from your backup.',
      );
    }
    const params = rec.subarray(0, PARAMS);
    const cacheKey = params.toString('hex');
    let kek = this.unwrapKeys.get(cacheKey);
    if (kek === undefined) {
      kek = derive(this.passphrase, rec.subarray(5, PARAMS), kdf);
      this.unwrapKeys.set(cacheKey, kek);
    }
    const decipher = createDecipheriv('aes-256-gcm', await kek, rec.subarray(PARAMS, PARAMS + NONCE));
    decipher.setAAD(Buffer.concat([AAD_PREFIX, params, encodeContext(context)]));
    decipher.setAuthTag(rec.subarray(RECORD_LENGTH - TAG));
    const key = decipher.update(rec.subarray(PARAMS + NONCE, RECORD_LENGTH - TAG));
    try {
      decipher.final();
    } catch (cause) {
      key.fill(0);
      throw errors.wrongKey(
        'A data key does not decrypt with the configured secret_key passphrase: the passphrase is not ' +
          'the one the data was encrypted with (or the record was changed).',
        'Set the original passphrase.',
        { cause },
      );
    }
    return key;
  }

  get warnings(): readonly string[] {
    if (!WELL_KNOWN_PASSPHRASES.includes(this.passphrase.normalize('NFC'))) return [];
    return [
      "the passphrase is Grafana's published default secret_key: anyone can unwrap these data keys. " +
        'Rotate it: atrest rotate-encryption-key --full (the new passphrase on stdin or a prompt).',
    ];
  }

  describe(): Record<string, string | number> {
    return { kdf: `scrypt N=2^${this.kdf.log2N} r=${this.kdf.r} p=${this.kdf.p}` };
  }

  readonly rotation: KeyRotation = {
    kind: 'passphrase',
    rotate: async (newPassphrase) => new SecretKeyProvider(newPassphrase, this.kdf),
  };

  async close(): Promise<void> {
    const keys = [this.wrappingKey, ...this.unwrapKeys.values()];
    this.wrappingKey = undefined;
    this.unwrapKeys.clear();
    for (const k of keys) if (k !== undefined) (await k.catch(() => Buffer.alloc(0))).fill(0);
  }
}

export const secretKeyProvider = defineProvider<SecretKeyProviderConfig>({
  apiVersion: 1,
  type: 'secret_key',
  description: 'AES-256-GCM key wrapping under a scrypt key derived from a passphrase',
  configSchema: {
    secret_key: {
      doc: `Passphrase (${MIN_PASSPHRASE_LENGTH}+ characters)`,
      format: String,
      default: '',
      sensitive: true,
      required: 'in use',
      minLength: MIN_PASSPHRASE_LENGTH,
      label: 'passphrase',
    },
  },
  async create(options: ProviderCreateOptions<SecretKeyProviderConfig>): Promise<KeyProvider> {
    const secret = options.config.secret_key;
    if (typeof secret !== 'string' || secret === '') {
      throw errors.configInvalid(
        `The ${options.id} provider has no passphrase.`,
        `Set [security] secret_key or ${options.app.toUpperCase().replace(/[-.]/g, '_')}_ENCRYPTION_SECRET_KEY.`,
        { details: { provider: options.id } },
      );
    }
    return new SecretKeyProvider(secret);
  },
});
