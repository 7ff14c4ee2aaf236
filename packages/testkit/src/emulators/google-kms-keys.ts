// The keys of the Cloud KMS emulator: crypto keys in one key ring, their versions and primary, and
// `:encrypt` / `:decrypt` as Cloud KMS answers them. The ciphertext names its version and is bound
// to the crypto key and the additional authenticated data; the CRC32C fields are checked when sent
// and returned; errors are google.rpc.Status.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export type Json = Record<string, unknown>;
type Version = { readonly number: number; readonly key: Buffer; enabled: boolean };
type CryptoKey = { readonly name: string; readonly versions: Version[]; primary: number };

/** A google.rpc.Status error: HTTP status, canonical status name, message. */
export class KmsError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }

  get body(): Json {
    return { error: { code: this.code, message: this.message, status: this.status } };
  }
}

/** CRC32C (Castagnoli), bit by bit: an implementation of its own, independent of any client's. */
function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function bytesField(body: Json, field: string): Buffer {
  const value = body[field];
  if (value === undefined || value === null || value === '') return Buffer.alloc(0);
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) {
    throw new KmsError(
      400,
      'INVALID_ARGUMENT',
      `Invalid value at '${snake(field)}' (TYPE_BYTES), Base64 decoding failed`,
    );
  }
  return Buffer.from(value, 'base64');
}

/** Check an Int64Value checksum field when it was sent; true when it was (and matched). */
function checksum(body: Json, field: string, data: Buffer, dataField: string): boolean {
  const value = body[field];
  if (value === undefined || value === null) return false;
  if (String(value) !== String(crc32c(data))) {
    throw new KmsError(
      400,
      'INVALID_ARGUMENT',
      `The checksum in field ${snake(field)} did not match the data in field ${snake(dataField)}.`,
    );
  }
  return true;
}

const NONCE = 12;
const TAG = 16;
const VERSION_NAME = /^(.*)\/cryptoKeyVersions\/(\d+)$/;
const decryptionFailed = () =>
  new KmsError(400, 'INVALID_ARGUMENT', "Decryption failed: verify that 'name' refers to the correct CryptoKey.");

/** The crypto keys of one key ring. */
export class KmsKeyRing {
  readonly #keys = new Map<string, CryptoKey>();

  constructor(readonly name: string) {}

  /** A new crypto key with version 1 primary; returns its resource name. */
  create(id: string): string {
    if (!/^[a-zA-Z0-9_-]{1,63}$/.test(id))
      throw new Error(`Crypto key ids are 1-63 letters, digits, _ and -, not "${id}"`);
    const name = `${this.name}/cryptoKeys/${id}`;
    if (this.#keys.has(name)) throw new Error(`Crypto key ${name} already exists; use rotateKey() to add a version`);
    const key: CryptoKey = { name, versions: [], primary: 0 };
    this.#keys.set(name, key);
    this.#addVersion(key);
    return name;
  }

  /** A new version that becomes the primary; returns its resource name. */
  rotate(keyName: string): string {
    return this.#addVersion(this.#find(keyName));
  }

  versions(keyName: string): readonly string[] {
    return this.#find(keyName).versions.map((v) => `${keyName}/cryptoKeyVersions/${v.number}`);
  }

  setEnabled(versionName: string, enabled: boolean): void {
    const m = VERSION_NAME.exec(versionName);
    const version = this.#find(m?.[1] ?? '').versions[Number(m?.[2]) - 1];
    if (!version) throw new Error(`No key version ${versionName}`);
    version.enabled = enabled;
  }

  /** `:encrypt` on a crypto key (its primary) or one of its versions. */
  encrypt(name: string, body: Json, enumsAsInt: boolean): Json {
    const versionMatch = VERSION_NAME.exec(name);
    const key = this.#find(versionMatch?.[1] ?? name);
    const plaintext = bytesField(body, 'plaintext');
    const aad = bytesField(body, 'additionalAuthenticatedData');
    if (plaintext.length === 0) throw new KmsError(400, 'INVALID_ARGUMENT', 'Plaintext is required.');
    if (plaintext.length > 64 * 1024) throw new KmsError(400, 'INVALID_ARGUMENT', 'The plaintext is too large.');
    const verifiedPlaintext = checksum(body, 'plaintextCrc32c', plaintext, 'plaintext');
    const verifiedAad = checksum(body, 'additionalAuthenticatedDataCrc32c', aad, 'additionalAuthenticatedData');
    const number = versionMatch ? Number(versionMatch[2]) : key.primary;
    const version = this.#usable(key, number);
    const nonce = randomBytes(NONCE);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(number);
    const cipher = createCipheriv('aes-256-gcm', version.key, nonce);
    cipher.setAAD(KmsKeyRing.#aad(key, aad));
    const ciphertext = Buffer.concat([head, nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return {
      name: `${key.name}/cryptoKeyVersions/${number}`,
      ciphertext: ciphertext.toString('base64'),
      ciphertextCrc32c: String(crc32c(ciphertext)),
      verifiedPlaintextCrc32c: verifiedPlaintext,
      verifiedAdditionalAuthenticatedDataCrc32c: verifiedAad,
      protectionLevel: enumsAsInt ? 1 : 'SOFTWARE',
    };
  }

  /** `:decrypt` on a crypto key: the version the ciphertext names. */
  decrypt(name: string, body: Json, enumsAsInt: boolean): Json {
    const key = this.#find(name);
    const ciphertext = bytesField(body, 'ciphertext');
    const aad = bytesField(body, 'additionalAuthenticatedData');
    checksum(body, 'ciphertextCrc32c', ciphertext, 'ciphertext');
    checksum(body, 'additionalAuthenticatedDataCrc32c', aad, 'additionalAuthenticatedData');
    if (ciphertext.length < 4 + NONCE + TAG) throw decryptionFailed();
    const number = ciphertext.readUInt32BE(0);
    const version = this.#usable(key, number);
    const decipher = createDecipheriv('aes-256-gcm', version.key, ciphertext.subarray(4, 4 + NONCE));
    decipher.setAAD(KmsKeyRing.#aad(key, aad));
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(ciphertext.subarray(4 + NONCE, -TAG)), decipher.final()]);
    } catch {
      throw decryptionFailed();
    }
    return {
      plaintext: plaintext.toString('base64'),
      plaintextCrc32c: String(crc32c(plaintext)),
      usedPrimary: number === key.primary,
      protectionLevel: enumsAsInt ? 1 : 'SOFTWARE',
    };
  }

  #find(name: string): CryptoKey {
    const key = this.#keys.get(name);
    if (!key) throw new KmsError(404, 'NOT_FOUND', `CryptoKey ${name} not found.`);
    return key;
  }

  #addVersion(key: CryptoKey): string {
    key.versions.push({ number: key.versions.length + 1, key: randomBytes(32), enabled: true });
    key.primary = key.versions.length;
    return `${key.name}/cryptoKeyVersions/${key.primary}`;
  }

  #usable(key: CryptoKey, number: number): Version {
    const version = key.versions[number - 1];
    if (!version) throw decryptionFailed();
    if (!version.enabled) {
      throw new KmsError(
        400,
        'FAILED_PRECONDITION',
        `${key.name}/cryptoKeyVersions/${number} is not enabled, current state is: DISABLED.`,
      );
    }
    return version;
  }

  /** The key's name is bound too: a ciphertext does not decrypt under another crypto key. */
  static #aad(key: CryptoKey, aad: Buffer): Buffer {
    return Buffer.concat([Buffer.from(key.name), Buffer.from([0]), aad]);
  }
}
