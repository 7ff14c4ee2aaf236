// The Transit secrets engine of the Vault emulator: named keys with versions, `rotate`,
// `min_decryption_version` / `min_encryption_version`, encrypt, decrypt and rewrap with Vault's
// ciphertext format (`vault:v<N>:` + base64 of nonce ‖ ciphertext ‖ tag) and its error texts.
// Associated data is honoured by encrypt and decrypt of AEAD keys and, as in Vault and OpenBao,
// not by rewrap: a ciphertext bound to associated data does not rewrap.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { CipherGCMTypes } from 'node:crypto';
import { VaultError } from './vault-error.js';

/** The AEAD key types the emulator offers (Vault's names). */
export const transitKeyTypes = ['aes256-gcm96', 'aes128-gcm96', 'chacha20-poly1305'] as const;
export type TransitKeyType = (typeof transitKeyTypes)[number];

const cipherOf: Readonly<Record<TransitKeyType, CipherGCMTypes | 'chacha20-poly1305'>> = {
  'aes256-gcm96': 'aes-256-gcm',
  'aes128-gcm96': 'aes-128-gcm',
  'chacha20-poly1305': 'chacha20-poly1305',
};
const keyBytesOf: Readonly<Record<TransitKeyType, number>> = {
  'aes256-gcm96': 32,
  'aes128-gcm96': 16,
  'chacha20-poly1305': 32,
};
const NONCE = 12;
const TAG = 16;
/** Vault's text for a ciphertext below `min_decryption_version`. */
const TOO_OLD = 'ciphertext or signature version is disallowed by policy (too old)';

/** Public facts of a transit key, as `GET <mount>/keys/<name>` answers them. */
export type TransitKeyFacts = {
  readonly name: string;
  readonly type: TransitKeyType;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
  readonly minEncryptionVersion: number;
};

type TransitKey = {
  readonly name: string;
  readonly type: TransitKeyType;
  /** Key material per version, version 1 first. */
  readonly versions: { readonly key: Buffer; readonly created: number }[];
  minDecryptionVersion: number;
  minEncryptionVersion: number;
};

/** What an encryption or a rewrap answers. */
export type TransitCiphertext = { readonly ciphertext: string; readonly key_version: number };

/** Standard base64 as Go's StdEncoding reads it: padded, canonical; undefined otherwise. */
function strictBase64(value: string): Buffer | undefined {
  const bytes = Buffer.from(value, 'base64');
  return value.length % 4 === 0 && bytes.toString('base64') === value ? bytes : undefined;
}

function decodeBase64(value: unknown, what: string): Buffer {
  if (value === undefined || value === null || value === '') return Buffer.alloc(0);
  const bytes = typeof value === 'string' ? strictBase64(value) : undefined;
  if (bytes === undefined) throw new VaultError(400, [`failed to base64-decode ${what}`]);
  return bytes;
}

function wholeNumber(value: unknown, name: string): number {
  if (value === undefined || value === null || value === '') return 0;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0) throw new VaultError(400, [`invalid ${name}: ${String(value)}`]);
  return n;
}

/** One mount of the transit engine. */
export class TransitEngine {
  readonly #keys = new Map<string, TransitKey>();

  has(name: string): boolean {
    return this.#keys.has(name);
  }

  /** `POST <mount>/keys/<name>`: a new key (an existing one is left as it is, as Vault does). */
  create(name: string, type: unknown = 'aes256-gcm96'): TransitKeyFacts {
    if (!/^[\w.-]+$/.test(name)) throw new VaultError(400, [`invalid key name "${name}"`]);
    if (!(transitKeyTypes as readonly unknown[]).includes(type)) {
      throw new VaultError(400, [`unknown key type ${String(type)}`]);
    }
    const existing = this.#keys.get(name);
    if (existing) return this.#facts(existing);
    const key: TransitKey = {
      name,
      type: type as TransitKeyType,
      versions: [],
      minDecryptionVersion: 1,
      minEncryptionVersion: 0,
    };
    this.#addVersion(key);
    this.#keys.set(name, key);
    return this.#facts(key);
  }

  /** `GET <mount>/keys/<name>`; undefined when there is no such key (Vault answers 404). */
  read(name: string): TransitKeyFacts | undefined {
    const key = this.#keys.get(name);
    return key ? this.#facts(key) : undefined;
  }

  /** `POST <mount>/keys/<name>/rotate`: a new latest version. */
  rotate(name: string): TransitKeyFacts {
    const key = this.#find(name, 'encryption key not found');
    this.#addVersion(key);
    return this.#facts(key);
  }

  /** `POST <mount>/keys/<name>/config`: `min_decryption_version`, `min_encryption_version`. */
  configure(name: string, body: Readonly<Record<string, unknown>>): TransitKeyFacts {
    const key = this.#find(name, `no existing key named ${name} could be found`);
    const latest = key.versions.length;
    if (body['min_decryption_version'] !== undefined) {
      const v = wholeNumber(body['min_decryption_version'], 'min_decryption_version');
      if (v > latest) throw new VaultError(400, ['cannot set min decryption version of a value larger than latest']);
      key.minDecryptionVersion = Math.max(v, 1);
    }
    if (body['min_encryption_version'] !== undefined) {
      const v = wholeNumber(body['min_encryption_version'], 'min_encryption_version');
      if (v > latest) throw new VaultError(400, ['cannot set min encryption version of a value larger than latest']);
      key.minEncryptionVersion = v;
    }
    return this.#facts(key);
  }

  /** `POST <mount>/encrypt/<name>` on an existing key (the router creates a missing one first). */
  encrypt(name: string, body: Readonly<Record<string, unknown>>): TransitCiphertext {
    const key = this.#find(name, 'encryption key not found');
    const plaintext = decodeBase64(body['plaintext'], 'plaintext');
    const aad = decodeBase64(body['associated_data'], 'associated_data');
    return this.#seal(key, wholeNumber(body['key_version'], 'key_version'), plaintext, aad);
  }

  /** `POST <mount>/decrypt/<name>`: the plaintext, base64. */
  decrypt(name: string, body: Readonly<Record<string, unknown>>): { readonly plaintext: string } {
    const key = this.#find(name, 'encryption key not found');
    const aad = decodeBase64(body['associated_data'], 'associated_data');
    const plaintext = this.#open(key, body['ciphertext'], aad);
    return { plaintext: plaintext.toString('base64') };
  }

  /** `POST <mount>/rewrap/<name>`: decrypt and encrypt inside the engine, with no associated data. */
  rewrap(name: string, body: Readonly<Record<string, unknown>>): TransitCiphertext {
    const key = this.#find(name, 'encryption key not found');
    const plaintext = this.#open(key, body['ciphertext'], Buffer.alloc(0));
    try {
      return this.#seal(key, wholeNumber(body['key_version'], 'key_version'), plaintext, Buffer.alloc(0));
    } finally {
      plaintext.fill(0);
    }
  }

  #facts(key: TransitKey): TransitKeyFacts {
    return {
      name: key.name,
      type: key.type,
      latestVersion: key.versions.length,
      minDecryptionVersion: key.minDecryptionVersion,
      minEncryptionVersion: key.minEncryptionVersion,
    };
  }

  /** The body of `GET <mount>/keys/<name>`, as Vault words it. */
  describe(name: string): Record<string, unknown> | undefined {
    const key = this.#keys.get(name);
    if (!key) return undefined;
    return {
      name: key.name,
      type: key.type,
      keys: Object.fromEntries(key.versions.map((v, i) => [String(i + 1), v.created])),
      latest_version: key.versions.length,
      min_available_version: 0,
      min_decryption_version: key.minDecryptionVersion,
      min_encryption_version: key.minEncryptionVersion,
      deletion_allowed: false,
      derived: false,
      exportable: false,
      allow_plaintext_backup: false,
      auto_rotate_period: 0,
      imported_key: false,
      supports_decryption: true,
      supports_derivation: true,
      supports_encryption: true,
      supports_signing: false,
    };
  }

  #find(name: string, missing: string): TransitKey {
    const key = this.#keys.get(name);
    if (!key) throw new VaultError(400, [missing]);
    return key;
  }

  #addVersion(key: TransitKey): void {
    key.versions.push({ key: randomBytes(keyBytesOf[key.type]), created: Math.floor(Date.now() / 1000) });
  }

  #seal(key: TransitKey, requested: number, plaintext: Buffer, aad: Buffer): TransitCiphertext {
    const latest = key.versions.length;
    const version = requested === 0 ? latest : requested;
    if (version > latest)
      throw new VaultError(400, ['requested version for encryption is higher than the latest key version']);
    if (version < key.minEncryptionVersion) {
      throw new VaultError(400, ['requested version for encryption is less than the minimum encryption key version']);
    }
    const material = key.versions[version - 1]?.key ?? Buffer.alloc(0);
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv(cipherOf[key.type] as CipherGCMTypes, material, nonce, { authTagLength: TAG });
    if (aad.length > 0) cipher.setAAD(aad);
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { ciphertext: `vault:v${version}:${sealed.toString('base64')}`, key_version: version };
  }

  #open(key: TransitKey, ciphertext: unknown, aad: Buffer): Buffer {
    if (typeof ciphertext !== 'string' || ciphertext === '')
      throw new VaultError(400, ['missing ciphertext to decrypt']);
    if (!ciphertext.startsWith('vault:v')) throw new VaultError(400, ['invalid ciphertext: no prefix']);
    const parts = ciphertext.split(':');
    if (parts.length !== 3) throw new VaultError(400, ['invalid ciphertext: wrong number of fields']);
    const version = Number((parts[1] ?? '').slice(1));
    if (!Number.isInteger(version) || version < 0) {
      throw new VaultError(400, ['invalid ciphertext: version number could not be decoded']);
    }
    const effective = version === 0 ? 1 : version;
    if (effective > key.versions.length) throw new VaultError(400, ['invalid ciphertext: version is too new']);
    if (effective < key.minDecryptionVersion) throw new VaultError(400, [TOO_OLD]);
    const raw = strictBase64(parts[2] ?? '');
    if (raw === undefined) throw new VaultError(400, ['invalid ciphertext: could not decode base64']);
    if (raw.length < NONCE + TAG) throw new VaultError(400, ['cipher: message authentication failed']);
    const material = key.versions[effective - 1]?.key ?? Buffer.alloc(0);
    const decipher = createDecipheriv(cipherOf[key.type] as CipherGCMTypes, material, raw.subarray(0, NONCE), {
      authTagLength: TAG,
    });
    if (aad.length > 0) decipher.setAAD(aad);
    decipher.setAuthTag(raw.subarray(raw.length - TAG));
    try {
      return Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]);
    } catch {
      throw new VaultError(400, ['cipher: message authentication failed']);
    }
  }
}

/** The transit requests the emulator tells apart. */
export type TransitOperation = 'encrypt' | 'decrypt' | 'rewrap' | 'readKey' | 'writeKey' | 'rotateKey' | 'configKey';

/** A routed transit request: its operation (counted before any check) and what serves it. */
export type TransitRoute = {
  readonly operation: TransitOperation;
  /** Parameters the operation knows, when Vault warns about others. */
  readonly known?: readonly string[];
  /** Serves the request; `need` throws `permission denied` unless the token has the capability. */
  run(body: Readonly<Record<string, unknown>>, need: (capability: 'create' | 'read' | 'update') => void): unknown;
};

const dataActions = {
  encrypt: ['plaintext', 'associated_data', 'context', 'key_version', 'nonce', 'type', 'convergent_encryption'],
  decrypt: ['ciphertext', 'associated_data', 'context', 'nonce'],
  rewrap: ['ciphertext', 'context', 'key_version', 'nonce'],
} as const;

/** Route `method rest…` inside a transit mount; undefined: no such endpoint. */
export function routeTransit(engine: TransitEngine, method: string, rest: readonly string[]): TransitRoute | undefined {
  const [head = '', name = '', tail] = rest;
  if (name === '' || rest.length > 3) return undefined;
  if (head in dataActions && rest.length === 2 && method === 'POST') {
    const action = head as keyof typeof dataActions;
    return {
      operation: action,
      known: dataActions[action],
      run(body, need) {
        // Vault's existence check: encrypting with a key that is not there creates it (upsert).
        need(action === 'encrypt' && !engine.has(name) ? 'create' : 'update');
        if (action === 'encrypt') {
          engine.create(name, body['type'] ?? 'aes256-gcm96');
          return engine.encrypt(name, body);
        }
        return action === 'decrypt' ? engine.decrypt(name, body) : engine.rewrap(name, body);
      },
    };
  }
  if (head !== 'keys') return undefined;
  if (rest.length === 2 && method === 'GET') {
    return {
      operation: 'readKey',
      run(_body, need) {
        need('read');
        const described = engine.describe(name);
        if (!described) throw new VaultError(404, []);
        return described;
      },
    };
  }
  if (method !== 'POST') return undefined;
  if (rest.length === 2) {
    return {
      operation: 'writeKey',
      run(body, need) {
        need(engine.has(name) ? 'update' : 'create');
        engine.create(name, body['type'] ?? 'aes256-gcm96');
        return engine.describe(name);
      },
    };
  }
  if (tail !== 'rotate' && tail !== 'config') return undefined;
  return {
    operation: tail === 'rotate' ? 'rotateKey' : 'configKey',
    run(body, need) {
      need('update');
      if (tail === 'rotate') engine.rotate(name);
      else engine.configure(name, body);
      return engine.describe(name);
    },
  };
}
