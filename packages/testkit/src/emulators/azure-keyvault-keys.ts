// The Azure Key Vault emulator's keys: RSA-2048 keys with versions, the operations each allows,
// wrapkey/unwrapkey/encrypt/decrypt with RSA-OAEP and RSA-OAEP-256, errors in Key Vault's shape.
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { JsonObject } from './http-emulator.js';

/** The requests the emulator tells apart (and counts). */
export const azureKeyVaultOperations = [
  /** Identity: `GET /<tenant>/v2.0/.well-known/openid-configuration` (MSAL's tenant discovery). */
  'openidConfiguration',
  /** Identity: `GET /common/discovery/instance` (MSAL's instance discovery, when it asks this host). */
  'instanceDiscovery',
  /** Identity: `POST /<tenant>/oauth2/v2.0/token`. */
  'token',
  /** Vault: `GET /keys/<name>[/<version>]`. */
  'getKey',
  'wrapKey',
  'unwrapKey',
  'encrypt',
  'decrypt',
] as const;
export type AzureKeyVaultOperation = (typeof azureKeyVaultOperations)[number];

/** Key operations a Key Vault key may allow. */
export type AzureKeyVaultKeyOperation = 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey' | 'sign' | 'verify';

/** Public facts of one version of an emulated key. */
export type AzureKeyVaultKeyVersion = {
  readonly name: string;
  readonly version: string;
  /** The full key identifier, `https://<vault>/keys/<name>/<version>`. */
  readonly kid: string;
};

export type KeyVersionRecord = {
  readonly version: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly n: string;
  readonly e: string;
  readonly created: number;
  enabled: boolean;
  updated: number;
};

export type KeyRecord = {
  readonly name: string;
  readonly versions: KeyVersionRecord[];
  operations: AzureKeyVaultKeyOperation[];
};

export /** An error answered the way Key Vault answers it: HTTP status and `{ error: { code, message } }`. */
class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

const allOperations: readonly AzureKeyVaultKeyOperation[] = [
  'encrypt',
  'decrypt',
  'wrapKey',
  'unwrapKey',
  'sign',
  'verify',
];
const oaepHash: Readonly<Record<string, string>> = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' };
const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

function newVersion(): string {
  return randomBytes(16).toString('hex');
}

function base64urlField(input: JsonObject, name: string): Buffer {
  const value = input[name];
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(value)) {
    throw new VaultError(400, 'BadParameter', `Property '${name}' must be a base64url string.`);
  }
  return Buffer.from(value, 'base64url');
}

/** Key Vault's answer when it is throttling or failing (an injected fault). */
export function vaultFaultBody(kind: 'throttling' | 'internal-failure' | 'service-unavailable'): JsonObject {
  if (kind === 'throttling') {
    return {
      error: {
        code: 'Throttled',
        message:
          'Request was not processed because too many requests were received. Reason: A single client has ' +
          'exceeded the request limit; retry after the interval in the Retry-After header.',
      },
    };
  }
  if (kind === 'internal-failure') {
    return { error: { code: 'InternalServerError', message: 'An internal server error occurred; retry the request.' } };
  }
  return {
    error: { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable; retry the request.' },
  };
}

/** The keys of one vault; `kidOf` names a key version as the vault's URL does. */
export function createVaultKeys(kidOf: (name: string, version: string) => string) {
  const keys = new Map<string, KeyRecord>();

  function findKey(name: string): KeyRecord {
    const key = keys.get(name.toLowerCase());
    if (!key)
      throw new VaultError(
        404,
        'KeyNotFound',
        `A key with (name/id) ${name} was not found in this key vault. If you recently deleted this key ` +
          `you may be able to recover it using the correct recovery command. For help resolving this ` +
          `issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    return key;
  }

  function findVersion(key: KeyRecord, version: string): KeyVersionRecord {
    const found = version === '' ? key.versions.at(-1) : key.versions.find((v) => v.version === version.toLowerCase());
    if (!found)
      throw new VaultError(
        404,
        'KeyNotFound',
        `A key with (name/id) ${key.name}/${version} was not found in this key vault. If you recently ` +
          `deleted this key you may be able to recover it using the correct recovery command. For help ` +
          `resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    return found;
  }

  function addVersion(key: KeyRecord): KeyVersionRecord {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    const jwk = publicKey.export({ format: 'jwk' });
    const now = Math.floor(Date.now() / 1000);
    const record: KeyVersionRecord = {
      version: newVersion(),
      privateKey,
      publicKey,
      n: jwk.n ?? '',
      e: jwk.e ?? '',
      created: now,
      updated: now,
      enabled: true,
    };
    key.versions.push(record);
    return record;
  }

  function facts(key: KeyRecord, v: KeyVersionRecord): AzureKeyVaultKeyVersion {
    return { name: key.name, version: v.version, kid: kidOf(key.name, v.version) };
  }

  function createKey(
    name: string,
    opts: { operations?: readonly AzureKeyVaultKeyOperation[] } = {},
  ): AzureKeyVaultKeyVersion {
    if (!KEY_NAME.test(name)) throw new Error(`Key names are 1-127 letters, digits and dashes, not "${name}"`);
    if (keys.has(name.toLowerCase())) throw new Error(`Key "${name}" already exists; use rotateKey() to add a version`);
    const key: KeyRecord = { name, versions: [], operations: [...(opts.operations ?? allOperations)] };
    keys.set(name.toLowerCase(), key);
    return facts(key, addVersion(key));
  }

  function keyBundle(key: KeyRecord, v: KeyVersionRecord): JsonObject {
    return {
      key: { kid: kidOf(key.name, v.version), kty: 'RSA', key_ops: key.operations, n: v.n, e: v.e },
      attributes: {
        enabled: v.enabled,
        created: v.created,
        updated: v.updated,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
        exportable: false,
      },
    };
  }

  function usableVersion(key: KeyRecord, version: string, operation: AzureKeyVaultKeyOperation): KeyVersionRecord {
    const v = findVersion(key, version);
    if (!v.enabled)
      throw new VaultError(403, 'Forbidden', `Operation ${operation} is not allowed on a disabled key.`, 'KeyDisabled');
    if (!key.operations.includes(operation))
      throw new VaultError(
        403,
        'Forbidden',
        `Operation ${operation} is not allowed on this key.`,
        'OperationNotAllowed',
      );
    return v;
  }

  function keyOperation(key: KeyRecord, version: string, operation: AzureKeyVaultOperation, body: Buffer): JsonObject {
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      throw new VaultError(400, 'BadParameter', 'The request body is not valid JSON.');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new VaultError(400, 'BadParameter', 'The request body must be a JSON object.');
    const params = input as JsonObject;
    const alg = params['alg'];
    const hash = typeof alg === 'string' ? oaepHash[alg] : undefined;
    if (hash === undefined)
      throw new VaultError(
        400,
        'BadParameter',
        `Invalid algorithm '${String(alg)}' for an RSA key: use RSA-OAEP or RSA-OAEP-256.`,
      );
    const value = base64urlField(params, 'value');
    const keyOp: AzureKeyVaultKeyOperation =
      operation === 'wrapKey'
        ? 'wrapKey'
        : operation === 'unwrapKey'
          ? 'unwrapKey'
          : operation === 'encrypt'
            ? 'encrypt'
            : 'decrypt';
    const v = usableVersion(key, version, keyOp);
    const kid = kidOf(key.name, v.version);
    let result: Buffer;
    if (keyOp === 'wrapKey' || keyOp === 'encrypt') {
      const max = 256 - 2 * (hash === 'sha1' ? 20 : 32) - 2;
      if (value.length === 0 || value.length > max)
        throw new VaultError(
          400,
          'BadParameter',
          `The value must be 1 to ${max} bytes for ${String(alg)} with a 2048-bit key.`,
        );
      result = publicEncrypt({ key: v.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, value);
    } else {
      try {
        result = privateDecrypt(
          { key: v.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
          value,
        );
      } catch {
        throw new VaultError(
          400,
          'BadParameter',
          `The ciphertext could not be decrypted with key ${kid} and algorithm ${String(alg)}.`,
        );
      }
    }
    return { kid, value: result.toString('base64url') };
  }

  return { findKey, findVersion, addVersion, facts, createKey, keyBundle, keyOperation };
}
